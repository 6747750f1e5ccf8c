//! Failure isolation end to end: outlier ejection of a bad replica, a hung
//! replica, the breaker failing fast when everything fails, and recovery.
//! Three real upstream processes on loopback; every wait is bounded.
#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

mod common;

use std::time::Duration;

use common::{
    Reply, Seawall, Upstream, basic_config, eventually, fetch, get, h1_client, send_with,
};
use http::StatusCode;
use tokio::time::{Instant, timeout};

async fn three() -> [Upstream; 3] {
    [
        Upstream::spawn("a").await,
        Upstream::spawn("b").await,
        Upstream::spawn("c").await,
    ]
}

/// `basic_config` for the three upstreams, with `extra` cluster keys.
fn config(ups: &[Upstream; 3], extra: &str) -> String {
    let addrs: Vec<_> = ups.iter().map(|u| u.addr).collect();
    basic_config(&addrs).replace(
        "resolve_interval: 200ms",
        &format!("resolve_interval: 200ms\n{extra}"),
    )
}

async fn clusters(sw: &Seawall) -> serde_json::Value {
    fetch(&format!("http://{}/clusters", sw.admin)).await.json()["clusters"][0].clone()
}

#[tokio::test]
async fn a_503_replica_is_ejected_and_the_rest_serve() {
    let ups = three().await;
    ups[2]
        .set_config(serde_json::json!({"status": 503, "error_rate": 1.0}))
        .await;
    // Round robin, as in the hung-replica test below: P2C's unseeded picks
    // favour the replica answering fast 503s by chance, so how many requests
    // and retries the warm-up made (and what the retry budget and the
    // breaker's throttle saw of it) changed from run to run. Ejection, not
    // the picker, is what this test is about.
    let extra = "    balance: { policy: round_robin }\n    outlier: { consecutive_failures: 5 }";
    let sw = Seawall::start(&config(&ups, extra)).await;
    let client = h1_client();
    // Until it is ejected the bad replica answers every third request
    // with 503 (retried on another replica).
    let mut warmup = 0;
    while !sw.ejected(ups[2].addr).await {
        warmup += 1;
        assert!(
            warmup < 500,
            "bad replica not ejected after {warmup} requests"
        );
        send_with(&client, get(&sw.url("/"))).await.unwrap();
    }
    let failures_seen = ups[2].stats().await.requests;
    assert_eq!(failures_seen, 5, "ejected after {failures_seen} failures");
    let mut ok = 0;
    for _ in 0..1000 {
        let reply = send_with(&client, get(&sw.url("/"))).await.unwrap();
        ok += usize::from(reply.status == StatusCode::OK);
    }
    assert!(ok >= 999, "{ok} of 1000 succeeded after ejection");
    assert_eq!(ups[2].stats().await.requests, failures_seen);
    let doc = clusters(&sw).await;
    assert_eq!(doc["breaker"]["state"], "closed", "{doc}");
}

#[tokio::test]
async fn a_hung_replica_is_ejected_and_the_rest_serve() {
    let ups = three().await;
    // Round robin makes the hung replica's share, and so its ejection,
    // deterministic; P2C would merely avoid it after its first timeout.
    let extra = "    balance: { policy: round_robin }\n    \
                 outlier: { consecutive_failures: 2, cancelled_after: 200ms }";
    let sw = Seawall::start(&config(&ups, extra)).await;
    ups[1].pause();
    // No per-try timeout layer yet: the test gives up after 500 ms, which
    // cancels the attempt inside seawall (the balancer's in-flight guard).
    let mut gave_up = 0;
    let started = Instant::now();
    while !sw.ejected(ups[1].addr).await {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "hung replica not ejected"
        );
        if timeout(Duration::from_millis(500), fetch(&sw.url("/")))
            .await
            .is_err()
        {
            gave_up += 1;
        }
    }
    assert!(gave_up >= 2, "only {gave_up} requests hung");
    let client = h1_client();
    let mut ok = 0;
    for _ in 0..300 {
        let reply = timeout(
            Duration::from_secs(1),
            send_with(&client, get(&sw.url("/"))),
        )
        .await;
        ok += usize::from(matches!(
            reply,
            Ok(Ok(Reply {
                status: StatusCode::OK,
                ..
            }))
        ));
    }
    assert_eq!(ok, 300, "healthy replicas must keep serving");
    ups[1].resume();
}

