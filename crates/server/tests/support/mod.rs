//! Test harness: runs the real `mobileid` binary (HTTPS with client certificates) on an
//! ephemeral port, on SQLite or on PostgreSQL, and drives it like an AP and a phone would.
#![allow(dead_code)] // each test binary uses a different part of the harness

pub mod browser;
pub mod smtp;
pub mod tsa;
pub mod webhooks;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use mobileid_phone::Phone;
use serde_json::{json, Value};

pub const DEMO_AP: &str = "mid://demo.mobileid.local";
pub const PIN: &str = "123456";
pub const POSTGRES_URL: &str = "postgres://postgres@127.0.0.1:5432/test";
/// The robot test users (contract §12): EC and RSA keys held by the server.
pub const ROBOT_EC: &str = "+41700092501";
pub const ROBOT_RSA: &str = "+41700092502";
pub const STK: &str = "http://mid.swisscom.ch/STK-LoA4";
pub const DEVICE: &str = "http://mid.swisscom.ch/Device-LoA4";
pub const MSS_NS: &str = "http://uri.etsi.org/TS102204/v1.1.2#";
pub const ENV_NS: &str = "http://www.w3.org/2003/05/soap-envelope";
pub const SOAP_RESPONSE_TYPE: &str = "application/soap+xml;charset=utf-8";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Runs a test body on SQLite and on PostgreSQL, as two tests.
#[macro_export]
macro_rules! on_both_databases {
    ($(#[$meta:meta])* async fn $name:ident($server:ident) $body:block) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;
            async fn run($server: &mut $crate::support::TestServer) $body
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                let mut server = $crate::support::TestServer::start($crate::support::Backend::Sqlite).await;
                run(&mut server).await;
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                let mut server = $crate::support::TestServer::start($crate::support::Backend::Postgres).await;
                run(&mut server).await;
            }
        }
    };
}

pub struct TestServer {
    pub backend: Backend,
    pub data_dir: tempfile::TempDir,
    pub database_url: String,
    /// The PostgreSQL schema of this server, dropped when the test ends.
    pg_schema: Option<String>,
    pub base: String,
    /// The browser port (no client certificate asked).
    pub browser_base: String,
    pub ap: reqwest::Client,
    pub ca_pem: String,
    child: Option<Child>,
    extra_env: Vec<(String, String)>,
    launch: Launch,
}

/// How the server process is started, beyond its settings.
#[derive(Debug, Clone, Default)]
pub struct Launch {
    /// A command the server runs under, e.g. `["prlimit", "--nofile=64:64"]`.
    pub prefix: Vec<String>,
    /// Its log goes to `server.log` in the data directory (see [`TestServer::log`])
    /// instead of the test's output.
    pub log_to_file: bool,
}

impl TestServer {
    pub async fn start(backend: Backend) -> TestServer {
        TestServer::start_with(backend, &[]).await
    }

    /// Starts a server that sends its e-mail to `sink` (plain SMTP on the loopback), with
    /// extra settings.
    pub async fn start_mailing(backend: Backend, sink: &smtp::SmtpSink, extra: &[(&str, &str)]) -> TestServer {
        let port = sink.port().to_string();
        let mut env = vec![
            ("MOBILEID_SMTP_HOST", "127.0.0.1"),
            ("MOBILEID_SMTP_PORT", port.as_str()),
            ("MOBILEID_SMTP_SECURITY", "plain"),
            ("MOBILEID_MAIL_FROM", "Mobile ID <noreply@mid.example>"),
        ];
        env.extend_from_slice(extra);
        TestServer::start_with(backend, &env).await
    }

    /// Starts a server with extra `MOBILEID_*` settings.
    pub async fn start_with(backend: Backend, env: &[(&str, &str)]) -> TestServer {
        TestServer::start_launched(backend, env, Launch::default()).await
    }

