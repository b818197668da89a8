//! Every query of the store, run against both engines: a fresh SQLite file in a temporary
//! directory, and a fresh schema in the PostgreSQL database `test` on 127.0.0.1:5432.
//!
//! `both!(name, |db, store| { ... })` writes `mod name { sqlite(), postgres() }`. The body
//! gets a connected `Store` and the `Db` it came from (to connect again, as a second node).

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use futures_util::FutureExt;
use mobileid_core::{
    DeviceState, FailureReason, Method, Requester, SignContent, Timestamp, TxKind, TxState, UserState,
};
use mobileid_store::*;
use sqlx::Connection;

const NOW_MS: i64 = 1_700_000_000_000;
const NOW: Timestamp = Timestamp::from_millis(NOW_MS);

/// A time `offset` milliseconds from NOW.
fn ms(offset: i64) -> Timestamp {
    Timestamp::from_millis(NOW_MS + offset)
}
const PG_ADMIN_URL: &str = "postgres://postgres@127.0.0.1:5432/test";

/// Where one test's database lives.
#[derive(Clone)]
struct Db {
    url: String,
    backend: Backend,
}

impl Db {
    async fn connect(&self) -> Store {
        match Store::connect(&self.url).await {
            Ok(store) => store,
            Err(e) => panic!("connect to {}: {e}", self.url),
        }
    }
}

async fn on_sqlite<F, Fut>(body: F)
where
    F: FnOnce(Db, Store) -> Fut,
    Fut: Future<Output = ()>,
{
    let dir = tempfile::tempdir().expect("tempdir");
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("store.db").display());
    let db = Db { url, backend: Backend::Sqlite };
    let store = db.connect().await;
    assert_eq!(store.backend(), Backend::Sqlite);
    body(db, store).await;
}

async fn on_postgres<F, Fut>(name: &str, body: F)
where
    F: FnOnce(Db, Store) -> Fut,
    Fut: Future<Output = ()>,
{
    static SEQ: AtomicU32 = AtomicU32::new(0);
    // Unique per process and call, so parallel runs (and other checkouts) never share a schema.
    let schema = format!("st_{}_{}_{}", name, std::process::id(), SEQ.fetch_add(1, Ordering::Relaxed));
    assert!(schema.len() <= 63, "schema name too long for PostgreSQL: {schema}");
    let mut admin = sqlx::PgConnection::connect(PG_ADMIN_URL)
        .await
        .unwrap_or_else(|e| panic!("PostgreSQL at {PG_ADMIN_URL} is needed for this test: {e}"));
    sqlx::query(&format!("CREATE SCHEMA \"{schema}\"")).execute(&mut admin).await.expect("create schema");
    let url = format!("{PG_ADMIN_URL}?options=-c%20search_path%3D{schema}");
    let db = Db { url, backend: Backend::Postgres };
    let outcome = AssertUnwindSafe(async move {
        let store = db.connect().await;
        assert_eq!(store.backend(), Backend::Postgres);
        body(db, store).await;
    })
    .catch_unwind()
    .await;
    // Give the dropped pools a moment to close, then clean up whatever the outcome.
    tokio::time::sleep(Duration::from_millis(20)).await;
    let _ = sqlx::query(&format!("DROP SCHEMA \"{schema}\" CASCADE")).execute(&mut admin).await;
    if let Err(panic) = outcome {
        std::panic::resume_unwind(panic);
    }
}

macro_rules! both {
    ($name:ident, |$db:ident, $store:ident| $body:block) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;

            #[allow(unused_variables)]
            async fn body($db: Db, $store: Store) $body

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                on_sqlite(body).await
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                on_postgres(stringify!($name), body).await
            }
        }
    };
}

// ---- records to store ----

fn ap(ap_id: &str) -> ApRecord {
    ApRecord {
        ap_id: ap_id.into(),
        name: format!("AP {ap_id}"),
        dtbd_prefix: "Bank: ".into(),
        allowed_profiles: "http://mid.swisscom.ch/MID/v1/AuthProfile1 http://mid.swisscom.ch/STK-LoA4".into(),
        auth_profile1_maps_to: "http://mid.swisscom.ch/STK-LoA4".into(),
        services: "geofencing app2app".into(),
        created_at: NOW,
    }
}

fn user(msisdn: &str) -> UserRecord {
    UserRecord {
        msisdn: msisdn.into(),
        serial_number: format!("MIDCHE{msisdn:0>10}"),
        state: UserState::Registered,
        test_fault: None,
        created_at: NOW,
    }
}

fn device(device_id: &str, msisdn: &str, method: Method, created_at: Timestamp) -> DeviceRecord {
    DeviceRecord {
        device_id: device_id.into(),
        msisdn: msisdn.into(),
        method,
        state: DeviceState::Active,
        cert_der: vec![0x30, 0x82, 1, 2, 3, 0, 255],
        auth_key: Some(vec![0x30, 0x59, 9, 8, 7]),
        server_key: None,
        pin_guard: Some(vec![7; 64]),
        pin_failures: 0,
        created_at,
    }
}

fn tx(id: &str, msisdn: &str, device_id: Option<&str>, method: Method) -> TransactionRecord {
    TransactionRecord {
        id: id.into(),
        kind: TxKind::Mss,
        requester: Requester::Ap("mid://ap.example".into()),
        msisdn: msisdn.into(),
        device_id: device_id.map(str::to_string),
        method,
        content: SignContent::Text("Bank: log in? ✓ äöü".into()),
        language: "en".into(),
        nonce: vec![0, 1, 2, 254, 255, 0, 42],
        state: TxState::Pending,
        failure: None,
        signature: None,
        created_at: NOW,
        expires_at: ms(80_000),
        completed_at: None,
        number_match: None,
        location: None,
    }
}

/// The MSS request of a transaction made by `tx`.
fn mss(t: &TransactionRecord) -> MssRecord {
    MssRecord {
        transaction_id: t.id.clone(),
        ap_id: "mid://ap.example".into(),
        ap_trans_id: format!("AP-{}", t.id),
        ap_instant: NOW,
        msisdn_raw: format!("+{}", t.msisdn),
        profile: "http://mid.swisscom.ch/STK-LoA4".into(),
        services: String::new(),
        fault_code: None,
    }
}

/// A transaction that ended the way `state` says (failed ones declined).
fn ended(state: TxState, t: TransactionRecord) -> TransactionRecord {
    let failure = (state == TxState::Failed).then(|| Failure::new(FailureReason::Declined, None));
    TransactionRecord { state, failure, completed_at: Some(ms(1)), ..t }
}

/// A user with one active app device `d1`, as most device and transaction tests need.
/// Activates `device` with a certificate named after it.
async fn activate(store: &Store, device: &DeviceRecord) -> mobileid_store::Result<()> {
    store.activate_device(device, &certificate_of(device)).await
}

fn certificate_of(device: &DeviceRecord) -> CertificateRecord {
    CertificateRecord {
        serial: format!("serial-{}", device.device_id),
        authority: "issuing".into(),
        msisdn: device.msisdn.clone(),
        device_id: device.device_id.clone(),
        not_after: ms(1_000_000),
        issued_at: device.created_at,
        revoked_at: None,
        revocation_reason: None,
        kind: mobileid_core::CertificateKind::Authentication,
    }
}

async fn user_with_device(store: &Store, msisdn: &str, device_id: &str) {
    assert!(store.insert_user(&user(msisdn)).await.unwrap());
    activate(store, &device(device_id, msisdn, Method::App, NOW)).await.unwrap();
}

async fn state_of(store: &Store, id: &str) -> TxState {
    store.find_transaction(id).await.unwrap().expect("transaction exists").state
}

fn sorted(ids: Vec<String>) -> Vec<String> {
    let mut ids = ids;
    ids.sort();
    ids
}

// ---- connecting and migrations ----

#[tokio::test]
async fn connect_rejects_unsupported_url() {
    // In memory, each connection would hold a database of its own.
    for url in ["mysql://root@localhost/db", "", "store.db", "http://127.0.0.1:5432/test", "sqlite::memory:"] {
        match Store::connect(url).await {
            Ok(_) => panic!("{url:?} was accepted"),
            Err(StoreError::UnsupportedUrl(got)) => {
                assert_eq!(got, url);
                let message = StoreError::UnsupportedUrl(got).to_string();
                assert!(message.contains("unsupported database URL"), "{message}");
                assert!(message.contains(&format!("{url:?}")), "names the URL: {message}");
                assert!(message.contains("sqlite://") && message.contains("postgres://"), "{message}");
            }
            Err(other) => panic!("{url:?}: expected UnsupportedUrl, got {other:?}"),
        }
    }
}

both!(migrations_run_twice, |db, store| {
    assert!(store.insert_user(&user("41790000001")).await.unwrap());
    drop(store);
    // A restart, and a second node on the same database: the migrations are already applied.
    let again = db.connect().await;
    let third = db.connect().await;
    assert_eq!(again.find_user("41790000001").await.unwrap(), Some(user("41790000001")));
    assert_eq!(third.find_user("41790000001").await.unwrap(), Some(user("41790000001")));
});

both!(count_pending_transactions, |_db, store| {
    assert_eq!(store.count_pending_transactions(NOW).await.unwrap(), 0);
    // Three users: a new request would replace a pending one of the same user.
    for (msisdn, device) in [("41790000001", "d1"), ("41790000002", "d2"), ("41790000003", "d3")] {
        user_with_device(&store, msisdn, device).await;
    }
    let late = TransactionRecord { expires_at: ms(-1), ..tx("T3", "41790000003", Some("d3"), Method::App) };
    for t in [tx("T1", "41790000001", Some("d1"), Method::App), tx("T2", "41790000002", Some("d2"), Method::App), late]
    {
        let m = MssRecord { ap_trans_id: format!("AP-{}", t.id), ..mss(&t) };
        assert_eq!(store.insert_mss_request(&t, &m).await.unwrap().0, InsertOutcome::Inserted);
    }
    // T3 is past its expiry: it no longer waits for anybody.
    assert_eq!(store.count_pending_transactions(NOW).await.unwrap(), 2);
    assert!(store.complete_transaction("T1", &Completion::Signed(vec![0x30, 0]), NOW).await.unwrap());
    assert_eq!(store.count_pending_transactions(NOW).await.unwrap(), 1);
});

both!(health, |db, store| {
    store.ping().await.unwrap();
    assert!(store.migrations_applied().await.unwrap());
    let pool = store.pool_stats();
    assert!(pool.size >= 1 && pool.idle <= pool.size as usize, "{pool:?}");
    // A migration this binary does not know (a newer binary ran): no longer "applied".
    sqlx::query(
        "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time)
         VALUES (99990101000000, 'from the future', TRUE, $1, 0)",
    )
    .bind(vec![0u8; 48])
    .execute(&mut raw_connection(&db).await)
    .await
    .unwrap();
    assert!(!store.migrations_applied().await.unwrap());
    store.close().await;
    assert!(store.ping().await.is_err(), "closed");
});

/// A connection of our own, beside the store's pool, for what the store's API cannot do.
async fn raw_connection(db: &Db) -> sqlx::AnyConnection {
    sqlx::any::install_default_drivers();
    sqlx::AnyConnection::connect(&db.url).await.expect("raw connection")
}

