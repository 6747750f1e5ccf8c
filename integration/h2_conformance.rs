//! HTTP/2 conformance over raw frames: the cases of h2spec's sections on
//! frame format and size, HPACK, stream states and identifiers, each frame
//! type (DATA, HEADERS, PRIORITY, RST_STREAM, SETTINGS, PING, GOAWAY,
//! WINDOW_UPDATE, CONTINUATION) and HTTP message checks, sent to a
//! cleartext (h2c) listener and to a TLS listener that negotiates `h2`.
//!
//! h2spec (a Go program) cannot be built on the machines this project is
//! tested on, so its cases are reproduced here. Each case opens a fresh
//! connection, sends the preface, an empty SETTINGS and the case's frames,
//! and judges what comes back as h2spec does:
//! - a connection error passes on GOAWAY with the expected code, or on the
//!   connection closing;
//! - a stream error passes on RST_STREAM with the expected code on that
//!   stream, or on a connection error with it;
//! - a request that must be served passes on a HEADERS frame on its stream.
//!
//! As in h2spec, a connection error passes when the connection closes,
//! whatever code its GOAWAY named: hyper's h2 names `PROTOCOL_ERROR` for 14
//! of the 58 cases where RFC 9113 names a closer one (`FRAME_SIZE_ERROR`
//! for a frame of the wrong length, `COMPRESSION_ERROR` for a header block
//! that does not decode, `FLOW_CONTROL_ERROR` for a window setting past
//! 2^31-1, `STREAM_CLOSED` for a frame after END_STREAM); the test prints
//! each such GOAWAY. Every case of the table (`cases.rs`) must pass on
//! both kinds of listener.
#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

#[path = "h2_conformance/cases.rs"]
mod cases;
mod common;
#[path = "tls/pki.rs"]
#[allow(dead_code)] // the TLS tests' certificate helpers; this file uses some
mod pki;

use std::sync::Arc;
use std::time::Duration;

use cases::cases;
use common::{Seawall, Upstream, basic_config, h2_frame};
use pki::{Pki, Usage};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::timeout;

const DATA: u8 = 0;
const HEADERS: u8 = 1;
const PRIORITY: u8 = 2;
const RST_STREAM: u8 = 3;
const SETTINGS: u8 = 4;
const PING: u8 = 6;
const GOAWAY: u8 = 7;
const WINDOW_UPDATE: u8 = 8;
const CONTINUATION: u8 = 9;
const PUSH_PROMISE: u8 = 5;

const END_STREAM: u8 = 0x1;
const ACK: u8 = 0x1;
const END_HEADERS: u8 = 0x4;
const PADDED: u8 = 0x8;
const PRIORITY_FLAG: u8 = 0x20;

const PROTOCOL_ERROR: u32 = 0x1;
const FLOW_CONTROL_ERROR: u32 = 0x3;
const STREAM_CLOSED: u32 = 0x5;
const FRAME_SIZE_ERROR: u32 = 0x6;
const COMPRESSION_ERROR: u32 = 0x9;

/// What a case must get back.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Expect {
    /// GOAWAY with this code, or the connection closed.
    Connection(u32),
    /// RST_STREAM with this code on this stream, or a connection error.
    Stream(u32, u32),
    /// A response's HEADERS on this stream.
    Answer(u32),
    /// A PING with ACK carrying this payload.
    PingAck([u8; 8]),
}

