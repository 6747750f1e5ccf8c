//! seawall: a resilience sidecar proxy built from tower layers.
//!
//! The binary in `main.rs` is a thin shell around this library so that tests
//! and benchmarks reach every part. Modules are listed top to bottom: each
//! may import only the modules below it (`ARCHITECTURE.md` draws the layers
//! and the request path).

pub mod server;

pub mod admin;
pub mod reload;

pub mod downstream;

pub mod routing;
pub mod snapshot;

pub mod stack;

pub mod discovery;

pub mod middleware;

pub mod upstream;

pub mod config;
pub mod telemetry;
pub mod tls;
pub mod wire;
