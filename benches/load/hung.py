"""Only the hung-upstream comparison of ``harness.py``: three upstreams, the
third SIGSTOPped after a warm-up, 500 rps open loop through each resilience
target (configs from ``targets.py``, each peer at its best balancing setting
for the case), ROUNDS rounds, medians printed as a Markdown table and the
rounds written to ``target/bench/hung.json``.

Run after ``benches/load/run.sh`` has built seawall and installed the peers:
``ROUNDS=3 DURATION=5s python3 benches/load/hung.py``.
"""

import json
import statistics
import tempfile
from pathlib import Path

import harness as H
import targets as T


def main():
    H.OUT.mkdir(parents=True, exist_ok=True)
    load = "load average " + " ".join(open("/proc/loadavg").read().split()[:3])
    H.log(f"hung: starting; {load}")
    work = Path(tempfile.mkdtemp(prefix="seawall-hung-"))
    ups = H.upstreams(3)
    for u in T.UPSTREAMS:
        if not H.wait_port(u):
            raise SystemExit(f"upstream {u} did not start")
    rounds = {}
    try:
        for rnd in range(H.ROUNDS):
            for name in T.RESILIENCE:
                H.log(f"round {rnd + 1}/{H.ROUNDS}: {name} hung")
                rounds.setdefault(name, []).append(H.hung_round(name, work, ups))
    finally:
        for u in ups:
            u.stop()
    (H.OUT / "hung.json").write_text(json.dumps(rounds, indent=1))
    lines = [f"Hung: 3 upstreams, one SIGSTOPped, 500 rps for {H.DUR}; medians of "
             f"{H.ROUNDS} round(s); {load} at the start.", "",
             "| target | success with 1 of 3 hung | p99 of successes, hung | rounds (p99 ms) |",
             "|---|---:|---:|---|"]
    for name, rs in rounds.items():
        rs = [r for r in rs if r]
        if not rs:
            continue
        ok = statistics.median(r["success"] for r in rs)
        p99 = statistics.median(r["ok_p99"] for r in rs)
        each = ", ".join(f"{r['ok_p99']:.1f}" for r in rs)
        lines.append(f"| {name} | {ok:.2f}% | {p99:.1f} ms | {each} |")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
