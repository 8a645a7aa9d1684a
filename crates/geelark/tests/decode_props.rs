//! Property tests of every GeeLark answer decoder: on arbitrary bytes, any JSON, and the real
//! answers mutated (bytes flipped, truncated, spliced; fields swapped for other types, huge
//! numbers, deep nesting), each returns `Ok` or an error — never panics. Unchanged real answers
//! decode to what they say.
//!
//! Cases per property: 256 by default, `PROPTEST_CASES` to change.

mod mutate;

use cloudphone_core::{ErrorKind, Operation, Outcome, PhoneId, PhoneState};
use cloudphone_geelark::fuzzing::{
    decode_ack, decode_auth, decode_batch, decode_list, decode_list_at, parse_retry_after, Answer,
};
use cloudphone_geelark::VENDOR;
use mutate::{hostile_body, http_status, retry_after};
use proptest::prelude::*;

/// The stop page's response example, verbatim (`seeds/geelark-phone-stop.txt`).
const STOP_SEED: &str = r#"{
    "code": 0,
    "msg": "成功",
    "traceId": "123456ABCDEF",
    "data": {
        "totalAmount": 4,
        "successAmount": 3,
        "failAmount": 1,
        "successDetails": [
            {"id": "123456ABCDEF", "serialName": "name1", "status": 0},
            {"id": "123456ABCDEF", "serialName": "name2", "status": 1},
            {"id": "123456ABCDEF", "serialName": "name3", "status": 1}
        ],
        "failDetails": [
            {"code": 42001, "id": "123456ABCDEF", "msg": "env not found"}
        ]
    }
}"#;

/// A status answer with the fields of the status page (`seeds/geelark-phone-status.md`).
const STATUS_SEED: &str = r#"{"traceId":"8F1E2D3C4B5A69788796A5B4C3D2E1F0","code":0,"msg":"成功",
  "data":{"totalAmount":3,"successAmount":2,"failAmount":1,
    "successDetails":[{"id":"528715748189668352","serialName":"p1","status":0},
                      {"id":528715748189668353,"serialName":"p2","status":"2"}],
    "failDetails":[{"code":42001,"id":"528715748189668354","msg":"Cloud phone not exist"}]}}"#;

/// A stop answer that documents only `failDetails`.
const STOP_FAILS_ONLY: &str = r#"{"code":40006,"msg":"partial success","data":{"totalAmount":2,
  "successAmount":1,"failAmount":1,"failDetails":[{"code":43006,"id":"b","msg":"remote"}]}}"#;

const START_SEED: &str = r#"{"code":0,"msg":"success","data":{"successAmount":1,
  "successDetails":[{"id":"a","serialName":"n","url":"https://live.example/a"}],
  "failDetails":[{"code":43009,"id":"b","msg":"already started"}]}}"#;

const LIST_SEED: &str = r#"{"code":0,"msg":"success","data":{"total":3,"page":1,"pageSize":2,
  "items":[{"id":"1","serialName":"n1","serialNo":"42","status":0,"group":{"name":"g"},
            "remark":null,"tags":[{"name":"t"}]},
           {"id":2,"serialName":"n2","status":2}]}}"#;

const ACK_SEED: &str = r#"{"traceId":"T","code":0,"msg":"success"}"#;
const LOCKED_SEED: &str = r#"{"code":40014,"msg":"hourly limit exceeded","data":null}"#;
const RATE_SEED: &str = r#"{"code":40007,"msg":"too many requests"}"#;
const AUTH_SEED: &str = r#"{"code":40003,"msg":"signature verification failed"}"#;

const SEEDS: &[&str] = &[
    STOP_SEED,
    STATUS_SEED,
    STOP_FAILS_ONLY,
    START_SEED,
    LIST_SEED,
    ACK_SEED,
    LOCKED_SEED,
    RATE_SEED,
    AUTH_SEED,
];

const KEYS: &[&str] = &[
    "code",
    "msg",
    "data",
    "traceId",
    "totalAmount",
    "successAmount",
    "failAmount",
    "successDetails",
    "failDetails",
    "id",
    "serialName",
    "status",
    "url",
    "total",
    "items",
];

