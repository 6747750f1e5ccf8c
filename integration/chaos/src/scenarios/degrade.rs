//! Scenarios 6–8: a replica that is degraded rather than dead (slow,
//! erroring), and a service pushed past its capacity. They prove seawall
//! routes around a bad replica and refuses work it cannot do, early and
//! explicitly, instead of letting every caller queue.

use std::time::Duration;

use super::{Check, Measured, Opts, under_load};
use crate::Error;
use crate::env::{Env, REPLICAS};
use crate::load::Load;

/// Replica that the faults hit (`upstream-2`).
const VICTIM: usize = 1;
/// Overload: workers per replica (the replicas' `capacity`). Three, with
/// seawall admitting six at once: P2C may place up to three on one replica
/// (it compares two random replicas, not all), and with two workers the
/// third would queue inside the replica for a whole service time — measured
/// at 2 workers: admitted p99 ≈ 2 service times, right at the 2×B99 bound.
const WORKERS: u32 = 3;
/// Overload: time one request keeps a worker busy.
const SERVICE: Duration = Duration::from_millis(36);

/// 6: `upstream-2` answers 200 ms late.
pub async fn slow_replica(env: &mut Env, opts: Opts) -> Result<Measured, Error> {
    let (at, length) = (opts.secs(3.0, 2.0), opts.secs(15.0, 10.0));
    let run = under_load(
        Load::steady(opts.rate, length, env.url("/work")),
        |t| async move {
            t.until(at).await;
            t.open("upstream-2 +200 ms");
            env.faults(VICTIM, r#"{"delay": "200ms"}"#).await
        },
    )
    .await?;
    let w = run.window("upstream-2").ok_or("no fault window")?.clone();
    let share = run.share("upstream-2", w.from + Duration::from_secs(5), run.length);
    let before = run.share("upstream-2", Duration::ZERO, w.from);
    let all = run.summary(Duration::ZERO, run.length);
    Ok(Measured {
        checks: vec![
            Check::at_most(
                "upstream-2 share from fault + 5 s",
                share * 100.0,
                10.0,
                "%",
            ),
            Check::at_most("lost", all.lost as f64, 0.0, ""),
        ],
        notes: vec![format!(
            "upstream-2 share before the fault: {:.1}%",
            before * 100.0
        )],
        run,
    })
}

/// 7: `upstream-2` fails half its requests with 503.
pub async fn erroring_replica(env: &mut Env, opts: Opts) -> Result<Measured, Error> {
    let (at, length) = (opts.secs(3.0, 2.0), opts.secs(15.0, 10.0));
    let mut seen_before = 0;
    for r in 0..REPLICAS.len() {
        seen_before += env.replica_requests(r).await?;
    }
    let url = env.url("/work");
    let faulty: &Env = env;
    let run = under_load(Load::steady(opts.rate, length, url), |t| async move {
        t.until(at).await;
        t.open("upstream-2 50% 503");
        faulty
            .faults(VICTIM, r#"{"error_rate": 0.5, "status": 503}"#)
            .await
    })
    .await?;
    let mut seen = 0;
    for r in 0..REPLICAS.len() {
        seen += env.replica_requests(r).await?;
    }
    // The warm-up's 32 requests reached the replicas too.
    let upstream = seen.saturating_sub(seen_before + 32) as f64;
    let w = run.window("upstream-2").ok_or("no fault window")?.clone();
    let after = run.summary(w.from + Duration::from_secs(2), run.length);
    let sent = run.samples.len() as f64;
    Ok(Measured {
        checks: vec![
            Check::at_least(
                "GET 2xx from fault + 2 s",
                after.success() * 100.0,
                99.9,
                "%",
            ),
            Check::at_most(
                "amplification (replica requests / client requests)",
                upstream / sent.max(1.0),
                1.2,
                "×",
            ),
        ],
        notes: vec![run.not_ok(w.from + Duration::from_secs(2))],
        run,
    })
}

/// 8: three times the service's capacity. A request holds a worker for
/// 36 ms and seawall admits six at once (`config/chaos/overload.yaml`, the
/// service's parallelism), so the service carries about 167 req/s. The load
/// is half that (B99), then the full rate (three times capacity at
/// 500 req/s), then half again (recovery).
pub async fn overload(env: &mut Env, opts: Opts) -> Result<Measured, Error> {
    for r in 0..REPLICAS.len() {
        env.faults(r, &format!(r#"{{"capacity": {WORKERS}}}"#))
            .await?;
    }
    let calm = (opts.rate / 6).max(1);
    let (base, over, rest) = (
        opts.secs(4.0, 3.0),
        opts.secs(8.0, 4.0),
        opts.secs(5.0, 4.0),
    );
    let load = Load {
        phases: vec![(calm, base), (opts.rate, over), (calm, rest)],
        url: env.url(&format!("/work?delay={}ms", SERVICE.as_millis())),
        deadline: Duration::from_secs(1),
        grpc: false,
    };
    let run = under_load(load, |t| async move {
        t.until(base).await;
        let w = t.open("3× capacity");
        t.until(base + over).await;
        t.close(w);
        Ok(())
    })
    .await?;
    let b99 = run.summary(Duration::ZERO, base).p99_ms;
    let loaded: Vec<_> = run.between(base, base + over).collect();
    let admitted = run.summary(base, base + over);
    let refused: Vec<_> = loaded.iter().filter(|s| !s.ok()).collect();
    let explicit = refused.iter().filter(|s| s.shed() && s.retry_after).count();
    // Recovery: the first second after the load drops that is all 2xx with
    // p99 back within 2×B99.
    let drop = base + over;
    let recovery = (0..rest.as_millis() as u64 / 250)
        .map(|i| drop + Duration::from_millis(250 * i))
        .find(|&from| {
            let s = run.summary(
                from,
                from + Duration::from_millis(1000).min(run.length - from),
            );
            s.success() >= 1.0 && s.p99_ms <= 2.0 * b99 + super::LATENCY_SLACK_MS
        })
        .map_or(f64::INFINITY, |from| (from - drop).as_secs_f64() * 1000.0);
    let goodput = admitted.ok as f64 / over.as_secs_f64();
    Ok(Measured {
        checks: vec![
            Check::at_most(
                "admitted p99 at 3× capacity",
                admitted.p99_ms,
                2.0 * b99 + super::LATENCY_SLACK_MS,
                "ms",
            ),
            Check::at_least(
                "refusals that are 503 shed + Retry-After",
                explicit as f64 * 100.0 / refused.len().max(1) as f64,
                100.0,
                "%",
            ),
            Check::at_least(
                "shed share at 3× capacity",
                admitted.shed_rate() * 100.0,
                50.0,
                "%",
            ),
            Check::at_most("lost", admitted.lost as f64, 0.0, ""),
            Check::at_most("load drop → 1 s of 2xx at ≤ 2×B99", recovery, 2000.0, "ms"),
        ],
        notes: vec![
            format!("B99 = {b99:.2} ms at {calm} req/s"),
            format!("goodput at 3× capacity: {goodput:.0} req/s (capacity ≈ 167)"),
        ],
        run,
    })
}
