//! The virtual phone: a device-API client that behaves like a Mobile ID app. People use
//! it through the `mobileid-phone` CLI; tests and benchmarks use this library.
//!
//! It holds two keys. The device key signs every API call and is stored as is, so the
//! phone can listen without the PIN. The signing key, whose certificate our CA issues,
//! is stored sealed under a key made from the PIN and a share the server releases only
//! for the right PIN: the server tells wrong PINs, counts them and blocks the key at the
//! limit, and a copy of the state file cannot test PINs offline. Before signing, the phone recomputes
//! what it is asked to sign from what it shows (a text, rows, or a document's name and
//! digest) and refuses anything else.

use std::fmt;
use std::path::Path;
use std::time::Duration;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use mobileid_core::device_api::{
    approve_path, decline_path, prepare_path, ActivationRequest, ActivationResponse, ApproveRequest, DeviceLocation,
    ErrorResponse, InboxResponse, PinUnlockRequest, PinUnlockResponse, PrepareResponse, SignRequest, ACTIVATE_PATH,
    INBOX_PATH, PIN_UNLOCK_PATH, STREAM_PATH,
};
use mobileid_core::{ContentKind, Dtbd, SignContent};
use mobileid_crypto::device_auth::{canonical_request, DeviceAuthorization};
use mobileid_crypto::{
    check_pdf_signed_attributes, signed_attributes_for_digest, verify_signature, CryptoError, DocumentCommitment,
    KeyAlgorithm, PinKey, PinShare, PrivateKey, SubjectKey,
};
use rand::RngCore;
use serde::{Deserialize, Serialize};

#[derive(Debug, thiserror::Error)]
pub enum PhoneError {
    #[error("wrong PIN ({attempts_left} attempts left)")]
    WrongPin { attempts_left: i64 },
    #[error("the PIN is blocked: too many wrong PINs; activate this phone again")]
    PinBlocked,
    #[error("refusing to sign: {0}")]
    Mismatch(String),
    #[error("the server refused: {status} {message}")]
    Server { status: u16, message: String },
    #[error("network: {0}")]
    Network(#[from] reqwest::Error),
    #[error("cryptography: {0}")]
    Crypto(#[from] CryptoError),
    #[error("phone state file: {0}")]
    State(String),
}

pub type Result<T, E = PhoneError> = std::result::Result<T, E>;

/// Everything the phone keeps between runs (the state file).
#[derive(Clone, Serialize, Deserialize)]
pub struct PhoneState {
    pub server: String,
    /// PEM of the CA the phone trusts for the server's TLS certificate, if not a public one.
    pub server_ca_pem: Option<String>,
    pub device_id: String,
    pub msisdn: String,
    pub serial_number: String,
    /// PKCS#8 of the device key (base64).
    pub device_key: String,
    /// The signing key's PKCS#8 sealed under HKDF(PIN key ‖ server share), with the PIN's
    /// salt in its header (base64). Neither the PIN key, its proof, the share nor the
    /// sealing key is kept.
    pub sealed_signing_key: String,
    /// The user certificate and its chain (base64 DER).
    pub certificate: String,
    pub chain: Vec<String>,
    pub blocked: bool,
    /// The user's escrowed encryption keys the server delivered at activation, each
    /// sealed as the signing key is.
    #[serde(default)]
    pub encryption_keys: Vec<SealedEncryptionKey>,
}

/// An escrowed encryption key as the phone keeps it.
#[derive(Clone, Serialize, Deserialize)]
pub struct SealedEncryptionKey {
    /// The encryption certificate (base64 DER).
    pub certificate: String,
    /// The key's PKCS#8, sealed like the signing key (base64).
    pub sealed_key: String,
}

impl fmt::Debug for PhoneState {
    // The device key and the sealed signing key stay out of logs and panic messages.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PhoneState")
            .field("server", &self.server)
            .field("device_id", &self.device_id)
            .field("msisdn", &self.msisdn)
            .field("serial_number", &self.serial_number)
            .field("blocked", &self.blocked)
            .finish_non_exhaustive()
    }
}

/// What the phone shows the user for a request, after checking it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Prompt {
    pub transaction_id: String,
    pub text: String,
    pub language: String,
}

