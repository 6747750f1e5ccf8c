//! The standard `process_*` metrics, read from `/proc` at scrape time.
//!
//! The same names and meanings as every Prometheus client library (CPU
//! seconds, resident and virtual memory, open and maximum file
//! descriptors, start time), so the dashboards and alerts written for
//! them work unchanged. Read with plain file reads rather than a crate or
//! a C call: `/proc/self/stat` counts CPU time in `USER_HZ` ticks, which
//! the kernel's ABI fixes at 100 on every architecture (Prometheus's own
//! `procfs` library relies on the same constant), and the memory figures
//! come in kB from `/proc/self/status`. On a system without `/proc` a
//! figure that cannot be read is left out of the scrape.

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;

/// Clock ticks per second of `/proc/<pid>/stat` (the kernel's `USER_HZ`).
const USER_HZ: f64 = 100.0;

/// Encodes the `process_*` families of this process on each scrape.
#[derive(Debug, Default)]
pub struct ProcessCollector;

impl ProcessCollector {
    /// A collector of the calling process.
    pub fn new() -> Self {
        Self
    }
}

/// One reading of the figures, each absent when it could not be read.
#[derive(Debug, Default, PartialEq)]
pub struct Reading {
    /// User plus system CPU time, seconds.
    pub cpu_seconds: Option<f64>,
    /// Resident set size, bytes.
    pub resident_bytes: Option<f64>,
    /// Virtual memory size, bytes.
    pub virtual_bytes: Option<f64>,
    /// File descriptors open now.
    pub open_fds: Option<f64>,
    /// The soft limit on open file descriptors.
    pub max_fds: Option<f64>,
    /// Start time, seconds since the Unix epoch.
    pub start_time_seconds: Option<f64>,
}

impl Reading {
    /// Reads this process's figures from `/proc`.
    pub fn now() -> Self {
        let read = |path: &str| std::fs::read_to_string(path).ok();
        let stat = read("/proc/self/stat");
        let stat = stat.as_deref().and_then(stat_fields);
        let status = read("/proc/self/status");
        let boot = read("/proc/stat").as_deref().and_then(boot_time);
        #[allow(clippy::cast_precision_loss)]
        let open_fds = std::fs::read_dir("/proc/self/fd")
            .ok()
            .map(|d| d.count() as f64);
        Self {
            cpu_seconds: stat.map(|s| s.cpu_ticks / USER_HZ),
            resident_bytes: status.as_deref().and_then(|s| kb_field(s, "VmRSS:")),
            virtual_bytes: status.as_deref().and_then(|s| kb_field(s, "VmSize:")),
            open_fds,
            max_fds: read("/proc/self/limits")
                .as_deref()
                .and_then(max_open_files),
            start_time_seconds: stat.zip(boot).map(|(s, b)| b + s.start_ticks / USER_HZ),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq)]
struct Stat {
    cpu_ticks: f64,
    start_ticks: f64,
}

/// utime + stime (fields 14, 15) and starttime (field 22) of a
/// `/proc/<pid>/stat` line. The command name (field 2) may hold spaces and
/// parentheses, so fields are counted from its last `)`.
fn stat_fields(line: &str) -> Option<Stat> {
    let rest = &line[line.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // `rest` starts at field 3 (the state).
    let field = |n: usize| fields.get(n - 3)?.parse::<f64>().ok();
    Some(Stat {
        cpu_ticks: field(14)? + field(15)?,
        start_ticks: field(22)?,
    })
}

/// `btime` of `/proc/stat`: boot time, seconds since the epoch.
fn boot_time(text: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix("btime "))?
        .trim()
        .parse()
        .ok()
}

/// A `Name:   1234 kB` line of `/proc/<pid>/status`, in bytes.
fn kb_field(text: &str, name: &str) -> Option<f64> {
    let value = text.lines().find_map(|l| l.strip_prefix(name))?;
    let kb: f64 = value.split_whitespace().next()?.parse().ok()?;
    Some(kb * 1024.0)
}

/// The soft limit of `Max open files` in `/proc/<pid>/limits`
/// (`unlimited` is left out: there is no number to report).
fn max_open_files(text: &str) -> Option<f64> {
    let line = text
        .lines()
        .find_map(|l| l.strip_prefix("Max open files"))?;
    line.split_whitespace().next()?.parse().ok()
}

impl Collector for ProcessCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let r = Reading::now();
        if let Some(v) = r.cpu_seconds {
            let m = encoder.encode_descriptor(
                "process_cpu_seconds",
                "Total user and system CPU time spent in seconds.",
                None,
                MetricType::Counter,
            )?;
            ConstCounter::new(v).encode(m)?;
        }
        for (name, help, value) in [
            (
                "process_resident_memory_bytes",
                "Resident memory size in bytes.",
                r.resident_bytes,
            ),
            (
                "process_virtual_memory_bytes",
                "Virtual memory size in bytes.",
                r.virtual_bytes,
            ),
            (
                "process_open_fds",
                "Number of open file descriptors.",
                r.open_fds,
            ),
            (
                "process_max_fds",
                "Maximum number of open file descriptors.",
                r.max_fds,
            ),
            (
                "process_start_time_seconds",
                "Start time of the process since unix epoch in seconds.",
                r.start_time_seconds,
            ),
        ] {
            if let Some(v) = value {
                let m = encoder.encode_descriptor(name, help, None, MetricType::Gauge)?;
                ConstGauge::new(v).encode(m)?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_fields_are_counted_after_the_command_name() {
        // A command name with a space and a parenthesis, as a process may
        // name itself.
        let line = "4242 (sea wall) x) S 1 4242 4242 0 -1 4194560 100 0 0 0 \
                    250 130 0 0 20 0 3 0 7700 1000000 900 18446744073709551615";
        let s = stat_fields(line).unwrap();
        assert_eq!(s.cpu_ticks, 380.0);
        assert_eq!(s.start_ticks, 7700.0);
        assert_eq!(stat_fields("4242 (short"), None);
    }

    #[test]
    fn status_limits_and_boot_time_parse() {
        let status = "Name:\tseawall\nVmSize:\t  20000 kB\nVmRSS:\t    9300 kB\n";
        assert_eq!(kb_field(status, "VmRSS:"), Some(9300.0 * 1024.0));
        assert_eq!(kb_field(status, "VmSize:"), Some(20000.0 * 1024.0));
        assert_eq!(kb_field(status, "VmSwap:"), None);
        let limits = "Limit                     Soft Limit           Hard Limit           Units\n\
                      Max open files            20000                40000                files\n";
        assert_eq!(max_open_files(limits), Some(20000.0));
        let unlimited =
            "Max open files            unlimited            unlimited            files\n";
        assert_eq!(max_open_files(unlimited), None);
        assert_eq!(
            boot_time("cpu 1 2 3\nbtime 1764800000\n"),
            Some(1_764_800_000.0)
        );
    }

    #[test]
    fn this_process_reads_sensibly() {
        let r = Reading::now();
        assert!(r.resident_bytes.unwrap() > 1e5);
        assert!(r.open_fds.unwrap() >= 3.0);
        assert!(r.max_fds.unwrap() >= r.open_fds.unwrap());
        let started = r.start_time_seconds.unwrap();
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs_f64();
        // Started before now, and within the last day (a test run).
        assert!(
            started <= now + 1.0 && started > now - 86_400.0,
            "{started} {now}"
        );
        assert!(r.cpu_seconds.unwrap() >= 0.0);
    }
}
