//! A small HTTP client for tests, on `hyper_util`'s legacy client: HTTP/1.1
//! or h2c (HTTP/2 prior knowledge), answers collected with their trailers.
//!
//! Each `send` builds a fresh client (and so a fresh connection): every
//! `#[tokio::test]` has its own runtime, and a pooled connection must not
//! outlive the runtime that drives it. Use [`send_with`] to reuse one.

use bytes::Bytes;
use futures_util::stream;
use http::{HeaderMap, Request, StatusCode, Version};
use http_body::Frame;
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Empty, Full, StreamBody};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

/// The error type of the helpers.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The request body type of the test clients.
pub type Body = UnsyncBoxBody<Bytes, BoxError>;

/// The test client type.
pub type TestClient = Client<HttpConnector, Body>;

/// A response read to its end.
#[derive(Debug)]
pub struct Reply {
    /// Response status.
    pub status: StatusCode,
    /// HTTP version the response came over.
    pub version: Version,
    /// Response headers.
    pub headers: HeaderMap,
    /// The whole body.
    pub body: Bytes,
    /// Trailers, if any were received.
    pub trailers: Option<HeaderMap>,
}

impl Reply {
    /// The body parsed as JSON; panics with the body text if it is not.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("body is not JSON ({e}): {}", self.text()))
    }

    /// The body as (lossy) UTF-8.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// A response header as a string, if present.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// A body of one buffer.
pub fn full(bytes: impl Into<Bytes>) -> Body {
    Full::new(bytes.into()).map_err(Into::into).boxed_unsync()
}

/// An empty body.
pub fn empty() -> Body {
    Empty::new().map_err(Into::into).boxed_unsync()
}

/// A streamed body of `len` bytes in 64 KiB chunks, never held whole (for
/// large uploads). Its length is not announced, so HTTP/1 sends it chunked.
pub fn generated(len: u64) -> Body {
    const CHUNK: u64 = 64 * 1024;
    let block = Bytes::from(vec![b'u'; CHUNK as usize]);
    let chunks = stream::unfold(len, move |left| {
        let block = block.clone();
        async move {
            (left > 0).then(|| {
                let n = left.min(CHUNK);
                let frame: Result<_, BoxError> = Ok(Frame::data(block.slice(..n as usize)));
                (frame, left - n)
            })
        }
    });
    StreamBody::new(chunks).boxed_unsync()
}

/// A GET request with an empty body.
pub fn get(url: &str) -> Request<Body> {
    Request::get(url).body(empty()).expect("valid test URL")
}

/// An HTTP/1.1 client (no pool reuse across tests).
pub fn h1_client() -> TestClient {
    Client::builder(TokioExecutor::new()).build_http()
}

/// An h2c client: HTTP/2 with prior knowledge, no TLS, no upgrade dance.
pub fn h2c_client() -> TestClient {
    Client::builder(TokioExecutor::new())
        .http2_only(true)
        .build_http()
}

/// Sends `req` over HTTP/1.1 on a fresh connection and reads the answer.
pub async fn send<B>(req: Request<B>) -> Result<Reply, BoxError>
where
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    send_with(&h1_client(), req).await
}

/// Sends `req` over h2c on a fresh connection and reads the answer.
pub async fn send_h2c<B>(req: Request<B>) -> Result<Reply, BoxError>
where
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    send_with(&h2c_client(), req).await
}

/// Sends `req` with `client` and reads the whole answer, trailers included.
pub async fn send_with<B>(client: &TestClient, req: Request<B>) -> Result<Reply, BoxError>
where
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    let req = req.map(|body| body.map_err(Into::into).boxed_unsync());
    let response = client.request(req).await?;
    let (parts, body) = response.into_parts();
    let collected = body.collect().await?;
    let trailers = collected.trailers().cloned();
    Ok(Reply {
        status: parts.status,
        version: parts.version,
        headers: parts.headers,
        body: collected.to_bytes(),
        trailers,
    })
}

/// GETs `url` over HTTP/1.1 and returns the reply; panics on transport errors.
pub async fn fetch(url: &str) -> Reply {
    send(get(url))
        .await
        .unwrap_or_else(|e| panic!("GET {url}: {e}"))
}
