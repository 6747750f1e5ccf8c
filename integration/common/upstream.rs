//! [`Upstream`]: a real `seawall-upstream` process for a test.

use std::net::SocketAddr;
use std::process::{ExitStatus, Stdio};

use http::{Method, Request, StatusCode};
use serde::Deserialize;
use tokio::io::{AsyncBufReadExt, BufReader, Lines};
use tokio::process::{Child, ChildStdout, Command};
use tokio::time::timeout;

use super::{PATIENCE, eventually, full, get, send};

/// Counters from `GET /_upstream/stats` (normal requests only).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub struct Stats {
    /// Requests seen, hung ones included.
    pub requests: u64,
    /// Requests not yet fully answered.
    pub in_flight: u64,
}

/// A running `seawall-upstream`; killed when dropped.
#[derive(Debug)]
pub struct Upstream {
    /// Where it listens.
    pub addr: SocketAddr,
    /// The `--name` it reports in echoes.
    pub name: String,
    child: Child,
    // Kept open so the child never writes into a closed pipe.
    _stdout: Lines<BufReader<ChildStdout>>,
}

impl Upstream {
    /// Starts `seawall-upstream --listen 127.0.0.1:0 --name NAME` and waits
    /// for its `listening on` line.
    pub async fn spawn(name: &str) -> Upstream {
        Self::spawn_with(name, &[]).await
    }

    /// [`Upstream::spawn`] with extra command-line arguments.
    pub async fn spawn_with(name: &str, args: &[&str]) -> Upstream {
        let mut child = Command::new(env!("CARGO_BIN_EXE_seawall-upstream"))
            .args(["--listen", "127.0.0.1:0", "--name", name])
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .expect("failed to start seawall-upstream");
        let stdout = child.stdout.take().expect("stdout is piped");
        let mut lines = BufReader::new(stdout).lines();
        let line = match timeout(PATIENCE, lines.next_line()).await {
            Ok(Ok(Some(line))) => line,
            Ok(Ok(None)) => panic!("seawall-upstream `{name}` exited before it was listening"),
            Ok(Err(e)) => panic!("reading seawall-upstream `{name}` stdout: {e}"),
            Err(_) => panic!("seawall-upstream `{name}` printed no address within {PATIENCE:?}"),
        };
        let addr = line
            .strip_prefix("listening on ")
            .and_then(|a| a.parse().ok())
            .unwrap_or_else(|| panic!("unexpected first line from seawall-upstream: {line:?}"));
        Upstream {
            addr,
            name: name.to_owned(),
            child,
            _stdout: lines,
        }
    }

    /// `http://ADDR` followed by `path_and_query` (which starts with `/`).
    pub fn url(&self, path_and_query: &str) -> String {
        format!("http://{}{path_and_query}", self.addr)
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id().expect("upstream has already been reaped")
    }

    /// Bytes the process has written so far, sockets included (`wchar` of
    /// `/proc/PID/io`): what it has sent, for tests of backpressure.
    pub fn written_bytes(&self) -> u64 {
        let io = std::fs::read_to_string(format!("/proc/{}/io", self.pid())).expect("proc io");
        io.lines()
            .find_map(|l| l.strip_prefix("wchar:"))
            .and_then(|v| v.trim().parse().ok())
            .expect("wchar in /proc/PID/io")
    }

    /// Current counters. Hangs while the process is paused.
    pub async fn stats(&self) -> Stats {
        let reply = send(get(&self.url("/_upstream/stats")))
            .await
            .expect("GET /_upstream/stats");
        assert_eq!(reply.status, StatusCode::OK, "stats: {}", reply.text());
        serde_json::from_slice(&reply.body).expect("stats JSON")
    }

    /// Waits until the counters satisfy `check`; panics after a while.
    pub async fn wait_for_stats(&self, what: &str, check: impl Fn(Stats) -> bool) -> Stats {
        eventually(what, || async { check(self.stats().await) }).await;
        self.stats().await
    }

    /// Replaces the fault defaults (`POST /_upstream/config`); panics unless
    /// the upstream accepts them.
    pub async fn set_config(&self, config: serde_json::Value) {
        let req = Request::builder()
            .method(Method::POST)
            .uri(self.url("/_upstream/config"))
            .header("content-type", "application/json")
            .body(full(config.to_string()))
            .expect("valid request");
        let reply = send(req).await.expect("POST /_upstream/config");
        assert_eq!(
            reply.status,
            StatusCode::OK,
            "config rejected: {}",
            reply.text()
        );
    }

    /// Removes every fault default (`DELETE /_upstream/config`).
    pub async fn reset_config(&self) {
        let req = Request::delete(self.url("/_upstream/config"))
            .body(full(""))
            .expect("valid request");
        let reply = send(req).await.expect("DELETE /_upstream/config");
        assert_eq!(reply.status, StatusCode::OK, "reset: {}", reply.text());
    }

    /// Sends `kill -SIGNAL pid` (e.g. `"STOP"`, `"TERM"`).
    pub fn signal(&self, signal: &str) {
        let status = std::process::Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(self.pid().to_string())
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -{signal} {} failed", self.pid());
    }

    /// Freezes the process (SIGSTOP): connections are accepted by the kernel
    /// but nothing is answered, like a stalled host.
    pub fn pause(&self) {
        self.signal("STOP");
    }

    /// Thaws a paused process (SIGCONT).
    pub fn resume(&self) {
        self.signal("CONT");
    }

    /// Kills the process (SIGKILL) and waits until it is gone, so its port
    /// refuses connections when this returns.
    pub async fn kill(&mut self) {
        self.child.kill().await.expect("kill seawall-upstream");
    }

    /// Sends SIGTERM and waits for the exit; panics if it takes too long.
    pub async fn terminate(&mut self) -> ExitStatus {
        self.signal("TERM");
        self.wait().await
    }

    /// Waits for the process to exit; panics after [`PATIENCE`].
    pub async fn wait(&mut self) -> ExitStatus {
        timeout(PATIENCE, self.child.wait())
            .await
            .unwrap_or_else(|_| panic!("seawall-upstream did not exit within {PATIENCE:?}"))
            .expect("wait for seawall-upstream")
    }
}
