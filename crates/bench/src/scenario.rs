//! The two loads. `robots`: AP workers ask the EC robot to sign, which the server does
//! itself, so it measures the MSS front end, the engine and the store. `phones`: AP workers
//! ask enrolled users, whose virtual phones long-poll their inbox and approve with the PIN,
//! so it measures the whole round trip through the device API as well.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context;
use mobileid_core::device_api::SignRequest;
use mobileid_crypto::PrivateKey;
use mobileid_phone::{Phone, PhoneError};
use tokio::runtime::Handle;
use tokio::sync::{watch, Semaphore};
use tokio::task::JoinSet;

use crate::ap::{shorten, DemoAp};
use crate::server::Server;
use crate::tally::{Tally, Window};

/// The robot test user with an EC key: it signs at once.
pub const ROBOT_EC: &str = "+41700092501";
const PIN: &str = "246810";
/// How long a phone's inbox request waits for news.
const INBOX_WAIT: Duration = Duration::from_secs(30);
/// How many users are enrolled and activated at the same time.
const ENROLMENT_PARALLELISM: usize = 4;

pub async fn robots(ap: Arc<DemoAp>, concurrency: usize, window: Window) -> anyhow::Result<Tally> {
    let mut workers = JoinSet::new();
    for _ in 0..concurrency {
        let ap = ap.clone();
        workers.spawn(async move {
            let mut tally = Tally::default();
            while window.is_open() {
                let started = Instant::now();
                let outcome = ap.sign(ROBOT_EC).await;
                tally.record(&window, started, outcome);
            }
            tally
        });
    }
    merged(workers).await
}

/// The MSISDN of the `index`th benchmark user.
fn user_msisdn(index: usize) -> String {
    format!("+41795{index:06}")
}

/// How a phone gets at its signing key for each approval.
#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Unlock {
    /// With the PIN every time (`Phone::approve`), as the app does: a PBKDF2 of 100,000
    /// rounds on the benchmark's CPU and an unlock call to the server per approval.
    Each,
    /// With the PIN once, before the load; each request is still checked against the text
    /// shown, then signed with the unlocked key. Leaves the CPU to the server.
    Once,
}

/// A virtual phone and, if it unlocked once, its signing key.
pub struct Handset {
    phone: Phone,
    unlocked: Option<PrivateKey>,
}

impl Handset {
    async fn new(mut phone: Phone, unlock: Unlock) -> anyhow::Result<Handset> {
        let unlocked = match unlock {
            Unlock::Each => None,
            Unlock::Once => Some(phone.unlock(PIN).await?),
        };
        Ok(Handset { phone, unlocked })
    }

    pub fn msisdn(&self) -> &str {
        &self.phone.state().msisdn
    }

    async fn approve(&mut self, request: &SignRequest) -> Result<(), PhoneError> {
        match &self.unlocked {
            None => self.phone.approve(request, PIN).await,
            Some(key) => self.phone.approve_unlocked(request, key).await,
        }
    }
}

/// Enrols `count` users with `mobileid user import` and activates a phone for each, on
/// the phones' runtime.
pub async fn enrol(server: &Server, count: usize, unlock: Unlock, phones: &Handle) -> anyhow::Result<Vec<Handset>> {
    let ca_pem = std::fs::read_to_string(server.data_dir().join("ca.pem")).context("reading ca.pem")?;
    let msisdns: Vec<String> = (0..count).map(user_msisdn).collect();
    let codes = server.operator().import_users(&msisdns).await?;
    let permits = Arc::new(Semaphore::new(ENROLMENT_PARALLELISM));
    let mut enrolments = JoinSet::new();
    let mut handsets = Vec::with_capacity(count);
    for (msisdn, code) in codes {
        // Stop at the first failure rather than after enrolling everyone else.
        while let Some(handset) = enrolments.try_join_next() {
            handsets.push(handset??);
        }
        let permit = permits.clone().acquire_owned().await?;
        let (base, ca_pem) = (server.base.clone(), ca_pem.clone());
        enrolments.spawn_on(
            async move {
                let _permit = permit;
                let phone = Phone::activate(&base, Some(&ca_pem), &code, PIN).await;
                Handset::new(phone.with_context(|| format!("activating the phone of {msisdn}"))?, unlock).await
            },
            phones,
        );
    }
    while let Some(handset) = enrolments.join_next().await {
        handsets.push(handset??);
    }
    Ok(handsets)
}

/// The users without a request in flight. A user has at most one, because a new App
/// request ends the running one with fault 401.
struct IdleUsers(Mutex<Vec<String>>);

