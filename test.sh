#!/bin/bash
# The pgws test suite, the one entry point: builds, runs the unit tests,
# starts a throwaway PostgreSQL, runs the integration tests against the
# static binary and again against the sanitizer build, replays and briefly
# runs the fuzz targets, and ends with "N passed, N failed" (non-zero exit
# on any failure).
#
#   ./test.sh              everything
#   FUZZ_SECONDS=0 ./test.sh   skip the short fuzz runs
#
# A suite that is missing, not executable or does not compile is a FAIL,
# never a silent skip.  With CI=true, skipping the fuzz runs (no clang,
# FUZZ_SECONDS=0) or the browser test (no chromium) is a FAIL too.
set -u
cd "$(dirname "$0")" || exit 2
export LC_ALL=C.UTF-8
PY=/usr/bin/python3
PASS=0
FAIL=0
LOGS=$(mktemp -d /tmp/pgws-test.XXXXXX)
. tests/pg.sh

cleanup() {
	[ -n "${REL_BG:-}" ] && kill -TERM -- "-$REL_BG" 2>/dev/null
	pg_stop
	rm -rf "$LOGS"
}
trap cleanup EXIT
trap 'exit 2' INT TERM

ok() { PASS=$((PASS + 1)); echo "ok   $*"; }
bad() { FAIL=$((FAIL + 1)); echo "FAIL $*"; }
CI=${CI:-false}

# need FILE [x]: true when the suite file exists (and is executable with x);
# otherwise records a FAIL, so that a suite cannot vanish silently.
need() {
	if [ ! -f "$1" ]; then bad "$1: missing"; return 1; fi
	if [ "${2:-}" = x ] && [ ! -x "$1" ]; then bad "$1: not executable"; return 1; fi
}

# The suites this file runs.  New tests/test_*.{c,py} files run as well;
# the ones listed here must exist.
UNIT_SUITES="test_base64 test_chan test_config test_http test_httpc test_json test_jwt test_log test_mcache test_metrics test_sha1 test_ws test_x509name"
PY_SUITES="test_protocol test_bridge test_abuse test_conformance test_tls test_client test_transports test_operate test_browser test_reliable test_dropin"
listed() { # listed DIR EXT NAMES...: the named files, then any others in DIR
	local d=$1 e=$2 n f
	shift 2
	for n in "$@"; do echo "$d/$n.$e"; done
	for f in "$d"/test_*."$e"; do
		[ -f "$f" ] || continue
		case " $* " in *" $(basename "$f" ."$e") "*) ;; *) echo "$f" ;; esac
	done
}

