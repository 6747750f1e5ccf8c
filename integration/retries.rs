//! Retries end to end: a flaky replica is hidden from clients at a bounded
//! cost, a dead upstream gets at most the budget's extra load, and a chain
//! of seawalls does not multiply retries. Real upstream processes and
//! in-process seawalls on loopback, port 0; counts and time are bounded.
#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

mod common;

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use common::{Seawall, Upstream, basic_config, get, h1_client, send_with};
use http::{HeaderMap, StatusCode};
use tokio::time::{Instant, timeout};

/// Breaker pinned closed and ejection off, so these tests measure the
/// retry budget alone; a budget floor of 1/s (a reserve of 10 retries).
const ISOLATE: &str = "    breaker: { mode: force_closed }
    outlier: { consecutive_failures: 0, failure_percentage: 0 }
    retry:
      budget: { min_per_second: 1 }";
/// The reserve those settings give: 1/s × the 10 s TTL.
const FLOOR: f64 = 10.0;

fn config(endpoints: &[std::net::SocketAddr]) -> String {
    basic_config(endpoints).replace(
        "resolve_interval: 200ms",
        &format!("resolve_interval: 200ms\n{ISOLATE}"),
    )
}

struct Answer {
    status: StatusCode,
    headers: HeaderMap,
    took: Duration,
}

/// `n` GETs to `url` from `workers` concurrent keep-alive clients.
async fn drive(url: &str, n: usize, workers: usize) -> Vec<Answer> {
    let client = h1_client();
    let mut tasks = tokio::task::JoinSet::new();
    for w in 0..workers {
        let (client, url) = (client.clone(), url.to_owned());
        let count = n / workers + usize::from(w < n % workers);
        tasks.spawn(async move {
            let mut answers = Vec::with_capacity(count);
            for _ in 0..count {
                let started = Instant::now();
                let reply = send_with(&client, get(&url)).await.unwrap();
                answers.push(Answer {
                    status: reply.status,
                    headers: reply.headers,
                    took: started.elapsed(),
                });
            }
            answers
        });
    }
    let mut all = Vec::with_capacity(n);
    while let Some(done) = tasks.join_next().await {
        all.extend(done.unwrap());
    }
    all
}

/// Three replicas, the first answering 503 to `rate` of its requests.
async fn three_with_a_503_replica(rate: f64) -> ([Upstream; 3], Vec<std::net::SocketAddr>) {
    let ups = [
        Upstream::spawn("a").await,
        Upstream::spawn("b").await,
        Upstream::spawn("c").await,
    ];
    ups[0]
        .set_config(serde_json::json!({"status": 503, "error_rate": rate}))
        .await;
    let addrs = ups.iter().map(|u| u.addr).collect();
    (ups, addrs)
}

fn retries(sw: &Seawall) -> u64 {
    let snapshot = sw.running.shared.load();
    snapshot.clusters["app"]
        .retry_budget
        .counters()
        .retries
        .load(Ordering::Relaxed)
}

