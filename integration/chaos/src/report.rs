//! Turning outcomes into what people read: one line per check on the
//! console (the CI log shows each number against its bound), and a Markdown
//! summary with a PNG timeline per scenario under `target/chaos/<env>/`.

use std::fmt::Write as _;
use std::path::Path;
use std::time::Duration;

use crate::Error;
use crate::plot;
use crate::scenarios::{Check, Outcome, Verdict};

/// `PASS`, `FAIL`, `PENDING (needs …)`.
pub fn label(verdict: &Verdict) -> String {
    match verdict {
        Verdict::Pass => "PASS".into(),
        Verdict::Fail => "FAIL".into(),
        Verdict::Pending(why) => format!("PENDING ({why})"),
    }
}

fn bound(check: &Check) -> String {
    let op = if check.at_most { "≤" } else { "≥" };
    format!(
        "{:.2}{u} {op} {:.2}{u}",
        check.value,
        check.bound,
        u = check.unit
    )
}

/// The console block for one outcome.
pub fn console(outcome: &Outcome) -> String {
    let mut out = format!(
        "[{}] {} {} ({}): {}\n",
        label(&outcome.verdict),
        outcome.spec.id,
        outcome.spec.name,
        outcome.env,
        outcome.spec.claim
    );
    for check in &outcome.checks {
        let mark = if check.pass() { "ok  " } else { "MISS" };
        let _ = writeln!(out, "    {mark} {:<52} {}", check.what, bound(check));
    }
    for note in &outcome.notes {
        let _ = writeln!(out, "         {note}");
    }
    out
}

/// Writes `dir/NN-name.png` for every outcome that ran, and `dir/summary.md`.
pub fn write(outcomes: &[Outcome], dir: &Path, env: &str, took: Duration) -> Result<(), Error> {
    std::fs::create_dir_all(dir)?;
    let mut md = format!(
        "# seawall chaos run ({env})\n\n{} scenarios in {:.0} s. Each check is a measured value against its bound; \
         shaded bands on the timelines are fault windows.\n\n| # | scenario | verdict | checks |\n|---|---|---|---|\n",
        outcomes.len(),
        took.as_secs_f64()
    );
    for o in outcomes {
        let passed = o.checks.iter().filter(|c| c.pass()).count();
        let _ = writeln!(
            md,
            "| {} | {} | {} | {passed}/{} within bound |",
            o.spec.id,
            o.spec.name,
            label(&o.verdict),
            o.checks.len()
        );
    }
    for o in outcomes {
        let _ = write!(
            md,
            "\n## {} {}: {}\n\n{}\n\n",
            o.spec.id,
            o.spec.name,
            label(&o.verdict),
            o.spec.claim
        );
        if !o.checks.is_empty() {
            md.push_str("| check | measured | bound | |\n|---|---:|---:|---|\n");
            for c in &o.checks {
                let op = if c.at_most { "≤" } else { "≥" };
                let mark = if c.pass() { "ok" } else { "**miss**" };
                let _ = writeln!(
                    md,
                    "| {} | {:.2}{u} | {op} {:.2}{u} | {mark} |",
                    c.what,
                    c.value,
                    c.bound,
                    u = c.unit
                );
            }
        }
        for note in &o.notes {
            let _ = writeln!(md, "\n- {note}");
        }
        if let Some(run) = &o.run {
            let file = format!("{:02}-{}.png", o.spec.id, o.spec.name);
            let title = format!(
                "{} {} ({env}): {}",
                o.spec.id,
                o.spec.name,
                label(&o.verdict)
            );
            plot::timeline(run, &title, &dir.join(&file))?;
            let whole = crate::record::Summary::of(&run.samples);
            let _ = write!(
                md,
                "\n{} requests: {:.2}% 2xx, {} shed, {} lost, p50 {:.2} ms, p99 {:.2} ms, max {:.0} ms.\n\n![{}]({file})\n",
                whole.sent,
                whole.success() * 100.0,
                whole.shed,
                whole.lost,
                whole.p50_ms,
                whole.p99_ms,
                whole.max_ms,
                o.spec.name
            );
        }
    }
    std::fs::write(dir.join("summary.md"), md)?;
    Ok(())
}
