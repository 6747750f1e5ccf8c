//! What a run recorded: one [`Sample`] per request (when it was scheduled,
//! how long it took from that moment, what came back) and the fault windows.
//! Every number in a report is computed from these samples, so the Markdown,
//! the PNG and the pass/fail checks cannot disagree.

use std::time::Duration;

use hdrhistogram::Histogram;

/// Why a request got no HTTP response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// The connection was refused, unreachable or timed out connecting:
    /// the request was never accepted.
    Refused,
    /// Accepted, then the connection broke before the whole response.
    Broken,
    /// No response within the client's patience (deadline + margin).
    TimedOut,
}

/// One request as the client saw it.
#[derive(Debug, Clone)]
pub struct Sample {
    /// Scheduled send time, from the start of the run.
    pub at: Duration,
    /// From the scheduled send time to the end of the response (open loop:
    /// a late send counts against the system, not the driver).
    pub latency: Duration,
    /// The status, when an HTTP response arrived in full.
    pub status: Option<u16>,
    /// Why there was no response.
    pub failure: Option<Failure>,
    /// `x-seawall-error`, when seawall made the response up.
    pub reason: Option<String>,
    /// `x-upstream-name`: which replica answered.
    pub replica: Option<String>,
    /// Whether a `Retry-After` header came with it.
    pub retry_after: bool,
    /// A gRPC call's `grpc-status` (trailers-only, or in the trailers).
    pub grpc_status: Option<u32>,
}

impl Sample {
    /// A 2xx answer (for a gRPC call, with `grpc-status: 0`).
    pub fn ok(&self) -> bool {
        self.status.is_some_and(|s| (200..300).contains(&s))
            && self.grpc_status.is_none_or(|c| c == 0)
    }

    /// A 503 that seawall's admission control made (load shedding).
    pub fn shed(&self) -> bool {
        self.status == Some(503)
            && self
                .reason
                .as_deref()
                .is_some_and(|r| r.starts_with("shed"))
    }

    /// A 503 from an open circuit breaker.
    pub fn breaker_open(&self) -> bool {
        // The breaker acts first by throttling (refusing the share the
        // upstream no longer accepts), then opens when nothing succeeds:
        // both are the breaker refusing.
        matches!(
            self.reason.as_deref(),
            Some("breaker-open" | "breaker-throttled")
        )
    }

    /// No HTTP response at all.
    pub fn lost(&self) -> bool {
        self.failure.is_some()
    }
}

/// A labelled stretch of the run during which a fault was applied.
#[derive(Debug, Clone)]
pub struct Window {
    /// What was done, e.g. `kill upstream-2`.
    pub label: String,
    /// Start, from the start of the run.
    pub from: Duration,
    /// End (the run's end if the fault was never undone).
    pub to: Duration,
}

/// Aggregates of one slice of samples.
#[derive(Debug, Clone, Copy, Default)]
pub struct Summary {
    /// Requests.
    pub sent: usize,
    /// 2xx.
    pub ok: usize,
    /// Shed by admission control.
    pub shed: usize,
    /// Answered by an open breaker.
    pub breaker: usize,
    /// No HTTP response.
    pub lost: usize,
    /// Median latency of 2xx answers, milliseconds.
    pub p50_ms: f64,
    /// 99th percentile latency of 2xx answers, milliseconds.
    pub p99_ms: f64,
    /// Slowest answer of any kind, milliseconds.
    pub max_ms: f64,
}

impl Summary {
    /// Summarises `samples`.
    pub fn of<'a>(samples: impl IntoIterator<Item = &'a Sample>) -> Summary {
        // 1 µs .. 10 min at 3 significant digits: every latency a run can see.
        // Invariant: constant, valid bounds (low ≥ 1, high ≥ 2·low, sigfig ≤ 5).
        let mut hist = Histogram::<u64>::new_with_bounds(1, 600_000_000, 3)
            .expect("constant histogram bounds are valid");
        let mut s = Summary::default();
        for sample in samples {
            s.sent += 1;
            s.ok += usize::from(sample.ok());
            s.shed += usize::from(sample.shed());
            s.breaker += usize::from(sample.breaker_open());
            s.lost += usize::from(sample.lost());
            let us = sample.latency.as_micros().clamp(1, 600_000_000) as u64;
            s.max_ms = s.max_ms.max(us as f64 / 1000.0);
            if sample.ok() {
                let _ = hist.record(us);
            }
        }
        if !hist.is_empty() {
            s.p50_ms = hist.value_at_quantile(0.5) as f64 / 1000.0;
            s.p99_ms = hist.value_at_quantile(0.99) as f64 / 1000.0;
        }
        s
    }

    /// 2xx share, 1.0 for an empty slice (nothing failed).
    pub fn success(&self) -> f64 {
        if self.sent == 0 {
            1.0
        } else {
            self.ok as f64 / self.sent as f64
        }
    }

    /// Share of requests shed.
    pub fn shed_rate(&self) -> f64 {
        self.shed as f64 / self.sent.max(1) as f64
    }
}

