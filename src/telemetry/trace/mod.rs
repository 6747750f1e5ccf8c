//! Distributed tracing: spans exported over OTLP (HTTP/protobuf or gRPC).
//!
//! With `tracing.otlp_endpoint` set, every request gets a server span (from
//! its arrival to the end of its response body) and every upstream attempt
//! a client span (from its send to the response headers or its error), a
//! child of the request's. The caller's W3C `traceparent` (and
//! `tracestate`) is continued, and each attempt carries its own span's
//! `traceparent` upstream, so the next hop's spans hang under it.
//!
//! Sampling is decided once per trace at its root: a caller's sampled flag
//! is followed; a trace that starts here is recorded with probability
//! `tracing.sampling`. Unsampled requests still propagate the context.
//! Export runs off the request path ([`queue`]): spans that cannot be sent
//! are dropped and counted, never waited for.
//!
//! A [`Tracing`] lives in the snapshot; a reload that leaves the `tracing:`
//! block unchanged keeps it, one that changes it starts a new one (the old
//! one sends what it holds and stops once no request uses it).

pub mod queue;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use http::{HeaderMap, HeaderName, HeaderValue, Method};
use opentelemetry::propagation::{Extractor, Injector, TextMapPropagator};
use opentelemetry::trace::{SpanKind, Status, TraceContextExt, Tracer as _, TracerProvider as _};
use opentelemetry::{Context, KeyValue};
use opentelemetry_otlp::{Protocol, WithExportConfig};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::{Sampler, SdkTracer, SdkTracerProvider, SpanExporter as _};

use self::queue::{Queue, SpanCounters};
use crate::config::{OtlpProtocol, TracingSettings};
use crate::wire::BoxError;

/// One tracer and its export queue (see the module docs).
#[derive(Debug)]
pub struct Tracing {
    settings: TracingSettings,
    provider: SdkTracerProvider,
    tracer: SdkTracer,
    unsent: Arc<AtomicUsize>,
}

impl Tracing {
    /// Builds the exporter and its queue on the current runtime.
    pub fn start(settings: &TracingSettings, counters: SpanCounters) -> Result<Self, BoxError> {
        let builder = opentelemetry_otlp::SpanExporter::builder();
        let mut exporter = match settings.protocol {
            OtlpProtocol::Http => builder
                .with_http()
                .with_protocol(Protocol::HttpBinary)
                .with_endpoint(&settings.otlp_endpoint)
                .with_timeout(settings.export_timeout)
                .build()?,
            OtlpProtocol::Grpc => builder
                .with_tonic()
                .with_endpoint(&settings.otlp_endpoint)
                .with_timeout(settings.export_timeout)
                .build()?,
        };
        let resource = Resource::builder()
            .with_service_name(settings.service_name.clone())
            .build();
        exporter.set_resource(&resource);
        let queue = Queue::spawn(settings.queue, exporter, settings.export_timeout, counters);
        let unsent = queue.unsent();
        let sampler = Sampler::ParentBased(Box::new(Sampler::TraceIdRatioBased(settings.sampling)));
        let provider = SdkTracerProvider::builder()
            .with_span_processor(queue)
            .with_sampler(sampler)
            .with_resource(resource)
            .build();
        let tracer = provider.tracer("seawall");
        Ok(Self {
            settings: settings.clone(),
            provider,
            tracer,
            unsent,
        })
    }

    /// The settings it was built from.
    pub fn settings(&self) -> &TracingSettings {
        &self.settings
    }

    /// Starts a request's server span, continuing the caller's trace.
    pub fn request(&self, headers: &HeaderMap, method: &Method, path: &str) -> RequestSpan {
        let parent = TraceContextPropagator::new().extract(&Carrier::Read(headers));
        let span = self
            .tracer
            .span_builder(method.to_string())
            .with_kind(SpanKind::Server)
            .with_attributes([
                KeyValue::new("http.request.method", method.to_string()),
                KeyValue::new("url.path", path.to_owned()),
            ])
            .start_with_context(&self.tracer, &parent);
        RequestSpan {
            parent: AttemptParent {
                cx: parent.with_span(span),
                tracer: self.tracer.clone(),
            },
            method: method.clone(),
            finished: false,
        }
    }

