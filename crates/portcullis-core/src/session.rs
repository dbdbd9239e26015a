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

impl SessionLifetimes {
    /// How old the record of a session's last use may get before a use writes it again: a
    /// sixtieth of the idle lifetime, at most a minute. A session may so end up to that much
    /// before a full idle lifetime after its last use; in exchange a returning user's every
    /// request does not write to the database.
    pub fn touch_interval(&self) -> Duration {
        std::cmp::min(self.idle / 60_i32, Duration::MINUTE)
    }
}

impl Session {
    /// Whether a use at `now` should be written as the session's last use.
    pub fn needs_touch(&self, now: OffsetDateTime, lifetimes: SessionLifetimes) -> bool {
        now - self.last_seen_at >= lifetimes.touch_interval()
    }

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

#[cfg(test)]
mod tests {
    use super::*;

    fn session_seen_at(last_seen_at: OffsetDateTime) -> Session {
        Session {
            id: "sid".into(),
            user_id: "auth0|u".into(),
            auth_time: last_seen_at,
            last_seen_at,
            expires_at: last_seen_at + Duration::days(7),
            initial_ip: None,
            user_agent: None,
        }
    }

    #[test]
    fn a_use_is_written_once_a_minute_or_a_sixtieth_of_a_short_idle_lifetime() {
        let t0 = OffsetDateTime::UNIX_EPOCH + Duration::days(10_000);
        let session = session_seen_at(t0);
        let default = SessionLifetimes::default();
        assert_eq!(default.touch_interval(), Duration::MINUTE);
        assert!(!session.needs_touch(t0, default));
        assert!(!session.needs_touch(t0 + Duration::seconds(59), default));
        assert!(session.needs_touch(t0 + Duration::seconds(60), default));
        let short = SessionLifetimes {
            idle: Duration::minutes(10),
            absolute: Duration::hours(1),
        };
        assert_eq!(short.touch_interval(), Duration::seconds(10));
        assert!(!session.needs_touch(t0 + Duration::seconds(9), short));
        assert!(session.needs_touch(t0 + Duration::seconds(10), short));
    }
}
