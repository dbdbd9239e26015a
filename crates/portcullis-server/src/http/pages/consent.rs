//! `GET/POST /u/consent`: the consent page (DESIGN §2 "Hosted pages"). Only the user the
//! transaction belongs to, with an active session, sees or answers it.

use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use portcullis_core::consent as rules;
use portcullis_core::proto::{OAuthError, OAuthErrorCode, paths};
use portcullis_core::session::Session;
use serde::Deserialize;

use super::{Visit, open, submit};
use crate::flows::Internal;
use crate::flows::authorize::{self, Resumed};
use crate::flows::consent::{self, Decision};
use crate::http::error::{HttpError, page};
use crate::http::extract::cookie;
use crate::http::response::{outcome, session_cookie_name};
use crate::state::AppState;
use crate::views::{ConsentPage, ConsentScope};

const FORM: &str = "consent";

#[derive(Deserialize)]
pub struct PageQuery {
    state: Option<String>,
}

/// The session of the transaction's user, if this browser has it.
async fn owner_session(
    state: &AppState,
    headers: &HeaderMap,
    resumed: &Resumed,
) -> Result<Option<Session>, Internal> {
    let cookie = cookie(headers, session_cookie_name(state));
    let session = authorize::active_session(state, cookie.as_deref()).await?;
    Ok(session.filter(|s| resumed.tx.user_id.as_deref() == Some(s.user_id.as_str())))
}

pub async fn get(
    State(state): State<AppState>,
    Query(q): Query<PageQuery>,
    headers: HeaderMap,
) -> Result<Response, HttpError> {
    let Visit { resumed, browser } = match open(&state, &headers, q.state.as_deref()).await? {
        Ok(v) => v,
        Err(response) => return Ok(response),
    };
    let Some(session) = owner_session(&state, &headers, &resumed).await? else {
        return Ok(
            Redirect::to(&format!("{}?state={}", paths::LOGIN, resumed.handle)).into_response(),
        );
    };
    let user = state
        .store
        .find_user(&session.user_id)
        .await
        .map_err(Internal::from)?;
    let email = user.map(|u| u.email).unwrap_or_default();
    let api = resumed.api.as_ref();
    let granted = rules::granted_scope(&resumed.tx.request.scope, api);
    let scopes = granted
        .iter()
        .map(|s| ConsentScope {
            value: s,
            description: rules::describe(s, api),
        })
        .collect();
    let csrf = state.secrets.csrf_token(FORM, &resumed.handle, &browser.id);
    let html = state.views.render(
        "consent.html",
        &ConsentPage {
            client_name: &resumed.client.name,
            api_name: api.map(|a| a.name.as_str()),
            user_email: &email,
            scopes,
            state: &resumed.handle,
            csrf: &csrf,
        },
    )?;
    Ok(Html(html).into_response())
}

pub async fn post(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, HttpError> {
    let (form, Visit { resumed, .. }) = match submit(&state, &headers, &body, FORM).await? {
        Ok(v) => v,
        Err(response) => return Ok(response),
    };
    let decision = match form.get("action") {
        Some("accept") => Decision::Accept,
        Some("decline") => Decision::Decline,
        _ => {
            let e = OAuthError::new(OAuthErrorCode::InvalidRequest, "Choose Accept or Decline");
            return Ok(page(&state, StatusCode::BAD_REQUEST, &e));
        }
    };
    let Some(session) = owner_session(&state, &headers, &resumed).await? else {
        return Ok(
            Redirect::to(&format!("{}?state={}", paths::LOGIN, resumed.handle)).into_response(),
        );
    };
    let next = consent::decide(&state, resumed, &session, decision).await?;
    outcome(&state, next, true)
}