    /// Waits up to `within` for the spans already finished to be sent.
    pub async fn flush(&self, within: Duration) {
        let until = tokio::time::Instant::now() + within;
        while self.unsent.load(Ordering::Relaxed) > 0 && tokio::time::Instant::now() < until {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl Drop for Tracing {
    fn drop(&mut self) {
        // Ends the provider's processors; the queue's task then sends what
        // it holds and stops.
        let _ = self.provider.shutdown();
    }
}

/// A request's server span: ended when dropped, with the response body.
pub struct RequestSpan {
    parent: AttemptParent,
    method: Method,
    finished: bool,
}

impl RequestSpan {
    /// What the request's attempts start their spans under (a request
    /// extension).
    pub fn parent(&self) -> AttemptParent {
        self.parent.clone()
    }

    /// The request matched `route` to `cluster`.
    pub fn routed(&self, route: &str, cluster: &str) {
        let span = self.parent.cx.span();
        span.update_name(format!("{} {route}", self.method));
        span.set_attributes([
            KeyValue::new("seawall.route", route.to_owned()),
            KeyValue::new("seawall.cluster", cluster.to_owned()),
        ]);
    }

    /// The request was answered with `status`; `reason` is seawall's
    /// reason code (empty for an upstream's answer).
    pub fn answered(&mut self, status: u16, reason: &str) {
        self.finished = true;
        let span = self.parent.cx.span();
        span.set_attribute(KeyValue::new(
            "http.response.status_code",
            i64::from(status),
        ));
        if !reason.is_empty() {
            span.set_attribute(KeyValue::new("seawall.reason", reason.to_owned()));
        }
        if status >= 500 {
            span.set_status(Status::error(if reason.is_empty() {
                "upstream error"
            } else {
                "refused"
            }));
        }
    }
}

impl Drop for RequestSpan {
    fn drop(&mut self) {
        let span = self.parent.cx.span();
        if !self.finished {
            // Dropped unanswered: the client went away.
            span.set_attribute(KeyValue::new("seawall.reason", "client-gone"));
            span.set_status(Status::error("client-gone"));
        }
        span.end();
    }
}

/// The request span's context, carried to each attempt in the request's
/// extensions.
#[derive(Clone, Debug)]
pub struct AttemptParent {
    cx: Context,
    tracer: SdkTracer,
}

impl AttemptParent {
    /// Starts an attempt's client span to `endpoint` and writes its
    /// `traceparent` (and the trace's `tracestate`) into `headers`.
    pub fn attempt(&self, endpoint: &str, headers: &mut HeaderMap) -> AttemptSpan {
        let span = self
            .tracer
            .span_builder("attempt")
            .with_kind(SpanKind::Client)
            .with_attributes([KeyValue::new("server.address", endpoint.to_owned())])
            .start_with_context(&self.tracer, &self.cx);
        let cx = self.cx.with_span(span);
        TraceContextPropagator::new().inject_context(&cx, &mut Carrier::Write(headers));
        AttemptSpan { cx, ended: false }
    }
}

/// An upstream attempt's span; ended by [`AttemptSpan::end`], or as
/// cancelled when dropped before.
#[derive(Debug)]
pub struct AttemptSpan {
    cx: Context,
    ended: bool,
}

impl AttemptSpan {
    /// The attempt got response headers with `status`, or failed.
    pub fn end(mut self, outcome: Result<u16, String>) {
        let span = self.cx.span();
        match outcome {
            Ok(status) => {
                span.set_attribute(KeyValue::new(
                    "http.response.status_code",
                    i64::from(status),
                ));
                if status >= 500 {
                    span.set_status(Status::error("upstream error"));
                }
            }
            Err(error) => span.set_status(Status::error(error)),
        }
        self.ended = true;
        span.end();
    }
}

impl Drop for AttemptSpan {
    fn drop(&mut self) {
        if !self.ended {
            let span = self.cx.span();
            span.set_status(Status::error("cancelled"));
            span.end();
        }
    }
}

/// HTTP headers as OpenTelemetry's propagators read and write them.
enum Carrier<'a> {
    Read(&'a HeaderMap),
    Write(&'a mut HeaderMap),
}

impl Extractor for Carrier<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        match self {
            Carrier::Read(h) => h.get(key).and_then(|v| v.to_str().ok()),
            Carrier::Write(h) => h.get(key).and_then(|v| v.to_str().ok()),
        }
    }

    fn keys(&self) -> Vec<&str> {
        match self {
            Carrier::Read(h) => h.keys().map(HeaderName::as_str).collect(),
            Carrier::Write(h) => h.keys().map(HeaderName::as_str).collect(),
        }
    }
}

impl Injector for Carrier<'_> {
    fn set(&mut self, key: &str, value: String) {
        if let Carrier::Write(h) = self
            && let (Ok(name), Ok(value)) = (
                HeaderName::from_bytes(key.as_bytes()),
                HeaderValue::from_str(&value),
            )
        {
            h.insert(name, value);
        }
    }
}
