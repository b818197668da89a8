//! How long transactions take, from creation to their final state, by how they ended.
//!
//! The engine records; the HTTP layer registers these with the `/metrics` registry. Each
//! place where a transaction reaches a final state calls [`TransactionMetrics::finished`]
//! once, so the histogram counts every transaction this node finished.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

/// How a transaction ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ending {
    /// A robot signed at once.
    RobotSigned,
    /// The phone approved and the signature verified.
    Signed,
    /// The user pressed Cancel.
    Declined,
    /// Its time ran out.
    Expired,
    /// A newer App request for the same user replaced it.
    Replaced,
    /// The phone's key was blocked by wrong PINs.
    PinBlocked,
}

impl Ending {
    fn label(self) -> &'static str {
        match self {
            Ending::RobotSigned => "robot_signed",
            Ending::Signed => "signed",
            Ending::Declined => "declined",
            Ending::Expired => "expired",
            Ending::Replaced => "replaced",
            Ending::PinBlocked => "pin_blocked",
        }
    }
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabel {
    outcome: &'static str,
}

/// Latency histograms of finished transactions; cheap to clone (shared counters).
#[derive(Clone)]
pub struct TransactionMetrics {
    latency: Family<OutcomeLabel, Histogram>,
}

/// From 50 ms (robots) to the longest TimeOut, 300 s (phones wait for people).
const BUCKETS: [f64; 14] = [0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0, 30.0, 60.0, 80.0, 120.0, 300.0];

impl Default for TransactionMetrics {
    fn default() -> Self {
        TransactionMetrics { latency: Family::new_with_constructor(|| Histogram::new(BUCKETS)) }
    }
}

impl TransactionMetrics {
    /// Records a transaction created at `created_at_ms` that ended now, at `now_ms`.
    pub fn finished(&self, ending: Ending, created_at_ms: i64, now_ms: i64) {
        let seconds = (now_ms - created_at_ms).max(0) as f64 / 1000.0;
        self.latency.get_or_create(&OutcomeLabel { outcome: ending.label() }).observe(seconds);
    }

    pub fn register(&self, registry: &mut Registry) {
        registry.register(
            "mobileid_transaction_duration_seconds",
            "Time from a transaction's creation to its final state, by outcome",
            self.latency.clone(),
        );
    }
}

impl crate::Engine {
    /// For transactions ended in bulk, where the caller holds only their ids: reads the
    /// row for its times. Replacements and PIN blocks are rare, so the read costs little.
    pub(crate) async fn record_finished(&self, ending: Ending, id: &str) {
        if let Ok(Some(record)) = self.inner.store.find_transaction(id).await {
            let ended = record.completed_at.unwrap_or_else(crate::now_ms);
            self.inner.metrics.finished(ending, record.created_at, ended);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finished_transactions_are_counted_by_outcome() {
        let metrics = TransactionMetrics::default();
        metrics.finished(Ending::Signed, 1_000, 3_500);
        metrics.finished(Ending::Expired, 1_000, 900);
        let mut registry = Registry::default();
        metrics.register(&mut registry);
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &registry).unwrap();
        assert!(text.contains("mobileid_transaction_duration_seconds_count{outcome=\"signed\"} 1"), "{text}");
        assert!(text.contains("mobileid_transaction_duration_seconds_sum{outcome=\"signed\"} 2.5"), "{text}");
        assert!(text.contains("mobileid_transaction_duration_seconds_count{outcome=\"expired\"} 1"), "{text}");
    }
}
