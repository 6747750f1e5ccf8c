//! The one place where errors become responses (the error taxonomy in
//! `ARCHITECTURE.md`).
//!
//! Layers return typed leaf errors, boxed in transit. Here the chain of
//! `source()`s is walked once and the request gets one synthetic response:
//! a status and an `x-seawall-error` reason code, so an operator (and a
//! seawall further up the chain) can tell *why* without reading logs.
//! Nothing else in seawall picks a status code for an error.
//!
//! A gRPC call (HTTP/2, a gRPC content type) ended by a timeout is answered
//! in gRPC's terms instead, because a gRPC client reads an HTTP 504 as
//! `UNAVAILABLE` and a reset stream as `INTERNAL`: `grpc-status: 4`
//! (`DEADLINE_EXCEEDED`) in a trailers-only response before the response
//! started ([`answer`]), in trailers after ([`grpc_cut_status`], used by
//! `downstream::cut`). A response body the upstream broke off (its
//! connection reset or closed, its framing broken) ends a gRPC call with
//! `UNAVAILABLE` in trailers, as gRPC libraries report a connection lost
//! mid-call, rather than a reset the client would read as `INTERNAL`.

use http::{HeaderMap, StatusCode, Version};
use std::error::Error as StdError;
use std::io;

use crate::middleware::admission::Shed;
use crate::middleware::balance::NoEndpoint;
use crate::middleware::breaker::BreakerOpen;
use crate::middleware::retry::GaveUp;
use crate::middleware::timeout::{
    AttemptTimeout, BodyIdleTimeout, Bound, DeadlineExceeded, Direction, HeaderTimeout,
};
use crate::upstream::ConnectFailed;
use crate::wire::BoxError;
use crate::wire::body::Response;
pub use crate::wire::reason::{ERROR_HEADER, NO_RETRY_HEADER, Rescue};
use crate::wire::reason::{GRPC_DEADLINE_EXCEEDED, GRPC_UNAVAILABLE};

/// Whether a request is a gRPC call that seawall answers in gRPC's terms:
/// over HTTP/2 with a gRPC content type. Not gRPC-Web, whose trailers
/// travel inside the body, nor HTTP/1, which would drop trailers that
/// were not announced and so present a cut body as complete.
pub fn is_grpc_call(headers: &HeaderMap, version: Version) -> bool {
    version == Version::HTTP_2 && crate::wire::grpc::is_grpc(headers)
}

/// The `grpc-status` of a gRPC call seawall ended for `reason`, when it is
/// a timeout: `DEADLINE_EXCEEDED` for the request's deadline (`timeout`),
/// the route's total cap (`total-timeout`) and a stalled response body
/// (`upstream-body-timeout`). Other answers keep their HTTP status (which
/// gRPC clients map to `UNAVAILABLE` and the like) or their reset.
pub fn grpc_status(reason: &str) -> Option<&'static str> {
    matches!(
        reason,
        "timeout" | "total-timeout" | "upstream-body-timeout"
    )
    .then_some(GRPC_DEADLINE_EXCEEDED)
}

/// The `grpc-status` that ends a gRPC call whose response body was cut for
/// `reason`, in trailers: a timeout's ([`grpc_status`]), or `UNAVAILABLE`
/// when the upstream broke the body off (`upstream-reset`,
/// `upstream-protocol`): the call did not complete, and a client that
/// tracks which messages it processed may call again.
pub fn grpc_cut_status(reason: &str) -> Option<&'static str> {
    grpc_status(reason).or_else(|| reason.starts_with("upstream-").then_some(GRPC_UNAVAILABLE))
}

/// The response to a request that failed with `rescue`: for a gRPC call,
/// gRPC's trailers-only form with the `grpc-status` its HTTP answer maps
/// to ([`grpc_code`]); else the HTTP one.
pub fn answer(rescue: Rescue, grpc: bool) -> Response {
    if grpc {
        rescue.grpc_response(grpc_code(&rescue))
    } else {
        rescue.response()
    }
}

