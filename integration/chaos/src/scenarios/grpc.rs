//! Scenario 17: gRPC calls while one replica answers every call with a
//! trailers-only `UNAVAILABLE` (HTTP 200, `grpc-status: 14`), as a gRPC
//! server that is shutting down or lost its backend does (issue 20). Judged
//! by the status alone, those calls would be successes: nothing retried,
//! nothing ejected, a third of the calls failed. Judged by their
//! `grpc-status`, they are retried on the other replicas within the budget
//! and the replica is ejected, as for the HTTP erroring replica (7).

use std::time::Duration;

use super::{Check, Measured, Opts, under_load};
use crate::Error;
use crate::env::{Env, REPLICAS};
use crate::load::Load;

/// The replica that fails.
const VICTIM: usize = 1;

/// 17: one replica of three answers `UNAVAILABLE` to every gRPC call.
pub async fn erroring_replica(env: &mut Env, opts: Opts) -> Result<Measured, Error> {
    for r in 0..REPLICAS.len() {
        env.faults(r, r#"{"grpc_status": 0}"#).await?;
    }
    let (at, length) = (opts.secs(3.0, 2.0), opts.secs(15.0, 10.0));
    let mut seen_before = 0;
    for r in 0..REPLICAS.len() {
        seen_before += env.replica_requests(r).await?;
    }
    let load = Load {
        grpc: true,
        ..Load::steady(opts.rate, length, env.url("/pkg.Service/Call"))
    };
    let faulty: &Env = env;
    let run = under_load(load, |t| async move {
        t.until(at).await;
        t.open("upstream-2 UNAVAILABLE");
        faulty.faults(VICTIM, r#"{"grpc_status": 14}"#).await
    })
    .await?;
    let mut seen = 0;
    for r in 0..REPLICAS.len() {
        seen += env.replica_requests(r).await?;
    }
    // The warm-up's 32 requests reached the replicas too.
    let upstream = seen.saturating_sub(seen_before + 32) as f64;
    let w = run.window("upstream-2").ok_or("no fault window")?.clone();
    let all = run.summary(Duration::ZERO, run.length);
    let after = run.summary(w.from + Duration::from_secs(2), run.length);
    let sent = run.samples.len() as f64;
    let failed = run.samples.iter().filter(|s| !s.ok()).count();
    Ok(Measured {
        checks: vec![
            Check::at_least("gRPC OK, whole run", all.success() * 100.0, 99.9, "%"),
            Check::at_least(
                "gRPC OK from fault + 2 s",
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
            Check::at_most("lost", all.lost as f64, 0.0, ""),
        ],
        notes: vec![format!(
            "{failed} of {} calls not OK; the replica answered UNAVAILABLE from {:.1} s",
            run.samples.len(),
            w.from.as_secs_f64()
        )],
        run,
    })
}
