//! The user's own Mobile ID: the dashboard, Get Mobile ID (the seed's flow: Dashboard →
//! Get Mobile ID → Next → a QR code, or the link by e-mail → the phone activates, which
//! the page follows without reloading → active, certificates valid, recovery codes shown
//! once; Cancel at every step), moving to a new phone with a recovery code, My Mobile ID
//! (serial number, phones, certificates, recent requests), blocking a lost phone and new
//! recovery codes.

use askama::Template;
use axum::extract::{Form, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use base64::Engine as _;
use mobileid_core::{AccountState, DeviceState};
use mobileid_engine::admin::{ActivationCode, CertificateView};
use mobileid_engine::portal::{Delivery, Enrolment, MyMobileId, PortalError};
use serde::Deserialize;
use serde_json::json;

use super::account::{failed, throttled, CsrfForm};
use super::{message, notify, see_other, shown_time, PageLang, Session};
use crate::extract::SourceAddress;
use crate::pages::Chrome;
use crate::AppState;

#[derive(Template)]
#[template(path = "portal/dashboard.html")]
struct DashboardPage<'a> {
    chrome: &'a Chrome,
    email: String,
    phone: String,
    mobile_id: String,
    notice: Option<String>,
    can_get: bool,
    has_mobile_id: bool,
    /// The verified name, or that there is none.
    identity: String,
    can_verify: bool,
    reviewer: bool,
    csrf: String,
}

#[derive(Template)]
#[template(path = "portal/get.html")]
struct GetPage<'a> {
    chrome: &'a Chrome,
    by_email: bool,
    /// The recovery code's label, when moving with one.
    code_field: Option<String>,
    problem: Option<String>,
    csrf: String,
}

#[derive(Template)]
#[template(path = "portal/enrol.html")]
struct EnrolPage<'a> {
    chrome: &'a Chrome,
    /// The QR code as a data URL, when shown here.
    qr: Option<String>,
    link: String,
    code: String,
    email: String,
    expires: String,
    csrf: String,
}

#[derive(Template)]
#[template(path = "portal/done.html")]
struct DonePage<'a> {
    chrome: &'a Chrome,
    serial: String,
    state: String,
    certificates: Vec<(String, String)>,
    codes: Vec<String>,
}

struct DeviceRow {
    id: String,
    name: String,
    state: String,
    since: String,
    can_block: bool,
}

#[derive(Template)]
#[template(path = "portal/mobile_id.html")]
struct MobileIdPage<'a> {
    chrome: &'a Chrome,
    notice: Option<String>,
    serial: String,
    phone: String,
    state: String,
    codes_left: i64,
    devices: Vec<DeviceRow>,
    certificates: Vec<(String, String)>,
    recent: Vec<(String, String, String, String)>,
    active: bool,
    csrf: String,
}

#[derive(Template)]
#[template(path = "portal/codes.html")]
struct CodesPage<'a> {
    chrome: &'a Chrome,
    codes: Vec<String>,
}

#[derive(Deserialize)]
pub struct NoticeQuery {
    #[serde(default)]
    notice: Option<String>,
}

/// The notices a redirect may ask a page to show (nothing else from the query is shown).
fn notice(chrome: &Chrome, query: &NoticeQuery) -> Option<String> {
    let key = match query.notice.as_deref()? {
        "ended" => "portal.notice.ended",
        "cancelled" => "portal.notice.cancelled",
        "blocked" => "portal.notice.blocked",
        "active" => "portal.notice.active",
        _ => return None,
    };
    Some(chrome.t(key).to_string())
}

fn has_active_phone(mine: &MyMobileId) -> bool {
    mine.user.devices.iter().any(|d| d.method == "App" && d.state == DeviceState::Active)
}

