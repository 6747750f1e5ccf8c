#!/usr/bin/env bash
# CI step for the chaos suite (issue 9): a SHORT run of every scenario that
# can pass today, on loopback processes and, when a Docker engine answers,
# on the docker-compose stack. Scenarios waiting for a feature are listed as
# pending (integration/chaos/src/features.rs). Each check's number is printed
# against its bound; reports land in target/chaos/{loopback,compose}/.
#
#   integration/chaos/ci.sh
#
# Everything it starts stops by itself: loopback processes die with the
# runner, and the compose project is removed (`down -v`) on any exit.
set -euo pipefail
cd "$(dirname "$0")/../.."
export CARGO_TERM_COLOR=never

step() { printf '\n=== chaos: %s (%s)\n' "$1" "$(date -u +%H:%M:%S)"; }
started=$SECONDS

step "lint and unit tests of the runner (a separate workspace member)"
cargo clippy --locked -p seawall-integration --all-targets -- -D warnings
cargo test --locked -p seawall-integration --quiet

step "build: static release binaries (the same ones go into the images)"
# One build for everything: the loopback run uses the static binaries too,
# so CI compiles seawall once, not once for the host and once for images.
# The `ci` profile is release without fat LTO: the same code, built faster.
TARGET=x86_64-unknown-linux-gnu
export PROFILE=ci
RUSTFLAGS='-C target-feature=+crt-static --cfg getrandom_backend="linux_getrandom"' \
  cargo build --locked --profile "$PROFILE" --target "$TARGET" -p seawall -p seawall-integration \
  --bin seawall --bin seawall-upstream --bin seawall-chaos --quiet
bins="${CARGO_TARGET_DIR:-target}/$TARGET/$PROFILE"

step "loopback scenarios (short)"
"$bins/seawall-chaos" --target loopback --short --bin-dir "$bins"

if ! docker info >/dev/null 2>&1; then
  step "compose scenarios: SKIPPED — no Docker engine answers \`docker info\` on this machine"
  printf 'chaos: done in %ss (loopback only)\n' "$((SECONDS - started))"
  exit 0
fi

compose() {
  if docker compose version >/dev/null 2>&1; then docker compose "$@"; else docker-compose "$@"; fi
}
# CHAOS_PROJECT (default seawall-chaos) names the compose project, so runs
# of two branches on one Docker engine do not meet; SEAWALL_IMAGE_TAG
# (default latest) picks the images (build-images.sh tags them so too).
cleanup() { compose -p "${CHAOS_PROJECT:-seawall-chaos}" --profile chain down -v --remove-orphans >/dev/null 2>&1 || true; }
trap cleanup EXIT INT TERM

step "images (static binaries, FROM scratch, no registry)"
integration/chaos/build-images.sh

step "compose scenarios (short)"
"$bins/seawall-chaos" --target compose --short --bin-dir "$bins"

step "the ClusterIP trap (issue 22): three replicas behind an alias vs behind one address"
python3 integration/chaos/clusterip_trap.py

printf 'chaos: done in %ss\n' "$((SECONDS - started))"
