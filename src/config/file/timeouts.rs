//! The serde model of a `timeouts:` block, on a cluster or a route.

use serde::Deserialize;
use serde_saphyr::Spanned;

/// `clusters[].timeouts:` and `routes[].timeouts:`
#[derive(Debug, Deserialize)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub(crate) struct TimeoutsFile {
    /// Time for a request to get its response started: queueing, every
    /// attempt and backoff, up to the response headers.
    #[cfg_attr(test, schemars(with = "Option<String>"))]
    pub request: Option<Spanned<String>>,
    /// Cap on the whole exchange, response body included; absent: none.
    #[cfg_attr(test, schemars(with = "Option<String>"))]
    pub total: Option<Spanned<String>>,
    /// Time for one attempt, to the response headers.
    #[cfg_attr(test, schemars(with = "Option<String>"))]
    pub attempt: Option<Spanned<String>>,
    /// Time from the request sent in full to the response headers.
    #[cfg_attr(test, schemars(with = "Option<String>"))]
    pub response_header: Option<Spanned<String>>,
    /// Longest pause within a request or response body.
    #[cfg_attr(test, schemars(with = "Option<String>"))]
    pub body_idle: Option<Spanned<String>>,
}