/// A clone is another handle on the same phone (its state as it was, the same keys).
#[derive(Clone)]
pub struct Phone {
    state: PhoneState,
    device_key: PrivateKey,
    http: reqwest::Client,
    /// Where the phone says it is when it approves (geofencing); nothing by default.
    location: Option<DeviceLocation>,
}

impl Phone {
    /// Makes both keys, spends the activation code, and returns the activated phone.
    pub async fn activate(server: &str, server_ca_pem: Option<&str>, code: &str, pin: &str) -> Result<Phone> {
        let pin = pin.to_string();
        let http = http_client(server_ca_pem)?;
        let pin_key = stretch(move || Ok(PinKey::new(&pin))).await?;
        Phone::activate_in_fleet(http, server, server_ca_pem, code, &pin_key).await
    }

    /// Activates one phone of a fleet that a load test runs: over a shared HTTP client
    /// (the phones still hold a connection each while they wait), with a PIN key stretched
    /// once for the whole fleet. The server does exactly the work of [`Phone::activate`];
    /// the fleet saves the PIN stretching on the load generator's CPU, and the phones
    /// share one PIN salt, which only a test may do.
    pub async fn activate_in_fleet(
        http: reqwest::Client,
        server: &str,
        server_ca_pem: Option<&str>,
        code: &str,
        pin_key: &PinKey,
    ) -> Result<Phone> {
        let device_key = PrivateKey::generate(KeyAlgorithm::EcP256)?;
        let signing_key = PrivateKey::generate(KeyAlgorithm::EcP256)?;
        let csr = signing_key.csr_der("Mobile ID phone")?;
        let body = serde_json::to_vec(&ActivationRequest {
            code: code.to_string(),
            csr: STANDARD.encode(csr),
            device_key: STANDARD.encode(device_key.public_key_spki_der()),
            pin_proof: STANDARD.encode(pin_key.proof().0),
        })
        .map_err(|e| PhoneError::State(e.to_string()))?;
        // The device id is not known yet; the server checks the signature with device_key.
        let authorization = sign_request(&device_key, "new", "POST", ACTIVATE_PATH, &body)?;
        let response = http
            .post(format!("{}{ACTIVATE_PATH}", server.trim_end_matches('/')))
            .header("Authorization", authorization)
            .header("Content-Type", "application/json")
            .body(body)
            .send()
            .await?;
        let activation: ActivationResponse = read_json(response).await?;
        let share = decode_share(&activation.pin_share)?;
        let mut encryption_keys = Vec::new();
        for key in &activation.encryption_keys {
            let pkcs8 = STANDARD.decode(&key.private_key).map_err(|e| PhoneError::State(e.to_string()))?;
            let sealed_key = STANDARD.encode(pin_key.seal(&share, &pkcs8));
            encryption_keys.push(SealedEncryptionKey { certificate: key.certificate.clone(), sealed_key });
        }
        let state = PhoneState {
            server: server.trim_end_matches('/').to_string(),
            server_ca_pem: server_ca_pem.map(str::to_string),
            device_id: activation.device_id,
            msisdn: activation.msisdn,
            serial_number: activation.serial_number,
            device_key: STANDARD.encode(device_key.pkcs8_der()),
            sealed_signing_key: STANDARD.encode(pin_key.seal(&share, signing_key.pkcs8_der())),
            certificate: activation.certificate,
            chain: activation.chain,
            blocked: false,
            encryption_keys,
        };
        Ok(Phone { state, device_key, http, location: None })
    }

    pub fn from_state(state: PhoneState) -> Result<Phone> {
        let der = STANDARD.decode(&state.device_key).map_err(|e| PhoneError::State(format!("device_key: {e}")))?;
        let device_key = PrivateKey::from_pkcs8_der(&der)?;
        let http = http_client(state.server_ca_pem.as_deref())?;
        Ok(Phone { state, device_key, http, location: None })
    }

