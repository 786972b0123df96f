#!/usr/bin/env bash
# bench/run.sh — `make bench`: pgws and the Node.js peer, side by side, on
# the same machine in the same run, against one throwaway PostgreSQL.  Each
# scenario runs pgws and then the peer, each on a fresh server process and a
# fresh database, and prints ONE table:
#   scenario | metric | pgws (epoll) | pgws (poll) | peer | ratio [| base]
# (ratio = pgws (epoll) / peer).  pgws runs with PGWS_EVENT_BACKEND=epoll (the
# Linux default) everywhere, and again with PGWS_EVENT_BACKEND=poll where the
# backend matters: the idle + trickle runs, the fan-outs (rated, saturated,
# 10,000 subscribers).  PGWS_EVENT_BACKEND is set on pgws's command line only.
#
# Sizes (environment, defaults in brackets):
#   BENCH_IDLE_N [15000]        idle websockets held open
#   BENCH_TRICKLE_IDLE_N [15000] idle websockets under the trickle (0: skip it)
#   BENCH_TRICKLE_RATE [10]     notifications/s to the 1 trickle subscriber
#   BENCH_TRICKLE_SECS [10]     seconds of trickle
#   BENCH_TRICKLE_BASE [1]      also run the trickle with 0 idle websockets,
#   BENCH_TRICKLE_BASE_SECS [5] for this many seconds
# When BENCH_TRICKLE_IDLE_N equals BENCH_IDLE_N, the idle rows are measured
# in the trickle run (before the trickle starts), not in a run of their own.
#   BENCH_FANOUT_N [2000]       subscribers of one channel, rated fan-out
#   BENCH_FANOUT_RATE [50]      notifications/s (pgbench -R)
#   BENCH_FANOUT_SECS [10]      seconds of rated fan-out
#   BENCH_MANY_N [10000]        subscribers of one channel, many-subscriber
#   BENCH_MANY_RATE [5]         fan-out at this many notifications/s
#   BENCH_MANY_SECS [5]         for this many seconds (BENCH_MANY_N=0: skip it)
#   BENCH_SAT_N [200]           subscribers, saturated fan-out
#   BENCH_SAT_TX [4000]         notifications per pgbench client, saturated
#   BENCH_SAT_CLIENTS [2]       pgbench clients, saturated (no -R)
#   BENCH_ECHO_N [50]           rw writers, each on its own channel
#   BENCH_ECHO_SECS [5]         seconds of echo
#   BENCH_INGEST_N [50]         rw writers with BENCH_INGEST_WINDOW messages
#   BENCH_INGEST_WINDOW [32]    in flight each (ingest: NOTIFY batching)
#   BENCH_INGEST_SECS [5]       seconds of ingest
#   BENCH_STARTUP_REPS [5]      start-ups timed (median reported)
#   BENCH_DISPATCH_SECS [1]     seconds per payload in the dispatch microbenchmark
#   BENCH_POLL [1]              also run pgws with PGWS_EVENT_BACKEND=poll
#                               where the backend matters (0: epoll only)
#   BENCH_PY_N [50]             readers of the ws/wss/SSE fan-out rows (pyclient.py)
#   BENCH_PY_RATE [50]          notifications/s to them
#   BENCH_PY_SECS [5]           for this many seconds (BENCH_PY_N=0: skip them)
#   BENCH_PUB_N [20]            keep-alive connections POSTing (HTTP publish)
#   BENCH_PUB_SECS [5]          seconds of HTTP publish (BENCH_PUB_N=0: skip it)
#   BENCH_DBTLS [1]             also run ingest with pgws's database connection
#                               over TLS (PGSSLMODE=require; the bench cluster
#                               has ssl=on, plain connections still allowed)
#   BENCH_BASE [unset]          another pgws binary (e.g. from before a
#                               refactor), run as column "base" on the rated
#                               and saturated fan-outs and on ingest
#   PGWS_PEER [/work/shared/peers/node-bridge]   the peer's sources
#   BENCH_KEEP [unset]          keep the temporary directory (logs)
#
# Needs: PostgreSQL server binaries + pgbench + psql, node + npm, cc, openssl,
# /usr/bin/python3 with python3-websockets (bench/pyclient.py).
set -u
BENCH=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$BENCH/.." && pwd)
PEER_SRC=${PGWS_PEER:-/work/shared/peers/node-bridge}
IDLE_N=${BENCH_IDLE_N:-15000}
TRK_N=${BENCH_TRICKLE_IDLE_N:-15000}
TRK_RATE=${BENCH_TRICKLE_RATE:-10}
TRK_SECS=${BENCH_TRICKLE_SECS:-10}
TRK_BASE=${BENCH_TRICKLE_BASE:-1}
TRK_BASE_SECS=${BENCH_TRICKLE_BASE_SECS:-5}
MERGED=
[ "$TRK_N" -gt 0 ] && [ "$TRK_N" = "$IDLE_N" ] && MERGED=1
MAX_IDLE=$((IDLE_N > TRK_N ? IDLE_N : TRK_N))
FAN_N=${BENCH_FANOUT_N:-2000}
FAN_RATE=${BENCH_FANOUT_RATE:-50}
FAN_SECS=${BENCH_FANOUT_SECS:-10}
MANY_N=${BENCH_MANY_N:-10000}
MANY_RATE=${BENCH_MANY_RATE:-5}
MANY_SECS=${BENCH_MANY_SECS:-5}
MAX_IDLE=$((MAX_IDLE > MANY_N ? MAX_IDLE : MANY_N))
SAT_N=${BENCH_SAT_N:-200}
SAT_TX=${BENCH_SAT_TX:-4000}
SAT_CLIENTS=${BENCH_SAT_CLIENTS:-2}
ECHO_N=${BENCH_ECHO_N:-50}
ECHO_SECS=${BENCH_ECHO_SECS:-5}
INGEST_N=${BENCH_INGEST_N:-50}
INGEST_WINDOW=${BENCH_INGEST_WINDOW:-32}
INGEST_SECS=${BENCH_INGEST_SECS:-5}
STARTUP_REPS=${BENCH_STARTUP_REPS:-5}
DISPATCH_SECS=${BENCH_DISPATCH_SECS:-1}
PY_N=${BENCH_PY_N:-50}
PY_RATE=${BENCH_PY_RATE:-50}
PY_SECS=${BENCH_PY_SECS:-5}
PUB_N=${BENCH_PUB_N:-20}
PUB_SECS=${BENCH_PUB_SECS:-5}
DBTLS=${BENCH_DBTLS:-1}
BASE=${BENCH_BASE:-}
[ -z "$BASE" ] || [ -x "$BASE" ] || { echo "bench: BENCH_BASE=$BASE is not executable" >&2; exit 1; }
PY=/usr/bin/python3   # Debian's, with python3-websockets
SECRET=reallyreallyreallyreallyverysafe
LISTEN=postgres-websockets-listener
SERVERS="pgws peer"              # everywhere: pgws = pgws, epoll backend
ALL="pgws pgws-poll peer"       # where the backend matters
[ "${BENCH_POLL:-1}" = 0 ] && ALL=$SERVERS
WB=$ALL; IB=$SERVERS   # fan-outs and ingest: with the base binary too
[ -n "$BASE" ] && WB="$ALL base" IB="$SERVERS base"
# The backend is chosen on pgws's command line (server_cmd), never exported:
# nothing else, the peer included, sees PGWS_EVENT_BACKEND.
unset PGWS_EVENT_BACKEND

