//! One direction of one proxied connection: read a chunk, let the current
//! toxics delay, slice, throttle, swallow or cut it, write it on.
//!
//! The toxics are re-read for every chunk and watched while idle, so a fault
//! set at runtime reaches connections that are already open — the pooled
//! keep-alive connections a proxy under test holds are exactly the ones a
//! partition or a reset must hit.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::sync::watch;
use tokio::time::{Instant, sleep, sleep_until};
use tokio_util::sync::CancellationToken;

use super::toxics::Toxics;

/// How a direction ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum End {
    /// The reader saw EOF; the writer was shut down (half close).
    Eof,
    /// The connection must be closed now (limit reached, timeout passed).
    Close,
    /// The connection must be reset (RST).
    Reset,
}

/// What both directions of a connection share.
#[derive(Debug, Clone)]
pub struct Shared {
    /// The toxics, updated at runtime.
    pub toxics: watch::Receiver<Toxics>,
    /// When the connection opened.
    pub opened: Instant,
    /// Bytes forwarded so far, both directions (for `limit_data`).
    pub forwarded: Arc<AtomicU64>,
    /// Cancelled when either direction decides to end the connection.
    pub stop: CancellationToken,
}

/// Copies `from` to `to` under the toxics until EOF, a cut or `stop`.
pub async fn pipe(mut from: OwnedReadHalf, mut to: OwnedWriteHalf, mut shared: Shared) -> End {
    let mut buf = vec![0u8; 16 * 1024];
    let end = loop {
        let toxics = shared.toxics.borrow_and_update().clone();
        let cut = toxics.cut_at(shared.opened);
        let far = Instant::now() + Duration::from_secs(3600);
        tokio::select! {
            () = shared.stop.cancelled() => break End::Close,
            changed = shared.toxics.changed() => {
                if changed.is_err() { break End::Close; }
            }
            () = sleep_until(cut.map_or(far, |(at, _)| at)) => {
                break if cut.is_some_and(|(_, reset)| reset) { End::Reset } else { End::Close };
            }
            read = from.read(&mut buf) => match read {
                Ok(0) => {
                    let _ = to.shutdown().await;
                    return End::Eof;
                }
                Ok(n) => {
                    if let Some(end) = forward(&buf[..n], &mut to, &toxics, &shared).await {
                        break end;
                    }
                }
                Err(_) => break End::Reset,
            },
        }
    };
    shared.stop.cancel();
    if end == End::Reset {
        // Linger 0 turns the close into a RST.
        let _ = to.as_ref().set_zero_linger();
    }
    end
}

/// Writes one chunk under the toxics; `Some(end)` when the connection ends.
async fn forward(
    data: &[u8],
    to: &mut OwnedWriteHalf,
    toxics: &Toxics,
    shared: &Shared,
) -> Option<End> {
    if toxics.blackhole() {
        return None;
    }
    let mut data = data;
    let mut end = None;
    if let Some(limit) = toxics.limit_data {
        let before = shared.forwarded.load(Ordering::Relaxed);
        let room = limit.saturating_sub(before) as usize;
        if data.len() >= room {
            data = &data[..room];
            end = Some(End::Close);
        }
    }
    sleep(toxics.latency).await;
    let (piece, gap) = toxics.slicer.unwrap_or((data.len().max(1), Duration::ZERO));
    for chunk in data.chunks(piece) {
        if to.write_all(chunk).await.is_err() {
            return Some(End::Reset);
        }
        shared
            .forwarded
            .fetch_add(chunk.len() as u64, Ordering::Relaxed);
        let throttle = toxics.bandwidth.map_or(Duration::ZERO, |bps| {
            Duration::from_secs_f64(chunk.len() as f64 / bps as f64)
        });
        sleep(gap + throttle).await;
    }
    end
}
