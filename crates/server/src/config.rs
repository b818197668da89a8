//! One typed configuration. Defaults run with no file at all; a TOML file and then
//! `MOBILEID_*` environment variables override them, key by key (`listen` is
//! `MOBILEID_LISTEN`). Every key is documented in docs/configuration.md.

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::Context;
use mobileid_http::mail;
use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// `demo` (the default: a demo AP with every permission and the test numbers) or
    /// `production` (neither, and no sandbox listener).
    pub mode: Mode,
    /// Holds the SQLite database, the master key, TLS material and the demo AP's files.
    pub data_dir: PathBuf,
    /// `sqlite://...` or `postgres://...`; empty means SQLite in the data directory.
    pub database_url: DatabaseUrl,
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
    /// Self-care portal URL sent with user-state faults (`?msisdn=` is appended); by
    /// default the platform's own portal, `<browser_public_url>/portal/`.
    pub portal_url: Option<String>,
    /// Organisation name used in our CA's certificates.
    pub organisation: String,
    /// Largest accepted request body, in bytes.
    pub max_body_bytes: usize,
    /// A connection with no request in flight for this long is closed, in seconds.
    pub connection_idle_seconds: u64,
    /// A request body must arrive completely within this many seconds.
    pub body_read_seconds: u64,
    /// Connections each listener serves at once; 0 sizes it to the open-file limit.
    pub max_connections: usize,
    /// Lifetime of an OpenID authorization code, in seconds (single use).
    pub oidc_code_seconds: u64,
    /// Lifetime of an OpenID access token, in seconds.
    pub oidc_access_token_seconds: u64,
    /// How far a phone's request time may be from our clock, in seconds (replay window).
    pub device_clock_window_seconds: u64,
    /// The master key (64 hex digits) that seals private keys at rest; when empty, it is
    /// read from (or created in) `<data_dir>/master.key`.
    pub master_key: Secret,
    /// Log filter, e.g. `info` or `mobileid=debug`.
    pub log: String,
    /// Sender of the platform's e-mail, a mailbox: `Name <address>` or an address.
    pub mail_from: String,
    /// SMTP server for e-mail; none means each message is written to the log instead.
    pub smtp_host: Option<String>,
    /// None: 587 for `starttls`, 465 for `tls`, 25 for `plain`.
    pub smtp_port: Option<u16>,
    /// `starttls` (the default), `tls`, or `plain` (loopback servers only).
    pub smtp_security: SmtpSecurity,
    /// User name for SMTP authentication, given with `smtp_password`.
    pub smtp_username: Option<String>,
    /// Password for SMTP authentication; empty means none. Kept out of `Debug`.
    pub smtp_password: Secret,
    /// A CA certificate (PEM file) to trust for the SMTP server besides the Mozilla roots.
    pub smtp_ca_file: Option<PathBuf>,
    /// Whether people may sign up for a portal account by themselves (e-mail confirmed).
    pub portal_signup: bool,
    /// Whether a signed-up account waits for the operator (`mobileid account activate`)
    /// once its address is confirmed.
    pub portal_signup_approval: bool,
    /// How Get Mobile ID hands the activation to the phone: `qr` (a QR code on the page)
    /// or `email` (the link, e-mailed).
    pub portal_delivery: PortalDelivery,
    /// Which outcomes of Get Mobile ID are e-mailed: `all` (a phone activated, and an
    /// activation that expired unused), `success`, or `none`.
    pub portal_notify: PortalNotify,
    /// Wrong passwords in a row before a portal account is locked.
    pub portal_login_attempts: i64,
    /// The kinds of certificate a phone gets: `authentication` (always), `signing` (a
    /// second certificate for the same key, non-repudiation, carried by document
    /// signatures) and `encryption` (a server-made key, escrowed, delivered to every new
    /// phone of the user).
    pub certificate_kinds: Vec<String>,
    /// User properties written into certificate subjects, each `name:ATTRIBUTE` with
    /// ATTRIBUTE one of `OU`, `O`, `title`, `pseudonym` (e.g. `employee_id:OU`).
    pub certificate_subject_properties: Vec<String>,
    /// How long a locked portal account stays locked, in seconds.
    pub portal_lock_seconds: u64,
    /// An RFC 3161 time-stamp authority (`http(s)://…`): every document signature is then
    /// time-stamped (PAdES B-T). None: signatures are B-B.
    pub signing_tsa_url: Option<String>,
    /// The version of the identification's terms of use that users accept (recorded
    /// with each verification).
    pub identity_terms_version: String,
    /// The youngest age a verified user may have.
    pub identity_minimum_age: u32,
    /// How long the pictures of an identification are kept, in days.
    pub identity_image_retention_days: u64,
    /// Which identifications an operator decides in the review desk: `all`, `failed`
    /// (only those where a check failed or the provider refused; the others are approved
    /// at once) or `none` (every decision automatic).
    pub identity_review: String,
    /// An external identification provider that replaces the built-in capture: `fake`
    /// (built in, for tests and demos; demo mode only) or the name of one that speaks the
    /// webhook protocol (then with `identity_provider_start_url` and `_secret`).
    pub identity_provider: Option<String>,
    /// Where sessions at the external provider are started.
    pub identity_provider_start_url: Option<String>,
    /// The HMAC secret shared with the provider (its webhooks are signed with it).
    pub identity_provider_secret: Secret,
    /// Who the users are told identifies them (default: the provider's name).
    pub identity_provider_legal_name: Option<String>,
    /// A folder with the operator's own terms of use for identification:
    /// `terms.en.txt` (needed), `terms.de.txt`, `terms.fr.txt`, `terms.it.txt`, paragraphs
    /// separated by blank lines. Change `identity_terms_version` with them.
    pub identity_terms_dir: Option<PathBuf>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            mode: Mode::Demo,
            data_dir: PathBuf::from("./mobileid-data"),
            database_url: DatabaseUrl::default(),
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
            connection_idle_seconds: 10,
            body_read_seconds: 10,
            max_connections: 0,
            oidc_code_seconds: 120,
            oidc_access_token_seconds: 3600,
            device_clock_window_seconds: 300,
            master_key: Secret::default(),
            log: "info".to_string(),
            mail_from: "Mobile ID <noreply@localhost>".to_string(),
            smtp_host: None,
            smtp_port: None,
            smtp_security: SmtpSecurity::StartTls,
            smtp_username: None,
            smtp_password: Secret::default(),
            smtp_ca_file: None,
            portal_signup: false,
            portal_signup_approval: false,
            portal_delivery: PortalDelivery::Qr,
            portal_notify: PortalNotify::All,
            portal_login_attempts: 5,
            certificate_subject_properties: Vec::new(),
            certificate_kinds: vec!["authentication".to_string()],
            portal_lock_seconds: 15 * 60,
            signing_tsa_url: None,
            identity_terms_version: "1".to_string(),
            identity_minimum_age: 18,
            identity_image_retention_days: 30,
            identity_review: "all".to_string(),
            identity_provider: None,
            identity_provider_start_url: None,
            identity_provider_secret: Secret::default(),
            identity_provider_legal_name: None,
            identity_terms_dir: None,
        }
    }
}

