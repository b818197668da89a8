//! Graceful shutdown: SIGTERM stops accepting, lets requests in flight finish within
//! `shutdown_grace_seconds`, ends long polls at once, answers a sync request still waiting
//! for the phone with a clean 900 fault, and leaves its transaction pending, so that after
//! a restart the phone approves it and a status query returns the signature.

mod support;

use std::time::{Duration, Instant};

use mobileid_phone::{Phone, PhoneState};
use serde_json::Value;
use support::*;

const GRACE_SECONDS: u64 = 3;

async fn start(backend: Backend) -> TestServer {
    TestServer::start_with(backend, &[("MOBILEID_SHUTDOWN_GRACE_SECONDS", &GRACE_SECONDS.to_string())]).await
}

async fn sync_wait_ends_with_a_clean_fault_and_a_restart_completes_it(backend: Backend) {
    let mut server = start(backend).await;
    let msisdn = "+41791400001";
    let phone = server.phone(msisdn).await;
    let text = "Demo: Approve across a restart?";

    let ap = server.ap.clone();
    let url = format!("{}/rest/service", server.base);
    let request = signature_request(msisdn, text, "synch");
    let waiting = tokio::spawn(async move { post_json(&ap, &url, &request).await });
    let pending = next_request(&phone).await;
    // A long poll open when the shutdown begins ends at once, not after its 30 s.
    let long_poll = tokio::spawn({
        let phone = Phone::from_state(phone.state().clone()).expect("phone");
        async move {
            let started = Instant::now();
            let inbox = phone.inbox(Duration::from_secs(30)).await;
            (inbox.is_ok(), started.elapsed())
        }
    });
    tokio::time::sleep(Duration::from_millis(300)).await;

    let signalled = Instant::now();
    server.signal("TERM");
    let (polled, poll_time) = long_poll.await.expect("long poll task");
    assert!(polled, "the long poll must end with an answer");
    assert!(poll_time < Duration::from_secs(2), "the long poll took {poll_time:?}");

    let (status, body) = waiting.await.expect("sync request task");
    let answered = signalled.elapsed();
    assert_eq!(status, 500, "{body}");
    assert_eq!(fault_code(&body), 900, "{body}");
    assert!(fault_detail(&body).contains("shutting down"), "{body}");
    assert!(answered >= Duration::from_secs(GRACE_SECONDS - 1), "answered too early: {answered:?}");

    let exit = server.wait_for_exit(Duration::from_secs(GRACE_SECONDS + 3)).expect("exited within the bound");
    assert!(exit.success(), "exit status {exit}");
    assert!(signalled.elapsed() < Duration::from_secs(GRACE_SECONDS + 3), "took {:?}", signalled.elapsed());

    server.start_again().await;
    let status_of = |server: &TestServer| {
        let request = status_request(&pending.transaction_id);
        let (ap, url) = (server.ap.clone(), format!("{}/rest/service", server.base));
        async move { post_json(&ap, &url, &request).await }
    };
    let (status, body) = status_of(&server).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["MSS_StatusResp"]["Status"]["StatusCode"]["Value"], "504", "still pending: {body}");

    let mut phone =
        Phone::from_state(PhoneState { server: server.base.clone(), ..phone.state().clone() }).expect("phone");
    let again = approve_next(&mut phone).await;
    assert_eq!(again.transaction_id, pending.transaction_id);
    let (status, body) = status_of(&server).await;
    assert_eq!(status, 200, "{body}");
    let resp: &Value = &body["MSS_StatusResp"];
    assert_eq!(resp["Status"]["StatusCode"]["Value"], "500", "{body}");
    let content = openssl_verify(resp["MSS_Signature"]["Base64Signature"].as_str().unwrap(), &server.root_ca_path());
    assert_eq!(content, text.as_bytes());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sync_wait_at_shutdown_sqlite() {
    sync_wait_ends_with_a_clean_fault_and_a_restart_completes_it(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sync_wait_at_shutdown_postgres() {
    sync_wait_ends_with_a_clean_fault_and_a_restart_completes_it(Backend::Postgres).await;
}

/// With nothing in flight, SIGTERM and SIGINT stop the server at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signals_without_traffic_exit_promptly() {
    let mut server = start(Backend::Sqlite).await;
    for signal in ["TERM", "INT"] {
        let signalled = Instant::now();
        server.signal(signal);
        let exit = server.wait_for_exit(Duration::from_secs(2)).unwrap_or_else(|| panic!("SIG{signal}: still running"));
        assert!(exit.success(), "SIG{signal}: exit status {exit}");
        assert!(signalled.elapsed() < Duration::from_secs(2));
        server.start_again().await;
    }
}
