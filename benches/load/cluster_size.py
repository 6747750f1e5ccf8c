"""The cluster-size run: seawall and HAProxy in front of 3, 100 and 1,000
endpoints, side by side.

One nginx listens on N ports (N live endpoints); 10 more ports have nothing
listening (dead endpoints). Each proxy has HTTP health checks every 1 s on
all N + 10 (HAProxy: ``balance leastconn``, ``check inter 1s``,
``spread-checks 5``, ``http-reuse always``; seawall: P2C, its defaults).
After a warm-up that lets the dead endpoints be marked down, oha sends
RATE_CS requests a second, open loop, for DURATION_CS; the proxy's CPU per
request, p50/p99 and RSS after the run are reported. One worker each, pinned
as in ``harness.py``.

Run after ``benches/load/run.sh`` has built seawall and installed nginx,
HAProxy and oha (or set OHA): ``python3 benches/load/cluster_size.py``.
Writes ``target/bench/cluster_size.{md,json}``. Environment: SIZES
("3,100,1000"), RATE_CS (2000), DURATION_CS (15s), CONNS_CS (50),
SEAWALL_BIN (target/release/seawall), SEAWALL_BEFORE_BIN (another seawall
build, as an extra row), SEAWALL_CLUSTER_EXTRA (more keys for seawall's
cluster, indented four spaces), OHA (oha).
"""

import json
import os
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

import harness as H
import targets as T

SIZES = [int(s) for s in os.environ.get("SIZES", "3,100,1000").split(",")]
RATE = int(os.environ.get("RATE_CS", "2000"))
DUR = os.environ.get("DURATION_CS", "15s")
CONNS = int(os.environ.get("CONNS_CS", "50"))
DEAD = 10
LIVE_BASE = 21000
DEAD_BASE = 29000
PATH = "/bench"
SEAWALL = os.environ.get("SEAWALL_BIN", str(H.ROOT / "target/release/seawall"))


def live(n):
    return [f"127.0.0.1:{LIVE_BASE + i}" for i in range(n)]


def dead():
    return [f"127.0.0.1:{DEAD_BASE + i}" for i in range(DEAD)]


def nginx_upstream(work, n):
    listens = "".join(f"    listen {a} backlog=4096;\n" for a in live(n))
    cfg = f"""worker_processes 1;
worker_rlimit_nofile 65536;
daemon off;
pid {work}/upstream-nginx.pid;
error_log {work}/upstream-nginx.err warn;
events {{ worker_connections 16384; }}
http {{
  access_log off;
  keepalive_requests 100000;
  server {{
{listens}    location / {{ return 200 "ok\\n"; }}
  }}
}}
"""
    path = work / "upstream-nginx.conf"
    path.write_text(cfg)
    return H.Proc(["nginx", "-c", str(path), "-e", str(work / "upstream-nginx.err")],
                  name="upstream-nginx")


def seawall(work, n):
    eps = ", ".join(f'"{a}"' for a in live(n) + dead())
    cfg = f"""admin: {{ address: {T.ADMIN} }}
log: {{ level: warn, access_log: false }}
listeners:
  - name: bench
    address: {T.PROXY}
    routes: [{{ name: all, cluster: up }}]
clusters:
  - name: up
    endpoints: [{eps}]
    health_check: {{ path: /health, interval: 1s }}
{os.environ.get("SEAWALL_CLUSTER_EXTRA", "")}"""
    path = work / "seawall-cs.yaml"
    path.write_text(cfg)
    return [SEAWALL, "--config", str(path)], \
        {"SEAWALL_WORKER_THREADS": "1", "RUST_LOG": "warn"}


def haproxy(work, n):
    servers = "".join(f"  server s{i} {a} check inter 1s\n"
                      for i, a in enumerate(live(n) + dead()))
    cfg = f"""global
  nbthread 1
  maxconn 9000
  spread-checks 5
defaults
  mode http
  timeout connect 1s
  timeout client 30s
  timeout server 2s
  http-reuse always
frontend fe
  bind {T.PROXY}
  default_backend be
backend be
  balance leastconn
  option httpchk GET /health
{servers}"""
    path = work / "haproxy-cs.cfg"
    path.write_text(cfg)
    return ["haproxy", "-db", "-f", str(path)], {}


