//! The operations surface: health and readiness (also with the database gone), request
//! ids, Prometheus metrics after real traffic, and the browser port (no client
//! certificate asked, no MSS paths, reached by headless Chromium).

mod support;

use std::net::SocketAddr;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;
use support::*;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::AbortHandle;

async fn get(client: &reqwest::Client, url: &str) -> (u16, String, Option<String>) {
    let response = client.get(url).send().await.unwrap_or_else(|e| panic!("GET {url}: {e}"));
    let status = response.status().as_u16();
    let id = response.headers().get("x-request-id").and_then(|v| v.to_str().ok()).map(str::to_string);
    (status, response.text().await.expect("body"), id)
}

on_both_databases! {
    /// Live and ready answer 200 on both HTTPS ports; `/health` stays as it was.
    async fn health_and_readiness(server) {
        for base in [&server.base, &server.browser_base] {
            let client = server.anonymous_client();
            assert_eq!(get(&client, &format!("{base}/health")).await.0, 200);
            let (status, body, _) = get(&client, &format!("{base}/health/live")).await;
            assert_eq!((status, body.as_str()), (200, "ok"));
            let (status, body, _) = get(&client, &format!("{base}/health/ready")).await;
            assert_eq!(status, 200, "{body}");
            assert_eq!(serde_json::from_str::<Value>(&body).unwrap()["status"], "ready");
        }
    }
}

/// Every response carries its own request id, MSS faults included.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_response_has_a_distinct_request_id() {
    let server = TestServer::start(Backend::Sqlite).await;
    let mut ids = Vec::new();
    for _ in 0..2 {
        ids.push(get(&server.ap, &format!("{}/health/live", server.base)).await.2.expect("x-request-id"));
        let response =
            server.ap.post(format!("{}/rest/service", server.base)).body("{not json").send().await.expect("request");
        assert_eq!(response.status().as_u16(), 500);
        ids.push(response.headers()["x-request-id"].to_str().unwrap().to_string());
    }
    let mut distinct = ids.clone();
    distinct.sort();
    distinct.dedup();
    assert_eq!(distinct.len(), ids.len(), "{ids:?}");
    assert!(ids.iter().all(|id| id.len() >= 16), "{ids:?}");
}

