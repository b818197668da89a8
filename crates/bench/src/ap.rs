//! The AP side: the demo AP, over mutual TLS, sending synchronous MSS_SignatureReq messages
//! and sorting the answers into completions and errors.

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use anyhow::Context;
use serde_json::{json, Value};

pub const DEMO_AP_ID: &str = "mid://demo.mobileid.local";
/// The demo AP's DTBD prefix: every text it sends must start with it.
const DEMO_PREFIX: &str = "Demo: ";

/// How one signature request ended.
pub enum Outcome {
    /// HTTP 200 with status 500 SIGNATURE.
    Signed,
    /// Anything else, described briefly enough to be counted by kind.
    Failed(String),
}

pub struct DemoAp {
    http: reqwest::Client,
    sign_url: String,
    status_url: String,
    /// Makes AP_TransIDs unique across runs that share a database.
    run: String,
    sent: AtomicU64,
    /// The request's `TimeOut`, in seconds.
    mss_timeout: u64,
}

impl DemoAp {
    /// The demo AP as the server wrote it to its data directory: client certificate and
    /// key, and the root CA to trust.
    pub fn new(base: &str, data_dir: &Path, mss_timeout: u64, connections: usize) -> anyhow::Result<DemoAp> {
        let read = |name: &str| std::fs::read(data_dir.join(name)).with_context(|| format!("reading {name}"));
        let mut identity = read("demo-ap/client.pem")?;
        identity.extend(read("demo-ap/client.key")?);
        mobileid_phone::install_crypto_provider();
        let http = reqwest::Client::builder()
            .use_rustls_tls()
            .tls_built_in_root_certs(false)
            .add_root_certificate(reqwest::Certificate::from_pem(&read("ca.pem")?)?)
            .identity(reqwest::Identity::from_pem(&identity)?)
            .pool_max_idle_per_host(connections)
            // The server answers at TimeOut at the latest; give it a little more.
            .timeout(Duration::from_secs(mss_timeout + 10))
            .build()?;
        Ok(DemoAp {
            http,
            sign_url: format!("{base}/rest/service/sign"),
            status_url: format!("{base}/rest/service/status"),
            run: hex::encode(rand::random::<[u8; 4]>()),
            sent: AtomicU64::new(0),
            mss_timeout,
        })
    }

    /// Asks `msisdn` to sign, synchronously, and waits for the answer.
    pub async fn sign(&self, msisdn: &str) -> Outcome {
        let answer = match self.post_signature(msisdn, "synch").await {
            Ok(answer) => answer,
            Err(failed) => return failed,
        };
        classify(answer.0, &answer.1)
    }

    /// Asks `msisdn` to sign asynchronously, then polls MSS_StatusQuery every `poll` until
    /// the signature is there (or a fault or another status ends it).
    pub async fn sign_async(&self, msisdn: &str, poll: Duration) -> Outcome {
        let id = match self.start_async(msisdn).await {
            Ok(id) => id,
            Err(failed) => return failed,
        };
        loop {
            tokio::time::sleep(poll).await;
            let (status, answer) = match self.status(&id).await {
                Ok(answer) => answer,
                Err(failed) => return failed,
            };
            match (status, status_code(&answer)) {
                (200, Some("504")) => continue,
                (200, Some("500")) => return Outcome::Signed,
                _ => return classify(status, &answer),
            }
        }
    }

    /// Sends an async signature request: its MSSP_TransID once acknowledged (status 100).
    pub async fn start_async(&self, msisdn: &str) -> Result<String, Outcome> {
        let (status, answer) = self.post_signature(msisdn, "asynch").await?;
        let ack = &answer["MSS_SignatureResp"];
        match (ack["Status"]["StatusCode"]["Value"].as_str(), ack["MSSP_TransID"].as_str()) {
            (Some("100"), Some(id)) => Ok(id.to_string()),
            _ => Err(match classify(status, &answer) {
                Outcome::Signed => Outcome::Failed("an async request answered with a signature".into()),
                failed => failed,
            }),
        }
    }

