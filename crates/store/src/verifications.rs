//! Identity verifications (`verifications` and the tables around it): the session of a
//! verification, its hand-off links, its sealed images and who viewed them, the reviewers,
//! the providers' webhook events, and the hash-chained evidence records.

use mobileid_core::evidence::chain_hash;
use mobileid_core::Timestamp;
use sqlx::any::AnyRow;
use sqlx::Row;

use crate::{ts, ts_opt, Backend, IdentityRecord, Result, Store};

#[derive(Clone, PartialEq, Eq)]
pub struct VerificationRecord {
    pub verification_id: String,
    /// Normalised: digits only.
    pub msisdn: String,
    /// Where the decision is e-mailed ("" for nowhere).
    pub email: String,
    pub stated_name: String,
    pub language: String,
    /// Where the browser goes once the identity is verified ("" for nowhere).
    pub return_to: String,
    /// terms, capture, provider, review, verified or rejected.
    pub state: String,
    /// SHA-256 (hex) of the starting browser's secret.
    pub browser_hash: String,
    /// SHA-256 (hex) of the phone's secret, once handed off.
    pub phone_hash: Option<String>,
    pub terms_version: Option<String>,
    pub terms_accepted_at: Option<Timestamp>,
    /// passport or id_card.
    pub document_type: Option<String>,
    /// The parsed MRZ with its check digits (JSON).
    pub mrz: Option<String>,
    /// image or typed.
    pub mrz_source: Option<String>,
    /// The platform's checks (JSON).
    pub checks: Option<String>,
    pub provider: Option<String>,
    pub provider_session: Option<String>,
    pub decided_by: Option<String>,
    pub reason: Option<String>,
    pub given_names: Option<String>,
    pub surname: Option<String>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    pub decided_at: Option<Timestamp>,
}

impl std::fmt::Debug for VerificationRecord {
    // Personal data stays out of logs and panic messages.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VerificationRecord")
            .field("verification_id", &self.verification_id)
            .field("state", &self.state)
            .finish_non_exhaustive()
    }
}

const COLUMNS: &str = "verification_id, msisdn, email, stated_name, language, return_to, state, browser_hash, \
    phone_hash, terms_version, terms_accepted_at, document_type, mrz, mrz_source, checks, provider, provider_session, \
    decided_by, reason, given_names, surname, created_at, updated_at, decided_at";

impl VerificationRecord {
    fn from_row(r: &AnyRow) -> Result<VerificationRecord> {
        Ok(VerificationRecord {
            verification_id: r.try_get(0)?,
            msisdn: r.try_get(1)?,
            email: r.try_get(2)?,
            stated_name: r.try_get(3)?,
            language: r.try_get(4)?,
            return_to: r.try_get(5)?,
            state: r.try_get(6)?,
            browser_hash: r.try_get(7)?,
            phone_hash: r.try_get(8)?,
            terms_version: r.try_get(9)?,
            terms_accepted_at: ts_opt(r.try_get(10)?),
            document_type: r.try_get(11)?,
            mrz: r.try_get(12)?,
            mrz_source: r.try_get(13)?,
            checks: r.try_get(14)?,
            provider: r.try_get(15)?,
            provider_session: r.try_get(16)?,
            decided_by: r.try_get(17)?,
            reason: r.try_get(18)?,
            given_names: r.try_get(19)?,
            surname: r.try_get(20)?,
            created_at: ts(r.try_get(21)?),
            updated_at: ts(r.try_get(22)?),
            decided_at: ts_opt(r.try_get(23)?),
        })
    }
}

/// What became of a hand-off link.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HandoffOutcome {
    /// Taken now, for this verification.
    Taken(String),
    Used,
    Expired,
    Unknown,
}

/// An image's digest, as the evidence names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageDigest {
    pub kind: String,
    pub content_type: String,
    pub sha256: String,
    pub size: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageView {
    pub kind: String,
    pub viewer: String,
    pub viewed_at: Timestamp,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EvidenceRecord {
    pub seq: i64,
    pub verification_id: String,
    pub body: String,
    pub prev_hash: String,
    pub hash: String,
    pub recorded_at: Timestamp,
}

/// A decision, written at once: the verification's outcome, the identity it gives (or
/// takes), its evidence record, and the provider's event that carried it.
pub struct Decision<'a> {
    pub verification: &'a VerificationRecord,
    /// The states the verification may be decided from.
    pub from: &'a [&'a str],
    pub identity: &'a IdentityRecord,
    pub evidence: &'a str,
    pub provider_event: Option<(&'a str, &'a str)>,
}

/// Why a decision was not written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decided {
    Written,
    /// The verification was not in a state to be decided (decided before).
    NotOpen,
    /// The provider's event was received before.
    Replayed,
}

/// The chain's first record follows this.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

