//! Identity verification through the engine's API, on SQLite and on a fresh schema of the
//! PostgreSQL database `test`, with a manual clock: the flow with a typed MRZ and with a
//! picture, the binding to the browser, the hand-off link's single use and expiry, bad
//! pictures, the evidence chain and its tampering, the retention of pictures, and the
//! providers' webhooks (approve, reject, forged, stale, replayed).

use std::sync::Arc;
use std::time::Duration;

use mobileid_core::mrz::check_digit;
use mobileid_crypto::MasterKey;
use mobileid_engine::identity::providers::{sign_webhook, FakeProvider, ProviderConfig, WebhookError, FAKE};
use mobileid_engine::identity::verification::{state, AfterTerms, StartVerification, Started, VerificationError};
use mobileid_engine::identity::{IdentityConfig, ReviewPolicy};
use mobileid_engine::{Engine, EngineConfig, ManualClock};
use mobileid_store::Store;
use serde_json::json;
use sqlx::Connection;

const PG_ADMIN_URL: &str = "postgres://postgres@127.0.0.1:5432/test";
const PASSPORT: &[u8] = include_bytes!("../../ocr/tests/fixtures/td3-passport.png");
const SECRET: &str = "provider secret";

struct World {
    engine: Engine,
    clock: Arc<ManualClock>,
    url: String,
    schema: Option<String>,
    _dir: tempfile::TempDir,
}

#[derive(Clone, Copy)]
enum Backend {
    Sqlite,
    Postgres,
}

async fn world(backend: Backend, name: &str, identity: IdentityConfig) -> World {
    let dir = tempfile::tempdir().expect("tempdir");
    let (url, schema) = match backend {
        Backend::Sqlite => (format!("sqlite://{}?mode=rwc", dir.path().join("engine.db").display()), None),
        Backend::Postgres => {
            let schema = format!("idv_{name}_{}", std::process::id());
            let mut admin = sqlx::PgConnection::connect(PG_ADMIN_URL).await.expect("PostgreSQL is needed");
            sqlx::query(&format!("CREATE SCHEMA \"{schema}\"")).execute(&mut admin).await.expect("schema");
            (format!("{PG_ADMIN_URL}?options=-c%20search_path%3D{schema}"), Some(schema))
        }
    };
    let store = Store::connect(&url).await.expect("store");
    let clock = Arc::new(ManualClock::starting_now());
    let config = EngineConfig { identity, ..EngineConfig::default() };
    let engine = Engine::start_with_clock(store, MasterKey::generate(), config, clock.clone()).await.expect("engine");
    World { engine, clock, url, schema, _dir: dir }
}

impl World {
    async fn end(self) {
        self.engine.store().close().await;
        if let Some(schema) = self.schema {
            let mut admin = sqlx::PgConnection::connect(PG_ADMIN_URL).await.expect("PostgreSQL");
            sqlx::query(&format!("DROP SCHEMA \"{schema}\" CASCADE")).execute(&mut admin).await.expect("drop");
        }
    }

    /// Runs SQL on the world's database behind the engine's back (a tamperer).
    async fn tamper(&self, sql: &str) {
        let pool = sqlx::AnyPool::connect(&self.url).await.expect("connect");
        sqlx::query(sql).execute(&pool).await.expect("tamper");
        pool.close().await;
    }

    async fn start(&self, name: &str) -> Started {
        let start = StartVerification {
            msisdn: "+41791234567".into(),
            email: "anna@example.ch".into(),
            stated_name: name.into(),
            language: "en".into(),
            return_to: "/sign/x/progress".into(),
        };
        self.engine.start_verification(start).await.expect("start")
    }

    /// Started and past the terms.
    async fn capturing(&self, name: &str) -> (String, String) {
        let started = self.start(name).await;
        let id = started.verification.verification_id.clone();
        assert_eq!(self.engine.accept_terms(&id, &started.secret, "1").await.expect("terms"), AfterTerms::Capture);
        (id, started.secret)
    }
}

fn automatic() -> IdentityConfig {
    IdentityConfig { review: ReviewPolicy::None, ..IdentityConfig::default() }
}

/// A TD3 zone for Anna Maria Eriksson with the given dates (YYMMDD), every check digit
/// computed.
fn td3(birth: &str, expiry: &str) -> String {
    let number = "L898902C3";
    let personal = "ZE184226B<<<<<";
    let upper = format!("{:<<44}", "P<UTOERIKSSON<<ANNA<MARIA");
    let mut lower = format!(
        "{number}{}UTO{birth}{}F{expiry}{}{personal}{}",
        check_digit(number),
        check_digit(birth),
        check_digit(expiry),
        check_digit(personal)
    );
    let composite = format!("{}{}{}", &lower[0..10], &lower[13..20], &lower[21..43]);
    lower.push(check_digit(&composite));
    format!("{upper}\n{lower}")
}