T0=$(date +%s)
say() { echo "bench: [$(($(date +%s) - ${T0:-$(date +%s)}))s] $*" >&2; }
fail() { say "$*"; exit 1; }

ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null
[ "$(ulimit -n)" -gt $((MAX_IDLE + 100)) ] ||
	fail "RLIMIT_NOFILE $(ulimit -n) is too low for $MAX_IDLE idle websockets"

WORK=$(mktemp -d /tmp/pgws-bench.XXXXXX) || exit 1
SRV_PID= LG_PID= IDLE_PID= PERF_PID=
cleanup() {
	trap - EXIT INT TERM
	[ -n "$PERF_PID" ] && kill -INT "$PERF_PID" 2>/dev/null && wait "$PERF_PID" 2>/dev/null
	[ -n "$IDLE_PID" ] && kill "$IDLE_PID" 2>/dev/null && wait "$IDLE_PID" 2>/dev/null
	[ -n "$LG_PID" ] && kill "$LG_PID" 2>/dev/null && wait "$LG_PID" 2>/dev/null
	[ -n "$SRV_PID" ] && kill "$SRV_PID" 2>/dev/null && wait "$SRV_PID" 2>/dev/null
	command -v pg_stop >/dev/null && pg_stop
	if [ -n "${BENCH_KEEP:-}" ]; then say "logs kept in $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- build -------------------------------------------------------------------
say "building pgws, loadgen, dispatch"
make -s -C "$ROOT" pgws >&2 || fail "make pgws failed"
cc -O2 -std=c11 -Wall -o "$WORK/loadgen" "$BENCH/loadgen.c" || fail "loadgen build failed"
# dispatch is built like pgws (musl, -Os) when musl-gcc is there
if command -v musl-gcc >/dev/null; then
	musl-gcc -Os -std=c11 -D_DEFAULT_SOURCE -static -o "$WORK/dispatch" "$BENCH/dispatch.c" -lm
else
	cc -Os -std=c11 -D_DEFAULT_SOURCE -o "$WORK/dispatch" "$BENCH/dispatch.c" -lm
fi || fail "dispatch build failed"
LG=$WORK/loadgen

say "installing the peer from $PEER_SRC"
command -v node >/dev/null || fail "node is not installed"
cp -r "$PEER_SRC" "$WORK/peer" && rm -rf "$WORK/peer/node_modules"
(cd "$WORK/peer" && npm install --no-audit --no-fund --silent >"$WORK/npm.log" 2>&1) ||
	{ cat "$WORK/npm.log" >&2; fail "npm install failed"; }

# --- database ----------------------------------------------------------------
. "$ROOT/tests/pg.sh"
pg_start || fail "could not start PostgreSQL"
command -v pgbench >/dev/null || fail "pgbench is not installed"
# TLS: one test CA and server certificate (localhost, 127.0.0.1) made by
# openssl now; the cluster serves TLS with it (ssl=on: pg_hba's host lines
# match both, so the plain rows stay plain), and so does pgws-wss.
PKI=$WORK/pki
mkdir -p "$PKI" && pg_tls_certs "$PKI" || fail "openssl certificates"
chmod 755 "$WORK" "$PKI" && chown postgres "$PKI"/server.key 2>/dev/null
chmod 600 "$PKI"/server.key
if [ "$DBTLS" = 1 ]; then
	psql -qX "$PGWS_TEST_URI" -c "ALTER SYSTEM SET ssl_cert_file = '$PKI/server.crt'" \
	    -c "ALTER SYSTEM SET ssl_key_file = '$PKI/server.key'" -c "ALTER SYSTEM SET ssl = on" \
	    -c "SELECT pg_reload_conf()" >/dev/null || fail "ssl=on"
	sleep 0.5
	[ "$(psql -qXAt "$PGWS_TEST_URI?sslmode=require" -c "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()")" = t ] ||
		fail "the bench cluster does not serve TLS"
fi
# libpq's default (sslmode=prefer) would now take TLS: every client but the
# TLS row's pgws (PGSSLMODE=require on its command line) stays plain, as
# before ssl=on: pgws, the base binary, psql, pgbench (and node-postgres).
export PGSSLMODE=disable
DBN=0
fresh_db() {   # sets DB_URI to a new, empty database with bench_seq
	DBN=$((DBN + 1))
	psql -qX "$PGWS_TEST_URI" -c "CREATE DATABASE bench_$DBN" >/dev/null || fail "createdb"
	DB_URI="postgres://postgres@127.0.0.1:$PG_PORT/bench_$DBN"
	psql -qX "$DB_URI" -c "CREATE SEQUENCE bench_seq" >/dev/null
}
cat >"$WORK/notify.sql" <<EOF
SELECT pg_notify('$LISTEN', json_build_object('channel','bench','t',(extract(epoch from clock_timestamp())*1e6)::bigint,'i',nextval('bench_seq'))::text);
EOF
sent_count() { psql -qXAt "$DB_URI" -c "SELECT CASE WHEN is_called THEN last_value ELSE 0 END FROM bench_seq"; }

# --- servers -----------------------------------------------------------------
TOKEN_R=$(PGWS_JWT_SECRET=$SECRET "$ROOT/pgws" token --mode r) || fail "pgws token"
TOKEN_RW=$(PGWS_JWT_SECRET=$SECRET "$ROOT/pgws" token --mode rw) || fail "pgws token"
server_cmd() {   # server_cmd KIND: the argv that runs it
	case $1 in
	pgws) echo "env PGWS_EVENT_BACKEND=epoll $ROOT/pgws" ;;
	pgws-poll) echo "env PGWS_EVENT_BACKEND=poll $ROOT/pgws" ;;
	pgws-dbtls) echo "env PGSSLMODE=require PGWS_EVENT_BACKEND=epoll $ROOT/pgws" ;;
	pgws-wss) echo "env PGWS_CERTIFICATE_FILE=$PKI/server.crt PGWS_KEY_FILE=$PKI/server.key PGWS_EVENT_BACKEND=epoll $ROOT/pgws" ;;
	base) echo "env PGWS_EVENT_BACKEND=epoll $BASE" ;;
	peer) echo "node $WORK/peer/server.js" ;;
	esac
}
server_env() {   # the same configuration for both
	export PGWS_DB_URI=$DB_URI PGWS_JWT_SECRET=$SECRET PGWS_HOST=127.0.0.1 \
	    PGWS_PORT=$PORT PGWS_MAX_CONNECTIONS=$((MAX_IDLE + 1000 > 20000 ? MAX_IDLE + 1000 : 20000))
}
bench_port() {   # a free port below the ephemeral range, which loadgen fills up
	local p
	for p in $(shuf -i 20000-32000 -n 100); do
		(exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null && continue
		ss -Htan "sport = :$p" 2>/dev/null | grep -q . && continue
		echo "$p"
		return 0
	done
	free_port
}
start_server() {   # start_server KIND: fresh db, fresh process; sets SRV_PID PORT
	fresh_db
	PORT=$(bench_port)
	server_env
	: >"$WORK/$1.out"   # here, not in the background child: no stale line
	# shellcheck disable=SC2046
	$(server_cmd "$1") >"$WORK/$1.out" 2>>"$WORK/$1.err" &
	SRV_PID=$!
	for _ in $(seq 300); do
		grep -q "Listening on port" "$WORK/$1.out" 2>/dev/null && return 0
		kill -0 "$SRV_PID" 2>/dev/null || break
		sleep 0.1
	done
	tail -5 "$WORK/$1.err" >&2
	fail "$1 did not start"
}
stop_server() {
	kill "$SRV_PID" 2>/dev/null
	wait "$SRV_PID" 2>/dev/null
	SRV_PID=
}
CLK_TCK=$(getconf CLK_TCK)
cpu_us() {   # utime+stime of SRV_PID (all threads), µs
	local t
	t=$(sed 's/^.*) //' "/proc/$SRV_PID/stat" | awk '{print $12 + $13}')
	echo $((t * 1000000 / CLK_TCK))
}
rss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$SRV_PID/status"; }

start_lg() {   # start_lg OUTFILE ARGS...: loadgen in the background; sets LG_PID
	local out=$1
	shift
	"$LG" "$@" >"$out" 2>>"$WORK/loadgen.err" &
	LG_PID=$!
}
wait_line() {   # wait_line FILE PATTERN SECONDS
	local i
	for i in $(seq $(($3 * 10))); do
		grep -q "$2" "$1" 2>/dev/null && return 0
		kill -0 "$LG_PID" 2>/dev/null || { grep -q "$2" "$1"; return; }
		sleep 0.1
	done
	return 1
}
stop_lg() {
	kill "$LG_PID" 2>/dev/null
	wait "$LG_PID" 2>/dev/null
	LG_PID=
}
get() { awk -v k="$2" '$1 == "RESULT" && $2 == k {print $3}' "$1"; }

# results: R[kind.key]
declare -A R
put() { R[$1.$2]=$3; }

# --- scenarios ---------------------------------------------------------------
footprint() {   # binary size, start-up time, idle RSS
	local k=$1 f
	if [ "$k" = pgws ]; then
		strip -o "$WORK/pgws.stripped" "$ROOT/pgws" 2>/dev/null || cp "$ROOT/pgws" "$WORK/pgws.stripped"
		put "$k" binary_kb $(($(stat -c %s "$WORK/pgws.stripped") / 1024))
	else
		local node_b app_b
		node_b=$(stat -L -c %s "$(command -v node)")
		app_b=$(du -sb "$WORK/peer" | cut -f1)
		put "$k" binary_kb $(((node_b + app_b) / 1024))
	fi
	fresh_db
	PORT=$(bench_port)
	server_env
	f=$WORK/$k.startup
	# shellcheck disable=SC2046
	"$LG" startup "$STARTUP_REPS" -- $(server_cmd "$k") >"$f" 2>>"$WORK/$k.err"
	put "$k" startup_ms "$(get "$f" startup_ms_median)"
}

idle() {
	local k=$1 f=$WORK/$1.idle r0 r1 open
	start_server "$k"
	sleep 1
	r0=$(rss_kb)
	put "$k" idle_rss_kb "$r0"
	start_lg "$f" idle "$IDLE_N" --port "$PORT" --token "$TOKEN_R" --channel idle --duration 300
	wait_line "$f" '^READY' 200 || say "$k: idle websockets never all up"
	sleep 2
	r1=$(rss_kb)
	open=$(sed -n 's/^READY open=\([0-9]*\).*/\1/p' "$f")
	put "$k" idle_open "${open:-0}"
	put "$k" idle_connect_ms "$(sed -n 's/^READY.* ms=\([0-9]*\).*/\1/p' "$f")"
	[ "${open:-0}" -gt 0 ] && put "$k" idle_kb_per_ws "$(awk -v a="$r0" -v b="$r1" -v n="$open" 'BEGIN{printf "%.2f", (b-a)/n}')"
	put "$k" idle_rss_loaded_kb "$r1"
	stop_lg
	stop_server
}

fanout() {   # fanout KIND TAG N PGBENCH-ARGS...
	local k=$1 tag=$2 n=$3 f=$WORK/$1.$2 c0 c1 sent del
	shift 3
	start_server "$k"
	start_lg "$f" fanout "$n" --port "$PORT" --token "$TOKEN_R" --channel bench \
	    --quiet-ms 3000 --duration 600 --hold 1
	wait_line "$f" '^READY' 120 || say "$k: subscribers never all up"
	sleep 1
	c0=$(cpu_us)
	pgbench -n -f "$WORK/notify.sql" "$@" "$DB_URI" >"$WORK/$k.$tag.pgbench" 2>&1 ||
		say "$k: pgbench failed: $(tail -2 "$WORK/$k.$tag.pgbench")"
	wait_line "$f" '^DONE' 300 || say "$k: fan-out never went quiet"
	c1=$(cpu_us)
	stop_lg
	stop_server
	sent=$(sent_count)
	del=$(get "$f" delivered)
	put "$k" "${tag}_sent" "$sent"
	put "$k" "${tag}_expected" $((sent * n))
	put "$k" "${tag}_delivered" "$del"
	put "$k" "${tag}_missing" $((sent * n - ${del:-0}))
	put "$k" "${tag}_per_s" "$(get "$f" deliveries_per_s)"
	put "$k" "${tag}_p50_ms" "$(awk -v v="$(get "$f" lat_p50_us)" 'BEGIN{printf "%.2f", v/1000}')"
	put "$k" "${tag}_p99_ms" "$(awk -v v="$(get "$f" lat_p99_us)" 'BEGIN{printf "%.2f", v/1000}')"
	put "$k" "${tag}_max_ms" "$(awk -v v="$(get "$f" lat_max_us)" 'BEGIN{printf "%.2f", v/1000}')"
	put "$k" "${tag}_cpu_us" "$(awk -v c=$((c1 - c0)) -v d="${del:-0}" 'BEGIN{printf "%.3f", d ? c/d : 0}')"
	put "$k" "${tag}_lg_cpu" "$(get "$f" loadgen_cpu_pct)"
	put "$k" "${tag}_dropped" "$(get "$f" closed_by_server)"
}

echo_() {   # echo_ KIND TAG N WINDOW SECS
	local k=$1 tag=$2 f=$WORK/$1.$2 c0 c1 rt
	start_server "$k"
	c0=$(cpu_us)
	"$LG" echo "$3" --port "$PORT" --token "$TOKEN_RW" --channel e \
	    --window "$4" --duration "$5" >"$f" 2>>"$WORK/loadgen.err"
	c1=$(cpu_us)
	# the server's database connections now, and how many of them are TLS
	put "$k" "${tag}_dbtls" "$(psql -qXAt "$PGWS_TEST_URI" -c "SELECT count(*) FILTER (WHERE s.ssl) || ' of ' || count(*)
	    FROM pg_stat_activity a JOIN pg_stat_ssl s USING (pid) WHERE a.datname = 'bench_$DBN'")"
	stop_server
	rt=$(get "$f" round_trips)
	put "$k" "${tag}_per_s" "$(get "$f" round_trips_per_s)"
	put "$k" "${tag}_p50_ms" "$(awk -v v="$(get "$f" lat_p50_us)" 'BEGIN{printf "%.2f", v/1000}')"
	put "$k" "${tag}_p99_ms" "$(awk -v v="$(get "$f" lat_p99_us)" 'BEGIN{printf "%.2f", v/1000}')"
	put "$k" "${tag}_cpu_us" "$(awk -v c=$((c1 - c0)) -v d="${rt:-0}" 'BEGIN{printf "%.1f", d ? c/d : 0}')"
	put "$k" "${tag}_lg_cpu" "$(get "$f" loadgen_cpu_pct)"
}

# Counts the loop's turns (poll for pgws; epoll_wait/epoll_pwait for the
# peer's libuv) and CPU time (task-clock) of SRV_PID, from perf_start to
# perf_stop.  Falls back to strace -c (syscalls) and /proc ticks (CPU).
TURN_SC="poll epoll_wait epoll_pwait epoll_pwait2"
PERF_OK=
if command -v perf >/dev/null &&
	perf stat -e syscalls:sys_enter_poll -o /dev/null -- true 2>/dev/null; then
	PERF_OK=1
fi
perf_start() {   # perf_start OUTFILE
	local ev=task-clock s
	if [ -n "$PERF_OK" ]; then
		for s in $TURN_SC; do
			[ -d "/sys/kernel/tracing/events/syscalls/sys_enter_$s" ] ||
			    [ -d "/sys/kernel/debug/tracing/events/syscalls/sys_enter_$s" ] &&
			    ev="$ev,syscalls:sys_enter_$s"
		done
		perf stat -x, -e "$ev" -p "$SRV_PID" -o "$1" 2>>"$WORK/perf.err" &
	else
		strace -c -f -p "$SRV_PID" -e trace="${TURN_SC// /,}" -o "$1" 2>>"$WORK/perf.err" &
	fi
	PERF_PID=$!
	sleep 0.3   # attached
}
perf_stop() {
	kill -INT "$PERF_PID" 2>/dev/null
	wait "$PERF_PID" 2>/dev/null
	PERF_PID=
}
perf_turns() {   # perf_turns FILE KIND: loop turns counted
	# pgws's turn is one poll() under both backends (with epoll, the epoll
	# descriptor is in that poll() set, and epoll_wait runs when it is ready);
	# the peer's (libuv) is one epoll_wait/epoll_pwait.
	local sc=$TURN_SC
	case $2 in pgws*) sc=poll ;; *) sc=${TURN_SC#poll } ;; esac
	if [ -n "$PERF_OK" ]; then
		awk -F, -v l="$sc" 'BEGIN {split(l, a, " "); for (i in a) w["syscalls:sys_enter_" a[i]] = 1}
		    ($3 in w) {n += $1} END {print n + 0}' "$1"
	else
		awk -v l="$sc" 'BEGIN {split(l, a, " "); for (i in a) w[a[i]] = 1}
		    ($NF in w) && $4 ~ /^[0-9]+$/ {n += $4} END {print n + 0}' "$1"
	fi
}
perf_cpu_us() {   # perf_cpu_us FILE: task-clock µs (empty without perf)
	[ -n "$PERF_OK" ] && awk -F, '$3 == "task-clock" {printf "%.0f", $1 * 1000}' "$1"
}

