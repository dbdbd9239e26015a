//! The playground: the demo application's back end, served by Portcullis so a newcomer
//! can run the real Authorization Code Flow (with PKCE, state and nonce) and see each
//! step. It talks to the token endpoint and the demo API through the full router, exactly
//! as an outside back end would over HTTP. Only routed when the demo tenant is active.

use axum::Router;
use axum::body::{Body, to_bytes};
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, Request, StatusCode, header};
use axum::response::{Html, IntoResponse, Json, Response};
use axum::routing::get;
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use portcullis_core::pkce::{CodeChallenge, CodeVerifier};
use portcullis_core::proto::{OAuthError, OAuthErrorCode, paths};
use serde::Serialize;
use serde_json::{Value, json};
use tower::ServiceExt;

use crate::crypto;
use crate::http::error::HttpError;
use crate::http::extract::{bearer_token, cookie, query_params};
use crate::seed::{DEMO_AUDIENCE, DemoApp};
use crate::state::AppState;

const COOKIE: &str = "portcullis_playground";
const SCOPE: &str = "openid profile email read:messages";

/// Routes, only when the demo tenant is active.
pub fn routes(state: &AppState) -> Router<AppState> {
    if state.playground.is_none() {
        return Router::new();
    }
    Router::new()
        .route(paths::PLAYGROUND_START, get(start))
        .route(paths::PLAYGROUND_CALLBACK, get(callback))
        .route(paths::PLAYGROUND_API, get(api))
}

fn demo(state: &AppState) -> Result<&DemoApp, HttpError> {
    state.playground.as_deref().ok_or_else(|| {
        HttpError::Internal(anyhow::anyhow!("playground routed without the demo app"))
    })
}

/// The values the demo app remembers between redirect and callback.
struct Pending {
    state: String,
    nonce: String,
    verifier: String,
}

impl Pending {
    fn authorize_url(&self, app: &AppState, client_id: &str) -> Result<String, HttpError> {
        let verifier = CodeVerifier::parse(&self.verifier)
            .map_err(|e| HttpError::Internal(anyhow::Error::new(e)))?;
        let query = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("response_type", "code")
            .append_pair("client_id", client_id)
            .append_pair("redirect_uri", &app.url(paths::PLAYGROUND_CALLBACK))
            .append_pair("scope", SCOPE)
            .append_pair("audience", DEMO_AUDIENCE)
            .append_pair("state", &self.state)
            .append_pair("nonce", &self.nonce)
            .append_pair("code_challenge", CodeChallenge::s256(&verifier).as_str())
            .append_pair("code_challenge_method", "S256")
            .finish();
        Ok(format!("{}?{query}", app.url(paths::AUTHORIZE)))
    }
}

async fn start(State(state): State<AppState>) -> Result<Response, HttpError> {
    let app = demo(&state)?;
    let pending = Pending {
        state: crypto::random_id::<16>(),
        nonce: crypto::random_id::<16>(),
        verifier: crypto::random_id::<32>(),
    };
    let value = format!("{}.{}.{}", pending.state, pending.nonce, pending.verifier);
    let cookie = format!(
        "{COOKIE}={value}.{}; Path=/playground; HttpOnly; SameSite=Lax; Max-Age=3600{}",
        state.secrets.sign_playground(&value),
        if state.secure_cookies { "; Secure" } else { "" }
    );
    let location = pending.authorize_url(&state, &app.client_id)?;
    let mut response = (StatusCode::FOUND, [(header::LOCATION, location)]).into_response();
    if let Ok(v) = HeaderValue::from_str(&cookie) {
        response.headers_mut().append(header::SET_COOKIE, v);
    }
    Ok(response)
}

fn pending(state: &AppState, headers: &HeaderMap) -> Option<Pending> {
    let raw = cookie(headers, COOKIE)?;
    let (value, tag) = raw.rsplit_once('.')?;
    if !state.secrets.verify_playground(value, tag) {
        return None;
    }
    let mut parts = value.split('.');
    Some(Pending {
        state: parts.next()?.into(),
        nonce: parts.next()?.into(),
        verifier: parts.next()?.into(),
    })
}

#[derive(Serialize)]
struct Step {
    title: &'static str,
    explanation: String,
    body: String,
}

fn pretty(v: &Value) -> String {
    serde_json::to_string_pretty(v).unwrap_or_default()
}

/// Header and payload of a JWT, decoded for display.
fn decode_jwt(token: &str) -> Value {
    let part = |i: usize| {
        token
            .split('.')
            .nth(i)
            .and_then(|p| URL_SAFE_NO_PAD.decode(p).ok())
            .and_then(|b| serde_json::from_slice::<Value>(&b).ok())
            .unwrap_or(Value::Null)
    };
    json!({"header": part(0), "payload": part(1)})
}

async fn call(state: &AppState, request: Request<Body>) -> Result<(StatusCode, Value), HttpError> {
    let response = crate::http::router(state.clone())
        .oneshot(request)
        .await
        .map_err(|e| HttpError::Internal(anyhow::anyhow!("in-process call failed: {e:?}")))?;
    let status = response.status();
    let bytes = to_bytes(response.into_body(), 1 << 20)
        .await
        .map_err(|e| HttpError::Internal(anyhow::Error::new(e)))?;
    Ok((
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    ))
}

