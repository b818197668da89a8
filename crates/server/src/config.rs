//! One typed configuration. Defaults run with no file at all; a TOML file and then
//! `MOBILEID_*` environment variables override them, key by key (`listen` is
//! `MOBILEID_LISTEN`). Every key is documented in docs/configuration.md.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Holds the SQLite database, the master key, TLS material and the demo AP's files.
    pub data_dir: PathBuf,
    /// `sqlite://...` or `postgres://...`; empty means SQLite in the data directory.
    pub database_url: String,
    /// HTTPS listener for the MSS API (client certificates) and the device API.
    pub listen: SocketAddr,
    /// HTTPS listener for browsers: never asks for a client certificate; serves the
    /// device API and the operations endpoints, not the MSS API.
    pub browser_listen: SocketAddr,
    /// Optional plain-HTTP listener for a sandbox: APs are then known by AP_ID alone.
    pub sandbox_http_listen: Option<SocketAddr>,
    /// The base URL phones and APs use to reach this server (printed, and put in the
    /// server certificate's names).
    pub public_url: String,
    /// The base URL browsers use to reach the browser port (printed).
    pub browser_public_url: String,
    /// How long requests in flight may take to finish once a shutdown begins, in seconds.
    pub shutdown_grace_seconds: u64,
    /// Extra host names or IP addresses for the server certificate.
    pub tls_hostnames: Vec<String>,
    /// `MSSP_Info/MSSP_ID/URI` in every response.
    pub mssp_id_uri: String,
    /// How far an AP's `Instant` may be from our clock, in seconds.
    pub instant_tolerance_seconds: i64,
    /// Wrong PINs before a phone's key is blocked.
    pub pin_attempts: i64,
    /// Lifetime of a one-time activation code, in seconds.
    pub activation_code_ttl_seconds: u64,
    /// Validity of user certificates, in days.
    pub certificate_validity_days: u32,
    /// Self-care portal URL sent with user-state faults (`?msisdn=` is appended).
    pub portal_url: Option<String>,
    /// Organisation name used in our CA's certificates.
    pub organisation: String,
    /// Largest accepted request body, in bytes.
    pub max_body_bytes: usize,
    /// How far a phone's request time may be from our clock, in seconds (replay window).
    pub device_clock_window_seconds: u64,
    /// The master key (64 hex digits) that seals private keys at rest; when empty, it is
    /// read from (or created in) `<data_dir>/master.key`.
    pub master_key: String,
    /// Log filter, e.g. `info` or `mobileid=debug`.
    pub log: String,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            data_dir: PathBuf::from("./mobileid-data"),
            database_url: String::new(),
            listen: SocketAddr::from(([0, 0, 0, 0], 8443)),
            browser_listen: SocketAddr::from(([0, 0, 0, 0], 8444)),
            sandbox_http_listen: None,
            public_url: String::new(),
            browser_public_url: String::new(),
            shutdown_grace_seconds: 10,
            tls_hostnames: Vec::new(),
            mssp_id_uri: "http://mid.swisscom.ch/".to_string(),
            instant_tolerance_seconds: 600,
            pin_attempts: 5,
            activation_code_ttl_seconds: 24 * 3600,
            certificate_validity_days: 3 * 365,
            portal_url: None,
            organisation: "Mobile ID".to_string(),
            max_body_bytes: 256 * 1024,
            device_clock_window_seconds: 300,
            master_key: String::new(),
            log: "info".to_string(),
        }
    }
}

const ENV_PREFIX: &str = "MOBILEID_";

