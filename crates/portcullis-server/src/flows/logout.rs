//! Logout: Auth0's `/v2/logout` and OpenID Connect RP-Initiated Logout (`/oidc/logout`).
//! Ending a session deletes it server-side (a replayed cookie no longer works) and
//! revokes the refresh-token families that came from it.

use portcullis_core::log::LogType;
use portcullis_core::proto::{OAuthError, OAuthErrorCode};
use portcullis_core::session::Session;
use portcullis_core::user;
use serde_json::Value;

use super::Internal;
use super::authorize::active_session;
use crate::logs::Subject;
use crate::state::AppState;

/// What the browser is shown after a logout request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LogoutOutcome {
    /// Go back to the application.
    Redirect(String),
    /// Show "you are logged out".
    LoggedOut,
    /// OIDC logout without a valid hint: ask the user (the session of this id).
    Confirm(String),
    /// Refuse (never redirect to an unregistered URL).
    Error(OAuthError),
}

fn error(msg: &str) -> OAuthError {
    OAuthError::new(OAuthErrorCode::InvalidRequest, msg)
}

async fn end(
    state: &AppState,
    session: &Session,
    client_id: Option<&str>,
    ip: Option<std::net::IpAddr>,
) -> Result<(), Internal> {
    let now = state.now();
    state.store.delete_session(&session.id).await?;
    let revoked = state
        .store
        .revoke_session_families(&session.id, "logout", now)
        .await?;
    let subject = Subject {
        client_id,
        user_id: Some(&session.user_id),
        ip,
    };
    let description = format!("Logout (refresh-token families revoked: {revoked})");
    state
        .logs
        .record(now, LogType::SuccessLogout, &description, subject);
    Ok(())
}

fn failed(
    state: &AppState,
    client_id: Option<&str>,
    ip: Option<std::net::IpAddr>,
    e: OAuthError,
) -> LogoutOutcome {
    state.logs.record(
        state.now(),
        LogType::FailedLogout,
        &e.error_description,
        Subject {
            client_id,
            user_id: None,
            ip,
        },
    );
    LogoutOutcome::Error(e)
}

/// Auth0 `GET /v2/logout?client_id&returnTo`: `returnTo` must be one of the client's
/// Allowed Logout URLs (exactly); without it, the first of them. The session ends in
/// every case: the user asked to log out.
pub async fn v2(
    state: &AppState,
    session_cookie: Option<&str>,
    client_id: Option<&str>,
    return_to: Option<&str>,
    ip: Option<std::net::IpAddr>,
) -> Result<LogoutOutcome, Internal> {
    if let Some(session) = active_session(state, session_cookie).await? {
        end(state, &session, client_id, ip).await?;
    }
    let client = match client_id {
        Some(id) => state.store.find_client(id).await?,
        None => None,
    };
    Ok(match (client_id, client, return_to) {
        (Some(_), None, _) => failed(state, client_id, ip, error("Unknown client")),
        (Some(_), Some(c), Some(url)) if c.allowed_logout_urls.iter().any(|u| u == url) => {
            LogoutOutcome::Redirect(url.to_owned())
        }
        (Some(_), Some(_), Some(_)) => failed(
            state,
            client_id,
            ip,
            error("The returnTo URL is not in the application's Allowed Logout URLs"),
        ),
        (Some(_), Some(c), None) => c
            .allowed_logout_urls
            .first()
            .cloned()
            .map_or(LogoutOutcome::LoggedOut, LogoutOutcome::Redirect),
        (None, _, Some(_)) => failed(state, None, ip, error("returnTo needs client_id")),
        (None, _, None) => LogoutOutcome::LoggedOut,
    })
}

