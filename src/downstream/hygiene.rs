//! Request checks beyond hyper's parser: the shapes hyper accepts but a
//! proxy should not forward.
//!
//! hyper already answers 400 to the catalogued smuggling vectors
//! (differing `Content-Length`s, a signed, listed or non-numeric length,
//! transfer codings that do not end in `chunked`, obs-fold, bad chunk
//! sizes, control characters). A request with both `Transfer-Encoding` and
//! `Content-Length` is read as chunked, the length dropped and the
//! connection closed after it; h2 refuses `transfer-encoding` and
//! differing `content-length`s itself; and hyper's client re-frames what
//! seawall forwards. `integration/hostile.rs` pins each of these down, so
//! no framing check is repeated here.
//!
//! hyper also accepts a missing or duplicate Host; [`request_host`]
//! refuses both, and a Host that disagrees with the target.
//!
//! What hyper does not do is give a long request target its own limit: it
//! only refuses a target that overflows the whole head (431). URIs end up
//! in logs, caches and upstream routers whose limits are usually lower than
//! a head's, so seawall refuses a target over `max_uri_bytes` with 414.

use http::{StatusCode, Uri, Version, header};

use crate::routing::normalize_host;

use crate::wire::reason::Rescue;

/// The length of the request target as the client sent it (scheme and
/// authority included for absolute-form).
pub fn target_len(uri: &Uri) -> usize {
    let scheme = uri.scheme_str().map_or(0, |s| s.len() + 3);
    let authority = uri.authority().map_or(0, |a| a.as_str().len());
    let path = uri.path_and_query().map_or(0, |p| p.as_str().len());
    scheme + authority + path
}

/// Refuses a request target longer than `max` bytes with 414 `uri-too-long`.
pub fn check_target(uri: &Uri, max: usize) -> Result<(), Rescue> {
    if target_len(uri) > max {
        return Err(Rescue::new(StatusCode::URI_TOO_LONG, "uri-too-long"));
    }
    Ok(())
}

/// The host a request is for, lower-case without port, or a 400.
///
/// HTTP/1.1 needs exactly one Host; an absolute-form target must agree with
/// it (a disagreement is how requests get smuggled past host routing).
/// HTTP/2 uses `:authority`; a Host header, if present, must agree.
pub fn request_host<B>(req: &http::Request<B>) -> Result<String, Rescue> {
    let bad = |reason| Rescue::new(StatusCode::BAD_REQUEST, reason);
    let mut hosts = req.headers().get_all(header::HOST).iter();
    let host_header = hosts.next();
    if hosts.next().is_some() {
        return Err(bad("duplicate-host"));
    }
    let from_header = match host_header {
        Some(v) => Some(
            v.to_str()
                .ok()
                .and_then(normalize_host)
                .ok_or_else(|| bad("invalid-host"))?,
        ),
        None => None,
    };
    let from_uri = match req.uri().authority() {
        Some(a) => Some(normalize_host(a.as_str()).ok_or_else(|| bad("invalid-host"))?),
        None => None,
    };
    match (from_header, from_uri) {
        (Some(h), Some(u)) if h != u => Err(bad("conflicting-host")),
        (Some(h), _) => Ok(h),
        (None, Some(u)) => Ok(u),
        (None, None) if req.version() == Version::HTTP_10 => Ok(String::new()),
        (None, None) => Err(bad("missing-host")),
    }
}

/// The request's `Content-Length`, when it has a valid one.
pub fn content_length<B>(req: &http::Request<B>) -> Option<u64> {
    req.headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_targets_get_414() {
        let uri: Uri = format!("/{}", "a".repeat(100)).parse().unwrap();
        assert_eq!(target_len(&uri), 101);
        assert!(check_target(&uri, 101).is_ok());
        assert_eq!(
            check_target(&uri, 100).unwrap_err().status,
            StatusCode::URI_TOO_LONG
        );
        let abs: Uri = "http://a.local/xy?q".parse().unwrap();
        assert_eq!(target_len(&abs), "http://a.local/xy?q".len());
    }
}
