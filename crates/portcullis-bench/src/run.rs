//! The schedule: set every worker up, then run them all from one start instant through the
//! warm-up (results discarded) and the measured window, and gather what they saw.
//!
//! An iteration counts when it starts after the warm-up and ends before the deadline; one
//! still running at the deadline is finished but not counted. Workers keep their own
//! latencies and errors (no shared lock on the hot path); `Outcome::merge` adds them up.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;

use crate::scenario::Worker;

/// How many distinct error messages are kept.
pub const ERROR_SAMPLES: usize = 5;
/// The pause after a failed setup, so a worker whose setup keeps failing does not spin.
const SETUP_RETRY_PAUSE: Duration = Duration::from_millis(100);

/// When to measure.
#[derive(Debug, Clone, Copy)]
pub struct Schedule {
    /// Time after the start whose results are discarded.
    pub warmup: Duration,
    /// The measured time.
    pub duration: Duration,
    /// At most this many measured iterations, all workers together.
    pub max_iterations: Option<u64>,
}

/// What the workers saw in the measured window.
#[derive(Debug, Default)]
pub struct Outcome {
    /// The latency of every successful measured iteration, in nanoseconds.
    pub latencies_ns: Vec<u64>,
    /// Failed measured iterations and setups.
    pub errors: u64,
    /// The first few distinct error messages.
    pub error_samples: Vec<String>,
    /// From the end of the warm-up to the deadline, or to the last worker's end if earlier.
    pub measured: Duration,
}

impl Outcome {
    fn record_error(&mut self, message: String) {
        self.errors += 1;
        if self.error_samples.len() < ERROR_SAMPLES && !self.error_samples.contains(&message) {
            self.error_samples.push(message);
        }
    }

    fn merge(&mut self, other: Outcome) {
        self.latencies_ns.extend(other.latencies_ns);
        self.errors += other.errors;
        for message in other.error_samples {
            if self.error_samples.len() < ERROR_SAMPLES && !self.error_samples.contains(&message) {
                self.error_samples.push(message);
            }
        }
    }
}

/// Sets the workers up one after another (the first failure stops the run: a target that
/// cannot log in once is misconfigured), then runs them on the schedule. One at a time
/// because a provider may refuse simultaneous logins of one account: Portcullis counts a
/// login attempt per account and IP before it checks the password, and refuses more than ten
/// in its window, so 32 workers logging in at once would be throttled. Setups are not timed.
pub async fn run(workers: Vec<Worker>, schedule: Schedule) -> anyhow::Result<Outcome> {
    let mut ready = Vec::with_capacity(workers.len());
    for (i, mut worker) in workers.into_iter().enumerate() {
        worker
            .setup()
            .await
            .with_context(|| format!("setup of worker {i}"))?;
        ready.push(worker);
    }

    let start = Instant::now();
    let warm_end = start + schedule.warmup;
    let deadline = warm_end + schedule.duration;
    let claimed = Arc::new(AtomicU64::new(0));
    let mut loops = tokio::task::JoinSet::new();
    for worker in ready {
        let claimed = Arc::clone(&claimed);
        loops.spawn(work(
            worker,
            warm_end,
            deadline,
            schedule.max_iterations,
            claimed,
        ));
    }
    let mut total = Outcome::default();
    let mut last_end = warm_end;
    while let Some(joined) = loops.join_next().await {
        let (outcome, ended) = joined.context("a worker panicked")?;
        last_end = last_end.max(ended);
        total.merge(outcome);
    }
    total.measured = last_end.min(deadline).saturating_duration_since(warm_end);
    Ok(total)
}

/// One worker's loop; returns what it measured and when it stopped.
async fn work(
    mut worker: Worker,
    warm_end: Instant,
    deadline: Instant,
    max_iterations: Option<u64>,
    claimed: Arc<AtomicU64>,
) -> (Outcome, Instant) {
    let mut outcome = Outcome::default();
    let mut needs_setup = false;
    loop {
        let now = Instant::now();
        if now >= deadline {
            return (outcome, now);
        }
        if needs_setup {
            match worker.setup().await {
                Ok(()) => needs_setup = false,
                Err(e) => {
                    if Instant::now() >= warm_end {
                        outcome.record_error(format!("setup: {e:#}"));
                    }
                    tokio::time::sleep(SETUP_RETRY_PAUSE).await;
                    continue;
                }
            }
        }
        let started = Instant::now();
        let measured = started >= warm_end;
        if measured
            && max_iterations.is_some_and(|max| claimed.fetch_add(1, Ordering::Relaxed) >= max)
        {
            return (outcome, started);
        }
        let result = worker.iterate().await;
        let ended = Instant::now();
        if result.is_err() {
            needs_setup = true;
        }
        if !measured || ended > deadline {
            continue;
        }
        match result {
            Ok(()) => outcome
                .latencies_ns
                .push(u64::try_from((ended - started).as_nanos()).unwrap_or(u64::MAX)),
            Err(e) => outcome.record_error(format!("{e:#}")),
        }
    }
}
