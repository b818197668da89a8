//! Persistence for the platform: one API over SQLite (the default) and PostgreSQL.
//!
//! The engine is the only caller. The API speaks the domain's types (states, methods,
//! what is signed, `Timestamp`s) and this crate maps them to columns, so the engine never
//! spells a database text; it knows SQL and nothing about MSS rules. Both engines run the
//! same SQL text (`$N` placeholders work on both), as `Sql` values (see `sql`): through
//! sqlx's Any driver, except SQLite's statements on every transaction's path, which run in
//! place through rusqlite (see `direct`). The schema is kept as two migration folders
//! because the column types differ. One module per table or aggregate; change
//! notifications across nodes go through PostgreSQL LISTEN/NOTIFY (see `events`).

mod accounts;
mod aps;
mod authorities;
mod certificates;
mod devices;
mod direct;
mod documents;
mod envelopes;
mod events;
mod group_commit;
mod identities;
mod oidc;
mod receipts;
mod slots;
mod sql;
mod stats;
mod transactions;
mod upkeep;
mod users;
mod verifications;

use std::str::FromStr;
use std::time::Duration;

use mobileid_core::{StoredValueError, Timestamp};
use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::migrate::Migrator;
use sqlx::{AnyPool, Executor};

use crate::sql::{Row, Sql};

pub use accounts::{AccountRecord, SessionRecord, TokenOutcome};
pub use aps::ApRecord;
pub use authorities::AuthorityRecord;
pub use certificates::{CertificateRecord, EscrowedKey, Revoked};
pub use devices::DeviceRecord;
pub use documents::{DocumentRecord, DocumentSignatureRecord, Prepared};
pub use envelopes::{
    EnvelopeChange, EnvelopeRecord, EventRecord, MailRecord, SenderRecord, SignerMove, SignerRecord, WebhookRecord,
};
pub use events::{ChangeEvent, ChangeListener};
pub use identities::IdentityRecord;
pub use oidc::{Consumed, OidcClientRecord, OidcKeyRecord, OidcObject, Rotation};
pub use receipts::ReceiptRecord;
pub use stats::PoolStats;
pub use transactions::{Completion, DeviceInbox, Failure, InsertOutcome, MssRecord, RequestWrite, TransactionRecord};
pub use users::{CodeOutcome, UserRecord};
pub use verifications::{
    Decided, Decision, EvidenceRecord, HandoffOutcome, ImageDigest, ImageView, VerificationRecord, GENESIS,
};

