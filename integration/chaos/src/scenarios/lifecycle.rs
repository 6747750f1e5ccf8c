//! Scenarios 9–11: a call chain whose leaf fails (retry amplification
//! across hops), the config rewritten under load (reload), and seawall
//! itself told to stop under load (drain). They prove seawall's own
//! behaviour does not add failures of its own.

use std::time::Duration;

use super::{Check, Measured, Opts, under_load};
use crate::Error;
use crate::env::Env;
use crate::load::Load;
use crate::record::Failure;

/// The retry budget's per-second minimum in `config/chaos/chain-*.yaml`.
const MIN_RETRIES_PER_SECOND: f64 = 1.0;
/// The budget's `ttl` there, in seconds.
const BUDGET_TTL_SECS: f64 = 10.0;

/// Requests a chain may add on top of 1.2× over a run of `secs`: the
/// budget's floor. Its reserve (`min_per_second × ttl`) refills as its
/// window slides, so a run of T seconds may draw `min_per_second × (T +
/// ttl)` beyond the ratio: the per-second minimum for the run, plus the
/// reserve already standing when it started.
fn chain_floor(secs: f64) -> f64 {
    MIN_RETRIES_PER_SECOND * (secs + BUDGET_TTL_SECS)
}

/// 9: client → seawall-a → mid-a → seawall-b → mid-b → seawall-c → leaf,
/// with the leaf answering 503 to 40% of requests: below the breaker's 50%
/// failure rate, so only the retry budgets and the no-retry marks stand
/// between the leaf and (1 + retries)³ amplification. (A leaf failing every
/// request trips seawall-c's breaker, which then shields it: measured 34
/// leaf requests for 2,532 client requests — it proves the breaker, not
/// the budgets.)
pub async fn chain(env: &mut Env, opts: Opts) -> Result<Measured, Error> {
    let length = opts.secs(10.0, 5.0);
    env.leaf_faults(r#"{"status": 503, "error_rate": 0.4}"#)
        .await?;
    let before = env.leaf_stats().await?["requests"].as_u64().unwrap_or(0);
    let run = under_load(
        Load::steady(opts.rate, length, env.url("/work")),
        |_| async { Ok(()) },
    )
    .await?;
    let after = env.leaf_stats().await?["requests"].as_u64().unwrap_or(0);
    // The warm-up sent 32 requests through the chain before the run.
    let client = run.samples.len() as f64 + 32.0;
    let leaf = after.saturating_sub(before) as f64;
    let answered = run.summary(Duration::ZERO, length);
    Ok(Measured {
        checks: vec![Check::at_most(
            "leaf requests",
            leaf,
            1.2 * client + chain_floor(length.as_secs_f64()),
            "",
        )],
        notes: vec![
            format!(
                "client requests {client:.0}, leaf requests {leaf:.0}: amplification {:.2}×",
                leaf / client
            ),
            format!("lost {} of {}", answered.lost, answered.sent),
        ],
        run,
    })
}

/// 10: the config file rewritten every second, alternately valid (a changed
/// timeout) and invalid (an unknown key), under load.
pub async fn reload(env: &mut Env, opts: Opts) -> Result<Measured, Error> {
    let path = env.config_path().ok_or("no config file to rewrite")?;
    let original = std::fs::read_to_string(&path)?;
    let length = opts.secs(30.0, 10.0);
    let script_path = path.clone();
    let rewrites = original.clone();
    let run = under_load(
        Load::steady(opts.rate, length, env.url("/work")),
        |t| async move {
            let w = t.open("config rewritten every second");
            let mut second = 1;
            while Duration::from_secs(second) < length {
                t.until(Duration::from_secs(second)).await;
                let text = match second % 3 {
                    0 => format!("this_key_does_not_exist: 1\n{rewrites}"),
                    1 => rewrites.replace("request: 2s", "request: 3s"),
                    _ => rewrites.clone(),
                };
                // Replace, as editors and ConfigMaps do: write aside, then rename.
                let aside = script_path.with_extension("yaml.tmp");
                std::fs::write(&aside, text)?;
                std::fs::rename(&aside, &script_path)?;
                second += 1;
            }
            t.close(w);
            Ok(())
        },
    )
    .await;
    std::fs::write(&path, original)?;
    let run = run?;
    let all = run.summary(Duration::ZERO, run.length);
    // The reloads must have happened: applied and rejected, as written.
    let counts = env.admin("/config").await?["reload"]["counts"].clone();
    let count = |key: &str| counts[key].as_u64().unwrap_or(0) as f64;
    // What was written (seconds 1, 2, … before the end; every third invalid).
    // At least half of each must be seen: the watcher may merge close edits.
    let writes = length.as_secs().saturating_sub(1) as f64;
    let invalid = (writes / 3.0).floor();
    Ok(Measured {
        checks: vec![
            Check::at_least("2xx", all.success() * 100.0, 100.0, "%"),
            Check::at_most("lost", all.lost as f64, 0.0, ""),
            Check::at_least(
                "reloads applied",
                count("applied"),
                ((writes - invalid) / 2.0).ceil(),
                "",
            ),
            Check::at_least(
                "invalid files rejected",
                count("rejected"),
                (invalid / 2.0).ceil(),
                "",
            ),
        ],
        notes: vec![format!("reload counts at the end: {counts}")],
        run,
    })
}

/// How late the load driver may send a request after its scheduled time
/// on a busy 2-core machine (see the sigterm "sent before" check).
const SEND_LAG: Duration = Duration::from_millis(10);

/// 11: SIGTERM to seawall while requests are in flight (each takes 50 ms).
pub async fn sigterm(env: &mut Env, opts: Opts) -> Result<Measured, Error> {
    let (at, length) = (opts.secs(3.0, 2.0), opts.secs(6.0, 4.0));
    let load = Load::steady(opts.rate, length, env.url("/work?delay=50ms"));
    let mut exit = None;
    let exit_slot = &mut exit;
    let run = under_load(load, |t| async move {
        t.until(at).await;
        let w = t.open("SIGTERM seawall");
        *exit_slot = Some(env.terminate_seawall().await?);
        t.close(w);
        Ok(())
    })
    .await?;
    let exit = exit.ok_or("seawall did not exit")?;
    let w = run.window("SIGTERM").ok_or("no window")?.clone();
    let lost = |f: Failure| run.samples.iter().filter(|s| s.failure == Some(f)).count();
    // Sent after seawall was gone: no process could have accepted it (a
    // pooled connection's write just meets the dead socket's RST).
    let gone = w.from + exit.took;
    let accepted_lost = run
        .samples
        .iter()
        .filter(|s| s.at < gone && matches!(s.failure, Some(Failure::Broken | Failure::TimedOut)))
        .count();
    // An open-loop request is sent a little after its scheduled time; one
    // scheduled in the last moments before the signal may connect after
    // the listener closed and be refused, never accepted.
    let before = run.summary(Duration::ZERO, w.from.saturating_sub(SEND_LAG));
    Ok(Measured {
        checks: vec![
            Check::at_most("accepted requests lost", accepted_lost as f64, 0.0, ""),
            Check::at_least(
                "2xx of requests sent ≥ 10 ms before SIGTERM",
                before.success() * 100.0,
                100.0,
                "%",
            ),
            Check::at_most(
                "SIGTERM → exit",
                exit.took.as_secs_f64() * 1000.0,
                5000.0,
                "ms",
            ),
            Check::at_most(
                "exit code",
                f64::from(exit.code.unwrap_or(-1).abs()),
                0.0,
                "",
            ),
        ],
        notes: vec![
            format!(
                "refused after the listener closed (never accepted): {}; exit code {:?} after {:.0} ms",
                lost(Failure::Refused),
                exit.code,
                exit.took.as_secs_f64() * 1000.0
            ),
            format!(
                "broken connections: {} (scheduled {}), timed out: {}",
                lost(Failure::Broken),
                offsets(&run, Failure::Broken, w.from),
                lost(Failure::TimedOut)
            ),
        ],
        run,
    })
}

/// Where the requests that failed with `failure` were scheduled, relative
/// to `origin` (e.g. "-3..+12 ms"): tells a drain race from a crash.
fn offsets(run: &crate::record::Run, failure: Failure, origin: Duration) -> String {
    let at: Vec<f64> = run
        .samples
        .iter()
        .filter(|s| s.failure == Some(failure))
        .map(|s| s.at.as_secs_f64() * 1000.0 - origin.as_secs_f64() * 1000.0)
        .collect();
    match (
        at.iter().copied().reduce(f64::min),
        at.iter().copied().reduce(f64::max),
    ) {
        (Some(lo), Some(hi)) => format!("{lo:+.0}..{hi:+.0} ms from SIGTERM"),
        _ => "none".to_owned(),
    }
}
