//! Discovery driven by a scripted resolver and tokio's paused clock.

use std::collections::HashMap;
use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::FutureExt;
use futures_util::future::BoxFuture;

use super::*;

const INTERVAL: Duration = Duration::from_secs(5);

/// Answers from a table that tests rewrite between rounds; records lookups.
#[derive(Default)]
struct Scripted {
    answers: Mutex<HashMap<String, Result<Vec<SocketAddr>, String>>>,
    lookups: Mutex<Vec<String>>,
}

impl Scripted {
    fn answer(&self, host: &str, answer: Result<Vec<SocketAddr>, &str>) {
        let answer = answer.map_err(str::to_owned);
        self.answers.lock().unwrap().insert(host.to_owned(), answer);
    }

    fn lookups(&self) -> Vec<String> {
        self.lookups.lock().unwrap().clone()
    }
}

impl Resolve for Scripted {
    fn resolve(&self, host: &str, port: u16) -> BoxFuture<'static, io::Result<Vec<SocketAddr>>> {
        self.lookups.lock().unwrap().push(host.to_owned());
        let answer = match self.answers.lock().unwrap().get(host) {
            Some(Ok(addrs)) => Ok(addrs
                .iter()
                .map(|a| SocketAddr::new(a.ip(), port))
                .collect()),
            Some(Err(e)) => Err(io::Error::other(e.clone())),
            None => Err(io::Error::new(io::ErrorKind::NotFound, "no such host")),
        };
        futures_util::future::ready(answer).boxed()
    }
}

fn ip(last: u8) -> SocketAddr {
    SocketAddr::from(([172, 18, 0, last], 0))
}

fn at(last: u8, port: u16) -> SocketAddr {
    SocketAddr::from(([172, 18, 0, last], port))
}

fn spec(host: &str, port: u16) -> EndpointSpec {
    EndpointSpec {
        host: host.to_owned(),
        port,
    }
}

fn addrs(set: &EndpointSet) -> Vec<SocketAddr> {
    set.endpoints().iter().map(|e| e.addr()).collect()
}

async fn start(
    specs: Vec<EndpointSpec>,
    resolver: &Arc<Scripted>,
) -> (Discovery, Arc<EndpointSet>) {
    let set = EndpointSet::new();
    let resolver: Arc<dyn Resolve> = resolver.clone();
    let discovery = Discovery::start(specs, INTERVAL, resolver, set.clone()).await;
    (discovery, set)
}

async fn next_round() {
    tokio::time::sleep(INTERVAL + Duration::from_millis(1)).await;
}

#[tokio::test(start_paused = true)]
async fn initial_fill_before_start_returns() {
    let resolver = Arc::new(Scripted::default());
    resolver.answer("api", Ok(vec![ip(3), ip(2), ip(4)]));
    let (_discovery, set) = start(vec![spec("api", 8080)], &resolver).await;
    // Three replicas, three endpoints, in a stable (sorted) order.
    assert_eq!(addrs(&set), vec![at(2, 8080), at(3, 8080), at(4, 8080)]);
}

#[tokio::test(start_paused = true)]
async fn added_address_appears_after_one_interval() {
    let resolver = Arc::new(Scripted::default());
    resolver.answer("api", Ok(vec![ip(2)]));
    let (_discovery, set) = start(vec![spec("api", 80)], &resolver).await;
    let kept = set.endpoints()[0].clone();
    resolver.answer("api", Ok(vec![ip(2), ip(3)]));
    tokio::time::sleep(INTERVAL - Duration::from_millis(1)).await;
    assert_eq!(set.len(), 1, "not before the interval");
    tokio::time::sleep(Duration::from_millis(2)).await;
    assert_eq!(addrs(&set), vec![at(2, 80), at(3, 80)]);
    assert!(Arc::ptr_eq(&kept, &set.endpoints()[0]));
}