impl Store {
    pub async fn insert_verification(&self, record: &VerificationRecord) -> Result<()> {
        let placeholders: Vec<String> = (1..=24).map(|n| format!("${n}")).collect();
        let sql = format!("INSERT INTO verifications ({COLUMNS}) VALUES ({})", placeholders.join(", "));
        bind_all(sqlx::query(&sql), record).execute(&self.pool).await?;
        Ok(())
    }

    pub async fn find_verification(&self, verification_id: &str) -> Result<Option<VerificationRecord>> {
        let sql = format!("SELECT {COLUMNS} FROM verifications WHERE verification_id = $1");
        let row = sqlx::query(&sql).bind(verification_id).fetch_optional(&self.pool).await?;
        row.as_ref().map(VerificationRecord::from_row).transpose()
    }

    pub async fn find_verification_by_provider_session(
        &self,
        provider: &str,
        session: &str,
    ) -> Result<Option<VerificationRecord>> {
        let sql = format!("SELECT {COLUMNS} FROM verifications WHERE provider = $1 AND provider_session = $2");
        let row = sqlx::query(&sql).bind(provider).bind(session).fetch_optional(&self.pool).await?;
        row.as_ref().map(VerificationRecord::from_row).transpose()
    }

    /// Saves a verification that is still open, if it is still in state `from` (else
    /// nothing is written and false is answered).
    pub async fn save_verification(&self, record: &VerificationRecord, from: &str) -> Result<bool> {
        let sql = update_sql("state = $17");
        let done = bind_update(sqlx::query(&sql), record).bind(from).execute(&self.pool).await?;
        Ok(done.rows_affected() == 1)
    }

    /// Saves a verification as [`Store::save_verification`] does, together with the
    /// provider's event that moved it (refused as `Replayed` if received before).
    pub async fn save_verification_with_event(
        &self,
        record: &VerificationRecord,
        from: &str,
        provider: &str,
        event_id: &str,
        now: Timestamp,
    ) -> Result<Decided> {
        let mut db = self.pool.begin().await?;
        if !insert_event(&mut db, provider, event_id, now).await? {
            return Ok(Decided::Replayed);
        }
        let sql = update_sql("state = $17");
        let done = bind_update(sqlx::query(&sql), record).bind(from).execute(&mut *db).await?;
        if done.rows_affected() != 1 {
            return Ok(Decided::NotOpen);
        }
        db.commit().await?;
        Ok(Decided::Written)
    }

    /// The verifications waiting in the review desk, oldest first.
    pub async fn verifications_to_review(&self) -> Result<Vec<VerificationRecord>> {
        let sql = format!("SELECT {COLUMNS} FROM verifications WHERE state = 'review' ORDER BY updated_at");
        let rows = sqlx::query(&sql).fetch_all(&self.pool).await?;
        rows.iter().map(VerificationRecord::from_row).collect()
    }

    /// Writes a decision in one database transaction (see [`Decision`]).
    pub async fn decide_verification(&self, decision: Decision<'_>, now: Timestamp) -> Result<Decided> {
        let mut db = self.pool.begin().await?;
        if self.backend == Backend::Postgres {
            // One appender at a time, so the chain never forks.
            sqlx::query("LOCK TABLE evidence_records IN SHARE ROW EXCLUSIVE MODE").execute(&mut *db).await?;
        }
        if let Some((provider, event_id)) = decision.provider_event {
            if !insert_event(&mut db, provider, event_id, now).await? {
                return Ok(Decided::Replayed);
            }
        }
        let placeholders: Vec<String> = (0..decision.from.len()).map(|n| format!("${}", 17 + n)).collect();
        let sql = update_sql(&format!("state IN ({})", placeholders.join(", ")));
        let mut query = bind_update(sqlx::query(&sql), decision.verification);
        for state in decision.from {
            query = query.bind(*state);
        }
        let updated = query.execute(&mut *db).await?;
        if updated.rows_affected() != 1 {
            return Ok(Decided::NotOpen);
        }
        crate::identities::write_identity(&mut *db, decision.identity).await?;
        let last: Option<(i64, String)> =
            sqlx::query_as("SELECT seq, hash FROM evidence_records ORDER BY seq DESC LIMIT 1")
                .fetch_optional(&mut *db)
                .await?;
        let (seq, prev_hash) = last.map_or((1, GENESIS.to_string()), |(seq, hash)| (seq + 1, hash));
        sqlx::query(
            "INSERT INTO evidence_records (seq, verification_id, body, prev_hash, hash, recorded_at)
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(seq)
        .bind(&decision.verification.verification_id)
        .bind(decision.evidence)
        .bind(&prev_hash)
        .bind(chain_hash(&prev_hash, decision.evidence))
        .bind(now.as_millis())
        .execute(&mut *db)
        .await?;
        db.commit().await?;
        Ok(Decided::Written)
    }

    /// Every evidence record, in the chain's order.
    pub async fn evidence_records(&self) -> Result<Vec<EvidenceRecord>> {
        let rows = sqlx::query(
            "SELECT seq, verification_id, body, prev_hash, hash, recorded_at FROM evidence_records ORDER BY seq",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(EvidenceRecord {
                    seq: r.try_get(0)?,
                    verification_id: r.try_get(1)?,
                    body: r.try_get(2)?,
                    prev_hash: r.try_get(3)?,
                    hash: r.try_get(4)?,
                    recorded_at: ts(r.try_get(5)?),
                })
            })
            .collect()
    }