    pub fn load(path: &Path) -> Result<Phone> {
        let text = std::fs::read_to_string(path).map_err(|e| PhoneError::State(format!("{}: {e}", path.display())))?;
        let state: PhoneState =
            serde_json::from_str(&text).map_err(|e| PhoneError::State(format!("{}: {e}", path.display())))?;
        Phone::from_state(state)
    }

    /// Writes the state file. A new file is created readable by its owner only (0600):
    /// it holds the device key, which signs API calls without the PIN.
    pub fn save(&self, path: &Path) -> Result<()> {
        use std::io::Write as _;
        use std::os::unix::fs::OpenOptionsExt as _;
        let text = serde_json::to_string_pretty(&self.state).map_err(|e| PhoneError::State(e.to_string()))?;
        let failed = |e: std::io::Error| PhoneError::State(format!("{}: {e}", path.display()));
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(path)
            .map_err(failed)?;
        file.write_all(text.as_bytes()).map_err(failed)
    }

    /// The location to report with approvals (country, accuracy, confidences), as a
    /// phone's location service would; None reports nothing.
    pub fn set_location(&mut self, location: Option<DeviceLocation>) {
        self.location = location;
    }

    pub fn state(&self) -> &PhoneState {
        &self.state
    }

    /// Pending requests and receipts; waits up to `wait` for one to arrive.
    pub async fn inbox(&self, wait: Duration) -> Result<InboxResponse> {
        let path = format!("{INBOX_PATH}?wait={}", wait.as_secs());
        let response = self.send(reqwest::Method::GET, &path, Vec::new()).await?;
        read_json(response).await
    }

    /// The SSE stream of new requests and receipts, as raw `event:`/`data:` text chunks.
    pub async fn stream(&self) -> Result<reqwest::Response> {
        let response = self.send(reqwest::Method::GET, STREAM_PATH, Vec::new()).await?;
        check_status(response).await
    }

    /// Checks a request before it is shown: the bytes to sign must be exactly what the
    /// displayed content and the nonce produce. Returns what to show.
    pub fn check(&self, request: &SignRequest) -> Result<Prompt> {
        check_request(request)
    }

    /// Unlocks the signing key with the PIN, signs, and sends the approval. The server
    /// tells and counts a wrong PIN.
    pub async fn approve(&mut self, request: &SignRequest, pin: &str) -> Result<()> {
        self.approve_choosing(request, pin, None).await
    }

    /// Like [`Phone::approve`], naming the code the user picked where the request asks
    /// for number matching (`choices`).
    pub async fn approve_choosing(&mut self, request: &SignRequest, pin: &str, choice: Option<&str>) -> Result<()> {
        self.check(request)?;
        if request.choices.is_some() && choice.is_none() {
            return Err(PhoneError::Mismatch("this request needs the user to pick the code shown to them".into()));
        }
        let signing_key = self.unlock(pin).await?;
        self.send_approval(request, &signing_key, choice).await
    }

    /// Opens the signing key with the PIN: sends the PIN's proof to the server, which
    /// counts a wrong one and releases its share for the right one; the key opens with
    /// both. The key derivation is deliberately slow, so it runs off the async workers.
    pub async fn unlock(&mut self, pin: &str) -> Result<PrivateKey> {
        let (pin_key, share) = self.unlock_share(pin).await?;
        let sealed = STANDARD.decode(&self.state.sealed_signing_key).map_err(|e| PhoneError::State(e.to_string()))?;
        // The server vouched for the PIN, so a failure here is a damaged state file.
        let pkcs8 = pin_key.open(&share, &sealed)?;
        Ok(PrivateKey::from_pkcs8_der(&pkcs8)?)
    }

