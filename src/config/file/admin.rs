//! The serde model of the `admin:` block.

use serde::Deserialize;
use serde_saphyr::Spanned;

/// `admin:`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct AdminFile {
    /// `host:port` to bind the admin API.
    pub address: Option<Spanned<String>>,
    /// File holding the bearer token for non-GET requests.
    pub token_file: Option<Spanned<String>>,
    /// Environment variable holding that token.
    pub token_env: Option<Spanned<String>>,
}