/// Which outcomes of Get Mobile ID are e-mailed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub enum PortalNotify {
    All,
    Success,
    None,
}

impl TryFrom<String> for PortalNotify {
    type Error = String;

    fn try_from(value: String) -> Result<Self, Self::Error> {
        match value.as_str() {
            "all" => Ok(PortalNotify::All),
            "success" => Ok(PortalNotify::Success),
            "none" => Ok(PortalNotify::None),
            other => Err(format!("portal_notify must be \"all\", \"success\" or \"none\", not {other:?}")),
        }
    }
}

/// How Get Mobile ID hands the activation to the phone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub enum PortalDelivery {
    Qr,
    Email,
}

impl TryFrom<String> for PortalDelivery {
    type Error = String;

    fn try_from(value: String) -> Result<Self, Self::Error> {
        match value.as_str() {
            "qr" => Ok(PortalDelivery::Qr),
            "email" => Ok(PortalDelivery::Email),
            other => Err(format!("portal_delivery must be \"qr\" or \"email\", not {other:?}")),
        }
    }
}

/// What a start makes. Demo mode keeps the zero-configuration start; production mode
/// makes no demo AP and no test numbers, and removes them from a database a demo start
/// made, so a deployment cannot keep them by accident.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub enum Mode {
    Demo,
    Production,
}

impl TryFrom<String> for Mode {
    type Error = String;

    fn try_from(value: String) -> Result<Mode, String> {
        match value.as_str() {
            "demo" => Ok(Mode::Demo),
            "production" => Ok(Mode::Production),
            other => Err(format!("mode must be \"demo\" or \"production\", not {other:?}")),
        }
    }
}

