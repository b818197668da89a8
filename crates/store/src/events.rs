//! Change notifications between nodes sharing one PostgreSQL database.
//!
//! A node that completes a transaction or queues a request for a phone publishes an event;
//! every node listening wakes its local waiters, so a sync request or a phone's long poll
//! completes on whichever node it waits.

use sqlx::postgres::PgListener;

use crate::Result;

pub(crate) const CHANNEL: &str = "mobileid_changes";
/// How a `TransactionDone` payload starts: SQL that tells of ended transactions adds
/// their IDs to it.
pub(crate) const TRANSACTION_DONE: &str = "tx:";

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChangeEvent {
    /// A transaction reached its final state.
    TransactionDone(String),
    /// A device has a new request waiting (or one was withdrawn).
    DeviceInbox(String),
    /// An OpenID client was registered, changed or removed.
    OidcClient(String),
    /// A document's signing lease was given up: the next signer may go on.
    DocumentFree(String),
    /// An AP was registered, changed or removed.
    Ap(String),
}

impl ChangeEvent {
    pub(crate) fn encode(&self) -> String {
        match self {
            ChangeEvent::TransactionDone(id) => format!("{TRANSACTION_DONE}{id}"),
            ChangeEvent::DeviceInbox(id) => format!("dev:{id}"),
            ChangeEvent::OidcClient(id) => format!("oc:{id}"),
            ChangeEvent::DocumentFree(id) => format!("doc:{id}"),
            ChangeEvent::Ap(id) => format!("ap:{id}"),
        }
    }

    fn decode(payload: &str) -> Option<ChangeEvent> {
        if let Some(id) = payload.strip_prefix(TRANSACTION_DONE) {
            Some(ChangeEvent::TransactionDone(id.to_string()))
        } else if let Some(id) = payload.strip_prefix("oc:") {
            Some(ChangeEvent::OidcClient(id.to_string()))
        } else if let Some(id) = payload.strip_prefix("doc:") {
            Some(ChangeEvent::DocumentFree(id.to_string()))
        } else if let Some(id) = payload.strip_prefix("ap:") {
            Some(ChangeEvent::Ap(id.to_string()))
        } else {
            payload.strip_prefix("dev:").map(|id| ChangeEvent::DeviceInbox(id.to_string()))
        }
    }
}

pub struct ChangeListener {
    listener: PgListener,
}

impl ChangeListener {
    pub(crate) async fn connect(url: &str) -> Result<ChangeListener> {
        let mut listener = PgListener::connect(url).await?;
        listener.listen(CHANNEL).await?;
        Ok(ChangeListener { listener })
    }

    /// The next event. PgListener reconnects by itself after a lost connection; events sent
    /// while it was away are lost, which waiters tolerate because they re-read the store.
    pub async fn next(&mut self) -> Result<ChangeEvent> {
        loop {
            let note = self.listener.recv().await?;
            if let Some(event) = ChangeEvent::decode(note.payload()) {
                return Ok(event);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_round_trip() {
        for e in [
            ChangeEvent::TransactionDone("Habc".into()),
            ChangeEvent::DeviceInbox("d1".into()),
            ChangeEvent::OidcClient("rp".into()),
            ChangeEvent::DocumentFree("doc1".into()),
            ChangeEvent::Ap("mid://ap".into()),
        ] {
            assert_eq!(ChangeEvent::decode(&e.encode()), Some(e));
        }
        assert_eq!(ChangeEvent::decode("junk"), None);
    }
}
