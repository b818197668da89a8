//! Two nodes on one PostgreSQL database: a sync request waiting on one node completes when
//! the phone answers on the other, woken by the change notification; and it still does
//! after the waiting node's LISTEN connection was cut, because the listener reconnects.

mod support;

use std::time::{Duration, Instant};

use support::*;

/// A sync request woken by the notification answers at once; well below the request's
/// TimeOut (80 s), so an answer within this bound was not the timeout's.
const PROMPT: Duration = Duration::from_secs(5);

/// Sends a sync signature request to `node_a`, approves it on a phone served by `node_b`,
/// and returns how long the answer took after the approval.
async fn sync_on_a_approved_on_b(node_a: &TestServer, phone: &mut mobileid_phone::Phone, msisdn: &str) -> Duration {
    let (ap, url) = (node_a.ap.clone(), format!("{}/rest/service", node_a.base));
    let body = signature_request(msisdn, "Demo: Sign on the other node?", "synch");
    let request = tokio::spawn(async move {
        let answer = post_json(&ap, &url, &body).await;
        (answer, Instant::now())
    });
    approve_next(phone).await;
    let approved = Instant::now();
    let ((status, body), answered) =
        tokio::time::timeout(PROMPT, request).await.expect("the sync request was not woken").expect("request task");
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["MSS_SignatureResp"]["Status"]["StatusCode"]["Value"], "500", "{body}");
    openssl_verify(
        body["MSS_SignatureResp"]["MSS_Signature"]["Base64Signature"].as_str().unwrap(),
        &node_a.root_ca_path(),
    );
    answered.saturating_duration_since(approved)
}

/// The pids of a node's LISTEN connections.
fn listen_pids(application_name: &str) -> Vec<String> {
    psql_query(&format!(
        "SELECT pid FROM pg_stat_activity WHERE application_name = '{application_name}' AND query LIKE 'LISTEN%'"
    ))
    .lines()
    .map(str::to_string)
    .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_complete_each_others_requests_and_survive_a_lost_listen_connection() {
    let mut node_a = TestServer::start(Backend::Postgres).await;
    let name_a = format!("mobileid_a_{}", std::process::id());
    node_a.name_connections(&name_a).await;
    let node_b = node_a.second_node(&format!("mobileid_b_{}", std::process::id())).await;
    assert_eq!(node_a.ca_pem, node_b.ca_pem, "both nodes issue under one root");

    let msisdn = "+41791400001";
    let mut phone = node_b.phone(msisdn).await;
    let took = sync_on_a_approved_on_b(&node_a, &mut phone, msisdn).await;
    assert!(took < PROMPT, "{took:?}");

    let before = listen_pids(&name_a);
    assert_eq!(before.len(), 1, "node A listens on one connection: {before:?}");
    let killed = psql_query(&format!("SELECT pg_terminate_backend({})", before[0]));
    assert_eq!(killed, "t");
    // The listener notices the lost connection and listens again on a new one; nothing
    // announces that, so the test looks for it.
    let deadline = Instant::now() + PROMPT;
    loop {
        let now = listen_pids(&name_a);
        if now.len() == 1 && now != before {
            break;
        }
        assert!(Instant::now() < deadline, "node A did not LISTEN again: {now:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let took = sync_on_a_approved_on_b(&node_a, &mut phone, msisdn).await;
    assert!(took < PROMPT, "{took:?}");
}
