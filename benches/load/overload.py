#!/usr/bin/env python3
"""Overload without hand-tuning (issue 19): one upstream that serves 10
requests at a time for 20 ms each (`seawall-upstream --capacity 10`,
`?delay=20ms`: about 500 req/s less its own overhead), offered open loop
(oha, latency correction) at 0.5x, 2x, 3x, 5x and 10x that, then a capacity
step (0.8x for 10 s, the upstream's slots halved for 10 s, restored for
10 s), through each proxy at its best setting for the case:

- seawall with the shipped config and nothing but its endpoint changed (no
  admission keys: the learned limit);
- seawall hand-tuned (`max_concurrent: 10, max_queue: 5`);
- nginx `max_conns=10` (no queue);
- Envoy with its `adaptive_concurrency` filter (gradient controller, its
  documented defaults but a 50th-percentile sample) and, hand-tuned, its
  circuit breaker `max_requests: 10`.

The proxy runs on CPU 1, the upstream and oha on CPU 0, one worker each.
Run after `run.sh` (it builds the binaries, installs nginx and Envoy):

    python3 benches/load/overload.py            # DUR=10 seconds per rate
    BIN=path/to/dir python3 benches/load/overload.py

The capacity step is three consecutive oha runs of DUR seconds (before,
slots set to 5, slots set back to 10), not one run with a per-second
series; the dip's goodput is of the halved capacity (250 req/s).
Goodput is 2xx per second / 500 req/s (the nominal capacity).

Prints a Markdown table and writes target/bench/overload.json.
"""

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(Path(__file__).parent))
import targets  # noqa: E402  (envoy_binary)

BIN = Path(os.environ.get("BIN", ROOT / "target/release"))
OHA = os.environ.get("OHA") or shutil.which("oha") or str(Path.home() / ".cargo/bin/oha")
DUR = int(os.environ.get("DUR", "10"))
PROXY, UP, ADMIN = "127.0.0.1:28080", "127.0.0.1:28081", "127.0.0.1:29901"
SLOTS, DELAY_MS = 10, 20
CAPACITY = SLOTS * 1000 / DELAY_MS
PATH = f"/bench?delay={DELAY_MS}ms"
MULTS = [float(m) for m in os.environ.get("MULTS", "0.5 2 3 5 10").split()]


def seawall_cfg(work, tuned):
    text = (ROOT / "config/seawall.yaml").read_text()
    text = text.replace('endpoints: ["127.0.0.1:8081"]', f'endpoints: ["{UP}"]')
    text = text.replace("address: 127.0.0.1:8080", f"address: {PROXY}")
    text = text.replace("address: 127.0.0.1:9901", f"address: {ADMIN}")
    if tuned:
        text = text.replace("      adaptive: { min: 2, max: 256 }\n",
                            "      max_concurrent: 10\n", 1)
        text = text.replace("      max_queue: 128\n", "      max_queue: 5\n", 1)
    path = work / ("seawall-tuned.yaml" if tuned else "seawall.yaml")
    path.write_text(text)
    return [str(BIN / "seawall"), "--config", str(path)], {
        "SEAWALL_WORKER_THREADS": "1", "RUST_LOG": "warn"}


def nginx_cfg(work):
    if not shutil.which("nginx"):
        return None
    path = work / "nginx.conf"
    path.write_text(f"""worker_processes 1;
daemon off;
pid {work}/nginx.pid;
error_log {work}/nginx.err warn;
events {{ worker_connections 4096; }}
http {{
  access_log off;
  client_body_temp_path {work};
  proxy_temp_path {work};
  upstream up {{ server {UP} max_conns={SLOTS}; keepalive 64; }}
  server {{
    listen {PROXY} backlog=4096;
    location / {{
      proxy_pass http://up;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_next_upstream off;
    }}
  }}
}}
""")
    return ["nginx", "-c", str(path), "-e", str(work / "nginx.err")], {}


def envoy_cfg(work, adaptive):
    binary = targets.envoy_binary(ROOT)
    if binary is None:
        return None
    limit = 100000 if adaptive else SLOTS
    filt = ""
    if adaptive:
        filt = """          - name: envoy.filters.http.adaptive_concurrency
            typed_config:
              "@type": type.googleapis.com/envoy.extensions.filters.http.adaptive_concurrency.v3.AdaptiveConcurrency
              gradient_controller_config:
                sample_aggregate_percentile: { value: 50 }
                concurrency_limit_params:
                  concurrency_update_interval: 0.1s
                min_rtt_calc_params:
                  interval: 5s
                  request_count: 50
"""
    host, port = UP.split(":")
    path = work / ("envoy-adaptive.yaml" if adaptive else "envoy-cb.yaml")
    path.write_text(f"""admin:
  address: {{ socket_address: {{ address: 127.0.0.1, port_value: 29902 }} }}
static_resources:
  listeners:
  - address: {{ socket_address: {{ address: 127.0.0.1, port_value: {PROXY.split(':')[1]} }} }}
    filter_chains:
    - filters:
      - name: envoy.filters.network.http_connection_manager
        typed_config:
          "@type": type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager
          stat_prefix: bench
          route_config:
            virtual_hosts:
            - name: all
              domains: ["*"]
              routes:
              - match: {{ prefix: "/" }}
                route: {{ cluster: up, timeout: 2s }}
          http_filters:
{filt}          - name: envoy.filters.http.router
            typed_config:
              "@type": type.googleapis.com/envoy.extensions.filters.http.router.v3.Router
  clusters:
  - name: up
    connect_timeout: 0.25s
    type: STATIC
    circuit_breakers:
      thresholds:
      - {{ max_connections: {limit}, max_pending_requests: {limit}, max_requests: {limit} }}
    load_assignment:
      cluster_name: up
      endpoints:
      - lb_endpoints:
        - endpoint: {{ address: {{ socket_address: {{ address: {host}, port_value: {port} }} }} }}
""")
    return [str(binary), "-c", str(path), "--concurrency", "1", "-l", "error",
            "--base-id", str(os.getpid() % 1000)], {}


