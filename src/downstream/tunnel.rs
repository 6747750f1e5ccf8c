//! Upgraded connections (WebSocket and other `Upgrade` protocols).
//!
//! After the upstream answers 101, both sides hand over their raw
//! connections and bytes are copied both ways until either side closes.
//! The route stack is not involved any more: a tunnel is one long request.

use hyper::upgrade::OnUpgrade;
use hyper_util::rt::TokioIo;

/// Joins the downstream and upstream upgraded connections in a task.
pub fn spawn(downstream: OnUpgrade, upstream: OnUpgrade) {
    tokio::spawn(async move {
        let (down, up) = match tokio::try_join!(downstream, upstream) {
            Ok(pair) => pair,
            Err(e) => {
                tracing::debug!(error = %e, "upgrade failed");
                return;
            }
        };
        let (mut down, mut up) = (TokioIo::new(down), TokioIo::new(up));
        match tokio::io::copy_bidirectional(&mut down, &mut up).await {
            Ok((sent, received)) => tracing::debug!(sent, received, "tunnel closed"),
            Err(e) => tracing::debug!(error = %e, "tunnel ended with error"),
        }
    });
}
