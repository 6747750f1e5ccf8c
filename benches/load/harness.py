"""seawall's load benchmark: overhead and resilience, side by side.

Run through ``benches/load/run.sh``. Starts the fast upstream, then each
target in turn (round-robin over ROUNDS rounds), measures, and writes
``target/bench/results.md``, ``results.json`` and ``results.png``. Targets it
cannot start are skipped with a message. Medians over rounds are reported.
"""

import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import targets as T

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "target/bench"
ROUNDS = int(os.environ.get("ROUNDS", "3"))
DUR = os.environ.get("DURATION", "5s")
RATE = int(os.environ.get("RATE", "5000"))
IDLE_CONNS = int(os.environ.get("IDLE_CONNS", "1000"))
DELAY_MS = 20  # upstream think time in the overload runs
OHA = os.environ.get("OHA", "oha")
LOAD = ["taskset", "-c", "0"]
TICK = os.sysconf("SC_CLK_TCK")
PATH = "/bench?body_bytes=100"


def log(*a):
    print(*a, file=sys.stderr, flush=True)


def wait_port(addr, timeout=10.0):
    host, port = addr.split(":")
    end = time.time() + timeout
    while time.time() < end:
        try:
            with socket.create_connection((host, int(port)), 0.2):
                return True
        except OSError:
            time.sleep(0.05)
    return False


def wait_http(addr, path, timeout=10.0):
    """Until a request through `addr` answers 200 (the upstream is reached)."""
    end = time.time() + timeout
    while time.time() < end:
        r = subprocess.run(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}",
                            "-m", "1", f"http://{addr}{path}"], capture_output=True, text=True)
        if r.stdout == "200":
            return True
        time.sleep(0.1)
    return False


def tree(pid):
    """`pid` and its descendants."""
    kids = {}
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                st = (d / "stat").read_text()
                ppid = int(st[st.rindex(")") + 2:].split()[1])
                kids.setdefault(ppid, []).append(int(d.name))
            except (OSError, ValueError):
                pass
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo += kids.get(p, [])
    return out


def cpu_ticks(pid):
    total = 0
    for p in tree(pid):
        try:
            st = Path(f"/proc/{p}/stat").read_text()
            f = st[st.rindex(")") + 2:].split()
            total += int(f[11]) + int(f[12])
        except OSError:
            pass
    return total


def rss_kib(pid):
    total = 0
    for p in tree(pid):
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except OSError:
            pass
    return total


class Proc:
    def __init__(self, argv, env=None, name=""):
        self.name = name
        e = dict(os.environ)
        e.update(env or {})
        self.p = subprocess.Popen(T.PIN + argv, env=e, stdout=subprocess.DEVNULL,
                                  stderr=open(OUT / f"{name}.log", "ab"),
                                  start_new_session=True)

    @property
    def pid(self):
        return self.p.pid

    def stop(self):
        if self.p.poll() is None:
            os.killpg(self.p.pid, signal.SIGCONT)
            os.killpg(self.p.pid, signal.SIGTERM)
            try:
                self.p.wait(5)
            except subprocess.TimeoutExpired:
                os.killpg(self.p.pid, signal.SIGKILL)
                self.p.wait()


def upstreams(n):
    return [Proc([str(ROOT / "target/release/seawall-upstream"), "--listen", a],
                 {"TOKIO_WORKER_THREADS": "1"}, f"upstream{i}")
            for i, a in enumerate(T.UPSTREAMS[:n])]


def start(name, mode, work):
    """Starts target `name`; returns (Proc or None for direct, address) or None."""
    if T.TARGETS[name] is None:
        return None, T.UPSTREAMS[0]
    spec = T.TARGETS[name](ROOT, work, mode)
    if spec is None:
        return "skip"
    argv, env = spec
    proc = Proc(argv, env, name.split()[0].lower())
    if not wait_port(T.PROXY) or not wait_http(T.PROXY, PATH):
        log(f"  {name}: did not come up (see target/bench/{proc.name}.log); skipped")
        proc.stop()
        return "skip"
    return proc, T.PROXY


def wrk(addr, dur=DUR, conns=64):
    r = subprocess.run(LOAD + ["wrk", "-t1", f"-c{conns}", f"-d{dur}",
                               f"http://{addr}{PATH}"], capture_output=True, text=True)
    m = re.search(r"(\d+) requests in", r.stdout)
    rps = re.search(r"Requests/sec:\s+([\d.]+)", r.stdout)
    errs = re.search(r"Non-2xx or 3xx responses: (\d+)", r.stdout)
    return int(m.group(1)), float(rps.group(1)), int(errs.group(1)) if errs else 0


