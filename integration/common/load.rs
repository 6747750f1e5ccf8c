//! Open-loop load for the overload tests: requests sent on schedule
//! whether or not earlier ones have answered, each kept as a sample.
#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

use std::time::Duration;

use tokio::time::{Instant, MissedTickBehavior};

use super::{TestClient, get, send_with};

/// One answered request.
pub struct Sample {
    /// Its status.
    pub status: u16,
    /// Sent to answered.
    pub latency: Duration,
    /// `Retry-After`, in seconds.
    pub retry_after: Option<u64>,
    /// `x-seawall-error`.
    pub reason: Option<String>,
    /// When it was answered.
    pub done: Instant,
}

/// Sends one GET.
pub async fn one(client: &TestClient, url: &str) -> Sample {
    one_with(client, url, None).await
}

/// Sends one GET with an optional extra header.
pub async fn one_with(
    client: &TestClient,
    url: &str,
    header: Option<(&'static str, &'static str)>,
) -> Sample {
    let start = Instant::now();
    let mut req = get(url);
    if let Some((name, value)) = header {
        req.headers_mut()
            .insert(name, http::HeaderValue::from_static(value));
    }
    let reply = send_with(client, req).await.unwrap();
    Sample {
        status: reply.status.as_u16(),
        latency: start.elapsed(),
        retry_after: reply.header("retry-after").and_then(|v| v.parse().ok()),
        reason: reply.header("x-seawall-error").map(str::to_owned),
        done: Instant::now(),
    }
}

/// The `q` quantile of `latencies`.
pub fn quantile(mut latencies: Vec<Duration>, q: f64) -> Duration {
    latencies.sort();
    let i = ((latencies.len() as f64 - 1.0) * q).round() as usize;
    latencies[i]
}

/// Sends at `rate` per second for `length`, open loop: a request is sent on
/// schedule whether or not earlier ones have answered.
pub async fn open_loop(client: &TestClient, url: &str, rate: u64, length: Duration) -> Vec<Sample> {
    open_loop_with(client, url, rate, length, |_| None).await
}

/// [`open_loop`], the `i`th request carrying `header(i)`.
pub async fn open_loop_with(
    client: &TestClient,
    url: &str,
    rate: u64,
    length: Duration,
    header: impl Fn(u64) -> Option<(&'static str, &'static str)>,
) -> Vec<Sample> {
    let mut tick = tokio::time::interval(Duration::from_secs(1) / rate as u32);
    tick.set_missed_tick_behavior(MissedTickBehavior::Burst);
    let end = Instant::now() + length;
    let mut tasks = Vec::new();
    let mut i = 0;
    while Instant::now() < end {
        tick.tick().await;
        let (client, url, extra) = (client.clone(), url.to_owned(), header(i));
        i += 1;
        tasks.push(tokio::spawn(
            async move { one_with(&client, &url, extra).await },
        ));
    }
    let mut samples = Vec::new();
    for t in tasks {
        samples.push(t.await.unwrap());
    }
    samples
}
