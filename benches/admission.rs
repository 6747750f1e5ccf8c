//! Per-request overhead of the admission layer: the same always-ready
//! service called bare and behind `Admission` (uncontended: a free slot,
//! nobody queued, which is the fast path every request takes when the
//! upstream is healthy). Run with `cargo bench --bench admission`.

use std::convert::Infallible;
use std::future::{Ready, ready};
use std::task::{Context, Poll};

use criterion::{Criterion, criterion_group, criterion_main};
use seawall::config::AdmissionSettings;
use seawall::middleware::admission::{AdmissionLayer, AdmissionState};
use tower::{Layer, Service, ServiceExt};

/// An always-ready service that answers at once.
#[derive(Clone)]
struct Ready200;

impl Service<http::Request<()>> for Ready200 {
    type Response = http::Response<()>;
    type Error = Infallible;
    type Future = Ready<Result<Self::Response, Infallible>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, _: http::Request<()>) -> Self::Future {
        ready(Ok(http::Response::new(())))
    }
}

fn bench_admission(c: &mut Criterion) {
    // Built once, outside the timed loops.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let mut group = c.benchmark_group("admission");
    group.bench_function("bare", |b| {
        let mut svc = Ready200;
        b.iter(|| rt.block_on(async { svc.ready().await?.call(http::Request::new(())).await }))
    });
    group.bench_function("admitted", |b| {
        let state = AdmissionState::new("bench", AdmissionSettings::default());
        let mut svc = AdmissionLayer::new(state).layer(Ready200);
        b.iter(|| rt.block_on(async { svc.ready().await?.call(http::Request::new(())).await }))
    });
    group.finish();
}

/// Short runs: these are regression guards, not a lab study.
fn config() -> Criterion {
    Criterion::default()
        .warm_up_time(std::time::Duration::from_millis(500))
        .measurement_time(std::time::Duration::from_secs(2))
}

criterion_group! { name = benches; config = config(); targets = bench_admission }
criterion_main!(benches);
