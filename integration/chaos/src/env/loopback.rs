//! The loopback environment: every process on 127.0.0.1, started by the
//! runner on port 0, so the scenarios run on any machine with no Docker.
//!
//! Each replica sits behind its own fault-injecting TCP proxy
//! (`seawall-upstream --proxy-to`), and seawall's endpoints are the proxies:
//! "kill" stops both (the address refuses connections, like a dead host),
//! "pause" freezes the replica with SIGSTOP (the proxy still accepts, like a
//! hung process), and "partition" blackholes the proxy (packets vanish).
//! The seawall config is the compose one from `config/chaos/`, with the
//! compose names replaced by loopback addresses.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use tokio::time::Instant;

use super::process::{Proc, seawall_line, upstream_line};
use super::{Exit, REPLICAS, Topology, control};
use crate::Error;

/// One replica and the proxy in front of it.
#[derive(Debug)]
struct Replica {
    listen: SocketAddr,
    relay: SocketAddr,
    control: SocketAddr,
    up: Option<Proc>,
    proxy: Option<Proc>,
}

/// The running processes of one scenario.
#[derive(Debug)]
pub struct Loopback {
    bins: PathBuf,
    configs: PathBuf,
    replicas: Vec<Replica>,
    /// seawalls, the client-facing one first, with their config files.
    seawalls: Vec<Proc>,
    /// Chain: middle hops and the leaf (last).
    chain: Vec<Proc>,
    dir: PathBuf,
    front_file: String,
}

impl Loopback {
    /// Starts `topology` with binaries from `bins` and configs from `configs`.
    pub async fn start(bins: PathBuf, configs: PathBuf, topology: Topology) -> Result<Self, Error> {
        let dir = std::env::temp_dir().join(format!("seawall-chaos-{}", std::process::id()));
        std::fs::create_dir_all(&dir)?;
        let front_file = match topology {
            Topology::Cluster(file) => file.to_owned(),
            Topology::Chain => "chain-a.yaml".to_owned(),
        };
        let mut env = Loopback {
            bins,
            configs,
            replicas: vec![],
            seawalls: vec![],
            chain: vec![],
            dir,
            front_file,
        };
        match topology {
            Topology::Cluster(file) => {
                for name in REPLICAS {
                    env.replicas.push(
                        env.replica(name, "127.0.0.1:0", "127.0.0.1:0", "127.0.0.1:0")
                            .await?,
                    );
                }
                let relays: Vec<String> = env
                    .replicas
                    .iter()
                    .map(|r| format!("\"{}\"", r.relay))
                    .collect();
                let sw = env
                    .seawall(file, "\"upstream:8081\"", &relays.join(", "))
                    .await?;
                env.seawalls.push(sw);
            }
            Topology::Chain => env.start_chain().await?,
        }
        Ok(env)
    }

    async fn start_chain(&mut self) -> Result<(), Error> {
        // Built from the leaf outwards: each hop needs the next one's address.
        let leaf = self.upstream(&["--name", "leaf"]).await?;
        let mut next = leaf.addrs[0];
        let mut procs = vec![leaf];
        for (hop, mid) in [("c", "leaf"), ("b", "mid-b"), ("a", "mid-a")] {
            let sw = self
                .seawall(
                    &format!("chain-{hop}.yaml"),
                    &format!("\"{mid}:8081\""),
                    &format!("\"{next}\""),
                )
                .await?;
            let ingress = sw.addrs[0];
            self.seawalls.insert(0, sw);
            if hop != "a" {
                let name = if hop == "c" { "mid-b" } else { "mid-a" };
                let call = format!("http://{ingress}");
                let m = self.upstream(&["--name", name, "--call", &call]).await?;
                next = m.addrs[0];
                procs.insert(0, m);
            }
        }
        self.chain = procs;
        Ok(())
    }

    async fn upstream(&self, args: &[&str]) -> Result<Proc, Error> {
        let mut all = vec!["--listen".to_owned(), "127.0.0.1:0".to_owned()];
        all.extend(args.iter().map(|a| (*a).to_owned()));
        Proc::spawn(&self.bins.join("seawall-upstream"), &all, 1, upstream_line).await
    }

    async fn replica(
        &self,
        name: &str,
        listen: &str,
        relay: &str,
        control: &str,
    ) -> Result<Replica, Error> {
        let args = |v: &[&str]| v.iter().map(|a| (*a).to_owned()).collect::<Vec<_>>();
        let bin = self.bins.join("seawall-upstream");
        let up = Proc::spawn(
            &bin,
            &args(&["--listen", listen, "--name", name]),
            1,
            upstream_line,
        )
        .await?;
        let target = up.addrs[0].to_string();
        let proxy_args = args(&[
            "--listen",
            relay,
            "--proxy-to",
            &target,
            "--control",
            control,
        ]);
        let proxy = Proc::spawn(&bin, &proxy_args, 2, upstream_line).await?;
        Ok(Replica {
            listen: up.addrs[0],
            relay: proxy.addrs[0],
            control: proxy.addrs[1],
            up: Some(up),
            proxy: Some(proxy),
        })
    }

