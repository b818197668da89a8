//! `mobileid`: the Mobile ID platform in one binary. `mobileid serve` runs it; the other
//! subcommands are the operator's tools and work on the same database.

mod config;
mod setup;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context};
use clap::{Parser, Subcommand};
use mobileid_core::{AccountState, SignatureProfile};
use mobileid_crypto::{pem_encode, sha256_fingerprint_hex, RevocationReason};
use mobileid_engine::admin::default_profiles;
use mobileid_engine::identity::providers::{FakeProvider, ProviderConfig, FAKE};
use mobileid_engine::identity::{IdentityConfig, ReviewPolicy};
use mobileid_engine::portal::{AccountSpec, Delivery, Notify, PortalConfig};
use mobileid_engine::{Ap, Engine, EngineConfig, Permission};
use mobileid_http::identify::provider::HttpIdentityProvider;
use mobileid_http::limits::Limits;
use mobileid_http::listener::Listener;
use mobileid_http::shutdown::Shutdown;
use mobileid_http::tls::{self, ClientCertificates};
use mobileid_http::{AppState, Port, Settings};
use mobileid_store::{Revoked, Store};
use tokio::net::TcpListener;

use crate::config::{Config, Mode, PortalDelivery, PortalNotify};
use crate::setup::{DataDir, DEMO_AP_ID, DEMO_DTBD_PREFIX};

/// mimalloc returns the memory a load used to the system soon after the load has gone;
/// glibc's malloc kept it in its per-thread arenas (556 MiB still resident a minute after
/// the capacity loads, against 78 MiB with mimalloc; see BENCHMARKS.md). It also serves
/// the C libraries' allocations (the `override` feature).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(name = "mobileid", version, about = "Self-hosted Mobile ID platform (MSS API, phones, CA)")]
struct Cli {
    /// TOML configuration file (default: <data_dir>/mobileid.toml if present).
    #[arg(long, global = true)]
    config: Option<PathBuf>,
    /// Data directory (same as data_dir / MOBILEID_DATA_DIR).
    #[arg(long, global = true)]
    data_dir: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the platform (HTTPS on 0.0.0.0:8443 by default).
    Serve,
    /// Application providers (relying parties).
    #[command(subcommand)]
    Ap(ApCommand),
    /// Users and their activation codes.
    #[command(subcommand)]
    User(UserCommand),
    /// The public test numbers (+41000092NNN fault numbers and the robot users).
    #[command(subcommand)]
    Testnumbers(TestNumbersCommand),
    /// Relying parties of the OpenID provider.
    #[command(subcommand)]
    OidcClient(OidcClientCommand),
    /// The OpenID provider's signing keys.
    #[command(subcommand)]
    OidcKey(OidcKeyCommand),
    /// Devices: block a lost one.
    #[command(subcommand)]
    Device(DeviceCommand),
    /// User certificates: revoke one.
    #[command(subcommand)]
    Certificate(CertificateCommand),
    /// Accounts of the self-service portal.
    #[command(subcommand)]
    Account(AccountCommand),
    /// Senders of documents to sign (the document-signing API's clients).
    #[command(subcommand)]
    Sender(SenderCommand),
    /// Envelopes of documents to sign: for support.
    #[command(subcommand)]
    Envelope(EnvelopeCommand),
    /// Verified identities: the names signing certificates carry.
    #[command(subcommand)]
    Identity(IdentityCommand),
    /// Who may use the review desk of identifications (portal accounts).
    #[command(subcommand)]
    Reviewer(ReviewerCommand),
}

#[derive(Subcommand)]
enum ReviewerCommand {
    /// Let a portal account use the review desk (`/review` on the browser port).
    Add {
        #[arg(long)]
        email: String,
    },
    /// Take the review desk from a portal account.
    Remove {
        #[arg(long)]
        email: String,
    },
}

#[derive(Subcommand)]
enum IdentityCommand {
    /// The signers waiting for their identity to be verified.
    List,
    /// Record who holds a number, as checked by the operator (an ID document seen).
    Verify {
        #[arg(long)]
        msisdn: String,
        #[arg(long)]
        given_names: String,
        #[arg(long)]
        surname: String,
    },
    /// Refuse the identity asked for a number.
    Reject {
        #[arg(long)]
        msisdn: String,
        #[arg(long)]
        reason: String,
    },
    /// Check the hash chain of the identifications' evidence records.
    CheckEvidence,
    /// Export every evidence record as one signed JSON document (a JWS, verifiable with
    /// the OpenID provider's published keys), for an auditor.
    ExportEvidence {
        /// Where to write it (default: standard output).
        #[arg(long)]
        out: Option<PathBuf>,
    },
}

#[derive(Subcommand)]
enum EnvelopeCommand {
    /// Print each signer's link (to hand over when an e-mail did not arrive).
    Links {
        #[arg(long)]
        id: String,
    },
}

#[derive(Subcommand)]
enum SenderCommand {
    /// Register a sender; prints its API key (and webhook secret) once.
    Add {
        /// Letters, digits, '-', '_' and '.'.
        #[arg(long)]
        id: String,
        /// The name signers see ("Acme HR").
        #[arg(long)]
        name: String,
        /// Where the envelopes' events are POSTed, signed with the webhook secret.
        #[arg(long)]
        webhook_url: Option<String>,
        /// A registered OpenID client (client_secret_basic) the sender may authenticate
        /// as, with HTTP Basic, besides its API key.
        #[arg(long)]
        oidc_client: Option<String>,
    },
    /// List the senders.
    List,
    /// Remove a sender: its API key stops working.
    Remove {
        #[arg(long)]
        id: String,
    },
}

