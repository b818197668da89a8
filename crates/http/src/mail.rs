//! E-mail from the platform (activation links and the like): plain-text UTF-8 messages
//! sent over SMTP with lettre, or, when no SMTP server is configured, written to the log
//! so that a local set-up without one still works.
//!
//! TLS is rustls on the workspace's aws-lc-rs provider, with the Mozilla roots of
//! `webpki-roots` (as for reqwest). Each send opens its own connection: mail is rare
//! here, and no pool means no background task, so [`Mailer::new`] needs no runtime.

use std::fmt;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use lettre::message::header::ContentType;
use lettre::message::{Mailbox, MultiPart, SinglePart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

/// How long one send may take, connection and every command included.
const SEND_TIMEOUT: Duration = Duration::from_secs(10);

/// How the connection to the SMTP server is protected.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SmtpSecurity {
    /// Plain connection upgraded with STARTTLS before anything else is sent; refused if
    /// the server does not offer it (usually port 587).
    StartTls,
    /// TLS from the first byte (SMTPS, usually port 465).
    Tls,
    /// No encryption at all: accepted only for a server on a loopback address (a test
    /// sink, or a local relay).
    Plain,
}

#[derive(Clone)]
pub struct SmtpSettings {
    pub host: String,
    pub port: u16,
    pub security: SmtpSecurity,
    pub username: Option<String>,
    pub password: Option<String>,
    /// A CA (PEM) to trust for the server's certificate besides the Mozilla roots: a
    /// relay with a certificate of the organisation's own CA.
    pub ca_file: Option<std::path::PathBuf>,
}

impl fmt::Debug for SmtpSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SmtpSettings")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("security", &self.security)
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| ".."))
            .field("ca_file", &self.ca_file)
            .finish()
    }
}

#[derive(Clone, Debug)]
pub struct MailSettings {
    /// The sender, a mailbox: `Mobile ID <noreply@example.com>` or a bare address.
    pub from: String,
    /// None: messages are logged, not sent.
    pub smtp: Option<SmtpSettings>,
}

/// One plain-text message.
#[derive(Clone, Debug)]
pub struct Email {
    /// A mailbox: `anna@example.com` or `Anna Muster <anna@example.com>`.
    pub to: String,
    pub subject: String,
    /// Plain UTF-8 text; line breaks may be `\n`.
    pub body: String,
}

/// A file sent with a message.
#[derive(Clone)]
pub struct Attachment {
    pub filename: String,
    pub content_type: String,
    pub bytes: Vec<u8>,
}

#[derive(Debug, thiserror::Error)]
pub enum MailError {
    #[error("invalid recipient e-mail address {address:?}: {reason}")]
    InvalidRecipient { address: String, reason: String },
    #[error("the e-mail could not be built: {0}")]
    Message(String),
    #[error("sending e-mail through the SMTP server {server} failed: {reason}")]
    Smtp { server: String, reason: String },
    #[error("sending e-mail through the SMTP server {server} took longer than {} s", SEND_TIMEOUT.as_secs())]
    Timeout { server: String },
}

/// Sends the platform's e-mail; cheap to clone.
#[derive(Clone)]
pub struct Mailer {
    inner: Arc<Inner>,
}

struct Inner {
    from: Mailbox,
    smtp: Option<Smtp>,
}

struct Smtp {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    /// `host:port`, for messages.
    server: String,
}

impl fmt::Debug for Mailer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Mailer")
            .field("from", &self.inner.from.to_string())
            .field("smtp", &self.inner.smtp.as_ref().map(|s| &s.server))
            .finish()
    }
}

impl Mailer {
    /// Checks the settings (the sender must be a mailbox) and prepares the transport; it
    /// connects to nothing.
    pub fn new(settings: &MailSettings) -> Result<Mailer, String> {
        let from: Mailbox = settings
            .from
            .parse()
            .map_err(|e| format!("the mail sender {:?} is not a valid mailbox: {e}", settings.from))?;
        let smtp = settings.smtp.as_ref().map(smtp_transport).transpose()?;
        Ok(Mailer { inner: Arc::new(Inner { from, smtp }) })
    }

    /// Whether messages go to an SMTP server (rather than to the log).
    pub fn is_configured(&self) -> bool {
        self.inner.smtp.is_some()
    }

    pub async fn send(&self, email: &Email) -> Result<(), MailError> {
        self.send_with(email, &[]).await
    }

    /// Sends `email` with files attached (signed PDFs).
    pub async fn send_with(&self, email: &Email, attachments: &[Attachment]) -> Result<(), MailError> {
        let to: Mailbox = email.to.parse().map_err(|e: lettre::address::AddressError| MailError::InvalidRecipient {
            address: email.to.clone(),
            reason: e.to_string(),
        })?;
        // A header is one line: a line break in a subject must not start another header.
        let subject: String = email.subject.chars().map(|c| if c.is_control() { ' ' } else { c }).collect();
        let Some(smtp) = &self.inner.smtp else {
            tracing::info!(
                to = %to,
                subject = %subject,
                body = %email.body,
                "e-mail not sent (no SMTP server configured); it would have been:"
            );
            return Ok(());
        };
        // Under the sender's domain: the host's name may be a container's.
        let message_id = format!("<{}@{}>", uuid::Uuid::new_v4().simple(), self.inner.from.email.domain());
        let message =
            Message::builder().message_id(Some(message_id)).from(self.inner.from.clone()).to(to).subject(subject);
        let message = if attachments.is_empty() {
            message.header(ContentType::TEXT_PLAIN).body(email.body.clone())
        } else {
            let mut parts = MultiPart::mixed().singlepart(SinglePart::plain(email.body.clone()));
            for file in attachments {
                let content_type =
                    ContentType::parse(&file.content_type).map_err(|e| MailError::Message(e.to_string()))?;
                parts = parts.singlepart(
                    lettre::message::Attachment::new(file.filename.clone()).body(file.bytes.clone(), content_type),
                );
            }
            message.multipart(parts)
        }
        .map_err(|e| MailError::Message(e.to_string()))?;
        match tokio::time::timeout(SEND_TIMEOUT, smtp.transport.send(message)).await {
            Ok(Ok(_response)) => Ok(()),
            Ok(Err(e)) => Err(MailError::Smtp { server: smtp.server.clone(), reason: error_chain(&e) }),
            Err(_elapsed) => Err(MailError::Timeout { server: smtp.server.clone() }),
        }
    }
}

