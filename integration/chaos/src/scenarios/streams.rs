//! Scenario 14: long-lived streams while a replica is killed and the config
//! is reloaded (issue 30). Server-sent-events-like streams (HTTP/1.1,
//! chunked) and gRPC-shaped server streams (h2c, `application/grpc`, ended
//! by `grpc-status` trailers) run through seawall to the three replicas,
//! one chunk a second. It proves that a stream doing its job is never cut
//! by a default or a reload, and that one the upstream broke off says so:
//!
//! - streams on the healthy replicas arrive whole, across the kill and the
//!   reload (a reload swaps the routing snapshot; streams keep the stack
//!   they started on);
//! - streams on the killed replica end soon after the kill, never looking
//!   complete: an HTTP/1 body without its last chunk, a gRPC call with a
//!   `grpc-status` in trailers (`UNAVAILABLE`, from seawall), never a bare
//!   stream reset, which a gRPC client reads as `INTERNAL`;
//! - every such cut is counted in `seawall_response_body_cuts_total`.

use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use tokio::sync::oneshot;
use tokio::task::JoinSet;
use tokio::time::{Instant, timeout};

use super::{Check, Measured, Opts, ms, under_load};
use crate::Error;
use crate::env::{Env, REPLICAS};
use crate::load::{Load, Timeline};
use crate::record::Run;

/// Replica killed when it qualifies (`upstream-2`, as in the other
/// scenarios); else the first that does (see [`start_streams`]).
const VICTIM: usize = 1;
/// Streams of each kind (SSE, gRPC) wanted on the killed replica, and as
/// many on the others together.
const PER_SIDE: usize = 2;
/// At most this many streams of a kind are opened to get there (each lands
/// on the victim with a chance of about 1 in 3).
const MAX_PER_KIND: usize = 30;
/// The fault upstream's chunk size (`body_bytes` is sent in these).
const CHUNK: u64 = 64 * 1024;
/// How soon after the kill a stream on the killed replica must have ended.
const CUT_WITHIN: Duration = Duration::from_secs(5);

/// One stream as its client saw it.
#[derive(Debug, Clone)]
struct Streamed {
    grpc: bool,
    /// `x-upstream-name` of the response (`None`: no response).
    replica: Option<String>,
    bytes: u64,
    /// The body ended without an error (HTTP/1: its last chunk came).
    clean: bool,
    /// `grpc-status` from the trailers, when any came.
    grpc_status: Option<String>,
    grpc_message: Option<String>,
    /// When it ended, from the start of the run.
    ended: Duration,
    error: Option<String>,
}

impl Streamed {
    /// Delivered whole: every byte, a clean end, gRPC status 0.
    fn whole(&self, expected: u64) -> bool {
        self.clean && self.bytes == expected && self.status_ok()
    }

    /// What a client would take for a complete stream.
    fn looks_complete(&self) -> bool {
        self.clean && self.status_ok()
    }

    fn status_ok(&self) -> bool {
        !self.grpc || self.grpc_status.as_deref() == Some("0")
    }

    fn on(&self, replica: &str) -> bool {
        self.replica.as_deref() == Some(replica)
    }
}

/// What the fault script saw besides the streams.
#[derive(Debug, Default)]
struct Script {
    streams: Vec<Streamed>,
    /// The replica killed.
    victim: usize,
    /// When the reload was seen applied (run time).
    reloaded: Option<Duration>,
}

/// 14: streams across three replicas; `upstream-2` killed, then the config
/// rewritten (a reload), while they flow.
pub async fn long_streams(env: &mut Env, opts: Opts) -> Result<Measured, Error> {
    let seconds: u64 = if opts.short { 12 } else { 25 };
    let chunks = seconds + 1;
    // The streams open once the load has run a second (the balancer has
    // measured every replica), then the kill, then the reload.
    let settle = Duration::from_secs(1);
    let (kill_at, reload_at) = (opts.secs(5.0, 4.0), opts.secs(8.0, 6.0));
    let length = settle + Duration::from_secs(seconds + 2);
    let path = env.config_path().ok_or("no config file to rewrite")?;
    let original = std::fs::read_to_string(&path)?;
    let url = env.url(&format!(
        "/stream?body_bytes={}&chunk_delay=1s&trailers=1",
        chunks * CHUNK
    ));
    // Compose starts the replicas with seawall; until DNS and the health
    // checks list all three, the streams would all go to the others.
    every_replica_available(env).await?;
    let cuts_before = cuts(env, "upstream-reset").await?;
    let applied_before = applied(env).await?;
    let mut script = Script::default();
    let (seen, file) = (&mut script, &path);
    let load = Load::steady(opts.rate / 5, length, env.url("/work"));
    let faulty: &mut Env = &mut *env;
    let run = under_load(load, |t| async move {
        t.until(settle).await;
        let (mut set, victim) = start_streams(&url, &t).await;
        seen.victim = victim.unwrap_or(VICTIM);
        t.until(kill_at).await;
        let w = t.open(format!("kill {}", REPLICAS[seen.victim]));
        faulty.kill(seen.victim).await?;
        t.close(w);
        t.until(reload_at).await;
        let w = t.open("reload");
        rewrite(file, &original.replace("request: 2s", "request: 3s"))?;
        seen.reloaded = reload_seen(faulty, applied_before, &t).await?;
        t.close(w);
        let patience = length + Duration::from_secs(10);
        while let Some(done) = timeout(patience, set.join_next()).await? {
            seen.streams.push(done?);
        }
        rewrite(file, &original)?;
        Ok(())
    })
    .await?;
    let kill = run.window("kill").ok_or("no kill window")?.from;
    let counted = cuts(env, "upstream-reset").await? - cuts_before;
    Ok(judge(&script, chunks * CHUNK, kill, counted, run))
}

