//! The engine driven through its public API on a real SQLite database in a temporary
//! directory (and the async expiry also on a fresh schema of the PostgreSQL database `test`
//! on 127.0.0.1:5432, as in the store's tests), with a manual clock: expiries and clock
//! windows are tested by setting the time, never by sleeping.

use std::sync::Arc;
use std::time::Duration;

use mobileid_core::{FaultCode, Requester, SignContent, Timestamp, TxKind, TxState};
use mobileid_crypto::device_auth::{canonical_request, DeviceAuthorization};
use mobileid_crypto::{verify_detached_signed_data, KeyAlgorithm, MasterKey, PinKey, PrivateKey};
use mobileid_engine::admin::default_profiles;
use mobileid_engine::devices::NewPhone;
use mobileid_engine::mss::messages::{DataInput, FrameInput, SignatureInput, StatusInput, StatusOutcome};
use mobileid_engine::signing::envelopes::{NewEnvelope, NewSigner};
use mobileid_engine::signing::{Placement, SignatureAsk, SigningError};
use mobileid_engine::transactions::NewTransaction;
use mobileid_engine::{Ap, ClientIdentity, DeviceError, Engine, EngineConfig, ManualClock, TransactionError};
use mobileid_pdf::PdfError;
use mobileid_store::{DeviceRecord, Store};
use sha2::{Digest, Sha256};
use sqlx::Connection;

const AP_ID: &str = "mid://engine.test";
const ACTIVATE_PATH: &str = "/device/v1/activate";

const PG_ADMIN_URL: &str = "postgres://postgres@127.0.0.1:5432/test";

struct World {
    engine: Engine,
    clock: Arc<ManualClock>,
    /// The PostgreSQL schema to drop at the end, if the world lives there.
    schema: Option<String>,
    _dir: tempfile::TempDir,
}

impl World {
    async fn end(self) {
        self.engine.store().close().await;
        if let Some(schema) = self.schema {
            let mut admin = sqlx::PgConnection::connect(PG_ADMIN_URL).await.expect("PostgreSQL");
            sqlx::query(&format!("DROP SCHEMA \"{schema}\" CASCADE")).execute(&mut admin).await.expect("drop");
        }
    }
}

async fn world() -> World {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("engine.db").display());
    world_at(&url, None, dir).await
}

async fn postgres_world(name: &str) -> World {
    let schema = format!("en_{name}_{}", std::process::id());
    let mut admin = sqlx::PgConnection::connect(PG_ADMIN_URL)
        .await
        .unwrap_or_else(|e| panic!("PostgreSQL at {PG_ADMIN_URL} is needed for this test: {e}"));
    sqlx::query(&format!("CREATE SCHEMA \"{schema}\"")).execute(&mut admin).await.expect("create schema");
    let url = format!("{PG_ADMIN_URL}?options=-c%20search_path%3D{schema}");
    world_at(&url, Some(schema), tempfile::tempdir().expect("tempdir")).await
}

async fn world_at(url: &str, schema: Option<String>, dir: tempfile::TempDir) -> World {
    world_configured(url, schema, dir, EngineConfig::default()).await
}

async fn world_configured(url: &str, schema: Option<String>, dir: tempfile::TempDir, config: EngineConfig) -> World {
    let store = Store::connect(url).await.expect("store");
    let clock = Arc::new(ManualClock::starting_now());
    let engine = Engine::start_with_clock(store, MasterKey::generate(), config, clock.clone()).await.expect("engine");
    let ap = Ap {
        ap_id: AP_ID.into(),
        name: "Engine test".into(),
        dtbd_prefix: String::new(),
        allowed_profiles: default_profiles(),
        auth_profile1_maps_to: mobileid_core::SignatureProfile::AnyLoA4,
        permissions: Vec::new(),
    };
    engine.store().upsert_ap(&ap.to_record(engine.now())).await.expect("AP");
    World { engine, clock, schema, _dir: dir }
}

