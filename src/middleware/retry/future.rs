//! The retry loop: one `async fn` per request, boxed as [`ResponseFuture`].
//!
//! A hand-written state machine (tower's `retry::future`) would spell out
//! the same steps as enum states; the loop holds a backoff sleep, a replay
//! buffer and a retry permit across awaits, and reads as the algorithm in
//! the module docs. The cost is one allocation per request.

use std::sync::Arc;

use std::future::Future;

use futures_util::TryFutureExt;
use futures_util::future::BoxFuture;
use http::HeaderValue;
use http::header::HeaderName;
use tokio::time::{Instant, sleep};
use tower::{Service, ServiceExt};

use super::backoff::Backoff;
use super::budget::{RetryBudget, RetryPermit};
use super::error::GaveUp;
use super::replay::Replay;
use super::state::{self, Decision, Facts, GiveUp};
use crate::config::RetryPolicy;
use crate::middleware::Deadline;
use crate::middleware::balance::EndpointHint;
use crate::middleware::classify::Classifier;
use crate::wire::BoxError;
use crate::wire::body::{self, Request, Response};
use crate::wire::grpc;
use crate::wire::reason::{ERROR_HEADER, NO_RETRY_HEADER};

/// The attempt number, sent upstream on every attempt (1 for the first).
pub const ATTEMPT_HEADER: HeaderName = HeaderName::from_static("x-seawall-attempt");

/// The retry layer's response future.
pub type ResponseFuture = BoxFuture<'static, Result<Response, BoxError>>;

/// What the loop needs besides the request, shared by a service's clones.
#[derive(Debug)]
pub(crate) struct Context {
    pub(crate) policy: RetryPolicy,
    pub(crate) budget: Arc<RetryBudget>,
    pub(crate) classifier: Classifier,
    pub(crate) seed: Option<u64>,
}

/// The attempt header's value: static for the 1 to 10 attempts a policy
/// allows, so the common case costs no allocation.
fn attempt_value(attempt: u32) -> HeaderValue {
    const VALUES: [&str; 10] = ["1", "2", "3", "4", "5", "6", "7", "8", "9", "10"];
    usize::try_from(attempt)
        .ok()
        .and_then(|n| VALUES.get(n.wrapping_sub(1)))
        .map_or_else(
            || HeaderValue::from(attempt),
            |v| HeaderValue::from_static(v),
        )
}

/// Sends `request` through `first` (already ready), then through clones of
/// it, until an answer is final.
///
/// The preparation runs here and the loop is an `async move` block rather
/// than an `async fn`: an `async fn` keeps its arguments twice in its state
/// (as passed and as bound), and this future is boxed for every request,
/// where a box over 1 KiB leaves the allocator's fast path.
pub(crate) fn run<S>(
    mut first: S,
    cx: Arc<Context>,
    request: Request,
) -> impl Future<Output = Result<Response, BoxError>> + Send + 'static
where
    S: Service<Request, Response = Response> + Clone + Send + 'static,
    S::Error: Into<BoxError>,
    S::Future: Send,
{
    cx.budget.deposit();
    let Prepared {
        mut parts,
        replay,
        deadline,
        safe,
    } = prepare(request, &cx.policy);
    let rng = cx
        .seed
        .map_or_else(fastrand::Rng::new, fastrand::Rng::with_seed);
    let mut backoff = Backoff::new(cx.policy.backoff_base, cx.policy.backoff_max, rng);
    async move {
        // `first` is ready for one call; later attempts drive clones of
        // it, so nothing is cloned for a request that is never retried.
        let mut ready = true;
        let mut tried = Vec::new(); // endpoints tried: no allocation until a retry
        let mut _permit: Option<RetryPermit> = None;
        let mut attempt = 1u32;
        loop {
            let hint = EndpointHint::avoiding_all(tried.clone());
            // The attempt's request lives only in this call, so it takes
            // no room in the future across the await.
            let last = attempt >= cx.policy.max_attempts.get();
            let req = attempt_request(&mut parts, replay.as_ref(), attempt, last, &hint);
            let sent = send(&mut first, std::mem::take(&mut ready), req, attempt);
            let started = Instant::now();
            let result = sent.await;
            let judged = match &result {
                Ok(rsp) => state::judge_response(rsp, &cx.classifier, &cx.policy),
                Err(error) => state::judge_error(error, &cx.classifier, &cx.policy),
            };
            cx.budget.record_attempt(judged.outcome);
            // Not retryable: returned before the facts' clock reads.
            if judged.retryable.is_none() {
                return result;
            }
            let facts = facts(attempt, safe, started, deadline, replay.as_ref(), &hint);
            let wait = match state::decide(&judged, facts, &cx.policy, &mut backoff) {
                Decision::Return => return result,
                Decision::GiveUp(why) => {
                    cx.budget.record_give_up();
                    return give_up(result, why);
                }
                Decision::Retry(wait) => wait,
            };
            _permit = None; // the previous retry is over: free its slot first
            match cx.budget.try_retry() {
                Ok(permit) => _permit = Some(permit),
                Err(refusal) => return give_up(result, GiveUp::Budget(refusal)),
            }
            // The balancer's pick, whether answered or failed.
            tried.extend(hint.picked());
            drop(hint);
            // Free the failed attempt's connection before the backoff,
            // unless the body check after it may still need this answer.
            let kept = replay.as_ref().map(|_| result);
            if !wait.is_zero() {
                sleep(wait).await;
            }
            if let (Some(replay), Some(result)) = (&replay, kept)
                && !replay.can_replay()
            {
                cx.budget.record_give_up();
                return give_up(result, GiveUp::Body);
            }
            tracing::debug!(attempt, ?wait, failure = ?judged.retryable, "retrying");
            attempt += 1;
        }
    }
}

