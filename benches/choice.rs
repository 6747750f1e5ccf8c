//! Choosing an endpoint among 3, 1,000 and 10,000, with none or 1% of them
//! ejected (at least one): the pickable snapshot plus one P2C pick. It
//! should cost the same at every size. Run with
//! `cargo bench --bench choice`.
//!
//! `scan/…` is the choice as it was before the snapshot, rebuilt here from
//! public calls for comparison: every request visited every endpoint (one
//! health lock each) and, with any endpoint out, collected the rest into a
//! new `Vec`.

use std::hint::black_box;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use seawall::config::OutlierSettings;
use seawall::middleware::balance::{Endpoint, EndpointSet, pick};
use seawall::middleware::classify::{Classifier, Outcome};
use tokio::time::Instant;

const SEC: Duration = Duration::from_secs(1);
const SIZES: [usize; 3] = [3, 1_000, 10_000];

/// `n` endpoints, `out` of them ejected for an hour.
fn cluster(n: usize, out: usize) -> Arc<EndpointSet> {
    let set = EndpointSet::new();
    set.update((0..n).map(|i| {
        let [_, a, b, c] = u32::try_from(i).expect("small").to_be_bytes();
        SocketAddr::from(([10, a, b, c], 80))
    }));
    set.set_outlier(
        OutlierSettings {
            consecutive_failures: 1,
            base_ejection_time: 3600 * SEC,
            max_ejection_time: 3600 * SEC,
            max_ejection_percent: 0.5,
            cancelled_after: 3600 * SEC,
            failure_percentage: 0.0,
            failure_percentage_request_volume: 20,
            failure_percentage_window: 10 * SEC,
        },
        Classifier::new(&[503]),
    );
    let now = Instant::now();
    for endpoint in set.endpoints().iter().take(out) {
        set.report(endpoint, |_| Outcome::Failure, now);
    }
    set
}

/// The cases: every size with none out, and with 1% (at least one) out.
fn cases() -> impl Iterator<Item = (String, usize, usize)> {
    SIZES.into_iter().flat_map(|n| {
        let one_percent = (n / 100).max(1);
        [
            (format!("{n}"), n, 0),
            (format!("{n}_1pct_out"), n, one_percent),
        ]
    })
}

fn bench_choice(c: &mut Criterion) {
    let mut group = c.benchmark_group("choice");
    for (name, n, out) in cases() {
        let set = cluster(n, out);
        let mut rng = fastrand::Rng::with_seed(1);
        group.bench_function(BenchmarkId::from_parameter(name), |b| {
            b.iter(|| {
                let now = Instant::now();
                let available = set.available(now);
                pick(&available, now, None, &mut rng).map(|e| black_box(e.addr()))
            });
        });
    }
    group.finish();
}

/// The pickable endpoints as every request computed them before.
fn scan(all: &Arc<Vec<Arc<Endpoint>>>, now: Instant) -> Arc<Vec<Arc<Endpoint>>> {
    if all.iter().all(|e| e.available(now)) {
        return all.clone();
    }
    let picked: Vec<_> = all.iter().filter(|e| e.available(now)).cloned().collect();
    if picked.is_empty() {
        all.clone()
    } else {
        Arc::new(picked)
    }
}

fn bench_scan(c: &mut Criterion) {
    let mut group = c.benchmark_group("scan");
    for (name, n, out) in cases() {
        let set = cluster(n, out);
        let mut rng = fastrand::Rng::with_seed(1);
        group.bench_function(BenchmarkId::from_parameter(name), |b| {
            b.iter(|| {
                let now = Instant::now();
                let available = scan(&set.endpoints(), now);
                pick(&available, now, None, &mut rng).map(|e| black_box(e.addr()))
            });
        });
    }
    group.finish();
}

fn config() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
}

criterion_group! { name = benches; config = config(); targets = bench_choice, bench_scan }
criterion_main!(benches);
