//! The two TLS peers of seawall in these tests: a client that reports the
//! protocol ALPN chose, and a tiny TLS echo upstream that reports what it
//! saw (SNI, ALPN, HTTP version) and counts requests.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::{BodyExt, Empty, Full};
use hyper::server::conn::{http1, http2};
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use rustls::pki_types::ServerName;
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::{TlsAcceptor, TlsConnector};

use super::pki::{Issued, Pki};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// What a request over TLS came back with.
#[derive(Debug)]
pub struct TlsReply {
    /// The ALPN protocol the handshake settled on.
    pub alpn: Option<Vec<u8>>,
    /// The response status.
    pub status: u16,
    /// The response's HTTP version as hyper's client saw it.
    pub version: String,
    /// The response body.
    pub body: String,
}

/// A client config trusting `pki`'s CA, offering `alpn`, presenting
/// `identity` when given.
pub fn client_config(pki: &Pki, alpn: &[&[u8]], identity: Option<&Issued>) -> rustls::ClientConfig {
    let builder = rustls::ClientConfig::builder_with_provider(seawall::tls::provider())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(pki.roots());
    let mut config = match identity {
        Some(id) => {
            let (certs, key) = id.load();
            builder.with_client_auth_cert(certs, key).unwrap()
        }
        None => builder.with_no_client_auth(),
    };
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    config
}

/// Connects to `addr` as `name`, sends `GET path` over the protocol ALPN
/// chose (h2 or HTTP/1.1) and reads the answer.
pub async fn get(
    addr: SocketAddr,
    name: &str,
    config: rustls::ClientConfig,
    path: &str,
) -> Result<TlsReply, BoxError> {
    let tcp = TcpStream::connect(addr).await?;
    let server_name = ServerName::try_from(name.to_owned())?;
    let tls = TlsConnector::from(Arc::new(config))
        .connect(server_name, tcp)
        .await?;
    let alpn = tls.get_ref().1.alpn_protocol().map(<[u8]>::to_vec);
    let io = TokioIo::new(tls);
    let req = Request::get(format!("https://{name}{path}")).body(Empty::<Bytes>::new())?;
    let rsp = if alpn.as_deref() == Some(b"h2") {
        let (mut sender, conn) =
            hyper::client::conn::http2::handshake(TokioExecutor::new(), io).await?;
        tokio::spawn(conn);
        sender.send_request(req).await?
    } else {
        let (mut sender, conn) = hyper::client::conn::http1::handshake(io).await?;
        tokio::spawn(conn);
        let mut req = req;
        *req.uri_mut() = path.parse()?;
        req.headers_mut().insert(http::header::HOST, name.parse()?);
        sender.send_request(req).await?
    };
    let status = rsp.status().as_u16();
    let version = format!("{:?}", rsp.version());
    let body = rsp.into_body().collect().await?.to_bytes();
    Ok(TlsReply {
        alpn,
        status,
        version,
        body: String::from_utf8_lossy(&body).into_owned(),
    })
}

/// An HTTP/2 connection over TLS to `addr` as `name`, kept open for
/// several requests.
pub async fn connect_h2(
    addr: SocketAddr,
    name: &str,
    config: rustls::ClientConfig,
) -> Result<hyper::client::conn::http2::SendRequest<Empty<Bytes>>, BoxError> {
    let tcp = TcpStream::connect(addr).await?;
    let server_name = ServerName::try_from(name.to_owned())?;
    let tls = TlsConnector::from(Arc::new(config))
        .connect(server_name, tcp)
        .await?;
    let io = TokioIo::new(tls);
    let (sender, conn) = hyper::client::conn::http2::handshake(TokioExecutor::new(), io).await?;
    tokio::spawn(conn);
    Ok(sender)
}

/// A TLS echo server: answers every request with
/// `sni=<name> alpn=<proto> version=<HTTP version>` and counts requests.
pub struct EchoUpstream {
    /// Where it listens.
    pub addr: SocketAddr,
    requests: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl EchoUpstream {
    /// Serves `identity` (a server certificate) on `127.0.0.1:0`.
    pub async fn start(identity: &Issued) -> Self {
        let (certs, key) = identity.load();
        let mut config = rustls::ServerConfig::builder_with_provider(seawall::tls::provider())
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(certs, key)
            .unwrap();
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        let acceptor = TlsAcceptor::from(Arc::new(config));
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let requests = Arc::new(AtomicUsize::new(0));
        let counter = requests.clone();
        let task = tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                let acceptor = acceptor.clone();
                let counter = counter.clone();
                tokio::spawn(async move {
                    let Ok(tls) = acceptor.accept(tcp).await else {
                        return;
                    };
                    let (_, conn) = tls.get_ref();
                    let sni = conn.server_name().unwrap_or("-").to_owned();
                    let alpn = conn
                        .alpn_protocol()
                        .map_or("-".to_owned(), |p| String::from_utf8_lossy(p).into_owned());
                    let h2 = alpn == "h2";
                    let service = service_fn(move |req: Request<hyper::body::Incoming>| {
                        counter.fetch_add(1, Ordering::SeqCst);
                        let text = format!("sni={sni} alpn={alpn} version={:?}", req.version());
                        async move { Ok::<_, hyper::Error>(Response::new(Full::new(Bytes::from(text)))) }
                    });
                    let io = TokioIo::new(tls);
                    if h2 {
                        let _ = http2::Builder::new(TokioExecutor::new())
                            .serve_connection(io, service)
                            .await;
                    } else {
                        let _ = http1::Builder::new().serve_connection(io, service).await;
                    }
                });
            }
        });
        Self {
            addr,
            requests,
            task,
        }
    }

    /// Requests that reached the HTTP layer.
    pub fn requests(&self) -> usize {
        self.requests.load(Ordering::SeqCst)
    }
}

impl Drop for EchoUpstream {
    fn drop(&mut self) {
        self.task.abort();
    }
}