pub async fn dashboard(
    State(state): State<AppState>,
    lang: PageLang,
    session: Session,
    Query(query): Query<NoticeQuery>,
) -> Response {
    let account = &session.account;
    let mine = match state.engine.my_mobile_id(account).await {
        Ok(mine) => mine,
        Err(e) => return super::internal(&e),
    };
    let enrolment = state.engine.enrolment(account).await.unwrap_or(Enrolment::None);
    let chrome = lang.chrome();
    let active = mine.as_ref().is_some_and(has_active_phone);
    let had_phones = mine.as_ref().is_some_and(|m| !m.user.certificates.is_empty());
    let status_key = match (active, enrolment, had_phones) {
        (true, _, _) => "portal.status.active",
        (false, Enrolment::Waiting { .. }, _) => "portal.status.waiting",
        (false, _, true) => "portal.status.no_phone",
        (false, _, false) => "portal.status.none",
    };
    let account_notice = match (account.state, &account.msisdn) {
        (AccountState::Active, Some(_)) => None,
        (AccountState::Active, None) => Some(chrome.t("portal.problem.no_phone").to_string()),
        _ => Some(chrome.t("portal.problem.not_active").to_string()),
    };
    let verified = match &account.msisdn {
        Some(msisdn) => state.engine.verified_name(msisdn).await.unwrap_or(None),
        None => None,
    };
    let reviewer = state.engine.is_reviewer(&account.account_id).await.unwrap_or(false);
    let page = DashboardPage {
        identity: verified
            .as_ref()
            .map(|n| n.full())
            .unwrap_or_else(|| chrome.t("portal.dashboard.identity_none").into()),
        can_verify: verified.is_none() && account.state == AccountState::Active && account.msisdn.is_some(),
        reviewer,
        chrome: &chrome,
        email: account.email.clone(),
        phone: account.msisdn.as_ref().map(|m| format!("+{m}")).unwrap_or_else(|| "–".into()),
        mobile_id: chrome.t(status_key).to_string(),
        notice: notice(&chrome, &query).or(account_notice),
        can_get: account.state == AccountState::Active && account.msisdn.is_some() && !active,
        has_mobile_id: had_phones,
        csrf: session.session.csrf_token.clone(),
    };
    lang.render(&page, StatusCode::OK)
}

fn get_form(
    state: &AppState,
    lang: &PageLang,
    session: &Session,
    recovery: bool,
    problem: Option<String>,
    status: StatusCode,
) -> Response {
    let chrome = lang.chrome();
    let page = GetPage {
        chrome: &chrome,
        by_email: state.engine.config().portal.delivery == Delivery::Email,
        code_field: recovery.then(|| chrome.t("portal.recover.code").to_string()),
        problem,
        csrf: session.session.csrf_token.clone(),
    };
    lang.render(&page, status)
}

pub async fn get_page(State(state): State<AppState>, lang: PageLang, session: Session) -> Response {
    get_form(&state, &lang, &session, false, None, StatusCode::OK)
}

pub async fn recover_page(State(state): State<AppState>, lang: PageLang, session: Session) -> Response {
    get_form(&state, &lang, &session, true, None, StatusCode::OK)
}

/// Next: an activation code, shown as a QR code or e-mailed.
pub async fn start(
    State(state): State<AppState>,
    lang: PageLang,
    session: Session,
    headers: HeaderMap,
    Form(form): Form<CsrfForm>,
) -> Response {
    if let Some(refused) = session.refuse_form(&state, &headers, &form.csrf) {
        return refused;
    }
    let started = state.engine.start_enrolment(&session.account, None).await;
    enrolment_page(&state, &lang, &session, started)
}

#[derive(Deserialize)]
pub struct RecoverForm {
    csrf: String,
    code: String,
}

/// Next with a recovery code: the same, keeping the serial number.
pub async fn recover(
    State(state): State<AppState>,
    lang: PageLang,
    session: Session,
    source: SourceAddress,
    headers: HeaderMap,
    Form(form): Form<RecoverForm>,
) -> Response {
    if let Some(refused) = session.refuse_form(&state, &headers, &form.csrf) {
        return refused;
    }
    let budget = &state.throttles.portal_login;
    if let Some(refused) = throttled(budget, &source, &lang) {
        return refused;
    }
    let started = state.engine.start_enrolment(&session.account, Some(&form.code)).await;
    if matches!(started, Err(PortalError::WrongRecoveryCode)) {
        failed(budget, &source);
        let problem = Some(lang.chrome().t("portal.problem.recovery").to_string());
        return get_form(&state, &lang, &session, true, problem, StatusCode::BAD_REQUEST);
    }
    enrolment_page(&state, &lang, &session, started)
}

