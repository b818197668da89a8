//! Wake-ups for whoever waits on a transaction or a device's inbox.
//!
//! An entry exists only while somebody waits, so memory holds nothing per transaction
//! beyond its live waiters. A waiter always re-reads the store after waking: the store is
//! the truth, a notification only says "look again", which makes lost or duplicate
//! notifications (e.g. across nodes) harmless.

use std::pin::Pin;
use std::sync::Arc;

use dashmap::DashMap;
use tokio::sync::futures::OwnedNotified;
use tokio::sync::Notify;

#[derive(Default)]
pub(crate) struct Waiters {
    map: DashMap<String, Arc<Notify>>,
}

impl Waiters {
    pub(crate) fn subscribe(&self, key: &str) -> Subscription<'_> {
        let notify = self.map.entry(key.to_string()).or_insert_with(|| Arc::new(Notify::new())).clone();
        Subscription { waiters: self, key: key.to_string(), notify }
    }

    pub(crate) fn wake(&self, key: &str) {
        if let Some(notify) = self.map.get(key) {
            notify.notify_waiters();
        }
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.map.len()
    }
}

pub(crate) struct Subscription<'a> {
    waiters: &'a Waiters,
    key: String,
    notify: Arc<Notify>,
}

impl Subscription<'_> {
    pub(crate) fn notify(&self) -> &Notify {
        &self.notify
    }

    /// A wake-up armed now: any [`Waiters::wake`] of the key from here on completes it,
    /// however much later it is awaited. It holds the entry too: drop it before the
    /// subscription, or the entry stays.
    pub(crate) fn armed(&self) -> Pin<Box<OwnedNotified>> {
        let mut notified = Box::pin(self.notify.clone().notified_owned());
        notified.as_mut().enable();
        notified
    }
}

impl Drop for Subscription<'_> {
    fn drop(&mut self) {
        // Two holders left (the map and us) means we are the last waiter. The check runs
        // under the shard lock, as does `subscribe`'s clone, so no new waiter is lost.
        self.waiters.map.remove_if(&self.key, |_, n| Arc::strong_count(n) <= 2);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn an_armed_wake_up_is_woken_before_it_is_awaited() {
        let waiters = Waiters::default();
        let subscription = waiters.subscribe("t1");
        let wake = subscription.armed();
        waiters.wake("t1");
        assert!(tokio::time::timeout(Duration::from_secs(5), wake).await.is_ok());
        drop(subscription);
        assert_eq!(waiters.len(), 0);
    }

    #[tokio::test]
    async fn wake_reaches_a_waiter_and_entries_are_dropped() {
        let waiters = Arc::new(Waiters::default());
        let w = waiters.clone();
        let task = tokio::spawn(async move {
            let sub = w.subscribe("t1");
            let notified = sub.notify().notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            w.wake("ready");
            tokio::time::timeout(Duration::from_secs(5), notified).await.is_ok()
        });
        // Wait until the waiter is registered, then wake it.
        while waiters.len() == 0 {
            tokio::task::yield_now().await;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
        waiters.wake("t1");
        assert!(task.await.unwrap());
        assert_eq!(waiters.len(), 0);
    }
}