trickle() {   # trickle KIND TAG NIDLE SECS: NIDLE idle websockets + 1 subscriber, rated trickle
	local k=$1 tag=$2 n=$3 secs=$4 f=$WORK/$1.$2 fi=$WORK/$1.$2.idle fp=$WORK/$1.$2.perf
	local r0 r1 open c0 c1 w0 w1 cpu turns del wall
	start_server "$k"
	sleep 1
	r0=$(rss_kb)
	if [ "$n" -gt 0 ]; then
		"$LG" idle "$n" --port "$PORT" --token "$TOKEN_R" --channel idle --duration 600 \
		    >"$fi" 2>>"$WORK/loadgen.err" &
		IDLE_PID=$!
		for _ in $(seq 600); do
			grep -q '^READY' "$fi" 2>/dev/null && break
			kill -0 "$IDLE_PID" 2>/dev/null || break
			sleep 0.1
		done
		grep -q '^READY' "$fi" || say "$k: idle websockets never all up"
		sleep 1
		open=$(sed -n 's/^READY open=\([0-9]*\).*/\1/p' "$fi")
		r1=$(rss_kb)
		put "$k" "${tag}_idle_open" "${open:-0}"
		[ "${open:-0}" -gt 0 ] && put "$k" "${tag}_kb_per_ws" \
		    "$(awk -v a="$r0" -v b="$r1" -v n="$open" 'BEGIN{printf "%.2f", (b-a)/n}')"
		if [ "$tag" = trk ] && [ -n "$MERGED" ]; then   # the idle scenario's rows
			put "$k" idle_rss_kb "$r0"
			put "$k" idle_open "${open:-0}"
			put "$k" idle_connect_ms "$(sed -n 's/^READY.* ms=\([0-9]*\).*/\1/p' "$fi")"
			put "$k" idle_kb_per_ws "${R[$k.${tag}_kb_per_ws]:-}"
			put "$k" idle_rss_loaded_kb "$r1"
		fi
	fi
	start_lg "$f" fanout 1 --port "$PORT" --token "$TOKEN_R" --channel bench \
	    --quiet-ms 2000 --duration 120 --hold 1
	wait_line "$f" '^READY' 30 || say "$k: trickle subscriber never up"
	sleep 1
	w0=$(date +%s%N) c0=$(cpu_us)
	perf_start "$fp"
	pgbench -n -f "$WORK/notify.sql" -c 1 -R "$TRK_RATE" -T "$secs" "$DB_URI" \
	    >"$WORK/$k.$tag.pgbench" 2>&1 ||
		say "$k: pgbench failed: $(tail -2 "$WORK/$k.$tag.pgbench")"
	wait_line "$f" '^DONE' 60 || say "$k: trickle never went quiet"
	perf_stop
	c1=$(cpu_us) w1=$(date +%s%N)
	stop_lg
	if [ -n "$IDLE_PID" ]; then
		kill "$IDLE_PID" 2>/dev/null
		wait "$IDLE_PID" 2>/dev/null
		IDLE_PID=
	fi
	stop_server
	cpu=$(perf_cpu_us "$fp")
	[ -n "$cpu" ] || cpu=$((c1 - c0))
	turns=$(perf_turns "$fp" "$k")
	del=$(get "$f" delivered)
	wall=$(((w1 - w0) / 1000))
	put "$k" "${tag}_sent" "$(sent_count)"
	put "$k" "${tag}_delivered" "${del:-0}"
	put "$k" "${tag}_cpu_pct" "$(awk -v c="$cpu" -v w="$wall" 'BEGIN{printf "%.2f", w ? 100*c/w : 0}')"
	put "$k" "${tag}_cpu_us" "$(awk -v c="$cpu" -v d="${del:-0}" 'BEGIN{printf "%.0f", d ? c/d : 0}')"
	put "$k" "${tag}_p50_ms" "$(awk -v v="$(get "$f" lat_p50_us)" 'BEGIN{printf "%.2f", v/1000}')"
	put "$k" "${tag}_p99_ms" "$(awk -v v="$(get "$f" lat_p99_us)" 'BEGIN{printf "%.2f", v/1000}')"
	put "$k" "${tag}_turns" "$turns"
	put "$k" "${tag}_us_per_turn" "$(awk -v c="$cpu" -v t="$turns" 'BEGIN{printf "%.0f", t ? c/t : 0}')"
}

