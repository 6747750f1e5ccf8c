//! The serde model of the `shutdown:` block.

use serde::Deserialize;
use serde_saphyr::Spanned;

/// `shutdown:`
#[derive(Debug, Deserialize)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub(crate) struct ShutdownFile {
    /// Time in-flight requests get after SIGTERM.
    #[cfg_attr(test, schemars(with = "Option<String>"))]
    pub drain_timeout: Option<Spanned<String>>,
}
