//! Rate limits (token buckets, governor's GCRA) driven by the application's `Clock`, so
//! tests move time instead of sleeping. Counters live in this process: a limit per node.

use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use governor::clock::Clock as GovernorClock;
use governor::middleware::{NoOpMiddleware, StateInformationMiddleware};
use governor::state::keyed::DashMapStateStore;
use governor::{Quota, RateLimiter};

use crate::state::Clock;

/// Adapts the application clock to governor: instants are durations since the epoch.
#[derive(Clone)]
struct AppClock(Arc<dyn Clock>);

impl GovernorClock for AppClock {
    type Instant = Duration;
    fn now(&self) -> Duration {
        (self.0.now() - time::OffsetDateTime::UNIX_EPOCH).unsigned_abs()
    }
}

/// A keyed limiter answering with the figures of the `x-ratelimit-*` headers.
pub struct KeyedLimiter {
    limiter: RateLimiter<String, DashMapStateStore<String>, AppClock, StateInformationMiddleware>,
    clock: AppClock,
    burst: u32,
}

/// The verdict for one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Verdict {
    /// Whether the request may proceed.
    pub allowed: bool,
    /// Bucket size (`x-ratelimit-limit`).
    pub limit: u32,
    /// Requests left now (`x-ratelimit-remaining`).
    pub remaining: u32,
    /// Unix time at which a request will be allowed again (`x-ratelimit-reset`).
    pub reset: u64,
}

impl KeyedLimiter {
    /// `burst` requests at once, refilled at `per_minute` per minute.
    pub fn new(burst: u32, per_minute: u32, clock: Arc<dyn Clock>) -> Self {
        let burst_nz = NonZeroU32::new(burst.max(1)).unwrap_or(NonZeroU32::MIN);
        let period = Duration::from_secs(60) / per_minute.max(1);
        let quota = Quota::with_period(period)
            .unwrap_or_else(|| Quota::per_minute(NonZeroU32::MIN))
            .allow_burst(burst_nz);
        let clock = AppClock(clock);
        let limiter = RateLimiter::<String, _, _, NoOpMiddleware<Duration>>::new(
            quota,
            DashMapStateStore::default(),
            clock.clone(),
        )
        .with_middleware::<StateInformationMiddleware>();
        Self {
            limiter,
            clock,
            burst: burst.max(1),
        }
    }

    /// Takes one token for `key`.
    pub fn check(&self, key: String) -> Verdict {
        let now = self.clock.now();
        match self.limiter.check_key(&key) {
            Ok(snapshot) => Verdict {
                allowed: true,
                limit: self.burst,
                remaining: snapshot.remaining_burst_capacity(),
                reset: now.as_secs(),
            },
            Err(not_until) => {
                let wait = not_until.wait_time_from(now);
                Verdict {
                    allowed: false,
                    limit: self.burst,
                    remaining: 0,
                    reset: (now + wait).as_secs() + u64::from(wait.subsec_nanos() > 0),
                }
            }
        }
    }

    /// Forgets keys whose buckets are full again (bounded memory).
    pub fn prune(&self) {
        self.limiter.retain_recent();
        self.limiter.shrink_to_fit();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::ManualClock;

    #[test]
    fn a_bucket_empties_and_refills_with_the_clock() {
        let clock = ManualClock::new(time::OffsetDateTime::UNIX_EPOCH + time::Duration::days(1));
        let limiter = KeyedLimiter::new(3, 60, Arc::new(clock.clone()));
        let remaining: Vec<u32> = (0..3)
            .map(|_| limiter.check("k".into()).remaining)
            .collect();
        assert_eq!(remaining, [2, 1, 0]);
        let refused = limiter.check("k".into());
        assert!(!refused.allowed);
        assert_eq!(refused.reset, 86_401);
        assert!(
            limiter.check("other".into()).allowed,
            "keys are independent"
        );
        clock.advance(time::Duration::seconds(1));
        assert!(limiter.check("k".into()).allowed);
        assert!(!limiter.check("k".into()).allowed);
    }
}
