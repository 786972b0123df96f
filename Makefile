# pgws — see README.
#
#   make          static musl binary ./pgws (builds libpq and BearSSL from
#                 Debian's source packages into deps/ on first use)
#   make debug    ./pgws-debug: glibc, ASan + UBSan, system BearSSL and the
#                 same libpq as ./pgws built for glibc (deps/pg-glibc)
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

SRC = pgws.c config.c log.c loop.c conn.c serve.c bridge.c stream.c publish.c chan.c db.c mcache.c \
      tls.c http.c ws.c json.c jwt.c sha1.c base64.c client.c sse.c \
      pqtls.c x509name.c metrics.c check.c httpc.c
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
           -I$(D)/bearssl/inc -DUSE_SSL
# libpq is built with USE_SSL but without OpenSSL: pqtls.c is its TLS
# (BearSSL).  The sanitizer build needs the same libpq, built for glibc
# in a copy of the source tree (pg-glibc): a VPATH build would still read
# the musl pg_config.h that the configured tree in pg holds.
# COPT reaches every sub-make, so libpq's own rebuild of src/port and
# src/common ("all": every variant, whose timingsafe_bcmp.c would then
# want OpenSSL's headers) is switched off with SHLIB_PREREQS=: the _shlib
# archives libpq needs are built just before, without COPT.
PQ_TLS   = with_ssl=bearssl COPT=-DUSE_SSL SHLIB_PREREQS=
PGG      = $(D)/pg-glibc
PGG_LIBS = $(PGG)/src/interfaces/libpq/libpq.a \
           $(PGG)/src/common/libpgcommon_shlib.a \
           $(PGG)/src/port/libpgport_shlib.a
PGG_INC  = -I$(PGG)/src/interfaces/libpq -I$(PGG)/src/include -DUSE_SSL

UNIT = $(patsubst tests/%.c,build/%,$(wildcard tests/test_*.c))
FUZZ = $(patsubst fuzz/%.c,build/%,$(wildcard fuzz/fuzz_*.c))

all: pgws

pgws: $(SRC) $(HDR) $(PG_LIBS) $(SSL_LIB)
	$(CC) $(CFLAGS) $(DEP_INC) $(LDFLAGS) -o $@ $(SRC) $(PG_LIBS) $(SSL_LIB)

debug: pgws-debug
pgws-debug: $(SRC) $(HDR) $(PGG)/tls.stamp
	$(DBG_CC) $(PGG_INC) $(DBG_CFLAGS) -o $@ $(SRC) $(PGG_LIBS) -lbearssl -lm

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
PG_OPTS = --without-openssl --without-gssapi --without-ldap --without-readline \
          --without-zlib --without-icu --disable-nls --without-libxml \
          --without-systemd --without-lz4 --without-zstd
# The glibc copy (below) is taken before this configure writes into the
# tree (order-only), so the two configures and builds are independent and
# `make -j2 deps` runs them side by side.
$(D)/pg/GNUmakefile: $(D)/pg/configure | $(PGG)/configure
	cd $(D)/pg && CC=musl-gcc CFLAGS='-Os -ffunction-sections -fdata-sections' ./configure -q \
	  $(PG_OPTS) >$(D)/pg-configure.log 2>&1 \
	  || { tail -20 $(D)/pg-configure.log; exit 1; }

# The stamp marks a libpq built with pqtls.c's interface (a libpq built
# before, without it, is cleaned and rebuilt).  One target, so make -j
# runs this recipe once, not once per archive.
$(PG_LIBS): $(D)/pg/tls.stamp
$(D)/pg/tls.stamp: $(D)/pg/GNUmakefile
	$(MAKE) -C $(D)/pg/src/backend generated-headers >$(D)/pg-build.log 2>&1 \
	  && $(MAKE) -j$(JOBS) -C $(D)/pg/src/port libpgport_shlib.a >>$(D)/pg-build.log 2>&1 \
	  && $(MAKE) -j$(JOBS) -C $(D)/pg/src/common libpgcommon_shlib.a >>$(D)/pg-build.log 2>&1 \
	  && { [ ! -f $(D)/pg/src/interfaces/libpq/libpq.a ] \
	       || $(MAKE) -C $(D)/pg/src/interfaces/libpq clean >>$(D)/pg-build.log 2>&1; } \
	  && $(MAKE) -j$(JOBS) -C $(D)/pg/src/interfaces/libpq $(PQ_TLS) all-static-lib >>$(D)/pg-build.log 2>&1 \
	  || { tail -20 $(D)/pg-build.log; exit 1; }
	@touch $(PG_LIBS) $@

