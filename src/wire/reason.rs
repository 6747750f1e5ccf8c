//! The vocabulary of seawall's own answers: the `x-seawall-*` header names
//! and the synthetic response every refusal or failure is answered with.
//!
//! Which error becomes which [`Rescue`] is decided in one place only, the
//! downstream request handler's `rescue` module; this leaf only knows how a
//! rescue is written on the wire, so every layer can read and set the same
//! headers without knowing the others.

use std::time::Duration;

use http::header::{CONTENT_TYPE, HeaderName, HeaderValue};
use http::{HeaderMap, Response, StatusCode};

use super::body::{self, Body};

/// The header carrying the reason code of every response seawall synthesizes.
pub const ERROR_HEADER: HeaderName = HeaderName::from_static("x-seawall-error");

/// A request's criticality (`critical`, `default`, `sheddable`), believed
/// only from listeners with `trust_priority_header`.
pub const PRIORITY_HEADER: HeaderName = HeaderName::from_static("x-seawall-priority");

/// Marks a response seawall synthesized because of overload or an open
/// breaker: the request was not processed, and a seawall further up the
/// chain must not retry it (retries would multiply across hops).
pub const NO_RETRY_HEADER: HeaderName = HeaderName::from_static("x-seawall-no-retry");

/// gRPC's status field, in a trailers-only response or in trailers.
pub const GRPC_STATUS: HeaderName = HeaderName::from_static("grpc-status");

/// gRPC's human-readable status message.
pub const GRPC_MESSAGE: HeaderName = HeaderName::from_static("grpc-message");

/// gRPC's `DEADLINE_EXCEEDED`, as a `grpc-status` value.
pub const GRPC_DEADLINE_EXCEEDED: &str = "4";

/// gRPC's `UNAVAILABLE`, as a `grpc-status` value.
pub const GRPC_UNAVAILABLE: &str = "14";

/// What a failed request is answered with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rescue {
    /// Status sent downstream.
    pub status: StatusCode,
    /// Reason code for `x-seawall-error` and metric labels (bounded set).
    pub reason: &'static str,
    /// `Retry-After` to send, rounded up to whole seconds (at least 1 s).
    pub retry_after: Option<Duration>,
    /// Whether to add [`NO_RETRY_HEADER`].
    pub no_retry: bool,
    /// Whether to close an HTTP/1 connection after the answer
    /// (`Connection: close`): the rest of what arrived on it cannot be
    /// trusted to be framed as the client meant.
    pub close: bool,
}

impl Rescue {
    /// A rescue with a status and a reason code.
    pub const fn new(status: StatusCode, reason: &'static str) -> Self {
        Self {
            status,
            reason,
            retry_after: None,
            no_retry: false,
            close: false,
        }
    }

    /// Closes the HTTP/1 connection after the answer.
    pub const fn close(mut self) -> Self {
        self.close = true;
        self
    }

    /// Adds a `Retry-After`.
    pub const fn with_retry_after(mut self, after: Duration) -> Self {
        self.retry_after = Some(after);
        self
    }

    /// Marks the response as "not processed, do not retry upstream of here".
    pub const fn no_retry(mut self) -> Self {
        self.no_retry = true;
        self
    }

    /// Builds the synthetic response: status, reason header, a short text body.
    pub fn response(self) -> Response<Body> {
        let mut rsp = local_response(self.status, self.reason);
        if let Some(after) = self.retry_after {
            let secs = after.as_secs() + u64::from(after.subsec_nanos() > 0);
            rsp.headers_mut()
                .insert(http::header::RETRY_AFTER, HeaderValue::from(secs.max(1)));
        }
        if self.no_retry {
            rsp.headers_mut()
                .insert(NO_RETRY_HEADER, HeaderValue::from_static("1"));
        }
        if self.close {
            // hyper closes an HTTP/1 connection after a response saying so
            // (and drops the header from an HTTP/2 one).
            rsp.headers_mut()
                .insert(http::header::CONNECTION, HeaderValue::from_static("close"));
        }
        rsp
    }
}