/// The parameters of an RP-initiated logout request.
#[derive(Debug, Default, Clone)]
pub struct OidcLogout<'a> {
    /// A previously issued ID token.
    pub id_token_hint: Option<&'a str>,
    /// Where to go afterwards (must be registered).
    pub post_logout_redirect_uri: Option<&'a str>,
    /// Echoed to `post_logout_redirect_uri`.
    pub state: Option<&'a str>,
    /// The client.
    pub client_id: Option<&'a str>,
    /// Auth0: the `sid` of the session to end.
    pub logout_hint: Option<&'a str>,
    /// The user confirmed on our page (the handler checked its CSRF token).
    pub confirmed: bool,
}

/// OpenID Connect RP-Initiated Logout 1.0 §2–3, with Auth0's rules: without a valid
/// `id_token_hint` for the current user (or a `logout_hint` naming the session) the user
/// is asked to confirm.
pub async fn oidc(
    state: &AppState,
    session_cookie: Option<&str>,
    req: OidcLogout<'_>,
    ip: Option<std::net::IpAddr>,
) -> Result<LogoutOutcome, Internal> {
    let hint = match req.id_token_hint {
        None => None,
        Some(token) => match state.keys.verify_signature(token, &state.issuer) {
            // An ID token's audience is one client (OIDC Core §2); an access token's is an
            // API (or several), so it cannot pass as a hint.
            Ok(claims) if is_client(state, claims.get("aud")).await? => Some(claims),
            _ => {
                return Ok(failed(
                    state,
                    req.client_id,
                    ip,
                    error("Invalid id_token_hint"),
                ));
            }
        },
    };
    let hint_client = hint
        .as_ref()
        .and_then(|c| c.get("aud"))
        .and_then(Value::as_str);
    let client_id = match (req.client_id, hint_client) {
        (Some(a), Some(b)) if a != b => {
            return Ok(failed(
                state,
                req.client_id,
                ip,
                error("client_id does not match the id_token_hint audience"),
            ));
        }
        (Some(a), _) => Some(a),
        (None, b) => b,
    };
    let target = match req.post_logout_redirect_uri {
        None => None,
        Some(uri) => {
            let client = match client_id {
                Some(id) => state.store.find_client(id).await?,
                None => None,
            };
            match client {
                Some(c) if c.allowed_logout_urls.iter().any(|u| u == uri) => {
                    Some(with_state(uri, req.state))
                }
                Some(_) => {
                    return Ok(failed(
                        state,
                        client_id,
                        ip,
                        error(
                            "post_logout_redirect_uri is not in the application's Allowed Logout URLs",
                        ),
                    ));
                }
                None => {
                    return Ok(failed(
                        state,
                        client_id,
                        ip,
                        error("post_logout_redirect_uri needs client_id or id_token_hint"),
                    ));
                }
            }
        }
    };
    let done =
        |target: Option<String>| target.map_or(LogoutOutcome::LoggedOut, LogoutOutcome::Redirect);
    let Some(session) = active_session(state, session_cookie).await? else {
        return Ok(done(target));
    };
    let user_sub = user::subject(&session.user_id);
    let hint_matches = hint
        .as_ref()
        .and_then(|c| c.get("sub"))
        .and_then(Value::as_str)
        == Some(user_sub.as_str());
    let sid_matches = req.logout_hint == Some(session.id.as_str());
    if !(req.confirmed || hint_matches || sid_matches) {
        return Ok(LogoutOutcome::Confirm(session.id));
    }
    end(state, &session, client_id, ip).await?;
    Ok(done(target))
}

async fn is_client(state: &AppState, aud: Option<&Value>) -> Result<bool, Internal> {
    Ok(match aud.and_then(Value::as_str) {
        Some(aud) => state.store.find_client(aud).await?.is_some(),
        None => false,
    })
}

fn with_state(uri: &str, state: Option<&str>) -> String {
    match state {
        None => uri.to_owned(),
        Some(s) => {
            let encoded = url::form_urlencoded::Serializer::new(String::new())
                .append_pair("state", s)
                .finish();
            format!(
                "{uri}{}{encoded}",
                if uri.contains('?') { '&' } else { '?' }
            )
        }
    }
}
