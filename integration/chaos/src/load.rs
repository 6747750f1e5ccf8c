//! The open-loop load driver: requests leave on a fixed schedule (constant
//! arrival rate) whether or not earlier ones have been answered, and each
//! latency is measured from its *scheduled* send time.
//!
//! A closed-loop driver (send, wait, send) slows down exactly when the system
//! does, and so hides the stall it should be measuring (coordinated
//! omission). Open loop is what real independent clients do to a sidecar.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use tokio::time::{Instant, sleep_until, timeout};

use crate::record::{Failure, Run, Sample, Window};

/// The HTTP client every request of a run shares (HTTP/1.1, pooled).
pub type HttpClient = Client<HttpConnector, Empty<Bytes>>;

/// A pooled client sized for thousands of concurrent requests; HTTP/2 over
/// cleartext (prior knowledge) for gRPC calls.
pub fn client_for(load: &Load) -> HttpClient {
    let mut connector = HttpConnector::new();
    connector.set_nodelay(true);
    connector.set_connect_timeout(Some(Duration::from_millis(500)));
    if load.grpc {
        Client::builder(TokioExecutor::new())
            .http2_only(true)
            .build(connector)
    } else {
        client()
    }
}

/// A pooled client sized for thousands of concurrent requests.
pub fn client() -> HttpClient {
    let mut connector = HttpConnector::new();
    connector.set_nodelay(true);
    // Well inside the client's patience (deadline + 1 s), so a connection
    // that can never be made (a container gone from the network) reports as
    // "not accepted", not as a request that timed out after being accepted.
    connector.set_connect_timeout(Some(Duration::from_millis(500)));
    Client::builder(TokioExecutor::new())
        .pool_max_idle_per_host(2048)
        .pool_idle_timeout(Duration::from_secs(20))
        .build(connector)
}

/// What to send: one or more phases of constant rate.
#[derive(Debug, Clone)]
pub struct Load {
    /// `(requests per second, how long)`, one after the other.
    pub phases: Vec<(u32, Duration)>,
    /// Full URL (path and query included).
    pub url: String,
    /// Budget sent as `x-seawall-timeout-ms`; the client gives up one
    /// second after it.
    pub deadline: Duration,
    /// Send gRPC calls (HTTP/2 POSTs with a gRPC content type) and judge
    /// them by their `grpc-status`.
    pub grpc: bool,
}

impl Load {
    /// One phase of `rate` for `length`, with a 1 s budget per request.
    pub fn steady(rate: u32, length: Duration, url: String) -> Self {
        Load {
            phases: vec![(rate, length)],
            url,
            deadline: Duration::from_secs(1),
            grpc: false,
        }
    }

    /// Total length of all phases.
    pub fn length(&self) -> Duration {
        self.phases.iter().map(|p| p.1).sum()
    }
}

/// Shared clock of a run: fault scripts mark their windows on it.
#[derive(Debug, Clone)]
pub struct Timeline {
    epoch: Instant,
    windows: Arc<Mutex<Vec<Window>>>,
}

impl Timeline {
    /// A timeline starting now.
    pub fn start() -> Self {
        Self {
            epoch: Instant::now(),
            windows: Arc::default(),
        }
    }

    /// Time since the start.
    pub fn now(&self) -> Duration {
        self.epoch.elapsed()
    }

    /// Sleeps until `at` after the start.
    pub async fn until(&self, at: Duration) {
        sleep_until(self.epoch + at).await;
    }

    /// Opens a fault window now; returns its index for [`Timeline::close`].
    pub fn open(&self, label: impl Into<String>) -> usize {
        let mut windows = self.windows.lock().unwrap_or_else(PoisonError::into_inner);
        let now = self.now();
        windows.push(Window {
            label: label.into(),
            from: now,
            to: Duration::MAX,
        });
        windows.len() - 1
    }

    /// Closes window `index` now.
    pub fn close(&self, index: usize) {
        let now = self.now();
        if let Some(w) = self
            .windows
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get_mut(index)
        {
            w.to = now;
        }
    }

    fn windows(&self, length: Duration) -> Vec<Window> {
        let mut windows = self
            .windows
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        for w in &mut windows {
            w.to = w.to.min(length);
        }
        windows
    }
}

/// Runs `load` from the timeline's start and waits for every answer.
pub async fn drive(client: &HttpClient, load: &Load, timeline: &Timeline) -> Run {
    let mut tasks = Vec::new();
    let mut phase_start = Duration::ZERO;
    for &(rate, length) in &load.phases {
        let period = Duration::from_secs_f64(1.0 / f64::from(rate.max(1)));
        let count = (length.as_secs_f64() * f64::from(rate)) as u64;
        for i in 0..count {
            let at = phase_start + period.mul_f64(i as f64);
            timeline.until(at).await;
            let (client, load) = (client.clone(), load.clone());
            let scheduled = timeline.epoch + at;
            tasks.push(tokio::spawn(async move {
                one(&client, &load, scheduled, at).await
            }));
        }
        phase_start += length;
    }
    let mut samples = Vec::with_capacity(tasks.len());
    for task in tasks {
        if let Ok(sample) = task.await {
            samples.push(sample);
        }
    }
    Run {
        samples,
        windows: timeline.windows(load.length()),
        length: load.length(),
    }
}

async fn one(client: &HttpClient, load: &Load, scheduled: Instant, at: Duration) -> Sample {
    let mut sample = Sample {
        at,
        latency: Duration::ZERO,
        status: None,
        failure: None,
        reason: None,
        replica: None,
        retry_after: false,
        grpc_status: None,
    };
    let mut req = http::Request::get(&load.url).header(
        "x-seawall-timeout-ms",
        load.deadline.as_millis().to_string(),
    );
    if load.grpc {
        req = req
            .method(http::Method::POST)
            .version(http::Version::HTTP_2)
            .header("content-type", "application/grpc")
            .header("te", "trailers");
    }
    let req = req.body(Empty::new());
    let Ok(req) = req else {
        sample.failure = Some(Failure::Refused);
        return sample;
    };
    let exchange = async {
        let response = client.request(req).await.map_err(|e| {
            if e.is_connect() {
                Failure::Refused
            } else {
                Failure::Broken
            }
        })?;
        let (parts, body) = response.into_parts();
        let collected = body.collect().await.map_err(|_| Failure::Broken)?;
        let trailers = collected.trailers().cloned().unwrap_or_default();
        Ok::<_, Failure>((parts, trailers))
    };
    match timeout(load.deadline + Duration::from_secs(1), exchange).await {
        Ok(Ok((parts, trailers))) => {
            if load.grpc {
                sample.grpc_status = [&parts.headers, &trailers]
                    .iter()
                    .find_map(|h| h.get("grpc-status"))
                    .map(|v| v.to_str().ok().and_then(|s| s.parse().ok()).unwrap_or(2))
                    // No status at all: gRPC calls that INTERNAL.
                    .or(Some(13));
            }
            let header = |name: &str| {
                parts
                    .headers
                    .get(name)
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_owned)
            };
            sample.status = Some(parts.status.as_u16());
            sample.reason = header("x-seawall-error");
            sample.replica = header("x-upstream-name");
            sample.retry_after = parts.headers.contains_key("retry-after");
        }
        Ok(Err(failure)) => sample.failure = Some(failure),
        Err(_) => sample.failure = Some(Failure::TimedOut),
    }
    sample.latency = scheduled.elapsed();
    sample
}
