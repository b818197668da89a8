//! One measured run of MSS load against a fresh server: robots, or enrolled virtual phones
//! answering sync or async requests, on SQLite or PostgreSQL. What it measured comes back
//! as an [`MssReport`], which the single-scenario report and `all` both read.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;

use crate::ap::DemoAp;
use crate::cpu;
use crate::scenario::{self, Mode, Pacer, PhoneLoad, Unlock};
use crate::server::{Database, Server};
use crate::tally::{Tally, Window};
use crate::PhonesRuntime;

/// Who answers the AP's requests.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Signers {
    /// The EC robot, which the server signs for itself.
    Robots,
    /// Users with enrolled virtual phones, over the device API.
    Phones { users: usize, unlock: Unlock },
}

pub struct MssRun {
    pub server_bin: PathBuf,
    /// A PostgreSQL database to make a fresh schema in; SQLite if None.
    pub database_url: Option<String>,
    pub log: String,
    pub signers: Signers,
    pub mode: Mode,
    pub concurrency: usize,
    /// Transactions started per second, evenly spaced; as fast as possible if None.
    pub rate: Option<f64>,
    pub warm_up: Duration,
    pub duration: Duration,
    pub mss_timeout: u64,
}

pub struct MssReport {
    pub database: String,
    pub ap: Tally,
    /// The phones' approvals and errors, over the whole run.
    pub phones: Option<Tally>,
    pub enrolment: Option<Duration>,
    pub cpu: Option<cpu::CpuShare>,
    /// CPU seconds PostgreSQL's processes used in the window (PostgreSQL runs only).
    pub postgres_cpu: Option<f64>,
    pub peak_rss_kib: Option<u64>,
    pub log: Vec<String>,
    pub duration: Duration,
}

impl MssReport {
    pub fn throughput(&self) -> f64 {
        self.ap.completed as f64 / self.duration.as_secs_f64()
    }

    /// The server's CPU time per completed transaction, in milliseconds.
    pub fn server_cpu_ms_per_tx(&self) -> Option<f64> {
        let cpu = self.cpu.as_ref()?;
        (self.ap.completed > 0).then(|| 1000.0 * cpu.server / self.ap.completed as f64)
    }

    pub fn postgres_cpu_ms_per_tx(&self) -> Option<f64> {
        let seconds = self.postgres_cpu?;
        (self.ap.completed > 0).then(|| 1000.0 * seconds / self.ap.completed as f64)
    }

    /// The benchmark's own CPU time (its APs and phones) per completed transaction, in
    /// milliseconds.
    pub fn bench_cpu_ms_per_tx(&self) -> Option<f64> {
        let cpu = self.cpu.as_ref()?;
        (self.ap.completed > 0).then(|| 1000.0 * cpu.bench / self.ap.completed as f64)
    }

    /// The most transactions a second that this machine's cores could carry with a server
    /// that cost no CPU at all: the load generator, its phones and PostgreSQL share the
    /// cores with the server, and what they spend on each transaction is measured.
    pub fn free_server_bound(&self) -> Option<f64> {
        let others = self.bench_cpu_ms_per_tx()? + self.postgres_cpu_ms_per_tx().unwrap_or(0.0);
        let cores = self.cpu.as_ref()?.cores as f64;
        (others > 0.0).then(|| 1000.0 * cores / others)
    }
}

/// Starts a server, loads it, stops it, and reports.
pub async fn run(config: &MssRun) -> anyhow::Result<MssReport> {
    let database = Database::choose(config.database_url.as_deref())?;
    let postgres = matches!(database, Database::Postgres { .. });
    let server = Server::start(&config.server_bin, database, &config.log, None).await?;
    eprintln!("server {} started on {} ({})", config.server_bin.display(), server.base, server.database_label());
    // Whatever happens, the server is stopped below.
    let measured = tokio::select! {
        measured = load(config, &server, postgres) => measured,
        _ = tokio::signal::ctrl_c() => Err(anyhow::anyhow!("interrupted")),
    };
    let peak_rss_kib = server.peak_rss_kib();
    let log = server.log_lines();
    let database = server.database_label();
    server.stop().await;
    let (ap, phones, enrolment, cpu, postgres_cpu) = measured?;
    Ok(MssReport { database, ap, phones, enrolment, cpu, postgres_cpu, peak_rss_kib, log, duration: config.duration })
}

type Measured = (Tally, Option<Tally>, Option<Duration>, Option<cpu::CpuShare>, Option<f64>);

async fn load(config: &MssRun, server: &Server, postgres: bool) -> anyhow::Result<Measured> {
    let ap = Arc::new(DemoAp::new(&server.base, server.data_dir(), config.mss_timeout, config.concurrency)?);
    let pid = server.pid().context("the server has exited")?;
    let pacer = config.rate.map(|rate| Arc::new(Pacer::new(rate)));
    match config.signers {
        Signers::Robots => {
            let window = Window::after(config.warm_up, config.duration);
            let cpu = tokio::spawn(cpu::during(window, pid));
            let postgres_cpu = tokio::spawn(cpu::postgres_during(window, postgres));
            let ap = scenario::robots(ap, config.concurrency, window).await?;
            Ok((ap, None, None, cpu.await.ok().flatten(), postgres_cpu.await.ok().flatten()))
        }
        Signers::Phones { users, unlock } => {
            // The phones get threads of their own: an approval's PIN check is CPU work that
            // would otherwise hold up the AP workers and inflate their latencies.
            let phones_runtime = PhonesRuntime::start()?;
            let runtime = &phones_runtime.handle;
            eprintln!("enrolling {users} users and activating their phones…");
            let started = Instant::now();
            let handsets = scenario::enrol(server, users, unlock, runtime).await?;
            let enrolment = Some(started.elapsed());
            let window = Window::after(config.warm_up, config.duration);
            let cpu = tokio::spawn(cpu::during(window, pid));
            let postgres_cpu = tokio::spawn(cpu::postgres_during(window, postgres));
            let load = PhoneLoad { concurrency: config.concurrency, mode: config.mode, pacer };
            let (ap, phones) = scenario::phones(ap, handsets, runtime, load, window).await?;
            Ok((ap, Some(phones), enrolment, cpu.await.ok().flatten(), postgres_cpu.await.ok().flatten()))
        }
    }
}
