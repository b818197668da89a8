//! Registrations as a node last read them: OpenID clients and APs. Every request
//! authenticates its client, and registrations change rarely, so a node uses what it read
//! for up to [`RELOAD_EVERY`]. A change made on this node (or announced by another, on
//! PostgreSQL) applies at once; one made by the CLI against a running SQLite node applies
//! within that time. Unknown keys are not kept, so guessing costs reads, not memory.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::Mutex;
use std::time::Duration;

use mobileid_core::Timestamp;

pub(crate) const RELOAD_EVERY: Duration = Duration::from_secs(5);

pub(crate) struct Recent<K, V> {
    read: Mutex<HashMap<K, (Timestamp, V)>>,
}

impl<K, V> Default for Recent<K, V> {
    fn default() -> Self {
        Recent { read: Mutex::new(HashMap::new()) }
    }
}

impl<K: Eq + Hash, V: Clone> Recent<K, V> {
    /// The value read less than [`RELOAD_EVERY`] ago.
    pub(crate) fn get(&self, key: &K, now: Timestamp) -> Option<V> {
        let read = self.read.lock().unwrap_or_else(|e| e.into_inner());
        let (at, value) = read.get(key)?;
        (now < at.plus(RELOAD_EVERY)).then(|| value.clone())
    }

    /// Keeps what was read, or forgets the key when nothing was found.
    pub(crate) fn put(&self, key: K, value: Option<&V>, now: Timestamp) {
        let mut read = self.read.lock().unwrap_or_else(|e| e.into_inner());
        match value {
            Some(value) => read.insert(key, (now, value.clone())),
            None => read.remove(&key),
        };
    }

    pub(crate) fn forget(&self, key: &K) {
        self.read.lock().unwrap_or_else(|e| e.into_inner()).remove(key);
    }

    pub(crate) fn forget_all(&self) {
        self.read.lock().unwrap_or_else(|e| e.into_inner()).clear();
    }
}
