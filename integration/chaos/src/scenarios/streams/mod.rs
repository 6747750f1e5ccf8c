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

use tokio::time::{Instant, timeout};

mod client;

use client::{Streamed, start_streams};

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
    let count = |set: &[&Streamed], f: &dyn Fn(&Streamed) -> bool| {
        set.iter().filter(|s| f(s)).count() as f64
    };
    let whole = count(&healthy, &|s| s.whole(expected));
    let bare_resets = count(&killed, &|s| s.grpc && s.grpc_status.is_none());
    let last_cut = killed
        .iter()
        .map(|s| s.ended.saturating_sub(kill))
        .max()
        .unwrap_or_default();
    // The reload must land while every healthy stream still flows.
    let first_end = healthy.iter().map(|s| s.ended).min().unwrap_or_default();
    let mid_stream = script.reloaded.is_some_and(|at| at < first_end);
    let notes = notes(script, &healthy, &killed, expected, last_cut, first_end);
    let share = whole * 100.0 / healthy.len().max(1) as f64;
    let checks = vec![
        Check::at_least("streams started", started as f64, all.len() as f64, ""),
        Check::at_least(
            "SSE streams on the killed replica",
            count(&killed, &|s| !s.grpc),
            PER_SIDE as f64,
            "",
        ),
        Check::at_least(
            "gRPC streams on the killed replica",
            count(&killed, &|s| s.grpc),
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
            count(&killed, &Streamed::looks_complete),
            0.0,
            "",
        ),
        Check::at_most(
            "gRPC streams on the killed replica ended without a grpc-status",
            bare_resets,
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

/// What a reader of the report wants next to the checks: where the streams
/// went, when things happened, how each stream on the killed replica ended.
fn notes(
    script: &Script,
    healthy: &[&Streamed],
    killed: &[&Streamed],
    expected: u64,
    last_cut: Duration,
    first_end: Duration,
) -> Vec<String> {
    let (all, victim) = (&script.streams, REPLICAS[script.victim]);
    let started = all.iter().filter(|s| s.replica.is_some()).count();
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
    notes
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
