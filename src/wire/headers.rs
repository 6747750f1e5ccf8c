//! Header hygiene between hops.
//!
//! A proxy must not forward what belongs to one connection (RFC 9110 §7.6.1):
//! the fixed hop-by-hop set and every header the `Connection` header names.
//! Two exceptions are deliberate: `te: trailers` is end-to-end in practice
//! (gRPC needs it upstream), and `Upgrade`/`Connection: upgrade` survive on
//! requests we tunnel (WebSocket).
//!
//! `Host` is never stripped, whatever `Connection` names: seawall routes on
//! the client's Host, and an upstream serving virtual hosts must see the
//! same one (`Connection: Host` would otherwise make the pool fill in the
//! endpoint's address).

use std::net::IpAddr;

use http::header::{self, Entry, HeaderMap, HeaderName, HeaderValue};

/// The request-id header seawall generates when absent and echoes back.
pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");
/// `X-Forwarded-For`: the chain of client addresses.
pub const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
/// `X-Forwarded-Proto`: the scheme the original client used.
pub const X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");
/// `X-Forwarded-Host`: the host the original client asked for.
pub const X_FORWARDED_HOST: HeaderName = HeaderName::from_static("x-forwarded-host");
/// W3C trace context, logged with each request.
pub const TRACEPARENT: HeaderName = HeaderName::from_static("traceparent");

/// Hop-by-hop headers that are never forwarded (besides those named in
/// `Connection`). `Proxy-Connection` is not standard but still sent by old
/// clients; forwarding it confuses some servers.
// `HeaderName`s, not `&str`s: a string is parsed into a header name on
// every lookup, and this list is stripped twice per request.
const HOP_BY_HOP: [HeaderName; 8] = [
    header::CONNECTION,
    HeaderName::from_static("proxy-connection"),
    HeaderName::from_static("keep-alive"),
    header::TE,
    header::TRAILER,
    header::TRANSFER_ENCODING,
    header::UPGRADE,
    header::PROXY_AUTHENTICATE,
];

/// Removes hop-by-hop headers. With `keep_upgrade`, `Upgrade` and a
/// `Connection: upgrade` survive so the next hop can complete the tunnel.
pub fn strip_hop_by_hop(headers: &mut HeaderMap, keep_upgrade: bool) {
    // Most messages carry none of them: one pass over the names present
    // costs less than a hashed lookup for every name in the list.
    if !headers.keys().any(|name| HOP_BY_HOP.contains(name)) {
        return;
    }
    let keeps_trailers = headers
        .get_all(header::TE)
        .iter()
        .any(|v| has_token(v, "trailers"));
    // Headers named by `Connection` are hop-by-hop too, except Host.
    let named: Vec<HeaderName> = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|t| HeaderName::from_bytes(t.trim().as_bytes()).ok())
        .filter(|name| name != header::HOST)
        .collect();
    let upgrade = headers.get(header::UPGRADE).cloned();
    for name in named {
        headers.remove(name);
    }
    for name in &HOP_BY_HOP {
        headers.remove(name);
    }
    if keeps_trailers {
        headers.insert(header::TE, HeaderValue::from_static("trailers"));
    }
    if keep_upgrade && let Some(upgrade) = upgrade {
        headers.insert(header::UPGRADE, upgrade);
        headers.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
    }
}

/// Maps with at most this many values are searched by comparing names.
const SCAN_UP_TO: usize = 12;

/// The first value of `name`, like `HeaderMap::get`, but found by comparing
/// names when the map is small. A lookup hashes the whole name (byte by
/// byte, for the `x-`/`grpc-` names seawall reads); most requests carry a
/// handful of headers and not the one asked for, and a walk over their
/// names (a slice; `iter` costs far more) finds that out for less.
pub fn find<'a>(headers: &'a HeaderMap, name: &HeaderName) -> Option<&'a HeaderValue> {
    if headers.len() > SCAN_UP_TO {
        return headers.get(name);
    }
    let there = headers.keys().any(|k| k == name);
    there.then(|| headers.iter().find_map(|(k, v)| (k == name).then_some(v)))?
}

/// Whether any of `names` is present: one walk over a small map's names.
pub fn has_any(headers: &HeaderMap, names: &[HeaderName]) -> bool {
    if headers.len() <= SCAN_UP_TO {
        headers.keys().any(|k| names.contains(k))
    } else {
        names.iter().any(|n| headers.contains_key(n))
    }
}

/// True when a comma-separated header value contains `token` (ASCII
/// case-insensitive).
pub fn has_token(value: &HeaderValue, token: &str) -> bool {
    value
        .to_str()
        .map(|v| v.split(',').any(|t| t.trim().eq_ignore_ascii_case(token)))
        .unwrap_or(false)
}

