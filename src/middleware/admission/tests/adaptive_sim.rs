//! A simulated upstream for the adaptive limit, in virtual time.
//!
//! The upstream has `slots` workers; a request takes a service time drawn
//! from [`Service`] and waits FIFO in the upstream's own queue while every
//! worker is busy, so its latency is service time plus queueing. Requests
//! arrive open-loop (Poisson, seeded) and are admitted only while fewer than
//! the controller's limit are in flight; the others are refused. Time is an
//! event loop over a heap of completions: instants are `t0` plus offsets,
//! nothing reads a clock, every run is deterministic.
//!
//! Service times have a ±10 % uniform jitter by default. With exactly equal
//! service times the workers phase-lock (every burst of admissions completes
//! as a burst, forever), which no real upstream does; the jitter breaks that
//! artefact without hiding the queueing the controller must see.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};
use std::time::Duration;

use tokio::time::Instant;

use super::super::adaptive::{AdaptiveLimit, AdaptiveSettings};

/// How long one request keeps a worker busy.
#[derive(Clone, Copy, Debug)]
pub(super) enum Service {
    /// `S × (1 ± jitter)`, uniform.
    Jitter(Duration, f64),
    /// `slow` for a `share` of requests, `fast` for the others.
    Mix {
        fast: Duration,
        slow: Duration,
        share: f64,
    },
}

impl Service {
    /// `S` with the default ±10 % jitter.
    pub(super) fn around(s: Duration) -> Self {
        Self::Jitter(s, 0.1)
    }

    fn draw(self, rng: &mut fastrand::Rng) -> Duration {
        match self {
            Self::Jitter(s, j) => s.mul_f64(1.0 + j * (2.0 * rng.f64() - 1.0)),
            Self::Mix { fast, slow, share } => {
                if rng.f64() < share {
                    slow
                } else {
                    fast
                }
            }
        }
    }

    /// The mean service time.
    pub(super) fn mean(self) -> Duration {
        match self {
            Self::Jitter(s, _) => s,
            Self::Mix { fast, slow, share } => fast.mul_f64(1.0 - share) + slow.mul_f64(share),
        }
    }
}

/// What happened since the last [`Sim::reset`].
#[derive(Debug, Default)]
pub(super) struct Period {
    pub refused: u64,
    pub completed: u64,
    /// Latency of every admitted request that completed, microseconds.
    pub latencies: Vec<u32>,
    /// The limit at every tick: (time since `t0`, limit).
    pub trace: Vec<(Duration, u32)>,
}

impl Period {
    /// The 99th percentile latency.
    pub(super) fn p99(&mut self) -> Duration {
        self.latencies.sort_unstable();
        let at = (self.latencies.len() * 99 / 100).min(self.latencies.len().saturating_sub(1));
        Duration::from_micros(self.latencies.get(at).copied().unwrap_or(0).into())
    }

    /// Mean, lowest and highest limit over the trace.
    pub(super) fn limits(&self) -> (f64, u32, u32) {
        let sum: u64 = self.trace.iter().map(|&(_, l)| u64::from(l)).sum();
        let mean = sum as f64 / self.trace.len().max(1) as f64;
        let min = self.trace.iter().map(|t| t.1).min().unwrap_or(0);
        let max = self.trace.iter().map(|t| t.1).max().unwrap_or(0);
        (mean, min, max)
    }
}

/// A completion: when, tie-break, admitted at, concurrency at admission,
/// replica.
type Done = Reverse<(Instant, u64, Instant, u32, usize)>;

/// The upstream, the arrivals and the controller under test.
pub(super) struct Sim {
    t0: Instant,
    now: Instant,
    rng: fastrand::Rng,
    pub(super) ctl: AdaptiveLimit,
    /// Workers of each replica; may be changed between runs (a capacity
    /// step).
    pub(super) slots: u32,
    /// Per replica: workers busy, requests waiting, requests sent to it.
    busy: Vec<u32>,
    queue: Vec<VecDeque<(Instant, u32)>>,
    load: Vec<u32>,
    /// Whether a freed worker takes a random waiter instead of the oldest
    /// (a pool whose waiters race for a freed slot); may be changed.
    pub(super) random_order: bool,
    done: BinaryHeap<Done>,
    seq: u64,
    in_flight: u32,
    /// Service-time distribution; may be changed between runs.
    pub(super) service: Service,
    /// Arrivals per second.
    pub(super) rate: f64,
    next_arrival: Instant,
    tick: Duration,
    next_tick: Instant,
    pub(super) period: Period,
}