#[tokio::test(start_paused = true)]
async fn removed_address_disappears() {
    let resolver = Arc::new(Scripted::default());
    resolver.answer("api", Ok(vec![ip(2), ip(3)]));
    let (_discovery, set) = start(vec![spec("api", 80)], &resolver).await;
    resolver.answer("api", Ok(vec![ip(3)]));
    next_round().await;
    assert_eq!(addrs(&set), vec![at(3, 80)]);
}

#[tokio::test(start_paused = true)]
async fn failing_lookup_keeps_previous_addresses() {
    let resolver = Arc::new(Scripted::default());
    resolver.answer("api", Ok(vec![ip(2)]));
    resolver.answer("db", Ok(vec![ip(9)]));
    let (_discovery, set) = start(vec![spec("api", 80), spec("db", 5432)], &resolver).await;
    resolver.answer("api", Err("SERVFAIL"));
    resolver.answer("db", Ok(vec![]));
    next_round().await;
    next_round().await;
    assert_eq!(addrs(&set), vec![at(2, 80), at(9, 5432)]);
    // Once it answers again, the new answer wins.
    resolver.answer("api", Ok(vec![ip(5)]));
    next_round().await;
    assert_eq!(addrs(&set), vec![at(5, 80), at(9, 5432)]);
}

#[tokio::test(start_paused = true)]
async fn initial_failure_is_not_fatal() {
    let resolver = Arc::new(Scripted::default());
    let (_discovery, set) = start(vec![spec("late", 80)], &resolver).await;
    assert!(set.is_empty());
    resolver.answer("late", Ok(vec![ip(7)]));
    next_round().await;
    assert_eq!(addrs(&set), vec![at(7, 80)]);
}

#[tokio::test(start_paused = true)]
async fn ip_literals_are_not_looked_up() {
    let resolver = Arc::new(Scripted::default());
    let specs = vec![spec("10.1.2.3", 80), spec("[::1]", 81), spec("::2", 82)];
    let (_discovery, set) = start(specs, &resolver).await;
    next_round().await;
    assert!(resolver.lookups().is_empty(), "{:?}", resolver.lookups());
    let expected: Vec<SocketAddr> = ["10.1.2.3:80", "[::1]:81", "[::2]:82"]
        .iter()
        .map(|s| s.parse().unwrap())
        .collect();
    assert_eq!(addrs(&set), expected);
}

#[tokio::test(start_paused = true)]
async fn duplicates_are_removed() {
    let resolver = Arc::new(Scripted::default());
    resolver.answer("a", Ok(vec![ip(2), ip(2), ip(3)]));
    resolver.answer("b", Ok(vec![ip(3)]));
    let specs = vec![spec("a", 80), spec("b", 80), spec("172.18.0.2", 80)];
    let (_discovery, set) = start(specs, &resolver).await;
    assert_eq!(addrs(&set), vec![at(2, 80), at(3, 80)]);
}

#[tokio::test(start_paused = true)]
async fn dropping_discovery_stops_updates() {
    let resolver = Arc::new(Scripted::default());
    resolver.answer("api", Ok(vec![ip(2)]));
    let (discovery, set) = start(vec![spec("api", 80)], &resolver).await;
    drop(discovery);
    resolver.answer("api", Ok(vec![ip(3)]));
    next_round().await;
    assert_eq!(addrs(&set), vec![at(2, 80)]);
}

#[tokio::test]
async fn system_resolver_resolves_localhost_and_literals() {
    let local = SystemResolver.resolve("localhost", 8080).await.unwrap();
    assert!(!local.is_empty());
    assert!(
        local
            .iter()
            .all(|a| a.ip().is_loopback() && a.port() == 8080),
        "{local:?}"
    );
    let literal = SystemResolver.resolve("192.0.2.7", 9).await.unwrap();
    assert_eq!(literal, vec!["192.0.2.7:9".parse::<SocketAddr>().unwrap()]);
    let v6 = SystemResolver.resolve("[2001:db8::1]", 9).await.unwrap();
    assert_eq!(v6, vec!["[2001:db8::1]:9".parse::<SocketAddr>().unwrap()]);
}