#[derive(Subcommand)]
enum AccountCommand {
    /// Create an account and e-mail its owner the link that confirms the address and
    /// sets the password (the link is printed too).
    Add {
        #[arg(long)]
        email: String,
        /// The phone number of the owner's Mobile ID.
        #[arg(long)]
        msisdn: Option<String>,
        /// The language of its e-mails: en, de, fr or it.
        #[arg(long, default_value = "en")]
        language: String,
        /// A user property, NAME=VALUE (repeatable), such as employee_id=E-1234.
        #[arg(long = "property", value_parser = parse_property)]
        properties: Vec<(String, String)>,
    },
    /// E-mail (and print) a new confirmation link for an account.
    Link {
        #[arg(long)]
        email: String,
    },
    /// Let an account get a Mobile ID (state active).
    Activate {
        #[arg(long)]
        email: String,
    },
    /// Switch an account off (state inactive); its sessions end.
    Deactivate {
        #[arg(long)]
        email: String,
    },
    /// List the accounts.
    List,
}

fn parse_property(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((name, value)) if !name.trim().is_empty() => Ok((name.trim().to_string(), value.to_string())),
        _ => Err(format!("{text:?} is not NAME=VALUE")),
    }
}

#[derive(Subcommand)]
enum DeviceCommand {
    /// Block a device (a lost phone): it can no longer sign, and its certificates are
    /// revoked at once.
    Block {
        #[arg(long)]
        device: String,
    },
}

#[derive(Subcommand)]
enum CertificateCommand {
    /// Revoke a user certificate; OCSP and the CRL show it at once.
    Revoke {
        /// The serial number in hex, as `user show` lists it.
        #[arg(long)]
        serial: String,
        /// keyCompromise, affiliationChanged, superseded or cessationOfOperation
        /// (unspecified if left out).
        #[arg(long)]
        reason: Option<String>,
    },
}

#[derive(Subcommand)]
enum OidcClientCommand {
    /// Register a client (or replace its settings); prints its secret once.
    Add(Box<OidcClientAdd>),
    /// List the clients.
    List,
    /// Remove a client.
    Remove {
        #[arg(long)]
        client_id: String,
    },
}

#[derive(clap::Args)]
struct OidcClientAdd {
    #[arg(long)]
    client_id: String,
    /// Shown on the login pages and on the phone.
    #[arg(long)]
    name: String,
    /// Redirect URIs, comma-separated, matched exactly.
    #[arg(long, value_delimiter = ',', required = true)]
    redirect_uri: Vec<String>,
    /// client_secret_basic, client_secret_post or private_key_jwt.
    #[arg(long, default_value = "client_secret_basic")]
    auth_method: String,
    /// For private_key_jwt: a file with the client's public JWKS.
    #[arg(long)]
    jwks: Option<PathBuf>,
    /// Allowed ACR values, comma-separated (default: mid_al3_any).
    #[arg(long, value_delimiter = ',')]
    acr: Vec<String>,
    /// The ACR used when a request names none (default: the first allowed one).
    #[arg(long)]
    default_acr: Option<String>,
    /// Allowed scopes, comma-separated (default: openid, profile, phone, offline_access).
    #[arg(long, value_delimiter = ',')]
    scopes: Vec<String>,
    /// Entitlements, comma-separated: login_hint, dtbd, ciba.
    #[arg(long, value_delimiter = ',')]
    entitlements: Vec<String>,
    /// Userinfo as a signed JWT instead of JSON.
    #[arg(long)]
    userinfo_signed: bool,
    /// RS256, ES256 or EdDSA.
    #[arg(long, default_value = "RS256")]
    id_token_alg: String,
    /// Do not make the user pick the session code on the phone.
    #[arg(long)]
    no_number_matching: bool,
    /// Accept requests without a nonce.
    #[arg(long)]
    nonce_optional: bool,
    /// Where end-session may send the browser back to, comma-separated.
    #[arg(long, value_delimiter = ',')]
    post_logout_redirect_uri: Vec<String>,
    /// CIBA ping mode: the client's notification endpoint.
    #[arg(long)]
    ciba_notification_endpoint: Option<String>,
}

#[derive(Subcommand)]
enum OidcKeyCommand {
    /// Add new signing keys, published at once and used in an hour; the old ones stay
    /// published until every token they signed has expired. No restart needed.
    Rotate,
}

#[derive(Subcommand)]
enum ApCommand {
    /// Register an AP, or update it and add a client certificate.
    Add {
        /// The AP_ID, e.g. mid://bank.example.ch
        #[arg(long)]
        ap_id: String,
        /// PEM file with the AP's TLS client certificate (EKU clientAuth).
        #[arg(long)]
        cert: PathBuf,
        #[arg(long)]
        name: Option<String>,
        /// The text every DTBD of this AP must start with, e.g. "Bank ACME: ".
        #[arg(long, default_value = "")]
        dtbd_prefix: String,
        /// Allowed signature profile URIs, comma-separated (default: AuthProfile1, Any, STK, Device LoA4).
        #[arg(long, value_delimiter = ',')]
        profiles: Vec<String>,
        /// What MID/v1/AuthProfile1 stands for at this AP.
        #[arg(long, default_value = "http://mid.swisscom.ch/Any-LoA4")]
        auth_profile1: String,
        /// Additional permissions, comma-separated: geofencing, app2app, subscriberInfo, robots.
        #[arg(long, value_delimiter = ',')]
        services: Vec<String>,
    },
    /// List the APs and their certificate fingerprints.
    List,
}