#[tokio::test]
async fn all_failing_fails_fast_with_breaker_open() {
    let ups = three().await;
    for u in &ups {
        u.set_config(serde_json::json!({"status": 503, "error_rate": 1.0}))
            .await;
    }
    let extra = "    breaker: { consecutive_failures: 5, open_duration: 10s }";
    let sw = Seawall::start(&config(&ups, extra)).await;
    let client = h1_client();
    let mut tries = 0;
    let first_open = loop {
        tries += 1;
        assert!(tries <= 20, "breaker did not open");
        let reply = send_with(&client, get(&sw.url("/"))).await.unwrap();
        if reply.header("x-seawall-error") == Some("breaker-open") {
            break reply;
        }
        assert_eq!(reply.status, StatusCode::SERVICE_UNAVAILABLE);
    };
    assert_eq!(first_open.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(first_open.header("x-seawall-no-retry"), Some("1"));
    let retry_after: u64 = first_open.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=10).contains(&retry_after), "Retry-After {retry_after}");
    let upstream_before: u64 = stats_total(&ups).await;
    let mut latencies = Vec::new();
    for _ in 0..500 {
        let t = Instant::now();
        let reply = send_with(&client, get(&sw.url("/"))).await.unwrap();
        latencies.push(t.elapsed());
        assert_eq!(reply.header("x-seawall-error"), Some("breaker-open"));
    }
    latencies.sort();
    let p50 = latencies[latencies.len() / 2];
    let p99 = latencies[latencies.len() * 99 / 100];
    eprintln!("breaker-open latency: p50 {p50:?}, p99 {p99:?}");
    assert!(p99 < Duration::from_millis(20), "p99 {p99:?}");
    assert_eq!(
        stats_total(&ups).await,
        upstream_before,
        "open breaker sent traffic"
    );
}

async fn stats_total(ups: &[Upstream; 3]) -> u64 {
    let mut total = 0;
    for u in ups {
        total += u.stats().await.requests;
    }
    total
}

#[tokio::test]
async fn recovers_within_two_seconds_after_the_fault_heals() {
    let ups = three().await;
    for u in &ups {
        u.set_config(serde_json::json!({"status": 503, "error_rate": 1.0}))
            .await;
    }
    let extra = "    breaker: { consecutive_failures: 5, open_duration: 200ms, max_open_duration: 1s }\n    \
                 outlier: { base_ejection_time: 500ms }";
    let sw = Seawall::start(&config(&ups, extra)).await;
    let client = h1_client();
    eventually("breaker opens", || async {
        let reply = send_with(&client, get(&sw.url("/"))).await.unwrap();
        reply.header("x-seawall-error") == Some("breaker-open")
    })
    .await;
    for u in &ups {
        u.reset_config().await;
    }
    let healed = Instant::now();
    let mut in_a_row = 0;
    while in_a_row < 50 {
        assert!(
            healed.elapsed() < Duration::from_secs(2),
            "not recovered within 2 s"
        );
        let reply = send_with(&client, get(&sw.url("/"))).await.unwrap();
        in_a_row = if reply.status == StatusCode::OK {
            in_a_row + 1
        } else {
            0
        };
        if in_a_row == 0 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    eprintln!(
        "recovered to 50 successes in a row {:?} after healing",
        healed.elapsed()
    );
    let doc = clusters(&sw).await;
    assert_eq!(doc["breaker"]["state"], "closed", "{doc}");
    assert!(doc["breaker"]["closed"].as_u64().unwrap() >= 1, "{doc}");
}

#[tokio::test]
async fn admin_forces_the_breaker_open_and_back() {
    let ups = three().await;
    let sw = Seawall::start(&config(&ups, "")).await;
    let post = |mode: &str| {
        http::Request::post(format!(
            "http://{}/clusters/app/breaker?mode={mode}",
            sw.admin
        ))
        .body(common::empty())
        .unwrap()
    };
    let client = h1_client();
    let reply = send_with(&client, post("force_open")).await.unwrap();
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
    let reply = fetch(&sw.url("/")).await;
    assert_eq!(reply.header("x-seawall-error"), Some("breaker-open"));
    assert_eq!(clusters(&sw).await["breaker"]["mode"], "force_open");
    let reply = send_with(&client, post("auto")).await.unwrap();
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(fetch(&sw.url("/")).await.status, StatusCode::OK);
    let reply = send_with(&client, post("sideways")).await.unwrap();
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
}

/// Latencies of `n` sequential GETs on one pooled client; every one must
/// succeed within 2 s.
async fn latencies(sw: &Seawall, n: usize) -> Vec<Duration> {
    let client = h1_client();
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        let start = Instant::now();
        let reply = timeout(
            Duration::from_secs(2),
            send_with(&client, get(&sw.url("/"))),
        )
        .await
        .expect("a request hung")
        .expect("a request failed");
        assert_eq!(reply.status, StatusCode::OK);
        out.push(start.elapsed());
    }
    out.sort();
    out
}

