"""Turns the harness's per-round results into medians, a Markdown table
(``results.md``) and a chart (``results.png``). Every number comes from the
run; nothing here is a constant."""

import os
import platform
import statistics
import subprocess
from pathlib import Path


def med(rows, key):
    vals = [r[key] for r in rows if r and r.get(key) is not None]
    return statistics.median(vals) if vals else None


def fmt(v, spec):
    return "–" if v is None else format(v, spec)


def machine():
    cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo")
                if l.startswith("model name")), "?")
    load = open("/proc/loadavg").read().split()[:3]
    return (f"{cpu}, {os.cpu_count()} CPUs, Linux {platform.release()}; "
            f"load average at the end of the run: {' '.join(load)}")


def write(results, out, rounds, dur, rate, idle, capacity, load_start=None):
    ov = {n: rows for n, rows in results["overhead"].items() if any(rows)}
    direct = med(ov.get("direct", []), "rps")
    lines = [f"Medians of {rounds} round(s); {dur} per measurement; 100-byte responses, "
             "HTTP/1.1 keep-alive; proxy and upstream pinned to CPU 1, one worker each; "
             "load on CPU 0.", "",
             "| target | max rps (wrk) | vs direct | proxy CPU µs/req | p50 @ "
             f"{rate} rps | p99 | p99.9 | idle RSS | KiB per idle conn |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    summary = {}
    for name, rows in ov.items():
        rps = med(rows, "rps")
        m = {k: med(rows, k) for k in ("cpu_us", "p50", "p99", "p999", "rss_idle_kib",
                                       "kib_per_conn")}
        summary[name] = dict(m, rps=rps)
        ratio = rps / direct if rps and direct else None
        rss = m["rss_idle_kib"] / 1024 if m["rss_idle_kib"] else None
        lines.append(f"| {name} | {fmt(rps, ',.0f')} | {fmt(ratio, '.2f')} | "
                     f"{fmt(m['cpu_us'], '.1f')} | {fmt(m['p50'], '.2f')} ms | "
                     f"{fmt(m['p99'], '.2f')} ms | {fmt(m['p999'], '.2f')} ms | "
                     f"{fmt(rss, '.1f')} MiB | {fmt(m['kib_per_conn'], '.1f')} |")
    skipped = [n for n, rows in results["overhead"].items() if not any(rows)]
    if skipped:
        lines += ["", "Skipped (could not be installed or started): " + ", ".join(skipped)]
    lines += ["", f"Resilience: upstream capacity {capacity:,.0f} rps (fixed upstream delay, "
              "each proxy limited to the same upstream concurrency); offered "
              f"{3 * capacity:,.0f} rps (3×). Hung: 3 upstreams, one SIGSTOPped, 500 rps.", "",
              "| target | goodput at 3× (% of capacity) | admitted p99 at 3× | refused at 3× "
              "| success with 1 of 3 hung | p99 of successes, hung |",
              "|---|---:|---:|---:|---:|---:|"]
    res = {}
    for name in results["overload"]:
        o, h = results["overload"][name], results["hung"][name]
        if not any(o) and not any(h):
            continue
        r = {"goodput": med(o, "goodput"), "admitted_p99": med(o, "admitted_p99"),
             "refused": med(o, "refused_pct"), "success": med(h, "success"),
             "hung_p99": med(h, "ok_p99")}
        res[name] = r
        lines.append(f"| {name} | {fmt(r['goodput'], '.1f')}% | "
                     f"{fmt(r['admitted_p99'], '.1f')} ms | {fmt(r['refused'], '.1f')}% | "
                     f"{fmt(r['success'], '.2f')}% | {fmt(r['hung_p99'], '.1f')} ms |")
    lines += ["", f"Machine: {machine()}; at the start: {load_start or '?'}."]
    (out / "results.md").write_text("\n".join(lines) + "\n")
    chart(summary, res, out / "results.png")
    print("\n".join(lines))
    publish(lines, out, rounds, dur, rate, idle)


NOTES = """
## How it is measured

- **Layout.** Upstream (`seawall-upstream`, one tokio worker) and the proxy
  share CPU 1 (`taskset -c 1`), each with one worker: nginx
  `worker_processes 1`, HAProxy `nbthread 1`, Envoy `--concurrency 1`,
  seawall `--worker-threads 1`, the bare proxy and Pingora one thread. wrk
  and oha run alone on CPU 0. No target writes an access log.
- **max rps**: `wrk -t1 -c64`, closed loop. **proxy CPU µs/req**: Δ(utime +
  stime) of the proxy's process tree from `/proc/PID/stat` over that wrk run,
  ÷ requests (10 ms clock ticks; the upstream's CPU is not counted).
- **Latency**: `oha -q RATE --latency-correction -c 32`, open loop, so a
  stall is charged to every request that should have been sent during it.
- **idle RSS**: the proxy tree's VmRSS after a 1 s warm-up and 2.5 s of
  rest (so it includes pooled upstream connections); **KiB per idle conn**:
  RSS growth with IDLE_CONNS extra keep-alive connections that each sent
  one request, ÷ IDLE_CONNS.
- **Overload**: every request asks the upstream for a fixed delay, and every
  proxy may hold at most the same number of upstream requests (seawall
  `admission.max_concurrent` + a queue bounded by `max_queue_wait: 20ms`
  and CoDel; nginx `max_conns` (no queue in nginx OSS, so excess is 502);
  HAProxy `maxconn` + `timeout queue 20ms`; Envoy circuit breaker
  `max_requests` / `max_pending_requests`), so the upstream's capacity is
  that limit ÷ the delay. oha offers 3× that rate. **goodput** = 2xx per
  second ÷ capacity; **admitted p99** = p99 of the 2xx responses.
- **Hung upstream**: three upstreams, the third SIGSTOPped after a warm-up
  (it still accepts TCP connections). Closest settings each: seawall
  250 ms attempt timeout, outlier ejection on cancelled attempts
  (`cancelled_after: 200ms`) and active health checks (500 ms); nginx
  250 ms read timeout, `proxy_next_upstream error timeout`, `max_fails=1`;
  HAProxy 250 ms server timeout, `retry-on conn-failure response-timeout`,
  `option redispatch`, HTTP health checks every 500 ms; Envoy 250 ms
  per-try timeout, 2 retries, outlier detection. seawall retries with its
  defaults (3 attempts, on another endpoint, within the 20% retry budget).
- Pingora and the bare proxy are not in the resilience runs: they are
  minimal proxies with no limits or retries configured.
- **Noise.** On a shared VM the CPU figures move by ±10% from run to run.
  `benches/load/instructions.sh seawall bare nginx` counts user-space
  instructions per request under callgrind instead (±0.5%, kernel not
  counted): the figure to judge a hot-path change by.
- The exact configs are generated by `benches/load/targets.py`; per-round
  raw figures are in `target/bench/results.json`.
""".splitlines()


def publish(lines, out, rounds, dur, rate, idle):
    """Writes benches/RESULTS.md and benches/load/results.png from this run."""
    root = Path(__file__).resolve().parents[2]
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=root,
                            capture_output=True, text=True).stdout.strip() or "?"
    when = subprocess.run(["date", "-u", "+%Y-%m-%d %H:%M UTC"], capture_output=True,
                          text=True).stdout.strip()
    env = f"ROUNDS={rounds} DURATION={dur} RATE={rate} IDLE_CONNS={idle}"
    head = ["# seawall benchmark results", "",
            "Written by the load benchmark; do not edit by hand. Reproduce with:", "",
            "```sh", f"{env} benches/load/run.sh", "```", "",
            f"Run {when} at commit `{commit}`. Criterion micro-benchmarks of each layer: "
            "`cargo bench` (see `benches/stack.rs`).", "",
            "![chart](load/results.png)", ""]
    (root / "benches/RESULTS.md").write_text("\n".join(head + lines + NOTES) + "\n")
    (root / "benches/load/results.png").write_bytes((out / "results.png").read_bytes())


def chart(summary, res, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(2, 2, figsize=(12, 8))
    names = list(summary)
    proxies = [n for n in names if summary[n]["cpu_us"] is not None]
    panels = [(ax[0][0], "proxy CPU µs per request (lower is better)",
               [summary[n]["cpu_us"] for n in proxies], proxies, "%.1f"),
              (ax[0][1], "max throughput, rps (higher is better)",
               [summary[n]["rps"] or 0 for n in names], names, "%.0f"),
              (ax[1][0], "p99 latency at fixed rate, ms (lower is better)",
               [summary[n]["p99"] or 0 for n in names], names, "%.2f")]
    rn = list(res)
    panels.append((ax[1][1], "goodput at 3× overload, % of capacity",
                   [res[n]["goodput"] or 0 for n in rn], rn, "%.0f"))
    for a, title, vals, labels, label_fmt in panels:
        bars = a.bar(labels, vals, color=["#d55e00" if n == "seawall" else "#3a7bd5"
                                          for n in labels])
        a.set_title(title)
        a.tick_params(axis="x", rotation=30)
        a.bar_label(bars, fmt=label_fmt, fontsize=8)
    fig.suptitle("seawall load benchmark (medians)")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
