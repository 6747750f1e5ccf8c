"""The targets of the load benchmark and their configs.

Every proxy listens on PROXY, forwards to the upstream(s), pins itself to CPU 1
with one worker, and logs no requests. Three modes share one shape:

- ``plain``: the overhead runs (one upstream, generous limits);
- ``overload``: upstream concurrency capped at ``CAP`` per proxy (the closest
  equivalent each one has), so ``CAP / delay`` is the upstream capacity;
- ``hung``: three upstreams, one of them SIGSTOPped by the harness, each
  proxy with its closest equivalent of per-try timeout, retry and ejection,
  and each at its best balancing setting for the case: nginx ``least_conn``,
  HAProxy ``balance leastconn``, Envoy ``LEAST_REQUEST`` (round robin, their
  default, keeps sending a hung replica its full share until it is marked
  down).
"""

import os
import shutil
from pathlib import Path

PROXY = "127.0.0.1:18080"
ADMIN = "127.0.0.1:19901"
UPSTREAMS = ["127.0.0.1:18081", "127.0.0.1:18082", "127.0.0.1:18083"]
CAP = 50  # upstream requests in flight allowed by each proxy under overload
PIN = ["taskset", "-c", "1"]


def ups(mode):
    return UPSTREAMS if mode == "hung" else UPSTREAMS[:1]


def seawall(root, work, mode):
    adm = "      max_concurrent: 1024\n      max_queue: 1024\n"
    if mode == "overload":
        adm = (f"      max_concurrent: {CAP}\n      max_queue: {CAP}\n"
               "      max_queue_wait: 20ms\n")
    eps = ", ".join(f'"{u}"' for u in ups(mode))
    hung = ""
    if mode == "hung":
        hung = ("    outlier: { consecutive_failures: 2, cancelled_after: 200ms, "
                "base_ejection_time: 30s }\n"
                "    health_check: { path: /, interval: 500ms, timeout: 250ms, "
                "unhealthy_threshold: 1 }\n")
    cfg = f"""admin: {{ address: {ADMIN} }}
log: {{ level: warn, access_log: false }}
listeners:
  - name: bench
    address: {PROXY}
    routes: [{{ name: all, cluster: up }}]
clusters:
  - name: up
    endpoints: [{eps}]
    pool_max_idle_per_endpoint: 1024
    balance: {{ policy: p2c_peak_ewma, default_rtt: 1ms }}
    timeouts: {{ request: 2s, attempt: 250ms }}
    admission:
{adm}    breaker: {{ mode: auto }}
{hung}"""
    path = work / "seawall.yaml"
    path.write_text(cfg)
    env = {"SEAWALL_WORKER_THREADS": "1", "RUST_LOG": "warn"}
    return [str(root / "target/release/seawall"), "--config", str(path)], env


STATIC = "target/x86_64-unknown-linux-gnu/release/seawall"


def seawall_static(root, work, mode):
    """seawall as its image ships it: statically linked (run.sh builds it),
    so glibc and libm are not mapped whole; the same config."""
    if mode != "plain" or not (root / STATIC).exists():
        return None
    argv, env = seawall(root, work, mode)
    argv[0] = str(root / STATIC)
    return argv, env


def bare(root, work, mode):
    if mode != "plain":
        return None
    return [str(root / "target/release/seawall-bare-proxy"), PROXY, UPSTREAMS[0]], \
        {"TOKIO_WORKER_THREADS": "1"}


def pingora(root, work, mode):
    binary = root / "benches/load/pingora/target/release/seawall-bench-pingora"
    if mode != "plain" or not binary.exists():
        return None
    return [str(binary), PROXY, UPSTREAMS[0]], {"PINGORA_THREADS": "1"}


def nginx(root, work, mode):
    if not shutil.which("nginx"):
        return None
    conns = f" max_conns={CAP}" if mode == "overload" else ""
    fails = " max_fails=1 fail_timeout=30s" if mode == "hung" else ""
    servers = "".join(f"    server {u}{conns}{fails};\n" for u in ups(mode))
    balance = "    least_conn;\n" if mode == "hung" else ""
    cfg = f"""worker_processes 1;
daemon off;
pid {work}/nginx.pid;
error_log {work}/nginx.err warn;
events {{ worker_connections 4096; }}
http {{
  access_log off;
  client_body_temp_path {work};
  proxy_temp_path {work};
  upstream up {{
{balance}{servers}    keepalive 1024;
  }}
  server {{
    listen {PROXY} reuseport backlog=4096;
    location / {{
      proxy_pass http://up;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_connect_timeout 250ms;
      proxy_read_timeout {"250ms" if mode == "hung" else "2s"};
      proxy_next_upstream {"error timeout" if mode == "hung" else "off"};
      proxy_next_upstream_tries 3;
    }}
  }}
}}
"""
    path = work / "nginx.conf"
    path.write_text(cfg)
    return ["nginx", "-c", str(path), "-e", str(work / "nginx.err")], {}