pyfan() {   # pyfan KIND TAG ws|wss|sse: PY_N pyclient.py readers, rated notifications
	local k=$1 tag=$2 f=$WORK/$1.$2 c0 c1 sent del
	start_server "$k"
	"$PY" "$BENCH/pyclient.py" fanout "$3" "$PY_N" --port "$PORT" --token "$TOKEN_R" \
	    --channel bench --quiet-ms 3000 --duration 120 >"$f" 2>>"$WORK/pyclient.err" &
	LG_PID=$!
	wait_line "$f" '^READY' 90 || say "$k: $3 readers never all up"
	sleep 1
	c0=$(cpu_us)
	pgbench -n -f "$WORK/notify.sql" -c 1 -R "$PY_RATE" -T "$PY_SECS" "$DB_URI" \
	    >"$WORK/$k.$tag.pgbench" 2>&1 ||
		say "$k: pgbench failed: $(tail -2 "$WORK/$k.$tag.pgbench")"
	wait_line "$f" '^DONE' 120 || say "$k: $3 fan-out never went quiet"
	c1=$(cpu_us)
	wait "$LG_PID" 2>/dev/null
	LG_PID=
	stop_server
	sent=$(sent_count)
	del=$(get "$f" delivered)
	put "$k" "${tag}_open" "$(sed -n 's/^READY open=\([0-9]*\).*/\1/p' "$f")"
	put "$k" "${tag}_missing" $((sent * PY_N - ${del:-0}))
	put "$k" "${tag}_per_s" "$(get "$f" deliveries_per_s)"
	put "$k" "${tag}_p50_ms" "$(awk -v v="$(get "$f" lat_p50_us)" 'BEGIN{printf "%.2f", v/1000}')"
	put "$k" "${tag}_p99_ms" "$(awk -v v="$(get "$f" lat_p99_us)" 'BEGIN{printf "%.2f", v/1000}')"
	put "$k" "${tag}_cpu_us" "$(awk -v c=$((c1 - c0)) -v d="${del:-0}" 'BEGIN{printf "%.2f", d ? c/d : 0}')"
}

