//! The per-request query parameters that ask for a behaviour.
//!
//! Unknown parameters are ignored (a proxy under test may add its own), but a
//! known parameter with a bad value is an error answered with 400: a test
//! that writes `delay=5` must not silently run without a delay.

use std::time::Duration;

use hyper::StatusCode;
use hyper::header::{HeaderName, HeaderValue};
use seawall::config::duration;

/// What the query string asked for; `None` leaves the fault default.
#[derive(Debug, Default, PartialEq)]
pub struct Query {
    /// `status=503`
    pub status: Option<StatusCode>,
    /// `delay=150ms`: before the response headers.
    pub delay: Option<Duration>,
    /// `body_bytes=N`: a generated body of N bytes instead of the echo.
    pub body_bytes: Option<u64>,
    /// `chunk_delay=10ms`: pause between body chunks.
    pub chunk_delay: Option<Duration>,
    /// `trailers=1`
    pub trailers: Option<bool>,
    /// `hang=1`
    pub hang: Option<bool>,
    /// `header=name:value`, repeatable.
    pub headers: Vec<(HeaderName, HeaderValue)>,
    /// `close=1`
    pub close: Option<bool>,
    /// `reset=1`: cut the response body halfway.
    pub reset: Option<bool>,
}

impl Query {
    /// Parses a raw query string (without the `?`).
    pub fn parse(raw: Option<&str>) -> Result<Self, String> {
        let mut query = Query::default();
        for pair in raw.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            let value = decode(value)?;
            let bad = |e: String| format!("{key}={value}: {e}");
            match decode(key)?.as_str() {
                "status" => query.status = Some(status(&value).map_err(bad)?),
                "delay" => query.delay = Some(duration::parse(&value).map_err(bad)?),
                "body_bytes" => {
                    query.body_bytes = Some(value.parse().map_err(|e| bad(format!("{e}")))?)
                }
                "chunk_delay" => query.chunk_delay = Some(duration::parse(&value).map_err(bad)?),
                "trailers" => query.trailers = Some(flag(&value).map_err(bad)?),
                "hang" => query.hang = Some(flag(&value).map_err(bad)?),
                "close" => query.close = Some(flag(&value).map_err(bad)?),
                "reset" => query.reset = Some(flag(&value).map_err(bad)?),
                "header" => query.headers.push(header(&value).map_err(bad)?),
                _ => {}
            }
        }
        Ok(query)
    }
}

fn status(value: &str) -> Result<StatusCode, String> {
    let code: u16 = value.parse().map_err(|_| "not a status code".to_string())?;
    StatusCode::from_u16(code).map_err(|e| e.to_string())
}

fn flag(value: &str) -> Result<bool, String> {
    match value {
        "1" | "true" | "yes" | "" => Ok(true),
        "0" | "false" | "no" => Ok(false),
        _ => Err("expected 1 or 0".into()),
    }
}

fn header(value: &str) -> Result<(HeaderName, HeaderValue), String> {
    let (name, value) = value
        .split_once(':')
        .ok_or_else(|| "expected name:value".to_string())?;
    let name = HeaderName::from_bytes(name.trim().as_bytes()).map_err(|e| e.to_string())?;
    let value = HeaderValue::from_str(value.trim()).map_err(|e| e.to_string())?;
    Ok((name, value))
}

/// Percent-decoding as in `application/x-www-form-urlencoded` (`+` is a space).
fn decode(text: &str) -> Result<String, String> {
    let mut out = Vec::with_capacity(text.len());
    let mut bytes = text.bytes();
    while let Some(b) = bytes.next() {
        match b {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = [bytes.next(), bytes.next()];
                let digits = hex.map(|d| d.and_then(|d| (d as char).to_digit(16)));
                match digits {
                    [Some(hi), Some(lo)] => out.push((hi * 16 + lo) as u8),
                    _ => return Err(format!("bad percent-escape in `{text}`")),
                }
            }
            _ => out.push(b),
        }
    }
    String::from_utf8(out).map_err(|_| format!("`{text}` is not UTF-8"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_combined_parameters() {
        let q = Query::parse(Some(
            "status=503&delay=150ms&body_bytes=10&chunk_delay=1ms&trailers=1&hang=0&close=1&reset=1\
             &header=x-a:1&header=x-b%3A%20two&other=ignored",
        ))
        .unwrap();
        assert_eq!(q.status, Some(StatusCode::SERVICE_UNAVAILABLE));
        assert_eq!(q.delay, Some(Duration::from_millis(150)));
        assert_eq!(q.body_bytes, Some(10));
        assert_eq!(q.chunk_delay, Some(Duration::from_millis(1)));
        assert_eq!(
            (q.trailers, q.hang, q.close),
            (Some(true), Some(false), Some(true))
        );
        assert_eq!(q.reset, Some(true));
        assert_eq!(q.headers.len(), 2);
        assert_eq!(q.headers[1].0, "x-b");
        assert_eq!(q.headers[1].1, "two");
    }

    #[test]
    fn empty_query_asks_for_nothing() {
        assert_eq!(Query::parse(None).unwrap(), Query::default());
        assert_eq!(Query::parse(Some("")).unwrap(), Query::default());
    }

    #[test]
    fn rejects_bad_values_of_known_parameters() {
        assert!(Query::parse(Some("status=abc")).is_err());
        assert!(
            Query::parse(Some("delay=5"))
                .unwrap_err()
                .contains("delay=5")
        );
        assert!(Query::parse(Some("body_bytes=-1")).is_err());
        assert!(Query::parse(Some("hang=maybe")).is_err());
        assert!(Query::parse(Some("header=novalue")).is_err());
        assert!(Query::parse(Some("header=x:%zz")).is_err());
    }
}