/// A phone: the device key that signs its calls and the signing key it certifies.
struct Phone {
    device_key: PrivateKey,
    signing_key: PrivateKey,
    device: DeviceRecord,
}

fn proof(
    key: &PrivateKey,
    device_id: &str,
    ts: i64,
    nonce: &str,
    method: &str,
    path: &str,
    body: &[u8],
) -> DeviceAuthorization {
    let signature = key.sign(&canonical_request(method, path, ts, nonce, body)).expect("sign");
    DeviceAuthorization { device_id: device_id.into(), timestamp_ms: ts, nonce: nonce.into(), signature }
}

async fn activate(world: &World, code: &str) -> Result<Phone, DeviceError> {
    let device_key = PrivateKey::generate(KeyAlgorithm::EcP256).expect("device key");
    let signing_key = PrivateKey::generate(KeyAlgorithm::EcP256).expect("signing key");
    let csr = signing_key.csr_der("phone").expect("csr");
    let body = b"{}";
    let now = world.engine.now().as_millis();
    let auth = proof(&device_key, "new", now, &format!("n{now}"), "POST", ACTIVATE_PATH, body);
    let spki = device_key.public_key_spki_der();
    let pin_proof = PinKey::new("123456").proof();
    let phone = NewPhone { code, csr_der: &csr, device_key_spki: &spki, pin_proof: &pin_proof };
    let activation = world.engine.activate(&phone, &auth, ACTIVATE_PATH, body).await?;
    let device = world.engine.store().find_device(&activation.device_id).await.expect("read").expect("device");
    Ok(Phone { device_key, signing_key, device })
}

async fn enrolled(world: &World, msisdn: &str) -> Phone {
    let code = world.engine.add_user(msisdn).await.expect("user").code;
    activate(world, &code).await.expect("activation")
}

fn frame(world: &World, ap_trans_id: &str) -> FrameInput {
    let instant = world.engine.now().to_datetime().expect("now").format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string();
    FrameInput {
        major_version: Some("1".into()),
        minor_version: Some("1".into()),
        ap_id: Some(AP_ID.into()),
        ap_pwd: None,
        ap_trans_id: Some(ap_trans_id.into()),
        instant: Some(instant),
    }
}

fn ask(document_id: &str, msisdn: &str, name: &str, row: f32) -> SignatureAsk {
    SignatureAsk {
        document_id: document_id.into(),
        msisdn: msisdn.into(),
        signer_name: name.into(),
        placement: Some(Placement {
            page: 1,
            x: 56.0,
            y: 56.0 + 70.0 * row,
            width: 220.0,
            height: 56.0,
            reference: "ENV-TEST".into(),
        }),
        language: "en".into(),
        requester: Requester::Sender("tests".into()),
        lifetime: Duration::from_secs(300),
    }
}

/// The phone's side after the user approved a document request: ask what to sign, sign.
async fn sign_document(world: &World, phone: &Phone, transaction_id: &str) -> Result<(), DeviceError> {
    let to_be_signed = world.engine.prepare_signature(&phone.device, transaction_id).await?;
    let signature = phone.signing_key.sign(&to_be_signed).expect("sign");
    world.engine.approve(&phone.device, transaction_id, &signature, None, None).await
}