fn smtp_transport(settings: &SmtpSettings) -> Result<Smtp, String> {
    let host = settings.host.trim();
    if host.is_empty() {
        return Err("the SMTP host is empty".to_string());
    }
    let server = format!("{host}:{}", settings.port);
    let builder = match settings.security {
        SmtpSecurity::StartTls => AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(host)
            .map_err(|e| format!("SMTP server {server}: {}", error_chain(&e)))?,
        SmtpSecurity::Tls => AsyncSmtpTransport::<Tokio1Executor>::relay(host)
            .map_err(|e| format!("SMTP server {server}: {}", error_chain(&e)))?,
        SmtpSecurity::Plain => {
            if !is_loopback(host) {
                return Err(format!(
                    "SMTP server {server}: security \"plain\" (no encryption) is only accepted for a server on a \
                     loopback address (localhost, 127.0.0.1, ::1); use \"starttls\" or \"tls\""
                ));
            }
            AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host)
        }
    };
    let mut builder = builder.port(settings.port).timeout(Some(SEND_TIMEOUT));
    if let Some(ca_file) = &settings.ca_file {
        let pem = std::fs::read(ca_file).map_err(|e| format!("smtp_ca_file {}: {e}", ca_file.display()))?;
        let ca = Certificate::from_pem(&pem)
            .map_err(|e| format!("smtp_ca_file {}: {}", ca_file.display(), error_chain(&e)))?;
        let parameters = TlsParameters::builder(host.to_string())
            .add_root_certificate(ca)
            .build_rustls()
            .map_err(|e| format!("SMTP server {server}: {}", error_chain(&e)))?;
        builder = match settings.security {
            SmtpSecurity::StartTls => builder.tls(Tls::Required(parameters)),
            SmtpSecurity::Tls => builder.tls(Tls::Wrapper(parameters)),
            SmtpSecurity::Plain => {
                return Err(format!("SMTP server {server}: smtp_ca_file needs \"starttls\" or \"tls\""))
            }
        };
    }
    match (&settings.username, &settings.password) {
        (Some(username), Some(password)) => {
            builder = builder.credentials(Credentials::new(username.clone(), password.clone()));
        }
        (None, None) => {}
        _ => return Err(format!("SMTP server {server}: a user name and a password must be given together")),
    }
    Ok(Smtp { transport: builder.build(), server })
}

fn is_loopback(host: &str) -> bool {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    bare.eq_ignore_ascii_case("localhost") || bare.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// An error with its causes, `a: b: c`, as lettre's own Display leaves the cause out.
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text = format!("{text}: {cause_text}");
        }
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(smtp: Option<SmtpSettings>) -> MailSettings {
        MailSettings { from: "Mobile ID <noreply@localhost>".to_string(), smtp }
    }

    fn smtp(host: &str, security: SmtpSecurity) -> SmtpSettings {
        SmtpSettings { host: host.to_string(), port: 2525, security, username: None, password: None, ca_file: None }
    }

    #[test]
    fn the_sender_must_be_a_mailbox() {
        assert!(Mailer::new(&settings(None)).is_ok());
        let e = Mailer::new(&MailSettings { from: "noreply".to_string(), smtp: None }).unwrap_err();
        assert!(e.contains("\"noreply\"") && e.contains("mailbox"), "{e}");
    }

    #[test]
    fn plain_smtp_only_to_loopback_and_credentials_come_in_pairs() {
        for host in ["127.0.0.1", "localhost", "::1", "[::1]"] {
            assert!(Mailer::new(&settings(Some(smtp(host, SmtpSecurity::Plain)))).is_ok(), "{host}");
        }
        let e = Mailer::new(&settings(Some(smtp("smtp.example.com", SmtpSecurity::Plain)))).unwrap_err();
        assert!(e.contains("loopback"), "{e}");
        assert!(Mailer::new(&settings(Some(smtp("smtp.example.com", SmtpSecurity::StartTls))))
            .unwrap()
            .is_configured());
        assert!(Mailer::new(&settings(Some(smtp("smtp.example.com", SmtpSecurity::Tls)))).is_ok());
        let half = SmtpSettings { username: Some("u".to_string()), ..smtp("smtp.example.com", SmtpSecurity::Tls) };
        assert!(Mailer::new(&settings(Some(half))).unwrap_err().contains("together"));
    }

    #[test]
    fn the_password_stays_out_of_debug() {
        let s = SmtpSettings {
            username: Some("user".to_string()),
            password: Some("hunter2".to_string()),
            ..smtp("smtp.example.com", SmtpSecurity::StartTls)
        };
        let debug = format!("{:?}", settings(Some(s)));
        assert!(debug.contains("user") && !debug.contains("hunter2"), "{debug}");
    }
}