# The same libpq for glibc (the sanitizer build), in a copy of the
# unpacked source (a tree copied after it was configured, as an older
# Makefile did, is distcleaned first).
$(PGG)/configure: $(D)/pg/configure
	rm -rf $(PGG) && cp -a $(D)/pg $(PGG) && rm -f $(PGG)/tls.stamp
	@if [ -f $(PGG)/GNUmakefile ]; then $(MAKE) -C $(PGG) distclean >$(D)/pg-glibc.log 2>&1; fi
	@touch $@

$(PGG)/tls.stamp: $(PGG)/configure
	cd $(PGG) && CFLAGS='-O1 -g' ./configure -q $(PG_OPTS) >$(D)/pg-glibc.log 2>&1 \
	  && $(MAKE) -C $(PGG)/src/backend generated-headers >>$(D)/pg-glibc.log 2>&1 \
	  && $(MAKE) -j$(JOBS) -C $(PGG)/src/port libpgport_shlib.a >>$(D)/pg-glibc.log 2>&1 \
	  && $(MAKE) -j$(JOBS) -C $(PGG)/src/common libpgcommon_shlib.a >>$(D)/pg-glibc.log 2>&1 \
	  && $(MAKE) -j$(JOBS) -C $(PGG)/src/interfaces/libpq $(PQ_TLS) all-static-lib >>$(D)/pg-glibc.log 2>&1 \
	  || { tail -20 $(D)/pg-glibc.log; exit 1; }
	@touch $@

deps: $(PG_LIBS) $(SSL_LIB) $(PGG)/tls.stamp

# --- release: static binaries per architecture ---------------------------
# `make release` writes dist/pgws-$(VERSION)-linux-ARCH for each of
# REL_ARCHES, stripped, and dist/SHA256SUMS.  Every binary is linked from
# the same pgws sources and the same Debian source packages: x86_64 uses
# the host's deps/ (the build above).  For the others, the source package
# and version deps/pg and deps/bearssl were unpacked from (their
# debian/changelog) are downloaded once more, exactly, into
# deps/release-src/ (the fetch above keeps no copy; apt checks the files
# against the signed Sources index), then unpacked into each
# architecture's own deps/ARCH/ and cross-built there with Debian's musl
# cross wrappers (make setup installs them).  The unstripped links stay in
# build/release/ARCH/pgws for nm (tests/release_test.sh checks them).
# A refetch of the host deps (a newer version) refetches and rebuilds
# every architecture's copy.

REL_ARCHES        = x86_64 aarch64 armv7
REL_DIST          = $(foreach a,$(REL_ARCHES),dist/pgws-$(VERSION)-linux-$(a))
# Per architecture: the binutils/configure triplet and the musl compiler.
REL_TRIPLET_aarch64 = aarch64-linux-gnu
REL_CC_aarch64      = aarch64-linux-musl-gcc
REL_TRIPLET_armv7   = arm-linux-gnueabihf
REL_CC_armv7        = arm-linux-musleabihf-gcc
# libpq's configure options: the same as $(D)/pg/GNUmakefile's above.
REL_PG_OPTS = $(PG_OPTS)
REL_OPT_CFLAGS = -Os -ffunction-sections -fdata-sections
# What make setup installs for the release and its smoke test: the cross
# compilers, musl for each target (arch-qualified, so setup adds the
# architecture to dpkg first) and the user-mode emulators.  musl-dev:arm64
# provides /usr/bin/aarch64-linux-musl-gcc, musl-dev:armhf
# /usr/bin/arm-linux-musleabihf-gcc; qemu-user-static provides
# qemu-aarch64-static and qemu-arm-static.
REL_PACKAGES = gcc-aarch64-linux-gnu musl-dev:arm64 gcc-arm-linux-gnueabihf musl-dev:armhf \
               qemu-user-static

release: $(REL_DIST)
	cd dist && sha256sum $(notdir $(REL_DIST)) > SHA256SUMS
	@cd dist && ls -l $(notdir $(REL_DIST)) SHA256SUMS

dist/pgws-$(VERSION)-linux-x86_64: build/release/x86_64/pgws
	@mkdir -p dist
	strip -o $@ $<

build/release/x86_64/pgws: $(SRC) $(HDR) $(PG_LIBS) $(SSL_LIB)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(DEP_INC) -static -Wl,--gc-sections -o $@ $(SRC) $(PG_LIBS) $(SSL_LIB)

# $(call rel_src,DIR): downloads the source package deps/DIR was unpacked
# from, at exactly its version, into deps/release-src/DIR.
define rel_src
	@set -e; rm -rf $(D)/release-src/$(1); mkdir -p $(D)/release-src/$(1); \
	cd $(D)/release-src/$(1); \
	src=$$(dpkg-parsechangelog -l $(D)/$(1)/debian/changelog -S Source); \
	ver=$$(dpkg-parsechangelog -l $(D)/$(1)/debian/changelog -S Version); \
	apt-get $(APT) source --download-only "$$src=$$ver" >$(D)/release-src/$(1).log 2>&1 \
	  || { tail -5 $(D)/release-src/$(1).log >&2; \
	       echo "release: deps/$(1) is $$src $$ver, which the apt sources no longer serve;" \
	            "rm -rf deps/$(1) to fetch and build the current one" >&2; exit 1; }; \
	echo "release: $$src $$ver downloaded again for the cross builds"
