//! seawall: a resilience sidecar proxy built from tower layers.
//!
//! The binary in `main.rs` is a thin shell around this library so that tests
//! and benchmarks reach every part. The request path and the reasons behind
//! it are described in `ARCHITECTURE.md`.

pub mod admin;
pub mod body;
pub mod config;
pub mod discovery;
pub mod memory;
pub mod middleware;
pub mod proxy;
pub mod reload;
pub mod server;
pub mod snapshot;
pub mod stack;
pub mod telemetry;
pub mod tls;

/// The error type carried between layers; classified once, in `proxy::rescue`.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;