impl Config {
    /// Defaults, then the TOML file (`--config`, `MOBILEID_CONFIG`, or
    /// `<data_dir>/mobileid.toml` if it exists), then the environment.
    pub fn load(file: Option<&Path>, env: &[(String, String)]) -> anyhow::Result<Config> {
        let mut table = toml::Table::new();
        let data_dir_hint = env_value(env, "DATA_DIR").map(PathBuf::from).unwrap_or_else(|| Config::default().data_dir);
        let file = file
            .map(Path::to_path_buf)
            .or_else(|| env_value(env, "CONFIG").map(PathBuf::from))
            .or_else(|| Some(data_dir_hint.join("mobileid.toml")).filter(|p| p.exists()));
        if let Some(path) = &file {
            let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
            table = text.parse().with_context(|| format!("parsing {}", path.display()))?;
        }
        for (name, value) in env {
            let Some(key) = name.strip_prefix(ENV_PREFIX) else { continue };
            // MOBILEID_CONFIG names the file; MOBILEID_PHONE_* belong to the virtual phone.
            if key == "CONFIG" || key.starts_with("PHONE_") {
                continue;
            }
            let key = key.to_ascii_lowercase();
            if !KNOWN_KEYS.contains(&key.as_str()) {
                bail!("unknown setting {name}; see docs/configuration.md");
            }
            table.insert(key, env_to_toml(value));
        }
        let mut config: Config = table.try_into().context("invalid configuration")?;
        config.fill_derived();
        Ok(config)
    }

    fn fill_derived(&mut self) {
        if self.database_url.is_empty() {
            self.database_url = format!("sqlite://{}?mode=rwc", self.data_dir.join("mobileid.db").display());
        }
        if self.public_url.is_empty() {
            self.public_url = format!("https://localhost:{}", self.listen.port());
        }
        if self.browser_public_url.is_empty() {
            self.browser_public_url = format!("https://localhost:{}", self.browser_listen.port());
        }
    }
}

const KNOWN_KEYS: &[&str] = &[
    "data_dir",
    "database_url",
    "listen",
    "browser_listen",
    "sandbox_http_listen",
    "public_url",
    "browser_public_url",
    "shutdown_grace_seconds",
    "tls_hostnames",
    "mssp_id_uri",
    "instant_tolerance_seconds",
    "pin_attempts",
    "activation_code_ttl_seconds",
    "certificate_validity_days",
    "portal_url",
    "organisation",
    "max_body_bytes",
    "device_clock_window_seconds",
    "master_key",
    "log",
];

fn env_value(env: &[(String, String)], key: &str) -> Option<String> {
    env.iter().find(|(k, _)| k.strip_prefix(ENV_PREFIX) == Some(key)).map(|(_, v)| v.clone())
}

/// Numbers stay numbers and comma lists become arrays; anything else is a string, so
/// `MOBILEID_LISTEN=127.0.0.1:8443` needs no quoting.
fn env_to_toml(value: &str) -> toml::Value {
    if let Ok(n) = value.parse::<i64>() {
        return toml::Value::Integer(n);
    }
    if value.contains(',') && !value.contains("://") {
        return toml::Value::Array(value.split(',').map(|s| toml::Value::String(s.trim().to_string())).collect());
    }
    toml::Value::String(value.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn defaults_need_no_file() {
        let config = Config::load(None, &[]).unwrap();
        assert_eq!(config.listen.port(), 8443);
        assert_eq!(config.browser_listen.port(), 8444);
        assert_eq!(config.browser_public_url, "https://localhost:8444");
        assert_eq!(config.shutdown_grace_seconds, 10);
        assert!(config.database_url.starts_with("sqlite://"));
        assert!(config.sandbox_http_listen.is_none());
    }

    #[test]
    fn file_then_environment_override() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.toml");
        std::fs::write(&path, "listen = \"127.0.0.1:9000\"\npin_attempts = 3\n").unwrap();
        let config = Config::load(
            Some(&path),
            &env(&[("MOBILEID_PIN_ATTEMPTS", "7"), ("MOBILEID_TLS_HOSTNAMES", "a.example,b")]),
        )
        .unwrap();
        assert_eq!(config.listen.port(), 9000);
        assert_eq!(config.pin_attempts, 7);
        assert_eq!(config.tls_hostnames, vec!["a.example", "b"]);
    }

    #[test]
    fn unknown_keys_are_errors_not_silence() {
        assert!(Config::load(None, &env(&[("MOBILEID_LISTN", "1")])).is_err());
        assert!(Config::load(None, &env(&[("MOBILEID_PHONE_STATE", "p.json")])).is_ok());
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.toml");
        std::fs::write(&path, "lisen = 1\n").unwrap();
        assert!(Config::load(Some(&path), &[]).is_err());
    }
}
