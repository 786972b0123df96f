# pgws — see README.
#
#   make          static musl binary ./pgws (builds libpq and BearSSL from
#                 Debian's source packages into deps/ on first use)
#   make debug    ./pgws-debug: glibc, system libpq/BearSSL, ASan + UBSan
#   make unit     unit tests (glibc, sanitizers)
#   make fuzz     libFuzzer targets in build/ (clang)
#   make deps-refresh  re-reads the machine's apt sources and the package
#                 lists in deps/apt (after a new release or security update;
#                 rm -rf deps/pg or deps/bearssl then fetches it again)
#   make setup    installs the build and test dependencies (root)
#   make run      runs pgws, with a throwaway PostgreSQL if PGWS_DB_URI is unset
#   make test     the whole test suite (same as ./test.sh)
#   make bench    pgws side by side with the Node.js peer (bench/RESULTS.md)

VERSION = 0.1.0

CC      = musl-gcc
CFLAGS  = -std=c11 -Os -Wall -Wextra -Werror -D_DEFAULT_SOURCE \
          -DPGWS_VERSION='"$(VERSION)"' -ffunction-sections -fdata-sections
LDFLAGS = -static -s -Wl,--gc-sections

DBG_CC     = cc
DBG_CFLAGS = -std=c11 -g -O1 -Wall -Wextra -Werror -D_DEFAULT_SOURCE \
             -DPGWS_VERSION='"$(VERSION)-debug"' \
             -fsanitize=address,undefined -fno-sanitize-recover=all \
             -fno-omit-frame-pointer -I/usr/include/postgresql
DBG_LIBS   = -lpq -lbearssl -lm

FUZZ_CC     = clang
FUZZ_CFLAGS = -g -O1 -fsanitize=fuzzer,address,undefined -D_DEFAULT_SOURCE -I.

SRC = pgws.c tls.c http.c ws.c json.c jwt.c sha1.c base64.c db.c client.c sse.c
HDR = $(filter-out pgws.h,$(SRC:.c=.h))

# Dependencies: Debian source packages, fetched with apt-get through a
# private deb-src list derived from the machine's own apt sources, so the
# machine's apt configuration is never touched.  Each is named by a binary
# package it builds; the source package behind it is whatever the sources
# offer (postgresql-15 on Debian 12, another postgresql-NN with PGDG).
PG_PKG  = libpq-dev
SSL_PKG = libbearssl-dev
D       = $(CURDIR)/deps
JOBS    = $(shell nproc 2>/dev/null || echo 2)
APT     = -o Dir::Etc::SourceList=$(D)/apt/sources.list \
          -o Dir::Etc::SourceParts=$(D)/apt/parts \
          -o Dir::State::Lists=$(D)/apt/lists \
          -o Dir::Cache=$(D)/apt/cache \
          -o APT::Sandbox::User=$$(id -un) -q

PG_LIBS  = $(D)/pg/src/interfaces/libpq/libpq.a \
           $(D)/pg/src/common/libpgcommon_shlib.a \
           $(D)/pg/src/port/libpgport_shlib.a
SSL_LIB  = $(D)/bearssl/build/libbearssl.a
DEP_INC  = -I$(D)/pg/src/interfaces/libpq -I$(D)/pg/src/include \
           -I$(D)/bearssl/inc

UNIT = $(patsubst tests/%.c,build/%,$(wildcard tests/test_*.c))
FUZZ = $(patsubst fuzz/%.c,build/%,$(wildcard fuzz/fuzz_*.c))

all: pgws

pgws: $(SRC) $(HDR) $(PG_LIBS) $(SSL_LIB)
	$(CC) $(CFLAGS) $(DEP_INC) $(LDFLAGS) -o $@ $(SRC) $(PG_LIBS) $(SSL_LIB)

debug: pgws-debug
pgws-debug: $(SRC) $(HDR)
	$(DBG_CC) $(DBG_CFLAGS) -o $@ $(SRC) $(DBG_LIBS)

unit: $(UNIT)
	@set -e; for t in $(UNIT); do echo "== $$t"; $$t; done

build/test_%: tests/test_%.c tests/unit.h $(SRC) $(HDR)
	@mkdir -p build
	$(DBG_CC) $(DBG_CFLAGS) -Wno-unused-function -I. -o $@ $< $(DBG_LIBS)

fuzz: $(FUZZ)
build/fuzz_%: fuzz/fuzz_%.c $(SRC) $(HDR)
	@mkdir -p build
	$(FUZZ_CC) $(FUZZ_CFLAGS) -o $@ $< -lbearssl -lm

