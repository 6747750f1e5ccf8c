//! The guard of state-changing admin endpoints.
//!
//! Reading endpoints (`GET`, `HEAD`) stay open: probes and scrapers must
//! not need a secret, and the admin port is on loopback by default. Every
//! other method (`POST /reload`, breaker overrides, `POST /log-level`,
//! `POST /drain`) goes through
//! [`authorize`] first: with `admin.token_file` or `admin.token_env`
//! configured, the request must carry `Authorization: Bearer <token>` or it
//! gets 401. The comparison takes the same time wherever the first wrong
//! byte is, so the token cannot be guessed byte by byte from timings.

use std::net::SocketAddr;

use http::header::{AUTHORIZATION, HeaderMap, HeaderValue, WWW_AUTHENTICATE};
use http::{Method, Response, StatusCode};
use subtle::ConstantTimeEq;

use crate::config::AdminToken;
use crate::wire::body::{self, Body};

/// True for methods that only read.
pub fn is_read_only(method: &Method) -> bool {
    method == Method::GET || method == Method::HEAD
}

/// Lets a state-changing request through when no token is configured or
/// when it carries the right bearer token; otherwise the 401 to send.
#[allow(clippy::result_large_err)] // the Err is the response itself
pub fn authorize(headers: &HeaderMap, token: Option<&AdminToken>) -> Result<(), Response<Body>> {
    let Some(token) = token else {
        return Ok(());
    };
    let presented = headers
        .get(AUTHORIZATION)
        .and_then(|v| v.as_bytes().strip_prefix(b"Bearer "));
    match presented {
        Some(given) if constant_time_eq(given, token.expose()) => Ok(()),
        _ => Err(unauthorized()),
    }
}

/// Equality in time that depends only on the lengths, not on where the
/// inputs differ (`subtle`'s constant-time comparison).
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    bool::from(a.ct_eq(b))
}

/// Whether the admin port is reachable from other hosts without a token
/// (worth a warning at start).
pub fn exposed_without_token(address: SocketAddr, token: Option<&AdminToken>) -> bool {
    !address.ip().is_loopback() && token.is_none()
}

fn unauthorized() -> Response<Body> {
    let mut rsp = Response::new(body::full("unauthorized\n"));
    *rsp.status_mut() = StatusCode::UNAUTHORIZED;
    rsp.headers_mut()
        .insert(WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    rsp
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token() -> AdminToken {
        AdminToken::new("s3cret-token-0123456789".into())
    }

    fn with_auth(value: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(AUTHORIZATION, HeaderValue::from_str(value).unwrap());
        h
    }

    #[test]
    fn no_token_configured_lets_everything_through() {
        assert!(authorize(&HeaderMap::new(), None).is_ok());
    }

    #[test]
    fn missing_or_wrong_token_gets_401() {
        let t = token();
        for headers in [
            HeaderMap::new(),
            with_auth("Bearer wrong"),
            with_auth("Bearer s3cret-token-012345678"),
            with_auth("Bearer s3cret-token-01234567890"),
            with_auth("Basic s3cret-token-0123456789"),
            with_auth("s3cret-token-0123456789"),
        ] {
            let rsp = authorize(&headers, Some(&t)).unwrap_err();
            assert_eq!(rsp.status(), StatusCode::UNAUTHORIZED);
            assert_eq!(rsp.headers()[WWW_AUTHENTICATE], "Bearer");
        }
    }

    #[test]
    fn right_token_is_accepted() {
        let headers = with_auth("Bearer s3cret-token-0123456789");
        assert!(authorize(&headers, Some(&token())).is_ok());
    }

    #[test]
    fn constant_time_eq_is_equality() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(constant_time_eq(b"", b""));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"ab"));
        assert!(!constant_time_eq(b"ab\0", b"ab"));
    }

    #[test]
    fn only_a_tokenless_non_loopback_address_is_exposed() {
        let public: SocketAddr = "0.0.0.0:9901".parse().unwrap();
        let local: SocketAddr = "127.0.0.1:9901".parse().unwrap();
        assert!(exposed_without_token(public, None));
        assert!(!exposed_without_token(public, Some(&token())));
        assert!(!exposed_without_token(local, None));
    }
}
