//! A real gRPC stack for black-box tests: a tonic server ([`GrpcUpstream`])
//! and a tonic client ([`GrpcClient`]) for one small test service,
//! `seawall.test.Probe`, so tests see what real gRPC clients see (a
//! `tonic::Status` with its `Code`, decoded messages), not raw frames.
//!
//! No `.proto` and no build script: the messages are `prost` derives and
//! the calls go through tonic's generic `client::Grpc` and `server::Grpc`,
//! which is what tonic's generated code calls too.
//!
//! The service's methods:
//!
//! | method | what it answers |
//! |---|---|
//! | `Unary` | after [`Call::delay_ms`], a [`Reply`] when [`Call::status`] is 0; else that status, trailers-only (no message) |
//! | `UnaryAfterMessage` | a [`Reply`], then [`Call::status`] in the trailers |
//! | `Stream` | [`Watch::count`] replies, [`Watch::interval_ms`] apart (the first at once), then [`Watch::status`] in the trailers |
//!
//! Every reply names the server that sent it ([`Reply::server`]), so a test
//! with several upstreams can tell which one answered.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use futures_util::{Stream, StreamExt, stream};
use http::uri::PathAndQuery;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::TcpListener;
use tokio::task::{JoinHandle, JoinSet};
use tokio::time::Instant;
use tonic::transport::Channel;
use tonic::{Code, Status};
use tonic_prost::ProstCodec;

/// The request of `Unary` and `UnaryAfterMessage`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Call {
    /// The `grpc-status` to answer with (0: OK).
    #[prost(int32, tag = "1")]
    pub status: i32,
    /// The `grpc-message` with a non-OK status.
    #[prost(string, tag = "2")]
    pub message: String,
    /// How long `Unary` waits before it answers, in milliseconds.
    #[prost(uint64, tag = "3")]
    pub delay_ms: u64,
}

/// The request of `Stream`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Watch {
    /// How many replies to send.
    #[prost(uint32, tag = "1")]
    pub count: u32,
    /// The pause between two replies, in milliseconds.
    #[prost(uint64, tag = "2")]
    pub interval_ms: u64,
    /// The `grpc-status` that ends the stream after the replies (0: OK).
    #[prost(int32, tag = "3")]
    pub status: i32,
    /// Filler bytes in every reply, to make the stream weigh something.
    #[prost(uint32, tag = "4")]
    pub pad: u32,
}

/// One message from the server.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Reply {
    /// The [`GrpcUpstream`]'s name.
    #[prost(string, tag = "1")]
    pub server: String,
    /// 0 for the first reply of a call, then 1, 2, …
    #[prost(uint32, tag = "2")]
    pub seq: u32,
    /// [`Watch::pad`] filler bytes (empty for the other methods).
    #[prost(bytes = "vec", tag = "3")]
    pub pad: Vec<u8>,
}

const UNARY: &str = "/seawall.test.Probe/Unary";
const UNARY_AFTER_MESSAGE: &str = "/seawall.test.Probe/UnaryAfterMessage";
const STREAM: &str = "/seawall.test.Probe/Stream";

/// The `seawall.test.Probe` server on `127.0.0.1:0` (HTTP/2 prior
/// knowledge), in the test's runtime; stopped, with every connection it
/// holds, when dropped or [`GrpcUpstream::stop`]ped.
#[derive(Debug)]
pub struct GrpcUpstream {
    /// Where it listens.
    pub addr: SocketAddr,
    /// The name its replies carry.
    pub name: String,
    produced: Arc<AtomicU32>,
    task: JoinHandle<()>,
}

impl GrpcUpstream {
    /// Binds `127.0.0.1:0` and serves.
    pub async fn spawn(name: &str) -> GrpcUpstream {
        Self::spawn_failing(name, Code::Ok).await
    }

    /// Like [`GrpcUpstream::spawn`], but `Unary` and `UnaryAfterMessage`
    /// answer `status` whatever the call asks (a sick replica); `Ok`
    /// changes nothing.
    pub async fn spawn_failing(name: &str, status: Code) -> GrpcUpstream {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("local address");
        let produced = Arc::new(AtomicU32::new(0));
        let server = Server {
            name: name.to_owned(),
            failing: status as i32,
            produced: produced.clone(),
        };
        let task = tokio::spawn(serve(listener, server));
        GrpcUpstream {
            addr,
            name: name.to_owned(),
            produced,
            task,
        }
    }

    /// `Stream` replies its streams have produced so far: taken from the
    /// stream by tonic to encode and send, which it does only as far as
    /// HTTP/2 flow control lets it.
    pub fn produced(&self) -> u32 {
        self.produced.load(Ordering::Relaxed)
    }

    /// Stops it at once, as a killed process would: the listener closes
    /// and every connection is dropped mid-stream, without a GOAWAY.
    pub fn stop(&self) {
        self.task.abort();
    }
}

