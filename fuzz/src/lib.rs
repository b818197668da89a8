//! Fuzz target bodies: what must hold for any input that reaches a parser from outside.
//!
//! Each function takes the raw bytes the fuzzer made and panics when a property fails.
//! The libFuzzer binaries in `fuzz_targets/` call them under `cargo fuzz` (coverage-guided,
//! needs `RUSTC_BOOTSTRAP=1` on stable), and `tests/replay.rs` calls them on the committed
//! corpus plus deterministic mutations of it, so plain `cargo test` exercises every
//! target on stable Rust. See `README.md` beside this crate.

mod cms_der;
mod device_auth;
mod msisdn_dtbd;
mod mss;
mod ocsp;

pub use cms_der::{cms_der, DETACHED_DOCUMENT};
pub use device_auth::device_auth;
pub use msisdn_dtbd::msisdn_dtbd;
pub use mss::{json, soap};
pub use ocsp::ocsp_request;

/// A target body, as the replay test iterates over them.
pub type Target = fn(&[u8]);

/// Every target by the name of its `fuzz_targets/` binary and corpus folder.
pub const TARGETS: &[(&str, Target)] = &[
    ("soap", soap),
    ("json", json),
    ("device_auth", device_auth),
    ("cms_der", cms_der),
    ("msisdn_dtbd", msisdn_dtbd),
    ("ocsp_request", ocsp_request),
];