/// The `grpc-status` a gRPC client is told for a call seawall answered
/// with `rescue`. Timeouts are `DEADLINE_EXCEEDED` (as [`grpc_status`]);
/// the rest follows gRPC's own HTTP-to-gRPC mapping
/// (`doc/http-grpc-status-mapping.md` in grpc/grpc): a refusal (shed,
/// breaker, no endpoint) and a failed upstream are `UNAVAILABLE`, which
/// clients may retry; a body over the limit is `RESOURCE_EXHAUSTED`.
pub fn grpc_code(rescue: &Rescue) -> &'static str {
    if let Some(code) = grpc_status(rescue.reason) {
        return code;
    }
    match rescue.status.as_u16() {
        400 => "13",             // INTERNAL: a malformed call
        401 => "16",             // UNAUTHENTICATED
        403 => "7",              // PERMISSION_DENIED
        404 => "12",             // UNIMPLEMENTED: no such route
        408 | 504 => "4",        // DEADLINE_EXCEEDED
        413 | 431 => "8",        // RESOURCE_EXHAUSTED
        429 | 502 | 503 => "14", // UNAVAILABLE
        _ => "2",                // UNKNOWN
    }
}

/// Classifies an error by walking its `source()` chain. An error the retry
/// layer gave up on keeps its own status and is marked no-retry (and
/// `budget-exhausted` when the budget refused), so a seawall further up the
/// chain does not retry it again.
pub fn classify(err: &BoxError) -> Rescue {
    let mut rescue = classify_leaf(err);
    let mut next: Option<&(dyn StdError + 'static)> = Some(err.as_ref());
    while let Some(e) = next {
        if let Some(gave_up) = e.downcast_ref::<GaveUp>() {
            rescue.no_retry = true;
            if gave_up.budget_exhausted() {
                rescue.reason = "budget-exhausted";
            }
            break;
        }
        next = e.source();
    }
    rescue
}

fn classify_leaf(err: &BoxError) -> Rescue {
    let mut connect = false;
    let mut user_body = false;
    let mut fallback = Rescue::new(StatusCode::BAD_GATEWAY, "upstream-protocol");
    let mut next: Option<&(dyn StdError + 'static)> = Some(err.as_ref());
    while let Some(e) = next {
        if let Some(rescue) = refusal_or_timeout(e) {
            return rescue;
        }
        connect |= e.is::<ConnectFailed>();
        if let Some(e) = e.downcast_ref::<hyper::Error>() {
            if e.is_user() {
                // The downstream request body failed (client went away or
                // sent garbage): not the upstream's fault.
                user_body = true;
            } else if e.is_incomplete_message() || e.is_canceled() || e.is_closed() {
                fallback = Rescue::new(StatusCode::BAD_GATEWAY, "upstream-reset");
            } else if e.is_parse() || e.is_parse_status() {
                fallback = Rescue::new(StatusCode::BAD_GATEWAY, "upstream-protocol");
            }
        }
        if let Some(e) = e.downcast_ref::<h2::Error>()
            && (e.is_io() || (e.is_remote() && (e.is_reset() || e.is_go_away())))
        {
            // HTTP/2: the upstream's connection broke or closed, or it
            // reset the stream (h2 does not chain its I/O error as a source).
            fallback = Rescue::new(StatusCode::BAD_GATEWAY, "upstream-reset");
        }
        if crate::tls::is_tls_failure(e) {
            // A certificate that does not verify, or a refused handshake:
            // the endpoint is misconfigured, and the same endpoint would
            // fail the same way again (see `tls::UPSTREAM_TLS`).
            return Rescue::new(StatusCode::BAD_GATEWAY, crate::tls::UPSTREAM_TLS);
        }
        if let Some(e) = e.downcast_ref::<io::Error>() {
            match e.kind() {
                io::ErrorKind::TimedOut if connect => {
                    return Rescue::new(StatusCode::BAD_GATEWAY, "upstream-connect-timeout");
                }
                io::ErrorKind::ConnectionReset
                | io::ErrorKind::BrokenPipe
                | io::ErrorKind::UnexpectedEof
                | io::ErrorKind::ConnectionAborted
                    if !connect =>
                {
                    fallback = Rescue::new(StatusCode::BAD_GATEWAY, "upstream-reset");
                }
                _ => {}
            }
        }
        next = e.source();
    }
    if user_body {
        Rescue::new(StatusCode::BAD_REQUEST, "downstream-body")
    } else if connect {
        Rescue::new(StatusCode::BAD_GATEWAY, "upstream-connect")
    } else {
        fallback
    }
}

/// seawall's own refusals and timeouts: the answer for `e` itself, if it
/// is one (its `source()`s are the caller's to walk).
fn refusal_or_timeout(e: &(dyn StdError + 'static)) -> Option<Rescue> {
    if let Some(shed) = e.downcast_ref::<Shed>() {
        // Refused before using the upstream: tell the caller when to
        // come back, and that nobody upstream of us should retry it.
        return Some(
            Rescue::new(StatusCode::SERVICE_UNAVAILABLE, shed.reason.code())
                .with_retry_after(shed.retry_after)
                .no_retry(),
        );
    }
    if e.is::<NoEndpoint>() {
        return Some(Rescue::new(StatusCode::SERVICE_UNAVAILABLE, "no-endpoint"));
    }
    if let Some(e) = e.downcast_ref::<DeadlineExceeded>() {
        // The whole budget of this hop is spent, its own retries
        // included: a hop further up retrying it would multiply work.
        let reason = match e.bound {
            Bound::Total => "total-timeout",
            Bound::Request | Bound::Caller => "timeout",
        };
        return Some(Rescue::new(StatusCode::GATEWAY_TIMEOUT, reason).no_retry());
    }
    if e.is::<AttemptTimeout>() {
        return Some(Rescue::new(StatusCode::GATEWAY_TIMEOUT, "attempt-timeout"));
    }
    if e.is::<HeaderTimeout>() {
        return Some(Rescue::new(
            StatusCode::GATEWAY_TIMEOUT,
            "upstream-header-timeout",
        ));
    }
    if let Some(e) = e.downcast_ref::<BodyIdleTimeout>() {
        return Some(match e.direction {
            Direction::Upload => {
                Rescue::new(StatusCode::REQUEST_TIMEOUT, "downstream-body-timeout")
            }
            Direction::Download => {
                Rescue::new(StatusCode::GATEWAY_TIMEOUT, "upstream-body-timeout")
            }
        });
    }
    if let Some(open) = e.downcast_ref::<BreakerOpen>() {
        let reason = if open.is_throttle() {
            "breaker-throttled"
        } else {
            "breaker-open"
        };
        return Some(
            Rescue::new(StatusCode::SERVICE_UNAVAILABLE, reason)
                .with_retry_after(open.retry_after())
                .no_retry(),
        );
    }
    if e.is::<http_body_util::LengthLimitError>() {
        return Some(Rescue::new(StatusCode::PAYLOAD_TOO_LARGE, "body-too-large"));
    }
    None
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn no_endpoint_is_503() {
        let err: BoxError = Box::new(NoEndpoint::new());
        let r = classify(&err);
        assert_eq!(
            (r.status, r.reason),
            (StatusCode::SERVICE_UNAVAILABLE, "no-endpoint")
        );
    }

    #[derive(Debug)]
    struct Wrapped(BoxError);

    impl std::fmt::Display for Wrapped {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("wrapped")
        }
    }

    impl StdError for Wrapped {
        fn source(&self) -> Option<&(dyn StdError + 'static)> {
            Some(self.0.as_ref())
        }
    }

    #[test]
    fn timeouts_are_504_with_their_reason_even_when_wrapped() {
        use crate::middleware::timeout::tests_support as t;
        for (err, status, reason) in [
            (t::deadline(), StatusCode::GATEWAY_TIMEOUT, "timeout"),
            (t::total(), StatusCode::GATEWAY_TIMEOUT, "total-timeout"),
            (
                t::download_idle(),
                StatusCode::GATEWAY_TIMEOUT,
                "upstream-body-timeout",
            ),
            (t::attempt(), StatusCode::GATEWAY_TIMEOUT, "attempt-timeout"),
            (
                t::header(),
                StatusCode::GATEWAY_TIMEOUT,
                "upstream-header-timeout",
            ),
            (
                t::upload_idle(),
                StatusCode::REQUEST_TIMEOUT,
                "downstream-body-timeout",
            ),
        ] {
            // Wrapped the way hyper wraps a body error: one `source()` deep.
            let wrapped: BoxError = Box::new(Wrapped(err));
            let r = classify(&wrapped);
            assert_eq!((r.status, r.reason), (status, reason));
        }
        assert!(classify(&t::deadline()).no_retry);
        assert!(classify(&t::total()).no_retry);
        assert!(!classify(&t::attempt()).no_retry);
    }

    #[test]
    fn a_grpc_call_ended_by_a_timeout_is_answered_with_deadline_exceeded() {
        use crate::middleware::timeout::tests_support as t;
        let timeout = classify(&t::deadline());
        let rsp = answer(timeout, true);
        assert_eq!(rsp.status(), StatusCode::OK);
        assert_eq!(rsp.headers()["grpc-status"], "4");
        assert_eq!(rsp.headers()["grpc-message"], "seawall: timeout");
        // Not a gRPC call: the HTTP answer, as before.
        assert_eq!(answer(timeout, false).status(), StatusCode::GATEWAY_TIMEOUT);
        // An attempt's own timeout (the retries gave up on it) too.
        let attempt = answer(classify(&t::attempt()), true);
        assert_eq!(attempt.status(), StatusCode::OK);
        assert_eq!(attempt.headers()["grpc-status"], "4");
    }

    #[test]
    fn grpc_calls_are_h2_with_a_grpc_content_type_but_not_grpc_web() {
        let with = |ct: &str| {
            let mut h = HeaderMap::new();
            h.insert(http::header::CONTENT_TYPE, ct.parse().unwrap());
            h
        };
        for ct in [
            "application/grpc",
            "application/grpc+proto",
            "application/grpc;x=1",
        ] {
            assert!(is_grpc_call(&with(ct), Version::HTTP_2), "{ct}");
            assert!(!is_grpc_call(&with(ct), Version::HTTP_11), "{ct} over h1");
        }
        for ct in [
            "application/grpc-web",
            "application/grpc-web+proto",
            "text/plain",
        ] {
            assert!(!is_grpc_call(&with(ct), Version::HTTP_2), "{ct}");
        }
        assert!(!is_grpc_call(&HeaderMap::new(), Version::HTTP_2));
    }

    #[test]
    fn every_answer_to_a_grpc_call_is_trailers_only_with_its_code() {
        use crate::wire::reason::GRPC_STATUS;
        for (rescue, code) in [
            (
                Rescue::new(StatusCode::SERVICE_UNAVAILABLE, "shed-queue-full"),
                "14",
            ),
            (
                Rescue::new(StatusCode::SERVICE_UNAVAILABLE, "breaker-open"),
                "14",
            ),
            (
                Rescue::new(StatusCode::SERVICE_UNAVAILABLE, "no-endpoint"),
                "14",
            ),
            (Rescue::new(StatusCode::BAD_GATEWAY, "upstream-reset"), "14"),
            (
                Rescue::new(StatusCode::GATEWAY_TIMEOUT, "attempt-timeout"),
                "4",
            ),
            (
                Rescue::new(StatusCode::PAYLOAD_TOO_LARGE, "body-too-large"),
                "8",
            ),
            (Rescue::new(StatusCode::NOT_FOUND, "no-route"), "12"),
        ] {
            let rsp = answer(rescue.with_retry_after(Duration::from_millis(1500)), true);
            let h = rsp.headers();
            assert_eq!(rsp.status(), StatusCode::OK, "{}", rescue.reason);
            assert_eq!(h[GRPC_STATUS], code, "{}", rescue.reason);
            assert_eq!(h[ERROR_HEADER], rescue.reason);
            assert_eq!(h["grpc-retry-pushback-ms"], "1500");
        }
    }

    #[test]
    fn breaker_open_is_503_with_retry_after_and_no_retry() {
        let err: BoxError = Box::new(BreakerOpen::new(Duration::from_millis(2500)));
        let rsp = classify(&err).response();
        assert_eq!(rsp.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(rsp.headers()[ERROR_HEADER], "breaker-open");
        assert_eq!(rsp.headers()[http::header::RETRY_AFTER], "3");
        assert_eq!(rsp.headers()[NO_RETRY_HEADER], "1");
    }

    #[test]
    fn tls_failure_in_a_connect_error_is_502_upstream_tls() {
        let bad = rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer);
        let io = io::Error::new(io::ErrorKind::InvalidData, bad);
        // hyper-util wraps connector errors one `source()` deep.
        let wrapped: BoxError = Box::new(Wrapped(Box::new(io)));
        let r = classify(&wrapped);
        assert_eq!(
            (r.status, r.reason),
            (StatusCode::BAD_GATEWAY, "upstream-tls")
        );
        assert!(!r.no_retry);
    }

    #[test]
    fn unknown_error_is_502_protocol() {
        let err: BoxError = "something odd".into();
        assert_eq!(classify(&err).status, StatusCode::BAD_GATEWAY);
    }
}
