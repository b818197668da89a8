//! The time-stamp authority document signatures are stamped by (`signing_tsa_url`),
//! spoken to over HTTP as RFC 3161 §3.4 says: the DER request POSTed as
//! `application/timestamp-query`, the DER response back.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use mobileid_engine::signing::Timestamper;

/// A time-stamp must not hold a document's lease long.
const TIMEOUT: Duration = Duration::from_secs(10);
/// A response is a token of a few kilobytes.
const MAX_RESPONSE: usize = 64 * 1024;

pub struct HttpTimestamper {
    client: reqwest::Client,
    url: String,
}

impl HttpTimestamper {
    pub fn new(url: &str) -> Result<HttpTimestamper, String> {
        let parsed = url::Url::parse(url).map_err(|e| format!("{url:?}: {e}"))?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(format!("{url:?} is not an http(s) URL"));
        }
        let client = reqwest::Client::builder().timeout(TIMEOUT).build().map_err(|e| e.to_string())?;
        Ok(HttpTimestamper { client, url: url.to_string() })
    }
}

impl Timestamper for HttpTimestamper {
    fn stamp(&self, request: Vec<u8>) -> Pin<Box<dyn Future<Output = Result<Vec<u8>, String>> + Send + '_>> {
        Box::pin(async move {
            let response = self
                .client
                .post(&self.url)
                .header("Content-Type", "application/timestamp-query")
                .body(request)
                .send()
                .await
                .map_err(|e| e.to_string())?;
            if !response.status().is_success() {
                return Err(format!("HTTP {}", response.status()));
            }
            let body = response.bytes().await.map_err(|e| e.to_string())?;
            if body.len() > MAX_RESPONSE {
                return Err(format!("a response of {} bytes", body.len()));
            }
            Ok(body.to_vec())
        })
    }
}
