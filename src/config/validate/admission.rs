//! Validation of `admission:` blocks, for a cluster or a route.
//!
//! A route's block overrides its cluster's key by key: each setting comes
//! from the most specific block that sets it, then the default. Errors name
//! the block the value came from, so a bad cluster value used by a route
//! still points at the cluster's line.

use std::num::NonZeroUsize;
use std::time::Duration;

use serde_saphyr::Spanned;

use super::super::duration;
use super::super::error::ConfigError;
use super::super::file::admission::{AdaptiveFile, AdmissionFile};
use super::super::settings::admission::{AdaptiveLimitSettings, AdmissionSettings};
use super::super::settings::defaults;
use super::error;
use super::scalar::positive_duration;

/// Resolves `blocks` (most specific first, each with its key path).
pub(super) fn admission(
    blocks: &[(&AdmissionFile, &str)],
) -> Result<AdmissionSettings, ConfigError> {
    let fixed = first(blocks, |b| b.max_concurrent.as_ref()).is_some();
    let max_concurrent = match first(blocks, |b| b.max_concurrent.as_ref()) {
        Some((raw, key)) => {
            let key = format!("{key}.max_concurrent");
            usize::try_from(raw.value)
                .ok()
                .and_then(NonZeroUsize::new)
                .ok_or_else(|| {
                    error(raw, &key, format!(
                        "max_concurrent must be at least 1 (default {}); it is the number of requests the upstream may hold at once",
                        defaults::MAX_CONCURRENT
                    ))
                })?
        }
        None => defaults::MAX_CONCURRENT,
    };
    let max_queue = match first(blocks, |b| b.max_queue.as_ref()) {
        Some((raw, key)) => usize::try_from(raw.value)
            .map_err(|_| error(raw, &format!("{key}.max_queue"), "max_queue is too large"))?,
        None => defaults::MAX_QUEUE,
    };
    let max_queue_wait = duration_key(
        blocks,
        "max_queue_wait",
        |b| b.max_queue_wait.as_ref(),
        defaults::MAX_QUEUE_WAIT,
    )?;
    let target = duration_key(blocks, "target", |b| b.target.as_ref(), defaults::TARGET)?;
    let interval = duration_key(
        blocks,
        "interval",
        |b| b.interval.as_ref(),
        defaults::INTERVAL,
    )?;
    let adaptive_lifo = blocks
        .iter()
        .find_map(|(b, _)| b.adaptive_lifo)
        .unwrap_or(defaults::ADAPTIVE_LIFO);

    // CoDel needs a target well inside its interval: the minimum over an
    // interval can only exceed a target shorter than the interval itself.
    if target >= interval {
        return Err(conflict(
            blocks,
            ("target", |b| b.target.as_ref()),
            ("interval", |b| b.interval.as_ref()),
            format!(
                "target ({}) must be shorter than interval ({}); CoDel's defaults are 5ms and 100ms",
                duration::format(target),
                duration::format(interval)
            ),
        ));
    }
    // A waiter is refused at max_queue_wait; if that is within the target,
    // no sojourn ever exceeds it and CoDel never engages.
    if max_queue_wait <= target {
        return Err(conflict(
            blocks,
            ("max_queue_wait", |b| b.max_queue_wait.as_ref()),
            ("target", |b| b.target.as_ref()),
            format!(
                "max_queue_wait ({}) must be longer than target ({}), or queue-delay shedding never starts",
                duration::format(max_queue_wait),
                duration::format(target)
            ),
        ));
    }
    // No `max_concurrent`: the limit is learnt, within `adaptive` bounds
    // or the defaults. A user who sets nothing is protected already.
    let adaptive = if fixed {
        if let Some((b, key)) = blocks.iter().find(|(b, _)| b.adaptive.is_some())
            && let Some(at) = b
                .adaptive
                .as_ref()
                .and_then(|a| a.min.as_ref().or(a.max.as_ref()))
        {
            return Err(error(
                at,
                &format!("{key}.adaptive"),
                "`adaptive` bounds a learned limit, and `max_concurrent` sets a fixed one: keep one of them",
            ));
        }
        None
    } else {
        Some(adaptive_bounds(blocks)?)
    };
    Ok(AdmissionSettings {
        max_concurrent,
        adaptive,
        max_queue,
        max_queue_wait,
        target,
        interval,
        adaptive_lifo,
    })
}

