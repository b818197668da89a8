//! The device API as phones see it: activation with one-time codes, request authentication
//! (signature, time window, nonce), the inbox (long poll and SSE), answers, and the PIN.

mod support;

use std::process::Command;
use std::time::{Duration, Instant};

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use mobileid_core::device_api::{ActivationRequest, SignRequest, ACTIVATE_PATH, PIN_UNLOCK_PATH};
use mobileid_crypto::device_auth::{canonical_request, DeviceAuthorization};
use mobileid_crypto::{signed_attributes, CryptoError, KeyAlgorithm, PinKey, PinShare, PrivateKey};
use mobileid_phone::{Phone, PhoneError, PhoneState};
use rand::RngCore;
use serde_json::Value;
use support::*;

const INBOX_NOW: &str = "/device/v1/inbox?wait=0";

// ---- helpers ----

fn fresh_nonce() -> String {
    let mut nonce = [0u8; 16];
    rand::thread_rng().fill_bytes(&mut nonce);
    hex::encode(nonce)
}

/// An `Authorization` value for `device_id`, signed by `key`, at `timestamp_ms`.
fn authorization(
    key: &PrivateKey,
    device_id: &str,
    method: &str,
    path: &str,
    body: &[u8],
    timestamp_ms: i64,
) -> String {
    let nonce = fresh_nonce();
    let signature = key.sign(&canonical_request(method, path, timestamp_ms, &nonce, body)).expect("sign");
    DeviceAuthorization { device_id: device_id.to_string(), timestamp_ms, nonce, signature }.to_header()
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// The device key a phone keeps in its state.
fn device_key(phone: &Phone) -> PrivateKey {
    PrivateKey::from_pkcs8_der(&STANDARD.decode(&phone.state().device_key).expect("base64")).expect("pkcs8")
}

fn activation_body(code: &str, csr: &[u8], device_key: &PrivateKey) -> Vec<u8> {
    serde_json::to_vec(&ActivationRequest {
        code: code.to_string(),
        csr: STANDARD.encode(csr),
        device_key: STANDARD.encode(device_key.public_key_spki_der()),
        // Any 32 bytes: these activations never unlock.
        pin_proof: STANDARD.encode([7u8; 32]),
    })
    .expect("json")
}

/// POSTs an activation request as is; returns the HTTP status and the body.
async fn post_activation(server: &TestServer, body: Vec<u8>, authorization: &str) -> (u16, String) {
    let response = server
        .anonymous_client()
        .post(format!("{}{ACTIVATE_PATH}", server.base))
        .header("Authorization", authorization)
        .header("Content-Type", "application/json")
        .body(body)
        .send()
        .await
        .expect("request");
    (response.status().as_u16(), response.text().await.expect("body"))
}

/// A well-formed activation with fresh keys, signed by its own device key.
async fn raw_activation(server: &TestServer, code: &str) -> (u16, String) {
    let device = PrivateKey::generate(KeyAlgorithm::EcP256).unwrap();
    let signing = PrivateKey::generate(KeyAlgorithm::EcP256).unwrap();
    let body = activation_body(code, &signing.csr_der("phone").unwrap(), &device);
    let header = authorization(&device, "new", "POST", ACTIVATE_PATH, &body, now_ms());
    post_activation(server, body, &header).await
}

async fn activate(server: &TestServer, code: &str) -> Result<Phone, PhoneError> {
    Phone::activate(&server.base, Some(&server.ca_pem), code, PIN).await
}

/// Sends an async signature request as the demo AP; returns the MSSP_TransID.
async fn async_request(server: &TestServer, msisdn: &str, text: &str) -> String {
    let (status, body) = server.post("/rest/service", &signature_request(msisdn, text, "asynch")).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["MSS_SignatureResp"]["Status"]["StatusCode"]["Value"], "100", "{body}");
    body["MSS_SignatureResp"]["MSSP_TransID"].as_str().expect("MSSP_TransID").to_string()
}

