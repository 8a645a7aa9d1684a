//! `--state FILE`: the fleet kept in a JSON file across restarts.
//!
//! The file is `{"version": 1, "vendors": {"<type>": {"phones": [...], "model": ...}}}`: per
//! vendor, each phone's id, status, applied counters and own data, and the vendor's jobs or
//! tasks ([`crate::VendorControl::save_state`]). It is loaded at start when it exists (a vendor
//! absent from it keeps its seeded fleet), written every `state_save_interval` when it changed
//! and on shutdown, each time to a temporary file renamed over the old one.

use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::{json, Map, Value};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::engine::VendorHandle;

const VERSION: u64 = 1;

fn bad(path: &Path, e: impl std::fmt::Display) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!("cloudphone-sim state {}: {e}", path.display()),
    )
}

/// Every vendor's state as one document.
pub(crate) fn snapshot(vendors: &[VendorHandle]) -> Value {
    let mut all = Map::new();
    for v in vendors {
        all.insert(v.type_name().to_string(), v.save_state());
    }
    json!({"version": VERSION, "vendors": all})
}

/// Loads `path` into the vendors, if it exists.
pub(crate) fn load(path: &Path, vendors: &[VendorHandle]) -> io::Result<()> {
    let text = match std::fs::read(path) {
        Ok(t) => t,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    };
    let doc: Value = serde_json::from_slice(&text).map_err(|e| bad(path, e))?;
    if doc["version"].as_u64() != Some(VERSION) {
        return Err(bad(path, format!("unknown version {}", doc["version"])));
    }
    for v in vendors {
        if let Some(saved) = doc["vendors"].get(v.type_name()) {
            v.load_state(saved).map_err(|e| bad(path, e))?;
        }
    }
    Ok(())
}

fn write(path: &Path, doc: &Value) -> io::Result<()> {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)?;
    }
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    std::fs::write(
        &tmp,
        serde_json::to_vec_pretty(doc).map_err(io::Error::other)?,
    )?;
    std::fs::rename(&tmp, path)
}

/// Writes every vendor's state to `path`.
pub(crate) fn save(path: &Path, vendors: &[VendorHandle]) -> io::Result<()> {
    write(path, &snapshot(vendors))
}

/// Saves every `interval` when the state changed, until shutdown.
pub(crate) fn spawn_saver(
    path: PathBuf,
    vendors: Vec<VendorHandle>,
    interval: Duration,
    mut shutdown: watch::Receiver<bool>,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut last = snapshot(&vendors);
        if let Err(e) = write(&path, &last) {
            tracing::warn!(
                "cloudphone-sim: cannot save the state to {}: {e}",
                path.display()
            );
        }
        let mut tick = tokio::time::interval(interval.max(Duration::from_millis(10)));
        tick.tick().await;
        loop {
            let stop = async {
                let _ = shutdown.wait_for(|v| *v).await;
            };
            tokio::select! {
                () = stop => break,
                _ = tick.tick() => {}
            }
            let now = snapshot(&vendors);
            if now != last {
                if let Err(e) = write(&path, &now) {
                    tracing::warn!(
                        "cloudphone-sim: cannot save the state to {}: {e}",
                        path.display()
                    );
                }
                last = now;
            }
        }
    })
}
