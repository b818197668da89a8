//! Graceful shutdown, as every front end sees it.
//!
//! When it begins, the listeners stop accepting and idle connections close. Requests in
//! flight get `grace` to finish: long polls and event streams end at once (phones simply
//! reconnect), and an MSS request still waiting for a phone at the deadline answers with
//! a clean fault. Its transaction stays pending in the store, so after a restart the phone
//! can still approve it and a status query returns the signature.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

#[derive(Clone)]
pub struct Shutdown {
    token: CancellationToken,
    grace: Duration,
    began_at: Arc<OnceLock<Instant>>,
}

impl Shutdown {
    pub fn new(grace: Duration) -> Shutdown {
        Shutdown { token: CancellationToken::new(), grace, began_at: Arc::new(OnceLock::new()) }
    }

    /// Starts the shutdown; later calls change nothing.
    pub fn begin(&self) {
        self.began_at.get_or_init(Instant::now);
        self.token.cancel();
    }

    /// Resolves when the shutdown has begun.
    pub async fn begun(&self) {
        self.token.cancelled().await
    }

    /// The same, as an owned future (for streams that end with it).
    pub fn begun_owned(&self) -> tokio_util::sync::WaitForCancellationFutureOwned {
        self.token.clone().cancelled_owned()
    }

    pub fn is_begun(&self) -> bool {
        self.token.is_cancelled()
    }

    /// Resolves when in-flight requests must answer: `grace` after the shutdown began.
    pub async fn deadline(&self) {
        self.begun().await;
        tokio::time::sleep_until(self.deadline_instant()).await
    }

    /// When the process stops waiting for requests: the deadline, and a moment more for
    /// answers given at the deadline to be written.
    pub fn final_instant(&self) -> Instant {
        self.deadline_instant() + Duration::from_millis(500)
    }

    fn deadline_instant(&self) -> Instant {
        *self.began_at.get_or_init(Instant::now) + self.grace
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn the_deadline_comes_grace_after_the_beginning() {
        let shutdown = Shutdown::new(Duration::from_secs(10));
        assert!(!shutdown.is_begun());
        let waiting = tokio::spawn({
            let shutdown = shutdown.clone();
            async move {
                shutdown.deadline().await;
                Instant::now()
            }
        });
        tokio::time::sleep(Duration::from_secs(3)).await;
        let began = Instant::now();
        shutdown.begin();
        shutdown.begun().await;
        assert_eq!(waiting.await.unwrap() - began, Duration::from_secs(10));
    }
}
