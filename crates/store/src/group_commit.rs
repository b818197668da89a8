//! Group commit for the small writes that every request makes: the OpenID provider's
//! objects (every PAR, code, refresh and login step writes one object, consumes one or
//! moves a grant on) and the device API's request nonces (every phone call records one).
//! Each alone would be a statement and a commit of its own and, on SQLite, a turn of the
//! one writer. Instead, the writes wait in a queue, and one task writes whatever has
//! gathered with one statement for all consumptions, one for all rotations, one for all
//! inserts and one for all nonces, each atomic on its own. Under load a batch holds as
//! many writes as arrived during the previous one; alone, a write is a batch of one.
//!
//! On SQLite the queue also takes the request writes (new requests, completions, receipts):
//! SQLite lets one writer in at a time, and handing its lock from one request's task to
//! the next left it idle while the next task waited for its turn on a busy worker. Here
//! one task writes a whole batch in one database transaction, each request write in a
//! savepoint of its own, and answers after the COMMIT.
//!
//! Each write still gets its own answer, with the same guarantees as alone: an object is
//! consumed at most once (of two consumptions of one object, in one batch or not, one is
//! `Fresh`), a grant moves on from a generation at most once, an insert of a taken
//! (kind, id) changes nothing and says so, a nonce is fresh once per device, and a request
//! write that fails leaves nothing behind and does not fail the others.

use std::borrow::Cow;

use mobileid_core::Timestamp;
use tokio::sync::{mpsc, oneshot};

use crate::direct::{self, breaks_connection};
use crate::oidc::{Consumed, OidcObject, Rotation, OBJECT_COLUMNS};
use crate::sql::{Columns, Conn, DirectRow, Row, Sql, Value};
use crate::{Result, Store, StoreError};

/// What one statement of a request write returned, and how many rows it changed.
pub(crate) type Written = (Vec<DirectRow>, u64);

/// Writes in one transaction at most: 7 parameters each stays far below either
/// database's limit.
const MAX_BATCH: usize = 256;
/// Writes waiting at most; more wait for room, so a flood cannot grow memory.
const QUEUE: usize = 4096;

/// A write and where its answer goes.
enum Job {
    /// Inserts the object unless one of its kind and id exists.
    Insert { object: OidcObject, answer: oneshot::Sender<Result<bool, String>> },
    /// Marks an unused, unexpired object used.
    Consume { kind: String, id: String, now: Timestamp, answer: oneshot::Sender<Result<Consumed, String>> },
    /// Moves an unexpired grant from `generation` to the next.
    Rotate { grant_id: String, generation: i64, now: Timestamp, answer: oneshot::Sender<Result<Rotation, String>> },
    /// Records a device request's nonce; false if the device used it before.
    Nonce { device_id: String, nonce: String, seen_at: Timestamp, answer: oneshot::Sender<Result<bool, String>> },
    /// SQLite: a request write, its statements in order, each with the shared values; all
    /// of them or none.
    Write {
        statements: Vec<Cow<'static, str>>,
        params: Vec<Value<'static>>,
        answer: oneshot::Sender<Result<Vec<Written>>>,
    },
}

/// A batch's answers, in the order of its inserts, consumptions and rotations.
struct Answers {
    inserted: std::vec::IntoIter<bool>,
    consumed: std::vec::IntoIter<Consumed>,
    rotated: std::vec::IntoIter<Rotation>,
    nonces: std::vec::IntoIter<bool>,
    writes: std::vec::IntoIter<Result<Vec<Written>>>,
}

/// The queue's sending end; the task ends when the last store handle is dropped.
#[derive(Clone)]
pub(crate) struct GroupCommit {
    queue: mpsc::Sender<Job>,
}

impl GroupCommit {
    /// Starts the writing task for `store`, which must not hold this writer (the task
    /// would keep its own queue open).
    pub(crate) fn start(store: Store) -> GroupCommit {
        let (queue, jobs) = mpsc::channel(QUEUE);
        tokio::spawn(write_batches(store, jobs));
        GroupCommit { queue }
    }
}