/// True when the request asks for a protocol upgrade that seawall tunnels
/// (`Connection: upgrade` plus an `Upgrade` other than `h2c`: a cleartext
/// h2 upgrade through a proxy is a smuggling vector, so it is ignored).
pub fn is_tunnel_upgrade(headers: &HeaderMap) -> bool {
    let asks = headers
        .get_all(header::CONNECTION)
        .iter()
        .any(|v| has_token(v, "upgrade"));
    match headers.get(header::UPGRADE) {
        Some(proto) if asks => !has_token(proto, "h2c"),
        _ => false,
    }
}

/// A client address as the `X-Forwarded-For` element it becomes. Made once
/// per downstream connection, so requests on it add the header without
/// formatting the address again.
pub fn client_value(client: IpAddr) -> HeaderValue {
    HeaderValue::try_from(client.to_string())
        .unwrap_or_else(|_| HeaderValue::from_static("unknown"))
}

/// Adds `X-Forwarded-For` (appended), and `X-Forwarded-Proto` /
/// `X-Forwarded-Host` when an earlier hop has not set them. `client` comes
/// from [`client_value`]; `host` becomes the header's value without a copy.
pub fn add_forwarded(
    headers: &mut HeaderMap,
    client: &HeaderValue,
    proto: &'static str,
    host: String,
) {
    // One hashed lookup per header (the entry API), not a look then a write.
    match headers.entry(X_FORWARDED_FOR) {
        Entry::Occupied(mut prev) => {
            let appended = match prev.get().to_str() {
                Ok(p) if !p.trim().is_empty() => {
                    HeaderValue::try_from(format!("{p}, {}", client.to_str().unwrap_or("unknown")))
                        .ok()
                }
                _ => Some(client.clone()),
            };
            if let Some(value) = appended {
                prev.insert(value);
            }
        }
        Entry::Vacant(slot) => {
            slot.insert(client.clone());
        }
    }
    if let Entry::Vacant(slot) = headers.entry(X_FORWARDED_PROTO) {
        slot.insert(HeaderValue::from_static(proto));
    }
    if let Entry::Vacant(slot) = headers.entry(X_FORWARDED_HOST)
        && let Ok(value) = shared_value(host)
    {
        slot.insert(value);
    }
}

/// Appends this hop to `Via` (RFC 9110 §7.6.3).
pub fn add_via(headers: &mut HeaderMap, version: http::Version) {
    let hop = match version {
        http::Version::HTTP_2 => "2 seawall",
        http::Version::HTTP_10 => "1.0 seawall",
        _ => "1.1 seawall",
    };
    match headers.entry(header::VIA) {
        Entry::Occupied(mut prev) => {
            let appended = prev
                .get()
                .to_str()
                .ok()
                .and_then(|p| HeaderValue::try_from(format!("{p}, {hop}")).ok());
            if let Some(value) = appended {
                prev.insert(value);
            }
        }
        Entry::Vacant(slot) => {
            slot.insert(HeaderValue::from_static(hop));
        }
    }
}

/// Returns the request's `x-request-id`, generating one when absent or empty.
pub fn ensure_request_id(headers: &mut HeaderMap) -> HeaderValue {
    match headers.entry(REQUEST_ID) {
        Entry::Occupied(id) if !id.get().is_empty() => id.get().clone(),
        Entry::Occupied(mut empty) => {
            let id = new_request_id();
            empty.insert(id.clone());
            id
        }
        Entry::Vacant(slot) => slot.insert(new_request_id()).clone(),
    }
}

/// 128 random bits as 32 lower-case hex digits, without `fmt`.
fn new_request_id() -> HeaderValue {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let bits = fastrand::u128(..);
    let mut digits = [0u8; 32];
    for (i, d) in digits.iter_mut().enumerate() {
        *d = HEX[((bits >> (124 - 4 * i)) & 0xf) as usize];
    }
    shared_value(digits).unwrap_or_else(|_| HeaderValue::from_static("invalid"))
}

