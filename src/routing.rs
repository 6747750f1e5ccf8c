//! Route matching: host, path prefix, method.
//!
//! The longest matching path prefix wins; on equal prefixes an exact host
//! beats a wildcard host beats no host, and then file order decides. A
//! linear scan is deliberate: sidecars carry a handful of routes, and a scan
//! over a small `Vec` beats a trie until well past a hundred.

use std::sync::Arc;

use http::Method;

use crate::config::RouteSettings;

/// How well a route matches: (path prefix length, host specificity).
type Rank = (usize, u8);

/// One route of a listener, with its compiled match.
#[derive(Debug)]
pub struct Route<T> {
    /// The route's validated settings.
    pub settings: RouteSettings,
    /// What the route leads to (the route stack).
    pub target: T,
    methods: Option<Vec<Method>>,
}

/// A listener's routes.
#[derive(Debug)]
pub struct RouteTable<T> {
    routes: Vec<Arc<Route<T>>>,
}

impl<T> RouteTable<T> {
    /// Compiles routes; `target` builds each route's target.
    pub fn new(routes: impl IntoIterator<Item = (RouteSettings, T)>) -> Self {
        let routes = routes
            .into_iter()
            .map(|(settings, target)| {
                let methods = settings.methods.as_ref().map(|ms| {
                    ms.iter()
                        .filter_map(|m| Method::from_bytes(m.as_bytes()).ok())
                        .collect()
                });
                Arc::new(Route {
                    settings,
                    target,
                    methods,
                })
            })
            .collect();
        Self { routes }
    }

    /// Finds the route for a request. `host` is lower-case without port.
    pub fn find(&self, host: &str, path: &str, method: &Method) -> Option<&Arc<Route<T>>> {
        // Rank: (prefix length, host specificity); higher is better.
        let mut best: Option<(&Arc<Route<T>>, Rank)> = None;
        for route in &self.routes {
            let s = &route.settings;
            if !path.starts_with(s.path_prefix.as_str()) {
                continue;
            }
            if let Some(methods) = &route.methods
                && !methods.contains(method)
            {
                continue;
            }
            let host_rank = match &s.host {
                None => 0,
                Some(h) if h == host => 2,
                Some(h) => match h.strip_prefix("*.") {
                    Some(suffix) if host.len() > suffix.len() + 1 && host.ends_with(suffix) => {
                        let dot = host.len() - suffix.len() - 1;
                        if host.as_bytes()[dot] == b'.' {
                            1
                        } else {
                            continue;
                        }
                    }
                    _ => continue,
                },
            };
            let rank = (s.path_prefix.len(), host_rank);
            if best.as_ref().is_none_or(|(_, b)| rank > *b) {
                best = Some((route, rank));
            }
        }
        best.map(|(r, _)| r)
    }

    /// The routes in file order.
    pub fn routes(&self) -> impl Iterator<Item = &Arc<Route<T>>> {
        self.routes.iter()
    }
}

/// Normalizes a Host header or URI authority for matching: lower-case, no
/// port, no trailing dot. Returns `None` when it is not a valid host.
pub fn normalize_host(authority: &str) -> Option<String> {
    if let Some(host) = plain_host(authority) {
        return Some(host.to_owned());
    }
    let authority: http::uri::Authority = authority.parse().ok()?;
    if authority.as_str().contains('@') {
        return None;
    }
    // `http` accepts any characters after the colon; RFC 3986 allows digits.
    let port = authority.as_str()[authority.host().len()..].trim_start_matches(':');
    if !port.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let host = authority.host().trim_end_matches('.');
    if host.is_empty() {
        return None;
    }
    Some(host.to_ascii_lowercase())
}

/// The common case without parsing or copying: a lower-case name or IPv4
/// address, optionally with a numeric port. Anything else (upper case,
/// IPv6, odd characters) returns `None` and takes the full parse.
fn plain_host(authority: &str) -> Option<&str> {
    let (host, port) = match authority.rsplit_once(':') {
        Some((host, port)) => (host, Some(port)),
        None => (authority, None),
    };
    let name = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.';
    let port_ok = port.is_none_or(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()));
    let host = host.trim_end_matches('.');
    (port_ok && !host.is_empty() && host.bytes().all(name)).then_some(host)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn route(
        name: &str,
        host: Option<&str>,
        prefix: &str,
        methods: Option<&[&str]>,
    ) -> (RouteSettings, &'static str) {
        let name_static: &'static str = Box::leak(name.to_string().into_boxed_str());
        (
            RouteSettings {
                name: name.into(),
                host: host.map(Into::into),
                path_prefix: prefix.into(),
                methods: methods.map(|m| m.iter().map(|s| s.to_string()).collect()),
                cluster: "c".into(),
                timeouts: Default::default(),
                admission: None,
                retry: Default::default(),
                priority: Default::default(),
            },
            name_static,
        )
    }

    fn find(
        t: &RouteTable<&'static str>,
        host: &str,
        path: &str,
        m: Method,
    ) -> Option<&'static str> {
        t.find(host, path, &m).map(|r| r.target)
    }

    #[test]
    fn longest_prefix_wins_regardless_of_order() {
        let t = RouteTable::new([
            route("root", None, "/", None),
            route("api", None, "/api", None),
            route("v2", None, "/api/v2", None),
        ]);
        assert_eq!(find(&t, "x", "/api/v2/users", Method::GET), Some("v2"));
        assert_eq!(find(&t, "x", "/api/v1", Method::GET), Some("api"));
        assert_eq!(find(&t, "x", "/other", Method::GET), Some("root"));
    }

    #[test]
    fn host_specificity_breaks_prefix_ties() {
        let t = RouteTable::new([
            route("any", None, "/", None),
            route("wild", Some("*.example.com"), "/", None),
            route("exact", Some("api.example.com"), "/", None),
        ]);
        assert_eq!(find(&t, "api.example.com", "/", Method::GET), Some("exact"));
        assert_eq!(find(&t, "web.example.com", "/", Method::GET), Some("wild"));
        assert_eq!(find(&t, "example.com", "/", Method::GET), Some("any"));
        assert_eq!(find(&t, "badexample.com", "/", Method::GET), Some("any"));
    }

    #[test]
    fn method_filter_excludes() {
        let t = RouteTable::new([route("writes", None, "/", Some(&["POST"]))]);
        assert_eq!(find(&t, "x", "/", Method::POST), Some("writes"));
        assert_eq!(find(&t, "x", "/", Method::GET), None);
    }

    #[test]
    fn first_in_file_order_wins_exact_ties() {
        let t = RouteTable::new([route("a", None, "/", None), route("b", None, "/", None)]);
        assert_eq!(find(&t, "x", "/", Method::GET), Some("a"));
    }

    #[test]
    fn host_normalization() {
        assert_eq!(
            normalize_host("API.Example.com:8080").as_deref(),
            Some("api.example.com")
        );
        assert_eq!(normalize_host("[::1]:80").as_deref(), Some("[::1]"));
        // The fast path and the full parse agree.
        for (input, want) in [
            ("api.example.com", Some("api.example.com")),
            ("api.example.com.:443", Some("api.example.com")),
            ("10.0.0.1:8080", Some("10.0.0.1")),
            ("Api.example.com", Some("api.example.com")),
            // RFC 3986: the port is *DIGIT, so it may be empty.
            ("host:", Some("host")),
            ("host:8x", None),
            (".", None),
            ("", None),
        ] {
            assert_eq!(normalize_host(input).as_deref(), want, "{input:?}");
        }
        assert_eq!(normalize_host("user@host"), None);
        assert_eq!(normalize_host("bad host"), None);
    }
}