async fn callback(
    State(state): State<AppState>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Result<Response, HttpError> {
    let app = demo(&state)?;
    let params = query_params(query.as_deref()).unwrap_or_default();
    let mut steps = Vec::new();
    let done = |steps: Vec<Step>, ok: bool| -> Result<Response, HttpError> {
        let html = state
            .views
            .render("playground.html", &json!({"steps": steps, "ok": ok}))?;
        let mut response = Html(html).into_response();
        if let Ok(v) = HeaderValue::from_str(&format!(
            "{COOKIE}=; Path=/playground; HttpOnly; SameSite=Lax; Max-Age=0"
        )) {
            response.headers_mut().append(header::SET_COOKIE, v);
        }
        Ok(response)
    };
    let Some(pending) = pending(&state, &headers) else {
        steps.push(Step { title: "No login in progress", explanation: "This browser did not start a playground login (or it expired). Start one from the home page.".into(), body: String::new() });
        return done(steps, false);
    };
    steps.push(Step {
        title: "1. Authorization request",
        explanation: "The Demo App sent your browser to /authorize with a random state, a nonce and a PKCE S256 challenge; it kept the state, nonce and code verifier in a signed cookie.".into(),
        body: pending.authorize_url(&state, &app.client_id)?,
    });
    let received: Value = ["code", "state", "iss", "error", "error_description"]
        .iter()
        .filter_map(|k| params.get(k).map(|v| (k.to_string(), json!(v))))
        .collect::<serde_json::Map<_, _>>()
        .into();
    let state_ok = params.get("state") == Some(pending.state.as_str());
    let iss_ok = params.get("iss") == Some(&*state.issuer);
    steps.push(Step {
        title: "2. Authorization response",
        explanation: format!(
            "Portcullis redirected back to this callback. state matches what the app sent: {state_ok}. iss is this issuer (RFC 9207): {iss_ok}."
        ),
        body: pretty(&received),
    });
    if params.has("error") || !state_ok || !iss_ok {
        return done(steps, false);
    }
    let code = params.get("code").unwrap_or_default();
    let form = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("grant_type", "authorization_code")
        .append_pair("code", code)
        .append_pair("redirect_uri", &state.url(paths::PLAYGROUND_CALLBACK))
        .append_pair("code_verifier", &pending.verifier)
        .finish();
    let basic = STANDARD.encode(format!("{}:{}", app.client_id, app.client_secret.expose()));
    steps.push(Step {
        title: "3. Token request",
        explanation: "The app's back end exchanged the code at the token endpoint, authenticating with its client secret (HTTP Basic) and proving possession of the PKCE verifier.".into(),
        body: format!(
            "POST {}\nAuthorization: Basic <client_id:client_secret>\nContent-Type: application/x-www-form-urlencoded\n\n{form}",
            state.url(paths::TOKEN)
        ),
    });
    let request = Request::post(paths::TOKEN)
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .header(header::AUTHORIZATION, format!("Basic {basic}"))
        .body(Body::from(form))
        .map_err(|e| HttpError::Internal(anyhow::Error::new(e)))?;
    let (status, tokens) = call(&state, request).await?;
    steps.push(Step {
        title: "4. Token response",
        explanation: format!("HTTP {status}."),
        body: pretty(&tokens),
    });
    if !status.is_success() {
        return done(steps, false);
    }
    let id_token = tokens["id_token"].as_str().unwrap_or_default();
    let access_token = tokens["access_token"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let id_check = state
        .keys
        .verify(id_token, &state.issuer, &app.client_id, state.now());
    let nonce_ok = decode_jwt(id_token)["payload"]["nonce"] == json!(pending.nonce);
    steps.push(Step {
        title: "5. Tokens, decoded",
        explanation: format!(
            "The ID token's signature, issuer, audience and expiry check out: {}. Its nonce matches the one the app sent: {nonce_ok}. The access token is a JWT for the Demo API.",
            id_check.is_ok()
        ),
        body: pretty(&json!({"id_token": decode_jwt(id_token), "access_token": decode_jwt(&access_token)})),
    });
    let request = Request::get(paths::PLAYGROUND_API)
        .header(header::AUTHORIZATION, format!("Bearer {access_token}"))
        .body(Body::empty())
        .map_err(|e| HttpError::Internal(anyhow::Error::new(e)))?;
    let (status, api_response) = call(&state, request).await?;
    steps.push(Step {
        title: "6. API call",
        explanation: format!(
            "The app called the Demo API ({}) with the access token; the API verified its signature (JWKS), issuer, audience, expiry and the read:messages scope. HTTP {status}.",
            paths::PLAYGROUND_API
        ),
        body: pretty(&api_response),
    });
    done(steps, status.is_success() && id_check.is_ok() && nonce_ok)
}

/// The demo API: accepts only a valid access token for its audience with `read:messages`.
async fn api(State(state): State<AppState>, headers: HeaderMap) -> Result<Response, HttpError> {
    let token = match bearer_token(&headers) {
        Some(Ok(t)) => t,
        None => return Err(HttpError::Bearer(None)),
        Some(Err(())) => {
            return Err(HttpError::Bearer(Some(OAuthError::new(
                OAuthErrorCode::InvalidRequest,
                "Malformed Authorization header",
            ))));
        }
    };
    let claims = state
        .keys
        .verify(&token, &state.issuer, DEMO_AUDIENCE, state.now())
        .map_err(|_| {
            HttpError::Bearer(Some(OAuthError::new(
                OAuthErrorCode::InvalidToken,
                "The access token is invalid or expired",
            )))
        })?;
    let scope = claims
        .get("scope")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if !scope.split(' ').any(|s| s == "read:messages") {
        return Err(HttpError::Bearer(Some(OAuthError::new(
            OAuthErrorCode::InsufficientScope,
            "read:messages is required",
        ))));
    }
    Ok(Json(json!({
        "message": format!("Hello, {}! Your access token was verified by the Demo API.", claims.get("sub").and_then(Value::as_str).unwrap_or_default()),
        "scope": scope,
    }))
    .into_response())
}
