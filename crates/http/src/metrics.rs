//! Prometheus metrics, served by `ops` at `/metrics` in the OpenMetrics text format.
//!
//! - `mobileid_http_requests_total{front_end, operation, outcome}`: for MSS the outcome
//!   is "ok" or the ETSI fault code, elsewhere the HTTP status class ("2xx");
//! - `mobileid_http_request_duration_seconds{front_end, operation}`;
//! - `mobileid_transaction_duration_seconds{outcome}`, recorded by the engine;
//! - gauges read at scrape time: pending transactions (from the store), connected phones
//!   (open long polls and event streams) and the database pool.
//!
//! Front ends label a request by putting an [`Observation`] in the response's extensions;
//! [`observe`], around every router, counts and times it.

use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::Response;
use mobileid_engine::Engine;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

/// How one request is counted.
#[derive(Debug, Clone)]
pub struct Observation {
    front_end: &'static str,
    operation: String,
    outcome: String,
}

impl Observation {
    pub fn new(front_end: &'static str, operation: impl Into<String>, outcome: String) -> Observation {
        Observation { front_end, operation: operation.into(), outcome }
    }

    /// The response, labelled with this observation.
    pub fn attach(self, mut response: Response) -> Response {
        response.extensions_mut().insert(self);
        response
    }
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    front_end: &'static str,
    operation: String,
    outcome: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    front_end: &'static str,
    operation: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PoolLabels {
    state: &'static str,
}

pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    latency: Family<RouteLabels, Histogram>,
    pending: Gauge,
    phones: Gauge,
    pool: Family<PoolLabels, Gauge>,
}

/// From 1 ms (a status query) to 300 s (the longest sync wait).
const REQUEST_BUCKETS: [f64; 14] =
    [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0, 30.0, 80.0, 300.0];

impl Metrics {
    pub fn new(engine: &Engine) -> Metrics {
        let mut registry = Registry::default();
        let requests = Family::<RequestLabels, Counter>::default();
        let latency = Family::<RouteLabels, Histogram>::new_with_constructor(|| Histogram::new(REQUEST_BUCKETS));
        let (pending, phones, pool) = (Gauge::default(), Gauge::default(), Family::<PoolLabels, Gauge>::default());
        registry.register(
            "mobileid_http_requests",
            "HTTP requests by front end, operation and outcome",
            requests.clone(),
        );
        registry.register(
            "mobileid_http_request_duration_seconds",
            "Time to answer an HTTP request, by front end and operation",
            latency.clone(),
        );
        registry.register("mobileid_transactions_pending", "Transactions waiting for a phone", pending.clone());
        registry.register("mobileid_phones_connected", "Open inbox long polls and event streams", phones.clone());
        registry.register("mobileid_db_pool_connections", "Database pool connections: size and idle", pool.clone());
        engine.metrics().register(&mut registry);
        Metrics { registry, requests, latency, pending, phones, pool }
    }

    /// Counts a phone as connected until the guard is dropped.
    pub fn phone_connected(&self) -> PhoneConnected {
        self.phones.inc();
        PhoneConnected(self.phones.clone())
    }

    /// The text a scrape gets, with the gauges read now.
    pub async fn render(&self, engine: &Engine) -> String {
        let store = engine.store();
        match store.count_pending_transactions(engine.now()).await {
            Ok(pending) => {
                self.pending.set(pending);
            }
            Err(e) => tracing::warn!("metrics: counting pending transactions: {e}"),
        }
        let pool = store.pool_stats();
        self.pool.get_or_create(&PoolLabels { state: "size" }).set(i64::from(pool.size));
        self.pool.get_or_create(&PoolLabels { state: "idle" }).set(pool.idle as i64);
        let mut text = String::new();
        if let Err(e) = prometheus_client::encoding::text::encode(&mut text, &self.registry) {
            tracing::warn!("metrics: encoding: {e}");
        }
        text
    }

    fn record(&self, observation: Observation, seconds: f64) {
        let route = RouteLabels { front_end: observation.front_end, operation: observation.operation.clone() };
        self.latency.get_or_create(&route).observe(seconds);
        let labels = RequestLabels {
            front_end: observation.front_end,
            operation: observation.operation,
            outcome: observation.outcome,
        };
        self.requests.get_or_create(&labels).inc();
    }
}

/// A connected phone, counted while this lives.
pub struct PhoneConnected(Gauge);

impl Drop for PhoneConnected {
    fn drop(&mut self) {
        self.0.dec();
    }
}

/// Middleware around every router: times the request and counts it under the
/// front end's [`Observation`], or as unrouted with its status class.
pub async fn observe(State(state): State<crate::AppState>, request: Request, next: Next) -> Response {
    let started = Instant::now();
    let response = next.run(request).await;
    let observation = response
        .extensions()
        .get::<Observation>()
        .cloned()
        .unwrap_or_else(|| Observation::new("none", "unrouted", status_class(&response)));
    state.metrics.record(observation, started.elapsed().as_secs_f64());
    response
}

/// For front ends whose outcome is the HTTP status: labels the response with its route.
fn tag(front_end: &'static str, path: Option<&MatchedPath>, response: Response) -> Response {
    let operation = path.map_or("unknown", MatchedPath::as_str).to_string();
    let outcome = status_class(&response);
    Observation::new(front_end, operation, outcome).attach(response)
}

pub async fn tag_device(path: Option<MatchedPath>, response: Response) -> Response {
    tag("device", path.as_ref(), response)
}

pub async fn tag_pages(path: Option<MatchedPath>, response: Response) -> Response {
    tag("pages", path.as_ref(), response)
}

pub async fn tag_pki(path: Option<MatchedPath>, response: Response) -> Response {
    tag("pki", path.as_ref(), response)
}

pub async fn tag_ops(path: Option<MatchedPath>, response: Response) -> Response {
    tag("ops", path.as_ref(), response)
}

fn status_class(response: &Response) -> String {
    format!("{}xx", response.status().as_u16() / 100)
}
