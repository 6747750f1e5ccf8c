# seawall's image, and with the same file the demo upstream's: no base
# image. The binary is statically linked, so `scratch` is all it needs, and
# no registry is ever contacted (the machines that build this cannot pull).
# `deploy/image.sh` builds the binaries and the images `seawall/seawall` and
# `seawall/upstream`, each tagged with the crate version, the git commit and
# `latest`: it copies one static binary as `app` into a context directory
# of its own with this file, so the legacy builder (DOCKER_BUILDKIT=0)
# uploads nothing else.
#
# Docker provides /etc/hosts, /etc/resolv.conf and /dev at run time, which
# is all getaddrinfo and the getrandom backend need. The binary runs as PID
# 1 and handles SIGTERM itself (graceful drain), so `docker stop` is clean.
#
# It runs as the numeric user 65532 (no /etc/passwd is needed for a number),
# so Kubernetes' `runAsNonRoot` accepts it as is. Nothing in it writes to
# the filesystem, and the ports it uses by default (8080, 8081, 9901) are
# above 1024. Files mounted into it (config, TLS keys, the admin token) must
# be readable by that user or its group.
#
# No HEALTHCHECK here, because this one file also builds the fault upstream's
# image, which cannot run seawall's probe: `deploy/image.sh` appends one to
# seawall's copy, running its own `health` subcommand (a scratch image has
# no shell or curl): `["/app", "health", "http://127.0.0.1:9901/ready"]`.
# Kubernetes probes GET /live and /ready over HTTP instead.
FROM scratch
ARG VERSION=unknown
ARG REVISION=unknown
ARG TITLE=seawall
LABEL org.opencontainers.image.title="$TITLE" \
      org.opencontainers.image.version="$VERSION" \
      org.opencontainers.image.revision="$REVISION" \
      org.opencontainers.image.licenses="Apache-2.0"
COPY app /app
USER 65532:65532
ENTRYPOINT ["/app"]