#[derive(Subcommand)]
enum UserCommand {
    /// Enrol a user and print a one-time activation code for their phone.
    Add {
        #[arg(long)]
        msisdn: String,
    },
    /// Enrol many users at once: one MSISDN per line of FILE (`-` for standard input).
    /// Prints one line per user, `MSISDN CODE`, in the order given. A bad line refuses the
    /// whole import, and nothing is written.
    Import {
        #[arg(long)]
        file: PathBuf,
    },
    /// Show a user's state, serial number, methods and certificates.
    Show {
        #[arg(long)]
        msisdn: String,
    },
}

#[derive(Subcommand)]
enum TestNumbersCommand {
    /// Create the test numbers (done on first start).
    Enable,
    /// Remove them: they then answer like unknown numbers.
    Disable,
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let mut env: Vec<(String, String)> = std::env::vars().collect();
    if let Some(dir) = &cli.data_dir {
        env.push(("MOBILEID_DATA_DIR".into(), dir.display().to_string()));
    }
    let config = Config::load(cli.config.as_deref(), &env)?;
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_new(&config.log).unwrap_or_default())
        .with_writer(std::io::stderr)
        .init();
    tls::install_default_provider();
    let runtime = tokio::runtime::Runtime::new()?;
    let result = runtime.block_on(run(cli.command, config));
    // Tasks left after the shutdown's bound (connections still open) end here.
    runtime.shutdown_timeout(Duration::from_secs(1));
    result
}

async fn run(command: Command, config: Config) -> anyhow::Result<()> {
    let data_dir = DataDir::open(&config.data_dir)?;
    data_dir.check_database_before_connecting(&config)?;
    let master_key = data_dir.master_key(&config)?;
    let store = Store::connect(config.database_url.expose()).await.context("opening the database")?;
    data_dir.check_database_ca(&config, &store).await?;
    let engine = Engine::start(store, master_key.clone(), engine_config(&config, &master_key)).await?;
    match config.mode {
        Mode::Demo if engine.first_start() => {
            data_dir.seed_demo_ap(&engine).await?;
            engine.enable_test_numbers().await?;
        }
        Mode::Demo => {}
        Mode::Production => leave_demo(&engine).await?,
    }
    data_dir.remember_database(&config, &engine)?;
    data_dir.write_ca_files(&engine)?;
    match command {
        Command::Serve => serve(config, data_dir, engine, master_key).await,
        Command::Ap(command) => ap_command(&engine, command).await,
        Command::User(command) => user_command(&engine, &config, command).await,
        Command::OidcClient(command) => oidc_client_command(&engine, command).await,
        Command::Device(DeviceCommand::Block { device }) => {
            if !engine.block_device(&device).await? {
                bail!("no device {device} in use (unknown, or already blocked or retired)");
            }
            println!("Device {device} blocked; its certificates are revoked.");
            Ok(())
        }
        Command::Certificate(CertificateCommand::Revoke { serial, reason }) => {
            let reason = match reason.as_deref() {
                None => None,
                Some(name) => Some(RevocationReason::from_name(name).with_context(|| {
                    format!(
                        "unknown reason {name:?}: use keyCompromise, affiliationChanged, superseded or \
                         cessationOfOperation"
                    )
                })?),
            };
            match engine.revoke_certificate(&serial, reason).await? {
                Revoked::Now => println!("Certificate {serial} revoked."),
                Revoked::Already => println!("Certificate {serial} was revoked before."),
                Revoked::Unknown => bail!("no certificate with serial number {serial}"),
            }
            Ok(())
        }
        Command::Account(command) => account_command(&engine, &config, command).await,
        Command::Sender(command) => sender_command(&engine, command).await,
        Command::Identity(IdentityCommand::List) => {
            for identity in engine.pending_identities().await? {
                let asked = identity.requested_at.to_datetime().map(|t| t.format("%Y-%m-%d %H:%M").to_string());
                println!("+{:<16} {:<32} asked {}", identity.msisdn, identity.stated_name, asked.unwrap_or_default());
            }
            Ok(())
        }
        Command::Identity(IdentityCommand::Verify { msisdn, given_names, surname }) => {
            engine.verify_identity(&msisdn, &given_names, &surname).await?;
            println!("{msisdn} is {given_names} {surname}, verified.");
            Ok(())
        }
        Command::Identity(IdentityCommand::Reject { msisdn, reason }) => {
            engine.reject_identity(&msisdn, &reason).await?;
            println!("The identity asked for {msisdn} is rejected.");
            Ok(())
        }
        Command::Identity(IdentityCommand::CheckEvidence) => match engine.check_evidence_chain().await? {
            Ok(count) => {
                println!("The evidence chain holds: {count} records.");
                Ok(())
            }
            Err(broken) => bail!("{broken}"),
        },
        Command::Identity(IdentityCommand::ExportEvidence { out }) => {
            let signed = engine.export_evidence().await?;
            match out {
                Some(path) => std::fs::write(&path, signed).with_context(|| format!("writing {}", path.display()))?,
                None => println!("{signed}"),
            }
            Ok(())
        }
        Command::Reviewer(ReviewerCommand::Add { email }) => {
            engine.grant_reviewer(&email).await?;
            println!("{email} may use the review desk.");
            Ok(())
        }
        Command::Reviewer(ReviewerCommand::Remove { email }) => {
            if !engine.revoke_reviewer(&email).await? {
                bail!("{email} was not a reviewer");
            }
            println!("{email} may no longer use the review desk.");
            Ok(())
        }
        Command::Envelope(EnvelopeCommand::Links { id }) => {
            let signers = engine.store().envelope_signers(&id).await?;
            if signers.is_empty() {
                bail!("there is no envelope {id}");
            }
            let base = config.browser_public_url.trim_end_matches('/');
            for signer in signers {
                let token = engine.signer_link_token(&signer.signer_id);
                println!("level {} {:<10} {:<32} {base}/sign/{token}", signer.level, signer.state, signer.email);
            }
            Ok(())
        }
        Command::OidcKey(OidcKeyCommand::Rotate) => {
            let kids = engine.rotate_oidc_keys().await?;
            println!("New signing keys {} are published now and sign from an hour on.", kids.join(", "));
            Ok(())
        }
        Command::Testnumbers(TestNumbersCommand::Enable) if config.mode == Mode::Production => {
            bail!("mode = \"production\": the test numbers cannot be enabled (they need the demo mode)")
        }
        Command::Testnumbers(TestNumbersCommand::Enable) => {
            engine.enable_test_numbers().await?;
            println!("Test numbers enabled.");
            Ok(())
        }
        Command::Testnumbers(TestNumbersCommand::Disable) => {
            let removed = engine.disable_test_numbers().await?;
            println!("Test numbers disabled ({removed} removed).");
            Ok(())
        }
    }
}