async fn captured_with_typed_zone(world: &World, name: &str, zone: &str) -> (String, String) {
    let (id, secret) = world.capturing(name).await;
    for kind in ["page", "selfie"] {
        world.engine.store_verification_image(&id, &secret, kind, PASSPORT.to_vec()).await.expect("picture");
    }
    world.engine.enter_mrz(&id, &secret, zone).await.expect("zone");
    (id, secret)
}

async fn flow_and_evidence(backend: Backend, name: &str) {
    let world = world(backend, name, automatic()).await;
    // A valid passport, the name as stated (diacritics aside, order swapped): verified.
    let (id, secret) = captured_with_typed_zone(&world, "Eriksson Anna-Maria", &td3("740812", "340415")).await;
    assert_eq!(world.engine.submit_verification(&id, &secret).await.expect("submit"), state::VERIFIED);
    let name = world.engine.verified_name("41791234567").await.expect("read").expect("verified");
    assert_eq!((name.given_names.as_str(), name.surname.as_str()), ("Anna Maria", "Eriksson"));

    // The specimen's own zone (read from the picture) expired in 2012: rejected, reason given.
    let (id2, secret2) = world.capturing("Anna Maria Eriksson").await;
    let stored = world.engine.store_verification_image(&id2, &secret2, "page", PASSPORT.to_vec()).await.expect("page");
    assert!(stored.mrz_read, "the specimen passport's zone is read from its picture");
    world.engine.store_verification_image(&id2, &secret2, "selfie", PASSPORT.to_vec()).await.expect("selfie");
    assert_eq!(world.engine.submit_verification(&id2, &secret2).await.expect("submit"), state::REJECTED);
    let (rejected, _) = world.engine.open_verification(&id2, &secret2).await.expect("open");
    assert!(rejected.reason.unwrap_or_default().contains("not_expired"));

    // A minor, and a name that is somebody else's: rejected with those checks.
    let minor_birth = (world.engine.now().to_datetime().expect("now") - chrono::Duration::days(17 * 365))
        .format("%y%m%d")
        .to_string();
    let (id3, secret3) = captured_with_typed_zone(&world, "Anna Maria Eriksson", &td3(&minor_birth, "340415")).await;
    world.engine.submit_verification(&id3, &secret3).await.expect("submit");
    let (minor, _) = world.engine.open_verification(&id3, &secret3).await.expect("open");
    assert!(minor.reason.unwrap_or_default().contains("minimum_age"));
    let (id4, secret4) = captured_with_typed_zone(&world, "Bruno Keller", &td3("740812", "340415")).await;
    world.engine.submit_verification(&id4, &secret4).await.expect("submit");
    let (other, _) = world.engine.open_verification(&id4, &secret4).await.expect("open");
    assert!(other.reason.unwrap_or_default().contains("name"));

    // Four decisions, four records, chained; the export is a signed JWS.
    assert_eq!(world.engine.check_evidence_chain().await.expect("check"), Ok(4));
    let exported = world.engine.export_evidence().await.expect("export");
    assert_eq!(exported.split('.').count(), 3);
    let records = world.engine.store().evidence_records().await.expect("records");
    let first: serde_json::Value = serde_json::from_str(&records[0].body).expect("json");
    assert_eq!(first["terms"]["version"], "1");
    assert_eq!(first["decision"]["by"], "automatic");
    assert_eq!(first["mrz"]["source"], "typed");
    assert_eq!(first["images"].as_array().expect("images").len(), 2);
    assert!(first["mrz"]["zone"]["checks"].as_array().expect("check digits").iter().all(|c| c["ok"] == true));

    // Changing one past record breaks the chain there.
    world.tamper("UPDATE evidence_records SET body = REPLACE(body, 'Eriksson', 'Mallory') WHERE seq = 2").await;
    world.tamper("UPDATE evidence_records SET body = REPLACE(body, 'automatic', 'operator:eve') WHERE seq = 1").await;
    let broken = world.engine.check_evidence_chain().await.expect("check").expect_err("broken");
    assert_eq!(broken.seq, 1);
    assert!(world.engine.export_evidence().await.is_err(), "a broken chain is not signed");

    // After the retention period the pictures are gone; the records stay.
    world.clock.advance(Duration::from_secs(31 * 24 * 3600));
    assert_eq!(world.engine.purge_verification_images().await.expect("purge"), 8);
    assert_eq!(world.engine.store().evidence_records().await.expect("records").len(), 4);
    world.end().await;
}