impl Drop for GrpcUpstream {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The accept loop; its connections live in a `JoinSet` it owns, so
/// aborting it drops them all.
async fn serve(listener: TcpListener, server: Server) {
    let mut connections = JoinSet::new();
    loop {
        let Ok((tcp, _)) = listener.accept().await else {
            continue;
        };
        let server = server.clone();
        connections.spawn(async move {
            let service = hyper::service::service_fn(move |req| route(server.clone(), req));
            let _ = hyper::server::conn::http2::Builder::new(TokioExecutor::new())
                .serve_connection(TokioIo::new(tcp), service)
                .await;
        });
        while connections.try_join_next().is_some() {}
    }
}

type HttpResponse = http::Response<tonic::body::Body>;

/// What every connection of one [`GrpcUpstream`] shares.
#[derive(Clone)]
struct Server {
    name: String,
    failing: i32,
    produced: Arc<AtomicU32>,
}

/// Dispatches one HTTP/2 request to its method.
async fn route(
    server: Server,
    req: http::Request<hyper::body::Incoming>,
) -> Result<HttpResponse, std::convert::Infallible> {
    let Server {
        name,
        failing,
        produced,
    } = server;
    let path = req.uri().path().to_owned();
    let response = match path.as_str() {
        UNARY => {
            let unary = tower::service_fn(move |call: tonic::Request<Call>| {
                let server = name.clone();
                async move {
                    let call = overridden(call.into_inner(), failing);
                    tokio::time::sleep(Duration::from_millis(call.delay_ms)).await;
                    match call.status {
                        0 => Ok(tonic::Response::new(Reply {
                            server,
                            ..Reply::default()
                        })),
                        code => Err(Status::new(Code::from(code), call.message)),
                    }
                }
            });
            tonic::server::Grpc::new(ProstCodec::<Reply, Call>::default())
                .unary(unary, req)
                .await
        }
        UNARY_AFTER_MESSAGE => {
            let then_status = tower::service_fn(move |call: tonic::Request<Call>| {
                let server = name.clone();
                async move {
                    let call = overridden(call.into_inner(), failing);
                    let ending = ending(call.status, call.message);
                    let first = Reply {
                        server,
                        ..Reply::default()
                    };
                    let replies = stream::iter([Ok(first)]).chain(ending);
                    Ok::<_, Status>(tonic::Response::new(replies))
                }
            });
            tonic::server::Grpc::new(ProstCodec::<Reply, Call>::default())
                .server_streaming(then_status, req)
                .await
        }
        STREAM => {
            let watch = tower::service_fn(move |watch: tonic::Request<Watch>| {
                let server = name.clone();
                let produced = produced.clone();
                async move {
                    let replies = replies(server, watch.into_inner(), produced);
                    Ok::<_, Status>(tonic::Response::new(replies))
                }
            });
            tonic::server::Grpc::new(ProstCodec::<Reply, Watch>::default())
                .server_streaming(watch, req)
                .await
        }
        _ => Status::unimplemented(path).into_http(),
    };
    Ok(response)
}

/// `call`, answering `failing` instead when it is not 0.
fn overridden(call: Call, failing: i32) -> Call {
    if failing == 0 {
        call
    } else {
        Call {
            status: failing,
            message: "failing replica".to_owned(),
            delay_ms: call.delay_ms,
        }
    }
}

/// Nothing for status 0, else the one error that ends the call with it.
fn ending(status: i32, message: String) -> impl Stream<Item = Result<Reply, Status>> {
    let error = (status != 0).then(|| Err(Status::new(Code::from(status), message)));
    stream::iter(error)
}

/// `watch.count` replies, `watch.interval_ms` apart, then its status;
/// each reply taken is counted in `produced`.
fn replies(
    server: String,
    watch: Watch,
    produced: Arc<AtomicU32>,
) -> impl Stream<Item = Result<Reply, Status>> + Send {
    let interval = Duration::from_millis(watch.interval_ms);
    let count = watch.count;
    let pad = vec![b'.'; watch.pad as usize];
    let messages = stream::unfold(0u32, move |seq| {
        let server = server.clone();
        let pad = pad.clone();
        let produced = produced.clone();
        async move {
            if seq >= count {
                return None;
            }
            if seq > 0 {
                tokio::time::sleep(interval).await;
            }
            produced.fetch_add(1, Ordering::Relaxed);
            Some((Ok(Reply { server, seq, pad }), seq + 1))
        }
    });
    messages.chain(ending(watch.status, format!("ended with {}", watch.status)))
}

/// A tonic client of `seawall.test.Probe` on one HTTP/2 connection.
#[derive(Debug, Clone)]
pub struct GrpcClient {
    inner: tonic::client::Grpc<Channel>,
}

/// What a server stream delivered, read to its end.
#[derive(Debug)]
pub struct Watched {
    /// The replies received, in order.
    pub replies: Vec<Reply>,
    /// How the call ended: `Ok` for status 0, else the status received.
    pub end: Result<(), Status>,
    /// From the call's start to its end.
    pub elapsed: Duration,
}

impl GrpcClient {
    /// Connects to `addr` (h2c; seawall's listener or a [`GrpcUpstream`]).
    pub async fn connect(addr: SocketAddr) -> GrpcClient {
        Self::connect_with_window(addr, None).await
    }

