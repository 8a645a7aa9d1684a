//! Property tests of every CPH and IAM answer decoder: on arbitrary bytes, any JSON, and the
//! real answers mutated (bytes flipped, truncated, spliced; fields swapped for other types,
//! huge numbers, deep nesting), each returns `Ok` or an error — never panics. Unchanged real
//! answers decode to what they say.
//!
//! Cases per property: 256 by default, `PROPTEST_CASES` to change.

#[path = "../../geelark/tests/mutate/mod.rs"]
mod mutate;

use std::collections::{HashMap, HashSet};

use cloudphone_core::{ErrorKind, JobRef, JobState, PhoneId, PhoneState};
use cloudphone_huawei_cph::fuzzing::{
    decode_batch, decode_detail, decode_error, decode_iam, decode_job, decode_jobs_page,
    decode_list, is_token_expired, parse_retry_after, Answer,
};
use cloudphone_huawei_cph::VENDOR;
use mutate::{hostile_body, http_status, retry_after};
use proptest::prelude::*;
use secrecy::ExposeSecret;
use time::macros::datetime;
use time::OffsetDateTime;

/// The batch-reset page's response example, verbatim (`seeds/huawei-cph-batch-reset.txt`).
const RESET_SEED: &str = r#"{ "request_id" : "6837531fd3f54550927b930180a706bf", "jobs" : [ { "phone_id" : "1234567b8bab40ffb711234cb80d0234", "job_id" : "1564567b8bab40f34711234cb80d0123" }, { "phone_id" : "1678567b8bab40f93711234cb80d0764", "error_code" : "CPS.0004", "error_msg" : "Parameter: phone_id is invalid." } ] }"#;
/// A request-level error wrapped in a 200.
const BATCH_ERROR_SEED: &str = r#"{"error_code":"CPS.0001","error_msg":"no permission"}"#;
const DETAIL_SEED: &str = r#"{"phone_id":"a","phone_name":"ph-a","status":2,"server_id":"s",
  "image_id":"img","phone_model_name":"kvm","type":0,"create_time":"2024-01-01T00:00:00Z",
  "update_time":"2024-01-02T00:00:00Z","request_id":"x"}"#;
const LIST_SEED: &str = r#"{"request_id":"r","count":3,"phones":[
  {"phone_id":"p1","phone_name":"n1","status":2,"server_id":"s","type":1},
  {"phone_id":"p2","phone_name":"n2","status":"8"},{"phone_id":"p3","status":-5}]}"#;
const JOBS_SEED: &str = r#"{"jobs":[
  {"job_id":"ja","phone_id":"a","request_id":"r","status":-1,"error_code":"CPS.0022","error_msg":"phone not available"},
  {"job_id":"jb","phone_id":"b","request_id":"r","status":2},
  {"job_id":"jc","phone_id":"c","status":1,"execute_msg":"running"}]}"#;
const JOB_SEED: &str = r#"{"job_id":"ja","phone_id":"a","request_id":"r","status":-1,
  "error_code":"","execute_msg":"disk failure"}"#;
const IAM_SEED: &str =
    r#"{"token":{"expires_at":"2024-03-01T11:00:00.701000Z","methods":["password"]}}"#;
const CPS_ERROR_SEED: &str = r#"{"error_code":"CPS.0005","error_msg":"no phone"}"#;
const GW_ERROR_SEED: &str =
    r#"{"error_code":"APIGW.0307","error_msg":"The token expires.","request_id":"q"}"#;
const IAM_ERROR_SEED: &str = r#"{"error":{"code":401,"message":"The username or password is wrong.","title":"Unauthorized"}}"#;
const APIG_ERROR_SEED: &str = r#"{"error":{"code":"APIG.0308","message":"throttled"}}"#;

const SEEDS: &[&str] = &[
    RESET_SEED,
    BATCH_ERROR_SEED,
    DETAIL_SEED,
    LIST_SEED,
    JOBS_SEED,
    JOB_SEED,
    IAM_SEED,
    CPS_ERROR_SEED,
    GW_ERROR_SEED,
    IAM_ERROR_SEED,
    APIG_ERROR_SEED,
];