PROXIES = {"seawall": seawall, "HAProxy": haproxy}
if os.environ.get("SEAWALL_BEFORE_BIN"):
    # Another seawall build (say, the main branch) as a third row.
    def seawall_before(work, n):
        argv, env = seawall(work, n)
        return [os.environ["SEAWALL_BEFORE_BIN"]] + argv[1:], env
    PROXIES = {"seawall (before)": seawall_before, **PROXIES}


def measure(name, work, n):
    argv, env = PROXIES[name](work, n)
    proc = H.Proc(argv, env, name.split()[0].lower() + "-cs")
    try:
        if not H.wait_port(T.PROXY) or not H.wait_http(T.PROXY, PATH):
            H.log(f"  {name} at {n}: did not come up; skipped")
            return None
        # Every dead endpoint marked down (3 failed probes at 1 s), and the
        # pools warm.
        H.oha(T.PROXY, RATE, "5s", CONNS, PATH)
        t0 = H.cpu_ticks(proc.pid)
        j = H.oha(T.PROXY, RATE, DUR, CONNS, PATH)
        t1 = H.cpu_ticks(proc.pid)
        ok, total = H.status_counts(j)
        return {"p50": H.pct(j, "latencyPercentiles", "p50"),
                "p99": H.pct(j, "latencyPercentiles", "p99"),
                "cpu_us": (t1 - t0) * 1e6 / H.TICK / max(ok, 1),
                "rss_mib": H.rss_kib(proc.pid) / 1024,
                "ok_pct": ok / max(total, 1) * 100}
    finally:
        proc.stop()


def table(results):
    lines = ["| target | endpoints | p50 ms | p99 ms | CPU µs/req | RSS MiB | 2xx % |",
             "|---|---:|---:|---:|---:|---:|---:|"]
    for name, rows in results.items():
        for n, r in rows.items():
            if r is None:
                lines.append(f"| {name} | {n} | – | – | – | – | – |")
                continue
            lines.append(f"| {name} | {n} | {r['p50']:.2f} | {r['p99']:.2f} | "
                         f"{r['cpu_us']:.1f} | {r['rss_mib']:.1f} | {r['ok_pct']:.1f} |")
    return "\n".join(lines) + "\n"


def main():
    for tool in ["nginx", "haproxy", "taskset", "curl"]:
        if not shutil.which(tool):
            sys.exit(f"{tool} is required (apt-get install nginx haproxy util-linux curl)")
    # 1,000 endpoints' connections and probes need more than 1,024 files.
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    H.OUT.mkdir(parents=True, exist_ok=True)
    load = "load average " + " ".join(open("/proc/loadavg").read().split()[:3])
    H.log(f"cluster size: starting; {load}")
    work = Path(tempfile.mkdtemp(prefix="seawall-cs-"))
    results = {name: {} for name in PROXIES}
    for n in SIZES:
        up = nginx_upstream(work, n)
        try:
            if not H.wait_port(live(n)[-1]):
                sys.exit(f"the upstream nginx did not listen on {n} ports")
            for name in PROXIES:
                H.log(f"cluster size {n}: {name}")
                results[name][n] = measure(name, work, n)
        finally:
            up.stop()
    (H.OUT / "cluster_size.json").write_text(json.dumps(results, indent=1))
    md = (f"Cluster size: {RATE} rps open loop (oha, {CONNS} connections) for {DUR}, "
          f"N live endpoints + {DEAD} dead, HTTP health checks every 1 s; {load} "
          "at the start.\n\n" + table(results))
    (H.OUT / "cluster_size.md").write_text(md)
    print(md)


if __name__ == "__main__":
    main()
