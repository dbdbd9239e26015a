//! Prometheus metrics of one server: its own registry (never the process-global one, so
//! several apps in one process, as in the tests, each count only their own requests) and
//! the collectors that handlers, flows and the HTTP middleware update. Rendering for
//! `GET /metrics` reads the pool gauges at scrape time. No labels here come from request
//! input beyond bounded sets (route patterns, known methods, status codes).

use std::time::Duration;

use axum::http::{Method, StatusCode};
use portcullis_store::PoolStatus;
use prometheus::{
    CounterVec, HistogramOpts, HistogramVec, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry,
    TextEncoder,
};

use crate::keys::SigningStat;

/// Content type of the Prometheus text exposition format, version 0.0.4.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// The `endpoint` label of a request no route matched: the raw path would make the
/// label set unbounded.
pub const UNMATCHED: &str = "unmatched";

/// The outcome of one login attempt at the hosted login page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Login {
    /// Logged in.
    Success,
    /// Wrong password, unknown user or blocked user.
    Failure,
    /// Refused without checking: too many failures.
    Throttled,
}

impl Login {
    const ALL: [Login; 3] = [Login::Success, Login::Failure, Login::Throttled];

    fn as_str(self) -> &'static str {
        match self {
            Self::Success => "success",
            Self::Failure => "failure",
            Self::Throttled => "throttled",
        }
    }
}

/// Grant types the token endpoint issues for, pre-registered so each series starts at 0.
const GRANT_TYPES: [&str; 3] = ["authorization_code", "refresh_token", "client_credentials"];

/// The registry of one server and its collectors.
pub struct Metrics {
    registry: Registry,
    http_requests: IntCounterVec,
    http_duration: HistogramVec,
    tokens_issued: IntCounterVec,
    logins: IntCounterVec,
    pool_connections: IntGaugeVec,
    pool_max: IntGauge,
    signatures: IntCounterVec,
    signing_seconds: CounterVec,
}

impl Metrics {
    /// A fresh registry with every collector registered.
    pub fn new() -> Result<Self, prometheus::Error> {
        let registry = Registry::new();
        let http_requests = IntCounterVec::new(
            Opts::new(
                "portcullis_http_requests_total",
                "HTTP requests answered, by route pattern, method and status.",
            ),
            &["endpoint", "method", "status"],
        )?;
        let http_duration = HistogramVec::new(
            HistogramOpts::new(
                "portcullis_http_request_duration_seconds",
                "Time to answer an HTTP request (until the response head), by route pattern and method.",
            ),
            &["endpoint", "method"],
        )?;
        let tokens_issued = IntCounterVec::new(
            Opts::new(
                "portcullis_tokens_issued_total",
                "Successful token responses at the token endpoint, by grant type.",
            ),
            &["grant_type"],
        )?;
        let logins = IntCounterVec::new(
            Opts::new(
                "portcullis_logins_total",
                "Login attempts at the hosted login page, by result.",
            ),
            &["result"],
        )?;
        let pool_connections = IntGaugeVec::new(
            Opts::new(
                "portcullis_db_pool_connections",
                "Database connections of the pool, by state (idle ones are also open).",
            ),
            &["state"],
        )?;
        let pool_max = IntGauge::new(
            "portcullis_db_pool_max_connections",
            "The most connections the database pool opens.",
        )?;
        let signatures = IntCounterVec::new(
            Opts::new(
                "portcullis_signatures_total",
                "JWT signatures made (tokens signed), by algorithm.",
            ),
            &["alg"],
        )?;
        let signing_seconds = CounterVec::new(
            Opts::new(
                "portcullis_signing_cpu_seconds_total",
                "CPU time of the signing threads spent signing JWTs, by algorithm.",
            ),
            &["alg"],
        )?;
        registry.register(Box::new(http_requests.clone()))?;
        registry.register(Box::new(http_duration.clone()))?;
        registry.register(Box::new(tokens_issued.clone()))?;
        registry.register(Box::new(logins.clone()))?;
        registry.register(Box::new(pool_connections.clone()))?;
        registry.register(Box::new(pool_max.clone()))?;
        registry.register(Box::new(signatures.clone()))?;
        registry.register(Box::new(signing_seconds.clone()))?;
        for grant_type in GRANT_TYPES {
            tokens_issued.with_label_values(&[grant_type]);
        }
        for result in Login::ALL {
            logins.with_label_values(&[result.as_str()]);
        }
        Ok(Self {
            registry,
            http_requests,
            http_duration,
            tokens_issued,
            logins,
            pool_connections,
            pool_max,
            signatures,
            signing_seconds,
        })
    }