// An existing database of the first schema keeps its transactions, receipts and
// uniqueness when 0002 makes transactions protocol-neutral.
both!(migration_0002_keeps_existing_rows, |db, store| {
    drop(store);
    let fresh = match db.backend {
        Backend::Sqlite => Db { url: db.url.replace("store.db", "old.db"), backend: db.backend },
        // A schema of its own: the one the harness made is already migrated.
        Backend::Postgres => {
            let mut conn = raw_connection(&db).await;
            let schema = format!("old_{}", std::process::id());
            sqlx::query(&format!("CREATE SCHEMA \"{schema}\"")).execute(&mut conn).await.unwrap();
            Db { url: db.url.replace("search_path%3D", &format!("search_path%3D{schema}%2C")), backend: db.backend }
        }
    };
    let mut first = match db.backend {
        Backend::Sqlite => sqlx::migrate!("migrations/sqlite"),
        Backend::Postgres => sqlx::migrate!("migrations/postgres"),
    };
    first.migrations = first.migrations.iter().filter(|m| m.version == 1).cloned().collect::<Vec<_>>().into();
    let mut conn = raw_connection(&fresh).await;
    first.run(&mut conn).await.expect("0001");
    sqlx::raw_sql(
        "INSERT INTO users (msisdn, serial_number, state, created_at) VALUES ('41790000001', 'MIDCHE0000000001', 'ACTIVE', 1);
         INSERT INTO transactions (mssp_trans_id, ap_id, ap_trans_id, ap_instant, msisdn, msisdn_raw, device_id, method,
           profile, mime_type, dtbd, language, nonce, services, state, fault_code, fault_detail, signature,
           created_at, expires_at, completed_at) VALUES
           ('H1', 'mid://a', 'T1', 5, '41790000001', '+41 79 000 00 01', 'd1', 'app', 'p', 'text/plain', 'Log in?',
            'de', X'0102030405060708', 'geofencing', 'signed', NULL, NULL, X'3080', 10, 90, 20),
           ('H2', 'mid://a', 'T2', 5, '41790000001', '0790000001', 'd1', 'app', 'p',
            'application/vnd.mobileid.txn-approval', '{\"type\":\"Pay\",\"dtbd\":[{\"key\":\"To\",\"value\":\"Bob\"}]}',
            'en', X'0102030405060708', '', 'failed', 401, 'user cancel', NULL, 10, 90, 30),
           ('H3', 'mid://a', 'T3', 5, '41000092406', '+41000092406', NULL, 'sim', 'p', 'text/plain', 'x',
            'en', X'', '', 'failed', 406, 'simulated', NULL, 10, 90, 10),
           ('H4', 'mid://a', 'T4', 5, '41790000001', '+41790000001', 'd1', 'app', 'p', 'text/plain', 'later',
            'fr', X'0102030405060708', '', 'failed', 208, 'timed out', NULL, 10, 90, 90);
         INSERT INTO receipts (mssp_trans_id, device_id, message, created_at) VALUES ('H1', 'd1', 'Thanks', 40);"
            .replace("X'", if db.backend == Backend::Sqlite { "X'" } else { "'\\x" })
            .as_str(),
    )
    .execute(&mut conn)
    .await
    .expect("old rows");
    drop(conn);

    let store = fresh.connect().await;
    assert!(store.migrations_applied().await.unwrap());
    let (h1, m1) = store.find_mss_transaction("H1").await.unwrap().expect("H1 kept");
    assert_eq!((h1.kind, h1.requester.clone()), (TxKind::Mss, Requester::Ap("mid://a".into())));
    assert_eq!(
        (h1.content, h1.state, h1.signature),
        (SignContent::Text("Log in?".into()), TxState::Signed, Some(vec![0x30, 0x80]))
    );
    assert_eq!(
        (h1.language.as_str(), h1.nonce, h1.created_at, h1.expires_at, h1.completed_at),
        ("de", vec![1, 2, 3, 4, 5, 6, 7, 8], ms(10 - NOW_MS), ms(90 - NOW_MS), Some(ms(20 - NOW_MS)))
    );
    assert_eq!(
        m1,
        MssRecord {
            transaction_id: "H1".into(),
            ap_id: "mid://a".into(),
            ap_trans_id: "T1".into(),
            ap_instant: ms(5 - NOW_MS),
            msisdn_raw: "+41 79 000 00 01".into(),
            profile: "p".into(),
            services: "geofencing".into(),
            fault_code: None,
        }
    );
    let (h2, m2) = store.find_mss_transaction("H2").await.unwrap().expect("H2 kept");
    assert_eq!(h2.content.kind(), mobileid_core::ContentKind::TxnApproval);
    assert_eq!((h2.failure, m2.fault_code), (Some(Failure::new(FailureReason::Declined, Some("user cancel"))), None));
    let (h3, m3) = store.find_mss_transaction("H3").await.unwrap().expect("H3 kept");
    assert_eq!(
        (h3.failure, m3.fault_code),
        (Some(Failure::new(FailureReason::Simulated, Some("simulated"))), Some(406))
    );
    let (h4, _) = store.find_mss_transaction("H4").await.unwrap().expect("H4 kept");
    assert_eq!(h4.failure, Some(Failure::new(FailureReason::Expired, Some("timed out"))));
    // The receipt survived, and its transaction is still its parent.
    assert!(!store.insert_receipt("H1", Some("d1"), "again", NOW).await.unwrap());
    assert_eq!(
        store.take_receipts("d1", NOW).await.unwrap(),
        vec![ReceiptRecord { mssp_trans_id: "H1".into(), message: "Thanks".into() }]
    );
    // The uniqueness of (AP_ID, AP_TransID, Instant) moved with its columns.
    let dup = TransactionRecord { id: "H9".into(), ..h4.clone() };
    let dup_mss = MssRecord {
        transaction_id: "H9".into(),
        ap_id: "mid://a".into(),
        ap_trans_id: "T4".into(),
        ap_instant: ms(5 - NOW_MS),
        ..m1
    };
    assert_eq!(store.insert_mss_request(&dup, &dup_mss).await.unwrap().0, InsertOutcome::Duplicate);
    store.close().await;
    if db.backend == Backend::Postgres {
        let drop = format!("DROP SCHEMA \"old_{}\" CASCADE", std::process::id());
        sqlx::query(&drop).execute(&mut raw_connection(&db).await).await.unwrap();
    }
});

// ---- application providers ----

both!(upsert_ap, |db, store| {
    store.upsert_ap(&ap("mid://a")).await.unwrap();
    assert_eq!(store.find_ap("mid://a").await.unwrap(), Some(ap("mid://a")));

    let changed = ApRecord {
        name: "Renamed".into(),
        dtbd_prefix: String::new(),
        allowed_profiles: "http://mid.swisscom.ch/MID/v1/AuthProfile1".into(),
        auth_profile1_maps_to: "http://mid.swisscom.ch/MID/v1/AuthProfile1".into(),
        services: String::new(),
        created_at: ms(5),
        ..ap("mid://a")
    };
    store.upsert_ap(&changed).await.unwrap();
    // The settings are replaced; the AP keeps the time it was first created.
    assert_eq!(store.find_ap("mid://a").await.unwrap(), Some(ApRecord { created_at: NOW, ..changed }));
    assert_eq!(store.list_aps().await.unwrap().len(), 1);
});

both!(add_ap_certificate, |db, store| {
    store.upsert_ap(&ap("mid://a")).await.unwrap();
    store.upsert_ap(&ap("mid://b")).await.unwrap();
    store.add_ap_certificate("mid://a", "fp1", &[1, 2, 3]).await.unwrap();
    // Adding it again changes nothing and is no error.
    store.add_ap_certificate("mid://a", "fp1", &[1, 2, 3]).await.unwrap();
    // One certificate may serve several AP_IDs.
    store.add_ap_certificate("mid://b", "fp1", &[1, 2, 3]).await.unwrap();
    store.add_ap_certificate("mid://a", "fp0", &[4]).await.unwrap();
    let listed = store.list_aps().await.unwrap();
    assert_eq!(
        listed,
        vec![(ap("mid://a"), vec!["fp0".to_string(), "fp1".to_string()]), (ap("mid://b"), vec!["fp1".to_string()])]
    );
    // A certificate for an AP that does not exist is refused.
    assert!(store.add_ap_certificate("mid://nobody", "fp9", &[9]).await.is_err());
    assert!(store.find_ap_for_certificate("mid://nobody", "fp9").await.unwrap().is_none());
});

both!(find_ap_for_certificate, |db, store| {
    store.upsert_ap(&ap("mid://a")).await.unwrap();
    store.upsert_ap(&ap("mid://b")).await.unwrap();
    store.add_ap_certificate("mid://a", "fp-a", b"der a").await.unwrap();
    store.add_ap_certificate("mid://b", "fp-b", b"der b").await.unwrap();
    assert_eq!(store.find_ap_for_certificate("mid://a", "fp-a").await.unwrap(), Some(ap("mid://a")));
    assert_eq!(store.find_ap_for_certificate("mid://b", "fp-b").await.unwrap(), Some(ap("mid://b")));
    // Another AP's certificate, an unknown certificate, an unknown AP: nothing.
    assert_eq!(store.find_ap_for_certificate("mid://a", "fp-b").await.unwrap(), None);
    assert_eq!(store.find_ap_for_certificate("mid://a", "fp-x").await.unwrap(), None);
    assert_eq!(store.find_ap_for_certificate("mid://x", "fp-a").await.unwrap(), None);
});

both!(find_ap, |db, store| {
    assert_eq!(store.find_ap("mid://a").await.unwrap(), None);
    store.upsert_ap(&ap("mid://a")).await.unwrap();
    store.upsert_ap(&ap("mid://b")).await.unwrap();
    assert_eq!(store.find_ap("mid://a").await.unwrap(), Some(ap("mid://a")));
    assert_eq!(store.find_ap("mid://b").await.unwrap(), Some(ap("mid://b")));
    assert_eq!(store.find_ap("MID://A").await.unwrap(), None);
});

both!(list_aps, |db, store| {
    assert_eq!(store.list_aps().await.unwrap(), vec![]);
    for id in ["mid://c", "mid://a", "mid://b"] {
        store.upsert_ap(&ap(id)).await.unwrap();
    }
    store.add_ap_certificate("mid://c", "fp-z", b"z").await.unwrap();
    store.add_ap_certificate("mid://c", "fp-m", b"m").await.unwrap();
    store.add_ap_certificate("mid://a", "fp-q", b"q").await.unwrap();
    let listed = store.list_aps().await.unwrap();
    assert_eq!(
        listed,
        vec![
            (ap("mid://a"), vec!["fp-q".to_string()]),
            (ap("mid://b"), vec![]),
            (ap("mid://c"), vec!["fp-m".to_string(), "fp-z".to_string()]),
        ]
    );
});

// ---- certificate authorities ----

both!(find_and_insert_authority, |db, store| {
    assert_eq!(store.find_authority("root").await.unwrap(), None);
    let first = AuthorityRecord { name: "root".into(), cert_der: vec![0x30, 1, 0, 255], sealed_key: vec![7; 48] };
    assert_eq!(store.insert_authority(&first).await.unwrap(), first);
    assert_eq!(store.find_authority("root").await.unwrap(), Some(first.clone()));

    // A second node starting with a CA of its own ends up with the first one.
    let second = AuthorityRecord { name: "root".into(), cert_der: vec![9, 9], sealed_key: vec![8; 48] };
    assert_eq!(store.insert_authority(&second).await.unwrap(), first);
    assert_eq!(store.find_authority("root").await.unwrap(), Some(first.clone()));

    let issuing = AuthorityRecord { name: "issuing".into(), cert_der: vec![1], sealed_key: vec![2] };
    assert_eq!(store.insert_authority(&issuing).await.unwrap(), issuing);
    assert_eq!(store.find_authority("issuing").await.unwrap(), Some(issuing));
    assert_eq!(store.find_authority("root").await.unwrap(), Some(first));
});

// ---- users ----

both!(insert_user, |db, store| {
    let u = user("41790000001");
    assert!(store.insert_user(&u).await.unwrap());
    // The same MSISDN again: false, and the first user is kept.
    let again = UserRecord { serial_number: "MIDCHE9999999999".into(), state: UserState::Active, ..u.clone() };
    assert!(!store.insert_user(&again).await.unwrap());
    assert_eq!(store.find_user("41790000001").await.unwrap(), Some(u.clone()));
    // A serial number belongs to one user only.
    let same_serial = UserRecord { msisdn: "41790000002".into(), ..u.clone() };
    assert!(store.insert_user(&same_serial).await.is_err());
    assert_eq!(store.find_user("41790000002").await.unwrap(), None);
});

both!(find_user, |db, store| {
    assert_eq!(store.find_user("41790000001").await.unwrap(), None);
    let plain = user("41790000001");
    let test_number = UserRecord { test_fault: Some(401), state: UserState::Active, ..user("41000092401") };
    assert!(store.insert_user(&plain).await.unwrap());
    assert!(store.insert_user(&test_number).await.unwrap());
    assert_eq!(store.find_user("41790000001").await.unwrap(), Some(plain));
    assert_eq!(store.find_user("41000092401").await.unwrap(), Some(test_number));
});

both!(set_user_state, |db, store| {
    assert!(store.insert_user(&user("41790000001")).await.unwrap());
    assert!(store.insert_user(&user("41790000002")).await.unwrap());
    store.set_user_state("41790000001", UserState::Inactive).await.unwrap();
    assert_eq!(store.find_user("41790000001").await.unwrap().unwrap().state, UserState::Inactive);
    assert_eq!(store.find_user("41790000002").await.unwrap().unwrap().state, UserState::Registered);
    // An unknown MSISDN: no error, and no user appears.
    store.set_user_state("41790000009", UserState::Active).await.unwrap();
    assert_eq!(store.find_user("41790000009").await.unwrap(), None);
});

both!(delete_user, |db, store| {
    user_with_device(&store, "41790000001", "d1").await;
    user_with_device(&store, "41790000002", "d2").await;
    store.insert_activation_code("code1", "41790000001", ms(1000), NOW).await.unwrap();
    store.insert_activation_code("code2", "41790000002", ms(1000), NOW).await.unwrap();
    store.insert_transaction(&tx("T1", "41790000001", Some("d1"), Method::App)).await.unwrap();

    assert!(store.delete_user("41790000001", NOW).await.unwrap());
    assert_eq!(store.find_user("41790000001").await.unwrap(), None);
    assert_eq!(store.find_device("d1").await.unwrap(), None);
    assert_eq!(store.latest_activation_code_expiry("41790000001").await.unwrap(), None);
    assert_eq!(store.take_activation_code("code1", NOW).await.unwrap(), CodeOutcome::Unknown);
    // Transactions stay for audit.
    assert_eq!(store.find_transaction("T1").await.unwrap(), Some(tx("T1", "41790000001", Some("d1"), Method::App)));
    // The other user is untouched.
    assert!(store.find_user("41790000002").await.unwrap().is_some());
    assert!(store.find_device("d2").await.unwrap().is_some());
    assert_eq!(store.latest_activation_code_expiry("41790000002").await.unwrap(), Some((ms(1000), None)));

    assert!(!store.delete_user("41790000001", NOW).await.unwrap());
    assert!(!store.delete_user("41799999999", NOW).await.unwrap());
    // The MSISDN can enrol again.
    assert!(store.insert_user(&user("41790000001")).await.unwrap());
});

