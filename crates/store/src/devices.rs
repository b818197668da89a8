//! Signing devices (`devices`: phones and robot keys) and the nonces of their recent API
//! calls (`device_nonces`, replay protection within the clock window).
//!
//! "Not retired" is spelt `state <> 'retired'` in the SQL, as in the partial index
//! `devices_one_live_per_method`, not with a bound parameter: SQLite decides whether a
//! partial index fits a statement from the values bound to it, and then prepares the
//! statement again for every new binding. The user-and-devices read of every signature
//! request was parsed and planned anew each time (5% of the server's CPU under phone load).

use mobileid_core::{DeviceState, Method, Timestamp, UserState};
use sqlx::Row;

use crate::certificates::{insert_certificate, revoke_for_device, CertificateRecord, REASON_SUPERSEDED};
use crate::sql::{Columns, Sql};
use crate::users::{UserRecord, USER_COLUMN_COUNT};
use crate::{ts, Result, Store};

#[derive(Clone, PartialEq, Eq)]
pub struct DeviceRecord {
    pub device_id: String,
    pub msisdn: String,
    /// App (a phone) or SIM (a key the server holds for a robot user).
    pub method: Method,
    pub state: DeviceState,
    pub cert_der: Vec<u8>,
    /// SubjectPublicKeyInfo of the key that authenticates the phone's API calls.
    pub auth_key: Option<Vec<u8>>,
    /// Sealed PKCS#8 signing key, only for robot users.
    pub server_key: Option<Vec<u8>>,
    /// A phone's PIN guard sealed under the master key (share key and proof check).
    pub pin_guard: Option<Vec<u8>>,
    pub pin_failures: i64,
    pub created_at: Timestamp,
}

impl std::fmt::Debug for DeviceRecord {
    // A robot's sealed signing key stays out of logs.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeviceRecord")
            .field("device_id", &self.device_id)
            .field("msisdn", &self.msisdn)
            .field("method", &self.method)
            .field("state", &self.state)
            .field("pin_failures", &self.pin_failures)
            .finish_non_exhaustive()
    }
}

const DEVICE_COLUMNS: &str =
    "device_id, msisdn, method, state, cert_der, auth_key, server_key, pin_failures, created_at, pin_guard";

impl DeviceRecord {
    fn from_row(r: &impl Columns) -> Result<DeviceRecord> {
        DeviceRecord::from_row_at(r, 0)
    }

    /// The device in `DEVICE_COLUMNS` order, from column `at` on.
    pub(crate) fn from_row_at(r: &impl Columns, at: usize) -> Result<DeviceRecord> {
        Ok(DeviceRecord {
            device_id: r.col(at)?,
            msisdn: r.col(at + 1)?,
            method: Method::from_db(&r.col::<String>(at + 2)?)?,
            state: DeviceState::from_db(&r.col::<String>(at + 3)?)?,
            cert_der: r.col(at + 4)?,
            auth_key: r.col(at + 5)?,
            server_key: r.col(at + 6)?,
            pin_failures: r.col(at + 7)?,
            created_at: ts(r.col(at + 8)?),
            pin_guard: r.col(at + 9)?,
        })
    }
}

impl Store {
    /// Registers a device with its certificate and makes the user ACTIVE, in one database
    /// transaction; an earlier device of the same method is retired, since a user holds one
    /// phone at a time, and its certificates are revoked as superseded.
    pub async fn activate_device(&self, device: &DeviceRecord, certificate: &CertificateRecord) -> Result<()> {
        self.activate_device_with(device, certificate, None).await
    }

