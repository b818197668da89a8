//! Capacity: how much one server holds at once, what that costs in memory, and whether it
//! gives the memory back. On one SQLite server, in turn:
//!
//! - the time from start to ready, and the idle RSS;
//! - phones connected on the device channel at once, each with an inbox long poll open
//!   (half of them on each port: the device API is on both, and each listener holds at
//!   most 10,000 connections);
//! - sync signature requests waiting at once; then the phones approve, and each request
//!   must end with its signature;
//! - async requests outstanding at once: each must be acknowledged, and each status query
//!   must answer "outstanding";
//! - the RSS a while after the load has gone, and the peak.
//!
//! The users are enrolled with `mobileid user import` and activated through the device
//! API as a fleet of virtual phones (see `Phone::activate_in_fleet`).

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use mobileid_crypto::{PinKey, PrivateKey};
use mobileid_phone::Phone;
use tokio::sync::{watch, Semaphore};
use tokio::task::JoinSet;

use crate::ap::{DemoAp, Outcome};
use crate::server::{Database, Server};

const PIN: &str = "246810";
/// Requests the fleet sends at once while enrolling, approving and querying.
const PARALLEL: usize = 64;

pub struct Plan {
    pub connected: usize,
    pub sync_waits: usize,
    pub outstanding: usize,
    /// How long after the load the RSS is read again.
    pub settle: Duration,
}

/// One load held at once.
#[derive(Default)]
pub struct Step {
    /// Answered as they must be.
    pub correct: usize,
    /// The most the server reported at once (its own gauge).
    pub at_once: u64,
    pub rss_kib: Option<u64>,
}

pub struct Report {
    pub listening: Duration,
    pub ready: Duration,
    pub idle_rss_kib: Option<u64>,
    pub enrolment: Duration,
    pub connected: Step,
    pub sync_waits: Step,
    pub outstanding: Step,
    pub rss_after_kib: Option<u64>,
    pub peak_rss_kib: Option<u64>,
    pub log: Vec<String>,
}

pub async fn run(server_bin: &std::path::Path, log: &str, plan: &Plan) -> anyhow::Result<Report> {
    let mut server = Server::start(server_bin, Database::Sqlite, log, None).await?;
    // Measured on the second start: the first one also makes the database, the CA and keys.
    server.restart().await?;
    let measured = tokio::select! {
        report = measure(&server, plan) => report,
        _ = tokio::signal::ctrl_c() => Err(anyhow::anyhow!("interrupted")),
    };
    let peak_rss_kib = server.peak_rss_kib();
    let log = server.log_lines();
    server.stop().await;
    let mut report = measured?;
    report.peak_rss_kib = peak_rss_kib;
    report.log = log;
    Ok(report)
}

async fn measure(server: &Server, plan: &Plan) -> anyhow::Result<Report> {
    let ca_pem = std::fs::read_to_string(server.data_dir().join("ca.pem")).context("reading ca.pem")?;
    let probe = Probe::new(server, &ca_pem)?;
    let ready = probe.wait_ready().await?;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let idle_rss_kib = server.rss_kib();
    eprintln!("capacity: ready after {ready:?}, idle RSS {idle_rss_kib:?} KiB");

    let users = plan.connected.max(plan.sync_waits).max(plan.outstanding);
    let started = Instant::now();
    let fleet = Fleet::enrol(server, &ca_pem, users).await?;
    let enrolment = started.elapsed();
    eprintln!("capacity: {users} users enrolled and activated in {:.1} s", enrolment.as_secs_f64());

    let connected = connect(&fleet, plan.connected, server, &probe).await?;
    eprintln!("capacity: {} of {} phones connected at once", connected.at_once, plan.connected);
    let sync_waits = sync_waits(&fleet, plan.sync_waits, server, &probe).await?;
    eprintln!("capacity: {} sync requests waited at once, {} signed", sync_waits.at_once, sync_waits.correct);
    let outstanding = outstanding(plan.outstanding, &fleet, server, &probe).await?;
    eprintln!("capacity: {} async requests outstanding at once", outstanding.at_once);

    drop(fleet);
    tokio::time::sleep(plan.settle).await;
    let rss_after_kib = server.rss_kib();
    Ok(Report {
        listening: server.listening_after,
        ready,
        idle_rss_kib,
        enrolment,
        connected,
        sync_waits,
        outstanding,
        rss_after_kib,
        peak_rss_kib: None,
        log: Vec::new(),
    })
}