    /// Opens the escrowed encryption keys with the PIN, as [`Phone::unlock`] opens the
    /// signing key: each with its certificate (DER).
    pub async fn open_encryption_keys(&mut self, pin: &str) -> Result<Vec<(Vec<u8>, PrivateKey)>> {
        let (pin_key, share) = self.unlock_share(pin).await?;
        let mut keys = Vec::new();
        for key in &self.state.encryption_keys {
            let decode = |value: &str| STANDARD.decode(value).map_err(|e| PhoneError::State(e.to_string()));
            let pkcs8 = pin_key.open(&share, &decode(&key.sealed_key)?)?;
            keys.push((decode(&key.certificate)?, PrivateKey::from_pkcs8_der(&pkcs8)?));
        }
        Ok(keys)
    }

    /// The PIN's key and the server's share for it: the server counts a wrong PIN.
    async fn unlock_share(&mut self, pin: &str) -> Result<(PinKey, PinShare)> {
        if self.state.blocked {
            return Err(PhoneError::PinBlocked);
        }
        let sealed = STANDARD.decode(&self.state.sealed_signing_key).map_err(|e| PhoneError::State(e.to_string()))?;
        let pin = pin.to_string();
        let pin_key = stretch(move || PinKey::for_sealed(&pin, &sealed)).await?;
        let share = self.share_for(&pin_key).await?;
        Ok((pin_key, share))
    }

    /// Unlocks the signing key with a PIN key stretched beforehand: a fleet's (see
    /// [`Phone::activate_in_fleet`]).
    pub async fn unlock_with(&mut self, pin_key: &PinKey) -> Result<PrivateKey> {
        if self.state.blocked {
            return Err(PhoneError::PinBlocked);
        }
        let share = self.share_for(pin_key).await?;
        let sealed = STANDARD.decode(&self.state.sealed_signing_key).map_err(|e| PhoneError::State(e.to_string()))?;
        let pkcs8 = pin_key.open(&share, &sealed)?;
        Ok(PrivateKey::from_pkcs8_der(&pkcs8)?)
    }

    /// Asks the server for its share of the key, proving the PIN: the server counts a
    /// wrong one.
    async fn share_for(&mut self, pin_key: &PinKey) -> Result<PinShare> {
        let body = serde_json::to_vec(&PinUnlockRequest { pin_proof: STANDARD.encode(pin_key.proof().0) })
            .map_err(|e| PhoneError::State(e.to_string()))?;
        let response = self.send(reqwest::Method::POST, PIN_UNLOCK_PATH, body).await?;
        if response.status() == reqwest::StatusCode::FORBIDDEN {
            self.state.blocked = true;
            return Err(PhoneError::PinBlocked);
        }
        let unlock: PinUnlockResponse = read_json(response).await?;
        let Some(share) = unlock.share else {
            return Err(PhoneError::WrongPin { attempts_left: unlock.attempts_left });
        };
        decode_share(&share)
    }

    /// Checks the request, signs it with an already unlocked key and sends the approval (a
    /// phone that keeps its key open between approvals, as after a biometric unlock). With a
    /// key other than the certified one, this is what a forged answer looks like.
    pub async fn approve_unlocked(&self, request: &SignRequest, signing_key: &PrivateKey) -> Result<()> {
        self.check(request)?;
        self.send_approval(request, signing_key, None).await
    }

    async fn send_approval(&self, request: &SignRequest, signing_key: &PrivateKey, choice: Option<&str>) -> Result<()> {
        let signature = if request.kind == Some(ContentKind::Document) {
            // Approved: now the server prepares the revision, and the phone signs at once.
            let response =
                self.send(reqwest::Method::POST, &prepare_path(&request.transaction_id), b"{}".to_vec()).await?;
            let prepared: PrepareResponse = read_json(response).await?;
            let to_be_signed = check_prepared(request, &prepared.to_be_signed)?;
            let signature = signing_key.sign(&to_be_signed)?;
            // The certificate the signature will name must certify this very key.
            let (_, certificate) = document_commitment(request)?;
            let certified = SubjectKey::from_certificate_der(&certificate)?;
            if verify_signature(&certified, &to_be_signed, &signature).is_err() {
                return Err(PhoneError::Mismatch("the certificate offered is not this phone's".into()));
            }
            signature
        } else {
            let to_be_signed =
                STANDARD.decode(&request.to_be_signed).map_err(|_| PhoneError::Mismatch("bad to_be_signed".into()))?;
            signing_key.sign(&to_be_signed)?
        };
        let approval = ApproveRequest {
            signature: STANDARD.encode(signature),
            choice: choice.map(str::to_string),
            location: self.location.clone(),
        };
        let body = serde_json::to_vec(&approval).map_err(|e| PhoneError::State(e.to_string()))?;
        let response = self.send(reqwest::Method::POST, &approve_path(&request.transaction_id), body).await?;
        check_status(response).await.map(drop)
    }

