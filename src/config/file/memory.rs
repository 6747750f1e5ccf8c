//! The serde model of the `memory:` block.

use serde::Deserialize;

/// `memory:`
#[derive(Debug, Deserialize)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub(crate) struct MemoryFile {
    /// Hand heap memory freed by a burst back to the OS once quiet.
    pub release_when_idle: Option<bool>,
}
