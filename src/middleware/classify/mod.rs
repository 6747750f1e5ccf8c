//! The one failure classifier: does this outcome count against the upstream?
//!
//! The breaker, outlier ejection and (later) retries must agree on what a
//! failure is, or one of them trips on what another calls success. The rule:
//!
//! - **A response** counts as a failure when its status is in the cluster's
//!   `failure_statuses` (default 502, 503, 504: the gateway-ish statuses that
//!   say "this instance cannot serve", while a 500 is usually one request's
//!   bug and a 501 is a permanent answer). A response carrying
//!   `x-seawall-no-retry` is ignored: a seawall further down the chain shed
//!   it, which is backpressure, not a broken upstream.
//! - **An error** is ignored when it is local: anything in its `source()`
//!   chain is a [`Local`] wrapper or a [`LocalRefusal`] (the source every
//!   refusal of seawall's own declares, such as the balancer's "no endpoint"
//!   and the breaker's "open"), or the downstream client's own body broke.
//!   Every other error that comes out of the inner stack (connect refused
//!   or timed out, reset, protocol error, per-try timeout, and any error
//!   nobody declared local) counts. Defaulting unknown errors to "upstream"
//!   keeps a new failure mode visible; a new *local* refusal declares itself
//!   (a [`LocalRefusal`] source, or wrapped in [`Local`]), so this module
//!   never needs to know the layers that use it.
//!
//! Local rejections never count: a sidecar that ejects healthy hosts because
//! of its own overflow is a known failure of other proxies.
//!
//! **A gRPC call** answers HTTP 200 whatever happened; its outcome is the
//! `grpc-status` (`grpc.rs`): in the headers of a trailers-only response,
//! judged at once like an HTTP status, or in the trailers after a streamed
//! body, judged when the body ends (`trailers.rs`: the breaker and ejection
//! hold their verdict until then; retries cannot act on it, the response
//! has gone downstream). The cluster's `failure_grpc_codes` are failures;
//! `RESOURCE_EXHAUSTED` is [`Outcome::Overloaded`]: the breaker counts it as
//! overload (its throttle, not its failure streak) and ejection ignores it,
//! since a replica that says it is busy is not broken.

mod grpc;
mod trailers;

pub use trailers::{End, Watched, on_end};

use std::error::Error as StdError;
use std::fmt;

use http::StatusCode;

use crate::wire::BoxError;
pub use crate::wire::grpc::Codes;
use crate::wire::headers::find;
use crate::wire::reason::NO_RETRY_HEADER;

/// What an attempt's outcome means for the upstream's health.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The upstream answered acceptably.
    Success,
    /// The upstream failed (counts toward breaking and ejection).
    Failure,
    /// Says nothing about the upstream (a local refusal, the client's fault).
    Ignored,
    /// The upstream said it is overloaded (gRPC `RESOURCE_EXHAUSTED`): the
    /// breaker's throttle counts it, ejection does not.
    Overloaded,
}

/// Where a response's gRPC status is, if it is a gRPC response.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Grpc {
    /// Not a gRPC response (or not HTTP 200).
    No,
    /// A trailers-only answer with this `grpc-status`.
    TrailersOnly(u32),
    /// The status comes in the trailers, when the body ends.
    Streamed,
}

/// A response as [`Classifier::read`] sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Reading {
    /// Its outcome now (success so far for [`Grpc::Streamed`]).
    pub outcome: Outcome,
    /// Where its gRPC status is.
    pub grpc: Grpc,
}

/// Classifies outcomes with one cluster's failure statuses.
#[derive(Clone, Debug)]
pub struct Classifier {
    statuses: std::sync::Arc<[u16]>,
    grpc: Codes,
}

impl Classifier {
    /// A classifier counting `statuses` as failures, and gRPC's default
    /// failure codes.
    pub fn new(statuses: &[u16]) -> Self {
        Self {
            statuses: statuses.into(),
            grpc: crate::config::defaults::FAILURE_GRPC_CODES,
        }
    }

