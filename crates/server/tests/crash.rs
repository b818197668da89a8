//! A `kill -9` in the middle of a load of signature requests loses no answered request
//! and duplicates none: what the server answered before the crash it still answers after
//! the restart, the same way, and the stored requests are the answered ones plus at most
//! those that were in flight when the process died.

mod support;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;
use support::*;

/// How long the load runs before the crash; a few seconds keep the test quick.
const LOAD: Duration = Duration::from_secs(3);
const CLIENTS: usize = 6;

/// One request the server answered before the crash: what was sent, the transaction id it
/// got, and the last status answer seen for it.
struct Answered {
    request: Value,
    id: String,
    status: Value,
}

/// Like `post_json`, but a request cut by the crash is an `Err`, not a panic.
async fn try_post(client: &reqwest::Client, url: &str, body: &Value) -> Result<(u16, Value), reqwest::Error> {
    let response =
        client.post(url).header("Content-Type", "application/json;charset=UTF-8").body(body.to_string()).send().await?;
    let status = response.status().as_u16();
    let text = response.text().await?;
    Ok((status, serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON ({status}): {text}"))))
}

fn status_value(resp: &Value) -> String {
    resp["MSS_StatusResp"]["Status"]["StatusCode"]["Value"]
        .as_str()
        .unwrap_or_else(|| panic!("not a status answer: {resp}"))
        .to_string()
}

on_both_databases! {
    async fn kill_9_under_load_loses_and_duplicates_nothing(server) {
        let url = format!("{}/rest/service", server.base);
        let answered = Arc::new(Mutex::new(Vec::<Answered>::new()));
        let in_flight = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let stop_at = Instant::now() + LOAD;
        let mut clients = Vec::new();
        for client in 0..CLIENTS {
            let (ap, url, answered, in_flight) = (server.ap.clone(), url.clone(), answered.clone(), in_flight.clone());
            clients.push(tokio::spawn(async move {
                let mut n = 0;
                // Runs on past the crash: the requests that fail are the ones in flight.
                loop {
                    n += 1;
                    let request = signature_request(ROBOT_EC, &format!("Demo: Crash test {client}/{n}?"), "asynch");
                    in_flight.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    let Ok((status, body)) = try_post(&ap, &url, &request).await else { return };
                    in_flight.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
                    assert_eq!(status, 200, "{body}");
                    let id = body["MSS_SignatureResp"]["MSSP_TransID"].as_str().expect("MSSP_TransID").to_string();
                    let Ok((status, resp)) = try_post(&ap, &url, &status_request(&id)).await else {
                        answered.lock().unwrap().push(Answered { request, id, status: Value::Null });
                        return;
                    };
                    assert_eq!(status, 200, "{resp}");
                    answered.lock().unwrap().push(Answered { request, id, status: resp });
                    if Instant::now() > stop_at + Duration::from_secs(10) {
                        panic!("the server was not killed");
                    }
                }
            }));
        }
        tokio::time::sleep(LOAD).await;
        server.stop(); // SIGKILL
        for client in clients {
            client.await.expect("load client");
        }
        let answered = std::mem::take(&mut *answered.lock().unwrap());
        let in_flight = in_flight.load(std::sync::atomic::Ordering::SeqCst);
        assert!(answered.len() >= CLIENTS, "too little load before the crash: {}", answered.len());

        server.start_again().await;
        let mut signed = 0;
        for a in &answered {
            let (status, resp) = server.post("/rest/service", &status_request(&a.id)).await;
            assert_eq!(status, 200, "{} lost after the crash: {resp}", a.id);
            let now = status_value(&resp);
            if a.status.is_null() {
                assert!(now == "500" || now == "504", "{resp}");
            } else if status_value(&a.status) == "500" {
                signed += 1;
                assert_eq!(now, "500", "{resp}");
                assert_eq!(resp["MSS_StatusResp"]["MSS_Signature"], a.status["MSS_StatusResp"]["MSS_Signature"]);
            } else {
                assert!(now == "500" || now == "504", "{resp}");
            }
            // The same AP_TransID and Instant again: refused as a duplicate, not stored twice.
            let (status, body) = server.post("/rest/service", &a.request).await;
            assert_eq!((status, fault_code(&body)), (500, 101), "{body}");
            assert!(fault_detail(&body).contains("AP_TransID"), "{body}");
        }
        assert!(signed > 0, "no robot signature finished before the crash");
        let stored: usize = server.sql("SELECT count(*) FROM mss_requests").parse().expect("a count");
        assert!(
            stored >= answered.len() && stored <= answered.len() + in_flight,
            "{stored} stored, {} answered, {in_flight} in flight", answered.len()
        );
    }
}