impl Sim {
    /// An idle upstream of `slots` workers, offered `rate` requests/s.
    pub(super) fn new(
        settings: AdaptiveSettings,
        slots: u32,
        service: Service,
        rate: f64,
        seed: u64,
    ) -> Self {
        let t0 = Instant::now();
        let mut sim = Self {
            t0,
            now: t0,
            rng: fastrand::Rng::with_seed(seed),
            ctl: AdaptiveLimit::new(settings, t0),
            slots,
            busy: vec![0],
            queue: vec![VecDeque::new()],
            load: vec![0],
            random_order: false,
            done: BinaryHeap::new(),
            seq: 0,
            in_flight: 0,
            service,
            rate,
            next_arrival: t0,
            tick: (service.mean() / 4).max(Duration::from_micros(250)),
            next_tick: t0,
            period: Period::default(),
        };
        sim.next_arrival = t0 + sim.gap();
        sim
    }

    /// Splits the upstream into `n` replicas of `slots` workers each,
    /// each with its own queue; a request goes to the replica with the
    /// fewest requests (ties to the next in turn), as seawall's balancer
    /// sends it. The controller is told it spreads over `n` endpoints.
    pub(super) fn replicas(mut self, n: usize) -> Self {
        self.busy = vec![0; n];
        self.queue = vec![VecDeque::new(); n];
        self.load = vec![0; n];
        self.ctl.set_spread(n);
        self
    }

    /// Simulated time since the start.
    pub(super) fn elapsed(&self) -> Duration {
        self.now - self.t0
    }

    /// Starts a new [`Period`].
    pub(super) fn reset(&mut self) -> Period {
        std::mem::take(&mut self.period)
    }

    fn gap(&mut self) -> Duration {
        Duration::from_secs_f64(-(1.0 - self.rng.f64()).ln() / self.rate)
    }

    fn serve(&mut self, r: usize, admitted: Instant, in_flight: u32) {
        let at = self.now + self.service.draw(&mut self.rng);
        self.seq += 1;
        self.done
            .push(Reverse((at, self.seq, admitted, in_flight, r)));
    }

    /// Runs the simulation for `span` more of simulated time.
    pub(super) fn run(&mut self, span: Duration) {
        let end = self.now + span;
        loop {
            let next_done = self.done.peek().map(|Reverse(d)| d.0);
            let arrival = next_done.is_none_or(|d| self.next_arrival <= d);
            let t = next_done.filter(|_| !arrival).unwrap_or(self.next_arrival);
            if t > end {
                self.now = end;
                return;
            }
            while self.next_tick <= t {
                let at = self.next_tick - self.t0;
                self.period.trace.push((at, self.ctl.limit()));
                self.next_tick += self.tick;
            }
            self.now = t;
            if arrival {
                self.arrive();
            } else if let Some(Reverse((_, _, admitted, k, r))) = self.done.pop() {
                self.complete(r, admitted, k);
            }
        }
    }

    fn arrive(&mut self) {
        self.next_arrival = self.now + self.gap();
        if self.in_flight >= self.ctl.limit() {
            self.period.refused += 1;
            return;
        }
        self.in_flight += 1;
        let n = self.load.len();
        let first = usize::try_from(self.seq).unwrap_or(0) % n;
        let r = (0..n)
            .map(|i| (first + i) % n)
            .min_by_key(|&r| self.load[r])
            .unwrap_or(0);
        self.load[r] += 1;
        if self.busy[r] < self.slots {
            self.busy[r] += 1;
            self.serve(r, self.now, self.in_flight);
        } else {
            self.queue[r].push_back((self.now, self.in_flight));
        }
    }

    fn complete(&mut self, r: usize, admitted: Instant, in_flight: u32) {
        self.in_flight -= 1;
        self.load[r] -= 1;
        let rtt = self.now - admitted;
        self.period.completed += 1;
        let micros = u32::try_from(rtt.as_micros()).unwrap_or(u32::MAX);
        self.period.latencies.push(micros);
        self.ctl.on_sample(self.now, rtt, in_flight, false);
        if self.busy[r] > self.slots {
            // Capacity was cut: this worker is gone.
            self.busy[r] -= 1;
        } else if let Some((at, k)) = self.next_waiter(r) {
            self.serve(r, at, k);
        } else {
            self.busy[r] -= 1;
        }
    }

    fn next_waiter(&mut self, r: usize) -> Option<(Instant, u32)> {
        let queue = &mut self.queue[r];
        if self.random_order && !queue.is_empty() {
            let i = self.rng.usize(..queue.len());
            queue.swap_remove_back(i)
        } else {
            queue.pop_front()
        }
    }
}
