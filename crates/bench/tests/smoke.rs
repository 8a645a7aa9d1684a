//! Smoke test of `cloudphone-bench` on a tiny fleet: it runs end to end and writes sane results.

use std::process::Command;

use serde_json::Value;

#[test]
fn a_tiny_bench_writes_markdown_and_json() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_cloudphone-bench"))
        .args(["--sizes", "30", "--latency-ms", "1"])
        .args(["--time-scale", "0.01", "--poll-interval", "20ms"])
        .arg("--out-dir")
        .arg(dir.path())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("| geelark | 30 | status |"), "{stdout}");
    let md = std::fs::read_to_string(dir.path().join("bench-results.md")).unwrap();
    assert_eq!(md, stdout);

    let doc: Value = serde_json::from_str(
        &std::fs::read_to_string(dir.path().join("bench-results.json")).unwrap(),
    )
    .unwrap();
    let rows: Vec<&Value> = doc["runs"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|r| r["rows"].as_array().unwrap())
        .collect();
    // Every vendor the simulator serves, three operations each.
    let vendors: std::collections::BTreeSet<String> =
        rows.iter().map(|r| r["vendor"].to_string()).collect();
    assert!(vendors.len() >= 2, "{vendors:?}");
    assert_eq!(
        rows.len(),
        vendors.len() * 3,
        "every vendor × three operations"
    );
    for r in &rows {
        let what = format!("{} {}", r["vendor"], r["operation"]);
        assert_eq!(r["phones"], 30, "{what}");
        assert!(r["wall_s"].as_f64().unwrap() > 0.0, "{what}");
        assert!(r["ideal_s"].as_f64().unwrap() > 0.0, "{what}");
        assert!(r["calls_total"].as_u64().unwrap() >= 1, "{what}");
        assert!(r["peak_rss_mib"].as_f64().unwrap() > 0.0, "{what}");
        assert!(r["error"].is_null(), "{what}: {}", r["error"]);
        // Every phone settled: done, or refused by the vendor (the simulator seeds a few
        // expired GeeLark phones).
        assert_eq!(r["pending"], 0, "{what}");
        let done = r["succeeded"].as_u64().unwrap();
        assert!(
            done + r["failed"].as_u64().unwrap() == 30 && done >= 20,
            "{what}: {r}"
        );
    }
    let calls = |vendor: &str, op: &str| -> Value {
        rows.iter()
            .find(|r| r["vendor"] == vendor && r["operation"] == op)
            .unwrap()["calls"]
            .clone()
    };
    // The minimum each API allows: one batch call for 30 phones.
    assert_eq!(calls("geelark", "status")["status"], 1);
    assert_eq!(calls("huawei", "status")["GET phones"], 1);
    assert_eq!(calls("huawei", "stop + wait")["phones/batch-stop"], 1);
    assert_eq!(calls("geelark", "reset + wait")["newOne"], 30);

    // GeeLark's newOne (one id per call) has its transport floor measured beside it: one bare
    // call per phone of its own fresh fleet.
    let floors = doc["floors"].as_array().unwrap();
    assert_eq!(floors.len(), 1, "{floors:?}");
    assert_eq!(floors[0]["vendor"], "geelark");
    assert_eq!(floors[0]["calls_total"], 30, "{}", floors[0]);
    assert_eq!(floors[0]["failed"], 0, "{}", floors[0]);
    assert!(floors[0]["cpu_us_per_call"].as_f64().unwrap() > 0.0);
    assert!(md.contains("| geelark | 30 | 30 |"), "{md}");

    // The naive client makes one request per phone.
    let naive: Vec<&Value> = doc["naive"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|r| r["rows"].as_array().unwrap())
        .collect();
    assert_eq!(naive.len(), vendors.len() * 3);
    // The bench models a naive client for the vendors it has tuning for.
    for r in naive.iter().filter(|r| {
        r["operation"] == "status" && (r["vendor"] == "geelark" || r["vendor"] == "huawei")
    }) {
        assert_eq!(r["calls_total"], 30, "{r}");
    }
}