/// In production mode, removes what a demo start made: the demo AP (its certificate then
/// gets fault 104) and the test numbers (they then answer like unknown numbers). Runs at
/// every start, so a database first started in demo mode is cleaned the first time.
async fn leave_demo(engine: &Engine) -> anyhow::Result<()> {
    if engine.remove_ap(DEMO_AP_ID).await? {
        tracing::warn!("production mode: removed the demo AP {DEMO_AP_ID}");
    }
    let removed = engine.disable_test_numbers().await?;
    if removed > 0 {
        tracing::warn!("production mode: removed {removed} test numbers");
    }
    Ok(())
}

/// Identity verification as configured (checked when the configuration was loaded). The
/// fake provider's secret, unless set, is derived from the master key.
fn identity_config(config: &Config, master_key: &mobileid_crypto::MasterKey) -> IdentityConfig {
    let provider = config.identity_provider.as_ref().map(|name| {
        let secret = match config.identity_provider_secret.expose() {
            "" => hex::encode(master_key.keyed_hash(b"fake identity provider", b"webhook")),
            set => set.to_string(),
        };
        ProviderConfig {
            name: name.clone(),
            legal_name: config.identity_provider_legal_name.clone().unwrap_or_else(|| name.clone()),
            start_url: config.identity_provider_start_url.clone(),
            secret,
        }
    });
    IdentityConfig {
        terms_version: config.identity_terms_version.clone(),
        minimum_age: config.identity_minimum_age,
        image_retention: Duration::from_secs(config.identity_image_retention_days * 86_400),
        review: ReviewPolicy::from_name(&config.identity_review).unwrap_or(ReviewPolicy::All),
        provider,
        ..IdentityConfig::default()
    }
}

fn engine_config(config: &Config, master_key: &mobileid_crypto::MasterKey) -> EngineConfig {
    EngineConfig {
        instant_tolerance: chrono::Duration::seconds(config.instant_tolerance_seconds),
        pin_attempts: config.pin_attempts,
        activation_code_ttl: Duration::from_secs(config.activation_code_ttl_seconds),
        certificate_validity_days: config.certificate_validity_days,
        portal_url: config.portal_url.clone(),
        organisation: config.organisation.clone(),
        device_clock_window: Duration::from_secs(config.device_clock_window_seconds),
        oidc: mobileid_engine::oidc::OidcConfig {
            issuer: config.browser_public_url.clone(),
            local_http_redirects: config.mode == Mode::Demo,
            access_ttl: Duration::from_secs(config.oidc_access_token_seconds),
            code_ttl: Duration::from_secs(config.oidc_code_seconds),
            ..Default::default()
        },
        // Checked when the configuration was loaded.
        subject_properties: config.subject_properties().unwrap_or_default(),
        signing_certificates: config.signing_certificates().unwrap_or_default(),
        encryption_certificates: config.encryption_certificates().unwrap_or_default(),
        identity: identity_config(config, master_key),
        portal: PortalConfig {
            signup: config.portal_signup,
            signup_approval: config.portal_signup_approval,
            delivery: match config.portal_delivery {
                PortalDelivery::Qr => Delivery::QrCode,
                PortalDelivery::Email => Delivery::Email,
            },
            notify: match config.portal_notify {
                PortalNotify::All => Notify::SuccessAndFailure,
                PortalNotify::Success => Notify::Success,
                PortalNotify::None => Notify::Nothing,
            },
            login_attempts: config.portal_login_attempts,
            lock: Duration::from_secs(config.portal_lock_seconds),
            ..Default::default()
        },
    }
}

