//! The upstream side: the client a cluster sends its requests with, its
//! connection pool (HTTP/1 and HTTP/2 on hyper's connection API), counted
//! connectors, and the connection facts the layers above read.
//!
//! Below every middleware: it knows nothing of balancing, retries or
//! breakers, only how to carry one request to one address.

pub mod client;
pub mod counted;
mod facts;
pub mod pool;

pub use facts::{ConnectFailed, ConnectionReady};