impl Rescue {
    /// The answer to a gRPC call, in gRPC's terms: a trailers-only
    /// response (HTTP 200, `content-type: application/grpc`, no body) with
    /// `grpc-status: code` and `grpc-message` naming the reason, and
    /// seawall's own headers as in [`Rescue::response`].
    pub fn grpc_response(self, code: &'static str) -> Response<Body> {
        let mut rsp = Response::new(body::empty());
        let headers = rsp.headers_mut();
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/grpc"));
        headers.extend(grpc_trailers(code, self.reason));
        headers.insert(ERROR_HEADER, HeaderValue::from_static(self.reason));
        if self.no_retry {
            headers.insert(NO_RETRY_HEADER, HeaderValue::from_static("1"));
        }
        if let Some(after) = self.retry_after {
            // gRPC's Retry-After (gRFC A6): clients that retry wait this long.
            let ms = u64::try_from(after.as_millis()).unwrap_or(u64::MAX);
            headers.insert(GRPC_PUSHBACK, HeaderValue::from(ms));
        }
        rsp
    }
}

/// gRPC's server pushback (gRFC A6): milliseconds to wait before a retry;
/// negative or malformed means "do not retry".
pub const GRPC_PUSHBACK: HeaderName = HeaderName::from_static("grpc-retry-pushback-ms");

/// The fields that end a gRPC call seawall ended for `reason`:
/// `grpc-status: code` and `grpc-message: seawall: <reason>`.
pub fn grpc_trailers(code: &'static str, reason: &'static str) -> HeaderMap {
    let mut fields = HeaderMap::with_capacity(2);
    fields.insert(GRPC_STATUS, HeaderValue::from_static(code));
    // Reason codes are lowercase ASCII words and dashes: nothing in them
    // needs gRPC's percent-encoding.
    if let Ok(message) = HeaderValue::from_str(&format!("seawall: {reason}")) {
        fields.insert(GRPC_MESSAGE, message);
    }
    fields
}

/// A synthetic response with `x-seawall-error: reason` and a one-line body.
pub fn local_response(status: StatusCode, reason: &'static str) -> Response<Body> {
    let mut rsp = Response::new(body::full(format!("{} {}\n", status.as_u16(), reason)));
    *rsp.status_mut() = status;
    let headers = rsp.headers_mut();
    headers.insert(ERROR_HEADER, HeaderValue::from_static(reason));
    headers.insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    rsp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_rounds_up_to_whole_seconds_at_least_one() {
        let rsp = Rescue::new(StatusCode::SERVICE_UNAVAILABLE, "shed-queue-full")
            .with_retry_after(Duration::from_millis(1200))
            .no_retry()
            .response();
        assert_eq!(rsp.headers()[http::header::RETRY_AFTER], "2");
        assert_eq!(rsp.headers()[NO_RETRY_HEADER], "1");
        let rsp = Rescue::new(StatusCode::SERVICE_UNAVAILABLE, "x")
            .with_retry_after(Duration::from_millis(10))
            .response();
        assert_eq!(rsp.headers()[http::header::RETRY_AFTER], "1");
    }

    #[test]
    fn grpc_response_is_trailers_only_with_the_status_and_reason() {
        let rsp = Rescue::new(StatusCode::GATEWAY_TIMEOUT, "timeout")
            .no_retry()
            .grpc_response(GRPC_DEADLINE_EXCEEDED);
        assert_eq!(rsp.status(), StatusCode::OK);
        let h = rsp.headers();
        assert_eq!(h[CONTENT_TYPE], "application/grpc");
        assert_eq!(h[GRPC_STATUS], "4");
        assert_eq!(h[GRPC_MESSAGE], "seawall: timeout");
        assert_eq!(h[ERROR_HEADER], "timeout");
        assert_eq!(h[NO_RETRY_HEADER], "1");
        assert!(http_body::Body::is_end_stream(rsp.body()));
    }

    #[test]
    fn synthetic_response_carries_reason() {
        let rsp = Rescue::new(StatusCode::BAD_GATEWAY, "upstream-reset").response();
        assert_eq!(rsp.status(), StatusCode::BAD_GATEWAY);
        assert_eq!(rsp.headers()[ERROR_HEADER], "upstream-reset");
    }
}