endef

$(D)/release-src/pg/ok: $(D)/pg/configure
	$(call rel_src,pg)
	@touch $@

$(D)/release-src/bearssl/ok: $(D)/bearssl/Makefile
	$(call rel_src,bearssl)
	@touch $@

# rel_cross ARCH: the deps, the unstripped link and the dist binary of one
# cross-built architecture.
define rel_cross
REL_D_$(1)   = $(D)/$(1)
REL_PG_$(1)  = $$(REL_D_$(1))/pg/src/interfaces/libpq/libpq.a \
               $$(REL_D_$(1))/pg/src/common/libpgcommon_shlib.a \
               $$(REL_D_$(1))/pg/src/port/libpgport_shlib.a
REL_SSL_$(1) = $$(REL_D_$(1))/bearssl/build/libbearssl.a

$$(REL_D_$(1))/pg/configure: $(D)/release-src/pg/ok
	@command -v $$(REL_CC_$(1)) >/dev/null || { echo "release: no $$(REL_CC_$(1)); run make setup" >&2; exit 1; }
	rm -rf $$(REL_D_$(1))/pg && mkdir -p $$(REL_D_$(1))
	@d=$$$$(ls $(D)/release-src/pg/*.dsc); n=$$$${d##*/}; \
	rm -f $$(REL_D_$(1))/$$$${n%%_*}_*.orig.tar.*; \
	dpkg-source -q -x $$$$d $$(REL_D_$(1))/pg >$$(REL_D_$(1))/pg-unpack.log 2>&1 \
	  || { cat $$(REL_D_$(1))/pg-unpack.log; exit 1; }; \
	rm -f $$(REL_D_$(1))/$$$${n%%_*}_*.orig.tar.*; \
	echo "release: $$$$n unpacked into $$(REL_D_$(1))/pg"
	@touch $$@

$$(REL_D_$(1))/bearssl/Makefile: $(D)/release-src/bearssl/ok
	rm -rf $$(REL_D_$(1))/bearssl && mkdir -p $$(REL_D_$(1))
	@d=$$$$(ls $(D)/release-src/bearssl/*.dsc); n=$$$${d##*/}; \
	rm -f $$(REL_D_$(1))/$$$${n%%_*}_*.orig.tar.*; \
	dpkg-source -q -x $$$$d $$(REL_D_$(1))/bearssl >$$(REL_D_$(1))/bearssl-unpack.log 2>&1 \
	  || { cat $$(REL_D_$(1))/bearssl-unpack.log; exit 1; }; \
	rm -f $$(REL_D_$(1))/$$$${n%%_*}_*.orig.tar.*; \
	echo "release: $$$$n unpacked into $$(REL_D_$(1))/bearssl"
	@touch $$@

$$(REL_SSL_$(1)): $$(REL_D_$(1))/bearssl/Makefile
	$(MAKE) -j$(JOBS) -C $$(REL_D_$(1))/bearssl lib CC=$$(REL_CC_$(1)) \
	  AR=$$(REL_TRIPLET_$(1))-ar CFLAGS='-W -Wall $(REL_OPT_CFLAGS)' \
	  >$$(REL_D_$(1))/bearssl.log 2>&1 || { tail -20 $$(REL_D_$(1))/bearssl.log; exit 1; }

$$(REL_D_$(1))/pg/GNUmakefile: $$(REL_D_$(1))/pg/configure
	cd $$(REL_D_$(1))/pg && CC=$$(REL_CC_$(1)) CFLAGS='$(REL_OPT_CFLAGS)' ./configure -q \
	  --host=$$(REL_TRIPLET_$(1)) $(REL_PG_OPTS) >$$(REL_D_$(1))/pg-configure.log 2>&1 \
	  || { tail -20 $$(REL_D_$(1))/pg-configure.log; exit 1; }

$$(REL_PG_$(1)) &: $$(REL_D_$(1))/pg/GNUmakefile
	$(MAKE) -C $$(REL_D_$(1))/pg/src/backend generated-headers >$$(REL_D_$(1))/pg-build.log 2>&1 \
	  && $(MAKE) -j$(JOBS) -C $$(REL_D_$(1))/pg/src/port libpgport_shlib.a >>$$(REL_D_$(1))/pg-build.log 2>&1 \
	  && $(MAKE) -j$(JOBS) -C $$(REL_D_$(1))/pg/src/common libpgcommon_shlib.a >>$$(REL_D_$(1))/pg-build.log 2>&1 \
	  && $(MAKE) -j$(JOBS) -C $$(REL_D_$(1))/pg/src/interfaces/libpq $(PQ_TLS) all-static-lib >>$$(REL_D_$(1))/pg-build.log 2>&1 \
	  || { tail -20 $$(REL_D_$(1))/pg-build.log; exit 1; }
	@touch $$(REL_PG_$(1))

