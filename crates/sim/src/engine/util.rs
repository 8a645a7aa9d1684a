//! Small pieces every vendor uses: the scaled clock, fixed rate windows, random ids, ready-made
//! responses and query parsing.

use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::http::{header, StatusCode};
use axum::response::Response;
use rand::rngs::SmallRng;
use rand::Rng;
use tokio::sync::watch;
use tokio::time::Instant;

/// Serde helper: a `Duration` as integer milliseconds.
pub(crate) mod duration_ms {
    use serde::{Deserialize, Deserializer, Serializer};
    use std::time::Duration;

    pub(crate) fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(d.as_millis() as u64)
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        Ok(Duration::from_millis(u64::deserialize(d)?))
    }
}

/// Simulated time: real monotonic time, with simulated durations multiplied by the scale.
#[derive(Clone, Copy, Debug)]
pub struct Clock {
    pub(crate) start: Instant,
    pub(crate) scale: f64,
}

impl Clock {
    pub(crate) fn new(scale: f64) -> Self {
        Clock {
            start: Instant::now(),
            scale: if scale.is_finite() && scale >= 0.0 {
                scale
            } else {
                1.0
            },
        }
    }

    pub(crate) fn scaled(&self, d: Duration) -> Duration {
        d.mul_f64(self.scale)
    }

    /// Index of the fixed window of (scaled) length `window` that `now` falls in.
    pub(crate) fn window_index(&self, now: Instant, window: Duration) -> u64 {
        let w = self.scaled(window).as_nanos().max(1);
        (now.saturating_duration_since(self.start).as_nanos() / w) as u64
    }
}

/// Calls counted in one fixed rate-limit window.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Window {
    index: u64,
    pub(crate) count: u32,
}

impl Window {
    /// Moves to the window of (scaled) length `length` that `now` falls in, counting from zero
    /// when it is a new one.
    pub(crate) fn roll(&mut self, clock: &Clock, now: Instant, length: Duration) {
        let index = clock.window_index(now, length);
        if self.index != index {
            self.index = index;
            self.count = 0;
        }
    }
}

/// Sets `slot` to `value` if there is one.
pub(crate) fn set_some<T>(slot: &mut T, value: Option<T>) {
    if let Some(v) = value {
        *slot = v;
    }
}

pub(crate) fn random_hex32(rng: &mut SmallRng) -> String {
    format!("{:032x}", rng.random::<u128>())
}

/// Sleeps for `d`, returning early when the simulator shuts down (so shutdown never waits on a
/// hanging response).
pub(crate) async fn sleep_or_shutdown(d: Duration, shutdown: &mut watch::Receiver<bool>) {
    if d.is_zero() {
        return;
    }
    tokio::select! {
        _ = tokio::time::sleep(d) => {}
        _ = shutdown.wait_for(|v| *v) => {}
    }
}

pub(crate) fn json_response(status: StatusCode, value: &serde_json::Value) -> Response {
    super::json::serialized_response(status, value)
}

pub(crate) fn raw_response(status: StatusCode, content_type: &str, body: String) -> Response {
    Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, content_type)
        .body(Body::from(body))
        .expect("static response parts are valid")
}

/// A response whose body fails immediately: hyper then aborts the connection, so the client
/// sees it cut without a complete response.
pub(crate) fn connection_reset_response() -> Response {
    let stream = futures::stream::once(async {
        Err::<Bytes, std::io::Error>(std::io::Error::new(
            std::io::ErrorKind::ConnectionReset,
            "cloudphone-sim: injected connection reset",
        ))
    });
    Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from_stream(stream))
        .expect("static response parts are valid")
}

/// Parses `a=b&c=d` into decoded pairs (for handlers, not for signature checks).
pub(crate) fn parse_query(q: Option<&str>) -> Vec<(String, String)> {
    let Some(q) = q else { return Vec::new() };
    q.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (decode_component(k), decode_component(v))
        })
        .collect()
}

fn decode_component(s: &str) -> String {
    let s = s.replace('+', " ");
    percent_encoding::percent_decode_str(&s)
        .decode_utf8_lossy()
        .into_owned()
}

pub(crate) fn query_get<'a>(q: &'a [(String, String)], key: &str) -> Option<&'a str> {
    q.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
}