    pub async fn decline(&self, request: &SignRequest) -> Result<()> {
        let response = self.send(reqwest::Method::POST, &decline_path(&request.transaction_id), b"{}".to_vec()).await?;
        check_status(response).await.map(drop)
    }

    /// Sends a request signed with the device key.
    pub async fn send(
        &self,
        method: reqwest::Method,
        path_and_query: &str,
        body: Vec<u8>,
    ) -> Result<reqwest::Response> {
        let authorization =
            sign_request(&self.device_key, &self.state.device_id, method.as_str(), path_and_query, &body)?;
        self.send_with_authorization(method, path_and_query, body, &authorization).await
    }

    /// Sends a request with the given `Authorization` value (tests use it to replay or forge).
    pub async fn send_with_authorization(
        &self,
        method: reqwest::Method,
        path_and_query: &str,
        body: Vec<u8>,
        authorization: &str,
    ) -> Result<reqwest::Response> {
        let mut request = self
            .http
            .request(method, format!("{}{path_and_query}", self.state.server))
            .header("Authorization", authorization);
        if !body.is_empty() {
            request = request.header("Content-Type", "application/json").body(body);
        }
        Ok(request.send().await?)
    }

    /// The `Authorization` header this phone would send now (for replay tests).
    pub fn authorization(&self, method: &str, path_and_query: &str, body: &[u8]) -> Result<String> {
        sign_request(&self.device_key, &self.state.device_id, method, path_and_query, body)
    }
}

/// What the request asks the user to sign, read from the fields the phone shows: the
/// text or rows, or the document's name and digest.
fn shown_content(request: &SignRequest) -> Result<SignContent> {
    if request.kind == Some(ContentKind::Document) {
        let name = request.document_name.clone().ok_or_else(|| PhoneError::Mismatch("no document name".into()))?;
        let sha256: [u8; 32] = request
            .digest
            .as_deref()
            .and_then(|d| STANDARD.decode(d).ok())
            .and_then(|d| d.try_into().ok())
            .ok_or_else(|| PhoneError::Mismatch("bad document digest".into()))?;
        return Ok(SignContent::Document { name, sha256 });
    }
    let dtbd = Dtbd::from_wire(&request.mime_type, &request.data)
        .map_err(|f| PhoneError::Mismatch(format!("cannot display the request: {}", f.detail)))?;
    let content = SignContent::from(dtbd);
    // An older server sends no kind; a newer one must name what the data is.
    if request.kind.is_some_and(|kind| kind != content.kind()) {
        return Err(PhoneError::Mismatch("the request's kind does not match its data".into()));
    }
    Ok(content)
}

/// Checks a request before it is shown: the signed attributes offered must be exactly
/// what the shown content and the nonce produce. Returns what to show.
pub fn check_request(request: &SignRequest) -> Result<Prompt> {
    let content = shown_content(request)?;
    let nonce: [u8; 8] = STANDARD
        .decode(&request.nonce)
        .ok()
        .and_then(|n| n.try_into().ok())
        .ok_or_else(|| PhoneError::Mismatch("bad nonce".into()))?;
    if let SignContent::Document { .. } = content {
        // What a document's signature covers is prepared after the approval
        // (`check_prepared`); until then there must be nothing to sign.
        document_commitment(request)?;
        if !request.to_be_signed.is_empty() {
            return Err(PhoneError::Mismatch("a document's attributes come after the approval".into()));
        }
    } else {
        let expected = signed_attributes_for_digest(&content.message_digest(), &nonce);
        let offered =
            STANDARD.decode(&request.to_be_signed).map_err(|_| PhoneError::Mismatch("bad to_be_signed".into()))?;
        if expected != offered {
            return Err(PhoneError::Mismatch("what the server asks to sign is not what is shown".into()));
        }
    }
    Ok(Prompt {
        transaction_id: request.transaction_id.clone(),
        text: display(&content),
        language: request.language.clone(),
    })
}

