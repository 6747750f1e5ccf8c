//! Validation of `retry:` blocks. A route's block overrides its cluster's
//! key by key (like `admission:`); `budget:` is cluster-only, because a
//! budget counts every request to the cluster or it counts nothing useful.
//! Limits on the budget keys are the ones `tower::retry::budget::TpsBudget`
//! asserts, so a valid config can never make it panic.

use std::num::{NonZeroU32, NonZeroUsize};
use std::time::Duration;

use serde_saphyr::Spanned;

use super::super::error::ConfigError;
use super::super::file::retry::{BudgetFile, RetryFile};
use super::super::file::scalar::SizeFile;
use super::super::settings::defaults;
use super::super::settings::retry::{RetryBudgetSettings, RetryOn, RetryPolicy, RetrySettings};
use super::error;
use super::scalar::{grpc_codes, positive_duration, positive_size, ratio};

/// A cluster's `retry:` block (`None`: every default).
pub(super) fn cluster(raw: Option<&RetryFile>, key: &str) -> Result<RetrySettings, ConfigError> {
    let blocks: Vec<(&RetryFile, &str)> = raw.map(|r| (r, key)).into_iter().collect();
    let budget = budget(
        raw.and_then(|r| r.budget.as_ref()),
        &format!("{key}.budget"),
    )?;
    Ok(RetrySettings {
        policy: policy(&blocks)?,
        budget,
    })
}

/// A route's policy: its own block (`route`) over its cluster's (`cluster`).
pub(super) fn route(
    route: Option<(&RetryFile, &str)>,
    cluster: Option<(&RetryFile, &str)>,
) -> Result<RetryPolicy, ConfigError> {
    if let Some((block, key)) = route
        && let Some(at) = &block.budget
    {
        return Err(error(
            at,
            &format!("{key}.budget"),
            "the retry budget is shared by every route to a cluster; set it in the cluster's `retry:` block",
        ));
    }
    let blocks: Vec<_> = route.into_iter().chain(cluster).collect();
    policy(&blocks)
}

/// Resolves a policy from `blocks`, most specific first.
fn policy(blocks: &[(&RetryFile, &str)]) -> Result<RetryPolicy, ConfigError> {
    let first = |f: fn(&RetryFile) -> bool| blocks.iter().find(|(b, _)| f(b)).copied();
    let max_attempts = match first(|b| b.max_attempts.is_some()) {
        Some((b, key)) => max_attempts(b.max_attempts.as_ref(), &format!("{key}.max_attempts"))?,
        None => NonZeroU32::new(defaults::RETRY_MAX_ATTEMPTS).unwrap_or(NonZeroU32::MIN),
    };
    let on = match first(|b| b.on.is_some()) {
        Some((b, key)) => conditions(b.on.as_ref(), &format!("{key}.on"))?,
        None => RetryOn::ALL.to_vec(),
    };
    let statuses = match first(|b| b.statuses.is_some()) {
        Some((b, key)) => statuses(b.statuses.as_ref(), &format!("{key}.statuses"))?,
        None => defaults::RETRY_STATUSES.to_vec(),
    };
    let grpc_codes = match first(|b| b.grpc_codes.is_some()) {
        Some((b, key)) => grpc_codes(
            b.grpc_codes.as_ref(),
            &format!("{key}.grpc_codes"),
            defaults::RETRY_GRPC_CODES,
        )?,
        None => defaults::RETRY_GRPC_CODES,
    };
    let base_at = first(|b| b.backoff.as_ref().is_some_and(|o| o.base.is_some()));
    let max_at = first(|b| b.backoff.as_ref().is_some_and(|o| o.max.is_some()));
    let backoff = |at: Option<(&RetryFile, &str)>, field: &str, default: Duration| match at {
        Some((b, key)) => {
            let raw = b.backoff.as_ref().and_then(|o| match field {
                "base" => o.base.as_ref(),
                _ => o.max.as_ref(),
            });
            positive_duration(raw, &format!("{key}.backoff.{field}"), default)
        }
        None => Ok(default),
    };
    let backoff_base = backoff(base_at, "base", defaults::RETRY_BACKOFF_BASE)?;
    let backoff_max = backoff(max_at, "max", defaults::RETRY_BACKOFF_MAX.max(backoff_base))?;
    if let Some((b, key)) = max_at
        && let Some(at) = b.backoff.as_ref().and_then(|o| o.max.as_ref())
        && backoff_max < backoff_base
    {
        return Err(error(
            at,
            &format!("{key}.backoff.max"),
            "must be at least `backoff.base` (it caps the growing backoff)",
        ));
    }
    let max_retry_after = match first(|b| b.max_retry_after.is_some()) {
        Some((b, key)) => positive_duration(
            b.max_retry_after.as_ref(),
            &format!("{key}.max_retry_after"),
            defaults::RETRY_MAX_RETRY_AFTER,
        )?,
        None => defaults::RETRY_MAX_RETRY_AFTER,
    };
    let replay_buffer = match first(|b| b.replay_buffer.is_some()) {
        Some((b, key)) => replay_buffer(b.replay_buffer.as_ref(), &format!("{key}.replay_buffer"))?,
        None => usize::try_from(defaults::RETRY_REPLAY_BUFFER).unwrap_or(usize::MAX),
    };
    Ok(RetryPolicy {
        enabled: blocks
            .iter()
            .find_map(|(b, _)| b.enabled)
            .unwrap_or(defaults::RETRY_ENABLED),
        max_attempts,
        on,
        statuses,
        grpc_codes,
        backoff_base,
        backoff_max,
        max_retry_after,
        replay_buffer,
    })
}