impl Store {
    pub(crate) async fn queue_oidc_insert(&self, object: &OidcObject) -> Result<bool> {
        let (answer, answered) = oneshot::channel();
        self.queue_job(Job::Insert { object: object.clone(), answer }).await?;
        answered.await.map_err(|_| closed())?.map_err(StoreError::GroupCommit)
    }

    pub(crate) async fn queue_oidc_rotate(&self, grant_id: &str, generation: i64, now: Timestamp) -> Result<Rotation> {
        let (answer, answered) = oneshot::channel();
        self.queue_job(Job::Rotate { grant_id: grant_id.to_string(), generation, now, answer }).await?;
        answered.await.map_err(|_| closed())?.map_err(StoreError::GroupCommit)
    }

    pub(crate) async fn queue_oidc_consume(&self, kind: &str, id: &str, now: Timestamp) -> Result<Consumed> {
        let (answer, answered) = oneshot::channel();
        self.queue_job(Job::Consume { kind: kind.to_string(), id: id.to_string(), now, answer }).await?;
        answered.await.map_err(|_| closed())?.map_err(StoreError::GroupCommit)
    }

    pub(crate) async fn queue_nonce(&self, device_id: &str, nonce: &str, seen_at: Timestamp) -> Result<bool> {
        let (answer, answered) = oneshot::channel();
        let job = Job::Nonce { device_id: device_id.to_string(), nonce: nonce.to_string(), seen_at, answer };
        self.queue_job(job).await?;
        answered.await.map_err(|_| closed())?.map_err(StoreError::GroupCommit)
    }

    /// SQLite: runs `statements`, each with `params`, in place on the writer's connection
    /// as one write of the next batch; what each returned and changed.
    pub(crate) async fn queue_write(
        &self,
        statements: Vec<Cow<'static, str>>,
        params: Vec<Value<'static>>,
    ) -> Result<Vec<Written>> {
        let (answer, answered) = oneshot::channel();
        self.queue_job(Job::Write { statements, params, answer }).await?;
        answered.await.map_err(|_| closed())?
    }

    /// SQLite: one statement as a write of the next batch, as [`Store::queue_write`].
    pub(crate) async fn queue_statement(&self, sql: Sql<'_>) -> Result<Written> {
        let Sql { text, params } = sql.into_owned();
        let mut written = self.queue_write(vec![text], params).await?;
        written.pop().ok_or_else(|| StoreError::GroupCommit("no answer".into()))
    }

    async fn queue_job(&self, job: Job) -> Result<()> {
        let writer = self.group_commit.as_ref().ok_or_else(closed)?;
        writer.queue.send(job).await.map_err(|_| closed())
    }
}

fn closed() -> StoreError {
    StoreError::GroupCommit("the store is closing".into())
}

async fn write_batches(store: Store, mut jobs: mpsc::Receiver<Job>) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while jobs.recv_many(&mut batch, MAX_BATCH).await > 0 {
        // Let the requests that are ready to run queue their writes too: one more turn
        // of the scheduler costs nothing when there are none, and under load it makes
        // the batch larger and the commits fewer.
        tokio::task::yield_now().await;
        while batch.len() < MAX_BATCH {
            match jobs.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        match write_batch(&store, &batch).await {
            Ok(mut answers) => {
                for job in batch.drain(..) {
                    match job {
                        Job::Insert { answer, .. } => {
                            let _ = answer.send(answers.inserted.next().ok_or_else(|| "no answer".to_string()));
                        }
                        Job::Consume { answer, .. } => {
                            let _ = answer.send(answers.consumed.next().ok_or_else(|| "no answer".to_string()));
                        }
                        Job::Rotate { answer, .. } => {
                            let _ = answer.send(answers.rotated.next().ok_or_else(|| "no answer".to_string()));
                        }
                        Job::Nonce { answer, .. } => {
                            let _ = answer.send(answers.nonces.next().ok_or_else(|| "no answer".to_string()));
                        }
                        Job::Write { answer, .. } => {
                            let written = answers.writes.next();
                            let _ = answer
                                .send(written.unwrap_or_else(|| Err(StoreError::GroupCommit("no answer".into()))));
                        }
                    }
                }
            }
            Err(e) => {
                let message = e.to_string();
                for job in batch.drain(..) {
                    match job {
                        Job::Insert { answer, .. } => drop(answer.send(Err(message.clone()))),
                        Job::Consume { answer, .. } => drop(answer.send(Err(message.clone()))),
                        Job::Rotate { answer, .. } => drop(answer.send(Err(message.clone()))),
                        Job::Nonce { answer, .. } => drop(answer.send(Err(message.clone()))),
                        Job::Write { answer, .. } => drop(answer.send(Err(StoreError::GroupCommit(message.clone())))),
                    }
                }
            }
        }
    }
}

