//! The MSS API front ends (ETSI TS 102 204). Each decodes its wire format into the
//! engine's inputs and encodes the outcome; the rules live in the engine.
//!
//! Both receive a request the same way ([`receive`]): the caller's certificate is checked
//! before anything of the body is read, so a stranger costs one indexed lookup and gets
//! its 104 (106 without a certificate); only then is the body read, under its size limit
//! and deadline, and decoded: a small body (up to [`DECODE_IN_PLACE`]) where it arrived, a
//! larger one on the blocking pool, within [`DECODE_TIME`], never on the async workers that
//! serve everyone else.
//!
//! Both race the engine against the shutdown deadline: a sync request still waiting for
//! the phone then answers 900 like any other fault. Giving up the wait is safe: the
//! transaction row was committed before the wait began, and stays pending.

mod body;
pub mod json_in;
pub mod json_out;
pub mod rest;
pub mod soap;

use std::time::Duration;

use axum::body::Body;
use mobileid_core::{Fault, FaultCode};
use mobileid_engine::mss::messages::{
    ProfileInput, ProfileOutcome, ReceiptInput, ReceiptOutcome, SignatureInput, SignatureOutcome, StatusInput,
    StatusOutcome,
};
use mobileid_engine::ClientIdentity;

pub use self::body::Refusal;
use self::body::{read_request, refuse_unread};
use crate::extract::MssCaller;
use crate::metrics::Observation;
use crate::AppState;

/// The longest a body may take to decode; the parsers' own limits keep real work far below.
const DECODE_TIME: Duration = Duration::from_secs(2);
/// A body up to this size is decoded where it arrived: its parse takes microseconds, less
/// than handing it to the blocking pool and back (two context switches per request).
const DECODE_IN_PLACE: usize = 8 * 1024;

/// What an AP waiting at shutdown is told: the transaction itself stays open.
const SHUTTING_DOWN: &str = "The service is shutting down; ask for the transaction's status later";

/// The four request messages, decoded from either wire format.
pub enum Request {
    Signature(SignatureInput),
    Status(StatusInput),
    Receipt(ReceiptInput),
    Profile(ProfileInput),
}

impl Request {
    /// The operation's name in the metrics.
    pub fn operation(&self) -> &'static str {
        match self {
            Request::Signature(_) => "signature",
            Request::Status(_) => "status",
            Request::Receipt(_) => "receipt",
            Request::Profile(_) => "profile",
        }
    }
}

/// What the engine answered, for the front end to encode.
pub enum Outcome {
    Signature(SignatureOutcome),
    Status(StatusOutcome),
    Receipt(ReceiptOutcome),
    Profile(ProfileOutcome),
}

/// The caller's identity and the decoded request, or the refusal to answer with.
pub async fn receive<T: Send + 'static>(
    state: &AppState,
    caller: &MssCaller,
    body: Body,
    decode: fn(&[u8]) -> Result<T, Fault>,
) -> Result<(ClientIdentity, T), Refusal> {
    let limit = state.settings.max_body_bytes;
    let admitted = match caller.identity() {
        Ok(identity) => state.engine.mss().admit(&identity).await.map(|()| identity),
        Err(fault) => Err(fault),
    };
    let identity = match admitted {
        Ok(identity) => identity,
        Err(fault) => return Err(refuse_unread(body, limit, fault).await),
    };
    let body = read_request(body, limit).await?;
    if body.len() <= DECODE_IN_PLACE {
        return decode(&body).map(|request| (identity, request)).map_err(Refusal::keep_alive);
    }
    let decoding = tokio::task::spawn_blocking(move || decode(&body));
    let decoded = match tokio::time::timeout(DECODE_TIME, decoding).await {
        Ok(Ok(decoded)) => decoded,
        Ok(Err(panicked)) => {
            tracing::error!("decoding an MSS request failed: {panicked}");
            Err(Fault::internal(FaultCode::InternalError.default_detail()))
        }
        Err(_) => Err(Fault::wrong_param("The request took too long to decode")),
    };
    decoded.map(|request| (identity, request)).map_err(Refusal::keep_alive)
}

/// One engine, two encodings: both front ends hand their decoded request here.
pub async fn dispatch(state: &AppState, identity: &ClientIdentity, request: Request) -> Result<Outcome, Fault> {
    let mss = state.engine.mss();
    let outcome = async {
        Ok(match request {
            Request::Signature(input) => Outcome::Signature(mss.sign(identity, input).await?),
            Request::Status(input) => Outcome::Status(mss.status(identity, input).await?),
            Request::Receipt(input) => Outcome::Receipt(mss.receipt(identity, input).await?),
            Request::Profile(input) => Outcome::Profile(mss.profile(identity, input).await?),
        })
    };
    tokio::select! {
        outcome = outcome => outcome,
        _ = state.shutdown.deadline() => Err(Fault::new(FaultCode::InternalError, SHUTTING_DOWN)),
    }
}

/// The request's line in the metrics: its operation ("unknown" when it could not be
/// decoded), and "ok" or the fault code.
pub fn observation(front_end: &'static str, operation: &'static str, fault: Option<&Fault>) -> Observation {
    let outcome = fault.map_or_else(|| "ok".to_string(), |fault| fault.code.number().to_string());
    Observation::new(front_end, operation, outcome)
}
