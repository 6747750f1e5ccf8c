//! Endpoint discovery: hostnames resolved at start and re-resolved
//! periodically into a cluster's [`EndpointSet`].
//!
//! A docker-compose service scaled to three replicas is one name with three
//! addresses; a Kubernetes headless service likewise. Resolving again every
//! `interval` follows scale-ups and replaced containers without a reload.
//!
//! Choices:
//! - The first resolution is awaited by [`Discovery::start`], so the set is
//!   filled before the listener serves; a failure there is logged, not
//!   fatal (the name may appear a moment later, and requests get a clean
//!   `no-endpoint` 503 meanwhile).
//! - A lookup that fails (or answers nothing) keeps that host's previous
//!   addresses: a DNS blip must not empty a healthy cluster. Dead addresses
//!   are the business of outlier ejection, not of DNS.
//! - IP literals are never looked up.
//! - Each host's answer is sorted and the union deduplicated, so a DNS server
//!   rotating its answers does not register as a change; changes are logged
//!   once, at INFO, with what was added and removed.

pub mod health;
mod resolve;
#[cfg(test)]
mod tests;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use futures_util::FutureExt;
use tokio::task::JoinHandle;
use tokio::time::{Instant, MissedTickBehavior};

pub use resolve::{Resolve, SystemResolver};

use crate::config::EndpointSpec;
use crate::middleware::balance::EndpointSet;

/// The shortest re-resolution period (a zero interval would spin).
const MIN_INTERVAL: Duration = Duration::from_millis(1);

/// A running discovery task for one cluster; dropping it stops the task.
#[derive(Debug)]
pub struct Discovery {
    task: JoinHandle<()>,
}

impl Discovery {
    /// Resolves `specs` once into `set`, then keeps re-resolving them every
    /// `interval` in a spawned task until the returned handle is dropped.
    pub async fn start(
        specs: Vec<EndpointSpec>,
        interval: Duration,
        resolver: Arc<dyn Resolve>,
        set: Arc<EndpointSet>,
    ) -> Discovery {
        let mut state = Resolver::new(specs, resolver, set);
        state.refresh().await;
        let period = interval.max(MIN_INTERVAL);
        let mut ticker = tokio::time::interval_at(Instant::now() + period, period);
        // After a slow lookup, wait a full period again rather than burst.
        ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let task = tokio::spawn(async move {
            loop {
                ticker.tick().await;
                state.refresh().await;
            }
        });
        Discovery { task }
    }

    /// Stops re-resolving now, before the handle is dropped: for a reload
    /// that hands this task's endpoint set to a new discovery, while
    /// requests still in flight keep the old cluster (and so this handle)
    /// alive.
    pub fn stop(&self) {
        self.task.abort();
    }
}

impl Drop for Discovery {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// What the task remembers between rounds: each spec's last good answer and
/// whether its lookups are currently failing (to log transitions once).
struct Resolver {
    specs: Vec<EndpointSpec>,
    resolver: Arc<dyn Resolve>,
    set: Arc<EndpointSet>,
    last: Vec<Vec<SocketAddr>>,
    failing: Vec<bool>,
}

impl Resolver {
    fn new(specs: Vec<EndpointSpec>, resolver: Arc<dyn Resolve>, set: Arc<EndpointSet>) -> Self {
        let n = specs.len();
        Self {
            specs,
            resolver,
            set,
            last: vec![Vec::new(); n],
            failing: vec![false; n],
        }
    }

    /// One round: resolve every spec concurrently, then update the set.
    async fn refresh(&mut self) {
        let lookups = self.specs.iter().map(|spec| {
            let host = spec.host.as_str();
            match resolve::ip_literal(host) {
                Some(ip) => {
                    futures_util::future::ready(Ok(vec![SocketAddr::new(ip, spec.port)])).boxed()
                }
                None => self.resolver.resolve(host, spec.port).boxed(),
            }
        });
        let answers = futures_util::future::join_all(lookups).await;
        for (i, answer) in answers.into_iter().enumerate() {
            self.record(i, answer);
        }
        let mut union: Vec<SocketAddr> = Vec::new();
        for addr in self.last.iter().flatten() {
            if !union.contains(addr) {
                union.push(*addr);
            }
        }
        let change = self.set.update(union);
        if !change.is_empty() {
            tracing::info!(
                added = ?change.added,
                removed = ?change.removed,
                endpoints = self.set.len(),
                "endpoint set changed"
            );
        }
    }

    fn record(&mut self, i: usize, answer: std::io::Result<Vec<SocketAddr>>) {
        let spec = &self.specs[i];
        let (host, port) = (spec.host.as_str(), spec.port);
        let error = match answer {
            Ok(mut addrs) if !addrs.is_empty() => {
                addrs.sort_unstable();
                addrs.dedup();
                if std::mem::replace(&mut self.failing[i], false) {
                    tracing::info!(host, port, "resolving again");
                }
                self.last[i] = addrs;
                return;
            }
            Ok(_) => "no addresses".to_owned(),
            Err(error) => error.to_string(),
        };
        let kept = self.last[i].len();
        if std::mem::replace(&mut self.failing[i], true) {
            tracing::debug!(host, port, %error, kept, "resolution still failing");
        } else {
            tracing::warn!(host, port, %error, kept, "resolution failed; keeping previous addresses");
        }
    }
}