/// The checks on what the streams saw.
fn judge(script: &Script, expected: u64, kill: Duration, counted: f64, run: Run) -> Measured {
    let (all, victim) = (&script.streams, REPLICAS[script.victim]);
    let started = all.iter().filter(|s| s.replica.is_some()).count();
    let healthy: Vec<&Streamed> = all
        .iter()
        .filter(|s| s.replica.is_some() && !s.on(victim))
        .collect();
    let killed: Vec<&Streamed> = all.iter().filter(|s| s.on(victim)).collect();
    let whole = healthy.iter().filter(|s| s.whole(expected)).count();
    let bare_resets = killed
        .iter()
        .filter(|s| s.grpc && s.grpc_status.is_none())
        .count();
    let last_cut = killed
        .iter()
        .map(|s| s.ended.saturating_sub(kill))
        .max()
        .unwrap_or_default();
    // The reload must land while every healthy stream still flows.
    let first_end = healthy.iter().map(|s| s.ended).min().unwrap_or_default();
    let mid_stream = script.reloaded.is_some_and(|at| at < first_end);
    let mut notes = vec![format!(
        "{started} of {} streams started: {} on the healthy replicas, {} on {victim} \
         ({} gRPC); last cut {:.0} ms after the kill; reload applied at {}, first \
         healthy stream ended at {:.0} ms",
        all.len(),
        healthy.len(),
        killed.len(),
        killed.iter().filter(|s| s.grpc).count(),
        ms(last_cut),
        script
            .reloaded
            .map_or("never".to_owned(), |at| format!("{:.0} ms", ms(at))),
        ms(first_end),
    )];
    notes.extend(killed.iter().map(|s| {
        let kind = if s.grpc { "gRPC" } else { "SSE" };
        format!(
            "{victim} {kind}: {} bytes, grpc-status {:?} {:?}, error {:?}",
            s.bytes, s.grpc_status, s.grpc_message, s.error
        )
    }));
    notes.extend(
        healthy
            .iter()
            .filter(|s| !s.whole(expected))
            .map(|s| format!("not whole on a healthy replica: {s:?}")),
    );
    let share = if healthy.is_empty() {
        0.0
    } else {
        whole as f64 * 100.0 / healthy.len() as f64
    };
    let complete = killed.iter().filter(|s| s.looks_complete()).count();
    let checks = vec![
        Check::at_least("streams started", started as f64, all.len() as f64, ""),
        Check::at_least(
            "SSE streams on the killed replica",
            killed.iter().filter(|s| !s.grpc).count() as f64,
            PER_SIDE as f64,
            "",
        ),
        Check::at_least(
            "gRPC streams on the killed replica",
            killed.iter().filter(|s| s.grpc).count() as f64,
            PER_SIDE as f64,
            "",
        ),
        Check::at_least(
            "streams on healthy replicas delivered whole (kill and reload)",
            share,
            100.0,
            "%",
        ),
        Check::at_most(
            "streams on the killed replica that look complete",
            complete as f64,
            0.0,
            "",
        ),
        Check::at_most(
            "gRPC streams on the killed replica ended without a grpc-status",
            bare_resets as f64,
            0.0,
            "",
        ),
        Check::at_most(
            "kill → last stream on it ended",
            ms(last_cut),
            ms(CUT_WITHIN),
            "ms",
        ),
        Check::at_least(
            "cuts counted (upstream-reset)",
            counted,
            killed.len() as f64,
            "",
        ),
        Check::at_least(
            "reload applied while the streams flowed (1 = yes)",
            f64::from(u8::from(mid_stream)),
            1.0,
            "",
        ),
    ];
    Measured { run, checks, notes }
}