/// `adaptive.min` and `adaptive.max`, most specific block first: at least
/// 1, and min ≤ max.
fn adaptive_bounds(
    blocks: &[(&AdmissionFile, &str)],
) -> Result<AdaptiveLimitSettings, ConfigError> {
    let bound = |pick: fn(&AdaptiveFile) -> Option<&Spanned<u64>>, name: &str, default: u32| {
        let found = blocks
            .iter()
            .find_map(|(b, key)| b.adaptive.as_ref().and_then(pick).map(|v| (v, *key)));
        match found {
            Some((raw, key)) => u32::try_from(raw.value)
                .ok()
                .filter(|n| *n >= 1)
                .map(|n| (n, Some((raw, key))))
                .ok_or_else(|| {
                    error(
                        raw,
                        &format!("{key}.adaptive.{name}"),
                        format!("{name} must be a whole number from 1 to {}", u32::MAX),
                    )
                }),
            None => Ok((default, None)),
        }
    };
    let (min, min_at) = bound(|a| a.min.as_ref(), "min", defaults::ADAPTIVE_MIN)?;
    let (max, max_at) = bound(|a| a.max.as_ref(), "max", defaults::ADAPTIVE_MAX)?;
    if min > max {
        let (raw, key, name) = match (max_at, min_at) {
            (Some((raw, key)), _) => (raw, key, "max"),
            (None, Some((raw, key))) => (raw, key, "min"),
            (None, None) => unreachable!("the defaults agree"),
        };
        return Err(error(
            raw,
            &format!("{key}.adaptive.{name}"),
            format!("adaptive.min ({min}) must not exceed adaptive.max ({max})"),
        ));
    }
    Ok(AdaptiveLimitSettings {
        min,
        max,
        initial: defaults::ADAPTIVE_INITIAL.clamp(min, max),
        refresh: defaults::ADAPTIVE_REFRESH,
    })
}

type Field<T> = fn(&AdmissionFile) -> Option<&Spanned<T>>;

/// The most specific block's value of a key, with that block's key path.
fn first<'a, T>(
    blocks: &[(&'a AdmissionFile, &'a str)],
    field: Field<T>,
) -> Option<(&'a Spanned<T>, &'a str)> {
    blocks
        .iter()
        .find_map(|(b, key)| field(b).map(|v| (v, *key)))
}

fn duration_key(
    blocks: &[(&AdmissionFile, &str)],
    name: &str,
    field: Field<String>,
    default: Duration,
) -> Result<Duration, ConfigError> {
    match first(blocks, field) {
        Some((raw, key)) => positive_duration(Some(raw), &format!("{key}.{name}"), default),
        None => Ok(default),
    }
}

/// An error about two conflicting keys, at the first one set explicitly
/// (a conflict always involves one, since the defaults agree).
fn conflict(
    blocks: &[(&AdmissionFile, &str)],
    (a, field_a): (&str, Field<String>),
    (b, field_b): (&str, Field<String>),
    message: String,
) -> ConfigError {
    match (first(blocks, field_a), first(blocks, field_b)) {
        (Some((at, key)), _) => error(at, &format!("{key}.{a}"), message),
        (None, Some((at, key))) => error(at, &format!("{key}.{b}"), message),
        (None, None) => {
            let key = blocks.first().map(|(_, key)| (*key).to_owned());
            ConfigError::at(0, 0, key, message)
        }
    }
}
