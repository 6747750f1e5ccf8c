//! Active health checks: a task per cluster that GETs a path on every
//! endpoint and marks the ones that fail it unhealthy (not picked).
//!
//! Passive outlier ejection only learns about an endpoint from the traffic
//! sent to it; an ejected or idle endpoint tells it nothing. Probing fills
//! that gap: `healthy_threshold` passes in a row that started after an
//! ejection readmit the endpoint early (unless `readmit_ejected` is off),
//! repeated failures keep a broken one out before a user request finds it.
//!
//! Choices: probes go through a client built from the cluster's settings
//! (same connect timeout, same protocol), so a probe fails the way a request
//! would. Any 2xx passes; anything else, an error or `timeout` fails. Rounds
//! probe all endpoints concurrently, then sleep `interval` lengthened by up
//! to `jitter` at random, so sidecars started together do not probe in step.
//! The task is owned by the `Cluster` and aborted when it is dropped.

use std::sync::Arc;
use std::time::Duration;

use tokio::task::JoinHandle;
use tokio::time::Instant;
use tower::{Service, ServiceExt};

use crate::config::{ClusterSettings, HealthCheckSettings};
use crate::middleware::balance::{Endpoint, EndpointSet};
use crate::upstream::client::UpstreamClient;
use crate::wire::body;

/// A running health-check task; dropping it stops the probes.
#[derive(Debug)]
pub struct HealthChecker {
    task: JoinHandle<()>,
}

impl HealthChecker {
    /// Starts probing `set`'s endpoints as `check` says, with a client
    /// built from `cluster`'s connection settings.
    pub fn start(
        cluster: &ClusterSettings,
        check: HealthCheckSettings,
        set: Arc<EndpointSet>,
    ) -> Self {
        let client = UpstreamClient::new(cluster);
        let mut rng = fastrand::Rng::new();
        let task = tokio::spawn(async move {
            loop {
                let endpoints = set.endpoints();
                let probes = endpoints
                    .iter()
                    .map(|e| probe(client.clone(), e.clone(), &check));
                futures_util::future::join_all(probes).await;
                tokio::time::sleep(jittered(check.interval, check.jitter, &mut rng)).await;
            }
        });
        Self { task }
    }
}

impl Drop for HealthChecker {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// `interval` lengthened by up to `jitter` of itself.
pub fn jittered(interval: Duration, jitter: f64, rng: &mut fastrand::Rng) -> Duration {
    interval.mul_f64(1.0 + jitter * rng.f64())
}

/// One probe of one endpoint, recorded on it.
async fn probe(mut client: UpstreamClient, endpoint: Arc<Endpoint>, check: &HealthCheckSettings) {
    let started = Instant::now();
    let uri = format!("http://{}{}", endpoint.addr(), check.path);
    let pass = match http::Request::get(uri).body(body::empty()) {
        Ok(request) => {
            let call = async { client.ready().await?.call(request).await };
            matches!(
                tokio::time::timeout(check.timeout, call).await,
                Ok(Ok(response)) if response.status().is_success()
            )
        }
        Err(_) => false,
    };
    let now = Instant::now();
    tracing::debug!(endpoint = %endpoint.addr(), pass, "health check");
    endpoint.update_health(|h| ((), h.check(check, pass, started, now)));
    if pass {
        endpoint.health_check_passed();
    }
}
