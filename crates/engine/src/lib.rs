//! Transactions end to end, for every front end. The core knows how to put a request in
//! front of a user's device and get the signed answer back: create it, deliver it to the
//! device's inbox, accept the device's answer (verify the signature, assemble the CMS) or
//! its refusal, fail or expire it, and wake whoever waits for the outcome
//! (`transactions`); and how to manage devices: activation, authentication of their API
//! calls, wrong PINs (`devices`). It knows nothing of ETSI, OAuth or PDF and returns
//! domain errors ([`TransactionError`], [`DeviceError`]).
//!
//! Services sit on top and own their protocol's rules and tables: [`mss::Mss`] (the ETSI
//! MSS operations, their frame checks and the fault mapping) today; OIDC login and
//! document signing later. Front ends (`server`: MSS REST and SOAP, the device API, the
//! operator CLI) call the services and the core; the engine uses `core` for the rules,
//! `crypto` for the CA and CMS, and `store` for everything that must survive a restart.
//! Every "now" comes from the injected [`Clock`].

pub mod admin;
mod authority;
pub mod certificate_status;
pub mod clock;
pub mod devices;
pub mod escrow;
pub mod identity;
pub mod metrics;
pub mod mss;
pub mod oidc;
mod polls;
pub mod portal;
mod purge;
mod recent;
pub mod signing;
pub mod transactions;
mod waiters;

use std::sync::Arc;
use std::time::Duration;

use dashmap::DashMap;
use mobileid_core::Timestamp;
use mobileid_crypto::{CertificateAuthority, MasterKey, PrivateKey};
use mobileid_store::{ChangeEvent, Store};

pub use clock::{Clock, ManualClock, SystemClock};
pub use devices::DeviceError;
use metrics::TransactionMetrics;
pub use mss::ap::{Ap, ClientIdentity, Permission};
pub use purge::PURGE_BATCH;
pub use transactions::TransactionError;
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
    /// Where users manage their Mobile ID, sent with user-state faults; None: our portal.
    pub portal_url: Option<String>,
    /// Names our CA.
    pub organisation: String,
    /// How far a device's request time may be from our clock (replay window).
    pub device_clock_window: Duration,
    /// The OpenID provider.
    pub oidc: oidc::OidcConfig,
    /// The self-service portal.
    pub portal: portal::PortalConfig,
    /// User properties (of the user's portal account) written into the subject of their
    /// certificates, and as which attribute.
    pub subject_properties: Vec<(String, mobileid_crypto::SubjectAttribute)>,
    /// Whether a phone also gets a signing certificate (non-repudiation) for its key,
    /// which document signatures carry.
    pub signing_certificates: bool,
    /// Whether users get an encryption certificate for an escrowed key (see `escrow`).
    pub encryption_certificates: bool,
    /// Identity verification.
    pub identity: identity::IdentityConfig,
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
            oidc: oidc::OidcConfig::default(),
            portal: portal::PortalConfig::default(),
            subject_properties: Vec::new(),
            signing_certificates: false,
            encryption_certificates: false,
            identity: identity::IdentityConfig::default(),
        }
    }
}

/// Errors of start-up and of the operator's actions.
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
    clock: Arc<dyn Clock>,
    transactions: Waiters,
    /// When APs' status polls of pending transactions were last answered.
    polls: polls::Polls,
    inboxes: Waiters,
    /// Signers waiting for a document's lease.
    documents: Waiters,
    /// Robot users' keys, opened once: they sign on every robot request.
    robot_keys: DashMap<String, Arc<PrivateKey>>,
    first_start: bool,
    metrics: TransactionMetrics,
    known_certificates: mss::gate::KnownCertificates,
    oidc_keys: oidc::keys::KeyRing,
    oidc_clients: oidc::client::ClientCache,
    /// APs as last read, by AP_ID and the fingerprint they authenticated with (None: by
    /// AP_ID alone, for their name).
    aps: recent::Recent<(String, Option<String>), mobileid_store::ApRecord>,
    /// Signatures are CPU work, done on the blocking pool as many at once as there are
    /// cores: more would only take turns on the same cores, switching back and forth.
    /// With one core there is nothing to run beside it, so it signs where it is.
    signing: Option<tokio::sync::Semaphore>,
    /// The discovery document, serialised, and the issuer it was made for.
    oidc_discovery: std::sync::Mutex<Option<(String, bytes::Bytes)>>,
    /// Set when the browser port was bound to a port chosen by the system.
    oidc_issuer: std::sync::OnceLock<String>,
    /// The time-stamp authority document signatures are stamped by (PAdES B-T), if any.
    timestamper: std::sync::OnceLock<Arc<dyn signing::Timestamper>>,
    /// The external identity provider, if the operator configured one.
    identity_provider: std::sync::OnceLock<Arc<dyn identity::providers::IdentityProvider>>,
    /// The OCSP responder, loaded (or made) on first use and renewed before it expires.
    ocsp_responder: std::sync::RwLock<Option<Arc<mobileid_crypto::OcspResponder>>>,
}