impl IdleUsers {
    /// Takes a random idle user. There is always one: there are at least as many users as
    /// AP workers, and each worker holds one user at a time.
    fn take(&self) -> Option<String> {
        let mut idle = self.0.lock().ok()?;
        if idle.is_empty() {
            return None;
        }
        let pick = rand::random::<usize>() % idle.len();
        Some(idle.swap_remove(pick))
    }

    fn give_back(&self, msisdn: String) {
        if let Ok(mut idle) = self.0.lock() {
            idle.push(msisdn);
        }
    }
}

/// How the APs ask: a sync request that waits for the signature, or an async one followed
/// by status queries every `poll` until the signature is there.
#[derive(Clone, Copy)]
pub enum Mode {
    Sync,
    Async { poll: Duration },
}

/// Spaces the starts of transactions evenly at a fixed rate, across all workers, to
/// measure latency at a given load rather than at saturation.
pub struct Pacer {
    interval: Duration,
    next: Mutex<Instant>,
}

impl Pacer {
    pub fn new(per_second: f64) -> Pacer {
        Pacer { interval: Duration::from_secs_f64(1.0 / per_second.max(1.0)), next: Mutex::new(Instant::now()) }
    }

    /// Waits for this worker's next slot. A worker that falls behind starts at once,
    /// and the slots it missed are not made up.
    async fn wait(&self) {
        let slot = {
            let Ok(mut next) = self.next.lock() else { return };
            let now = Instant::now();
            let slot = (*next).max(now);
            *next = slot + self.interval;
            slot
        };
        tokio::time::sleep_until(slot.into()).await;
    }
}

/// Returns the AP's tally and the phones' (approvals as completions; all of the run).
/// The phones run on their own runtime, so their signing does not delay the AP workers'
/// clocks.
pub async fn phones(
    ap: Arc<DemoAp>,
    handsets: Vec<Handset>,
    phones: &Handle,
    load: PhoneLoad,
    window: Window,
) -> anyhow::Result<(Tally, Tally)> {
    let PhoneLoad { concurrency, mode, pacer } = load;
    let msisdns = handsets.iter().map(|h| h.phone.state().msisdn.clone()).collect();
    let users = Arc::new(IdleUsers(Mutex::new(msisdns)));
    let (stop, stopped) = watch::channel(false);
    let mut listening = JoinSet::new();
    for handset in handsets {
        listening.spawn_on(answer(handset, stopped.clone()), phones);
    }

    let mut workers = JoinSet::new();
    for _ in 0..concurrency {
        let (ap, users, pacer) = (ap.clone(), users.clone(), pacer.clone());
        workers.spawn(async move {
            let mut tally = Tally::default();
            while window.is_open() {
                if let Some(pacer) = &pacer {
                    pacer.wait().await;
                }
                let Some(msisdn) = users.take() else {
                    tally.error("no idle user (more workers than users?)".into());
                    break;
                };
                let started = Instant::now();
                let outcome = match mode {
                    Mode::Sync => ap.sign(&msisdn).await,
                    Mode::Async { poll } => ap.sign_async(&msisdn, poll).await,
                };
                users.give_back(msisdn);
                tally.record(&window, started, outcome);
            }
            tally
        });
    }
    // The phones keep answering until the last AP request has its answer.
    let ap_tally = merged(workers).await;
    let _ = stop.send(true);
    let phone_tally = merged(listening).await;
    Ok((ap_tally?, phone_tally?))
}

/// How the AP workers load the phones.
#[derive(Clone)]
pub struct PhoneLoad {
    pub concurrency: usize,
    pub mode: Mode,
    /// At a fixed rate, or as fast as the answers come (None).
    pub pacer: Option<Arc<Pacer>>,
}

/// One phone: long-poll the inbox, approve whatever arrives, until told to stop.
pub async fn answer(mut handset: Handset, mut stop: watch::Receiver<bool>) -> Tally {
    let mut tally = Tally::default();
    loop {
        let inbox = tokio::select! {
            _ = stop.changed() => break,
            inbox = handset.phone.inbox(INBOX_WAIT) => inbox,
        };
        let requests = match inbox {
            Ok(inbox) => inbox.requests,
            Err(e) => {
                tally.error(format!("inbox: {}", shorten(&e.to_string())));
                // Do not hammer a server that refuses; the next poll may succeed.
                tokio::time::sleep(Duration::from_millis(200)).await;
                continue;
            }
        };
        for request in requests {
            match handset.approve(&request).await {
                Ok(()) => tally.completed += 1,
                Err(e) => tally.error(format!("approve: {}", shorten(&e.to_string()))),
            }
        }
    }
    tally
}

async fn merged(mut tasks: JoinSet<Tally>) -> anyhow::Result<Tally> {
    let mut total = Tally::default();
    while let Some(tally) = tasks.join_next().await {
        total.merge(tally.context("a benchmark task failed")?);
    }
    Ok(total)
}
