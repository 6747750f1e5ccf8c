//! The `tower::Layer` that puts a compartment in front of a service.

use std::sync::Arc;

use tower::Layer;

use super::{Admission, AdmissionState};

/// Builds [`Admission`] services that share one [`AdmissionState`].
#[derive(Clone, Debug)]
pub struct AdmissionLayer {
    state: Arc<AdmissionState>,
}

impl AdmissionLayer {
    /// A layer admitting through `state`; every service it builds (one per
    /// route stack, cloned per request) shares its slots and queue.
    pub fn new(state: Arc<AdmissionState>) -> Self {
        Self { state }
    }
}

impl<S> Layer<S> for AdmissionLayer {
    type Service = Admission<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Admission::new(inner, self.state.clone())
    }
}
