//! The hosted login page's flow: check the password (Argon2id, dummy hash for unknown
//! users, one generic error), start a new SSO session, and continue the authorization.

use portcullis_core::secret::OpaqueToken;
use portcullis_core::session::Session;

use portcullis_core::log::LogType;
use portcullis_core::throttle;

use super::Internal;
use super::authorize::{self, Outcome, Resumed};
use crate::crypto;
use crate::logs::Subject;
use crate::metrics::Login;
use crate::state::AppState;

/// The one message for every failed login: it must not reveal whether the account exists.
pub const WRONG_CREDENTIALS: &str = "Wrong email or password.";

/// The result of a login attempt.
pub enum LoginResult {
    /// Logged in: set this session cookie and go on.
    LoggedIn {
        /// Cookie value of the new session.
        session_cookie: OpaqueToken,
        /// What comes next.
        outcome: Outcome,
    },
    /// Wrong credentials (or a blocked user): show the form again.
    Failed,
    /// Too many failures: refused without checking, until then.
    Throttled {
        /// When attempts may resume.
        until: time::OffsetDateTime,
    },
}

/// Checks the credentials and, if right, rotates the session and advances the flow.
/// Every attempt that reaches a verdict is counted in the metrics.
pub async fn submit(
    state: &AppState,
    resumed: Resumed,
    username: &str,
    password: String,
    previous_session_cookie: Option<&str>,
    ip: Option<std::net::IpAddr>,
    user_agent: Option<&str>,
) -> Result<LoginResult, Internal> {
    let result = attempt(
        state,
        resumed,
        username,
        password,
        previous_session_cookie,
        ip,
        user_agent,
    )
    .await?;
    state.metrics.login(match result {
        LoginResult::LoggedIn { .. } => Login::Success,
        LoginResult::Failed => Login::Failure,
        LoginResult::Throttled { .. } => Login::Throttled,
    });
    Ok(result)
}

async fn attempt(
    state: &AppState,
    resumed: Resumed,
    username: &str,
    password: String,
    previous_session_cookie: Option<&str>,
    ip: Option<std::net::IpAddr>,
    user_agent: Option<&str>,
) -> Result<LoginResult, Internal> {
    let now = state.now();
    let client_id = Some(resumed.client.client_id.as_str());
    // Throttling, the same whether the account exists or not.
    let ip_text = ip.map_or_else(|| "unknown".to_owned(), |ip| ip.to_string());
    let (account_key, ip_key) = (
        throttle::account_key(username, &ip_text),
        throttle::ip_key(&ip_text),
    );
    if let Some(until) =
        throttle::blocked_until(state.store.login_counter(&ip_key).await?, throttle::IP, now)
    {
        return Ok(LoginResult::Throttled { until });
    }
    // This attempt counts before the password is checked, in one atomic statement, so
    // parallel guesses cannot get past the limit.
    let attempt = state
        .store
        .bump_login_counter(&account_key, now, throttle::ACCOUNT_AND_IP.window)
        .await?;
    if attempt.failures > throttle::ACCOUNT_AND_IP.failures {
        return Ok(LoginResult::Throttled {
            until: attempt.window_start + throttle::ACCOUNT_AND_IP.window,
        });
    }
    let user = state.store.find_user_by_email(username).await?;
    let stored = user.as_ref().and_then(|u| u.password_hash.clone());
    let password_ok = state.passwords.verify(password, stored).await;
    let Some(user) = user.filter(|u| password_ok && !u.blocked) else {
        state
            .store
            .bump_login_counter(&ip_key, now, throttle::IP.window)
            .await?;
        let subject = Subject {
            client_id,
            user_id: None,
            ip,
        };
        state.logs.record(
            now,
            LogType::FailedLogin,
            "Wrong email or password.",
            subject,
        );
        return Ok(LoginResult::Failed);
    };
    state.store.clear_login_counter(&account_key).await?;
    // Rotate: a new session (and cookie) at every login, the previous one ended.
    if let Some(previous) = authorize::active_session(state, previous_session_cookie).await? {
        state.store.delete_session(&previous.id).await?;
    }
    let cookie = OpaqueToken::from_random(&crypto::random());
    let session = Session {
        id: crypto::random_id::<16>(),
        user_id: user.id.clone(),
        auth_time: now,
        last_seen_at: now,
        expires_at: now + state.settings.sessions.absolute,
        initial_ip: ip.map(|ip| ip.to_string()),
        user_agent: user_agent.map(|ua| ua.chars().take(512).collect()),
    };
    state.store.insert_session(&session, &cookie.hash()).await?;
    state.store.record_login(&user.id, now).await?;
    state.logs.record(
        now,
        LogType::SuccessLogin,
        "Successful login",
        Subject {
            client_id,
            user_id: Some(&user.id),
            ip,
        },
    );
    let Resumed {
        handle,
        mut tx,
        client,
        api,
    } = resumed;
    tx.user_id = Some(user.id);
    tx.authenticated_at = Some(now);
    let outcome = authorize::advance(
        state,
        Some(&handle),
        tx,
        Some((&session, None)),
        &client,
        api.as_ref(),
    )
    .await?;
    Ok(LoginResult::LoggedIn {
        session_cookie: cookie,
        outcome,
    })
}
