//! HTTP/1.1 upgrades (`Connection: upgrade` + `Upgrade: x`): answered with
//! 101, after which the connection echoes every byte back raw.
//!
//! No WebSocket framing: the point is to test that a proxy passes an
//! upgraded connection through byte for byte, whatever the protocol.

use hyper::body::Incoming;
use hyper::header::{CONNECTION, HeaderValue, UPGRADE};
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::io::AsyncWriteExt;

use crate::body::UpstreamBody;
use crate::state::InFlight;

/// Whether the request asks to switch protocols.
pub fn requested(req: &Request<Incoming>) -> bool {
    let asks_upgrade = req.headers().get_all(CONNECTION).iter().any(|value| {
        value.to_str().is_ok_and(|text| {
            text.split(',')
                .any(|token| token.trim().eq_ignore_ascii_case("upgrade"))
        })
    });
    asks_upgrade && req.headers().contains_key(UPGRADE)
}

/// Answers 101 and spawns the echo of the upgraded connection. The request
/// stays in flight until the tunnel closes.
pub fn accept(mut req: Request<Incoming>, in_flight: InFlight) -> Response<UpstreamBody> {
    let protocol = req
        .headers()
        .get(UPGRADE)
        .cloned()
        .unwrap_or_else(|| HeaderValue::from_static("echo"));
    let on_upgrade = hyper::upgrade::on(&mut req);
    tokio::spawn(async move {
        let _in_flight = in_flight;
        let upgraded = match on_upgrade.await {
            Ok(upgraded) => upgraded,
            Err(error) => {
                tracing::debug!(%error, "upgrade failed");
                return;
            }
        };
        let (mut reader, mut writer) = tokio::io::split(TokioIo::new(upgraded));
        match tokio::io::copy(&mut reader, &mut writer).await {
            Ok(bytes) => tracing::debug!(bytes, "upgraded connection closed"),
            Err(error) => tracing::debug!(%error, "upgraded connection failed"),
        }
        let _ = writer.shutdown().await;
    });

    let mut response = Response::new(UpstreamBody::empty());
    *response.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    let headers = response.headers_mut();
    headers.insert(CONNECTION, HeaderValue::from_static("upgrade"));
    headers.insert(UPGRADE, protocol);
    response
}
