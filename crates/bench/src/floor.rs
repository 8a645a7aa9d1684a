//! The transport floor of a one-id-per-call operation: the client CPU of bare reqwest calls to
//! the same simulator, signed and sent as the provider sends them, with nothing of ours around
//! them (no engine, no envelope check, no report).
//!
//! GeeLark's `newOne` takes one phone per call, so its client CPU per call is bounded below by
//! what reqwest and loopback TCP cost for one request. Measured beside the provider's figure,
//! it splits that figure into the HTTP stack's part and ours.

use std::time::Instant;

use cloudphone::geelark;
use cloudphone::raw::http::HttpOptions;
use futures::StreamExt;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue, CONTENT_TYPE};
use serde_json::{json, Value};

use crate::sim::{Admin, SimProcess};
use crate::vendors::Vendor;
use crate::{BenchArgs, Error};

/// Calls measured: enough for a steady per-call figure, whatever the fleet size (the client's
/// cost of one call does not depend on it).
const FLOOR_CALLS: usize = 10_000;

/// The credentials and URL of the simulator's GeeLark table.
struct Target {
    url: String,
    app_id: String,
    api_key: String,
    token: Option<String>,
}

fn target(sim: &SimProcess) -> Result<Target, Error> {
    let doc: toml::Table = sim
        .config
        .parse()
        .map_err(|e| format!("the simulator's configuration: {e}"))?;
    let table = doc
        .get("providers")
        .and_then(|p| p.get(&sim.provider))
        .and_then(toml::Value::as_table)
        .ok_or_else(|| format!("no [providers.{}] table", sim.provider))?;
    let text = |k: &str| {
        table
            .get(k)
            .and_then(toml::Value::as_str)
            .map(str::to_owned)
    };
    Ok(Target {
        url: format!(
            "{}/open/v2/phone/newOne",
            text("base_url").unwrap_or_else(|| sim.url.clone())
        ),
        app_id: text("app_id").unwrap_or_default(),
        api_key: text("api_key").unwrap_or_default(),
        token: text("token"),
    })
}

/// The headers of one call, as the provider signs them.
fn headers(t: &Target) -> Result<HeaderMap, Error> {
    let value = |s: &str| HeaderValue::from_str(s).map_err(|e| e.to_string());
    let trace_id = geelark::new_trace_id();
    let mut h = HeaderMap::new();
    h.insert(HeaderName::from_static("traceid"), value(&trace_id)?);
    h.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    match &t.token {
        Some(token) => {
            h.insert(
                reqwest::header::AUTHORIZATION,
                value(&format!("Bearer {token}"))?,
            );
        }
        None => {
            let ts = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_millis() as u64);
            let nonce = &trace_id[..6];
            let sign = geelark::sign(&t.app_id, &trace_id, ts, nonce, &t.api_key);
            h.insert(HeaderName::from_static("appid"), value(&t.app_id)?);
            h.insert(HeaderName::from_static("ts"), value(&ts.to_string())?);
            h.insert(HeaderName::from_static("nonce"), value(nonce)?);
            h.insert(HeaderName::from_static("sign"), value(&sign)?);
        }
    }
    Ok(h)
}

/// Measures the floor for `vendor` (GeeLark only) on a fresh simulator of `n` phones: at most
/// [`FLOOR_CALLS`] `newOne` calls, `--concurrency` at a time, each body read whole.
pub(crate) async fn measure_floor(
    args: &BenchArgs,
    vendor: &Vendor,
    n: usize,
) -> Result<Value, Error> {
    if vendor.type_name != geelark::VENDOR {
        return Err(format!(
            "the transport floor is measured for GeeLark's newOne only, not {}",
            vendor.name
        ));
    }
    let sim = tokio::task::block_in_place(|| SimProcess::start(args, vendor, n))?;
    let admin = Admin {
        http: reqwest::Client::new(),
        url: sim.url.clone(),
    };
    let mut ids = admin.phone_ids(n).await?;
    ids.truncate(FLOOR_CALLS);
    let t = target(&sim)?;
    let client = HttpOptions::default().client().map_err(|e| e.to_string())?;
    admin.reset_calls().await?;
    let (t0, cpu0) = (Instant::now(), cloudphone_sim::process_cpu_time());
    let results: Vec<Result<(), Error>> = futures::stream::iter(ids)
        .map(|id| {
            let (client, t) = (&client, &t);
            async move {
                let body =
                    serde_json::to_vec(&json!({ "id": id.as_str() })).map_err(|e| e.to_string())?;
                let resp = client
                    .post(&t.url)
                    .headers(headers(t)?)
                    .body(body)
                    .send()
                    .await
                    .map_err(|e| e.to_string())?;
                let status = resp.status();
                resp.bytes().await.map_err(|e| e.to_string())?;
                if status.is_success() {
                    Ok(())
                } else {
                    Err(format!("HTTP {status}"))
                }
            }
        })
        .buffer_unordered(args.concurrency.max(1))
        .collect()
        .await;
    let cpu = cloudphone_sim::process_cpu_time()
        .saturating_sub(cpu0)
        .as_secs_f64();
    let wall = t0.elapsed().as_secs_f64();
    let calls = admin.stats().await?.calls.values().sum::<u64>();
    let failed = results.iter().filter(|r| r.is_err()).count();
    let first_failure = results.iter().find_map(|r| r.clone().err());
    Ok(json!({
        "vendor": vendor.name,
        "phones": n,
        "operation": "newOne floor",
        "calls_total": calls,
        "wall_s": wall,
        "cpu_s": cpu,
        "cpu_us_per_call": cpu * 1e6 / calls.max(1) as f64,
        "failed": failed,
        "first_failure": first_failure,
    }))
}