/// On SQLite in place on the writer's connection, in its turn, in one transaction.
async fn write_batch(store: &Store, jobs: &[Job]) -> Result<Answers> {
    match store.sqlite_writer().await {
        Some(mut turn) => {
            let answers = in_one_transaction(store.writer_connection(&mut turn)?, jobs).await;
            if matches!(&answers, Err(StoreError::Sqlite(e)) if breaks_connection(e)) {
                *turn = None;
            }
            answers
        }
        None => {
            let mut slot = store.slot().await?;
            let answers = write_statements(&mut Conn::Any(slot.connection()), jobs).await;
            slot.check(answers)
        }
    }
}

/// SQLite: the request writes, each in a savepoint, then the batched statements, and one
/// COMMIT for all. The lock is taken first (`BEGIN IMMEDIATE`), so nothing in between
/// finds the database busy; a busy `BEGIN` (a write through sqlx's pool) is tried again.
async fn in_one_transaction(conn: &mut rusqlite::Connection, jobs: &[Job]) -> Result<Answers> {
    let begin = &mut *conn;
    direct::retry_busy(move || direct::run_text(begin, "BEGIN IMMEDIATE", &[])).await?;
    let answers = async {
        let writes = request_writes(conn, jobs)?;
        let mut answers = write_statements(&mut Conn::Direct(conn), jobs).await?;
        answers.writes = writes.into_iter();
        direct::run_text(conn, "COMMIT", &[])?;
        Ok(answers)
    }
    .await;
    if answers.is_err() && !conn.is_autocommit() {
        direct::run_text(conn, "ROLLBACK", &[])?;
    }
    answers
}

/// Each request write of the batch in a savepoint: one whose statement fails is undone
/// alone and answered with its error, unless the error leaves the connection in doubt.
fn request_writes(conn: &rusqlite::Connection, jobs: &[Job]) -> Result<Vec<Result<Vec<Written>>>> {
    let mut results = Vec::new();
    for job in jobs {
        let Job::Write { statements, params, .. } = job else { continue };
        direct::run_text(conn, "SAVEPOINT request_write", &[])?;
        let written: Result<Vec<Written>> =
            statements.iter().map(|text| direct::run_text(conn, text, params)).collect();
        match written {
            Err(StoreError::Sqlite(e)) if breaks_connection(&e) => return Err(StoreError::Sqlite(e)),
            Err(e) => {
                direct::run_text(conn, "ROLLBACK TO request_write", &[])?;
                results.push(Err(e));
            }
            Ok(written) => results.push(Ok(written)),
        }
        direct::run_text(conn, "RELEASE request_write", &[])?;
    }
    Ok(results)
}