/// What a document request commits to (the document shown: name, length, SHA-256),
/// and the certificate its signature will name.
fn document_commitment(request: &SignRequest) -> Result<(DocumentCommitment, Vec<u8>)> {
    let Ok(SignContent::Document { name, sha256 }) = shown_content(request) else {
        return Err(PhoneError::Mismatch("not a document request".into()));
    };
    let length = request.document_length.ok_or_else(|| PhoneError::Mismatch("no document length".into()))?;
    let certificate = request
        .signing_certificate
        .as_deref()
        .and_then(|c| STANDARD.decode(c).ok())
        .ok_or_else(|| PhoneError::Mismatch("no signing certificate".into()))?;
    Ok((DocumentCommitment { name, length, sha256 }, certificate))
}

/// Checks the attributes the server prepared for an approved document request: exactly
/// those of the document shown, this request's nonce and the certificate offered, over
/// whatever revision. Returns the bytes to sign.
pub fn check_prepared(request: &SignRequest, offered: &str) -> Result<Vec<u8>> {
    let (commitment, certificate) = document_commitment(request)?;
    let nonce: [u8; 8] = STANDARD
        .decode(&request.nonce)
        .ok()
        .and_then(|n| n.try_into().ok())
        .ok_or_else(|| PhoneError::Mismatch("bad nonce".into()))?;
    let offered = STANDARD.decode(offered).map_err(|_| PhoneError::Mismatch("bad to_be_signed".into()))?;
    check_pdf_signed_attributes(&offered, &nonce, &certificate, &commitment)
        .map_err(|_| PhoneError::Mismatch("what the server asks to sign is not the document shown".into()))?;
    Ok(offered)
}

/// The text the phone shows: a document as its name and the hex SHA-256 the user can
/// compare with the requester's.
fn display(content: &SignContent) -> String {
    match content {
        SignContent::Text(text) => text.clone(),
        SignContent::TxnApproval(approval) => Dtbd::TxnApproval(approval.clone()).display_text(),
        SignContent::Document { name, sha256 } => format!("Document: {name}\nSHA-256: {}", hex::encode(sha256)),
    }
}

/// Runs the PIN's key derivation (PBKDF2, deliberately slow) off the async workers.
async fn stretch(derive: impl FnOnce() -> Result<PinKey, CryptoError> + Send + 'static) -> Result<PinKey> {
    let derived = tokio::task::spawn_blocking(derive)
        .await
        .map_err(|e| PhoneError::State(format!("deriving the PIN key: {e}")))?;
    Ok(derived?)
}

fn decode_share(share: &str) -> Result<PinShare> {
    let bytes = STANDARD.decode(share).ok().and_then(|b| <[u8; 32]>::try_from(b).ok());
    bytes.map(PinShare).ok_or_else(|| PhoneError::State("the server's PIN share is not 32 bytes of base64".into()))
}

fn sign_request(key: &PrivateKey, device_id: &str, method: &str, path_and_query: &str, body: &[u8]) -> Result<String> {
    let timestamp_ms = chrono::Utc::now().timestamp_millis();
    let mut nonce = [0u8; 16];
    rand::thread_rng().fill_bytes(&mut nonce);
    let nonce = hex::encode(nonce);
    let signature = key.sign(&canonical_request(method, path_and_query, timestamp_ms, &nonce, body))?;
    Ok(DeviceAuthorization { device_id: device_id.to_string(), timestamp_ms, nonce, signature }.to_header())
}