const KEYS: &[&str] = &[
    "request_id",
    "jobs",
    "phone_id",
    "job_id",
    "error_code",
    "error_msg",
    "error",
    "code",
    "message",
    "phone_name",
    "status",
    "type",
    "count",
    "phones",
    "execute_msg",
    "token",
    "expires_at",
];

const NOW: OffsetDateTime = datetime!(2024-03-01 10:00 UTC);

fn config() -> ProptestConfig {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|c| c.parse().ok())
        .unwrap_or(256);
    ProptestConfig {
        cases,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

fn answer<'a>(status: u16, retry: &'a Option<String>, body: &'a [u8]) -> Answer<'a> {
    Answer {
        http_status: status,
        retry_after: retry.as_deref(),
        request_id: Some("hdr-req"),
        body,
    }
}

/// What every decoder's result must satisfy, whatever the input.
fn check<T>(a: &Answer<'_>, res: &cloudphone_core::Result<T>) -> Result<(), TestCaseError> {
    if let Err(e) = res {
        prop_assert_eq!(e.vendor(), Some(VENDOR));
    }
    if !(200..300).contains(&a.http_status) {
        prop_assert!(res.is_err(), "a {} answer decoded Ok", a.http_status);
    }
    Ok(())
}

fn groups() -> HashMap<String, HashSet<String>> {
    let mut g = HashMap::new();
    g.insert("r".to_owned(), ["ja", "jb"].map(str::to_owned).into());
    g.insert("q".to_owned(), ["jc"].map(str::to_owned).into());
    g
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn batch_answers_never_panic(
        status in http_status(),
        retry in retry_after(),
        body in hostile_body(SEEDS, KEYS),
    ) {
        let a = answer(status, &retry, &body);
        let res = decode_batch(&a);
        check(&a, &res)?;
        if let Ok(outcomes) = res {
            for o in outcomes {
                // A job naming no phone comes back under an empty id (a stray job), never
                // dropped; nothing else has an empty id.
                prop_assert!(!o.phone.as_str().is_empty() || (o.is_pending() && o.job.is_some()));
                // Pending always carries the job to follow.
                prop_assert!(!o.is_pending() || o.job.is_some());
            }
        }
    }

    #[test]
    fn detail_answers_never_panic(
        status in http_status(),
        retry in retry_after(),
        body in hostile_body(SEEDS, KEYS),
    ) {
        let a = answer(status, &retry, &body);
        let id = PhoneId::from("a");
        let res = decode_detail(&id, &a);
        check(&a, &res)?;
        if let Ok(o) = res {
            prop_assert_eq!(&o.phone, &id);
            prop_assert!(o.is_done());
        }
    }

    #[test]
    fn list_answers_never_panic(
        offset in prop_oneof![0u64..1000, Just(u64::MAX), any::<u64>()],
        limit in prop_oneof![1usize..=200, any::<usize>()],
        status in http_status(),
        retry in retry_after(),
        body in hostile_body(SEEDS, KEYS),
    ) {
        let a = answer(status, &retry, &body);
        let res = decode_list(offset, limit, &a);
        check(&a, &res)?;
        if let Ok(p) = res {
            prop_assert!(p.phones.iter().all(|s| !s.id.as_str().is_empty()));
            if let Some(next) = p.next {
                // The cursor only moves forward.
                prop_assert!(next.parse::<u64>().unwrap() > offset);
            }
        }
    }

    #[test]
    fn job_answers_never_panic(
        status in http_status(),
        retry in retry_after(),
        body in hostile_body(SEEDS, KEYS),
    ) {
        let a = answer(status, &retry, &body);
        let job = JobRef::new("ja", Some("r".into()));
        let res = decode_job(&job, &a);
        check(&a, &res)?;
        if let Ok(info) = res {
            prop_assert_eq!(info.state == JobState::Failed, info.error.is_some());
        }
        let res = decode_jobs_page(&groups(), &a);
        check(&a, &res)?;
    }

    #[test]
    fn iam_answers_never_panic(
        status in http_status(),
        retry in retry_after(),
        body in hostile_body(SEEDS, KEYS),
        token in prop_oneof![Just(None), Just(Some(String::new())), ".{0,8}".prop_map(Some)],
    ) {
        let a = answer(status, &retry, &body);
        let res = decode_iam(&a, token.as_deref(), NOW);
        check(&a, &res)?;
        if let Ok((t, _)) = res {
            prop_assert!(!t.expose_secret().is_empty());
        }
    }

    #[test]
    fn error_bodies_of_any_shape_never_panic(
        status in prop_oneof![400u16..600, any::<u16>()],
        retry in retry_after(),
        body in hostile_body(SEEDS, KEYS),
    ) {
        let e = decode_error(status, retry.as_deref(), &body);
        prop_assert_eq!(e.vendor(), Some(VENDOR));
        prop_assert!(!e.message().is_empty());
        if status == 429 {
            prop_assert_eq!(e.kind(), ErrorKind::RateLimited);
        }
        let _ = is_token_expired(&e);
    }

    #[test]
    fn plain_arbitrary_bytes_never_panic(body in proptest::collection::vec(any::<u8>(), 0..512)) {
        let a = Answer::ok(&body);
        check(&a, &decode_batch(&a))?;
        check(&a, &decode_list(0, 200, &a))?;
        check(&a, &decode_detail(&PhoneId::from("a"), &a))?;
        check(&a, &decode_iam(&a, Some("t"), NOW))?;
    }

    #[test]
    fn retry_after_is_whole_seconds_an_http_date_or_nothing(v in ".{0,24}") {
        let parsed = parse_retry_after(&v);
        match v.trim().parse::<u64>() {
            Ok(n) => prop_assert_eq!(parsed, Some(std::time::Duration::from_secs(n))),
            // Anything else counts only as an HTTP-date (short random text never is one).
            Err(_) => prop_assert!(parsed.is_none() || v.contains("GMT"), "{v:?} -> {parsed:?}"),
        }
    }
}

#[test]
fn the_real_answers_decode_as_they_say() {
    let out = decode_batch(&Answer::ok(RESET_SEED.as_bytes())).unwrap();
    assert_eq!(out.len(), 2);
    let job = out[0].job.as_ref().unwrap();
    assert!(out[0].is_pending());
    assert_eq!(
        job.request_id.as_deref(),
        Some("6837531fd3f54550927b930180a706bf")
    );
    assert_eq!(out[1].error().unwrap().kind(), ErrorKind::InvalidArgument);

    let e = decode_batch(&Answer::ok(BATCH_ERROR_SEED.as_bytes())).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::PermissionDenied);

    let o = decode_detail(&PhoneId::from("a"), &Answer::ok(DETAIL_SEED.as_bytes())).unwrap();
    assert_eq!(o.phone_state(), Some(PhoneState::Running));
    let e = decode_detail(&PhoneId::from("b"), &Answer::ok(DETAIL_SEED.as_bytes())).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidResponse);

    let page = decode_list(0, 3, &Answer::ok(LIST_SEED.as_bytes())).unwrap();
    assert_eq!(page.phones.len(), 3);
    assert_eq!((page.next, page.total), (None, Some(3)));
    let page = decode_list(0, 2, &Answer::ok(LIST_SEED.as_bytes())).unwrap();
    assert_eq!(page.phones[1].state.state, PhoneState::Stopped);

    let infos = decode_jobs_page(&groups(), &Answer::ok(JOBS_SEED.as_bytes())).unwrap();
    let states: Vec<(&str, Option<&str>, JobState)> = infos
        .iter()
        .map(|i| (i.job.job_id(), i.job.request_id.as_deref(), i.state))
        .collect();
    assert_eq!(
        states,
        [
            ("ja", Some("r"), JobState::Failed),
            ("jb", Some("r"), JobState::Succeeded),
            ("jc", Some("q"), JobState::Running),
        ]
    );

    let job = JobRef::new("ja", Some("r".into()));
    let info = decode_job(&job, &Answer::ok(JOB_SEED.as_bytes())).unwrap();
    assert_eq!(info.state, JobState::Failed);
    assert_eq!(info.error.unwrap().message(), "disk failure");

    let (token, expires) = decode_iam(&Answer::ok(IAM_SEED.as_bytes()), Some("tok"), NOW).unwrap();
    assert_eq!(token.expose_secret(), "tok");
    assert_eq!(expires.unix_timestamp(), 1_709_290_800);
    let (_, expires) = decode_iam(&Answer::ok(b"{}"), Some("tok"), NOW).unwrap();
    assert_eq!(expires, NOW + time::Duration::hours(1));
    let e = decode_iam(&Answer::ok(IAM_SEED.as_bytes()), None, NOW).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidResponse);

    let e = decode_error(400, None, CPS_ERROR_SEED.as_bytes());
    assert_eq!(
        (e.kind(), e.vendor_code()),
        (ErrorKind::NotFound, Some("CPS.0005"))
    );
    let e = decode_error(401, None, GW_ERROR_SEED.as_bytes());
    assert!(is_token_expired(&e));
    let e = decode_error(401, None, IAM_ERROR_SEED.as_bytes());
    assert_eq!(e.kind(), ErrorKind::Unauthenticated);
    let e = decode_error(429, Some("7"), APIG_ERROR_SEED.as_bytes());
    assert_eq!(e.kind(), ErrorKind::RateLimited);
    assert_eq!(e.retry_after(), Some(std::time::Duration::from_secs(7)));
}