fn config() -> ProptestConfig {
    // `PROPTEST_CASES` overrides the default through `ProptestConfig::default()`.
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

/// The page number of a list cursor (`N` or `N.<fingerprint>`).
fn page_of(cursor: Option<&str>) -> Option<u64> {
    cursor?.split('.').next()?.parse().ok()
}

fn phones(ids: &[&str]) -> Vec<PhoneId> {
    ids.iter().map(|s| PhoneId::from(*s)).collect()
}

fn answer<'a>(status: u16, retry: &'a Option<String>, body: &'a [u8], ts: u64) -> Answer<'a> {
    Answer {
        http_status: status,
        retry_after: retry.as_deref(),
        body,
        ts_ms: ts,
    }
}

/// What every decoder's result must satisfy, whatever the input.
fn check<T>(a: &Answer<'_>, res: &cloudphone_core::Result<T>) -> Result<(), TestCaseError> {
    if let Err(e) = res {
        prop_assert_eq!(e.vendor(), Some(VENDOR));
        prop_assert!(!e.message().is_empty());
    }
    if !(200..300).contains(&a.http_status) {
        prop_assert!(res.is_err(), "a {} answer decoded Ok", a.http_status);
    }
    Ok(())
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn batch_answers_never_panic(
        op in proptest::sample::select(&[Operation::Status, Operation::Stop, Operation::Start][..]),
        status in http_status(),
        retry in retry_after(),
        body in hostile_body(SEEDS, KEYS),
        ts in any::<u64>(),
    ) {
        let chunk = phones(&["123456ABCDEF", "528715748189668352", "a", "b"]);
        let a = answer(status, &retry, &body, ts);
        let res = decode_batch(op, &chunk, &a);
        check(&a, &res)?;
        if let Ok(outcomes) = res {
            let mut ids: Vec<&str> = outcomes.iter().map(|o| o.phone.as_str()).collect();
            let n = ids.len();
            ids.sort_unstable();
            ids.dedup();
            prop_assert_eq!(ids.len(), n, "one outcome per phone");
        }
    }

    #[test]
    fn one_phone_answers_never_panic(
        op in proptest::sample::select(&[Operation::Restart, Operation::Reset][..]),
        status in http_status(),
        retry in retry_after(),
        body in hostile_body(SEEDS, KEYS),
        ts in any::<u64>(),
    ) {
        let a = answer(status, &retry, &body, ts);
        check(&a, &decode_ack(op, &a))?;
        check(&a, &decode_auth(&a))?;
    }

    #[test]
    fn list_answers_never_panic(
        page in prop_oneof![1u64..5, Just(u64::MAX), any::<u64>()],
        size in prop_oneof![1u64..=100, any::<u64>()],
        status in http_status(),
        retry in retry_after(),
        body in hostile_body(SEEDS, KEYS),
    ) {
        let a = answer(status, &retry, &body, 0);
        let res = decode_list(page, size, &a);
        check(&a, &res)?;
        if let Ok(p) = res {
            if let Some(next) = p.next {
                prop_assert_eq!(page_of(Some(&next)), page.checked_add(1));
            }
        }
    }

    #[test]
    fn plain_arbitrary_bytes_never_panic(body in proptest::collection::vec(any::<u8>(), 0..512)) {
        let a = Answer::ok(&body);
        let chunk = phones(&["a"]);
        check(&a, &decode_batch(Operation::Stop, &chunk, &a))?;
        check(&a, &decode_list(1, 100, &a))?;
        check(&a, &decode_ack(Operation::Reset, &a))?;
    }

    // Strings this short can never be an HTTP-date (29 characters), the parser's other form.
    #[test]
    fn retry_after_is_whole_seconds_or_nothing(v in ".{0,24}") {
        let parsed = parse_retry_after(&v);
        prop_assert_eq!(parsed.map(|d| d.as_secs()), v.trim().parse::<u64>().ok());
    }
}

#[test]
fn the_real_answers_decode_as_they_say() {
    let chunk = phones(&["123456ABCDEF"]);
    let out = decode_batch(Operation::Stop, &chunk, &Answer::ok(STOP_SEED.as_bytes())).unwrap();
    // The seed names the one id as both accepted and not found: the first accepted entry wins.
    assert_eq!(out.len(), 1);
    assert!(matches!(&out[0].outcome, Outcome::Pending), "{out:?}");
    assert_eq!(out[0].name.as_deref(), Some("name1"));

    let chunk = phones(&[
        "528715748189668352",
        "528715748189668353",
        "528715748189668354",
    ]);
    let out = decode_batch(
        Operation::Status,
        &chunk,
        &Answer::ok(STATUS_SEED.as_bytes()),
    )
    .unwrap();
    assert_eq!(out.len(), 3);
    let by_id = |id: &str| out.iter().find(|o| o.phone.as_str() == id).unwrap();
    assert_eq!(
        by_id("528715748189668352").state.as_ref().unwrap().state,
        PhoneState::Running
    );
    assert_eq!(
        by_id("528715748189668353").state.as_ref().unwrap().state,
        PhoneState::Stopped
    );
    assert!(by_id("528715748189668354").error().is_some());

    let out = decode_batch(
        Operation::Stop,
        &phones(&["a", "b"]),
        &Answer::ok(STOP_FAILS_ONLY.as_bytes()),
    )
    .unwrap();
    assert_eq!(out.len(), 2);
    assert!(out
        .iter()
        .any(|o| o.phone.as_str() == "a" && o.is_pending()));

    let out = decode_batch(
        Operation::Start,
        &phones(&["a", "b"]),
        &Answer::ok(START_SEED.as_bytes()),
    )
    .unwrap();
    assert!(out.iter().all(|o| o.error().is_none()), "{out:?}");

    let page = decode_list(1, 2, &Answer::ok(LIST_SEED.as_bytes())).unwrap();
    assert_eq!(page.phones.len(), 2);
    assert_eq!(page_of(page.next.as_deref()), Some(2));
    assert_eq!(page.total, Some(3));

    decode_ack(Operation::Restart, &Answer::ok(ACK_SEED.as_bytes())).unwrap();
    decode_ack(Operation::Reset, &Answer::ok(ACK_SEED.as_bytes())).unwrap();
    decode_auth(&Answer::ok(ACK_SEED.as_bytes())).unwrap();

    let e = decode_auth(&Answer::ok(AUTH_SEED.as_bytes())).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Unauthenticated);
    let e = decode_ack(Operation::Reset, &Answer::ok(LOCKED_SEED.as_bytes())).unwrap_err();
    assert_eq!(
        (e.kind(), e.vendor_code()),
        (ErrorKind::RateLimited, Some("40014"))
    );
    let e = decode_ack(Operation::Restart, &Answer::ok(RATE_SEED.as_bytes())).unwrap_err();
    assert!(e.retry_after().is_some());
}

