//! Balancing across real upstream processes, and endpoint discovery.
#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

mod common;

use std::collections::HashMap;
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

/// One request of [`open_loop_names`]: when it was sent, who answered.
struct Sent {
    at: std::time::Duration,
    upstream: String,
    status: u16,
}

/// Open-loop GETs at `rate` per second for `length` on one shared keep-alive
/// client, while `during` runs (it changes the upstreams as time passes).
async fn open_loop_names(
    sw: &Seawall,
    rate: u32,
    length: std::time::Duration,
    during: impl std::future::Future<Output = ()>,
) -> Vec<Sent> {
    use tokio::time::{Instant, MissedTickBehavior, interval};
    let client = common::h1_client();
    let url = sw.url("/");
    let start = Instant::now();
    let load = async {
        let mut tick = interval(std::time::Duration::from_secs(1) / rate);
        tick.set_missed_tick_behavior(MissedTickBehavior::Burst);
        let mut tasks = Vec::new();
        while start.elapsed() < length {
            tick.tick().await;
            let (client, url) = (client.clone(), url.clone());
            let at = start.elapsed();
            tasks.push(tokio::spawn(async move {
                let reply = common::send_with(&client, common::get(&url)).await.unwrap();
                let upstream = match reply.status.as_u16() {
                    200 => reply.json()["upstream"].as_str().unwrap().to_owned(),
                    _ => String::new(),
                };
                Sent {
                    at,
                    upstream,
                    status: reply.status.as_u16(),
                }
            }));
        }
        let mut sent = Vec::new();
        for t in tasks {
            sent.push(t.await.unwrap());
        }
        sent
    };
    let (sent, ()) = tokio::join!(load, during);
    sent
}

/// Shares of each upstream among the requests sent in `[from, to)` seconds.
fn shares(sent: &[Sent], from: f64, to: f64) -> HashMap<String, f64> {
    let window: Vec<_> = sent
        .iter()
        .filter(|s| (from..to).contains(&s.at.as_secs_f64()))
        .collect();
    let mut out = HashMap::new();
    for s in &window {
        *out.entry(s.upstream.clone()).or_default() += 1.0 / window.len() as f64;
    }
    out
}

#[tokio::test]
async fn a_slow_replica_is_avoided_and_gets_its_share_back_once_recovered() {
    let ups = [
        Upstream::spawn("a").await,
        Upstream::spawn("b").await,
        Upstream::spawn("c").await,
        Upstream::spawn("d").await,
    ];
    // The defaults: p2c_peak_ewma with decay 200ms.
    let sw = Seawall::start(&basic_config(
        &ups.iter().map(|u| u.addr).collect::<Vec<_>>(),
    ))
    .await;
    let slow = &ups[3];
    // 0-3 s: four equal replicas; 3-7 s: d answers in 300 ms; 7-12 s: d is back.
    let faults = async {
        tokio::time::sleep(std::time::Duration::from_secs(3)).await;
        slow.set_config(serde_json::json!({"delay": "300ms"})).await;
        tokio::time::sleep(std::time::Duration::from_secs(4)).await;
        slow.reset_config().await;
    };
    let sent = open_loop_names(&sw, 100, std::time::Duration::from_secs(12), faults).await;
    assert!(
        sent.iter().all(|s| s.status == 200),
        "every request answered 200"
    );
    // Generous bounds: a 2-core machine shared with other builds.
    let even = shares(&sent, 1.0, 3.0);
    for u in ["a", "b", "c", "d"] {
        let s = even.get(u).copied().unwrap_or(0.0);
        assert!((0.12..=0.38).contains(&s), "equal replicas: {even:?}");
    }
    let while_slow = sent
        .iter()
        .filter(|s| s.upstream == "d" && (3.1..7.0).contains(&s.at.as_secs_f64()))
        .count();
    // About 390 requests in that time; least_conn would let ~1 in 20 through.
    assert!(
        while_slow <= 40,
        "{while_slow} requests went to the slow replica"
    );
    // Back to a fair share from 2 s after it recovered.
    let after = shares(&sent, 9.0, 12.0);
    eprintln!(
        "equal: {even:?}; slow replica took {while_slow}; first 2 s after: {:?}; then: {after:?}",
        shares(&sent, 7.0, 9.0)
    );
    let d = after.get("d").copied().unwrap_or(0.0);
    assert!((0.12..=0.38).contains(&d), "after recovery: {after:?}");
}
