//! Typed settings of the admin listener, and its bearer token.

use std::net::SocketAddr;

use serde::Serialize;

/// Admin listener settings.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct AdminSettings {
    /// Address to bind; loopback by default.
    pub address: SocketAddr,
    /// Bearer token that state-changing (non-GET) admin requests must
    /// carry; `None`: no token (fine on loopback).
    pub token: Option<AdminToken>,
}

/// An admin bearer token, read from `admin.token_file` or
/// `admin.token_env`. Never printed: `Debug` and the `/config` view show
/// `<redacted>`.
#[derive(Clone, PartialEq, Eq)]
pub struct AdminToken(String);

impl AdminToken {
    /// A token from its text (already trimmed, not empty).
    pub fn new(token: String) -> Self {
        Self(token)
    }

    /// The secret, for comparison only.
    pub fn expose(&self) -> &[u8] {
        self.0.as_bytes()
    }
}

impl std::fmt::Debug for AdminToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AdminToken(<redacted>)")
    }
}

impl Serialize for AdminToken {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str("<redacted>")
    }
}
