//! The OpenID provider's tables: its clients (`oidc_clients`: settings as JSON that the
//! engine parses, the secret only as a keyed hash), its signing keys (`oidc_keys`, sealed
//! under the master key) and the short-lived objects of its flows (`oidc_objects`).
//!
//! An object is a JSON document of a kind (`par`, `login`, `code`, `grant`, `access`,
//! `refresh`, …) with an expiry; the engine gives each kind its meaning. What the store
//! guarantees is the part that must be atomic: an object is consumed at most once
//! ([`Store::consume_oidc_object`]), and every object of a grant goes at once
//! ([`Store::revoke_oidc_grant`]).

use mobileid_core::Timestamp;
use sqlx::any::AnyRow;
use sqlx::Row;

use crate::sql::{Columns, Sql};
use crate::{ts, ts_opt, Result, Store};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OidcClientRecord {
    pub client_id: String,
    /// The client's settings, as the engine wrote them (JSON).
    pub settings: String,
    /// A keyed hash of the client secret; None for clients that authenticate with keys.
    pub secret_hash: Option<String>,
    pub created_at: Timestamp,
}

#[derive(Clone, PartialEq, Eq)]
pub struct OidcKeyRecord {
    pub kid: String,
    pub alg: String,
    /// The PKCS#8 private key, sealed under the master key.
    pub sealed_key: Vec<u8>,
    pub public_jwk: String,
    pub created_at: Timestamp,
    /// Published from its creation; used for signing from this time on.
    pub signs_from: Timestamp,
    /// No longer published after this time.
    pub retired_at: Option<Timestamp>,
}

impl std::fmt::Debug for OidcKeyRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OidcKeyRecord")
            .field("kid", &self.kid)
            .field("alg", &self.alg)
            .field("signs_from", &self.signs_from)
            .field("retired_at", &self.retired_at)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OidcObject {
    pub kind: String,
    pub id: String,
    /// The grant the object belongs to (codes, tokens), revoked with it.
    pub grant_id: Option<String>,
    pub data: String,
    pub created_at: Timestamp,
    pub expires_at: Timestamp,
    pub used_at: Option<Timestamp>,
}

impl OidcObject {
    pub(crate) fn from_row(r: &impl Columns) -> Result<OidcObject> {
        Ok(OidcObject {
            kind: r.col(0)?,
            id: r.col(1)?,
            grant_id: r.col(2)?,
            data: r.col(3)?,
            created_at: ts(r.col(4)?),
            expires_at: ts(r.col(5)?),
            used_at: ts_opt(r.col(6)?),
        })
    }
}

pub(crate) const OBJECT_COLUMNS: &str = "kind, id, grant_id, data, created_at, expires_at, used_at";

/// What consuming a single-use object found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Consumed {
    /// It was unused and unexpired; now it is used.
    Fresh(OidcObject),
    /// It had been used before: a replay.
    Replayed(OidcObject),
    /// There is no such object, or it expired.
    Unknown,
}

/// What moving a grant on from a generation found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rotation {
    /// The grant was at that generation; now it is at the next.
    Rotated(OidcObject),
    /// The grant lives, at another generation: the generation was used before.
    Stale,
    /// There is no such grant, or it expired.
    Unknown,
}

impl Store {
    pub async fn upsert_oidc_client(&self, client: &OidcClientRecord) -> Result<()> {
        sqlx::query(
            "INSERT INTO oidc_clients (client_id, settings, secret_hash, created_at) VALUES ($1, $2, $3, $4)
             ON CONFLICT (client_id) DO UPDATE SET settings = excluded.settings, secret_hash = excluded.secret_hash",
        )
        .bind(&client.client_id)
        .bind(&client.settings)
        .bind(&client.secret_hash)
        .bind(client.created_at.as_millis())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    pub async fn find_oidc_client(&self, client_id: &str) -> Result<Option<OidcClientRecord>> {
        let row =
            sqlx::query("SELECT client_id, settings, secret_hash, created_at FROM oidc_clients WHERE client_id = $1")
                .bind(client_id)
                .fetch_optional(&self.pool)
                .await?;
        row.map(|r| client_from_row(&r)).transpose()
    }

    pub async fn list_oidc_clients(&self) -> Result<Vec<OidcClientRecord>> {
        let rows =
            sqlx::query("SELECT client_id, settings, secret_hash, created_at FROM oidc_clients ORDER BY client_id")
                .fetch_all(&self.pool)
                .await?;
        rows.iter().map(client_from_row).collect()
    }

    /// Removes a client; false when there was none.
    pub async fn delete_oidc_client(&self, client_id: &str) -> Result<bool> {
        let done =
            sqlx::query("DELETE FROM oidc_clients WHERE client_id = $1").bind(client_id).execute(&self.pool).await?;
        Ok(done.rows_affected() > 0)
    }

    pub async fn insert_oidc_key(&self, key: &OidcKeyRecord) -> Result<()> {
        sqlx::query(
            "INSERT INTO oidc_keys (kid, alg, sealed_key, public_jwk, created_at, signs_from, retired_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(&key.kid)
        .bind(&key.alg)
        .bind(&key.sealed_key)
        .bind(&key.public_jwk)
        .bind(key.created_at.as_millis())
        .bind(key.signs_from.as_millis())
        .bind(key.retired_at.map(Timestamp::as_millis))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Every key not retired by `now`, oldest first.
    pub async fn oidc_keys(&self, now: Timestamp) -> Result<Vec<OidcKeyRecord>> {
        let rows = sqlx::query(
            "SELECT kid, alg, sealed_key, public_jwk, created_at, signs_from, retired_at FROM oidc_keys
             WHERE retired_at IS NULL OR retired_at > $1 ORDER BY created_at, kid",
        )
        .bind(now.as_millis())
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(OidcKeyRecord {
                    kid: r.try_get(0)?,
                    alg: r.try_get(1)?,
                    sealed_key: r.try_get(2)?,
                    public_jwk: r.try_get(3)?,
                    created_at: ts(r.try_get(4)?),
                    signs_from: ts(r.try_get(5)?),
                    retired_at: ts_opt(r.try_get(6)?),
                })
            })
            .collect()
    }

    /// Stops publishing a key after `at` (unless it was retired earlier).
    pub async fn retire_oidc_key(&self, kid: &str, at: Timestamp) -> Result<bool> {
        let done = sqlx::query("UPDATE oidc_keys SET retired_at = $1 WHERE kid = $2 AND retired_at IS NULL")
            .bind(at.as_millis())
            .bind(kid)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() > 0)
    }