publish_() {   # publish_ KIND: PUB_N keep-alive connections POST for PUB_SECS
	local k=$1 f=$WORK/$1.pub c0 c1 rq
	start_server "$k"
	c0=$(cpu_us)
	"$PY" "$BENCH/pyclient.py" publish "$PUB_N" --port "$PORT" --token "$TOKEN_RW" \
	    --channel pub --duration "$PUB_SECS" >"$f" 2>>"$WORK/pyclient.err"
	c1=$(cpu_us)
	stop_server
	rq=$(get "$f" requests)
	put "$k" pub_per_s "$(get "$f" requests_per_s)"
	put "$k" pub_errors "$(get "$f" errors)"
	put "$k" pub_p50_ms "$(awk -v v="$(get "$f" lat_p50_us)" 'BEGIN{printf "%.2f", v/1000}')"
	put "$k" pub_p99_ms "$(awk -v v="$(get "$f" lat_p99_us)" 'BEGIN{printf "%.2f", v/1000}')"
	put "$k" pub_cpu_us "$(awk -v c=$((c1 - c0)) -v d="${rq:-0}" 'BEGIN{printf "%.1f", d ? c/d : 0}')"
}

T1=$(date +%s)
for k in $SERVERS; do say "$k: footprint";   footprint "$k"; done
[ -n "$MERGED" ] || for k in $SERVERS; do say "$k: idle $IDLE_N"; idle "$k"; done
if [ "$TRK_N" -gt 0 ]; then
	for k in $ALL; do
		say "$k: idle $TRK_N + trickle ${TRK_RATE}/s for ${TRK_SECS}s"
		trickle "$k" trk "$TRK_N" "$TRK_SECS"
	done
