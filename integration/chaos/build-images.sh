#!/usr/bin/env bash
# Builds the chaos suite's images, with no registry access, in one command:
#
#   integration/chaos/build-images.sh
#
# 1. seawall and seawall-upstream, statically linked (static-pie; the
#    getrandom flag keeps randomness working without /dev/urandom quirks);
# 2. one FROM-scratch image per binary, with the legacy builder
#    (DOCKER_BUILDKIT=0: BuildKit tries to reach a registry even for scratch).
#
# Each image's build context is a directory holding only its binary, so the
# legacy builder does not upload the whole repository.
set -euo pipefail
cd "$(dirname "$0")/../.."

TARGET=x86_64-unknown-linux-gnu
# PROFILE=ci (set by ci.sh) reuses CI's faster build; `release` otherwise.
PROFILE="${PROFILE:-release}"
RUSTFLAGS='-C target-feature=+crt-static --cfg getrandom_backend="linux_getrandom"' \
  cargo build --profile "$PROFILE" --locked --target "$TARGET" --bin seawall --bin seawall-upstream

for bin in seawall seawall-upstream; do
  context="target/chaos/image-$bin"
  rm -rf "$context"
  mkdir -p "$context"
  cp "target/$TARGET/$PROFILE/$bin" "$context/app"
  cp Dockerfile "$context/Dockerfile"
  DOCKER_BUILDKIT=0 docker build --quiet --tag "seawall-chaos/$bin:latest" "$context" >/dev/null
  echo "built seawall-chaos/$bin:latest ($(du -h "$context/app" | cut -f1) static binary)"
done