// ---- activation codes ----

both!(take_activation_code, |db, store| {
    assert!(store.insert_user(&user("41790000001")).await.unwrap());
    store.insert_activation_code("fresh", "41790000001", ms(1000), NOW).await.unwrap();
    store.insert_activation_code("stale", "41790000001", ms(-1), NOW).await.unwrap();
    store.insert_activation_code("edge", "41790000001", NOW, NOW).await.unwrap();

    assert_eq!(store.take_activation_code("fresh", NOW).await.unwrap(), CodeOutcome::Taken("41790000001".into()));
    assert_eq!(store.take_activation_code("fresh", ms(1)).await.unwrap(), CodeOutcome::AlreadyUsed);
    // Used stays used, also once it has expired.
    assert_eq!(store.take_activation_code("fresh", ms(5000)).await.unwrap(), CodeOutcome::AlreadyUsed);

    assert_eq!(store.take_activation_code("nope", NOW).await.unwrap(), CodeOutcome::Unknown);
    assert_eq!(store.take_activation_code("stale", NOW).await.unwrap(), CodeOutcome::Expired);
    assert_eq!(store.take_activation_code("stale", NOW).await.unwrap(), CodeOutcome::Expired);
    // A code is valid strictly before its expiry.
    assert_eq!(store.take_activation_code("edge", NOW).await.unwrap(), CodeOutcome::Expired);
    assert_eq!(store.latest_activation_code_expiry("41790000001").await.unwrap(), Some((ms(1000), Some(NOW))));
});

both!(insert_activation_code, |db, store| {
    assert!(store.insert_user(&user("41790000001")).await.unwrap());
    store.insert_activation_code("h1", "41790000001", ms(1000), NOW).await.unwrap();
    assert_eq!(store.latest_activation_code_expiry("41790000001").await.unwrap(), Some((ms(1000), None)));
    // A code hash is unique, and a code belongs to an existing user.
    assert!(store.insert_activation_code("h1", "41790000001", ms(2000), NOW).await.is_err());
    assert!(store.insert_activation_code("h2", "41799999999", ms(2000), NOW).await.is_err());
    assert_eq!(store.take_activation_code("h2", NOW).await.unwrap(), CodeOutcome::Unknown);
    assert_eq!(store.take_activation_code("h1", ms(1500)).await.unwrap(), CodeOutcome::Expired);
});

both!(latest_activation_code_expiry, |db, store| {
    assert!(store.insert_user(&user("41790000001")).await.unwrap());
    assert!(store.insert_user(&user("41790000002")).await.unwrap());
    assert_eq!(store.latest_activation_code_expiry("41790000001").await.unwrap(), None);
    store.insert_activation_code("a", "41790000001", ms(100), NOW).await.unwrap();
    store.insert_activation_code("b", "41790000001", ms(300), NOW).await.unwrap();
    store.insert_activation_code("c", "41790000001", ms(200), NOW).await.unwrap();
    store.insert_activation_code("other", "41790000002", ms(900), NOW).await.unwrap();
    assert_eq!(store.latest_activation_code_expiry("41790000001").await.unwrap(), Some((ms(300), None)));
    assert_eq!(store.take_activation_code("b", ms(150)).await.unwrap(), CodeOutcome::Taken("41790000001".into()));
    assert_eq!(store.latest_activation_code_expiry("41790000001").await.unwrap(), Some((ms(300), Some(ms(150)))));
    assert_eq!(store.latest_activation_code_expiry("41790000002").await.unwrap(), Some((ms(900), None)));
    assert_eq!(store.latest_activation_code_expiry("41799999999").await.unwrap(), None);
});

both!(concurrent_take_activation_code, |db, store| {
    assert!(store.insert_user(&user("41790000001")).await.unwrap());
    store.insert_activation_code("race", "41790000001", ms(60_000), NOW).await.unwrap();
    let outcomes =
        race(&store, |store, i| async move { store.take_activation_code("race", ms(i)).await.unwrap() }).await;
    let taken = outcomes.iter().filter(|o| **o == CodeOutcome::Taken("41790000001".into())).count();
    let used = outcomes.iter().filter(|o| **o == CodeOutcome::AlreadyUsed).count();
    assert_eq!((taken, used), (1, 7), "{outcomes:?}");
});

// ---- devices ----

both!(activate_device, |db, store| {
    assert!(store.insert_user(&user("41790000001")).await.unwrap());
    let d1 = device("d1", "41790000001", Method::App, NOW);
    activate(&store, &d1).await.unwrap();
    // A REGISTERED user becomes ACTIVE.
    assert_eq!(store.find_user("41790000001").await.unwrap().unwrap().state, UserState::Active);
    assert_eq!(store.find_device("d1").await.unwrap(), Some(d1.clone()));

    // A robot key (another method) leaves the phone alone.
    let s1 = DeviceRecord {
        auth_key: None,
        server_key: Some(vec![5; 32]),
        pin_guard: None,
        ..device("s1", "41790000001", Method::Sim, ms(1))
    };
    activate(&store, &s1).await.unwrap();
    assert_eq!(store.find_device("d1").await.unwrap().unwrap().state, DeviceState::Active);

    // A new phone retires the earlier one, blocked or not.
    store.record_pin_failure("d1", 1, NOW).await.unwrap();
    assert_eq!(store.find_device("d1").await.unwrap().unwrap().state, DeviceState::Blocked);
    let d2 = device("d2", "41790000001", Method::App, ms(2));
    activate(&store, &d2).await.unwrap();
    assert_eq!(store.find_device("d1").await.unwrap().unwrap().state, DeviceState::Retired);
    assert_eq!(store.find_device("d2").await.unwrap(), Some(d2.clone()));
    assert_eq!(store.find_device("s1").await.unwrap(), Some(s1.clone()));
    let d3 = device("d3", "41790000001", Method::App, ms(3));
    activate(&store, &d3).await.unwrap();
    assert_eq!(store.find_device("d2").await.unwrap().unwrap().state, DeviceState::Retired);
    assert_eq!(store.devices_of_user("41790000001").await.unwrap(), vec![d3, s1]);

    // Only REGISTERED becomes ACTIVE: an INACTIVE user stays INACTIVE.
    let inactive = UserRecord { state: UserState::Inactive, ..user("41790000002") };
    assert!(store.insert_user(&inactive).await.unwrap());
    activate(&store, &device("e1", "41790000002", Method::App, NOW)).await.unwrap();
    assert_eq!(store.find_user("41790000002").await.unwrap().unwrap().state, UserState::Inactive);
});

both!(certificates_are_revoked_with_their_devices, |db, store| {
    let revocation = |store: Store, serial: &'static str| async move {
        let found = store.find_certificates("issuing", &[serial.to_string()]).await.unwrap();
        found.first().map(|c| (c.revoked_at, c.revocation_reason))
    };
    assert!(store.insert_user(&user("41790000001")).await.unwrap());
    activate(&store, &device("d1", "41790000001", Method::App, NOW)).await.unwrap();
    let robot = DeviceRecord { auth_key: None, ..device("s1", "41790000001", Method::Sim, ms(1)) };
    activate(&store, &robot).await.unwrap();
    assert_eq!(revocation(store.clone(), "serial-d1").await, Some((None, None)));

    // A new phone supersedes the old one's certificate, and leaves the robot's alone.
    activate(&store, &device("d2", "41790000001", Method::App, ms(2))).await.unwrap();
    assert_eq!(revocation(store.clone(), "serial-d1").await, Some((Some(ms(2)), Some(4))));
    assert_eq!(revocation(store.clone(), "serial-s1").await, Some((None, None)));

    // The PIN blocks the device: its certificate is revoked with it.
    assert_eq!(store.record_pin_failure("d2", 2, ms(3)).await.unwrap(), 1);
    assert_eq!(revocation(store.clone(), "serial-d2").await, Some((None, None)));
    assert_eq!(store.record_pin_failure("d2", 2, ms(4)).await.unwrap(), 2);
    assert_eq!(revocation(store.clone(), "serial-d2").await, Some((Some(ms(4)), None)));
    // A later wrong PIN does not move the revocation time.
    store.record_pin_failure("d2", 2, ms(5)).await.unwrap();
    assert_eq!(revocation(store.clone(), "serial-d2").await, Some((Some(ms(4)), None)));

    // Blocking a lost device, once.
    assert!(store.block_device("s1", Some(1), ms(6)).await.unwrap());
    assert!(!store.block_device("s1", Some(1), ms(7)).await.unwrap());
    assert!(!store.block_device("nope", None, ms(7)).await.unwrap());
    assert_eq!(store.find_device("s1").await.unwrap().unwrap().state, DeviceState::Blocked);
    assert_eq!(revocation(store.clone(), "serial-s1").await, Some((Some(ms(6)), Some(1))));

    // An operator revokes one certificate; its device is left as it is.
    assert!(store.insert_user(&user("41790000002")).await.unwrap());
    activate(&store, &device("e1", "41790000002", Method::App, ms(8))).await.unwrap();
    assert_eq!(store.revoke_certificate("serial-e1", Some(3), ms(9)).await.unwrap(), Revoked::Now);
    assert_eq!(store.revoke_certificate("serial-e1", None, ms(10)).await.unwrap(), Revoked::Already);
    assert_eq!(store.revoke_certificate("serial-none", None, ms(10)).await.unwrap(), Revoked::Unknown);
    assert_eq!(store.find_device("e1").await.unwrap().unwrap().state, DeviceState::Active);

    // A deleted user's certificates stay, revoked.
    assert!(store.insert_user(&user("41790000003")).await.unwrap());
    activate(&store, &device("f1", "41790000003", Method::App, ms(11))).await.unwrap();
    assert!(store.delete_user("41790000003", ms(12)).await.unwrap());
    assert_eq!(revocation(store.clone(), "serial-f1").await, Some((Some(ms(12)), Some(5))));
    assert!(store.delete_user("41790000002", ms(13)).await.unwrap());
    assert_eq!(revocation(store.clone(), "serial-e1").await, Some((Some(ms(9)), Some(3))));

    let crl: Vec<String> = store.revoked_certificates("issuing").await.unwrap().into_iter().map(|c| c.serial).collect();
    assert_eq!(crl, ["serial-d1", "serial-d2", "serial-s1", "serial-e1", "serial-f1"]);
    assert!(store.revoked_certificates("root").await.unwrap().is_empty());
    let asked = ["serial-d1".to_string(), "serial-none".to_string(), "serial-f1".to_string()];
    let mut found: Vec<String> =
        store.find_certificates("issuing", &asked).await.unwrap().into_iter().map(|c| c.serial).collect();
    found.sort();
    assert_eq!(found, ["serial-d1", "serial-f1"]);
    assert!(store.find_certificates("root", &asked).await.unwrap().is_empty());
    let mine: Vec<String> =
        store.certificates_of_user("41790000001").await.unwrap().into_iter().map(|c| c.serial).collect();
    assert_eq!(mine, ["serial-d2", "serial-s1", "serial-d1"]);

    // Devices from before certificates were recorded are found, once.
    assert!(store.devices_without_certificate_record().await.unwrap().is_empty());
    sqlx::query("DELETE FROM certificates WHERE serial = 'serial-d2'")
        .execute(&mut raw_connection(&db).await)
        .await
        .unwrap();
    let missing = store.devices_without_certificate_record().await.unwrap();
    assert_eq!(missing.len(), 1);
    assert_eq!((missing[0].0.as_str(), missing[0].2), ("d2", DeviceState::Blocked));
    let mut restored = certificate_of(&device("d2", "41790000001", Method::App, ms(2)));
    restored.revoked_at = Some(ms(4));
    store.insert_certificate(&restored).await.unwrap();
    store.insert_certificate(&restored).await.unwrap();
    assert!(store.devices_without_certificate_record().await.unwrap().is_empty());
});

both!(activate_device_is_atomic, |db, store| {
    user_with_device(&store, "41790000001", "d1").await;
    assert!(store.insert_user(&user("41790000002")).await.unwrap());
    // The insert fails (the device ID is taken): the earlier phone must not be retired,
    // and the REGISTERED user must not become ACTIVE.
    let clash = device("d1", "41790000002", Method::App, ms(1));
    assert!(activate(&store, &clash).await.is_err());
    assert_eq!(store.find_device("d1").await.unwrap(), Some(device("d1", "41790000001", Method::App, NOW)));
    assert_eq!(store.find_user("41790000002").await.unwrap().unwrap().state, UserState::Registered);
    // A device for an unknown user is refused.
    assert!(activate(&store, &device("d9", "41799999999", Method::App, NOW)).await.is_err());
    assert_eq!(store.find_device("d9").await.unwrap(), None);
});

