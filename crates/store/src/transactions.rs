//! Transactions (`transactions`, the same for every front end) and the MSS request that
//! started one (`mss_requests`, keyed by the transaction id: AP_ID, AP_TransID, Instant and
//! what the AP's answer echoes).
//!
//! Every state change is a conditional UPDATE from pending, so the first answer wins and
//! a final state never changes, on any node.

use std::borrow::Cow;

use mobileid_core::{ContentKind, FailureReason, Method, Requester, SignContent, Timestamp, TxKind, TxState};
use sqlx::{Any, AnyConnection};

use crate::events::{ChangeEvent, CHANNEL, TRANSACTION_DONE};
use crate::group_commit::Written;
use crate::sql::{Columns, Conn, Sql};
use crate::{ts, ts_opt, Backend, Result, Store, StoreError};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransactionRecord {
    pub id: String,
    pub kind: TxKind,
    pub requester: Requester,
    /// Normalised: digits only.
    pub msisdn: String,
    pub device_id: Option<String>,
    pub method: Method,
    pub content: SignContent,
    pub language: String,
    /// The randomNonce of the CMS signed attributes (with the content it fixes what is signed).
    pub nonce: Vec<u8>,
    pub state: TxState,
    /// Set exactly when the state is failed.
    pub failure: Option<Failure>,
    /// The CMS SignedData (DER) once signed.
    pub signature: Option<Vec<u8>>,
    /// The code the user must pick on the device before approving (number matching).
    pub number_match: Option<String>,
    /// Where the device was when it answered, as it reported (JSON).
    pub location: Option<String>,
    pub created_at: Timestamp,
    pub expires_at: Timestamp,
    pub completed_at: Option<Timestamp>,
}

/// Why a transaction failed, and a text for the requester if the service chose one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub reason: FailureReason,
    pub detail: Option<String>,
}

impl Failure {
    pub fn new(reason: FailureReason, detail: Option<&str>) -> Failure {
        Failure { reason, detail: detail.map(str::to_string) }
    }
}

/// The MSS side of a transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MssRecord {
    pub transaction_id: String,
    pub ap_id: String,
    pub ap_trans_id: String,
    pub ap_instant: Timestamp,
    /// The MSISDN exactly as the AP wrote it, for echoing.
    pub msisdn_raw: String,
    /// The resolved signature profile URI.
    pub profile: String,
    /// Additional services asked for, as space-separated tokens.
    pub services: String,
    /// For a test number's simulated failure: the fault code it plays.
    pub fault_code: Option<u16>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InsertOutcome {
    Inserted,
    Duplicate,
}

/// The final state written by [`Store::complete_transaction`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Completion {
    Signed(Vec<u8>),
    Failed(Failure),
}

const TX_COLUMNS: &str = "t.id, t.kind, t.requester, t.msisdn, t.device_id, t.method, t.content_kind, t.content, \
     t.digest, t.language, t.nonce, t.state, t.failure_reason, t.failure_detail, t.signature, t.created_at, \
     t.expires_at, t.completed_at, t.number_match, t.location";
const TX_COLUMN_COUNT: usize = 20;
const MSS_COLUMNS: &str =
    "m.transaction_id, m.ap_id, m.ap_trans_id, m.ap_instant, m.msisdn_raw, m.profile, m.services, m.fault_code";

impl TransactionRecord {
    fn from_row(r: &impl Columns) -> Result<TransactionRecord> {
        let text = |i: usize| -> Result<String> { r.col::<String>(i) };
        let digest: Option<Vec<u8>> = r.col(8)?;
        let content = SignContent::from_db(ContentKind::from_db(&text(6)?)?, &text(7)?, digest.as_deref())?;
        let reason: Option<String> = r.col(12)?;
        let failure = match reason {
            Some(reason) => Some(Failure { reason: FailureReason::from_db(&reason)?, detail: r.col(13)? }),
            None => None,
        };
        Ok(TransactionRecord {
            id: text(0)?,
            kind: TxKind::from_db(&text(1)?)?,
            requester: Requester::from_db(&text(2)?)?,
            msisdn: text(3)?,
            device_id: r.col(4)?,
            method: Method::from_db(&text(5)?)?,
            content,
            language: text(9)?,
            nonce: r.col(10)?,
            state: TxState::from_db(&text(11)?)?,
            failure,
            signature: r.col(14)?,
            created_at: ts(r.col(15)?),
            expires_at: ts(r.col(16)?),
            completed_at: ts_opt(r.col(17)?),
            number_match: r.col(18)?,
            location: r.col(19)?,
        })
    }
}