    /// Starts seawall on `file` with `from` (a compose endpoint) replaced by `to`.
    async fn seawall(&self, file: &str, from: &str, to: &str) -> Result<Proc, Error> {
        let text = std::fs::read_to_string(self.configs.join(file))?
            .replace("0.0.0.0:8080", "127.0.0.1:0")
            .replace("0.0.0.0:9901", "127.0.0.1:0")
            .replace(from, to);
        let path = self.dir.join(format!("0-{file}"));
        std::fs::write(&path, text)?;
        let args = vec!["--config".to_owned(), path.display().to_string()];
        let sw = Proc::spawn(&self.bins.join("seawall"), &args, 2, seawall_line).await?;
        control::wait_ready(
            &format!("http://{}/ready", sw.addrs[1]),
            Duration::from_secs(10),
        )
        .await?;
        Ok(sw)
    }

    /// The file the client-facing seawall was started on.
    pub fn config_path(&self) -> Option<PathBuf> {
        self.seawalls
            .first()
            .map(|_| self.dir.join(format!("0-{}", self.front_file)))
    }

    /// `http://<client-facing seawall>`.
    pub fn base(&self) -> String {
        self.seawalls
            .first()
            .map_or_else(String::new, |s| format!("http://{}", s.addrs[0]))
    }

    pub(super) async fn admin_base(&self) -> Result<String, Error> {
        let sw = self.seawalls.first().ok_or("no seawall")?;
        Ok(format!("http://{}", sw.addrs[1]))
    }

    pub(super) async fn replica_url(&self, r: usize, path: &str) -> Result<String, Error> {
        let replica = self.replicas.get(r).ok_or("no such replica")?;
        Ok(format!("http://{}{path}", replica.listen))
    }

    /// Where seawall sends replica `r`'s traffic: its fault relay.
    pub(super) async fn replica_addr(&self, r: usize) -> Result<String, Error> {
        let replica = self.replicas.get(r).ok_or("no such replica")?;
        Ok(replica.relay.to_string())
    }

    pub(super) async fn leaf_url(&self, path: &str) -> Result<String, Error> {
        let leaf = self.chain.last().ok_or("not a chain")?;
        Ok(format!("http://{}{path}", leaf.addrs[0]))
    }

    pub(super) async fn kill(&mut self, r: usize) -> Result<(), Error> {
        let replica = self.replicas.get_mut(r).ok_or("no such replica")?;
        for proc in [replica.proxy.take(), replica.up.take()]
            .into_iter()
            .flatten()
        {
            proc.kill().await;
        }
        Ok(())
    }

    pub(super) async fn restart(&mut self, r: usize) -> Result<(), Error> {
        let old = self.replicas.get(r).ok_or("no such replica")?;
        let (listen, relay, control) = (
            old.listen.to_string(),
            old.relay.to_string(),
            old.control.to_string(),
        );
        self.replicas[r] = self.replica(REPLICAS[r], &listen, &relay, &control).await?;
        Ok(())
    }

    pub(super) async fn pause(&mut self, r: usize, on: bool) -> Result<(), Error> {
        let replica = self.replicas.get(r).ok_or("no such replica")?;
        let up = replica.up.as_ref().ok_or("replica is not running")?;
        up.signal(if on { "STOP" } else { "CONT" }).await
    }

    pub(super) async fn pause_all(&mut self, on: bool) -> Result<(), Error> {
        for r in 0..self.replicas.len() {
            self.pause(r, on).await?;
        }
        Ok(())
    }

    pub(super) async fn partition(&mut self, r: usize, on: bool) -> Result<(), Error> {
        let replica = self.replicas.get(r).ok_or("no such replica")?;
        let url = format!("http://{}/_proxy/toxics", replica.control);
        let method = if on {
            http::Method::POST
        } else {
            http::Method::DELETE
        };
        control::call(method, &url, r#"{"timeout":"0ms"}"#)
            .await
            .map(drop)
    }

    pub(super) async fn terminate_seawall(&mut self) -> Result<Exit, Error> {
        let sw = self.seawalls.first_mut().ok_or("no seawall")?;
        let start = Instant::now();
        sw.signal("TERM").await?;
        let code = sw
            .wait(Duration::from_secs(15))
            .await
            .ok_or("seawall did not exit within 15s of SIGTERM")?;
        Ok(Exit {
            took: start.elapsed(),
            code,
        })
    }

    /// Kills everything (paused replicas included) and removes the temp dir.
    pub async fn stop(self) {
        for r in self.replicas {
            for p in [r.proxy, r.up].into_iter().flatten() {
                let _ = p.signal("CONT").await;
                p.kill().await;
            }
        }
        for p in self.seawalls.into_iter().chain(self.chain) {
            p.kill().await;
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
