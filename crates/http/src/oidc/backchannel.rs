//! What relying parties call directly, authenticated as clients: PAR (RFC 9126), the
//! token endpoint, CIBA, revocation (RFC 7009) and introspection (RFC 7662); and
//! userinfo, with the access token.

use axum::extract::{Form, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use mobileid_engine::oidc::error::{MidCode, OAuthError, OidcError};
use mobileid_engine::oidc::login::session_code;
use mobileid_engine::oidc::{paths, ClientCredentials};
use serde_json::json;

use super::{error_json, no_store, single_parameters};
use crate::AppState;

const ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

fn invalid_request(detail: &str) -> OidcError {
    OidcError::new(MidCode::InvalidClientRequest, &session_code(), detail)
}

/// 401 with `WWW-Authenticate` for a client that failed to authenticate, 400 otherwise.
fn refused(error: &OidcError) -> Response {
    match error.error {
        OAuthError::InvalidClient => {
            let mut response = error_json(StatusCode::UNAUTHORIZED, error);
            response.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Basic realm=\"oidc\""));
            response
        }
        OAuthError::ServerError => error_json(StatusCode::INTERNAL_SERVER_ERROR, error),
        _ => error_json(StatusCode::BAD_REQUEST, error),
    }
}

/// The client's credentials: Basic (RFC 6749 §2.3.1: both parts form-urlencoded), the
/// form's secret, or a signed assertion; two at once is an error.
fn credentials(
    headers: &HeaderMap,
    params: &mut std::collections::HashMap<String, String>,
) -> Result<ClientCredentials, OidcError> {
    let basic = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
        .map(|encoded| -> Result<(String, String), OidcError> {
            let decoded =
                STANDARD.decode(encoded.trim()).map_err(|_| invalid_request("the Basic credentials are not base64"))?;
            let text =
                String::from_utf8(decoded).map_err(|_| invalid_request("the Basic credentials are not UTF-8"))?;
            let (id, secret) =
                text.split_once(':').ok_or_else(|| invalid_request("the Basic credentials lack a colon"))?;
            let decode = |part: &str| {
                form_urlencoded::parse(format!("x={part}").as_bytes())
                    .next()
                    .map(|(_, v)| v.into_owned())
                    .unwrap_or_default()
            };
            Ok((decode(id), decode(secret)))
        })
        .transpose()?;
    let secret = params.remove("client_secret");
    let assertion = params.remove("client_assertion");
    let assertion_type = params.remove("client_assertion_type");
    let client_id = params.get("client_id").cloned();
    match (basic, secret, assertion) {
        (Some((id, secret)), None, None) => {
            if client_id.as_ref().is_some_and(|c| *c != id) {
                return Err(invalid_request("client_id differs from the Basic credentials"));
            }
            Ok(ClientCredentials::Basic { client_id: id, secret })
        }
        (None, Some(secret), None) => match client_id {
            Some(client_id) => Ok(ClientCredentials::Post { client_id, secret }),
            None => Err(invalid_request("client_secret without client_id")),
        },
        (None, None, Some(assertion)) => {
            if assertion_type.as_deref() != Some(ASSERTION_TYPE) {
                return Err(invalid_request("client_assertion_type must be jwt-bearer"));
            }
            Ok(ClientCredentials::Assertion { client_id, assertion })
        }
        (None, None, None) => Ok(ClientCredentials::None),
        _ => Err(invalid_request("use exactly one client authentication method")),
    }
}

fn form_content(headers: &HeaderMap) -> bool {
    headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).is_some_and(|v| {
        v.split(';').next().is_some_and(|t| t.trim().eq_ignore_ascii_case("application/x-www-form-urlencoded"))
    })
}

/// `POST /oidc/par`: 201 with a single-use `request_uri`.
pub async fn par(
    State(state): State<AppState>,
    headers: HeaderMap,
    Form(pairs): Form<Vec<(String, String)>>,
) -> Response {
    let mut params = match single_parameters(pairs) {
        Ok(params) => params,
        Err(why) => return refused(&invalid_request(&why)),
    };
    let credentials = match credentials(&headers, &mut params) {
        Ok(credentials) => credentials,
        Err(e) => return refused(&e),
    };
    let endpoint = format!("{}{}", state.engine.oidc_issuer(), paths::PAR);
    let client = match state.engine.oidc_authenticate_client(&credentials, &endpoint).await {
        Ok(client) => client,
        Err(e) => return refused(&e),
    };
    if params.get("client_id").is_some_and(|id| *id != client.client_id) {
        return refused(&invalid_request("client_id differs from the authenticated client"));
    }
    params.insert("client_id".into(), client.client_id.clone());
    match state.engine.oidc_push_request(&client, params).await {
        Ok((request_uri, expires_in)) => {
            let mut response =
                (StatusCode::CREATED, Json(json!({"request_uri": request_uri, "expires_in": expires_in})))
                    .into_response();
            no_store(&mut response);
            response
        }
        Err(e) => refused(&e),
    }
}

