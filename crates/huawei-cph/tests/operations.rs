//! The exact wire request of every operation, and how answers become outcomes.

mod common;

use cloudphone_core::{
    CloudPhoneProvider, ErrorKind, JobRef, JobState, ListRequest, Operation, PhoneId, PhoneState,
    ResetOptions, StartOptions,
};
use cloudphone_huawei_cph::{HuaweiCphProvider, StatusStrategy};
use common::*;
use mockito::Matcher;

fn json_headers(m: mockito::Mock) -> mockito::Mock {
    m.match_header("x-auth-token", TOKEN)
        .match_header("content-type", "application/json")
}

#[tokio::test]
async fn reset_sends_image_and_per_phone_properties_as_json_strings() {
    let mut s = mockito::Server::new_async().await;
    let body = concat!(
        r#"{"image_id":"img-9","phones":["#,
        r#"{"phone_id":"a","property":"{\"sys.prop.a\":\"1\",\"sys.prop.shared\":\"x\"}"},"#,
        r#"{"phone_id":"b","property":"{\"sys.prop.shared\":\"x\"}"}]}"#
    );
    let m = json_headers(s.mock("POST", format!("{BASE}/phones/batch-reset").as_str()))
        .match_body(Matcher::Exact(body.into()))
        .with_header("X-Request-Id", "hdr-rid")
        .with_body(r#"{"request_id":"rid-1","jobs":[{"phone_id":"a","job_id":"ja"},{"phone_id":"b","job_id":"jb"}]}"#)
        .expect(1)
        .create_async()
        .await;
    let p = token_provider(&s.url());
    let opts = ResetOptions::default()
        .image("img-9")
        .property("sys.prop.shared", "x")
        .phone_property("a".into(), "sys.prop.a", "1");
    let r = p.reset(&ids(&["a", "b"]), &opts).await.unwrap();
    m.assert_async().await;
    assert_eq!(r.operation, Operation::Reset);
    let ja = r.outcomes[0].job.as_ref().unwrap();
    assert_eq!(
        (ja.job_id(), ja.request_id.as_deref()),
        ("ja", Some("rid-1"))
    );
    assert!(r.outcomes.iter().all(|o| o.is_pending()));
}

#[tokio::test]
async fn reset_without_options_omits_image_and_properties_and_uses_the_header_request_id() {
    let mut s = mockito::Server::new_async().await;
    let m = json_headers(s.mock("POST", format!("{BASE}/phones/batch-reset").as_str()))
        .match_body(Matcher::Exact(r#"{"phones":[{"phone_id":"a"}]}"#.into()))
        .with_header("X-Request-Id", "hdr-rid")
        .with_body(r#"{"jobs":[{"phone_id":"a","job_id":"ja"}]}"#)
        .create_async()
        .await;
    let p = token_provider(&s.url());
    let r = p
        .reset(&ids(&["a"]), &ResetOptions::default())
        .await
        .unwrap();
    m.assert_async().await;
    assert_eq!(
        r.outcomes[0].job.as_ref().unwrap().request_id.as_deref(),
        Some("hdr-rid")
    );
}

#[tokio::test]
async fn reset_rejects_unknown_extras_before_sending() {
    let s = mockito::Server::new_async().await;
    let p = token_provider(&s.url());
    let opts = ResetOptions::default()
        .extra("wipe_sd", true)
        .extra("zz", 1);
    let e = p.reset(&ids(&["a"]), &opts).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidArgument);
    assert!(
        e.message().contains("`wipe_sd`") && e.message().contains("`zz`"),
        "{e}"
    );
}

#[tokio::test]
async fn stop_uses_phone_ids_and_chunks_by_batch_size() {
    let mut s = mockito::Server::new_async().await;
    let m1 = json_headers(s.mock("POST", format!("{BASE}/phones/batch-stop").as_str()))
        .match_body(Matcher::Exact(r#"{"phone_ids":["a","b"]}"#.into()))
        .with_body(r#"{"request_id":"r1","jobs":[{"phone_id":"a","job_id":"ja"},{"phone_id":"b","job_id":"jb"}]}"#)
        .expect(1)
        .create_async()
        .await;
    let m2 = json_headers(s.mock("POST", format!("{BASE}/phones/batch-stop").as_str()))
        .match_body(Matcher::Exact(r#"{"phone_ids":["c"]}"#.into()))
        .with_body(r#"{"request_id":"r2","jobs":[]}"#)
        .expect(1)
        .create_async()
        .await;
    let p = HuaweiCphProvider::new(
        config(&s.url())
            .with_token(TOKEN.to_owned().into())
            .with_batch_size(2),
    )
    .unwrap();
    let r = p.stop(&ids(&["a", "b", "a", "c"])).await.unwrap();
    m1.assert_async().await;
    m2.assert_async().await;
    assert_eq!(r.outcomes.len(), 3);
    assert_eq!(
        r.outcomes[1].job.as_ref().unwrap().request_id.as_deref(),
        Some("r1")
    );
    // `c` was sent and the vendor answered without it: its own outcome, unknown (the stop
    // may have been made), never silently dropped.
    assert!(r.outcomes[2].is_unknown(), "{:?}", r.outcomes[2]);
    assert_eq!(
        r.outcomes[2].cause().unwrap().kind(),
        ErrorKind::MissingFromResponse
    );
}

#[tokio::test]
async fn start_and_restart_both_use_batch_restart() {
    let mut s = mockito::Server::new_async().await;
    // Start reads the state first: a stopped phone is sent to batch-restart.
    let detail = s
        .mock("GET", format!("{BASE}/phones/a").as_str())
        .match_header("x-auth-token", TOKEN)
        .with_body(r#"{"phone_id":"a","status":8}"#)
        .expect(1)
        .create_async()
        .await;
    let m = json_headers(s.mock("POST", format!("{BASE}/phones/batch-restart").as_str()))
        .match_body(Matcher::Exact(r#"{"phones":[{"phone_id":"a"}]}"#.into()))
        .with_body(r#"{"request_id":"r","jobs":[{"phone_id":"a","job_id":"j"}]}"#)
        .expect(2)
        .create_async()
        .await;
    let p = token_provider(&s.url());
    let r = p
        .start(&ids(&["a"]), &StartOptions::default())
        .await
        .unwrap();
    assert_eq!(r.operation, Operation::Start);
    assert!(r.outcomes[0].is_pending());
    let r = p.restart(&ids(&["a"])).await.unwrap();
    assert_eq!(r.operation, Operation::Restart);
    m.assert_async().await;
    detail.assert_async().await;
    assert_eq!(p.capabilities().batch_sizes[&Operation::Start], 100);
}

#[tokio::test]
async fn status_of_one_phone_reads_its_detail() {
    let mut s = mockito::Server::new_async().await;
    let m = s
        .mock("GET", format!("{BASE}/phones/a").as_str())
        .match_header("x-auth-token", TOKEN)
        .match_header("content-type", Matcher::Missing)
        .match_body(Matcher::Exact(String::new()))
        .with_body(
            r#"{"phone_id":"a","phone_name":"ph-a","status":-5,"image_id":null,"request_id":"x"}"#,
        )
        .expect(1)
        .create_async()
        .await;
    let p = token_provider(&s.url());
    let r = p.status(&ids(&["a"])).await.unwrap();
    m.assert_async().await;
    let o = &r.outcomes[0];
    assert!(o.is_done());
    assert_eq!(o.phone_state(), Some(PhoneState::Failed));
    assert_eq!(o.state.as_ref().unwrap().raw, "-5");
    assert_eq!(o.name.as_deref(), Some("ph-a"));
}

#[tokio::test]
async fn status_detail_not_found_is_that_phones_failure() {
    let mut s = mockito::Server::new_async().await;
    s.mock("GET", format!("{BASE}/phones/gone").as_str())
        .with_status(404)
        .with_body(r#"{"error_code":"CPS.0005","error_msg":"Phone does not exist."}"#)
        .create_async()
        .await;
    s.mock("GET", format!("{BASE}/phones/ok").as_str())
        .with_body(r#"{"phone_id":"ok","status":8}"#)
        .create_async()
        .await;
    let p = HuaweiCphProvider::new(
        config(&s.url())
            .with_token(TOKEN.to_owned().into())
            .with_status_strategy(StatusStrategy::Detail),
    )
    .unwrap();
    let r = p.status(&ids(&["gone", "ok"])).await.unwrap();
    let e = r.outcomes[0].error().unwrap();
    assert_eq!(
        (e.kind(), e.vendor_code()),
        (ErrorKind::NotFound, Some("CPS.0005"))
    );
    assert_eq!(r.outcomes[1].phone_state(), Some(PhoneState::Stopped));
}

fn phones_json(range: std::ops::Range<usize>, count: usize) -> String {
    let phones: Vec<String> = range
        .map(|i| format!(r#"{{"phone_id":"p{i}","phone_name":"n{i}","status":2,"server_id":"s"}}"#))
        .collect();
    format!(
        r#"{{"request_id":"r","count":{count},"phones":[{}]}}"#,
        phones.join(",")
    )
}

#[tokio::test]
async fn status_of_many_phones_lists_pages_when_fewer_calls() {
    let mut s = mockito::Server::new_async().await;
    // 450 phones: 3 pages. Asking for 5 ids: 3 list calls beat 5 details.
    let mut mocks = Vec::new();
    for (offset, end) in [(0, 200), (200, 400), (400, 450)] {
        mocks.push(
            s.mock(
                "GET",
                format!("{BASE}/phones?offset={offset}&limit=200").as_str(),
            )
            .match_header("x-auth-token", TOKEN)
            .with_body(phones_json(offset..end, 450))
            .expect(1)
            .create_async()
            .await,
        );
    }
    // Not listed: read on its own before it is called not found.
    let missing = s
        .mock("GET", format!("{BASE}/phones/missing").as_str())
        .with_status(404)
        .with_body(r#"{"error_code":"CPS.0005","error_msg":"Phone does not exist."}"#)
        .expect(1)
        .create_async()
        .await;
    let p = token_provider(&s.url());
    let r = p
        .status(&ids(&["p449", "p3", "p250", "p201", "missing"]))
        .await
        .unwrap();
    missing.assert_async().await;
    for m in &mocks {
        m.assert_async().await;
    }
    assert_eq!(r.outcomes[0].phone_state(), Some(PhoneState::Running));
    assert_eq!(r.outcomes[1].name.as_deref(), Some("n3"));
    assert_eq!(r.summary().succeeded, 4);
    assert_eq!(r.outcomes[4].error().unwrap().kind(), ErrorKind::NotFound);
}

#[tokio::test]
async fn status_of_few_phones_in_a_big_account_uses_details_after_the_first_page() {
    let mut s = mockito::Server::new_async().await;
    // 5,000 phones = 25 pages; 3 ids, one on the first page: 1 page + 2 details.
    let first = s
        .mock("GET", format!("{BASE}/phones?offset=0&limit=200").as_str())
        .with_body(phones_json(0..200, 5000))
        .expect(1)
        .create_async()
        .await;
    let other_pages = s
        .mock(
            "GET",
            Matcher::Regex(r"^/v1/proj-1/cloud-phone/phones\?offset=[1-9]".into()),
        )
        .expect(0)
        .create_async()
        .await;
    let d1 = s
        .mock("GET", format!("{BASE}/phones/p4000").as_str())
        .with_body(r#"{"phone_id":"p4000","status":8}"#)
        .expect(1)
        .create_async()
        .await;
    let d2 = s
        .mock("GET", format!("{BASE}/phones/p4999").as_str())
        .with_body(r#"{"phone_id":"p4999","status":"7"}"#)
        .expect(1)
        .create_async()
        .await;
    let p = token_provider(&s.url());
    let r = p.status(&ids(&["p4000", "p10", "p4999"])).await.unwrap();
    first.assert_async().await;
    other_pages.assert_async().await;
    d1.assert_async().await;
    d2.assert_async().await;
    assert_eq!(r.outcomes[0].phone_state(), Some(PhoneState::Stopped));
    assert_eq!(r.outcomes[1].phone_state(), Some(PhoneState::Running));
    assert_eq!(r.outcomes[2].phone_state(), Some(PhoneState::Stopping));
}

#[tokio::test]
async fn list_page_follows_offsets() {
    let mut s = mockito::Server::new_async().await;
    let m = s
        .mock("GET", format!("{BASE}/phones?offset=0&limit=2").as_str())
        .match_header("x-auth-token", TOKEN)
        .with_body(phones_json(0..2, 3))
        .create_async()
        .await;
    let m2 = s
        .mock("GET", format!("{BASE}/phones?offset=2&limit=2").as_str())
        .with_body(phones_json(2..3, 3))
        .create_async()
        .await;
    let p = token_provider(&s.url());
    let page = p
        .list_page(&ListRequest::default().page_size(2))
        .await
        .unwrap();
    assert_eq!(page.next.as_deref(), Some("2"));
    assert_eq!(page.total, Some(3));
    assert_eq!(page.phones[1].id.as_str(), "p1");
    assert_eq!(page.phones[1].extra["server_id"], "s");
    let page = p
        .list_page(&ListRequest::default().page_size(2).cursor(page.next))
        .await
        .unwrap();
    assert_eq!(page.next, None);
    m.assert_async().await;
    m2.assert_async().await;
    let e = p
        .list_page(&ListRequest::default().cursor(Some("../x".into())))
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidArgument);
}

#[tokio::test]
async fn jobs_are_listed_by_request_ids_and_shown_by_id_without_one() {
    let mut s = mockito::Server::new_async().await;
    let list = s
        .mock("GET", format!("{BASE}/jobs?limit=100&offset=0&request_ids=r1%2Cr2").as_str())
        .match_header("x-auth-token", TOKEN)
        .with_body(
            r#"{"request_id":"q","jobs":[
              {"job_id":"j1","phone_id":"a","request_id":"r1","status":2},
              {"job_id":"j2","phone_id":"b","request_id":"r2","status":-1,"error_code":"CPS.0022","error_msg":"phone not available"}]}"#,
        )
        .expect(1)
        .create_async()
        .await;
    let show = s
        .mock("GET", format!("{BASE}/jobs/j3").as_str())
        .with_body(r#"{"job_id":"j3","phone_id":"c","status":1}"#)
        .expect(1)
        .create_async()
        .await;
    let p = token_provider(&s.url());
    let got = p
        .jobs(&[
            JobRef::new("j1", Some("r1".into())),
            JobRef::new("j2", Some("r2".into())),
            JobRef::new("j3", None),
        ])
        .await
        .unwrap();
    list.assert_async().await;
    show.assert_async().await;
    assert_eq!(got[0].state, JobState::Succeeded);
    assert_eq!(got[0].phone, Some(PhoneId::from("a")));
    assert_eq!(got[1].state, JobState::Failed);
    let e = got[1].error.as_ref().unwrap();
    assert_eq!(
        (e.kind(), e.vendor_code()),
        (ErrorKind::InvalidState, Some("CPS.0022"))
    );
    assert_eq!(
        (got[2].state, got[2].raw_state.as_str()),
        (JobState::Running, "1")
    );
}

#[tokio::test]
async fn hostile_ids_stay_inside_their_path_segment() {
    let mut s = mockito::Server::new_async().await;
    let cases = [
        ("../jobs", "..%2Fjobs"),
        ("a/b", "a%2Fb"),
        ("x?y", "x%3Fy"),
        ("sp ace", "sp%20ace"),
        ("h#frag", "h%23frag"),
        ("%2e%2e", "%252e%252e"),
        ("ü", "%C3%BC"),
    ];
    let mut mocks = Vec::new();
    for (id, enc) in cases {
        mocks.push(
            s.mock("GET", format!("{BASE}/phones/{enc}").as_str())
                .with_body(format!(
                    r#"{{"phone_id":{},"status":2}}"#,
                    serde_json::json!(id)
                ))
                .expect(1)
                .create_async()
                .await,
        );
    }
    // Anything else (another endpoint reached) would answer 501 and fail the phone.
    let p = HuaweiCphProvider::new(
        config(&s.url())
            .with_token(TOKEN.to_owned().into())
            .with_status_strategy(StatusStrategy::Detail),
    )
    .unwrap();
    let all: Vec<PhoneId> = cases.iter().map(|(id, _)| PhoneId::from(*id)).collect();
    let r = p.status(&all).await.unwrap();
    for m in &mocks {
        m.assert_async().await;
    }
    assert!(r.all_done(), "{:?}", r.outcomes);

    // Dot segments cannot be addressed (URL parsers resolve even `%2E%2E`): refused locally,
    // and empty ids are refused by the engine; neither reaches the server.
    let r = p.status(&ids(&[".", "..", ""])).await.unwrap();
    for o in &r.outcomes {
        assert_eq!(
            o.error().unwrap().kind(),
            ErrorKind::InvalidArgument,
            "{o:?}"
        );
    }
    let u = reqwest::Url::parse("http://h/v1/p/phones/%2E%2E").unwrap();
    assert_eq!(
        u.path(),
        "/v1/p/",
        "why dot segments are refused rather than encoded"
    );
}

#[tokio::test]
async fn a_hostile_list_count_does_not_cost_a_call_per_claimed_page() {
    let mut s = mockito::Server::new_async().await;
    // The first page claims 10^12 phones; the real data ends on the second page.
    let first = s
        .mock("GET", format!("{BASE}/phones?offset=0&limit=200").as_str())
        .with_body(phones_json(0..200, 1_000_000_000_000))
        .expect(1)
        .create_async()
        .await;
    let second = s
        .mock(
            "GET",
            format!("{BASE}/phones?offset=200&limit=200").as_str(),
        )
        .with_body(phones_json(200..205, 1_000_000_000_000))
        .expect(1)
        .create_async()
        .await;
    let beyond = s
        .mock(
            "GET",
            Matcher::Regex(
                r"^/v1/proj-1/cloud-phone/phones\?offset=([4-9]|[1-9][0-9])[0-9]{2,}".into(),
            ),
        )
        .with_body(r#"{"count":1000000000000,"phones":[]}"#)
        .expect_at_most(64)
        .create_async()
        .await;
    let detail = s
        .mock("GET", format!("{BASE}/phones/p999999").as_str())
        .with_status(404)
        .with_body(r#"{"error_code":"CPS.0005","error_msg":"Phone does not exist."}"#)
        .expect(1)
        .create_async()
        .await;
    let p = HuaweiCphProvider::new(
        config(&s.url())
            .with_token(TOKEN.to_owned().into())
            .with_status_strategy(StatusStrategy::List),
    )
    .unwrap();
    let r = p.status(&ids(&["p1", "p202", "p999999"])).await.unwrap();
    detail.assert_async().await;
    first.assert_async().await;
    second.assert_async().await;
    beyond.assert_async().await;
    assert_eq!(r.summary().succeeded, 2);
    assert_eq!(r.outcomes[2].error().unwrap().kind(), ErrorKind::NotFound);
}
