//! The baseline of the load benchmark: the least a hyper-util reverse proxy
//! can do — accept HTTP/1.1, forward each request to one upstream through a
//! pooled keep-alive client, stream the response back. No routing, limits,
//! header hygiene or resilience. seawall's overhead is read against it: the
//! gap between this and `direct` is hyper's, the gap between this and
//! seawall is seawall's.
//!
//! Usage: `seawall-bare-proxy LISTEN UPSTREAM` (both `ip:port`); the tokio
//! worker count comes from `TOKIO_WORKER_THREADS` (the benchmark sets 1).
//! Prints `listening on ADDR` once bound.

use std::convert::Infallible;
use std::net::SocketAddr;

use http::Uri;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use tokio::net::TcpListener;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    let mut args = std::env::args().skip(1);
    let (Some(listen), Some(upstream)) = (args.next(), args.next()) else {
        return Err("usage: seawall-bare-proxy LISTEN UPSTREAM".into());
    };
    let listen: SocketAddr = listen.parse()?;
    let upstream: SocketAddr = upstream.parse()?;
    let mut connector = HttpConnector::new();
    connector.set_nodelay(true);
    let client: Client<HttpConnector, Incoming> = Client::builder(TokioExecutor::new())
        .pool_timer(TokioTimer::new())
        .pool_max_idle_per_host(1024)
        .build(connector);
    let listener = TcpListener::bind(listen).await?;
    println!("listening on {}", listener.local_addr()?);
    loop {
        let (stream, _) = listener.accept().await?;
        stream.set_nodelay(true)?;
        let client = client.clone();
        tokio::spawn(async move {
            let service = service_fn(move |mut req: http::Request<Incoming>| {
                let client = client.clone();
                async move {
                    let path = req
                        .uri()
                        .path_and_query()
                        .map_or("/", |p| p.as_str())
                        .to_owned();
                    let rsp = match Uri::try_from(format!("http://{upstream}{path}")) {
                        Ok(uri) => {
                            *req.uri_mut() = uri;
                            client.request(req).await
                        }
                        Err(_) => return Ok::<_, Infallible>(bad_gateway()),
                    };
                    Ok(match rsp {
                        Ok(rsp) => rsp.map(http_body_util::Either::Left),
                        Err(_) => bad_gateway(),
                    })
                }
            });
            let _ = auto::Builder::new(TokioExecutor::new())
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

/// A 502 with an empty body, for an upstream that failed.
fn bad_gateway()
-> http::Response<http_body_util::Either<Incoming, http_body_util::Empty<bytes::Bytes>>> {
    let mut rsp = http::Response::new(http_body_util::Either::Right(http_body_util::Empty::new()));
    *rsp.status_mut() = http::StatusCode::BAD_GATEWAY;
    rsp
}
