//! The one place where errors become responses (the error taxonomy in
//! `ARCHITECTURE.md`).
//!
//! Layers return typed leaf errors, boxed in transit. Here the chain of
//! `source()`s is walked once and the request gets one synthetic response:
//! a status and an `x-seawall-error` reason code, so an operator (and a
//! seawall further up the chain) can tell *why* without reading logs.
//! Nothing else in seawall picks a status code for an error.

use http::StatusCode;
use std::error::Error as StdError;
use std::io;

use crate::middleware::admission::Shed;
use crate::middleware::balance::NoEndpoint;
use crate::middleware::breaker::BreakerOpen;
use crate::middleware::retry::GaveUp;
use crate::middleware::timeout::{
    AttemptTimeout, BodyIdleTimeout, DeadlineExceeded, Direction, HeaderTimeout,
};
use crate::upstream::ConnectFailed;
use crate::wire::BoxError;
pub use crate::wire::reason::{ERROR_HEADER, NO_RETRY_HEADER, Rescue};

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
    if e.is::<DeadlineExceeded>() {
        // The whole budget of this hop is spent, its own retries
        // included: a hop further up retrying it would multiply work.
        return Some(Rescue::new(StatusCode::GATEWAY_TIMEOUT, "timeout").no_retry());
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
        assert!(!classify(&t::attempt()).no_retry);
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
