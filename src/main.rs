//! The `seawall` binary: CLI, logging, config, run. Everything else lives in
//! the library so tests and benchmarks reach it.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Parser, Subcommand};
use seawall::discovery::SystemResolver;
use seawall::server::{self, Drained};

/// Exit code for a bad config file (sysexits EX_USAGE).
const EXIT_CONFIG: u8 = 64;

/// The version and the commit it was built from (`build.rs`).
const VERSION: &str = concat!(env!("CARGO_PKG_VERSION"), " (", env!("SEAWALL_COMMIT"), ")");

/// seawall: a resilience sidecar proxy.
#[derive(Debug, Parser)]
#[command(version = VERSION, about)]
struct Cli {
    /// Config file to run with.
    #[arg(long, env = "SEAWALL_CONFIG", default_value = "config/seawall.yaml")]
    config: PathBuf,
    /// Tokio worker threads (default, or 0: one per CPU). Set it to 1 to
    /// run as a sidecar pinned to one core next to its service.
    #[arg(long, env = "SEAWALL_WORKER_THREADS")]
    worker_threads: Option<usize>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Validate a config file, print a summary, and exit (64 when invalid).
    Check {
        /// The file to check.
        path: PathBuf,
    },
    /// Probe a running seawall (for a container HEALTHCHECK): exit 0 when
    /// `url` answers 2xx within 2 s, 1 otherwise.
    Health {
        /// What to probe.
        #[arg(default_value = "http://127.0.0.1:9901/ready")]
        url: String,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Some(Command::Health { url }) = &cli.command {
        return seawall::admin::probe::probe(url);
    }
    if let Some(Command::Check { path }) = cli.command {
        return match seawall::config::load_all(&path) {
            Ok(config) => {
                // A closed stdout (`seawall check f | head -1`) is not an
                // error of the config: ignore it rather than panic.
                let mut out = std::io::stdout().lock();
                let _ = writeln!(out, "{}: ok\n{}", path.display(), config.summary());
                single_address_warnings(&config);
                ExitCode::SUCCESS
            }
            Err(errors) => {
                for e in &errors {
                    eprintln!("error: {e}");
                }
                if errors.len() > 1 {
                    eprintln!("{}: {} errors", path.display(), errors.len());
                }
                ExitCode::from(EXIT_CONFIG)
            }
        };
    }
    let path = cli.config;
    let config = match seawall::config::load(&path) {
        Ok(config) => config,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(EXIT_CONFIG);
        }
    };
    if let Err(e) = seawall::telemetry::init(&config.log) {
        eprintln!("error: log.level: {e}");
        return ExitCode::from(EXIT_CONFIG);
    }
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    if let Some(threads) = cli.worker_threads.filter(|n| *n > 0) {
        builder.worker_threads(threads);
    }
    let runtime = match builder.enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(async move {
        let running = match server::start(config, Arc::new(SystemResolver), Some(path)).await {
            Ok(running) => running,
            Err(e) => {
                tracing::error!(error = %e, "startup failed");
                return ExitCode::FAILURE;
            }
        };
        if let Err(e) = reload_on_sighup(running.reload.clone()) {
            tracing::error!(error = %e, "cannot listen for SIGHUP");
            return ExitCode::FAILURE;
        }
        tokio::select! {
            signalled = shutdown_signal() => {
                if let Err(e) = signalled {
                    tracing::error!(error = %e, "cannot listen for signals");
                    return ExitCode::FAILURE;
                }
            }
            () = running.drain_requested() => {}
        }
        tracing::info!("shutdown requested; draining");
        match running.drain().await {
            Drained::Clean => tracing::info!("drained; exiting"),
            Drained::TimedOut => {
                tracing::warn!("drain timeout expired; exiting with requests in flight")
            }
        }
        ExitCode::SUCCESS
    })
}

/// `seawall check`'s warning for each cluster with ejection or health checks
/// whose endpoints resolve (now, from here) to one address.
fn single_address_warnings(config: &seawall::config::Config) {
    use std::net::ToSocketAddrs;
    for cluster in &config.clusters {
        let mut addresses = std::collections::HashSet::new();
        for e in &cluster.endpoints {
            if let Ok(found) = (e.host.as_str(), e.port).to_socket_addrs() {
                addresses.extend(found);
            }
        }
        if let Some(warning) = cluster.single_address_warning(addresses.len()) {
            eprintln!("warning: {warning}");
        }
    }
}

/// Reloads the config file on every SIGHUP.
fn reload_on_sighup(reload: seawall::reload::ReloadHandle) -> std::io::Result<()> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut hup = signal(SignalKind::hangup())?;
    tokio::spawn(async move {
        while hup.recv().await.is_some() {
            tracing::info!("SIGHUP: reloading the config file");
            reload.request();
        }
    });
    Ok(())
}

/// Waits for SIGTERM or SIGINT. seawall may run as PID 1 in a container,
/// where the kernel gives no default SIGTERM handling.
async fn shutdown_signal() -> std::io::Result<()> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
    }
    Ok(())
}
