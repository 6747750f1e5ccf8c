//! Validation of a cluster's failure-isolation blocks: `failure_statuses`,
//! `breaker:`, `outlier:` and `health_check:`.

use std::num::NonZeroU32;
use std::time::Duration;

use serde_saphyr::Spanned;

use super::super::duration;
use super::super::error::ConfigError;
use super::super::file::resilience::{BreakerFile, BreakerModeFile, HealthCheckFile, OutlierFile};
use super::super::file::scalar::NumberOrText;
use super::super::settings::defaults;
use super::super::settings::resilience::{
    BreakerMode, BreakerSettings, BreakerWindow, HealthCheckSettings, OutlierSettings,
};
use super::error;
use super::scalar::{positive_duration, ratio};

/// `failure_statuses`: 5xx codes only, since a 4xx is the caller's fault.
pub(super) fn failure_statuses(
    raw: Option<&Spanned<Vec<Spanned<u16>>>>,
    key: &str,
) -> Result<Vec<u16>, ConfigError> {
    let Some(raw) = raw else {
        return Ok(defaults::FAILURE_STATUSES.to_vec());
    };
    let mut out = Vec::with_capacity(raw.value.len());
    for (i, code) in raw.value.iter().enumerate() {
        if !(500..=599).contains(&code.value) {
            return Err(error(
                code,
                &format!("{key}[{i}]"),
                format!(
                    "{} is not a 5xx status; only server errors can count against an upstream",
                    code.value
                ),
            ));
        }
        out.push(code.value);
    }
    Ok(out)
}

/// `breaker:`
pub(super) fn breaker(
    raw: Option<&BreakerFile>,
    key: &str,
) -> Result<BreakerSettings, ConfigError> {
    let empty = BreakerFile {
        mode: None,
        consecutive_failures: None,
        failure_rate: None,
        slow_call_rate: None,
        accept_multiplier: None,
        slow_call_threshold: None,
        window: None,
        minimum_calls: None,
        open_duration: None,
        max_open_duration: None,
        jitter: None,
        half_open_probes: None,
    };
    let raw = raw.unwrap_or(&empty);
    let k = |field: &str| format!("{key}.{field}");
    let open_duration = positive_duration(
        raw.open_duration.as_ref(),
        &k("open_duration"),
        defaults::BREAKER_OPEN,
    )?;
    let max_open_duration = positive_duration(
        raw.max_open_duration.as_ref(),
        &k("max_open_duration"),
        defaults::BREAKER_MAX_OPEN.max(open_duration),
    )?;
    if let Some(at) = &raw.max_open_duration
        && max_open_duration < open_duration
    {
        return Err(error(
            at,
            &k("max_open_duration"),
            "must be at least `open_duration` (it caps the doubling open time)",
        ));
    }
    Ok(BreakerSettings {
        mode: match raw.mode.unwrap_or(BreakerModeFile::Auto) {
            BreakerModeFile::Auto => BreakerMode::Auto,
            BreakerModeFile::ForceOpen => BreakerMode::ForceOpen,
            BreakerModeFile::ForceClosed => BreakerMode::ForceClosed,
            BreakerModeFile::MetricsOnly => BreakerMode::MetricsOnly,
        },
        consecutive_failures: raw
            .consecutive_failures
            .unwrap_or(defaults::BREAKER_CONSECUTIVE),
        failure_rate: ratio(
            raw.failure_rate.as_ref(),
            &k("failure_rate"),
            defaults::BREAKER_FAILURE_RATE,
        )?,
        slow_call_rate: ratio(raw.slow_call_rate.as_ref(), &k("slow_call_rate"), 0.0)?,
        accept_multiplier: accept_multiplier(
            raw.accept_multiplier.as_ref(),
            &k("accept_multiplier"),
        )?,
        slow_call_threshold: positive_duration(
            raw.slow_call_threshold.as_ref(),
            &k("slow_call_threshold"),
            defaults::BREAKER_SLOW_CALL,
        )?,
        window: window(raw.window.as_ref(), &k("window"))?,
        minimum_calls: raw.minimum_calls.unwrap_or(defaults::BREAKER_MINIMUM_CALLS),
        open_duration,
        max_open_duration,
        jitter: ratio(raw.jitter.as_ref(), &k("jitter"), defaults::JITTER)?,
        half_open_probes: non_zero(
            raw.half_open_probes.as_ref(),
            &k("half_open_probes"),
            defaults::BREAKER_PROBES,
        )?,
    })
}

/// `breaker.accept_multiplier`: 0 (off), or at least 1 (below 1 the
/// throttle would refuse part of what a healthy upstream serves).
fn accept_multiplier(raw: Option<&Spanned<f64>>, key: &str) -> Result<f64, ConfigError> {
    let Some(at) = raw else {
        return Ok(defaults::BREAKER_ACCEPT_MULTIPLIER);
    };
    let k = at.value;
    if k == 0.0 || (k.is_finite() && k >= 1.0) {
        Ok(k)
    } else {
        Err(error(
            at,
            key,
            "must be 0 (throttle off) or a number of at least 1 (2 admits twice what the upstream accepts)",
        ))
    }
}

