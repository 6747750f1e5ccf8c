//! Helpers shared by every black-box test in `integration/` (`mod common;`).
//!
//! - [`Upstream`]: a real `seawall-upstream` process on `127.0.0.1:0`, ready
//!   when it has printed its address, killed when dropped.
//! - [`send`], [`send_h2c`]: one request over HTTP/1.1 or h2c prior
//!   knowledge, collected into a [`Reply`] (body and trailers).
//! - [`raw_request`], [`read_head`]: bytes on a bare TCP socket, for
//!   malformed requests and upgraded connections; [`h2_frame`],
//!   [`read_goaway`]: raw HTTP/2 frames, for abuse no client would send.
//! - [`Seawall`] (in-process, port 0) and [`SeawallProcess`] (the binary).
//! - [`abuse`]: legitimate load that counts its successes, slowloris
//!   clients, and a thread of their own for attackers.
//! - [`grpc`]: a tonic server and client of a small test service (unary
//!   calls answering a chosen `grpc-status`, server streams of a chosen
//!   length and pace), used as `common::grpc::GrpcUpstream` and so on.
//!
//! Each test file uses a subset, hence `dead_code` is allowed here.
#![allow(dead_code, unused_imports)]

pub mod abuse;
mod client;
pub mod grpc;
pub mod load;
mod logs;
pub mod otlp;
mod raw;
mod seawall;
mod upstream;

pub use client::*;
pub use logs::*;
pub use raw::*;
pub use seawall::*;
pub use upstream::*;

use std::future::Future;
use std::time::Duration;

/// How long a helper waits for something that should be quick before it
/// panics. Generous: CI machines are slow and noisy.
pub const PATIENCE: Duration = Duration::from_secs(10);

/// Polls `check` every 10 ms until it returns true; panics with `what`
/// after [`PATIENCE`]. For waiting on state the test cannot be told about
/// (counters, closed connections) without sleeping a fixed time.
pub async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while !check().await {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out after {PATIENCE:?} waiting for: {what}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}
