#!/usr/bin/env bash
# Checks the Kubernetes manifests offline; CI runs it.
#
#   deploy/kubernetes/check.sh [path/to/seawall]     (default target/debug/seawall)
#
# 1. Renders every overlay in overlays/ with `kubectl kustomize` (or
#    $KUBECTL) into target/k8s/rendered/<overlay>.yaml.
# 2. validate.py: validates every object against the Kubernetes 1.28, 1.29
#    and 1.31 schemas (kubernetes-validate, strict; the classic overlay also
#    1.25) and the PodMonitor field by field; checks that the NetworkPolicy
#    and the PodDisruptionBudget are there and select the pods, that only a
#    namespace selector reaches the admin port and no Service exposes it,
#    that dependencies are headless Services, no namespace is hard-coded,
#    the sidecar form and shutdown hooks match the overlay, image tags are
#    the crate version and the resources follow from benches/RESULTS.md.
# 3. Runs `seawall check` on the seawall.yaml each overlay embeds.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
seawall="${1:-$root/target/debug/seawall}"
kubectl="${KUBECTL:-kubectl}"
venv="${SEAWALL_K8S_VENV:-$root/target/k8s-venv}"
out="$root/target/k8s"

"$here/tools.sh" >/dev/null
[ -x "$seawall" ] || { echo "check.sh: no seawall binary at $seawall" >&2; exit 1; }

rm -rf "$out"
mkdir -p "$out/rendered" "$out/configs"
echo "rendering with $("$kubectl" version --client 2>/dev/null | head -1)"
for dir in "$here"/overlays/*/; do
  overlay="$(basename "$dir")"
  # kustomize v5 calls `bases`/`patchesStrategicMerge`/`patchesJson6902`
  # deprecated; they stay so that kubectl <= 1.20 (kustomize v2.0.3) renders
  # the same files. Those three warnings are dropped, anything else shows.
  if ! "$kubectl" kustomize "$dir" >"$out/rendered/$overlay.yaml" 2>"$out/rendered/$overlay.err"; then
    cat "$out/rendered/$overlay.err" >&2
    echo "check.sh: $overlay does not render" >&2
    exit 1
  fi
  grep -v -E "^# Warning: '(bases|patchesStrategicMerge|patchesJson6902)' is deprecated" \
    "$out/rendered/$overlay.err" >&2 || true
done

echo "validating (offline schemas, policies, sizing)"
"$venv/bin/python" "$here/validate.py" "$out/rendered" "$out/configs" "$root"

# The admin token is a mounted Secret, absent here: `seawall check` reads
# the token file, so each config is checked with the path pointed at a
# stand-in of the same form. Nothing else in the config is changed.
token="$out/admin-token"
printf '%s\n' "check-sh-stand-in-token-0123456789" >"$token"
for config in "$out"/configs/*.yaml; do
  sed -i -E "s#^(\s*token_file:\s*).*#\1$token#" "$config"
  "$seawall" check "$config" >"$config.summary"
  echo "  seawall check $(basename "$config"): ok"
done
echo "kubernetes manifests: $(ls "$out"/rendered/*.yaml | wc -l) overlays valid; embedded seawall.yaml valid"