both!(concurrent_activate_device, |db, store| {
    // "A user holds one phone at a time": activations racing for the same user and method
    // must leave exactly one device that is not retired.
    assert!(store.insert_user(&user("41790000001")).await.unwrap());
    let results = race(&store, |store, i| async move {
        activate(&store, &device(&format!("d{i}"), "41790000001", Method::App, ms(i))).await
    })
    .await;
    // An activation may lose the race with an error; none may leave two phones behind.
    let errors: Vec<String> = results.into_iter().filter_map(|r| r.err()).map(|e| e.to_string()).collect();
    let devices = store.devices_of_user("41790000001").await.unwrap();
    let ids: Vec<_> = devices.iter().map(|d| d.device_id.as_str()).collect();
    assert_eq!(devices.len(), 1, "devices not retired: {ids:?}; activations that failed: {errors:?}");
});

both!(find_device, |db, store| {
    assert_eq!(store.find_device("d1").await.unwrap(), None);
    assert!(store.insert_user(&user("41790000001")).await.unwrap());
    let phone = device("d1", "41790000001", Method::App, NOW);
    let robot = DeviceRecord {
        auth_key: None,
        server_key: Some((0..=255).collect()),
        pin_guard: None,
        cert_der: vec![],
        pin_failures: 0,
        ..device("r1", "41790000001", Method::Sim, ms(1))
    };
    activate(&store, &phone).await.unwrap();
    activate(&store, &robot).await.unwrap();
    assert_eq!(store.find_device("d1").await.unwrap(), Some(phone));
    assert_eq!(store.find_device("r1").await.unwrap(), Some(robot));
    assert_eq!(store.find_device("D1").await.unwrap(), None);
});

both!(devices_of_user, |db, store| {
    assert!(store.insert_user(&user("41790000001")).await.unwrap());
    assert!(store.insert_user(&user("41790000002")).await.unwrap());
    assert_eq!(store.devices_of_user("41790000001").await.unwrap(), vec![]);
    activate(&store, &device("old", "41790000001", Method::App, NOW)).await.unwrap();
    activate(&store, &device("phone", "41790000001", Method::App, ms(10))).await.unwrap(); // retires "old"
    activate(&store, &device("robot", "41790000001", Method::Sim, ms(5))).await.unwrap();
    activate(&store, &device("theirs", "41790000002", Method::App, ms(20))).await.unwrap();
    store.record_pin_failure("robot", 1, NOW).await.unwrap(); // blocked devices are still listed

    let mine = store.devices_of_user("41790000001").await.unwrap();
    let ids: Vec<_> = mine.iter().map(|d| (d.device_id.as_str(), d.state)).collect();
    assert_eq!(
        ids,
        vec![("phone", DeviceState::Active), ("robot", DeviceState::Blocked)],
        "newest first, no retired device"
    );
    assert_eq!(
        store.devices_of_user("41790000002").await.unwrap(),
        vec![device("theirs", "41790000002", Method::App, ms(20))]
    );
    assert_eq!(store.devices_of_user("41799999999").await.unwrap(), vec![]);
});

both!(record_pin_failure, |db, store| {
    user_with_device(&store, "41790000001", "d1").await;
    user_with_device(&store, "41790000002", "d2").await;
    assert_eq!(store.record_pin_failure("d1", 3, NOW).await.unwrap(), 1);
    assert_eq!(store.record_pin_failure("d1", 3, NOW).await.unwrap(), 2);
    assert_eq!(store.find_device("d1").await.unwrap().unwrap().state, DeviceState::Active);
    assert_eq!(store.record_pin_failure("d1", 3, NOW).await.unwrap(), 3);
    let d1 = store.find_device("d1").await.unwrap().unwrap();
    assert_eq!((d1.state, d1.pin_failures), (DeviceState::Blocked, 3));
    assert_eq!(store.record_pin_failure("d1", 3, NOW).await.unwrap(), 4);
    assert_eq!(store.find_device("d1").await.unwrap().unwrap().state, DeviceState::Blocked);
    // Other devices are untouched; an unknown device counts nothing.
    let d2 = store.find_device("d2").await.unwrap().unwrap();
    assert_eq!((d2.state, d2.pin_failures), (DeviceState::Active, 0));
    assert_eq!(store.record_pin_failure("nope", 3, NOW).await.unwrap(), 0);
    assert_eq!(store.find_device("nope").await.unwrap(), None);
});

both!(reset_pin_failures, |db, store| {
    user_with_device(&store, "41790000001", "d1").await;
    user_with_device(&store, "41790000002", "d2").await;
    store.record_pin_failure("d1", 5, NOW).await.unwrap();
    store.record_pin_failure("d1", 5, NOW).await.unwrap();
    store.record_pin_failure("d2", 5, NOW).await.unwrap();
    store.reset_pin_failures("d1").await.unwrap();
    let d1 = store.find_device("d1").await.unwrap().unwrap();
    assert_eq!((d1.state, d1.pin_failures), (DeviceState::Active, 0));
    assert_eq!(store.find_device("d2").await.unwrap().unwrap().pin_failures, 1);
    // Counting starts again from zero; resetting twice or an unknown device is no error.
    store.reset_pin_failures("d1").await.unwrap();
    store.reset_pin_failures("nope").await.unwrap();
    assert_eq!(store.record_pin_failure("d1", 5, NOW).await.unwrap(), 1);
});

both!(accept_pin, |db, store| {
    user_with_device(&store, "41790000001", "d1").await;
    user_with_device(&store, "41790000002", "d2").await;
    store.record_pin_failure("d1", 5, NOW).await.unwrap();
    store.record_pin_failure("d2", 5, NOW).await.unwrap();
    assert!(store.accept_pin("d1").await.unwrap());
    let d1 = store.find_device("d1").await.unwrap().unwrap();
    assert_eq!((d1.state, d1.pin_failures), (DeviceState::Active, 0));
    assert_eq!(store.find_device("d2").await.unwrap().unwrap().pin_failures, 1, "other devices untouched");
    // A blocked device is refused and keeps its count; so is an unknown one.
    store.record_pin_failure("d2", 2, NOW).await.unwrap();
    assert!(!store.accept_pin("d2").await.unwrap());
    let d2 = store.find_device("d2").await.unwrap().unwrap();
    assert_eq!((d2.state, d2.pin_failures), (DeviceState::Blocked, 2));
    assert!(!store.accept_pin("nope").await.unwrap());
});

// ---- device request nonces ----

both!(remember_nonce, |db, store| {
    assert!(store.remember_nonce("d1", "n1", NOW).await.unwrap());
    assert!(!store.remember_nonce("d1", "n1", ms(1)).await.unwrap(), "a replay");
    assert!(store.remember_nonce("d1", "n2", NOW).await.unwrap());
    assert!(store.remember_nonce("d2", "n1", NOW).await.unwrap(), "nonces are per device");
    assert!(!store.remember_nonce("d2", "n1", NOW).await.unwrap());
});

both!(purge_nonces, |db, store| {
    assert_eq!(store.purge_nonces(NOW, 10).await.unwrap(), 0);
    store.remember_nonce("d1", "old", ms(-100)).await.unwrap();
    store.remember_nonce("d2", "older", ms(-200)).await.unwrap();
    store.remember_nonce("d1", "edge", NOW).await.unwrap();
    store.remember_nonce("d1", "new", ms(100)).await.unwrap();
    // Strictly older than `before` goes, `limit` at a time.
    assert_eq!(store.purge_nonces(NOW, 1).await.unwrap(), 1, "one batch");
    assert_eq!(store.purge_nonces(NOW, 10).await.unwrap(), 1, "the rest");
    assert!(store.remember_nonce("d1", "old", ms(200)).await.unwrap(), "forgotten");
    assert!(store.remember_nonce("d2", "older", ms(200)).await.unwrap(), "forgotten");
    assert!(!store.remember_nonce("d1", "edge", ms(200)).await.unwrap(), "kept");
    assert!(!store.remember_nonce("d1", "new", ms(200)).await.unwrap(), "kept");
    assert_eq!(store.purge_nonces(NOW, 10).await.unwrap(), 0);
});

// ---- transactions ----

both!(insert_mss_transaction, |db, store| {
    let t1 = tx("T1", "41790000001", Some("d1"), Method::App);
    assert_eq!(store.insert_mss_request(&t1, &mss(&t1)).await.unwrap().0, InsertOutcome::Inserted);
    assert_eq!(store.find_mss_transaction("T1").await.unwrap(), Some((t1.clone(), mss(&t1))));
    // The same AP_ID + AP_TransID + Instant under a new MSSP_TransID is a duplicate, and
    // neither half of it is written.
    let replay = TransactionRecord { id: "T2".into(), content: SignContent::Text("other".into()), ..t1.clone() };
    let replay_mss = MssRecord { transaction_id: "T2".into(), ..mss(&t1) };
    assert_eq!(store.insert_mss_request(&replay, &replay_mss).await.unwrap().0, InsertOutcome::Duplicate);
    assert_eq!(store.find_transaction("T2").await.unwrap(), None);
    assert_eq!(store.find_mss_transaction("T2").await.unwrap(), None);
    assert_eq!(store.find_transaction("T1").await.unwrap(), Some(t1.clone()));
    // Change any one of the three and it is a new request.
    let later = MssRecord { ap_instant: ms(1), ..mss(&t1) };
    let other_id = MssRecord { ap_trans_id: "AP-other".into(), ..mss(&t1) };
    let other_ap = MssRecord { ap_id: "mid://other".into(), ..mss(&t1) };
    for (id, m) in [("T3", later), ("T4", other_id), ("T5", other_ap)] {
        let t = TransactionRecord { id: id.into(), ..t1.clone() };
        let m = MssRecord { transaction_id: id.into(), ..m };
        assert_eq!(store.insert_mss_request(&t, &m).await.unwrap().0, InsertOutcome::Inserted, "{id}");
        assert_eq!(store.find_mss_transaction(id).await.unwrap(), Some((t, m)));
    }
});

both!(failed_request_write_leaves_nothing, |db, store| {
    let first = tx("F0", "41790000100", Some("d0"), Method::Sim);
    assert_eq!(store.insert_mss_request(&first, &mss(&first)).await.unwrap().0, InsertOutcome::Inserted);
    // Eight writes at once (on SQLite, the writer takes them in one batch). The first one's
    // transaction row is new, but its MSS row names F0's, which exists: it fails after its
    // first statement. The others are new requests of other users.
    let results = race(&store, |store, i| async move {
        let id = format!("F{}", i + 1);
        let t = tx(&id, &format!("4179000020{i}"), Some("d1"), Method::Sim);
        let m = if i == 0 { MssRecord { transaction_id: "F0".into(), ..mss(&t) } } else { mss(&t) };
        store.insert_mss_request(&t, &m).await.map(|(outcome, _)| outcome)
    })
    .await;
    assert!(results[0].is_err(), "the MSS row of an existing request: {:?}", results[0]);
    for (i, result) in results.iter().enumerate().skip(1) {
        assert_eq!(result.as_ref().ok(), Some(&InsertOutcome::Inserted), "F{}: {result:?}", i + 1);
        assert!(store.find_mss_transaction(&format!("F{}", i + 1)).await.unwrap().is_some());
    }
    // Nothing of the failed write is left, and F0 is as it was.
    assert_eq!(store.find_transaction("F1").await.unwrap(), None);
    assert_eq!(store.find_mss_transaction("F0").await.unwrap(), Some((first.clone(), mss(&first))));
});

both!(insert_transaction, |db, store| {
    // A transaction no service table refers to, asking for a document's digest.
    let doc = TransactionRecord {
        content: SignContent::Document { name: "Vertrag März.pdf".into(), sha256: [0xab; 32] },
        ..tx("D1", "41790000001", Some("d1"), Method::App)
    };
    store.insert_transaction(&doc).await.unwrap();
    assert_eq!(store.find_transaction("D1").await.unwrap(), Some(doc.clone()));
    assert_eq!(store.find_mss_transaction("D1").await.unwrap(), None, "no MSS request");
    // The id is unique.
    assert!(store.insert_transaction(&doc).await.is_err());
});

both!(find_transaction, |db, store| {
    assert_eq!(store.find_transaction("T1").await.unwrap(), None);
    let bare = tx("T1", "41790000001", None, Method::Sim);
    let full = TransactionRecord {
        state: TxState::Failed,
        failure: Some(Failure::new(FailureReason::Declined, Some("user cancelled"))),
        signature: Some(vec![0x30, 0x80, 0, 0, 255]),
        completed_at: Some(ms(10)),
        ..tx("T2", "41790000002", Some("d2"), Method::App)
    };
    store.insert_transaction(&bare).await.unwrap();
    store.insert_transaction(&full).await.unwrap();
    assert_eq!(store.find_transaction("T1").await.unwrap(), Some(bare));
    assert_eq!(store.find_transaction("T2").await.unwrap(), Some(full));
    assert_eq!(store.find_transaction("t1").await.unwrap(), None);
});