fn p99(sorted: &[Duration]) -> Duration {
    sorted[(sorted.len() - 1) * 99 / 100]
}

#[tokio::test]
async fn with_attempt_timeouts_and_retries_a_hung_replica_costs_nobody_after_the_first_timeout() {
    let ups = three().await;
    // The production path: a per-try timeout cancels the attempt on the hung
    // replica, the retry goes to another one, and the cancelled attempts
    // eject the hung endpoint.
    let extra = "    timeouts: { request: 3s, attempt: 250ms }\n    \
                 outlier: { consecutive_failures: 2, cancelled_after: 200ms }";
    let sw = Seawall::start(&config(&ups, extra)).await;
    let baseline = latencies(&sw, 200).await;
    ups[1].pause();
    // P2C stops picking the replica after its first cancelled attempt (its
    // latency estimate jumps to the time waited); ejection follows if it is
    // tried again. Either way the rest of the traffic must not notice.
    let during = latencies(&sw, 100).await;
    let was_ejected = sw.ejected(ups[1].addr).await;
    let after = latencies(&sw, 300).await;
    ups[1].resume();
    let (b, a) = (p99(&baseline), p99(&after));
    eprintln!(
        "hung replica: p99 baseline {b:?}, first 100 {:?} (max {:?}), next 300 {a:?}; ejected: {was_ejected}",
        p99(&during),
        during.last().unwrap()
    );
    // Goal: p99 <= 1.5x baseline. Loopback baselines are ~1-3 ms, so a
    // scheduling hiccup on a shared 2-core box is a large ratio; 5 ms of
    // slack keeps the bound meaningful (a hung attempt costs 250 ms).
    assert!(
        a <= b * 3 / 2 + Duration::from_millis(5),
        "p99 after ejection {a:?} vs baseline {b:?}"
    );
    assert!(
        *during.last().unwrap() < Duration::from_secs(1),
        "every request answered within attempt timeout + retry"
    );
}

