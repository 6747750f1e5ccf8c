//! `seawall-chaos`: the chaos runner of issue 9. It drives open-loop load at
//! seawall while injecting faults into its upstreams, checks the numbers
//! against each scenario's bounds, and writes a report with a timeline per
//! scenario under `target/chaos/<env>/`.
//!
//! `--target loopback` (default) spawns every process itself on 127.0.0.1,
//! so it runs anywhere; `--target compose` drives the docker-compose stack
//! (images from `integration/chaos/build-images.sh`). The exit code is
//! non-zero when a scenario fails or cannot run; pending scenarios (a
//! feature they need has not landed, see `features.rs`) do not fail.

mod env;
mod features;
mod load;
mod plot;
mod record;
mod report;
mod scenarios;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, ValueEnum};
use tokio::time::Instant;

use env::compose::{self, Compose};
use env::loopback::Loopback;
use env::{Env, Topology};
use scenarios::{ALL, Opts, Outcome, Spec, Verdict};

/// The runner's error type: any error, with its message.
pub type Error = Box<dyn std::error::Error + Send + Sync>;

/// Where the scenarios run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Target {
    /// Processes on 127.0.0.1 started by the runner.
    Loopback,
    /// The docker-compose stack (needs a Docker engine and the images).
    Compose,
}

/// Command line of `seawall-chaos`.
#[derive(Debug, Parser)]
#[command(name = "seawall-chaos", about = "Chaos scenarios for seawall")]
struct Cli {
    /// Where to run.
    #[arg(long, value_enum, default_value = "loopback")]
    target: Target,
    /// Scenarios to run, by number or name (default: all).
    #[arg(long = "scenario", short)]
    scenarios: Vec<String>,
    /// Shorter phases (CI).
    #[arg(long)]
    short: bool,
    /// Requests per second.
    #[arg(long, default_value_t = 500)]
    rate: u32,
    /// Also run scenarios whose features have not landed, to see their numbers.
    #[arg(long)]
    run_pending: bool,
    /// Where reports go; a subdirectory per target.
    #[arg(long, default_value = "target/chaos")]
    out: PathBuf,
    /// Directory with the `seawall` and `seawall-upstream` binaries
    /// (default: next to this one).
    #[arg(long)]
    bin_dir: Option<PathBuf>,
    /// Compose: leave the stack running at the end (default: `down -v`).
    #[arg(long)]
    keep: bool,
}

/// The repository root (this crate lives in `integration/chaos/`).
fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn selected(cli: &Cli) -> Vec<&'static Spec> {
    ALL.iter()
        .filter(|s| {
            cli.scenarios.is_empty()
                || cli
                    .scenarios
                    .iter()
                    .any(|w| *w == s.name || w.parse() == Ok(s.id))
        })
        .collect()
}

async fn start(cli: &Cli, bins: &Path, topology: Topology) -> Result<Env, Error> {
    let configs = repo().join("config/chaos");
    if let Topology::Cluster(file @ ("reload.yaml" | "streams.yaml")) = topology {
        // Scenarios that reload edit their own copy, never a committed file.
        std::fs::copy(configs.join("seawall.yaml"), configs.join(file))?;
    }
    Ok(match cli.target {
        Target::Loopback => {
            Env::Loopback(Loopback::start(bins.to_path_buf(), configs, topology).await?)
        }
        Target::Compose => {
            Env::Compose(Compose::start(repo().join("docker-compose.yml"), topology).await?)
        }
    })
}

async fn one(cli: &Cli, bins: &Path, spec: &'static Spec, opts: Opts) -> Outcome {
    let kind = match cli.target {
        Target::Loopback => "loopback",
        Target::Compose => "compose",
    };
    let pending = scenarios::pending(spec);
    let mut outcome = Outcome {
        spec: *spec,
        env: kind,
        verdict: Verdict::Pass,
        checks: vec![],
        notes: vec![],
        run: None,
    };
    if let Some(why) = &pending
        && !cli.run_pending
    {
        outcome.verdict = Verdict::Pending(why.clone());
        return outcome;
    }
    let measured = match start(cli, bins, spec.topology).await {
        Ok(mut env) => {
            let measured = scenarios::run(spec, &mut env, opts).await;
            env.finish().await;
            measured
        }
        Err(error) => Err(error),
    };
    match measured {
        Ok(m) => {
            let all_pass = m.checks.iter().all(scenarios::Check::pass);
            outcome.verdict = match (pending, all_pass) {
                (Some(why), _) => Verdict::Pending(why),
                (None, true) => Verdict::Pass,
                (None, false) => Verdict::Fail,
            };
            (outcome.checks, outcome.notes, outcome.run) = (m.checks, m.notes, Some(m.run));
        }
        Err(error) => {
            outcome.verdict = Verdict::Fail;
            outcome.notes.push(format!("could not run: {error}"));
        }
    }
    outcome
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let bins = cli.bin_dir.clone().unwrap_or_else(|| {
        std::env::current_exe()
            .ok()
            .and_then(|p| p.parent().map(PathBuf::from))
            .unwrap_or_default()
    });
    if cli.target == Target::Compose && !compose::engine_available().await {
        eprintln!("seawall-chaos: no Docker engine answers `docker info`; use --target loopback");
        return ExitCode::from(2);
    }
    let opts = Opts {
        rate: cli.rate,
        short: cli.short,
    };
    let started = Instant::now();
    let mut outcomes = Vec::new();
    for spec in selected(&cli) {
        let outcome = one(&cli, &bins, spec, opts).await;
        print!("{}", report::console(&outcome));
        outcomes.push(outcome);
    }
    if cli.target == Target::Compose
        && !cli.keep
        && let Err(error) = Compose::down(repo().join("docker-compose.yml")).await
    {
        eprintln!("seawall-chaos: docker compose down: {error}");
    }
    let kind = if cli.target == Target::Compose {
        "compose"
    } else {
        "loopback"
    };
    let dir = cli.out.join(kind);
    if let Err(error) = report::write(&outcomes, &dir, kind, started.elapsed()) {
        eprintln!("seawall-chaos: writing the report: {error}");
        return ExitCode::FAILURE;
    }
    let failed = outcomes
        .iter()
        .filter(|o| o.verdict == Verdict::Fail)
        .count();
    println!(
        "{} scenarios in {:.0} s: {} passed, {failed} failed, {} pending; report: {}",
        outcomes.len(),
        started.elapsed().as_secs_f64(),
        outcomes
            .iter()
            .filter(|o| o.verdict == Verdict::Pass)
            .count(),
        outcomes
            .iter()
            .filter(|o| matches!(o.verdict, Verdict::Pending(_)))
            .count(),
        dir.join("summary.md").display()
    );
    if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
