//! The retry decisions, as pure functions: what an attempt's outcome was,
//! whether it may be retried, and what to do next. No I/O, no clock reads:
//! the caller passes elapsed and remaining times, so tests drive every
//! branch directly.

use std::error::Error as StdError;
use std::io;
use std::time::Duration;

use http::{HeaderMap, Method};

use super::backoff::{Backoff, retry_after};
use super::budget::{AttemptOutcome, Refusal};
use crate::config::{RetryOn, RetryPolicy};
use crate::middleware::classify::{Classifier, Grpc, Outcome};
use crate::middleware::timeout::{AttemptTimeout, HeaderTimeout};
use crate::wire::BoxError;
use crate::wire::grpc::{self, Pushback};

/// The header that makes a non-idempotent request safe to retry.
pub const IDEMPOTENCY_KEY: &str = "idempotency-key";

/// What one attempt's outcome means for retrying.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Judged {
    /// For the counters (and agreeing with breaker and ejection).
    pub outcome: AttemptOutcome,
    /// The retry condition it matched, if any (enabled in the policy).
    pub retryable: Option<Failure>,
    /// The request provably never reached the upstream application.
    pub unprocessed: bool,
    /// The upstream's `Retry-After`, if it sent one.
    pub retry_after: Option<Duration>,
}

/// A retryable failure.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Failure {
    /// A listed status.
    Status(u16),
    /// A listed gRPC status, in a trailers-only answer.
    Grpc(u32),
    /// An error condition.
    Error(RetryOn),
}

/// Why a retryable failure was not retried.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GiveUp {
    /// The method is not idempotent and the request may have been processed.
    NotIdempotent,
    /// `max_attempts` reached.
    MaxAttempts,
    /// The body outgrew the replay buffer (or is still held).
    Body,
    /// The upstream asked to wait longer than `max_retry_after`.
    RetryAfter,
    /// The deadline cannot fit the backoff and another attempt.
    Deadline,
    /// The budget (or the concurrency cap) refused.
    Budget(Refusal),
}

/// What to do after an attempt.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decision {
    /// Hand the answer to the client as it is.
    Return,
    /// Retry after this wait (if the budget agrees).
    Retry(Duration),
    /// A retryable failure that will not be retried: answer and mark it.
    GiveUp(GiveUp),
}

/// GET, HEAD, OPTIONS, TRACE, PUT and DELETE (RFC 9110, 9.2.2), or any
/// request with an `Idempotency-Key`.
pub fn safe_to_repeat(method: &Method, headers: &HeaderMap) -> bool {
    method.is_idempotent() || headers.contains_key(IDEMPOTENCY_KEY)
}

/// Judges a response: a local refusal from further down (marked
/// no-retry) is never retried; a listed status is.
pub fn judge_response<B>(
    rsp: &http::Response<B>,
    classifier: &Classifier,
    policy: &RetryPolicy,
) -> Judged {
    let reading = classifier.read(rsp);
    let outcome = match reading.outcome {
        Outcome::Success => AttemptOutcome::Success,
        Outcome::Failure | Outcome::Overloaded => AttemptOutcome::Failure,
        Outcome::Ignored => AttemptOutcome::Local,
    };
    if let Grpc::TrailersOnly(code) = reading.grpc {
        return judge_grpc(code, outcome, rsp.headers(), policy);
    }
    let status = rsp.status().as_u16();
    let listed = outcome != AttemptOutcome::Local && policy.statuses.contains(&status);
    Judged {
        outcome,
        retryable: listed.then_some(Failure::Status(status)),
        unprocessed: false,
        retry_after: retry_after(rsp.headers()),
    }
}

/// A trailers-only gRPC answer with status `code`: retried when the policy
/// lists the code, unless the server's pushback says never (gRFC A6); its
/// pushback is honoured like `Retry-After`. `UNAVAILABLE` says the call was
/// not served, so it is retried whatever the method (every gRPC call is a
/// POST); any other listed code (`DEADLINE_EXCEEDED`, `CANCELLED`) only
/// when the call is safe to repeat (an `Idempotency-Key`).
fn judge_grpc(
    code: u32,
    outcome: AttemptOutcome,
    headers: &HeaderMap,
    policy: &RetryPolicy,
) -> Judged {
    let pushback = grpc::pushback(headers);
    let listed = outcome != AttemptOutcome::Local
        && policy.grpc_codes.contains(code)
        && pushback != Some(Pushback::Never);
    Judged {
        outcome,
        retryable: listed.then_some(Failure::Grpc(code)),
        unprocessed: code == grpc::UNAVAILABLE,
        retry_after: match pushback {
            Some(Pushback::After(wait)) => Some(wait),
            _ => None,
        },
    }
}

