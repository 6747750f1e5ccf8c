//! Property tests of request hygiene: arbitrary header maps through
//! `strip_hop_by_hop` and host normalisation never
//! panic, and never leave a hop-by-hop header behind.
//!
//! Names are drawn mostly from the headers that matter (hop-by-hop ones,
//! framing, Host) plus random tokens, and values from comma-separated
//! lists of such names and odd bytes, so `Connection` often names headers
//! that are present. Case counts are bounded to keep the run short.

use http::header::{HeaderMap, HeaderName, HeaderValue};
use proptest::prelude::*;

use crate::routing::normalize_host;
use crate::wire::headers::{has_token, strip_hop_by_hop};

const NAMES: &[&str] = &[
    "connection",
    "proxy-connection",
    "keep-alive",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "proxy-authenticate",
    "content-length",
    "host",
    "x-secret",
    "x-end-to-end",
    "http2-settings",
];

const HOP_BY_HOP: &[&str] = &[
    "connection",
    "proxy-connection",
    "keep-alive",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "proxy-authenticate",
];

fn name() -> impl Strategy<Value = HeaderName> {
    prop_oneof![
        3 => prop::sample::select(NAMES).prop_map(HeaderName::from_static),
        1 => "[a-z][a-z0-9-]{0,12}".prop_map(|n| HeaderName::from_bytes(n.as_bytes()).unwrap()),
    ]
}

fn value() -> impl Strategy<Value = HeaderValue> {
    let token = prop_oneof![
        prop::sample::select(NAMES).prop_map(str::to_owned),
        Just("trailers".to_owned()),
        Just("chunked".to_owned()),
        "[ -~]{0,10}",
    ];
    prop::collection::vec(token, 0..4)
        .prop_map(|parts| HeaderValue::from_str(&parts.join(", ")).unwrap())
}

fn header_map() -> impl Strategy<Value = HeaderMap> {
    prop::collection::vec((name(), value()), 0..12).prop_map(|pairs| {
        let mut map = HeaderMap::new();
        for (n, v) in pairs {
            map.append(n, v);
        }
        map
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn stripping_leaves_no_hop_by_hop_header(mut headers in header_map(), keep_upgrade in any::<bool>()) {
        let named: Vec<String> = headers
            .get_all("connection")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(|t| t.trim().to_ascii_lowercase())
            .collect();
        let had_upgrade = headers.contains_key("upgrade");
        let hosts: Vec<HeaderValue> = headers.get_all("host").iter().cloned().collect();
        strip_hop_by_hop(&mut headers, keep_upgrade);
        // Host is never hop-by-hop, whatever `Connection` names.
        prop_assert!(headers.get_all("host").iter().eq(hosts.iter()));
        for name in HOP_BY_HOP.iter().copied().map(str::to_owned).chain(named) {
            let Some(v) = headers.get(name.as_str()) else { continue };
            let allowed = match name.as_str() {
                "te" => v == "trailers",
                "upgrade" => keep_upgrade && had_upgrade,
                "connection" => keep_upgrade && had_upgrade && v == "upgrade",
                "host" => true,
                _ => false,
            };
            prop_assert!(allowed, "{name}: {v:?} survived in {headers:?}");
        }
        prop_assert!(headers.get_all("te").iter().count() <= 1);
    }

    #[test]
    fn host_normalisation_is_total_and_canonical(raw in "[ -~]{0,40}") {
        if let Some(host) = normalize_host(&raw) {
            prop_assert!(!host.is_empty());
            prop_assert_eq!(host.to_ascii_lowercase(), host.clone());
            prop_assert!(!host.ends_with('.'));
            prop_assert!(!host.contains('@') && !host.contains('/'), "{host}");
            // Idempotent: a normalised host normalises to itself.
            prop_assert_eq!(normalize_host(&host), Some(host));
        }
    }

    #[test]
    fn token_lookup_never_panics(v in value(), token in "[ -~]{0,8}") {
        let _ = has_token(&v, &token);
    }
}
