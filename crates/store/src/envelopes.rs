//! The document-signing service's tables: senders, envelopes with their documents and
//! signers, the audit trail, and the outboxes of e-mails and webhooks.
//!
//! Every change of an envelope is one [`EnvelopeChange`]: guarded by the state and level
//! it was decided on, applied with its events, e-mails and webhooks in one database
//! transaction, or not at all. So two signers finishing together cannot both move the
//! envelope on, and nothing is told that did not happen.

use mobileid_core::{EnvelopeEvent, EnvelopeState, SignerState, Timestamp};
use sqlx::any::AnyRow;
use sqlx::Row;

use crate::documents::insert_document;
use crate::sql::{Columns, Sql};
use crate::{ts, ts_opt, DocumentRecord, Result, Store};

#[derive(Clone, PartialEq, Eq)]
pub struct SenderRecord {
    pub sender_id: String,
    pub name: String,
    /// Keyed hash of the API key, hex.
    pub api_key_hash: String,
    pub webhook_url: Option<String>,
    /// The webhook signing secret, sealed under the master key.
    pub webhook_secret: Option<Vec<u8>>,
    /// The OpenID client the sender may authenticate as, besides its API key.
    pub oidc_client_id: Option<String>,
    pub created_at: Timestamp,
}

impl std::fmt::Debug for SenderRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SenderRecord")
            .field("sender_id", &self.sender_id)
            .field("name", &self.name)
            .field("webhook_url", &self.webhook_url)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnvelopeRecord {
    pub envelope_id: String,
    pub sender_id: String,
    pub title: String,
    pub message: String,
    pub state: EnvelopeState,
    /// The level signing now; 0 while a draft.
    pub level: i64,
    pub expires_at: Timestamp,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignerRecord {
    pub signer_id: String,
    pub envelope_id: String,
    pub level: i64,
    pub position: i64,
    pub name: String,
    pub email: String,
    /// As the sender gave it (international form), if they did.
    pub msisdn: Option<String>,
    pub language: String,
    /// SHA-256 of the signer's link token, hex.
    pub link_hash: String,
    /// Where the stamp goes (JSON of the signing service).
    pub stamp: String,
    pub state: SignerState,
    pub decline_reason: Option<String>,
    /// The document signature running now.
    pub transaction_id: Option<String>,
    /// The number they sign with (normalised), once they entered it.
    pub signing_msisdn: Option<String>,
    pub signed_at: Option<Timestamp>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventRecord {
    pub envelope_id: String,
    pub at: Timestamp,
    pub event: EnvelopeEvent,
    pub signer_id: Option<String>,
    pub detail: Option<String>,
}

/// An e-mail to send about an envelope; `kind` names the template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MailRecord {
    pub mail_id: String,
    pub envelope_id: String,
    pub signer_id: Option<String>,
    pub recipient: String,
    pub kind: String,
    pub attempts: i64,
    /// When it is to be sent (a reminder waits).
    pub due_at: Timestamp,
    pub created_at: Timestamp,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookRecord {
    pub delivery_id: String,
    pub sender_id: String,
    pub envelope_id: String,
    pub event: EnvelopeEvent,
    pub payload: String,
    /// pending, delivered or failed.
    pub state: String,
    pub attempts: i64,
    pub next_attempt_at: Timestamp,
    pub last_status: Option<i64>,
    pub last_error: Option<String>,
    pub created_at: Timestamp,
}

/// One signer's move within an [`EnvelopeChange`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignerMove {
    pub signer_id: String,
    /// The move happens only from one of these.
    pub from: Vec<SignerState>,
    pub to: SignerState,
    pub decline_reason: Option<String>,
    pub signed_at: Option<Timestamp>,
}

/// A change of an envelope and what it tells (see the module's documentation).
#[derive(Debug, Clone)]
pub struct EnvelopeChange {
    pub envelope_id: String,
    /// Applies only while the envelope is in this state at this level.
    pub expect: Option<(EnvelopeState, i64)>,
    pub state: Option<EnvelopeState>,
    pub level: Option<i64>,
    pub signers: Vec<SignerMove>,
    pub events: Vec<EventRecord>,
    pub mails: Vec<MailRecord>,
    pub webhooks: Vec<WebhookRecord>,
    pub now: Timestamp,
}

impl EnvelopeChange {
    /// A change of nothing yet, at `now`.
    pub fn new(envelope_id: &str, now: Timestamp) -> EnvelopeChange {
        EnvelopeChange {
            envelope_id: envelope_id.to_string(),
            expect: None,
            state: None,
            level: None,
            signers: Vec::new(),
            events: Vec::new(),
            mails: Vec::new(),
            webhooks: Vec::new(),
            now,
        }
    }
}

const ENVELOPE_COLUMNS: &str =
    "envelope_id, sender_id, title, message, state, level, expires_at, created_at, updated_at";
const SIGNER_COLUMNS: &str = "signer_id, envelope_id, level, position, name, email, msisdn, language, link_hash, \
     stamp, state, decline_reason, transaction_id, signed_at, signing_msisdn";
const SENDER_COLUMNS: &str = "sender_id, name, api_key_hash, webhook_url, webhook_secret, created_at, oidc_client_id";
const WEBHOOK_COLUMNS: &str = "delivery_id, sender_id, envelope_id, event, payload, state, attempts, \
     next_attempt_at, last_status, last_error, created_at";

impl SenderRecord {
    fn from_row(r: &AnyRow) -> Result<SenderRecord> {
        Ok(SenderRecord {
            sender_id: r.try_get(0)?,
            name: r.try_get(1)?,
            api_key_hash: r.try_get(2)?,
            webhook_url: r.try_get(3)?,
            webhook_secret: r.try_get(4)?,
            created_at: ts(r.try_get(5)?),
            oidc_client_id: r.try_get(6)?,
        })
    }
}

impl EnvelopeRecord {
    fn from_row(r: &AnyRow) -> Result<EnvelopeRecord> {
        Ok(EnvelopeRecord {
            envelope_id: r.try_get(0)?,
            sender_id: r.try_get(1)?,
            title: r.try_get(2)?,
            message: r.try_get(3)?,
            state: EnvelopeState::from_db(&r.try_get::<String, _>(4)?)?,
            level: r.try_get(5)?,
            expires_at: ts(r.try_get(6)?),
            created_at: ts(r.try_get(7)?),
            updated_at: ts(r.try_get(8)?),
        })
    }
}

impl SignerRecord {
    fn from_row(r: &AnyRow) -> Result<SignerRecord> {
        Ok(SignerRecord {
            signer_id: r.try_get(0)?,
            envelope_id: r.try_get(1)?,
            level: r.try_get(2)?,
            position: r.try_get(3)?,
            name: r.try_get(4)?,
            email: r.try_get(5)?,
            msisdn: r.try_get(6)?,
            language: r.try_get(7)?,
            link_hash: r.try_get(8)?,
            stamp: r.try_get(9)?,
            state: SignerState::from_db(&r.try_get::<String, _>(10)?)?,
            decline_reason: r.try_get(11)?,
            transaction_id: r.try_get(12)?,
            signed_at: ts_opt(r.try_get(13)?),
            signing_msisdn: r.try_get(14)?,
        })
    }
}

impl WebhookRecord {
    fn from_row(r: &impl Columns) -> Result<WebhookRecord> {
        Ok(WebhookRecord {
            delivery_id: r.col(0)?,
            sender_id: r.col(1)?,
            envelope_id: r.col(2)?,
            event: EnvelopeEvent::from_db(&r.col::<String>(3)?)?,
            payload: r.col(4)?,
            state: r.col(5)?,
            attempts: r.col(6)?,
            next_attempt_at: ts(r.col(7)?),
            last_status: r.col(8)?,
            last_error: r.col(9)?,
            created_at: ts(r.col(10)?),
        })
    }
}

type Db<'c> = sqlx::Transaction<'c, sqlx::Any>;

impl Store {
    pub async fn insert_sender(&self, s: &SenderRecord) -> Result<()> {
        sqlx::query(&format!("INSERT INTO senders ({SENDER_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7)"))
            .bind(&s.sender_id)
            .bind(&s.name)
            .bind(&s.api_key_hash)
            .bind(s.webhook_url.as_deref())
            .bind(s.webhook_secret.as_deref())
            .bind(s.created_at.as_millis())
            .bind(s.oidc_client_id.as_deref())
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    pub async fn find_sender(&self, sender_id: &str) -> Result<Option<SenderRecord>> {
        let sql = format!("SELECT {SENDER_COLUMNS} FROM senders WHERE sender_id = $1");
        let row = sqlx::query(&sql).bind(sender_id).fetch_optional(&self.pool).await?;
        row.as_ref().map(SenderRecord::from_row).transpose()
    }

    pub async fn find_sender_by_key(&self, api_key_hash: &str) -> Result<Option<SenderRecord>> {
        let sql = format!("SELECT {SENDER_COLUMNS} FROM senders WHERE api_key_hash = $1");
        let row = sqlx::query(&sql).bind(api_key_hash).fetch_optional(&self.pool).await?;
        row.as_ref().map(SenderRecord::from_row).transpose()
    }

    /// The sender that may authenticate as OpenID client `client_id`.
    pub async fn find_sender_by_oidc_client(&self, client_id: &str) -> Result<Option<SenderRecord>> {
        let sql = format!("SELECT {SENDER_COLUMNS} FROM senders WHERE oidc_client_id = $1");
        let row = sqlx::query(&sql).bind(client_id).fetch_optional(&self.pool).await?;
        row.as_ref().map(SenderRecord::from_row).transpose()
    }

    pub async fn list_senders(&self) -> Result<Vec<SenderRecord>> {
        let sql = format!("SELECT {SENDER_COLUMNS} FROM senders ORDER BY sender_id");
        let rows = sqlx::query(&sql).fetch_all(&self.pool).await?;
        rows.iter().map(SenderRecord::from_row).collect()
    }

    pub async fn delete_sender(&self, sender_id: &str) -> Result<bool> {
        let done = sqlx::query("DELETE FROM senders WHERE sender_id = $1").bind(sender_id).execute(&self.pool).await?;
        Ok(done.rows_affected() == 1)
    }

    /// A new envelope with its documents (in order, with their bytes) and signers, and
    /// what its creation tells, all at once.
    pub async fn insert_envelope(
        &self,
        envelope: &EnvelopeRecord,
        documents: &[(DocumentRecord, Vec<u8>)],
        signers: &[SignerRecord],
        change: &EnvelopeChange,
    ) -> Result<()> {
        let mut db = self.pool.begin().await?;
        sqlx::query(&format!("INSERT INTO envelopes ({ENVELOPE_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"))
            .bind(&envelope.envelope_id)
            .bind(&envelope.sender_id)
            .bind(&envelope.title)
            .bind(&envelope.message)
            .bind(envelope.state.as_db())
            .bind(envelope.level)
            .bind(envelope.expires_at.as_millis())
            .bind(envelope.created_at.as_millis())
            .bind(envelope.updated_at.as_millis())
            .execute(&mut *db)
            .await?;
        for (position, (document, content)) in documents.iter().enumerate() {
            insert_document(&mut db, document, content).await?;
            sqlx::query("INSERT INTO envelope_documents (envelope_id, position, document_id) VALUES ($1, $2, $3)")
                .bind(&envelope.envelope_id)
                .bind(position as i64)
                .bind(&document.document_id)
                .execute(&mut *db)
                .await?;
        }
        for s in signers {
            sqlx::query(&format!(
                "INSERT INTO envelope_signers ({SIGNER_COLUMNS})
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)"
            ))
            .bind(&s.signer_id)
            .bind(&s.envelope_id)
            .bind(s.level)
            .bind(s.position)
            .bind(&s.name)
            .bind(&s.email)
            .bind(s.msisdn.as_deref())
            .bind(&s.language)
            .bind(&s.link_hash)
            .bind(&s.stamp)
            .bind(s.state.as_db())
            .bind(s.decline_reason.as_deref())
            .bind(s.transaction_id.as_deref())
            .bind(s.signed_at.map(|t| t.as_millis()))
            .bind(s.signing_msisdn.as_deref())
            .execute(&mut *db)
            .await?;
        }
        write_tellings(&mut db, change).await?;
        db.commit().await?;
        Ok(())
    }

    pub async fn find_envelope(&self, envelope_id: &str) -> Result<Option<EnvelopeRecord>> {
        let sql = format!("SELECT {ENVELOPE_COLUMNS} FROM envelopes WHERE envelope_id = $1");
        let row = sqlx::query(&sql).bind(envelope_id).fetch_optional(&self.pool).await?;
        row.as_ref().map(EnvelopeRecord::from_row).transpose()
    }

    /// The envelope's document ids, in order.
    pub async fn envelope_documents(&self, envelope_id: &str) -> Result<Vec<String>> {
        let rows = sqlx::query("SELECT document_id FROM envelope_documents WHERE envelope_id = $1 ORDER BY position")
            .bind(envelope_id)
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(|r| Ok(r.try_get(0)?)).collect()
    }

    /// The envelope's signers by level, then position.
    pub async fn envelope_signers(&self, envelope_id: &str) -> Result<Vec<SignerRecord>> {
        let sql =
            format!("SELECT {SIGNER_COLUMNS} FROM envelope_signers WHERE envelope_id = $1 ORDER BY level, position");
        let rows = sqlx::query(&sql).bind(envelope_id).fetch_all(&self.pool).await?;
        rows.iter().map(SignerRecord::from_row).collect()
    }

    pub async fn find_signer_by_link(&self, link_hash: &str) -> Result<Option<SignerRecord>> {
        let sql = format!("SELECT {SIGNER_COLUMNS} FROM envelope_signers WHERE link_hash = $1");
        let row = sqlx::query(&sql).bind(link_hash).fetch_optional(&self.pool).await?;
        row.as_ref().map(SignerRecord::from_row).transpose()
    }

    pub async fn find_signer(&self, signer_id: &str) -> Result<Option<SignerRecord>> {
        let sql = format!("SELECT {SIGNER_COLUMNS} FROM envelope_signers WHERE signer_id = $1");
        let row = sqlx::query(&sql).bind(signer_id).fetch_optional(&self.pool).await?;
        row.as_ref().map(SignerRecord::from_row).transpose()
    }

    /// The signer whose document signature is `transaction_id`.
    pub async fn find_signer_by_transaction(&self, transaction_id: &str) -> Result<Option<SignerRecord>> {
        let sql = format!("SELECT {SIGNER_COLUMNS} FROM envelope_signers WHERE transaction_id = $1");
        let row = sqlx::query(&sql).bind(transaction_id).fetch_optional(&self.pool).await?;
        row.as_ref().map(SignerRecord::from_row).transpose()
    }

    /// Records the number the signer signs with.
    pub async fn set_signer_msisdn(&self, signer_id: &str, msisdn: &str) -> Result<()> {
        sqlx::query("UPDATE envelope_signers SET signing_msisdn = $1 WHERE signer_id = $2")
            .bind(msisdn)
            .bind(signer_id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Records the signer's running document signature.
    pub async fn set_signer_transaction(&self, signer_id: &str, transaction_id: &str) -> Result<()> {
        sqlx::query("UPDATE envelope_signers SET transaction_id = $1 WHERE signer_id = $2")
            .bind(transaction_id)
            .bind(signer_id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Applies a change (see [`EnvelopeChange`]): false, and nothing written, when a
    /// guard no longer holds.
    pub async fn apply_envelope_change(&self, change: &EnvelopeChange) -> Result<bool> {
        let mut db = self.pool.begin().await?;
        let done = sqlx::query(
            "UPDATE envelopes SET state = COALESCE($1, state), level = COALESCE($2, level), updated_at = $3
             WHERE envelope_id = $4 AND ($5 IS NULL OR (state = $5 AND level = $6))",
        )
        .bind(change.state.map(|s| s.as_db()))
        .bind(change.level)
        .bind(change.now.as_millis())
        .bind(&change.envelope_id)
        .bind(change.expect.map(|(s, _)| s.as_db()))
        .bind(change.expect.map_or(0, |(_, l)| l))
        .execute(&mut *db)
        .await?;
        if done.rows_affected() != 1 {
            return Ok(false);
        }
        for m in &change.signers {
            let from: Vec<String> = m.from.iter().map(|s| format!("'{}'", s.as_db())).collect();
            // The states are our own constants, never input.
            let sql = format!(
                "UPDATE envelope_signers SET state = $1, decline_reason = COALESCE($2, decline_reason),
                   signed_at = COALESCE($3, signed_at)
                 WHERE signer_id = $4 AND envelope_id = $5 AND state IN ({})",
                from.join(", ")
            );
            let moved = sqlx::query(&sql)
                .bind(m.to.as_db())
                .bind(m.decline_reason.as_deref())
                .bind(m.signed_at.map(|t| t.as_millis()))
                .bind(&m.signer_id)
                .bind(&change.envelope_id)
                .execute(&mut *db)
                .await?;
            if moved.rows_affected() != 1 {
                return Ok(false);
            }
        }
        write_tellings(&mut db, change).await?;
        db.commit().await?;
        Ok(true)
    }

    /// The audit trail, oldest first.
    pub async fn envelope_events(&self, envelope_id: &str) -> Result<Vec<EventRecord>> {
        let rows = sqlx::query(
            "SELECT envelope_id, at, event, signer_id, detail FROM envelope_events WHERE envelope_id = $1 ORDER BY at",
        )
        .bind(envelope_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(EventRecord {
                    envelope_id: r.try_get(0)?,
                    at: ts(r.try_get(1)?),
                    event: EnvelopeEvent::from_db(&r.try_get::<String, _>(2)?)?,
                    signer_id: r.try_get(3)?,
                    detail: r.try_get(4)?,
                })
            })
            .collect()
    }

    /// Claims up to `limit` e-mails due at `now`: each is pushed back by `retry_after`,
    /// so another node (or a crash) leaves it for a later try, not a lost one.
    /// Like every poll of an outbox, on the writer's connection (see `Store::fetch_write`):
    /// polled every two seconds, the pool's connections would take turns with it, and none
    /// would ever be idle long enough to close.
    pub async fn claim_envelope_mails(&self, now: Timestamp, retry_after: i64, limit: i64) -> Result<Vec<MailRecord>> {
        let query = Sql::new(
            "UPDATE envelope_mails SET attempts = attempts + 1, next_attempt_at = $1
             WHERE mail_id IN (SELECT mail_id FROM envelope_mails WHERE state = 'pending' AND next_attempt_at <= $2
                               ORDER BY next_attempt_at LIMIT $3)
               AND state = 'pending' AND next_attempt_at <= $2
             RETURNING mail_id, envelope_id, signer_id, recipient, kind, attempts, next_attempt_at, created_at",
        )
        .bind(now.as_millis() + retry_after)
        .bind(now.as_millis())
        .bind(limit);
        let rows = self.fetch_write(query).await?;
        rows.iter()
            .map(|r| {
                Ok(MailRecord {
                    mail_id: r.col(0)?,
                    envelope_id: r.col(1)?,
                    signer_id: r.col(2)?,
                    recipient: r.col(3)?,
                    kind: r.col(4)?,
                    attempts: r.col(5)?,
                    due_at: ts(r.col(6)?),
                    created_at: ts(r.col(7)?),
                })
            })
            .collect()
    }

    /// A claimed e-mail was sent (`sent`) or given up.
    pub async fn finish_envelope_mail(&self, mail_id: &str, sent: bool) -> Result<()> {
        sqlx::query("UPDATE envelope_mails SET state = $1 WHERE mail_id = $2")
            .bind(if sent { "sent" } else { "failed" })
            .bind(mail_id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Claims up to `limit` webhook deliveries due at `now`, as e-mails are claimed.
    pub async fn claim_webhooks(&self, now: Timestamp, retry_after: i64, limit: i64) -> Result<Vec<WebhookRecord>> {
        let sql = format!(
            "UPDATE webhook_deliveries SET attempts = attempts + 1, next_attempt_at = $1
             WHERE delivery_id IN (SELECT delivery_id FROM webhook_deliveries
                                   WHERE state = 'pending' AND next_attempt_at <= $2
                                   ORDER BY next_attempt_at LIMIT $3)
               AND state = 'pending' AND next_attempt_at <= $2
             RETURNING {WEBHOOK_COLUMNS}"
        );
        let query = Sql::new(sql).bind(now.as_millis() + retry_after).bind(now.as_millis()).bind(limit);
        let rows = self.fetch_write(query).await?;
        rows.iter().map(WebhookRecord::from_row).collect()
    }

    /// The outcome of one delivery attempt: `state` delivered, failed (given up) or
    /// pending with the next attempt at `next_attempt_at`.
    pub async fn record_webhook_attempt(
        &self,
        delivery_id: &str,
        state: &str,
        next_attempt_at: Timestamp,
        status: Option<i64>,
        error: Option<&str>,
    ) -> Result<()> {
        sqlx::query(
            "UPDATE webhook_deliveries SET state = $1, next_attempt_at = $2, last_status = $3, last_error = $4
             WHERE delivery_id = $5",
        )
        .bind(state)
        .bind(next_attempt_at.as_millis())
        .bind(status)
        .bind(error)
        .bind(delivery_id)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// An envelope's webhook deliveries, oldest first.
    pub async fn envelope_webhooks(&self, envelope_id: &str) -> Result<Vec<WebhookRecord>> {
        let sql =
            format!("SELECT {WEBHOOK_COLUMNS} FROM webhook_deliveries WHERE envelope_id = $1 ORDER BY created_at");
        let rows = sqlx::query(&sql).bind(envelope_id).fetch_all(&self.pool).await?;
        rows.iter().map(WebhookRecord::from_row).collect()
    }
}

/// The events, e-mails and webhooks of a change, in its database transaction.
async fn write_tellings(db: &mut Db<'_>, change: &EnvelopeChange) -> Result<()> {
    for e in &change.events {
        sqlx::query(
            "INSERT INTO envelope_events (envelope_id, at, event, signer_id, detail) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(&e.envelope_id)
        .bind(e.at.as_millis())
        .bind(e.event.as_db())
        .bind(e.signer_id.as_deref())
        .bind(e.detail.as_deref())
        .execute(&mut **db)
        .await?;
    }
    for m in &change.mails {
        sqlx::query(
            "INSERT INTO envelope_mails (mail_id, envelope_id, signer_id, recipient, kind, state, attempts,
               next_attempt_at, created_at)
             VALUES ($1, $2, $3, $4, $5, 'pending', 0, $6, $7)",
        )
        .bind(&m.mail_id)
        .bind(&m.envelope_id)
        .bind(m.signer_id.as_deref())
        .bind(&m.recipient)
        .bind(&m.kind)
        .bind(m.due_at.as_millis())
        .bind(m.created_at.as_millis())
        .execute(&mut **db)
        .await?;
    }
    for w in &change.webhooks {
        sqlx::query(&format!(
            "INSERT INTO webhook_deliveries ({WEBHOOK_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"
        ))
        .bind(&w.delivery_id)
        .bind(&w.sender_id)
        .bind(&w.envelope_id)
        .bind(w.event.as_db())
        .bind(&w.payload)
        .bind(&w.state)
        .bind(w.attempts)
        .bind(w.next_attempt_at.as_millis())
        .bind(w.last_status)
        .bind(w.last_error.as_deref())
        .bind(w.created_at.as_millis())
        .execute(&mut **db)
        .await?;
    }
    Ok(())
}
