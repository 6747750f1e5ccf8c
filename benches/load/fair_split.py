"""The fair-split run (issue 27): how evenly each proxy spreads load over
replicas, how much it sends a slow one, and how fast a recovered one gets
its share back, tried as a user would.

Four ``seawall-upstream`` replicas (r0..r3, one tokio worker each). oha
sends RATE_FS requests a second, open loop, with latency correction, for
DURATION_FS (30 s) through one proxy at a time. At SLOW_FROM (10 s) r3 is
told to answer every request after 500 ms (``POST /_upstream/config``
``{"delay": "500ms"}``); at SLOW_UNTIL (20 s) it is told to answer at once
again. Every second, on the second, each replica's request counter
(``GET /_upstream/stats``) is read, so requests per second per replica are
exact (the counter counts a request when it arrives).

Proxies, each at its best setting for the case, and otherwise as shipped:

- seawall: its shipped balancing defaults (``p2c_peak_ewma``); the config
  names the four endpoints and nothing else about balancing;
- nginx: ``least_conn``, upstream keepalive;
- HAProxy: ``balance leastconn``, ``http-reuse always``.

No proxy has a health check or a timeout that a 500 ms answer would trip,
so what each does with r3 is its balancer's doing.

Reported per proxy and run: the p90, over seconds 1..DURATION-1 and the
three identical replicas, of each one's deviation from their mean that
second; the requests r3 received while slow (each of them answered
≥ 500 ms later: slow answers let through); r3's share of all requests in
the 2 s after it recovered and from then to the end (fair: 25%); client
p99 and share of 2xx.

Run after ``cargo build --release --bin seawall --bin seawall-upstream``
with nginx, HAProxy and oha installed: ``python3 benches/load/fair_split.py``.
Environment: RUNS_FS (1), RATE_FS (500), DURATION_FS (30), CONNS_FS (100),
SEAWALL_BIN (target/release/seawall), UPSTREAM_BIN
(target/release/seawall-upstream), OHA (oha), PROXIES_FS
("seawall,nginx,HAProxy"). Writes ``target/bench/fair_split.{md,json}``.
"""

import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

import harness as H

RUNS = int(os.environ.get("RUNS_FS", "1"))
RATE = int(os.environ.get("RATE_FS", "500"))
DUR = int(os.environ.get("DURATION_FS", "30"))
CONNS = int(os.environ.get("CONNS_FS", "100"))
SLOW_FROM, SLOW_UNTIL, SLOW = 10, 20, "500ms"
PROXY = "127.0.0.1:18190"
ADMIN = "127.0.0.1:19911"
REPLICAS = [f"127.0.0.1:{18191 + i}" for i in range(4)]
PATH = "/fair"
SEAWALL = os.environ.get("SEAWALL_BIN", str(H.ROOT / "target/release/seawall"))
UPSTREAM = os.environ.get("UPSTREAM_BIN", str(H.ROOT / "target/release/seawall-upstream"))


def seawall(work):
    eps = ", ".join(f'"{a}"' for a in REPLICAS)
    cfg = f"""admin: {{ address: {ADMIN} }}
log: {{ level: warn, access_log: false }}
listeners:
  - name: fair
    address: {PROXY}
    routes: [{{ name: all, cluster: up }}]
clusters:
  - name: up
    endpoints: [{eps}]
"""
    path = work / "seawall-fs.yaml"
    path.write_text(cfg)
    return [SEAWALL, "--config", str(path)], \
        {"SEAWALL_WORKER_THREADS": "1", "RUST_LOG": "warn"}


def nginx(work):
    servers = "".join(f"    server {a};\n" for a in REPLICAS)
    cfg = f"""worker_processes 1;
daemon off;
pid {work}/nginx-fs.pid;
error_log {work}/nginx-fs.err warn;
events {{ worker_connections 4096; }}
http {{
  access_log off;
  client_body_temp_path {work};
  proxy_temp_path {work};
  upstream up {{
    least_conn;
{servers}    keepalive 1024;
  }}
  server {{
    listen {PROXY} reuseport backlog=4096;
    location / {{
      proxy_pass http://up;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
    }}
  }}
}}
"""
    path = work / "nginx-fs.conf"
    path.write_text(cfg)
    return ["nginx", "-c", str(path), "-e", str(work / "nginx-fs.err")], {}


def haproxy(work):
    servers = "".join(f"  server r{i} {a}\n" for i, a in enumerate(REPLICAS))
    cfg = f"""global
  nbthread 1
  maxconn 9000
defaults
  mode http
  timeout connect 1s
  timeout client 30s
  timeout server 5s
  http-reuse always
frontend fe
  bind {PROXY}
  default_backend be
backend be
  balance leastconn
{servers}"""
    path = work / "haproxy-fs.cfg"
    path.write_text(cfg)
    return ["haproxy", "-db", "-f", str(path)], {}


PROXIES = {"seawall": seawall, "nginx": nginx, "HAProxy": haproxy}


def http(addr, path, body=None):
    req = urllib.request.Request(f"http://{addr}{path}", data=body,
                                 headers={"content-type": "application/json"})
    with urllib.request.urlopen(req, timeout=2) as r:
        return r.read()


def requests_seen(addr):
    return json.loads(http(addr, "/_upstream/stats"))["requests"]


def set_delay(addr, delay):
    http(addr, "/_upstream/config", json.dumps({"delay": delay}).encode())


def drive(t0, counts, errors):
    """On each second after t0: read every replica's counter; at SLOW_FROM
    and SLOW_UNTIL (just after that second's read) slow and recover r3."""
    for s in range(DUR + 1):
        time.sleep(max(0.0, t0 + s - time.time()))
        try:
            counts.append([requests_seen(a) for a in REPLICAS])
            if s == SLOW_FROM:
                set_delay(REPLICAS[3], SLOW)
            elif s == SLOW_UNTIL:
                set_delay(REPLICAS[3], "0ms")
        except OSError as e:
            errors.append(f"second {s}: {e}")
            return


