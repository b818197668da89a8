//! `mobileid-bench`: load for the release `mobileid` server, and numbers about it. It
//! starts the server on a loopback port in a throw-away data directory (SQLite, or a fresh
//! PostgreSQL schema), drives it as the demo AP over mutual TLS, with virtual phones from
//! `mobileid-phone` answering when the scenario needs them, and prints a short report.
//! It builds nothing: it measures the binary it is given.

mod all;
mod ap;
mod capacity;
mod cpu;
mod crypto;
mod mss;
mod oidc;
mod pdf;
mod peer;
mod scenario;
mod server;
mod tally;
mod wrk;

use std::path::PathBuf;
use std::time::Duration;

use anyhow::bail;
use clap::{Parser, ValueEnum};

use crate::mss::{MssReport, MssRun, Signers};
use crate::scenario::{Mode, Unlock};
use crate::tally::Tally;

/// The server's allocator (see its `main.rs`) for the load generator too: glibc's malloc
/// and free were a fifth of the benchmark's CPU, which the server's share of the cores
/// pays for.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Completed end-to-end transactions per second the platform aims for.
const TARGET_TPS: f64 = 2500.0;

#[derive(Parser)]
#[command(name = "mobileid-bench", about = "Load-test the mobileid server and report throughput and latency")]
struct Args {
    /// `robots`: sync signatures by the EC robot; `phones`: signatures approved by
    /// virtual phones; `oidc`: the OpenID provider against the peer (`--peer`), with wrk;
    /// `all`: every measurement against its target, in one table (see the README).
    #[arg(long, value_enum, default_value_t = Scenario::Robots)]
    scenario: Scenario,
    /// Scenario `phones`: sync requests, or async ones with status queries.
    #[arg(long, value_enum, default_value_t = ModeArg::Sync)]
    mode: ModeArg,
    /// Async mode: milliseconds between an AP's status queries.
    #[arg(long, default_value_t = 10)]
    poll_ms: u64,
    /// Start this many transactions per second, evenly spaced, instead of as many as the
    /// workers can.
    #[arg(long)]
    rate: Option<f64>,
    /// Scenario `all`: a few seconds of tiny loads that check every transaction, not speed
    /// (the test suite runs it).
    #[arg(long)]
    smoke: bool,
    /// Scenario `all`: where to write the figures as JSON.
    #[arg(long, default_value = "target/bench/all.json")]
    json: PathBuf,
    /// Scenario `all`: the PostgreSQL database for its PostgreSQL runs.
    #[arg(long, default_value = "postgres://postgres@127.0.0.1:5432/test")]
    postgres_url: String,
    /// AP workers, each with one sync request in flight (scenario `oidc`: wrk's connections).
    #[arg(long, short = 'c', default_value_t = 32)]
    concurrency: usize,
    /// Seconds measured, after the warm-up.
    #[arg(long, short = 'd', default_value_t = 10)]
    duration: u64,
    /// Seconds of load before measuring.
    #[arg(long, default_value_t = 2)]
    warm_up: u64,
    /// Users with a virtual phone (scenario `phones`).
    #[arg(long, short = 'u', default_value_t = 200)]
    users: usize,
    /// How phones unlock their signing key (scenario `phones`): `each` approval with the
    /// PIN, as the app does, or `once` before the load.
    #[arg(long, value_enum, default_value_t = Unlock::Each)]
    unlock: Unlock,
    /// The server binary to measure.
    #[arg(long, default_value = "target/release/mobileid")]
    server_bin: PathBuf,
    /// A PostgreSQL database (e.g. postgres://postgres@127.0.0.1:5432/test); the benchmark
    /// runs in a fresh schema there and drops it at the end. SQLite if not given.
    #[arg(long)]
    database_url: Option<String>,
    /// The `TimeOut` of each signature request, in seconds.
    #[arg(long, default_value_t = 30)]
    mss_timeout: u64,
    /// The server's log filter (`MOBILEID_LOG`); its log is summarised at the end.
    #[arg(long, default_value = "warn")]
    log: String,
    /// Scenario `oidc`: the peer's folder (`../shared/peers/node-oidc-provider`, copied and
    /// `npm install`ed).
    #[arg(long)]
    peer: Option<PathBuf>,
    /// Scenario `oidc`: rounds of measurements; the report gives their medians.
    #[arg(long, default_value_t = 3)]
    runs: usize,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Scenario {
    Robots,
    Phones,
    Oidc,
    /// The signing step of document signing on a 10 MB, 300-page PDF, in process.
    Pdf,
    /// Only the capacity part of `all`, with its table and JSON.
    Capacity,
    All,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum ModeArg {
    Sync,
    Async,
}

/// The scenarios that load the MSS API.
#[derive(Clone, Copy)]
enum MssLoad {
    Robots,
    Phones,
}

impl Args {
    fn check(&self) -> anyhow::Result<()> {
        if !(1..=4096).contains(&self.concurrency) {
            bail!("--concurrency must be 1 to 4096");
        }
        if !(1..=3600).contains(&self.duration) || self.warm_up > 600 {
            bail!("--duration must be 1 to 3600 s and --warm-up at most 600 s");
        }
        if !(1..=300).contains(&self.mss_timeout) {
            bail!("--mss-timeout must be 1 to 300 s, as the MSS API allows");
        }
        if matches!(self.scenario, Scenario::Oidc | Scenario::Pdf) && !(1..=15).contains(&self.runs) {
            bail!("--runs must be 1 to 15");
        }
        if self.scenario == Scenario::Phones && !(self.concurrency..=10_000).contains(&self.users) {
            bail!("--users must be at least --concurrency (one request in flight per user) and at most 10000");
        }
        Ok(())
    }
}

fn main() -> std::process::ExitCode {
    let args = Args::parse();
    let outcome = args.check().and_then(|()| {
        let runtime = tokio::runtime::Runtime::new()?;
        match args.scenario {
            Scenario::Oidc => runtime.block_on(oidc::bench(&args)),
            Scenario::Robots => runtime.block_on(bench(&args, MssLoad::Robots)),
            Scenario::Phones => runtime.block_on(bench(&args, MssLoad::Phones)),
            Scenario::Pdf => pdf::bench(args.runs),
            Scenario::Capacity => runtime.block_on(all::capacity(&args)),
            Scenario::All => runtime.block_on(all::bench(&args)),
        }
    });
    match outcome {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("mobileid-bench: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn bench(args: &Args, load: MssLoad) -> anyhow::Result<()> {
    server::check_binary(&args.server_bin)?;
    let signers = match load {
        MssLoad::Robots => Signers::Robots,
        MssLoad::Phones => Signers::Phones { users: args.users, unlock: args.unlock },
    };
    let mode = match args.mode {
        ModeArg::Sync => Mode::Sync,
        ModeArg::Async => Mode::Async { poll: Duration::from_millis(args.poll_ms) },
    };
    let run = MssRun {
        server_bin: args.server_bin.clone(),
        database_url: args.database_url.clone(),
        log: args.log.clone(),
        signers,
        mode,
        concurrency: args.concurrency,
        rate: args.rate,
        warm_up: Duration::from_secs(args.warm_up),
        duration: Duration::from_secs(args.duration),
        mss_timeout: args.mss_timeout,
    };
    eprintln!("load: {} s warm-up, then {} s measured", args.warm_up, args.duration);
    let mut report = mss::run(&run).await?;
    print_report(args, load, &mut report);
    Ok(())
}

/// The phones' runtime; shut down without waiting, which is also allowed inside the main
/// runtime (dropping a runtime there is not).
struct PhonesRuntime {
    runtime: Option<tokio::runtime::Runtime>,
    handle: tokio::runtime::Handle,
}

impl PhonesRuntime {
    fn start() -> anyhow::Result<PhonesRuntime> {
        let runtime = tokio::runtime::Builder::new_multi_thread().thread_name("phones").enable_all().build()?;
        Ok(PhonesRuntime { handle: runtime.handle().clone(), runtime: Some(runtime) })
    }
}

impl Drop for PhonesRuntime {
    fn drop(&mut self) {
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

fn print_report(args: &Args, load: MssLoad, measured: &mut MssReport) {
    let throughput = measured.throughput();
    let scenario = match load {
        MssLoad::Robots => format!("robots (sync signatures by {})", scenario::ROBOT_EC),
        MssLoad::Phones => {
            let unlock = match args.unlock {
                Unlock::Each => "PIN unlock per approval",
                Unlock::Once => "PIN unlock once",
            };
            let mode = match args.mode {
                ModeArg::Sync => "sync signatures".to_string(),
                ModeArg::Async => format!("async signatures, status polled every {} ms", args.poll_ms),
            };
            format!("phones ({} users with virtual phones, {mode}, {unlock})", args.users)
        }
    };
    println!("mobileid-bench report");
    println!("  scenario     : {scenario}");
    println!("  database     : {}", measured.database);
    println!("  concurrency  : {} AP workers", args.concurrency);
    println!("  duration     : {} s measured, after {} s warm-up", args.duration, args.warm_up);
    if let Some(enrolment) = measured.enrolment {
        println!("  enrolment    : {} users in {:.1} s (not measured)", args.users, enrolment.as_secs_f64());
    }
    println!("  completed    : {}", measured.ap.completed);
    println!("  errors       : {}", measured.ap.error_count());
    println!("  throughput   : {throughput:.1} tx/s");
    match measured.ap.percentiles() {
        Some([p50, p90, p99, max]) => {
            println!("  latency (ms) : p50 {p50:.1}  p90 {p90:.1}  p99 {p99:.1}  max {max:.1}");
        }
        None => println!("  latency (ms) : no completions"),
    }
    if let Some(rate) = args.rate {
        println!("  paced        : {rate:.0} transactions started per second");
    }
    match measured.peak_rss_kib {
        Some(kib) => println!("  server RSS   : peak {:.1} MiB (VmHWM)", kib as f64 / 1024.0),
        None => println!("  server RSS   : unknown (the server had exited)"),
    }
    match &measured.cpu {
        Some(cpu) => {
            let wall = Duration::from_secs(args.duration);
            let server = cpu::percent_of_cores(cpu.server, wall, cpu.cores);
            let bench = cpu::percent_of_cores(cpu.bench, wall, cpu.cores);
            println!(
                "  CPU measured : server {:.1} s ({server:.0}% of {} cores), benchmark {:.1} s ({bench:.0}%)",
                cpu.server, cpu.cores, cpu.bench
            );
        }
        None => println!("  CPU measured : unknown"),
    }
    if let Some(load) = cpu::load_average() {
        println!("  host load    : {load} (1-minute average, at the end)");
    }
    println!("  target {TARGET_TPS:.0} tx/s: {:.2}x", throughput / TARGET_TPS);
    print_errors("AP errors", &measured.ap);
    if let Some(phones) = &measured.phones {
        println!("  phones       : {} approvals, {} errors (whole run)", phones.completed, phones.error_count());
        print_errors("phone errors", phones);
    }
    if let (Some(server), Some(bench)) = (measured.server_cpu_ms_per_tx(), measured.bench_cpu_ms_per_tx()) {
        let postgres =
            measured.postgres_cpu_ms_per_tx().map(|ms| format!(", PostgreSQL {ms:.2} ms")).unwrap_or_default();
        println!("  CPU per tx   : server {server:.2} ms, benchmark {bench:.2} ms{postgres}");
    }
    if let Some(bound) = measured.free_server_bound() {
        println!("  free server  : at most {bound:.0} tx/s on these cores if the server cost nothing");
    }
    print_log(&measured.log);
}

fn print_errors(title: &str, tally: &Tally) {
    if tally.errors.is_empty() {
        return;
    }
    println!("  {title} by kind:");
    for (kind, count) in &tally.errors {
        println!("    {count:>7}  {kind}");
    }
}

/// The server's warnings and errors: how many, and the first few.
pub fn print_log(log: &[String]) {
    const SHOWN: usize = 10;
    println!("  server log   : {} lines at the chosen level", log.len());
    for line in log.iter().take(SHOWN) {
        let shown: String = line.chars().take(300).collect();
        println!("    {shown}");
    }
    if log.len() > SHOWN {
        println!("    … {} more", log.len() - SHOWN);
    }
}
