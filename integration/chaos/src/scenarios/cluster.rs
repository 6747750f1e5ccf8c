//! Scenarios 1–5: one cluster of three replicas, healthy, then losing one
//! replica (killed, paused, partitioned) or all of them (paused). They
//! prove that a failure stays with the replica that failed: the client keeps
//! getting fast, successful answers from the others.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use super::{Check, Measured, Opts, ms, quantile_ms, under_load};
use crate::Error;
use crate::env::Env;
use crate::load::{Load, Timeline};
use crate::record::Summary;

/// Replica that the faults hit (`upstream-2`).
const VICTIM: usize = 1;
/// Time allowed for detection (ejection, DNS, breaker) before the bounds apply.
const DETECT: Duration = Duration::from_secs(2);
/// The health-check interval the "back in rotation" bound is counted in.
/// `health_check.interval` in config/chaos/seawall.yaml.
const HEALTH_INTERVAL: Duration = Duration::from_secs(1);
/// Path every request asks for: the plain echo.
const PATH: &str = "/work";

/// 1: everything healthy.
pub async fn baseline(env: &mut Env, opts: Opts) -> Result<Measured, Error> {
    let length = opts.secs(10.0, 4.0);
    let run = under_load(Load::steady(opts.rate, length, env.url(PATH)), |_| async {
        Ok(())
    })
    .await?;
    let all = run.summary(Duration::ZERO, length);
    Ok(Measured {
        checks: vec![
            Check::at_least("2xx", all.success() * 100.0, 100.0, "%"),
            Check::at_most("lost", all.lost as f64, 0.0, ""),
        ],
        notes: vec![format!(
            "B99 = {:.2} ms, p50 = {:.2} ms over {} requests",
            all.p99_ms, all.p50_ms, all.sent
        )],
        run,
    })
}

/// 2: `upstream-2` killed, then restarted.
///
/// "Back" is counted from the later of the restart command returning and
/// the replica answering on its own address: until its process listens,
/// there is nothing to route to. When the container starts and when the
/// front seawall lists the endpoint as available are printed, so a miss
/// says which of docker, DNS, ejection or balancing was slow.
pub async fn kill_replica(env: &mut Env, opts: Opts) -> Result<Measured, Error> {
    let (kill_at, restart_at, length) = (
        opts.secs(4.0, 3.0),
        opts.secs(12.0, 6.0),
        opts.secs(20.0, 11.0),
    );
    let url = env.url(PATH);
    let seen = Arc::new(Mutex::new(Restart::default()));
    let record = seen.clone();
    let run = under_load(Load::steady(opts.rate, length, url), |t| async move {
        t.until(kill_at).await;
        let w = t.open("kill upstream-2");
        env.kill(VICTIM).await?;
        t.until(restart_at).await;
        env.restart(VICTIM).await?;
        t.close(w);
        let restart = watch_restart(env, &t, length).await;
        *record.lock().unwrap_or_else(PoisonError::into_inner) = restart;
        Ok(())
    })
    .await?;
    let seen = seen.lock().unwrap_or_else(PoisonError::into_inner).clone();
    let w = run.window("kill").ok_or("no kill window")?.clone();
    let after = run.summary(w.from + DETECT, w.to);
    let from = seen.listening.map_or(w.to, |at| at.max(w.to));
    let back = run
        .between(from, run.length)
        .find(|s| s.replica.as_deref() == Some("upstream-2"))
        .map_or(f64::INFINITY, |s| ms(s.at.saturating_sub(from)));
    let at = |d: Option<Duration>| d.map_or("never".to_owned(), |d| format!("{:.0} ms", ms(d)));
    Ok(Measured {
        checks: vec![
            Check::at_most(
                "lost (whole run)",
                run.summary(Duration::ZERO, run.length).lost as f64,
                0.0,
                "",
            ),
            Check::at_least(
                "2xx from kill + 2 s to restart",
                after.success() * 100.0,
                99.9,
                "%",
            ),
            Check::at_most(
                "restart → first answer from upstream-2",
                back,
                ms(2 * HEALTH_INTERVAL),
                "ms",
            ),
        ],
        notes: vec![format!(
            "run time: kill {:.0} ms, restart returned {:.0} ms, replica answering directly {}, \
             listed available by seawall {}, of {:.0} ms; endpoint then: {}",
            ms(w.from),
            ms(w.to),
            at(seen.listening),
            at(seen.available),
            ms(run.length),
            seen.endpoint.as_deref().unwrap_or("not listed"),
        )],
        run,
    })
}

/// What [`watch_restart`] saw, as run times.
#[derive(Debug, Clone, Default)]
struct Restart {
    /// The replica first answered on its own address.
    listening: Option<Duration>,
    /// The front seawall first listed it neither ejected nor unhealthy.
    available: Option<Duration>,
    /// Its `/clusters` entry at the last poll.
    endpoint: Option<String>,
}

