# pgws in an empty image: one static musl binary and nothing else.
#
#   docker build -t pgws .
#   docker run --rm -p 3000:3000 -e PGWS_DB_URI=postgres://user@db/app \
#       -e PGWS_JWT_SECRET=... pgws
#
# The image's HEALTHCHECK runs `pgws check --url` against /health; an init
# container can run `pgws check` (configuration, database, LISTEN) first.
#
# Multi-arch, from the binaries `make release` put in dist/ (target
# "release", BuildKit/buildx):
#
#   make release
#   docker buildx build --platform linux/amd64,linux/arm64,linux/arm/v7 \
#       --target release -t pgws:0.1.0 .
#
# The build stage runs the same `make` as a developer machine: the Makefile
# fetches the libpq and BearSSL sources with `apt-get source`, through a
# private deb-src list it derives from this image's own apt sources
# (debian:12 describes them in /etc/apt/sources.list.d/debian.sources, whose
# "Types: deb" lines it turns into "Types: deb-src"), and builds both with
# musl-gcc.  dpkg-dev provides dpkg-source to unpack them.

FROM debian:12 AS build
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      build-essential musl-tools dpkg-dev file ca-certificates \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
# Only the sources: a deps/ directory or binary left in the build context
# by a host build must not leak into the image.
COPY Makefile *.c *.h ./
RUN make pgws \
 && file pgws | grep -q 'statically linked' \
 && ./pgws --version

# --- target "release": the dist/ binary for each --platform --------------
# The pick stage runs on the build machine's own platform (no emulation):
# it maps TARGETARCH/TARGETVARIANT to the dist/ file name, checks it
# against dist/SHA256SUMS and copies it to /pgws.  Only this target reads
# dist/; the default target below never does.
FROM --platform=$BUILDPLATFORM debian:12 AS pick
ARG TARGETARCH
ARG TARGETVARIANT
COPY dist/ /dist/
RUN set -e; \
    case "$TARGETARCH/$TARGETVARIANT" in \
      amd64/*) a=x86_64 ;; \
      arm64/*) a=aarch64 ;; \
      arm/v7) a=armv7 ;; \
      *) echo "no pgws release binary for $TARGETARCH/$TARGETVARIANT" >&2; exit 1 ;; \
    esac; \
    cd /dist; set -- pgws-*-linux-$a; \
    [ $# = 1 ] && [ -f "$1" ] || { echo "dist/ needs exactly one pgws-*-linux-$a (make release)" >&2; exit 1; }; \
    grep " $1\$" SHA256SUMS | sha256sum -c -; \
    cp "$1" /pgws; chmod 755 /pgws

FROM scratch AS release
COPY --from=pick /pgws /pgws
USER 65534:65534
EXPOSE 3000
STOPSIGNAL SIGTERM
# A scratch image has no curl: pgws asks itself.  Port 3000 is the default
# PGWS_PORT; a container that sets another overrides this line to match.
HEALTHCHECK --interval=30s --timeout=10s --start-period=30s --retries=3 \
    CMD ["/pgws", "check", "--url", "http://127.0.0.1:3000/health"]
ENTRYPOINT ["/pgws"]

# --- default target: built from source in the stage above ---------------
FROM scratch
COPY --from=build /src/pgws /pgws
# No /etc/passwd here: run as a numeric unprivileged user.  libpq then
# cannot guess a database user name, so PGWS_DB_URI must name one.
USER 65534:65534
EXPOSE 3000
STOPSIGNAL SIGTERM
# A scratch image has no curl: pgws asks itself.  Port 3000 is the default
# PGWS_PORT; a container that sets another overrides this line to match.
HEALTHCHECK --interval=30s --timeout=10s --start-period=30s --retries=3 \
    CMD ["/pgws", "check", "--url", "http://127.0.0.1:3000/health"]
ENTRYPOINT ["/pgws"]