both!(find_mss_transaction, |db, store| {
    assert_eq!(store.find_mss_transaction("T1").await.unwrap(), None);
    let t = ended(TxState::Failed, tx("T1", "41000092406", None, Method::Sim));
    let t = TransactionRecord { failure: Some(Failure::new(FailureReason::Simulated, Some("x"))), ..t };
    let m = MssRecord { services: "geofencing validate".into(), fault_code: Some(406), ..mss(&t) };
    assert_eq!(store.insert_mss_request(&t, &m).await.unwrap().0, InsertOutcome::Inserted);
    assert_eq!(store.find_mss_transaction("T1").await.unwrap(), Some((t, m)));
    assert_eq!(store.find_mss_transaction("t1").await.unwrap(), None);
});

both!(device_inbox, |db, store| {
    let at = |id: &str, created_at: Timestamp, expires_at: Timestamp| TransactionRecord {
        created_at,
        expires_at,
        ..tx(id, "41790000001", Some("d1"), Method::App)
    };
    store.insert_transaction(&at("second", ms(-10), ms(1000))).await.unwrap();
    store.insert_transaction(&at("first", ms(-20), ms(1000))).await.unwrap();
    store.insert_transaction(&at("expired", ms(-30), ms(-1))).await.unwrap();
    store.insert_transaction(&at("edge", ms(-30), NOW)).await.unwrap();
    store.insert_transaction(&ended(TxState::Signed, at("signed", ms(-40), ms(1000)))).await.unwrap();
    store.insert_transaction(&ended(TxState::Failed, at("failed", ms(-40), ms(1000)))).await.unwrap();
    store
        .insert_transaction(&TransactionRecord { device_id: Some("d2".into()), ..at("theirs", ms(-50), ms(1000)) })
        .await
        .unwrap();
    store
        .insert_transaction(&TransactionRecord { device_id: None, ..at("nodevice", ms(-50), ms(1000)) })
        .await
        .unwrap();

    let inbox = store.device_inbox("d1", NOW).await.unwrap();
    let ids: Vec<_> = inbox.pending.iter().map(|t| t.id.as_str()).collect();
    assert_eq!(ids, vec!["first", "second"], "oldest first; no expired, final or foreign request");
    assert_eq!(inbox.pending[0], at("first", ms(-20), ms(1000)));
    assert!(!inbox.receipts_waiting);
    assert!(store.complete_transaction("first", &Completion::Signed(vec![1]), NOW).await.unwrap());
    let ids: Vec<_> = store.device_inbox("d1", NOW).await.unwrap().pending.into_iter().map(|t| t.id).collect();
    assert_eq!(ids, vec!["second"]);
    assert_eq!(store.device_inbox("d1", ms(1000)).await.unwrap(), DeviceInbox::default());
    assert_eq!(store.device_inbox("d9", NOW).await.unwrap(), DeviceInbox::default());

    // Receipts waiting are told with or without pending requests, until they are taken.
    assert!(store.insert_receipt("signed", Some("d1"), "Thank you", NOW).await.unwrap());
    let inbox = store.device_inbox("d1", NOW).await.unwrap();
    assert!(inbox.receipts_waiting);
    assert_eq!(inbox.pending.len(), 1);
    let later = store.device_inbox("d1", ms(1000)).await.unwrap();
    assert_eq!(later, DeviceInbox { pending: vec![], receipts_waiting: true });
    assert!(!store.device_inbox("d2", NOW).await.unwrap().receipts_waiting, "another device's");
    assert_eq!(store.take_receipts("d1", ms(1)).await.unwrap().len(), 1);
    assert!(!store.device_inbox("d1", NOW).await.unwrap().receipts_waiting);
});

both!(complete_transaction, |db, store| {
    store.insert_transaction(&tx("T1", "41790000001", Some("d1"), Method::App)).await.unwrap();
    store.insert_transaction(&tx("T2", "41790000001", Some("d1"), Method::App)).await.unwrap();
    store.insert_transaction(&ended(TxState::Failed, tx("T3", "41790000001", None, Method::App))).await.unwrap();

    assert!(store.complete_transaction("T1", &Completion::Signed(vec![0x30, 1, 2]), ms(5)).await.unwrap());
    let t1 = store.find_transaction("T1").await.unwrap().unwrap();
    assert_eq!(
        t1,
        TransactionRecord {
            state: TxState::Signed,
            signature: Some(vec![0x30, 1, 2]),
            completed_at: Some(ms(5)),
            ..tx("T1", "41790000001", Some("d1"), Method::App)
        }
    );
    // The first answer wins: a second completion changes nothing.
    let expired = Completion::Failed(Failure::new(FailureReason::Expired, Some("expired")));
    assert!(!store.complete_transaction("T1", &expired, ms(9)).await.unwrap());
    assert!(!store.complete_transaction("T1", &Completion::Signed(vec![9]), ms(9)).await.unwrap());
    assert_eq!(store.find_transaction("T1").await.unwrap(), Some(t1));

    let cancelled = Failure::new(FailureReason::Declined, Some("cancelled"));
    assert!(store.complete_transaction("T2", &Completion::Failed(cancelled.clone()), ms(6)).await.unwrap());
    let t2 = store.find_transaction("T2").await.unwrap().unwrap();
    assert_eq!(
        (t2.state, t2.failure, t2.signature, t2.completed_at),
        (TxState::Failed, Some(cancelled), None, Some(ms(6)))
    );
    // Only from pending; an unknown transaction is not completed.
    assert!(!store.complete_transaction("T3", &Completion::Signed(vec![1]), NOW).await.unwrap());
    assert_eq!(store.find_transaction("T3").await.unwrap().unwrap().signature, None);
    assert!(!store.complete_transaction("nope", &Completion::Signed(vec![1]), NOW).await.unwrap());
    assert_eq!(store.find_transaction("nope").await.unwrap(), None);
});

both!(concurrent_complete_transaction, |db, store| {
    store.insert_transaction(&tx("T1", "41790000001", Some("d1"), Method::App)).await.unwrap();
    let results = race(&store, |store, i| async move {
        let mark = i as u8;
        (mark, store.complete_transaction("T1", &Completion::Signed(vec![mark]), ms(i)).await.unwrap())
    })
    .await;
    let winners: Vec<u8> = results.into_iter().filter(|(_, won)| *won).map(|(i, _)| i).collect();
    assert_eq!(winners.len(), 1, "winners: {winners:?}");
    let t1 = store.find_transaction("T1").await.unwrap().unwrap();
    assert_eq!(t1.state, TxState::Signed);
    assert_eq!(t1.signature, Some(vec![winners[0]]), "the winner's answer is the one kept");
    assert_eq!(t1.completed_at, Some(ms(winners[0] as i64)));
});

/// Writes `t` as the engine writes a new request; returns the IDs it replaced.
async fn write_request(store: &Store, t: &TransactionRecord) -> Vec<String> {
    let mut write = store.begin_request(t).await.unwrap();
    write.insert(t).await.unwrap();
    write.commit(t).await.unwrap()
}

both!(a_new_app_request_replaces_the_pending_ones, |db, store| {
    let me = "41790000001";
    user_with_device(&store, me, "d1").await;
    user_with_device(&store, "41790000002", "d2").await;
    store.insert_transaction(&tx("old1", me, Some("d1"), Method::App)).await.unwrap();
    store.insert_transaction(&tx("old2", me, Some("d0"), Method::App)).await.unwrap();
    store.insert_transaction(&tx("robot", me, Some("r1"), Method::Sim)).await.unwrap();
    store.insert_transaction(&ended(TxState::Signed, tx("done", me, Some("d1"), Method::App))).await.unwrap();
    store.insert_transaction(&tx("theirs", "41790000002", Some("d2"), Method::App)).await.unwrap();

    let keep = TransactionRecord { created_at: ms(7), ..tx("keep", me, Some("d1"), Method::App) };
    assert_eq!(sorted(write_request(&store, &keep).await), vec!["old1", "old2"]);
    let replaced = Failure::new(FailureReason::Replaced, None);
    for id in ["old1", "old2"] {
        let t = store.find_transaction(id).await.unwrap().unwrap();
        assert_eq!(
            (t.state, t.failure, t.completed_at),
            (TxState::Failed, Some(replaced.clone()), Some(ms(7))),
            "{id}"
        );
    }
    assert_eq!(store.find_transaction("keep").await.unwrap(), Some(keep.clone()));
    assert_eq!(state_of(&store, "robot").await, TxState::Pending, "only App requests");
    assert_eq!(state_of(&store, "done").await, TxState::Signed);
    assert_eq!(store.find_transaction("done").await.unwrap().unwrap().failure, None);
    assert_eq!(state_of(&store, "theirs").await, TxState::Pending, "only this user's");
    // A robot's request, or one already final, replaces nothing.
    assert_eq!(write_request(&store, &tx("robot2", me, Some("r1"), Method::Sim)).await, Vec::<String>::new());
    let signed = ended(TxState::Signed, tx("done2", me, Some("d1"), Method::App));
    assert_eq!(write_request(&store, &signed).await, Vec::<String>::new());
    assert_eq!(state_of(&store, "keep").await, TxState::Pending);
    // An MSS request replaces too; a duplicate writes nothing and replaces nothing.
    let next = tx("next", me, Some("d1"), Method::App);
    assert_eq!(
        store.insert_mss_request(&next, &mss(&next)).await.unwrap(),
        (InsertOutcome::Inserted, vec!["keep".into()])
    );
    assert_eq!(state_of(&store, "keep").await, TxState::Failed);
    let again = TransactionRecord { id: "again".into(), ..next.clone() };
    let again_mss = MssRecord { transaction_id: "again".into(), ..mss(&next) };
    assert_eq!(store.insert_mss_request(&again, &again_mss).await.unwrap(), (InsertOutcome::Duplicate, Vec::new()));
    assert_eq!(store.find_transaction("again").await.unwrap(), None);
    assert_eq!(state_of(&store, "next").await, TxState::Pending);
});

both!(racing_app_requests_leave_one_pending, |db, store| {
    // Eight MSS requests of one user at once: each waits for the user's lock (on SQLite,
    // the writer's turn), so exactly one stays pending and each of the others is reported
    // replaced exactly once.
    user_with_device(&store, "41790000001", "d1").await;
    let results = race(&store, |store, i| async move {
        let t = TransactionRecord { created_at: ms(i), ..tx(&format!("R{i}"), "41790000001", Some("d1"), Method::App) };
        store.insert_mss_request(&t, &mss(&t)).await
    })
    .await;
    let mut replaced = Vec::new();
    for result in results {
        let (outcome, ids) = result.unwrap();
        assert_eq!(outcome, InsertOutcome::Inserted);
        replaced.extend(ids);
    }
    let mut pending = Vec::new();
    for i in 0..8 {
        if state_of(&store, &format!("R{i}")).await == TxState::Pending {
            pending.push(format!("R{i}"));
        }
    }
    assert_eq!(pending.len(), 1, "{pending:?}");
    let others: Vec<String> = (0..8).map(|i| format!("R{i}")).filter(|id| *id != pending[0]).collect();
    assert_eq!(sorted(replaced), others);
});

both!(concurrent_app_requests_leave_the_last_pending, |db, store| {
    // A forced interleaving: the first request's write is open (inserted, not committed)
    // when the second starts. The second waits for the user's lock, so it cannot insert
    // before the first has committed, and the two cannot fail each other.
    let me = "41790000001";
    user_with_device(&store, me, "d1").await;
    let first = tx("first", me, Some("d1"), Method::App);
    let mut write = store.begin_request(&first).await.unwrap();
    write.insert(&first).await.unwrap();

    let (started_tx, started) = tokio::sync::oneshot::channel();
    let second = tokio::spawn({
        let store = store.clone();
        async move {
            let t = tx("second", "41790000001", Some("d1"), Method::App);
            started_tx.send(()).unwrap();
            let mut write = store.begin_request(&t).await.unwrap();
            write.insert(&t).await.unwrap();
            write.commit(&t).await.unwrap()
        }
    });
    started.await.unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    assert!(!second.is_finished(), "the second write went ahead while the first was open");
    assert_eq!(store.find_transaction("second").await.unwrap(), None, "nothing of the second is visible");

    assert_eq!(write.commit(&first).await.unwrap(), Vec::<String>::new());
    let replaced = tokio::time::timeout(std::time::Duration::from_secs(10), second).await.unwrap().unwrap();
    assert_eq!(replaced, vec!["first"]);
    assert_eq!(state_of(&store, "first").await, TxState::Failed);
    assert_eq!(state_of(&store, "second").await, TxState::Pending);

    // Many at once, on a real pool: exactly one stays pending, whatever the order.
    let writes: Vec<_> = (0..16)
        .map(|i| {
            let store = store.clone();
            tokio::spawn(async move {
                write_request(&store, &tx(&format!("burst{i}"), "41790000001", Some("d1"), Method::App)).await
            })
        })
        .collect();
    for w in writes {
        w.await.unwrap();
    }
    let pending = store.device_inbox("d1", NOW).await.unwrap().pending;
    assert_eq!(pending.len(), 1, "pending: {:?}", pending.iter().map(|t| &t.id).collect::<Vec<_>>());
});

