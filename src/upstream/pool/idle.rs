//! The idle side of the pool: HTTP/1 connections waiting per endpoint
//! (newest first, at most `max_idle` per endpoint and `max_idle_total` in
//! all, none past `idle_timeout`), the shared
//! HTTP/2 connection per endpoint, and the reaper that closes what expired.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Weak};
use std::time::Duration;

use http::uri::Authority;
use hyper::client::conn::{http1, http2};
use tokio::time::Instant;

use super::{Host, Hosts, Idle, Inner, Shared};
use crate::upstream::facts::ConnectionReady;
use crate::wire::body::Body;

impl<C: Send + Sync + 'static> Inner<C> {
    /// Keeps an idle HTTP/1 connection (up to `max_idle` per endpoint and
    /// `max_idle_total` in all; past either it closes), and at the first one
    /// starts the reaper.
    pub(super) fn put(
        self: &Arc<Self>,
        authority: Authority,
        tx: http1::SendRequest<Body>,
        ready: ConnectionReady,
    ) {
        let idle = Idle {
            tx,
            ready,
            since: Instant::now(),
        };
        {
            let mut hosts = self.hosts();
            if hosts.idle >= self.limits.max_idle_total {
                return;
            }
            match hosts.by_authority.get_mut(authority.as_str()) {
                Some(host) if host.idle.len() >= self.limits.max_idle => return,
                Some(host) => host.idle.push(idle),
                None if self.limits.max_idle == 0 => return,
                None => {
                    let host = Host {
                        idle: vec![idle],
                        shared: None,
                    };
                    hosts.by_authority.insert(authority.as_str().into(), host);
                }
            }
            hosts.idle += 1;
        }
        if !self.reaping.load(Ordering::Relaxed) && !self.reaping.swap(true, Ordering::Relaxed) {
            self.reap();
        }
    }

    /// The task that closes connections idle for longer than the idle
    /// timeout (within a quarter of it); it ends with the pool.
    pub(super) fn reap(self: &Arc<Self>) {
        let period = (self.limits.idle_timeout / 4).max(Duration::from_millis(100));
        let pool: Weak<Self> = Arc::downgrade(self);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(period);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                let Some(inner) = pool.upgrade() else { return };
                inner.expire(Instant::now());
            }
        });
    }
}

impl<C> Inner<C> {
    pub(super) fn hosts(&self) -> std::sync::MutexGuard<'_, Hosts> {
        // A panic while holding the lock leaves plain data behind: use it.
        self.hosts.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The newest idle connection to `authority` that is still usable.
    pub(super) fn checkout(&self, authority: &Authority) -> Option<Idle> {
        let mut guard = self.hosts();
        let hosts = &mut *guard;
        let host = hosts.by_authority.get_mut(authority.as_str())?;
        while let Some(idle) = host.idle.pop() {
            hosts.idle -= 1;
            if idle.tx.is_ready() && idle.since.elapsed() < self.limits.idle_timeout {
                return Some(idle);
            }
        }
        None
    }

    pub(super) fn shared(&self, authority: &Authority) -> Option<Shared> {
        let hosts = self.hosts();
        let shared = hosts
            .by_authority
            .get(authority.as_str())?
            .shared
            .as_ref()?;
        (!shared.tx.is_closed()).then(|| shared.clone())
    }

    pub(super) fn share(
        &self,
        authority: &Authority,
        tx: http2::SendRequest<Body>,
        ready: ConnectionReady,
    ) {
        let mut hosts = self.hosts();
        let host = hosts
            .by_authority
            .entry(authority.as_str().into())
            .or_default();
        if host.shared.as_ref().is_none_or(|s| s.tx.is_closed()) {
            host.shared = Some(Shared { tx, ready });
        }
    }

    /// Forgets idle connections past the idle timeout and closed ones.
    pub(super) fn expire(&self, now: Instant) {
        let limit = self.limits.idle_timeout;
        let mut guard = self.hosts();
        let hosts = &mut *guard;
        let mut idle = 0;
        for host in hosts.by_authority.values_mut() {
            host.idle
                .retain(|i| i.tx.is_ready() && now.saturating_duration_since(i.since) < limit);
            idle += host.idle.len();
            if host.shared.as_ref().is_some_and(|s| s.tx.is_closed()) {
                host.shared = None;
            }
        }
        hosts.idle = idle;
        // An endpoint without connections keeps no entry (nor its memory).
        hosts
            .by_authority
            .retain(|_, h| !h.idle.is_empty() || h.shared.is_some());
        if hosts.by_authority.is_empty() {
            hosts.by_authority.shrink_to_fit();
        }
    }
}