/// How the connection to the SMTP server is protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub enum SmtpSecurity {
    StartTls,
    Tls,
    Plain,
}

impl TryFrom<String> for SmtpSecurity {
    type Error = String;

    fn try_from(value: String) -> Result<SmtpSecurity, String> {
        match value.as_str() {
            "starttls" => Ok(SmtpSecurity::StartTls),
            "tls" => Ok(SmtpSecurity::Tls),
            "plain" => Ok(SmtpSecurity::Plain),
            other => Err(format!("smtp_security must be \"starttls\", \"tls\" or \"plain\", not {other:?}")),
        }
    }
}

impl SmtpSecurity {
    fn default_port(self) -> u16 {
        match self {
            SmtpSecurity::StartTls => 587,
            SmtpSecurity::Tls => 465,
            SmtpSecurity::Plain => 25,
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
            match env::to_toml(name, &key, value)? {
                Some(value) => table.insert(key, value),
                None => table.remove(&key),
            };
        }
        let mut config: Config = table.try_into().context("invalid configuration")?;
        config.fill_derived();
        if let (Mode::Production, Some(addr)) = (config.mode, config.sandbox_http_listen) {
            anyhow::bail!(
                "mode = \"production\" refuses sandbox_http_listen ({addr}): the sandbox knows an AP by its AP_ID \
                 alone, without a certificate. Unset MOBILEID_SANDBOX_HTTP_LISTEN or run in demo mode"
            );
        }
        config.check_identity()?;
        if config.smtp_host.is_none()
            && (config.smtp_port.is_some() || config.smtp_username.is_some() || !config.smtp_password.is_empty())
        {
            anyhow::bail!("smtp_port, smtp_username and smtp_password need smtp_host (MOBILEID_SMTP_HOST)");
        }
        config.subject_properties()?;
        config.signing_certificates()?;
        Ok(config)
    }

    /// Whether `certificate_kinds` asks for signing certificates.
    pub fn signing_certificates(&self) -> anyhow::Result<bool> {
        self.has_certificate_kind("signing")
    }

    /// Whether `certificate_kinds` asks for encryption certificates (escrowed keys).
    pub fn encryption_certificates(&self) -> anyhow::Result<bool> {
        self.has_certificate_kind("encryption")
    }

    fn has_certificate_kind(&self, wanted: &str) -> anyhow::Result<bool> {
        for kind in &self.certificate_kinds {
            if !matches!(kind.trim(), "authentication" | "signing" | "encryption") {
                anyhow::bail!("certificate_kinds: {kind:?} is not authentication, signing or encryption");
            }
        }
        if !self.certificate_kinds.iter().any(|k| k.trim() == "authentication") {
            anyhow::bail!("certificate_kinds: every phone needs its authentication certificate");
        }
        Ok(self.certificate_kinds.iter().any(|k| k.trim() == wanted))
    }

    /// `certificate_subject_properties` as property names and subject attributes.
    pub fn subject_properties(&self) -> anyhow::Result<Vec<(String, mobileid_crypto::SubjectAttribute)>> {
        self.certificate_subject_properties
            .iter()
            .map(|entry| {
                let (name, attribute) = entry.split_once(':').unwrap_or((entry, ""));
                match mobileid_crypto::SubjectAttribute::parse(attribute.trim()) {
                    Some(attribute) if !name.trim().is_empty() => Ok((name.trim().to_string(), attribute)),
                    _ => anyhow::bail!(
                        "certificate_subject_properties: {entry:?} is not name:ATTRIBUTE (OU, O, title or pseudonym)"
                    ),
                }
            })
            .collect()
    }

    /// The e-mail settings for `mobileid_http::mail::Mailer`: with no `smtp_host`, mail
    /// is logged instead of sent.
    pub fn mail_settings(&self) -> mail::MailSettings {
        let smtp = self.smtp_host.as_ref().map(|host| mail::SmtpSettings {
            host: host.clone(),
            port: self.smtp_port.unwrap_or(self.smtp_security.default_port()),
            security: match self.smtp_security {
                SmtpSecurity::StartTls => mail::SmtpSecurity::StartTls,
                SmtpSecurity::Tls => mail::SmtpSecurity::Tls,
                SmtpSecurity::Plain => mail::SmtpSecurity::Plain,
            },
            username: self.smtp_username.clone(),
            password: Some(self.smtp_password.expose().to_string()).filter(|p| !p.is_empty()),
            ca_file: self.smtp_ca_file.clone(),
        });
        mail::MailSettings { from: self.mail_from.clone(), smtp }
    }

