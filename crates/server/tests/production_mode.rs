//! `mode = "production"` (MOBILEID_MODE): no demo AP, no test numbers, no sandbox
//! listener. A database first started in demo mode loses them at the production start.

mod support;

use std::process::Command;

use serde_json::Value;
use support::*;

const PRODUCTION: &[(&str, &str)] = &[("MOBILEID_MODE", "production")];

/// The fault code and detail of a signature request to `msisdn` from `ap` as `ap_id`.
async fn signature_fault(server: &TestServer, ap: &reqwest::Client, ap_id: &str, msisdn: &str) -> (u16, String) {
    let body = with_ap_id(signature_request(msisdn, "Demo: Log in?", "synch"), ap_id);
    let (status, answer): (u16, Value) = post_json(ap, &format!("{}/rest/service", server.base), &body).await;
    assert_eq!(status, 500, "{answer}");
    (fault_code(&answer), fault_detail(&answer))
}

on_both_databases! {
    /// After a production start, the demo AP's certificate gets 104, and the robots and
    /// test fault numbers answer like an unknown number; `testnumbers enable` is refused.
    async fn production_removes_the_demo_ap_and_the_test_numbers(server) {
        server.relaunch_with(PRODUCTION).await;
        let (code, _) = signature_fault(server, &server.ap, DEMO_AP, ROBOT_EC).await;
        assert_eq!(code, 104);

        let ap_id = "mid://production.example";
        let ap = server.other_ap(ap_id);
        let unknown = signature_fault(server, &ap, ap_id, "+41799999999").await;
        assert_eq!(unknown.0, 105);
        for msisdn in [ROBOT_EC, ROBOT_RSA, "+41000092401", "+41000092208"] {
            assert_eq!(signature_fault(server, &ap, ap_id, msisdn).await, unknown, "{msisdn}");
        }

        let output = server.cli_output(&["testnumbers", "enable"]);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success() && stderr.contains("production"), "{stderr}");
        // A restart in production mode does not bring anything back.
        server.restart().await;
        assert_eq!(signature_fault(server, &ap, ap_id, ROBOT_EC).await, unknown);
    }
}

fn mobileid(data_dir: &std::path::Path, args: &[&str], env: &[(&str, &str)]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_mobileid"))
        .args(args)
        .env("MOBILEID_DATA_DIR", data_dir)
        .env("MOBILEID_LOG", "warn")
        .env_remove("MOBILEID_DATABASE_URL")
        .envs(env.iter().copied())
        .output()
        .expect("run mobileid")
}

/// A fresh production data directory has no demo AP and no test numbers.
#[test]
fn a_fresh_production_start_makes_no_demo_ap_and_no_test_numbers() {
    let dir = tempfile::tempdir().unwrap();
    let aps = succeeded("mobileid", &["ap", "list"], mobileid(dir.path(), &["ap", "list"], PRODUCTION));
    assert!(!aps.contains(DEMO_AP), "{aps}");
    assert!(!dir.path().join("demo-ap").exists());
    let robot = mobileid(dir.path(), &["user", "show", "--msisdn", ROBOT_EC], PRODUCTION);
    assert!(!robot.status.success() || !String::from_utf8_lossy(&robot.stdout).contains("serial"), "{robot:?}");
}

/// A sandbox listener is refused in production mode, before anything is made.
#[test]
fn production_refuses_a_sandbox_listener() {
    let dir = tempfile::tempdir().unwrap();
    let env = [("MOBILEID_MODE", "production"), ("MOBILEID_SANDBOX_HTTP_LISTEN", "127.0.0.1:0")];
    let output = mobileid(dir.path(), &["serve"], &env);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "{stderr}");
    assert!(stderr.contains("production") && stderr.contains("sandbox_http_listen"), "{stderr}");
    assert!(!dir.path().join("ca.pem").exists());
}
