//! Starting seawall for black-box tests: in-process on port 0 (fast, lets a
//! test script DNS answers), or as a real process (signals, exit codes, RSS).

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use seawall::discovery::{Resolve, SystemResolver};
use seawall::server::{self, Drained, Running};

/// A config with one listener `ingress` on port 0, one route `/` to cluster
/// `app` with the given endpoints, and admin on port 0. Tests adjust it with
/// `str::replace` on the keys they care about.
pub fn basic_config(endpoints: &[SocketAddr]) -> String {
    let eps: Vec<String> = endpoints.iter().map(|a| format!("\"{a}\"")).collect();
    format!(
        r#"
admin:
  address: 127.0.0.1:0
log:
  level: warn
  format: json
  access_log: false
shutdown:
  drain_timeout: 10s
listeners:
  - name: ingress
    address: 127.0.0.1:0
    header_read_timeout: 2s
    max_body_bytes: 64MiB
    routes:
      - name: default
        match:
          path_prefix: /
        cluster: app
clusters:
  - name: app
    endpoints: [{}]
    connect_timeout: 500ms
    resolve_interval: 200ms
"#,
        eps.join(", ")
    )
}

/// seawall running inside the test process.
pub struct Seawall {
    /// The `ingress` listener's address.
    pub addr: SocketAddr,
    /// The admin address.
    pub admin: SocketAddr,
    /// The running server (snapshot, listeners, reload handle).
    pub running: Running,
    /// Where the config file lives, for seawall started from a file.
    pub config_path: Option<PathBuf>,
    _dir: Option<TempDir>,
}

impl Seawall {
    /// Writes `yaml` to a file in a fresh directory and starts seawall from
    /// it, so the file can be edited and reloaded.
    pub async fn start_from_file(yaml: &str) -> Self {
        let dir = TempDir::new("reload");
        let path = dir.0.join("seawall.yaml");
        std::fs::write(&path, yaml).expect("write config");
        let mut sw = Self::start_from_path(&path).await;
        sw._dir = Some(dir);
        sw
    }

    /// Starts seawall from the config file at `path` (watched for reloads).
    pub async fn start_from_path(path: &std::path::Path) -> Self {
        let config = seawall::config::load(path).unwrap_or_else(|e| panic!("test config: {e}"));
        let running = server::start(config, Arc::new(SystemResolver), Some(path.to_path_buf()))
            .await
            .expect("seawall starts");
        Self {
            addr: running.listener("ingress").expect("listener ingress"),
            admin: running.admin,
            running,
            config_path: Some(path.to_path_buf()),
            _dir: None,
        }
    }

    /// Whether the first cluster's endpoint at `addr` is ejected, as the
    /// admin API's `/clusters` says.
    pub async fn ejected(&self, addr: SocketAddr) -> bool {
        let doc = super::client::fetch(&format!("http://{}/clusters", self.admin))
            .await
            .json();
        doc["clusters"][0]["endpoints"]
            .as_array()
            .is_some_and(|eps| {
                eps.iter()
                    .any(|e| e["address"] == addr.to_string() && e["ejected"] == true)
            })
    }

    /// Starts seawall in-process with the system resolver.
    pub async fn start(yaml: &str) -> Self {
        Self::start_with_resolver(yaml, Arc::new(SystemResolver)).await
    }

    /// Starts seawall in-process with a scripted resolver.
    pub async fn start_with_resolver(yaml: &str, resolver: Arc<dyn Resolve>) -> Self {
        let config =
            seawall::config::parse(yaml, None).unwrap_or_else(|e| panic!("test config: {e}"));
        let running = server::start(config, resolver, None)
            .await
            .expect("seawall starts");
        Self {
            addr: running.listener("ingress").expect("listener ingress"),
            admin: running.admin,
            running,
            config_path: None,
            _dir: None,
        }
    }

    /// `http://<ingress><path>`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    /// The current endpoint addresses of `cluster`.
    pub fn endpoints(&self, cluster: &str) -> Vec<SocketAddr> {
        let snapshot = self.running.shared.load();
        snapshot.clusters[cluster]
            .endpoints
            .endpoints()
            .iter()
            .map(|e| e.addr())
            .collect()
    }

    /// The shared snapshot handle (to swap in a new config, as a reload does).
    pub fn shared(&self) -> &seawall::snapshot::Shared {
        &self.running.shared
    }

    /// Drains and returns how it ended.
    pub async fn drain(self) -> Drained {
        self.running.drain().await
    }
}