#[tokio::test]
async fn two_signers_of_one_document_take_turns_only_for_the_cryptographic_step() {
    let world = world().await;
    let anna = enrolled(&world, "+41791234567").await;
    let luca = enrolled(&world, "+41791234568").await;
    let pdf = mobileid_pdf::sample::document("Contract", 2, 500, false);
    let document = world.engine.add_document("contract.pdf", pdf.clone()).await.expect("a PDF");
    let first =
        world.engine.ask_document_signature(ask(&document.document_id, "+41791234567", "Anna", 0.0)).await.unwrap();
    let second =
        world.engine.ask_document_signature(ask(&document.document_id, "+41791234568", "Luca", 1.0)).await.unwrap();

    // The phone shows the document (name, SHA-256, length) and has nothing to sign yet.
    let inbox = world.engine.inbox(&anna.device, Duration::ZERO).await.expect("inbox");
    let request = &inbox.requests[0];
    let sha256: [u8; 32] = Sha256::digest(&pdf).into();
    assert_eq!(request.content, SignContent::Document { name: "contract.pdf".into(), sha256 });
    assert!(request.to_be_signed.is_empty());
    assert_eq!(request.document.as_ref().map(|d| d.0), Some(pdf.len() as u64));
    // An approval before the prepare step is refused.
    let early = world.engine.approve(&anna.device, &first.id, &[1, 2, 3], None, None).await;
    assert!(matches!(early, Err(DeviceError::Request(TransactionError::Invalid(_)))), "{early:?}");

    // Both approve together: Anna's phone prepares first, so Luca's waits for her signature.
    let anna_attributes = world.engine.prepare_signature(&anna.device, &first.id).await.expect("prepared");
    let engine = world.engine.clone();
    let luca_device = luca.device.clone();
    let second_id = second.id.clone();
    let waiting = tokio::spawn(async move { engine.prepare_signature(&luca_device, &second_id).await });
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(!waiting.is_finished(), "the second signer waits for the lease");
    // A signature over anything else than the prepared attributes is refused...
    let forged = anna.signing_key.sign(b"another revision").unwrap();
    let refused = world.engine.approve(&anna.device, &first.id, &forged, None, None).await;
    assert_eq!(refused, Err(DeviceError::Request(TransactionError::BadSignature)));
    // ...the right one is embedded, and the next signer goes on.
    let signature = anna.signing_key.sign(&anna_attributes).unwrap();
    world.engine.approve(&anna.device, &first.id, &signature, None, None).await.expect("embedded");
    let luca_attributes = waiting.await.unwrap().expect("prepared after Anna's signature");
    let signature = luca.signing_key.sign(&luca_attributes).unwrap();
    world.engine.approve(&luca.device, &second.id, &signature, None, None).await.expect("embedded");

    let (revision, signed) = world.engine.document_content(&document.document_id).await.unwrap();
    assert_eq!(revision, 2);
    assert!(signed.starts_with(&pdf));
    assert_eq!(mobileid_pdf::inspect(&signed).unwrap().signatures, 2);
    for id in [&first.id, &second.id] {
        let done = world.engine.store().find_transaction(id).await.unwrap().unwrap();
        assert_eq!(done.state, TxState::Signed);
        let cms = done.signature.expect("CMS");
        assert!(signed.windows(64).any(|w| w == hex::encode_upper(&cms[..32]).as_bytes()), "embedded");
    }
    // A third request on the signed document, by a phone that signs in one go.
    let third =
        world.engine.ask_document_signature(ask(&document.document_id, "+41791234567", "Anna", 2.0)).await.unwrap();
    sign_document(&world, &anna, &third.id).await.expect("signed");
    assert_eq!(world.engine.document_content(&document.document_id).await.unwrap().0, 3);
    world.end().await;
}

#[tokio::test]
async fn what_is_not_a_signable_pdf_is_refused_with_the_reason() {
    let world = world().await;
    let refused = world.engine.add_document("x.pdf", b"not a PDF".to_vec()).await;
    assert!(matches!(refused, Err(SigningError::Document(PdfError::Malformed(_)))), "{refused:?}");
    let pdf = mobileid_pdf::sample::document("Short", 1, 100, false);
    let document = world.engine.add_document("short.pdf", pdf).await.unwrap();
    let nobody = world.engine.ask_document_signature(ask(&document.document_id, "+41790000001", "Nobody", 0.0)).await;
    assert!(matches!(nobody, Err(SigningError::Signer(_))), "{nobody:?}");
    let _phone = enrolled(&world, "+41791234567").await;
    let off_page = SignatureAsk {
        placement: Some(Placement { page: 2, ..ask("", "", "", 0.0).placement.unwrap() }),
        ..ask(&document.document_id, "+41791234567", "Anna", 0.0)
    };
    let refused = world.engine.ask_document_signature(off_page).await;
    assert!(matches!(&refused, Err(SigningError::Placement(m)) if m.contains("1 page")), "{refused:?}");
    world.end().await;
}