    /// Starts a server with extra settings, started as `launch` says.
    pub async fn start_launched(backend: Backend, env: &[(&str, &str)], launch: Launch) -> TestServer {
        // The test's own reqwest clients need a rustls provider, as the phone's do.
        mobileid_phone::install_crypto_provider();
        let data_dir = tempfile::tempdir().expect("tempdir");
        let pg_schema = (backend == Backend::Postgres).then(fresh_postgres_schema);
        let database_url = match &pg_schema {
            None => format!("sqlite://{}?mode=rwc", data_dir.path().join("mobileid.db").display()),
            Some(schema) => format!("{POSTGRES_URL}?options=-c%20search_path%3D{schema}"),
        };
        let mut server = TestServer {
            backend,
            data_dir,
            database_url,
            pg_schema,
            base: String::new(),
            browser_base: String::new(),
            ap: reqwest::Client::new(),
            ca_pem: String::new(),
            child: None,
            extra_env: env.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
            launch,
        };
        server.launch().await;
        server
    }

    async fn launch(&mut self) {
        let mut command = match self.launch.prefix.split_first() {
            None => Command::new(env!("CARGO_BIN_EXE_mobileid")),
            Some((program, args)) => {
                let mut command = Command::new(program);
                command.args(args).arg(env!("CARGO_BIN_EXE_mobileid"));
                command
            }
        };
        let stderr = if self.launch.log_to_file {
            let log = std::fs::File::options().create(true).append(true).open(self.log_path()).expect("server.log");
            Stdio::from(log)
        } else {
            Stdio::inherit()
        };
        command
            .arg("serve")
            .env("MOBILEID_DATA_DIR", self.data_dir.path())
            .env("MOBILEID_DATABASE_URL", &self.database_url)
            .env("MOBILEID_LISTEN", "127.0.0.1:0")
            .env("MOBILEID_BROWSER_LISTEN", "127.0.0.1:0")
            .env("MOBILEID_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(stderr);
        for (k, v) in &self.extra_env {
            command.env(k, v);
        }
        let mut child = command.spawn().expect("start mobileid");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut mss = None;
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(addr) = line.strip_prefix("Mobile ID platform listening on ") {
                    mss = Some(addr.to_string());
                } else if let (Some(mss), Some(browser)) = (&mss, line.strip_prefix("Browser port listening on ")) {
                    let _ = tx.send((mss.clone(), browser.to_string()));
                }
            }
        });
        let (addr, browser) = rx.recv_timeout(Duration::from_secs(120)).expect("server did not start");
        let port = |addr: &str| addr.rsplit(':').next().expect("port").to_string();
        self.base = format!("https://localhost:{}", port(&addr));
        self.browser_base = format!("https://localhost:{}", port(&browser));
        self.child = Some(child);
        self.ca_pem = std::fs::read_to_string(self.data_dir.path().join("ca.pem")).expect("ca.pem");
        self.ap = self.client_with_identity(&self.demo_ap_cert_path(), &self.demo_ap_key_path());
    }

    /// Stops the process (as a crash would) and starts it again on the same data.
    pub async fn restart(&mut self) {
        self.stop();
        self.launch().await;
    }

    /// Starts the process again on the same data with different settings.
    pub async fn relaunch_with(&mut self, env: &[(&str, &str)]) {
        self.stop();
        self.extra_env = env.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        self.launch().await;
    }

    /// Starts the process again after it stopped by itself (after a signal).
    pub async fn start_again(&mut self) {
        assert!(self.child.is_none(), "the server is still running");
        self.launch().await;
    }

    /// Sends a signal (`TERM`, `INT`) to the server process.
    pub fn signal(&self, name: &str) {
        let status = Command::new("kill").arg(format!("-{name}")).arg(self.pid().to_string()).status().expect("kill");
        assert!(status.success(), "kill -{name} failed");
    }

    /// Waits up to `limit` for the process to exit by itself; its exit status, or None.
    pub fn wait_for_exit(&mut self, limit: Duration) -> Option<std::process::ExitStatus> {
        let deadline = std::time::Instant::now() + limit;
        let child = self.child.as_mut().expect("the server is running");
        while std::time::Instant::now() < deadline {
            if let Some(status) = child.try_wait().expect("try_wait") {
                self.child = None;
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }

    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    fn log_path(&self) -> PathBuf {
        self.data_dir.path().join("server.log")
    }

    /// What the server logged so far, when it was started with `log_to_file`.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.log_path()).unwrap_or_default()
    }

    pub fn demo_ap_cert_path(&self) -> PathBuf {
        self.data_dir.path().join("demo-ap/client.pem")
    }

    pub fn demo_ap_key_path(&self) -> PathBuf {
        self.data_dir.path().join("demo-ap/client.key")
    }

    pub fn root_ca_path(&self) -> PathBuf {
        self.data_dir.path().join("ca.pem")
    }

    /// An HTTPS client that trusts our CA and presents this client certificate.
    pub fn client_with_identity(&self, cert: &Path, key: &Path) -> reqwest::Client {
        let mut pem = std::fs::read(cert).expect("cert");
        pem.extend(std::fs::read(key).expect("key"));
        reqwest::Client::builder()
            .use_rustls_tls()
            .add_root_certificate(reqwest::Certificate::from_pem(self.ca_pem.as_bytes()).expect("ca"))
            .identity(reqwest::Identity::from_pem(&pem).expect("identity"))
            .build()
            .expect("client")
    }

    /// An HTTPS client without a client certificate.
    pub fn anonymous_client(&self) -> reqwest::Client {
        reqwest::Client::builder()
            .use_rustls_tls()
            .add_root_certificate(reqwest::Certificate::from_pem(self.ca_pem.as_bytes()).expect("ca"))
            .build()
            .expect("client")
    }

    /// Runs the operator CLI against this server's database.
    pub fn cli(&self, args: &[&str]) -> String {
        let output = Command::new(env!("CARGO_BIN_EXE_mobileid"))
            .args(args)
            .env("MOBILEID_DATA_DIR", self.data_dir.path())
            .env("MOBILEID_DATABASE_URL", &self.database_url)
            .env("MOBILEID_LOG", "warn")
            .output()
            .expect("run mobileid");
        succeeded("mobileid", args, output)
    }

    /// Enrols a user with the CLI and activates a virtual phone for them.
    pub async fn phone(&self, msisdn: &str) -> Phone {
        let code = self.activation_code(msisdn);
        Phone::activate(&self.base, Some(&self.ca_pem), &code, PIN).await.expect("activate phone")
    }

    pub fn activation_code(&self, msisdn: &str) -> String {
        let out = self.cli(&["user", "add", "--msisdn", msisdn]);
        out.lines().next().and_then(|l| l.rsplit(' ').next()).expect("code").to_string()
    }

    /// POSTs a JSON body as the demo AP; returns the HTTP status and the JSON answer.
    pub async fn post(&self, path: &str, body: &Value) -> (u16, Value) {
        post_json(&self.ap, &format!("{}{path}", self.base), body).await
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.stop();
        if let Some(schema) = &self.pg_schema {
            psql(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE"));
        }
    }
}

/// The stdout of a finished command; panics with all its output if it failed.
pub fn succeeded(program: &str, args: &[&str], output: std::process::Output) -> String {
    let stdout = String::from_utf8_lossy(&output.stdout).to_string();
    assert!(output.status.success(), "{program} {args:?} failed: {stdout}{}", String::from_utf8_lossy(&output.stderr));
    stdout
}

pub async fn post_json(client: &reqwest::Client, url: &str, body: &Value) -> (u16, Value) {
    let response = client
        .post(url)
        .header("Content-Type", "application/json;charset=UTF-8")
        .body(body.to_string())
        .send()
        .await
        .expect("request");
    let status = response.status().as_u16();
    let text = response.text().await.expect("body");
    let value = serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON ({status}): {text}"));
    (status, value)
}

/// A schema of its own in the `test` database, so tests never see each other's rows.
fn fresh_postgres_schema() -> String {
    let schema = format!("t_{}", uuid_like());
    assert!(psql(&format!("CREATE SCHEMA {schema}")), "could not create schema {schema}");
    schema
}

fn psql(sql: &str) -> bool {
    Command::new("psql")
        .args(["-q", "-h", "127.0.0.1", "-U", "postgres", "-d", "test", "-c", sql])
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

fn uuid_like() -> String {
    use rand::RngCore;
    let mut bytes = [0u8; 8];
    rand::thread_rng().fill_bytes(&mut bytes);
    hex::encode(bytes)
}

pub fn now_instant() -> String {
    chrono::Utc::now().format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
}

pub fn fresh_trans_id() -> String {
    format!("ID-{}", uuid_like())
}

pub fn ap_info() -> Value {
    json!({"AP_ID": DEMO_AP, "AP_PWD": "", "AP_TransID": fresh_trans_id(), "Instant": now_instant()})
}

/// A signature request as the Java reference client writes it.
pub fn signature_request(msisdn: &str, text: &str, mode: &str) -> Value {
    json!({"MSS_SignatureReq": {
        "AP_Info": ap_info(),
        "AdditionalServices": [{"Description": "http://mss.ficom.fi/TS102204/v1.0.0#userLang", "UserLang": {"Value": "en"}}],
        "DataToBeSigned": {"Data": text, "Encoding": "UTF-8", "MimeType": "text/plain"},
        "MSSP_Info": {"MSSP_ID": {"URI": "http://mid.swisscom.ch/"}},
        "MajorVersion": "1", "MessagingMode": mode, "MinorVersion": "2",
        "MobileUser": {"MSISDN": msisdn},
        "SignatureProfile": "http://mid.swisscom.ch/Any-LoA4", "TimeOut": "80"
    }})
}

pub fn status_request(mssp_trans_id: &str) -> Value {
    json!({"MSS_StatusReq": {
        "AP_Info": ap_info(), "MSSP_Info": {"MSSP_ID": {"URI": "http://mid.swisscom.ch/"}},
        "MSSP_TransID": mssp_trans_id, "MajorVersion": "1", "MinorVersion": "1"
    }})
}

pub fn receipt_request(mssp_trans_id: &str, msisdn: &str, text: &str, user_ack: bool) -> Value {
    let mut body = json!({"MSS_ReceiptReq": {
        "AP_Info": ap_info(), "MSSP_Info": {"MSSP_ID": {"URI": "http://mid.swisscom.ch/"}},
        "MSSP_TransID": mssp_trans_id, "MajorVersion": "1", "MinorVersion": "1",
        "Message": {"Data": text, "Encoding": "UTF-8", "MimeType": "text/plain"},
        "MobileUser": {"MSISDN": msisdn}
    }});
    if user_ack {
        body["MSS_ReceiptReq"]["Status"] = json!({"StatusCode": {"Value": "100"}, "StatusDetail": {"ReceiptRequestExtension": {
            "ReceiptMessagingMode": "synch", "UserAck": "true",
            "ReceiptProfile": {"Language": "LANGUAGE", "ReceiptProfileURI": "http://mss.swisscom.ch/synch"}}}});
    }
    body
}

pub fn profile_request(msisdn: &str, params: Option<&str>) -> Value {
    let mut body = json!({"MSS_ProfileReq": {
        "AP_Info": ap_info(), "MSSP_Info": {"MSSP_ID": {"URI": "http://mid.swisscom.ch/"}},
        "MajorVersion": "2", "MinorVersion": "0", "MobileUser": {"MSISDN": msisdn}
    }});
    if let Some(params) = params {
        body["MSS_ProfileReq"]["Params"] = json!(params);
    }
    body
}

/// The fault code of a JSON fault body (HTTP 500), e.g. 105.
pub fn fault_code(body: &Value) -> u16 {
    body["Fault"]["Code"]["SubCode"]["Value"]
        .as_str()
        .and_then(|v| v.strip_prefix('_'))
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("not a fault: {body}"))
}

/// Checks a Base64Signature with `openssl cms -verify -CAfile <root> -purpose sslclient`
/// and returns the signed content openssl extracted.
pub fn openssl_verify(base64_signature: &str, root_ca: &Path) -> Vec<u8> {
    openssl_verify_with_signer(base64_signature, root_ca).0
}

/// Like [`openssl_verify`], and also returns the signer's certificate (PEM) that openssl
/// found in the CMS and checked against our root.
pub fn openssl_verify_with_signer(base64_signature: &str, root_ca: &Path) -> (Vec<u8>, String) {
    let dir = tempfile::tempdir().expect("tempdir");
    let der = dir.path().join("sig.der");
    let (content, signer) = (dir.path().join("content.bin"), dir.path().join("signer.pem"));
    std::fs::write(&der, STANDARD.decode(base64_signature).expect("base64")).expect("write");
    let result = Command::new("openssl")
        .args(["cms", "-verify", "-inform", "DER", "-in"])
        .arg(&der)
        .arg("-CAfile")
        .arg(root_ca)
        .args(["-purpose", "sslclient", "-out"])
        .arg(&content)
        .arg("-signer")
        .arg(&signer)
        .output()
        .expect("openssl");
    assert!(result.status.success(), "openssl cms -verify failed: {}", String::from_utf8_lossy(&result.stderr));
    (std::fs::read(content).expect("content"), std::fs::read_to_string(signer).expect("signer"))
}

/// Answers the next request on the phone with the PIN, waiting up to 10 s for it.
pub async fn approve_next(phone: &mut Phone) -> mobileid_core::device_api::SignRequest {
    let request = next_request(phone).await;
    phone.approve(&request, PIN).await.expect("approve");
    request
}

pub async fn next_request(phone: &Phone) -> mobileid_core::device_api::SignRequest {
    let inbox = phone.inbox(Duration::from_secs(10)).await.expect("inbox");
    inbox.requests.into_iter().next().expect("a request in the inbox")
}

impl TestServer {
    /// Runs the operator CLI with this server's extra settings too, and returns its output
    /// whether it succeeded or not (for refusals, and for settings such as code lifetimes
    /// that the CLI itself applies).
    pub fn cli_output(&self, args: &[&str]) -> std::process::Output {
        Command::new(env!("CARGO_BIN_EXE_mobileid"))
            .args(args)
            .env("MOBILEID_DATA_DIR", self.data_dir.path())
            .env("MOBILEID_DATABASE_URL", &self.database_url)
            .env("MOBILEID_LOG", "warn")
            .envs(self.extra_env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .output()
            .expect("run mobileid")
    }
}

// ---- Helpers for mss_faults.rs, mss_operations.rs and openapi.rs ----

/// The `Detail` text of a JSON fault body.
pub fn fault_detail(body: &Value) -> String {
    body["Fault"]["Detail"].as_str().unwrap_or_else(|| panic!("no Detail: {body}")).to_string()
}

/// Sets `AP_Info.AP_ID` of a request body (any of the four messages).
pub fn with_ap_id(mut body: Value, ap_id: &str) -> Value {
    for message in body.as_object_mut().expect("object").values_mut() {
        message["AP_Info"]["AP_ID"] = json!(ap_id);
    }
    body
}

impl TestServer {
    /// Registers another AP (`mobileid ap add`) with a fresh self-signed client certificate
    /// and returns an HTTPS client presenting that certificate.
    pub fn other_ap(&self, ap_id: &str) -> reqwest::Client {
        let (cert, key) = mobileid_crypto::self_signed_client_certificate(ap_id).expect("client certificate");
        let dir = self.data_dir.path().join(format!("ap-{}", uuid_like()));
        std::fs::create_dir_all(&dir).expect("mkdir");
        let (cert_path, key_path) = (dir.join("client.pem"), dir.join("client.key"));
        std::fs::write(&cert_path, mobileid_crypto::pem_encode("CERTIFICATE", &cert)).expect("write cert");
        std::fs::write(&key_path, mobileid_crypto::pem_encode("PRIVATE KEY", key.pkcs8_der())).expect("write key");
        self.cli(&["ap", "add", "--ap-id", ap_id, "--cert", cert_path.to_str().expect("utf-8 path")]);
        self.client_with_identity(&cert_path, &key_path)
    }
}

/// POSTs raw bytes with extra headers; returns the HTTP status, the Content-Type and the body text.
pub async fn post_raw(
    client: &reqwest::Client,
    url: &str,
    headers: &[(&str, &str)],
    body: impl Into<reqwest::Body>,
) -> (u16, String, String) {
    let mut request = client.post(url).body(body);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = request.send().await.expect("request");
    let status = response.status().as_u16();
    let content_type =
        response.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or_default().to_string();
    (status, content_type, response.text().await.expect("body"))
}

// ---- Helpers for soap_hostile.rs ----

impl TestServer {
    /// The server process's id (for watching its memory from /proc).
    pub fn pid(&self) -> u32 {
        self.child.as_ref().map(Child::id).expect("the server is running")
    }
}

// ---- Helpers for crash.rs and cluster.rs ----

impl TestServer {
    /// Runs one SQL query on this server's database (sqlite3 or psql) and returns its
    /// output, trimmed: the tests look at rows the MSS API does not show, such as how many
    /// requests were stored.
    pub fn sql(&self, query: &str) -> String {
        let output = match &self.pg_schema {
            None => Command::new("sqlite3").arg(self.data_dir.path().join("mobileid.db")).arg(query).output(),
            Some(schema) => Command::new("psql")
                .args(["-qtA", "-h", "127.0.0.1", "-U", "postgres", "-d", "test", "-c"])
                .arg(format!("SET search_path TO {schema}; {query}"))
                .output(),
        }
        .expect("run the database client");
        succeeded("sql", &[query], output).trim().to_string()
    }
}

impl TestServer {
    /// A second node on this server's PostgreSQL schema, as an operator would add one: its
    /// own data directory, the same database and the same master key (its `master.key` file
    /// copied, so the operator CLI on that node opens the CA too). `application_name`
    /// names each node's connections (this one's too, after a restart) so a test can find
    /// them in `pg_stat_activity`.
    pub async fn second_node(&mut self, name: &str) -> TestServer {
        assert!(self.backend == Backend::Postgres, "nodes share a PostgreSQL database");
        let shared_url = self.database_url.clone();
        let data_dir = tempfile::tempdir().expect("tempdir");
        std::fs::copy(self.data_dir.path().join("master.key"), data_dir.path().join("master.key"))
            .expect("copy master.key");
        // The demo AP lives in the database; its client certificate file is the test's.
        std::fs::create_dir_all(data_dir.path().join("demo-ap")).expect("mkdir");
        for file in ["client.pem", "client.key"] {
            std::fs::copy(self.data_dir.path().join("demo-ap").join(file), data_dir.path().join("demo-ap").join(file))
                .expect("copy the demo AP's certificate");
        }
        let mut node = TestServer {
            backend: self.backend,
            data_dir,
            database_url: format!("{shared_url}&application_name={name}"),
            // The first node drops the schema.
            pg_schema: None,
            base: String::new(),
            browser_base: String::new(),
            ap: reqwest::Client::new(),
            ca_pem: String::new(),
            child: None,
            extra_env: Vec::new(),
            launch: Launch::default(),
        };
        node.launch().await;
        node
    }

    /// Restarts this node with `application_name` on its database connections.
    pub async fn name_connections(&mut self, name: &str) {
        self.database_url = format!("{}&application_name={name}", self.database_url);
        self.restart().await;
    }
}

/// Runs one SQL query on the shared `test` database (not in a test's schema).
pub fn psql_query(query: &str) -> String {
    let output = Command::new("psql")
        .args(["-qtA", "-h", "127.0.0.1", "-U", "postgres", "-d", "test", "-c", query])
        .output()
        .expect("run psql");
    succeeded("psql", &[query], output).trim().to_string()
}

// ---- Helpers for the OpenID tests ----

impl TestServer {
    /// An HTTPS client as a relying party's back end: trusts our CA and follows no
    /// redirect, so a test sees where the provider sends the browser.
    pub fn relying_party_client(&self) -> reqwest::Client {
        reqwest::Client::builder()
            .use_rustls_tls()
            .add_root_certificate(reqwest::Certificate::from_pem(self.ca_pem.as_bytes()).expect("ca"))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("client")
    }
}

/// The session code a login's waiting page shows.
pub fn session_code_shown(page: &str) -> String {
    page.split("class=\"code\"")
        .nth(1)
        .and_then(|rest| rest.split('>').nth(1))
        .and_then(|rest| rest.split('<').next())
        .unwrap_or_else(|| panic!("no session code on the page: {page}"))
        .to_string()
}

/// Confirms a login's consent page (`login` is the login page's URL); where the provider
/// sends the browser.
pub async fn confirm_consent(http: &reqwest::Client, login: &str, cookie: &str) -> String {
    let back = http
        .post(format!("{login}/consent"))
        .header("Cookie", cookie)
        .form(&[("decision", "confirm")])
        .send()
        .await
        .expect("consent");
    back.headers()[reqwest::header::LOCATION].to_str().expect("location").to_string()
}
