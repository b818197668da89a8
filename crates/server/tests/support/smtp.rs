//! A real, minimal SMTP server for tests: it listens on 127.0.0.1 on a random port and
//! keeps every message it is given. It offers no extension but STARTTLS, and that only
//! when started with a certificate ([`SmtpSink::start_tls`]); no AUTH or 8BITMIME, so a
//! client sends 7-bit data.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;
use tokio::sync::Notify;
use tokio::task::{JoinHandle, JoinSet};
use tokio_rustls::TlsAcceptor;

/// One message as the sink received it.
#[derive(Debug, Clone)]
pub struct Received {
    /// The envelope sender (`MAIL FROM`), without the angle brackets.
    pub from: String,
    /// The envelope recipients (`RCPT TO`), without the angle brackets.
    pub to: Vec<String>,
    /// The message (headers, blank line, body) after dot-unstuffing, CRLF line ends.
    pub data: String,
}

pub struct SmtpSink {
    port: u16,
    shared: Arc<Shared>,
    accept: JoinHandle<()>,
}

#[derive(Default)]
struct Shared {
    messages: Mutex<Vec<Received>>,
    arrived: Notify,
}

impl SmtpSink {
    pub async fn start() -> SmtpSink {
        SmtpSink::serve(None).await
    }

    /// A sink that offers STARTTLS with this certificate chain and key (DER).
    pub async fn start_tls(chain: Vec<Vec<u8>>, key_pkcs8: Vec<u8>) -> SmtpSink {
        let chain = chain.into_iter().map(rustls::pki_types::CertificateDer::from).collect();
        let key = rustls::pki_types::PrivateKeyDer::Pkcs8(key_pkcs8.into());
        let config = rustls::ServerConfig::builder_with_provider(std::sync::Arc::new(
            rustls::crypto::aws_lc_rs::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .expect("TLS versions")
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .expect("SMTP sink: certificate");
        SmtpSink::serve(Some(TlsAcceptor::from(Arc::new(config)))).await
    }

    async fn serve(tls: Option<TlsAcceptor>) -> SmtpSink {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("SMTP sink: bind 127.0.0.1:0");
        let port = listener.local_addr().unwrap().port();
        let shared = Arc::new(Shared::default());
        let accept = tokio::spawn({
            let shared = shared.clone();
            async move {
                // Sessions live in the set, so dropping the sink ends them too.
                let mut sessions = JoinSet::new();
                while let Ok((stream, _)) = listener.accept().await {
                    while sessions.try_join_next().is_some() {}
                    sessions.spawn(session(stream, shared.clone(), tls.clone()));
                }
            }
        });
        SmtpSink { port, shared, accept }
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Every message received so far, in order.
    pub fn messages(&self) -> Vec<Received> {
        self.shared.messages.lock().unwrap().clone()
    }

    /// Waits until at least `count` messages have arrived and returns them all; panics
    /// after `timeout`.
    pub async fn wait_for(&self, count: usize, timeout: Duration) -> Vec<Received> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            // Registered before looking, so a message stored in between still wakes us.
            let arrived = self.shared.arrived.notified();
            tokio::pin!(arrived);
            arrived.as_mut().enable();
            let messages = self.messages();
            if messages.len() >= count {
                return messages;
            }
            if tokio::time::timeout_at(deadline, arrived).await.is_err() {
                panic!("SMTP sink: {} message(s) within {timeout:?}, expected {count}: {messages:#?}", messages.len());
            }
        }
    }
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        self.accept.abort();
    }
}

/// One SMTP session: a line-based state machine. With `tls`, it offers STARTTLS and goes
/// on over TLS after it.
async fn session<S: AsyncRead + AsyncWrite + Unpin + Send + 'static>(
    stream: S,
    shared: Arc<Shared>,
    tls: Option<TlsAcceptor>,
) {
    let (mut lines, mut write) = {
        let (read, write) = tokio::io::split(stream);
        (BufReader::new(read), write)
    };
    if write.write_all(b"220 127.0.0.1 test SMTP sink ready\r\n").await.is_err() {
        return;
    }
    let starttls = converse(&mut lines, &mut write, &shared, tls.is_some()).await;
    if let (true, Some(acceptor)) = (starttls, tls) {
        // STARTTLS was asked for and answered: the rest of the session is over TLS.
        let stream = lines.into_inner().unsplit(write);
        if let Ok(secured) = acceptor.accept(stream).await {
            let (read, mut write) = tokio::io::split(secured);
            let _ = converse(&mut BufReader::new(read), &mut write, &shared, false).await;
        }
    }
}