static SQLITE_MIGRATIONS: Migrator = sqlx::migrate!("migrations/sqlite");
static POSTGRES_MIGRATIONS: Migrator = sqlx::migrate!("migrations/postgres");

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("database migration failed: {0}")]
    Migration(#[from] sqlx::migrate::MigrateError),
    #[error("unsupported database URL {0:?}: use sqlite://PATH or postgres://...")]
    UnsupportedUrl(String),
    /// A row holds a value no version of our code writes.
    #[error("corrupt row: {0}")]
    Corrupt(#[from] StoredValueError),
    /// A statement run in place on SQLite (see `direct`) failed.
    #[error("database error: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// A batch of OpenID writes failed, as each of its writes is told.
    #[error("database error (in a group commit): {0}")]
    GroupCommit(String),
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Every SQLite connection's settings. No connection checkpoints the WAL when it commits
/// (that would stall the writer, and every request queued behind it, for milliseconds);
/// a background task does (see `upkeep`). A WAL that a burst made larger than 64 MiB is
/// cut back to that when it starts over. Each connection keeps 512 KiB of page cache,
/// not SQLite's 2 MiB: the operating system caches the file too, and after a load every
/// connection kept its cache full (a heap profile a minute after the capacity loads: 15
/// of the 21 MiB still allocated were SQLite's page caches).
const SQLITE_PRAGMAS: &str = "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON; \
     PRAGMA busy_timeout=10000; PRAGMA wal_autocheckpoint=0; PRAGMA journal_size_limit=67108864; \
     PRAGMA cache_size=-512;";
/// Connections in `slots` (besides the pool), on PostgreSQL; SQLite's statements on the
/// transactions' path run in place (see `direct`).
const POSTGRES_SLOTS: usize = 8;

pub(crate) type AnyQuery<'q> = sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>>;

/// A handle on the database; cheap to clone (it is a connection pool).
#[derive(Clone)]
pub struct Store {
    pool: AnyPool,
    backend: Backend,
    url: String,
    /// SQLite lets one writer in at a time, and one that finds the lock taken sleeps in
    /// its busy handler. Writes take turns here instead, on an async lock, so they take
    /// SQLite's lock in turn without busy sleeps: the group commit's batches (which carry
    /// the request writes), the checkpoint, and the writes through sqlx's pool that
    /// [`Store::begin_request`] starts. It also holds the writer's own connection, which
    /// runs the batches in place (see `direct`).
    sqlite_writer: std::sync::Arc<tokio::sync::Mutex<Option<rusqlite::Connection>>>,
    /// SQLite's connections in place (see `direct`); None on PostgreSQL.
    direct: Option<std::sync::Arc<direct::Direct>>,
    /// The queue of the OpenID provider's object writes and the device nonces (see
    /// `group_commit`); None only in
    /// the writing task's own handle.
    group_commit: Option<group_commit::GroupCommit>,
    /// Connections for the statements on every transaction's path (see `slots`).
    slots: std::sync::Arc<slots::Slots>,
}

impl Store {
    /// Connects, applies pending migrations and tunes SQLite for concurrent use.
    pub async fn connect(url: &str) -> Result<Store> {
        sqlx::any::install_default_drivers();
        let backend = if url.starts_with("sqlite:") {
            Backend::Sqlite
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            Backend::Postgres
        } else {
            return Err(StoreError::UnsupportedUrl(url.to_string()));
        };
        let options = AnyConnectOptions::from_str(url)?;
        let pool = match backend {
            // WAL lets readers proceed while one writer commits; NORMAL sync in WAL mode
            // survives a process crash, which is the durability a restart needs. No ping
            // when a connection is taken: a connection to a local file cannot go stale, and
            // the ping is one more round trip to the driver's thread for every statement.
            Backend::Sqlite => {
                AnyPoolOptions::new()
                    .max_connections(8)
                    .test_before_acquire(false)
                    // After a load, the pool shrinks back and gives its connections'
                    // memory back. By age, not by idle time: sqlx's
                    // reaper looks every `idle_timeout` and stamps a connection it finds
                    // not idle long enough as idle from then on, so an idle timeout alone
                    // never closes one. Under load, a connection is reopened once a minute.
                    .min_connections(1)
                    .idle_timeout(Duration::from_secs(30))
                    .max_lifetime(Duration::from_secs(60))
                    .after_connect(|conn, _| {
                        Box::pin(async move {
                            conn.execute(SQLITE_PRAGMAS).await?;
                            Ok(())
                        })
                    })
                    .connect_with(options)
                    .await?
            }
            Backend::Postgres => {
                AnyPoolOptions::new()
                    .max_connections(16)
                    .acquire_timeout(Duration::from_secs(10))
                    .connect_with(options)
                    .await?
            }
        };
        let slots = std::sync::Arc::new(slots::Slots::new(POSTGRES_SLOTS));
        let direct = match backend {
            Backend::Sqlite => Some(std::sync::Arc::new(direct::Direct::new(url)?)),
            Backend::Postgres => None,
        };
        let mut store = Store {
            pool,
            backend,
            url: url.to_string(),
            sqlite_writer: Default::default(),
            direct,
            group_commit: None,
            slots,
        };
        store.migrator().run(&store.pool).await?;
        // Both background tasks hold a handle without the group commit's queue, which
        // ends its task when the last handle with the queue is dropped.
        if backend == Backend::Sqlite {
            upkeep::start(store.clone());
        }
        store.group_commit = Some(group_commit::GroupCommit::start(store.clone()));
        Ok(store)
    }

    /// Runs one statement that writes and returns rows (`RETURNING`): on SQLite in place on
    /// the writer's connection, in the group commit's next batch (no sleeping in SQLite's
    /// busy handler while another writer commits); on PostgreSQL on a slot.
    pub(crate) async fn fetch_write(&self, sql: Sql<'_>) -> Result<Vec<Row>> {
        match self.backend {
            Backend::Sqlite => Ok(self.queue_statement(sql).await?.0.into_iter().map(Row::Direct).collect()),
            Backend::Postgres => self.fetch_all_on_slot(sql).await,
        }
    }

    /// Runs one statement that writes and returns no rows: on SQLite in the group
    /// commit's next batch, as [`Store::fetch_write`]; on PostgreSQL through the pool.
    /// How many rows it changed.
    pub(crate) async fn execute_write(&self, sql: Sql<'_>) -> Result<u64> {
        match self.backend {
            Backend::Sqlite => Ok(self.queue_statement(sql).await?.1),
            Backend::Postgres => Ok(sql.query().execute(&self.pool).await?.rows_affected()),
        }
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    fn migrator(&self) -> &'static Migrator {
        match self.backend {
            Backend::Sqlite => &SQLITE_MIGRATIONS,
            Backend::Postgres => &POSTGRES_MIGRATIONS,
        }
    }

    // ---- change notifications ----

    /// Tells the other nodes about a change (PostgreSQL only; one SQLite node needs no fan-out).
    pub async fn publish(&self, event: &ChangeEvent) -> Result<()> {
        if self.backend == Backend::Postgres {
            sqlx::query("SELECT pg_notify($1, $2)")
                .bind(events::CHANNEL)
                .bind(event.encode())
                .execute(&self.pool)
                .await?;
        }
        Ok(())
    }

    /// A stream of the changes published by any node, or None on SQLite.
    pub async fn listen(&self) -> Result<Option<ChangeListener>> {
        match self.backend {
            Backend::Sqlite => Ok(None),
            Backend::Postgres => Ok(Some(ChangeListener::connect(&self.url).await?)),
        }
    }
}

/// A stored time, read back.
fn ts(millis: i64) -> Timestamp {
    Timestamp::from_millis(millis)
}

fn ts_opt(millis: Option<i64>) -> Option<Timestamp> {
    millis.map(Timestamp::from_millis)
}
