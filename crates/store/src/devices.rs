//! Signing devices (`devices`: phones and robot keys) and the nonces of their recent API
//! calls (`device_nonces`, replay protection within the clock window).

use mobileid_core::{DeviceState, Method, Timestamp, UserState};
use sqlx::any::AnyRow;
use sqlx::Row;

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
    "device_id, msisdn, method, state, cert_der, auth_key, server_key, pin_failures, created_at";

impl DeviceRecord {
    fn from_row(r: &AnyRow) -> Result<DeviceRecord> {
        Ok(DeviceRecord {
            device_id: r.try_get(0)?,
            msisdn: r.try_get(1)?,
            method: Method::from_db(&r.try_get::<String, _>(2)?)?,
            state: DeviceState::from_db(&r.try_get::<String, _>(3)?)?,
            cert_der: r.try_get(4)?,
            auth_key: r.try_get(5)?,
            server_key: r.try_get(6)?,
            pin_failures: r.try_get(7)?,
            created_at: ts(r.try_get(8)?),
        })
    }
}

impl Store {
    /// Registers a device and makes the user ACTIVE, in one database transaction; an earlier
    /// device of the same method is retired, since a user holds one phone at a time.
    pub async fn activate_device(&self, device: &DeviceRecord) -> Result<()> {
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
        sqlx::query("UPDATE devices SET state = $1 WHERE msisdn = $2 AND method = $3 AND state <> $1")
            .bind(DeviceState::Retired.as_db())
            .bind(&device.msisdn)
            .bind(device.method.as_db())
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "INSERT INTO devices (device_id, msisdn, method, state, cert_der, auth_key, server_key, pin_failures, created_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
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
        row.map(|r| DeviceRecord::from_row(&r)).transpose()
    }

    /// The user's devices that are not retired (active or blocked), newest first.
    pub async fn devices_of_user(&self, msisdn: &str) -> Result<Vec<DeviceRecord>> {
        let rows = sqlx::query(&format!(
            "SELECT {DEVICE_COLUMNS} FROM devices WHERE msisdn = $1 AND state <> $2 ORDER BY created_at DESC"
        ))
        .bind(msisdn)
        .bind(DeviceState::Retired.as_db())
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(DeviceRecord::from_row).collect()
    }

    /// Counts a wrong PIN; blocks the device at `limit`. Returns the new count.
    pub async fn record_pin_failure(&self, device_id: &str, limit: i64) -> Result<i64> {
        let row = sqlx::query(
            "UPDATE devices SET pin_failures = pin_failures + 1,
               state = CASE WHEN pin_failures + 1 >= $2 THEN $3 ELSE state END
             WHERE device_id = $1 RETURNING pin_failures",
        )
        .bind(device_id)
        .bind(limit)
        .bind(DeviceState::Blocked.as_db())
        .fetch_optional(&self.pool)
        .await?;
        Ok(match row {
            Some(r) => r.try_get(0)?,
            None => 0,
        })
    }

    /// Clears the wrong-PIN count after a correct PIN.
    pub async fn reset_pin_failures(&self, device_id: &str) -> Result<()> {
        sqlx::query("UPDATE devices SET pin_failures = 0 WHERE device_id = $1 AND pin_failures <> 0")
            .bind(device_id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    // ---- device request nonces ----

    /// Remembers a request nonce; false if this device used it before (a replay).
    pub async fn remember_nonce(&self, device_id: &str, nonce: &str, seen_at: Timestamp) -> Result<bool> {
        let done = sqlx::query(
            "INSERT INTO device_nonces (device_id, nonce, seen_at) VALUES ($1, $2, $3)
             ON CONFLICT (device_id, nonce) DO NOTHING",
        )
        .bind(device_id)
        .bind(nonce)
        .bind(seen_at.as_millis())
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Forgets nonces older than the clock window; older requests are refused by time anyway.
    pub async fn purge_nonces(&self, before: Timestamp) -> Result<u64> {
        let done = sqlx::query("DELETE FROM device_nonces WHERE seen_at < $1")
            .bind(before.as_millis())
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected())
    }
}