impl MssRecord {
    fn from_row(r: &impl Columns, at: usize) -> Result<MssRecord> {
        let fault_code = match r.col::<Option<i64>>(at + 7)? {
            Some(code) => Some(u16::try_from(code).map_err(|_| {
                StoreError::Corrupt(mobileid_core::StoredValueError::new("fault code", code.to_string()))
            })?),
            None => None,
        };
        Ok(MssRecord {
            transaction_id: r.col(at)?,
            ap_id: r.col(at + 1)?,
            ap_trans_id: r.col(at + 2)?,
            ap_instant: ts(r.col(at + 3)?),
            msisdn_raw: r.col(at + 4)?,
            profile: r.col(at + 5)?,
            services: r.col(at + 6)?,
            fault_code,
        })
    }
}

/// The failure columns of a completion: (state, reason, detail, signature).
fn completion_columns(outcome: &Completion) -> (TxState, Option<&'static str>, Option<&str>, Option<&[u8]>) {
    match outcome {
        Completion::Signed(cms) => (TxState::Signed, None, None, Some(cms)),
        Completion::Failed(f) => (TxState::Failed, Some(f.reason.as_db()), f.detail.as_deref(), None),
    }
}

const INSERT_TRANSACTION: &str = "INSERT INTO transactions (id, kind, requester, msisdn, device_id, method, \
     content_kind, content, digest, language, nonce, state, failure_reason, failure_detail, signature, created_at, \
     expires_at, completed_at, number_match, location)";
const TRANSACTION_VALUES: &str =
    "$1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20";
const INSERT_MSS: &str =
    "INSERT INTO mss_requests (transaction_id, ap_id, ap_trans_id, ap_instant, msisdn_raw, profile, services, fault_code)";

/// Binds a transaction's 19 columns, in `INSERT_TRANSACTION`'s order.
fn bind_transaction<'q>(query: Sql<'q>, t: &'q TransactionRecord) -> Sql<'q> {
    let (content_kind, content, digest) = t.content.to_db();
    query
        .bind(&t.id)
        .bind(t.kind.as_db())
        .bind(t.requester.to_db())
        .bind(&t.msisdn)
        .bind(&t.device_id)
        .bind(t.method.as_db())
        .bind(content_kind.as_db())
        .bind(content)
        .bind(digest)
        .bind(&t.language)
        .bind(&t.nonce)
        .bind(t.state.as_db())
        .bind(t.failure.as_ref().map(|f| f.reason.as_db()))
        .bind(t.failure.as_ref().and_then(|f| f.detail.clone()))
        .bind(&t.signature)
        .bind(t.created_at.as_millis())
        .bind(t.expires_at.as_millis())
        .bind(t.completed_at.map(Timestamp::as_millis))
        .bind(&t.number_match)
        .bind(&t.location)
}

/// Binds an MSS request's 8 columns, in `INSERT_MSS`'s order.
fn bind_mss<'q>(query: Sql<'q>, mss: &'q MssRecord) -> Sql<'q> {
    query
        .bind(&mss.transaction_id)
        .bind(&mss.ap_id)
        .bind(&mss.ap_trans_id)
        .bind(mss.ap_instant.as_millis())
        .bind(&mss.msisdn_raw)
        .bind(&mss.profile)
        .bind(&mss.services)
        .bind(mss.fault_code.map(i64::from))
}

async fn insert_transaction(conn: &mut AnyConnection, t: &TransactionRecord) -> Result<()> {
    let sql = format!("{INSERT_TRANSACTION} VALUES ({TRANSACTION_VALUES})");
    bind_transaction(Sql::new(sql), t).query().execute(&mut *conn).await?;
    Ok(())
}

