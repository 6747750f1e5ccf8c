//! The retry layer's `Retry-After` parsing (`middleware::retry::backoff`):
//! any header value gives a delay only when it is RFC 9110's
//! `delay-seconds` (digits, optional surrounding whitespace) and that many
//! seconds (the longest wait when they overflow), never a panic.
#![no_main]

use std::time::Duration;

use http::{HeaderMap, HeaderValue, header::RETRY_AFTER};
use libfuzzer_sys::fuzz_target;
use seawall::middleware::retry::backoff::retry_after;

fuzz_target!(|data: &[u8]| {
    let Ok(value) = HeaderValue::from_bytes(data) else {
        return;
    };
    let mut headers = HeaderMap::new();
    headers.insert(RETRY_AFTER, value);
    let digits = data.trim_ascii();
    // Too many seconds for a u64 is the longest wait, not none.
    let expected = (!digits.is_empty() && digits.iter().all(u8::is_ascii_digit)).then(|| {
        let text = std::str::from_utf8(digits).expect("digits are UTF-8");
        Duration::from_secs(text.parse::<u64>().unwrap_or(u64::MAX))
    });
    assert_eq!(retry_after(&headers), expected, "{data:?}");
});