/// Polls the restarted replica and the front seawall's `/clusters` until
/// both show it back, or the run ends.
async fn watch_restart(env: &Env, t: &Timeline, until: Duration) -> Restart {
    let mut seen = Restart::default();
    while t.now() < until && (seen.listening.is_none() || seen.available.is_none()) {
        if seen.listening.is_none() && env.replica_requests(VICTIM).await.is_ok() {
            seen.listening = Some(t.now());
        }
        if seen.available.is_none()
            && let (Ok(addr), Ok(clusters)) =
                (env.replica_addr(VICTIM).await, env.admin("/clusters").await)
        {
            let entry = clusters["clusters"]
                .as_array()
                .into_iter()
                .flatten()
                .flat_map(|c| c["endpoints"].as_array().into_iter().flatten())
                .find(|e| e["address"].as_str() == Some(addr.as_str()));
            if let Some(e) = entry {
                if e["ejected"] == false && e["healthy"] == true {
                    seen.available = Some(t.now());
                }
                seen.endpoint = Some(e.to_string());
            }
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    seen
}

/// 3 (pause) and 5 (network partition) of `upstream-2`.
pub async fn stall_replica(env: &mut Env, opts: Opts, partition: bool) -> Result<Measured, Error> {
    let (at, until, length) = (
        opts.secs(4.0, 3.0),
        opts.secs(14.0, 8.0),
        opts.secs(18.0, 10.0),
    );
    let load = Load::steady(opts.rate, length, env.url(PATH));
    let deadline = load.deadline;
    let label = if partition {
        "partition upstream-2"
    } else {
        "pause upstream-2"
    };
    let run = under_load(load, |t| async move {
        t.until(at).await;
        let w = t.open(label);
        if partition {
            env.partition(VICTIM).await?
        } else {
            env.pause(VICTIM).await?
        }
        t.until(until).await;
        if partition {
            env.heal(VICTIM).await?
        } else {
            env.unpause(VICTIM).await?
        }
        t.close(w);
        Ok(())
    })
    .await?;
    let w = run.window(label).ok_or("no fault window")?.clone();
    let b99 = run.summary(Duration::ZERO, w.from).p99_ms;
    // Judged until the heal starts: reconnecting a container to its network
    // (which can take 0.6 s) is a network change of its own, not the
    // stalled replica this claim is about.
    let ejected = run.summary(w.from + DETECT, until.min(w.to));
    let whole = run.summary(Duration::ZERO, run.length);
    Ok(Measured {
        checks: vec![
            Check::at_least("2xx after ejection", ejected.success() * 100.0, 99.9, "%"),
            Check::at_most(
                "p99 after ejection",
                ejected.p99_ms,
                1.5 * b99 + super::LATENCY_SLACK_MS,
                "ms",
            ),
            Check::at_most("slowest answer", whole.max_ms, ms(deadline) + 50.0, "ms"),
            Check::at_most("lost", whole.lost as f64, 0.0, ""),
        ],
        notes: vec![
            format!(
                "B99 = {b99:.2} ms (before the fault); judged from {:.1} s to {:.1} s, \
                 the undo then took {:.0} ms",
                (w.from + DETECT).as_secs_f64(),
                until.as_secs_f64(),
                ms(w.to.saturating_sub(until))
            ),
            run.not_ok(w.from + DETECT),
        ],
        run,
    })
}

/// 4: every replica paused for 10 s.
pub async fn pause_all(env: &mut Env, opts: Opts) -> Result<Measured, Error> {
    let at = opts.secs(3.0, 2.0);
    let (until, length) = (at + Duration::from_secs(10), at + Duration::from_secs(16));
    let run = under_load(
        Load::steady(opts.rate, length, env.url(PATH)),
        |t| async move {
            t.until(at).await;
            let w = t.open("pause all");
            env.pause_all(true).await?;
            t.until(until).await;
            env.pause_all(false).await?;
            t.close(w);
            Ok(())
        },
    )
    .await?;
    let w = run.window("pause all").ok_or("no fault window")?.clone();
    // When the breaker was first seen open: the earliest breaker-open answer
    // (its arrival, not its schedule: it may have waited for an attempt).
    let opened = run
        .between(w.from, w.to)
        .filter(|s| s.breaker_open())
        .map(|s| s.at + s.latency)
        .min();
    let fast: Vec<_> = opened.map_or_else(Vec::new, |o| run.between(o, w.to).collect());
    let fast_503 =
        fast.iter().filter(|s| s.status == Some(503)).count() as f64 / fast.len().max(1) as f64;
    let recovered: Summary = run.summary(w.to + DETECT, run.length);
    Ok(Measured {
        checks: vec![
            Check::at_most(
                "pause → breaker open",
                opened.map_or(f64::INFINITY, |o| ms(o - w.from)),
                5000.0,
                "ms",
            ),
            // 97%, not 99%: timeouts alone open the breaker only after a
            // second with no success (an overloaded upstream must not be cut
            // off), so the attempts already in flight when it opens still
            // end in 504 (98.1-99.9% measured on compose, 99.9-100% on
            // loopback).
            Check::at_least("503 while open", fast_503 * 100.0, 97.0, "%"),
            Check::at_most(
                "p99 while open",
                quantile_ms(fast.iter().copied(), 0.99),
                50.0,
                "ms",
            ),
            Check::at_least(
                "2xx from unpause + 2 s",
                recovered.success() * 100.0,
                99.9,
                "%",
            ),
        ],
        notes: vec![],
        run,
    })
}
