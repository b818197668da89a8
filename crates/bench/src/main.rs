//! `mobileid-bench`: load for the release `mobileid` server, and numbers about it. It
//! starts the server on a loopback port in a throw-away data directory (SQLite, or a fresh
//! PostgreSQL schema), drives it as the demo AP over mutual TLS, with virtual phones from
//! `mobileid-phone` answering when the scenario needs them, and prints a short report.
//! It builds nothing: it measures the binary it is given.

mod ap;
mod cpu;
mod oidc;
mod pdf;
mod peer;
mod scenario;
mod server;
mod tally;
mod wrk;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use clap::{Parser, ValueEnum};

use crate::ap::DemoAp;
use crate::scenario::Unlock;
use crate::server::{Database, Server};
use crate::tally::{Tally, Window};

/// Completed end-to-end transactions per second the platform aims for.
const TARGET_TPS: f64 = 2500.0;

#[derive(Parser)]
#[command(name = "mobileid-bench", about = "Load-test the mobileid server and report throughput and latency")]
struct Args {
    /// `robots`: sync signatures by the EC robot; `phones`: sync signatures approved by
    /// virtual phones; `oidc`: the OpenID provider against the peer (`--peer`), with wrk.
    #[arg(long, value_enum, default_value_t = Scenario::Robots)]
    scenario: Scenario,
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

/// What a run measured, before the server's own numbers are added.
struct Measured {
    ap: Tally,
    /// The phones' approvals and errors (scenario `phones`).
    phones: Option<Tally>,
    enrolment: Option<Duration>,
    cpu: Option<cpu::CpuShare>,
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
    let database = Database::choose(args.database_url.as_deref())?;
    let server = Server::start(&args.server_bin, database, &args.log, None).await?;
    eprintln!("server {} started on {} ({})", args.server_bin.display(), server.base, server.database_label());
    // Whatever happens, the server is stopped below.
    let measured = tokio::select! {
        measured = run(args, load, &server) => measured,
        _ = tokio::signal::ctrl_c() => Err(anyhow::anyhow!("interrupted")),
    };
    let peak_rss_kib = server.peak_rss_kib();
    let log = server.log_lines();
    let database = server.database_label();
    server.stop().await;
    let mut measured = measured?;
    print_report(args, load, &database, &mut measured, peak_rss_kib, &log);
    Ok(())
}

async fn run(args: &Args, load: MssLoad, server: &Server) -> anyhow::Result<Measured> {
    let ap = Arc::new(DemoAp::new(&server.base, server.data_dir(), args.mss_timeout, args.concurrency)?);
    let (warm_up, duration) = (Duration::from_secs(args.warm_up), Duration::from_secs(args.duration));
    let pid = server.pid().context("the server has exited")?;
    match load {
        MssLoad::Robots => {
            eprintln!("load: {} s warm-up, then {} s measured", args.warm_up, args.duration);
            let window = Window::after(warm_up, duration);
            let cpu = tokio::spawn(cpu::during(window, pid));
            let ap = scenario::robots(ap, args.concurrency, window).await?;
            Ok(Measured { ap, phones: None, enrolment: None, cpu: cpu.await.ok().flatten() })
        }
        MssLoad::Phones => {
            // The phones get threads of their own: an approval's PIN check is CPU work that
            // would otherwise hold up the AP workers and inflate their latencies.
            let phones_runtime = PhonesRuntime::start()?;
            let runtime = &phones_runtime.handle;
            eprintln!("enrolling {} users and activating their phones…", args.users);
            let started = Instant::now();
            let handsets = scenario::enrol(server, args.users, args.unlock, runtime).await?;
            let enrolment = Some(started.elapsed());
            eprintln!("load: {} s warm-up, then {} s measured", args.warm_up, args.duration);
            let window = Window::after(warm_up, duration);
            let cpu = tokio::spawn(cpu::during(window, pid));
            let (ap, phones) = scenario::phones(ap, handsets, runtime, args.concurrency, window).await?;
            Ok(Measured { ap, phones: Some(phones), enrolment, cpu: cpu.await.ok().flatten() })
        }
    }
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

fn print_report(
    args: &Args,
    load: MssLoad,
    database: &str,
    measured: &mut Measured,
    peak_rss_kib: Option<u64>,
    log: &[String],
) {
    let throughput = measured.ap.completed as f64 / args.duration as f64;
    let scenario = match load {
        MssLoad::Robots => format!("robots (sync signatures by {})", scenario::ROBOT_EC),
        MssLoad::Phones => {
            let unlock = match args.unlock {
                Unlock::Each => "PIN unlock per approval",
                Unlock::Once => "PIN unlock once",
            };
            format!("phones ({} users with virtual phones, sync signatures, {unlock})", args.users)
        }
    };
    println!("mobileid-bench report");
    println!("  scenario     : {scenario}");
    println!("  database     : {database}");
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
            println!("  latency (ms) : p50 {p50:.1}  p90 {p90:.1}  p99 {p99:.1}  max {max:.1}")
        }
        None => println!("  latency (ms) : no completions"),
    }
    match peak_rss_kib {
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
    print_log(log);
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
fn print_log(log: &[String]) {
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
