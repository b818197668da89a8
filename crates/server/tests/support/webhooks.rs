//! A webhook receiver for tests: an HTTP endpoint on the loopback that keeps every
//! request it gets.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// One webhook request as received: its headers (lower-case names) and body.
pub type Hook = (HashMap<String, String>, String);

/// A webhook receiver: keeps every request.
#[derive(Clone, Default)]
pub struct Hooks(pub Arc<Mutex<Vec<Hook>>>);

impl Hooks {
    pub async fn start() -> (Hooks, String) {
        let hooks = Hooks::default();
        let kept = hooks.clone();
        let app = axum::Router::new().route(
            "/hook",
            axum::routing::post(move |headers: axum::http::HeaderMap, body: String| {
                let kept = kept.clone();
                async move {
                    let headers = headers
                        .iter()
                        .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or_default().to_string()))
                        .collect();
                    kept.0.lock().unwrap().push((headers, body));
                    axum::http::StatusCode::NO_CONTENT
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        (hooks, url)
    }

    pub fn events(&self) -> Vec<String> {
        self.0.lock().unwrap().iter().map(|(h, _)| h["x-mobileid-event"].clone()).collect()
    }

    pub async fn wait_for(&self, event: &str, count: usize) {
        for _ in 0..200 {
            if self.events().iter().filter(|e| *e == event).count() >= count {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("no {count} {event} webhook(s); got {:?}", self.events());
    }
}
