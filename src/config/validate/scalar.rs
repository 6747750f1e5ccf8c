//! Parsers for the scalar values of the file: sizes, hosts, endpoints,
//! methods and bind addresses, then durations, sizes and shares that must
//! be positive or in range.
//!
//! The first group returns a plain message, to which the caller attaches
//! the location and key; the second returns a located [`ConfigError`].
//! Each rejects rather than guesses: a host with a port, an IPv6 endpoint
//! without brackets or a lower-case method would otherwise route or connect
//! somewhere the operator did not mean.

use std::net::{Ipv6Addr, SocketAddr};
use std::time::Duration;

use serde_saphyr::Spanned;

use super::super::duration;
use super::super::error::ConfigError;
use super::super::file::scalar::{NumberOrText, SizeFile};
use super::super::settings::cluster::EndpointSpec;
use super::error;
use crate::wire::grpc::{CODE_NAMES, Codes, code_named};

/// Size units accepted after a number, with their multipliers.
const SIZE_UNITS: [(&str, u64); 7] = [
    ("B", 1),
    ("KiB", 1 << 10),
    ("MiB", 1 << 20),
    ("GiB", 1 << 30),
    ("KB", 1_000),
    ("MB", 1_000_000),
    ("GB", 1_000_000_000),
];

/// Parses `16384`, `16KiB`, `16 KiB`, `10MB` into bytes. Zero is returned
/// as is; callers decide whether it is allowed.
pub(super) fn size(value: &SizeFile) -> Result<u64, String> {
    let text = match value {
        SizeFile::Bytes(n) => return Ok(*n),
        SizeFile::Text(text) => text.trim(),
    };
    let digits_end = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(digits_end);
    let hint =
        "write e.g. `16KiB`, `10MiB` or a number of bytes; units: B, KiB, MiB, GiB, KB, MB, GB";
    let number: u64 = number
        .parse()
        .map_err(|_| format!("`{text}` is not a size; {hint}"))?;
    let unit = unit.trim_start();
    if unit.is_empty() {
        return Ok(number);
    }
    let (_, multiplier) = SIZE_UNITS
        .iter()
        .find(|(name, _)| *name == unit)
        .ok_or_else(|| format!("unknown size unit `{unit}` in `{text}`; {hint}"))?;
    number
        .checked_mul(*multiplier)
        .ok_or_else(|| format!("`{text}` is too large"))
}

/// Checks a route host (`api.example.com` or `*.example.com`) and returns it
/// lower-cased.
pub(super) fn route_host(text: &str) -> Result<String, String> {
    let host = text.to_ascii_lowercase();
    if host.is_empty() {
        return Err("host is empty; omit `host` to match any host".into());
    }
    if let Some(inner) = host.strip_prefix('[') {
        return match inner.strip_suffix(']').map(str::parse::<Ipv6Addr>) {
            Some(Ok(_)) => Ok(host),
            _ if inner.contains("]:") => Err(port_in_host(text)),
            _ => Err(format!("`{text}` is not a valid bracketed IPv6 address")),
        };
    }
    if let Some((_, port)) = host.rsplit_once(':')
        && !port.is_empty()
        && port.bytes().all(|b| b.is_ascii_digit())
    {
        return Err(port_in_host(text));
    }
    let name = host.strip_prefix("*.").unwrap_or(&host);
    hostname(name).map_err(|why| format!("invalid host `{text}`: {why}"))?;
    Ok(host)
}

fn port_in_host(text: &str) -> String {
    format!("host `{text}` includes a port; routes match the host name only, so remove the port")
}

/// Checks a DNS name or IPv4 literal: dot-separated labels of letters,
/// digits, `-` and `_`.
fn hostname(name: &str) -> Result<(), String> {
    if name.len() > 253 {
        return Err("longer than 253 characters".into());
    }
    for label in name.split('.') {
        if label.is_empty() {
            return Err("empty label (leading, trailing or doubled `.`)".into());
        }
        if label.len() > 63 {
            return Err(format!("label `{label}` is longer than 63 characters"));
        }
        if let Some(c) = label
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || *c == '-' || *c == '_'))
        {
            return Err(format!("character `{c}` is not allowed"));
        }
    }
    Ok(())
}

/// Parses an upstream endpoint: `host:port`, `1.2.3.4:port` or `[::1]:port`.
pub(super) fn endpoint(text: &str) -> Result<EndpointSpec, String> {
    let hint = "write host:port, e.g. `app:8080` or `[::1]:9000`";
    if text.trim().is_empty() {
        return Err(format!("endpoint is empty; {hint}"));
    }
    if text.contains("://") {
        return Err(format!("endpoint `{text}` has a scheme; {hint}"));
    }
    let (host, port) = if let Some(rest) = text.strip_prefix('[') {
        let (ip, port) = rest
            .split_once("]:")
            .ok_or_else(|| format!("endpoint `{text}` has no port; {hint}"))?;
        let ip: Ipv6Addr = ip
            .parse()
            .map_err(|_| format!("`{ip}` in `{text}` is not an IPv6 address"))?;
        (ip.to_string(), port)
    } else {
        let (host, port) = text
            .rsplit_once(':')
            .ok_or_else(|| format!("endpoint `{text}` has no port; {hint}"))?;
        if host.contains(':') {
            return Err(format!("IPv6 endpoint `{text}` needs brackets; {hint}"));
        }
        if host.is_empty() {
            return Err(format!("endpoint `{text}` has no host; {hint}"));
        }
        hostname(host).map_err(|why| format!("invalid host in endpoint `{text}`: {why}"))?;
        (host.to_ascii_lowercase(), port)
    };
    let port: u16 = port
        .parse()
        .map_err(|_| format!("port `{port}` in `{text}` is not a number from 1 to 65535"))?;
    if port == 0 {
        return Err(format!(
            "port 0 in `{text}` cannot be connected to; use the upstream's real port"
        ));
    }
    Ok(EndpointSpec { host, port })
}

