//! `mobileid-bench --scenario all`: every measurement of the platform's speed and size in
//! one run, each figure beside its target, printed as a table and written as JSON.
//!
//! - the machine's crypto ceiling (ECDSA P-256 sign and verify on every core);
//! - robots on SQLite; phones async and sync on SQLite and on PostgreSQL, with p50, p99
//!   and CPU per transaction (PostgreSQL's own as well); phones async at half the load;
//! - capacity: phones connected, sync requests waiting and async requests outstanding at
//!   once, with the server's RSS, start time, idle RSS and RSS after the load.
//!
//! `--smoke` runs the same steps with tiny loads for a few seconds: the test suite runs it
//! to check that every transaction of every step completes correctly, not how fast.

use std::time::Duration;

use anyhow::{bail, Context};
use serde_json::{json, Value};

use crate::capacity::{self, Plan};
use crate::mss::{self, MssReport, MssRun, Signers};
use crate::scenario::{Mode, Unlock};
use crate::{crypto, Args};

/// How often an async AP asks for the status.
const POLL: Duration = Duration::from_millis(10);
const MIB: f64 = 1024.0;

/// The sizes of one run: the full one, or the smoke test's.
struct Sizes {
    crypto: Duration,
    warm_up: Duration,
    duration: Duration,
    concurrency: usize,
    users: usize,
    capacity: Plan,
}

impl Sizes {
    fn full() -> Sizes {
        Sizes {
            crypto: Duration::from_secs(2),
            warm_up: Duration::from_secs(2),
            duration: Duration::from_secs(10),
            concurrency: 64,
            users: 256,
            capacity: Plan {
                connected: 10_000,
                sync_waits: 10_000,
                outstanding: 100_000,
                settle: Duration::from_secs(60),
            },
        }
    }

    fn smoke() -> Sizes {
        Sizes {
            crypto: Duration::from_millis(200),
            warm_up: Duration::ZERO,
            duration: Duration::from_secs(1),
            concurrency: 4,
            users: 8,
            capacity: Plan { connected: 20, sync_waits: 20, outstanding: 40, settle: Duration::from_secs(1) },
        }
    }
}

/// One line of the table.
struct Figure {
    name: String,
    value: f64,
    unit: &'static str,
    /// The target and whether the value meets it; None for a figure without one.
    target: Option<(String, bool)>,
}

#[derive(Default)]
struct Table {
    figures: Vec<Figure>,
    /// Transactions or requests that did not end as they must, by step.
    failures: Vec<String>,
}

impl Table {
    fn add(&mut self, name: impl Into<String>, value: f64, unit: &'static str) {
        self.figures.push(Figure { name: name.into(), value, unit, target: None });
    }

    fn at_least(&mut self, name: impl Into<String>, value: f64, unit: &'static str, target: f64) {
        let target = (format!(">= {}", number(target)), value >= target);
        self.figures.push(Figure { name: name.into(), value, unit, target: Some(target) });
    }

    fn at_most(&mut self, name: impl Into<String>, value: f64, unit: &'static str, target: f64) {
        let target = (format!("<= {}", number(target)), value <= target);
        self.figures.push(Figure { name: name.into(), value, unit, target: Some(target) });
    }

    /// Every request of a step must have ended as it must.
    fn check(&mut self, step: &str, asked: u64, correct: u64) {
        if correct != asked {
            self.failures.push(format!("{step}: {correct} of {asked} correct"));
        }
    }

    fn check_run(&mut self, step: &str, report: &MssReport) {
        let errors = |tally: &crate::tally::Tally| {
            tally.errors.iter().map(|(kind, n)| format!("{n} × {kind}")).collect::<Vec<_>>().join("; ")
        };
        if report.ap.error_count() > 0 || report.ap.completed == 0 {
            self.failures.push(format!("{step}: {} completed, errors: {}", report.ap.completed, errors(&report.ap)));
        }
        if let Some(phones) = report.phones.as_ref().filter(|phones| phones.error_count() > 0) {
            self.failures.push(format!("{step}: phone errors: {}", errors(phones)));
        }
    }
}

fn number(value: f64) -> String {
    if value >= 100.0 || value.fract() == 0.0 {
        format!("{value:.0}")
    } else {
        format!("{value:.2}")
    }
}

