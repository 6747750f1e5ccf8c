//! Distributed tracing over OTLP (issue 21): spans reach a real receiver
//! started by the test, continue the caller's trace across two seawalls,
//! and a collector that is down costs no request.
#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

mod common;

use common::otlp::{OtlpReceiver, Received};
use common::{Seawall, Upstream, basic_config, eventually, fetch, get, send};

/// `yaml` with a `tracing:` block sending to `receiver` as `service`.
fn traced(yaml: String, service: &str, extra: &str) -> String {
    format!("{yaml}tracing:\n  service_name: {service}\n{extra}")
}

/// The spans of trace `id` once there are `n` of them.
async fn trace_of(receiver: &OtlpReceiver, id: &str, n: usize) -> Vec<Received> {
    let of = || -> Vec<Received> {
        let spans = receiver.spans();
        spans.into_iter().filter(|s| s.trace_id == id).collect()
    };
    eventually(&format!("{n} spans of trace {id}"), || async {
        of().len() >= n
    })
    .await;
    of()
}

fn one<'a>(spans: &'a [Received], service: &str, kind: i32) -> &'a Received {
    let found: Vec<_> = spans
        .iter()
        .filter(|s| s.service == service && s.kind == kind)
        .collect();
    assert_eq!(
        found.len(),
        1,
        "one {service} span of kind {kind}: {spans:#?}"
    );
    found[0]
}

const SERVER: i32 = 2;
const CLIENT: i32 = 3;

#[tokio::test]
async fn a_request_through_two_seawalls_is_one_trace_under_the_callers_span() {
    let receiver = OtlpReceiver::http().await;
    let up = Upstream::spawn("u").await;
    // The shipped sampling (5% of new traces) is kept: a caller's sampled
    // flag is what records this trace.
    let endpoint = format!("  otlp_endpoint: http://{}\n", receiver.addr);
    let b = Seawall::start(&traced(basic_config(&[up.addr]), "b", &endpoint)).await;
    let a = Seawall::start(&traced(basic_config(&[b.addr]), "a", &endpoint)).await;
    let trace_id = "4bf92f3577b34da6a3ce929d0e0e4736";
    let caller = "00f067aa0ba902b7";
    let mut req = get(&a.url("/"));
    let traceparent = format!("00-{trace_id}-{caller}-01");
    req.headers_mut()
        .insert("traceparent", traceparent.parse().unwrap());
    assert_eq!(send(req).await.unwrap().status, 200);

    let spans = trace_of(&receiver, trace_id, 4).await;
    assert_eq!(spans.len(), 4, "{spans:#?}");
    let a_in = one(&spans, "a", SERVER);
    let a_out = one(&spans, "a", CLIENT);
    let b_in = one(&spans, "b", SERVER);
    let b_out = one(&spans, "b", CLIENT);
    assert_eq!(a_in.parent, caller, "the caller's span is continued");
    assert_eq!(a_out.parent, a_in.span_id);
    assert_eq!(
        b_in.parent, a_out.span_id,
        "the attempt's traceparent went upstream"
    );
    assert_eq!(b_out.parent, b_in.span_id);
    assert_eq!(a_in.name, "GET default");
}

#[tokio::test]
async fn spans_are_exported_over_grpc_and_a_new_trace_starts_at_the_root() {
    let receiver = OtlpReceiver::grpc().await;
    let up = Upstream::spawn("u").await;
    let extra = format!(
        "  otlp_endpoint: http://{}\n  protocol: grpc\n  sampling: 1.0\n",
        receiver.addr
    );
    let sw = Seawall::start(&traced(basic_config(&[up.addr]), "g", &extra)).await;
    assert_eq!(fetch(&sw.url("/")).await.status, 200);
    let recv = &receiver;
    eventually(
        "two spans over gRPC",
        || async move { recv.spans().len() >= 2 },
    )
    .await;
    let spans = receiver.spans();
    let root = one(&spans, "g", SERVER);
    let attempt = one(&spans, "g", CLIENT);
    assert!(root.parent.is_empty(), "a new trace: {root:?}");
    assert_eq!(attempt.trace_id, root.trace_id);
    assert_eq!(attempt.parent, root.span_id);
}

#[tokio::test]
async fn with_the_collector_down_every_request_succeeds_and_drops_are_counted() {
    // A port with nothing listening.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dead = closed.local_addr().unwrap();
    drop(closed);
    let up = Upstream::spawn("u").await;
    let extra = format!(
        "  otlp_endpoint: http://{dead}\n  sampling: 1.0\n  queue: 64\n  export_timeout: 1s\n"
    );
    let sw = Seawall::start(&traced(basic_config(&[up.addr]), "down", &extra)).await;
    let mut ok = 0;
    for _ in 0..1_000 {
        if fetch(&sw.url("/")).await.status == 200 {
            ok += 1;
        }
    }
    assert_eq!(ok, 1_000);
    let metrics = format!("http://{}/metrics", sw.admin);
    let dropped = || async {
        let text = fetch(&metrics).await.text();
        text.lines()
            .find_map(|l| l.strip_prefix("seawall_trace_spans_dropped_total "))
            .map_or(0.0, |v| v.trim().parse::<f64>().unwrap())
    };
    eventually("dropped spans counted", || async { dropped().await > 0.0 }).await;
}