    /// The same, counting the gRPC status `codes` as failures.
    pub fn with_grpc(self, codes: Codes) -> Self {
        Self {
            grpc: codes,
            ..self
        }
    }

    /// The outcome of a response (for a gRPC call whose status is still to
    /// come in the trailers, see [`Classifier::deferred`]: success so far).
    pub fn response<B>(&self, response: &http::Response<B>) -> Outcome {
        self.read(response).outcome
    }

    /// The outcome of a response and where its gRPC status is, from one
    /// look at its headers (a layer that needs both reads the content type
    /// once instead of once for [`Classifier::deferred`] and twice for
    /// [`Classifier::response`] and the trailers-only status).
    pub fn read<B>(&self, response: &http::Response<B>) -> Reading {
        let headers = response.headers();
        let grpc = if response.status() == StatusCode::OK && crate::wire::grpc::is_grpc(headers) {
            crate::wire::grpc::status(headers).map_or(Grpc::Streamed, Grpc::TrailersOnly)
        } else {
            Grpc::No
        };
        let shed = find(headers, &NO_RETRY_HEADER).is_some();
        let outcome = match grpc {
            Grpc::TrailersOnly(_) if shed => Outcome::Ignored,
            Grpc::TrailersOnly(code) => self.grpc(code),
            Grpc::No | Grpc::Streamed => self.status(response.status(), shed),
        };
        Reading { outcome, grpc }
    }

    /// Whether `response` is a gRPC call whose `grpc-status` comes in the
    /// trailers: its outcome is known only when its body ends ([`on_end`]).
    pub fn deferred<B>(response: &http::Response<B>) -> bool {
        grpc::streamed(response)
    }

    /// The outcome of a gRPC call that ended with status `code`.
    pub fn grpc(&self, code: u32) -> Outcome {
        if code == crate::wire::grpc::RESOURCE_EXHAUSTED {
            Outcome::Overloaded
        } else if code != crate::wire::grpc::OK && self.grpc.contains(code) {
            Outcome::Failure
        } else {
            Outcome::Success
        }
    }

    /// The outcome of a streamed gRPC response's end (see [`on_end`]).
    pub fn end(&self, end: End) -> Outcome {
        match end {
            End::Status(code) => self.grpc(code),
            // No status at all: gRPC calls that `INTERNAL`; a broken
            // stream is the upstream's failure.
            End::Missing | End::Broken => Outcome::Failure,
            End::Dropped => Outcome::Ignored,
        }
    }

    /// The outcome of a status; `shed` when a seawall downstream marked it.
    pub fn status(&self, status: StatusCode, shed: bool) -> Outcome {
        if shed {
            Outcome::Ignored
        } else if self.statuses.contains(&status.as_u16()) {
            Outcome::Failure
        } else {
            Outcome::Success
        }
    }

    /// The outcome of an error.
    pub fn error(&self, error: &BoxError) -> Outcome {
        if is_local(error.as_ref()) {
            Outcome::Ignored
        } else {
            Outcome::Failure
        }
    }
}