/// Sends the preface, an empty SETTINGS and `frames` on `io`, and judges
/// the reply against `expect`; `Err` says what came instead.
async fn judge<S: AsyncRead + AsyncWrite + Unpin>(
    mut io: S,
    frames: &[u8],
    expect: Expect,
) -> Result<(), String> {
    let mut out = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".to_vec();
    out.extend(h2_frame(SETTINGS, 0, 0, &[]));
    out.extend(frames);
    io.write_all(&out)
        .await
        .map_err(|e| format!("write: {e}"))?;
    let mut data = Vec::new();
    let mut buf = [0u8; 16 * 1024];
    let mut seen = Vec::new();
    loop {
        while data.len() >= 9 {
            let len = usize::from(data[0]) << 16 | usize::from(data[1]) << 8 | usize::from(data[2]);
            if data.len() < 9 + len {
                break;
            }
            let (kind, flags) = (data[3], data[4]);
            let stream = u32::from_be_bytes(data[5..9].try_into().unwrap()) & 0x7fff_ffff;
            let payload = &data[9..9 + len];
            let code = |at: usize| {
                payload
                    .get(at..at + 4)
                    .map(|c| u32::from_be_bytes(c.try_into().unwrap()))
            };
            let shown = if kind == GOAWAY { code(4) } else { code(0) };
            seen.push(format!(
                "type {kind} flags {flags:#x} stream {stream} code {shown:?}"
            ));
            match (kind, expect) {
                (GOAWAY, Expect::Connection(want) | Expect::Stream(_, want))
                    if code(4) == Some(want) =>
                {
                    return Ok(());
                }
                (RST_STREAM, Expect::Stream(s, want)) if stream == s && code(0) == Some(want) => {
                    return Ok(());
                }
                (HEADERS, Expect::Answer(s)) if stream == s => return Ok(()),
                (PING, Expect::PingAck(want)) if flags & ACK != 0 && payload == want => {
                    return Ok(());
                }
                // As h2spec: an error that ends the connection passes
                // when the connection closes, whatever code its GOAWAY
                // named; a wrong RST_STREAM leaves the stream waiting.
                (GOAWAY | RST_STREAM, Expect::Connection(_) | Expect::Stream(..)) => {}
                (GOAWAY | RST_STREAM, _) => return Err(format!("got {seen:?}")),
                _ => {}
            }
            data.drain(..9 + len);
        }
        match io.read(&mut buf).await {
            Ok(0) | Err(_) => {
                if let Some(last) = seen.last().filter(|f| f.starts_with("type 7")) {
                    eprintln!("closed after {last} (expected {expect:?})");
                }
                return match expect {
                    Expect::Connection(_) | Expect::Stream(..) => Ok(()),
                    _ => Err(format!("closed after {seen:?}")),
                };
            }
            Ok(n) => data.extend_from_slice(&buf[..n]),
        }
    }
}

/// Runs every case through `connect`, a fresh connection each, and
/// asserts that all passed.
async fn run_all<S, F, Fut>(https: bool, connect: F)
where
    S: AsyncRead + AsyncWrite + Unpin,
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = S>,
{
    let all = cases(https);
    let total = all.len();
    let mut failed = Vec::new();
    for (name, frames, expect) in all {
        let io = connect().await;
        match timeout(Duration::from_secs(5), judge(io, &frames, expect)).await {
            Ok(Ok(())) => {}
            Ok(Err(why)) => failed.push(format!("{name}: expected {expect:?}, {why}")),
            Err(_) => failed.push(format!("{name}: expected {expect:?}, nothing within 5 s")),
        }
    }
    assert!(
        failed.is_empty(),
        "{} of {} failed:\n{}",
        failed.len(),
        total,
        failed.join("\n")
    );
}

#[tokio::test]
async fn every_case_passes_on_an_h2c_listener() {
    let up = Upstream::spawn("a").await;
    let sw = Seawall::start(&basic_config(&[up.addr])).await;
    run_all(false, || async {
        TcpStream::connect(sw.addr).await.unwrap()
    })
    .await;
}

#[tokio::test]
async fn every_case_passes_on_a_tls_listener() {
    let mut pki = Pki::new("conformance");
    let id = pki.issue(&["seawall.test"], Usage::Server);
    let up = Upstream::spawn("a").await;
    let tls = format!(
        "    header_read_timeout: 2s\n    tls:\n      certificate: {}\n      private_key: {}\n",
        id.cert.display(),
        id.key.display()
    );
    let config = basic_config(&[up.addr]).replace("    header_read_timeout: 2s\n", &tls);
    let sw = Seawall::start(&config).await;
    let mut client = rustls::ClientConfig::builder_with_provider(seawall::tls::provider())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(pki.roots())
        .with_no_client_auth();
    client.alpn_protocols = vec![b"h2".to_vec()];
    let connector = tokio_rustls::TlsConnector::from(Arc::new(client));
    run_all(true, || {
        let connector = connector.clone();
        async move {
            let tcp = TcpStream::connect(sw.addr).await.unwrap();
            let name = rustls::pki_types::ServerName::try_from("seawall.test").unwrap();
            let tls = connector.connect(name, tcp).await.unwrap();
            assert_eq!(tls.get_ref().1.alpn_protocol(), Some(&b"h2"[..]));
            tls
        }
    })
    .await;
}