both!(fail_pending_of_device, |db, store| {
    store.insert_transaction(&tx("p1", "41790000001", Some("d1"), Method::App)).await.unwrap();
    store.insert_transaction(&tx("p2", "41790000001", Some("d1"), Method::App)).await.unwrap();
    store.insert_transaction(&ended(TxState::Signed, tx("s1", "41790000001", Some("d1"), Method::App))).await.unwrap();
    store.insert_transaction(&tx("q1", "41790000001", Some("d2"), Method::App)).await.unwrap();
    store.insert_transaction(&tx("n1", "41790000001", None, Method::App)).await.unwrap();

    let blocked = Failure::new(FailureReason::PinBlocked, Some("device blocked"));
    let failed = store.fail_pending_of_device("d1", &blocked, ms(3)).await.unwrap();
    assert_eq!(sorted(failed), vec!["p1", "p2"]);
    let p1 = store.find_transaction("p1").await.unwrap().unwrap();
    assert_eq!((p1.state, p1.failure, p1.completed_at), (TxState::Failed, Some(blocked.clone()), Some(ms(3))));
    assert_eq!(state_of(&store, "s1").await, TxState::Signed);
    assert_eq!(state_of(&store, "q1").await, TxState::Pending);
    assert_eq!(state_of(&store, "n1").await, TxState::Pending);
    assert_eq!(store.fail_pending_of_device("d1", &blocked, ms(4)).await.unwrap(), Vec::<String>::new());
});

// ---- receipts ----

both!(insert_receipt, |db, store| {
    store.insert_transaction(&tx("T1", "41790000001", Some("d1"), Method::App)).await.unwrap();
    store.insert_transaction(&tx("T2", "41790000001", None, Method::App)).await.unwrap();
    assert!(store.insert_receipt("T1", Some("d1"), "Thank you", NOW).await.unwrap());
    // One receipt per transaction: the second is refused and the first kept.
    assert!(!store.insert_receipt("T1", Some("d1"), "Second", ms(1)).await.unwrap());
    assert!(store.insert_receipt("T2", None, "No device", NOW).await.unwrap());
    assert!(!store.insert_receipt("T2", None, "No device", NOW).await.unwrap());
    assert_eq!(
        store.take_receipts("d1", ms(2)).await.unwrap(),
        vec![ReceiptRecord { mssp_trans_id: "T1".into(), message: "Thank you".into() }]
    );
    // A receipt belongs to a transaction that exists.
    assert!(store.insert_receipt("nope", Some("d1"), "x", NOW).await.is_err());
    assert_eq!(store.take_receipts("d1", ms(3)).await.unwrap(), vec![]);
});

both!(take_receipts, |db, store| {
    for (id, device) in [("T1", Some("d1")), ("T2", Some("d1")), ("T3", Some("d2")), ("T4", None)] {
        store.insert_transaction(&tx(id, "41790000001", device, Method::App)).await.unwrap();
        assert!(store.insert_receipt(id, device, &format!("receipt {id}"), NOW).await.unwrap());
    }
    assert_eq!(store.take_receipts("d9", NOW).await.unwrap(), vec![]);
    let mut mine = store.take_receipts("d1", ms(1)).await.unwrap();
    mine.sort_by(|a, b| a.mssp_trans_id.cmp(&b.mssp_trans_id));
    assert_eq!(
        mine,
        vec![
            ReceiptRecord { mssp_trans_id: "T1".into(), message: "receipt T1".into() },
            ReceiptRecord { mssp_trans_id: "T2".into(), message: "receipt T2".into() },
        ]
    );
    // Each receipt is handed out once.
    assert_eq!(store.take_receipts("d1", ms(2)).await.unwrap(), vec![]);
    store.insert_transaction(&tx("T5", "41790000001", Some("d1"), Method::App)).await.unwrap();
    assert!(store.insert_receipt("T5", Some("d1"), "receipt T5", ms(3)).await.unwrap());
    assert_eq!(
        store.take_receipts("d1", ms(4)).await.unwrap(),
        vec![ReceiptRecord { mssp_trans_id: "T5".into(), message: "receipt T5".into() }]
    );
    assert_eq!(
        store.take_receipts("d2", ms(4)).await.unwrap(),
        vec![ReceiptRecord { mssp_trans_id: "T3".into(), message: "receipt T3".into() }]
    );
    assert_eq!(store.take_receipts("d2", ms(5)).await.unwrap(), vec![]);
});

both!(concurrent_take_receipts, |db, store| {
    for i in 0..6 {
        let id = format!("T{i}");
        store.insert_transaction(&tx(&id, "41790000001", Some("d1"), Method::App)).await.unwrap();
        assert!(store.insert_receipt(&id, Some("d1"), "ok", NOW).await.unwrap());
    }
    let taken = race(&store, |store, i| async move { store.take_receipts("d1", ms(i)).await.unwrap() }).await;
    let handed_out: Vec<String> = taken.into_iter().flatten().map(|r| r.mssp_trans_id).collect();
    assert_eq!(sorted(handed_out), vec!["T0", "T1", "T2", "T3", "T4", "T5"], "each receipt exactly once");
});

// ---- test numbers ----

both!(delete_test_users, |db, store| {
    user_with_device(&store, "41000092401", "robot1").await;
    assert!(store.insert_user(&UserRecord { test_fault: Some(402), ..user("41000092402") }).await.unwrap());
    assert!(store.insert_user(&user("41790000001")).await.unwrap());
    assert_eq!(store.delete_test_users(&[], NOW).await.unwrap(), 0);
    assert_eq!(store.delete_test_users(&["41000092401", "41000092402", "41000092403"], NOW).await.unwrap(), 2);
    assert_eq!(store.find_user("41000092401").await.unwrap(), None);
    assert_eq!(store.find_user("41000092402").await.unwrap(), None);
    assert_eq!(store.find_device("robot1").await.unwrap(), None);
    assert!(store.find_user("41790000001").await.unwrap().is_some());
    assert_eq!(store.delete_test_users(&["41000092401", "41000092402"], NOW).await.unwrap(), 0);
});

// ---- change notifications ----

both!(publish_listen, |db, store| {
    match db.backend {
        Backend::Sqlite => {
            assert!(store.listen().await.unwrap().is_none());
            // One SQLite node needs no fan-out: publishing is a no-op, not an error.
            store.publish(&ChangeEvent::TransactionDone("T1".into())).await.unwrap();
            store.publish(&ChangeEvent::DeviceInbox("d1".into())).await.unwrap();
        }
        Backend::Postgres => {
            let mut listener = store.listen().await.unwrap().expect("PostgreSQL listens");
            // The channel is database-wide: tag our events so other tests' events are skipped.
            let tag = format!("listen-{}-{}", std::process::id(), NOW);
            let other_node = db.connect().await;
            let sent = vec![
                ChangeEvent::TransactionDone(format!("T-{tag}")),
                ChangeEvent::DeviceInbox(format!("d-{tag}")),
                ChangeEvent::OidcClient(format!("rp-{tag}")),
                ChangeEvent::DocumentFree(format!("doc-{tag}")),
                ChangeEvent::Ap(format!("mid://ap-{tag}")),
            ];
            store.publish(&sent[0]).await.unwrap();
            other_node.publish(&sent[1]).await.unwrap();
            store.publish(&sent[2]).await.unwrap();
            other_node.publish(&sent[3]).await.unwrap();
            store.publish(&sent[4]).await.unwrap();
            let received = tagged_events(&mut listener, &tag, |received| received.len() == sent.len()).await;
            assert_eq!(received, sent);
        }
    }
});

/// The events whose IDs end in `tag` (the channel is database-wide: other tests' events
/// are skipped), in the order received, until `enough` says so; at most 10 s.
async fn tagged_events(
    listener: &mut ChangeListener,
    tag: &str,
    enough: impl Fn(&[ChangeEvent]) -> bool,
) -> Vec<ChangeEvent> {
    let mut received = Vec::new();
    let collect = async {
        while !enough(&received) {
            let event = listener.next().await.unwrap();
            let ours = match &event {
                ChangeEvent::TransactionDone(id)
                | ChangeEvent::DeviceInbox(id)
                | ChangeEvent::OidcClient(id)
                | ChangeEvent::DocumentFree(id)
                | ChangeEvent::Ap(id) => id.ends_with(tag),
            };
            if ours {
                received.push(event);
            }
        }
    };
    if tokio::time::timeout(Duration::from_secs(10), collect).await.is_err() {
        panic!("events not received in time; got {received:?}");
    }
    received
}

both!(writes_tell_other_nodes, |db, store| {
    // On PostgreSQL a new request, the requests it replaces and a completion are told to
    // the other nodes by the writes themselves; what is not written is not told.
    let mut listener = match db.backend {
        Backend::Sqlite => {
            assert!(store.listen().await.unwrap().is_none());
            return;
        }
        Backend::Postgres => store.listen().await.unwrap().expect("PostgreSQL listens"),
    };
    // The channel is database-wide: our IDs end in a tag, and other tests' events are skipped.
    let tag = format!("-tell-{}-{}", std::process::id(), NOW);
    let id = |name: &str| format!("{name}{tag}");
    let me = "41790000001";
    user_with_device(&store, me, &id("d1")).await;
    let (app, sim) = (Some(id("d1")), Some(id("s1")));
    let old = tx(&id("old"), me, app.as_deref(), Method::App);
    assert_eq!(store.insert_mss_request(&old, &mss(&old)).await.unwrap().0, InsertOutcome::Inserted);
    let new = tx(&id("new"), me, app.as_deref(), Method::App);
    assert_eq!(store.insert_mss_request(&new, &mss(&new)).await.unwrap(), (InsertOutcome::Inserted, vec![id("old")]));
    let duplicate = TransactionRecord { id: id("dup"), ..new.clone() };
    let duplicate_mss = MssRecord { transaction_id: id("dup"), ..mss(&new) };
    assert_eq!(store.insert_mss_request(&duplicate, &duplicate_mss).await.unwrap().0, InsertOutcome::Duplicate);
    // A request that waits for no device (a robot's, signed at once) tells nothing.
    let robot = ended(TxState::Signed, tx(&id("robot"), me, sim.as_deref(), Method::Sim));
    assert_eq!(store.insert_mss_request(&robot, &mss(&robot)).await.unwrap().0, InsertOutcome::Inserted);
    // A request written by the other services (not MSS), replacing nothing, and one dropped.
    let sim_request = tx(&id("sim"), me, sim.as_deref(), Method::Sim);
    assert_eq!(write_request(&store, &sim_request).await, Vec::<String>::new());
    let dropped = tx(&id("dropped"), me, app.as_deref(), Method::App);
    let mut write = store.begin_request(&dropped).await.unwrap();
    write.insert(&dropped).await.unwrap();
    drop(write);
    let signed = Completion::Signed(vec![0x30, 1, 2]);
    assert!(store.complete_transaction(&id("new"), &signed, ms(5)).await.unwrap());
    assert!(!store.complete_transaction(&id("new"), &signed, ms(6)).await.unwrap(), "it had ended");
    let last = ChangeEvent::Ap(id("last"));
    store.publish(&last).await.unwrap();
    let mut received = tagged_events(&mut listener, &tag, |received| received.last() == Some(&last)).await;
    received.pop();
    let expected = vec![
        ChangeEvent::DeviceInbox(id("d1")),
        ChangeEvent::DeviceInbox(id("d1")),
        ChangeEvent::TransactionDone(id("old")),
        ChangeEvent::DeviceInbox(id("s1")),
        ChangeEvent::TransactionDone(id("new")),
    ];
    assert_eq!(received, expected);
});

/// Runs `op(store, i)` for i in 0..8 on eight tasks released at the same moment, and
/// returns their results in order: the races the conditional updates must win.
async fn race<T, F, Fut>(store: &Store, op: F) -> Vec<T>
where
    F: Fn(Store, i64) -> Fut,
    Fut: Future<Output = T> + Send + 'static,
    T: Send + 'static,
{
    let start = Arc::new(tokio::sync::Barrier::new(8));
    let tasks: Vec<_> = (0..8)
        .map(|i| {
            let (operation, start) = (op(store.clone(), i), start.clone());
            tokio::spawn(async move {
                start.wait().await;
                operation.await
            })
        })
        .collect();
    let mut results = Vec::with_capacity(tasks.len());
    for task in tasks {
        results.push(task.await.expect("task"));
    }
    results
}

// ---- the OpenID provider ----

fn oidc_object(kind: &str, id: &str, grant: Option<&str>, expires_at: Timestamp) -> OidcObject {
    OidcObject {
        kind: kind.into(),
        id: id.into(),
        grant_id: grant.map(str::to_string),
        data: format!("{{\"id\":\"{id}\"}}"),
        created_at: NOW,
        expires_at,
        used_at: None,
    }
}

both!(oidc_clients, |db, store| {
    let client = OidcClientRecord {
        client_id: "rp".into(),
        settings: "{\"name\":\"RP\"}".into(),
        secret_hash: Some("abc".into()),
        created_at: NOW,
    };
    store.upsert_oidc_client(&client).await.unwrap();
    assert_eq!(store.find_oidc_client("rp").await.unwrap(), Some(client.clone()));
    let changed = OidcClientRecord { settings: "{\"name\":\"RP 2\"}".into(), secret_hash: None, ..client };
    store.upsert_oidc_client(&changed).await.unwrap();
    assert_eq!(store.list_oidc_clients().await.unwrap(), vec![changed]);
    assert!(store.delete_oidc_client("rp").await.unwrap());
    assert!(!store.delete_oidc_client("rp").await.unwrap());
    assert_eq!(store.find_oidc_client("rp").await.unwrap(), None);
});