/// Starts a sync signature request as the demo AP in the background.
fn spawn_sync_request(server: &TestServer, body: Value) -> tokio::task::JoinHandle<(u16, Value)> {
    let ap = server.ap.clone();
    let url = format!("{}/rest/service", server.base);
    tokio::spawn(async move { post_json(&ap, &url, &body).await })
}

/// The status code of a status query: "504", "500", or the fault number of a fault.
async fn status_of(server: &TestServer, id: &str) -> String {
    let (status, body) = server.post("/rest/service", &status_request(id)).await;
    match status {
        200 => body["MSS_StatusResp"]["Status"]["StatusCode"]["Value"].as_str().expect("status").to_string(),
        _ => format!("fault {}", fault_code(&body)),
    }
}

fn server_status(result: Result<(), PhoneError>) -> u16 {
    match result {
        Err(PhoneError::Server { status, .. }) => status,
        other => panic!("expected a refusal by the server, got {other:?}"),
    }
}

async fn inbox_ids(phone: &Phone) -> Vec<String> {
    phone.inbox(Duration::ZERO).await.expect("inbox").requests.into_iter().map(|r| r.transaction_id).collect()
}

// ---- activation ----

on_both_databases! {
    /// An activation code works once; its second use and an unknown code are refused (403).
    async fn activation_code_works_once(server) {
        let code = server.activation_code("+41791100001");
        activate(server, &code).await.expect("first use");
        let (status, body) = raw_activation(server, &code).await;
        assert_eq!(status, 403, "{body}");
        assert!(body.contains("already used"), "{body}");

        let (status, body) = raw_activation(server, "ABCD-EFGH-JKMN").await;
        assert_eq!(status, 403, "{body}");
        assert!(body.contains("unknown"), "{body}");
    }
}