    /// One answered request. `endpoint` is the matched route pattern or [`UNMATCHED`].
    pub fn http_request(
        &self,
        endpoint: &str,
        method: &Method,
        status: StatusCode,
        elapsed: Duration,
    ) {
        let method = method_label(method);
        self.http_requests
            .with_label_values(&[endpoint, method, status.as_str()])
            .inc();
        self.http_duration
            .with_label_values(&[endpoint, method])
            .observe(elapsed.as_secs_f64());
    }

    /// One successful token response for this grant type.
    pub fn token_issued(&self, grant_type: &str) {
        self.tokens_issued.with_label_values(&[grant_type]).inc();
    }

    /// One login attempt.
    pub fn login(&self, result: Login) {
        self.logins.with_label_values(&[result.as_str()]).inc();
    }

    /// The text exposition of every metric, with the pool gauges set from `pool` and the
    /// signing counters brought up to `signing` (the keys count, as they sign) first.
    pub fn render(
        &self,
        pool: PoolStatus,
        signing: &[SigningStat],
    ) -> Result<String, prometheus::Error> {
        for stat in signing {
            let alg = [stat.alg.as_str()];
            let count = self.signatures.with_label_values(&alg);
            count.inc_by(stat.signatures.saturating_sub(count.get()));
            let seconds = self.signing_seconds.with_label_values(&alg);
            seconds.inc_by((stat.cpu.as_secs_f64() - seconds.get()).max(0.0));
        }
        self.pool_connections
            .with_label_values(&["open"])
            .set(i64::from(pool.open));
        self.pool_connections
            .with_label_values(&["idle"])
            .set(i64::from(pool.idle));
        self.pool_max.set(i64::from(pool.max));
        TextEncoder::new().encode_to_string(&self.registry.gather())
    }
}

/// The `method` label: the standard methods by name, anything else as `other`, since a
/// client may send any token as a method.
fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_registries_count_separately() {
        let (a, b) = (Metrics::new().unwrap(), Metrics::new().unwrap());
        a.token_issued("client_credentials");
        let pool = PoolStatus {
            open: 2,
            idle: 1,
            max: 5,
        };
        let a = a.render(pool, &[]).unwrap();
        let b = b.render(pool, &[]).unwrap();
        assert!(a.contains("portcullis_tokens_issued_total{grant_type=\"client_credentials\"} 1"));
        assert!(b.contains("portcullis_tokens_issued_total{grant_type=\"client_credentials\"} 0"));
        assert!(a.contains("portcullis_db_pool_connections{state=\"idle\"} 1"));
        assert!(a.contains("portcullis_db_pool_max_connections 5"));
    }

    #[test]
    fn signing_counters_follow_the_keys() {
        let m = Metrics::new().unwrap();
        let pool = PoolStatus {
            open: 0,
            idle: 0,
            max: 1,
        };
        let stat = |signatures, millis| SigningStat {
            alg: portcullis_core::client::SigningAlg::ES256,
            signatures,
            cpu: Duration::from_millis(millis),
        };
        m.render(pool, &[stat(3, 250)]).unwrap();
        let text = m.render(pool, &[stat(5, 1500)]).unwrap();
        assert!(
            text.contains("portcullis_signatures_total{alg=\"ES256\"} 5"),
            "{text}"
        );
        assert!(
            text.contains("portcullis_signing_cpu_seconds_total{alg=\"ES256\"} 1.5"),
            "{text}"
        );
    }

    #[test]
    fn unknown_methods_share_one_label() {
        let m = Metrics::new().unwrap();
        let custom = Method::from_bytes(b"BREW").unwrap();
        m.http_request(UNMATCHED, &custom, StatusCode::NOT_FOUND, Duration::ZERO);
        let text = m
            .render(
                PoolStatus {
                    open: 0,
                    idle: 0,
                    max: 1,
                },
                &[],
            )
            .unwrap();
        assert!(text.contains("method=\"other\""), "{text}");
        assert!(!text.contains("BREW"), "{text}");
    }
}
