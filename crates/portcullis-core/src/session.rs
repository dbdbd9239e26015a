//! SSO sessions and login transactions: their lifetimes and when a session still counts.

use serde::{Deserialize, Serialize};
use time::{Duration, OffsetDateTime};

use crate::authorize::AuthorizationRequest;

/// An SSO session as stored (the cookie holds a secret whose hash finds it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    /// Public session id: the `sid` claim. Not the cookie value.
    pub id: String,
    /// The authenticated user.
    pub user_id: String,
    /// When the user last authenticated (`auth_time`).
    pub auth_time: OffsetDateTime,
    /// Last use; drives the idle lifetime.
    pub last_seen_at: OffsetDateTime,
    /// Absolute end of the session.
    pub expires_at: OffsetDateTime,
    /// The IP address the user logged in from.
    pub initial_ip: Option<String>,
    /// The browser's `User-Agent` at login.
    pub user_agent: Option<String>,
}

/// SSO session lifetimes (Auth0: idle ≤ 3 d, absolute ≤ 30 d for self-service tenants).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionLifetimes {
    /// A session unused this long ends.
    pub idle: Duration,
    /// A session ends this long after login, whatever its use.
    pub absolute: Duration,
}

impl Default for SessionLifetimes {
    fn default() -> Self {
        Self {
            idle: Duration::days(3),
            absolute: Duration::days(7),
        }
    }
}

impl Session {
    /// Whether the session is still valid at `now`.
    pub fn is_active(&self, now: OffsetDateTime, lifetimes: SessionLifetimes) -> bool {
        now < self.expires_at && now < self.last_seen_at + lifetimes.idle
    }
}

/// A login transaction: one authorization request on its way through the hosted pages.
/// Found by the hash of the `state` handle the pages carry; expires after an hour.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoginTransaction {
    /// The validated authorization request.
    pub request: AuthorizationRequest,
    /// Hash of the browser-binding cookie: the transaction only continues in the
    /// browser that started it (login CSRF protection).
    pub browser_hash: String,
    /// The user this transaction is for, once known (from the SSO session or the login).
    pub user_id: Option<String>,
    /// Set once the user authenticated within this transaction (`prompt=login`, `max_age`).
    pub authenticated_at: Option<OffsetDateTime>,
    /// Set once the user accepted the consent page within this transaction.
    pub consented: bool,
    /// End of the transaction.
    pub expires_at: OffsetDateTime,
}

impl LoginTransaction {
    /// Auth0's maximum login-transaction lifetime.
    pub const LIFETIME: Duration = Duration::hours(1);
}