/// Makes aws-lc-rs the process-wide rustls provider, if none is set yet. reqwest is built
/// without a provider of its own (its default would bring ring as a second crypto
/// backend), so a program must call this before it builds a reqwest client.
pub fn install_crypto_provider() {
    // An error only says a provider is already installed, which is just as good.
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
}

/// How long the phone keeps an unused connection for its next call: well under the
/// server's idle limit (10 s by default), after which the server closes it. A connection
/// kept longer can be taken for a call at the moment the server closes it, before the
/// phone has read the close, and that call fails with nothing answered.
const POOL_IDLE: Duration = Duration::from_secs(4);

fn http_client(server_ca_pem: Option<&str>) -> Result<reqwest::Client> {
    install_crypto_provider();
    let mut builder = reqwest::Client::builder().use_rustls_tls().pool_idle_timeout(POOL_IDLE);
    if let Some(pem) = server_ca_pem {
        builder = builder.add_root_certificate(reqwest::Certificate::from_pem(pem.as_bytes())?);
    }
    Ok(builder.build()?)
}

async fn check_status(response: reqwest::Response) -> Result<reqwest::Response> {
    if response.status().is_success() {
        return Ok(response);
    }
    let status = response.status().as_u16();
    let text = response.text().await.unwrap_or_default();
    let message = serde_json::from_str::<ErrorResponse>(&text).map(|e| e.message).unwrap_or(text);
    Err(PhoneError::Server { status, message })
}

async fn read_json<T: serde::de::DeserializeOwned>(response: reqwest::Response) -> Result<T> {
    let response = check_status(response).await?;
    Ok(response.json().await?)
}

#[cfg(test)]
mod tests {
    use mobileid_core::dtbd::{TEXT_PLAIN, TXN_APPROVAL};

    use super::*;

    const NONCE: [u8; 8] = [1, 2, 3, 4, 5, 6, 7, 8];
    const DOCUMENT_LENGTH: u64 = 48_213;

