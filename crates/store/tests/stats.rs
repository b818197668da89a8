//! The operations queries (`stats.rs`) on both engines: a fresh SQLite file, and a fresh
//! schema in the PostgreSQL database `test` on 127.0.0.1:5432.

use mobileid_store::*;
use sqlx::Connection;

const NOW: i64 = 1_700_000_000_000;
const PG_ADMIN_URL: &str = "postgres://postgres@127.0.0.1:5432/test";

/// Pings, checks the migrations, counts pending transactions, reads the pool and closes.
async fn operations_queries(store: Store) {
    store.ping().await.expect("ping");
    assert!(store.migrations_applied().await.expect("migrations"));
    assert_eq!(store.count_pending_transactions(NOW).await.unwrap(), 0);

    let msisdn = "41790000001";
    let user = UserRecord {
        msisdn: msisdn.into(),
        serial_number: "MIDCHE0000000001".into(),
        state: "ACTIVE".into(),
        test_fault: None,
        created_at: NOW,
    };
    assert!(store.insert_user(&user).await.unwrap());
    let device = DeviceRecord {
        device_id: "d1".into(),
        msisdn: msisdn.into(),
        method: "app".into(),
        state: "active".into(),
        cert_der: vec![0x30, 0],
        auth_key: Some(vec![0x30, 0]),
        server_key: None,
        pin_failures: 0,
        created_at: NOW,
    };
    store.activate_device(&device).await.unwrap();
    for (id, expires_at) in [("T1", NOW + 80_000), ("T2", NOW + 80_000), ("T3", NOW - 1)] {
        let record = TransactionRecord {
            mssp_trans_id: id.into(),
            ap_id: "mid://ap.example".into(),
            ap_trans_id: format!("AP-{id}"),
            ap_instant: NOW,
            msisdn: msisdn.into(),
            msisdn_raw: format!("+{msisdn}"),
            device_id: Some("d1".into()),
            method: "app".into(),
            profile: "http://mid.swisscom.ch/Device-LoA4".into(),
            mime_type: "text/plain".into(),
            dtbd: "Bank: log in?".into(),
            language: "en".into(),
            nonce: vec![1; 8],
            services: String::new(),
            state: "pending".into(),
            fault_code: None,
            fault_detail: None,
            signature: None,
            created_at: NOW - 1000,
            expires_at,
            completed_at: None,
        };
        assert_eq!(store.insert_transaction(&record).await.unwrap(), InsertOutcome::Inserted);
    }
    // T3 is past its expiry: it no longer waits for anybody.
    assert_eq!(store.count_pending_transactions(NOW).await.unwrap(), 2);
    assert!(store.complete_transaction("T1", &Completion::signed(vec![0x30, 0]), NOW).await.unwrap());
    assert_eq!(store.count_pending_transactions(NOW).await.unwrap(), 1);

    let pool = store.pool_stats();
    assert!(pool.size >= 1 && pool.idle <= pool.size as usize, "{pool:?}");

    store.close().await;
    assert!(store.ping().await.is_err(), "a closed store must refuse queries");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite() {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("store.db").display());
    operations_queries(Store::connect(&url).await.expect("connect")).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres() {
    let schema = format!("stats_{}", std::process::id());
    let mut admin = sqlx::PgConnection::connect(PG_ADMIN_URL)
        .await
        .unwrap_or_else(|e| panic!("PostgreSQL at {PG_ADMIN_URL} is needed for this test: {e}"));
    sqlx::query(&format!("CREATE SCHEMA \"{schema}\"")).execute(&mut admin).await.expect("create schema");
    let url = format!("{PG_ADMIN_URL}?options=-c%20search_path%3D{schema}");
    let store = Store::connect(&url).await.expect("connect");
    // Run the checks in a task, so the schema is dropped whatever their outcome.
    let outcome = tokio::spawn(operations_queries(store)).await;
    let _ = sqlx::query(&format!("DROP SCHEMA \"{schema}\" CASCADE")).execute(&mut admin).await;
    if let Err(panic) = outcome {
        std::panic::resume_unwind(panic.into_panic());
    }
}
