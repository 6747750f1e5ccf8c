#!/usr/bin/env bash
# Validates the manifests offline against the Kubernetes schemas and checks
# the seawall config embedded in the ConfigMap with `seawall check`.
# Usage: deploy/kubernetes/check.sh [path/to/seawall-binary]
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
seawall="${1:-$root/target/debug/seawall}"
venv="${SEAWALL_K8S_VENV:-$root/target/k8s-venv}"

if [ ! -x "$venv/bin/kubernetes-validate" ]; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check kubernetes-validate==1.37.0
fi
# Strict: unknown fields are errors, not warnings.
"$venv/bin/kubernetes-validate" --strict --kubernetes-version 1.33.0 "$here"/configmap.yaml "$here"/deployment.yaml "$here"/service.yaml

# kubernetes-validate installs PyYAML; use it to pull the embedded file out.
embedded="$(mktemp --suffix=.yaml)"
trap 'rm -f "$embedded"' EXIT
"$venv/bin/python" - "$here/configmap.yaml" "$embedded" <<'PY'
import sys, yaml
doc = yaml.safe_load(open(sys.argv[1]))
open(sys.argv[2], "w").write(doc["data"]["seawall.yaml"])
PY
"$seawall" check "$embedded"
echo "kubernetes manifests: valid; embedded seawall.yaml: valid"
