#!/usr/bin/env bash
# Builds the images the chaos suite's compose stack runs (seawall/seawall
# and seawall/upstream, see docker-compose.yml), with no registry access:
#
#   integration/chaos/build-images.sh
#
# The same images as the Kubernetes manifests': deploy/image.sh does the
# work (static binaries, FROM scratch, non-root, tagged with the version,
# the commit and `latest`). PROFILE=ci (set by ci.sh) reuses CI's faster
# build; `release` otherwise.
set -euo pipefail
exec "$(dirname "$0")/../../deploy/image.sh" "$@"
