//! The self-service portal's tables: accounts (`accounts`), their one-time e-mailed links
//! (`account_tokens`), logged-in browsers (`portal_sessions`) and the recovery codes of
//! a Mobile ID user (`recovery_codes`). Tokens and codes are stored as hashes only.

use mobileid_core::{AccountState, Timestamp};
use sqlx::any::AnyRow;
use sqlx::Row;

use crate::sql::Sql;
use crate::{ts, Result, Store};

#[derive(Clone, PartialEq, Eq)]
pub struct AccountRecord {
    pub account_id: String,
    /// Lower-case.
    pub email: String,
    /// An argon2id PHC string; None until the owner sets a password.
    pub password_hash: Option<String>,
    /// The Mobile ID user (normalised MSISDN) the account manages.
    pub msisdn: Option<String>,
    pub state: AccountState,
    /// The language of its e-mails.
    pub language: String,
    /// Operator-set properties (a JSON object of strings), such as an employee id.
    pub properties: String,
    pub failed_logins: i64,
    pub locked_until: Timestamp,
    pub created_at: Timestamp,
}

impl std::fmt::Debug for AccountRecord {
    // The password hash stays out of logs and panic messages.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccountRecord")
            .field("account_id", &self.account_id)
            .field("email", &self.email)
            .field("msisdn", &self.msisdn)
            .field("state", &self.state)
            .finish_non_exhaustive()
    }
}

const ACCOUNT_COLUMNS: &str = "account_id, email, password_hash, msisdn, state, language, properties, failed_logins, \
     locked_until, created_at";

impl AccountRecord {
    fn from_row(r: &AnyRow) -> Result<AccountRecord> {
        Ok(AccountRecord {
            account_id: r.try_get(0)?,
            email: r.try_get(1)?,
            password_hash: r.try_get(2)?,
            msisdn: r.try_get(3)?,
            state: AccountState::from_db(&r.try_get::<String, _>(4)?)?,
            language: r.try_get(5)?,
            properties: r.try_get(6)?,
            failed_logins: r.try_get(7)?,
            locked_until: ts(r.try_get(8)?),
            created_at: ts(r.try_get(9)?),
        })
    }
}

/// A logged-in browser's session.
#[derive(Clone, PartialEq, Eq)]
pub struct SessionRecord {
    pub account_id: String,
    /// Every form of the session carries it.
    pub csrf_token: String,
    pub expires_at: Timestamp,
}

impl std::fmt::Debug for SessionRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionRecord").field("account_id", &self.account_id).finish_non_exhaustive()
    }
}

/// Why an e-mailed token was not taken.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenOutcome {
    /// The account it belongs to.
    Taken(String),
    Unknown,
    Expired,
    AlreadyUsed,
}