fn max_attempts(raw: Option<&Spanned<u32>>, key: &str) -> Result<NonZeroU32, ConfigError> {
    let Some(raw) = raw else {
        return Ok(NonZeroU32::MIN);
    };
    let limit = defaults::RETRY_MAX_ATTEMPTS_LIMIT;
    match NonZeroU32::new(raw.value) {
        Some(n) if n.get() <= limit => Ok(n),
        _ => Err(error(
            raw,
            key,
            format!(
                "max_attempts must be between 1 (no retries) and {limit}; the budget, not this ceiling, is what keeps retries in check"
            ),
        )),
    }
}

fn conditions(
    raw: Option<&Spanned<Vec<Spanned<String>>>>,
    key: &str,
) -> Result<Vec<RetryOn>, ConfigError> {
    let mut out = Vec::new();
    for (i, item) in raw
        .map(|r| r.value.as_slice())
        .unwrap_or_default()
        .iter()
        .enumerate()
    {
        let Some(on) = RetryOn::ALL.into_iter().find(|o| o.name() == item.value) else {
            let known: Vec<&str> = RetryOn::ALL.iter().map(|o| o.name()).collect();
            return Err(error(
                item,
                &format!("{key}[{i}]"),
                format!(
                    "unknown retry condition `{}` (known: {})",
                    item.value,
                    known.join(", ")
                ),
            ));
        };
        if !out.contains(&on) {
            out.push(on);
        }
    }
    Ok(out)
}

/// 5xx, plus 408 and 429: the statuses that say "not now" rather than "never".
fn statuses(raw: Option<&Spanned<Vec<Spanned<u16>>>>, key: &str) -> Result<Vec<u16>, ConfigError> {
    let mut out = Vec::new();
    for (i, code) in raw
        .map(|r| r.value.as_slice())
        .unwrap_or_default()
        .iter()
        .enumerate()
    {
        if !((500..=599).contains(&code.value) || matches!(code.value, 408 | 429)) {
            return Err(error(
                code,
                &format!("{key}[{i}]"),
                format!(
                    "{} cannot be retried; only 5xx, 408 and 429 say the request may succeed later",
                    code.value
                ),
            ));
        }
        out.push(code.value);
    }
    Ok(out)
}

fn replay_buffer(raw: Option<&Spanned<SizeFile>>, key: &str) -> Result<usize, ConfigError> {
    let Some(at) = raw else { return Ok(0) };
    // Zero is allowed: only requests without a body are retried then.
    if matches!(at.value, SizeFile::Bytes(0)) {
        return Ok(0);
    }
    let bytes = positive_size(raw, key, 0)?;
    usize::try_from(bytes).map_err(|_| error(at, key, "replay_buffer is too large"))
}

fn budget(
    raw: Option<&Spanned<BudgetFile>>,
    key: &str,
) -> Result<RetryBudgetSettings, ConfigError> {
    let empty = BudgetFile::default();
    let b = raw.map_or(&empty, |r| &r.value);
    let k = |field: &str| format!("{key}.{field}");
    let ttl = positive_duration(b.ttl.as_ref(), &k("ttl"), defaults::RETRY_BUDGET_TTL)?;
    if let Some(at) = &b.ttl
        && !(Duration::from_secs(1)..=Duration::from_secs(60)).contains(&ttl)
    {
        return Err(error(at, &k("ttl"), "ttl must be between 1s and 60s"));
    }
    let min_per_second = match &b.min_per_second {
        Some(at) if at.value > defaults::RETRY_BUDGET_MIN_PER_SECOND_LIMIT => {
            return Err(error(
                at,
                &k("min_per_second"),
                format!(
                    "min_per_second must be at most {}",
                    defaults::RETRY_BUDGET_MIN_PER_SECOND_LIMIT
                ),
            ));
        }
        Some(at) => at.value,
        None => defaults::RETRY_BUDGET_MIN_PER_SECOND,
    };
    let max_concurrent = match &b.max_concurrent {
        Some(at) => usize::try_from(at.value)
            .ok()
            .and_then(NonZeroUsize::new)
            .ok_or_else(|| {
                error(
                    at,
                    &k("max_concurrent"),
                    "max_concurrent must be at least 1",
                )
            })?,
        None => {
            NonZeroUsize::new(defaults::RETRY_BUDGET_MAX_CONCURRENT).unwrap_or(NonZeroUsize::MIN)
        }
    };
    Ok(RetryBudgetSettings {
        ratio: ratio(b.ratio.as_ref(), &k("ratio"), defaults::RETRY_BUDGET_RATIO)?,
        min_per_second,
        ttl,
        max_concurrent,
    })
}