/// At most four statements: nothing in a batch depends on another write of it, and one
/// round trip per statement is the point. Each is its own transaction on PostgreSQL,
/// part of the batch's on SQLite.
async fn write_statements(conn: &mut Conn<'_>, jobs: &[Job]) -> Result<Answers> {
    let (mut consumes, mut rotations, mut inserts, mut nonces) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for job in jobs {
        match job {
            Job::Consume { kind, id, now, .. } => consumes.push((kind.as_str(), id.as_str(), *now)),
            Job::Rotate { grant_id, generation, now, .. } => rotations.push((grant_id.as_str(), *generation, *now)),
            Job::Insert { object, .. } => inserts.push(object),
            Job::Nonce { device_id, nonce, seen_at, .. } => nonces.push((device_id.as_str(), nonce.as_str(), *seen_at)),
            Job::Write { .. } => {}
        }
    }
    let mut consumed = Vec::with_capacity(consumes.len());
    if !consumes.is_empty() {
        let rows = consume_all(conn, &consumes).await?;
        let mut fresh: Vec<OidcObject> = rows.iter().map(OidcObject::from_row).collect::<Result<_>>()?;
        for &(kind, id, _) in &consumes {
            // The first of the batch to ask for an object gets it; any other finds it used.
            consumed.push(match fresh.iter().position(|o| o.kind == kind && o.id == id) {
                Some(at) => Consumed::Fresh(fresh.swap_remove(at)),
                None => seen(conn, kind, id).await?,
            });
        }
    }

    let mut rotated = Vec::with_capacity(rotations.len());
    if !rotations.is_empty() {
        let rows = rotate_all(conn, &rotations).await?;
        let mut moved: Vec<OidcObject> = rows.iter().map(OidcObject::from_row).collect::<Result<_>>()?;
        for &(grant_id, _, now) in &rotations {
            // Of two asking to move one grant on from one generation, the first does.
            rotated.push(match moved.iter().position(|o| o.id == grant_id) {
                Some(at) => Rotation::Rotated(moved.swap_remove(at)),
                None if grant_lives(conn, grant_id, now).await? => Rotation::Stale,
                None => Rotation::Unknown,
            });
        }
    }

    let mut inserted = Vec::with_capacity(inserts.len());
    if !inserts.is_empty() {
        let mut new_keys = insert_all(conn, &inserts).await?;
        for &object in &inserts {
            let at = new_keys.iter().position(|(kind, id)| kind == &object.kind && id == &object.id);
            inserted.push(at.map(|at| new_keys.swap_remove(at)).is_some());
        }
    }
    let mut fresh_nonces = Vec::with_capacity(nonces.len());
    if !nonces.is_empty() {
        let mut new_keys = insert_nonces(conn, &nonces).await?;
        for &(device_id, nonce, _) in &nonces {
            // Of two with one nonce in a batch, the first is fresh and the other a replay.
            let at = new_keys.iter().position(|(d, n)| d == device_id && n == nonce);
            fresh_nonces.push(at.map(|at| new_keys.swap_remove(at)).is_some());
        }
    }
    Ok(Answers {
        inserted: inserted.into_iter(),
        consumed: consumed.into_iter(),
        rotated: rotated.into_iter(),
        nonces: fresh_nonces.into_iter(),
        writes: Vec::new().into_iter(),
    })
}

async fn insert_nonces(conn: &mut Conn<'_>, nonces: &[(&str, &str, Timestamp)]) -> Result<Vec<(String, String)>> {
    let sql = format!(
        "INSERT INTO device_nonces (device_id, nonce, seen_at)
         SELECT v.column1, v.column2, v.column3 FROM (VALUES {}) AS v
         WHERE true ON CONFLICT (device_id, nonce) DO NOTHING RETURNING device_id, nonce",
        values(nonces.len(), &["TEXT", "TEXT", "BIGINT"])
    );
    let mut query = Sql::new(sql);
    for &(device_id, nonce, seen_at) in nonces {
        query = query.bind(device_id).bind(nonce).bind(seen_at.as_millis());
    }
    let rows = conn.fetch_all(&query).await?;
    rows.iter().map(|r| Ok((r.col(0)?, r.col(1)?))).collect()
}

/// `(CAST($1 AS TEXT), …), (…)`: `rows` rows of the given column types, numbered on.
fn values(rows: usize, types: &[&str]) -> String {
    let mut n = 0;
    let row = |n: &mut usize| {
        let cells: Vec<String> = types
            .iter()
            .map(|t| {
                *n += 1;
                format!("CAST(${n} AS {t})")
            })
            .collect();
        format!("({})", cells.join(", "))
    };
    (0..rows).map(|_| row(&mut n)).collect::<Vec<_>>().join(", ")
}