#[tokio::test]
async fn with_signing_certificates_a_document_carries_the_signing_certificate_and_a_text_the_other() {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("engine.db").display());
    let config = EngineConfig { signing_certificates: true, ..EngineConfig::default() };
    let world = world_configured(&url, None, dir, config).await;
    let phone = enrolled(&world, "+41791234569").await;
    let signing = world.engine.store().signing_certificate(&phone.device.device_id).await.unwrap().expect("issued");
    assert_ne!(signing, phone.device.cert_der);
    let kinds: Vec<_> =
        world.engine.store().certificates_of_user("41791234569").await.unwrap().into_iter().map(|c| c.kind).collect();
    assert_eq!(kinds.len(), 2);
    assert!(kinds.contains(&mobileid_core::CertificateKind::Signing));

    let pdf = mobileid_pdf::sample::document("Offer", 1, 100, true);
    let document = world.engine.add_document("offer.pdf", pdf).await.unwrap();
    let asked =
        world.engine.ask_document_signature(ask(&document.document_id, "+41791234569", "Anna", 0.0)).await.unwrap();
    sign_document(&world, &phone, &asked.id).await.expect("signed");
    let cms = world.engine.store().find_transaction(&asked.id).await.unwrap().unwrap().signature.expect("CMS");
    let (_, signed) = world.engine.document_content(&document.document_id).await.unwrap();
    assert!(signed.windows(64).any(|w| w == hex::encode_upper(&cms[..32]).as_bytes()), "embedded");
    let names = |cert: &[u8]| cms.windows(cert.len()).any(|w| w == cert);
    assert!(names(&signing) && !names(&phone.device.cert_der), "a document names the signing certificate");
    for (content, expected) in [(SignContent::Text("Log in?".into()), &phone.device.cert_der)] {
        let created = world
            .engine
            .create(NewTransaction {
                kind: TxKind::Mss,
                requester: Requester::Ap(AP_ID.into()),
                device: phone.device.clone(),
                content: content.clone(),
                language: "en".into(),
                lifetime: Duration::from_secs(60),
                number_match: None,
            })
            .await
            .expect("created");
        let inbox = world.engine.inbox(&phone.device, Duration::ZERO).await.expect("inbox");
        let request = &inbox.requests[0];
        let signature = phone.signing_key.sign(&request.to_be_signed).expect("sign");
        world.engine.approve(&phone.device, &request.transaction_id, &signature, None, None).await.expect("approved");
        let cms = world.engine.store().find_transaction(&created.id).await.unwrap().unwrap().signature.expect("CMS");
        let verified = match &content {
            SignContent::Document { sha256, .. } => verify_detached_signed_data(&cms, sha256),
            _ => mobileid_crypto::verify_signed_data(&cms),
        }
        .expect("verifies");
        assert_eq!(&verified.signer_certificate_der, expected, "{content:?}");
    }
    // Blocking the phone revokes both certificates.
    assert!(world.engine.block_device(&phone.device.device_id).await.unwrap());
    let certificates = world.engine.store().certificates_of_user("41791234569").await.unwrap();
    assert!(certificates.iter().all(|c| c.revoked_at.is_some()), "{certificates:?}");
}