    /// A signing key and its certificate, made once for the tests.
    fn signer() -> &'static (PrivateKey, Vec<u8>) {
        static SIGNER: std::sync::OnceLock<(PrivateKey, Vec<u8>)> = std::sync::OnceLock::new();
        SIGNER.get_or_init(|| {
            let ca = mobileid_crypto::CertificateAuthority::create("Test", None).unwrap();
            let key = PrivateKey::generate(KeyAlgorithm::EcP256).unwrap();
            let cert = ca.issue_user_certificate(&key.csr_der("phone").unwrap(), "MIDCHE0123456789", 30, None).unwrap();
            (key, cert)
        })
    }

    const APPROVAL: &str = r#"{"type":"Pay","dtbd":[{"key":"To","value":"Bob"},{"key":"Amount","value":"CHF 10"}]}"#;

    /// A request as an honest server sends it for `content`.
    fn request(content: &SignContent) -> SignRequest {
        let (mime_type, data) = content.to_device();
        let (document_name, digest) = match content {
            SignContent::Document { name, sha256 } => (Some(name.clone()), Some(STANDARD.encode(sha256))),
            _ => (None, None),
        };
        let document = matches!(content, SignContent::Document { .. });
        SignRequest {
            transaction_id: "H1".into(),
            kind: Some(content.kind()),
            mime_type,
            data,
            document_name,
            digest,
            document_length: document.then_some(DOCUMENT_LENGTH),
            signing_certificate: document.then(|| STANDARD.encode(&signer().1)),
            language: "en".into(),
            nonce: STANDARD.encode(NONCE),
            to_be_signed: if document {
                String::new()
            } else {
                STANDARD.encode(signed_attributes_for_digest(&content.message_digest(), &NONCE))
            },
            expires_at: 0,
            choices: None,
            requester: None,
        }
    }

    fn contents() -> Vec<SignContent> {
        let approval = Dtbd::from_wire(TXN_APPROVAL, APPROVAL).unwrap();
        vec![
            SignContent::Text("Bank: log in?".into()),
            SignContent::from(approval),
            SignContent::Document { name: "contract.pdf".into(), sha256: [0x5a; 32] },
        ]
    }

    #[test]
    fn an_honest_request_of_each_kind_passes_and_shows_what_is_signed() {
        let shown: Vec<String> = contents().iter().map(|c| check_request(&request(c)).unwrap().text).collect();
        assert_eq!(shown[0], "Bank: log in?");
        assert_eq!(shown[1], "Pay\nTo: Bob\nAmount: CHF 10");
        assert_eq!(shown[2], format!("Document: contract.pdf\nSHA-256: {}", "5a".repeat(32)));
        // An older server sends no kind: texts and approvals still pass.
        for content in &contents()[..2] {
            assert!(check_request(&SignRequest { kind: None, ..request(content) }).is_ok());
        }
    }

    #[test]
    fn a_request_whose_to_be_signed_is_not_what_is_shown_is_refused_for_each_kind() {
        let other = SignContent::Text("Pay CHF 10000 to Mallory".into());
        let forged = STANDARD.encode(signed_attributes_for_digest(&other.message_digest(), &NONCE));
        for content in contents() {
            let honest = request(&content);
            let forged = SignRequest { to_be_signed: forged.clone(), ..honest.clone() };
            assert!(matches!(check_request(&forged), Err(PhoneError::Mismatch(_))), "{content:?}");
            if content.kind() == ContentKind::Document {
                continue;
            }
            // The same attributes under another nonce are not what is shown either.
            let renonced = SignRequest { nonce: STANDARD.encode([9u8; 8]), ..honest };
            assert!(matches!(check_request(&renonced), Err(PhoneError::Mismatch(_))), "{content:?}");
        }
        // Shown text changed under honest attributes; a document shown with another digest.
        let text = request(&contents()[0]);
        assert!(check_request(&SignRequest { data: "Bank: log out?".into(), ..text.clone() }).is_err());
        let rows = request(&contents()[1]);
        let edited = APPROVAL.replace("CHF 10", "CHF 99");
        assert!(check_request(&SignRequest { data: edited, ..rows }).is_err());
        let doc = request(&contents()[2]);
        assert!(check_request(&SignRequest { signing_certificate: None, ..doc.clone() }).is_err());
        assert!(check_request(&SignRequest { document_length: None, ..doc }).is_err());
        // A kind that contradicts the data is refused before anything is shown.
        assert!(check_request(&SignRequest { kind: Some(ContentKind::TxnApproval), ..text.clone() }).is_err());
        assert_eq!(text.mime_type, TEXT_PLAIN);
    }

    #[test]
    fn a_document_is_signed_only_over_attributes_of_the_document_shown() {
        let content = SignContent::Document { name: "contract.pdf".into(), sha256: [0x5a; 32] };
        let honest = request(&content);
        let (_, cert) = signer();
        let shown = DocumentCommitment { name: "contract.pdf".into(), length: DOCUMENT_LENGTH, sha256: [0x5a; 32] };
        let attributes = |document: &DocumentCommitment, nonce: &[u8; 8]| {
            STANDARD.encode(mobileid_crypto::pdf_signed_attributes(&[0x77; 32], nonce, cert, document).unwrap())
        };
        // Any revision of the document shown passes.
        assert!(check_prepared(&honest, &attributes(&shown, &NONCE)).is_ok());
        // Another document, another length, another nonce: refused.
        for (document, nonce) in [
            (DocumentCommitment { sha256: [0x5b; 32], ..shown.clone() }, NONCE),
            (DocumentCommitment { length: 1, ..shown.clone() }, NONCE),
            (DocumentCommitment { name: "other.pdf".into(), ..shown.clone() }, NONCE),
            (shown.clone(), [9; 8]),
        ] {
            assert!(matches!(check_prepared(&honest, &attributes(&document, &nonce)), Err(PhoneError::Mismatch(_))));
        }
        // Attributes of a text are not a document's.
        let text = STANDARD.encode(signed_attributes_for_digest(&[0x5a; 32], &NONCE));
        assert!(check_prepared(&honest, &text).is_err());
    }
}
