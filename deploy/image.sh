#!/usr/bin/env bash
# Builds seawall's images, with no registry access, in one command:
#
#   deploy/image.sh
#
# 1. seawall and seawall-upstream, statically linked (static-pie; the
#    getrandom flag keeps randomness working without /dev/urandom quirks);
# 2. one FROM-scratch image per binary (the repository's Dockerfile: runs
#    as user 65532), with the legacy builder (DOCKER_BUILDKIT=0: BuildKit
#    tries to reach a registry even for scratch):
#      seawall/seawall    the sidecar
#      seawall/upstream   the demo and fault-injecting upstream
#    each tagged `<version>` (from Cargo.toml), `<commit>` (12 hex digits of
#    HEAD, with `-dirty` when the work tree has uncommitted changes) and
#    `latest`. The Kubernetes manifests use `<version>`; docker-compose.yml
#    uses `latest`.
#
# PROFILE picks the cargo profile (default release; the chaos CI uses `ci`).
# SEAWALL_IMAGE_TAG, when set, is one more tag (docker-compose.yml then runs
# it instead of `latest`). Binaries are taken from $CARGO_TARGET_DIR when set.
# Each image's build context is a directory holding only its binary, so the
# legacy builder does not upload the whole repository.
set -euo pipefail
cd "$(dirname "$0")/.."

TARGET=x86_64-unknown-linux-gnu
PROFILE="${PROFILE:-release}"
version="$(awk -F'"' '/^\[/{pkg = ($0 == "[package]")} pkg && /^version *=/{print $2; exit}' Cargo.toml)"
if commit="$(git rev-parse --short=12 HEAD 2>/dev/null)"; then
  git diff --quiet HEAD -- 2>/dev/null || commit="$commit-dirty"
else
  commit=""
  echo "image.sh: not a git checkout: no commit tag" >&2
fi
[ -n "$version" ] || { echo "image.sh: no [package] version in Cargo.toml" >&2; exit 1; }

RUSTFLAGS='-C target-feature=+crt-static --cfg getrandom_backend="linux_getrandom"' \
  cargo build --profile "$PROFILE" --locked --target "$TARGET" --bin seawall --bin seawall-upstream

for bin in seawall seawall-upstream; do
  name="seawall/${bin#seawall-}"
  context="target/image/$bin"
  rm -rf "$context"
  mkdir -p "$context"
  cp "${CARGO_TARGET_DIR:-target}/$TARGET/$PROFILE/$bin" "$context/app"
  cp Dockerfile "$context/Dockerfile"
  if [ "$bin" = seawall ]; then
    # seawall's own probe (a scratch image has no shell or curl): the
    # admin port's /ready, from inside the container. The fault upstream
    # has no probing subcommand, so its image gets none.
    echo 'HEALTHCHECK --interval=5s --timeout=3s --retries=3 CMD ["/app", "health", "http://127.0.0.1:9901/ready"]' \
      >> "$context/Dockerfile"
  fi
  tags=(--tag "$name:latest" --tag "$name:$version")
  [ -z "$commit" ] || tags+=(--tag "$name:$commit")
  [ -z "${SEAWALL_IMAGE_TAG:-}" ] || tags+=(--tag "$name:$SEAWALL_IMAGE_TAG")
  DOCKER_BUILDKIT=0 docker build --quiet "${tags[@]}" \
    --build-arg "VERSION=$version" --build-arg "REVISION=${commit:-unknown}" --build-arg "TITLE=$bin" \
    "$context" >/dev/null
  echo "built $name:{latest,$version${commit:+,$commit}} ($(du -h "$context/app" | cut -f1) static binary)"
done