build/release/$(1)/pgws: $(SRC) $(HDR) $$(REL_PG_$(1)) $$(REL_SSL_$(1))
	@mkdir -p $$(@D)
	$$(REL_CC_$(1)) $(CFLAGS) -I$$(REL_D_$(1))/pg/src/interfaces/libpq \
	  -I$$(REL_D_$(1))/pg/src/include -I$$(REL_D_$(1))/bearssl/inc -DUSE_SSL \
	  -static -Wl,--gc-sections -o $$@ $(SRC) $$(REL_PG_$(1)) $$(REL_SSL_$(1))

dist/pgws-$(VERSION)-linux-$(1): build/release/$(1)/pgws
	@mkdir -p dist
	$$(REL_TRIPLET_$(1))-strip -o $$@ $$<
endef
$(foreach a,$(filter-out x86_64,$(REL_ARCHES)),$(eval $(call rel_cross,$(a))))

# --- end of release ------------------------------------------------------

# promtool, for the /metrics check in tests/test_operate.py.  Debian ships
# it only inside the prometheus package (19 MB to download, 96 MB installed,
# and its postinst starts a Prometheus server listening on every address),
# so the package is downloaded, not installed, and only promtool is
# unpacked into deps/.  Optional: without it the test's own exposition
# format checker still runs.
PROMTOOL = $(D)/promtool/usr/bin/promtool
promtool: $(PROMTOOL)
$(PROMTOOL):
	@set -e; rm -rf $(D)/promtool; mkdir -p $(D)/promtool; cd $(D)/promtool; \
	apt-get -q -o APT::Sandbox::User=$$(id -un) download prometheus >/dev/null; \
	dpkg-deb --fsys-tarfile prometheus_*.deb | tar -x ./usr/bin/promtool; \
	rm -f prometheus_*.deb; ./usr/bin/promtool --version >/dev/null

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
           valgrind procps util-linux iproute2 $(REL_PACKAGES)
# Wanted but not required: the browser test says so and skips without it.
OPTIONAL = chromium

setup:
	@missing=$$(dpkg-query -W -f '$${binary:Package} $${Status}\n' $(PACKAGES) 2>/dev/null \
	  | awk '$$NF != "installed" {print $$1}'; \
	  for p in $(PACKAGES); do dpkg-query -W $$p >/dev/null 2>&1 || echo $$p; done); \
	missing=$$(echo $$missing | tr ' ' '\n' | sort -u | tr '\n' ' '); \
	opt=$$(for p in $(OPTIONAL); do dpkg-query -W -f '$${Status}\n' $$p 2>/dev/null | grep -q '^install ok installed' || echo $$p; done); \
	if [ -z "$${missing% }" ] && [ -z "$$opt" ]; then echo "setup: all build and test packages are installed"; exit 0; fi; \
	if [ -z "$${missing% }" ] && [ "$$(id -u)" != 0 ]; then echo "setup: optional, for the browser test: apt-get install $$opt"; exit 0; fi; \
	cmd="apt-get -o DPkg::Lock::Timeout=600 install -y --no-install-recommends $$missing"; \
	archs=$$(for a in $$(echo $$missing | tr ' ' '\n' | sed -n 's/.*://p' | sort -u); do \
	  [ "$$a" = "$$(dpkg --print-architecture)" ] || dpkg --print-foreign-architectures | grep -qx "$$a" || echo $$a; done); \
	addarch=$$(for a in $$archs; do printf 'dpkg --add-architecture %s && ' $$a; done); \
	if [ "$$(id -u)" != 0 ]; then echo "setup: as root, run: $${addarch}apt-get update && $$cmd" >&2; exit 1; fi; \
	for a in $$archs; do echo "setup: dpkg --add-architecture $$a"; dpkg --add-architecture $$a || exit 1; done; \
	apt-get -o DPkg::Lock::Timeout=600 update -q || exit 1; \
	if [ -n "$${missing% }" ]; then echo "setup: installing $$missing"; \
	  DEBIAN_FRONTEND=noninteractive $$cmd || exit 1; fi; \
	if [ -n "$$opt" ]; then echo "setup: installing optional $$opt"; \
	  DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y --no-install-recommends $$opt \
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
	rm -rf build pgws pgws-debug dist

distclean: clean
	rm -rf deps

.PHONY: all debug unit fuzz deps deps-refresh promtool setup run test bench clean distclean release
