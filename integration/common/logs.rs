//! Log lines captured from seawall running in the test process.
#![allow(clippy::unwrap_used)] // a poisoned lock or a non-UTF-8 log is a failed test

use std::io::Write;
use std::sync::{Arc, Mutex};

/// Log lines written while it is installed, as JSON (this thread only:
/// `#[tokio::test]` runs seawall's tasks on the test's own thread).
#[derive(Clone, Default)]
pub struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Captured {
    /// Captures events at `level` and above on this thread until the
    /// guard is dropped.
    pub fn install(&self, level: tracing::Level) -> tracing::subscriber::DefaultGuard {
        let writer = self.clone();
        let subscriber = tracing_subscriber::fmt()
            .json()
            .with_max_level(level)
            .with_writer(move || writer.clone())
            .finish();
        tracing::subscriber::set_default(subscriber)
    }

    /// Every captured event, parsed.
    pub fn events(&self) -> Vec<serde_json::Value> {
        let text = String::from_utf8(self.0.lock().unwrap().clone()).unwrap();
        text.lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .collect()
    }

    /// The `fields` of every access log line.
    pub fn access_lines(&self) -> Vec<serde_json::Value> {
        self.events()
            .into_iter()
            .filter(|v| v["target"] == "seawall::access")
            .map(|v| v["fields"].clone())
            .collect()
    }
}