async fn serve(
    config: Config,
    data_dir: DataDir,
    engine: Engine,
    master_key: mobileid_crypto::MasterKey,
) -> anyhow::Result<()> {
    let (chain, key) = data_dir.tls_identity(&engine, &master_key, &config)?;
    let mss_tls = Arc::new(tls::server_config(chain.clone(), key.clone(), ClientCertificates::Requested)?);
    let browser_tls = Arc::new(tls::server_config(chain, key, ClientCertificates::NotRequested)?);
    let shutdown = Shutdown::new(Duration::from_secs(config.shutdown_grace_seconds));
    let settings = Settings {
        mssp_id_uri: config.mssp_id_uri.clone(),
        public_url: config.public_url.clone(),
        max_body_bytes: config.max_body_bytes,
        mailer: mobileid_http::mail::Mailer::new(&config.mail_settings()).map_err(|e| anyhow::anyhow!("mail: {e}"))?,
        identity_terms: config.identity_terms()?,
    };
    let state = AppState::new(engine.clone(), settings, shutdown.clone());
    // Registered before anything is bound: a signal that arrives once the server looks
    // ready must begin the graceful shutdown, not kill the process.
    let signals = ShutdownSignals::register()?;

    let mss = bind(config.listen).await?;
    let browser = bind(config.browser_listen).await?;
    let sandbox = match config.sandbox_http_listen {
        Some(addr) => Some(bind(addr).await?),
        None => None,
    };
    let addresses = Addresses {
        mss: mss.local_addr()?,
        browser: browser.local_addr()?,
        sandbox: sandbox.as_ref().and_then(|l| l.local_addr().ok()),
    };
    let (max_connections, all_connections) =
        connection_caps(config.max_connections, if sandbox.is_some() { 3 } else { 2 });
    let limits = Limits {
        idle: Duration::from_secs(config.connection_idle_seconds),
        body: Duration::from_secs(config.body_read_seconds),
        max_connections,
        all_connections,
    };
    if config.browser_listen.port() == 0 {
        engine.set_oidc_issuer(format!("https://localhost:{}", addresses.browser.port()));
    }
    engine.register_portal_client().await?;
    print_banner(&config, &data_dir, &addresses);
    purge_expired(engine.clone());
    if let Some(url) = &config.signing_tsa_url {
        let timestamper = mobileid_http::signing::timestamp::HttpTimestamper::new(url)
            .map_err(|e| anyhow::anyhow!("signing_tsa_url: {e}"))?;
        engine.set_timestamper(std::sync::Arc::new(timestamper));
    }
    match config.identity_provider.as_deref() {
        None => {}
        Some(FAKE) => engine.set_identity_provider(Arc::new(FakeProvider)),
        Some(name) => {
            let start_url = config.identity_provider_start_url.as_deref().unwrap_or_default();
            let secret = config.identity_provider_secret.expose();
            let provider = HttpIdentityProvider::new(name, start_url, secret, &config.browser_public_url)
                .map_err(|e| anyhow::anyhow!("identity_provider: {e}"))?;
            engine.set_identity_provider(Arc::new(provider));
        }
    }
    mobileid_http::portal::notify::spawn_upkeep(state.clone());
    mobileid_http::signing::deliveries::spawn(state.clone());
    let mut listeners = vec![
        Listener::Tls { listener: mss, tls: mss_tls, app: mobileid_http::router(state.clone(), Port::Mss) },
        Listener::Tls { listener: browser, tls: browser_tls, app: mobileid_http::router(state.clone(), Port::Browser) },
    ];
    if let Some(sandbox) = sandbox {
        listeners.push(Listener::Plain { listener: sandbox, app: mobileid_http::router(state, Port::Sandbox) });
    }
    tokio::spawn(signals.begin_shutdown(shutdown.clone()));
    mobileid_http::listener::serve(listeners, limits, shutdown).await;
    engine.store().close().await;
    tracing::info!("stopped");
    Ok(())
}

async fn bind(addr: std::net::SocketAddr) -> anyhow::Result<TcpListener> {
    TcpListener::bind(addr).await.with_context(|| format!("binding {addr}"))
}

/// SIGTERM (what service managers send) or SIGINT (Ctrl-C) begins the graceful shutdown.
struct ShutdownSignals {
    term: tokio::signal::unix::Signal,
    int: tokio::signal::unix::Signal,
}

impl ShutdownSignals {
    fn register() -> anyhow::Result<Self> {
        use tokio::signal::unix::{signal, SignalKind};
        Ok(Self {
            term: signal(SignalKind::terminate()).context("listening for SIGTERM")?,
            int: signal(SignalKind::interrupt()).context("listening for SIGINT")?,
        })
    }

    async fn begin_shutdown(mut self, shutdown: Shutdown) {
        let name = tokio::select! {
            _ = self.term.recv() => "SIGTERM",
            _ = self.int.recv() => "SIGINT",
        };
        tracing::info!("{name}: shutting down, requests in flight may finish within the grace period");
        shutdown.begin();
    }
}

/// File descriptors kept for the database, the data directory and the log.
const RESERVED_FILES: u64 = 256;
/// The most connections one listener serves when the operator sets no cap.
const DEFAULT_MAX_CONNECTIONS: u64 = 10_000;

