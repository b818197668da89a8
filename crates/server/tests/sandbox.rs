//! The plain-HTTP sandbox listener: off by default; when configured, APs are known by
//! AP_ID alone there, while HTTPS still demands the client certificate.

mod support;

use support::*;

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// With `sandbox_http_listen` set, a robot signature works over plain HTTP without a
/// client certificate, and an unknown AP_ID is still refused with 104.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sandbox_listener_knows_aps_by_ap_id() {
    let port = free_port();
    let addr = format!("127.0.0.1:{port}");
    let server = TestServer::start_with(Backend::Sqlite, &[("MOBILEID_SANDBOX_HTTP_LISTEN", &addr)]).await;
    let plain = reqwest::Client::new();
    let url = format!("http://{addr}/rest/service");
    let (status, body) = post_json(&plain, &url, &signature_request("+41700092501", "Demo: sandbox", "synch")).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["MSS_SignatureResp"]["Status"]["StatusCode"]["Value"], "500");

    let mut unknown = signature_request("+41700092501", "Demo: sandbox", "synch");
    unknown["MSS_SignatureReq"]["AP_Info"]["AP_ID"] = "mid://nobody".into();
    let (status, body) = post_json(&plain, &url, &unknown).await;
    assert_eq!((status, fault_code(&body)), (500, 104));

    // HTTPS on the same server still wants the certificate.
    let anonymous = server.anonymous_client();
    let (status, body) = post_json(
        &anonymous,
        &format!("{}/rest/service", server.base),
        &signature_request("+41700092501", "Demo: x", "synch"),
    )
    .await;
    assert_eq!((status, fault_code(&body)), (500, 104));
}

/// Without the setting there is no plain-HTTP listener at all.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_plain_http_by_default() {
    let server = TestServer::start(Backend::Sqlite).await;
    let plain_base = server.base.replace("https://", "http://");
    let result = reqwest::Client::new()
        .post(format!("{plain_base}/rest/service"))
        .body(signature_request("+41700092501", "Demo: x", "synch").to_string())
        .send()
        .await;
    // The HTTPS port does not speak plain HTTP: the connection fails or gets no HTTP answer.
    assert!(result.is_err() || !result.unwrap().status().is_success());
}
