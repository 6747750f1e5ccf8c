//! Choosing an endpoint allocates nothing, among 3 or 10,000 endpoints,
//! with none or 1% of them ejected: a counting global allocator watches the
//! balancer's part of the request path (the pickable set, the P2C and
//! round-robin picks, the in-flight guard and the outcome report).
//!
//! A binary of its own: the allocator counts every allocation of this
//! process, and only this thread's while a measurement runs.

// A global allocator is an `unsafe` trait: this file forwards every call to
// `System` unchanged and only counts (the crate denies `unsafe` elsewhere).
#![allow(unsafe_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::AtomicUsize;
use std::time::Duration;

use seawall::config::OutlierSettings;
use seawall::middleware::balance::{EndpointSet, InFlight, pick, pick_round_robin};
use seawall::middleware::classify::{Classifier, Outcome};
use tokio::time::Instant;

struct Counting;

thread_local! {
    /// Allocations made by this thread while `armed`.
    static COUNT: Cell<Option<usize>> = const { Cell::new(None) };
}

fn counted() {
    // `try_with`: the thread may be tearing down its locals.
    let _ = COUNT.try_with(|c| c.set(c.get().map(|n| n + 1)));
}

// SAFETY: every call is passed on to the system allocator unchanged; the
// counter is a const-initialised thread-local that never allocates.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        counted();
        // SAFETY: forwarded with the caller's layout.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from `System.alloc` with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        counted();
        // SAFETY: forwarded with the caller's layout.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        counted();
        // SAFETY: forwarded unchanged.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// Allocations `f` makes on this thread.
fn allocations(f: impl FnOnce()) -> usize {
    COUNT.with(|c| c.set(Some(0)));
    f();
    COUNT.with(|c| c.replace(None)).unwrap_or(0)
}

const SEC: Duration = Duration::from_secs(1);

/// A set of `n` endpoints with `out` of them ejected.
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

/// Allocations made by `picks` requests' endpoint choice and accounting.
fn allocations_per_choice(set: &Arc<EndpointSet>, picks: usize) -> usize {
    let mut rng = fastrand::Rng::with_seed(7);
    let turn = AtomicUsize::new(0);
    let now = Instant::now();
    // The first request after a change rebuilds the pickable set: that
    // allocates, once per change, and is not measured.
    drop(set.available(now));
    allocations(|| {
        for i in 0..picks {
            let available = set.available(now);
            let chosen = if i % 2 == 0 {
                pick(&available, now, Some(SEC), &mut rng)
            } else {
                pick_round_robin(&available, &turn)
            };
            let endpoint = chosen.expect("an endpoint").clone();
            drop(available);
            let guard = InFlight::reporting(endpoint, set.clone(), None, now);
            guard.complete_with(Duration::from_millis(1), true, now, |_| Outcome::Success);
        }
    })
}

#[test]
fn choosing_an_endpoint_allocates_nothing() {
    for (n, out) in [(3, 0), (1_000, 0), (1_000, 10), (10_000, 100)] {
        let set = cluster(n, out);
        let available = set.available(Instant::now());
        assert_eq!(available.len(), n - out, "{n} endpoints, {out} ejected");
        drop(available);
        let allocated = allocations_per_choice(&set, 10_000);
        assert_eq!(allocated, 0, "{n} endpoints, {out} out: allocations");
    }
}

#[test]
fn the_counter_sees_an_allocation() {
    // The check above cannot pass by counting nothing.
    let n = allocations(|| drop(std::hint::black_box(vec![1u8; 64])));
    assert_eq!(n, 1);
}
