#!/usr/bin/env python3
"""The ClusterIP trap (issue 22), shown on the docker-compose stack.

Two seawalls with the same resilience settings sit in front of the same
three replicas of the fault upstream, one of which answers 503 to every
request:

- `seawall` reaches them through the compose alias `upstream`, which DNS
  answers with all three addresses, as a Kubernetes headless Service does;
- `seawall-clusterip` reaches them through `clusterip`, one address in front
  of all three (a TCP relay that sends each connection to the next replica
  in turn), as a ClusterIP Service's virtual IP does.

Checked: the first ejects the failing replica, so it gets only the few
requests that revealed it; the second sees one endpoint, logs the startup
warning that ejection and health checks cannot act, and keeps sending the
failing replica its share. The images must exist (build-images.sh).

    integration/chaos/clusterip_trap.py

Everything it starts is removed on exit (its own compose project).
"""

import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor

PROJECT = os.environ.get("CHAOS_PROJECT", "seawall-chaos") + "-trap"
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
REQUESTS = 600
CALLERS = 6
WARNING = "resolve to a single address"


def compose_cmd():
    v2 = subprocess.run(["docker", "compose", "version"], capture_output=True).returncode == 0
    return ["docker", "compose"] if v2 else ["docker-compose"]


def compose(*args):
    cmd = compose_cmd() + ["-p", PROJECT, "--profile", "trap", *args]
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)}: {done.stderr.strip()}")
    return done.stdout


def address(service):
    """The service's container address on the project's network."""
    container = compose("ps", "-q", service).strip()
    fmt = "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}"
    out = subprocess.run(["docker", "inspect", "-f", fmt, container],
                         capture_output=True, text=True, check=True)
    return out.stdout.strip()


def get(url, body=None, timeout=3.0, headers=None):
    """(status, body) of a GET, or a POST of `body`; status 0 when
    unanswered. The response headers go into `headers` when given."""
    req = urllib.request.Request(url, data=body, method="POST" if body else "GET")
    if body:
        req.add_header("content-type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as rsp:
            if headers is not None:
                headers.update(rsp.headers)
            return rsp.status, rsp.read()
    except urllib.error.HTTPError as e:
        if headers is not None:
            headers.update(e.headers)
        return e.code, e.read()
    except (urllib.error.URLError, OSError):
        return 0, b""


def wait(what, check, within=60.0):
    until = time.monotonic() + within
    while time.monotonic() < until:
        if check():
            return
        time.sleep(0.2)
    raise RuntimeError(f"timed out waiting for {what}")


def endpoints(admin):
    status, body = get(f"http://{admin}:9901/clusters")
    if status != 200:
        return []
    return json.loads(body)["clusters"][0]["endpoints"]


def requests_seen(replica):
    return json.loads(get(f"http://{replica}:8081/_upstream/stats")[1])["requests"]


def one(front):
    """One GET through `front`: its status and seawall reason."""
    headers = {}
    status, _ = get(f"http://{front}:8080/work", headers=headers)
    return status, headers.get("x-seawall-error", "")


def drive(front, victim):
    """REQUESTS GETs through `front`, CALLERS at a time (so seawall holds
    several upstream connections, as under real load): (2xx count, requests
    the victim saw, the other answers by status and seawall reason)."""
    before = requests_seen(victim)
    ok, other = 0, {}
    with ThreadPoolExecutor(CALLERS) as pool:
        for status, reason in pool.map(lambda _: one(front), range(REQUESTS)):
            if 200 <= status < 300:
                ok += 1
            else:
                key = f"{status} {reason}".strip()
                other[key] = other.get(key, 0) + 1
    return ok, requests_seen(victim) - before, other


def main():
    compose("up", "-d", "seawall", "seawall-clusterip")
    headless, trapped = address("seawall"), address("seawall-clusterip")
    replicas = [address(f"upstream-{i}") for i in (1, 2, 3)]
    victim = replicas[1]
    for r in replicas:
        wait(f"replica {r}", lambda r=r: get(f"http://{r}:8081/_upstream/stats")[0] == 200)
    for sw in (headless, trapped):
        wait(f"seawall {sw} ready", lambda sw=sw: get(f"http://{sw}:9901/ready")[0] == 200)
    wait("three endpoints behind the alias", lambda: len(endpoints(headless)) == 3)
    status, _ = get(f"http://{victim}:8081/_upstream/config", body=b'{"error_rate": 1.0}')
    if status != 200:
        raise RuntimeError(f"fault not set on upstream-2: {status}")

    headless_ok, headless_victim, headless_other = drive(headless, victim)
    trapped_ok, trapped_victim, trapped_other = drive(trapped, victim)
    victim_ejected = any(e["address"].startswith(victim + ":") and e["ejected"]
                         for e in endpoints(headless))
    trapped_endpoints = endpoints(trapped)
    def warnings(service):
        logs = compose("logs", "--no-color", service)
        return [line for line in logs.splitlines() if WARNING in line]
    headless_warned, trapped_warned = warnings("seawall"), warnings("seawall-clusterip")

    tenth, most = REQUESTS // 10, REQUESTS * 99 // 100
    checks = [
        ("alias: the failing replica is ejected", victim_ejected, "True", victim_ejected),
        ("alias: requests the failing replica saw", headless_victim,
         f"<= {tenth} (10%)", headless_victim <= tenth),
        ("alias: 2xx", headless_ok, f">= {most}", headless_ok >= most),
        ("alias: single-address warnings", len(headless_warned), "0", not headless_warned),
        ("one address: endpoints seawall sees", len(trapped_endpoints), "1",
         len(trapped_endpoints) == 1),
        ("one address: single-address warnings", len(trapped_warned), ">= 1",
         bool(trapped_warned)),
        ("one address: requests the failing replica saw", trapped_victim,
         f">= {REQUESTS * 15 // 100} (15%)", trapped_victim >= REQUESTS * 15 // 100),
    ]
    failed = 0
    for name, value, bound, ok in checks:
        failed += not ok
        print(f"{'ok  ' if ok else 'FAIL'} {name}: {value} (want {bound})")
    print(f"alias: {headless_ok} of {REQUESTS} 2xx; other answers {headless_other}")
    print(f"one address: {trapped_ok} of {REQUESTS} 2xx; other answers {trapped_other}")
    for line in trapped_warned[:1]:
        print(f"warning seen: {line[:240]}")
    return 1 if failed else 0


if __name__ == "__main__":
    try:
        code = main()
    except Exception as e:  # a broken stack is a failed check, said plainly
        print(f"FAIL clusterip trap: {e}")
        code = 1
    finally:
        try:
            compose("down", "-v", "--remove-orphans")
        except Exception as e:
            print(f"cleanup: {e}")
    sys.exit(code)