/// seawall as a child process, started from the built binary.
pub struct SeawallProcess {
    /// The `ingress` listener's address.
    pub addr: SocketAddr,
    /// The admin address.
    pub admin: SocketAddr,
    child: Child,
    config: PathBuf,
    _dir: TempDir,
}

/// A directory removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    /// A fresh directory under the system temp dir.
    pub fn new(tag: &str) -> Self {
        let path = std::env::temp_dir().join(format!(
            "seawall-test-{tag}-{}-{:x}",
            std::process::id(),
            fastrand::u64(..)
        ));
        std::fs::create_dir_all(&path).expect("temp dir");
        Self(path)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Path of the built seawall binary.
pub fn seawall_bin() -> &'static str {
    env!("CARGO_BIN_EXE_seawall")
}

impl SeawallProcess {
    /// Writes `yaml` (which must use `log.format: json` and log at least
    /// `info` for `seawall`) and runs seawall on it, waiting for the
    /// `listening` lines.
    pub fn spawn(yaml: &str) -> Self {
        Self::spawn_command(yaml, Command::new(seawall_bin()))
    }

    /// [`SeawallProcess::spawn`] with at most `nofile` open file
    /// descriptors (through `prlimit`, which execs seawall: same pid).
    pub fn spawn_with_nofile(yaml: &str, nofile: u32) -> Self {
        let mut command = Command::new("prlimit");
        command
            .arg(format!("--nofile={nofile}:{nofile}"))
            .arg("--")
            .arg(seawall_bin());
        Self::spawn_command(yaml, command)
    }

    fn spawn_command(yaml: &str, mut command: Command) -> Self {
        let dir = TempDir::new("proc");
        let path = dir.0.join("seawall.yaml");
        std::fs::write(&path, yaml).expect("write config");
        let mut child = command
            .arg("--config")
            .arg(&path)
            .env("RUST_LOG", "seawall=info")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn seawall");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut addr = None;
            let mut admin = None;
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let Ok(v) = serde_json::from_str::<serde_json::Value>(&line) else {
                    continue;
                };
                let parsed = v["address"]
                    .as_str()
                    .and_then(|a| a.parse::<SocketAddr>().ok());
                match v["message"].as_str() {
                    Some("listening") if v["listener"] == "ingress" => addr = parsed,
                    Some("admin listening") => admin = parsed,
                    _ => {}
                }
                if let (Some(a), Some(b)) = (addr, admin) {
                    let _ = tx.send((a, b));
                    addr = None;
                }
            }
        });
        let (addr, admin) = rx
            .recv_timeout(Duration::from_secs(20))
            .expect("seawall did not report its listeners within 20s");
        Self {
            addr,
            admin,
            child,
            config: path,
            _dir: dir,
        }
    }

    /// The config file the process runs from (and watches).
    pub fn config_path(&self) -> &std::path::Path {
        &self.config
    }

    /// The child's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// A field of `/proc/PID/status` in KiB (e.g. `VmRSS`, `VmHWM`).
    pub fn status_kib(&self, field: &str) -> u64 {
        let status =
            std::fs::read_to_string(format!("/proc/{}/status", self.pid())).expect("proc status");
        status
            .lines()
            .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
            .and_then(|v| v.split_whitespace().next()?.parse().ok())
            .unwrap_or_else(|| panic!("no {field} in /proc status"))
    }

    /// How many file descriptors the process has open.
    pub fn open_fds(&self) -> usize {
        std::fs::read_dir(format!("/proc/{}/fd", self.pid()))
            .expect("proc fd")
            .count()
    }

    /// CPU time (user + system) the process has used so far, in clock
    /// ticks (`/proc/PID/stat` fields 14 and 15).
    pub fn cpu_ticks(&self) -> u64 {
        let stat =
            std::fs::read_to_string(format!("/proc/{}/stat", self.pid())).expect("proc stat");
        // Fields after the command name, which is in parentheses.
        let rest = &stat[stat.rfind(')').expect("comm") + 2..];
        let fields: Vec<&str> = rest.split_whitespace().collect();
        fields[11].parse::<u64>().expect("utime") + fields[12].parse::<u64>().expect("stime")
    }

    /// Sends a signal by name (`TERM`, `STOP`, ...).
    pub fn signal(&self, sig: &str) {
        let ok = Command::new("kill")
            .arg(format!("-{sig}"))
            .arg(self.pid().to_string())
            .status()
            .expect("run kill")
            .success();
        assert!(ok, "kill -{sig} failed");
    }

    /// Waits for exit (bounded) and returns the exit code.
    pub async fn wait_exit(&mut self, within: Duration) -> Option<i32> {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                return status.code();
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "seawall did not exit within {within:?}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl Drop for SeawallProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
