//! A minimal Pingora reverse proxy, the Pingora entry of seawall's load
//! benchmark: it forwards every request to one upstream with keep-alive, and
//! nothing else, so it measures Pingora's own per-request cost.
//!
//! Usage: `seawall-bench-pingora LISTEN UPSTREAM` (both `ip:port`). The
//! worker count comes from `PINGORA_THREADS` (default 1), to pin it to one
//! core like every other target.

use async_trait::async_trait;
use pingora::prelude::*;
use pingora::server::configuration::ServerConf;

/// Sends everything to the one upstream.
struct Forward {
    upstream: String,
}

#[async_trait]
impl ProxyHttp for Forward {
    type CTX = ();

    fn new_ctx(&self) -> Self::CTX {}

    async fn upstream_peer(&self, _: &mut Session, _: &mut ()) -> Result<Box<HttpPeer>> {
        Ok(Box::new(HttpPeer::new(
            self.upstream.as_str(),
            false,
            String::new(),
        )))
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (Some(listen), Some(upstream)) = (args.get(1), args.get(2)) else {
        eprintln!("usage: seawall-bench-pingora LISTEN UPSTREAM");
        std::process::exit(64);
    };
    let threads = std::env::var("PINGORA_THREADS")
        .ok()
        .and_then(|t| t.parse().ok())
        .unwrap_or(1);
    let conf = ServerConf {
        threads,
        ..ServerConf::default()
    };
    let mut server = Server::new_with_opt_and_conf(None, conf);
    server.bootstrap();
    let mut proxy = http_proxy_service(
        &server.configuration,
        Forward {
            upstream: upstream.clone(),
        },
    );
    proxy.add_tcp(listen);
    server.add_service(proxy);
    server.run_forever();
}