fi
if [ "$TRK_BASE" = 1 ]; then
	for k in $ALL; do
		say "$k: idle 0 + trickle ${TRK_RATE}/s for ${TRK_BASE_SECS}s (baseline)"
		trickle "$k" trk0 0 "$TRK_BASE_SECS"
	done
fi
for k in $WB; do
	say "$k: fan-out $FAN_N x $FAN_RATE/s for ${FAN_SECS}s"
	fanout "$k" fan "$FAN_N" -c 1 -R "$FAN_RATE" -T "$FAN_SECS"
done
if [ "$MANY_N" -gt 0 ]; then
	for k in $ALL; do
		say "$k: fan-out $MANY_N x $MANY_RATE/s for ${MANY_SECS}s"
		fanout "$k" many "$MANY_N" -c 1 -R "$MANY_RATE" -T "$MANY_SECS"
	done
fi
for k in $WB; do
	say "$k: saturated fan-out $SAT_N x $((SAT_TX * SAT_CLIENTS)) notifications"
	fanout "$k" sat "$SAT_N" -c "$SAT_CLIENTS" -t "$SAT_TX"
done
for k in $SERVERS; do
	say "$k: echo $ECHO_N writers ${ECHO_SECS}s"
	echo_ "$k" echo "$ECHO_N" 1 "$ECHO_SECS"
