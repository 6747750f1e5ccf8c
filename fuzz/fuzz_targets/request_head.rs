//! The request-head checks and header hygiene (`downstream::hygiene`,
//! `wire::headers::strip_hop_by_hop`) on any head the HTTP/1 parser
//! accepts: never a panic, and each check keeps its promise:
//!
//! - a Host it returns is already normalised (lower case, no port);
//! - framing passes exactly when `Transfer-Encoding` is absent or one
//!   `chunked`, and a refusal closes the connection;
//! - over HTTP/2, a field value padded with whitespace is refused;
//! - after hop-by-hop stripping no hop-by-hop header is left (but
//!   `te: trailers`, and `Upgrade` for a tunnel), nothing `Connection` named
//!   is left, `Host` is untouched, and every other header is kept as it was.
#![no_main]

use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::{Request, Version};
use libfuzzer_sys::fuzz_target;
use seawall::downstream::hygiene::{
    check_framing, check_h2_fields, check_target, request_host, target_len,
};
use seawall::routing::normalize_host;
use seawall::wire::headers::strip_hop_by_hop;

const HOP_BY_HOP: [&str; 8] = [
    "connection",
    "proxy-connection",
    "keep-alive",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "proxy-authenticate",
];

/// The head as hyper would hand it to seawall, or `None` when the parser
/// (or the `http` types) would refuse it.
fn request(data: &[u8]) -> Option<Request<()>> {
    let mut fields = [httparse::EMPTY_HEADER; 64];
    let mut head = httparse::Request::new(&mut fields);
    if !head.parse(data).ok()?.is_complete() {
        return None;
    }
    let version = if head.version? == 0 {
        Version::HTTP_10
    } else {
        Version::HTTP_11
    };
    let mut builder = Request::builder()
        .method(head.method?)
        .uri(head.path?)
        .version(version);
    for field in head.headers.iter() {
        let name = HeaderName::from_bytes(field.name.as_bytes()).ok()?;
        builder = builder.header(name, HeaderValue::from_bytes(field.value).ok()?);
    }
    builder.body(()).ok()
}

fn codings(headers: &HeaderMap) -> Vec<String> {
    let mut all = Vec::new();
    for value in headers.get_all(header::TRANSFER_ENCODING) {
        for coding in value.as_bytes().split(|b| *b == b',') {
            all.push(String::from_utf8_lossy(coding.trim_ascii()).to_ascii_lowercase());
        }
    }
    all
}

fn checks(req: &Request<()>) {
    let len = target_len(req.uri());
    assert!(check_target(req.uri(), len).is_ok());
    if len > 0 {
        assert!(check_target(req.uri(), len - 1).is_err());
    }
    if let Ok(host) = request_host(req)
        && !host.is_empty()
    {
        assert_eq!(normalize_host(&host).as_deref(), Some(host.as_str()));
    }
    let te = codings(req.headers());
    match check_framing(req) {
        Ok(()) => assert!(te.is_empty() || te == ["chunked"], "{te:?} passed"),
        Err(refused) => {
            assert!(!te.is_empty() && te != ["chunked"], "{te:?} refused");
            assert!(refused.close, "a framing refusal keeps the connection");
        }
    }
    let padded = req.headers().values().any(|v| {
        let v = v.as_bytes();
        matches!(v.first(), Some(b' ' | b'\t')) || matches!(v.last(), Some(b' ' | b'\t'))
    });
    let h2 = req.version() == Version::HTTP_2;
    assert_eq!(check_h2_fields(req).is_err(), h2 && padded);
}

fn stripped(before: &HeaderMap, keep_upgrade: bool) {
    let mut after = before.clone();
    strip_hop_by_hop(&mut after, keep_upgrade);
    let hosts = |h: &HeaderMap| h.get_all(header::HOST).iter().cloned().collect::<Vec<_>>();
    assert_eq!(hosts(before), hosts(&after), "Host changed");
    let named: Vec<String> = before
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|t| t.trim().to_ascii_lowercase())
        .collect();
    let tunnel = keep_upgrade && before.contains_key(header::UPGRADE);
    for (name, value) in &after {
        let name = name.as_str();
        let allowed = (name == "te" && value == "trailers")
            || (tunnel && name == "upgrade")
            || (tunnel && name == "connection" && value == "upgrade");
        let hop = HOP_BY_HOP.contains(&name) || (name != "host" && named.iter().any(|n| n == name));
        assert!(!hop || allowed, "{name}: {value:?} was forwarded");
    }
    for name in before.keys() {
        let hop = HOP_BY_HOP.contains(&name.as_str()) || named.iter().any(|n| n == name.as_str());
        if !hop || name == header::HOST {
            let values = |h: &HeaderMap| h.get_all(name).iter().cloned().collect::<Vec<_>>();
            assert_eq!(values(before), values(&after), "{name} changed");
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let Some(mut req) = request(data) else {
        return;
    };
    checks(&req);
    stripped(req.headers(), false);
    stripped(req.headers(), true);
    *req.version_mut() = Version::HTTP_2;
    checks(&req);
});
