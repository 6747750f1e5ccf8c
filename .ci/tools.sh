#!/usr/bin/env bash
# Installs the system tools the tests and CI checks need, and does nothing
# when they are there already (.ci/run calls it on every run):
#
# - `promtool` (`check metrics` on a live scrape in integration/metrics.rs,
#   `check rules` on config/prometheus/alerts.yaml): Debian's `prometheus`
#   package ships it; installing it starts no daemon in a container.
#
#   .ci/tools.sh
set -euo pipefail

if ! command -v promtool >/dev/null 2>&1; then
  if [ "$(id -u)" != 0 ]; then
    echo "tools.sh: no promtool; install Debian's prometheus package (as root)" >&2
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -qq --no-install-recommends prometheus >/dev/null 2>&1 \
    || { apt-get update -qq && apt-get install -y -qq --no-install-recommends prometheus >/dev/null; }
fi

echo "promtool: $(command -v promtool) ($(promtool --version 2>&1 | head -1))"
