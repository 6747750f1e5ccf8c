#!/bin/sh
# User-space instructions per proxied request, counted by callgrind: a
# figure that does not move with the machine's noise (CPU time on a shared
# VM moves ±10% run to run; this moves ±0.5%), so a change to the hot path
# can be judged by one run before and one after. The kernel's share (the
# same syscalls for every target) is not counted.
#
#   benches/load/instructions.sh [TARGET...]   # seawall (default), static, bare, nginx
#
# `static` is the statically linked seawall its image ships (built by run.sh).
#
# Each target runs under valgrind with one worker in front of the release
# upstream; wrk (-t1 -c16) warms it for 2 s, the counters are zeroed, wrk
# runs DURATION (6s), the counters are dumped; instructions ÷ wrk's request
# count is printed. Needs valgrind and wrk (apt); nginx only for `nginx`.
# CARGO_TARGET_DIR is honoured. KEEP=DIR keeps the callgrind profiles there (for callgrind_annotate).
set -eu
cd "$(dirname "$0")/../.."
root=$(pwd)
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT
cargo build --release --quiet --bins
bin="${CARGO_TARGET_DIR:-$root/target}/release"
for t in valgrind wrk callgrind_control; do
  command -v $t >/dev/null || { echo "$t is required (apt-get install valgrind wrk)" >&2; exit 1; }
done

PROXY=127.0.0.1:18080
UP=127.0.0.1:18081
cat > "$work/seawall.yaml" <<EOF
admin: { address: 127.0.0.1:19901 }
log: { level: warn, access_log: false }
listeners:
  - name: bench
    address: $PROXY
    routes: [{ name: all, cluster: up }]
clusters:
  - name: up
    endpoints: ["$UP"]
    pool_max_idle_per_endpoint: 1024
    balance: { policy: p2c_peak_ewma, default_rtt: 1ms }
    timeouts: { request: 2s, attempt: 250ms }
    admission: { max_concurrent: 1024, max_queue: 1024 }
    breaker: { mode: auto }
EOF
cat > "$work/nginx.conf" <<EOF
worker_processes 1;
master_process off;
daemon off;
pid $work/nginx.pid;
error_log $work/nginx.err warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path $work;
  proxy_temp_path $work;
  upstream up { server $UP; keepalive 1024; }
  server {
    listen $PROXY;
    location / {
      proxy_pass http://up;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
    }
  }
}
EOF

TOKIO_WORKER_THREADS=1 "$bin/seawall-upstream" --listen $UP >/dev/null 2>&1 &
sleep 0.3

count() {
  name=$1; shift
  out="$work/cg.$name"
  TOKIO_WORKER_THREADS=1 SEAWALL_WORKER_THREADS=1 \
    valgrind --tool=callgrind --callgrind-out-file="$out" "$@" >"$work/$name.log" 2>&1 &
  pid=$!
  for _ in $(seq 100); do curl -s -o /dev/null "http://$PROXY/" && break; sleep 0.2; done
  wrk -t1 -c16 -d2s "http://$PROXY/" >/dev/null
  callgrind_control -z $pid >/dev/null 2>&1
  n=$(wrk -t1 -c16 -d"${DURATION:-6s}" "http://$PROXY/" | awk '/requests in/{print $1}')
  callgrind_control -d $pid >/dev/null 2>&1
  sleep 0.5
  kill $pid; wait $pid 2>/dev/null || true
  ir=$(grep -h '^summary:' "$out".* | awk '{print $2}' | tail -1)
  echo "$name: $((ir / n)) instructions per request ($n requests)"
  if [ -n "${KEEP:-}" ]; then mkdir -p "$KEEP" && cp "$out".* "$KEEP/" && echo "$n" > "$KEEP/$name.requests"; fi
}

[ $# -gt 0 ] || set -- seawall
for target in "$@"; do
  case $target in
    seawall) count seawall "$bin/seawall" --config "$work/seawall.yaml" ;;
    static)
      static_bin="$root/target/x86_64-unknown-linux-gnu/release/seawall"
      [ -x "$static_bin" ] || { echo "no static build (benches/load/run.sh makes one)" >&2; exit 1; }
      count static "$static_bin" --config "$work/seawall.yaml" ;;
    bare) count bare "$bin/seawall-bare-proxy" $PROXY $UP ;;
    nginx) count nginx nginx -c "$work/nginx.conf" ;;
    *) echo "unknown target $target (seawall, static, bare, nginx)" >&2; exit 64 ;;
  esac
done
