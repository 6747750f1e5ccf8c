#!/usr/bin/env bash
# Builds the fuzz targets and runs each from its committed seeds
# (fuzz/seeds/<target>/). New inputs go to a scratch directory, so the
# committed seeds never change by themselves; a crash is copied to
# fuzz/artifacts/<target>/ and printed, and the script fails.
#
#   fuzz/run.sh [SECONDS_PER_TARGET] [TARGET...]   explore: a fresh random
#                                                   seed, each target for
#                                                   SECONDS (default 45)
#   fuzz/run.sh ci                                  the regression gate CI runs
#
# `ci` fixes libFuzzer's seed (1) and the number of inputs each target
# tries (CI_RUNS below, about 20 s a target on a 2-core machine), so every
# machine tries the same inputs in the same order and CI does not turn red
# by chance: a faster machine does not reach further. (A time bound does
# not give that: a run that found a crash on a fast machine passed on a
# slower one.) A time cap stays as a safety net; a machine slow enough to
# hit it tries a prefix of the same inputs. A crash found while exploring
# becomes a seed in fuzz/seeds/<target>/ and a unit test beside the code.
#
# cargo-fuzz passes nightly `-Z` flags (ASan, coverage instrumentation);
# RUSTC_BOOTSTRAP=1 lets the stable toolchain accept them. cargo-fuzz is
# installed from crates.io when missing (~2 min); the first build of the
# targets takes ~5 min on 2 cores.
set -euo pipefail
cd "$(dirname "$0")"

# Inputs tried per target by `ci`.
declare -A CI_RUNS=([preface]=1000000 [request_head]=800000 [config]=6000 [retry_after]=3000000)

if [ "${1:-}" = ci ]; then
  mode=ci
  seconds=120
  seed=1
  shift
else
  mode=explore
  seconds=${1:-45}
  seed=0
  shift || true
fi
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
  runs=-1
  if [ "$mode" = ci ]; then
    runs=${CI_RUNS[$target]}
    echo "--- fuzz $target: $runs inputs, seed $seed"
  else
    echo "--- fuzz $target for ${seconds}s"
  fi
  mkdir -p "$scratch/$target" "$scratch/crash-$target"
  if ! "$bins/$target" -seed="$seed" -runs="$runs" -max_total_time="$seconds" -timeout=10 -print_final_stats=1 \
      -artifact_prefix="$scratch/crash-$target/" "$scratch/$target" "seeds/$target" \
      >"$scratch/$target.log" 2>&1; then
    failed=1
    tail -n 40 "$scratch/$target.log"
    mkdir -p "artifacts/$target"
    for crash in "$scratch/crash-$target"/*; do
      [ -e "$crash" ] || continue
      cp "$crash" "artifacts/$target/"
      echo "crash input (fuzz/artifacts/$target/$(basename "$crash")):"
      od -c "$crash" | head -n 20 || true # od ends early on a long input
    done
    continue
  fi
  grep -E '^(#[0-9]+ +DONE|stat::number_of_executed_units)' "$scratch/$target.log" || true
done
exit "$failed"