/// An async MSS_Signature request of "Log in?" to `msisdn`, with `timeout` in seconds.
fn async_request(world: &World, ap_trans_id: &str, msisdn: &str, timeout: &str) -> SignatureInput {
    SignatureInput {
        frame: frame(world, ap_trans_id),
        messaging_mode: Some("asynch".into()),
        timeout: Some(timeout.into()),
        msisdn: Some(msisdn.into()),
        data_to_be_signed: Some(DataInput { mime_type: None, encoding: None, data: Some("Log in?".into()) }),
        signature_profile: Some("http://mid.swisscom.ch/Device-LoA4".into()),
        services: Vec::new(),
    }
}

#[tokio::test]
async fn an_async_request_past_its_time_reports_208_on_every_poll_and_refuses_a_late_approval() {
    async_expiry(world().await).await;
}

#[tokio::test]
async fn an_async_request_past_its_time_reports_208_on_every_poll_and_refuses_a_late_approval_postgres() {
    async_expiry(postgres_world("expiry").await).await;
}

async fn async_expiry(world: World) {
    let phone = enrolled(&world, "+41791234568").await;
    let identity = ClientIdentity::Sandbox;
    let input = async_request(&world, "T-expiry", "+41791234568", "5");
    let accepted = world.engine.mss().sign(&identity, input).await.expect("accepted");
    let id = accepted.mssp_trans_id;
    let status = |world: &World| StatusInput { frame: frame(world, "T-status"), mssp_trans_id: Some(id.clone()) };

    // A second after the acceptance, as the contract expects (a sooner poll is held).
    world.clock.advance(Duration::from_secs(1));
    let pending = world.engine.mss().status(&identity, status(&world)).await.expect("pending");
    assert_eq!(pending.status.number(), 504);
    let inbox = world.engine.inbox(&phone.device, Duration::ZERO).await.unwrap();
    let request = inbox.requests[0].clone();

    world.clock.advance(Duration::from_millis(3_999));
    assert_eq!(world.engine.mss().status(&identity, status(&world)).await.expect("still").status.number(), 504);
    world.clock.advance(Duration::from_millis(1));
    for _ in 0..2 {
        let fault = world.engine.mss().status(&identity, status(&world)).await.expect_err("expired");
        assert_eq!((fault.code, fault.detail.as_str()), (FaultCode::ExpiredTransaction, "Original request timed out."));
    }
    assert!(world.engine.inbox(&phone.device, Duration::ZERO).await.unwrap().requests.is_empty());
    let signature = phone.signing_key.sign(&request.to_be_signed).expect("sign");
    let late = world.engine.approve(&phone.device, &request.transaction_id, &signature, None, None).await;
    assert_eq!(late, Err(DeviceError::Request(TransactionError::NoLongerOpen)));
    let fault = world.engine.mss().status(&identity, status(&world)).await.expect_err("still expired");
    assert_eq!(fault.code, FaultCode::ExpiredTransaction);
    world.end().await;
}

#[tokio::test]
async fn a_poll_sooner_than_a_second_after_a_pending_answer_waits_for_the_end() {
    early_polls(world().await).await;
}

#[tokio::test]
async fn a_poll_sooner_than_a_second_after_a_pending_answer_waits_for_the_end_postgres() {
    early_polls(postgres_world("early_polls").await).await;
}

async fn early_polls(world: World) {
    let phone = enrolled(&world, "+41791234567").await;
    let identity = ClientIdentity::Sandbox;
    let ask = |ap_trans_id: &str| async_request(&world, ap_trans_id, "+41791234567", "80");
    let status = |id: &str| StatusInput { frame: frame(&world, "T-status"), mssp_trans_id: Some(id.to_string()) };
    let mss = world.engine.mss();

    // Polls a second apart, as the contract expects, are answered at once.
    let first = world.engine.mss().sign(&identity, ask("T-spaced")).await.expect("accepted").mssp_trans_id;
    for _ in 0..3 {
        world.clock.advance(Duration::from_secs(1));
        let poll = mss.status(&identity, status(&first));
        let answer = tokio::time::timeout(Duration::from_secs(30), poll).await.expect("at once").expect("pending");
        assert_eq!(answer.status.number(), 504);
    }
    // A poll right after a pending answer is held, and answered when the phone answers.
    approved_while_held(&world, &phone, &first).await;

    // So is a poll right after the acceptance of the async request.
    let id = world.engine.mss().sign(&identity, ask("T-eager")).await.expect("accepted").mssp_trans_id;
    let answer = approved_while_held(&world, &phone, &id).await;
    // Once it has ended, every poll is answered at once, the same each time.
    for _ in 0..2 {
        let poll = mss.status(&identity, status(&id));
        let again = tokio::time::timeout(Duration::from_secs(30), poll).await.expect("at once").expect("signed");
        assert_eq!((again.status.number(), again.signature), (500, answer.signature.clone()));
    }
    world.end().await;
}

