//! The `tower::Layer` that builds [`Retry`] services for one route.

use std::sync::Arc;

use tower::Layer;

use super::future::Context;
use super::{Retry, RetryBudget};
use crate::config::RetryPolicy;
use crate::middleware::classify::Classifier;

/// Builds [`Retry`] services with a route's policy and its cluster's budget.
#[derive(Clone, Debug)]
pub struct RetryLayer {
    cx: Arc<Context>,
}

impl RetryLayer {
    /// A layer retrying by `policy`, drawing on `budget`, judging outcomes
    /// with the cluster's `classifier`.
    pub fn new(policy: RetryPolicy, budget: Arc<RetryBudget>, classifier: Classifier) -> Self {
        Self::build(policy, budget, classifier, None)
    }

    /// The same, with backoff jitter drawn from a fixed seed (tests).
    pub fn with_seed(
        policy: RetryPolicy,
        budget: Arc<RetryBudget>,
        classifier: Classifier,
        seed: u64,
    ) -> Self {
        Self::build(policy, budget, classifier, Some(seed))
    }

    fn build(
        policy: RetryPolicy,
        budget: Arc<RetryBudget>,
        classifier: Classifier,
        seed: Option<u64>,
    ) -> Self {
        let cx = Context {
            policy,
            budget,
            classifier,
            seed,
        };
        Self { cx: Arc::new(cx) }
    }
}

impl<S> Layer<S> for RetryLayer {
    type Service = Retry<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Retry {
            inner,
            cx: self.cx.clone(),
        }
    }
}
