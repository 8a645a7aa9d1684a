//! Engine overhead per phone: batch calls over 100,000 phones on the in-memory fake.
//!
//! `cargo bench -p cloudphone-core --features fake --bench engine`
//!
//! The fake answers instantly, so every microsecond measured is ours: dedupe, validation,
//! chunking, the fan-out, the retry wrapper, assembling and checking the report, and the fake's
//! own bookkeeping (a mutex and a hash map per phone, which a real vendor call dwarfs).

use std::time::{Duration, Instant};

use cloudphone_core::{
    CloudPhoneProvider, EngineConfig, FakeProvider, PhoneId, ResetOptions, WaitOptions,
};

/// CPU time of the whole process (all threads), from Linux's per-task schedstat (ns).
fn cpu_time() -> Option<Duration> {
    let mut total = 0u64;
    for task in std::fs::read_dir("/proc/self/task").ok()? {
        let stat = std::fs::read_to_string(task.ok()?.path().join("schedstat")).ok()?;
        total += stat.split_whitespace().next()?.parse::<u64>().ok()?;
    }
    Some(Duration::from_nanos(total))
}

/// Peak resident memory (VmHWM) in MiB.
fn peak_rss_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

fn main() {
    const N: usize = 100_000;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let ids: Vec<PhoneId> = (0..N).map(|i| PhoneId::new(format!("fake-{i}"))).collect();
    let fake = FakeProvider::builder()
        .phones(N)
        .batch_size(100)
        .settle_polls(1)
        .engine(EngineConfig::default().concurrency(16))
        .build();

    println!("| operation ({N} phones) | wall ms | wall µs/phone | CPU µs/phone | requests |");
    println!("|---|---:|---:|---:|---:|");
    rt.block_on(async {
        let run = |name: &str, wall: Duration, cpu: Duration, requests: u64| {
            println!(
                "| {name} | {:.1} | {:.2} | {:.2} | {requests} |",
                wall.as_secs_f64() * 1e3,
                wall.as_secs_f64() * 1e6 / N as f64,
                cpu.as_secs_f64() * 1e6 / N as f64,
            );
        };
        for (name, op) in [("status", 0), ("stop", 1), ("wait (stop)", 2), ("reset", 3)] {
            let before_req = fake.requests();
            let cpu0 = cpu_time().unwrap_or_default();
            let t0 = Instant::now();
            let report = match op {
                0 => fake.status(&ids).await,
                1 => fake.stop(&ids).await,
                2 => {
                    let pending = cloudphone_core::BatchReport::pending(
                        cloudphone_core::Operation::Stop,
                        ids.iter().cloned(),
                    );
                    fake.wait(&pending, &WaitOptions::default()).await
                }
                _ => fake.reset(&ids, &ResetOptions::default()).await,
            }
            .expect("batch");
            let wall = t0.elapsed();
            let cpu = cpu_time().unwrap_or_default().saturating_sub(cpu0);
            assert_eq!(report.outcomes.len(), N, "one outcome per phone");
            assert_eq!(report.summary().failed, 0);
            run(name, wall, cpu, fake.requests() - before_req);
        }
    });
    match peak_rss_mib() {
        Some(m) => println!("\npeak resident memory: {m:.1} MiB"),
        None => println!("\npeak resident memory: unavailable on this platform"),
    }
}
