#!/usr/bin/env bash
# Builds the fuzz targets and runs each for a bounded time from its
# committed seeds (fuzz/seeds/<target>/). New inputs go to a scratch
# directory, so the committed seeds never change by themselves; a crash
# is copied to fuzz/artifacts/<target>/ and printed, and the script fails.
#
#   fuzz/run.sh [SECONDS_PER_TARGET] [TARGET...]   (default 45, all four)
#
# FUZZ_SEED fixes libFuzzer's random seed. CI sets 1: the same code then
# tries the same inputs in the same order every run (as many as fit in the
# time), so CI is a regression gate that does not turn red by chance, and
# a crash it finds is found again. Unset or 0: a new seed each run, for
# exploring.
#
# cargo-fuzz passes nightly `-Z` flags (ASan, coverage instrumentation);
# RUSTC_BOOTSTRAP=1 lets the stable toolchain accept them. cargo-fuzz is
# installed from crates.io when missing (~4 min); the first build of the
# targets takes ~10 min on 2 cores.
set -euo pipefail
cd "$(dirname "$0")"

seconds=${1:-45}
shift || true
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  targets=(preface request_head config retry_after)
fi

if ! command -v cargo-fuzz >/dev/null 2>&1; then
  cargo install cargo-fuzz --locked --version 0.13.2
fi

export RUSTC_BOOTSTRAP=1
cargo fuzz build -O
host=$(rustc -vV | sed -n 's/^host: //p')
bins="${CARGO_TARGET_DIR:-$PWD/target}/$host/release"

scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
failed=0
for target in "${targets[@]}"; do
  echo "--- fuzz $target for ${seconds}s"
  mkdir -p "$scratch/$target" "$scratch/crash-$target"
  if ! "$bins/$target" -seed="${FUZZ_SEED:-0}" -max_total_time="$seconds" -timeout=10 -print_final_stats=1 \
      -artifact_prefix="$scratch/crash-$target/" "$scratch/$target" "seeds/$target" \
      >"$scratch/$target.log" 2>&1; then
    failed=1
    tail -n 40 "$scratch/$target.log"
    mkdir -p "artifacts/$target"
    for crash in "$scratch/crash-$target"/*; do
      [ -e "$crash" ] || continue
      cp "$crash" "artifacts/$target/"
      echo "crash input (fuzz/artifacts/$target/$(basename "$crash")):"
      od -c "$crash" | head -n 20
    done
    continue
  fi
  grep -E '^(#[0-9]+ +DONE|stat::number_of_executed_units)' "$scratch/$target.log" || true
done
exit "$failed"