    /// Like [`GrpcClient::connect`], with the HTTP/2 stream and connection
    /// receive windows set to `window` bytes (`None`: tonic's defaults).
    pub async fn connect_with_window(addr: SocketAddr, window: Option<u32>) -> GrpcClient {
        let channel = Channel::from_shared(format!("http://{addr}"))
            .expect("a valid URI")
            .initial_stream_window_size(window)
            .initial_connection_window_size(window)
            .connect()
            .await
            .unwrap_or_else(|e| panic!("gRPC connect to {addr}: {e}"));
        GrpcClient {
            inner: tonic::client::Grpc::new(channel),
        }
    }

    /// `Unary`: answers `status` (with `message`) trailers-only, or a
    /// [`Reply`] for 0.
    pub async fn unary(&mut self, status: Code, message: &str) -> Result<Reply, Status> {
        self.call(UNARY, status, message).await
    }

    /// `Unary` answered OK after `delay` (a slow call, holding what it
    /// holds in seawall until its response headers).
    pub async fn unary_delayed(&mut self, delay: Duration) -> Result<Reply, Status> {
        let call = Call {
            delay_ms: delay.as_millis() as u64,
            ..Call::default()
        };
        self.send(UNARY, call).await
    }

    /// `UnaryAfterMessage`: a [`Reply`] and then `status` in the trailers
    /// (tonic reports the status and drops the message when it is not OK).
    pub async fn unary_after_message(
        &mut self,
        status: Code,
        message: &str,
    ) -> Result<Reply, Status> {
        self.call(UNARY_AFTER_MESSAGE, status, message).await
    }

    async fn call(
        &mut self,
        path: &'static str,
        status: Code,
        message: &str,
    ) -> Result<Reply, Status> {
        let call = Call {
            status: status as i32,
            message: message.to_owned(),
            delay_ms: 0,
        };
        self.send(path, call).await
    }

    async fn send(&mut self, path: &'static str, call: Call) -> Result<Reply, Status> {
        self.ready().await?;
        let codec = ProstCodec::<Call, Reply>::default();
        let reply = self
            .inner
            .unary(
                tonic::Request::new(call),
                PathAndQuery::from_static(path),
                codec,
            )
            .await?;
        Ok(reply.into_inner())
    }

    /// `Stream`: `count` replies `interval` apart, then `status`; with
    /// extra request metadata (e.g. `grpc-timeout`) set by `metadata`. The
    /// stream is read to its end, however it ends.
    pub async fn watch(
        &mut self,
        count: u32,
        interval: Duration,
        status: Code,
        metadata: &[(&'static str, &str)],
    ) -> Watched {
        let start = Instant::now();
        let mut request = tonic::Request::new(Watch {
            count,
            interval_ms: interval.as_millis() as u64,
            status: status as i32,
            pad: 0,
        });
        for (key, value) in metadata {
            let value = value.parse().expect("an ASCII metadata value");
            request.metadata_mut().insert(*key, value);
        }
        let mut replies = Vec::new();
        let end = async {
            self.ready().await?;
            let codec = ProstCodec::<Watch, Reply>::default();
            let path = PathAndQuery::from_static(STREAM);
            let mut stream = self
                .inner
                .server_streaming(request, path, codec)
                .await?
                .into_inner();
            while let Some(reply) = stream.message().await? {
                replies.push(reply);
            }
            Ok(())
        }
        .await;
        Watched {
            replies,
            end,
            elapsed: start.elapsed(),
        }
    }

    /// Opens a `Stream` call of `count` replies of `pad` filler bytes each,
    /// sent as fast as flow control allows, and hands the stream over
    /// unread: the caller decides when to read.
    pub async fn open_stream(
        &mut self,
        count: u32,
        pad: u32,
    ) -> Result<tonic::Streaming<Reply>, Status> {
        self.ready().await?;
        let request = tonic::Request::new(Watch {
            count,
            pad,
            ..Watch::default()
        });
        let codec = ProstCodec::<Watch, Reply>::default();
        let path = PathAndQuery::from_static(STREAM);
        let response = self.inner.server_streaming(request, path, codec).await?;
        Ok(response.into_inner())
    }

    async fn ready(&mut self) -> Result<(), Status> {
        self.inner
            .ready()
            .await
            .map_err(|e| Status::unavailable(format!("channel not ready: {e}")))
    }
}
