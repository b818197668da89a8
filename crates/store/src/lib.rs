//! Persistence for the platform: one API over SQLite (the default) and PostgreSQL.
//!
//! The engine is the only caller. Records here are plain rows (strings, integers, bytes);
//! turning them into domain types is the engine's job, so this crate knows SQL and nothing
//! about MSS rules. Both engines run the same SQL text (`$N` placeholders work on both);
//! the schema is kept as two migration folders because the column types differ.
//! Change notifications across nodes go through PostgreSQL LISTEN/NOTIFY (see `events`).

mod events;
mod records;
mod stats;

use std::str::FromStr;
use std::time::Duration;

use sqlx::any::{AnyConnectOptions, AnyPoolOptions, AnyRow};
use sqlx::migrate::Migrator;
use sqlx::{AnyPool, Executor, Row};

pub use events::{ChangeEvent, ChangeListener};
pub use records::*;
pub use stats::PoolStats;

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
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// A handle on the database; cheap to clone (it is a connection pool).
#[derive(Clone)]
pub struct Store {
    pool: AnyPool,
    backend: Backend,
    url: String,
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
            // survives a process crash, which is the durability a restart needs.
            Backend::Sqlite => {
                AnyPoolOptions::new()
                    .max_connections(8)
                    .after_connect(|conn, _| {
                        Box::pin(async move {
                            conn.execute(
                                "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; \
                                 PRAGMA foreign_keys=ON; PRAGMA busy_timeout=10000;",
                            )
                            .await?;
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
        match backend {
            Backend::Sqlite => SQLITE_MIGRATIONS.run(&pool).await?,
            Backend::Postgres => POSTGRES_MIGRATIONS.run(&pool).await?,
        }
        Ok(Store { pool, backend, url: url.to_string() })
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    // ---- application providers ----

    /// Creates the AP or replaces its settings.
    pub async fn upsert_ap(&self, ap: &ApRecord) -> Result<()> {
        sqlx::query(
            "INSERT INTO aps (ap_id, name, dtbd_prefix, allowed_profiles, auth_profile1_maps_to, services, created_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7)
             ON CONFLICT (ap_id) DO UPDATE SET name = excluded.name, dtbd_prefix = excluded.dtbd_prefix,
               allowed_profiles = excluded.allowed_profiles, auth_profile1_maps_to = excluded.auth_profile1_maps_to,
               services = excluded.services",
        )
        .bind(&ap.ap_id)
        .bind(&ap.name)
        .bind(&ap.dtbd_prefix)
        .bind(&ap.allowed_profiles)
        .bind(&ap.auth_profile1_maps_to)
        .bind(&ap.services)
        .bind(ap.created_at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    pub async fn add_ap_certificate(&self, ap_id: &str, fingerprint: &str, cert_der: &[u8]) -> Result<()> {
        sqlx::query(
            "INSERT INTO ap_certificates (fingerprint, ap_id, cert_der) VALUES ($1, $2, $3)
             ON CONFLICT (fingerprint, ap_id) DO NOTHING",
        )
        .bind(fingerprint)
        .bind(ap_id)
        .bind(cert_der)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The AP with this AP_ID, if the certificate with this fingerprint is registered for it.
    pub async fn find_ap_for_certificate(&self, ap_id: &str, fingerprint: &str) -> Result<Option<ApRecord>> {
        let row = sqlx::query(&format!(
            "SELECT {AP_COLUMNS} FROM aps a JOIN ap_certificates c ON c.ap_id = a.ap_id
             WHERE a.ap_id = $1 AND c.fingerprint = $2"
        ))
        .bind(ap_id)
        .bind(fingerprint)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| ApRecord::from_row(&r)).transpose()
    }

    pub async fn find_ap(&self, ap_id: &str) -> Result<Option<ApRecord>> {
        let row = sqlx::query(&format!("SELECT {AP_COLUMNS} FROM aps a WHERE a.ap_id = $1"))
            .bind(ap_id)
            .fetch_optional(&self.pool)
            .await?;
        row.map(|r| ApRecord::from_row(&r)).transpose()
    }

    /// Every AP with the fingerprints of its certificates, in AP_ID order.
    pub async fn list_aps(&self) -> Result<Vec<(ApRecord, Vec<String>)>> {
        let aps =
            sqlx::query(&format!("SELECT {AP_COLUMNS} FROM aps a ORDER BY a.ap_id")).fetch_all(&self.pool).await?;
        let certs = sqlx::query("SELECT ap_id, fingerprint FROM ap_certificates ORDER BY fingerprint")
            .fetch_all(&self.pool)
            .await?;
        aps.iter()
            .map(|row| {
                let ap = ApRecord::from_row(row)?;
                let prints =
                    certs.iter().filter(|c| c.get::<String, _>(0) == ap.ap_id).map(|c| c.get::<String, _>(1)).collect();
                Ok((ap, prints))
            })
            .collect()
    }

    // ---- certificate authorities ----

    pub async fn find_authority(&self, name: &str) -> Result<Option<AuthorityRecord>> {
        let row = sqlx::query("SELECT name, cert_der, sealed_key FROM authorities WHERE name = $1")
            .bind(name)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.map(|r| AuthorityRecord { name: r.get(0), cert_der: r.get(1), sealed_key: r.get(2) }))
    }

    /// Stores the authority unless one with this name exists; returns the one that is kept,
    /// so nodes starting together on one PostgreSQL all end up with the same CA.
    pub async fn insert_authority(&self, authority: &AuthorityRecord) -> Result<AuthorityRecord> {
        sqlx::query(
            "INSERT INTO authorities (name, cert_der, sealed_key) VALUES ($1, $2, $3)
             ON CONFLICT (name) DO NOTHING",
        )
        .bind(&authority.name)
        .bind(&authority.cert_der)
        .bind(&authority.sealed_key)
        .execute(&self.pool)
        .await?;
        Ok(self.find_authority(&authority.name).await?.unwrap_or_else(|| authority.clone()))
    }

    // ---- users ----

    /// Inserts a user; false if the MSISDN already exists.
    pub async fn insert_user(&self, user: &UserRecord) -> Result<bool> {
        let done = sqlx::query(
            "INSERT INTO users (msisdn, serial_number, state, test_fault, created_at) VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (msisdn) DO NOTHING",
        )
        .bind(&user.msisdn)
        .bind(&user.serial_number)
        .bind(&user.state)
        .bind(user.test_fault)
        .bind(user.created_at)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    pub async fn find_user(&self, msisdn: &str) -> Result<Option<UserRecord>> {
        let row =
            sqlx::query("SELECT msisdn, serial_number, state, test_fault, created_at FROM users WHERE msisdn = $1")
                .bind(msisdn)
                .fetch_optional(&self.pool)
                .await?;
        Ok(row.map(|r| UserRecord::from_row(&r)))
    }

    pub async fn set_user_state(&self, msisdn: &str, state: &str) -> Result<()> {
        sqlx::query("UPDATE users SET state = $1 WHERE msisdn = $2")
            .bind(state)
            .bind(msisdn)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Deletes a user with its devices, codes and nothing else (transactions stay for audit).
    pub async fn delete_user(&self, msisdn: &str) -> Result<bool> {
        let mut tx = self.pool.begin().await?;
        for table in ["activation_codes", "devices"] {
            sqlx::query(&format!("DELETE FROM {table} WHERE msisdn = $1")).bind(msisdn).execute(&mut *tx).await?;
        }
        let done = sqlx::query("DELETE FROM users WHERE msisdn = $1").bind(msisdn).execute(&mut *tx).await?;
        tx.commit().await?;
        Ok(done.rows_affected() == 1)
    }

    // ---- activation codes ----

    pub async fn insert_activation_code(&self, code_hash: &str, msisdn: &str, expires_at: i64) -> Result<()> {
        sqlx::query("INSERT INTO activation_codes (code_hash, msisdn, expires_at) VALUES ($1, $2, $3)")
            .bind(code_hash)
            .bind(msisdn)
            .bind(expires_at)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Marks a fresh, unexpired code used and returns its MSISDN. A code is spent exactly
    /// once even when two activations race, because the UPDATE is conditional.
    pub async fn take_activation_code(&self, code_hash: &str, now: i64) -> Result<CodeOutcome> {
        let taken = sqlx::query(
            "UPDATE activation_codes SET used_at = $1
             WHERE code_hash = $2 AND used_at IS NULL AND expires_at > $1 RETURNING msisdn",
        )
        .bind(now)
        .bind(code_hash)
        .fetch_optional(&self.pool)
        .await?;
        if let Some(row) = taken {
            return Ok(CodeOutcome::Taken(row.get(0)));
        }
        let row = sqlx::query("SELECT used_at FROM activation_codes WHERE code_hash = $1")
            .bind(code_hash)
            .fetch_optional(&self.pool)
            .await?;
        Ok(match row {
            None => CodeOutcome::Unknown,
            Some(r) if r.get::<Option<i64>, _>(0).is_some() => CodeOutcome::AlreadyUsed,
            Some(_) => CodeOutcome::Expired,
        })
    }

    pub async fn latest_activation_code_expiry(&self, msisdn: &str) -> Result<Option<(i64, Option<i64>)>> {
        let row = sqlx::query(
            "SELECT expires_at, used_at FROM activation_codes WHERE msisdn = $1 ORDER BY expires_at DESC LIMIT 1",
        )
        .bind(msisdn)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(|r| (r.get(0), r.get(1))))
    }

    // ---- devices ----

    /// Registers a device and makes the user ACTIVE, in one database transaction; an earlier
    /// device of the same method is retired, since a user holds one phone at a time.
    pub async fn activate_device(&self, device: &DeviceRecord) -> Result<()> {
        let mut tx = self.pool.begin().await?;
        // Touching the user row first takes its row lock: concurrent activations of one
        // user queue here, so each one's retire step sees the device the one before added
        // (PostgreSQL's READ COMMITTED would otherwise let them all insert).
        sqlx::query(
            "UPDATE users SET state = CASE WHEN state = 'REGISTERED' THEN 'ACTIVE' ELSE state END WHERE msisdn = $1",
        )
        .bind(&device.msisdn)
        .execute(&mut *tx)
        .await?;
        sqlx::query("UPDATE devices SET state = 'retired' WHERE msisdn = $1 AND method = $2 AND state <> 'retired'")
            .bind(&device.msisdn)
            .bind(&device.method)
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "INSERT INTO devices (device_id, msisdn, method, state, cert_der, auth_key, server_key, pin_failures, created_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(&device.device_id)
        .bind(&device.msisdn)
        .bind(&device.method)
        .bind(&device.state)
        .bind(&device.cert_der)
        .bind(&device.auth_key)
        .bind(&device.server_key)
        .bind(device.pin_failures)
        .bind(device.created_at)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    pub async fn find_device(&self, device_id: &str) -> Result<Option<DeviceRecord>> {
        let row = sqlx::query(&format!("SELECT {DEVICE_COLUMNS} FROM devices WHERE device_id = $1"))
            .bind(device_id)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.map(|r| DeviceRecord::from_row(&r)))
    }

    /// The user's devices that are not retired (active or blocked), newest first.
    pub async fn devices_of_user(&self, msisdn: &str) -> Result<Vec<DeviceRecord>> {
        let rows = sqlx::query(&format!(
            "SELECT {DEVICE_COLUMNS} FROM devices WHERE msisdn = $1 AND state <> 'retired' ORDER BY created_at DESC"
        ))
        .bind(msisdn)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.iter().map(DeviceRecord::from_row).collect())
    }

    /// Counts a wrong PIN; blocks the device at `limit`. Returns the new count.
    pub async fn record_pin_failure(&self, device_id: &str, limit: i64) -> Result<i64> {
        let row = sqlx::query(
            "UPDATE devices SET pin_failures = pin_failures + 1,
               state = CASE WHEN pin_failures + 1 >= $2 THEN 'blocked' ELSE state END
             WHERE device_id = $1 RETURNING pin_failures",
        )
        .bind(device_id)
        .bind(limit)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(|r| r.get(0)).unwrap_or(0))
    }

    // ---- device request nonces ----

    /// Remembers a request nonce; false if this device used it before (a replay).
    pub async fn remember_nonce(&self, device_id: &str, nonce: &str, seen_at: i64) -> Result<bool> {
        let done = sqlx::query(
            "INSERT INTO device_nonces (device_id, nonce, seen_at) VALUES ($1, $2, $3)
             ON CONFLICT (device_id, nonce) DO NOTHING",
        )
        .bind(device_id)
        .bind(nonce)
        .bind(seen_at)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Forgets nonces older than the clock window; older requests are refused by time anyway.
    pub async fn purge_nonces(&self, before: i64) -> Result<u64> {
        let done = sqlx::query("DELETE FROM device_nonces WHERE seen_at < $1").bind(before).execute(&self.pool).await?;
        Ok(done.rows_affected())
    }

    // ---- transactions ----

    /// Inserts a new transaction; `Duplicate` if (AP_ID, AP_TransID, Instant) was used before.
    pub async fn insert_transaction(&self, t: &TransactionRecord) -> Result<InsertOutcome> {
        let done = sqlx::query(
            "INSERT INTO transactions (mssp_trans_id, ap_id, ap_trans_id, ap_instant, msisdn, msisdn_raw, device_id,
               method, profile, mime_type, dtbd, language, nonce, services, state, fault_code, fault_detail,
               signature, created_at, expires_at, completed_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21)
             ON CONFLICT (ap_id, ap_trans_id, ap_instant) DO NOTHING",
        )
        .bind(&t.mssp_trans_id)
        .bind(&t.ap_id)
        .bind(&t.ap_trans_id)
        .bind(t.ap_instant)
        .bind(&t.msisdn)
        .bind(&t.msisdn_raw)
        .bind(&t.device_id)
        .bind(&t.method)
        .bind(&t.profile)
        .bind(&t.mime_type)
        .bind(&t.dtbd)
        .bind(&t.language)
        .bind(&t.nonce)
        .bind(&t.services)
        .bind(&t.state)
        .bind(t.fault_code)
        .bind(&t.fault_detail)
        .bind(&t.signature)
        .bind(t.created_at)
        .bind(t.expires_at)
        .bind(t.completed_at)
        .execute(&self.pool)
        .await?;
        Ok(if done.rows_affected() == 1 { InsertOutcome::Inserted } else { InsertOutcome::Duplicate })
    }

    pub async fn find_transaction(&self, mssp_trans_id: &str) -> Result<Option<TransactionRecord>> {
        let row = sqlx::query(&format!("SELECT {TX_COLUMNS} FROM transactions WHERE mssp_trans_id = $1"))
            .bind(mssp_trans_id)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.map(|r| TransactionRecord::from_row(&r)))
    }

    /// Requests waiting for this device's answer that have not expired, oldest first.
    pub async fn pending_for_device(&self, device_id: &str, now: i64) -> Result<Vec<TransactionRecord>> {
        let rows = sqlx::query(&format!(
            "SELECT {TX_COLUMNS} FROM transactions
             WHERE device_id = $1 AND state = 'pending' AND expires_at > $2 ORDER BY created_at"
        ))
        .bind(device_id)
        .bind(now)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.iter().map(TransactionRecord::from_row).collect())
    }

    /// Moves a pending transaction to its final state. False if it was no longer pending:
    /// the first answer wins, and a final state never changes.
    pub async fn complete_transaction(&self, mssp_trans_id: &str, outcome: &Completion, now: i64) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE transactions SET state = $1, fault_code = $2, fault_detail = $3, signature = $4, completed_at = $5
             WHERE mssp_trans_id = $6 AND state = 'pending'",
        )
        .bind(&outcome.state)
        .bind(outcome.fault_code)
        .bind(&outcome.fault_detail)
        .bind(&outcome.signature)
        .bind(now)
        .bind(mssp_trans_id)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Fails every pending request of this user on this method but `except` with the given
    /// fault, and returns their IDs (a new App request replaces the running one).
    pub async fn fail_pending_of_user(
        &self,
        msisdn: &str,
        method: &str,
        except: &str,
        fault_code: i64,
        fault_detail: &str,
        now: i64,
    ) -> Result<Vec<String>> {
        let rows = sqlx::query(
            "UPDATE transactions SET state = 'failed', fault_code = $1, fault_detail = $2, completed_at = $3
             WHERE msisdn = $4 AND method = $5 AND state = 'pending' AND mssp_trans_id <> $6
             RETURNING mssp_trans_id",
        )
        .bind(fault_code)
        .bind(fault_detail)
        .bind(now)
        .bind(msisdn)
        .bind(method)
        .bind(except)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.iter().map(|r| r.get(0)).collect())
    }

    /// Fails the pending requests addressed to a device (it was blocked).
    pub async fn fail_pending_of_device(
        &self,
        device_id: &str,
        fault_code: i64,
        fault_detail: &str,
        now: i64,
    ) -> Result<Vec<String>> {
        let rows = sqlx::query(
            "UPDATE transactions SET state = 'failed', fault_code = $1, fault_detail = $2, completed_at = $3
             WHERE device_id = $4 AND state = 'pending' RETURNING mssp_trans_id",
        )
        .bind(fault_code)
        .bind(fault_detail)
        .bind(now)
        .bind(device_id)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.iter().map(|r| r.get(0)).collect())
    }

    // ---- receipts ----

    /// Records the one receipt a transaction may have; false if it already has one.
    pub async fn insert_receipt(
        &self,
        mssp_trans_id: &str,
        device_id: Option<&str>,
        message: &str,
        now: i64,
    ) -> Result<bool> {
        let done = sqlx::query(
            "INSERT INTO receipts (mssp_trans_id, device_id, message, created_at) VALUES ($1, $2, $3, $4)
             ON CONFLICT (mssp_trans_id) DO NOTHING",
        )
        .bind(mssp_trans_id)
        .bind(device_id)
        .bind(message)
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Hands out the receipts not yet delivered to this device, marking them delivered.
    pub async fn take_receipts(&self, device_id: &str, now: i64) -> Result<Vec<ReceiptRecord>> {
        let rows = sqlx::query(
            "UPDATE receipts SET delivered_at = $1 WHERE device_id = $2 AND delivered_at IS NULL
             RETURNING mssp_trans_id, message",
        )
        .bind(now)
        .bind(device_id)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.iter().map(|r| ReceiptRecord { mssp_trans_id: r.get(0), message: r.get(1) }).collect())
    }

    /// Clears the wrong-PIN count after a correct PIN.
    pub async fn reset_pin_failures(&self, device_id: &str) -> Result<()> {
        sqlx::query("UPDATE devices SET pin_failures = 0 WHERE device_id = $1 AND pin_failures <> 0")
            .bind(device_id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Removes the test-number users (fault numbers and robots) so they behave like unknown numbers.
    pub async fn delete_test_users(&self, msisdns: &[&str]) -> Result<u64> {
        let mut removed = 0;
        for msisdn in msisdns {
            if self.delete_user(msisdn).await? {
                removed += 1;
            }
        }
        Ok(removed)
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

const AP_COLUMNS: &str =
    "a.ap_id, a.name, a.dtbd_prefix, a.allowed_profiles, a.auth_profile1_maps_to, a.services, a.created_at";
const DEVICE_COLUMNS: &str =
    "device_id, msisdn, method, state, cert_der, auth_key, server_key, pin_failures, created_at";
const TX_COLUMNS: &str = "mssp_trans_id, ap_id, ap_trans_id, ap_instant, msisdn, msisdn_raw, device_id, method, \
     profile, mime_type, dtbd, language, nonce, services, state, fault_code, fault_detail, signature, \
     created_at, expires_at, completed_at";

impl ApRecord {
    fn from_row(r: &AnyRow) -> Result<ApRecord> {
        Ok(ApRecord {
            ap_id: r.try_get(0)?,
            name: r.try_get(1)?,
            dtbd_prefix: r.try_get(2)?,
            allowed_profiles: r.try_get(3)?,
            auth_profile1_maps_to: r.try_get(4)?,
            services: r.try_get(5)?,
            created_at: r.try_get(6)?,
        })
    }
}

impl UserRecord {
    fn from_row(r: &AnyRow) -> UserRecord {
        UserRecord {
            msisdn: r.get(0),
            serial_number: r.get(1),
            state: r.get(2),
            test_fault: r.get(3),
            created_at: r.get(4),
        }
    }
}

impl DeviceRecord {
    fn from_row(r: &AnyRow) -> DeviceRecord {
        DeviceRecord {
            device_id: r.get(0),
            msisdn: r.get(1),
            method: r.get(2),
            state: r.get(3),
            cert_der: r.get(4),
            auth_key: r.get(5),
            server_key: r.get(6),
            pin_failures: r.get(7),
            created_at: r.get(8),
        }
    }
}

impl TransactionRecord {
    fn from_row(r: &AnyRow) -> TransactionRecord {
        TransactionRecord {
            mssp_trans_id: r.get(0),
            ap_id: r.get(1),
            ap_trans_id: r.get(2),
            ap_instant: r.get(3),
            msisdn: r.get(4),
            msisdn_raw: r.get(5),
            device_id: r.get(6),
            method: r.get(7),
            profile: r.get(8),
            mime_type: r.get(9),
            dtbd: r.get(10),
            language: r.get(11),
            nonce: r.get(12),
            services: r.get(13),
            state: r.get(14),
            fault_code: r.get(15),
            fault_detail: r.get(16),
            signature: r.get(17),
            created_at: r.get(18),
            expires_at: r.get(19),
            completed_at: r.get(20),
        }
    }
}
