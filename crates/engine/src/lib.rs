//! Transactions end to end: an AP's request becomes a stored transaction, is delivered to
//! the user's phone, the phone's signed answer is checked and turned into a CMS signature,
//! and whoever waits for the outcome is woken.
//!
//! Front ends (`server`: MSS REST and SOAP, the device API, the operator CLI) call the
//! methods of [`Engine`]; the engine uses `core` for the rules, `crypto` for the CA and CMS,
//! and `store` for everything that must survive a restart. Nothing here knows JSON or XML.

pub mod admin;
pub mod ap;
mod authority;
pub mod device;
mod frame;
pub mod messages;
pub mod metrics;
mod profile_query;
mod receipt;
mod signature;
mod status;
mod waiters;

use std::sync::Arc;
use std::time::Duration;

use dashmap::DashMap;
use mobileid_crypto::{CertificateAuthority, MasterKey, PrivateKey};
use mobileid_store::{ChangeEvent, Store};

pub use ap::{Ap, ClientIdentity, Permission};
pub use device::DeviceError;
use metrics::TransactionMetrics;
use waiters::Waiters;

/// Settings the engine needs; the server fills them from its `Config`.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// How far an AP's `Instant` may be from our clock.
    pub instant_tolerance: chrono::Duration,
    /// Wrong PINs before a device's key is blocked.
    pub pin_attempts: i64,
    pub activation_code_ttl: Duration,
    pub certificate_validity_days: u32,
    /// Where users manage their Mobile ID; sent with user-state faults.
    pub portal_url: Option<String>,
    /// Names our CA.
    pub organisation: String,
    /// How far a device's request time may be from our clock (replay window).
    pub device_clock_window: Duration,
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            instant_tolerance: chrono::Duration::minutes(10),
            pin_attempts: 5,
            activation_code_ttl: Duration::from_secs(24 * 3600),
            certificate_validity_days: 3 * 365,
            portal_url: None,
            organisation: "Mobile ID".to_string(),
            device_clock_window: Duration::from_secs(300),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error(transparent)]
    Store(#[from] mobileid_store::StoreError),
    #[error("cryptography: {0}")]
    Crypto(#[from] mobileid_crypto::CryptoError),
    #[error("{0}")]
    Invalid(String),
}

/// The transaction engine; cheap to clone.
#[derive(Clone)]
pub struct Engine {
    inner: Arc<Inner>,
}

struct Inner {
    store: Store,
    ca: CertificateAuthority,
    master_key: MasterKey,
    config: EngineConfig,
    transactions: Waiters,
    inboxes: Waiters,
    /// Robot users' keys, opened once: they sign on every robot request.
    robot_keys: DashMap<String, Arc<PrivateKey>>,
    first_start: bool,
    metrics: TransactionMetrics,
}

impl Engine {
    /// Loads (or on first start creates) the CA and starts listening for other nodes' changes.
    pub async fn start(store: Store, master_key: MasterKey, config: EngineConfig) -> Result<Engine, EngineError> {
        let (ca, first_start) = authority::load_or_create(&store, &master_key, &config.organisation).await?;
        let engine = Engine {
            inner: Arc::new(Inner {
                store,
                ca,
                master_key,
                config,
                transactions: Waiters::default(),
                inboxes: Waiters::default(),
                robot_keys: DashMap::new(),
                first_start,
                metrics: TransactionMetrics::default(),
            }),
        };
        engine.follow_other_nodes().await?;
        Ok(engine)
    }

    /// True when this start created the CA: the database was new.
    pub fn first_start(&self) -> bool {
        self.inner.first_start
    }

    pub fn store(&self) -> &Store {
        &self.inner.store
    }

    /// Transaction latencies, for the `/metrics` registry.
    pub fn metrics(&self) -> &TransactionMetrics {
        &self.inner.metrics
    }

    pub fn config(&self) -> &EngineConfig {
        &self.inner.config
    }

    /// DER of the root CA certificate that all user certificates chain to.
    pub fn root_certificate(&self) -> &[u8] {
        &self.inner.ca.root.cert_der
    }

    pub fn certificate_authority(&self) -> &CertificateAuthority {
        &self.inner.ca
    }

    pub(crate) fn master_key(&self) -> &MasterKey {
        &self.inner.master_key
    }

    /// Wakes local waiters and tells the other nodes.
    pub(crate) async fn announce(&self, event: ChangeEvent) {
        self.wake_local(&event);
        if let Err(e) = self.inner.store.publish(&event).await {
            tracing::warn!("could not publish {event:?} to other nodes: {e}");
        }
    }

    fn wake_local(&self, event: &ChangeEvent) {
        match event {
            ChangeEvent::TransactionDone(id) => self.inner.transactions.wake(id),
            ChangeEvent::DeviceInbox(id) => self.inner.inboxes.wake(id),
        }
    }

    async fn follow_other_nodes(&self) -> Result<(), EngineError> {
        let Some(mut listener) = self.inner.store.listen().await? else {
            return Ok(());
        };
        // A weak handle: the listener must not keep a dropped engine alive.
        let weak = Arc::downgrade(&self.inner);
        tokio::spawn(async move {
            loop {
                match listener.next().await {
                    Ok(event) => match weak.upgrade() {
                        Some(inner) => Engine { inner }.wake_local(&event),
                        None => return,
                    },
                    Err(e) => {
                        tracing::warn!("change listener: {e}");
                        tokio::time::sleep(Duration::from_secs(1)).await;
                    }
                }
            }
        });
        Ok(())
    }
}

pub(crate) fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}
