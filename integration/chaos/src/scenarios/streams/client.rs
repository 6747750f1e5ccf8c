//! The streams of scenario 14 as their clients see them: each on its own
//! connection (HTTP/1.1 for the SSE-like ones, h2c for the gRPC-shaped
//! ones), read to the end however it ends.

use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use tokio::sync::oneshot;
use tokio::task::JoinSet;

use super::{MAX_PER_KIND, PER_SIDE, VICTIM};
use crate::Error;
use crate::env::REPLICAS;
use crate::load::Timeline;

/// One stream as its client saw it.
#[derive(Debug, Clone)]
pub(super) struct Streamed {
    pub grpc: bool,
    /// `x-upstream-name` of the response (`None`: no response).
    pub replica: Option<String>,
    pub bytes: u64,
    /// The body ended without an error (HTTP/1: its last chunk came).
    pub clean: bool,
    /// `grpc-status` from the trailers, when any came.
    pub grpc_status: Option<String>,
    pub grpc_message: Option<String>,
    /// When it ended, from the start of the run.
    pub ended: Duration,
    pub error: Option<String>,
}

impl Streamed {
    /// Delivered whole: every byte, a clean end, gRPC status 0.
    pub fn whole(&self, expected: u64) -> bool {
        self.clean && self.bytes == expected && self.status_ok()
    }

    /// What a client would take for a complete stream.
    pub fn looks_complete(&self) -> bool {
        self.clean && self.status_ok()
    }

    fn status_ok(&self) -> bool {
        !self.grpc || self.grpc_status.as_deref() == Some("0")
    }

    pub fn on(&self, replica: &str) -> bool {
        self.replica.as_deref() == Some(replica)
    }
}

/// Opens streams, SSE and gRPC in turn, one at a time (each on its own
/// connection, as separate clients would), until some replica holds
/// [`PER_SIDE`] of each kind and the others as many together (the
/// balancer places them; the scenario needs streams on both sides of the
/// kill), or [`MAX_PER_KIND`] of each were opened. Returns the streams,
/// whose records the set yields as they end, and that replica: `upstream-2`
/// when it qualifies.
pub(super) async fn start_streams(url: &str, t: &Timeline) -> (JoinSet<Streamed>, Option<usize>) {
    let mut set = JoinSet::new();
    // Streams per kind (SSE, gRPC) and replica.
    let mut placed = [[0usize; REPLICAS.len()]; 2];
    for i in 0..2 * MAX_PER_KIND {
        let grpc = i % 2 == 1;
        let (tx, rx) = oneshot::channel();
        let (url, t) = (url.to_owned(), t.clone());
        set.spawn(async move { stream(&url, grpc, &t, tx).await });
        if let Ok(Some(name)) = rx.await
            && let Some(r) = REPLICAS.iter().position(|n| *n == name)
        {
            placed[usize::from(grpc)][r] += 1;
        }
        let qualifies = |r: usize| {
            placed.iter().all(|kind| {
                let others: usize = kind.iter().sum::<usize>() - kind[r];
                kind[r] >= PER_SIDE && others >= PER_SIDE
            })
        };
        if let Some(r) = [VICTIM, 0, 2].into_iter().find(|r| qualifies(*r)) {
            return (set, Some(r));
        }
    }
    (set, None)
}

/// One stream, read to its end, however it ends; `placed` is told which
/// replica answered (or nothing, if none did) when the headers arrive.
async fn stream(
    url: &str,
    grpc: bool,
    t: &Timeline,
    placed: oneshot::Sender<Option<String>>,
) -> Streamed {
    let mut seen = Streamed {
        grpc,
        replica: None,
        bytes: 0,
        clean: false,
        grpc_status: None,
        grpc_message: None,
        ended: Duration::ZERO,
        error: None,
    };
    if let Err(e) = read(url, grpc, &mut seen, placed).await {
        seen.error = Some(e.to_string());
    }
    seen.ended = t.now();
    seen
}

async fn read(
    url: &str,
    grpc: bool,
    seen: &mut Streamed,
    placed: oneshot::Sender<Option<String>>,
) -> Result<(), Error> {
    let client: Client<HttpConnector, Empty<Bytes>> = Client::builder(TokioExecutor::new())
        .http2_only(grpc)
        .build_http();
    let mut req = http::Request::get(url).header("te", "trailers");
    if grpc {
        req = req.header("content-type", "application/grpc");
    }
    let response = client.request(req.body(Empty::new())?).await?;
    seen.replica = response
        .headers()
        .get("x-upstream-name")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let _ = placed.send(seen.replica.clone());
    if response.status() != http::StatusCode::OK {
        return Err(format!("status {}", response.status()).into());
    }
    let mut body = response.into_body();
    while let Some(frame) = body.frame().await {
        let frame = frame?;
        if let Some(data) = frame.data_ref() {
            seen.bytes += data.len() as u64;
        }
        if let Some(trailers) = frame.trailers_ref() {
            let field = |name: &str| trailers.get(name).and_then(|v| v.to_str().ok());
            seen.grpc_status = field("grpc-status").map(str::to_owned);
            seen.grpc_message = field("grpc-message").map(str::to_owned);
        }
    }
    seen.clean = true;
    Ok(())
}
