//! Where a scenario runs: processes on loopback that the runner spawns
//! itself ([`loopback`]), or the docker-compose stack ([`compose`]). Both
//! offer the same operations, so every scenario is written once; the
//! operations mirror what can go wrong with a replica in production.
//!
//! Replicas are named `upstream-1` .. `upstream-3` in both, which is also
//! what they report in `x-upstream-name`.

pub mod compose;
pub mod control;
pub mod loopback;
mod process;

use std::time::Duration;

use crate::Error;

/// Which seawall deployment a scenario needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Topology {
    /// seawall in front of three replicas, with this file of `config/chaos/`.
    Cluster(&'static str),
    /// seawall-a → mid-a → seawall-b → mid-b → seawall-c → leaf.
    Chain,
}

/// The names of the three replicas.
pub const REPLICAS: [&str; 3] = ["upstream-1", "upstream-2", "upstream-3"];

/// A running deployment.
#[derive(Debug)]
pub enum Env {
    /// Processes on 127.0.0.1.
    Loopback(loopback::Loopback),
    /// Containers of the compose project.
    Compose(compose::Compose),
}

/// How seawall ended after SIGTERM.
#[derive(Debug, Clone, Copy)]
pub struct Exit {
    /// From the signal to the process being gone.
    pub took: Duration,
    /// Exit code, if it exited (rather than being killed).
    pub code: Option<i32>,
}

macro_rules! each {
    ($self:ident, $env:ident => $body:expr) => {
        match $self {
            Env::Loopback($env) => $body,
            Env::Compose($env) => $body,
        }
    };
}

impl Env {
    /// `http://<seawall ingress><path>` (the first hop for a chain).
    pub fn url(&self, path: &str) -> String {
        each!(self, e => format!("{}{path}", e.base()))
    }

    /// SIGKILL replica `r` (0-based): its address refuses connections.
    pub async fn kill(&mut self, r: usize) -> Result<(), Error> {
        each!(self, e => e.kill(r).await)
    }

    /// Starts a killed replica again, at the same address.
    pub async fn restart(&mut self, r: usize) -> Result<(), Error> {
        each!(self, e => e.restart(r).await)
    }

    /// Freezes replica `r`: connections are accepted, nothing is answered.
    pub async fn pause(&mut self, r: usize) -> Result<(), Error> {
        each!(self, e => e.pause(r, true).await)
    }

    /// Freezes (`on`) or thaws every replica at once: one command on
    /// compose, so the replicas stop within milliseconds of each other.
    pub async fn pause_all(&mut self, on: bool) -> Result<(), Error> {
        each!(self, e => e.pause_all(on).await)
    }

    /// Thaws replica `r`.
    pub async fn unpause(&mut self, r: usize) -> Result<(), Error> {
        each!(self, e => e.pause(r, false).await)
    }

    /// Cuts replica `r` off the network (packets vanish, nothing refuses).
    pub async fn partition(&mut self, r: usize) -> Result<(), Error> {
        each!(self, e => e.partition(r, true).await)
    }

    /// Reconnects replica `r`.
    pub async fn heal(&mut self, r: usize) -> Result<(), Error> {
        each!(self, e => e.partition(r, false).await)
    }

    /// Replaces replica `r`'s fault defaults (`POST /_upstream/config`).
    pub async fn faults(&self, r: usize, json: &str) -> Result<(), Error> {
        let url = each!(self, e => e.replica_url(r, "/_upstream/config").await?);
        control::post(&url, json).await.map(drop)
    }

    /// Every replica's fault endpoint, looked up once: on compose each
    /// lookup asks docker for an address, which takes too long to do while
    /// a fault must land on time.
    pub async fn fault_urls(&self) -> Result<Vec<String>, Error> {
        let mut urls = Vec::with_capacity(REPLICAS.len());
        for r in 0..REPLICAS.len() {
            urls.push(each!(self, e => e.replica_url(r, "/_upstream/config").await?));
        }
        Ok(urls)
    }

    /// Sets the same fault defaults on every replica of `urls` at once.
    pub async fn faults_at(urls: &[String], json: &str) -> Result<(), Error> {
        let mut set = tokio::task::JoinSet::new();
        for url in urls {
            let (url, json) = (url.clone(), json.to_owned());
            set.spawn(async move { control::post(&url, &json).await.map(drop) });
        }
        while let Some(done) = set.join_next().await {
            done.map_err(|e| e.to_string())??;
        }
        Ok(())
    }

    /// `GET` on the front seawall's admin port (e.g. `/config`).
    pub async fn admin(&self, path: &str) -> Result<serde_json::Value, Error> {
        let base = each!(self, e => e.admin_base().await?);
        control::get(&format!("{base}{path}")).await
    }

    /// `GET` on the front seawall's admin port, as text (e.g. `/metrics`).
    pub async fn admin_text(&self, path: &str) -> Result<String, Error> {
        let base = each!(self, e => e.admin_base().await?);
        control::get_text(&format!("{base}{path}")).await
    }

    /// Replica `r`'s `host:port` as the front seawall's endpoints list it.
    pub async fn replica_addr(&self, r: usize) -> Result<String, Error> {
        each!(self, e => e.replica_addr(r).await)
    }

    /// Requests replica `r` has seen (`GET /_upstream/stats`).
    pub async fn replica_requests(&self, r: usize) -> Result<u64, Error> {
        let url = each!(self, e => e.replica_url(r, "/_upstream/stats").await?);
        let stats = control::get(&url).await?;
        stats["requests"]
            .as_u64()
            .ok_or_else(|| format!("bad stats: {stats}").into())
    }

    /// The config file the client-facing seawall reads, for reload tests.
    pub fn config_path(&self) -> Option<std::path::PathBuf> {
        each!(self, e => e.config_path())
    }

    /// `GET /_upstream/stats` of the chain's leaf.
    pub async fn leaf_stats(&self) -> Result<serde_json::Value, Error> {
        let url = each!(self, e => e.leaf_url("/_upstream/stats").await?);
        control::get(&url).await
    }

    /// Replaces the chain leaf's fault defaults.
    pub async fn leaf_faults(&self, json: &str) -> Result<(), Error> {
        let url = each!(self, e => e.leaf_url("/_upstream/config").await?);
        control::post(&url, json).await.map(drop)
    }

    /// Sends SIGTERM to (the first) seawall and waits for it to exit.
    pub async fn terminate_seawall(&mut self) -> Result<Exit, Error> {
        each!(self, e => e.terminate_seawall().await)
    }

    /// Stops what the environment started (loopback: everything; compose:
    /// nothing — the stack is reused and torn down by its caller).
    pub async fn finish(self) {
        if let Env::Loopback(e) = self {
            e.stop().await;
        }
    }
}
