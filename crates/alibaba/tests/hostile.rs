//! A hostile or broken vendor: redirects, echoed secrets, oversized answers, connections cut
//! after the request was sent, answers that never come.

mod common;

use std::sync::Arc;
use std::time::Duration;

use cloudphone_core::{CloudPhoneProvider, ErrorKind, ResetOptions};
use common::wire::*;
use common::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const STS: &str = "STS-hostile-token-0123456789";

#[tokio::test]
async fn a_redirect_is_an_error_and_nothing_reaches_its_target() {
    let mut target = mockito::Server::new_async().await;
    let stolen = target
        .mock("POST", mockito::Matcher::Any)
        .expect(0)
        .create_async()
        .await;
    let mut origin = mockito::Server::new_async().await;
    let location = format!("{}/steal?x=1", target.url());
    let log: Log = Arc::default();
    let l = log.clone();
    let _m = origin
        .mock("POST", mockito::Matcher::Any)
        .with_status(307)
        .with_header("location", &location)
        .with_body_from_request(move |req| {
            l.lock().unwrap().push(seen(req));
            Vec::new()
        })
        .create_async()
        .await;
    let p = fixed(config(&origin.url()).with_check_states(false));
    let r = p
        .reset(&ids(&["acp-a", "acp-b"]), &ResetOptions::default())
        .await
        .unwrap();
    for o in &r.outcomes {
        // The endpoint pointed elsewhere: it did not act, so failed (not unknown).
        let e = o.error().unwrap_or_else(|| panic!("{o:?}"));
        let shown = e.to_string();
        assert!(
            shown.contains("307") && shown.contains(&target.host_with_port()),
            "{shown}"
        );
        assert!(!shown.contains("steal"), "{shown}");
        assert!(e.is_not_applied());
    }
    assert_eq!(
        log.lock().unwrap().len(),
        1,
        "sent once, never to the Location"
    );
    stolen.assert_async().await;
}

#[tokio::test]
async fn echoed_secrets_are_redacted_everywhere() {
    let mut s = mockito::Server::new_async().await;
    let echo = format!(
        r#"{{"Code":"SignatureDoesNotMatch","Message":"sk={SK} token={STS}","RequestId":"{SK}"}}"#
    );
    let _m = s
        .mock("POST", mockito::Matcher::Any)
        .with_status(400)
        .with_body(echo)
        .create_async()
        .await;
    let p = fixed(config(&s.url()).with_security_token(STS.to_owned()));
    let e = p.status(&ids(&["acp-a"])).await.unwrap_err();
    let shown = format!("{e} {e:?}");
    assert!(!shown.contains(SK) && !shown.contains(STS), "{shown}");
    assert!(shown.contains("[redacted]"), "{shown}");
    // Refused: nothing more is sent, and the refusal stays redacted.
    let e = p.stop(&ids(&["acp-a"])).await.unwrap_err();
    assert!(!format!("{e:?}").contains(SK));
    // Per phone, in a task failure.
    let mut s = mockito::Server::new_async().await;
    let _t = s
        .mock("POST", mockito::Matcher::Any)
        .match_header("x-acs-action", "DescribeTasks")
        .with_body(format!(
            r#"{{"Data":[{{"TaskId":"t-a","TaskStatus":"Failed","InstanceId":"acp-a","ErrorCode":"X","ErrorMsg":"{SK}"}}]}}"#
        ))
        .create_async()
        .await;
    let p = fixed(config(&s.url()));
    let infos = p
        .jobs(&[cloudphone_core::JobRef::new("t-a", Some("r".into()))])
        .await
        .unwrap();
    let shown = format!("{infos:?}");
    assert!(!shown.contains(SK), "{shown}");
    assert!(!format!("{p:?}").contains(SK));
}

#[tokio::test]
async fn an_oversized_answer_is_refused_unknown_for_a_change() {
    let mut s = mockito::Server::new_async().await;
    let big = format!(r#"{{"RequestId":"{}"}}"#, "x".repeat(4096));
    let log: Log = Arc::default();
    let _m = action(&mut s, "StopAndroidInstance", 200, &big, &log).await;
    let _d = action(&mut s, "DescribeAndroidInstances", 200, &big, &log).await;
    let p = fixed(
        config(&s.url())
            .with_check_states(false)
            .with_max_body_bytes(1024),
    );
    let r = p.stop(&ids(&["a"])).await.unwrap();
    assert!(r.outcomes[0].is_unknown(), "{r:?}");
    let s = p.status(&ids(&["a"])).await.unwrap();
    let e = s.outcomes[0].error().unwrap();
    assert!(e.message().contains("max_body_bytes"), "{e}");
    assert_eq!(log.lock().unwrap().len(), 2, "neither is repeated");
}

/// A server that reads one request, then cuts the connection (or holds it open).
async fn cutting_server(hold: bool) -> (String, Arc<std::sync::atomic::AtomicUsize>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let count = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let c = count.clone();
    tokio::spawn(async move {
        while let Ok((mut sock, _)) = listener.accept().await {
            let c = c.clone();
            tokio::spawn(async move {
                let mut buf = vec![0u8; 16 * 1024];
                let mut got = Vec::new();
                while !got.windows(4).any(|w| w == b"\r\n\r\n") {
                    match sock.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => got.extend_from_slice(&buf[..n]),
                    }
                }
                c.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                if hold {
                    tokio::time::sleep(Duration::from_secs(60)).await;
                } else {
                    let _ = sock
                        .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{\"Req")
                        .await;
                }
            });
        }
    });
    (url, count)
}

#[tokio::test]
async fn a_cut_or_timed_out_change_is_unknown_and_never_repeated() {
    for hold in [false, true] {
        let (url, count) = cutting_server(hold).await;
        let p = fixed(config(&url).with_check_states(false).with_timeouts(1, 1));
        let r = p.stop(&ids(&["a", "b"])).await.unwrap();
        for o in &r.outcomes {
            let e = o.cause().unwrap();
            assert!(o.is_unknown(), "hold={hold}: {o:?}");
            assert!(
                matches!(e.kind(), ErrorKind::Unavailable | ErrorKind::Timeout),
                "{e}"
            );
        }
        assert_eq!(
            count.load(std::sync::atomic::Ordering::SeqCst),
            1,
            "hold={hold}"
        );
    }
}