/// Commands until QUIT or the end of the connection (false), or (when `starttls` is
/// offered) the STARTTLS command (true), after which the caller starts TLS.
async fn converse<R: AsyncRead + Unpin, W: AsyncWrite + Unpin>(
    lines: &mut BufReader<R>,
    write: &mut W,
    shared: &Shared,
    starttls: bool,
) -> bool {
    let mut from: Option<String> = None;
    let mut to: Vec<String> = Vec::new();
    let mut line = Vec::new();
    loop {
        line.clear();
        match lines.read_until(b'\n', &mut line).await {
            Ok(0) | Err(_) => return false,
            Ok(_) => {}
        }
        let command = String::from_utf8_lossy(&line);
        let command = command.trim_end_matches(['\r', '\n']);
        let verb = command.split(' ').next().unwrap_or("").to_ascii_uppercase();
        let reply: &[u8] = match verb.as_str() {
            "EHLO" if starttls => {
                (from, to) = (None, Vec::new());
                b"250-127.0.0.1\r\n250 STARTTLS\r\n"
            }
            // One line: no extensions are offered.
            "EHLO" | "HELO" => {
                (from, to) = (None, Vec::new());
                b"250 127.0.0.1\r\n"
            }
            "STARTTLS" if starttls => {
                let _ = write.write_all(b"220 go ahead\r\n").await;
                return true;
            }
            "MAIL" => match path(command, "MAIL FROM:") {
                Some(sender) => {
                    (from, to) = (Some(sender), Vec::new());
                    b"250 OK\r\n"
                }
                None => b"501 syntax: MAIL FROM:<address>\r\n",
            },
            "RCPT" => match (&from, path(command, "RCPT TO:")) {
                (None, _) => b"503 MAIL first\r\n",
                (Some(_), Some(recipient)) => {
                    to.push(recipient);
                    b"250 OK\r\n"
                }
                (Some(_), None) => b"501 syntax: RCPT TO:<address>\r\n",
            },
            "DATA" if to.is_empty() => b"503 RCPT first\r\n",
            "DATA" => {
                if write.write_all(b"354 end data with <CR><LF>.<CR><LF>\r\n").await.is_err() {
                    return false;
                }
                let mut data = Vec::new();
                loop {
                    line.clear();
                    match lines.read_until(b'\n', &mut line).await {
                        Ok(0) | Err(_) => return false,
                        Ok(_) => {}
                    }
                    if line == b".\r\n" || line == b".\n" {
                        break;
                    }
                    let unstuffed = if line.starts_with(b".") { &line[1..] } else { &line[..] };
                    data.extend_from_slice(unstuffed);
                }
                let message = Received {
                    from: from.take().unwrap_or_default(),
                    to: std::mem::take(&mut to),
                    data: String::from_utf8_lossy(&data).into_owned(),
                };
                shared.messages.lock().unwrap().push(message);
                shared.arrived.notify_waiters();
                b"250 OK queued\r\n"
            }
            "RSET" => {
                (from, to) = (None, Vec::new());
                b"250 OK\r\n"
            }
            "NOOP" => b"250 OK\r\n",
            "QUIT" => {
                let _ = write.write_all(b"221 bye\r\n").await;
                return false;
            }
            _ => b"500 command not recognised\r\n",
        };
        if write.write_all(reply).await.is_err() {
            return false;
        }
    }
}

/// The address of `MAIL FROM:<a> PARAMS` or `RCPT TO:<a>`, without brackets.
fn path(command: &str, prefix: &str) -> Option<String> {
    let head = command.get(..prefix.len())?;
    if !head.eq_ignore_ascii_case(prefix) {
        return None;
    }
    let rest = command[prefix.len()..].trim_start();
    let address = rest.strip_prefix('<')?.split_once('>')?.0;
    Some(address.to_string())
}

