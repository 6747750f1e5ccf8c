//! The docker-compose environment: the stack in `docker-compose.yml`, driven
//! with the compose and docker CLIs. Faults are the real ones: `kill` stops
//! the container (its address refuses), `pause` freezes it with the cgroup
//! freezer, and a partition is `docker network disconnect`.
//!
//! The runner reaches containers by their IP on the project's bridge network
//! (the host routes to it), so nothing is published on the host's ports and
//! nothing outside the network the test created is touched.

use std::path::PathBuf;
use std::time::Duration;

use tokio::process::Command;
use tokio::time::{Instant, timeout};

use super::{Exit, REPLICAS, Topology, control};
use crate::Error;

/// Name of the compose project (`-p`): `CHAOS_PROJECT` when set, so two
/// runs on one Docker engine (two branches, say) never share containers or
/// a network; `seawall-chaos` otherwise.
pub fn project() -> String {
    std::env::var("CHAOS_PROJECT")
        .ok()
        .filter(|p| !p.is_empty())
        .unwrap_or_else(|| "seawall-chaos".to_owned())
}

/// The project's network: compose names it `<project>_<key>` (the key is
/// `chaos` in docker-compose.yml, which sets no fixed `name:`, so `-p`
/// isolates stacks).
fn network() -> String {
    format!("{}_chaos", project())
}

/// A handle on the compose project.
#[derive(Debug)]
pub struct Compose {
    /// `["docker-compose"]` or `["docker", "compose"]`.
    cli: Vec<String>,
    file: PathBuf,
    /// The client-facing seawall service.
    front: &'static str,
    base: String,
    /// The host file mounted as the front seawall's config.
    config: PathBuf,
}