async fn consume_all(conn: &mut Conn<'_>, consumes: &[(&str, &str, Timestamp)]) -> Result<Vec<Row>> {
    // VALUES columns are column1, column2, … on both databases.
    let sql = format!(
        "UPDATE oidc_objects SET used_at = v.column3 FROM (VALUES {}) AS v
         WHERE oidc_objects.kind = v.column1 AND oidc_objects.id = v.column2
           AND oidc_objects.used_at IS NULL AND oidc_objects.expires_at > v.column3
         RETURNING {OBJECT_COLUMNS}",
        values(consumes.len(), &["TEXT", "TEXT", "BIGINT"])
    );
    let mut query = Sql::new(sql);
    for &(kind, id, now) in consumes {
        query = query.bind(kind).bind(id).bind(now.as_millis());
    }
    conn.fetch_all(&query).await
}

/// Why an object could not be consumed: it was used before, or it is not there.
async fn seen(conn: &mut Conn<'_>, kind: &str, id: &str) -> Result<Consumed> {
    let sql = Sql::new(format!("SELECT {OBJECT_COLUMNS} FROM oidc_objects WHERE kind = $1 AND id = $2"));
    let row = conn.fetch_optional(&sql.bind(kind).bind(id)).await?;
    Ok(match row.map(|r| OidcObject::from_row(&r)).transpose()? {
        Some(object) if object.used_at.is_some() => Consumed::Replayed(object),
        _ => Consumed::Unknown,
    })
}

async fn rotate_all(conn: &mut Conn<'_>, rotations: &[(&str, i64, Timestamp)]) -> Result<Vec<Row>> {
    let sql = format!(
        "UPDATE oidc_objects SET generation = oidc_objects.generation + 1 FROM (VALUES {}) AS v
         WHERE oidc_objects.kind = 'grant' AND oidc_objects.id = v.column1
           AND oidc_objects.generation = v.column2 AND oidc_objects.expires_at > v.column3
         RETURNING {OBJECT_COLUMNS}",
        values(rotations.len(), &["TEXT", "BIGINT", "BIGINT"])
    );
    let mut query = Sql::new(sql);
    for &(grant_id, generation, now) in rotations {
        query = query.bind(grant_id).bind(generation).bind(now.as_millis());
    }
    conn.fetch_all(&query).await
}

/// Whether an unexpired grant exists (one that did not move on was asked for a past
/// generation).
async fn grant_lives(conn: &mut Conn<'_>, grant_id: &str, now: Timestamp) -> Result<bool> {
    let sql = Sql::new("SELECT 1 FROM oidc_objects WHERE kind = 'grant' AND id = $1 AND expires_at > $2");
    let row = conn.fetch_optional(&sql.bind(grant_id).bind(now.as_millis())).await?;
    Ok(row.is_some())
}

async fn insert_all(conn: &mut Conn<'_>, inserts: &[&OidcObject]) -> Result<Vec<(String, String)>> {
    let sql = format!(
        "INSERT INTO oidc_objects ({OBJECT_COLUMNS})
         SELECT v.column1, v.column2, v.column3, v.column4, v.column5, v.column6, v.column7 FROM (VALUES {}) AS v
         WHERE true ON CONFLICT (kind, id) DO NOTHING RETURNING kind, id",
        values(inserts.len(), &["TEXT", "TEXT", "TEXT", "TEXT", "BIGINT", "BIGINT", "BIGINT"])
    );
    let mut query = Sql::new(sql);
    for object in inserts {
        query = query
            .bind(&object.kind)
            .bind(&object.id)
            .bind(&object.grant_id)
            .bind(&object.data)
            .bind(object.created_at.as_millis())
            .bind(object.expires_at.as_millis())
            .bind(object.used_at.map(Timestamp::as_millis));
    }
    let rows = conn.fetch_all(&query).await?;
    rows.iter().map(|r| Ok((r.col(0)?, r.col(1)?))).collect()
}
