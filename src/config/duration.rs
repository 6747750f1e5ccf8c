//! Durations as operators write them: `250ms`, `2s`, `1m`, `1h`, `1m30s`.
//!
//! A bare number is rejected on purpose: `timeout: 5` is ambiguous between
//! seconds and milliseconds, and guessing wrong is a production incident.

use std::time::Duration;

/// Parses `250ms`, `2s`, `1.5s`, `1m30s`, `100us`. Zero is allowed here;
/// validation decides where zero is meaningless.
pub fn parse(text: &str) -> Result<Duration, String> {
    let s = text.trim();
    if s.is_empty() {
        return Err("empty duration; write e.g. `250ms` or `2s`".into());
    }
    let mut total = Duration::ZERO;
    let mut rest = s;
    while !rest.is_empty() {
        let num_end = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(|| format!("`{s}` has no unit; write e.g. `{s}ms` or `{s}s`"))?;
        if num_end == 0 {
            return Err(format!(
                "`{s}` is not a duration; write e.g. `250ms` or `2s`"
            ));
        }
        let (num, tail) = rest.split_at(num_end);
        let unit_end = tail
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(tail.len());
        let (unit, next) = tail.split_at(unit_end);
        let value: f64 = num
            .parse()
            .map_err(|_| format!("`{num}` in `{s}` is not a number"))?;
        let secs_per_unit = match unit {
            "ns" => 1e-9,
            "us" | "µs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            other => {
                return Err(format!(
                    "unknown unit `{other}` in `{s}`; use ns, us, ms, s, m or h"
                ));
            }
        };
        let part = Duration::try_from_secs_f64(value * secs_per_unit)
            .map_err(|_| format!("`{s}` is out of range"))?;
        total = total
            .checked_add(part)
            .ok_or_else(|| format!("`{s}` is out of range"))?;
        rest = next;
    }
    Ok(total)
}

/// Formats a duration the way `parse` reads it back (`250ms`, `2s`, `1m30s`).
pub fn format(d: Duration) -> String {
    let nanos = d.as_nanos();
    if nanos == 0 {
        return "0s".into();
    }
    if nanos.is_multiple_of(1_000_000_000) {
        let secs = d.as_secs();
        let (h, m, s) = (secs / 3600, secs % 3600 / 60, secs % 60);
        let mut out = String::new();
        if h > 0 {
            out.push_str(&format!("{h}h"));
        }
        if m > 0 {
            out.push_str(&format!("{m}m"));
        }
        if s > 0 {
            out.push_str(&format!("{s}s"));
        }
        return out;
    }
    if nanos.is_multiple_of(1_000_000) {
        return format!("{}ms", nanos / 1_000_000);
    }
    if nanos.is_multiple_of(1_000) {
        return format!("{}us", nanos / 1_000);
    }
    format!("{nanos}ns")
}

/// `#[serde(with = ...)]` helper that serializes a `Duration` as a string.
pub mod serde_str {
    use std::time::Duration;

    /// Serializes as `format(d)`.
    pub fn serialize<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&super::format(*d))
    }
}

/// `#[serde(with = ...)]` helper for an optional `Duration`: a string, or
/// null when absent.
pub mod serde_opt {
    use std::time::Duration;

    /// Serializes `Some(d)` as `format(d)`, `None` as null.
    pub fn serialize<S: serde::Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
        match d {
            Some(d) => s.serialize_str(&super::format(*d)),
            None => s.serialize_none(),
        }
    }
}