    /// Stores a new object; false if one of that kind and id exists. Written with others
    /// in one transaction (see `group_commit`).
    pub async fn insert_oidc_object(&self, object: &OidcObject) -> Result<bool> {
        self.queue_oidc_insert(object).await
    }

    /// An unexpired grant (an object of kind `grant`) and its generation.
    pub async fn find_oidc_grant(&self, grant_id: &str, now: Timestamp) -> Result<Option<(OidcObject, i64)>> {
        let row = sqlx::query(&format!(
            "SELECT {OBJECT_COLUMNS}, generation FROM oidc_objects WHERE kind = 'grant' AND id = $1 AND expires_at > $2"
        ))
        .bind(grant_id)
        .bind(now.as_millis())
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| Ok((OidcObject::from_row(&r)?, r.try_get(7)?))).transpose()
    }

    /// Moves an unexpired grant on from `generation`, atomically: of two that race with
    /// the same generation, one gets `Rotated`. Written with others in one transaction.
    pub async fn rotate_oidc_grant(&self, grant_id: &str, generation: i64, now: Timestamp) -> Result<Rotation> {
        self.queue_oidc_rotate(grant_id, generation, now).await
    }

    /// The object, unless it expired by `now` (used ones are returned too).
    pub async fn find_oidc_object(&self, kind: &str, id: &str, now: Timestamp) -> Result<Option<OidcObject>> {
        let row = sqlx::query(&format!(
            "SELECT {OBJECT_COLUMNS} FROM oidc_objects WHERE kind = $1 AND id = $2 AND expires_at > $3"
        ))
        .bind(kind)
        .bind(id)
        .bind(now.as_millis())
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| OidcObject::from_row(&r)).transpose()
    }

    /// Replaces an unexpired, unused object's data; false if there is none such.
    pub async fn update_oidc_object(&self, kind: &str, id: &str, data: &str, now: Timestamp) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE oidc_objects SET data = $1 WHERE kind = $2 AND id = $3 AND expires_at > $4 AND used_at IS NULL",
        )
        .bind(data)
        .bind(kind)
        .bind(id)
        .bind(now.as_millis())
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Marks a single-use object used, atomically: of two that race, one gets `Fresh`.
    /// Written with others in one transaction (see `group_commit`).
    pub async fn consume_oidc_object(&self, kind: &str, id: &str, now: Timestamp) -> Result<Consumed> {
        self.queue_oidc_consume(kind, id, now).await
    }

    /// Deletes every object of a grant (the grant, its codes and tokens); how many.
    pub async fn revoke_oidc_grant(&self, grant_id: &str) -> Result<u64> {
        let done = sqlx::query("DELETE FROM oidc_objects WHERE grant_id = $1 OR (kind = 'grant' AND id = $1)")
            .bind(grant_id)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected())
    }

    /// Deletes up to `limit` objects that expired by `before`; how many. A caller with more
    /// to delete asks again, so that no one statement holds the write lock for long. On
    /// SQLite a write of the group commit's batch: beside it, the delete and the batches
    /// would wait for each other in SQLite's busy handler, which sleeps.
    pub async fn purge_oidc_objects(&self, before: Timestamp, limit: i64) -> Result<u64> {
        let query = Sql::new(
            "DELETE FROM oidc_objects WHERE (kind, id) IN
               (SELECT kind, id FROM oidc_objects WHERE expires_at <= $1 LIMIT $2)",
        )
        .bind(before.as_millis())
        .bind(limit);
        self.execute_write(query).await
    }
}

fn client_from_row(r: &AnyRow) -> Result<OidcClientRecord> {
    Ok(OidcClientRecord {
        client_id: r.try_get(0)?,
        settings: r.try_get(1)?,
        secret_hash: r.try_get(2)?,
        created_at: ts(r.try_get(3)?),
    })
}