# suite NAME CMD...: runs a program that prints "N passed, N failed" and
# adds its counts; a program that dies without that line counts one failure.
suite() {
	local name=$1 out=$LOGS/$1.log rc t0=$SECONDS
	shift
	echo "== $name"
	"$@" >"$out" 2>&1
	rc=$?
	grep -E '^(FAIL|Traceback|ERROR|==[0-9]+==)' "$out" | head -40
	local line
	line=$(grep -E '^[0-9]+ passed, [0-9]+ failed' "$out" | tail -1)
	if [ -z "$line" ]; then
		tail -30 "$out"
		bad "$name: no result line (exit $rc)"
		return
	fi
	local p f
	p=${line%% passed*}
	f=${line#*passed, }
	f=${f%% failed*}
	PASS=$((PASS + p))
	FAIL=$((FAIL + f))
	if [ "$rc" != 0 ] && [ "$f" = 0 ]; then
		bad "$name: exit $rc"
	fi
	echo "   $line ($((SECONDS - t0)) s)"
}

echo "== build"
make -s setup || exit 1
NPROC=$(nproc 2>/dev/null || echo 2)
# The libraries first, the musl and the glibc libpq side by side (each
# spends a while in its serial configure); a failure shows in the two
# builds below.
make -s -j"$NPROC" deps >"$LOGS/deps.log" 2>&1 || cat "$LOGS/deps.log"
if make -s pgws >"$LOGS/build.log" 2>&1; then ok "make: static pgws"; else cat "$LOGS/build.log"; bad "make"; fi
if make -s pgws-debug >"$LOGS/debug.log" 2>&1; then ok "make debug"; else cat "$LOGS/debug.log"; bad "make debug"; fi
if file pgws | grep -q 'statically linked'; then ok "pgws is statically linked"; else bad "pgws is not statically linked"; fi
# promtool checks /metrics in test_operate.py when it can be had.
make -s promtool >"$LOGS/promtool.log" 2>&1 || echo "   (promtool unavailable; test_operate checks /metrics with its own parser only)"
if make -s build/loadgen >"$LOGS/loadgen.log" 2>&1; then ok "bench load generator builds"; else cat "$LOGS/loadgen.log"; bad "bench/loadgen.c"; fi

# The release binaries (both ARM cross builds: minutes of CPU) build in
# the background at the lowest priority while the suites below run, which
# mostly wait on sockets; release_test waits for it and then runs
# `make release` itself, so a failure is reported there.
REL_BG=
if [ -x tests/release_test.sh ]; then
	setsid nice -n 19 make -s -j"$NPROC" release >"$LOGS/release-bg.log" 2>&1 </dev/null &
	REL_BG=$!
fi

echo "== unit tests"
for t in $(listed tests c $UNIT_SUITES); do
	n=$(basename "$t" .c)
	need "$t" || continue
	if make -s "build/$n" >"$LOGS/$n.build" 2>&1; then
		suite "$n" "build/$n"
	else
		cat "$LOGS/$n.build"
		bad "$n: build"
	fi
done

pg_start || { bad "throwaway PostgreSQL did not start"; echo "$PASS passed, $FAIL failed"; exit 1; }
ok "throwaway PostgreSQL on port $PG_PORT"

need tests/cli.sh x && suite cli tests/cli.sh ./pgws
for f in $(listed tests py $PY_SUITES); do
	n=$(basename "$f" .py)
	need "$f" || continue
	if [ "$n" = test_browser ] && [ "$CI" = true ] && [ ! -x "${PGWS_CHROMIUM:-/usr/bin/chromium}" ]; then
		bad "test_browser: no chromium (required when CI=true)"
		continue
	fi
	PGWS_BIN=./pgws suite "$n" $PY "$f"
	# The browser drives the same server code; once is enough.
	[ "$n" = test_browser ] && continue
	# The 30 s database outage is held once, by the static binary's run.
	PGWS_BIN=./pgws-debug ASAN_OPTIONS=detect_leaks=1 PGWS_OUTAGE_SECONDS=10 \
	    suite "$n-asan" $PY "$f"
done
# The portable readiness backend, on the framing and HTTP suite.
need tests/test_protocol.py &&
    PGWS_EVENT_BACKEND=poll PGWS_BIN=./pgws suite test_protocol-poll $PY tests/test_protocol.py
need tests/db_test.sh x && suite db_test tests/db_test.sh
# TLS to the database: its own clusters (ssl=on, hostssl only; and plain).
if need tests/db_tls_test.sh x; then
	suite db_tls tests/db_tls_test.sh ./pgws
	ASAN_OPTIONS=detect_leaks=1 suite db_tls-asan tests/db_tls_test.sh ./pgws-debug
fi
need tests/run_test.sh x && suite run_test tests/run_test.sh
need tests/valgrind.sh x && suite valgrind tests/valgrind.sh
# Release binaries for x86_64, aarch64 and armv7 (cross-built; the ARM
# ones run under qemu-user): tests/release_test.sh, a smoke suite.
if [ -n "$REL_BG" ]; then
	t0=$SECONDS
	wait "$REL_BG"
	echo "   (waited $((SECONDS - t0)) s for the background release build)"
	REL_BG=
fi
need tests/release_test.sh x && suite release_test tests/release_test.sh
if need tests/jwt_cross.py && need tests/jwt_tool.c; then
	mkdir -p build
	if cc -std=c11 -D_DEFAULT_SOURCE -I. -o build/jwt_tool tests/jwt_tool.c -lbearssl -lm \
	    >"$LOGS/jwt_tool.build" 2>&1; then
		suite jwt_cross $PY tests/jwt_cross.py build/jwt_tool
	else
		cat "$LOGS/jwt_tool.build"
		bad "tests/jwt_tool.c: build"
	fi
fi

# Fuzz targets: replay the seed corpus and run each briefly.
if [ "${FUZZ_SECONDS:-10}" != 0 ] && command -v clang >/dev/null; then
	echo "== fuzz (${FUZZ_SECONDS:-10} s each)"
	for f in fuzz/fuzz_*.c; do
		n=$(basename "$f" .c)
		c=fuzz/corpus/${n#fuzz_}
		if ! make -s "build/$n" >"$LOGS/$n.build" 2>&1; then
			cat "$LOGS/$n.build"; bad "$n: build"; continue
		fi
		work=$LOGS/corpus-$n
		mkdir -p "$work"
		if "build/$n" -max_total_time="${FUZZ_SECONDS:-10}" -timeout=10 \
		    -artifact_prefix="$LOGS/" "$work" $( [ -d "$c" ] && echo "$c") \
		    >"$LOGS/$n.log" 2>&1; then
			ok "$n: $(grep -oE '#[0-9]+' "$LOGS/$n.log" | tail -1 | tr -d '#') runs, no crash"
		else
			tail -30 "$LOGS/$n.log"
			bad "$n"
		fi
	done
elif [ "$CI" = true ]; then
	bad "fuzz skipped (FUZZ_SECONDS=0 or no clang): not allowed when CI=true"
else
	echo "== fuzz skipped (FUZZ_SECONDS=0 or no clang)"
fi

echo
echo "$PASS passed, $FAIL failed"
[ "$FAIL" = 0 ]