/// After a robot signature, a fault and a phone's approval, the counters and histogram
/// counts say exactly that; the gauges count what is open.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_count_the_traffic() {
    let server = TestServer::start(Backend::Sqlite).await;
    let (status, body) = server.post("/rest/service", &signature_request(ROBOT_EC, "Demo: Robot?", "synch")).await;
    assert_eq!(status, 200, "{body}");
    let (status, body) =
        server.post("/rest/service", &signature_request("+41000092105", "Demo: Fault?", "synch")).await;
    assert_eq!((status, fault_code(&body)), (500, 105), "{body}");
    let msisdn = "+41791500001";
    let mut phone = server.phone(msisdn).await;
    let (status, body) = server.post("/rest/service", &signature_request(msisdn, "Demo: Phone?", "asynch")).await;
    assert_eq!(status, 200, "{body}");
    approve_next(&mut phone).await;
    // One more, left open: a pending transaction.
    let (status, body) = server.post("/rest/service", &signature_request(msisdn, "Demo: Later?", "asynch")).await;
    assert_eq!(status, 200, "{body}");

    let (status, text, _) = get(&server.anonymous_client(), &format!("{}/metrics", server.browser_base)).await;
    assert_eq!(status, 200);
    let expect = |line: &str| assert!(text.lines().any(|l| l == line), "no line {line:?} in\n{text}");
    expect(r#"mobileid_http_requests_total{front_end="mss_rest",operation="signature",outcome="ok"} 3"#);
    expect(r#"mobileid_http_requests_total{front_end="mss_rest",operation="signature",outcome="105"} 1"#);
    expect(
        r#"mobileid_http_requests_total{front_end="device",operation="/device/v1/transactions/{id}/{action}",outcome="2xx"} 1"#,
    );
    expect(r#"mobileid_http_request_duration_seconds_count{front_end="mss_rest",operation="signature"} 4"#);
    expect(r#"mobileid_transaction_duration_seconds_count{outcome="robot_signed"} 1"#);
    expect(r#"mobileid_transaction_duration_seconds_count{outcome="signed"} 1"#);
    expect("mobileid_transactions_pending 1");
    expect("mobileid_phones_connected 0");
    assert!(text.contains(r#"mobileid_db_pool_connections{state="size"}"#), "{text}");
    assert!(text.ends_with("# EOF\n"), "{text}");
}

/// The MSS port asks for a client certificate, the browser port never does.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn browser_port_asks_for_no_certificate_and_serves_no_mss() {
    let server = TestServer::start(Backend::Sqlite).await;
    assert!(certificate_requested(&server.base), "the MSS port must ask for a client certificate");
    assert!(!certificate_requested(&server.browser_base), "the browser port must not ask for one");

    let browser = server.anonymous_client();
    for path in ["/rest/service", "/rest/service/sign", "/soap/services/MSS_SignaturePort"] {
        let body = signature_request(ROBOT_EC, "Demo: Wrong port?", "synch").to_string();
        let response = browser.post(format!("{}{path}", server.browser_base)).body(body).send().await.expect("post");
        assert_eq!(response.status().as_u16(), 404, "{path} on the browser port");
    }
    // The device API is there: an unsigned request is refused by it, not unrouted.
    let (status, _, _) = get(&browser, &format!("{}/device/v1/inbox", server.browser_base)).await;
    assert_eq!(status, 401);

    let started = Instant::now();
    let page = chromium_load(&format!("{}/health/live", server.browser_base));
    assert_eq!(page["status"], 200, "{page}");
    assert_eq!(page["body"], "ok", "{page}");
    assert!(page["requestId"].is_string(), "{page}");
    eprintln!("headless Chromium loaded the browser port in {:?}", started.elapsed());
}

/// True when the server's handshake includes a CertificateRequest (`openssl s_client -msg`
/// prints the decrypted handshake messages, TLS 1.3 included).
fn certificate_requested(base: &str) -> bool {
    let address = base.trim_start_matches("https://").replace("localhost", "127.0.0.1");
    let output = Command::new("openssl")
        .args(["s_client", "-connect", &address, "-servername", "localhost", "-msg"])
        .stdin(std::process::Stdio::null())
        .output()
        .expect("openssl s_client");
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(text.contains("ServerHello"), "no handshake with {address}: {text}");
    text.contains("CertificateRequest")
}

/// Loads a URL in headless Chromium through `crates/http/tests/browser/load.mjs`.
fn chromium_load(url: &str) -> Value {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../http/tests/browser/load.mjs");
    let modules = concat!(env!("CARGO_MANIFEST_DIR"), "/../http/tests/browser/node_modules/playwright-core");
    assert!(
        std::path::Path::new(modules).is_dir() && std::path::Path::new("/usr/bin/chromium").exists(),
        "headless Chromium is needed: run scripts/test (it installs chromium and runs npm ci in crates/http/tests/browser)"
    );
    let output = Command::new("node").arg(script).arg(url).output().expect("node");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "chromium: {stdout}{}", String::from_utf8_lossy(&output.stderr));
    serde_json::from_str(stdout.trim()).unwrap_or_else(|_| panic!("not JSON: {stdout}"))
}

/// A TCP proxy in front of PostgreSQL that the test can cut and restore.
struct Proxy {
    addr: SocketAddr,
    open: Arc<AtomicBool>,
    connections: Arc<Mutex<Vec<AbortHandle>>>,
    accept: AbortHandle,
}

impl Proxy {
    async fn start(upstream: &'static str) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind proxy");
        let addr = listener.local_addr().expect("proxy address");
        let open = Arc::new(AtomicBool::new(true));
        let connections = Arc::new(Mutex::new(Vec::new()));
        let (open2, connections2) = (open.clone(), connections.clone());
        let accept = tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                if !open2.load(Ordering::SeqCst) {
                    continue; // dropped: the database is "down"
                }
                let relay = tokio::spawn(async move {
                    if let Ok(mut outbound) = TcpStream::connect(upstream).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
                connections2.lock().unwrap().push(relay.abort_handle());
            }
        })
        .abort_handle();
        Proxy { addr, open, connections, accept }
    }

    /// Closes every relayed connection and refuses new ones.
    fn cut(&self) {
        self.open.store(false, Ordering::SeqCst);
        for connection in self.connections.lock().unwrap().drain(..) {
            connection.abort();
        }
    }

    fn restore(&self) {
        self.open.store(true, Ordering::SeqCst);
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.cut();
        self.accept.abort();
    }
}

async fn ready_status(server: &TestServer) -> (u16, String) {
    let (status, body, _) = get(&server.anonymous_client(), &format!("{}/health/ready", server.base)).await;
    (status, body)
}

/// Readiness follows the database: 503 with a reason while PostgreSQL is unreachable
/// (liveness stays 200), 200 again once it is back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readiness_fails_while_the_database_is_down() {
    let mut server = TestServer::start(Backend::Postgres).await;
    let proxy = Proxy::start("127.0.0.1:5432").await;
    let proxied = server.database_url.replace("127.0.0.1:5432", &proxy.addr.to_string());
    server.relaunch_with(&[("MOBILEID_DATABASE_URL", &proxied)]).await;
    assert_eq!(ready_status(&server).await.0, 200);

    proxy.cut();
    let (status, body) = ready_status(&server).await;
    assert_eq!(status, 503, "{body}");
    let reason: Value = serde_json::from_str(&body).expect("JSON");
    assert_eq!(reason["status"], "not ready", "{body}");
    assert!(reason["reason"].as_str().is_some_and(|r| r.contains("database")), "{body}");
    let (status, body, _) = get(&server.anonymous_client(), &format!("{}/health/live", server.base)).await;
    assert_eq!((status, body.as_str()), (200, "ok"));

    proxy.restore();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (status, body) = ready_status(&server).await;
        if status == 200 {
            break;
        }
        assert!(Instant::now() < deadline, "still not ready after the database came back: {body}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