/// `outlier:`
pub(super) fn outlier(
    raw: Option<&OutlierFile>,
    key: &str,
) -> Result<OutlierSettings, ConfigError> {
    let k = |field: &str| format!("{key}.{field}");
    let base = positive_duration(
        raw.and_then(|r| r.base_ejection_time.as_ref()),
        &k("base_ejection_time"),
        defaults::EJECTION_TIME,
    )?;
    let max_raw = raw.and_then(|r| r.max_ejection_time.as_ref());
    let max = positive_duration(
        max_raw,
        &k("max_ejection_time"),
        defaults::MAX_EJECTION_TIME.max(base),
    )?;
    if let Some(at) = max_raw
        && max < base
    {
        return Err(error(
            at,
            &k("max_ejection_time"),
            "must be at least `base_ejection_time`",
        ));
    }
    Ok(OutlierSettings {
        consecutive_failures: raw
            .and_then(|r| r.consecutive_failures)
            .unwrap_or(defaults::EJECTION_CONSECUTIVE),
        base_ejection_time: base,
        max_ejection_time: max,
        max_ejection_percent: ratio(
            raw.and_then(|r| r.max_ejection_percent.as_ref()),
            &k("max_ejection_percent"),
            defaults::MAX_EJECTION_PERCENT,
        )?,
        cancelled_after: positive_duration(
            raw.and_then(|r| r.cancelled_after.as_ref()),
            &k("cancelled_after"),
            defaults::CANCELLED_AFTER,
        )?,
        failure_percentage: ratio(
            raw.and_then(|r| r.failure_percentage.as_ref()),
            &k("failure_percentage"),
            defaults::FAILURE_PERCENTAGE,
        )?,
        failure_percentage_request_volume: non_zero(
            raw.and_then(|r| r.failure_percentage_request_volume.as_ref()),
            &k("failure_percentage_request_volume"),
            defaults::FAILURE_PERCENTAGE_VOLUME,
        )?
        .get(),
        failure_percentage_window: window_duration(
            raw.and_then(|r| r.failure_percentage_window.as_ref()),
            &k("failure_percentage_window"),
        )?,
    })
}

/// `outlier.failure_percentage_window`: at least 1s, so each half-window
/// bucket holds more than a handful of requests.
fn window_duration(raw: Option<&Spanned<String>>, key: &str) -> Result<Duration, ConfigError> {
    let value = positive_duration(raw, key, defaults::FAILURE_PERCENTAGE_WINDOW)?;
    match raw {
        Some(at) if value < Duration::from_secs(1) => {
            Err(error(at, key, "must be at least 1s (default 10s)"))
        }
        _ => Ok(value),
    }
}

/// `health_check:`; absent means off.
pub(super) fn health_check(
    raw: Option<&HealthCheckFile>,
    key: &str,
) -> Result<Option<HealthCheckSettings>, ConfigError> {
    let Some(raw) = raw else { return Ok(None) };
    let k = |field: &str| format!("{key}.{field}");
    let path = match &raw.path {
        Some(p) if !p.value.starts_with('/') => {
            return Err(error(
                p,
                &k("path"),
                format!("path `{}` must start with `/`", p.value),
            ));
        }
        Some(p) => p.value.clone(),
        None => defaults::HEALTH_PATH.to_owned(),
    };
    Ok(Some(HealthCheckSettings {
        path,
        interval: positive_duration(
            raw.interval.as_ref(),
            &k("interval"),
            defaults::HEALTH_INTERVAL,
        )?,
        jitter: ratio(raw.jitter.as_ref(), &k("jitter"), defaults::JITTER)?,
        timeout: positive_duration(
            raw.timeout.as_ref(),
            &k("timeout"),
            defaults::HEALTH_TIMEOUT,
        )?,
        healthy_threshold: non_zero(
            raw.healthy_threshold.as_ref(),
            &k("healthy_threshold"),
            defaults::HEALTHY_THRESHOLD,
        )?,
        unhealthy_threshold: non_zero(
            raw.unhealthy_threshold.as_ref(),
            &k("unhealthy_threshold"),
            defaults::UNHEALTHY_THRESHOLD,
        )?,
        readmit_ejected: raw.readmit_ejected.unwrap_or(true),
    }))
}

/// `window`: a call count (`100`) or a duration (`10s`).
fn window(raw: Option<&Spanned<NumberOrText>>, key: &str) -> Result<BreakerWindow, ConfigError> {
    let Some(raw) = raw else {
        return Ok(BreakerWindow::Time(defaults::BREAKER_WINDOW));
    };
    let hint = "write a number of calls (`100`) or a duration (`10s`)";
    match &raw.value {
        NumberOrText::Number(n) if *n >= 1.0 && n.fract() == 0.0 && *n <= f64::from(u32::MAX) => {
            // Checked integral and within u32 just above.
            #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
            Ok(BreakerWindow::Count(*n as u32))
        }
        NumberOrText::Number(n) => Err(error(
            raw,
            key,
            format!("{n} is not a positive whole number of calls; {hint}"),
        )),
        NumberOrText::Text(t) => {
            let d = duration::parse(t).map_err(|m| error(raw, key, format!("{m}; {hint}")))?;
            if d < Duration::from_millis(10) {
                return Err(error(raw, key, "a time window must be at least 10ms"));
            }
            Ok(BreakerWindow::Time(d))
        }
    }
}

fn non_zero(
    raw: Option<&Spanned<u32>>,
    key: &str,
    default: u32,
) -> Result<NonZeroU32, ConfigError> {
    let value = raw.map_or(default, |r| r.value);
    match (NonZeroU32::new(value), raw) {
        (Some(n), _) => Ok(n),
        (None, Some(at)) => Err(error(at, key, "must be at least 1")),
        // Every default passed in is non-zero.
        (None, None) => Ok(NonZeroU32::MIN),
    }
}