/// Opens streams, SSE and gRPC in turn, one at a time (each on its own
/// connection, as separate clients would), until some replica holds
/// [`PER_SIDE`] of each kind and the others as many together (the
/// balancer places them; the scenario needs streams on both sides of the
/// kill), or [`MAX_PER_KIND`] of each were opened. Returns the streams,
/// whose records the set yields as they end, and that replica: `upstream-2`
/// when it qualifies.
async fn start_streams(url: &str, t: &Timeline) -> (JoinSet<Streamed>, Option<usize>) {
    let mut set = JoinSet::new();
    // Streams per kind (SSE, gRPC) and replica.
    let mut placed = [[0usize; REPLICAS.len()]; 2];
    for i in 0..2 * MAX_PER_KIND {
        let grpc = i % 2 == 1;
        let (tx, rx) = oneshot::channel();
        let (url, t) = (url.to_owned(), t.clone());
        set.spawn(async move { stream(&url, grpc, &t, tx).await });
        if let Ok(Some(name)) = rx.await
            && let Some(r) = REPLICAS.iter().position(|n| *n == name)
        {
            placed[usize::from(grpc)][r] += 1;
        }
        let qualifies = |r: usize| {
            placed.iter().all(|kind| {
                let others: usize = kind.iter().sum::<usize>() - kind[r];
                kind[r] >= PER_SIDE && others >= PER_SIDE
            })
        };
        if let Some(r) = [VICTIM, 0, 2].into_iter().find(|r| qualifies(*r)) {
            return (set, Some(r));
        }
    }
    (set, None)
}

/// One stream, read to its end, however it ends; `placed` is told which
/// replica answered (or nothing, if none did) when the headers arrive.
async fn stream(
    url: &str,
    grpc: bool,
    t: &Timeline,
    placed: oneshot::Sender<Option<String>>,
) -> Streamed {
    let mut seen = Streamed {
        grpc,
        replica: None,
        bytes: 0,
        clean: false,
        grpc_status: None,
        grpc_message: None,
        ended: Duration::ZERO,
        error: None,
    };
    if let Err(e) = read(url, grpc, &mut seen, placed).await {
        seen.error = Some(e.to_string());
    }
    seen.ended = t.now();
    seen
}

async fn read(
    url: &str,
    grpc: bool,
    seen: &mut Streamed,
    placed: oneshot::Sender<Option<String>>,
) -> Result<(), Error> {
    let client: Client<HttpConnector, Empty<Bytes>> = Client::builder(TokioExecutor::new())
        .http2_only(grpc)
        .build_http();
    let mut req = http::Request::get(url).header("te", "trailers");
    if grpc {
        req = req.header("content-type", "application/grpc");
    }
    let response = client.request(req.body(Empty::new())?).await?;
    seen.replica = response
        .headers()
        .get("x-upstream-name")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let _ = placed.send(seen.replica.clone());
    if response.status() != http::StatusCode::OK {
        return Err(format!("status {}", response.status()).into());
    }
    let mut body = response.into_body();
    while let Some(frame) = body.frame().await {
        let frame = frame?;
        if let Some(data) = frame.data_ref() {
            seen.bytes += data.len() as u64;
        }
        if let Some(trailers) = frame.trailers_ref() {
            let field = |name: &str| trailers.get(name).and_then(|v| v.to_str().ok());
            seen.grpc_status = field("grpc-status").map(str::to_owned);
            seen.grpc_message = field("grpc-message").map(str::to_owned);
        }
    }
    seen.clean = true;
    Ok(())
}

/// Replaces the config file as editors and ConfigMaps do: write aside,
/// then rename over it.
fn rewrite(path: &std::path::Path, text: &str) -> Result<(), Error> {
    let aside = path.with_extension("yaml.tmp");
    std::fs::write(&aside, text)?;
    std::fs::rename(&aside, path)?;
    Ok(())
}

/// Polls `/config` until a reload past `before` was applied; when (run
/// time), or `None` if none was within 5 s.
async fn reload_seen(env: &Env, before: f64, t: &Timeline) -> Result<Option<Duration>, Error> {
    let until = t.now() + Duration::from_secs(5);
    while t.now() < until {
        if applied(env).await? > before {
            return Ok(Some(t.now()));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Ok(None)
}

/// Waits until the front seawall lists every replica neither ejected nor
/// unhealthy (`/clusters`), for at most 20 s.
async fn every_replica_available(env: &Env) -> Result<(), Error> {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let clusters = env.admin("/clusters").await?;
        let endpoints: Vec<&serde_json::Value> = clusters["clusters"]
            .as_array()
            .into_iter()
            .flatten()
            .flat_map(|c| c["endpoints"].as_array().into_iter().flatten())
            .collect();
        let mut available = 0;
        for r in 0..REPLICAS.len() {
            let addr = env.replica_addr(r).await?;
            available += usize::from(endpoints.iter().any(|e| {
                e["address"].as_str() == Some(addr.as_str())
                    && e["ejected"] == false
                    && e["healthy"] == true
            }));
        }
        if available == REPLICAS.len() {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(format!("not every replica available within 20 s: {clusters}").into());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Reloads applied so far (`/config`).
async fn applied(env: &Env) -> Result<f64, Error> {
    let counts = env.admin("/config").await?["reload"]["counts"].clone();
    Ok(counts["applied"].as_u64().unwrap_or(0) as f64)
}

/// `seawall_response_body_cuts_total` for `reason`, summed over routes.
async fn cuts(env: &Env, reason: &str) -> Result<f64, Error> {
    let text = env.admin_text("/metrics").await?;
    let label = format!("reason=\"{reason}\"");
    Ok(text
        .lines()
        .filter(|l| l.starts_with("seawall_response_body_cuts_total{") && l.contains(&label))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum())
}
