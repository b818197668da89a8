//! The machine's own limit: how many ECDSA P-256 signatures it makes and checks per
//! second, with the crypto library the server and the phones use (aws-lc through
//! `mobileid-crypto`), on every core at once. A phone transaction needs three
//! sign-and-verify pairs (the inbox call, the approval call and the signature itself), so
//! the pair rate divided by three is the most transactions per second that crypto alone
//! would allow on this machine.

use std::time::{Duration, Instant};

use mobileid_crypto::{verify_signature, KeyAlgorithm, PrivateKey};

/// Sign-and-verify pairs in one phone transaction.
pub const PAIRS_PER_TRANSACTION: f64 = 3.0;

pub struct Ceiling {
    pub cores: usize,
    /// Signatures per second, all cores.
    pub sign_per_s: f64,
    /// Verifications per second, all cores.
    pub verify_per_s: f64,
}

impl Ceiling {
    /// Sign-and-verify pairs per second: one of each takes the sum of their times.
    pub fn pairs_per_s(&self) -> f64 {
        1.0 / (1.0 / self.sign_per_s + 1.0 / self.verify_per_s)
    }

    /// Phone transactions per second that crypto alone would allow.
    pub fn transactions_per_s(&self) -> f64 {
        self.pairs_per_s() / PAIRS_PER_TRANSACTION
    }
}

/// Measures for `duration` each: signing on every core, then verifying on every core.
pub fn measure(duration: Duration) -> anyhow::Result<Ceiling> {
    let cores = std::thread::available_parallelism().map(usize::from).unwrap_or(1);
    let key = PrivateKey::generate(KeyAlgorithm::EcP256)?;
    let public = key.subject_key();
    let message = [0x5a_u8; 200];
    let signature = key.sign(&message)?;
    let sign_per_s = on_every_core(cores, duration, || key.sign(&message).map(drop).map_err(anyhow::Error::from))?;
    let verify_per_s = on_every_core(cores, duration, || {
        verify_signature(&public, &message, &signature).map_err(anyhow::Error::from)
    })?;
    Ok(Ceiling { cores, sign_per_s, verify_per_s })
}

/// Runs `operation` in a loop on `cores` threads for `duration`: operations per second.
fn on_every_core(
    cores: usize,
    duration: Duration,
    operation: impl Fn() -> anyhow::Result<()> + Sync,
) -> anyhow::Result<f64> {
    let started = Instant::now();
    let counts = std::thread::scope(|scope| {
        let threads: Vec<_> = (0..cores)
            .map(|_| {
                scope.spawn(|| {
                    let mut count = 0_u64;
                    while started.elapsed() < duration {
                        for _ in 0..64 {
                            operation()?;
                        }
                        count += 64;
                    }
                    anyhow::Ok(count)
                })
            })
            .collect();
        threads
            .into_iter()
            .map(|t| t.join().map_err(|_| anyhow::anyhow!("a crypto thread panicked"))?)
            .sum::<anyhow::Result<u64>>()
    })?;
    Ok(counts as f64 / started.elapsed().as_secs_f64())
}