    /// The identification settings must fit together: a known review policy, the fake
    /// provider only in demo mode, an external provider with its start URL and secret.
    fn check_identity(&self) -> anyhow::Result<()> {
        if mobileid_engine::identity::ReviewPolicy::from_name(&self.identity_review).is_none() {
            anyhow::bail!("identity_review must be \"all\", \"failed\" or \"none\", not {:?}", self.identity_review);
        }
        match self.identity_provider.as_deref() {
            None => {}
            Some("fake") if self.mode == Mode::Production => anyhow::bail!(
                "mode = \"production\" refuses identity_provider = \"fake\": it approves whatever a tester chooses"
            ),
            Some("fake") => {}
            Some(name) => {
                if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') {
                    anyhow::bail!("identity_provider must be letters, digits, '-' and '_', not {name:?}");
                }
                if self.identity_provider_start_url.is_none() || self.identity_provider_secret.is_empty() {
                    anyhow::bail!(
                        "identity_provider = {name:?} needs identity_provider_start_url and identity_provider_secret"
                    );
                }
            }
        }
        Ok(())
    }

    /// The operator's terms of use by language (empty: the built-in ones).
    pub fn identity_terms(&self) -> anyhow::Result<std::collections::HashMap<String, Vec<String>>> {
        let mut terms = std::collections::HashMap::new();
        let Some(dir) = &self.identity_terms_dir else { return Ok(terms) };
        for lang in ["en", "de", "fr", "it"] {
            let path = dir.join(format!("terms.{lang}.txt"));
            let text = match std::fs::read_to_string(&path) {
                Ok(text) => text,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound && lang != "en" => continue,
                Err(e) => anyhow::bail!("identity_terms_dir: reading {}: {e}", path.display()),
            };
            let paragraphs: Vec<String> = text
                .split("\n\n")
                .map(|p| p.split_whitespace().collect::<Vec<_>>().join(" "))
                .filter(|p| !p.is_empty())
                .collect();
            if paragraphs.is_empty() {
                anyhow::bail!("identity_terms_dir: {} is empty", path.display());
            }
            terms.insert(lang.to_string(), paragraphs);
        }
        Ok(terms)
    }

    fn fill_derived(&mut self) {
        if self.database_url.is_empty() {
            self.database_url =
                DatabaseUrl(format!("sqlite://{}?mode=rwc", self.data_dir.join("mobileid.db").display()));
        }
        if self.public_url.is_empty() {
            self.public_url = format!("https://localhost:{}", self.listen.port());
        }
        if self.browser_public_url.is_empty() {
            self.browser_public_url = format!("https://localhost:{}", self.browser_listen.port());
        }
    }
}

fn env_value(env: &[(String, String)], key: &str) -> Option<String> {
    env.iter().find(|(k, _)| k.strip_prefix(ENV_PREFIX) == Some(key)).map(|(_, v)| v.clone())
}

/// A secret setting (the master key): kept out of `Debug`, so a logged or printed
/// `Config` never shows it.
#[derive(Clone, Default, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.0.is_empty() { "Secret(empty)" } else { "Secret(..)" })
    }
}

/// The database URL, which may carry a password: `Debug` and `Display` show it with the
/// password replaced, so the banner and logs can name the database safely.
#[derive(Clone, Default, Deserialize)]
#[serde(transparent)]
pub struct DatabaseUrl(String);

impl DatabaseUrl {
    /// The URL with its password, for connecting.
    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// `scheme://user:***@host/...`: the password is the part between the first `:` and
    /// the last `@` of the authority.
    fn redacted(&self) -> String {
        let Some((scheme, rest)) = self.0.split_once("://") else { return self.0.clone() };
        let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
        let (authority, path) = rest.split_at(authority_end);
        match authority.rsplit_once('@') {
            Some((user_info, host)) => match user_info.split_once(':') {
                Some((user, _password)) => format!("{scheme}://{user}:***@{host}{path}"),
                None => self.0.clone(),
            },
            None => self.0.clone(),
        }
    }
}

impl fmt::Display for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.redacted())
    }
}

impl fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.redacted())
    }
}