# --- dependencies -------------------------------------------------------

$(D)/apt/sources.list:
	@rm -rf $(D)/apt/parts
	@mkdir -p $(D)/apt/parts $(D)/apt/lists/partial $(D)/apt/cache/archives/partial
	@# deb-src twins of the machine's own apt sources (one-line and deb822).
	@cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null \
	  | sed -n 's/^deb[[:space:]]/deb-src /p' > $@.tmp
	@for f in /etc/apt/sources.list.d/*.sources; do [ -f "$$f" ] || continue; \
	  sed 's/^Types:.*/Types: deb-src/' "$$f" > $(D)/apt/parts/$${f##*/}; done
	@mv $@.tmp $@
	apt-get $(APT) update || { rm -f $@; exit 1; }

# Re-reads the machine's apt sources and the package lists; what is built
# stays (the sources list is an order-only prerequisite of the fetches).
deps-refresh:
	rm -f $(D)/apt/sources.list
	$(MAKE) $(D)/apt/sources.list

# $(call fetch,BINARY-PACKAGE,DIR): unpacks into deps/DIR the source package
# that builds BINARY-PACKAGE, at the newest version (dpkg's ordering) whose
# files can actually be downloaded: a Sources index may name a security
# update the mirror does not serve yet.  A failed attempt shows apt-get's
# message; all of them are kept in deps/DIR-fetch.log.  The downloaded
# files (and dpkg-source's copy of the upstream tarball, made next to the
# tree it unpacks) are removed once unpacked.
define fetch
	@set -e; rm -rf $(D)/$(2) $(D)/src-$(2) $(D)/$(2)-fetch.log; \
	mkdir -p $(D)/src-$(2); cd $(D)/src-$(2); \
	left=$$(apt-cache $(APT) showsrc $(1) \
	  | awk '/^Package: /{p=$$2} /^Version: /{print p "=" $$2}' | sort -u); \
	[ -n "$$left" ] || { echo "deps: no source package builds $(1) in the apt sources" >&2; exit 1; }; \
	tried=; \
	while [ -n "$$left" ]; do \
	  c=; for x in $$left; do \
	    if [ -z "$$c" ] || dpkg --compare-versions "$${x#*=}" gt "$${c#*=}"; then c=$$x; fi; \
	  done; \
	  left=$$(for x in $$left; do [ "$$x" = "$$c" ] || echo "$$x"; done); \
	  pkg=$${c%%=*}; v=$${c#*=}; tried="$$tried $$pkg $$v;"; \
	  echo "== apt-get source $$pkg=$$v" >>$(D)/$(2)-fetch.log; \
	  if apt-get $(APT) source --download-only "$$pkg=$$v" >$(D)/$(2)-try.log 2>&1; then \
	    cat $(D)/$(2)-try.log >>$(D)/$(2)-fetch.log; rm -f $(D)/$(2)-try.log; \
	    echo "deps: fetched $$pkg $$v (the source of $(1))"; \
	    dpkg-source -q -x "$${pkg}_$${v#*:}.dsc" tree >/dev/null; \
	    mv tree $(D)/$(2); cd $(D); rm -rf $(D)/src-$(2); \
	    exit 0; \
	  fi; \
	  cat $(D)/$(2)-try.log >>$(D)/$(2)-fetch.log; \
	  echo "deps: $$pkg $$v is listed but could not be downloaded:" >&2; \
	  sed 's/^/  /' $(D)/$(2)-try.log | tail -5 >&2; \
	  rm -f $(D)/$(2)-try.log ./*; \
	done; \
	echo "deps: no listed version of $(1) could be downloaded (tried:$$tried see $(D)/$(2)-fetch.log)" >&2; exit 1
endef

$(D)/pg/configure: | $(D)/apt/sources.list
	$(call fetch,$(PG_PKG),pg)
	@touch $@

$(D)/bearssl/Makefile: | $(D)/apt/sources.list
	$(call fetch,$(SSL_PKG),bearssl)
	@touch $@

$(SSL_LIB): $(D)/bearssl/Makefile
	$(MAKE) -j$(JOBS) -C $(D)/bearssl lib CC=musl-gcc CFLAGS='-W -Wall -Os -ffunction-sections -fdata-sections' >$(D)/bearssl.log 2>&1 \
	  || { tail -20 $(D)/bearssl.log; exit 1; }

# libpq alone: configured for musl with every optional library off, then
# only src/port, src/common and src/interfaces/libpq are built.
$(D)/pg/GNUmakefile: $(D)/pg/configure
	cd $(D)/pg && CC=musl-gcc CFLAGS='-Os -ffunction-sections -fdata-sections' ./configure -q \
	  --without-openssl --without-gssapi --without-ldap --without-readline \
	  --without-zlib --without-icu --disable-nls --without-libxml \
	  --without-systemd --without-lz4 --without-zstd >$(D)/pg-configure.log 2>&1 \
	  || { tail -20 $(D)/pg-configure.log; exit 1; }

# One grouped rule (GNU make 4.3's &:) for the three archives, so that
# make -j runs this recipe once, not once per archive.
$(PG_LIBS) &: $(D)/pg/GNUmakefile
	$(MAKE) -C $(D)/pg/src/backend generated-headers >$(D)/pg-build.log 2>&1 \
	  && $(MAKE) -j$(JOBS) -C $(D)/pg/src/port libpgport_shlib.a >>$(D)/pg-build.log 2>&1 \
	  && $(MAKE) -j$(JOBS) -C $(D)/pg/src/common libpgcommon_shlib.a >>$(D)/pg-build.log 2>&1 \
	  && $(MAKE) -j$(JOBS) -C $(D)/pg/src/interfaces/libpq all-static-lib >>$(D)/pg-build.log 2>&1 \
	  || { tail -20 $(D)/pg-build.log; exit 1; }
	@touch $(PG_LIBS)

deps: $(PG_LIBS) $(SSL_LIB)

# --- convenience --------------------------------------------------------

# The clang runtime (libFuzzer, sanitizers) of the installed clang's major
# version, or else of the clang apt would install; left out where that
# version has no separate runtime package.
CLANG_RT = $(shell n=$$({ clang --version 2>/dev/null \
             | sed -n 's/.*clang version \([0-9][0-9]*\)\..*/\1/p'; \
             apt-cache depends clang 2>/dev/null \
             | sed -n 's/^ *Depends: clang-\([0-9][0-9]*\)$$/\1/p'; } | head -1); \
           [ -n "$$n" ] && apt-cache show libclang-rt-$$n-dev >/dev/null 2>&1 \
           && echo libclang-rt-$$n-dev)
PACKAGES = build-essential musl-tools dpkg-dev file clang $(CLANG_RT) \
           libpq-dev libbearssl-dev postgresql postgresql-client \
           python3 python3-websockets python3-jwt python3-cryptography curl openssl ca-certificates \
           valgrind procps util-linux iproute2
# Wanted but not required: the browser test says so and skips without it.
OPTIONAL = chromium

setup:
	@missing=$$(dpkg-query -W -f '$${Package} $${Status}\n' $(PACKAGES) 2>/dev/null \
	  | awk '$$NF != "installed" {print $$1}'; \
	  for p in $(PACKAGES); do dpkg-query -W $$p >/dev/null 2>&1 || echo $$p; done); \
	missing=$$(echo $$missing | tr ' ' '\n' | sort -u | tr '\n' ' '); \
	opt=$$(for p in $(OPTIONAL); do dpkg-query -W -f '$${Status}\n' $$p 2>/dev/null | grep -q '^install ok installed' || echo $$p; done); \
	if [ -z "$${missing% }" ] && [ -z "$$opt" ]; then echo "setup: all build and test packages are installed"; exit 0; fi; \
	if [ -z "$${missing% }" ] && [ "$$(id -u)" != 0 ]; then echo "setup: optional, for the browser test: apt-get install $$opt"; exit 0; fi; \
	cmd="apt-get install -y --no-install-recommends $$missing"; \
	if [ "$$(id -u)" != 0 ]; then echo "setup: as root, run: apt-get update && $$cmd" >&2; exit 1; fi; \
	apt-get update -q || exit 1; \
	if [ -n "$${missing% }" ]; then echo "setup: installing $$missing"; \
	  DEBIAN_FRONTEND=noninteractive $$cmd || exit 1; fi; \
	if [ -n "$$opt" ]; then echo "setup: installing optional $$opt"; \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $$opt \
	  || echo "setup: $$opt could not be installed; the browser test will be skipped"; fi

run: setup pgws
	./run.sh

test:
	./test.sh

bench: pgws
	bench/run.sh

build/loadgen: bench/loadgen.c
	@mkdir -p build
	cc -std=c11 -O2 -Wall -Wextra -Werror -o $@ bench/loadgen.c -lm

clean:
	rm -rf build pgws pgws-debug

distclean: clean
	rm -rf deps

.PHONY: all debug unit fuzz deps deps-refresh setup run test bench clean distclean
