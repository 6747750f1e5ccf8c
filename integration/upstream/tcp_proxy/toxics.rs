//! The faults ("toxics") the TCP proxy applies, as set over HTTP. Named and
//! shaped after toxiproxy's, because that is the vocabulary people know; all
//! of them act on every connection, open or new, from the moment they are
//! set (a partition must also hit the pooled connections a proxy already has).
//!
//! JSON, every key optional, unknown keys rejected:
//! `{"latency": "200ms", "bandwidth": 10240, "slicer": {"size": 64, "delay": "1ms"},
//!   "reset_peer": "0ms", "timeout": "0ms", "limit_data": 4096}`

use std::time::Duration;

use seawall::config::duration;
use serde::{Deserialize, Serialize};
use tokio::time::Instant;

/// The JSON accepted by `POST /_proxy/toxics`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ToxicFile {
    /// Added before each chunk is forwarded, both directions.
    latency: Option<String>,
    /// Bytes per second, each direction.
    bandwidth: Option<u64>,
    /// Forward in pieces of `size` bytes, `delay` apart.
    slicer: Option<SlicerFile>,
    /// Reset every connection (RST) this long after it opened or after the
    /// toxic was set, whichever is later.
    reset_peer: Option<String>,
    /// Blackhole: forward nothing; close after this long (`"0ms"`: never).
    timeout: Option<String>,
    /// Close a connection once this many bytes went through it.
    limit_data: Option<u64>,
}

/// `slicer` in [`ToxicFile`].
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SlicerFile {
    size: usize,
    delay: String,
}

/// Validated toxics, stamped with when they were set.
#[derive(Debug, Clone, Serialize)]
pub struct Toxics {
    /// See [`ToxicFile`].
    #[serde(with = "duration::serde_str")]
    pub latency: Duration,
    /// Bytes per second; `None` is unlimited.
    pub bandwidth: Option<u64>,
    /// `(piece size, delay between pieces)`.
    #[serde(skip)]
    pub slicer: Option<(usize, Duration)>,
    /// Reset after this long.
    #[serde(skip)]
    pub reset_peer: Option<Duration>,
    /// Blackhole, closing after this long (zero: never).
    #[serde(skip)]
    pub timeout: Option<Duration>,
    /// Per-connection byte limit.
    pub limit_data: Option<u64>,
    /// When these toxics were set.
    #[serde(skip)]
    pub since: Instant,
}

impl Default for Toxics {
    fn default() -> Self {
        Toxics {
            latency: Duration::ZERO,
            bandwidth: None,
            slicer: None,
            reset_peer: None,
            timeout: None,
            limit_data: None,
            since: Instant::now(),
        }
    }
}

impl ToxicFile {
    /// Checks every value; the message is answered with 400.
    pub fn validate(self) -> Result<Toxics, String> {
        let parse = |key: &str, text: Option<String>| {
            text.map(|t| duration::parse(&t).map_err(|e| format!("{key}: {e}")))
                .transpose()
        };
        let slicer = match self.slicer {
            Some(s) if s.size == 0 => return Err("slicer.size must be at least 1".into()),
            Some(s) => Some((
                s.size,
                parse("slicer.delay", Some(s.delay))?.unwrap_or_default(),
            )),
            None => None,
        };
        if self.bandwidth == Some(0) {
            return Err("bandwidth must be at least 1 byte/s (use timeout to blackhole)".into());
        }
        Ok(Toxics {
            latency: parse("latency", self.latency)?.unwrap_or_default(),
            bandwidth: self.bandwidth,
            slicer,
            reset_peer: parse("reset_peer", self.reset_peer)?,
            timeout: parse("timeout", self.timeout)?,
            limit_data: self.limit_data,
            since: Instant::now(),
        })
    }
}

impl Toxics {
    /// When a connection opened at `opened` must be cut, and whether by a
    /// reset (`true`) or a plain close; `None` if never.
    pub fn cut_at(&self, opened: Instant) -> Option<(Instant, bool)> {
        let from = opened.max(self.since);
        let reset = self.reset_peer.map(|d| (from + d, true));
        let close = self
            .timeout
            .filter(|d| !d.is_zero())
            .map(|d| (from + d, false));
        match (reset, close) {
            (Some(r), Some(c)) => Some(if r.0 <= c.0 { r } else { c }),
            (r, c) => r.or(c),
        }
    }

    /// True while data must be swallowed instead of forwarded.
    pub fn blackhole(&self) -> bool {
        self.timeout.is_some()
    }

    /// A human summary for the stats endpoint and logs.
    pub fn describe(&self) -> String {
        format!(
            "latency={:?} bandwidth={:?} slicer={:?} reset_peer={:?} timeout={:?} limit_data={:?}",
            self.latency,
            self.bandwidth,
            self.slicer,
            self.reset_peer,
            self.timeout,
            self.limit_data
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(json: &str) -> Result<Toxics, String> {
        serde_json::from_str::<ToxicFile>(json)
            .map_err(|e| e.to_string())?
            .validate()
    }

    #[test]
    fn parses_every_toxic_and_rejects_nonsense() {
        let t = parse(
            r#"{"latency":"200ms","bandwidth":1000,"slicer":{"size":8,"delay":"1ms"},
                "reset_peer":"1s","limit_data":10}"#,
        )
        .unwrap();
        assert_eq!(t.latency, Duration::from_millis(200));
        assert_eq!(t.slicer, Some((8, Duration::from_millis(1))));
        assert_eq!((t.bandwidth, t.limit_data), (Some(1000), Some(10)));
        assert!(parse(r#"{"latancy":"1ms"}"#).is_err());
        assert!(parse(r#"{"bandwidth":0}"#).is_err());
        assert!(parse(r#"{"slicer":{"size":0,"delay":"1ms"}}"#).is_err());
        assert!(parse(r#"{"timeout":"5"}"#).is_err());
    }

    #[tokio::test(start_paused = true)]
    async fn cut_counts_from_the_later_of_open_and_set() {
        let opened = Instant::now();
        tokio::time::advance(Duration::from_secs(5)).await;
        let t = parse(r#"{"reset_peer":"1s","timeout":"3s"}"#).unwrap();
        assert_eq!(
            t.cut_at(opened),
            Some((t.since + Duration::from_secs(1), true))
        );
        let hole = parse(r#"{"timeout":"0ms"}"#).unwrap();
        assert!(hole.blackhole() && hole.cut_at(opened).is_none());
        assert!(Toxics::default().cut_at(opened).is_none());
    }
}