impl Store {
    /// Inserts an account; false if its e-mail address or MSISDN is taken.
    pub async fn insert_account(&self, account: &AccountRecord) -> Result<bool> {
        let done = sqlx::query(&format!(
            "INSERT INTO accounts ({ACCOUNT_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) ON CONFLICT DO NOTHING"
        ))
        .bind(&account.account_id)
        .bind(&account.email)
        .bind(&account.password_hash)
        .bind(&account.msisdn)
        .bind(account.state.as_db())
        .bind(&account.language)
        .bind(&account.properties)
        .bind(account.failed_logins)
        .bind(account.locked_until.as_millis())
        .bind(account.created_at.as_millis())
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    pub async fn find_account(&self, account_id: &str) -> Result<Option<AccountRecord>> {
        self.account_where("account_id", account_id).await
    }

    pub async fn find_account_by_email(&self, email: &str) -> Result<Option<AccountRecord>> {
        self.account_where("email", email).await
    }

    pub async fn find_account_by_msisdn(&self, msisdn: &str) -> Result<Option<AccountRecord>> {
        self.account_where("msisdn", msisdn).await
    }

    async fn account_where(&self, column: &str, value: &str) -> Result<Option<AccountRecord>> {
        let row = sqlx::query(&format!("SELECT {ACCOUNT_COLUMNS} FROM accounts WHERE {column} = $1"))
            .bind(value)
            .fetch_optional(&self.pool)
            .await?;
        row.map(|r| AccountRecord::from_row(&r)).transpose()
    }

    /// Every account, by e-mail address.
    pub async fn list_accounts(&self) -> Result<Vec<AccountRecord>> {
        let rows = sqlx::query(&format!("SELECT {ACCOUNT_COLUMNS} FROM accounts ORDER BY email"))
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(AccountRecord::from_row).collect()
    }

    pub async fn set_account_state(&self, account_id: &str, state: AccountState) -> Result<bool> {
        let done = sqlx::query("UPDATE accounts SET state = $1 WHERE account_id = $2")
            .bind(state.as_db())
            .bind(account_id)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Sets the password and clears the failure count.
    pub async fn set_account_password(&self, account_id: &str, password_hash: &str) -> Result<()> {
        sqlx::query(
            "UPDATE accounts SET password_hash = $1, failed_logins = 0, locked_until = 0 WHERE account_id = $2",
        )
        .bind(password_hash)
        .bind(account_id)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Counts a failed login in one statement; the `limit`-th failure in a row locks the
    /// account until `lock_until` (and starts the count again). Returns the lock's end.
    pub async fn record_login_failure(&self, account_id: &str, limit: i64, lock_until: Timestamp) -> Result<Timestamp> {
        let row = sqlx::query(
            "UPDATE accounts SET
               locked_until = CASE WHEN failed_logins + 1 >= $1 THEN $2 ELSE locked_until END,
               failed_logins = CASE WHEN failed_logins + 1 >= $1 THEN 0 ELSE failed_logins + 1 END
             WHERE account_id = $3 RETURNING locked_until",
        )
        .bind(limit)
        .bind(lock_until.as_millis())
        .bind(account_id)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(|r| r.try_get::<i64, _>(0)).transpose()?.map(ts).unwrap_or(Timestamp::from_millis(0)))
    }

    pub async fn reset_login_failures(&self, account_id: &str) -> Result<()> {
        sqlx::query("UPDATE accounts SET failed_logins = 0 WHERE account_id = $1 AND failed_logins <> 0")
            .bind(account_id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Links the account to a Mobile ID user; false if another account has that MSISDN.
    pub async fn set_account_msisdn(&self, account_id: &str, msisdn: &str) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE accounts SET msisdn = $1 WHERE account_id = $2
               AND NOT EXISTS (SELECT 1 FROM accounts o WHERE o.msisdn = $1 AND o.account_id <> $2)",
        )
        .bind(msisdn)
        .bind(account_id)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    // ---- e-mailed tokens ----

    pub async fn insert_account_token(
        &self,
        token_hash: &str,
        account_id: &str,
        purpose: &str,
        expires_at: Timestamp,
    ) -> Result<()> {
        sqlx::query("INSERT INTO account_tokens (token_hash, account_id, purpose, expires_at) VALUES ($1, $2, $3, $4)")
            .bind(token_hash)
            .bind(account_id)
            .bind(purpose)
            .bind(expires_at.as_millis())
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Whether a token of `purpose` is unused and unexpired, without spending it.
    pub async fn check_account_token(&self, token_hash: &str, purpose: &str, now: Timestamp) -> Result<TokenOutcome> {
        let row = sqlx::query(
            "SELECT account_id, expires_at, used_at FROM account_tokens WHERE token_hash = $1 AND purpose = $2",
        )
        .bind(token_hash)
        .bind(purpose)
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else { return Ok(TokenOutcome::Unknown) };
        Ok(if row.try_get::<Option<i64>, _>(2)?.is_some() {
            TokenOutcome::AlreadyUsed
        } else if ts(row.try_get(1)?) <= now {
            TokenOutcome::Expired
        } else {
            TokenOutcome::Taken(row.try_get(0)?)
        })
    }

    /// Spends a token of `purpose`, exactly once even when two requests race.
    pub async fn take_account_token(&self, token_hash: &str, purpose: &str, now: Timestamp) -> Result<TokenOutcome> {
        let taken = sqlx::query(
            "UPDATE account_tokens SET used_at = $1
             WHERE token_hash = $2 AND purpose = $3 AND used_at IS NULL AND expires_at > $1 RETURNING account_id",
        )
        .bind(now.as_millis())
        .bind(token_hash)
        .bind(purpose)
        .fetch_optional(&self.pool)
        .await?;
        match taken {
            Some(row) => Ok(TokenOutcome::Taken(row.try_get(0)?)),
            None => self.check_account_token(token_hash, purpose, now).await,
        }
    }

    // ---- sessions ----

    pub async fn insert_session(&self, session_hash: &str, session: &SessionRecord, now: Timestamp) -> Result<()> {
        sqlx::query(
            "INSERT INTO portal_sessions (session_hash, account_id, csrf_token, created_at, expires_at)
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(session_hash)
        .bind(&session.account_id)
        .bind(&session.csrf_token)
        .bind(now.as_millis())
        .bind(session.expires_at.as_millis())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// A session that has not expired.
    pub async fn find_session(&self, session_hash: &str, now: Timestamp) -> Result<Option<SessionRecord>> {
        let row = sqlx::query(
            "SELECT account_id, csrf_token, expires_at FROM portal_sessions WHERE session_hash = $1 AND expires_at > $2",
        )
        .bind(session_hash)
        .bind(now.as_millis())
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| {
            Ok(SessionRecord { account_id: r.try_get(0)?, csrf_token: r.try_get(1)?, expires_at: ts(r.try_get(2)?) })
        })
        .transpose()
    }

    pub async fn delete_session(&self, session_hash: &str) -> Result<()> {
        sqlx::query("DELETE FROM portal_sessions WHERE session_hash = $1")
            .bind(session_hash)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Ends every session of an account (a new password, a deactivated account).
    pub async fn delete_sessions_of(&self, account_id: &str) -> Result<()> {
        sqlx::query("DELETE FROM portal_sessions WHERE account_id = $1").bind(account_id).execute(&self.pool).await?;
        Ok(())
    }

    /// Removes up to `limit` expired sessions and up to `limit` expired tokens; how many.
    /// On SQLite writes of the group commit's batch, like every purge (see
    /// `Store::purge_oidc_objects`): through sqlx's pool, a write could wait for seconds
    /// in SQLite's busy handler while the group commit holds the lock batch after batch.
    pub async fn purge_portal(&self, now: Timestamp, limit: i64) -> Result<u64> {
        let mut removed = 0;
        for (table, key) in [("portal_sessions", "session_hash"), ("account_tokens", "token_hash")] {
            let sql = Sql::new(format!(
                "DELETE FROM {table} WHERE {key} IN (SELECT {key} FROM {table} WHERE expires_at <= $1 LIMIT $2)"
            ))
            .bind(now.as_millis())
            .bind(limit);
            removed += self.execute_write(sql).await?;
        }
        Ok(removed)
    }

    // ---- recovery codes ----

    /// Replaces the user's unused recovery codes with new ones, in one transaction.
    pub async fn replace_recovery_codes(&self, msisdn: &str, code_hashes: &[String], now: Timestamp) -> Result<()> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("DELETE FROM recovery_codes WHERE msisdn = $1 AND used_at IS NULL")
            .bind(msisdn)
            .execute(&mut *tx)
            .await?;
        for hash in code_hashes {
            sqlx::query("INSERT INTO recovery_codes (code_hash, msisdn, created_at) VALUES ($1, $2, $3)")
                .bind(hash)
                .bind(msisdn)
                .bind(now.as_millis())
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Spends one of the user's unused recovery codes; false if it is not one.
    pub async fn take_recovery_code(&self, msisdn: &str, code_hash: &str, now: Timestamp) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE recovery_codes SET used_at = $1 WHERE code_hash = $2 AND msisdn = $3 AND used_at IS NULL",
        )
        .bind(now.as_millis())
        .bind(code_hash)
        .bind(msisdn)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// How many unused recovery codes the user has, and when the newest set was made.
    pub async fn recovery_codes_left(&self, msisdn: &str) -> Result<(i64, Option<Timestamp>)> {
        let row =
            sqlx::query("SELECT COUNT(*), MAX(created_at) FROM recovery_codes WHERE msisdn = $1 AND used_at IS NULL")
                .bind(msisdn)
                .fetch_one(&self.pool)
                .await?;
        Ok((row.try_get(0)?, row.try_get::<Option<i64>, _>(1)?.map(ts)))
    }
}