/// Active health checks against real processes: a paused replica is marked
/// unhealthy by probes, and once it answers again it is back in P2C's
/// rotation within a couple of health intervals, although the request that
/// was given up on there left it looking 300 ms slow, its ejection was for
/// a minute and its latency estimate decays over 30 s. Without the probe
/// forgetting that estimate, P2C over three endpoints would never pick it.
#[tokio::test]
async fn health_checks_mark_a_hung_replica_out_and_bring_it_back() {
    let ups = three().await;
    let extra = "    balance: { policy: p2c_peak_ewma, default_rtt: 1ms, decay: 30s }\n    \
                 timeouts: { attempt: 300ms }\n    \
                 outlier: { consecutive_failures: 1, cancelled_after: 100ms, base_ejection_time: 60s }\n    \
                 health_check: { path: /health, interval: 200ms, jitter: 0%, timeout: 100ms, \
                 healthy_threshold: 1, unhealthy_threshold: 2 }";
    // The other two answer in 20 ms, so P2C prefers the victim whenever it
    // is one of its two choices: it certainly gets a request once paused.
    for u in [&ups[0], &ups[2]] {
        u.set_config(serde_json::json!({"delay": "20ms"})).await;
    }
    let sw = Seawall::start(&config(&ups, extra)).await;
    let client = h1_client();
    let answered_by = |reply: &Reply| reply.header("x-upstream-name").map(str::to_owned);
    let mut names = std::collections::HashSet::new();
    for _ in 0..30 {
        let reply = send_with(&client, get(&sw.url("/"))).await.unwrap();
        names.extend(answered_by(&reply));
    }
    assert!(names.contains(&ups[1].name), "warm-up reached {names:?}");
    let entry = |doc: serde_json::Value| {
        doc["endpoints"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["address"] == ups[1].addr.to_string())
            .cloned()
            .unwrap()
    };
    ups[1].pause();
    // Requests until one was sent to the paused replica and given up on
    // (a cancelled attempt ejects it); the retry answers the client.
    let started = Instant::now();
    while entry(clusters(&sw).await)["ejected"] != true {
        assert!(started.elapsed() < Duration::from_secs(10), "never ejected");
        let reply = send_with(&client, get(&sw.url("/"))).await.unwrap();
        assert_eq!(reply.status, StatusCode::OK, "the retry answers");
    }
    eventually("probes mark the paused replica unhealthy", || async {
        entry(clusters(&sw).await)["healthy"] == false
    })
    .await;
    ups[1].resume();
    let resumed = Instant::now();
    let back = loop {
        let reply = send_with(&client, get(&sw.url("/"))).await.unwrap();
        if answered_by(&reply).as_deref() == Some(ups[1].name.as_str()) {
            break resumed.elapsed();
        }
        assert!(
            resumed.elapsed() < Duration::from_secs(5),
            "resumed replica got no traffic in 5 s: {}",
            entry(clusters(&sw).await)
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    };
    let doc = entry(clusters(&sw).await);
    assert_eq!(doc["healthy"], true, "{doc}");
    assert_eq!(doc["ejected"], false, "{doc}");
    // Two 200 ms health intervals and a probe, with room for a slow machine.
    assert!(back < Duration::from_millis(1500), "back after {back:?}");
}

/// An upstream of 5 slots × 20 ms offered far more than it serves, with a
/// per-try timeout its queue exceeds: most attempts time out while the
/// rest succeed. That is overload, not an outage: the breaker throttles
/// the excess and never cuts the upstream off.
#[tokio::test]
async fn an_overloaded_upstream_is_throttled_never_cut_off() {
    timeout(Duration::from_secs(60), async {
        let up = Upstream::spawn_with("busy", &["--capacity", "5"]).await;
        up.set_config(serde_json::json!({"delay": "20ms"})).await;
        let yaml = basic_config(&[up.addr]).replace(
            "resolve_interval: 200ms",
            "resolve_interval: 200ms
    retry: { enabled: false }
    outlier: { consecutive_failures: 0 }
    timeouts: { attempt: 60ms }",
        );
        let sw = Seawall::start(&yaml).await;
        let started = Instant::now();
        let length = Duration::from_secs(3);
        let mut tasks = tokio::task::JoinSet::new();
        for _ in 0..30 {
            let url = sw.url("/");
            tasks.spawn(async move {
                let client = h1_client();
                let mut seen = Vec::new();
                while started.elapsed() < length {
                    let reply = send_with(&client, get(&url)).await.unwrap();
                    let slice = started.elapsed().as_millis() / 500;
                    let reason = reply.header("x-seawall-error").map(str::to_owned);
                    seen.push((slice, reply.status, reason));
                }
                seen
            });
        }
        let mut all = Vec::new();
        while let Some(done) = tasks.join_next().await {
            all.extend(done.unwrap());
        }
        let count = |reason: &str| all.iter().filter(|(_, _, r)| r.as_deref() == Some(reason)).count();
        let ok = all.iter().filter(|(_, s, _)| *s == StatusCode::OK).count();
        eprintln!(
            "overloaded upstream: {} answers, {ok} ok, {} attempt-timeout, {} throttled, {} breaker-open",
            all.len(),
            count("attempt-timeout"),
            count("breaker-throttled"),
            count("breaker-open"),
        );
        assert_eq!(count("breaker-open"), 0, "the breaker cut off an upstream that serves");
        for slice in 0..6 {
            let served = all.iter().filter(|(s, st, _)| *s == slice && *st == StatusCode::OK).count();
            assert!(served > 0, "nothing served in half-second {slice}");
        }
        // 5 slots × 20 ms is 250 a second (750 in the run). Attempts that
        // time out still hold the upstream's slots, so overload without an
        // admission limit wastes part of it; what the breaker must not do
        // is add an outage on top (an open breaker here served ~0 for its
        // whole open time). Served: 250-380 on a quiet machine, 149 while
        // three builds ran; the old breaker served 20.
        assert!(ok >= 100, "only {ok} served in 3 s");
        let state = clusters(&sw).await["breaker"].clone();
        assert_eq!(state["state"], "closed", "{state}");
    })
    .await
    .unwrap();
}

/// The admin API's `ejections` and `readmissions` of the endpoint at `addr`.
async fn ejection_counts(sw: &Seawall, addr: std::net::SocketAddr) -> (u64, u64) {
    let doc = clusters(sw).await;
    let e = doc["endpoints"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["address"] == addr.to_string())
        .unwrap()
        .clone();
    (
        e["ejections"].as_u64().unwrap(),
        e["readmissions"].as_u64().unwrap(),
    )
}

#[tokio::test]
async fn a_half_failing_replica_whose_health_check_passes_is_ejected_once_and_stays_out() {
    let ups = three().await;
    let extra = "    retry: { enabled: false }\n    \
                 outlier: { base_ejection_time: 4s }\n    \
                 health_check: { interval: 100ms, jitter: 0%, healthy_threshold: 2 }";
    let sw = Seawall::start(&config(&ups, extra)).await;
    let client = h1_client();
    // It answers two requests well before it starts failing. Otherwise its
    // coin decided the test: were its first five answers all 503 (1 in 32
    // runs), its streak held no success, so it looked like a replica that
    // fails everything, whose ejection passing probes end early by design
    // (`outlier.rs`), and it served a 503 within the 2.5 s below (2 of 20
    // runs failed so).
    let mut served = 0;
    while served < 2 {
        let reply = send_with(&client, get(&sw.url("/"))).await.unwrap();
        served += usize::from(reply.headers["x-upstream-name"] == "c");
    }
    // Half its answers are 503 from now on; its /health keeps passing.
    ups[2]
        .set_config(serde_json::json!({"status": 503, "error_rate": 0.5}))
        .await;
    let started = Instant::now();
    while !sw.ejected(ups[2].addr).await {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "half-failing replica not ejected"
        );
        for _ in 0..10 {
            send_with(&client, get(&sw.url("/"))).await.unwrap();
        }
    }
    let ejected_at = Instant::now();
    // 2.5 s of traffic and ~25 passing probes: it stays out all the same.
    while ejected_at.elapsed() < Duration::from_millis(2500) {
        let reply = send_with(&client, get(&sw.url("/"))).await.unwrap();
        assert_eq!(reply.status, StatusCode::OK, "{:?}", reply.headers);
    }
    assert_eq!(ejection_counts(&sw, ups[2].addr).await, (1, 0));
    eventually("readmitted after its ejection time", || async {
        ejection_counts(&sw, ups[2].addr).await.1 == 1
    })
    .await;
    assert!(ejected_at.elapsed() >= Duration::from_millis(3500));
}