/// A code past its lifetime is refused (403), though never used.
async fn expired_activation_code_is_refused(backend: Backend) {
    let server = TestServer::start_with(backend, &[("MOBILEID_ACTIVATION_CODE_TTL_SECONDS", "1")]).await;
    let output = server.cli_output(&["user", "add", "--msisdn", "+41791100002"]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}{}", String::from_utf8_lossy(&output.stderr));
    let code = stdout.lines().next().and_then(|l| l.rsplit(' ').next()).expect("code").to_string();
    tokio::time::sleep(Duration::from_secs(2)).await; // the point: the code's lifetime passes
    let (status, body) = raw_activation(&server, &code).await;
    assert_eq!(status, 403, "{body}");
    assert!(body.contains("expired"), "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_activation_code_is_refused_sqlite() {
    expired_activation_code_is_refused(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_activation_code_is_refused_postgres() {
    expired_activation_code_is_refused(Backend::Postgres).await;
}

on_both_databases! {
    /// A garbage CSR is refused (400) without spending the code: a correct retry works.
    async fn garbage_csr_does_not_spend_the_code(server) {
        let code = server.activation_code("+41791100003");
        let device = PrivateKey::generate(KeyAlgorithm::EcP256).unwrap();
        let body = activation_body(&code, b"this is not a CSR", &device);
        let header = authorization(&device, "new", "POST", ACTIVATE_PATH, &body, now_ms());
        let (status, text) = post_activation(server, body, &header).await;
        assert_eq!(status, 400, "{text}");
        activate(server, &code).await.expect("the code still works");
    }
}

on_both_databases! {
    /// An activation not signed by the device key it presents is refused (401) and spends nothing.
    async fn activation_needs_proof_of_the_device_key(server) {
        let code = server.activation_code("+41791100004");
        let presented = PrivateKey::generate(KeyAlgorithm::EcP256).unwrap();
        let other = PrivateKey::generate(KeyAlgorithm::EcP256).unwrap();
        let signing = PrivateKey::generate(KeyAlgorithm::EcP256).unwrap();
        let body = activation_body(&code, &signing.csr_der("phone").unwrap(), &presented);
        let header = authorization(&other, "new", "POST", ACTIVATE_PATH, &body, now_ms());
        let (status, text) = post_activation(server, body, &header).await;
        assert_eq!(status, 401, "{text}");
        activate(server, &code).await.expect("the code still works");
    }
}

on_both_databases! {
    /// After activation the user is ACTIVE with a MIDCHE serial number and a certificate
    /// whose subject is CN=<serial>:PN,serialNumber=<serial>.
    async fn activation_issues_the_user_certificate(server) {
        let phone = server.phone("+41791100005").await;
        let out = server.cli(&["user", "show", "--msisdn", "+41791100005"]);
        let field = |name: &str| {
            out.lines()
                .find_map(|l| l.strip_prefix(name).map(|rest| rest.trim_start().trim_start_matches(':').trim().to_string()))
                .unwrap_or_else(|| panic!("no {name} in: {out}"))
        };
        assert_eq!(field("state"), "ACTIVE", "{out}");
        let serial = field("serial number");
        assert_eq!(serial.len(), 16, "{serial}");
        assert!(serial.starts_with("MIDCHE"), "{serial}");
        assert_eq!(serial, phone.state().serial_number);

        let begin = out.find("-----BEGIN CERTIFICATE-----").expect("a certificate in user show");
        let end = out.find("-----END CERTIFICATE-----").expect("end of certificate") + "-----END CERTIFICATE-----".len();
        let dir = tempfile::tempdir().unwrap();
        let pem = dir.path().join("user.pem");
        std::fs::write(&pem, format!("{}\n", &out[begin..end])).unwrap();
        let result = Command::new("openssl")
            .args(["x509", "-noout", "-subject", "-nameopt", "RFC2253", "-in"])
            .arg(&pem)
            .output()
            .expect("openssl");
        assert!(result.status.success(), "{}", String::from_utf8_lossy(&result.stderr));
        let subject = String::from_utf8_lossy(&result.stdout);
        let subject = subject.trim().strip_prefix("subject=").expect("subject=").trim();
        assert_eq!(subject, format!("CN={serial}:PN,serialNumber={serial}"));
        // What user show prints is what the phone got.
        assert_eq!(
            mobileid_crypto::pem_decode_all(&out[begin..end]).unwrap()[0].1,
            STANDARD.decode(&phone.state().certificate).unwrap()
        );
    }
}

// ---- request authentication ----

on_both_databases! {
    /// Calls without a header, replayed, stale, forged, or under another device's id are
    /// refused (401), and the refusals change nothing.
    async fn device_requests_need_a_fresh_own_signature(server) {
        let phone = server.phone("+41791100006").await;
        let other = server.phone("+41791100007").await;
        let id = async_request(server, "+41791100006", "Demo: Log in?").await;
        let url = format!("{}{INBOX_NOW}", server.base);

        let response = server.anonymous_client().get(&url).send().await.unwrap();
        assert_eq!(response.status().as_u16(), 401, "no Authorization header");

        let header = phone.authorization("GET", INBOX_NOW, b"").unwrap();
        let first = phone.send_with_authorization(reqwest::Method::GET, INBOX_NOW, Vec::new(), &header).await.unwrap();
        assert_eq!(first.status().as_u16(), 200);
        let replay = phone.send_with_authorization(reqwest::Method::GET, INBOX_NOW, Vec::new(), &header).await.unwrap();
        assert_eq!(replay.status().as_u16(), 401, "replayed request");

        let key = device_key(&phone);
        let device_id = phone.state().device_id.clone();
        let stale = authorization(&key, &device_id, "GET", INBOX_NOW, b"", now_ms() - 10 * 60 * 1000);
        let response = phone.send_with_authorization(reqwest::Method::GET, INBOX_NOW, Vec::new(), &stale).await.unwrap();
        assert_eq!(response.status().as_u16(), 401, "10 minutes old");

        // A forged signature under a genuine header's nonce: refused, and the nonce is not spent.
        let genuine = phone.authorization("GET", INBOX_NOW, b"").unwrap();
        let mut forged = DeviceAuthorization::parse_header(&genuine).unwrap();
        let last = forged.signature.len() - 1;
        forged.signature[last] ^= 0x01;
        let response =
            phone.send_with_authorization(reqwest::Method::GET, INBOX_NOW, Vec::new(), &forged.to_header()).await.unwrap();
        assert_eq!(response.status().as_u16(), 401, "forged signature");
        let response = phone.send_with_authorization(reqwest::Method::GET, INBOX_NOW, Vec::new(), &genuine).await.unwrap();
        assert_eq!(response.status().as_u16(), 200, "the genuine request with that nonce still passes");

        // Times at the ends of i64: outside the window, not an overflow.
        for (ts, what) in [(i64::MIN, "ts=-9223372036854775808"), (i64::MAX, "ts=9223372036854775807")] {
            let extreme = authorization(&key, &device_id, "GET", INBOX_NOW, b"", ts);
            let response =
                phone.send_with_authorization(reqwest::Method::GET, INBOX_NOW, Vec::new(), &extreme).await.unwrap();
            assert_eq!(response.status().as_u16(), 401, "{what}");
        }

        let impostor = authorization(&key, &other.state().device_id, "GET", INBOX_NOW, b"", now_ms());
        let response = phone.send_with_authorization(reqwest::Method::GET, INBOX_NOW, Vec::new(), &impostor).await.unwrap();
        assert_eq!(response.status().as_u16(), 401, "another device's id with my key");

        assert_eq!(inbox_ids(&phone).await, vec![id.clone()]);
        assert_eq!(status_of(server, &id).await, "504");
    }
}

// ---- answers ----

on_both_databases! {
    /// An approval signed by a key other than the certified one is refused (400) and leaves
    /// the transaction open; a genuine approval then completes it.
    async fn approval_with_the_wrong_key_is_refused(server) {
        let mut phone = server.phone("+41791100008").await;
        let id = async_request(server, "+41791100008", "Demo: Pay 20 CHF?").await;
        let request = next_request(&phone).await;
        let stranger = PrivateKey::generate(KeyAlgorithm::EcP256).unwrap();
        assert_eq!(server_status(phone.approve_unlocked(&request, &stranger).await), 400);
        assert_eq!(status_of(server, &id).await, "504");
        assert_eq!(inbox_ids(&phone).await, vec![id.clone()]);
        phone.approve(&request, PIN).await.expect("genuine approval");
        assert_eq!(status_of(server, &id).await, "500");
    }
}

on_both_databases! {
    /// Another phone's request is not found (404); a second approval conflicts (409).
    async fn approvals_are_for_the_own_open_requests_only(server) {
        let mut phone = server.phone("+41791100009").await;
        let mut other = server.phone("+41791100010").await;
        let id = async_request(server, "+41791100009", "Demo: Log in?").await;
        let request = next_request(&phone).await;
        assert_eq!(server_status(other.approve(&request, PIN).await), 404);
        assert_eq!(status_of(server, &id).await, "504");
        phone.approve(&request, PIN).await.expect("approve");
        assert_eq!(server_status(phone.approve(&request, PIN).await), 409);
        assert_eq!(status_of(server, &id).await, "500");
    }
}

on_both_databases! {
    /// Approving after the AP's TimeOut has passed conflicts (409); no signature results.
    async fn approval_after_the_timeout_conflicts(server) {
        let mut phone = server.phone("+41791100011").await;
        let mut body = signature_request("+41791100011", "Demo: Quick?", "asynch");
        body["MSS_SignatureReq"]["TimeOut"] = "2".into();
        let (status, answer) = server.post("/rest/service", &body).await;
        assert_eq!(status, 200, "{answer}");
        let id = answer["MSS_SignatureResp"]["MSSP_TransID"].as_str().unwrap().to_string();
        let request = phone.inbox(Duration::ZERO).await.unwrap().requests.into_iter().next().expect("request");
        assert_eq!(request.transaction_id, id);
        let left = request.expires_at - now_ms() + 200;
        tokio::time::sleep(Duration::from_millis(left.max(0) as u64)).await; // the point: the TimeOut passes
        assert_eq!(server_status(phone.approve(&request, PIN).await), 409);
        assert_eq!(status_of(server, &id).await, "fault 208");
    }
}

on_both_databases! {
    /// The phone refuses to sign bytes that are not what the text and nonce produce.
    async fn phone_refuses_to_sign_what_it_does_not_show(server) {
        let mut phone = server.phone("+41791100012").await;
        let id = async_request(server, "+41791100012", "Demo: Pay 10 CHF?").await;
        let genuine = next_request(&phone).await;
        phone.check(&genuine).expect("the genuine request checks");
        let nonce: [u8; 8] = STANDARD.decode(&genuine.nonce).unwrap().try_into().unwrap();
        let tampered = SignRequest {
            to_be_signed: STANDARD.encode(signed_attributes(b"Demo: Pay 10000 CHF?", &nonce)),
            ..genuine.clone()
        };
        assert!(matches!(phone.check(&tampered), Err(PhoneError::Mismatch(_))));
        assert!(matches!(phone.approve(&tampered, PIN).await, Err(PhoneError::Mismatch(_))));
        assert_eq!(status_of(server, &id).await, "504");
    }
}

on_both_databases! {
    /// Declining makes the AP's sync request end with 401 USER_CANCEL.
    async fn decline_answers_401(server) {
        let phone = server.phone("+41791100013").await;
        let pending = spawn_sync_request(server, signature_request("+41791100013", "Demo: Log in?", "synch"));
        let request = next_request(&phone).await;
        phone.decline(&request).await.expect("decline");
        let (status, body) = pending.await.unwrap();
        assert_eq!(status, 500, "{body}");
        assert_eq!(fault_code(&body), 401, "{body}");
        assert!(inbox_ids(&phone).await.is_empty());
    }
}

// ---- delivery ----

on_both_databases! {
    /// A long poll is answered as soon as a request arrives, not at its 30 s timeout.
    async fn long_poll_wakes_on_a_new_request(server) {
        let phone = server.phone("+41791100014").await;
        let waiting = Phone::from_state(phone.state().clone()).unwrap();
        let poll = tokio::spawn(async move { waiting.inbox(Duration::from_secs(30)).await });
        tokio::time::sleep(Duration::from_millis(500)).await; // the point: the poll is parked first
        assert!(!poll.is_finished(), "the poll returned before any request existed");
        let sent = Instant::now();
        let id = async_request(server, "+41791100014", "Demo: Wake up?").await;
        let inbox = tokio::time::timeout(Duration::from_secs(10), poll).await.expect("poll answered").unwrap().unwrap();
        assert!(sent.elapsed() < Duration::from_secs(5), "answered after {:?}", sent.elapsed());
        assert_eq!(inbox.requests.iter().map(|r| r.transaction_id.clone()).collect::<Vec<_>>(), vec![id]);
    }
}

on_both_databases! {
    /// The SSE stream sends `event: request` with the transaction once it arrives.
    async fn stream_sends_new_requests(server) {
        let phone = server.phone("+41791100015").await;
        let mut stream = phone.stream().await.expect("stream");
        let id = async_request(server, "+41791100015", "Demo: Streamed?").await;
        let mut text = String::new();
        let found = tokio::time::timeout(Duration::from_secs(10), async {
            while let Some(chunk) = stream.chunk().await.expect("chunk") {
                text.push_str(&String::from_utf8_lossy(&chunk));
                let event = text
                    .split("\n\n")
                    .find(|e| e.lines().any(|l| l == "event: request") && e.contains(&id));
                if let Some(event) = event {
                    return event.to_string();
                }
            }
            panic!("stream ended: {text}");
        })
        .await
        .unwrap_or_else(|_| panic!("no request event within 10 s"));
        let data = found.lines().find_map(|l| l.strip_prefix("data: ")).expect("data line");
        let request: SignRequest = serde_json::from_str(data).expect("a SignRequest");
        assert_eq!(request.transaction_id, id);
        assert_eq!(request.data, "Demo: Streamed?");
        phone.check(&request).expect("the streamed request checks");
    }
}

// ---- PIN ----

on_both_databases! {
    /// Four wrong PINs leave the key usable; after a success the count restarts, and five
    /// wrong PINs block it: the pending request ends with 402, new ones get 402 at once,
    /// and the profile query says PinStatus.Blocked.
    async fn wrong_pins_block_the_key(server) {
        let msisdn = "+41791100016";
        let mut phone = server.phone(msisdn).await;
        let id = async_request(server, msisdn, "Demo: First?").await;
        let request = next_request(&phone).await;
        for left in [4, 3, 2, 1] {
            match phone.approve(&request, "000000").await {
                Err(PhoneError::WrongPin { attempts_left }) => assert_eq!(attempts_left, left),
                other => panic!("expected WrongPin, got {other:?}"),
            }
        }
        phone.approve(&request, PIN).await.expect("the right PIN still works");
        assert_eq!(status_of(server, &id).await, "500");

        let pending = spawn_sync_request(server, signature_request(msisdn, "Demo: Second?", "synch"));
        let request = next_request(&phone).await;
        for left in [4, 3, 2, 1] {
            match phone.approve(&request, "000000").await {
                Err(PhoneError::WrongPin { attempts_left }) => assert_eq!(attempts_left, left, "the count restarted"),
                other => panic!("expected WrongPin, got {other:?}"),
            }
        }
        assert!(matches!(phone.approve(&request, "000000").await, Err(PhoneError::PinBlocked)));
        let (status, body) = tokio::time::timeout(Duration::from_secs(10), pending).await.expect("sync answered").unwrap();
        assert_eq!(status, 500, "{body}");
        assert_eq!(fault_code(&body), 402, "{body}");
        assert_eq!(body["Fault"]["Reason"], "PIN_NR_BLOCKED", "{body}");

        let (status, body) = server.post("/rest/service", &signature_request(msisdn, "Demo: Third?", "asynch")).await;
        assert_eq!(status, 500, "{body}");
        assert_eq!(fault_code(&body), 402, "{body}");

        let (status, body) = server.post("/rest/service", &profile_request(msisdn, Some("pinstatus sscds"))).await;
        assert_eq!(status, 200, "{body}");
        let apps = &body["MSS_ProfileResp"]["Status"]["StatusDetail"]["ProfileQueryExtension"]["Sscds"]["App"];
        assert_eq!(apps[0]["PinStatus"]["Blocked"], true, "{body}");
    }
}

/// Calls the unlock endpoint directly with `pin_proof`, as a client that never reports
/// anything would; returns the status and the body.
async fn raw_unlock(phone: &Phone, pin_proof: &[u8; 32]) -> (u16, Value) {
    let body = serde_json::to_vec(&serde_json::json!({ "pin_proof": STANDARD.encode(pin_proof) })).unwrap();
    let response = phone.send(reqwest::Method::POST, PIN_UNLOCK_PATH, body).await.expect("request");
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

fn random_proof() -> [u8; 32] {
    let mut proof = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut proof);
    proof
}

/// The proof of `pin` for a phone's state (what its honest library would send).
fn proof_of(state: &PhoneState, pin: &str) -> [u8; 32] {
    let sealed = STANDARD.decode(&state.sealed_signing_key).expect("base64");
    PinKey::for_sealed(pin, &sealed).expect("sealed key").proof().0
}

on_both_databases! {
    /// A copy of the phone's state file does not let anyone test PINs offline: without the
    /// server's share the right PIN fails exactly as wrong ones do, and the file holds no
    /// proof, share or key derived from the PIN. With the server, the same copy unlocks,
    /// and that attempt is the server's to count.
    async fn a_copied_state_file_cannot_test_pins_offline(server) {
        let msisdn = "+41791100017";
        let phone = server.phone(msisdn).await;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("phone.json");
        phone.save(&path).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        let copy: PhoneState = serde_json::from_str(&text).unwrap();
        for secret in ["share", "proof", "kek", "pin"] {
            assert!(!text.contains(&format!("\"{secret}")), "the state file holds a {secret}: {text}");
        }

        let sealed = STANDARD.decode(&copy.sealed_signing_key).unwrap();
        for pin in [PIN, "000000", "654321"] {
            let key = PinKey::for_sealed(pin, &sealed).unwrap();
            for guess in [PinShare([0; 32]), PinShare(key.proof().0)] {
                assert!(matches!(key.open(&guess, &sealed), Err(CryptoError::SealedDataRejected)), "PIN {pin}");
            }
        }
        // The phone library offline: the right PIN gets nowhere without the server.
        let offline = PhoneState { server: "https://127.0.0.1:9".into(), ..copy.clone() };
        let mut offline = Phone::from_state(offline).unwrap();
        assert!(matches!(offline.unlock(PIN).await, Err(PhoneError::Network(_))));

        let mut online = Phone::from_state(copy).unwrap();
        assert!(online.unlock(PIN).await.is_ok(), "the share from the server opens it");
    }
}

on_both_databases! {
    /// The server counts wrong PINs itself: a client that calls the unlock endpoint with
    /// wrong proofs and reports nothing is blocked at the fifth, its pending request ends
    /// with 402 and new ones get 402. A right PIN in between restarts the count.
    async fn a_client_that_never_reports_wrong_pins_is_still_blocked(server) {
        let msisdn = "+41791100018";
        let mut phone = server.phone(msisdn).await;
        for left in [4, 3, 2, 1] {
            let (status, body) = raw_unlock(&phone, &random_proof()).await;
            assert_eq!(status, 200, "{body}");
            assert_eq!(body["attempts_left"], left, "{body}");
            assert!(body.get("share").is_none(), "a wrong proof gets no share: {body}");
        }
        approve_next_after(server, &mut phone, msisdn, "Demo: After four wrong PINs?").await;

        let id = async_request(server, msisdn, "Demo: Blocked?").await;
        for left in [4, 3, 2, 1] {
            let (status, body) = raw_unlock(&phone, &random_proof()).await;
            assert_eq!((status, body["attempts_left"].as_i64()), (200, Some(left)), "the count restarted: {body}");
        }
        let (status, body) = raw_unlock(&phone, &random_proof()).await;
        assert_eq!(status, 403, "the fifth wrong PIN blocks: {body}");
        assert_eq!(status_of(server, &id).await, "fault 402");
        let (status, body) = server.post("/rest/service", &signature_request(msisdn, "Demo: Again?", "asynch")).await;
        assert_eq!(status, 500, "{body}");
        assert_eq!(fault_code(&body), 402, "{body}");
        // Blocked means blocked: the right PIN gets no share either.
        let right = proof_of(phone.state(), PIN);
        assert_eq!(raw_unlock(&phone, &right).await.0, 403);
    }
}

/// Sends a request to `msisdn` and approves it with the right PIN; checks it completed.
async fn approve_next_after(server: &TestServer, phone: &mut Phone, msisdn: &str, text: &str) {
    let id = async_request(server, msisdn, text).await;
    let request = next_request(phone).await;
    phone.approve(&request, PIN).await.expect("the right PIN works");
    assert_eq!(status_of(server, &id).await, "500");
}

on_both_databases! {
    /// The unlock endpoint answers only a signed call of the device itself: unsigned or
    /// signed with another device's key, 401. One device's right proof is a wrong PIN for
    /// another, and the share of a device goes only to that device.
    async fn the_pin_unlock_is_device_authenticated(server) {
        let alice = server.phone("+41791100019").await;
        let bob = server.phone("+41791100020").await;
        let body = serde_json::to_vec(&serde_json::json!({ "pin_proof": STANDARD.encode(proof_of(alice.state(), PIN)) }))
            .unwrap();
        let url = format!("{}{PIN_UNLOCK_PATH}", server.base);
        let unsigned = server.anonymous_client().post(&url).body(body.clone()).send().await.unwrap();
        assert_eq!(unsigned.status().as_u16(), 401);
        let forged = authorization(&device_key(&bob), &alice.state().device_id, "POST", PIN_UNLOCK_PATH, &body, now_ms());
        let response = server.anonymous_client().post(&url).header("Authorization", forged).body(body).send().await.unwrap();
        assert_eq!(response.status().as_u16(), 401, "Bob's key cannot speak for Alice's device");

        let (status, answer) = raw_unlock(&bob, &proof_of(alice.state(), PIN)).await;
        assert_eq!((status, answer["attempts_left"].as_i64()), (200, Some(4)), "Alice's proof is wrong for Bob: {answer}");
        assert!(answer.get("share").is_none(), "{answer}");
        let (_, alices) = raw_unlock(&alice, &proof_of(alice.state(), PIN)).await;
        let (_, bobs) = raw_unlock(&bob, &proof_of(bob.state(), PIN)).await;
        assert!(alices["share"].is_string() && bobs["share"].is_string(), "{alices} {bobs}");
        assert_ne!(alices["share"], bobs["share"]);
        assert_eq!(bobs["attempts_left"], 5, "the right PIN restarts the count");
    }
}

// ---- guessing (the hardening issue, finding 4) ----

/// 600 wrong codes in a second used to get 600 answers of 403. Now an address gets 10
/// wrong codes per 10 minutes, then 429 with Retry-After, for right codes too: a guesser
/// cannot tell a hit from a miss once the budget is spent.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_activation_codes_run_out_of_budget() {
    let server = TestServer::start(Backend::Sqlite).await;
    let right = server.activation_code("+41791100090");
    for attempt in 1..=10 {
        let (status, body) = raw_activation(&server, "ABCD-EFGH-JKMN").await;
        assert_eq!(status, 403, "attempt {attempt}: {body}");
    }
    let (status, body) = raw_activation(&server, "ABCD-EFGH-JKMN").await;
    assert_eq!(status, 429, "{body}");
    let answer: Value = serde_json::from_str(&body).expect("JSON");
    assert_eq!(answer["error"], "too_many_requests");
    assert!(answer["message"].as_str().unwrap_or_default().contains("try again in"), "{body}");
    let (status, _) = raw_activation(&server, &right).await;
    assert_eq!(status, 429, "the right code is refused too while the budget is spent");
    let response = server
        .anonymous_client()
        .post(format!("{}{ACTIVATE_PATH}", server.base))
        .body("{}")
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), 429);
    let retry_after: u64 = response.headers()["retry-after"].to_str().unwrap().parse().expect("seconds");
    assert!((590..=600).contains(&retry_after), "Retry-After {retry_after}");
}

/// Forged device requests: 30 refusals per address and minute, then 429; the phone's own
/// requests from another address would still pass (budgets are per address only, so that
/// nobody can lock a user out by naming their device).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_device_requests_run_out_of_budget() {
    let server = TestServer::start(Backend::Sqlite).await;
    let phone = server.phone("+41791100091").await;
    let forger = PrivateKey::generate(KeyAlgorithm::EcP256).unwrap();
    let forged = |server: &TestServer| {
        let header = authorization(&forger, &phone.state().device_id, "GET", INBOX_NOW, b"", now_ms());
        let request =
            server.anonymous_client().get(format!("{}{INBOX_NOW}", server.base)).header("Authorization", header);
        async move { request.send().await.expect("request").status().as_u16() }
    };
    for attempt in 1..=30 {
        assert_eq!(forged(&server).await, 401, "attempt {attempt}");
    }
    assert_eq!(forged(&server).await, 429);
    assert_eq!(server_status(phone.inbox(Duration::ZERO).await.map(|_| ())), 429, "same address, same budget");
}
