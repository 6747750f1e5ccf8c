//! Balancing across real upstream processes, and endpoint discovery.
#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

mod common;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use common::{Seawall, Upstream, basic_config, eventually, fetch};
use futures_util::future::BoxFuture;
use seawall::discovery::Resolve;

async fn hits(sw: &Seawall, n: usize, concurrency: usize) -> Vec<String> {
    let url = sw.url("/");
    let mut out = Vec::new();
    for _ in 0..n / concurrency {
        let batch = (0..concurrency).map(|_| {
            let url = url.clone();
            async move { fetch(&url).await }
        });
        for rsp in futures_util::future::join_all(batch).await {
            assert_eq!(rsp.status, 200);
            out.push(rsp.json()["upstream"].as_str().unwrap().to_string());
        }
    }
    out
}

fn share(names: &[String], name: &str) -> f64 {
    names.iter().filter(|n| *n == name).count() as f64 / names.len() as f64
}

#[tokio::test]
async fn p2c_spreads_across_equal_endpoints() {
    let ups = [
        Upstream::spawn("a").await,
        Upstream::spawn("b").await,
        Upstream::spawn("c").await,
    ];
    // A short decay: on a noisy shared machine one slow answer would
    // otherwise keep an equal endpoint looking slow for seconds (PeakEWMA
    // doing its job on noise); the spread is what this test is about.
    let config = basic_config(&ups.iter().map(|u| u.addr).collect::<Vec<_>>())
        + "    balance: { policy: p2c_peak_ewma, decay: 100ms }\n";
    let sw = Seawall::start(&config).await;
    let names = hits(&sw, 300, 3).await;
    for u in ["a", "b", "c"] {
        let s = share(&names, u);
        assert!(s > 0.15, "{u} got only {:.0}% of 300", s * 100.0);
    }
}

#[tokio::test]
async fn p2c_avoids_a_slow_endpoint() {
    let ups = [
        Upstream::spawn("a").await,
        Upstream::spawn("b").await,
        Upstream::spawn("slow").await,
    ];
    ups[2]
        .set_config(serde_json::json!({"delay": "300ms"}))
        .await;
    let sw = Seawall::start(&basic_config(
        &ups.iter().map(|u| u.addr).collect::<Vec<_>>(),
    ))
    .await;
    let names = hits(&sw, 200, 4).await;
    let s = share(&names, "slow");
    assert!(
        s <= 0.10,
        "slow endpoint got {:.1}% of 200 requests",
        s * 100.0
    );
}

#[tokio::test]
async fn round_robin_cycles_through_endpoints() {
    let ups = [Upstream::spawn("a").await, Upstream::spawn("b").await];
    let cfg = basic_config(&ups.iter().map(|u| u.addr).collect::<Vec<_>>()).replace(
        "resolve_interval: 200ms",
        "resolve_interval: 200ms\n    balance: { policy: round_robin }",
    );
    let sw = Seawall::start(&cfg).await;
    let names = hits(&sw, 20, 1).await;
    assert!(
        names.windows(2).all(|w| w[0] != w[1]),
        "round robin alternates: {names:?}"
    );
}

/// DNS answers the test controls.
#[derive(Default)]
struct ScriptedDns(Mutex<Vec<SocketAddr>>);

impl ScriptedDns {
    fn answer(&self, addrs: &[SocketAddr]) {
        *self.0.lock().unwrap() = addrs.to_vec();
    }
}

impl Resolve for ScriptedDns {
    fn resolve(
        &self,
        _host: &str,
        port: u16,
    ) -> BoxFuture<'static, std::io::Result<Vec<SocketAddr>>> {
        // The scripted answers carry their own ports (each upstream has one);
        // the configured port is only checked to be passed through.
        assert_eq!(port, 8080);
        let addrs = self.0.lock().unwrap().clone();
        Box::pin(async move { Ok(addrs) })
    }
}

#[tokio::test]
async fn dns_reresolution_adds_and_removes_endpoints() {
    let (a, b) = (Upstream::spawn("a").await, Upstream::spawn("b").await);
    let dns = Arc::new(ScriptedDns::default());
    dns.answer(&[a.addr]);
    let cfg = basic_config(&[]).replace("endpoints: []", "endpoints: [\"app.service:8080\"]");
    let sw = Seawall::start_with_resolver(&cfg, dns.clone()).await;
    assert!(hits(&sw, 10, 1).await.iter().all(|n| n == "a"));

    // A replica appears: it gets traffic after the next resolution.
    dns.answer(&[a.addr, b.addr]);
    eventually("the answer with b is applied", || async {
        sw.endpoints("app").len() == 2
    })
    .await;
    let url = sw.url("/");
    eventually("the new endpoint gets traffic", || async {
        fetch(&url).await.json()["upstream"] == "b"
    })
    .await;

    // A replica goes away: no request reaches it once the answer changed.
    dns.answer(&[b.addr]);
    eventually("the answer without a is applied", || async {
        sw.endpoints("app") == [b.addr]
    })
    .await;
    let before = a.stats().await.requests;
    hits(&sw, 20, 2).await;
    assert_eq!(
        a.stats().await.requests,
        before,
        "removed endpoint got traffic"
    );
}

#[tokio::test]
async fn removing_an_endpoint_does_not_fail_its_in_flight_requests() {
    let (a, b) = (Upstream::spawn("a").await, Upstream::spawn("b").await);
    let dns = Arc::new(ScriptedDns::default());
    dns.answer(&[a.addr]);
    let cfg = basic_config(&[]).replace("endpoints: []", "endpoints: [\"app.service:8080\"]");
    let sw = Seawall::start_with_resolver(&cfg, dns.clone()).await;
    let url = sw.url("/?delay=1s");
    let slow = tokio::spawn(async move { fetch(&url).await });
    a.wait_for_stats("the slow request in flight", |s| s.in_flight == 1)
        .await;
    dns.answer(&[b.addr]);
    let url = sw.url("/");
    eventually("the new endpoint gets traffic", || async {
        fetch(&url).await.json()["upstream"] == "b"
    })
    .await;
    let rsp = slow.await.unwrap();
    assert_eq!(
        rsp.status, 200,
        "in-flight request on a removed endpoint completes"
    );
    assert_eq!(rsp.json()["upstream"], "a");
}

#[tokio::test]
async fn cluster_without_endpoints_answers_503_no_endpoint() {
    let dns = Arc::new(ScriptedDns::default());
    let cfg = basic_config(&[]).replace("endpoints: []", "endpoints: [\"app.service:8080\"]");
    let sw = Seawall::start_with_resolver(&cfg, dns).await;
    let rsp = fetch(&sw.url("/")).await;
    assert_eq!(rsp.status, 503);
    assert_eq!(rsp.header("x-seawall-error"), Some("no-endpoint"));
    // A dependency without endpoints is reported, but seawall itself is
    // ready: unready would take this pod out of its Service too.
    let ready = fetch(&format!("http://{}/ready", sw.admin)).await;
    assert_eq!(ready.status, 200, "{:?}", ready.body);
    assert_eq!(
        ready.json()["clusters_without_endpoints"],
        serde_json::json!(["app"])
    );
}
