//! The MSS API front ends (ETSI TS 102 204). Each decodes its wire format into the
//! engine's inputs and encodes the outcome; the rules live in the engine.

mod body;
pub mod json_in;
pub mod json_out;
pub mod rest;

use mobileid_core::Fault;
use mobileid_engine::ClientIdentity;

use crate::listener::Caller;

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