def percentile(values, p):
    v = sorted(values)
    if not v:
        return float("nan")
    k = (len(v) - 1) * p
    lo, hi = int(k), min(int(k) + 1, len(v) - 1)
    return v[lo] + (v[hi] - v[lo]) * (k - lo)


def analyse(counts):
    per_sec = [[b - a for a, b in zip(counts[s], counts[s + 1])]
               for s in range(len(counts) - 1)]
    devs = []
    for row in per_sec[1:]:  # second 0 holds oha's start-up
        m = sum(row[:3]) / 3
        if m > 0:
            devs += [abs(x - m) / m * 100 for x in row[:3]]

    def share(a, b):
        rows = per_sec[a:b]
        total = sum(sum(r) for r in rows)
        return sum(r[3] for r in rows) / max(total, 1) * 100

    return {"per_second": per_sec,
            "dev_p90_pct": percentile(devs, 0.9),
            "dev_max_pct": max(devs) if devs else float("nan"),
            "slow_let_through": counts[SLOW_UNTIL][3] - counts[SLOW_FROM][3],
            "r3_share_before_pct": share(1, SLOW_FROM),
            "r3_share_recovery_2s_pct": share(SLOW_UNTIL, SLOW_UNTIL + 2),
            "r3_share_after_pct": share(SLOW_UNTIL + 2, DUR)}


def measure(name, work):
    argv, env = PROXIES[name](work)
    proc = H.Proc(argv, env, name.lower() + "-fs")
    try:
        if not H.wait_port(PROXY) or not H.wait_http(PROXY, PATH):
            H.log(f"  {name}: did not come up; skipped")
            return None
        for a in REPLICAS:
            set_delay(a, "0ms")
        # A short warm-up so every proxy starts with warm pools, then a pause.
        H.oha(PROXY, RATE, "2s", CONNS, PATH)
        time.sleep(1)
        counts, errors = [], []
        t0 = time.time()
        th = threading.Thread(target=drive, args=(t0, counts, errors))
        th.start()
        try:
            j = H.oha(PROXY, RATE, f"{DUR}s", CONNS, PATH, timeout="5s")
        finally:
            th.join()
            set_delay(REPLICAS[3], "0ms")
        if errors or len(counts) < DUR + 1:
            H.log(f"  {name}: counters not read: {errors}")
            return None
        ok, total = H.status_counts(j)
        row = analyse(counts)
        row.update(p99=H.pct(j, "latencyPercentiles", "p99"),
                   p50=H.pct(j, "latencyPercentiles", "p50"),
                   ok_pct=ok / max(total, 1) * 100, requests=total)
        return row
    finally:
        proc.stop()


def table(results):
    lines = ["| proxy | run | identical replicas: p90 (max) deviation from their mean "
             "per second | slow answers let through (r3 while slow) | r3 share, 2 s "
             "after recovery | r3 share after that | r3 share before | client p50 / p99 ms "
             "| 2xx % |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for name, runs in results.items():
        for i, r in enumerate(runs, 1):
            if r is None:
                lines.append(f"| {name} | {i} | – | – | – | – | – | – | – |")
                continue
            lines.append(
                f"| {name} | {i} | {r['dev_p90_pct']:.1f}% ({r['dev_max_pct']:.0f}%) | "
                f"{r['slow_let_through']} | {r['r3_share_recovery_2s_pct']:.1f}% | "
                f"{r['r3_share_after_pct']:.1f}% | {r['r3_share_before_pct']:.1f}% | "
                f"{r['p50']:.1f} / {r['p99']:.1f} | {r['ok_pct']:.2f} |")
    return "\n".join(lines) + "\n"


def main():
    for tool in ["taskset", "curl"]:
        if not shutil.which(tool):
            sys.exit(f"{tool} is required")
    names = os.environ.get("PROXIES_FS", ",".join(PROXIES)).split(",")
    names = [n for n in names if n == "seawall" or shutil.which(n.lower())]
    H.OUT.mkdir(parents=True, exist_ok=True)
    load = "load average " + " ".join(open("/proc/loadavg").read().split()[:3])
    H.log(f"fair split: starting; {load}")
    work = Path(tempfile.mkdtemp(prefix="seawall-fs-"))
    ups = [H.Proc([UPSTREAM, "--listen", a, "--name", f"r{i}"],
                  {"TOKIO_WORKER_THREADS": "1"}, f"upstream-fs{i}")
           for i, a in enumerate(REPLICAS)]
    results = {n: [] for n in names}
    try:
        for a in REPLICAS:
            if not H.wait_port(a):
                sys.exit(f"replica {a} did not start")
        for run in range(RUNS):
            for name in names:
                H.log(f"fair split run {run + 1}/{RUNS}: {name}")
                results[name].append(measure(name, work))
                time.sleep(1)
    finally:
        for u in ups:
            u.stop()
    (H.OUT / "fair_split.json").write_text(json.dumps(results, indent=1))
    md = (f"Fair split: {RATE} rps open loop (oha, {CONNS} connections, latency "
          f"correction) for {DUR} s through each proxy to four replicas; r3 answers "
          f"after {SLOW} from t = {SLOW_FROM} s to {SLOW_UNTIL} s. Fair share of r3: "
          f"25%. {load} at the start (2-core VM shared with other builds).\n\n"
          + table(results))
    (H.OUT / "fair_split.md").write_text(md)
    print(md)


if __name__ == "__main__":
    main()