TARGETS = {
    "seawall (shipped defaults: learned limit)": lambda w: seawall_cfg(w, False),
    "seawall (max_concurrent 10, max_queue 5)": lambda w: seawall_cfg(w, True),
    "nginx (max_conns=10)": nginx_cfg,
    "Envoy (adaptive_concurrency)": lambda w: envoy_cfg(w, True),
    "Envoy (circuit breaker max_requests 10)": lambda w: envoy_cfg(w, False),
}


def oha(rate, secs, conns=600):
    r = subprocess.run(["taskset", "-c", "0", OHA, "--no-tui", "--output-format", "json",
                        "-q", str(int(rate)), "--latency-correction", "--stats-success-breakdown",
                        "-w", "-z", f"{secs}s", "-c", str(conns), "-t", "3s",
                        f"http://{PROXY}{PATH}"], capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError(r.stderr[-500:])
    j = json.loads(r.stdout)
    codes = j.get("statusCodeDistribution") or {}
    ok = sum(v for k, v in codes.items() if k.startswith("2"))
    total = sum(codes.values()) + sum((j.get("errorDistribution") or {}).values())
    s = j.get("latencyPercentilesSuccessful") or {}
    f = j.get("latencyPercentilesNotSuccessful") or {}
    ms = lambda m, k: round((m.get(k) or 0) * 1e3, 2)  # noqa: E731
    return {"goodput": round(ok / secs / CAPACITY * 100, 1), "refused": total - ok,
            "p50": ms(s, "p50"), "p99": ms(s, "p99"), "refused_p99": ms(f, "p99")}


def capacity(slots):
    req = urllib.request.Request(f"http://{UP}/_upstream/config", method="POST",
                                 data=json.dumps({"capacity": slots}).encode(),
                                 headers={"content-type": "application/json"})
    urllib.request.urlopen(req, timeout=2).read()


def wait_port(addr, timeout=10):
    import socket
    host, port = addr.split(":")
    end = time.time() + timeout
    while time.time() < end:
        try:
            socket.create_connection((host, int(port)), 0.2).close()
            return True
        except OSError:
            time.sleep(0.1)
    return False


def measure(name, argv_env):
    argv, env = argv_env
    proc = subprocess.Popen(["taskset", "-c", "1"] + argv, env={**os.environ, **env},
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    try:
        if not wait_port(PROXY):
            return {"error": "did not start"}
        time.sleep(0.5)
        row = {"unloaded": oha(50, 5, 50)}
        for m in MULTS:
            row[f"{m:g}x"] = oha(m * CAPACITY, DUR)
            time.sleep(2)
        step = {"before": oha(0.8 * CAPACITY, DUR)}
        capacity(SLOTS // 2)
        step["dip"] = oha(0.8 * CAPACITY, DUR)
        capacity(SLOTS)
        step["after"] = oha(0.8 * CAPACITY, DUR)
        row["step"] = step
        print(f"{name}: {json.dumps(row)}", flush=True)
        return row
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=10)
        time.sleep(1)


def table(results):
    lines = ["| proxy | unloaded p99 | " + " | ".join(
        f"{m:g}×: goodput, p50/p99, refusals p99" for m in MULTS) + " | step: dip goodput (of 250/s), p99; after |",
             "|---|---:|" + "---:|" * len(MULTS) + "---:|"]
    for name, r in results.items():
        if "error" in r:
            lines.append(f"| {name} | {r['error']} |")
            continue
        cells = []
        for m in MULTS:
            c = r[f"{m:g}x"]
            cells.append(f"{c['goodput']}%, {c['p50']}/{c['p99']} ms, {c['refused_p99']} ms"
                         + (f" ({c['refused']} refused)" if m < 1 else ""))
        d, a = r["step"]["dip"], r["step"]["after"]
        cells.append(f"{d['goodput'] * 2:.1f}%, {d['p99']} ms; {a['goodput'] / 0.8:.1f}% of offered")
        lines.append(f"| {name} | {r['unloaded']['p99']} ms | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main():
    work = Path(tempfile.mkdtemp(prefix="seawall-overload-"))
    up = subprocess.Popen(["taskset", "-c", "0", str(BIN / "seawall-upstream"), "--listen", UP,
                           "--capacity", str(SLOTS)], stdout=subprocess.DEVNULL,
                          stderr=subprocess.DEVNULL)
    results = {}
    try:
        if not wait_port(UP):
            sys.exit("upstream did not start")
        load = open("/proc/loadavg").read().split()[:3]
        print(f"load average before: {' '.join(load)}", flush=True)
        for name, make in TARGETS.items():
            argv_env = make(work)
            if argv_env is None:
                print(f"{name}: skipped (not installed)", flush=True)
                continue
            capacity(SLOTS)
            results[name] = measure(name, argv_env)
    finally:
        up.terminate()
    out = ROOT / "target/bench/overload.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=1))
    print(table(results))


if __name__ == "__main__":
    main()
