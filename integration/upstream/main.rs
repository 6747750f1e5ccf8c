//! seawall-upstream: the demo and fault-injecting upstream behind seawall's
//! README demo and its black-box tests.
//!
//! It answers every request with a JSON echo of what it received, and each
//! request can ask for a failure through its query string (`status=503`,
//! `delay=150ms`, `hang=1`, ...) or the whole process can be told to misbehave
//! through `POST /_upstream/config`. HTTP/1.1 and HTTP/2 prior knowledge (h2c)
//! share one port, because seawall speaks both to its upstreams.
//!
//! With `--proxy-to ADDR` it is instead a fault-injecting TCP proxy in front
//! of ADDR (see [`tcp_proxy`]), with its control API on `--control`.
//!
//! On bind it prints exactly one line, `listening on <addr>`, to stdout: tests
//! start it on port 0 and wait for that line instead of sleeping. (The proxy
//! mode prints a second line, `control on <addr>`.) It stops on
//! SIGTERM or SIGINT, so it behaves as PID 1 in a container.

mod behaviour;
mod body;
mod call;
mod capacity;
mod control;
mod faults;
mod handler;
mod query;
mod server;
mod state;
mod tcp_proxy;
mod upgrade;

use std::io::Write;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::Parser;
use tokio::net::TcpListener;

/// Command line of `seawall-upstream`.
#[derive(Debug, Parser)]
#[command(name = "seawall-upstream", version, about)]
struct Cli {
    /// Address to listen on; port 0 picks a free port (printed on stdout).
    #[arg(long, env = "UPSTREAM_LISTEN", default_value = "127.0.0.1:8081")]
    listen: String,
    /// Name reported in every echo, to tell upstreams apart behind a balancer.
    #[arg(long, env = "UPSTREAM_NAME", default_value = "upstream")]
    name: String,
    /// How long in-flight requests may finish after SIGTERM/SIGINT.
    #[arg(long, env = "UPSTREAM_DRAIN_TIMEOUT", default_value = "1s",
          value_parser = seawall::config::duration::parse)]
    drain_timeout: Duration,
    /// Most requests served at once; the rest wait (0: unlimited). Models a
    /// worker pool; `POST /_upstream/config {"capacity": N}` overrides it.
    #[arg(long, env = "UPSTREAM_CAPACITY", default_value_t = 0)]
    capacity: usize,
    /// Answer every normal request by calling this base URL with the same
    /// path and query and passing its status on (a middle hop of a chain).
    #[arg(long, env = "UPSTREAM_CALL")]
    call: Option<String>,
    /// Run as a fault-injecting TCP proxy to this address instead of an
    /// HTTP upstream.
    #[arg(long, env = "UPSTREAM_PROXY_TO")]
    proxy_to: Option<String>,
    /// Proxy mode: address of the HTTP control API (toxics, stats).
    #[arg(long, env = "UPSTREAM_CONTROL", default_value = "127.0.0.1:0")]
    control: String,
    /// Instead of serving: GET this URL once and exit 0 on a 2xx answer
    /// within 2 s, 1 otherwise (a scratch image's Docker healthcheck).
    #[arg(long)]
    probe: Option<String>,
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Some(url) = &cli.probe {
        // The probe starts its own small runtime: run it off this one.
        let url = url.clone();
        return tokio::task::spawn_blocking(move || seawall::admin::probe::probe(&url))
            .await
            .unwrap_or(ExitCode::FAILURE);
    }
    init_logging();

    let shutdown = match server::shutdown_signal() {
        Ok(shutdown) => shutdown,
        Err(error) => {
            eprintln!("seawall-upstream: cannot install signal handlers: {error}");
            return ExitCode::FAILURE;
        }
    };
    let listener = match TcpListener::bind(&cli.listen).await {
        Ok(listener) => listener,
        Err(error) => {
            eprintln!("seawall-upstream: cannot listen on {}: {error}", cli.listen);
            return ExitCode::FAILURE;
        }
    };
    if let Err(error) = announce(&listener) {
        eprintln!("seawall-upstream: cannot announce the listening address: {error}");
        return ExitCode::FAILURE;
    }

    let served = match cli.proxy_to {
        Some(target) => match control_listener(&cli.control).await {
            Ok(control) => tcp_proxy::run(listener, control, target, shutdown).await,
            Err(error) => Err(error),
        },
        None => {
            let mut state = state::State::new(cli.name, cli.capacity);
            state.caller = cli.call.map(call::Caller::new);
            let state = Arc::new(state);
            server::serve(listener, state, shutdown, cli.drain_timeout).await
        }
    };
    match served {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("seawall-upstream: {error}");
            ExitCode::FAILURE
        }
    }
}

/// Binds the proxy's control port and announces it on stdout.
async fn control_listener(addr: &str) -> std::io::Result<TcpListener> {
    let listener = TcpListener::bind(addr).await?;
    let mut out = std::io::stdout().lock();
    writeln!(out, "control on {}", listener.local_addr()?)?;
    out.flush()?;
    Ok(listener)
}

/// Prints the single readiness line and flushes it, so a parent reading our
/// stdout through a pipe sees it at once.
fn announce(listener: &TcpListener) -> std::io::Result<()> {
    let addr = listener.local_addr()?;
    let mut out = std::io::stdout().lock();
    writeln!(out, "listening on {addr}")?;
    out.flush()
}

/// Logs go to stderr (stdout carries only the readiness line); quiet unless
/// `RUST_LOG` asks for more.
fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}