pub async fn bench(args: &Args) -> anyhow::Result<()> {
    crate::server::check_binary(&args.server_bin)?;
    let sizes = if args.smoke { Sizes::smoke() } else { Sizes::full() };
    let started = std::time::Instant::now();
    let mut table = Table::default();

    eprintln!("crypto ceiling…");
    let crypto_duration = sizes.crypto;
    let ceiling = tokio::task::spawn_blocking(move || crypto::measure(crypto_duration)).await??;
    table.add(format!("ECDSA P-256 signatures ({} cores)", ceiling.cores), ceiling.sign_per_s, "/s");
    table.add(format!("ECDSA P-256 verifications ({} cores)", ceiling.cores), ceiling.verify_per_s, "/s");
    table.add("crypto ceiling (3 sign+verify pairs per tx)", ceiling.transactions_per_s(), "tx/s");

    let run = |signers, mode, database_url: Option<String>, rate| MssRun {
        server_bin: args.server_bin.clone(),
        database_url,
        log: args.log.clone(),
        signers,
        mode,
        concurrency: sizes.concurrency,
        rate,
        warm_up: sizes.warm_up,
        duration: sizes.duration,
        mss_timeout: args.mss_timeout,
    };
    let phones = Signers::Phones { users: sizes.users, unlock: Unlock::Once };
    let asynchronous = Mode::Async { poll: POLL };
    let postgres = Some(args.postgres_url.clone());

    eprintln!("robots, SQLite…");
    let robots = mss::run(&run(Signers::Robots, Mode::Sync, None, None)).await?;
    table.check_run("robots SQLite", &robots);
    table.at_least("robots, sync, SQLite", robots.throughput(), "tx/s", 6000.0);
    per_tx(&mut table, "robots, SQLite", &robots);

    eprintln!("phones async, SQLite…");
    let sqlite_async = mss::run(&run(phones, asynchronous, None, None)).await?;
    table.check_run("phones async SQLite", &sqlite_async);
    let tps = sqlite_async.throughput();
    table.at_least("phones, async, SQLite", tps, "tx/s", 2500.0);
    table.at_least("  of the crypto ceiling", tps / ceiling.transactions_per_s(), "ratio", 0.30);
    latencies(&mut table, "phones, async, SQLite", &sqlite_async, None);
    per_tx(&mut table, "phones, async, SQLite", &sqlite_async);

    let half = (tps / 2.0).max(1.0);
    eprintln!("phones async at half the load ({half:.0} tx/s), SQLite…");
    let sqlite_half = mss::run(&run(phones, asynchronous, None, Some(half))).await?;
    table.check_run("phones async SQLite, half load", &sqlite_half);
    table.add("phones, async, SQLite, paced at half", sqlite_half.throughput(), "tx/s");
    latencies(&mut table, "phones, async, SQLite, half load", &sqlite_half, Some(50.0));

    eprintln!("phones sync, SQLite…");
    let sqlite_sync = mss::run(&run(phones, Mode::Sync, None, None)).await?;
    table.check_run("phones sync SQLite", &sqlite_sync);
    table.add("phones, sync, SQLite", sqlite_sync.throughput(), "tx/s");
    latencies(&mut table, "phones, sync, SQLite", &sqlite_sync, None);
    per_tx(&mut table, "phones, sync, SQLite", &sqlite_sync);

    eprintln!("phones async, PostgreSQL…");
    let postgres_async = mss::run(&run(phones, asynchronous, postgres.clone(), None)).await?;
    table.check_run("phones async PostgreSQL", &postgres_async);
    table.at_least("phones, async, PostgreSQL", postgres_async.throughput(), "tx/s", 2000.0);
    latencies(&mut table, "phones, async, PostgreSQL", &postgres_async, None);
    per_tx(&mut table, "phones, async, PostgreSQL", &postgres_async);
    if let (Some(ours), Some(theirs)) = (postgres_async.server_cpu_ms_per_tx(), postgres_async.postgres_cpu_ms_per_tx())
    {
        table.at_most("  PostgreSQL's CPU / server's CPU", theirs / ours, "ratio", 1.0);
    }

    eprintln!("phones sync, PostgreSQL…");
    let postgres_sync = mss::run(&run(phones, Mode::Sync, postgres, None)).await?;
    table.check_run("phones sync PostgreSQL", &postgres_sync);
    table.add("phones, sync, PostgreSQL", postgres_sync.throughput(), "tx/s");
    latencies(&mut table, "phones, sync, PostgreSQL", &postgres_sync, None);
    per_tx(&mut table, "phones, sync, PostgreSQL", &postgres_sync);

    capacity_step(&mut table, args, &sizes.capacity).await?;
    finish(&table, args, started.elapsed())
}

/// `--scenario capacity`: only the capacity step, as `all` runs it.
pub async fn capacity(args: &Args) -> anyhow::Result<()> {
    crate::server::check_binary(&args.server_bin)?;
    let sizes = if args.smoke { Sizes::smoke() } else { Sizes::full() };
    let started = std::time::Instant::now();
    let mut table = Table::default();
    capacity_step(&mut table, args, &sizes.capacity).await?;
    finish(&table, args, started.elapsed())
}

async fn capacity_step(table: &mut Table, args: &Args, plan: &Plan) -> anyhow::Result<()> {
    eprintln!("capacity, SQLite…");
    let capacity = capacity::run(&args.server_bin, &args.log, plan).await?;
    capacity_figures(table, &capacity, plan);
    Ok(())
}

/// Prints the table, writes the JSON, and fails if any request did not end as it must.
fn finish(table: &Table, args: &Args, elapsed: Duration) -> anyhow::Result<()> {
    print_table(table, args.smoke, elapsed);
    let json = to_json(table, args.smoke, elapsed);
    if let Some(dir) = args.json.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    std::fs::write(&args.json, serde_json::to_string_pretty(&json)?)
        .with_context(|| format!("writing {}", args.json.display()))?;
    println!("  figures as JSON: {}", args.json.display());
    if !table.failures.is_empty() {
        bail!("{} steps had requests that did not end as they must", table.failures.len());
    }
    Ok(())
}

