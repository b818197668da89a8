//! The log cannot be amplified (the hardening issue, finding 5): a value taken from the
//! client is cut to a bounded length wherever it is logged. A rejected 200 KB AP_ID used
//! to be logged in full.

mod support;

use support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_huge_ap_id_is_logged_cut() {
    let launch = Launch { log_to_file: true, ..Launch::default() };
    let server = TestServer::start_launched(Backend::Sqlite, &[("MOBILEID_LOG", "info")], launch).await;
    let huge = "x".repeat(200_000);
    let request = with_ap_id(profile_request(ROBOT_EC, None), &huge);
    let (status, body) = post_json(&server.ap, &format!("{}/rest/service", server.base), &request).await;
    assert_eq!(status, 500, "{body}");
    assert_eq!(fault_code(&body), 104, "{body}");

    let log = server.log();
    let line = log
        .lines()
        .find(|l| l.contains("not registered for this AP_ID"))
        .unwrap_or_else(|| panic!("the refusal is logged:\n{log}"));
    assert!(line.contains("…(200000 bytes)"), "{line}");
    assert!(line.len() < 1_000, "a {}-byte log line", line.len());
    assert!(log.len() < 20_000, "the whole log is {} bytes", log.len());
}
