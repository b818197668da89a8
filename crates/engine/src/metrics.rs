//! How long transactions take, from creation to their final state, by how they ended.
//!
//! The engine records; the HTTP layer registers these with the `/metrics` registry. Each
//! place where a transaction reaches a final state calls [`TransactionMetrics::finished`]
//! once, so the histogram counts every transaction this node finished.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

use mobileid_core::{FailureReason, Timestamp};

/// How a transaction ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ending {
    /// A robot signed at once.
    RobotSigned,
    /// The phone approved and the signature verified.
    Signed,
    /// Declined, expired, replaced, blocked PIN: labelled as the store names the reason.
    Failed(FailureReason),
}

impl Ending {
    fn label(self) -> &'static str {
        match self {
            Ending::RobotSigned => "robot_signed",
            Ending::Signed => "signed",
            Ending::Failed(reason) => reason.as_db(),
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
    pub fn finished(&self, ending: Ending, created_at: Timestamp, ended_at: Timestamp) {
        let seconds = created_at.until(ended_at).as_secs_f64();
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
    /// For transactions ended in bulk (replaced, blocked PIN), where the store returns
    /// only their ids: reads each back for its creation time.
    pub(crate) async fn record_finished(&self, ending: Ending, id: &str) {
        if let Ok(Some(record)) = self.inner.store.find_transaction(id).await {
            let ended = record.completed_at.unwrap_or_else(|| self.now());
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
        metrics.finished(Ending::Signed, Timestamp::from_millis(1_000), Timestamp::from_millis(3_500));
        metrics.finished(
            Ending::Failed(FailureReason::Expired),
            Timestamp::from_millis(1_000),
            Timestamp::from_millis(900),
        );
        let mut registry = Registry::default();
        metrics.register(&mut registry);
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &registry).unwrap();
        assert!(text.contains("mobileid_transaction_duration_seconds_count{outcome=\"signed\"} 1"), "{text}");
        assert!(text.contains("mobileid_transaction_duration_seconds_sum{outcome=\"signed\"} 2.5"), "{text}");
        assert!(text.contains("mobileid_transaction_duration_seconds_count{outcome=\"expired\"} 1"), "{text}");
    }
}
