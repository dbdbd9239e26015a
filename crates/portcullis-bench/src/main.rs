//! `portcullis-bench`: a load generator for any OpenID Connect provider. It reads a target
//! file, fetches discovery, and drives one scenario with N workers, walking the provider's
//! real HTML login and consent forms, so Portcullis and another provider are measured the
//! same way. See docs/performance.md, "The load generator".
//!
//! Prints one human line and one JSON line on stdout (error samples go to stderr), and
//! exits non-zero when an iteration failed, unless `--allow-errors`.

mod agent;
mod cookie;
mod form;
mod oidc;
mod report;
mod run;
mod scenario;
mod target;

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::Parser;

use crate::scenario::{Plan, Scenario, Worker};

/// Drives an OpenID Connect provider and reports throughput and latency.
#[derive(Debug, Parser)]
#[command(name = "portcullis-bench", version)]
struct Cli {
    /// The target file (TOML): issuer, client, user, scopes.
    #[arg(long)]
    target: PathBuf,
    /// What to measure.
    #[arg(long, value_enum)]
    scenario: Scenario,
    /// Workers running at once.
    #[arg(long, default_value_t = 8)]
    concurrency: usize,
    /// Measured seconds, after the warm-up.
    #[arg(long, default_value_t = 10.0)]
    duration: f64,
    /// Seconds run first whose results are discarded.
    #[arg(long, default_value_t = 2.0)]
    warmup: f64,
    /// Stop after this many measured iterations (all workers together).
    #[arg(long)]
    max_iterations: Option<u64>,
    /// Seconds each HTTP request may take.
    #[arg(long, default_value_t = 10.0)]
    timeout: f64,
    /// Exit 0 even when iterations failed.
    #[arg(long)]
    allow_errors: bool,
}

fn seconds(value: f64, name: &str, allow_zero: bool) -> anyhow::Result<Duration> {
    let ok = value.is_finite() && (value > 0.0 || (allow_zero && value == 0.0));
    if !ok {
        bail!("--{name} must be a number of seconds above 0, got {value}");
    }
    Duration::try_from_secs_f64(value).with_context(|| format!("--{name} {value}"))
}

async fn bench(cli: Cli) -> anyhow::Result<bool> {
    if cli.concurrency == 0 {
        bail!("--concurrency must be at least 1");
    }
    let schedule = run::Schedule {
        warmup: seconds(cli.warmup, "warmup", true)?,
        duration: seconds(cli.duration, "duration", false)?,
        max_iterations: cli.max_iterations,
    };
    let timeout = seconds(cli.timeout, "timeout", false)?;
    let target = target::Target::load(&cli.target)?;
    let plan = Plan::new(cli.scenario, &target)?;
    let discovery_url = target.discovery_url()?;
    let discovery = agent::discover(&agent::http_client(timeout)?, &discovery_url).await?;
    if cli.scenario == Scenario::Userinfo && discovery.userinfo_endpoint.is_none() {
        bail!("the discovery document at {discovery_url} has no userinfo_endpoint");
    }
    let provider = Arc::new(oidc::Provider::new(target, discovery)?);
    let workers = (0..cli.concurrency)
        .map(|_| {
            let agent = agent::Agent::new(Arc::clone(&provider), timeout)?;
            Ok(Worker::new(agent, cli.scenario, plan.clone()))
        })
        .collect::<anyhow::Result<Vec<_>>>()?;

    let outcome = run::run(workers, schedule).await?;
    let report = report::Report::new(cli.scenario.name(), cli.concurrency, outcome);
    // Written, not println!'d: a closed stdout (`| head -1`) is an error, not a panic.
    let mut out = std::io::stdout().lock();
    writeln!(out, "{}", report.human())?;
    for sample in &report.error_samples {
        eprintln!("error: {sample}");
    }
    writeln!(out, "{}", serde_json::to_string(&report)?)?;
    Ok(report.errors == 0 || cli.allow_errors)
}

#[tokio::main]
async fn main() -> ExitCode {
    match bench(Cli::parse()).await {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}
