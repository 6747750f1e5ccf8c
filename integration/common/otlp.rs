//! A small OTLP trace receiver, started by a test: OTLP/HTTP with protobuf
//! bodies (`POST /v1/traces`) or OTLP/gRPC (`TraceService/Export`), built
//! on the `opentelemetry-proto` types. It records every span it gets.
#![allow(clippy::unwrap_used)] // a poisoned lock is a failed test

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use http_body_util::{BodyExt, Full};
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::service::TowerToHyperService;
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::any_value::Value;
use prost::Message;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

/// One span as received.
#[derive(Clone, Debug)]
pub struct Received {
    /// The `service.name` of its resource.
    pub service: String,
    /// The span's name.
    pub name: String,
    /// Hex trace id.
    pub trace_id: String,
    /// Hex span id.
    pub span_id: String,
    /// Hex parent span id; empty for a root span.
    pub parent: String,
    /// 2: server, 3: client (OTLP's `SpanKind`).
    pub kind: i32,
}

type Spans = Arc<Mutex<Vec<Received>>>;

/// The receiver; stops when dropped.
pub struct OtlpReceiver {
    /// Where it listens.
    pub addr: SocketAddr,
    spans: Spans,
    task: JoinHandle<()>,
}

impl Drop for OtlpReceiver {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl OtlpReceiver {
    /// OTLP/HTTP (protobuf) on `127.0.0.1:0`.
    pub async fn http() -> Self {
        Self::spawn(false).await
    }

    /// OTLP/gRPC on `127.0.0.1:0`.
    pub async fn grpc() -> Self {
        Self::spawn(true).await
    }

    /// Every span received so far.
    pub fn spans(&self) -> Vec<Received> {
        self.spans.lock().unwrap().clone()
    }

    async fn spawn(grpc: bool) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let spans = Spans::default();
        let into = spans.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((tcp, _)) = listener.accept().await else {
                    continue;
                };
                let into = into.clone();
                tokio::spawn(async move {
                    let io = TokioIo::new(tcp);
                    let server = auto::Builder::new(TokioExecutor::new());
                    if grpc {
                        let service = TraceServiceServer::new(Collector(into));
                        let _ = server
                            .serve_connection(io, TowerToHyperService::new(service))
                            .await;
                    } else {
                        let service = hyper::service::service_fn(move |req| {
                            let into = into.clone();
                            async move {
                                Ok::<_, std::convert::Infallible>(http_export(req, &into).await)
                            }
                        });
                        let _ = server.serve_connection(io, service).await;
                    }
                });
            }
        });
        Self { addr, spans, task }
    }
}

/// `POST /v1/traces` with a protobuf `ExportTraceServiceRequest`.
async fn http_export(
    req: http::Request<hyper::body::Incoming>,
    into: &Spans,
) -> http::Response<Full<bytes::Bytes>> {
    let path_ok = req.method() == http::Method::POST && req.uri().path() == "/v1/traces";
    let body = req.into_body().collect().await.map(|b| b.to_bytes());
    let decoded = body
        .ok()
        .and_then(|b| ExportTraceServiceRequest::decode(b).ok());
    let (status, reply) = match (path_ok, decoded) {
        (true, Some(export)) => {
            record(export, into);
            (200, ExportTraceServiceResponse::default().encode_to_vec())
        }
        _ => (400, Vec::new()),
    };
    http::Response::builder()
        .status(status)
        .header("content-type", "application/x-protobuf")
        .body(Full::new(reply.into()))
        .unwrap()
}

/// The gRPC service.
struct Collector(Spans);

#[tonic::async_trait]
impl TraceService for Collector {
    async fn export(
        &self,
        request: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        record(request.into_inner(), &self.0);
        Ok(tonic::Response::new(ExportTraceServiceResponse::default()))
    }
}

fn record(export: ExportTraceServiceRequest, into: &Spans) {
    let hex = |b: &[u8]| b.iter().map(|x| format!("{x:02x}")).collect::<String>();
    let mut spans = into.lock().unwrap();
    for resource_spans in export.resource_spans {
        let service = resource_spans
            .resource
            .iter()
            .flat_map(|r| &r.attributes)
            .find(|kv| kv.key == "service.name")
            .and_then(|kv| match kv.value.as_ref()?.value.as_ref()? {
                Value::StringValue(s) => Some(s.clone()),
                _ => None,
            })
            .unwrap_or_default();
        for scope in resource_spans.scope_spans {
            for span in scope.spans {
                spans.push(Received {
                    service: service.clone(),
                    name: span.name,
                    trace_id: hex(&span.trace_id),
                    span_id: hex(&span.span_id),
                    parent: hex(&span.parent_span_id),
                    kind: span.kind,
                });
            }
        }
    }
}
