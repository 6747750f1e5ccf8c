//! gRPC as seawall reads it: which messages are gRPC, their `grpc-status`
//! (in a trailers-only response's headers, or in the trailers), the codes
//! by name, and the server's retry pushback (gRFC A6).

use std::fmt;
use std::time::Duration;

use http::HeaderMap;
use http::header::{CONTENT_TYPE, HeaderName};

use super::headers::find;
use super::reason::{GRPC_PUSHBACK, GRPC_STATUS};

/// gRPC's status codes, by number, as written in the config (lowercase).
pub const CODE_NAMES: [&str; 17] = [
    "ok",
    "cancelled",
    "unknown",
    "invalid_argument",
    "deadline_exceeded",
    "not_found",
    "already_exists",
    "permission_denied",
    "resource_exhausted",
    "failed_precondition",
    "aborted",
    "out_of_range",
    "unimplemented",
    "internal",
    "unavailable",
    "data_loss",
    "unauthenticated",
];

/// `OK`.
pub const OK: u32 = 0;
/// `CANCELLED`.
pub const CANCELLED: u32 = 1;
/// `UNKNOWN`.
pub const UNKNOWN: u32 = 2;
/// `DEADLINE_EXCEEDED`.
pub const DEADLINE_EXCEEDED: u32 = 4;
/// `RESOURCE_EXHAUSTED`: the server is overloaded (or a quota ran out).
pub const RESOURCE_EXHAUSTED: u32 = 8;
/// `INTERNAL`.
pub const INTERNAL: u32 = 13;
/// `UNAVAILABLE`: the server cannot serve now; safe to retry.
pub const UNAVAILABLE: u32 = 14;

/// The previous attempts of a retried call, sent upstream (gRFC A6).
pub const PREVIOUS_ATTEMPTS: HeaderName = HeaderName::from_static("grpc-previous-rpc-attempts");

/// A set of gRPC status codes.
#[derive(Clone, Copy, Default, PartialEq, Eq)]
pub struct Codes(u32);

impl Codes {
    /// The set of `codes` (each below 17).
    pub const fn of(codes: &[u32]) -> Self {
        let mut bits = 0;
        let mut i = 0;
        while i < codes.len() {
            bits |= 1 << codes[i];
            i += 1;
        }
        Self(bits)
    }

    /// Whether `code` is in the set.
    pub const fn contains(self, code: u32) -> bool {
        code < 32 && self.0 & (1 << code) != 0
    }

    /// Adds `code` (below 17).
    pub fn insert(&mut self, code: u32) {
        self.0 |= 1 << code;
    }

    /// The names of the codes in the set, in code order.
    pub fn names(self) -> impl Iterator<Item = &'static str> {
        (0..CODE_NAMES.len() as u32)
            .filter(move |&c| self.contains(c))
            .map(|c| CODE_NAMES[c as usize])
    }
}

impl fmt::Debug for Codes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.names()).finish()
    }
}

impl serde::Serialize for Codes {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.names())
    }
}

/// The code called `name` (`unavailable`, `UNAVAILABLE`, or `14`).
pub fn code_named(name: &str) -> Option<u32> {
    if let Ok(n) = name.parse::<u32>() {
        return (n < CODE_NAMES.len() as u32).then_some(n);
    }
    let lower = name.to_ascii_lowercase();
    CODE_NAMES
        .iter()
        .position(|&c| c == lower)
        .map(|i| i as u32)
}

/// Whether `headers` (a request's or a response's) say gRPC:
/// `content-type: application/grpc`, `application/grpc+proto`,
/// `application/grpc;…`. Not gRPC-Web (`application/grpc-web…`).
pub fn is_grpc(headers: &HeaderMap) -> bool {
    find(headers, &CONTENT_TYPE).is_some_and(|v| {
        match v.as_bytes().strip_prefix(b"application/grpc") {
            Some(rest) => rest.is_empty() || rest[0] == b'+' || rest[0] == b';',
            None => false,
        }
    })
}

/// The `grpc-status` in `fields` (headers of a trailers-only response, or
/// trailers); `UNKNOWN` when present but not a number.
pub fn status(fields: &HeaderMap) -> Option<u32> {
    let value = find(fields, &GRPC_STATUS)?;
    Some(
        std::str::from_utf8(value.as_bytes())
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(UNKNOWN),
    )
}

/// What a gRPC server said about retrying (gRFC A6's pushback).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pushback {
    /// Retry no sooner than this.
    After(Duration),
    /// Do not retry (a negative or malformed value).
    Never,
}

/// The `grpc-retry-pushback-ms` in `headers`, if any.
pub fn pushback(headers: &HeaderMap) -> Option<Pushback> {
    let value = find(headers, &GRPC_PUSHBACK)?;
    let ms = std::str::from_utf8(value.as_bytes())
        .ok()
        .and_then(|s| s.trim().parse::<i64>().ok());
    Some(match ms {
        Some(ms) if ms >= 0 => Pushback::After(Duration::from_millis(ms.unsigned_abs())),
        _ => Pushback::Never,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn fields(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        pairs
            .iter()
            .map(|(k, v)| (HeaderName::from_static(k), HeaderValue::from_static(v)))
            .collect()
    }

    #[test]
    fn grpc_content_types_but_not_grpc_web() {
        for (ct, grpc) in [
            ("application/grpc", true),
            ("application/grpc+proto", true),
            ("application/grpc;charset=utf-8", true),
            ("application/grpc-web", false),
            ("application/json", false),
        ] {
            assert_eq!(is_grpc(&fields(&[("content-type", ct)])), grpc, "{ct}");
        }
    }

    #[test]
    fn status_and_pushback_are_read_and_a_bad_value_is_safe() {
        assert_eq!(status(&fields(&[("grpc-status", "14")])), Some(UNAVAILABLE));
        assert_eq!(status(&fields(&[("grpc-status", "x")])), Some(UNKNOWN));
        assert_eq!(status(&fields(&[])), None);
        let p = |v| pushback(&fields(&[("grpc-retry-pushback-ms", v)]));
        assert_eq!(p("250"), Some(Pushback::After(Duration::from_millis(250))));
        assert_eq!(p("-1"), Some(Pushback::Never));
        assert_eq!(p("soon"), Some(Pushback::Never));
    }

    #[test]
    fn codes_by_name_or_number() {
        assert_eq!(code_named("UNAVAILABLE"), Some(14));
        assert_eq!(code_named("deadline_exceeded"), Some(4));
        assert_eq!(code_named("8"), Some(8));
        assert_eq!(code_named("17"), None);
        assert_eq!(code_named("busy"), None);
        let set = Codes::of(&[UNAVAILABLE, INTERNAL]);
        assert!(set.contains(14) && set.contains(13) && !set.contains(2));
        assert_eq!(set.names().collect::<Vec<_>>(), ["internal", "unavailable"]);
    }
}
