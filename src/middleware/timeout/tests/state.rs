//! Tests of the pure deadline arithmetic in `state.rs`: header parsing and
//! formatting, min of route and caller, decrement, what is written upstream.

use std::time::Duration;

use http::HeaderMap;
use http::header::{CONTENT_TYPE, HeaderName};
use tokio::time::Instant;

use super::super::state::*;

const MS: fn(u64) -> Duration = Duration::from_millis;

fn headers(pairs: &[(&HeaderName, &str)]) -> HeaderMap {
    let mut h = HeaderMap::new();
    for (k, v) in pairs {
        h.append((*k).clone(), v.parse().unwrap());
    }
    h
}

#[test]
fn grpc_timeout_parses_every_unit() {
    let cases = [
        ("2H", Duration::from_secs(7200)),
        ("3M", Duration::from_secs(180)),
        ("5S", Duration::from_secs(5)),
        ("250m", MS(250)),
        ("7u", Duration::from_micros(7)),
        ("99999999n", Duration::from_nanos(99_999_999)),
        ("0m", Duration::ZERO),
    ];
    for (text, want) in cases {
        assert_eq!(parse_grpc_timeout(text.as_bytes()), Some(want), "{text}");
    }
}

#[test]
fn grpc_timeout_rejects_malformed_values() {
    for text in [
        "",
        "m",
        "100",
        "123456789m",
        "10x",
        "-1m",
        " 1m",
        "1.5S",
        "1 S",
    ] {
        assert_eq!(parse_grpc_timeout(text.as_bytes()), None, "{text:?}");
    }
}

#[test]
fn grpc_timeout_formats_in_eight_digits_rounding_down() {
    assert_eq!(format_grpc_timeout(MS(50)), "50000000n");
    assert_eq!(format_grpc_timeout(MS(250)), "250000u");
    assert_eq!(
        format_grpc_timeout(Duration::from_nanos(1_234_567_891)),
        "1234567u"
    );
    assert_eq!(
        format_grpc_timeout(Duration::from_secs(100 * 3600)),
        "360000S"
    );
    assert_eq!(format_grpc_timeout(Duration::ZERO), "0n");
    for d in [MS(1), MS(1500), Duration::from_secs(86_400 * 400)] {
        let back = parse_grpc_timeout(format_grpc_timeout(d).as_bytes()).unwrap();
        assert!(
            back <= d && d - back < d / 1000 + Duration::from_nanos(1),
            "{d:?}"
        );
    }
}

#[test]
fn timeout_ms_accepts_digits_only() {
    assert_eq!(parse_timeout_ms(b"100"), Some(MS(100)));
    assert_eq!(parse_timeout_ms(b"0"), Some(Duration::ZERO));
    for bad in [
        &b""[..],
        b"+5",
        b"1.5",
        b"5ms",
        b" 5",
        b"99999999999999999999",
    ] {
        assert_eq!(parse_timeout_ms(bad), None);
    }
}

#[test]
fn caller_budget_is_the_smaller_of_both_headers() {
    let h = headers(&[(&TIMEOUT_MS_HEADER, "300"), (&GRPC_TIMEOUT_HEADER, "1S")]);
    assert_eq!(CallerBudget::from_headers(&h).budget, Some(MS(300)));
    let h = headers(&[(&TIMEOUT_MS_HEADER, "3000"), (&GRPC_TIMEOUT_HEADER, "1S")]);
    assert_eq!(CallerBudget::from_headers(&h).budget, Some(MS(1000)));
    assert_eq!(
        CallerBudget::from_headers(&HeaderMap::new()),
        CallerBudget::default()
    );
}

#[test]
fn malformed_or_repeated_header_is_flagged_and_the_other_still_counts() {
    let h = headers(&[(&TIMEOUT_MS_HEADER, "soon"), (&GRPC_TIMEOUT_HEADER, "20m")]);
    let b = CallerBudget::from_headers(&h);
    assert_eq!((b.budget, b.malformed), (Some(MS(20)), true));
    let h = headers(&[(&TIMEOUT_MS_HEADER, "10"), (&TIMEOUT_MS_HEADER, "20")]);
    let b = CallerBudget::from_headers(&h);
    assert_eq!((b.budget, b.malformed), (None, true));
}

#[test]
fn effective_deadline_is_the_earlier_of_route_and_caller() {
    let now = Instant::now();
    assert_eq!(effective_deadline(now, MS(500), None), now + MS(500));
    assert_eq!(effective_deadline(now, MS(500), Some(MS(80))), now + MS(80));
    assert_eq!(
        effective_deadline(now, MS(500), Some(MS(900))),
        now + MS(500)
    );
}

#[test]
fn forward_budget_decrements_and_respects_the_attempt() {
    let t0 = Instant::now();
    let deadline = t0 + MS(300);
    assert_eq!(forward_budget(t0 + MS(120), deadline, None), MS(180));
    assert_eq!(forward_budget(t0, deadline, Some(t0 + MS(100))), MS(100));
    assert_eq!(forward_budget(t0 + MS(400), deadline, None), Duration::ZERO);
}

#[test]
fn write_budget_replaces_and_adds_grpc_only_for_grpc() {
    let mut h = headers(&[(&TIMEOUT_MS_HEADER, "9999")]);
    write_budget(&mut h, Duration::from_micros(180_900));
    assert_eq!(h[TIMEOUT_MS_HEADER], "180");
    assert!(!h.contains_key(GRPC_TIMEOUT_HEADER));
    let mut h = headers(&[(&CONTENT_TYPE, "application/grpc+proto")]);
    write_budget(&mut h, MS(250));
    assert_eq!(h[GRPC_TIMEOUT_HEADER], "250000u");
    assert_eq!(h.get_all(TIMEOUT_MS_HEADER).iter().count(), 1);
}
