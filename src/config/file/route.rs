//! The serde model of one entry of `listeners[].routes:`.

use serde::Deserialize;
use serde_saphyr::Spanned;

use super::admission::AdmissionFile;
use super::retry::RetryFile;
use super::timeouts::TimeoutsFile;

/// One entry of `listeners[].routes:`.
#[derive(Debug, Deserialize)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub(crate) struct RouteFile {
    /// Unique name within the listener.
    #[cfg_attr(test, schemars(with = "String"))]
    pub name: Spanned<String>,
    /// What requests this route takes; absent means everything.
    #[serde(rename = "match")]
    pub matches: Option<MatchFile>,
    /// Name of the cluster requests go to.
    #[cfg_attr(test, schemars(with = "String"))]
    pub cluster: Spanned<String>,
    /// This route's own timeouts, replacing the cluster's.
    pub timeouts: Option<TimeoutsFile>,
    /// The route's own compartment; absent keys come from the cluster's.
    pub admission: Option<AdmissionFile>,
    /// The route's retry policy; absent keys come from the cluster's.
    pub retry: Option<RetryFile>,
    /// `critical`, `default` or `sheddable`: who is refused first under
    /// overload.
    pub priority: Option<PriorityFile>,
}

/// `routes[].priority`
#[derive(Clone, Copy, Debug, Deserialize)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub(crate) enum PriorityFile {
    /// Refused only when nothing else is left to refuse.
    Critical,
    /// Refused after sheddable requests.
    Default,
    /// Refused first.
    Sheddable,
}

/// `routes[].match:`
#[derive(Debug, Deserialize)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub(crate) struct MatchFile {
    /// Exact host or `*.suffix`.
    #[cfg_attr(test, schemars(with = "Option<String>"))]
    pub host: Option<Spanned<String>>,
    /// Path prefix, starting with `/`.
    #[cfg_attr(test, schemars(with = "Option<String>"))]
    pub path_prefix: Option<Spanned<String>>,
    /// HTTP methods.
    #[cfg_attr(test, schemars(with = "Option<Vec<String>>"))]
    pub methods: Option<Spanned<Vec<Spanned<String>>>>,
}