/// The client of a back-channel form request, and the form without its credentials.
async fn authenticated_form(
    state: &AppState,
    headers: &HeaderMap,
    body: &[u8],
    path: &str,
) -> Result<(mobileid_engine::oidc::client::OidcClient, std::collections::HashMap<String, String>), Response> {
    if !form_content(headers) {
        return Err(refused(&invalid_request("the request must be application/x-www-form-urlencoded")));
    }
    let pairs: Vec<(String, String)> = form_urlencoded::parse(body).into_owned().collect();
    let mut params = single_parameters(pairs).map_err(|why| refused(&invalid_request(&why)))?;
    let credentials = credentials(headers, &mut params).map_err(|e| refused(&e))?;
    let endpoint = format!("{}{path}", state.engine.oidc_issuer());
    let client = state.engine.oidc_authenticate_client(&credentials, &endpoint).await.map_err(|e| refused(&e))?;
    Ok((client, params))
}

/// `POST /oidc/revoke`: 200 whether or not the token was one (RFC 7009 §2.2).
pub async fn revoke(State(state): State<AppState>, headers: HeaderMap, body: axum::body::Bytes) -> Response {
    let (client, params) = match authenticated_form(&state, &headers, &body, paths::REVOCATION).await {
        Ok(found) => found,
        Err(response) => return response,
    };
    let Some(token) = params.get("token") else { return refused(&invalid_request("token is missing")) };
    match state.engine.oidc_revoke(&client, token).await {
        Ok(()) => {
            let mut response = StatusCode::OK.into_response();
            no_store(&mut response);
            response
        }
        Err(e) => refused(&e),
    }
}

/// `POST /oidc/introspect`: what a token of this client stands for.
pub async fn introspect(State(state): State<AppState>, headers: HeaderMap, body: axum::body::Bytes) -> Response {
    let (client, params) = match authenticated_form(&state, &headers, &body, paths::INTROSPECTION).await {
        Ok(found) => found,
        Err(response) => return response,
    };
    let Some(token) = params.get("token") else { return refused(&invalid_request("token is missing")) };
    match state.engine.oidc_introspect(&client, token).await {
        Ok(answer) => {
            let mut response = Json(answer).into_response();
            no_store(&mut response);
            response
        }
        Err(e) => refused(&e),
    }
}

/// `POST /oidc/ciba`: a login started on the back channel (CIBA, poll mode).
pub async fn ciba(State(state): State<AppState>, headers: HeaderMap, body: axum::body::Bytes) -> Response {
    let (client, params) = match authenticated_form(&state, &headers, &body, paths::CIBA).await {
        Ok(found) => found,
        Err(response) => return response,
    };
    match state.engine.oidc_ciba_start(&client, &params).await {
        Ok(started) => {
            if let Some(endpoint) = client.settings.ciba_notification_endpoint.clone() {
                tokio::spawn(ping_when_ended(state.engine.clone(), endpoint, started.auth_req_id.clone()));
            }
            let mut response = Json(started).into_response();
            no_store(&mut response);
            response
        }
        Err(e) => refused(&e),
    }
}

/// CIBA ping mode: once the login ended, tells the client's notification endpoint, with
/// the bearer token it gave (CIBA Core §10.2). The wait lives on the node that started
/// the login; if that node stops first, the client's request simply expires.
async fn ping_when_ended(engine: mobileid_engine::Engine, endpoint: String, auth_req_id: String) {
    let Some(token) = engine.oidc_ciba_ended(&auth_req_id).await else { return };
    let sent = notifier()
        .post(&endpoint)
        .bearer_auth(token)
        .json(&serde_json::json!({ "auth_req_id": auth_req_id }))
        .send()
        .await;
    match sent {
        Ok(response) if response.status().is_success() => {}
        Ok(response) => tracing::warn!(endpoint, status = %response.status(), "CIBA ping refused"),
        Err(e) => tracing::warn!(endpoint, "CIBA ping failed: {e}"),
    }
}