/// A header value that owns `bytes` behind a reference count, so the
/// copies the request id and the retry layer make cost no allocation
/// (`HeaderValue::from_bytes` copies into a buffer that allocates again at
/// its first clone).
fn shared_value<T>(bytes: T) -> Result<HeaderValue, http::header::InvalidHeaderValue>
where
    T: AsRef<[u8]> + Send + 'static,
{
    HeaderValue::from_maybe_shared(bytes::Bytes::from_owner(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(
                HeaderName::from_bytes(k.as_bytes()).unwrap(),
                HeaderValue::from_str(v).unwrap(),
            );
        }
        h
    }

    #[test]
    fn find_agrees_with_get_on_small_and_large_maps() {
        let mut small = map(&[
            ("host", "a"),
            ("x-a", "1"),
            ("x-a", "2"),
            ("te", "trailers"),
        ]);
        let mut large = small.clone();
        for i in 0..SCAN_UP_TO {
            large.append(
                HeaderName::try_from(format!("x-pad-{i}")).unwrap(),
                HeaderValue::from_static("p"),
            );
        }
        small.append(header::VIA, HeaderValue::from_static("v"));
        large.append(header::VIA, HeaderValue::from_static("v"));
        assert!(small.len() <= SCAN_UP_TO && large.len() > SCAN_UP_TO);
        for h in [&small, &large] {
            for name in ["host", "x-a", "te", "via", "x-b", "x-pad-0", "traceparent"] {
                let name = HeaderName::from_static(name);
                assert_eq!(find(h, &name), h.get(&name), "{name}");
                let names = [HeaderName::from_static("x-other"), name.clone()];
                assert_eq!(has_any(h, &names), h.contains_key(&name), "{name}");
            }
        }
    }

    #[test]
    fn strips_fixed_and_connection_named_headers() {
        let mut h = map(&[
            ("connection", "keep-alive, x-secret-hop"),
            ("keep-alive", "timeout=5"),
            ("x-secret-hop", "1"),
            ("transfer-encoding", "chunked"),
            ("proxy-connection", "keep-alive"),
            ("upgrade", "websocket"),
            ("x-end-to-end", "kept"),
        ]);
        strip_hop_by_hop(&mut h, false);
        assert_eq!(h.len(), 1, "{h:?}");
        assert_eq!(h["x-end-to-end"], "kept");
    }

    #[test]
    fn host_survives_whatever_connection_names() {
        let mut h = map(&[("connection", "Host, close"), ("host", "site.example")]);
        strip_hop_by_hop(&mut h, false);
        assert_eq!(h["host"], "site.example");
        assert!(!h.contains_key("connection"));
    }

    #[test]
    fn keeps_te_trailers_only() {
        let mut h = map(&[("te", "trailers, deflate")]);
        strip_hop_by_hop(&mut h, false);
        assert_eq!(h["te"], "trailers");
        let mut h = map(&[("te", "gzip")]);
        strip_hop_by_hop(&mut h, false);
        assert!(!h.contains_key("te"));
    }

    #[test]
    fn keeps_upgrade_for_tunnels() {
        let mut h = map(&[("connection", "Upgrade"), ("upgrade", "websocket")]);
        assert!(is_tunnel_upgrade(&h));
        strip_hop_by_hop(&mut h, true);
        assert_eq!(h["upgrade"], "websocket");
        assert_eq!(h["connection"], "upgrade");
    }

    #[test]
    fn h2c_upgrade_is_not_a_tunnel() {
        let h = map(&[
            ("connection", "upgrade, http2-settings"),
            ("upgrade", "h2c"),
        ]);
        assert!(!is_tunnel_upgrade(&h));
    }

    #[test]
    fn forwarded_headers_append_and_preserve() {
        let mut h = map(&[
            ("x-forwarded-for", "10.0.0.1"),
            ("x-forwarded-proto", "https"),
        ]);
        let client = client_value("127.0.0.1".parse().unwrap());
        add_forwarded(&mut h, &client, "http", "api.local".into());
        assert_eq!(h["x-forwarded-for"], "10.0.0.1, 127.0.0.1");
        assert_eq!(h["x-forwarded-proto"], "https");
        assert_eq!(h["x-forwarded-host"], "api.local");
    }

    #[test]
    fn request_id_is_generated_once_and_kept() {
        let mut h = HeaderMap::new();
        let id = ensure_request_id(&mut h);
        assert_eq!(id.len(), 32);
        assert!(
            id.as_bytes()
                .iter()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(b)),
            "{id:?}"
        );
        assert_eq!(ensure_request_id(&mut h), id);
        let other = ensure_request_id(&mut HeaderMap::new());
        assert_ne!(other, id, "each request gets its own id");
    }

    #[test]
    fn a_message_without_hop_by_hop_headers_is_left_alone() {
        let mut h = map(&[("host", "a"), ("accept", "*/*"), ("x-te", "1")]);
        let before = h.clone();
        strip_hop_by_hop(&mut h, false);
        assert_eq!(h, before);
        let mut h = map(&[("accept", "*/*"), ("trailer", "x-checksum")]);
        strip_hop_by_hop(&mut h, false);
        assert_eq!(
            h.len(),
            1,
            "one hop-by-hop header is enough to strip: {h:?}"
        );
    }

    #[test]
    fn forwarded_for_starts_with_the_client() {
        let mut h = HeaderMap::new();
        add_forwarded(
            &mut h,
            &client_value("::1".parse().unwrap()),
            "https",
            "a".into(),
        );
        assert_eq!(h["x-forwarded-for"], "::1");
        assert_eq!(h["x-forwarded-proto"], "https");
    }

    #[test]
    fn via_starts_with_this_hop() {
        let mut h = HeaderMap::new();
        add_via(&mut h, http::Version::HTTP_2);
        assert_eq!(h["via"], "2 seawall");
    }

    #[test]
    fn via_appends_this_hop() {
        let mut h = map(&[("via", "1.1 edge")]);
        add_via(&mut h, http::Version::HTTP_11);
        assert_eq!(h["via"], "1.1 edge, 1.1 seawall");
    }
}