/// Polls `id` at once, checks that the poll is still waiting a moment later, has the phone
/// approve, and returns the poll's answer: the signature.
async fn approved_while_held(world: &World, phone: &Phone, id: &str) -> StatusOutcome {
    let engine = world.engine.clone();
    let held = tokio::spawn({
        let input = StatusInput { frame: frame(world, "T-status"), mssp_trans_id: Some(id.to_string()) };
        async move { engine.mss().status(&ClientIdentity::Sandbox, input).await }
    });
    // Real time, not the engine's clock: the poll must still be waiting when the phone answers.
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(!held.is_finished(), "the eager poll was answered before the transaction ended");
    let request = world.engine.inbox(&phone.device, Duration::ZERO).await.unwrap().requests[0].clone();
    assert_eq!(request.transaction_id, id);
    let signature = phone.signing_key.sign(&request.to_be_signed).expect("sign");
    world.engine.approve(&phone.device, id, &signature, None, None).await.expect("approved");
    let answer = held.await.expect("joined").expect("signed");
    assert_eq!(answer.status.number(), 500);
    assert!(answer.signature.is_some());
    answer
}

#[tokio::test]
async fn a_late_approval_before_any_poll_is_refused_as_expired() {
    let world = world().await;
    let phone = enrolled(&world, "+41791234569").await;
    let created = world
        .engine
        .create(NewTransaction {
            kind: TxKind::Mss,
            requester: Requester::Ap(AP_ID.into()),
            device: phone.device.clone(),
            content: SignContent::Text("Log in?".into()),
            language: "en".into(),
            lifetime: Duration::from_secs(80),
            number_match: None,
        })
        .await
        .unwrap();
    let request = world.engine.inbox(&phone.device, Duration::ZERO).await.unwrap().requests[0].clone();
    world.clock.advance(Duration::from_secs(80));
    let signature = phone.signing_key.sign(&request.to_be_signed).unwrap();
    assert_eq!(
        world.engine.approve(&phone.device, &created.id, &signature, None, None).await,
        Err(DeviceError::Request(TransactionError::Expired))
    );
    let current = world.engine.current(&created.id, None).await.unwrap();
    assert_eq!(current.state, TxState::Failed);
}

#[tokio::test]
async fn an_activation_code_is_good_until_its_expiry_and_not_at_it() {
    let world = world().await;
    let ttl = world.engine.config().activation_code_ttl;
    let early = world.engine.add_user("+41791230001").await.unwrap().code;
    world.clock.advance(ttl - Duration::from_millis(1));
    activate(&world, &early).await.expect("one millisecond before the expiry");

    let late = world.engine.add_user("+41791230002").await.unwrap().code;
    world.clock.advance(ttl);
    let refused = activate(&world, &late).await.err();
    assert_eq!(refused, Some(DeviceError::CodeRefused { why: "the activation code has expired".into() }));
}

