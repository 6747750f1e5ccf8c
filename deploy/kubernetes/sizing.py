"""The memory arithmetic of deploy/kubernetes/base/deployment.yaml, for
validate.py: the figures benches/RESULTS.md measured, and the most memory
an embedded seawall config allows, with the terms of the README's
"Memory bounds"."""

import re

# The memory limit's arithmetic (deploy/kubernetes/base/deployment.yaml)
# assumes this many peer pods for the pooled upstream connections.
ASSUMED_PEERS = 10
# Open client connections the memory request is sized for.
REQUEST_CONNECTIONS = 1000

# The terms of the README's "Memory bounds", in KiB: an open connection
# (C), a request in progress besides its connections (Q), an upstream
# HTTP/1 read buffer (R), an upstream HTTP/2 stream window (W) and DATA
# frame (F); and the listener defaults the terms use.
CONN_KIB, REQUEST_KIB, READ_BUF_KIB, H2_WINDOW_KIB, FRAME_KIB = 24, 16, 64, 256, 16
DEFAULT_HEADER_KIB, DEFAULT_SEND_BUF_KIB, DEFAULT_STREAMS = 16, 400, 100
# Allocator slack over the formula (abuse_memory.rs measured its peak
# 21-26% under the formula's bound, so the formula itself is not tight).
SLACK = 1.2


def quantity_mib(q):
    """A memory quantity (`128Mi`, `64M`, bytes) in MiB."""
    units = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "k": 1e3, "M": 1e6, "G": 1e9}
    m = re.fullmatch(r"(\d+(?:\.\d+)?)([KMG]i|[kMG])?", str(q))
    if not m:
        raise ValueError(f"unsupported quantity {q!r}")
    return float(m.group(1)) * units.get(m.group(2), 1) / 2**20


def size_kib(s, default):
    """A seawall size (`64KiB`, `1MiB`, bytes) in KiB."""
    if s is None:
        return default
    units = {"B": 1 / 1024, "KiB": 1, "MiB": 1024, "GiB": 1024**2, "": 1 / 1024}
    m = re.fullmatch(r"(\d+)\s*(B|KiB|MiB|GiB)?", str(s))
    if not m:
        raise ValueError(f"unsupported size {s!r}")
    return int(m.group(1)) * units[m.group(2) or ""]


def connection_worst_kib(listener, h2_upstream):
    """The most one client connection to `listener` may hold, in KiB: a
    slowloris head, a response streaming over HTTP/1 to a client that does
    not read (the admission slot is freed at the response head, so only
    the connection limits bound these), or max_concurrent_streams such
    responses over HTTP/2 (README, "Memory bounds")."""
    header = size_kib(listener.get("max_header_bytes"), DEFAULT_HEADER_KIB)
    send_buf = size_kib((listener.get("http2") or {}).get("max_send_buf_size"), DEFAULT_SEND_BUF_KIB)
    streams = listener.get("max_concurrent_streams", DEFAULT_STREAMS)
    # What the upstream side of one streaming response holds.
    up_h1 = CONN_KIB + 3 * READ_BUF_KIB
    up = max(up_h1, H2_WINDOW_KIB + 2 * FRAME_KIB) if h2_upstream else up_h1
    slowloris = CONN_KIB + 2 * header
    h1_stream = REQUEST_KIB + CONN_KIB + up + header
    # Over HTTP/2 a stream's send buffer takes one more upstream chunk.
    up_more = max(up_h1 + READ_BUF_KIB, H2_WINDOW_KIB + 3 * FRAME_KIB) if h2_upstream else up_h1 + READ_BUF_KIB
    h2_conn = CONN_KIB + streams * (REQUEST_KIB + up_more + send_buf)
    return listener.get("max_connections", 10000) * max(slowloris, h1_stream, h2_conn)


def measured_figures(root):
    """The `seawall (static)` row of benches/RESULTS.md: CPU µs/req, idle RSS MiB, KiB/conn."""
    for line in (root / "benches/RESULTS.md").read_text().splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        # | target | max rps | vs direct | CPU µs/req | p50 | p99 | p99.9 | idle RSS | KiB/conn |
        if cells and cells[0] == "seawall (static)":
            return float(cells[3]), float(cells[7].split()[0]), float(cells[8])
    raise SystemExit("benches/RESULTS.md has no `seawall (static)` row")


def memory_bound_mib(config, idle, per_conn):
    """The most seawall may hold with `config`, in MiB, allocator slack
    included: the idle process, pooled upstream connections, request
    bodies in admission and retry buffers, and on every client connection
    the most it can hold (connection_worst_kib)."""
    pooled, in_flight, per_request = 0, 0, 0.0
    h2_upstream = any(c.get("protocol") == "http2" for c in config.get("clusters", []))
    for c in config.get("clusters", []):
        loopback = all(str(e).startswith("127.") for e in c.get("endpoints", []))
        if not loopback:
            pooled += ASSUMED_PEERS * c.get("pool_max_idle_per_endpoint", 32)
        adm = c.get("admission") or {}
        in_flight += adm.get("max_concurrent", 256) + adm.get("max_queue", 128)
        retry = c.get("retry") or {}
        per_request = max(per_request, size_kib(retry.get("replay_buffer"), 64))
    prebuffer = max(size_kib(l.get("request_buffer_bytes"), 16) for l in config.get("listeners", []))
    held = sum(connection_worst_kib(l, h2_upstream) for l in config.get("listeners", []))
    return (idle + pooled * per_conn / 1024 + in_flight * (per_request + prebuffer) / 1024 + held / 1024) * SLACK
