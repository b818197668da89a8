//! The first check of an MSS request, made before its body is read: the client
//! certificate must be registered for some AP. A stranger gets its 104 without costing
//! more than one indexed lookup: nothing of what it sent is parsed.
//!
//! Registered fingerprints are remembered for a minute, so that an AP's requests do not
//! pay a second database round trip. Remembering is only a shortcut past this gate: the
//! frame check that follows looks the certificate up with the AP_ID every time, so an AP
//! removed on any node is refused at once all the same. Strangers are never remembered;
//! the memory holds at most [`CAPACITY`] fingerprints.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use mobileid_core::{Fault, Timestamp};

use super::ap::ClientIdentity;
use super::{internal, Mss};

const REMEMBERED_FOR: Duration = Duration::from_secs(60);
const CAPACITY: usize = 10_000;

/// Fingerprints seen registered, and until when that is trusted.
#[derive(Default)]
pub(crate) struct KnownCertificates {
    until: Mutex<HashMap<String, Timestamp>>,
}

impl KnownCertificates {
    fn contains(&self, fingerprint: &str, now: Timestamp) -> bool {
        let until = self.until.lock().unwrap_or_else(|e| e.into_inner());
        until.get(fingerprint).is_some_and(|until| now < *until)
    }

    fn remember(&self, fingerprint: &str, now: Timestamp) {
        let mut until = self.until.lock().unwrap_or_else(|e| e.into_inner());
        if until.len() >= CAPACITY {
            until.retain(|_, until| now < *until);
            if until.len() >= CAPACITY {
                until.clear();
            }
        }
        until.insert(fingerprint.to_string(), now.plus(REMEMBERED_FOR));
    }
}

impl Mss<'_> {
    /// 104 unless the caller's certificate is registered for some AP; 106 without one is
    /// the transport's answer, before this. The sandbox listener names its AP in the body.
    pub async fn admit(&self, identity: &ClientIdentity) -> Result<(), Fault> {
        let ClientIdentity::Certificate(fingerprint) = identity else {
            return Ok(());
        };
        let known = &self.engine.inner.known_certificates;
        let now = self.engine.now();
        if known.contains(fingerprint, now) {
            return Ok(());
        }
        if self.engine.store().certificate_registered(fingerprint).await.map_err(internal)? {
            known.remember(fingerprint, now);
            Ok(())
        } else {
            tracing::info!(fingerprint = %fingerprint, "refused: client certificate registered for no AP");
            Err(Fault::wrong_ssl_credentials())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remembers_for_a_while_and_within_capacity() {
        let known = KnownCertificates::default();
        let now = Timestamp::from_millis(1_000_000);
        known.remember("a", now);
        assert!(known.contains("a", now.plus(REMEMBERED_FOR - Duration::from_millis(1))));
        assert!(!known.contains("a", now.plus(REMEMBERED_FOR)));
        assert!(!known.contains("b", now));
        for i in 0..CAPACITY + 10 {
            known.remember(&i.to_string(), now);
        }
        assert!(known.until.lock().unwrap().len() <= CAPACITY);
    }
}