both!(oidc_keys, |db, store| {
    let key = |kid: &str, signs_from: Timestamp| OidcKeyRecord {
        kid: kid.into(),
        alg: "RS256".into(),
        sealed_key: vec![1, 2, 3],
        public_jwk: "{}".into(),
        created_at: NOW,
        signs_from,
        retired_at: None,
    };
    store.insert_oidc_key(&key("old", NOW)).await.unwrap();
    store.insert_oidc_key(&key("new", ms(3_600_000))).await.unwrap();
    let kids = |keys: Vec<OidcKeyRecord>| keys.into_iter().map(|k| k.kid).collect::<Vec<_>>();
    assert_eq!(kids(store.oidc_keys(NOW).await.unwrap()), ["new", "old"], "by creation, then kid");
    assert!(store.retire_oidc_key("old", ms(7_200_000)).await.unwrap());
    assert!(!store.retire_oidc_key("old", ms(1)).await.unwrap(), "retired once");
    assert_eq!(kids(store.oidc_keys(ms(7_199_999)).await.unwrap()).len(), 2, "still published until retired");
    assert_eq!(kids(store.oidc_keys(ms(7_200_000)).await.unwrap()), ["new"]);
});

both!(oidc_objects_are_consumed_once, |db, store| {
    assert!(store.insert_oidc_object(&oidc_object("code", "c1", Some("g1"), ms(120_000))).await.unwrap());
    assert!(
        !store.insert_oidc_object(&oidc_object("code", "c1", None, ms(120_000))).await.unwrap(),
        "ids are unique per kind"
    );
    assert!(store.insert_oidc_object(&oidc_object("par", "c1", None, ms(60_000))).await.unwrap(), "another kind");
    let results =
        race(&store, |store, _| async move { store.consume_oidc_object("code", "c1", ms(1)).await.unwrap() }).await;
    let fresh = results.iter().filter(|r| matches!(r, Consumed::Fresh(_))).count();
    let replayed =
        results.iter().filter(|r| matches!(r, Consumed::Replayed(o) if o.grant_id.as_deref() == Some("g1"))).count();
    assert_eq!((fresh, replayed), (1, 7), "{results:?}");
    // Expired or unknown objects are neither found nor consumed.
    assert_eq!(store.consume_oidc_object("par", "c1", ms(60_000)).await.unwrap(), Consumed::Unknown);
    assert_eq!(store.find_oidc_object("par", "c1", ms(60_000)).await.unwrap(), None);
    assert_eq!(store.consume_oidc_object("code", "nope", NOW).await.unwrap(), Consumed::Unknown);
});

both!(oidc_grants_move_on_once_per_generation, |db, store| {
    assert!(store.insert_oidc_object(&oidc_object("grant", "g1", Some("g1"), ms(3_600_000))).await.unwrap());
    let (grant, generation) = store.find_oidc_grant("g1", NOW).await.unwrap().expect("the grant");
    assert_eq!((grant.data.as_str(), generation), ("{\"id\":\"g1\"}", 0));
    // Eight refreshes with the same token: one moves the grant on, seven find it moved.
    let results = race(&store, |store, _| async move { store.rotate_oidc_grant("g1", 0, ms(1)).await.unwrap() }).await;
    let rotated = results.iter().filter(|r| matches!(r, Rotation::Rotated(g) if g.id == "g1")).count();
    let stale = results.iter().filter(|r| **r == Rotation::Stale).count();
    assert_eq!((rotated, stale), (1, 7), "{results:?}");
    assert_eq!(store.find_oidc_grant("g1", NOW).await.unwrap().map(|(_, n)| n), Some(1));
    assert_eq!(store.rotate_oidc_grant("g1", 0, ms(2)).await.unwrap(), Rotation::Stale, "a spent generation");
    assert!(matches!(store.rotate_oidc_grant("g1", 1, ms(2)).await.unwrap(), Rotation::Rotated(_)));
    assert_eq!(store.rotate_oidc_grant("g1", 2, ms(3_600_000)).await.unwrap(), Rotation::Unknown, "expired");
    assert_eq!(store.find_oidc_grant("g1", ms(3_600_000)).await.unwrap(), None);
    assert_eq!(store.rotate_oidc_grant("nope", 0, NOW).await.unwrap(), Rotation::Unknown);
    store.revoke_oidc_grant("g1").await.unwrap();
    assert_eq!(store.rotate_oidc_grant("g1", 2, ms(3)).await.unwrap(), Rotation::Unknown, "revoked");
    // Only grants move on.
    store.insert_oidc_object(&oidc_object("code", "g2", None, ms(60_000))).await.unwrap();
    assert_eq!(store.rotate_oidc_grant("g2", 0, NOW).await.unwrap(), Rotation::Unknown);
});

both!(oidc_batched_writes_keep_guarantees, |db, store| {
    // The same object inserted eight times at once: one insert wins.
    let results = race(&store, |store, _| async move {
        store.insert_oidc_object(&oidc_object("par", "same", None, ms(60_000))).await.unwrap()
    })
    .await;
    assert_eq!(results.iter().filter(|inserted| **inserted).count(), 1, "{results:?}");
    // Different objects, with consumptions and rotations among them: each gets its answer.
    store.insert_oidc_object(&oidc_object("grant", "g", Some("g"), ms(60_000))).await.unwrap();
    let results = race(&store, |store, i| async move {
        match i % 4 {
            0 => {
                format!("{:?}", store.insert_oidc_object(&oidc_object("par", &format!("p{i}"), None, ms(60_000))).await)
            }
            1 => format!(
                "{:?}",
                store.consume_oidc_object("par", "same", ms(1)).await.map(|c| matches!(c, Consumed::Fresh(_)))
            ),
            2 => format!("{:?}", store.rotate_oidc_grant("g", 0, ms(1)).await.map(|r| r != Rotation::Stale)),
            _ => format!("{:?}", store.consume_oidc_object("par", "missing", ms(1)).await),
        }
    })
    .await;
    assert_eq!(
        results.iter().filter(|r| *r == "Ok(true)").count(),
        4,
        "two inserts, one consumption, one rotation: {results:?}"
    );
    assert_eq!(
        results.iter().filter(|r| *r == "Ok(false)").count(),
        2,
        "the second consumption and rotation: {results:?}"
    );
    assert_eq!(results.iter().filter(|r| *r == "Ok(Unknown)").count(), 2, "{results:?}");
    for i in [0, 4] {
        assert!(store.find_oidc_object("par", &format!("p{i}"), NOW).await.unwrap().is_some());
    }
});

both!(oidc_objects_update_revoke_and_purge, |db, store| {
    store.insert_oidc_object(&oidc_object("login", "l1", None, ms(600_000))).await.unwrap();
    assert!(store.update_oidc_object("login", "l1", "{\"stage\":\"done\"}", ms(1)).await.unwrap());
    assert_eq!(store.find_oidc_object("login", "l1", ms(1)).await.unwrap().unwrap().data, "{\"stage\":\"done\"}");
    assert!(!store.update_oidc_object("login", "l1", "{}", ms(600_000)).await.unwrap(), "expired");
    for (kind, id) in [("grant", "g1"), ("access", "a1"), ("refresh", "r1"), ("code", "c1")] {
        store.insert_oidc_object(&oidc_object(kind, id, Some("g1"), ms(3_600_000))).await.unwrap();
    }
    store.insert_oidc_object(&oidc_object("access", "a2", Some("g2"), ms(3_600_000))).await.unwrap();
    assert_eq!(store.revoke_oidc_grant("g1").await.unwrap(), 4);
    assert_eq!(store.find_oidc_object("access", "a1", NOW).await.unwrap(), None);
    assert!(store.find_oidc_object("access", "a2", NOW).await.unwrap().is_some(), "other grants stay");
    store.insert_oidc_object(&oidc_object("par", "p1", None, ms(500_000))).await.unwrap();
    store.insert_oidc_object(&oidc_object("par", "p2", None, ms(600_000))).await.unwrap();
    // Expired by 600_000: the login, p1 and p2 (at the edge), one batch at a time.
    assert_eq!(store.purge_oidc_objects(ms(600_000), 2).await.unwrap(), 2, "a full batch");
    assert_eq!(store.purge_oidc_objects(ms(600_000), 2).await.unwrap(), 1, "the rest");
    assert_eq!(store.purge_oidc_objects(ms(600_000), 2).await.unwrap(), 0);
    for (kind, id) in [("login", "l1"), ("par", "p1"), ("par", "p2")] {
        assert_eq!(store.find_oidc_object(kind, id, NOW).await.unwrap(), None, "{kind} {id} purged");
    }
    assert!(store.find_oidc_object("access", "a2", NOW).await.unwrap().is_some(), "unexpired ones stay");
});

both!(find_user_and_devices, |db, store| {
    assert_eq!(store.find_user_and_devices("41790000009").await.unwrap(), None);
    assert!(store.insert_user(&user("41790000001")).await.unwrap());
    assert!(store.insert_user(&user("41790000002")).await.unwrap());
    let (found, devices) = store.find_user_and_devices("41790000001").await.unwrap().expect("the user");
    assert_eq!((found, devices), (user("41790000001"), vec![]), "a user without devices");
    activate(&store, &device("old", "41790000001", Method::App, NOW)).await.unwrap();
    activate(&store, &device("phone", "41790000001", Method::App, ms(10))).await.unwrap(); // retires "old"
    activate(&store, &device("robot", "41790000001", Method::Sim, ms(5))).await.unwrap();
    activate(&store, &device("theirs", "41790000002", Method::App, ms(20))).await.unwrap();
    let (found, devices) = store.find_user_and_devices("41790000001").await.unwrap().expect("the user");
    assert_eq!(found.msisdn, "41790000001");
    assert_eq!(found.state, store.find_user("41790000001").await.unwrap().unwrap().state);
    assert_eq!(devices, store.devices_of_user("41790000001").await.unwrap(), "the same devices, in the same order");
    assert_eq!(devices.iter().map(|d| d.device_id.as_str()).collect::<Vec<_>>(), ["phone", "robot"]);
});

both!(insert_mss_request_replaces, |db, store| {
    user_with_device(&store, "41790000001", "d1").await;
    let first = tx("R1", "41790000001", Some("d1"), Method::App);
    assert_eq!(store.insert_mss_request(&first, &mss(&first)).await.unwrap(), (InsertOutcome::Inserted, vec![]));
    let second = TransactionRecord { id: "R2".into(), created_at: ms(5), ..first.clone() };
    let second_mss = MssRecord { ap_trans_id: "AP-2".into(), ..mss(&second) };
    assert_eq!(
        store.insert_mss_request(&second, &second_mss).await.unwrap(),
        (InsertOutcome::Inserted, vec!["R1".to_string()])
    );
    let replaced = store.find_transaction("R1").await.unwrap().unwrap();
    assert_eq!(replaced.state, TxState::Failed);
    assert_eq!(replaced.failure.map(|f| f.reason), Some(FailureReason::Replaced));
    assert_eq!(replaced.completed_at, Some(ms(5)));
    assert_eq!(state_of(&store, "R2").await, TxState::Pending);
    // A duplicate replaces nothing.
    let again = TransactionRecord { id: "R3".into(), ..second.clone() };
    let again_mss = MssRecord { transaction_id: "R3".into(), ..second_mss.clone() };
    assert_eq!(store.insert_mss_request(&again, &again_mss).await.unwrap(), (InsertOutcome::Duplicate, vec![]));
    assert_eq!(state_of(&store, "R2").await, TxState::Pending);
    // A final request (a robot's) replaces nothing either.
    let robot =
        TransactionRecord { id: "R4".into(), state: TxState::Signed, completed_at: Some(ms(6)), ..first.clone() };
    let robot_mss = MssRecord { ap_trans_id: "AP-4".into(), ..mss(&robot) };
    assert_eq!(store.insert_mss_request(&robot, &robot_mss).await.unwrap(), (InsertOutcome::Inserted, vec![]));
    assert_eq!(state_of(&store, "R2").await, TxState::Pending);
});

// ---- the portal ----

fn account(id: &str, email: &str, msisdn: Option<&str>) -> AccountRecord {
    AccountRecord {
        account_id: id.into(),
        email: email.into(),
        password_hash: Some("$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA".into()),
        msisdn: msisdn.map(str::to_string),
        state: mobileid_core::AccountState::Unverified,
        language: "de".into(),
        properties: r#"{"employee_id":"E-7"}"#.into(),
        failed_logins: 0,
        locked_until: Timestamp::from_millis(0),
        created_at: NOW,
    }
}