#[tokio::test]
async fn device_requests_are_accepted_inside_the_clock_window_and_refused_outside_it_without_overflow() {
    let world = world().await;
    let phone = enrolled(&world, "+41791230003").await;
    let window = world.engine.config().device_clock_window.as_millis() as i64;
    let now = world.engine.now().as_millis();
    let call = |ts: i64, nonce: &str| {
        let auth = proof(&phone.device_key, &phone.device.device_id, ts, nonce, "GET", "/device/v1/inbox", b"");
        let engine = world.engine.clone();
        async move { engine.authenticate_device(&auth, "GET", "/device/v1/inbox", b"").await.map(|d| d.device_id) }
    };
    assert!(call(now - window, "edge-past").await.is_ok());
    assert!(call(now + window, "edge-future").await.is_ok());
    for (ts, nonce) in [(now - window - 1, "past"), (now + window + 1, "future"), (i64::MIN, "min"), (i64::MAX, "max")]
    {
        match call(ts, nonce).await {
            Err(DeviceError::NotAuthenticated(why)) => assert!(why.contains("window"), "{ts}: {why}"),
            other => panic!("ts {ts}: expected NotAuthenticated, got {other:?}"),
        }
    }
    // The window moves with the clock: the same time is refused later.
    world.clock.advance(Duration::from_millis(window as u64 + 1));
    assert!(matches!(call(now, "moved").await, Err(DeviceError::NotAuthenticated(_))));
    assert_eq!(Timestamp::from_millis(now).plus(Duration::from_millis(window as u64 + 1)), world.engine.now());
}

/// An envelope of one one-page offer for Anna, at `msisdn` if given.
fn offer_for_anna(msisdn: Option<&str>, language: &str, expires_in: Duration) -> NewEnvelope {
    NewEnvelope {
        title: "Offer".into(),
        message: String::new(),
        documents: vec![("offer.pdf".into(), mobileid_pdf::sample::document("Offer", 1, 100, false))],
        levels: vec![vec![NewSigner {
            name: "Anna Muster".into(),
            email: "anna@example.ch".into(),
            msisdn: msisdn.map(str::to_string),
            language: language.into(),
            stamp: None,
        }]],
        expires_in,
    }
}

#[tokio::test]
async fn an_envelope_expires_on_time_and_its_links_stop_working() {
    use mobileid_engine::signing::envelopes::EnvelopeError;
    let world = world().await;
    let (sender, _, _) = world.engine.add_sender("acme", "Acme", Some("https://hooks.example/x"), None).await.unwrap();
    let new = offer_for_anna(Some("+41791234567"), "en", Duration::from_secs(3600));
    let view = world.engine.create_envelope(&sender, new).await.unwrap();
    let id = view.envelope.envelope_id.clone();
    let view = world.engine.send_envelope(&sender, &id).await.unwrap();
    let token = world.engine.signer_link_token(&view.signers[0].signer_id);
    assert!(world.engine.open_signer_link(&token).await.unwrap().their_turn);

    world.clock.advance(Duration::from_secs(3601));
    assert!(matches!(world.engine.open_signer_link(&token).await, Err(EnvelopeError::Link)));
    let refused = world.engine.start_envelope_signing(&token, "+41791234567").await;
    assert!(matches!(refused, Err(EnvelopeError::Link)), "{refused:?}");
    let view = world.engine.envelope_for_sender(&sender, &id).await.unwrap();
    assert_eq!(view.envelope.state, mobileid_core::EnvelopeState::Expired);
    let events: Vec<_> = view.events.iter().map(|e| e.event).collect();
    assert_eq!(events.last(), Some(&mobileid_core::EnvelopeEvent::Expired));
    assert!(view.webhooks.iter().any(|w| w.event == mobileid_core::EnvelopeEvent::Expired), "the sender is told");
    // A link that names nobody.
    assert!(matches!(world.engine.open_signer_link("nobody").await, Err(EnvelopeError::Link)));
    world.end().await;
}