/// Judges an error: local ones (breaker open, shed, no endpoint) are never
/// retried; upstream ones by the condition they match.
pub fn judge_error(error: &BoxError, classifier: &Classifier, policy: &RetryPolicy) -> Judged {
    if classifier.error(error) == Outcome::Ignored {
        return Judged {
            outcome: AttemptOutcome::Local,
            retryable: None,
            unprocessed: false,
            retry_after: None,
        };
    }
    let (condition, unprocessed) = condition(error.as_ref()).unzip();
    Judged {
        outcome: AttemptOutcome::Failure,
        retryable: condition
            .filter(|c| policy.on.contains(c))
            .map(Failure::Error),
        unprocessed: unprocessed.unwrap_or(false),
        retry_after: None,
    }
}

/// The condition an upstream error matches, and whether it proves the
/// request was never processed. The strongest proof in the chain wins.
fn condition(error: &(dyn StdError + 'static)) -> Option<(RetryOn, bool)> {
    let mut found = None;
    let mut next = Some(error);
    while let Some(e) = next {
        if e.is::<AttemptTimeout>() || e.is::<HeaderTimeout>() {
            found = found.or(Some((RetryOn::AttemptTimeout, false)));
        }
        if e.is::<crate::upstream::ConnectFailed>() {
            return Some((RetryOn::ConnectFailure, true));
        }
        if let Some(h2) = e.downcast_ref::<h2::Error>() {
            // REFUSED_STREAM: the peer did no work on the stream. A remote
            // graceful GOAWAY (NO_ERROR) fails only the streams above its
            // last-stream-id, which it promises not to process. A GOAWAY
            // with an error code fails every stream and proves nothing.
            let reason = h2.reason();
            if reason == Some(h2::Reason::REFUSED_STREAM)
                || (h2.is_go_away() && h2.is_remote() && reason == Some(h2::Reason::NO_ERROR))
            {
                return Some((RetryOn::RefusedStream, true));
            }
        }
        if let Some(h) = e.downcast_ref::<hyper::Error>()
            && (h.is_incomplete_message() || h.is_closed() || h.is_canceled())
        {
            found = found.or(Some((RetryOn::Reset, false)));
        }
        if let Some(io) = e.downcast_ref::<io::Error>() {
            match io.kind() {
                io::ErrorKind::ConnectionRefused => return Some((RetryOn::ConnectFailure, true)),
                io::ErrorKind::ConnectionReset
                | io::ErrorKind::BrokenPipe
                | io::ErrorKind::UnexpectedEof
                | io::ErrorKind::ConnectionAborted => {
                    found = found.or(Some((RetryOn::Reset, false)));
                }
                _ => {}
            }
        }
        next = e.source();
    }
    found
}

/// Everything [`decide`] needs besides the judged outcome.
#[derive(Clone, Copy, Debug)]
pub struct Facts {
    /// The attempt just made (1 for the first).
    pub attempt: u32,
    /// The method is idempotent or the request has an `Idempotency-Key`.
    pub safe: bool,
    /// How long the attempt took: the estimate of the next one.
    pub elapsed: Duration,
    /// Time left before the request deadline, if it has one.
    pub remaining: Option<Duration>,
    /// The body is still replayable (within the buffer).
    pub replayable: bool,
    /// The balancer had an available endpoint this request has not tried:
    /// the retry goes there, so it does not wait.
    pub untried_endpoint: bool,
}

/// Decides what follows an attempt. The budget is asked by the caller only
/// after this says [`Decision::Retry`], so a request that would give up for
/// another reason never spends it.
pub fn decide(
    judged: &Judged,
    facts: Facts,
    policy: &RetryPolicy,
    backoff: &mut Backoff,
) -> Decision {
    if judged.retryable.is_none() {
        return Decision::Return;
    }
    let give_up = if !(facts.safe || judged.unprocessed) {
        Some(GiveUp::NotIdempotent)
    } else if facts.attempt >= policy.max_attempts.get() {
        Some(GiveUp::MaxAttempts)
    } else if !facts.replayable {
        Some(GiveUp::Body)
    } else if judged
        .retry_after
        .is_some_and(|a| a > policy.max_retry_after)
    {
        Some(GiveUp::RetryAfter)
    } else {
        None
    };
    if let Some(why) = give_up {
        return Decision::GiveUp(why);
    }
    // Backoff protects an endpoint (or a cluster) that just failed; a retry
    // that goes to an endpoint this request has not tried costs it nothing,
    // so it starts at once. An upstream's `Retry-After` is always honoured.
    let backoff_wait = if facts.untried_endpoint {
        Duration::ZERO
    } else {
        backoff.wait(facts.attempt)
    };
    let wait = backoff_wait.max(judged.retry_after.unwrap_or_default());
    match facts.remaining {
        // No retry starts that cannot finish: the wait plus an attempt as
        // long as the last one must fit before the deadline.
        Some(left) if left <= wait + facts.elapsed => Decision::GiveUp(GiveUp::Deadline),
        _ => Decision::Retry(wait),
    }
}
