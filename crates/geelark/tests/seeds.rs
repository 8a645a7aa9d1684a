//! The vendor pages' examples decoded into outcomes, and the shapes the real service may send.

mod common;

use cloudphone_core::{CloudPhoneProvider, ErrorKind, PhoneState, StartOptions};
use common::*;
use mockito::Matcher;
use serde_json::json;

/// The response example of the stop page (`seeds/geelark-phone-stop.txt`), verbatim.
const STOP_SEED: &str = r#"{
    "code": 0,
    "msg": "成功",
    "traceId": "123456ABCDEF",
    "data": {
        "totalAmount": 4,
        "successAmount": 3,
        "failAmount": 1,
        "successDetails": [
            {
                "id": "123456ABCDEF",
                "serialName": "name1",
                "status": 0
            },
            {
                "id": "123456ABCDEF",
                "serialName": "name2",
                "status": 1
            },
            {
                "id": "123456ABCDEF",
                "serialName": "name3",
                "status": 1
            }
        ],
        "failDetails": [
            {
                "code": 42001,
                "id": "123456ABCDEF",
                "msg": "env not found"
            }
        ]
    }
}"#;

#[tokio::test]
async fn the_stop_seed_repeats_one_id_which_is_sent_once_and_reported_once() {
    let mut server = mockito::Server::new_async().await;
    // The page's request example sends the id four times; we send it once.
    let m = signed(&mut server, "/open/v1/phone/stop")
        .match_body(Matcher::Exact(r#"{"ids":["123456ABCDEF"]}"#.into()))
        .with_body(STOP_SEED)
        .expect(1)
        .create_async()
        .await;
    let report = fixed(key_config(&server))
        .stop(&ids(&["123456ABCDEF"; 4]))
        .await
        .unwrap();
    m.assert_async().await;
    // One outcome for the one distinct phone, although the answer has four entries for it.
    assert_eq!(report.outcomes.len(), 1);
    // The answer contradicts itself; what the vendor accepted is kept (a phone it stopped must
    // not be reported failed), from its first entry: still running when answered, so pending.
    let o = &report.outcomes[0];
    assert!(o.is_pending(), "the accepted entry wins: {o:?}");
    assert_eq!(o.name.as_deref(), Some("name1"));
    assert_eq!(o.state.as_ref().unwrap().raw, "0");
}

#[tokio::test]
async fn the_stop_seed_with_a_second_phone_leaves_that_one_missing() {
    let mut server = mockito::Server::new_async().await;
    let m = signed(&mut server, "/open/v1/phone/stop")
        .match_body(Matcher::Exact(r#"{"ids":["123456ABCDEF","999"]}"#.into()))
        .with_body(STOP_SEED)
        .expect(1)
        .create_async()
        .await;
    let report = fixed(key_config(&server))
        .stop(&ids(&["123456ABCDEF", "999", "123456ABCDEF"]))
        .await
        .unwrap();
    m.assert_async().await;
    assert_eq!(report.outcomes.len(), 2);
    assert_eq!(report.outcomes[1].phone.as_str(), "999");
    assert_eq!(
        report.outcomes[1].cause().unwrap().kind(),
        ErrorKind::MissingFromResponse
    );
    // The stop went out and the vendor answered without this phone: it may have been stopped.
    assert!(report.outcomes[1].is_unknown(), "{:?}", report.outcomes[1]);
}

#[tokio::test]
async fn the_status_page_fields_decode_into_states_and_failures() {
    let mut server = mockito::Server::new_async().await;
    // The status page documents the fields (no example): every status code, a failure.
    signed(&mut server, "/open/v1/phone/status")
        .match_body(Matcher::Exact(
            r#"{"ids":["a","b","c","d","e","f"]}"#.into(),
        ))
        .with_body(ok(json!({
            "totalAmount": 6, "successAmount": 5, "failAmount": 1,
            "successDetails": [
                {"id": "a", "serialName": "A", "status": 0},
                {"id": "b", "serialName": "B", "status": 1},
                {"id": "c", "serialName": "C", "status": 2},
                {"id": "d", "serialName": "D", "status": 3},
                {"id": "e", "serialName": "E", "status": 9, "someNewField": {"x": 1}},
            ],
            "failDetails": [{"code": 42001, "id": "f", "msg": "云手机不存在"}],
        })))
        .create_async()
        .await;
    let report = fixed(key_config(&server))
        .status(&ids(&["a", "b", "c", "d", "e", "f"]))
        .await
        .unwrap();
    let states: Vec<_> = report.outcomes[..5]
        .iter()
        .map(|o| {
            assert!(o.is_done());
            let s = o.state.clone().unwrap();
            (s.state, s.raw.into_owned())
        })
        .collect();
    assert_eq!(
        states,
        [
            (PhoneState::Running, "0".to_owned()),
            (PhoneState::Starting, "1".to_owned()),
            (PhoneState::Stopped, "2".to_owned()),
            (PhoneState::Expired, "3".to_owned()),
            (PhoneState::Unknown, "9".to_owned()),
        ]
    );
    assert_eq!(report.outcomes[3].name.as_deref(), Some("D"));
    let e = report.outcomes[5].error().unwrap();
    assert_eq!(
        (e.kind(), e.message()),
        (ErrorKind::NotFound, "云手机不存在")
    );
}

#[tokio::test]
async fn numeric_ids_and_a_null_data_are_tolerated() {
    let mut server = mockito::Server::new_async().await;
    signed(&mut server, "/open/v1/phone/status")
        .match_body(Matcher::Exact(
            r#"{"ids":["528715748189668352","2"]}"#.into(),
        ))
        .with_body(ok(json!({
            "successDetails": [{"id": 528715748189668352u64, "status": "2"}],
            "failDetails": [{"code": 47004, "id": 2, "msg": "device does not exist"}],
        })))
        .create_async()
        .await;
    signed(&mut server, "/open/v1/phone/status")
        .match_body(Matcher::Exact(r#"{"ids":["3"]}"#.into()))
        .with_body(ok(json!(null)))
        .create_async()
        .await;
    let provider = fixed(key_config(&server));
    let report = provider
        .status(&ids(&["528715748189668352", "2"]))
        .await
        .unwrap();
    assert_eq!(report.outcomes[0].phone_state(), Some(PhoneState::Stopped));
    assert_eq!(
        report.outcomes[1].error().unwrap().kind(),
        ErrorKind::NotFound
    );
    let report = provider.status(&ids(&["3"])).await.unwrap();
    assert_eq!(
        report.outcomes[0].error().unwrap().kind(),
        ErrorKind::MissingFromResponse
    );
}

#[tokio::test]
async fn stop_without_success_details_accepts_the_phones_not_failed() {
    let mut server = mockito::Server::new_async().await;
    signed(&mut server, "/open/v1/phone/stop")
        .match_body(Matcher::Exact(r#"{"ids":["1","2","3"]}"#.into()))
        .with_body(ok(json!({
            "totalAmount": 3, "successAmount": 2, "failAmount": 1,
            "failDetails": [{"code": 43006, "id": "2", "msg": "being remotely connected"}],
        })))
        .create_async()
        .await;
    let report = fixed(key_config(&server))
        .stop(&ids(&["1", "2", "3"]))
        .await
        .unwrap();
    assert!(report.outcomes[0].is_pending());
    assert_eq!(report.outcomes[1].error().unwrap().kind(), ErrorKind::Busy);
    assert!(report.outcomes[2].is_pending());
}

#[tokio::test]
async fn stop_without_success_details_and_disagreeing_counters_claims_nothing() {
    let mut server = mockito::Server::new_async().await;
    signed(&mut server, "/open/v1/phone/stop")
        .with_body(ok(
            json!({"totalAmount": 2, "successAmount": 1, "failAmount": 0}),
        ))
        .create_async()
        .await;
    let report = fixed(key_config(&server))
        .stop(&ids(&["1", "2"]))
        .await
        .unwrap();
    for o in &report.outcomes {
        assert_eq!(o.cause().unwrap().kind(), ErrorKind::MissingFromResponse);
        assert!(o.is_unknown(), "{o:?}");
    }
}

#[tokio::test]
async fn every_documented_phone_failure_code_is_normalized() {
    let cases = [
        ("42001", ErrorKind::NotFound),
        ("47004", ErrorKind::NotFound),
        ("43005", ErrorKind::Busy),
        ("43006", ErrorKind::Busy),
        ("43007", ErrorKind::Busy),
        ("43021", ErrorKind::Busy),
        ("43011", ErrorKind::Busy),
        ("43010", ErrorKind::Busy),
        ("43004", ErrorKind::Expired),
        ("47003", ErrorKind::Expired),
        ("43036", ErrorKind::InvalidState),
        ("40004", ErrorKind::InvalidArgument),
        ("40008", ErrorKind::InvalidArgument),
        ("41000", ErrorKind::QuotaExceeded),
        ("41001", ErrorKind::QuotaExceeded),
        ("43008", ErrorKind::QuotaExceeded),
        ("47001", ErrorKind::QuotaExceeded),
        ("43020", ErrorKind::Unavailable),
        ("43029", ErrorKind::Unavailable),
        ("47002", ErrorKind::RateLimited),
        ("49999", ErrorKind::Other),
    ];
    let fails: Vec<_> = cases
        .iter()
        .map(|(code, _)| json!({"code": code.parse::<i64>().unwrap(), "id": code, "msg": ""}))
        .collect();
    let mut server = mockito::Server::new_async().await;
    signed(&mut server, "/open/v1/phone/start")
        .with_body(ok(json!({"failDetails": fails, "successDetails": []})))
        .create_async()
        .await;
    let phones: Vec<_> = cases.iter().map(|(c, _)| *c).collect();
    let report = fixed(key_config(&server))
        .start(&ids(&phones), &StartOptions::default())
        .await
        .unwrap();
    for ((code, kind), o) in cases.iter().zip(&report.outcomes) {
        let e = o.error().unwrap_or_else(|| panic!("{code} should fail"));
        assert_eq!(e.kind(), *kind, "{code}");
        assert_eq!(e.vendor_code(), Some(*code));
    }
    // Retry-later refusals are temporary: waiting keeps such a phone pending.
    assert!(report.outcomes[17].error().unwrap().is_temporary());
    assert!(!report.outcomes[0].error().unwrap().is_temporary());
}

#[tokio::test]
async fn starting_a_phone_already_started_is_done() {
    let mut server = mockito::Server::new_async().await;
    signed(&mut server, "/open/v1/phone/start")
        .with_body(ok(json!({
            "successDetails": [],
            "failDetails": [{"code": 43009, "id": "1", "msg": "already started"}],
        })))
        .create_async()
        .await;
    let report = fixed(key_config(&server))
        .start(&ids(&["1"]), &StartOptions::default())
        .await
        .unwrap();
    assert!(report.outcomes[0].is_done());
}

#[tokio::test]
async fn a_partial_success_envelope_still_yields_per_phone_outcomes() {
    let mut server = mockito::Server::new_async().await;
    signed(&mut server, "/open/v1/phone/stop")
        .with_body(envelope(
            40006,
            "部分成功",
            json!({
                "successDetails": [{"id": "1"}],
                "failDetails": [{"code": 43005, "id": "2", "msg": "executing a task"}],
            }),
        ))
        .expect(1)
        .create_async()
        .await;
    let report = fixed(key_config(&server))
        .stop(&ids(&["1", "2"]))
        .await
        .unwrap();
    assert!(report.outcomes[0].is_pending());
    assert_eq!(report.outcomes[1].error().unwrap().kind(), ErrorKind::Busy);
}