/// Raises the open-file soft limit to the hard limit (so a busy server does not run out at
/// the common 1,024) and derives the connection caps from it unless the operator set one:
/// all listeners together get the descriptors that the limit leaves after
/// [`RESERVED_FILES`], each of them at most [`DEFAULT_MAX_CONNECTIONS`] of those, so a busy
/// listener may use what a quiet one does not. A cap set above what the limit allows is
/// kept, with a warning: then accepting fails at the limit and backs off.
fn connection_caps(configured: usize, listeners: u64) -> (usize, usize) {
    let open_files = match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(limit) => limit,
        Err(e) => {
            tracing::warn!("cannot read or raise the open-file limit: {e}");
            1024
        }
    };
    let fits = open_files.saturating_sub(RESERVED_FILES).max(1);
    let size = |n: u64| usize::try_from(n).unwrap_or(usize::MAX);
    if configured == 0 {
        let each = fits.min(DEFAULT_MAX_CONNECTIONS);
        tracing::info!("open-file limit {open_files}: up to {fits} connections, {each} on each listener");
        return (size(each), size(fits));
    }
    let wanted = (configured as u64).saturating_mul(listeners);
    if wanted > fits {
        tracing::warn!(
            "max_connections {configured} per listener exceeds what the open-file limit {open_files} allows \
             for {listeners} listeners ({fits} in all)"
        );
    }
    (configured, size(wanted))
}

/// Every minute, what can no longer matter goes: device nonces past the clock window
/// (replays are refused by time anyway) and expired OpenID objects.
fn purge_expired(engine: Engine) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(60));
        loop {
            tick.tick().await;
            if let Err(e) = engine.purge_old_nonces().await {
                tracing::warn!("purging device nonces: {e}");
            }
            if let Err(e) = engine.purge_expired_oidc_objects().await {
                tracing::warn!("purging expired OpenID objects: {e}");
            }
        }
    });
}

struct Addresses {
    mss: std::net::SocketAddr,
    browser: std::net::SocketAddr,
    sandbox: Option<std::net::SocketAddr>,
}

fn print_banner(config: &Config, data_dir: &DataDir, addresses: &Addresses) {
    // Port 0 means "any free port": the configured URL cannot know which one it got.
    let base = if config.listen.port() == 0 {
        format!("https://localhost:{}", addresses.mss.port())
    } else {
        config.public_url.clone()
    };
    let browser_base = if config.browser_listen.port() == 0 {
        format!("https://localhost:{}", addresses.browser.port())
    } else {
        config.browser_public_url.clone()
    };
    let ca = data_dir.root_ca_pem();
    println!("Mobile ID platform listening on {}", addresses.mss);
    println!("Browser port listening on {}", addresses.browser);
    println!("  MSS REST API : {base}/rest/service  (TLS client certificate + AP_ID)");
    println!("  Device API   : {base}/device/v1/");
    println!("  Browser port : {browser_base}/  (no client certificate asked; device API, health, metrics)");
    println!("  OpenID       : {browser_base}/.well-known/openid-configuration");
    println!("  Operations   : {base}/health/ready  {base}/metrics");
    if let Some(addr) = addresses.sandbox {
        println!("  Sandbox HTTP : http://{addr}/rest/service  (no client certificate: AP_ID alone)");
    }
    println!("  Root CA      : {}", ca.display());
    println!("  Database     : {}", config.database_url);
    if config.mode == Mode::Production {
        println!("  Mode         : production (no demo AP, no test numbers)");
        return;
    }
    println!("  Mode         : demo (demo AP and test numbers; MOBILEID_MODE=production for a deployment)");
    println!();
    println!("Try it with the demo AP and the EC robot test user:");
    println!(
        "curl -s --cacert {ca} --cert {cert} --key {key} -H 'Content-Type: application/json' \\\n  {base}/rest/service/sign --data-binary @- <<EOF",
        ca = ca.display(),
        cert = data_dir.demo_ap_cert().display(),
        key = data_dir.demo_ap_key().display(),
    );
    println!(
        r#"{{"MSS_SignatureReq":{{"MajorVersion":"1","MinorVersion":"1","MessagingMode":"synch","TimeOut":"80",
 "AP_Info":{{"AP_ID":"{DEMO_AP_ID}","AP_PWD":"","AP_TransID":"ID-$(date +%s%N)","Instant":"$(date -u +%FT%TZ)"}},
 "MSSP_Info":{{"MSSP_ID":{{"URI":"{uri}"}}}},"MobileUser":{{"MSISDN":"+41700092501"}},
 "DataToBeSigned":{{"MimeType":"text/plain","Encoding":"UTF-8","Data":"{DEMO_DTBD_PREFIX}Log in?"}},
 "SignatureProfile":"http://mid.swisscom.ch/Any-LoA4"}}}}
EOF"#,
        uri = config.mssp_id_uri,
    );
}

async fn ap_command(engine: &Engine, command: ApCommand) -> anyhow::Result<()> {
    match command {
        ApCommand::Add { ap_id, cert, name, dtbd_prefix, profiles, auth_profile1, services } => {
            let certificate = setup::read_certificate(&cert)?;
            let allowed_profiles = if profiles.is_empty() {
                default_profiles()
            } else {
                profiles
                    .iter()
                    .map(|p| SignatureProfile::parse_uri(p).map_err(|f| anyhow::anyhow!("{p}: {}", f.detail)))
                    .collect::<anyhow::Result<_>>()?
            };
            let permissions = services
                .iter()
                .map(|s| Permission::parse(s).with_context(|| format!("unknown service {s:?}")))
                .collect::<anyhow::Result<_>>()?;
            let ap = Ap {
                name: name.unwrap_or_else(|| ap_id.clone()),
                ap_id,
                dtbd_prefix,
                allowed_profiles,
                auth_profile1_maps_to: SignatureProfile::parse_uri(&auth_profile1)
                    .map_err(|f| anyhow::anyhow!("{auth_profile1}: {}", f.detail))?,
                permissions,
            };
            let fingerprint = engine.add_ap(&ap, &certificate).await?;
            println!("AP {} registered with client certificate SHA-256 {fingerprint}", ap.ap_id);
        }
        ApCommand::List => {
            for (ap, fingerprints) in engine.list_aps().await? {
                println!("{}  ({})", ap.ap_id, ap.name);
                println!("  DTBD prefix     : {:?}", ap.dtbd_prefix);
                println!("  profiles        : {}", ap.allowed_profiles);
                println!("  AuthProfile1 -> : {}", ap.auth_profile1_maps_to);
                println!("  services        : {}", if ap.services.is_empty() { "-" } else { &ap.services });
                for fingerprint in fingerprints {
                    println!("  certificate     : SHA-256 {fingerprint}");
                }
            }
        }
    }
    Ok(())
}

