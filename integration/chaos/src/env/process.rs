//! A child process of the loopback environment: started, waited on until it
//! prints where it listens (never a fixed sleep), signalled, and killed when
//! dropped. Its stdout is drained for its whole life: seawall logs there,
//! and a full pipe would block it mid-scenario.

use std::net::SocketAddr;
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::mpsc;
use tokio::time::timeout;

use crate::Error;

/// A running child.
#[derive(Debug)]
pub struct Proc {
    child: Child,
    /// The addresses it announced, in announcement order.
    pub addrs: Vec<SocketAddr>,
}

/// Turns one stdout line into an announced address, if it is one.
pub type Announce = fn(&str) -> Option<SocketAddr>;

/// `listening on ADDR` / `control on ADDR` (seawall-upstream).
pub fn upstream_line(line: &str) -> Option<SocketAddr> {
    let addr = line
        .strip_prefix("listening on ")
        .or_else(|| line.strip_prefix("control on "))?;
    addr.parse().ok()
}

/// seawall's JSON `listening` (ingress) and `admin listening` log lines.
pub fn seawall_line(line: &str) -> Option<SocketAddr> {
    let v: serde_json::Value = serde_json::from_str(line).ok()?;
    let fields = if v["fields"].is_object() {
        &v["fields"]
    } else {
        &v
    };
    match fields["message"].as_str()? {
        "listening" | "admin listening" => fields["address"].as_str()?.parse().ok(),
        _ => None,
    }
}

impl Proc {
    /// Starts `bin args` and waits until it announced `count` addresses.
    pub async fn spawn(
        bin: &Path,
        args: &[String],
        count: usize,
        announce: Announce,
    ) -> Result<Proc, Error> {
        let mut child = Command::new(bin)
            .args(args)
            .env(
                "RUST_LOG",
                std::env::var("CHAOS_RUST_LOG").unwrap_or_else(|_| "warn,seawall=info".into()),
            )
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| format!("starting {}: {e}", bin.display()))?;
        let stdout = child.stdout.take().ok_or("stdout is piped")?;
        let (tx, mut rx) = mpsc::unbounded_channel();
        // CHAOS_LOG_FILE: every child's stdout appended there (debugging a
        // scenario, with CHAOS_RUST_LOG for the filter).
        let mut copy = match std::env::var_os("CHAOS_LOG_FILE") {
            Some(path) => Some(
                tokio::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(path)
                    .await?,
            ),
            None => None,
        };
        tokio::spawn(async move {
            let mut lines = BufReader::new(stdout).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                if let Some(f) = copy.as_mut() {
                    use tokio::io::AsyncWriteExt;
                    let _ = f.write_all(format!("{line}\n").as_bytes()).await;
                }
                if let Some(addr) = announce(&line) {
                    let _ = tx.send(addr);
                }
            }
        });
        let mut addrs = Vec::new();
        while addrs.len() < count {
            match timeout(Duration::from_secs(20), rx.recv()).await {
                Ok(Some(addr)) => addrs.push(addr),
                _ => {
                    return Err(format!(
                        "{} {args:?} did not announce its addresses",
                        bin.display()
                    )
                    .into());
                }
            }
        }
        Ok(Proc { child, addrs })
    }

    /// Sends `kill -SIG` (e.g. `STOP`, `CONT`, `TERM`).
    pub async fn signal(&self, sig: &str) -> Result<(), Error> {
        let pid = self.child.id().ok_or("process already reaped")?;
        let status = Command::new("kill")
            .arg(format!("-{sig}"))
            .arg(pid.to_string())
            .status()
            .await?;
        if status.success() {
            Ok(())
        } else {
            Err(format!("kill -{sig} {pid} failed").into())
        }
    }

    /// SIGKILL and reap: its ports are closed when this returns.
    pub async fn kill(mut self) {
        let _ = self.child.kill().await;
    }

    /// Waits for the exit, at most `within`; `None` if it did not exit.
    pub async fn wait(&mut self, within: Duration) -> Option<Option<i32>> {
        match timeout(within, self.child.wait()).await {
            Ok(Ok(status)) => Some(status.code()),
            _ => None,
        }
    }
}
