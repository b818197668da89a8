//! Users (`users`) and their one-time activation codes (`activation_codes`).

use mobileid_core::{Timestamp, UserState};
use sqlx::Row;

use crate::certificates::REASON_CESSATION_OF_OPERATION;
use crate::sql::Columns;
use crate::{ts, ts_opt, AnyQuery, Result, Store};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserRecord {
    /// Normalised: digits only.
    pub msisdn: String,
    pub serial_number: String,
    pub state: UserState,
    /// For a test number: the fault code it always answers.
    pub test_fault: Option<i64>,
    pub created_at: Timestamp,
}

/// The columns `from_row` reads: msisdn, serial_number, state, test_fault, created_at.
pub(crate) const USER_COLUMN_COUNT: usize = 5;

impl UserRecord {
    pub(crate) fn from_row(r: &impl Columns) -> Result<UserRecord> {
        Ok(UserRecord {
            msisdn: r.col(0)?,
            serial_number: r.col(1)?,
            state: UserState::from_db(&r.col::<String>(2)?)?,
            test_fault: r.col(3)?,
            created_at: ts(r.col(4)?),
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CodeOutcome {
    Taken(String),
    Unknown,
    Expired,
    AlreadyUsed,
}

impl Store {
    /// Inserts a user; false if the MSISDN already exists.
    pub async fn insert_user(&self, user: &UserRecord) -> Result<bool> {
        let done = insert_user(user).execute(&self.pool).await?;
        Ok(done.rows_affected() == 1)
    }

    pub async fn find_user(&self, msisdn: &str) -> Result<Option<UserRecord>> {
        let row =
            sqlx::query("SELECT msisdn, serial_number, state, test_fault, created_at FROM users WHERE msisdn = $1")
                .bind(msisdn)
                .fetch_optional(&self.pool)
                .await?;
        row.map(|r| UserRecord::from_row(&r)).transpose()
    }

    pub async fn set_user_state(&self, msisdn: &str, state: UserState) -> Result<()> {
        sqlx::query("UPDATE users SET state = $1 WHERE msisdn = $2")
            .bind(state.as_db())
            .bind(msisdn)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Gives the user a new serial number: a new Mobile ID for the same phone number, which
    /// relying parties that pinned the old one no longer accept.
    pub async fn set_user_serial(&self, msisdn: &str, serial_number: &str) -> Result<()> {
        sqlx::query("UPDATE users SET serial_number = $1 WHERE msisdn = $2")
            .bind(serial_number)
            .bind(msisdn)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Deletes a user with its devices, codes and nothing else (transactions stay for audit;
    /// certificates stay, revoked).
    pub async fn delete_user(&self, msisdn: &str, now: Timestamp) -> Result<bool> {
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "UPDATE certificates SET revoked_at = $1, revocation_reason = $2 WHERE msisdn = $3 AND revoked_at IS NULL",
        )
        .bind(now.as_millis())
        .bind(REASON_CESSATION_OF_OPERATION)
        .bind(msisdn)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "DELETE FROM signing_certificates WHERE device_id IN (SELECT device_id FROM devices WHERE msisdn = $1)",
        )
        .bind(msisdn)
        .execute(&mut *tx)
        .await?;
        for table in ["activation_codes", "devices"] {
            sqlx::query(&format!("DELETE FROM {table} WHERE msisdn = $1")).bind(msisdn).execute(&mut *tx).await?;
        }
        let done = sqlx::query("DELETE FROM users WHERE msisdn = $1").bind(msisdn).execute(&mut *tx).await?;
        tx.commit().await?;
        Ok(done.rows_affected() == 1)
    }

    /// Removes the test-number users (fault numbers and robots) so they behave like unknown numbers.
    pub async fn delete_test_users(&self, msisdns: &[&str], now: Timestamp) -> Result<u64> {
        let mut removed = 0;
        for msisdn in msisdns {
            if self.delete_user(msisdn, now).await? {
                removed += 1;
            }
        }
        Ok(removed)
    }

    // ---- activation codes ----

    /// Enrols many users at once, each with an activation code, in one database
    /// transaction: all of them or, on an error, none. A user who exists keeps their serial
    /// number and gets the new code. `codes` pairs each user with their code's hash.
    pub async fn insert_users_with_codes(
        &self,
        users: &[(UserRecord, String)],
        expires_at: Timestamp,
        created_at: Timestamp,
    ) -> Result<()> {
        let mut tx = self.pool.begin().await?;
        for (user, code_hash) in users {
            insert_user(user).execute(&mut *tx).await?;
            insert_activation_code(code_hash, &user.msisdn, expires_at, created_at).execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    pub async fn insert_activation_code(
        &self,
        code_hash: &str,
        msisdn: &str,
        expires_at: Timestamp,
        created_at: Timestamp,
    ) -> Result<()> {
        insert_activation_code(code_hash, msisdn, expires_at, created_at).execute(&self.pool).await?;
        Ok(())
    }

    /// Marks a fresh, unexpired code used and returns its MSISDN. A code is spent exactly
    /// once even when two activations race, because the UPDATE is conditional.
    pub async fn take_activation_code(&self, code_hash: &str, now: Timestamp) -> Result<CodeOutcome> {
        let taken = sqlx::query(
            "UPDATE activation_codes SET used_at = $1
             WHERE code_hash = $2 AND used_at IS NULL AND expires_at > $1 RETURNING msisdn",
        )
        .bind(now.as_millis())
        .bind(code_hash)
        .fetch_optional(&self.pool)
        .await?;
        if let Some(row) = taken {
            return Ok(CodeOutcome::Taken(row.try_get(0)?));
        }
        let row = sqlx::query("SELECT used_at FROM activation_codes WHERE code_hash = $1")
            .bind(code_hash)
            .fetch_optional(&self.pool)
            .await?;
        Ok(match row {
            None => CodeOutcome::Unknown,
            Some(r) if r.try_get::<Option<i64>, _>(0)?.is_some() => CodeOutcome::AlreadyUsed,
            Some(_) => CodeOutcome::Expired,
        })
    }

    /// Ends the user's unused codes now (a cancelled enrolment); they then read as expired.
    pub async fn cancel_activation_codes(&self, msisdn: &str, now: Timestamp) -> Result<u64> {
        let done = sqlx::query(
            "UPDATE activation_codes SET expires_at = $1, cancelled_at = $1
             WHERE msisdn = $2 AND used_at IS NULL AND expires_at > $1",
        )
        .bind(now.as_millis())
        .bind(msisdn)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected())
    }

    /// Claims the codes that expired unused (not cancelled) since `since`, once across
    /// nodes, and returns their MSISDNs.
    pub async fn take_expired_codes(&self, since: Timestamp, now: Timestamp) -> Result<Vec<String>> {
        let rows = sqlx::query(
            "UPDATE activation_codes SET reported_at = $1
             WHERE used_at IS NULL AND cancelled_at IS NULL AND reported_at IS NULL AND expires_at <= $1 AND expires_at > $2
             RETURNING msisdn",
        )
        .bind(now.as_millis())
        .bind(since.as_millis())
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(|r| Ok(r.try_get(0)?)).collect()
    }

    /// The expiry of the user's newest code, and when it was used (if it was).
    pub async fn latest_activation_code_expiry(&self, msisdn: &str) -> Result<Option<(Timestamp, Option<Timestamp>)>> {
        let row = sqlx::query(
            "SELECT expires_at, used_at FROM activation_codes WHERE msisdn = $1
             ORDER BY created_at DESC, expires_at DESC LIMIT 1",
        )
        .bind(msisdn)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| Ok((ts(r.try_get(0)?), ts_opt(r.try_get(1)?)))).transpose()
    }
}

/// Inserts a user unless the MSISDN exists.
fn insert_user(user: &UserRecord) -> AnyQuery<'_> {
    sqlx::query(
        "INSERT INTO users (msisdn, serial_number, state, test_fault, created_at) VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (msisdn) DO NOTHING",
    )
    .bind(&user.msisdn)
    .bind(&user.serial_number)
    .bind(user.state.as_db())
    .bind(user.test_fault)
    .bind(user.created_at.as_millis())
}

fn insert_activation_code<'q>(
    code_hash: &'q str,
    msisdn: &'q str,
    expires_at: Timestamp,
    created_at: Timestamp,
) -> AnyQuery<'q> {
    sqlx::query("INSERT INTO activation_codes (code_hash, msisdn, expires_at, created_at) VALUES ($1, $2, $3, $4)")
        .bind(code_hash)
        .bind(msisdn)
        .bind(expires_at.as_millis())
        .bind(created_at.as_millis())
}