async fn oidc_client_command(engine: &Engine, command: OidcClientCommand) -> anyhow::Result<()> {
    use mobileid_engine::oidc::client::{AuthMethod, ClientSettings, Entitlement};
    use mobileid_engine::oidc::vocabulary::{Acr, Scope};
    match command {
        OidcClientCommand::Add(add) => {
            let OidcClientAdd {
                client_id,
                name,
                redirect_uri,
                auth_method,
                jwks,
                acr,
                default_acr,
                scopes,
                entitlements,
                userinfo_signed,
                id_token_alg,
                no_number_matching,
                nonce_optional,
                post_logout_redirect_uri,
                ciba_notification_endpoint,
            } = *add;
            let auth_method = AuthMethod::parse(&auth_method)
                .with_context(|| format!("unknown auth method {auth_method:?}: use client_secret_basic, client_secret_post or private_key_jwt"))?;
            let parse_acr = |token: &str| Acr::parse(token).with_context(|| format!("unknown ACR {token:?}"));
            let allowed_acrs = if acr.is_empty() {
                vec![Acr::Al3Any]
            } else {
                acr.iter().map(|a| parse_acr(a)).collect::<anyhow::Result<_>>()?
            };
            let default_acr = match default_acr {
                Some(token) => parse_acr(&token)?,
                None => allowed_acrs[0],
            };
            let scopes = if scopes.is_empty() {
                vec![Scope::Openid, Scope::Profile, Scope::Phone, Scope::OfflineAccess]
            } else {
                scopes
                    .iter()
                    .map(|s| Scope::parse(s).with_context(|| format!("unknown scope {s:?}")))
                    .collect::<anyhow::Result<_>>()?
            };
            let entitlements = entitlements
                .iter()
                .map(|e| {
                    Entitlement::parse(e)
                        .with_context(|| format!("unknown entitlement {e:?}: use login_hint, dtbd or ciba"))
                })
                .collect::<anyhow::Result<_>>()?;
            let jwks = match jwks {
                None => Vec::new(),
                Some(path) => {
                    let text = std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
                    let value: serde_json::Value = serde_json::from_str(&text).context("the JWKS file is not JSON")?;
                    value["keys"].as_array().cloned().context("the JWKS file has no \"keys\" array")?
                }
            };
            let settings = ClientSettings {
                name,
                redirect_uris: redirect_uri,
                auth_method,
                jwks,
                allowed_acrs,
                default_acr,
                scopes,
                entitlements,
                userinfo_signed,
                id_token_alg,
                number_matching: !no_number_matching,
                require_nonce: !nonce_optional,
                post_logout_redirect_uris: post_logout_redirect_uri,
                ciba_notification_endpoint,
            };
            match engine.register_oidc_client(&client_id, settings).await? {
                Some(secret) => println!("Client {client_id} registered. Its secret (shown only now): {}", secret.0),
                None => println!("Client {client_id} registered (private_key_jwt: no secret)."),
            }
            Ok(())
        }
        OidcClientCommand::List => {
            for client in engine.oidc_clients().await? {
                let s = &client.settings;
                println!(
                    "{}  {:?}  {}  redirect: {}  acr: {}",
                    client.client_id,
                    s.name,
                    s.auth_method.token(),
                    s.redirect_uris.join(" "),
                    s.allowed_acrs.iter().map(|a| a.token()).collect::<Vec<_>>().join(" ")
                );
            }
            Ok(())
        }
        OidcClientCommand::Remove { client_id } => {
            if engine.remove_oidc_client(&client_id).await? {
                println!("Client {client_id} removed.");
                Ok(())
            } else {
                bail!("there is no client {client_id}")
            }
        }
    }
}

async fn sender_command(engine: &Engine, command: SenderCommand) -> anyhow::Result<()> {
    match command {
        SenderCommand::Add { id, name, webhook_url, oidc_client } => {
            let (sender, api_key, secret) = engine
                .add_sender(&id, &name, webhook_url.as_deref(), oidc_client.as_deref())
                .await
                .map_err(|e| anyhow::anyhow!("{id}: {e}"))?;
            println!("Sender {} ({}) added. Its API key, shown only now:", sender.sender_id, sender.name);
            println!("{api_key}");
            if let Some(secret) = secret {
                println!("Its webhook secret, shown only now:");
                println!("{secret}");
            }
        }
        SenderCommand::List => {
            for sender in engine.store().list_senders().await? {
                println!("{:<24} {:<32} {}", sender.sender_id, sender.name, sender.webhook_url.unwrap_or_default());
            }
        }
        SenderCommand::Remove { id } => {
            if !engine.store().delete_sender(&id).await? {
                bail!("there is no sender {id}");
            }
            println!("Sender {id} removed.");
        }
    }
    Ok(())
}

