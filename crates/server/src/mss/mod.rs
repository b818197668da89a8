//! The MSS API front ends (ETSI TS 102 204). Each decodes its wire format into the
//! engine's inputs and encodes the outcome; the rules live in the engine.

mod body;
pub mod json_in;
pub mod json_out;
pub mod rest;
pub mod soap;

use mobileid_core::Fault;
use mobileid_engine::mss::messages::{
    ProfileInput, ProfileOutcome, ReceiptInput, ReceiptOutcome, SignatureInput, SignatureOutcome, StatusInput,
    StatusOutcome,
};
use mobileid_engine::{ClientIdentity, Engine};

use crate::listener::Caller;

/// The four request messages, decoded from either wire format.
pub enum Request {
    Signature(SignatureInput),
    Status(StatusInput),
    Receipt(ReceiptInput),
    Profile(ProfileInput),
}

/// What the engine answered, for the front end to encode.
pub enum Outcome {
    Signature(SignatureOutcome),
    Status(StatusOutcome),
    Receipt(ReceiptOutcome),
    Profile(ProfileOutcome),
}

/// One engine, two encodings: both front ends hand their decoded request here.
pub async fn dispatch(engine: &Engine, identity: &ClientIdentity, request: Request) -> Result<Outcome, Fault> {
    let mss = engine.mss();
    Ok(match request {
        Request::Signature(input) => Outcome::Signature(mss.sign(identity, input).await?),
        Request::Status(input) => Outcome::Status(mss.status(identity, input).await?),
        Request::Receipt(input) => Outcome::Receipt(mss.receipt(identity, input).await?),
        Request::Profile(input) => Outcome::Profile(mss.profile(identity, input).await?),
    })
}

/// The AP's transport identity: its TLS client certificate, or the sandbox's trust in AP_ID.
pub fn identity(caller: &Caller) -> Result<ClientIdentity, Fault> {
    match caller {
        Caller::Tls(Some(fingerprint)) => Ok(ClientIdentity::Certificate(fingerprint.clone())),
        Caller::Tls(None) => {
            tracing::info!("refused MSS request without a TLS client certificate");
            Err(Fault::wrong_ssl_credentials())
        }
        Caller::Sandbox => Ok(ClientIdentity::Sandbox),
    }
}
