//! The authorization endpoint's flow (RFC 6749 §4.1.1–4.1.2, OIDC Core §3.1.2): validate
//! the request, then log in, ask consent or issue a code — resumed after each hosted
//! page through the login transaction.

use portcullis_core::authorize::{self, AuthorizeError, RedirectTarget, Situation, Step};
use portcullis_core::client::Client;
use portcullis_core::code::{self, AuthorizationCode};
use portcullis_core::consent;
use portcullis_core::params::Params;
use portcullis_core::proto::{OAuthError, OAuthErrorCode, paths};
use portcullis_core::resource_server::ResourceServer;
use portcullis_core::scope::Scope;
use portcullis_core::secret::{OpaqueToken, TokenHash};
use portcullis_core::session::{LoginTransaction, Session};

use super::Internal;
use crate::crypto;
use crate::state::AppState;

/// An authorization response for the client: a code, or an error.
#[derive(Debug, Clone)]
pub struct AuthorizationResponse {
    /// Where and how.
    pub target: RedirectTarget,
    /// Parameters in order, `state` and `iss` last (RFC 9207).
    pub params: Vec<(&'static str, String)>,
}

impl AuthorizationResponse {
    fn new(
        state: &AppState,
        target: RedirectTarget,
        mut params: Vec<(&'static str, String)>,
    ) -> Self {
        if let Some(s) = &target.state {
            params.push(("state", s.clone()));
        }
        params.push(("iss", state.issuer.to_string()));
        Self { target, params }
    }

    /// An error response (RFC 6749 §4.1.2.1) with `state` and `iss`.
    pub fn error(state: &AppState, target: RedirectTarget, error: OAuthError) -> Self {
        let params = vec![
            ("error", error.error.as_str().to_owned()),
            ("error_description", error.error_description),
        ];
        Self::new(state, target, params)
    }
}

/// What the browser is shown next.
#[derive(Debug, Clone)]
pub enum Outcome {
    /// Deliver an authorization response to the client.
    Respond(AuthorizationResponse),
    /// Go to a hosted page (login or consent) at this path.
    GoTo(String),
    /// Show an error on our own page, never redirecting (RFC 6749 §4.1.2.1).
    Page(OAuthError),
}

/// The browser's identity for this flow: the hash of its binding cookie.
#[derive(Debug, Clone)]
pub struct Browser {
    /// The cookie value.
    pub id: String,
}

impl Browser {
    /// Hash stored in login transactions.
    pub fn hash(&self) -> String {
        TokenHash::of(&self.id).as_str().to_owned()
    }
}

/// Reads the SSO session named by a session cookie, if active.
pub async fn active_session(
    state: &AppState,
    cookie: Option<&str>,
) -> Result<Option<Session>, Internal> {
    let Some(cookie) = cookie else {
        return Ok(None);
    };
    let found = state.store.find_session(&TokenHash::of(cookie)).await?;
    still_active(state, found).await
}

/// `session`, if it is still active (its last use recorded when that is due).
async fn still_active(
    state: &AppState,
    session: Option<Session>,
) -> Result<Option<Session>, Internal> {
    let Some(session) = session else {
        return Ok(None);
    };
    let now = state.now();
    if !session.is_active(now, state.settings.sessions) {
        return Ok(None);
    }
    if session.needs_touch(now, state.settings.sessions) {
        state.store.touch_session(&session.id, now).await?;
    }
    Ok(Some(session))
}

/// `GET/POST /authorize`: validates and starts (or immediately finishes) the flow.
pub async fn start(
    state: &AppState,
    params: &Params,
    browser: &Browser,
    session_cookie: Option<&str>,
) -> Result<Outcome, Internal> {
    let client = match params.get("client_id") {
        Some(id) if !params.is_repeated("client_id") => state.client(id).await?,
        _ => None,
    };
    let target = match authorize::trust(params, client.as_ref()) {
        Ok(target) => target,
        Err(e) => return Ok(Outcome::Page(e)),
    };
    let Some(client) = client else {
        return Ok(Outcome::Page(OAuthError::new(
            OAuthErrorCode::InvalidRequest,
            "Unknown client",
        )));
    };
    let api = match params.get("audience").or_else(|| params.get("resource")) {
        Some(audience) => state.api(audience).await?,
        None => None,
    };
    let mut request = match authorize::validate(params, &client, target, api.as_ref()) {
        Ok(r) => r,
        Err(AuthorizeError::Page(e)) => return Ok(Outcome::Page(e)),
        Err(AuthorizeError::Redirect(target, e)) => {
            return Ok(Outcome::Respond(AuthorizationResponse::error(
                state, target, e,
            )));
        }
    };
    if let Some(hint) = params.get("id_token_hint") {
        match hinted_subject(state, hint, &client.client_id) {
            Some(sub) => request.hinted_sub = Some(sub),
            None => {
                let error =
                    OAuthError::new(OAuthErrorCode::InvalidRequest, "Invalid id_token_hint");
                return Ok(Outcome::Respond(AuthorizationResponse::error(
                    state,
                    request.target,
                    error,
                )));
            }
        }
    }
    // A returning user's session and what they granted this client, in one read.
    let (session, remembered) = match session_cookie {
        Some(cookie) => {
            let found = state
                .store
                .find_session_with_grant(
                    &TokenHash::of(cookie),
                    &client.client_id,
                    request.audience.as_deref(),
                )
                .await?;
            let (session, remembered) = found.unzip();
            (still_active(state, session).await?, remembered.flatten())
        }
        None => (None, None),
    };
    let tx = LoginTransaction {
        request,
        browser_hash: browser.hash(),
        user_id: session.as_ref().map(|s| s.user_id.clone()),
        authenticated_at: None,
        consented: false,
        expires_at: state.now() + LoginTransaction::LIFETIME,
    };
    let session = session.as_ref().map(|s| (s, Some(remembered)));
    advance(state, None, tx, session, &client, api.as_ref()).await
}

/// The `sub` of an ID token this server issued to `client_id` (OIDC Core §3.1.2.1: the
/// hint may have expired; its signature, issuer and audience must hold).
fn hinted_subject(state: &AppState, hint: &str, client_id: &str) -> Option<String> {
    let claims = state.keys.verify_signature(hint, &state.issuer).ok()?;
    let for_client = match claims.get("aud") {
        Some(serde_json::Value::String(aud)) => aud == client_id,
        Some(serde_json::Value::Array(auds)) => auds.iter().any(|a| a == client_id),
        _ => false,
    };
    let is_id_token = claims.contains_key("auth_time")
        || claims.contains_key("nonce")
        || claims.contains_key("at_hash");
    (for_client && is_id_token)
        .then(|| claims.get("sub")?.as_str().map(str::to_owned))
        .flatten()
}

/// A login transaction loaded for a hosted page, checked against the browser.
pub struct Resumed {
    /// The transaction handle, as the pages carry it.
    pub handle: String,
    /// The transaction.
    pub tx: LoginTransaction,
    /// Its client.
    pub client: Client,
    /// Its API.
    pub api: Option<ResourceServer>,
}

/// Why a hosted page cannot continue a transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResumeError {
    /// Unknown or expired transaction.
    Expired,
    /// The transaction was started in another browser.
    OtherBrowser,
}

impl ResumeError {
    /// The page error shown for it (Auth0's wording for an expired transaction).
    pub fn to_oauth(self) -> OAuthError {
        match self {
            Self::Expired => OAuthError::new(
                OAuthErrorCode::InvalidRequest,
                "You may have pressed the back button, refreshed during login, opened too many login dialogs, or there is some issue with cookies, since we couldn't find your session. Try logging in again from the application.",
            ),
            Self::OtherBrowser => OAuthError::new(
                OAuthErrorCode::InvalidRequest,
                "This login was started in another browser. Start again from the application.",
            ),
        }
    }
}

/// Loads the transaction a hosted page carries (`state` handle) for this browser.
pub async fn resume(
    state: &AppState,
    handle: &str,
    browser: Option<&Browser>,
) -> Result<Result<Resumed, ResumeError>, Internal> {
    let Some(tx) = state
        .store
        .find_login_transaction(&TokenHash::of(handle), state.now())
        .await?
    else {
        return Ok(Err(ResumeError::Expired));
    };
    if !browser.is_some_and(|b| TokenHash::from_stored(tx.browser_hash.clone()).matches(&b.id)) {
        return Ok(Err(ResumeError::OtherBrowser));
    }
    let Some(client) = state.client(&tx.request.client_id).await? else {
        return Ok(Err(ResumeError::Expired));
    };
    let api = match &tx.request.audience {
        Some(a) => state.api(a).await?,
        None => None,
    };
    Ok(Ok(Resumed {
        handle: handle.to_owned(),
        tx,
        client,
        api,
    }))
}

/// Decides and performs the next step, saving the transaction when a page must be shown.
/// `session` comes with the scope its user granted the client for the transaction's
/// audience when the caller read it already (`Some`), or `None` to read it here.
pub async fn advance(
    state: &AppState,
    handle: Option<&str>,
    tx: LoginTransaction,
    session: Option<(&Session, Option<Option<Scope>>)>,
    client: &Client,
    api: Option<&ResourceServer>,
) -> Result<Outcome, Internal> {
    // A session of another user than the one this transaction started with does not count.
    let session = session.filter(|(s, _)| tx.user_id.as_ref().is_none_or(|u| *u == s.user_id));
    let (session, known) = session.unzip();
    let remembered = match (session, known.flatten()) {
        (Some(_), Some(known)) => known,
        (Some(s), _) => {
            state
                .store
                .find_grant(
                    &s.user_id,
                    &client.client_id,
                    tx.request.audience.as_deref(),
                )
                .await?
        }
        (None, _) => None,
    };
    let step = authorize::next_step(Situation {
        request: &tx.request,
        client,
        api,
        session,
        authenticated_in_transaction: tx.authenticated_at.is_some(),
        consented_in_transaction: tx.consented,
        remembered_grant: remembered.as_ref(),
        now: state.now(),
    });
    let page = match step {
        Err(error) => {
            finish(state, handle).await?;
            return Ok(Outcome::Respond(AuthorizationResponse::error(
                state,
                tx.request.target,
                error,
            )));
        }
        Ok(Step::IssueCode) => {
            let Some(session) = session else {
                return Err(Internal(anyhow::anyhow!(
                    "issuing a code without a session"
                )));
            };
            finish(state, handle).await?;
            return issue_code(state, &tx, session, api)
                .await
                .map(Outcome::Respond);
        }
        Ok(Step::Login) => paths::LOGIN,
        Ok(Step::Consent) => paths::CONSENT,
    };
    let handle = match handle {
        Some(h) => {
            state
                .store
                .update_login_transaction(&TokenHash::of(h), &tx)
                .await?;
            h.to_owned()
        }
        None => {
            let token = OpaqueToken::from_random(&crypto::random());
            state
                .store
                .insert_login_transaction(&token.hash(), &tx)
                .await?;
            token.expose().to_owned()
        }
    };
    Ok(Outcome::GoTo(format!("{page}?state={handle}")))
}

async fn finish(state: &AppState, handle: Option<&str>) -> Result<(), Internal> {
    if let Some(h) = handle {
        state
            .store
            .delete_login_transaction(&TokenHash::of(h))
            .await?;
    }
    Ok(())
}

/// RFC 6749 §4.1.2: issues a single-use, short-lived code bound to the client, redirect
/// URI, PKCE challenge, nonce, and the granted scope and audience.
async fn issue_code(
    state: &AppState,
    tx: &LoginTransaction,
    session: &Session,
    api: Option<&ResourceServer>,
) -> Result<AuthorizationResponse, Internal> {
    let now = state.now();
    let req = &tx.request;
    let code = OpaqueToken::from_random(&crypto::random());
    let record = AuthorizationCode {
        client_id: req.client_id.clone(),
        user_id: session.user_id.clone(),
        redirect_uri: req.target.redirect_uri.clone(),
        redirect_uri_sent: req.redirect_uri_sent,
        scope: consent::granted_scope(&req.scope, api),
        audience: req.audience.clone(),
        nonce: req.nonce.clone(),
        code_challenge: req.code_challenge.clone(),
        session_id: session.id.clone(),
        auth_time: session.auth_time,
        expires_at: now + code::LIFETIME,
    };
    state.store.insert_code(&code.hash(), &record, now).await?;
    let recorded = &state.recorded_session_clients;
    if !recorded.contains(&session.id, &req.client_id) {
        state
            .store
            .record_session_client(&session.id, &req.client_id, now)
            .await?;
        recorded.insert(&session.id, &req.client_id);
    }
    Ok(AuthorizationResponse::new(
        state,
        req.target.clone(),
        vec![("code", code.expose().to_owned())],
    ))
}