#[tokio::test]
async fn a_flaky_replica_is_hidden_at_bounded_cost() {
    timeout(Duration::from_secs(60), async {
        let (ups, addrs) = three_with_a_503_replica(0.3).await;
        let sw = Seawall::start(&config(&addrs)).await;
        let n = 2000;
        let answers = drive(&sw.url("/"), n, 8).await;
        let ok = answers
            .iter()
            .filter(|a| a.status == StatusCode::OK)
            .count();
        let mut sent = 0;
        for u in &ups {
            sent += u.stats().await.requests;
        }
        let amplification = sent as f64 / n as f64;
        eprintln!("flaky replica: {ok}/{n} ok, amplification {amplification:.3}");
        assert!(ok * 1000 >= n * 999, "only {ok} of {n} succeeded");
        assert!(amplification <= 1.3, "amplification {amplification:.3}");
        assert!(retries(&sw) > 0, "the flaky replica's 503s were retried");
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn a_dead_upstream_gets_only_the_budgets_extra_load_and_no_added_latency() {
    timeout(Duration::from_secs(60), async {
        let up = Upstream::spawn("dead").await;
        up.set_config(serde_json::json!({"status": 503, "error_rate": 1.0}))
            .await;
        let sw = Seawall::start(&config(&[up.addr])).await;
        let n = 1000;
        let mut answers = drive(&sw.url("/"), n, 8).await;
        let sent = up.stats().await.requests as f64;
        let bound = 1.2 * n as f64 + FLOOR;
        eprintln!(
            "dead upstream: {sent} attempts for {n} requests (bound {bound}), amplification {:.3}",
            sent / n as f64
        );
        assert!(sent <= bound, "{sent} attempts for {n} requests");
        assert!(
            answers
                .iter()
                .all(|a| a.status == StatusCode::SERVICE_UNAVAILABLE)
        );
        assert!(
            answers
                .iter()
                .all(|a| a.headers.get("x-seawall-no-retry").is_some()),
            "every given-up answer is marked for the hops above"
        );
        let exhausted = answers
            .iter()
            .filter(|a| {
                a.headers
                    .get("x-seawall-error")
                    .is_some_and(|v| v == "budget-exhausted")
            })
            .count();
        assert!(
            exhausted * 10 >= n * 7,
            "{exhausted} budget-exhausted of {n}"
        );
        // Once the budget is spent requests fail fast: no backoff for them.
        answers.sort_by_key(|a| a.took);
        let median = answers[n / 2].took;
        eprintln!("dead upstream: median latency {median:?}");
        assert!(median < Duration::from_millis(25), "median {median:?}");
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn a_chain_of_three_seawalls_does_not_multiply_retries() {
    timeout(Duration::from_secs(60), async {
        let leaf = Upstream::spawn("leaf").await;
        leaf.set_config(serde_json::json!({"status": 503, "error_rate": 1.0}))
            .await;
        let hop3 = Seawall::start(&config(&[leaf.addr])).await;
        let hop2 = Seawall::start(&config(&[hop3.addr])).await;
        let hop1 = Seawall::start(&config(&[hop2.addr])).await;
        let n = 500;
        let answers = drive(&hop1.url("/"), n, 8).await;
        let at_leaf = leaf.stats().await.requests as f64;
        let bound = 1.2 * n as f64 + FLOOR;
        eprintln!(
            "3-hop chain: leaf saw {at_leaf} for {n} client requests (bound {bound}); retries by hop 1/2/3: {}/{}/{}",
            retries(&hop1),
            retries(&hop2),
            retries(&hop3)
        );
        assert!(at_leaf <= bound, "leaf saw {at_leaf} for {n}");
        assert!(answers.iter().all(|a| a.status == StatusCode::SERVICE_UNAVAILABLE));
        // Only the hop next to the leaf retried; the marks stopped the rest.
        assert_eq!(retries(&hop1), 0);
        assert_eq!(retries(&hop2), 0);
        assert!(retries(&hop3) > 0);
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn a_reload_keeps_the_budget_unless_its_settings_change() {
    timeout(Duration::from_secs(30), async {
        let up = Upstream::spawn("a").await;
        let base = config(&[up.addr]);
        let sw = Seawall::start_from_file(&base).await;
        let path = sw.config_path.clone().unwrap();
        drive(&sw.url("/"), 20, 2).await;
        let budget = sw.running.shared.load().clusters["app"]
            .retry_budget
            .clone();
        assert_eq!(budget.counters().requests.load(Ordering::Relaxed), 20);

        // A policy change rebuilds the cluster but keeps its budget.
        let policy = base.replace("      budget:", "      max_attempts: 2\n      budget:");
        std::fs::write(&path, &policy).unwrap();
        let outcome = sw.running.reload.reload().await;
        assert!(
            matches!(outcome, seawall::reload::Outcome::Applied { .. }),
            "{outcome:?}"
        );
        let kept = sw.running.shared.load().clusters["app"]
            .retry_budget
            .clone();
        assert!(
            Arc::ptr_eq(&kept, &budget),
            "budget reset by a policy change"
        );

        // A budget change starts a fresh one.
        std::fs::write(
            &path,
            policy.replace("min_per_second: 1", "min_per_second: 2"),
        )
        .unwrap();
        let outcome = sw.running.reload.reload().await;
        assert!(
            matches!(outcome, seawall::reload::Outcome::Applied { .. }),
            "{outcome:?}"
        );
        let fresh = sw.running.shared.load().clusters["app"]
            .retry_budget
            .clone();
        assert!(!Arc::ptr_eq(&fresh, &budget));
        assert_eq!(fresh.settings().min_per_second, 2);
    })
    .await
    .unwrap();
}

/// Sends `method` with a `len`-byte body (and an `Idempotency-Key` if
/// `key`); returns the status, the no-retry mark, and the attempt number
/// and body size the upstream echoed.
async fn upload(
    client: &common::TestClient,
    url: &str,
    method: &str,
    len: usize,
    key: bool,
) -> (StatusCode, bool, Option<String>, Option<u64>) {
    let mut req = http::Request::builder().method(method).uri(url);
    if key {
        req = req.header("idempotency-key", "k-1");
    }
    let reply = send_with(client, req.body(common::full(vec![b'x'; len])).unwrap())
        .await
        .unwrap();
    let marked = reply.header("x-seawall-no-retry").is_some();
    if reply.status != StatusCode::OK {
        return (reply.status, marked, None, None);
    }
    let echo = reply.json();
    let attempt = echo["headers"]["x-seawall-attempt"][0]
        .as_str()
        .map(str::to_owned);
    (reply.status, marked, attempt, echo["body_bytes"].as_u64())
}

#[tokio::test]
async fn bodies_are_replayed_within_the_buffer_and_posts_only_when_safe() {
    timeout(Duration::from_secs(60), async {
        let bad = Upstream::spawn("bad").await;
        bad.set_config(serde_json::json!({"status": 503, "error_rate": 1.0}))
            .await;
        let good = Upstream::spawn("good").await;
        let yaml = basic_config(&[bad.addr, good.addr]).replace(
            "resolve_interval: 200ms",
            "resolve_interval: 200ms\n    balance: { policy: round_robin }\n    breaker: { mode: force_closed }\n    outlier: { consecutive_failures: 0, failure_percentage: 0 }",
        );
        let sw = Seawall::start(&yaml).await;
        let client = h1_client();
        let url = sw.url("/");
        // Round robin alternates the first attempts between the endpoints,
        // so each case below meets the bad one within a few requests.
        let (mut put_retried, mut key_retried, mut post_refused, mut big_refused) = (0, 0, 0, 0);
        for _ in 0..6 {
            // PUT is idempotent: a 503 is retried on the other endpoint
            // with the whole body.
            let (status, _, attempt, bytes) = upload(&client, &url, "PUT", 10 << 10, false).await;
            assert_eq!((status, bytes), (StatusCode::OK, Some(10 << 10)));
            put_retried += usize::from(attempt.as_deref() == Some("2"));
        }
        for _ in 0..6 {
            // POST reached the upstream: its 503 is final, and marked ...
            let (status, marked, _, _) = upload(&client, &url, "POST", 1 << 10, false).await;
            if status != StatusCode::OK {
                assert!(marked, "a POST's 503 is marked no-retry");
                post_refused += 1;
            }
        }
        for _ in 0..6 {
            // ... unless it carries an Idempotency-Key.
            let (status, _, attempt, bytes) = upload(&client, &url, "POST", 1 << 10, true).await;
            assert_eq!((status, bytes), (StatusCode::OK, Some(1 << 10)));
            key_retried += usize::from(attempt.as_deref() == Some("2"));
        }
        for _ in 0..6 {
            // Over the 64 KiB replay buffer: not retried once sent.
            let (status, marked, attempt, _) = upload(&client, &url, "PUT", 100 << 10, false).await;
            if status == StatusCode::OK {
                assert_eq!(attempt.as_deref(), Some("1"));
            } else {
                assert!(marked);
                big_refused += 1;
            }
        }
        eprintln!(
            "replay: {put_retried} PUTs and {key_retried} keyed POSTs retried; {post_refused} POSTs and {big_refused} large PUTs not"
        );
        assert!(put_retried > 0 && key_retried > 0, "nothing was replayed");
        assert!(post_refused > 0 && big_refused > 0, "the bad endpoint was never met");
    })
    .await
    .unwrap();
}

/// A retry that can go to a replica the request has not tried goes at once:
/// the backoff (2 s here, so it could not hide) is only for retrying an
/// endpoint that already failed.
#[tokio::test]
async fn a_retry_to_another_replica_costs_no_backoff() {
    timeout(Duration::from_secs(60), async {
        let (_ups, addrs) = three_with_a_503_replica(0.5).await;
        let yaml = basic_config(&addrs).replace(
            "resolve_interval: 200ms",
            "resolve_interval: 200ms
    breaker: { mode: force_closed }
    outlier: { consecutive_failures: 0, failure_percentage: 0 }
    retry:
      backoff: { base: 2s, max: 2s }
      budget: { min_per_second: 100 }",
        );
        let sw = Seawall::start(&yaml).await;
        let answers = drive(&sw.url("/"), 400, 4).await;
        let ok = answers
            .iter()
            .filter(|a| a.status == StatusCode::OK)
            .count();
        let slowest = answers.iter().map(|a| a.took).max().unwrap();
        eprintln!(
            "503-half replica: {ok}/400 ok, {} retries, slowest {slowest:?}",
            retries(&sw)
        );
        assert_eq!(ok, 400, "every request succeeds");
        assert!(retries(&sw) > 10, "the 503s were retried");
        assert!(
            slowest < Duration::from_millis(400),
            "a retry waited: slowest answer {slowest:?}"
        );
    })
    .await
    .unwrap();
}