/// The HTTP client for pings: public roots, short timeouts, no redirects.
fn notifier() -> &'static reqwest::Client {
    static CLIENT: std::sync::OnceLock<reqwest::Client> = std::sync::OnceLock::new();
    CLIENT.get_or_init(|| {
        reqwest::Client::builder()
            .use_rustls_tls()
            .timeout(std::time::Duration::from_secs(10))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap_or_default()
    })
}

/// `POST /oidc/token`: authorization_code (with PKCE), refresh_token and CIBA.
pub async fn token(State(state): State<AppState>, headers: HeaderMap, body: axum::body::Bytes) -> Response {
    let (client, params) = match authenticated_form(&state, &headers, &body, paths::TOKEN).await {
        Ok(found) => found,
        Err(response) => return response,
    };
    let answer = match params.get("grant_type").map(String::as_str) {
        Some("authorization_code") => {
            let Some(code) = params.get("code") else { return refused(&invalid_request("code is missing")) };
            state
                .engine
                .oidc_redeem_code(
                    &client,
                    code,
                    params.get("redirect_uri").map(String::as_str),
                    params.get("code_verifier").map(String::as_str),
                )
                .await
        }
        Some("urn:openid:params:grant-type:ciba") => {
            let Some(id) = params.get("auth_req_id") else {
                return refused(&invalid_request("auth_req_id is missing"));
            };
            state.engine.oidc_ciba_poll(&client, id).await
        }
        Some("refresh_token") => {
            let Some(token) = params.get("refresh_token") else {
                return refused(&invalid_request("refresh_token is missing"));
            };
            state.engine.oidc_refresh(&client, token, params.get("scope").map(String::as_str)).await
        }
        Some(other) => Err(invalid_request(&format!("grant_type {other} is not supported"))
            .with_error(OAuthError::UnsupportedGrantType)),
        None => Err(invalid_request("grant_type is missing")),
    };
    match answer {
        Ok(tokens) => {
            let mut response = Json(tokens).into_response();
            no_store(&mut response);
            response
        }
        Err(e) => refused(&e),
    }
}

pub async fn userinfo_get(State(state): State<AppState>, headers: HeaderMap) -> Response {
    userinfo(state, headers, None).await
}

pub async fn userinfo_post(State(state): State<AppState>, headers: HeaderMap, body: axum::body::Bytes) -> Response {
    let token = form_urlencoded::parse(&body).find(|(k, _)| k == "access_token").map(|(_, v)| v.into_owned());
    userinfo(state, headers, token).await
}

/// RFC 6750: the token from the header (or, for POST, the form); 401 with
/// `WWW-Authenticate: Bearer error="invalid_token"` when it is not good.
async fn userinfo(state: AppState, headers: HeaderMap, form_token: Option<String>) -> Response {
    let header_token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(|t| t.trim().to_string());
    let token = match (header_token, form_token) {
        (Some(token), None) | (None, Some(token)) => token,
        (Some(_), Some(_)) => return bearer_refusal(StatusCode::BAD_REQUEST, "invalid_request", "send the token once"),
        (None, None) => {
            return bearer_refusal(StatusCode::UNAUTHORIZED, "invalid_token", "an access token is required")
        }
    };
    match state.engine.oidc_userinfo(&token).await {
        Ok((client, claims)) if client.settings.userinfo_signed => {
            match state.engine.sign_for(&client, &claims, None).await {
                Ok(jwt) => {
                    let mut response = ([(header::CONTENT_TYPE, "application/jwt")], jwt).into_response();
                    no_store(&mut response);
                    response
                }
                Err(e) => refused(&e),
            }
        }
        Ok((_, claims)) => {
            let mut response = Json(claims).into_response();
            no_store(&mut response);
            response
        }
        Err(e) if e.error == OAuthError::InvalidToken => {
            bearer_refusal(StatusCode::UNAUTHORIZED, "invalid_token", &e.description())
        }
        Err(e) => refused(&e),
    }
}

fn bearer_refusal(status: StatusCode, error: &str, description: &str) -> Response {
    let mut response = (status, Json(json!({"error": error, "error_description": description}))).into_response();
    let challenge = format!("Bearer error=\"{error}\"");
    if let Ok(value) = HeaderValue::from_str(&challenge) {
        response.headers_mut().insert(header::WWW_AUTHENTICATE, value);
    }
    no_store(&mut response);
    response
}
