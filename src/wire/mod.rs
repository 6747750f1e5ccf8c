//! The shared vocabulary every layer may use: body types, the error type
//! carried between layers, header helpers, and the names and reason codes
//! of seawall's own headers. A leaf: it imports nothing from the crate.

pub mod body;
pub mod grpc;
pub mod headers;
pub mod reason;
pub mod trail;

/// The error type carried between layers; mapped to a response once, in
/// the downstream handler's `rescue`.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;