/// Runs a command (bounded) and returns its stdout; fails on a non-zero exit.
async fn run(program: &str, args: &[&str], envs: &[(&str, &str)]) -> Result<String, Error> {
    let out = Command::new(program)
        .args(args)
        .envs(envs.iter().copied())
        .kill_on_drop(true)
        .output();
    let out = timeout(Duration::from_secs(120), out)
        .await
        .map_err(|_| format!("{program} {args:?} took over 120s"))??;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        return Err(format!("{program} {args:?}: {}", err.trim()).into());
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

/// True when a Docker engine answers.
pub async fn engine_available() -> bool {
    run("docker", &["info", "--format", "{{.ServerVersion}}"], &[])
        .await
        .is_ok()
}

/// `docker compose` (v2) when it exists, else `docker-compose` (v1).
async fn cli() -> Vec<String> {
    if run("docker", &["compose", "version"], &[]).await.is_ok() {
        vec!["docker".to_owned(), "compose".to_owned()]
    } else {
        vec!["docker-compose".to_owned()]
    }
}

impl Compose {
    /// Brings `topology` up (images must exist: `integration/chaos/build-images.sh`),
    /// undoes faults a previous scenario left, and waits until seawall is ready.
    pub async fn start(file: PathBuf, topology: Topology) -> Result<Self, Error> {
        let cli = cli().await;
        let (config, front) = match topology {
            Topology::Cluster(file) => (file, "seawall"),
            Topology::Chain => ("seawall.yaml", "seawall-a"),
        };
        let mounted = file
            .parent()
            .map_or_else(PathBuf::new, |root| root.join("config/chaos").join(config));
        let mut env = Compose {
            cli,
            file,
            front,
            base: String::new(),
            config: mounted,
        };
        let mut up = vec!["up", "-d", "--no-build", "--remove-orphans"];
        if topology == Topology::Chain {
            up.splice(0..0, ["--profile", "chain"]);
        }
        env.compose_env(&up, &[("CHAOS_SEAWALL_CONFIG", config)])
            .await?;
        for (r, name) in REPLICAS.iter().enumerate() {
            // Best effort: only the faults a previous scenario left behind fail.
            let _ = env.pause(r, false).await;
            let _ = env.partition(r, false).await;
            let _ = env.compose(&["start", name]).await;
            let url = env.replica_url(r, "/_upstream/config").await?;
            control::wait_ready(
                &env.replica_url(r, "/_upstream/stats").await?,
                Duration::from_secs(20),
            )
            .await?;
            control::call(http::Method::DELETE, &url, "").await?;
        }
        let ip = env.ip(front).await?;
        control::wait_ready(&format!("http://{ip}:9901/ready"), Duration::from_secs(30)).await?;
        env.base = format!("http://{ip}:8080");
        Ok(env)
    }

    async fn compose_env(&self, args: &[&str], envs: &[(&str, &str)]) -> Result<String, Error> {
        let (file, project) = (self.file.display().to_string(), project());
        let mut all: Vec<&str> = self.cli[1..].iter().map(String::as_str).collect();
        all.extend(["-p", &project, "-f", &file]);
        all.extend_from_slice(args);
        run(&self.cli[0], &all, envs).await
    }

    async fn compose(&self, args: &[&str]) -> Result<String, Error> {
        self.compose_env(args, &[]).await
    }

    async fn id(&self, service: &str) -> Result<String, Error> {
        let id = self.compose(&["ps", "-q", service]).await?;
        id.lines()
            .next()
            .map(str::to_owned)
            .ok_or_else(|| format!("no container for {service}").into())
    }

    /// The service's address on the project network.
    async fn ip(&self, service: &str) -> Result<String, Error> {
        let id = self.id(service).await?;
        let format = "{{range .NetworkSettings.Networks}}{{.IPAddress}} {{end}}";
        let ips = run("docker", &["inspect", "-f", format, &id], &[]).await?;
        ips.split_whitespace()
            .next()
            .map(str::to_owned)
            .ok_or_else(|| format!("{service} has no address").into())
    }

    /// The mounted config file of the front seawall (edit it to reload).
    pub fn config_path(&self) -> Option<PathBuf> {
        Some(self.config.clone())
    }

    /// `http://<seawall ingress>`.
    pub fn base(&self) -> String {
        self.base.clone()
    }

    pub(super) async fn admin_base(&self) -> Result<String, Error> {
        Ok(format!("http://{}:9901", self.ip(self.front).await?))
    }

    pub(super) async fn replica_url(&self, r: usize, path: &str) -> Result<String, Error> {
        Ok(format!("http://{}:8081{path}", self.ip(REPLICAS[r]).await?))
    }

    /// Replica `r`'s endpoint as compose DNS gives it to seawall.
    pub(super) async fn replica_addr(&self, r: usize) -> Result<String, Error> {
        Ok(format!("{}:8081", self.ip(REPLICAS[r]).await?))
    }

    pub(super) async fn leaf_url(&self, path: &str) -> Result<String, Error> {
        Ok(format!("http://{}:8081{path}", self.ip("leaf").await?))
    }

    pub(super) async fn kill(&mut self, r: usize) -> Result<(), Error> {
        self.compose(&["kill", REPLICAS[r]]).await.map(drop)
    }

    pub(super) async fn restart(&mut self, r: usize) -> Result<(), Error> {
        self.compose(&["start", REPLICAS[r]]).await.map(drop)
    }

    pub(super) async fn pause(&mut self, r: usize, on: bool) -> Result<(), Error> {
        self.compose(&[if on { "pause" } else { "unpause" }, REPLICAS[r]])
            .await
            .map(drop)
    }

    pub(super) async fn pause_all(&mut self, on: bool) -> Result<(), Error> {
        let mut args = vec![if on { "pause" } else { "unpause" }];
        args.extend(REPLICAS);
        self.compose(&args).await.map(drop)
    }

    pub(super) async fn partition(&mut self, r: usize, on: bool) -> Result<(), Error> {
        let (id, network) = (self.id(REPLICAS[r]).await?, network());
        let args: Vec<&str> = if on {
            vec!["network", "disconnect", &network, &id]
        } else {
            vec![
                "network",
                "connect",
                "--alias",
                "upstream",
                "--alias",
                REPLICAS[r],
                &network,
                &id,
            ]
        };
        run("docker", &args, &[]).await.map(drop)
    }

    pub(super) async fn terminate_seawall(&mut self) -> Result<Exit, Error> {
        let id = self.id(self.front).await?;
        let start = Instant::now();
        self.compose(&["kill", "-s", "SIGTERM", self.front]).await?;
        let code = run("docker", &["wait", &id], &[]).await?;
        Ok(Exit {
            took: start.elapsed(),
            code: code.parse().ok(),
        })
    }

    /// `down -v` of the project in `file`: removes its containers, network
    /// and volumes (the chain profile's too).
    pub async fn down(file: PathBuf) -> Result<(), Error> {
        let env = Compose {
            cli: cli().await,
            file,
            front: "seawall",
            base: String::new(),
            config: PathBuf::new(),
        };
        env.compose(&["--profile", "chain", "down", "-v", "--remove-orphans"])
            .await
            .map(drop)
    }
}