/// SQLite: a new MSS request, three statements as one write of the group commit's batch
/// (see `group_commit`), in place on the writer's connection; the three share one list of
/// values. The transaction
/// row goes in only if the (AP_ID, AP_TransID, Instant) is new, the MSS row only if the
/// transaction row went in (`changes()`), and, for a pending App request (`$33` = 1), the
/// user's other pending App requests fail as replaced only if it did. A duplicate writes
/// nothing. The inserts and the replacement say what they did in their returned rows.
/// SQLite's one writer runs writes one after the other (see `group_commit`), so nothing
/// can come between the insert and the replacement.
const SQLITE_INSERT_MSS_TRANSACTION: [&str; 3] = [
    "INSERT INTO transactions (id, kind, requester, msisdn, device_id, method, content_kind, content, digest, \
      language, nonce, state, failure_reason, failure_detail, signature, created_at, expires_at, completed_at, \
      number_match, location) \
    SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20 \
    WHERE NOT EXISTS (SELECT 1 FROM mss_requests WHERE ap_id = $22 AND ap_trans_id = $23 AND ap_instant = $24)",
    "INSERT INTO mss_requests (transaction_id, ap_id, ap_trans_id, ap_instant, msisdn_raw, profile, services, \
      fault_code) \
    SELECT $21, $22, $23, $24, $25, $26, $27, $28 WHERE changes() = 1 RETURNING transaction_id",
    "UPDATE transactions SET state = $29, failure_reason = $30, failure_detail = NULL, completed_at = $16 \
    WHERE $33 = 1 AND msisdn = $4 AND method = $31 AND state = $32 AND id <> $1 \
      AND EXISTS (SELECT 1 FROM mss_requests WHERE transaction_id = $1) \
    RETURNING id",
];

/// PostgreSQL: a new MSS request in one statement, in the database transaction that holds
/// the user's lock. The MSS row goes in unless (AP_ID, AP_TransID, Instant) was used
/// before, the transaction row only with it (the foreign key is checked at the end of the
/// statement), and a pending App request (`$33` = 1) fails the user's other pending App
/// requests. It tells the other nodes as [`replaced_and_told`] does; a duplicate writes
/// and tells nothing, and returns no row. The values are those of
/// `SQLITE_INSERT_MSS_TRANSACTION`, then the channel, the inbox event and the prefix.
fn postgres_insert_mss() -> String {
    format!(
        "WITH inserted_mss AS ({INSERT_MSS} VALUES ($21, $22, $23, $24, $25, $26, $27, $28) \
           ON CONFLICT (ap_id, ap_trans_id, ap_instant) DO NOTHING RETURNING transaction_id), \
         inserted AS ({INSERT_TRANSACTION} SELECT {TRANSACTION_VALUES} FROM inserted_mss RETURNING id), \
         replaced AS (UPDATE transactions SET state = $29, failure_reason = $30, failure_detail = NULL, \
           completed_at = $16 \
           WHERE $33 = 1 AND msisdn = $4 AND method = $31 AND state = $32 AND id <> $1 \
             AND EXISTS (SELECT 1 FROM inserted_mss) RETURNING id) {}",
        replaced_and_told(Some("inserted"), 34)
    )
}

/// PostgreSQL: how a statement that failed the requests of its CTE `replaced` ends, so
/// that it tells the other nodes itself: each replaced request as ended, and the device's
/// inbox (placeholder `first` + 1, NULL for none) once, if the CTE `inserted` has a row (if
/// given). PostgreSQL sends the notifications when the transaction commits, and only if it
/// does. The rows: each replaced ID, and a NULL ID for the inserted row. Placeholders from
/// `first` on: the channel, the inbox event, and `TRANSACTION_DONE`.
fn replaced_and_told(inserted: Option<&str>, first: usize) -> String {
    let (channel, inbox, done) = (first, first + 1, first + 2);
    let from = inserted.map(|cte| format!(" FROM {cte}")).unwrap_or_default();
    format!(
        "SELECT x.id, CASE WHEN x.told IS NOT NULL THEN CAST(pg_notify(${channel}, x.told) AS TEXT) END \
         FROM (SELECT CAST(NULL AS TEXT) AS id, CAST(${inbox} AS TEXT) AS told{from} \
               UNION ALL SELECT id, ${done} || id FROM replaced) x"
    )
}

/// The event that tells a device's inbox of a new request, if it waits for the device.
fn inbox_event(t: &TransactionRecord) -> Option<String> {
    let device = t.device_id.as_ref().filter(|_| t.state == TxState::Pending)?;
    Some(ChangeEvent::DeviceInbox(device.clone()).encode())
}

/// The IDs a statement ending in [`replaced_and_told`] returned.
fn replaced_ids(rows: &[crate::sql::Row]) -> Result<Vec<String>> {
    let ids = rows.iter().map(|r| r.col::<Option<String>>(0)).collect::<Result<Vec<_>>>()?;
    Ok(ids.into_iter().flatten().collect())
}