done
[ "$DBTLS" = 1 ] && IB="$IB pgws-dbtls"
for k in $IB; do
	say "$k: ingest $INGEST_N writers x $INGEST_WINDOW in flight ${INGEST_SECS}s"
	echo_ "$k" ingest "$INGEST_N" "$INGEST_WINDOW" "$INGEST_SECS"
done
if [ "$PY_N" -gt 0 ]; then
	for t in ws sse; do
		say "pgws: $t fan-out $PY_N pyclient readers x $PY_RATE/s for ${PY_SECS}s"
		pyfan pgws "py$t" "$t"
	done
	say "pgws-wss: wss fan-out $PY_N pyclient readers x $PY_RATE/s for ${PY_SECS}s"
	pyfan pgws-wss pywss wss
fi
if [ "$PUB_N" -gt 0 ]; then
	say "pgws: HTTP publish $PUB_N keep-alive connections ${PUB_SECS}s"
	publish_ pgws
fi
say "dispatch microbenchmark"
"$WORK/dispatch" "$DISPATCH_SECS" >"$WORK/dispatch.out"

# --- table -------------------------------------------------------------------
BCOL=   # the base column, with BENCH_BASE only
[ -n "$BASE" ] && BCOL=1
row() {   # row SCENARIO METRIC KEY [KIND]: KIND's value in the pgws (epoll) column
	local a=${R[${4:-pgws}.$3]:-} p=${R[pgws-poll.$3]:-} b=${R[peer.$3]:-} ratio
	[ -n "${4:-}" ] && p= b=
	ratio=$(awk -v a="$a" -v b="$b" 'BEGIN{ if (a == "" || b == "" || b + 0 == 0) print "-"; else printf "%.3g", a / b }')
	if [ -n "$BCOL" ]; then
		local c=${R[base.$3]:-}
		[ -n "${4:-}" ] && c=
		printf '| %s | %s | %s | %s | %s | %s | %s |\n' "$1" "$2" "${a:--}" "${p:--}" "${b:--}" "$ratio" "${c:--}"
	else
		printf '| %s | %s | %s | %s | %s | %s |\n' "$1" "$2" "${a:--}" "${p:--}" "${b:--}" "$ratio"
	fi
}
sent3() {   # sent3 KEY: "pgws A / B / peer C", what each was sent
	echo "epoll ${R[pgws.$1]:-?} / poll ${R[pgws-poll.$1]:-?} / peer ${R[peer.$1]:-?}"
}
FAN="fan-out $FAN_N x ${FAN_RATE}/s ${FAN_SECS}s"
SAT="fan-out saturated $SAT_N x $((SAT_TX * SAT_CLIENTS))"
echo
if [ -n "$BCOL" ]; then
	echo "| scenario | metric | pgws (epoll) | pgws (poll) | peer | ratio | base |"
	echo "|---|---|---|---|---|---|---|"
else
	echo "| scenario | metric | pgws (epoll) | pgws (poll) | peer | ratio |"
	echo "|---|---|---|---|---|---|"
fi
row footprint "binary KB (pgws stripped static; peer node + app)" binary_kb
row footprint "start-up to \"Listening on port\" ms (median of $STARTUP_REPS)" startup_ms
row footprint "idle RSS KB" idle_rss_kb
row "idle $IDLE_N" "websockets open" idle_open
row "idle $IDLE_N" "RSS growth per websocket KB" idle_kb_per_ws
row "idle $IDLE_N" "time to open all ms" idle_connect_ms
for t in trk trk0; do
	if [ $t = trk ]; then
		[ "$TRK_N" -gt 0 ] || continue
		TRK="idle $TRK_N + trickle ${TRK_RATE}/s ${TRK_SECS}s"
	else
		[ "$TRK_BASE" = 1 ] || continue
		TRK="idle 0 + trickle ${TRK_RATE}/s ${TRK_BASE_SECS}s"
	fi
	if [ $t = trk ] && [ -z "$MERGED" ]; then
		row "$TRK" "idle websockets open" trk_idle_open
		row "$TRK" "RSS growth per idle websocket KB" trk_kb_per_ws
	fi
	row "$TRK" "notifications delivered (of $(sent3 ${t}_sent) sent)" ${t}_delivered
	row "$TRK" "server CPU % of one core" ${t}_cpu_pct
	row "$TRK" "server CPU µs per notification delivered" ${t}_cpu_us
	row "$TRK" "latency p50 ms" ${t}_p50_ms
	row "$TRK" "latency p99 ms" ${t}_p99_ms
	row "$TRK" "loop turns (pgws poll(), both backends; peer epoll_pwait)" ${t}_turns
	row "$TRK" "server CPU µs per loop turn" ${t}_us_per_turn