/// Checks an HTTP method token. Methods are case-sensitive, so `get` is not
/// `GET`; the file must say exactly what is meant.
pub(super) fn method(text: &str) -> Result<(), String> {
    if text.is_empty() {
        return Err("method is empty".into());
    }
    if http::Method::from_bytes(text.as_bytes()).is_err() {
        return Err(format!("`{text}` is not a valid HTTP method token"));
    }
    if text.bytes().any(|b| b.is_ascii_lowercase()) {
        return Err(format!(
            "method `{text}` is not upper-case; HTTP methods are case-sensitive, write `{}`",
            text.to_ascii_uppercase()
        ));
    }
    Ok(())
}

/// Parses a bind address (`127.0.0.1:8080`, `[::]:8080`).
pub(super) fn bind_address(text: &str) -> Result<SocketAddr, String> {
    text.parse().map_err(|_| {
        format!("`{text}` is not an IP address with a port; write e.g. `127.0.0.1:8080` or `[::]:8080` (host names are not resolved for binding)")
    })
}

/// Parses an optional duration, rejecting zero: every duration in the file
/// is a timeout or a period, and zero would mean "fail at once" or "spin".
pub(super) fn positive_duration(
    raw: Option<&Spanned<String>>,
    key: &str,
    default: Duration,
) -> Result<Duration, ConfigError> {
    let Some(raw) = raw else {
        return Ok(default);
    };
    let value = duration::parse(&raw.value).map_err(|m| error(raw, key, m))?;
    if value.is_zero() {
        // A zero default marks an optional bound that is off when absent.
        let hint = if default.is_zero() {
            "omit the key for no separate bound".to_owned()
        } else {
            format!("default {}", duration::format(default))
        };
        return Err(error(
            raw,
            key,
            format!("duration must be greater than zero ({hint})"),
        ));
    }
    Ok(value)
}

/// Parses an optional size, rejecting zero.
pub(super) fn positive_size(
    raw: Option<&Spanned<SizeFile>>,
    key: &str,
    default: u64,
) -> Result<u64, ConfigError> {
    let Some(raw) = raw else {
        return Ok(default);
    };
    let value = size(&raw.value).map_err(|m| error(raw, key, m))?;
    if value == 0 {
        return Err(error(raw, key, "size must be greater than zero"));
    }
    Ok(value)
}

/// A share in `[0, 1]`, written `0.5` or `50%`.
pub(super) fn ratio(
    raw: Option<&Spanned<NumberOrText>>,
    key: &str,
    default: f64,
) -> Result<f64, ConfigError> {
    let Some(raw) = raw else { return Ok(default) };
    let hint = "write a share such as `0.5` or `50%`";
    let value = match &raw.value {
        NumberOrText::Number(n) => *n,
        NumberOrText::Text(t) => match t.trim().strip_suffix('%') {
            Some(pct) => pct
                .trim()
                .parse::<f64>()
                .map(|p| p / 100.0)
                .map_err(|_| error(raw, key, format!("`{t}` is not a percentage; {hint}")))?,
            None => return Err(error(raw, key, format!("`{t}` is not a share; {hint}"))),
        },
    };
    if !(0.0..=1.0).contains(&value) {
        return Err(error(
            raw,
            key,
            format!("{value} is outside [0, 1]; {hint}"),
        ));
    }
    Ok(value)
}

/// A list of gRPC status codes, by name (`unavailable`, any case) or
/// number; `default` when absent. `ok` is refused: it is never a failure.
pub(super) fn grpc_codes(
    raw: Option<&Spanned<Vec<Spanned<String>>>>,
    key: &str,
    default: Codes,
) -> Result<Codes, ConfigError> {
    let Some(raw) = raw else { return Ok(default) };
    let mut out = Codes::default();
    for (i, name) in raw.value.iter().enumerate() {
        match code_named(&name.value) {
            Some(code) if code != 0 => out.insert(code),
            _ => {
                return Err(error(
                    name,
                    &format!("{key}[{i}]"),
                    format!(
                        "`{}` is not a gRPC failure status; expected one of {} (or its number)",
                        name.value,
                        CODE_NAMES[1..].join(", ")
                    ),
                ));
            }
        }
    }
    Ok(out)
}
