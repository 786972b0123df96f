# pgws in an empty image: one static musl binary and nothing else.
#
#   docker build -t pgws .
#   docker run --rm -p 3000:3000 -e PGWS_DB_URI=postgres://user@db/app \
#       -e PGWS_JWT_SECRET=... pgws
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

FROM scratch
COPY --from=build /src/pgws /pgws
# No /etc/passwd here: run as a numeric unprivileged user.  libpq then
# cannot guess a database user name, so PGWS_DB_URI must name one.
USER 65534:65534
EXPOSE 3000
STOPSIGNAL SIGTERM
ENTRYPOINT ["/pgws"]
