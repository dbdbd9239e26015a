//! Login throttling (RFC 6749 §2.3 brute-force protection; ASVS 6.3): failures are
//! counted per account and client IP and per client IP, in fixed windows. Past a limit,
//! attempts are refused until the window ends — a delay, never a permanent lock-out, so an
//! attacker cannot lock a user out for good.

use time::{Duration, OffsetDateTime};

/// Limits for one kind of key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limit {
    /// Failures allowed within a window.
    pub failures: i64,
    /// Window length.
    pub window: Duration,
}

/// Auth0-like defaults: 10 failures for one account from one IP per 15 minutes, 100 from
/// one IP across accounts.
pub const ACCOUNT_AND_IP: Limit = Limit {
    failures: 10,
    window: Duration::minutes(15),
};
/// See [`ACCOUNT_AND_IP`].
pub const IP: Limit = Limit {
    failures: 100,
    window: Duration::minutes(15),
};

/// A failure counter as stored: how many failures since the window began.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Counter {
    /// Failures counted in the window.
    pub failures: i64,
    /// When the window began.
    pub window_start: OffsetDateTime,
}

/// When attempts may resume, if this counter blocks them now.
pub fn blocked_until(
    counter: Option<Counter>,
    limit: Limit,
    now: OffsetDateTime,
) -> Option<OffsetDateTime> {
    let c = counter?;
    let end = c.window_start + limit.window;
    (now < end && c.failures >= limit.failures).then_some(end)
}

/// The key of the per-account counter (the email normalised, so case does not evade it).
pub fn account_key(email: &str, ip: &str) -> String {
    format!("account:{}|{ip}", crate::user::User::normalize_email(email))
}

/// The key of the per-IP counter.
pub fn ip_key(ip: &str) -> String {
    format!("ip:{ip}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_within_the_window_only_past_the_limit() {
        let t0 = OffsetDateTime::UNIX_EPOCH;
        let limit = Limit {
            failures: 3,
            window: Duration::minutes(15),
        };
        let c = |failures| {
            Some(Counter {
                failures,
                window_start: t0,
            })
        };
        assert_eq!(blocked_until(None, limit, t0), None);
        assert_eq!(blocked_until(c(2), limit, t0), None);
        assert_eq!(
            blocked_until(c(3), limit, t0 + Duration::minutes(1)),
            Some(t0 + Duration::minutes(15))
        );
        assert_eq!(
            blocked_until(c(50), limit, t0 + Duration::minutes(15)),
            None,
            "never permanent"
        );
        assert_eq!(
            account_key("A@B.C", "1.2.3.4"),
            account_key("a@b.c", "1.2.3.4")
        );
    }
}