#[test]
fn retry_after_takes_http_dates() {
    // In the past: retry now.
    assert_eq!(
        parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"),
        Some(std::time::Duration::ZERO)
    );
    assert_eq!(parse_retry_after("soon"), None);
}

#[test]
fn jobs_naming_no_phone_and_phones_listed_twice_keep_every_job() {
    let body = br#"{"request_id":"r","jobs":[
        {"phone_id":"a","error_code":"CPS.0022","error_msg":"busy"},
        {"phone_id":"a","job_id":"ja"},
        {"job_id":"j-nobody"},
        {"phone_id":"b","job_id":"jb"},
        {"phone_id":"b","job_id":"jb2"}]}"#;
    let out = decode_batch(&Answer::ok(body)).unwrap();
    let got: Vec<(&str, &str, &str)> = out
        .iter()
        .map(|o| {
            let kind = if o.is_pending() {
                "pending"
            } else if o.is_unknown() {
                "unknown"
            } else {
                "failed"
            };
            (o.phone.as_str(), kind, o.job.as_ref().unwrap().job_id())
        })
        .collect();
    assert_eq!(
        got,
        [
            // Refused and accepted in one answer: may have been applied, job kept.
            ("a", "unknown", "ja"),
            ("b", "pending", "jb"),
            // A second job for `b` and a job naming no phone: strays, never dropped.
            ("", "pending", "jb2"),
            ("", "pending", "j-nobody"),
        ]
    );
    // An error entry naming no phone applies to the asked phones the answer leaves out.
    let body = br#"{"jobs":[{"error_code":"CPS.0009","error_msg":"empty"},{"phone_id":"a","job_id":"ja"}]}"#;
    let chunk = [PhoneId::from("a"), PhoneId::from("b")];
    let out = cloudphone_huawei_cph::fuzzing::decode_batch_for(&chunk, &Answer::ok(body)).unwrap();
    assert_eq!(out.len(), 2);
    let b = out.iter().find(|o| o.phone.as_str() == "b").unwrap();
    assert_eq!(b.error().unwrap().vendor_code(), Some("CPS.0009"));
    assert!(out
        .iter()
        .any(|o| o.phone.as_str() == "a" && o.is_pending()));
}

#[test]
fn a_show_job_answer_about_another_job_is_an_error() {
    let job = JobRef::new("jz", None);
    let e = decode_job(&job, &Answer::ok(JOB_SEED.as_bytes())).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidResponse);
    assert!(
        e.message().contains("`jz`") && e.message().contains("`ja`"),
        "{e}"
    );
}

#[test]
fn a_list_cursor_at_the_end_of_u64_does_not_overflow() {
    // offset + phones on the page overflowed (a debug-build panic) for a cursor near u64::MAX.
    let page = decode_list(u64::MAX, 200, &Answer::ok(LIST_SEED.as_bytes())).unwrap();
    assert_eq!(page.next, None);
}

#[test]
fn nesting_past_the_parser_limit_is_an_error() {
    let body = format!(
        r#"{{"jobs":{}}}"#,
        String::from_utf8(mutate::nested_text(100_000)).unwrap()
    );
    let e = decode_batch(&Answer::ok(body.as_bytes())).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidResponse);
}