#[tokio::test]
async fn flow_and_evidence_sqlite() {
    flow_and_evidence(Backend::Sqlite, "flow").await;
}

#[tokio::test]
async fn flow_and_evidence_postgres() {
    flow_and_evidence(Backend::Postgres, "flow").await;
}

async fn bindings_and_bad_input(backend: Backend, name: &str) {
    let world = world(backend, name, IdentityConfig::default()).await;
    let (id, secret) = world.capturing("Anna Maria Eriksson").await;
    // Another browser (another secret, or none) does not reach it.
    let other = world.start("Eve").await;
    for wrong in [other.secret.as_str(), "", "0"] {
        assert!(matches!(world.engine.open_verification(&id, wrong).await, Err(VerificationError::NotFound)));
        let upload = world.engine.store_verification_image(&id, wrong, "page", PASSPORT.to_vec()).await;
        assert!(matches!(upload, Err(VerificationError::NotFound)));
    }
    // The hand-off link works once; a second one expires unused.
    let token = world.engine.new_handoff(&id, &secret).await.expect("hand-off");
    let (handed, phone_secret) = world.engine.take_handoff(&token).await.expect("taken");
    assert_eq!(handed, id);
    assert!(world.engine.open_verification(&id, &phone_secret).await.is_ok());
    assert!(matches!(world.engine.take_handoff(&token).await, Err(VerificationError::HandoffUsed)));
    let late = world.engine.new_handoff(&id, &secret).await.expect("hand-off");
    world.clock.advance(Duration::from_secs(11 * 60));
    assert!(matches!(world.engine.take_handoff(&late).await, Err(VerificationError::HandoffExpired)));
    assert!(matches!(world.engine.take_handoff("made-up").await, Err(VerificationError::NotFound)));
    // Not a picture, too large, an unknown kind: refused, nothing kept.
    let pdf = b"%PDF-1.7\n".to_vec();
    assert!(matches!(
        world.engine.store_verification_image(&id, &secret, "page", pdf).await,
        Err(VerificationError::NotAnImage)
    ));
    let mut fake_jpeg = vec![0xFF, 0xD8, 0xFF, 0xE0];
    fake_jpeg.extend_from_slice(&[0; 64]);
    assert!(matches!(
        world.engine.store_verification_image(&id, &secret, "page", fake_jpeg).await,
        Err(VerificationError::NotAnImage)
    ));
    let huge = vec![0xFF; 11 * 1024 * 1024];
    assert!(matches!(
        world.engine.store_verification_image(&id, &secret, "page", huge).await,
        Err(VerificationError::TooLarge(_))
    ));
    assert!(matches!(
        world.engine.store_verification_image(&id, &secret, "passport", PASSPORT.to_vec()).await,
        Err(VerificationError::Kind(_))
    ));
    assert!(world.engine.captured_images(&id, &secret).await.expect("kinds").is_empty());
    // A typed zone with a wrong check digit names the field; nothing is kept.
    let mut wrong = td3("740812", "340415");
    // The birth date's check digit: the lower line's 20th character.
    wrong.replace_range(64..65, if &wrong[64..65] == "1" { "2" } else { "1" });
    let refused = world.engine.enter_mrz(&id, &secret, &wrong).await.expect_err("wrong digit");
    assert!(refused.to_string().contains("birth"), "{refused}");
    // Sending without everything says what is missing.
    assert!(matches!(world.engine.submit_verification(&id, &secret).await, Err(VerificationError::Incomplete(_))));
    world.end().await;
}

#[tokio::test]
async fn bindings_and_bad_input_sqlite() {
    bindings_and_bad_input(Backend::Sqlite, "bind").await;
}

#[tokio::test]
async fn bindings_and_bad_input_postgres() {
    bindings_and_bad_input(Backend::Postgres, "bind").await;
}

fn fake_provider(review: ReviewPolicy) -> IdentityConfig {
    let provider =
        ProviderConfig { name: FAKE.into(), legal_name: "Fake".into(), start_url: None, secret: SECRET.into() };
    IdentityConfig { review, provider: Some(provider), ..IdentityConfig::default() }
}

/// A verification sent to the provider; its session.
async fn at_provider(world: &World) -> (String, String, String) {
    let started = world.start("Anna Maria Eriksson").await;
    let id = started.verification.verification_id.clone();
    let AfterTerms::Provider(url) = world.engine.accept_terms(&id, &started.secret, "1").await.expect("terms") else {
        panic!("the provider's page");
    };
    let session = url.rsplit('/').next().expect("session").to_string();
    (id, started.secret, session)
}