#[test]
fn a_list_cursor_at_the_end_of_u64_does_not_overflow() {
    // Found by the list property: page × size and page + 1 overflowed (a debug-build panic)
    // for a cursor near u64::MAX.
    let body = br#"{"code":0,"data":{"items":[{"id":"1","status":0}]}}"#;
    let page = decode_list(u64::MAX, 1, &Answer::ok(body)).unwrap();
    assert_eq!(page.next, None);
    let body = br#"{"code":0,"data":{"total":5,"items":[{"id":"1","status":0}]}}"#;
    let page = decode_list(u64::MAX, 100, &Answer::ok(body)).unwrap();
    assert_eq!(page.next, None);
}

#[test]
fn a_list_page_repeating_the_one_before_ends_the_listing() {
    let first = decode_list(1, 2, &Answer::ok(LIST_SEED.as_bytes())).unwrap();
    let cursor = first.next.unwrap();
    // The vendor ignores `page` and answers page 1 again: nothing new, and the end.
    let again = decode_list_at(&cursor, 2, &Answer::ok(LIST_SEED.as_bytes())).unwrap();
    assert!(again.phones.is_empty() && again.next.is_none(), "{again:?}");
    // Another page from the same cursor is read as usual.
    let other = br#"{"code":0,"data":{"total":3,"items":[{"id":"3","status":0}]}}"#;
    let page = decode_list_at(&cursor, 2, &Answer::ok(other)).unwrap();
    assert_eq!(page.phones.len(), 1);
    assert!(page.next.is_none());
    assert!(decode_list_at("two", 2, &Answer::ok(other)).is_err());
}

#[test]
fn retry_after_takes_an_http_date_too() {
    assert_eq!(
        parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"),
        Some(std::time::Duration::ZERO)
    );
}

#[test]
fn nesting_past_the_parser_limit_is_an_error() {
    let body = format!(
        r#"{{"code":0,"data":{{"successDetails":{}}}}}"#,
        String::from_utf8(mutate::nested_text(100_000)).unwrap()
    );
    let e = decode_batch(
        Operation::Status,
        &phones(&["a"]),
        &Answer::ok(body.as_bytes()),
    )
    .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidResponse);
}

#[test]
fn an_impossible_http_status_is_refused() {
    let a = Answer {
        http_status: 42,
        ..Answer::ok(ACK_SEED.as_bytes())
    };
    assert!(decode_auth(&a).is_err());
}