/// What `run` keeps of the request across its attempts.
struct Prepared {
    parts: http::request::Parts,
    replay: Option<Replay>,
    deadline: Option<Deadline>,
    safe: bool,
}

/// Takes the request apart once: its head (with the first attempt's
/// number), a replay buffer for its body, its deadline and whether it is
/// safe to send twice.
fn prepare(request: Request, policy: &RetryPolicy) -> Prepared {
    let deadline = request.extensions().get::<Deadline>().copied();
    let safe = state::safe_to_repeat(request.method(), request.headers());
    let (mut parts, body) = request.into_parts();
    // The first attempt's number goes in before the head is copied, so no
    // copy has to grow its header map for it (retries replace the value).
    parts.headers.insert(ATTEMPT_HEADER, attempt_value(1));
    // A request without a body needs no buffer: every attempt gets an
    // empty one.
    let replay =
        (!http_body::Body::is_end_stream(&body)).then(|| Replay::new(body, policy.replay_buffer));
    Prepared {
        parts,
        replay,
        deadline,
        safe,
    }
}

/// The facts of a finished, retryable attempt that a retry decision reads.
fn facts(
    attempt: u32,
    safe: bool,
    started: Instant,
    deadline: Option<Deadline>,
    replay: Option<&Replay>,
    hint: &EndpointHint,
) -> Facts {
    let now = Instant::now();
    Facts {
        attempt,
        safe,
        elapsed: now.saturating_duration_since(started),
        remaining: deadline.map(|d| d.remaining_at(now)),
        // A body still held by the finished attempt is checked again after
        // the backoff, when the connection has let go of it.
        replayable: !replay.is_some_and(Replay::overflowed),
        untried_endpoint: hint.untried_left().unwrap_or(false),
    }
}

/// The request for one attempt: the request head, with the body's replay
/// (or an empty body), the attempt number and the endpoint hint.
///
/// The head itself is sent and a copy of it stays in `parts` for the next
/// attempt: the head as it arrived has room in its header map for the
/// budget header the attempt layer adds, where a copy (allocated to its
/// exact size) would be reallocated for it. The last attempt allowed
/// cannot be retried, so it takes the head and leaves no copy behind.
fn attempt_request(
    parts: &mut http::request::Parts,
    replay: Option<&Replay>,
    attempt: u32,
    last: bool,
    hint: &EndpointHint,
) -> Request {
    let kept = if last {
        http::Request::new(()).into_parts().0
    } else {
        copy_head(parts)
    };
    let head = std::mem::replace(parts, kept);
    let body = replay.map_or_else(body::empty, |r| body::boxed(r.body()));
    let mut req = Request::from_parts(head, body);
    if attempt > 1 {
        // A retry's head is the copy kept before the last attempt, so it
        // still carries the first attempt's number.
        let grpc = grpc::is_grpc(req.headers());
        req.headers_mut()
            .insert(ATTEMPT_HEADER, attempt_value(attempt));
        if grpc {
            // gRFC A6: how many attempts came before this one.
            req.headers_mut()
                .insert(grpc::PREVIOUS_ATTEMPTS, attempt_value(attempt - 1));
        }
    }
    req.extensions_mut().insert(hint.clone());
    req
}

/// A copy of a request head, extensions included.
fn copy_head(parts: &http::request::Parts) -> http::request::Parts {
    let mut copy = http::Request::new(());
    *copy.method_mut() = parts.method.clone();
    *copy.uri_mut() = parts.uri.clone();
    *copy.version_mut() = parts.version;
    *copy.headers_mut() = parts.headers.clone();
    *copy.extensions_mut() = parts.extensions.clone();
    copy.into_parts().0
}

/// Sends one attempt: through `first` when it is still ready for its one
/// call, else through a clone driven to readiness.
fn send<S>(first: &mut S, ready: bool, req: Request, attempt: u32) -> ResponseFuture
where
    S: Service<Request, Response = Response> + Clone + Send + 'static,
    S::Error: Into<BoxError>,
    S::Future: Send,
{
    // The request span (opened by the proxy handler) shows the attempt.
    tracing::Span::current().record("attempt", attempt);
    if ready {
        boxed(first.call(req))
    } else {
        boxed(first.clone().oneshot(req))
    }
}

/// Boxes an attempt's future outside the `async fn`, where the compiler can
/// see that `S::Future: Send` (inside, the bound is asked for every
/// lifetime and fails: rust-lang/rust#64552).
fn boxed<F, E>(future: F) -> ResponseFuture
where
    F: Future<Output = Result<Response, E>> + Send + 'static,
    E: Into<BoxError> + 'static,
{
    Box::pin(future.map_err(Into::into))
}

/// The attempt's own answer, marked final at this hop.
fn give_up(result: Result<Response, BoxError>, why: GiveUp) -> Result<Response, BoxError> {
    tracing::debug!(?why, "retryable failure not retried");
    match result {
        Ok(mut rsp) => {
            let headers = rsp.headers_mut();
            headers.insert(NO_RETRY_HEADER, HeaderValue::from_static("1"));
            if matches!(why, GiveUp::Budget(_)) {
                headers.insert(ERROR_HEADER, HeaderValue::from_static("budget-exhausted"));
            }
            Ok(rsp)
        }
        Err(error) => Err(GaveUp::new(why, error).into()),
    }
}

#[cfg(test)]
mod tests {
    use super::attempt_value;

    #[test]
    fn attempt_values_are_the_decimal_numbers() {
        for n in [1, 2, 9, 10, 11, 1000] {
            assert_eq!(attempt_value(n), n.to_string().as_str());
        }
    }
}
