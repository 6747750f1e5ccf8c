//! The `tower::Layer` that wraps a cluster's client in a [`Balance`].

use std::sync::Arc;

use tower::Layer;

use super::{Balance, EndpointSet};
use crate::config::BalanceSettings;

/// Builds [`Balance`] services over one cluster's [`EndpointSet`].
#[derive(Clone, Debug)]
pub struct BalanceLayer {
    endpoints: Arc<EndpointSet>,
    settings: BalanceSettings,
}

impl BalanceLayer {
    /// A layer balancing over `endpoints` with the policy in `settings`.
    pub fn new(endpoints: Arc<EndpointSet>, settings: &BalanceSettings) -> Self {
        Self {
            endpoints,
            settings: settings.clone(),
        }
    }
}

impl<S> Layer<S> for BalanceLayer {
    type Service = Balance<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Balance::new(inner, self.endpoints.clone(), &self.settings)
    }
}
