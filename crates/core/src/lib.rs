//! Domain types and rules of the Mobile ID platform, with no I/O.
//!
//! Everything that decides *what* a request means lives here: parsed
//! identifiers (`Msisdn`, `ApTransId`, `SerialNumber`, …), the DTBD and its
//! length and signing rules, signature-profile resolution, the ETSI faults,
//! the transaction state machine and its stored states, what a user is asked to
//! sign, and the public test numbers. The `crypto`,
//! `store`, `engine`, `server` and `phone` crates build on these types; this
//! crate depends on none of them.

pub mod clip;
pub mod content;
pub mod device_api;
pub mod dtbd;
pub mod envelope;
pub mod evidence;
pub mod fault;
pub mod ids;
pub mod mrz;
pub mod msisdn;
pub mod profile;
pub mod request;
pub mod services;
pub mod testnumbers;
pub mod time;
pub mod transaction;
pub mod user;

pub use content::{ContentKind, SignContent};
pub use dtbd::{Dtbd, TxnApproval};
pub use envelope::{EnvelopeEvent, EnvelopeState, SignerState};
pub use fault::{Fault, FaultCode, StatusCode};
pub use ids::{ApId, ApTransId, MsspTransId, ParseSerialError, SerialNumber};
pub use msisdn::Msisdn;
pub use profile::{Method, SignatureProfile, UserMethods};
pub use request::{MessagingMode, Operation};
pub use services::{AdditionalService, Language};
pub use testnumbers::{RobotKey, TestBehaviour};
pub use time::Timestamp;
pub use transaction::{FailureReason, IllegalTransition, Requester, StoredValueError, TxKind, TxState};
pub use user::{AccountState, CertificateKind, DeviceState, UserState};
