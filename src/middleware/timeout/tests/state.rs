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
fn the_start_is_the_earliest_bound_and_the_end_only_the_caps() {
    use Bound::*;
    let now = Instant::now();
    let fix = |request, total: Option<u64>, caller: Option<u64>| {
        Deadlines::fix(now, MS(request), total.map(MS), caller.map(MS))
    };
    // The route's `request` timeout bounds the start only.
    let d = fix(500, None, None);
    assert_eq!((d.start, d.end), ((now + MS(500), Request), None));
    // A caller's budget bounds the whole call, and the start if shorter.
    let d = fix(500, None, Some(80));
    assert_eq!(d.start, (now + MS(80), Caller));
    assert_eq!(d.end, Some((now + MS(80), Caller)));
    let d = fix(500, None, Some(900));
    assert_eq!(d.start, (now + MS(500), Request));
    assert_eq!(d.end, Some((now + MS(900), Caller)));
    // `total` caps the whole exchange; the earlier cap wins, a tie is the
    // caller's, and a tie with `request` at the start is the request's.
    let d = fix(500, Some(2000), Some(900));
    assert_eq!(d.end, Some((now + MS(900), Caller)));
    let d = fix(500, Some(700), Some(900));
    assert_eq!(d.end, Some((now + MS(700), Total)));
    assert_eq!(fix(500, Some(900), Some(900)).end.unwrap().1, Caller);
    assert_eq!(fix(500, Some(200), None).start, (now + MS(200), Total));
    assert_eq!(fix(500, Some(500), None).start, (now + MS(500), Request));
}

#[test]
fn deadlines_fixed_on_arrival_tighten_later_ones_and_keep_their_names() {
    let t0 = Instant::now();
    let later = Deadlines::fix(t0 + MS(30), MS(500), Some(MS(900)), None);
    let d = later.within(Some(t0 + MS(500)), Some(t0 + MS(900)));
    assert_eq!(d.start, (t0 + MS(500), Bound::Request));
    assert_eq!(d.end, Some((t0 + MS(900), Bound::Total)));
    // Nothing fixed earlier: unchanged; no end stays no end.
    assert_eq!(later.within(None, None), later);
    let open = Deadlines::fix(t0, MS(500), None, None);
    assert_eq!(open.within(None, Some(t0)).end, None);
}

#[test]
fn forward_budget_decrements_the_end_and_respects_the_attempt() {
    let t0 = Instant::now();
    let end = Some(t0 + MS(300));
    assert_eq!(forward_budget(t0 + MS(120), end, None), Some(MS(180)));
    assert_eq!(forward_budget(t0, end, Some(t0 + MS(100))), Some(MS(100)));
    assert_eq!(forward_budget(t0, None, Some(t0 + MS(100))), Some(MS(100)));
    assert_eq!(
        forward_budget(t0 + MS(400), end, None),
        Some(Duration::ZERO)
    );
    // Nothing bounds the whole exchange: nothing to forward.
    assert_eq!(forward_budget(t0, None, None), None);
}

#[test]
fn clear_budget_removes_both_headers_and_nothing_else() {
    let mut h = headers(&[
        (&TIMEOUT_MS_HEADER, "-5"),
        (&GRPC_TIMEOUT_HEADER, "soon"),
        (&CONTENT_TYPE, "application/grpc"),
    ]);
    clear_budget(&mut h);
    assert!(!h.contains_key(TIMEOUT_MS_HEADER));
    assert!(!h.contains_key(GRPC_TIMEOUT_HEADER));
    assert_eq!(h.len(), 1);
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