fn latencies(table: &mut Table, name: &str, report: &MssReport, p99_target: Option<f64>) {
    let mut ap = report.ap.clone();
    let Some([p50, _, p99, _]) = ap.percentiles() else { return };
    table.add(format!("  p50, {name}"), p50, "ms");
    match p99_target {
        Some(target) => table.at_most(format!("  p99, {name}"), p99, "ms", target),
        None => table.add(format!("  p99, {name}"), p99, "ms"),
    }
}

fn per_tx(table: &mut Table, name: &str, report: &MssReport) {
    if let Some(ms) = report.server_cpu_ms_per_tx() {
        table.add(format!("  server CPU per tx, {name}"), ms, "ms");
    }
    if let Some(ms) = report.postgres_cpu_ms_per_tx() {
        table.add(format!("  PostgreSQL CPU per tx, {name}"), ms, "ms");
    }
    if let Some(ms) = report.bench_cpu_ms_per_tx() {
        table.add(format!("  benchmark's CPU per tx, {name}"), ms, "ms");
    }
    if let Some(bound) = report.free_server_bound() {
        table.add(format!("  tx/s if the server cost nothing, {name}"), bound, "tx/s");
    }
}

fn capacity_figures(table: &mut Table, report: &capacity::Report, plan: &Plan) {
    let mib = |kib: Option<u64>| kib.map_or(f64::NAN, |kib| kib as f64 / MIB);
    table.at_most("start: until it listens", report.listening.as_secs_f64() * 1000.0, "ms", 1000.0);
    table.at_most("start: until /health/ready", report.ready.as_secs_f64() * 1000.0, "ms", 1000.0);
    // 30 MB, in MiB.
    table.at_most("idle RSS", mib(report.idle_rss_kib), "MiB", 30e6 / MIB / MIB);
    table.add("enrolment of the capacity users (not a target)", report.enrolment.as_secs_f64(), "s");
    for (name, step, asked) in [
        ("phones connected at once", &report.connected, plan.connected),
        ("sync requests waiting at once", &report.sync_waits, plan.sync_waits),
        ("async requests outstanding at once", &report.outstanding, plan.outstanding),
    ] {
        table.at_least(format!("{name} (server's gauge)"), step.at_once as f64, "", asked as f64);
        table.at_most(format!("  RSS with {asked} {name}"), mib(step.rss_kib), "MiB", 1024.0);
        table.add(format!("  answered correctly, of {asked}"), step.correct as f64, "");
        table.check(name, asked as u64, step.correct as u64);
    }
    table.at_most("peak RSS (VmHWM)", mib(report.peak_rss_kib), "MiB", 1024.0);
    let idle = mib(report.idle_rss_kib);
    table.at_most(
        format!("RSS {} s after the load (2x idle)", plan.settle.as_secs()),
        mib(report.rss_after_kib),
        "MiB",
        2.0 * idle,
    );
}

fn print_table(table: &Table, smoke: bool, elapsed: Duration) {
    println!(
        "mobileid-bench all{}: {:.0} s",
        if smoke { " (smoke: tiny loads, speed not judged)" } else { "" },
        elapsed.as_secs_f64()
    );
    println!("  {:<58} {:>12} {:<6} {:>10}  verdict", "figure", "value", "unit", "target");
    for figure in &table.figures {
        let (target, verdict) = match &figure.target {
            Some((target, _)) if smoke => (target.as_str(), "(smoke)"),
            Some((target, true)) => (target.as_str(), "met"),
            Some((target, false)) => (target.as_str(), "NOT met"),
            None => ("", ""),
        };
        println!("  {:<58} {:>12} {:<6} {:>10}  {verdict}", figure.name, number(figure.value), figure.unit, target);
    }
    if table.failures.is_empty() {
        println!("  every transaction and request ended as it must");
    }
    for failure in &table.failures {
        println!("  FAILED: {failure}");
    }
}

fn to_json(table: &Table, smoke: bool, elapsed: Duration) -> Value {
    let figures: Vec<Value> = table
        .figures
        .iter()
        .map(|f| {
            json!({
                "figure": f.name.trim(),
                "value": if f.value.is_finite() { json!(f.value) } else { Value::Null },
                "unit": f.unit,
                "target": f.target.as_ref().map(|(t, _)| t.clone()),
                "met": f.target.as_ref().map(|(_, met)| *met),
            })
        })
        .collect();
    json!({
        "smoke": smoke,
        "seconds": elapsed.as_secs_f64(),
        "cores": std::thread::available_parallelism().map(usize::from).unwrap_or(1),
        "host": std::fs::read_to_string("/proc/cpuinfo").ok()
            .and_then(|info| info.lines().find(|l| l.starts_with("model name")).map(|l| l.split(':').nth(1).unwrap_or("").trim().to_string())),
        "figures": figures,
        "failures": table.failures,
    })
}