async fn providers(backend: Backend, name: &str) {
    let world = world(backend, name, fake_provider(ReviewPolicy::None)).await;
    world.engine.set_identity_provider(Arc::new(FakeProvider));
    // The fake provider approves: verified with its names.
    let (id, secret, session) = at_provider(&world).await;
    let decided = world.engine.fake_provider_decides(&session, Some(("Anna Maria", "Eriksson")), "").await;
    assert_eq!(decided.expect("approved").state, state::VERIFIED);
    assert_eq!(
        world.engine.open_verification(&id, &secret).await.expect("open").0.decided_by.as_deref(),
        Some("provider:fake")
    );
    // It rejects: rejected with its reason.
    let (id2, secret2, session2) = at_provider(&world).await;
    let decided = world.engine.fake_provider_decides(&session2, None, "document damaged").await.expect("rejected");
    assert_eq!(decided.state, state::REJECTED);
    assert_eq!(
        world.engine.open_verification(&id2, &secret2).await.expect("open").0.reason.as_deref(),
        Some("document damaged")
    );

    // Forged, stale and replayed webhooks are refused and change nothing.
    let (id3, secret3, session3) = at_provider(&world).await;
    let body = json!({"event_id": "evt-1", "session_id": session3, "outcome": "approved",
        "person": {"given_names": "Mallory", "surname": "Evil"}})
    .to_string();
    let now = world.engine.now().as_millis() / 1000;
    let forged = sign_webhook("not the secret", now, body.as_bytes());
    assert!(matches!(
        world.engine.provider_webhook(FAKE, Some(&forged), body.as_bytes()).await,
        Err(WebhookError::Forged)
    ));
    assert!(matches!(world.engine.provider_webhook(FAKE, None, body.as_bytes()).await, Err(WebhookError::Forged)));
    let signed = sign_webhook(SECRET, now, body.as_bytes());
    let altered = body.replace("Mallory", "Mallorz");
    assert!(matches!(
        world.engine.provider_webhook(FAKE, Some(&signed), altered.as_bytes()).await,
        Err(WebhookError::Forged)
    ));
    let stale = sign_webhook(SECRET, now - 600, body.as_bytes());
    assert!(matches!(
        world.engine.provider_webhook(FAKE, Some(&stale), body.as_bytes()).await,
        Err(WebhookError::Stale)
    ));
    assert_eq!(world.engine.open_verification(&id3, &secret3).await.expect("open").0.state, state::PROVIDER);
    // The genuine one is accepted once; its replay is refused.
    assert_eq!(
        world.engine.provider_webhook(FAKE, Some(&signed), body.as_bytes()).await.expect("accepted").state,
        state::VERIFIED
    );
    let replayed = world.engine.provider_webhook(FAKE, Some(&signed), body.as_bytes()).await;
    assert!(matches!(replayed, Err(WebhookError::Replayed)), "{replayed:?}");
    assert_eq!(world.engine.check_evidence_chain().await.expect("check"), Ok(3));
    world.end().await;

    // With every decision by a human, the provider's result waits in the review desk,
    // and its replay is refused there too.
    let world = self::world(backend, &format!("{name}h"), fake_provider(ReviewPolicy::All)).await;
    world.engine.set_identity_provider(Arc::new(FakeProvider));
    let (id, secret, session) = at_provider(&world).await;
    let body = json!({"event_id": "evt-9", "session_id": session, "outcome": "approved",
        "person": {"given_names": "Anna Maria", "surname": "Eriksson"}})
    .to_string();
    let signed = sign_webhook(SECRET, world.engine.now().as_millis() / 1000, body.as_bytes());
    assert_eq!(
        world.engine.provider_webhook(FAKE, Some(&signed), body.as_bytes()).await.expect("to the desk").state,
        state::REVIEW
    );
    assert!(matches!(
        world.engine.provider_webhook(FAKE, Some(&signed), body.as_bytes()).await,
        Err(WebhookError::Replayed)
    ));
    assert_eq!(world.engine.verifications_to_review().await.expect("queue").len(), 1);
    world.engine.approve_verification(&id, "rita@example.ch", "Anna Maria", "Eriksson").await.expect("approve");
    assert_eq!(
        world.engine.open_verification(&id, &secret).await.expect("open").0.decided_by.as_deref(),
        Some("operator:rita@example.ch")
    );
    assert!(world.engine.verifications_to_review().await.expect("queue").is_empty());
    world.end().await;
}

#[tokio::test]
async fn providers_sqlite() {
    providers(Backend::Sqlite, "prov").await;
}

#[tokio::test]
async fn providers_postgres() {
    providers(Backend::Postgres, "prov").await;
}
