//! The span processor: a bounded queue, drained by one export task.
//!
//! A finished, sampled span is handed to the queue without waiting
//! (`try_send`); when the queue is full (the collector is slow or down)
//! the span is dropped and counted, so tracing never slows a request. The
//! task sends spans in batches (up to [`MAX_BATCH`], or whatever arrived
//! within [`BATCH_DELAY`] of the first) and counts each batch exported or,
//! when the export fails or outlasts its timeout, dropped. This is the
//! OpenTelemetry SDK's batch processor with the one thing it does not
//! give: the count of what was lost.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use opentelemetry::Context;
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::trace::{Span, SpanData, SpanExporter, SpanProcessor};
use prometheus_client::metrics::counter::Counter;
use tokio::sync::mpsc;
use tokio::time::Instant;

/// Most spans in one export.
pub const MAX_BATCH: usize = 512;
/// Longest a span waits for others to join its batch.
pub const BATCH_DELAY: Duration = Duration::from_millis(200);
/// Export failures are logged at most this often.
const WARN_EVERY: Duration = Duration::from_secs(10);

/// `seawall_trace_spans_exported_total` and `…_dropped_total`.
#[derive(Clone, Debug, Default)]
pub struct SpanCounters {
    /// Spans the collector accepted.
    pub exported: Counter,
    /// Spans lost: the queue was full, or their export failed.
    pub dropped: Counter,
}

/// The processor (see the module docs).
pub struct Queue {
    tx: mpsc::Sender<SpanData>,
    counters: SpanCounters,
    /// Spans queued or being exported.
    unsent: Arc<AtomicUsize>,
}

impl fmt::Debug for Queue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Queue")
            .field("unsent", &self.unsent.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

impl Queue {
    /// A queue of `capacity` spans, exported by a task spawned on the
    /// current runtime; it ends when the queue is dropped and drained.
    pub fn spawn<E>(capacity: usize, exporter: E, timeout: Duration, counters: SpanCounters) -> Self
    where
        E: SpanExporter + 'static,
    {
        let (tx, rx) = mpsc::channel(capacity);
        let unsent = Arc::new(AtomicUsize::new(0));
        let task = Export {
            rx,
            exporter,
            timeout,
            counters: counters.clone(),
            unsent: unsent.clone(),
        };
        tokio::spawn(task.run());
        Self {
            tx,
            counters,
            unsent,
        }
    }

    /// The count of spans queued or being exported.
    pub fn unsent(&self) -> Arc<AtomicUsize> {
        self.unsent.clone()
    }
}

impl SpanProcessor for Queue {
    fn on_start(&self, _span: &mut Span, _cx: &Context) {}

    fn on_end(&self, span: SpanData) {
        if !span.span_context.is_sampled() {
            return;
        }
        self.unsent.fetch_add(1, Ordering::Relaxed);
        if self.tx.try_send(span).is_err() {
            self.unsent.fetch_sub(1, Ordering::Relaxed);
            self.counters.dropped.inc();
        }
    }

    /// Nothing to do synchronously: the export task sends whatever is
    /// queued on its own, and a drain waits for it with
    /// [`super::Tracing::flush`] (async, bounded), not through this.
    fn force_flush(&self) -> OTelSdkResult {
        Ok(())
    }

    fn shutdown_with_timeout(&self, _timeout: Duration) -> OTelSdkResult {
        Ok(())
    }
}

/// The export task's state.
struct Export<E> {
    rx: mpsc::Receiver<SpanData>,
    exporter: E,
    timeout: Duration,
    counters: SpanCounters,
    unsent: Arc<AtomicUsize>,
}

impl<E: SpanExporter> Export<E> {
    async fn run(mut self) {
        let mut warned: Option<Instant> = None;
        while let Some(first) = self.rx.recv().await {
            let mut batch = Vec::with_capacity(MAX_BATCH);
            batch.push(first);
            let until = Instant::now() + BATCH_DELAY;
            while batch.len() < MAX_BATCH {
                match tokio::time::timeout_at(until, self.rx.recv()).await {
                    Ok(Some(span)) => batch.push(span),
                    Ok(None) | Err(_) => break,
                }
            }
            let n = batch.len();
            let outcome = tokio::time::timeout(self.timeout, self.exporter.export(batch)).await;
            match outcome {
                Ok(Ok(())) => {
                    self.counters.exported.inc_by(n as u64);
                }
                failed => {
                    self.counters.dropped.inc_by(n as u64);
                    if warned.is_none_or(|at| at.elapsed() >= WARN_EVERY) {
                        warned = Some(Instant::now());
                        let error = match failed {
                            Ok(Err(e)) => e.to_string(),
                            _ => format!("no answer within {:?}", self.timeout),
                        };
                        tracing::warn!(spans = n, %error, "trace export failed; spans dropped");
                    }
                }
            }
            self.unsent.fetch_sub(n, Ordering::Relaxed);
        }
    }
}