/// Reads the server's health and gauges on the browser port, which the load leaves alone.
struct Probe {
    http: reqwest::Client,
    ready_url: String,
    metrics_url: String,
    started: Instant,
}

impl Probe {
    fn new(server: &Server, ca_pem: &str) -> anyhow::Result<Probe> {
        Ok(Probe {
            http: fleet_client(ca_pem, 4)?,
            ready_url: format!("{}/health/ready", server.browser_base),
            metrics_url: format!("{}/metrics", server.browser_base),
            started: server.spawned_at,
        })
    }

    /// From the server's start until `/health/ready` answers 200.
    async fn wait_ready(&self) -> anyhow::Result<Duration> {
        for _ in 0..2000 {
            if let Ok(response) = self.http.get(&self.ready_url).send().await {
                if response.status().is_success() {
                    return Ok(self.started.elapsed());
                }
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        bail!("/health/ready never answered 200")
    }

    /// A gauge from `/metrics`.
    async fn gauge(&self, name: &str) -> anyhow::Result<u64> {
        let text = self.http.get(&self.metrics_url).send().await?.error_for_status()?.text().await?;
        let line = text.lines().find(|line| line.starts_with(name) && line[name.len()..].starts_with(' '));
        let value = line.and_then(|line| line.split_whitespace().nth(1)).with_context(|| format!("no {name}"))?;
        Ok(value.parse::<f64>()? as u64)
    }

    /// Polls a gauge until it reaches `goal` or has not grown for three seconds; the most
    /// it showed.
    async fn watch(&self, name: &str, goal: u64) -> anyhow::Result<u64> {
        let (mut most, mut grew) = (0, Instant::now());
        loop {
            let value = self.gauge(name).await?;
            if value > most {
                (most, grew) = (value, Instant::now());
            }
            if most >= goal || grew.elapsed() > Duration::from_secs(3) {
                return Ok(most);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// An HTTP/1.1 client, so that each request in flight holds a connection of its own, as
/// phones and APs on their own would.
fn fleet_client(ca_pem: &str, connections: usize) -> anyhow::Result<reqwest::Client> {
    mobileid_phone::install_crypto_provider();
    Ok(reqwest::Client::builder()
        .use_rustls_tls()
        .tls_built_in_root_certs(false)
        .add_root_certificate(reqwest::Certificate::from_pem(ca_pem.as_bytes())?)
        .http1_only()
        .pool_max_idle_per_host(connections)
        .build()?)
}

/// The enrolled users' phones, activated, half of them on each port.
struct Fleet {
    phones: Vec<Phone>,
    pin_key: Arc<PinKey>,
}

impl Fleet {
    async fn enrol(server: &Server, ca_pem: &str, count: usize) -> anyhow::Result<Fleet> {
        let msisdns: Vec<String> = (0..count).map(|i| format!("+41796{i:06}")).collect();
        let codes = server.operator().import_users(&msisdns).await?;
        let pin = PIN.to_string();
        let pin_key = Arc::new(tokio::task::spawn_blocking(move || PinKey::new(&pin)).await?);
        let clients = [fleet_client(ca_pem, PARALLEL)?, fleet_client(ca_pem, PARALLEL)?];
        let bases = [server.base.clone(), server.browser_base.clone()];
        let permits = Arc::new(Semaphore::new(PARALLEL));
        let mut activations = JoinSet::new();
        for (index, (_, code)) in codes.into_iter().enumerate() {
            let permit = permits.clone().acquire_owned().await?;
            let (http, base) = (clients[index % 2].clone(), bases[index % 2].clone());
            let (ca_pem, pin_key) = (ca_pem.to_string(), pin_key.clone());
            activations.spawn(async move {
                let _permit = permit;
                let phone = Phone::activate_in_fleet(http, &base, Some(&ca_pem), &code, &pin_key).await;
                (index, phone)
            });
        }
        let mut phones: Vec<Option<Phone>> = (0..count).map(|_| None).collect();
        while let Some(done) = activations.join_next().await {
            let (index, phone) = done?;
            phones[index] = Some(phone.with_context(|| format!("activating phone {index}"))?);
        }
        Ok(Fleet { phones: phones.into_iter().map(|p| p.expect("every phone was activated")).collect(), pin_key })
    }
}

impl Fleet {
    /// The phones activated on the browser port (every second one).
    fn on_browser_port(&self) -> impl Iterator<Item = &Phone> {
        self.phones.iter().skip(1).step_by(2)
    }
}

/// The first `count` phones (half on each port) each keep an inbox long poll open, until
/// all are counted.
async fn connect(fleet: &Fleet, count: usize, server: &Server, probe: &Probe) -> anyhow::Result<Step> {
    let (stop, stopped) = watch::channel(false);
    let mut polls = JoinSet::new();
    for phone in fleet.phones.iter().take(count) {
        let phone = phone.clone();
        let mut stopped = stopped.clone();
        polls.spawn(async move {
            loop {
                tokio::select! {
                    _ = stopped.changed() => return true,
                    inbox = phone.inbox(Duration::from_secs(30)) => if inbox.is_err() { return false },
                }
            }
        });
    }
    let at_once = probe.watch("mobileid_phones_connected", count as u64).await?;
    let rss_kib = server.rss_kib();
    let _ = stop.send(true);
    let mut correct = 0;
    while let Some(ok) = polls.join_next().await {
        correct += usize::from(ok?);
    }
    Ok(Step { correct, at_once, rss_kib })
}

/// `count` sync requests wait at once; then their phones approve, and each must end
/// signed. The phones are those on the browser port: the requests hold the MSS port's
/// connections.
async fn sync_waits(fleet: &Fleet, count: usize, server: &Server, probe: &Probe) -> anyhow::Result<Step> {
    let ap = Arc::new(DemoAp::new(&server.base, server.data_dir(), 240, count)?);
    let mut requests = JoinSet::new();
    for phone in fleet.on_browser_port().take(count) {
        let (ap, msisdn) = (ap.clone(), phone.state().msisdn.clone());
        requests.spawn(async move { ap.sign(&msisdn).await });
    }
    let at_once = probe.watch("mobileid_transactions_pending", count as u64).await?;
    let rss_kib = server.rss_kib();
    approve_all(fleet, count).await?;
    let mut correct = 0;
    while let Some(outcome) = requests.join_next().await {
        correct += usize::from(matches!(outcome?, Outcome::Signed));
    }
    Ok(Step { correct, at_once, rss_kib })
}

/// The first `count` phones on the browser port read their inbox and approve what is
/// there.
async fn approve_all(fleet: &Fleet, count: usize) -> anyhow::Result<()> {
    let permits = Arc::new(Semaphore::new(PARALLEL));
    let mut approvals = JoinSet::new();
    for phone in fleet.on_browser_port().take(count) {
        let permit = permits.clone().acquire_owned().await?;
        let (mut phone, pin_key) = (phone.clone(), fleet.pin_key.clone());
        approvals.spawn(async move {
            let _permit = permit;
            let key: PrivateKey = phone.unlock_with(&pin_key).await?;
            // The request may still be on its way from a connection the server accepted late.
            for _ in 0..50 {
                let inbox = phone.inbox(Duration::from_secs(5)).await?;
                for request in &inbox.requests {
                    phone.approve_unlocked(request, &key).await?;
                }
                if !inbox.requests.is_empty() {
                    break;
                }
            }
            anyhow::Ok(())
        });
    }
    while let Some(done) = approvals.join_next().await {
        done??;
    }
    Ok(())
}

/// `count` async requests, each acknowledged, then each queried: all must be outstanding.
async fn outstanding(count: usize, fleet: &Fleet, server: &Server, probe: &Probe) -> anyhow::Result<Step> {
    let ap = Arc::new(DemoAp::new(&server.base, server.data_dir(), 300, PARALLEL)?);
    let permits = Arc::new(Semaphore::new(PARALLEL));
    let mut sent = JoinSet::new();
    for phone in fleet.phones.iter().take(count) {
        let permit = permits.clone().acquire_owned().await?;
        let (ap, msisdn) = (ap.clone(), phone.state().msisdn.clone());
        sent.spawn(async move {
            let _permit = permit;
            ap.start_async(&msisdn).await
        });
    }
    let mut ids = Vec::with_capacity(count);
    while let Some(ack) = sent.join_next().await {
        if let Ok(id) = ack? {
            ids.push(id);
        }
    }
    let at_once = probe.gauge("mobileid_transactions_pending").await?;
    let rss_kib = server.rss_kib();
    let mut queries = JoinSet::new();
    for id in ids {
        let permit = permits.clone().acquire_owned().await?;
        let ap = ap.clone();
        queries.spawn(async move {
            let _permit = permit;
            ap.is_outstanding(&id).await
        });
    }
    let mut correct = 0;
    while let Some(outstanding) = queries.join_next().await {
        correct += usize::from(outstanding?);
    }
    Ok(Step { correct, at_once, rss_kib })
}
