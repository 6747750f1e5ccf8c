//! The serde model of the `admin:` block.

use serde::Deserialize;
use serde_saphyr::Spanned;

/// `admin:`
#[derive(Debug, Deserialize)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub(crate) struct AdminFile {
    /// `host:port` to bind the admin API.
    #[cfg_attr(test, schemars(with = "Option<String>"))]
    pub address: Option<Spanned<String>>,
    /// File holding the bearer token for non-GET requests.
    #[cfg_attr(test, schemars(with = "Option<String>"))]
    pub token_file: Option<Spanned<String>>,
    /// Environment variable holding that token.
    #[cfg_attr(test, schemars(with = "Option<String>"))]
    pub token_env: Option<Spanned<String>>,
}