/// True when the error, or any error in its `source()` chain, is seawall's
/// own refusal or the downstream client's fault.
pub fn is_local(error: &(dyn StdError + 'static)) -> bool {
    let mut next = Some(error);
    while let Some(e) = next {
        if e.is::<Local>() || e.is::<LocalRefusal>() {
            return true;
        }
        if e.downcast_ref::<hyper::Error>()
            .is_some_and(hyper::Error::is_user)
        {
            return true;
        }
        next = e.source();
    }
    false
}

/// The `source()` of every refusal seawall makes itself: a layer's own
/// error type holds one as its `#[source]` field, and the breaker and
/// ejection then ignore it wherever it sits in a chain.
#[derive(Clone, Copy, Debug, Default, thiserror::Error)]
#[error("refused by seawall, not by the upstream")]
pub struct LocalRefusal;

/// Declares an error local: wrap a layer's own refusal in it and neither the
/// breaker nor ejection will count it. `rescue` still sees the inner error
/// through `source()`, so the response is unchanged.
#[derive(Debug)]
pub struct Local(BoxError);

impl Local {
    /// Marks `error` as a local refusal.
    pub fn wrap(error: impl Into<BoxError>) -> Self {
        Self(error.into())
    }
}

impl fmt::Display for Local {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

impl StdError for Local {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        Some(self.0.as_ref())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn classifier() -> Classifier {
        Classifier::new(&[502, 503, 504])
    }

    #[test]
    fn configured_statuses_fail_others_succeed() {
        let c = classifier();
        assert_eq!(
            c.status(StatusCode::SERVICE_UNAVAILABLE, false),
            Outcome::Failure
        );
        assert_eq!(
            c.status(StatusCode::INTERNAL_SERVER_ERROR, false),
            Outcome::Success
        );
        assert_eq!(c.status(StatusCode::NOT_FOUND, false), Outcome::Success);
    }

    fn grpc(status: Option<&'static str>) -> http::Response<()> {
        let mut rsp = http::Response::builder().header("content-type", "application/grpc");
        if let Some(code) = status {
            rsp = rsp.header("grpc-status", code);
        }
        rsp.body(()).unwrap()
    }

    #[test]
    fn grpc_calls_are_judged_by_their_status_not_their_http_200() {
        let c = classifier();
        assert_eq!(c.response(&grpc(Some("0"))), Outcome::Success);
        assert_eq!(c.response(&grpc(Some("14"))), Outcome::Failure);
        assert_eq!(c.response(&grpc(Some("4"))), Outcome::Failure);
        // An answer, not a failure of the server.
        assert_eq!(c.response(&grpc(Some("5"))), Outcome::Success);
        assert_eq!(c.response(&grpc(Some("8"))), Outcome::Overloaded);
        // Configured codes replace the defaults.
        let only_internal = classifier().with_grpc(Codes::of(&[13]));
        assert_eq!(only_internal.response(&grpc(Some("14"))), Outcome::Success);
        assert_eq!(only_internal.response(&grpc(Some("13"))), Outcome::Failure);
        // The status is still to come: judged at the end of the body.
        assert!(Classifier::deferred(&grpc(None)));
        assert!(!Classifier::deferred(&grpc(Some("0"))));
        assert_eq!(c.end(End::Status(14)), Outcome::Failure);
        assert_eq!(c.end(End::Status(0)), Outcome::Success);
        assert_eq!(c.end(End::Missing), Outcome::Failure);
        assert_eq!(c.end(End::Dropped), Outcome::Ignored);
    }

    #[test]
    fn shed_responses_from_downstream_seawall_are_ignored() {
        let rsp =
            crate::wire::reason::Rescue::new(StatusCode::SERVICE_UNAVAILABLE, "shed-queue-full")
                .no_retry()
                .response();
        assert_eq!(classifier().response(&rsp), Outcome::Ignored);
    }

    #[test]
    fn local_rejections_never_count() {
        let c = classifier();
        let no_endpoint: BoxError = Box::new(crate::middleware::balance::NoEndpoint::new());
        assert_eq!(c.error(&no_endpoint), Outcome::Ignored);
        let open: BoxError = Box::new(crate::middleware::breaker::BreakerOpen::new(
            std::time::Duration::from_secs(1),
        ));
        assert_eq!(c.error(&open), Outcome::Ignored);
        let refusal: BoxError = Box::new(LocalRefusal);
        assert_eq!(c.error(&refusal), Outcome::Ignored);
        let wrapped: BoxError = Box::new(Local::wrap("queue full"));
        assert_eq!(c.error(&wrapped), Outcome::Ignored);
    }

    #[test]
    fn upstream_and_unknown_errors_count() {
        let c = classifier();
        let reset: BoxError = Box::new(std::io::Error::from(std::io::ErrorKind::ConnectionReset));
        assert_eq!(c.error(&reset), Outcome::Failure);
        let odd: BoxError = "something odd".into();
        assert_eq!(c.error(&odd), Outcome::Failure);
    }
}