def haproxy(root, work, mode):
    if not shutil.which("haproxy"):
        return None
    opts = ""
    if mode == "overload":
        opts = f" maxconn {CAP}"
    if mode == "hung":
        opts = " check inter 500ms fall 1 rise 2"
    servers = "".join(f"  server s{i} {u}{opts}\n" for i, u in enumerate(ups(mode)))
    hung = ("  balance leastconn\n"
            "  option httpchk GET /\n  timeout check 250ms\n  option redispatch\n"
            "  retries 2\n  retry-on conn-failure response-timeout\n") \
        if mode == "hung" else ""
    cfg = f"""global
  nbthread 1
  maxconn 9000
defaults
  mode http
  timeout connect 250ms
  timeout client 30s
  timeout server {"250ms" if mode == "hung" else "2s"}
  timeout queue 20ms
  http-reuse always
frontend fe
  bind {PROXY}
  default_backend be
backend be
{hung}{servers}"""
    path = work / "haproxy.cfg"
    path.write_text(cfg)
    return ["haproxy", "-db", "-f", str(path)], {}


def envoy_binary(root):
    venv = root / "target/bench/venv/lib"
    for p in venv.glob("python3*/site-packages/envoy/_bin/envoy"):
        return p
    return None


def envoy(root, work, mode):
    binary = envoy_binary(root)
    if binary is None:
        return None
    limit = CAP if mode == "overload" else 100000
    pending = CAP if mode == "overload" else 100000
    eps = "".join(
        f"""              - endpoint: {{ address: {{ socket_address: {{ address: 127.0.0.1, port_value: {u.split(':')[1]} }} }} }}
""" for u in ups(mode))
    retry = ""
    outlier = ""
    if mode == "hung":
        retry = """                  retry_policy:
                    retry_on: "5xx,reset,connect-failure"
                    num_retries: 2
                    per_try_timeout: 0.25s
"""
        outlier = """    outlier_detection:
      consecutive_gateway_failure: 2
      consecutive_5xx: 2
      interval: 0.5s
      base_ejection_time: 30s
      max_ejection_percent: 50
"""
    cfg = f"""admin:
  address: {{ socket_address: {{ address: 127.0.0.1, port_value: 19902 }} }}
static_resources:
  listeners:
  - address: {{ socket_address: {{ address: 127.0.0.1, port_value: {PROXY.split(':')[1]} }} }}
    filter_chains:
    - filters:
      - name: envoy.filters.network.http_connection_manager
        typed_config:
          "@type": type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager
          stat_prefix: bench
          generate_request_id: false
          route_config:
            virtual_hosts:
            - name: all
              domains: ["*"]
              routes:
              - match: {{ prefix: "/" }}
                route:
                  cluster: up
                  timeout: 2s
{retry}          http_filters:
          - name: envoy.filters.http.router
            typed_config:
              "@type": type.googleapis.com/envoy.extensions.filters.http.router.v3.Router
  clusters:
  - name: up
    connect_timeout: 0.25s
    type: STATIC
    lb_policy: LEAST_REQUEST
    circuit_breakers:
      thresholds:
      - max_connections: {limit}
        max_pending_requests: {pending}
        max_requests: {limit}
        max_retries: 100
{outlier}    load_assignment:
      cluster_name: up
      endpoints:
      - lb_endpoints:
{eps}"""
    path = work / "envoy.yaml"
    path.write_text(cfg)
    return [str(binary), "-c", str(path), "--concurrency", "1", "-l", "error",
            "--base-id", str(os.getpid() % 1000)], {}


# Name → config builder, in the order of the table.
TARGETS = {
    "direct": None,
    "bare hyper-util": bare,
    "seawall": seawall,
    "seawall (static)": seawall_static,
    "nginx": nginx,
    "HAProxy": haproxy,
    "Envoy": envoy,
    "Pingora": pingora,
}
RESILIENCE = ["seawall", "nginx", "HAProxy", "Envoy"]