    // ---- hand-off links ----

    pub async fn insert_handoff(&self, token_hash: &str, verification_id: &str, expires_at: Timestamp) -> Result<()> {
        sqlx::query("INSERT INTO verification_handoffs (token_hash, verification_id, expires_at) VALUES ($1, $2, $3)")
            .bind(token_hash)
            .bind(verification_id)
            .bind(expires_at.as_millis())
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Takes a hand-off link once, and binds the phone's secret to its verification in
    /// the same transaction.
    pub async fn take_handoff(&self, token_hash: &str, phone_hash: &str, now: Timestamp) -> Result<HandoffOutcome> {
        let mut db = self.pool.begin().await?;
        let row: Option<(String, i64, Option<i64>)> = sqlx::query_as(
            "UPDATE verification_handoffs SET used_at = $2
             WHERE token_hash = $1 AND used_at IS NULL AND expires_at > $2
             RETURNING verification_id, expires_at, used_at",
        )
        .bind(token_hash)
        .bind(now.as_millis())
        .fetch_optional(&mut *db)
        .await?;
        let Some((verification_id, _, _)) = row else {
            let known: Option<(i64, Option<i64>)> =
                sqlx::query_as("SELECT expires_at, used_at FROM verification_handoffs WHERE token_hash = $1")
                    .bind(token_hash)
                    .fetch_optional(&mut *db)
                    .await?;
            return Ok(match known {
                Some((_, Some(_))) => HandoffOutcome::Used,
                Some(_) => HandoffOutcome::Expired,
                None => HandoffOutcome::Unknown,
            });
        };
        sqlx::query("UPDATE verifications SET phone_hash = $1, updated_at = $2 WHERE verification_id = $3")
            .bind(phone_hash)
            .bind(now.as_millis())
            .bind(&verification_id)
            .execute(&mut *db)
            .await?;
        db.commit().await?;
        Ok(HandoffOutcome::Taken(verification_id))
    }

    // ---- images ----

    /// Keeps a captured image (replacing an earlier one of the same kind).
    pub async fn put_verification_image(
        &self,
        verification_id: &str,
        digest: &ImageDigest,
        sealed: &[u8],
        now: Timestamp,
    ) -> Result<()> {
        sqlx::query(
            "INSERT INTO verification_images (verification_id, kind, content_type, sealed, sha256, size, created_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7)
             ON CONFLICT (verification_id, kind) DO UPDATE SET content_type = $3, sealed = $4, sha256 = $5,
               size = $6, created_at = $7",
        )
        .bind(verification_id)
        .bind(&digest.kind)
        .bind(&digest.content_type)
        .bind(sealed)
        .bind(&digest.sha256)
        .bind(digest.size)
        .bind(now.as_millis())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// A sealed image and its content type.
    pub async fn verification_image(&self, verification_id: &str, kind: &str) -> Result<Option<(String, Vec<u8>)>> {
        Ok(sqlx::query_as(
            "SELECT content_type, sealed FROM verification_images WHERE verification_id = $1 AND kind = $2",
        )
        .bind(verification_id)
        .bind(kind)
        .fetch_optional(&self.pool)
        .await?)
    }

    pub async fn verification_image_digests(&self, verification_id: &str) -> Result<Vec<ImageDigest>> {
        let rows: Vec<(String, String, String, i64)> = sqlx::query_as(
            "SELECT kind, content_type, sha256, size FROM verification_images WHERE verification_id = $1 ORDER BY kind",
        )
        .bind(verification_id)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(|(kind, content_type, sha256, size)| ImageDigest { kind, content_type, sha256, size })
            .collect())
    }

    /// Deletes the images kept since before `cutoff`; answers how many.
    pub async fn delete_verification_images_before(&self, cutoff: Timestamp) -> Result<u64> {
        let done = sqlx::query("DELETE FROM verification_images WHERE created_at < $1")
            .bind(cutoff.as_millis())
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected())
    }