fn enrolment_page(
    state: &AppState,
    lang: &PageLang,
    session: &Session,
    started: Result<ActivationCode, PortalError>,
) -> Response {
    let chrome = lang.chrome();
    let code = match started {
        Ok(code) => code,
        Err(e) => {
            let key = match e {
                PortalError::AlreadyActive => "portal.problem.already_active",
                PortalError::NotActive => "portal.problem.not_active",
                PortalError::NoPhoneNumber => "portal.problem.no_phone",
                other => return super::internal(&other),
            };
            return message(
                lang,
                StatusCode::CONFLICT,
                "portal.get.title",
                vec![chrome.t(key).to_string()],
                "/portal/",
                "portal.back",
            );
        }
    };
    let link = format!("{}{}#code={}", notify::public_url(state), crate::authenticator::APP_PATH, code.code);
    let expires = code.expires_at.format("%Y-%m-%d %H:%M UTC").to_string();
    let account = &session.account;
    let qr = match state.engine.config().portal.delivery {
        Delivery::QrCode => match qr_data_url(&link) {
            Ok(qr) => Some(qr),
            Err(e) => return super::internal(&e),
        },
        Delivery::Email => {
            notify::send(
                state,
                &account.email,
                &account.language,
                "enrol",
                &[("link", &link), ("code", &code.code), ("time", &expires)],
            );
            None
        }
    };
    let page = EnrolPage {
        chrome: &chrome,
        qr,
        link,
        code: code.code.clone(),
        email: account.email.clone(),
        expires,
        csrf: session.session.csrf_token.clone(),
    };
    lang.render(&page, StatusCode::OK)
}

/// The link as a QR code: an SVG image in a data URL (the CSP allows `data:` images).
pub(crate) fn qr_data_url(link: &str) -> Result<String, qrcode::types::QrError> {
    let code = qrcode::QrCode::with_error_correction_level(link.as_bytes(), qrcode::EcLevel::M)?;
    let svg = code.render::<qrcode::render::svg::Color<'_>>().min_dimensions(240, 240).quiet_zone(true).build();
    Ok(format!("data:image/svg+xml;base64,{}", base64::engine::general_purpose::STANDARD.encode(svg)))
}

/// The enrolment's state for the waiting page's script: `{done, next, message}`.
pub async fn state(State(state): State<AppState>, lang: PageLang, session: Session) -> Response {
    let chrome = lang.chrome();
    let answer = match state.engine.enrolment(&session.account).await {
        Ok(Enrolment::Waiting { .. }) => json!({ "done": false, "message": chrome.t("portal.enrol.waiting") }),
        Ok(Enrolment::Activated) => {
            json!({ "done": true, "next": "/portal/get/done", "message": chrome.t("portal.enrol.activated") })
        }
        Ok(Enrolment::Ended | Enrolment::None) => {
            notify::report_expired(&state).await;
            json!({ "done": true, "next": "/portal/?notice=ended", "message": chrome.t("portal.notice.ended") })
        }
        Err(e) => return super::internal(&e),
    };
    let mut response = Json(answer).into_response();
    response.headers_mut().insert(axum::http::header::CACHE_CONTROL, axum::http::HeaderValue::from_static("no-store"));
    response
}

pub async fn cancel(
    State(state): State<AppState>,
    session: Session,
    headers: HeaderMap,
    Form(form): Form<CsrfForm>,
) -> Response {
    if let Some(refused) = session.refuse_form(&state, &headers, &form.csrf) {
        return refused;
    }
    match state.engine.cancel_enrolment(&session.account).await {
        Ok(()) => see_other("/portal/?notice=cancelled"),
        Err(e) => super::internal(&e),
    }
}

fn certificate_rows(
    chrome: &Chrome,
    certificates: &[CertificateView],
    now: chrono::DateTime<chrono::Utc>,
) -> Vec<(String, String)> {
    certificates
        .iter()
        .map(|c| {
            let status = match (&c.revoked, c.not_after < now) {
                (Some((at, _)), _) => {
                    chrome.tf("portal.cert.revoked", &[("time", &at.format("%Y-%m-%d %H:%M UTC").to_string())])
                }
                (None, true) => chrome.t("portal.cert.expired").to_string(),
                (None, false) => {
                    chrome.tf("portal.cert.valid", &[("time", &c.not_after.format("%Y-%m-%d").to_string())])
                }
            };
            let kind = chrome.t(&format!("portal.cert.{}", c.kind.as_db()));
            (format!("{kind} · {}", c.serial_hex), status)
        })
        .collect()
}

fn now_utc(state: &AppState) -> chrono::DateTime<chrono::Utc> {
    state.engine.now().to_datetime().unwrap_or_default()
}