impl Engine {
    /// Loads (or on first start creates) the CA and starts listening for other nodes' changes.
    pub async fn start(store: Store, master_key: MasterKey, config: EngineConfig) -> Result<Engine, EngineError> {
        Engine::start_with_clock(store, master_key, config, Arc::new(SystemClock)).await
    }

    /// Like [`Engine::start`], with the time taken from `clock` (tests pass a [`ManualClock`]).
    pub async fn start_with_clock(
        store: Store,
        master_key: MasterKey,
        config: EngineConfig,
        clock: Arc<dyn Clock>,
    ) -> Result<Engine, EngineError> {
        let root_links = certificate_status::links(&config.oidc.issuer, certificate_status::Authority::Root);
        let (ca, first_start) =
            authority::load_or_create(&store, &master_key, &config.organisation, &root_links).await?;
        let engine = Engine {
            inner: Arc::new(Inner {
                store,
                ca,
                master_key,
                config,
                clock,
                transactions: Waiters::default(),
                polls: Default::default(),
                inboxes: Waiters::default(),
                documents: Waiters::default(),
                robot_keys: DashMap::new(),
                first_start,
                metrics: TransactionMetrics::default(),
                known_certificates: Default::default(),
                oidc_keys: Default::default(),
                oidc_clients: Default::default(),
                aps: Default::default(),
                signing: match std::thread::available_parallelism().map_or(1, |n| n.get()) {
                    1 => None,
                    cores => Some(tokio::sync::Semaphore::new(cores)),
                },
                oidc_discovery: Default::default(),
                oidc_issuer: Default::default(),
                timestamper: std::sync::OnceLock::new(),
                identity_provider: std::sync::OnceLock::new(),
                ocsp_responder: Default::default(),
            }),
        };
        engine.record_earlier_certificates().await?;
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

    /// The engine's time.
    pub fn now(&self) -> Timestamp {
        self.inner.clock.now()
    }

    /// The MSS service (ETSI TS 102 204) on this engine.
    pub fn mss(&self) -> mss::Mss<'_> {
        mss::Mss::new(self)
    }

    /// DER of the root CA certificate that all user certificates chain to.
    pub fn root_certificate(&self) -> &[u8] {
        &self.inner.ca.root.cert_der
    }

    pub fn certificate_authority(&self) -> &CertificateAuthority {
        &self.inner.ca
    }

    /// Runs a signature (or other CPU-bound work) on the blocking pool, in turn; on a
    /// machine (or CPU set) of one core, at once: a hand-over to another thread would
    /// only add two context switches.
    pub(crate) async fn compute<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, tokio::task::JoinError> {
        let Some(turns) = &self.inner.signing else { return Ok(work()) };
        let _turn = turns.acquire().await.expect("the semaphore is never closed");
        tokio::task::spawn_blocking(work).await
    }

    /// CPU work for a front end (drawing a page), on the same pool as signatures.
    pub async fn compute_work<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, tokio::task::JoinError> {
        self.compute(work).await
    }

    pub(crate) fn polls(&self) -> &polls::Polls {
        &self.inner.polls
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
            ChangeEvent::TransactionDone(id) => {
                self.inner.polls.forget(id);
                self.inner.transactions.wake(id);
            }
            ChangeEvent::DeviceInbox(id) => self.inner.inboxes.wake(id),
            ChangeEvent::OidcClient(id) => self.inner.oidc_clients.forget(id),
            ChangeEvent::Ap(_) => self.inner.aps.forget_all(),
            ChangeEvent::DocumentFree(id) => self.inner.documents.wake(id),
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