async fn account_command(engine: &Engine, config: &Config, command: AccountCommand) -> anyhow::Result<()> {
    let link =
        |token: &str| format!("{}/portal/confirm?token={token}", config.browser_public_url.trim_end_matches('/'));
    let (account, token) = match command {
        AccountCommand::Add { email, msisdn, language, properties } => {
            if mobileid_http::pages::Lang::from_ui_locales(&language).is_none() {
                bail!("--language must be en, de, fr or it");
            }
            let spec =
                AccountSpec { email: &email, msisdn: msisdn.as_deref(), language: &language, properties: &properties };
            let new = engine.create_account(&spec).await.map_err(|e| anyhow::anyhow!("{email}: {e}"))?;
            (new.account, new.token)
        }
        AccountCommand::Link { email } => {
            engine.new_confirmation_link(&email).await.map_err(|e| anyhow::anyhow!("{email}: {e}"))?
        }
        AccountCommand::Activate { email } => {
            let account = engine
                .set_account_state(&email, AccountState::Active)
                .await
                .map_err(|e| anyhow::anyhow!("{email}: {e}"))?;
            println!("Account {} is active.", account.email);
            return Ok(());
        }
        AccountCommand::Deactivate { email } => {
            let account = engine
                .set_account_state(&email, AccountState::Inactive)
                .await
                .map_err(|e| anyhow::anyhow!("{email}: {e}"))?;
            println!("Account {} is inactive; its sessions have ended.", account.email);
            return Ok(());
        }
        AccountCommand::List => {
            for account in engine.list_accounts().await? {
                let phone = account.msisdn.as_ref().map(|m| format!("+{m}")).unwrap_or_else(|| "-".into());
                println!("{:<40} {:<16} {:<10} {}", account.email, phone, account.state, account.properties);
            }
            return Ok(());
        }
    };
    let link = link(&token.0);
    let mailer = mobileid_http::mail::Mailer::new(&config.mail_settings()).map_err(|e| anyhow::anyhow!("mail: {e}"))?;
    let email = mobileid_http::portal::notify::email(&account.email, &account.language, "confirm", &[("link", &link)]);
    mailer.send(&email).await.with_context(|| format!("e-mailing the link to {}", account.email))?;
    println!(
        "Account {} ({}): the link that confirms the address and sets the password was e-mailed:",
        account.email, account.state
    );
    println!("{link}");
    Ok(())
}

async fn user_command(engine: &Engine, config: &Config, command: UserCommand) -> anyhow::Result<()> {
    match command {
        UserCommand::Add { msisdn } => {
            let code = engine.add_user(&msisdn).await?;
            println!("Activation code for {msisdn}: {}", code.code);
            println!("It can be used once, until {} (UTC).", code.expires_at.format("%Y-%m-%d %H:%M:%S"));
            println!(
                "On the phone: mobileid-phone activate --server {} --ca {} --code {}",
                config.public_url,
                config.data_dir.join("ca.pem").display(),
                code.code
            );
        }
        UserCommand::Import { file } => {
            use std::io::Write;
            let text = if file.as_os_str() == "-" {
                std::io::read_to_string(std::io::stdin())?
            } else {
                std::fs::read_to_string(&file).with_context(|| format!("reading {}", file.display()))?
            };
            let msisdns: Vec<String> =
                text.lines().map(str::trim).filter(|line| !line.is_empty()).map(str::to_string).collect();
            let codes = engine.add_users(&msisdns).await?;
            let mut out = std::io::BufWriter::new(std::io::stdout().lock());
            for (msisdn, code) in &codes {
                writeln!(out, "{msisdn} {}", code.code)?;
            }
            out.flush()?;
            eprintln!(
                "{} users enrolled; their codes can be used once, until {} (UTC).",
                codes.len(),
                codes.first().map(|(_, c)| c.expires_at.format("%Y-%m-%d %H:%M:%S").to_string()).unwrap_or_default()
            );
        }
        UserCommand::Show { msisdn } => {
            let Some(user) = engine.show_user(&msisdn).await? else {
                anyhow::bail!("no user with MSISDN {msisdn}");
            };
            println!("MSISDN        : +{}", user.msisdn);
            println!("serial number : {}", user.serial_number);
            println!("state         : {}", user.state);
            if let Some(code) = user.test_fault {
                println!("test number   : always answers fault {code}");
            }
            if let Some(expiry) = user.pending_code_expires_at {
                println!("activation    : a code is open until {} (UTC)", expiry.format("%Y-%m-%d %H:%M:%S"));
            }
            for device in &user.devices {
                println!(
                    "method {:<4}   : {} (device {}, wrong PINs {})",
                    device.method, device.state, device.device_id, device.pin_failures
                );
                println!("  certificate SHA-256 {}", sha256_fingerprint_hex(&device.certificate));
                print!("{}", pem_encode("CERTIFICATE", &device.certificate));
            }
            if user.devices.is_empty() {
                println!("methods       : none (not activated)");
            }
            for certificate in &user.certificates {
                let status = match certificate.revoked {
                    None => format!("valid until {}", certificate.not_after.format("%Y-%m-%d")),
                    Some((at, reason)) => format!(
                        "revoked {} ({})",
                        at.format("%Y-%m-%d %H:%M:%S"),
                        reason.map_or("unspecified", RevocationReason::name)
                    ),
                };
                println!(
                    "certificate {} : {status} ({}, device {})",
                    certificate.serial_hex, certificate.kind, certificate.device_id
                );
            }
        }
    }
    Ok(())
}
