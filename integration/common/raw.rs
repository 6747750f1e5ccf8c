//! Bare TCP helpers: for requests no HTTP client would send, and for
//! connections that stop being HTTP after an upgrade.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::{Instant, timeout_at};

use super::PATIENCE;

/// Writes `bytes` to `addr` and returns everything read until the server
/// closes or 5 s pass (lossy UTF-8). Send `Connection: close` with a valid
/// request, or this waits out the timeout on a keep-alive connection.
pub async fn raw_request(addr: SocketAddr, bytes: &[u8]) -> String {
    raw_request_for(addr, bytes, Duration::from_secs(5)).await
}

/// [`raw_request`] with an explicit limit on the whole exchange.
pub async fn raw_request_for(addr: SocketAddr, bytes: &[u8], limit: Duration) -> String {
    let deadline = Instant::now() + limit;
    let mut stream = TcpStream::connect(addr)
        .await
        .unwrap_or_else(|e| panic!("connect to {addr}: {e}"));
    stream
        .write_all(bytes)
        .await
        .unwrap_or_else(|e| panic!("write to {addr}: {e}"));
    let mut out = Vec::new();
    let mut buf = [0u8; 16 * 1024];
    // A reset after the server's answer still leaves the answer in `out`.
    while let Ok(Ok(n)) = timeout_at(deadline, stream.read(&mut buf)).await {
        if n == 0 {
            break;
        }
        out.extend_from_slice(&buf[..n]);
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Reads one HTTP response head (through the blank line) from `stream`.
/// Returns the head as text and any bytes that arrived after it. Panics on
/// EOF or after [`PATIENCE`].
pub async fn read_head(stream: &mut TcpStream) -> (String, Vec<u8>) {
    let deadline = Instant::now() + PATIENCE;
    let mut data = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        if let Some(end) = data.windows(4).position(|w| w == b"\r\n\r\n") {
            let rest = data.split_off(end + 4);
            return (String::from_utf8_lossy(&data).into_owned(), rest);
        }
        let n = timeout_at(deadline, stream.read(&mut buf))
            .await
            .expect("timed out reading a response head")
            .expect("reading a response head");
        assert!(
            n > 0,
            "connection closed before the end of the head; got: {:?}",
            String::from_utf8_lossy(&data)
        );
        data.extend_from_slice(&buf[..n]);
    }
}

/// An HTTP/2 frame: 24-bit length, type, flags, stream id, payload. For
/// abuse no h2 client would send.
pub fn h2_frame(kind: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
    let len = u32::try_from(payload.len()).expect("frame payload over 4 GiB");
    let mut out = len.to_be_bytes()[1..].to_vec();
    out.extend([kind, flags]);
    out.extend(stream.to_be_bytes());
    out.extend(payload);
    out
}

/// Reads HTTP/2 frames until a GOAWAY; returns its error code (None on
/// EOF or a read error).
pub async fn read_goaway<S: AsyncRead + Unpin>(s: &mut S) -> Option<u32> {
    let mut data = Vec::new();
    let mut buf = [0u8; 16 * 1024];
    loop {
        while data.len() >= 9 {
            let len = usize::from(data[0]) << 16 | usize::from(data[1]) << 8 | usize::from(data[2]);
            if data.len() < 9 + len {
                break;
            }
            if data[3] == 7 {
                let code: [u8; 4] = data[13..17].try_into().expect("4 bytes");
                return Some(u32::from_be_bytes(code));
            }
            data.drain(..9 + len);
        }
        match s.read(&mut buf).await {
            Ok(0) | Err(_) => return None,
            Ok(n) => data.extend_from_slice(&buf[..n]),
        }
    }
}
