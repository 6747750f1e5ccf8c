//! Typed settings of one route: what it matches and where it sends.

use serde::Serialize;

use super::admission::AdmissionSettings;
use super::retry::RetryPolicy;
use super::timeouts::TimeoutOverrides;

/// One route: a match and the cluster it sends to.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct RouteSettings {
    /// Unique (per listener) route name.
    pub name: String,
    /// Host to match (lower-case, without port); `None` matches any host.
    /// A leading `*.` matches any subdomain.
    pub host: Option<String>,
    /// Path prefix to match, starting with `/`. Longest prefix wins.
    pub path_prefix: String,
    /// Methods to match; `None` matches any method.
    pub methods: Option<Vec<String>>,
    /// Name of the target cluster (validated to exist).
    pub cluster: String,
    /// Timeouts this route sets itself; the rest come from its cluster.
    pub timeouts: TimeoutOverrides,
    /// The route's own admission compartment, when the route has an
    /// `admission:` block (keys it leaves out come from the cluster's block);
    /// `None` shares the cluster's compartment.
    pub admission: Option<AdmissionSettings>,
    /// The route's retry policy: its own `retry:` block over its cluster's,
    /// key by key. The budget is always the cluster's.
    pub retry: RetryPolicy,
    /// Who is refused first under overload (a trusted
    /// `x-seawall-priority` header overrides it per request).
    pub priority: RoutePriority,
}

/// A request's criticality: under overload `sheddable` requests are refused
/// first, then `default` ones; `critical` ones only when nothing else is
/// left to refuse.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RoutePriority {
    /// Refused only when nothing else is left to refuse.
    Critical,
    /// Refused after sheddable requests.
    #[default]
    Default,
    /// Refused first.
    Sheddable,
}