#[tokio::test]
async fn a_signature_declined_or_timed_out_on_the_phone_is_told_and_can_be_tried_again() {
    use mobileid_core::{EnvelopeEvent, EnvelopeState};
    use mobileid_engine::signing::envelopes::SigningStep;
    let world = world().await;
    let phone = enrolled(&world, "+41791234567").await;
    world.engine.verify_identity("+41791234567", "Anna", "Muster").await.unwrap();
    let (sender, _, _) = world.engine.add_sender("acme", "Acme", Some("https://hooks.example/x"), None).await.unwrap();
    let new = offer_for_anna(None, "en", Duration::from_secs(24 * 3600));
    let id = world.engine.create_envelope(&sender, new).await.unwrap().envelope.envelope_id;
    let view = world.engine.send_envelope(&sender, &id).await.unwrap();
    let token = world.engine.signer_link_token(&view.signers[0].signer_id);
    let failed_events = |view: &mobileid_engine::signing::envelopes::EnvelopeView| {
        view.events.iter().filter(|e| e.event == EnvelopeEvent::Failed).count()
    };

    // Declined on the phone: the sender hears of it, the signer may start again.
    let step = world.engine.start_envelope_signing(&token, "+41791234567").await.unwrap();
    assert!(matches!(step, SigningStep::OnThePhone { index: 0, count: 1, .. }), "{step:?}");
    let inbox = world.engine.inbox(&phone.device, Duration::ZERO).await.unwrap();
    world.engine.decline(&phone.device, &inbox.requests[0].transaction_id).await.unwrap();
    assert!(matches!(world.engine.envelope_signing_step(&token).await.unwrap(), SigningStep::Failed(_)));
    let view = world.engine.envelope_for_sender(&sender, &id).await.unwrap();
    assert_eq!(failed_events(&view), 1);
    assert!(view.webhooks.iter().any(|w| w.event == EnvelopeEvent::Failed), "the sender is told");

    // Not answered in time: the same.
    world.engine.start_envelope_signing(&token, "+41791234567").await.unwrap();
    world.clock.advance(Duration::from_secs(301));
    assert!(matches!(world.engine.envelope_signing_step(&token).await.unwrap(), SigningStep::Failed(_)));
    assert_eq!(failed_events(&world.engine.envelope_for_sender(&sender, &id).await.unwrap()), 2);

    // The third try is signed, and the envelope completes.
    world.engine.start_envelope_signing(&token, "+41791234567").await.unwrap();
    let inbox = world.engine.inbox(&phone.device, Duration::ZERO).await.unwrap();
    sign_document(&world, &phone, &inbox.requests[0].transaction_id).await.unwrap();
    let view = world.engine.envelope_for_sender(&sender, &id).await.unwrap();
    assert_eq!(view.envelope.state, EnvelopeState::Completed);
    world.end().await;
}

#[tokio::test]
async fn an_invited_signer_is_reminded_a_day_before_the_envelope_expires() {
    let world = world().await;
    let (sender, _, _) = world.engine.add_sender("acme", "Acme", None, None).await.unwrap();
    let new = offer_for_anna(None, "de", Duration::from_secs(3 * 24 * 3600));
    let id = world.engine.create_envelope(&sender, new).await.unwrap().envelope.envelope_id;
    world.engine.send_envelope(&sender, &id).await.unwrap();
    let store = world.engine.store();
    let now = world.engine.now();
    let claimed = store.claim_envelope_mails(now, 60_000, 10).await.unwrap();
    assert_eq!(claimed.iter().map(|m| m.kind.as_str()).collect::<Vec<_>>(), ["invitation"], "the reminder waits");
    store.finish_envelope_mail(&claimed[0].mail_id, true).await.unwrap();
    let day_two = Timestamp::from_millis(now.as_millis() + 2 * 24 * 3600 * 1000 + 1000);
    let claimed = store.claim_envelope_mails(day_two, 60_000, 10).await.unwrap();
    assert_eq!(claimed.iter().map(|m| m.kind.as_str()).collect::<Vec<_>>(), ["reminder"], "a day before it expires");
    assert_eq!(claimed[0].recipient, "anna@example.ch");
    world.end().await;
}
