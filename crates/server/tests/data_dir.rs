//! A data directory remembers its database: a command run on it with another database (a
//! PostgreSQL node's directory without `MOBILEID_DATABASE_URL`, or the other way round)
//! fails with a message naming both, and creates nothing and overwrites nothing.

mod support;

use std::process::Command;

use support::*;

/// Runs `mobileid` on `server`'s data directory with `database_url` (None: not set).
fn run_on_data_dir(server: &TestServer, args: &[&str], database_url: Option<&str>) -> std::process::Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_mobileid"));
    command
        .args(args)
        .env("MOBILEID_DATA_DIR", server.data_dir.path())
        .env("MOBILEID_LOG", "warn")
        .env_remove("MOBILEID_DATABASE_URL");
    if let Some(url) = database_url {
        command.env("MOBILEID_DATABASE_URL", url);
    }
    command.output().expect("run mobileid")
}

fn assert_refused(output: &std::process::Output, theirs: &str, ours: &str) {
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "not refused: {stderr}");
    assert!(stderr.contains("belongs to the") && stderr.contains(theirs) && stderr.contains(ours), "{stderr}");
    assert!(stderr.contains("Nothing was created or changed"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_postgres_data_directory_refuses_the_default_sqlite_database() {
    let mut server = TestServer::start(Backend::Postgres).await;
    server.stop();
    let ca_before = std::fs::read(server.root_ca_path()).unwrap();
    for args in [&["user", "show", "--msisdn", ROBOT_EC][..], &["serve"]] {
        let output = run_on_data_dir(&server, args, None);
        assert_refused(&output, "postgres database", "sqlite database");
    }
    assert_eq!(std::fs::read(server.root_ca_path()).unwrap(), ca_before, "ca.pem overwritten");
    assert!(!server.data_dir.path().join("mobileid.db").exists(), "a SQLite database was created");
    // With its database it still works.
    server.start_again().await;
    assert_eq!(server.ca_pem.as_bytes(), ca_before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sqlite_data_directory_refuses_a_postgres_database() {
    let mut server = TestServer::start(Backend::Sqlite).await;
    server.stop();
    let ca_before = std::fs::read(server.root_ca_path()).unwrap();
    let schema = format!("t_other_{}", std::process::id());
    psql_query(&format!("CREATE SCHEMA {schema}"));
    let url = format!("{POSTGRES_URL}?options=-c%20search_path%3D{schema}");
    let output = run_on_data_dir(&server, &["user", "show", "--msisdn", ROBOT_EC], Some(&url));
    let tables = psql_query(&format!("SELECT count(*) FROM pg_tables WHERE schemaname = '{schema}'"));
    psql_query(&format!("DROP SCHEMA {schema} CASCADE"));
    assert_refused(&output, "sqlite database", "postgres database");
    assert_eq!(tables, "0", "tables were created in the other database");
    assert_eq!(std::fs::read(server.root_ca_path()).unwrap(), ca_before, "ca.pem overwritten");
    server.start_again().await;
    assert_eq!(server.ca_pem.as_bytes(), ca_before);
}