    pub async fn log_image_view(&self, verification_id: &str, kind: &str, viewer: &str, now: Timestamp) -> Result<()> {
        sqlx::query(
            "INSERT INTO verification_image_views (verification_id, kind, viewer, viewed_at) VALUES ($1, $2, $3, $4)",
        )
        .bind(verification_id)
        .bind(kind)
        .bind(viewer)
        .bind(now.as_millis())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    pub async fn image_views(&self, verification_id: &str) -> Result<Vec<ImageView>> {
        let rows: Vec<(String, String, i64)> = sqlx::query_as(
            "SELECT kind, viewer, viewed_at FROM verification_image_views WHERE verification_id = $1 ORDER BY viewed_at",
        )
        .bind(verification_id)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.into_iter().map(|(kind, viewer, at)| ImageView { kind, viewer, viewed_at: ts(at) }).collect())
    }

    // ---- reviewers ----

    pub async fn add_reviewer(&self, account_id: &str, now: Timestamp) -> Result<()> {
        sqlx::query(
            "INSERT INTO reviewers (account_id, granted_at) VALUES ($1, $2) ON CONFLICT (account_id) DO NOTHING",
        )
        .bind(account_id)
        .bind(now.as_millis())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    pub async fn remove_reviewer(&self, account_id: &str) -> Result<bool> {
        let done =
            sqlx::query("DELETE FROM reviewers WHERE account_id = $1").bind(account_id).execute(&self.pool).await?;
        Ok(done.rows_affected() == 1)
    }

    pub async fn is_reviewer(&self, account_id: &str) -> Result<bool> {
        let row: Option<(String,)> = sqlx::query_as("SELECT account_id FROM reviewers WHERE account_id = $1")
            .bind(account_id)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.is_some())
    }
}

/// Records a provider's event; false if it was received before.
async fn insert_event(
    db: &mut sqlx::Transaction<'_, sqlx::Any>,
    provider: &str,
    event_id: &str,
    now: Timestamp,
) -> Result<bool> {
    let inserted = sqlx::query(
        "INSERT INTO provider_events (provider, event_id, received_at) VALUES ($1, $2, $3)
         ON CONFLICT (provider, event_id) DO NOTHING",
    )
    .bind(provider)
    .bind(event_id)
    .bind(now.as_millis())
    .execute(&mut **db)
    .await?;
    Ok(inserted.rows_affected() == 1)
}

fn bind_all<'q>(query: crate::AnyQuery<'q>, r: &'q VerificationRecord) -> crate::AnyQuery<'q> {
    query
        .bind(&r.verification_id)
        .bind(&r.msisdn)
        .bind(&r.email)
        .bind(&r.stated_name)
        .bind(&r.language)
        .bind(&r.return_to)
        .bind(&r.state)
        .bind(&r.browser_hash)
        .bind(r.phone_hash.as_deref())
        .bind(r.terms_version.as_deref())
        .bind(r.terms_accepted_at.map(|t| t.as_millis()))
        .bind(r.document_type.as_deref())
        .bind(r.mrz.as_deref())
        .bind(r.mrz_source.as_deref())
        .bind(r.checks.as_deref())
        .bind(r.provider.as_deref())
        .bind(r.provider_session.as_deref())
        .bind(r.decided_by.as_deref())
        .bind(r.reason.as_deref())
        .bind(r.given_names.as_deref())
        .bind(r.surname.as_deref())
        .bind(r.created_at.as_millis())
        .bind(r.updated_at.as_millis())
        .bind(r.decided_at.map(|t| t.as_millis()))
}

/// The UPDATE of every column but the id, the owner's secrets and the creation time,
/// where `guard` holds (its placeholders start at $17); bind with [`bind_update`].
fn update_sql(guard: &str) -> String {
    format!(
        "UPDATE verifications SET state = $2, terms_version = $3, terms_accepted_at = $4, document_type = $5,
           mrz = $6, mrz_source = $7, checks = $8, provider = $9, provider_session = $10, decided_by = $11,
           reason = $12, given_names = $13, surname = $14, updated_at = $15, decided_at = $16
         WHERE verification_id = $1 AND {guard}"
    )
}

fn bind_update<'q>(query: crate::AnyQuery<'q>, r: &'q VerificationRecord) -> crate::AnyQuery<'q> {
    query
        .bind(&r.verification_id)
        .bind(&r.state)
        .bind(r.terms_version.as_deref())
        .bind(r.terms_accepted_at.map(|t| t.as_millis()))
        .bind(r.document_type.as_deref())
        .bind(r.mrz.as_deref())
        .bind(r.mrz_source.as_deref())
        .bind(r.checks.as_deref())
        .bind(r.provider.as_deref())
        .bind(r.provider_session.as_deref())
        .bind(r.decided_by.as_deref())
        .bind(r.reason.as_deref())
        .bind(r.given_names.as_deref())
        .bind(r.surname.as_deref())
        .bind(r.updated_at.as_millis())
        .bind(r.decided_at.map(|t| t.as_millis()))
}
