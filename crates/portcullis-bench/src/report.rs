//! The results: throughput and latency percentiles, as one human line and one JSON line.
//!
//! Percentiles are exact, from the sorted latencies (nearest rank). Every iteration's
//! latency is kept, 8 bytes each: a million iterations is 8 MB, which a run of this tool
//! does not exceed by much, and sorting it once at the end costs well under a second.
//! A histogram (hdrhistogram) would bound the memory at the price of a dependency and of
//! rounding; neither is worth it at these counts.

use serde::Serialize;

use crate::run::Outcome;

/// The JSON line.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Report {
    /// The scenario's name.
    pub scenario: &'static str,
    /// Workers.
    pub concurrency: usize,
    /// The measured time in seconds.
    pub duration_s: f64,
    /// Successful measured iterations.
    pub iterations: u64,
    /// Successful iterations per second.
    pub throughput: f64,
    /// Median latency, milliseconds; null without iterations.
    pub p50_ms: Option<f64>,
    /// 95th percentile.
    pub p95_ms: Option<f64>,
    /// 99th percentile.
    pub p99_ms: Option<f64>,
    /// Failed iterations and setups.
    pub errors: u64,
    /// The first few distinct error messages.
    pub error_samples: Vec<String>,
}

impl Report {
    /// Summarizes a run.
    pub fn new(scenario: &'static str, concurrency: usize, mut outcome: Outcome) -> Report {
        outcome.latencies_ns.sort_unstable();
        let sorted = &outcome.latencies_ns;
        let duration_s = outcome.measured.as_secs_f64();
        let iterations = sorted.len() as u64;
        let ms = |p: f64| percentile(sorted, p).map(|ns| ns as f64 / 1e6);
        Report {
            scenario,
            concurrency,
            duration_s,
            iterations,
            throughput: if duration_s > 0.0 {
                iterations as f64 / duration_s
            } else {
                0.0
            },
            p50_ms: ms(50.0),
            p95_ms: ms(95.0),
            p99_ms: ms(99.0),
            errors: outcome.errors,
            error_samples: outcome.error_samples,
        }
    }

    /// `scenario C=8: 1234.5 it/s, p50 1.20 ms, p95 …, p99 …, errors 0 (n=…)`.
    pub fn human(&self) -> String {
        let ms = |v: Option<f64>| v.map_or_else(|| "-".to_owned(), |v| format!("{v:.2} ms"));
        format!(
            "{} C={}: {:.1} it/s, p50 {}, p95 {}, p99 {}, errors {} (n={})",
            self.scenario,
            self.concurrency,
            self.throughput,
            ms(self.p50_ms),
            ms(self.p95_ms),
            ms(self.p99_ms),
            self.errors,
            self.iterations
        )
    }
}

/// The nearest-rank percentile of sorted values: the smallest value with at least `p`% of
/// the values at or below it.
pub fn percentile(sorted: &[u64], p: f64) -> Option<u64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = (p / 100.0 * sorted.len() as f64).ceil() as usize;
    sorted.get(rank.clamp(1, sorted.len()) - 1).copied()
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn percentiles_are_nearest_rank() {
        let v: Vec<u64> = (1..=100).collect();
        assert_eq!(percentile(&v, 50.0), Some(50));
        assert_eq!(percentile(&v, 95.0), Some(95));
        assert_eq!(percentile(&v, 99.0), Some(99));
        assert_eq!(percentile(&[7], 99.0), Some(7));
        assert_eq!(percentile(&[1, 2], 50.0), Some(1));
        assert_eq!(percentile(&[], 50.0), None);
    }

    #[test]
    fn the_report_has_the_human_and_json_shapes() {
        let outcome = Outcome {
            latencies_ns: vec![3_000_000, 1_000_000, 2_000_000, 4_000_000],
            errors: 1,
            error_samples: vec!["boom".into()],
            measured: Duration::from_secs(2),
        };
        let r = Report::new("jwks", 8, outcome);
        assert_eq!(
            r.human(),
            "jwks C=8: 2.0 it/s, p50 2.00 ms, p95 4.00 ms, p99 4.00 ms, errors 1 (n=4)"
        );
        let json = serde_json::to_value(&r).unwrap();
        assert_eq!(json["throughput"], 2.0);
        assert_eq!(json["error_samples"][0], "boom");
        let empty = Report::new("sso", 1, Outcome::default());
        assert_eq!(
            serde_json::to_value(&empty).unwrap()["p50_ms"],
            serde_json::Value::Null
        );
        assert!(empty.human().contains("p50 -,"), "{}", empty.human());
    }
}