/// `MOBILEID_*` values are parsed by the type of the field they set, so a list may have
/// one element and a string may hold commas. The type comes from `Config`'s own
/// `Deserialize`: each variable is deserialized into a `Config` on its own, and the
/// deserializer below records the TOML value the field asked for. So a new field needs
/// no entry anywhere else, and an unknown variable is refused by `deny_unknown_fields`.
mod env {
    use std::cell::RefCell;

    use serde::de::value::{Error, MapDeserializer};
    use serde::de::{self, DeserializeSeed, IntoDeserializer, SeqAccess, Visitor};
    use serde::Deserialize;

    use super::Config;

    /// The TOML value for `key`, or `None` when an empty value unsets an `Option` field.
    pub(super) fn to_toml(name: &str, key: &str, value: &str) -> anyhow::Result<Option<toml::Value>> {
        let recorded = RefCell::new(None);
        let field = EnvValue { value, recorded: &recorded };
        let result = Config::deserialize(MapDeserializer::<_, Error>::new(std::iter::once((key, field))));
        match result {
            Err(e) if e.to_string().starts_with("unknown field") => {
                anyhow::bail!("unknown setting {name}; see docs/configuration.md")
            }
            Err(e) => anyhow::bail!("{name}={value:?}: {e}"),
            Ok(_) => match recorded.into_inner() {
                Some(Recorded::Value(value)) => Ok(Some(value)),
                Some(Recorded::Unset) => Ok(None),
                None => anyhow::bail!("{name} cannot be set by an environment variable"),
            },
        }
    }

    enum Recorded {
        Value(toml::Value),
        Unset,
    }