/// A new request being written: one database transaction in which the request is inserted
/// and, if it is a pending App request, the user's other pending App requests are failed
/// (replaced: one request at a time on a phone). Such a write first takes the user's
/// lock (an UPDATE of the user row: a row lock on PostgreSQL, the write lock on SQLite),
/// so the writes of one user's requests run one after the other and the last committed
/// request is the one left pending. Without it, two requests arriving together could each
/// fail the other. On PostgreSQL the commit also tells the other nodes of the request and
/// of those it replaced. Dropped without [`RequestWrite::commit`], nothing is written.
pub struct RequestWrite {
    // Declared first, so it is dropped (rolled back) before the writer lock is released.
    pub(crate) db: sqlx::Transaction<'static, Any>,
    _writer: Option<WriterTurn>,
    /// PostgreSQL: other nodes may wait for what this write changes.
    tells: bool,
}

/// A device's inbox as stored: see [`Store::device_inbox`].
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct DeviceInbox {
    /// Requests waiting for the device's answer, oldest first.
    pub pending: Vec<TransactionRecord>,
    /// Whether receipts wait to be taken ([`Store::take_receipts`]).
    pub receipts_waiting: bool,
}

/// The SQLite writer's turn, with its connection (opened at the first turn).
pub(crate) type WriterTurn = tokio::sync::OwnedMutexGuard<Option<rusqlite::Connection>>;

/// A pending App request replaces the user's other pending App requests.
fn replaces_others(t: &TransactionRecord) -> bool {
    t.state == TxState::Pending && t.method == Method::App
}

impl RequestWrite {
    /// Inserts a transaction that no service table refers to.
    pub async fn insert(&mut self, t: &TransactionRecord) -> Result<()> {
        insert_transaction(&mut self.db, t).await
    }

    /// Fails the requests `t` replaces (as of its creation time) and commits; returns
    /// their IDs. On PostgreSQL the same statement tells the other nodes of them and of
    /// the device's new request.
    pub async fn commit(mut self, t: &TransactionRecord) -> Result<Vec<String>> {
        let inbox = if self.tells { inbox_event(t) } else { None };
        let replaced = if replaces_others(t) || inbox.is_some() {
            let update = "UPDATE transactions SET state = $1, failure_reason = $2, failure_detail = NULL, \
                 completed_at = $3 WHERE $8 = 1 AND msisdn = $4 AND method = $5 AND state = $6 AND id <> $7";
            let text = if self.tells {
                format!("WITH replaced AS ({update} RETURNING id) {}", replaced_and_told(None, 9))
            } else {
                format!("{update} RETURNING id")
            };
            let mut sql = Sql::new(text)
                .bind(TxState::Failed.as_db())
                .bind(FailureReason::Replaced.as_db())
                .bind(t.created_at.as_millis())
                .bind(t.msisdn.as_str())
                .bind(Method::App.as_db())
                .bind(TxState::Pending.as_db())
                .bind(t.id.as_str())
                .bind(i64::from(replaces_others(t)));
            if self.tells {
                sql = sql.bind(CHANNEL).bind(inbox).bind(TRANSACTION_DONE);
            }
            replaced_ids(&Conn::Any(&mut self.db).fetch_all(&sql).await?)?
        } else {
            Vec::new()
        };
        self.db.commit().await?;
        Ok(replaced)
    }
}

impl Store {
    /// Starts writing the new request `t` (see [`RequestWrite`]). A pending App request
    /// waits here for the user's lock.
    pub async fn begin_request(&self, t: &TransactionRecord) -> Result<RequestWrite> {
        let writer = self.sqlite_writer().await;
        let mut db = self.pool.begin().await?;
        if replaces_others(t) {
            // A no-op write of a column no key or index uses: it takes the lock without
            // blocking inserts that only check the user exists (foreign keys).
            sqlx::query("UPDATE users SET state = state WHERE msisdn = $1").bind(&t.msisdn).execute(&mut *db).await?;
        }
        Ok(RequestWrite { db, _writer: writer, tells: self.backend == Backend::Postgres })
    }

