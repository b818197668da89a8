//! Counting: each worker keeps its own `Tally` (no shared locks on the hot path), and the
//! tallies are merged when the run ends.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use crate::ap::Outcome;

/// The measured part of a run: results that arrive between `from` and `until` count.
#[derive(Clone, Copy)]
pub struct Window {
    pub from: Instant,
    pub until: Instant,
}

impl Window {
    /// Starts after `warm_up` and lasts `duration`.
    pub fn after(warm_up: Duration, duration: Duration) -> Window {
        let from = Instant::now() + warm_up;
        Window { from, until: from + duration }
    }

    pub fn is_open(&self) -> bool {
        Instant::now() < self.until
    }

    fn counts(&self, at: Instant) -> bool {
        self.from <= at && at < self.until
    }
}

#[derive(Default, Clone)]
pub struct Tally {
    pub completed: u64,
    /// Latency of each completion, in microseconds.
    latencies: Vec<u64>,
    /// Error kind → how often.
    pub errors: BTreeMap<String, u64>,
}

impl Tally {
    /// Counts an outcome that ended now, if it ended inside the window.
    pub fn record(&mut self, window: &Window, started: Instant, outcome: Outcome) {
        let ended = Instant::now();
        if !window.counts(ended) {
            return;
        }
        match outcome {
            Outcome::Signed => {
                self.completed += 1;
                self.latencies.push((ended - started).as_micros() as u64);
            }
            Outcome::Failed(kind) => self.error(kind),
        }
    }

    pub fn error(&mut self, kind: String) {
        *self.errors.entry(kind).or_default() += 1;
    }

    pub fn error_count(&self) -> u64 {
        self.errors.values().sum()
    }

    pub fn merge(&mut self, other: Tally) {
        self.completed += other.completed;
        self.latencies.extend(other.latencies);
        for (kind, count) in other.errors {
            *self.errors.entry(kind).or_default() += count;
        }
    }

    /// p50, p90, p99 and max of the completions' latencies, in milliseconds (nearest rank).
    pub fn percentiles(&mut self) -> Option<[f64; 4]> {
        if self.latencies.is_empty() {
            return None;
        }
        self.latencies.sort_unstable();
        let n = self.latencies.len();
        let rank = |p: f64| self.latencies[((p * n as f64).ceil() as usize).clamp(1, n) - 1] as f64 / 1000.0;
        Some([rank(0.50), rank(0.90), rank(0.99), self.latencies[n - 1] as f64 / 1000.0])
    }
}
