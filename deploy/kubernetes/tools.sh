#!/usr/bin/env bash
# Installs what check.sh needs, and does nothing when it is there already
# (.ci/run calls it on every run; check.sh calls it too):
#
# - `kubectl kustomize`: any kubectl that has it. Debian's
#   `kubernetes-client` package (kubectl 1.20, kustomize v2.0.3 built in)
#   is installed only when no kubectl answers; a kubectl that is already
#   there (another package may own /usr/bin/kubectl) is left alone.
# - `kubernetes-validate` (PyPI; offline schemas of Kubernetes 1.25-1.37),
#   pinned, in a venv of its own: $SEAWALL_K8S_VENV or target/k8s-venv.
#
#   deploy/kubernetes/tools.sh
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
venv="${SEAWALL_K8S_VENV:-$root/target/k8s-venv}"
validate_version=1.37.0

if ! kubectl kustomize --help >/dev/null 2>&1; then
  if [ "$(id -u)" != 0 ]; then
    echo "tools.sh: no kubectl with kustomize; install Debian's kubernetes-client (as root)" >&2
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -qq kubernetes-client >/dev/null 2>&1 \
    || { apt-get update -qq && apt-get install -y -qq kubernetes-client >/dev/null; }
fi

if [ "$("$venv/bin/kubernetes-validate" --version 2>/dev/null)" != "$validate_version" ]; then
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check "kubernetes-validate==$validate_version"
fi

echo "kubectl: $(command -v kubectl) ($(kubectl version --client 2>/dev/null | head -1))"
echo "kubernetes-validate: $("$venv/bin/kubernetes-validate" --version) in $venv"
