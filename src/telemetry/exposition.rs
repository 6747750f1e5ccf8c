//! The Prometheus text format (0.0.4), from prometheus-client's OpenMetrics.
//!
//! prometheus-client writes only OpenMetrics, which Prometheus asks for
//! first. Everything else that reads `/metrics` (`promtool check metrics`,
//! older scrapers, `curl` by a person) expects the older text format, and
//! the two differ in a way that matters: OpenMetrics names a counter
//! *family* without `_total` (`# TYPE seawall_requests counter`) while
//! its samples carry the suffix, which a text-format reader sees as a
//! sample without `HELP` or `TYPE`. So, like the Go client's content
//! negotiation, the admin endpoint answers OpenMetrics when the request's
//! `Accept` names it and this text format otherwise; the samples are the
//! same lines in both.

/// `Content-Type` of the text format.
pub const TEXT_CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// `Content-Type` of OpenMetrics.
pub const OPENMETRICS_CONTENT_TYPE: &str =
    "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Rewrites an OpenMetrics exposition as the text format: counter
/// families take their samples' `_total` name in `HELP` and `TYPE`,
/// `unknown` is `untyped`, and `# UNIT` and `# EOF` lines (which the text
/// format does not have) are left out.
pub fn to_text(openmetrics: &str) -> String {
    let mut out = String::with_capacity(openmetrics.len());
    let mut lines = openmetrics.lines().peekable();
    while let Some(line) = lines.next() {
        if line == "# EOF" || line.starts_with("# UNIT ") {
            continue;
        }
        if let Some(rest) = line.strip_prefix("# HELP ") {
            let (name, help) = rest.split_once(' ').unwrap_or((rest, ""));
            let counter = lines
                .peek()
                .and_then(|next| next.strip_prefix("# TYPE "))
                .is_some_and(|t| t.split_once(' ') == Some((name, "counter")));
            let suffix = if counter && !name.ends_with("_total") {
                "_total"
            } else {
                ""
            };
            push_line(&mut out, &format!("# HELP {name}{suffix} {help}"));
            continue;
        }
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            match rest.split_once(' ') {
                Some((name, "counter")) if !name.ends_with("_total") => {
                    push_line(&mut out, &format!("# TYPE {name}_total counter"));
                }
                Some((name, "unknown")) => push_line(&mut out, &format!("# TYPE {name} untyped")),
                _ => push_line(&mut out, line),
            }
            continue;
        }
        push_line(&mut out, line);
    }
    out
}

fn push_line(out: &mut String, line: &str) {
    out.push_str(line);
    out.push('\n');
}

/// Whether an `Accept` header value asks for OpenMetrics.
pub fn wants_openmetrics(accept: Option<&str>) -> bool {
    accept.is_some_and(|a| a.contains("application/openmetrics-text"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_take_their_total_name_and_openmetrics_only_lines_go() {
        let om = "# HELP seawall_requests Requests answered.\n\
                  # TYPE seawall_requests counter\n\
                  seawall_requests_total{route=\"a\"} 3\n\
                  # HELP seawall_open Connections open.\n\
                  # TYPE seawall_open gauge\n\
                  # UNIT seawall_open connections\n\
                  seawall_open 2\n\
                  # HELP odd Something.\n\
                  # TYPE odd unknown\n\
                  odd 1\n\
                  # HELP d Durations.\n\
                  # TYPE d histogram\n\
                  d_bucket{le=\"+Inf\"} 1\n\
                  # EOF\n";
        let text = to_text(om);
        assert_eq!(
            text,
            "# HELP seawall_requests_total Requests answered.\n\
             # TYPE seawall_requests_total counter\n\
             seawall_requests_total{route=\"a\"} 3\n\
             # HELP seawall_open Connections open.\n\
             # TYPE seawall_open gauge\n\
             seawall_open 2\n\
             # HELP odd Something.\n\
             # TYPE odd untyped\n\
             odd 1\n\
             # HELP d Durations.\n\
             # TYPE d histogram\n\
             d_bucket{le=\"+Inf\"} 1\n"
        );
    }

    #[test]
    fn only_an_accept_naming_openmetrics_gets_it() {
        let prometheus = "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";
        assert!(wants_openmetrics(Some(prometheus)));
        assert!(!wants_openmetrics(Some("*/*")));
        assert!(!wants_openmetrics(Some("text/plain")));
        assert!(!wants_openmetrics(None));
    }
}
