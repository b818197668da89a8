//! The benchmark's smoke mode, so the tool cannot rot: every step of `--scenario all`
//! with tiny loads against the debug server, on SQLite and PostgreSQL. It checks that
//! every transaction and request of every step ended as it must (the benchmark exits
//! with an error otherwise) and that the JSON holds every figure; it judges no speed.

use std::path::PathBuf;
use std::process::Command;

#[test]
fn every_step_of_the_benchmark_runs_and_every_transaction_completes() {
    let bench = PathBuf::from(env!("CARGO_BIN_EXE_mobileid-bench"));
    // scripts/test builds every binary of the workspace before the tests, into the same
    // directory as this one.
    let server = bench.with_file_name("mobileid");
    assert!(server.is_file(), "{} is missing: build the workspace's binaries first", server.display());
    let json = tempfile::NamedTempFile::new().unwrap();
    let output = Command::new(&bench)
        .args(["--scenario", "all", "--smoke", "--server-bin"])
        .arg(&server)
        .arg("--json")
        .arg(json.path())
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "the smoke run failed:\n{stdout}\n{}", String::from_utf8_lossy(&output.stderr));
    assert!(stdout.contains("every transaction and request ended as it must"), "{stdout}");

    let report: serde_json::Value = serde_json::from_slice(&std::fs::read(json.path()).unwrap()).unwrap();
    assert_eq!(report["smoke"], true);
    assert_eq!(report["failures"].as_array().unwrap().len(), 0, "{report}");
    let figures = report["figures"].as_array().unwrap();
    let named = |start: &str| {
        figures.iter().find(|f| f["figure"].as_str().unwrap().starts_with(start)).unwrap_or_else(|| {
            panic!("no figure {start:?} in {report}");
        })
    };
    for figure in [
        "crypto ceiling",
        "robots, sync, SQLite",
        "phones, async, SQLite",
        "phones, sync, SQLite",
        "phones, async, PostgreSQL",
        "phones, sync, PostgreSQL",
        "PostgreSQL's CPU / server's CPU",
        "start: until /health/ready",
        "idle RSS",
        "phones connected at once",
        "sync requests waiting at once",
        "async requests outstanding at once",
        "peak RSS",
    ] {
        let value = named(figure)["value"].as_f64();
        assert!(value.is_some_and(|v| v > 0.0), "{figure}: {value:?}");
    }
    // Every load was held at once as a whole, and answered.
    assert_eq!(named("phones connected at once")["value"], 20.0);
    assert_eq!(named("sync requests waiting at once")["value"], 20.0);
    assert_eq!(named("async requests outstanding at once")["value"], 40.0);
}
