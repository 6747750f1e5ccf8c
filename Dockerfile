# seawall's image (and, with the same file, the chaos suite's upstream): no
# base image. The binary is statically linked, so `scratch` is all it needs,
# and no registry is ever contacted (the machines that build this cannot
# pull). `integration/chaos/build-images.sh` builds the binaries and the
# images (`seawall-chaos/seawall`, `seawall-chaos/seawall-upstream`): it
# copies one static binary as `app` into a context directory of its own with
# this file, so the legacy builder (DOCKER_BUILDKIT=0) uploads nothing else.
# Docker provides /etc/hosts, /etc/resolv.conf and /dev at run time, which is
# all getaddrinfo and the getrandom backend need. The binary runs as PID 1
# and handles SIGTERM itself (graceful drain), so `docker stop` is clean.
FROM scratch
COPY app /app
ENTRYPOINT ["/app"]