/// Everything one scenario's load phase recorded.
#[derive(Debug, Clone, Default)]
pub struct Run {
    /// Every request, in scheduled order.
    pub samples: Vec<Sample>,
    /// Fault windows, for shading and for slicing.
    pub windows: Vec<Window>,
    /// How long the load ran.
    pub length: Duration,
}

impl Run {
    /// Samples scheduled in `[from, to)`.
    pub fn between(&self, from: Duration, to: Duration) -> impl Iterator<Item = &Sample> {
        self.samples
            .iter()
            .filter(move |s| s.at >= from && s.at < to)
    }

    /// Summary of `[from, to)`.
    /// The first answers that were not 2xx from `from` on, with their
    /// times, so a miss names what the client got and when.
    pub fn not_ok(&self, from: Duration) -> String {
        let bad: Vec<_> = self
            .between(from, self.length)
            .filter(|s| !s.ok())
            .map(|s| {
                let what = s
                    .status
                    .map_or(format!("{:?}", s.failure), |c| c.to_string());
                let why = s.reason.as_deref().unwrap_or("");
                format!("{:.2} s {what} {why}", s.at.as_secs_f64())
                    .trim_end()
                    .to_owned()
            })
            .collect();
        match bad.len() {
            0 => format!("every answer 2xx from {:.1} s", from.as_secs_f64()),
            n => format!(
                "{n} not 2xx from {:.1} s; first: {}",
                from.as_secs_f64(),
                bad.iter().take(6).cloned().collect::<Vec<_>>().join(", ")
            ),
        }
    }

    pub fn summary(&self, from: Duration, to: Duration) -> Summary {
        Summary::of(self.between(from, to))
    }

    /// Summary of one second per element, from the start.
    pub fn per_second(&self) -> Vec<Summary> {
        let secs = self.length.as_secs_f64().ceil() as u64;
        (0..secs)
            .map(|i| self.summary(Duration::from_secs(i), Duration::from_secs(i + 1)))
            .collect()
    }

    /// The window whose label starts with `label`.
    pub fn window(&self, label: &str) -> Option<&Window> {
        self.windows.iter().find(|w| w.label.starts_with(label))
    }

    /// Share of `[from, to)` answered by `replica`, among answered requests.
    pub fn share(&self, replica: &str, from: Duration, to: Duration) -> f64 {
        let answered: Vec<_> = self
            .between(from, to)
            .filter(|s| s.replica.is_some())
            .collect();
        let mine = answered
            .iter()
            .filter(|s| s.replica.as_deref() == Some(replica))
            .count();
        mine as f64 / answered.len().max(1) as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(at_ms: u64, latency_ms: u64, status: Option<u16>) -> Sample {
        Sample {
            at: Duration::from_millis(at_ms),
            latency: Duration::from_millis(latency_ms),
            status,
            failure: status.is_none().then_some(Failure::Broken),
            reason: (status == Some(503)).then(|| "shed-queue-full".to_owned()),
            replica: status.map(|_| if at_ms.is_multiple_of(2) { "a" } else { "b" }.to_owned()),
            retry_after: false,
            grpc_status: None,
        }
    }

    #[test]
    fn summary_counts_outcomes_and_takes_quantiles_of_successes_only() {
        let mut samples: Vec<_> = (0..100).map(|i| sample(i, i + 1, Some(200))).collect();
        samples.push(sample(100, 5000, Some(503)));
        samples.push(sample(101, 9000, None));
        let s = Summary::of(&samples);
        assert_eq!((s.sent, s.ok, s.shed, s.lost), (102, 100, 1, 1));
        assert!((s.p50_ms - 50.0).abs() < 1.0, "{}", s.p50_ms);
        assert!((s.p99_ms - 99.0).abs() < 1.0, "{}", s.p99_ms);
        assert!((s.max_ms - 9000.0).abs() < 10.0);
    }

    #[test]
    fn per_second_buckets_by_schedule_and_share_counts_replicas() {
        let run = Run {
            samples: (0..20).map(|i| sample(i * 100, 1, Some(200))).collect(),
            windows: vec![],
            length: Duration::from_secs(2),
        };
        let secs = run.per_second();
        assert_eq!(secs.len(), 2);
        assert_eq!((secs[0].sent, secs[1].sent), (10, 10));
        let share = run.share("a", Duration::ZERO, Duration::from_secs(2));
        assert!((share - 1.0).abs() < 1e-9, "every at is even: {share}");
    }
}