done
row "$FAN" "deliveries/s" fan_per_s
row "$FAN" "latency p50 ms" fan_p50_ms
row "$FAN" "latency p99 ms" fan_p99_ms
row "$FAN" "latency max ms" fan_max_ms
row "$FAN" "missing deliveries (of $(sent3 fan_expected))" fan_missing
row "$FAN" "server CPU µs per delivery" fan_cpu_us
row "$FAN" "loadgen CPU %" fan_lg_cpu
if [ "$MANY_N" -gt 0 ]; then
	MANY="fan-out $MANY_N x ${MANY_RATE}/s ${MANY_SECS}s"
	row "$MANY" "deliveries/s" many_per_s
	row "$MANY" "latency p50 ms" many_p50_ms
	row "$MANY" "latency p99 ms" many_p99_ms
	row "$MANY" "latency max ms" many_max_ms
	row "$MANY" "missing deliveries (of $(sent3 many_expected))" many_missing
	row "$MANY" "server CPU µs per delivery" many_cpu_us
	row "$MANY" "loadgen CPU %" many_lg_cpu
fi
row "$SAT" "deliveries/s" sat_per_s
row "$SAT" "server CPU µs per delivery" sat_cpu_us
row "$SAT" "missing deliveries (of ${R[pgws.sat_expected]:-?})" sat_missing
row "$SAT" "clients dropped by server" sat_dropped
row "$SAT" "latency p99 ms (queueing)" sat_p99_ms
row "$SAT" "loadgen CPU %" sat_lg_cpu
row "echo $ECHO_N writers" "round trips/s" echo_per_s
row "echo $ECHO_N writers" "latency p50 ms" echo_p50_ms
row "echo $ECHO_N writers" "latency p99 ms" echo_p99_ms
row "echo $ECHO_N writers" "server CPU µs per round trip" echo_cpu_us
row "echo $ECHO_N writers" "loadgen CPU %" echo_lg_cpu
ING="ingest $INGEST_N writers x $INGEST_WINDOW in flight"
row "$ING" "messages/s (NOTIFYed and back)" ingest_per_s
row "$ING" "latency p99 ms" ingest_p99_ms
row "$ING" "server CPU µs per message" ingest_cpu_us
row "$ING" "loadgen CPU %" ingest_lg_cpu
if [ "$DBTLS" = 1 ]; then
	row "$ING, pgws's db connection over TLS" "messages/s (NOTIFYed and back)" ingest_per_s pgws-dbtls
	row "$ING, pgws's db connection over TLS" "latency p99 ms" ingest_p99_ms pgws-dbtls
	row "$ING, pgws's db connection over TLS" "server CPU µs per message" ingest_cpu_us pgws-dbtls
	row "$ING, pgws's db connection over TLS" "loadgen CPU %" ingest_lg_cpu pgws-dbtls
	row "$ING, pgws's db connection over TLS" "server's db connections on TLS (plain run: ${R[pgws.ingest_dbtls]:-?})" ingest_dbtls pgws-dbtls
fi
if [ "$PY_N" -gt 0 ]; then
	for t in ws wss sse; do
		k=pgws
		[ $t = wss ] && k=pgws-wss
		PYS="$t fan-out $PY_N pyclient readers x ${PY_RATE}/s ${PY_SECS}s"
		row "$PYS" "readers up" py${t}_open $k
		row "$PYS" "deliveries/s" py${t}_per_s $k
		row "$PYS" "missing deliveries" py${t}_missing $k
		row "$PYS" "latency p50 ms" py${t}_p50_ms $k
		row "$PYS" "latency p99 ms" py${t}_p99_ms $k
		row "$PYS" "server CPU µs per delivery" py${t}_cpu_us $k
	done
fi
if [ "$PUB_N" -gt 0 ]; then
	PUB="HTTP publish $PUB_N keep-alive connections ${PUB_SECS}s (pyclient)"
	row "$PUB" "requests/s (200 after PostgreSQL's ack)" pub_per_s
	row "$PUB" "failed requests" pub_errors
	row "$PUB" "latency p50 ms" pub_p50_ms
	row "$PUB" "latency p99 ms" pub_p99_ms
	row "$PUB" "server CPU µs per request" pub_cpu_us
fi
for c in bench_payload envelope payload_1k; do
	printf '| dispatch (pgws code only) | %s (%s B) notifications/s parsed+routed | %s | - | - | - |%s\n' \
	    "$c" "$(get "$WORK/dispatch.out" "dispatch_${c}_bytes")" "$(get "$WORK/dispatch.out" "dispatch_${c}_per_s")" "${BCOL:+ - |}"
done
echo
say "done: scenarios $(($(date +%s) - T1)) s, all $(($(date +%s) - T0)) s (ratio = pgws (epoll) / peer)"