    /// One variable's text, read as whatever type the field's `Deserialize` asks for.
    struct EnvValue<'a> {
        value: &'a str,
        recorded: &'a RefCell<Option<Recorded>>,
    }

    impl EnvValue<'_> {
        fn record(&self, value: toml::Value) {
            *self.recorded.borrow_mut() = Some(Recorded::Value(value));
        }

        fn parse<T: std::str::FromStr>(&self, what: &str) -> Result<T, Error> {
            self.value.trim().parse().map_err(|_| de::Error::custom(format!("expected {what}")))
        }

        fn integer<T: TryInto<i64> + std::str::FromStr + Copy>(&self) -> Result<T, Error> {
            let n: T = self.parse("a whole number")?;
            let toml_integer = n.try_into().map_err(|_| de::Error::custom("the number is too large"))?;
            self.record(toml::Value::Integer(toml_integer));
            Ok(n)
        }
    }

    impl<'de> IntoDeserializer<'de, Error> for EnvValue<'_> {
        type Deserializer = Self;

        fn into_deserializer(self) -> Self {
            self
        }
    }

    macro_rules! integers {
        ($($method:ident $visit:ident $t:ty),*) => {$(
            fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
                visitor.$visit(self.integer::<$t>()?)
            }
        )*};
    }

    impl<'de> de::Deserializer<'de> for EnvValue<'_> {
        type Error = Error;

        integers!(
            deserialize_i8 visit_i8 i8, deserialize_i16 visit_i16 i16, deserialize_i32 visit_i32 i32,
            deserialize_i64 visit_i64 i64, deserialize_u8 visit_u8 u8, deserialize_u16 visit_u16 u16,
            deserialize_u32 visit_u32 u32, deserialize_u64 visit_u64 u64
        );

        /// Strings, paths and addresses: the text as it is.
        fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
            self.record(toml::Value::String(self.value.to_string()));
            visitor.visit_str(self.value)
        }

        fn deserialize_bool<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
            let b: bool = self.parse("true or false")?;
            self.record(toml::Value::Boolean(b));
            visitor.visit_bool(b)
        }

        fn deserialize_f64<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
            let f: f64 = self.parse("a number")?;
            self.record(toml::Value::Float(f));
            visitor.visit_f64(f)
        }

        fn deserialize_f32<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
            self.deserialize_f64(visitor)
        }

        /// An empty value unsets the setting; anything else is read as the inner type.
        fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
            if self.value.trim().is_empty() {
                *self.recorded.borrow_mut() = Some(Recorded::Unset);
                visitor.visit_none()
            } else {
                visitor.visit_some(self)
            }
        }

        fn deserialize_newtype_struct<V: Visitor<'de>>(self, _name: &str, visitor: V) -> Result<V::Value, Error> {
            visitor.visit_newtype_struct(self)
        }

        /// A list is comma-separated; each element is read as the element type.
        fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
            let elements = RefCell::new(Vec::new());
            let items = self.value.split(',').map(str::trim).filter(|s| !s.is_empty());
            let result = visitor.visit_seq(Elements { items, recorded: &elements })?;
            self.record(toml::Value::Array(elements.into_inner()));
            Ok(result)
        }

        fn deserialize_enum<V: Visitor<'de>>(
            self,
            _name: &str,
            _variants: &'static [&'static str],
            visitor: V,
        ) -> Result<V::Value, Error> {
            self.record(toml::Value::String(self.value.to_string()));
            visitor.visit_enum(self.value.into_deserializer())
        }

        serde::forward_to_deserialize_any! {
            char str string bytes byte_buf unit unit_struct tuple tuple_struct map struct identifier ignored_any
            i128 u128
        }
    }

    struct Elements<'a, I> {
        items: I,
        recorded: &'a RefCell<Vec<toml::Value>>,
    }

    impl<'de, 'a, I: Iterator<Item = &'a str>> SeqAccess<'de> for Elements<'a, I> {
        type Error = Error;

        fn next_element_seed<T: DeserializeSeed<'de>>(&mut self, seed: T) -> Result<Option<T::Value>, Error> {
            let Some(item) = self.items.next() else { return Ok(None) };
            let recorded = RefCell::new(None);
            let value = seed.deserialize(EnvValue { value: item, recorded: &recorded })?;
            if let Some(Recorded::Value(element)) = recorded.into_inner() {
                self.recorded.borrow_mut().push(element);
            }
            Ok(Some(value))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn identity_settings_must_fit_together() {
        let load = |pairs: &[(&str, &str)]| Config::load(None, &env(pairs)).map_err(|e| format!("{e:#}"));
        assert!(load(&[("MOBILEID_IDENTITY_PROVIDER", "fake")]).is_ok());
        let refused = load(&[("MOBILEID_MODE", "production"), ("MOBILEID_IDENTITY_PROVIDER", "fake")]).unwrap_err();
        assert!(refused.contains("refuses identity_provider = \"fake\""), "{refused}");
        let refused = load(&[("MOBILEID_IDENTITY_PROVIDER", "acme")]).unwrap_err();
        assert!(refused.contains("identity_provider_start_url"), "{refused}");
        let refused = load(&[("MOBILEID_IDENTITY_REVIEW", "sometimes")]).unwrap_err();
        assert!(refused.contains("identity_review"), "{refused}");
    }

    #[test]
    fn the_operators_terms_of_use() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("terms.en.txt"), "First\nparagraph.\n\nSecond one.\n").unwrap();
        std::fs::write(dir.path().join("terms.de.txt"), "Erster Absatz.\n").unwrap();
        let folder = dir.path().to_str().unwrap();
        let config = Config::load(None, &env(&[("MOBILEID_IDENTITY_TERMS_DIR", folder)])).unwrap();
        let terms = config.identity_terms().unwrap();
        assert_eq!(terms["en"], ["First paragraph.", "Second one."]);
        assert_eq!(terms["de"], ["Erster Absatz."]);
        assert!(!terms.contains_key("fr"), "French falls back to English");
        let empty = tempfile::tempdir().unwrap();
        let config =
            Config::load(None, &env(&[("MOBILEID_IDENTITY_TERMS_DIR", empty.path().to_str().unwrap())])).unwrap();
        assert!(config.identity_terms().is_err(), "the English terms are needed");
        assert!(Config::load(None, &[]).unwrap().identity_terms().unwrap().is_empty());
    }

    #[test]
    fn defaults_need_no_file() {
        let config = Config::load(None, &[]).unwrap();
        assert_eq!(config.listen.port(), 8443);
        assert_eq!(config.browser_listen.port(), 8444);
        assert_eq!(config.browser_public_url, "https://localhost:8444");
        assert_eq!(config.shutdown_grace_seconds, 10);
        assert!(config.database_url.expose().starts_with("sqlite://"));
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
    fn a_list_may_have_one_value_or_several() {
        let one = Config::load(None, &env(&[("MOBILEID_TLS_HOSTNAMES", "one.example")])).unwrap();
        assert_eq!(one.tls_hostnames, vec!["one.example"]);
        let several = Config::load(None, &env(&[("MOBILEID_TLS_HOSTNAMES", "a.example, b.example,10.0.0.1")])).unwrap();
        assert_eq!(several.tls_hostnames, vec!["a.example", "b.example", "10.0.0.1"]);
        let none = Config::load(None, &env(&[("MOBILEID_TLS_HOSTNAMES", "")])).unwrap();
        assert!(none.tls_hostnames.is_empty());
    }

    #[test]
    fn strings_are_taken_verbatim() {
        let config = Config::load(
            None,
            &env(&[
                ("MOBILEID_LOG", "info,sqlx=warn"),
                ("MOBILEID_PUBLIC_URL", "https://mid.example:8443/a,b?x=1,2"),
                ("MOBILEID_ORGANISATION", "42"),
            ]),
        )
        .unwrap();
        assert_eq!(config.log, "info,sqlx=warn");
        assert_eq!(config.public_url, "https://mid.example:8443/a,b?x=1,2");
        assert_eq!(config.organisation, "42");
    }

    #[test]
    fn numbers_are_parsed_and_bad_ones_name_the_variable() {
        let config = Config::load(None, &env(&[("MOBILEID_MAX_BODY_BYTES", "1024")])).unwrap();
        assert_eq!(config.max_body_bytes, 1024);
        let e = format!("{:#}", Config::load(None, &env(&[("MOBILEID_PIN_ATTEMPTS", "five")])).unwrap_err());
        assert!(e.contains("MOBILEID_PIN_ATTEMPTS") && e.contains("whole number"), "{e}");
        let e = format!("{:#}", Config::load(None, &env(&[("MOBILEID_LISTEN", "localhost")])).unwrap_err());
        assert!(e.contains("MOBILEID_LISTEN"), "{e}");
    }

    #[test]
    fn option_fields_take_their_inner_type_and_empty_unsets_them() {
        let config = Config::load(
            None,
            &env(&[
                ("MOBILEID_SANDBOX_HTTP_LISTEN", "127.0.0.1:8080"),
                ("MOBILEID_PORTAL_URL", "https://p.example/x,y"),
            ]),
        )
        .unwrap();
        assert_eq!(config.sandbox_http_listen, Some(SocketAddr::from(([127, 0, 0, 1], 8080))));
        assert_eq!(config.portal_url.as_deref(), Some("https://p.example/x,y"));

        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.toml");
        std::fs::write(&path, "sandbox_http_listen = \"127.0.0.1:8080\"\n").unwrap();
        let config = Config::load(Some(&path), &env(&[("MOBILEID_SANDBOX_HTTP_LISTEN", "")])).unwrap();
        assert!(config.sandbox_http_listen.is_none());
        assert!(Config::load(None, &env(&[("MOBILEID_SANDBOX_HTTP_LISTEN", "nope")])).is_err());
    }

    #[test]
    fn secrets_stay_out_of_debug() {
        let key = "ab".repeat(32);
        let config = Config::load(
            None,
            &env(&[("MOBILEID_MASTER_KEY", &key), ("MOBILEID_DATABASE_URL", "postgres://user:pw@db.example:5432/mid")]),
        )
        .unwrap();
        assert_eq!(config.master_key.expose(), key);
        assert_eq!(config.database_url.expose(), "postgres://user:pw@db.example:5432/mid");
        let debug = format!("{config:?}");
        assert!(!debug.contains(&key) && !debug.contains("pw"), "{debug}");
        assert!(debug.contains("postgres://user:***@db.example:5432/mid"), "{debug}");
        assert_eq!(config.database_url.to_string(), "postgres://user:***@db.example:5432/mid");
    }

    #[test]
    fn urls_without_a_password_are_shown_as_they_are() {
        for url in ["postgres://user@host/db", "sqlite:///tmp/x.db?mode=rwc", "postgres://h/db?user=a:b@c"] {
            assert_eq!(DatabaseUrl(url.to_string()).to_string(), url);
        }
        assert_eq!(DatabaseUrl("postgres://u:p@ss@h/db".to_string()).to_string(), "postgres://u:***@h/db");
    }

    #[test]
    fn subject_properties_name_an_attribute() {
        let config =
            Config::load(None, &env(&[("MOBILEID_CERTIFICATE_SUBJECT_PROPERTIES", "employee_id:OU, role:title")]))
                .unwrap();
        assert_eq!(
            config.subject_properties().unwrap(),
            vec![
                ("employee_id".to_string(), mobileid_crypto::SubjectAttribute::OrganizationalUnit),
                ("role".to_string(), mobileid_crypto::SubjectAttribute::Title)
            ]
        );
        let kinds = Config::load(None, &env(&[("MOBILEID_CERTIFICATE_KINDS", "authentication,signing")])).unwrap();
        assert!(kinds.signing_certificates().unwrap());
        let all = Config::load(None, &env(&[("MOBILEID_CERTIFICATE_KINDS", "authentication,encryption")])).unwrap();
        assert!(all.encryption_certificates().unwrap() && !all.signing_certificates().unwrap());
        for bad in ["signing", "encryption", "authentication,qualified"] {
            let e = format!("{:#}", Config::load(None, &env(&[("MOBILEID_CERTIFICATE_KINDS", bad)])).unwrap_err());
            assert!(e.contains("certificate_kinds"), "{e}");
        }
        for bad in ["employee_id", "employee_id:CN", ":OU"] {
            let e = format!(
                "{:#}",
                Config::load(None, &env(&[("MOBILEID_CERTIFICATE_SUBJECT_PROPERTIES", bad)])).unwrap_err()
            );
            assert!(e.contains("certificate_subject_properties"), "{e}");
        }
    }

    #[test]
    fn mail_settings_from_file_and_environment() {
        let default = Config::load(None, &[]).unwrap().mail_settings();
        assert_eq!(default.from, "Mobile ID <noreply@localhost>");
        assert!(default.smtp.is_none());

        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.toml");
        std::fs::write(&path, "mail_from = \"Mobile ID <mid@example.ch>\"\nsmtp_host = \"smtp.example.ch\"\n").unwrap();
        let config = Config::load(
            Some(&path),
            &env(&[("MOBILEID_SMTP_USERNAME", "mid"), ("MOBILEID_SMTP_PASSWORD", "s3cret-pw")]),
        )
        .unwrap();
        let debug = format!("{config:?}");
        assert!(!debug.contains("s3cret-pw"), "{debug}");
        let mail = config.mail_settings();
        assert_eq!(mail.from, "Mobile ID <mid@example.ch>");
        assert!(!format!("{mail:?}").contains("s3cret-pw"));
        let smtp = mail.smtp.unwrap();
        assert_eq!(
            (smtp.host.as_str(), smtp.port, smtp.security),
            ("smtp.example.ch", 587, mail::SmtpSecurity::StartTls)
        );
        assert_eq!((smtp.username.as_deref(), smtp.password.as_deref()), (Some("mid"), Some("s3cret-pw")));

        for (security, port) in [("tls", 465), ("plain", 25)] {
            let config =
                Config::load(None, &env(&[("MOBILEID_SMTP_HOST", "localhost"), ("MOBILEID_SMTP_SECURITY", security)]))
                    .unwrap();
            assert_eq!(config.mail_settings().smtp.unwrap().port, port);
        }
        let config = Config::load(
            None,
            &env(&[
                ("MOBILEID_SMTP_HOST", "127.0.0.1"),
                ("MOBILEID_SMTP_PORT", "2525"),
                ("MOBILEID_SMTP_SECURITY", "plain"),
            ]),
        )
        .unwrap();
        let smtp = config.mail_settings().smtp.unwrap();
        assert_eq!(
            (smtp.port, smtp.security, smtp.username, smtp.password),
            (2525, mail::SmtpSecurity::Plain, None, None)
        );

        let e = format!("{:#}", Config::load(None, &env(&[("MOBILEID_SMTP_SECURITY", "ssl")])).unwrap_err());
        assert!(e.contains("MOBILEID_SMTP_SECURITY") && e.contains("starttls"), "{e}");
        let e = format!("{:#}", Config::load(None, &env(&[("MOBILEID_SMTP_USERNAME", "mid")])).unwrap_err());
        assert!(e.contains("smtp_host"), "{e}");
    }

    #[test]
    fn unknown_keys_are_errors_not_silence() {
        let e = Config::load(None, &env(&[("MOBILEID_LISTN", "1")])).unwrap_err().to_string();
        assert!(e.contains("unknown setting MOBILEID_LISTN"), "{e}");
        assert!(Config::load(None, &env(&[("MOBILEID_PHONE_STATE", "p.json")])).is_ok());
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.toml");
        std::fs::write(&path, "lisen = 1\n").unwrap();
        assert!(Config::load(Some(&path), &[]).is_err());
    }
}
