//! Request checks beyond hyper's parser: the shapes hyper accepts but a
//! proxy should not forward.
//!
//! hyper already answers 400 to the catalogued smuggling vectors
//! (differing `Content-Length`s, a signed, listed or non-numeric length,
//! transfer codings that do not end in `chunked`, obs-fold, bad chunk
//! sizes, control characters). It does read `chunked, chunked` (chunked
//! applied twice, which RFC 9112 §6.1 forbids) and `gzip, chunked` (a
//! coding seawall would strip with the header and forward undecoded), so
//! [`check_framing`] accepts exactly one `chunked` and nothing else, and
//! closes the connection after refusing: the bytes after such a head
//! cannot be trusted to be framed as the client meant. A request with both `Transfer-Encoding` and
//! `Content-Length` is read as chunked, the length dropped and the
//! connection closed after it; h2 refuses `transfer-encoding` and
//! differing `content-length`s itself; and hyper's client re-frames what
//! seawall forwards. `integration/hostile.rs` pins each of these down, so
//! no framing check is repeated here.
//!
//! hyper also accepts a missing or duplicate Host; [`request_host`]
//! refuses both, and a Host that disagrees with the target.
//!
//! h2 accepts a field value with leading or trailing whitespace, which
//! RFC 9113 §8.2.1 calls malformed and an HTTP/1 upstream would trim (or
//! not): [`check_h2_fields`] refuses it before anything is forwarded.
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

/// Refuses, with 400 `invalid-transfer-encoding` and the connection
/// closed, a `Transfer-Encoding` other than exactly one `chunked` (over
/// all its lines).
pub fn check_framing<B>(req: &http::Request<B>) -> Result<(), Rescue> {
    let mut codings = req
        .headers()
        .get_all(header::TRANSFER_ENCODING)
        .iter()
        .flat_map(|v| v.as_bytes().split(|b| *b == b','))
        .map(<[u8]>::trim_ascii);
    match (codings.next(), codings.next()) {
        (None, _) => Ok(()),
        (Some(one), None) if one.eq_ignore_ascii_case(b"chunked") => Ok(()),
        _ => Err(Rescue::new(StatusCode::BAD_REQUEST, "invalid-transfer-encoding").close()),
    }
}

/// Refuses an HTTP/2 request with a field value that starts or ends with
/// whitespace (malformed, RFC 9113 §8.2.1) with 400 `invalid-header-value`.
pub fn check_h2_fields<B>(req: &http::Request<B>) -> Result<(), Rescue> {
    let padded = |v: &[u8]| {
        matches!(v.first(), Some(b' ' | b'\t')) || matches!(v.last(), Some(b' ' | b'\t'))
    };
    if req.version() == Version::HTTP_2 && req.headers().values().any(|v| padded(v.as_bytes())) {
        return Err(Rescue::new(StatusCode::BAD_REQUEST, "invalid-header-value"));
    }
    Ok(())
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

    fn with(version: Version, pairs: &[(&str, &str)]) -> http::Request<()> {
        let mut req = http::Request::builder().version(version);
        for (k, v) in pairs {
            req = req.header(*k, *v);
        }
        req.body(()).unwrap()
    }

    #[test]
    fn only_a_single_chunked_coding_is_accepted() {
        let te = |values: &[&str]| {
            let pairs: Vec<_> = values.iter().map(|v| ("transfer-encoding", *v)).collect();
            check_framing(&with(Version::HTTP_11, &pairs))
        };
        assert!(te(&[]).is_ok());
        assert!(te(&["chunked"]).is_ok());
        assert!(te(&[" Chunked "]).is_ok());
        for bad in [
            &["chunked, chunked"][..],
            &["chunked", "chunked"],
            &["gzip"],
            &["gzip, chunked"],
            &["chunked, gzip"],
            &["chunked,"],
            &[""],
        ] {
            let refused = te(bad).unwrap_err();
            assert_eq!(refused.status, StatusCode::BAD_REQUEST, "{bad:?}");
            assert!(refused.close, "{bad:?}");
        }
    }

    #[test]
    fn padded_h2_field_values_are_refused() {
        for value in [" x", "x ", "\tx", "x\t"] {
            let padded = with(Version::HTTP_2, &[("x-a", value)]);
            assert_eq!(
                check_h2_fields(&padded).unwrap_err().reason,
                "invalid-header-value",
                "{value:?}"
            );
            // hyper's HTTP/1 parser trims them already.
            assert!(check_h2_fields(&with(Version::HTTP_11, &[("x-a", value)])).is_ok());
        }
        assert!(check_h2_fields(&with(Version::HTTP_2, &[("x-a", "a b")])).is_ok());
        assert!(check_h2_fields(&with(Version::HTTP_2, &[("x-a", "")])).is_ok());
    }
}