def oha(addr, rate, dur, conns, path=PATH, timeout="3s"):
    r = subprocess.run(LOAD + [OHA, "--no-tui", "--output-format", "json", "-q", str(rate),
                               "--latency-correction", "--stats-success-breakdown", "-w",
                               "-z", dur, "-c", str(conns), "-t", timeout,
                               f"http://{addr}{path}"], capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError(r.stderr[-500:])
    return json.loads(r.stdout)


def pct(j, key, p):
    v = (j.get(key) or {}).get(p)
    return None if v is None else v * 1e3


def idle_conns(addr, n):
    """Opens n keep-alive connections, one request each, and holds them."""
    host, port = addr.split(":")
    socks = []
    req = f"GET {PATH} HTTP/1.1\r\nHost: bench\r\n\r\n".encode()
    for _ in range(n):
        s = socket.create_connection((host, int(port)), 2)
        s.sendall(req)
        socks.append(s)
    for s in socks:
        s.settimeout(2)
        try:
            s.recv(4096)
        except OSError:
            pass
    return socks


def overhead_round(name, work):
    started = start(name, "plain", work)
    if started == "skip":
        return None
    proc, addr = started
    try:
        wrk(addr, "1s")  # warm pools and caches
        # Idle means idle: every target gets the same quiet time after the
        # warm-up before its RSS is read (seawall returns the memory the
        # warm-up's connections freed at its first quiet second).
        time.sleep(2.5)
        row = {"rss_idle_kib": rss_kib(proc.pid) if proc else None}
        t0 = cpu_ticks(proc.pid) if proc else 0
        n, rps, errs = wrk(addr)
        t1 = cpu_ticks(proc.pid) if proc else 0
        row.update(rps=rps, errors=errs,
                   cpu_us=(t1 - t0) * 1e6 / TICK / n if proc else None)
        j = oha(addr, RATE, DUR, 32)
        row.update(p50=pct(j, "latencyPercentiles", "p50"),
                   p99=pct(j, "latencyPercentiles", "p99"),
                   p999=pct(j, "latencyPercentiles", "p99.9"))
        if proc:
            time.sleep(0.5)
            before = rss_kib(proc.pid)
            socks = idle_conns(addr, IDLE_CONNS)
            time.sleep(0.5)
            row["kib_per_conn"] = (rss_kib(proc.pid) - before) / IDLE_CONNS
            for s in socks:
                s.close()
        return row
    finally:
        if proc:
            proc.stop()


def status_counts(j):
    d = j.get("statusCodeDistribution") or {}
    ok = sum(v for k, v in d.items() if k.startswith("2"))
    return ok, sum(d.values()) + sum((j.get("errorDistribution") or {}).values())


def overload_round(name, work):
    started = start(name, "overload", work)
    if started == "skip":
        return None
    proc, addr = started
    capacity = T.CAP * 1000 / DELAY_MS
    try:
        path = f"/bench?body_bytes=100&delay={DELAY_MS}ms"
        j = oha(addr, int(3 * capacity), DUR, 600, path)
        ok, total = status_counts(j)
        secs = j["summary"]["total"]
        return {"goodput": ok / secs / capacity * 100, "ok_rps": ok / secs,
                "admitted_p99": pct(j, "latencyPercentilesSuccessful", "p99"),
                "refused_pct": (total - ok) / max(total, 1) * 100}
    finally:
        proc.stop()


def hung_round(name, work, ups):
    started = start(name, "hung", work)
    if started == "skip":
        return None
    proc, addr = started
    try:
        wrk(addr, "1s", 8)  # every endpoint seen healthy first
        os.kill(ups[2].pid, signal.SIGSTOP)
        j = oha(addr, 500, DUR, 100)
        ok, total = status_counts(j)
        return {"success": ok / max(total, 1) * 100,
                "ok_p99": pct(j, "latencyPercentilesSuccessful", "p99")}
    finally:
        os.kill(ups[2].pid, signal.SIGCONT)
        proc.stop()


def main():
    OUT.mkdir(parents=True, exist_ok=True)
    load_start = "load average " + " ".join(open("/proc/loadavg").read().split()[:3])
    log(f"starting; {load_start}")
    work = Path(tempfile.mkdtemp(prefix="seawall-bench-"))
    results = {"overhead": {}, "overload": {}, "hung": {}}
    ups = upstreams(3)
    for u in T.UPSTREAMS:
        if not wait_port(u):
            sys.exit(f"upstream {u} did not start")
    try:
        for rnd in range(ROUNDS):
            for name in T.TARGETS:
                log(f"round {rnd + 1}/{ROUNDS}: {name}")
                results["overhead"].setdefault(name, []).append(overhead_round(name, work))
            for name in T.RESILIENCE:
                log(f"round {rnd + 1}/{ROUNDS}: {name} overload / hung")
                results["overload"].setdefault(name, []).append(overload_round(name, work))
                results["hung"].setdefault(name, []).append(hung_round(name, work, ups))
    finally:
        for u in ups:
            u.stop()
    (OUT / "results.json").write_text(json.dumps(results, indent=1))
    import report
    report.write(results, OUT, ROUNDS, DUR, RATE, IDLE_CONNS, T.CAP * 1000 / DELAY_MS,
                 load_start)


if __name__ == "__main__":
    main()
