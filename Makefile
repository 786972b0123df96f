# pgws — see README.
#
#   make          static musl binary ./pgws (builds libpq and BearSSL from
#                 Debian's source packages into deps/ on first use)
#   make debug    ./pgws-debug: glibc, system libpq/BearSSL, ASan + UBSan
#   make unit     unit tests (glibc, sanitizers)
#   make fuzz     libFuzzer targets in build/ (clang)
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
# machine's apt configuration is never touched.
PG_PKG  = postgresql-15
SSL_PKG = bearssl
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
	@mkdir -p $(D)/apt/parts $(D)/apt/lists/partial $(D)/apt/cache/archives/partial
	@# deb-src twins of the machine's own apt sources (one-line and deb822).
	@cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null \
	  | sed -n 's/^deb[[:space:]]/deb-src /p' > $@.tmp
	@for f in /etc/apt/sources.list.d/*.sources; do [ -f "$$f" ] || continue; \
	  sed 's/^Types:.*/Types: deb-src/' "$$f" > $(D)/apt/parts/$${f##*/}; done
	@mv $@.tmp $@
	apt-get $(APT) update

# Fetches the newest listed version of a source package whose files can
# actually be downloaded (a Sources index may name a security update that
# the mirror does not serve yet), and unpacks it with dpkg-source.
define fetch
	@set -e; rm -rf $(D)/$(2) $(D)/src-$(2); mkdir -p $(D)/src-$(2); cd $(D)/src-$(2); \
	vers=$$(apt-cache $(APT) showsrc $(1) | sed -n 's/^Version: //p' | sort -rVu); \
	[ -n "$$vers" ] || { echo "deps: no source package $(1) in the apt sources" >&2; exit 1; }; \
	for v in $$vers; do \
	  if apt-get $(APT) source --download-only $(1)=$$v >/dev/null 2>&1; then \
	    echo "deps: fetched $(1) $$v"; \
	    dpkg-source -q -x $(1)_$${v#*:}.dsc $(D)/$(2) >/dev/null; \
	    rm -f $(D)/$(1)_*; \
	    exit 0; \
	  fi; \
	  echo "deps: $(1) $$v is listed but cannot be downloaded; trying an older one" >&2; \
	  rm -f ./*; \
	done; \
	echo "deps: no listed version of $(1) could be downloaded ($$vers)" >&2; exit 1
endef

$(D)/pg/configure: $(D)/apt/sources.list
	$(call fetch,$(PG_PKG),pg)
	@touch $@

$(D)/bearssl/Makefile: $(D)/apt/sources.list
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

$(PG_LIBS): $(D)/pg/GNUmakefile
	$(MAKE) -C $(D)/pg/src/backend generated-headers >$(D)/pg-build.log 2>&1 \
	  && $(MAKE) -j$(JOBS) -C $(D)/pg/src/port libpgport_shlib.a >>$(D)/pg-build.log 2>&1 \
	  && $(MAKE) -j$(JOBS) -C $(D)/pg/src/common libpgcommon_shlib.a >>$(D)/pg-build.log 2>&1 \
	  && $(MAKE) -j$(JOBS) -C $(D)/pg/src/interfaces/libpq all-static-lib >>$(D)/pg-build.log 2>&1 \
	  || { tail -20 $(D)/pg-build.log; exit 1; }
	@touch $(PG_LIBS)

deps: $(PG_LIBS) $(SSL_LIB)

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

PACKAGES = build-essential musl-tools dpkg-dev file clang libclang-rt-14-dev \
           libpq-dev libbearssl-dev postgresql postgresql-client \
           python3 python3-websockets python3-jwt curl openssl ca-certificates \
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

.PHONY: all debug unit fuzz deps promtool setup run test bench clean distclean
