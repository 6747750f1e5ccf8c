//! The `tower::Layer` that puts a cluster's [`Breaker`] in front of its stack.

use std::sync::Arc;

use tower::Layer;

use super::{Breaker, BreakerService};
use crate::middleware::classify::Classifier;

/// Builds [`BreakerService`]s sharing one cluster's [`Breaker`].
#[derive(Clone, Debug)]
pub struct BreakerLayer {
    breaker: Arc<Breaker>,
    classifier: Classifier,
}

impl BreakerLayer {
    /// A layer guarding with `breaker`, judging outcomes with `classifier`.
    pub fn new(breaker: Arc<Breaker>, classifier: Classifier) -> Self {
        Self {
            breaker,
            classifier,
        }
    }
}

impl<S> Layer<S> for BreakerLayer {
    type Service = BreakerService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        BreakerService {
            inner,
            breaker: self.breaker.clone(),
            classifier: self.classifier.clone(),
        }
    }
}
