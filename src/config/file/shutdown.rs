//! The serde model of the `shutdown:` block.

use serde::Deserialize;
use serde_saphyr::Spanned;

/// `shutdown:`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ShutdownFile {
    /// Time in-flight requests get after SIGTERM.
    pub drain_timeout: Option<Spanned<String>>,
}