    /// The writer's own connection, opened on its first turn.
    pub(crate) fn writer_connection<'t>(&self, turn: &'t mut WriterTurn) -> Result<&'t mut rusqlite::Connection> {
        if turn.is_none() {
            let direct = self.direct.as_ref().expect("SQLite has its connections in place");
            **turn = Some(direct.open()?);
        }
        Ok(turn.as_mut().expect("opened above"))
    }

    /// On SQLite, the turn of one request write (see `Store::sqlite_writer`).
    pub(crate) async fn sqlite_writer(&self) -> Option<WriterTurn> {
        match self.backend {
            Backend::Sqlite => Some(self.sqlite_writer.clone().lock_owned().await),
            Backend::Postgres => None,
        }
    }

    /// Inserts a transaction as it is, replacing nothing (new requests are written with
    /// [`Store::begin_request`]).
    pub async fn insert_transaction(&self, t: &TransactionRecord) -> Result<()> {
        let mut conn = self.pool.acquire().await?;
        insert_transaction(&mut conn, t).await
    }

    /// Inserts a new MSS request (transaction and MSS row) in one database transaction; a
    /// pending App request also fails the user's other pending App requests, whose IDs it
    /// returns. `Duplicate` (and nothing written) if (AP_ID, AP_TransID, Instant) was used
    /// before. On PostgreSQL the write tells the other nodes of the new request and of the
    /// ones it replaced, as [`RequestWrite::commit`] does.
    pub async fn insert_mss_request(
        &self,
        t: &TransactionRecord,
        mss: &MssRecord,
    ) -> Result<(InsertOutcome, Vec<String>)> {
        let values = |sql| {
            bind_mss(bind_transaction(sql, t), mss)
                .bind(TxState::Failed.as_db())
                .bind(FailureReason::Replaced.as_db())
                .bind(Method::App.as_db())
                .bind(TxState::Pending.as_db())
                .bind(i64::from(replaces_others(t)))
        };
        if self.backend() == Backend::Postgres {
            let sql = values(Sql::new(postgres_insert_mss())).bind(CHANNEL).bind(inbox_event(t)).bind(TRANSACTION_DONE);
            let rows = if replaces_others(t) {
                let mut write = self.begin_request(t).await?;
                let rows = Conn::Any(&mut write.db).fetch_all(&sql).await?;
                // A duplicate wrote nothing: committing it ends the lock as a rollback would.
                write.db.commit().await?;
                rows
            } else {
                let mut slot = self.slot().await?;
                let rows = Conn::Any(slot.connection()).fetch_all(&sql).await;
                slot.check(rows)?
            };
            if rows.is_empty() {
                return Ok((InsertOutcome::Duplicate, Vec::new()));
            }
            return Ok((InsertOutcome::Inserted, replaced_ids(&rows)?));
        }
        let values = values(Sql::new("")).into_owned().params;
        let statements = SQLITE_INSERT_MSS_TRANSACTION.map(Cow::Borrowed).to_vec();
        let written = self.queue_write(statements, values).await?;
        let [_, (inserted, _), (replaced, _)] = <[Written; 3]>::try_from(written)
            .map_err(|w| StoreError::GroupCommit(format!("{} answers for 3 statements", w.len())))?;
        let inserted = !inserted.is_empty();
        if !inserted {
            return Ok((InsertOutcome::Duplicate, Vec::new()));
        }
        let replaced = replaced.iter().map(|r| r.col(0)).collect::<Result<_>>()?;
        Ok((InsertOutcome::Inserted, replaced))
    }

    pub async fn find_transaction(&self, id: &str) -> Result<Option<TransactionRecord>> {
        let sql = format!("SELECT {TX_COLUMNS} FROM transactions t WHERE t.id = $1");
        let row = self.fetch_optional_on_slot(Sql::new(sql).bind(id)).await?;
        row.map(|r| TransactionRecord::from_row(&r)).transpose()
    }

    /// A transaction with its MSS request, in one read; None unless both exist.
    pub async fn find_mss_transaction(&self, id: &str) -> Result<Option<(TransactionRecord, MssRecord)>> {
        let sql = format!(
            "SELECT {TX_COLUMNS}, {MSS_COLUMNS} FROM transactions t JOIN mss_requests m ON m.transaction_id = t.id
             WHERE t.id = $1"
        );
        let row = self.fetch_optional_on_slot(Sql::new(sql).bind(id)).await?;
        row.map(|r| Ok((TransactionRecord::from_row(&r)?, MssRecord::from_row(&r, TX_COLUMN_COUNT)?))).transpose()
    }

    /// The user's latest requests, newest first.
    pub async fn recent_transactions(&self, msisdn: &str, limit: i64) -> Result<Vec<TransactionRecord>> {
        let rows = sqlx::query(&format!(
            "SELECT {TX_COLUMNS} FROM transactions t WHERE t.msisdn = $1 ORDER BY t.created_at DESC LIMIT $2"
        ))
        .bind(msisdn)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(TransactionRecord::from_row).collect()
    }

    /// What a device's inbox call reads, in one statement: the requests waiting for its
    /// answer that have not expired, oldest first, and whether receipts wait for it.
    pub async fn device_inbox(&self, device_id: &str, now: Timestamp) -> Result<DeviceInbox> {
        // One row at least (the left join's), so the receipts' flag comes even without a
        // pending request; then its transaction columns are NULL.
        let sql = format!(
            "SELECT {TX_COLUMNS},
               CAST(CASE WHEN EXISTS (SELECT 1 FROM receipts r WHERE r.device_id = $1 AND r.delivered_at IS NULL)
                 THEN 1 ELSE 0 END AS BIGINT)
             FROM (SELECT 1 AS one) AS o
             LEFT JOIN transactions t ON t.device_id = $1 AND t.state = $2 AND t.expires_at > $3
             ORDER BY t.created_at"
        );
        let query = Sql::new(sql).bind(device_id).bind(TxState::Pending.as_db()).bind(now.as_millis());
        let rows = self.fetch_all_on_slot(query).await?;
        let mut inbox = DeviceInbox::default();
        for row in &rows {
            inbox.receipts_waiting = row.col::<i64>(TX_COLUMN_COUNT)? == 1;
            if row.col::<Option<String>>(0)?.is_some() {
                inbox.pending.push(TransactionRecord::from_row(row)?);
            }
        }
        Ok(inbox)
    }

    /// Moves a pending transaction to its final state. False if it was no longer pending:
    /// the first answer wins, and a final state never changes. On PostgreSQL it also tells
    /// the other nodes that the transaction ended.
    pub async fn complete_transaction(&self, id: &str, outcome: &Completion, now: Timestamp) -> Result<bool> {
        let sql = completion(id, outcome, now);
        match self.backend() {
            Backend::Sqlite => Ok(self.queue_statement(sql).await?.1 == 1),
            Backend::Postgres => {
                // It tells the other nodes in the same statement, sent as it commits.
                let text = format!(
                    "WITH done AS ({} RETURNING id) SELECT CAST(pg_notify($8, $9) AS TEXT) FROM done",
                    sql.text
                );
                let sql = Sql { text: text.into(), params: sql.params }
                    .bind(CHANNEL)
                    .bind(ChangeEvent::TransactionDone(id.to_string()).encode());
                let mut slot = self.slot().await?;
                let result = Conn::Any(slot.connection()).fetch_all(&sql).await;
                Ok(slot.check(result)?.len() == 1)
            }
        }
    }

    /// Records where the device was when it answered (before the answer completes it).
    pub async fn set_transaction_location(&self, id: &str, location: &str) -> Result<()> {
        let sql = Sql::new("UPDATE transactions SET location = $1 WHERE id = $2 AND state = $3")
            .bind(location)
            .bind(id)
            .bind(TxState::Pending.as_db());
        self.execute_write(sql).await?;
        Ok(())
    }

    /// Fails the pending requests addressed to a device (it was blocked).
    pub async fn fail_pending_of_device(
        &self,
        device_id: &str,
        failure: &Failure,
        now: Timestamp,
    ) -> Result<Vec<String>> {
        let rows = sqlx::query(
            "UPDATE transactions SET state = $1, failure_reason = $2, failure_detail = $3, completed_at = $4
             WHERE device_id = $5 AND state = $6 RETURNING id",
        )
        .bind(TxState::Failed.as_db())
        .bind(failure.reason.as_db())
        .bind(&failure.detail)
        .bind(now.as_millis())
        .bind(device_id)
        .bind(TxState::Pending.as_db())
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(|r| r.col(0)).collect()
    }
}

/// The UPDATE that ends a pending transaction with `outcome`; it changes no row if the
/// transaction was not pending.
pub(crate) fn completion<'a>(id: &'a str, outcome: &'a Completion, now: Timestamp) -> Sql<'a> {
    let (state, reason, detail, signature) = completion_columns(outcome);
    Sql::new(
        "UPDATE transactions SET state = $1, failure_reason = $2, failure_detail = $3, signature = $4,
           completed_at = $5
         WHERE id = $6 AND state = $7",
    )
    .bind(state.as_db())
    .bind(reason)
    .bind(detail)
    .bind(signature)
    .bind(now.as_millis())
    .bind(id)
    .bind(TxState::Pending.as_db())
}