    /// As [`Store::activate_device`], with the phone's signing certificate (its DER and
    /// record) in the same database transaction.
    pub async fn activate_device_with(
        &self,
        device: &DeviceRecord,
        certificate: &CertificateRecord,
        signing: Option<(&[u8], &CertificateRecord)>,
    ) -> Result<()> {
        let mut tx = self.pool.begin().await?;
        // Touching the user row first takes its row lock: concurrent activations of one
        // user queue here, so each one's retire step sees the device the one before added
        // (PostgreSQL's READ COMMITTED would otherwise let them all insert).
        sqlx::query("UPDATE users SET state = CASE WHEN state = $1 THEN $2 ELSE state END WHERE msisdn = $3")
            .bind(UserState::Registered.as_db())
            .bind(UserState::Active.as_db())
            .bind(&device.msisdn)
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "UPDATE certificates SET revoked_at = $1, revocation_reason = $2 WHERE revoked_at IS NULL AND device_id IN
               (SELECT device_id FROM devices WHERE msisdn = $3 AND method = $4 AND state <> 'retired')",
        )
        .bind(device.created_at.as_millis())
        .bind(REASON_SUPERSEDED)
        .bind(&device.msisdn)
        .bind(device.method.as_db())
        .execute(&mut *tx)
        .await?;
        sqlx::query("UPDATE devices SET state = $1 WHERE msisdn = $2 AND method = $3 AND state <> 'retired'")
            .bind(DeviceState::Retired.as_db())
            .bind(&device.msisdn)
            .bind(device.method.as_db())
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "INSERT INTO devices (device_id, msisdn, method, state, cert_der, auth_key, server_key, pin_failures, created_at,
               pin_guard)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        )
        .bind(&device.device_id)
        .bind(&device.msisdn)
        .bind(device.method.as_db())
        .bind(device.state.as_db())
        .bind(&device.cert_der)
        .bind(&device.auth_key)
        .bind(&device.server_key)
        .bind(device.pin_failures)
        .bind(device.created_at.as_millis())
        .bind(&device.pin_guard)
        .execute(&mut *tx)
        .await?;
        insert_certificate(&mut tx, certificate).await?;
        if let Some((der, record)) = signing {
            sqlx::query("INSERT INTO signing_certificates (device_id, cert_der) VALUES ($1, $2)")
                .bind(&device.device_id)
                .bind(der)
                .execute(&mut *tx)
                .await?;
            insert_certificate(&mut tx, record).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    pub async fn find_device(&self, device_id: &str) -> Result<Option<DeviceRecord>> {
        let sql = format!("SELECT {DEVICE_COLUMNS} FROM devices WHERE device_id = $1");
        let row = self.fetch_optional_on_slot(Sql::new(sql).bind(device_id)).await?;
        row.map(|r| DeviceRecord::from_row(&r)).transpose()
    }

    /// The user's devices that are not retired (active or blocked), newest first.
    pub async fn devices_of_user(&self, msisdn: &str) -> Result<Vec<DeviceRecord>> {
        let rows = sqlx::query(&format!(
            "SELECT {DEVICE_COLUMNS} FROM devices WHERE msisdn = $1 AND state <> 'retired' ORDER BY created_at DESC"
        ))
        .bind(msisdn)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(DeviceRecord::from_row).collect()
    }

    /// The user and their devices that are not retired (newest first), in one read: what
    /// a signature request needs to choose the device.
    pub async fn find_user_and_devices(&self, msisdn: &str) -> Result<Option<(UserRecord, Vec<DeviceRecord>)>> {
        let columns: String = DEVICE_COLUMNS.split(", ").map(|c| format!("d.{c}")).collect::<Vec<_>>().join(", ");
        let sql = format!(
            "SELECT u.msisdn, u.serial_number, u.state, u.test_fault, u.created_at, {columns} FROM users u
             LEFT JOIN devices d ON d.msisdn = u.msisdn AND d.state <> 'retired'
             WHERE u.msisdn = $1 ORDER BY d.created_at DESC"
        );
        let rows = self.fetch_all_on_slot(Sql::new(sql).bind(msisdn)).await?;
        let Some(first) = rows.first() else { return Ok(None) };
        let user = UserRecord::from_row(first)?;
        let devices = rows
            .iter()
            .filter(|r| r.col::<Option<String>>(USER_COLUMN_COUNT).ok().flatten().is_some())
            .map(|r| DeviceRecord::from_row_at(r, USER_COLUMN_COUNT))
            .collect::<Result<_>>()?;
        Ok(Some((user, devices)))
    }

    /// Counts a wrong PIN; blocks the device at `limit`, and revokes its certificates in
    /// the same database transaction. Returns the new count.
    pub async fn record_pin_failure(&self, device_id: &str, limit: i64, now: Timestamp) -> Result<i64> {
        let mut tx = self.pool.begin().await?;
        let row = sqlx::query(
            "UPDATE devices SET pin_failures = pin_failures + 1,
               state = CASE WHEN pin_failures + 1 >= $2 THEN $3 ELSE state END
             WHERE device_id = $1 RETURNING pin_failures",
        )
        .bind(device_id)
        .bind(limit)
        .bind(DeviceState::Blocked.as_db())
        .fetch_optional(&mut *tx)
        .await?;
        let count = match row {
            Some(r) => r.try_get(0)?,
            None => 0,
        };
        if count >= limit {
            revoke_for_device(&mut tx, device_id, None, now).await?;
        }
        tx.commit().await?;
        Ok(count)
    }

    /// A right PIN: clears the wrong-PIN count, in the same statement that checks the device
    /// is still active, so a device blocked meanwhile (by concurrent wrong PINs) gets no
    /// share. False when it is blocked, retired or unknown.
    pub async fn accept_pin(&self, device_id: &str) -> Result<bool> {
        let sql = Sql::new("UPDATE devices SET pin_failures = 0 WHERE device_id = $1 AND state = $2")
            .bind(device_id)
            .bind(DeviceState::Active.as_db());
        Ok(self.execute_write(sql).await? == 1)
    }

    /// Clears the wrong-PIN count after a correct PIN.
    pub async fn reset_pin_failures(&self, device_id: &str) -> Result<()> {
        let sql = Sql::new("UPDATE devices SET pin_failures = 0 WHERE device_id = $1 AND pin_failures <> 0");
        self.execute_write(sql.bind(device_id)).await?;
        Ok(())
    }

    // ---- device request nonces ----

    /// Remembers a request nonce; false if this device used it before (a replay). It is
    /// written with others in one transaction (see `group_commit`), before the answer.
    pub async fn remember_nonce(&self, device_id: &str, nonce: &str, seen_at: Timestamp) -> Result<bool> {
        self.queue_nonce(device_id, nonce, seen_at).await
    }

    /// Forgets up to `limit` nonces older than `before` (the clock window: older requests
    /// are refused by time anyway); how many. On SQLite a write of the group commit's
    /// batch, like every purge (see `Store::purge_oidc_objects`). Without an index on `seen_at` (which every
    /// nonce's insert would pay for), the inner scan runs in insertion order, so it finds
    /// the oldest, the ones to go, first.
    pub async fn purge_nonces(&self, before: Timestamp, limit: i64) -> Result<u64> {
        let query = Sql::new(
            "DELETE FROM device_nonces WHERE (device_id, nonce) IN
               (SELECT device_id, nonce FROM device_nonces WHERE seen_at < $1 LIMIT $2)",
        )
        .bind(before.as_millis())
        .bind(limit);
        self.execute_write(query).await
    }
}