impl Received {
    /// The header's value, continuation lines unfolded; the first one if repeated.
    pub fn header(&self, name: &str) -> Option<String> {
        let (head, _) = self.split();
        let mut value: Option<String> = None;
        for line in head.split("\r\n") {
            match &mut value {
                Some(v) if line.starts_with([' ', '\t']) => v.push_str(line),
                Some(_) => break,
                None => {
                    if let Some((field, rest)) = line.split_once(':') {
                        if field.eq_ignore_ascii_case(name) {
                            value = Some(rest.trim_start().to_string());
                        }
                    }
                }
            }
        }
        value
    }

    /// The Subject header, RFC 2047 encoded words decoded.
    pub fn subject(&self) -> String {
        decode_words(&self.header("Subject").unwrap_or_default())
    }

    /// The plain-text body, its transfer encoding (quoted-printable or base64) undone,
    /// with `\n` line ends.
    pub fn text_body(&self) -> String {
        let (_, body) = self.split();
        let encoding = self.header("Content-Transfer-Encoding").unwrap_or_default().trim().to_ascii_lowercase();
        let bytes = match encoding.as_str() {
            "quoted-printable" => quoted_printable::decode(body, quoted_printable::ParseMode::Strict)
                .expect("SMTP sink: bad quoted-printable body"),
            "base64" => {
                let compact: String = body.split_whitespace().collect();
                STANDARD.decode(compact).expect("SMTP sink: bad base64 body")
            }
            _ => body.as_bytes().to_vec(),
        };
        String::from_utf8(bytes).expect("SMTP sink: the body is not UTF-8").replace("\r\n", "\n")
    }

    fn split(&self) -> (&str, &str) {
        self.data.split_once("\r\n\r\n").unwrap_or((&self.data, ""))
    }
}

/// Decodes RFC 2047 encoded words (`=?utf-8?b?...?=`, `=?utf-8?q?...?=`); white space
/// between two encoded words is dropped, as the RFC says.
fn decode_words(value: &str) -> String {
    let mut out = String::new();
    let mut rest = value;
    let mut after_word = false;
    while let Some(start) = rest.find("=?") {
        let (before, candidate) = rest.split_at(start);
        match encoded_word(candidate) {
            Some((text, len)) => {
                if !(after_word && before.trim().is_empty()) {
                    out.push_str(before);
                }
                out.push_str(&text);
                rest = &candidate[len..];
                after_word = true;
            }
            None => {
                out.push_str(before);
                out.push_str("=?");
                rest = &candidate[2..];
                after_word = false;
            }
        }
    }
    out.push_str(rest);
    out
}

/// `=?charset?enc?text?=` at the start of `s`: the decoded text and the word's length.
fn encoded_word(s: &str) -> Option<(String, usize)> {
    let inner = s.strip_prefix("=?")?;
    let (charset, inner) = inner.split_once('?')?;
    let (encoding, inner) = inner.split_once('?')?;
    let end = inner.find("?=")?;
    let text = &inner[..end];
    let len = 2 + charset.len() + 1 + encoding.len() + 1 + end + 2;
    let bytes = match encoding {
        "b" | "B" => STANDARD.decode(text).ok()?,
        "q" | "Q" => {
            let mut bytes = Vec::new();
            let mut input = text.bytes();
            while let Some(b) = input.next() {
                match b {
                    b'_' => bytes.push(b' '),
                    b'=' => {
                        let hex = [input.next()?, input.next()?];
                        bytes.push(u8::from_str_radix(std::str::from_utf8(&hex).ok()?, 16).ok()?);
                    }
                    _ => bytes.push(b),
                }
            }
            bytes
        }
        _ => return None,
    };
    let text = match charset.to_ascii_lowercase().as_str() {
        "utf-8" | "utf8" | "us-ascii" => String::from_utf8(bytes).ok()?,
        // ISO-8859-1: each byte is the code point.
        "iso-8859-1" | "latin1" => bytes.iter().map(|&b| char::from(b)).collect(),
        _ => return None,
    };
    Some((text, len))
}