/// The end of Get Mobile ID: active, its certificates, and the recovery codes, once.
pub async fn done(State(state): State<AppState>, lang: PageLang, session: Session) -> Response {
    let mine = match state.engine.my_mobile_id(&session.account).await {
        Ok(Some(mine)) if has_active_phone(&mine) => mine,
        Ok(_) => return see_other("/portal/"),
        Err(e) => return super::internal(&e),
    };
    let codes = match state.engine.recovery_codes_after_activation(&session.account).await {
        Ok(codes) => codes.unwrap_or_default(),
        Err(e) => return super::internal(&e),
    };
    let chrome = lang.chrome();
    let page = DonePage {
        chrome: &chrome,
        serial: mine.user.serial_number.clone(),
        state: chrome.t("portal.status.active").to_string(),
        certificates: certificate_rows(&chrome, &mine.user.certificates, now_utc(&state)),
        codes,
    };
    lang.render(&page, StatusCode::OK)
}

pub async fn my_mobile_id(
    State(state): State<AppState>,
    lang: PageLang,
    session: Session,
    Query(query): Query<NoticeQuery>,
) -> Response {
    let mine = match state.engine.my_mobile_id(&session.account).await {
        Ok(Some(mine)) => mine,
        Ok(None) => return see_other("/portal/"),
        Err(e) => return super::internal(&e),
    };
    let chrome = lang.chrome();
    let active = has_active_phone(&mine);
    let devices = mine
        .user
        .devices
        .iter()
        .filter(|d| d.method == "App")
        .map(|d| DeviceRow {
            id: d.device_id.clone(),
            name: chrome
                .tf("portal.my.phone", &[("id", d.device_id.trim_start_matches("dev-").get(..8).unwrap_or(""))]),
            state: chrome.t(&format!("portal.device.{}", d.state.as_db())).to_string(),
            since: chrome.tf("portal.my.since", &[("time", &d.activated_at.format("%Y-%m-%d %H:%M UTC").to_string())]),
            can_block: d.state == DeviceState::Active,
        })
        .collect();
    let recent = mine
        .recent
        .iter()
        .map(|r| {
            let outcome = chrome.t(&format!("portal.outcome.{}", r.state.as_db())).to_string();
            (shown_time(r.at), r.requester.clone(), r.what.clone(), outcome)
        })
        .collect();
    let page = MobileIdPage {
        chrome: &chrome,
        notice: notice(&chrome, &query),
        serial: mine.user.serial_number.clone(),
        phone: format!("+{}", mine.user.msisdn),
        state: chrome.t(if active { "portal.status.active" } else { "portal.status.no_phone" }).to_string(),
        codes_left: mine.recovery_codes_left,
        devices,
        certificates: certificate_rows(&chrome, &mine.user.certificates, now_utc(&state)),
        recent,
        active,
        csrf: session.session.csrf_token.clone(),
    };
    lang.render(&page, StatusCode::OK)
}

#[derive(Deserialize)]
pub struct BlockForm {
    csrf: String,
    device: String,
}

/// Blocks a lost phone: its certificates are revoked at once.
pub async fn block(
    State(state): State<AppState>,
    lang: PageLang,
    session: Session,
    headers: HeaderMap,
    Form(form): Form<BlockForm>,
) -> Response {
    if let Some(refused) = session.refuse_form(&state, &headers, &form.csrf) {
        return refused;
    }
    match state.engine.block_own_device(&session.account, &form.device).await {
        Ok(()) => see_other("/portal/mobile-id?notice=blocked"),
        Err(PortalError::NoSuchDevice) => {
            let text = lang.chrome().t("portal.problem.no_device").to_string();
            message(&lang, StatusCode::NOT_FOUND, "portal.my.title", vec![text], "/portal/mobile-id", "portal.back")
        }
        Err(e) => super::internal(&e),
    }
}

/// A new set of recovery codes, shown once.
pub async fn new_codes(
    State(state): State<AppState>,
    lang: PageLang,
    session: Session,
    headers: HeaderMap,
    Form(form): Form<CsrfForm>,
) -> Response {
    if let Some(refused) = session.refuse_form(&state, &headers, &form.csrf) {
        return refused;
    }
    match state.engine.new_recovery_codes(&session.account).await {
        Ok(codes) => {
            let chrome = lang.chrome();
            lang.render(&CodesPage { chrome: &chrome, codes }, StatusCode::OK)
        }
        Err(PortalError::NoMobileId) => see_other("/portal/mobile-id"),
        Err(e) => super::internal(&e),
    }
}