both!(accounts, |db, store| {
    let anna = account("acc-1", "anna@example.ch", Some("41790000001"));
    assert!(store.insert_account(&anna).await.unwrap());
    // The address and the number are each one account's.
    assert!(!store.insert_account(&account("acc-2", "anna@example.ch", None)).await.unwrap());
    assert!(!store.insert_account(&account("acc-3", "ben@example.ch", Some("41790000001"))).await.unwrap());
    assert!(store.insert_account(&account("acc-4", "ben@example.ch", None)).await.unwrap());
    assert_eq!(store.find_account_by_email("anna@example.ch").await.unwrap(), Some(anna.clone()));
    assert_eq!(store.find_account_by_msisdn("41790000001").await.unwrap(), Some(anna.clone()));
    assert!(!store.set_account_msisdn("acc-4", "41790000001").await.unwrap());
    assert!(store.set_account_msisdn("acc-4", "41790000002").await.unwrap());
    assert_eq!(store.list_accounts().await.unwrap().len(), 2);
    assert!(store.set_account_state("acc-1", mobileid_core::AccountState::Active).await.unwrap());
    assert!(!store.set_account_state("acc-9", mobileid_core::AccountState::Active).await.unwrap());

    // Failures count up to the limit, which locks and starts the count again.
    for _ in 0..2 {
        assert_eq!(store.record_login_failure("acc-1", 3, ms(900)).await.unwrap(), Timestamp::from_millis(0));
    }
    assert_eq!(store.record_login_failure("acc-1", 3, ms(900)).await.unwrap(), ms(900));
    let locked = store.find_account("acc-1").await.unwrap().unwrap();
    assert_eq!((locked.failed_logins, locked.locked_until), (0, ms(900)));
    store.record_login_failure("acc-1", 3, ms(2000)).await.unwrap();
    store.reset_login_failures("acc-1").await.unwrap();
    assert_eq!(store.find_account("acc-1").await.unwrap().unwrap().failed_logins, 0);
    // A new password (from an e-mailed link) also ends a lock.
    store.set_account_password("acc-1", "new").await.unwrap();
    let reset = store.find_account("acc-1").await.unwrap().unwrap();
    let unlocked = Timestamp::from_millis(0);
    assert_eq!((reset.failed_logins, reset.locked_until, reset.password_hash.as_deref()), (0, unlocked, Some("new")));
});

both!(account_tokens, |db, store| {
    store.insert_account_token("t1", "acc-1", "confirm", ms(1000)).await.unwrap();
    store.insert_account_token("t2", "acc-1", "confirm", ms(-1)).await.unwrap();
    assert_eq!(store.check_account_token("t1", "confirm", NOW).await.unwrap(), TokenOutcome::Taken("acc-1".into()));
    // A token is for one purpose.
    assert_eq!(store.take_account_token("t1", "reset", NOW).await.unwrap(), TokenOutcome::Unknown);
    assert_eq!(store.take_account_token("t1", "confirm", NOW).await.unwrap(), TokenOutcome::Taken("acc-1".into()));
    assert_eq!(store.take_account_token("t1", "confirm", NOW).await.unwrap(), TokenOutcome::AlreadyUsed);
    assert_eq!(store.take_account_token("t2", "confirm", NOW).await.unwrap(), TokenOutcome::Expired);
    assert_eq!(store.take_account_token("t3", "confirm", NOW).await.unwrap(), TokenOutcome::Unknown);
    store.insert_account_token("t4", "acc-1", "confirm", ms(-2)).await.unwrap();
    store.insert_account_token("t5", "acc-1", "confirm", ms(-3)).await.unwrap();
    // At most `limit` of each table at a time, the oldest or not, until none is left.
    assert_eq!(store.purge_portal(NOW, 2).await.unwrap(), 2);
    assert_eq!(store.purge_portal(NOW, 2).await.unwrap(), 1);
    assert_eq!(store.purge_portal(NOW, 2).await.unwrap(), 0);
    assert_eq!(store.take_account_token("t5", "confirm", NOW).await.unwrap(), TokenOutcome::Unknown);
});

both!(portal_sessions, |db, store| {
    let session = SessionRecord { account_id: "acc-1".into(), csrf_token: "c".into(), expires_at: ms(1000) };
    store.insert_session("s1", &session, NOW).await.unwrap();
    store.insert_session("s2", &session, NOW).await.unwrap();
    assert_eq!(store.find_session("s1", NOW).await.unwrap(), Some(session.clone()));
    assert_eq!(store.find_session("s1", ms(1000)).await.unwrap(), None, "expired");
    store.delete_session("s1").await.unwrap();
    assert_eq!(store.find_session("s1", NOW).await.unwrap(), None);
    store.delete_sessions_of("acc-1").await.unwrap();
    assert_eq!(store.find_session("s2", NOW).await.unwrap(), None);
    // Expired sessions are purged; live ones stay.
    let expired = SessionRecord { expires_at: ms(-1), ..session.clone() };
    store.insert_session("s3", &expired, ms(-5)).await.unwrap();
    store.insert_session("s4", &session, NOW).await.unwrap();
    assert_eq!(store.purge_portal(NOW, 500).await.unwrap(), 1);
    assert_eq!(store.find_session("s4", NOW).await.unwrap(), Some(session.clone()));
});

both!(recovery_codes, |db, store| {
    store.replace_recovery_codes("41790000001", &["a".into(), "b".into()], NOW).await.unwrap();
    assert_eq!(store.recovery_codes_left("41790000001").await.unwrap(), (2, Some(NOW)));
    // A code is the user's own, and spent once.
    assert!(!store.take_recovery_code("41790000002", "a", NOW).await.unwrap());
    assert!(store.take_recovery_code("41790000001", "a", NOW).await.unwrap());
    assert!(!store.take_recovery_code("41790000001", "a", NOW).await.unwrap());
    // A new set replaces the unused rest.
    store.replace_recovery_codes("41790000001", &["c".into()], ms(5)).await.unwrap();
    assert!(!store.take_recovery_code("41790000001", "b", NOW).await.unwrap());
    assert_eq!(store.recovery_codes_left("41790000001").await.unwrap(), (1, Some(ms(5))));
});

both!(user_serial_and_cancelled_codes, |db, store| {
    assert!(store.insert_user(&user("41790000001")).await.unwrap());
    store.set_user_serial("41790000001", "MIDCHE0000NEW").await.unwrap();
    assert_eq!(store.find_user("41790000001").await.unwrap().unwrap().serial_number, "MIDCHE0000NEW");
    store.insert_activation_code("h0", "41790000001", ms(900), ms(-100)).await.unwrap();
    assert_eq!(store.take_activation_code("h0", ms(-50)).await.unwrap(), CodeOutcome::Taken("41790000001".into()));
    store.insert_activation_code("h1", "41790000001", ms(1000), NOW).await.unwrap();
    assert_eq!(store.cancel_activation_codes("41790000001", NOW).await.unwrap(), 1);
    assert_eq!(store.take_activation_code("h1", NOW).await.unwrap(), CodeOutcome::Expired);
    // The newest code is the cancelled one, though the used one before it expires later.
    assert_eq!(store.latest_activation_code_expiry("41790000001").await.unwrap(), Some((NOW, None)));
    assert_eq!(store.recent_transactions("41790000001", 5).await.unwrap(), Vec::new());
});

fn document(id: &str) -> DocumentRecord {
    DocumentRecord {
        document_id: id.into(),
        name: "Vertrag März.pdf".into(),
        original_sha256: vec![0xab; 32],
        original_size: 4,
        pages: 2,
        revision: 0,
        created_at: NOW,
    }
}

both!(documents_and_their_signatures, |db, store| {
    store.insert_document(&document("doc1"), b"%PDF").await.unwrap();
    assert_eq!(store.find_document("doc1").await.unwrap(), Some(document("doc1")));
    assert_eq!(store.find_document("nope").await.unwrap(), None);
    assert_eq!(store.document_content("doc1").await.unwrap(), Some((0, b"%PDF".to_vec())));

    // A signature asked of a user is written with its transaction.
    let me = "41790000001";
    user_with_device(&store, me, "d1").await;
    let t = TransactionRecord {
        kind: TxKind::Document,
        requester: Requester::Sender("hr".into()),
        content: SignContent::Document { name: "Vertrag März.pdf".into(), sha256: [0xab; 32] },
        ..tx("S1", me, Some("d1"), Method::App)
    };
    let asked = DocumentSignatureRecord {
        transaction_id: "S1".into(),
        document_id: "doc1".into(),
        signer_name: "Zoë".into(),
        stamp: Some(r#"{"page":1}"#.into()),
        prepared: None,
    };
    let mut write = store.begin_request(&t).await.unwrap();
    write.insert(&t).await.unwrap();
    write.insert_document_signature(&asked).await.unwrap();
    write.commit(&t).await.unwrap();
    assert_eq!(store.find_document_signature("S1").await.unwrap(), Some(asked.clone()));
    assert_eq!(store.find_transaction("S1").await.unwrap().unwrap().kind, TxKind::Document);

    // The lease: one holder at a time, renewable by it, free again once expired.
    assert!(store.take_document_lease("doc1", "S1", ms(0), ms(30_000)).await.unwrap());
    assert!(!store.take_document_lease("doc1", "S2", ms(1_000), ms(31_000)).await.unwrap());
    assert!(store.take_document_lease("doc1", "S1", ms(1_000), ms(31_000)).await.unwrap());
    assert!(store.take_document_lease("doc1", "S2", ms(31_000), ms(61_000)).await.unwrap(), "expired");
    store.release_document_lease("doc1", "S1").await.unwrap();
    assert!(!store.take_document_lease("doc1", "S1", ms(32_000), ms(62_000)).await.unwrap(), "not S1's to free");
    store.release_document_lease("doc1", "S2").await.unwrap();
    assert!(store.take_document_lease("doc1", "S1", ms(32_000), ms(62_000)).await.unwrap());

    let prepared = Prepared { base_revision: 0, signing_time: ms(32_000), to_be_signed: vec![0x31, 0] };
    store.record_prepared_signature("S1", &prepared).await.unwrap();
    let found = store.find_document_signature("S1").await.unwrap().unwrap();
    assert_eq!(found.prepared, Some(prepared));

    // Embedding needs the lease, an unexpired one, and the revision it was computed over.
    let signed = Completion::Signed(vec![0x30, 0]);
    assert!(!store.embed_document_signature("doc1", "S1", 1, b"%PDF+1", &signed, ms(33_000)).await.unwrap());
    assert!(!store.embed_document_signature("doc1", "S1", 0, b"%PDF+1", &signed, ms(62_000)).await.unwrap());
    assert!(!store.embed_document_signature("doc1", "S2", 0, b"%PDF+1", &signed, ms(33_000)).await.unwrap());
    assert_eq!(store.document_content("doc1").await.unwrap(), Some((0, b"%PDF".to_vec())), "nothing half-written");
    assert!(store.embed_document_signature("doc1", "S1", 0, b"%PDF+1", &signed, ms(33_000)).await.unwrap());
    assert_eq!(store.document_content("doc1").await.unwrap(), Some((1, b"%PDF+1".to_vec())));
    let done = store.find_transaction("S1").await.unwrap().unwrap();
    assert_eq!((done.state, done.signature), (TxState::Signed, Some(vec![0x30, 0])));
    // The lease is free, and a transaction that ended cannot embed again.
    assert!(store.take_document_lease("doc1", "S2", ms(34_000), ms(64_000)).await.unwrap());
    store.release_document_lease("doc1", "S2").await.unwrap();
    assert!(store.take_document_lease("doc1", "S1", ms(34_000), ms(64_000)).await.unwrap());
    assert!(!store.embed_document_signature("doc1", "S1", 1, b"%PDF+2", &signed, ms(35_000)).await.unwrap());
    assert_eq!(store.document_content("doc1").await.unwrap(), Some((1, b"%PDF+1".to_vec())), "rolled back");
});

both!(identities_asked_decided_and_asked_again, |db, store| {
    let me = "41790000001";
    assert_eq!(store.find_identity(me).await.unwrap(), None);
    assert!(store.request_identity(me, "Zoë Keller", ms(0)).await.unwrap());
    assert!(!store.request_identity(me, "Zoë Keller", ms(1)).await.unwrap(), "pending already");
    assert_eq!(store.pending_identities().await.unwrap().len(), 1);
    let asked = store.find_identity(me).await.unwrap().unwrap();
    let rejected = IdentityRecord {
        state: "rejected".into(),
        decided_by: Some("operator".into()),
        reason: Some("blurred photo".into()),
        decided_at: Some(ms(2)),
        ..asked.clone()
    };
    store.decide_identity(&rejected).await.unwrap();
    assert_eq!(store.find_identity(me).await.unwrap(), Some(rejected));
    assert!(store.pending_identities().await.unwrap().is_empty());
    // A rejected identity may be asked again; a verified one stays.
    assert!(store.request_identity(me, "Zoë Keller", ms(3)).await.unwrap());
    let verified = IdentityRecord {
        state: "verified".into(),
        given_names: Some("Zoë".into()),
        surname: Some("Keller".into()),
        decided_by: Some("operator".into()),
        decided_at: Some(ms(4)),
        requested_at: ms(3),
        ..asked
    };
    store.decide_identity(&verified).await.unwrap();
    assert!(!store.request_identity(me, "Somebody Else", ms(5)).await.unwrap());
    assert_eq!(store.find_identity(me).await.unwrap(), Some(verified));
});
