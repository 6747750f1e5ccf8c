//! What the pool tells the layers above it about a connection, as values
//! they can look for without knowing the pool: when a connection became
//! ready (a response extension), and that a connection could not be made
//! (an error in the `source()` chain).

use tokio::time::Instant;

use crate::wire::BoxError;

/// When an upstream connection became ready to carry requests; the pool
/// puts it in every response the connection carries, so the balancer can
/// leave connection setup out of an endpoint's latency.
#[derive(Clone, Copy, Debug)]
pub struct ConnectionReady(pub Instant);

/// The connection to an endpoint could not be made (refused, timed out,
/// TLS handshake failed): the request was never sent.
#[derive(Debug, thiserror::Error)]
#[error("upstream connect failed")]
pub struct ConnectFailed(#[source] pub BoxError);