    /// Whether the status query answers 504 OUTSTANDING_TRANSACTION.
    pub async fn is_outstanding(&self, id: &str) -> bool {
        matches!(self.status(id).await, Ok((200, answer)) if status_code(&answer) == Some("504"))
    }

    async fn status(&self, id: &str) -> Result<(u16, Value), Outcome> {
        let query = json!({ "MSS_StatusReq": {
            "MajorVersion": "1",
            "MinorVersion": "1",
            "AP_Info": self.ap_info(),
            "MSSP_Info": { "MSSP_ID": { "URI": "http://mid.swisscom.ch/" } },
            "MSSP_TransID": id,
        }});
        self.post(&self.status_url, &query).await
    }

    fn ap_info(&self) -> Value {
        let number = self.sent.fetch_add(1, Ordering::Relaxed);
        let instant = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
        json!({
            "AP_ID": DEMO_AP_ID,
            "AP_PWD": "",
            "AP_TransID": format!("bench-{}-{number}", self.run),
            "Instant": instant,
        })
    }

    async fn post_signature(&self, msisdn: &str, mode: &str) -> Result<(u16, Value), Outcome> {
        let ap_info = self.ap_info();
        let body = json!({ "MSS_SignatureReq": {
            "MajorVersion": "1",
            "MinorVersion": "1",
            "MessagingMode": mode,
            "TimeOut": self.mss_timeout.to_string(),
            "AP_Info": ap_info,
            "MSSP_Info": { "MSSP_ID": { "URI": "http://mid.swisscom.ch/" } },
            "MobileUser": { "MSISDN": msisdn },
            "DataToBeSigned": {
                "MimeType": "text/plain",
                "Encoding": "UTF-8",
                "Data": format!("{DEMO_PREFIX}benchmark sign-in {}", ap_info["AP_TransID"].as_str().unwrap_or_default()),
            },
            "SignatureProfile": "http://mid.swisscom.ch/Any-LoA4",
        }});
        self.post(&self.sign_url, &body).await
    }

    /// POSTs an MSS message and reads the JSON answer with its HTTP status.
    async fn post(&self, url: &str, body: &Value) -> Result<(u16, Value), Outcome> {
        let response = match self.http.post(url).json(body).send().await {
            Ok(response) => response,
            Err(e) => return Err(Outcome::Failed(network_error(&e))),
        };
        let status = response.status().as_u16();
        match response.json().await {
            Ok(answer) => Ok((status, answer)),
            Err(e) => Err(Outcome::Failed(format!("HTTP {status}, unreadable body: {}", network_error(&e)))),
        }
    }
}

fn status_code(answer: &Value) -> Option<&str> {
    answer["MSS_StatusResp"]["Status"]["StatusCode"]["Value"].as_str()
}

fn classify(status: u16, answer: &Value) -> Outcome {
    let mss_status = answer["MSS_SignatureResp"]["Status"]["StatusCode"]["Value"].as_str();
    if status == 200 && mss_status == Some("500") {
        return Outcome::Signed;
    }
    if let Some(code) = answer["Fault"]["Code"]["SubCode"]["Value"].as_str() {
        let detail = answer["Fault"]["Detail"].as_str().unwrap_or_default();
        return Outcome::Failed(format!("HTTP {status} fault {code}: {}", shorten(detail)));
    }
    Outcome::Failed(format!("HTTP {status} status {}", mss_status.unwrap_or("none")))
}

/// Which kind of network failure, without the per-request details that would keep
/// identical failures from being counted together.
fn network_error(e: &reqwest::Error) -> String {
    let kind = if e.is_timeout() {
        "timeout"
    } else if e.is_connect() {
        "connect"
    } else if e.is_decode() {
        "decode"
    } else if e.is_body() {
        "body"
    } else {
        "request"
    };
    let mut cause: &dyn std::error::Error = e;
    while let Some(next) = cause.source() {
        cause = next;
    }
    format!("network ({kind}): {}", shorten(&cause.to_string()))
}

pub fn shorten(text: &str) -> String {
    const MAX: usize = 120;
    match text.char_indices().nth(MAX) {
        Some((end, _)) => format!("{}…", &text[..end]),
        None => text.to_string(),
    }
}
