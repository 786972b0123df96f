#!/bin/bash
# Checks db.c against a real, throwaway PostgreSQL 15 cluster: LISTEN,
# payloads byte for byte, pipelined publishing in order, quoted channel
# names, listener supervision (killed and frozen backends), pool reconnection,
# batch failure handling, start-up retries, and multi-host strings whose
# first host never answers (connect_timeout per host, for the pool and the
# listener's reconnection).  Every wait is bounded; the
# cluster is stopped and removed on exit.  Run as root from anywhere.
set -u

PGBIN=${PGBIN:-/usr/lib/postgresql/15/bin}
cd "$(dirname "$0")/.." || exit 2
T=$(mktemp -d /tmp/pgws-dbtest.XXXXXX) || exit 2
DRIVE=$T/db_drive
PASS=0
FAIL=0
STOPPED=

cleanup() {
	[ -n "$STOPPED" ] && kill -CONT $STOPPED 2>/dev/null
	[ -s "$T/stopped" ] && kill -CONT $(cat "$T/stopped") 2>/dev/null
	jobs -p | xargs -r kill 2>/dev/null
	if [ -f "$T/data/postmaster.pid" ]; then
		runuser -u postgres -- "$PGBIN/pg_ctl" -D "$T/data" -m immediate \
		    -t 20 stop >/dev/null 2>&1
	fi
	if [ -n "${DB_TEST_KEEP:-}" ]; then echo "kept $T"; else rm -rf "$T"; fi
}
trap cleanup EXIT
trap 'exit 2' INT TERM

ok() { PASS=$((PASS + 1)); echo "ok   $1"; }
bad() {
	FAIL=$((FAIL + 1)); echo "FAIL $1"
	shift
	for f in "$@"; do [ -f "$f" ] && sed 's/^/     | /' "$f" | head -40; done
}

# free_port: a port nothing listens on, below the ephemeral range.
. tests/pg.sh

# wait_for FILE REGEX SECONDS: until a line of FILE matches.
wait_for() {
	local i
	for i in $(seq $(($3 * 10))); do
		grep -qE "$2" "$1" 2>/dev/null && return 0
		sleep 0.1
	done
	return 1
}

# waitpid_t PID SECONDS: wait for a background job, killing it when late.
waitpid_t() {
	local i
	for i in $(seq $(($2 * 10))); do
		kill -0 "$1" 2>/dev/null || break
		sleep 0.1
	done
	kill "$1" 2>/dev/null
	wait "$1"
}

# notify CHANNEL-LITERAL PAYLOAD-EXPR: SQL fragments, output discarded.
notify() { sql "SELECT pg_notify($1, $2)" >/dev/null; }

sql() {
	psql -X -q -At -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$PORT" -U postgres \
	    -d postgres -c "$1"
}

# Backends of db_drive's listener: its last query is LISTEN or the health
# check.  Test-only; pgws itself never looks at pg_stat_activity.
LISTENER_PIDS="SELECT pid FROM pg_stat_activity WHERE pid <> pg_backend_pid()
    AND (query LIKE 'LISTEN%' OR query LIKE '%pg_notification_queue_usage%')"

cc -std=c11 -Wall -Wextra -Werror -g -fsanitize=address,undefined \
    -D_DEFAULT_SOURCE -I. -I/usr/include/postgresql tests/db_drive.c db.c log.c metrics.c mcache.c \
    -o "$DRIVE" -lpq || { echo "build failed"; exit 1; }
export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1}

PORT=$(free_port) || { echo "no free port"; exit 2; }
chown postgres "$T"
runuser -u postgres -- "$PGBIN/initdb" -D "$T/data" -A trust -U postgres \
    -E UTF8 --no-locale >"$T/initdb.log" 2>&1 ||
    { cat "$T/initdb.log"; exit 2; }
runuser -u postgres -- "$PGBIN/pg_ctl" -D "$T/data" -l "$T/pg.log" -w -t 30 \
    -o "-c listen_addresses=127.0.0.1 -p $PORT -k $T -c fsync=off" start \
    >/dev/null || { cat "$T/pg.log"; exit 2; }
URI="postgresql://postgres@127.0.0.1:$PORT/postgres"
CH=postgres-websockets-listener

# 1. Notifications sent by psql, byte for byte; other channels ignored.
timeout 20 "$DRIVE" "$URI" listen 3 >"$T/l1.out" 2>"$T/l1.err" &
pid=$!
if wait_for "$T/l1.out" '^ready$' 10; then
	notify "'$CH'" "'x'"
	notify "'other'" "'not for us'"
	notify "'$CH'" "'quote '' dq \" bs \\ nl' || chr(10) || 'line2 🎉 ü'"
	notify "'$CH'" "''"
fi
waitpid_t $pid 20
rc=$?
P=$'quote \' dq " bs \\ nl\nline2 🎉 ü'
printf '%s\n' ready x "$P" "" >"$T/l1.want"
if [ $rc = 0 ] && cmp -s "$T/l1.out" "$T/l1.want"; then
	ok "listen: psql notifications, payloads byte for byte"
else
	bad "listen: psql notifications (rc $rc)" "$T/l1.out" "$T/l1.err"
fi

# 2. 1000 published messages arrive in order, none lost.
timeout 30 "$DRIVE" "$URI" listen 1000 >"$T/l2.out" 2>"$T/l2.err" &
pid=$!
wait_for "$T/l2.out" '^ready$' 10
timeout 30 "$DRIVE" "$URI" publish 1000 >"$T/p2.out" 2>"$T/p2.err"
prc=$?
waitpid_t $pid 30
rc=$?
{ echo ready; for i in $(seq 0 999); do echo "msg-$i"; done; } >"$T/l2.want"
if [ $rc = 0 ] && [ $prc = 0 ] && cmp -s "$T/l2.out" "$T/l2.want" &&
    grep -qx 'done published=1000 failed=0' "$T/p2.out"; then
	ok "publish: 1000 messages in order, none lost"
else
	bad "publish 1000 (rc $rc/$prc)" "$T/p2.out" "$T/p2.err" "$T/l2.err"
	diff "$T/l2.want" "$T/l2.out" | head -5
fi

# 3. A published payload arrives byte for byte.
printf 'it'"'"'s "q" \\ back\\slash\n\ttab 🎉 ü {"channel":"c"}' >"$T/payload"
timeout 20 "$DRIVE" "$URI" listen 1 >"$T/l3.out" 2>"$T/l3.err" &
pid=$!
wait_for "$T/l3.out" '^ready$' 10
timeout 20 "$DRIVE" "$URI" publishfile "$T/payload" >"$T/p3.out" 2>"$T/p3.err"
prc=$?
waitpid_t $pid 20
rc=$?
{ echo ready; cat "$T/payload"; echo; } >"$T/l3.want"
if [ $rc = 0 ] && [ $prc = 0 ] && cmp -s "$T/l3.out" "$T/l3.want"; then
	ok "publish: payload byte for byte"
else
	bad "publish payload (rc $rc/$prc)" "$T/l3.out" "$T/p3.out" "$T/p3.err"
fi

# 4. A channel name that needs quoting, for LISTEN and for pg_notify.
ODD='my "odd" channel'
DB_CHANNEL=$ODD timeout 20 "$DRIVE" "$URI" listen 2 >"$T/l4.out" 2>"$T/l4.err" &
pid=$!
if wait_for "$T/l4.out" '^ready$' 10; then
	notify "'my \"odd\" channel'" "'from-psql'"
	echo from-drive | DB_CHANNEL=$ODD timeout 20 "$DRIVE" "$URI" stdin \
	    >"$T/p4.out" 2>"$T/p4.err"
fi
waitpid_t $pid 20
rc=$?
printf '%s\n' ready from-psql from-drive >"$T/l4.want"
if [ $rc = 0 ] && cmp -s "$T/l4.out" "$T/l4.want" &&
    grep -qx 'done published=1 failed=0' "$T/p4.out"; then
	ok "channel needing quoting: LISTEN and pg_notify"
else
	bad "odd channel (rc $rc)" "$T/l4.out" "$T/l4.err" "$T/p4.out" "$T/p4.err"
fi

# 5. Supervision: listener backend terminated -> down, up, still delivers.
DB_CHECK_MS=500 timeout 30 "$DRIVE" "$URI" supervise >"$T/s5.out" 2>"$T/s5.err" &
pid=$!
if wait_for "$T/s5.out" '^ready$' 10; then
	sleep 0.3
	n=$(sql "SELECT count(pg_terminate_backend(pid)) FROM ($LISTENER_PIDS) s")
	wait_for "$T/s5.out" '^up$' 10 && notify "'$CH'" "'after'"
fi
waitpid_t $pid 20
rc=$?
printf '%s\n' ready down up after >"$T/s5.want"
if [ $rc = 0 ] && [ "${n:-}" = 1 ] && cmp -s "$T/s5.out" "$T/s5.want"; then
	ok "supervision: terminated listener comes back and delivers"
else
	bad "supervision terminate (rc $rc, killed ${n:-?})" "$T/s5.out" "$T/s5.err"
fi

# 6. Supervision: a frozen listener backend misses the health check deadline.
DB_CHECK_MS=500 timeout 30 "$DRIVE" "$URI" supervise >"$T/s6.out" 2>"$T/s6.err" &
pid=$!
if wait_for "$T/s6.out" '^ready$' 10; then
	sleep 0.3
	STOPPED=$(sql "$LISTENER_PIDS")
	[ -n "$STOPPED" ] && kill -STOP $STOPPED
	t0=$(date +%s.%N)
	wait_for "$T/s6.out" '^up$' 10 && notify "'$CH'" "'thawed'"
	t1=$(date +%s.%N)
	[ -n "$STOPPED" ] && kill -CONT $STOPPED
	STOPPED=
fi
waitpid_t $pid 20
rc=$?
printf '%s\n' ready down up thawed >"$T/s6.want"
if [ $rc = 0 ] && cmp -s "$T/s6.out" "$T/s6.want" &&
    grep -q 'no answer to the health check' "$T/s6.err"; then
	ok "supervision: frozen listener detected ($(echo "$t1 - $t0" | bc | cut -c1-4) s) and replaced"
else
	bad "supervision freeze (rc $rc)" "$T/s6.out" "$T/s6.err"
fi

# 7. Without supervision, listener loss is reported once and is final.
DB_CHECK_MS=0 timeout 20 "$DRIVE" "$URI" supervise >"$T/s7.out" 2>"$T/s7.err" &
pid=$!
if wait_for "$T/s7.out" '^ready$' 10; then
	n=$(sql "SELECT count(pg_terminate_backend(pid)) FROM ($LISTENER_PIDS) s")
fi
waitpid_t $pid 10
rc=$?
printf '%s\n' ready down >"$T/s7.want"
if [ $rc = 0 ] && cmp -s "$T/s7.out" "$T/s7.want"; then
	ok "no supervision: listener loss reported as down"
else
	bad "no supervision (rc $rc)" "$T/s7.out" "$T/s7.err"
fi

# 8. A pool backend terminated between publishes: later ones still arrive.
timeout 20 "$DRIVE" "$URI" listen 3 >"$T/l8.out" 2>"$T/l8.err" &
pid=$!
wait_for "$T/l8.out" '^ready$' 10
{
	echo one
	sleep 1
	sql "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
	    WHERE pid <> pg_backend_pid() AND query LIKE '%pg_catalog.pg_notify(\$1, p)%'" \
	    >"$T/k8.out"
	sleep 0.5
	echo two
	echo three
} | DB_POOL=1 timeout 20 "$DRIVE" "$URI" stdin >"$T/p8.out" 2>"$T/p8.err"
prc=$?
waitpid_t $pid 20
rc=$?
printf '%s\n' ready one two three >"$T/l8.want"
if [ $rc = 0 ] && [ $prc = 0 ] && [ "$(cat "$T/k8.out")" = 1 ] &&
    cmp -s "$T/l8.out" "$T/l8.want" &&
    grep -qx 'done published=3 failed=0' "$T/p8.out" &&
    grep -q 'connection lost.*reconnecting' "$T/p8.err" &&
    [ "$(grep -c 'pool connection 0: connected$' "$T/p8.err")" -ge 2 ]; then
	ok "pool: terminated backend reconnects, later publishes arrive"
else
	bad "pool reconnect (rc $rc/$prc)" "$T/k8.out" "$T/l8.out" "$T/p8.out" "$T/p8.err"
fi

# 9b. db_publish_ack: every committed message is acknowledged by tag, in
# order, the failed one only reported as failed (what an HTTP publish waits
# for), also when its batch is retried one by one.
timeout 20 "$DRIVE" "$URI" listen 3 >"$T/l9b.out" 2>"$T/l9b.err" &
pid=$!
wait_for "$T/l9b.out" '^ready$' 10
printf 'a\nb\n\377\nc\n' | DB_ACK=1 DB_POOL=1 timeout 20 "$DRIVE" "$URI" stdin \
    >"$T/p9b.out" 2>"$T/p9b.err"
prc=$?
waitpid_t $pid 20
rc=$?
if [ $rc = 0 ] && [ $prc = 0 ] &&
    [ "$(grep '^acked ' "$T/p9b.out" | tr '\n' ' ')" = "acked 0 acked 1 acked 3 " ] &&
    grep -q '^failed 2 ' "$T/p9b.out" &&
    grep -qx 'done published=3 failed=1' "$T/p9b.out"; then
	ok "publish_ack: committed messages acknowledged by tag, in order"
else
	bad "publish_ack (rc $rc/$prc)" "$T/l9b.out" "$T/p9b.out" "$T/p9b.err"
fi

# 9. A failing statement aborts its batch: the others are retried alone and
# arrive, in order; only the bad one (invalid UTF-8) is reported.
timeout 20 "$DRIVE" "$URI" listen 3 >"$T/l9.out" 2>"$T/l9.err" &
pid=$!
wait_for "$T/l9.out" '^ready$' 10
printf 'a\nb\n\377\nc\n' | DB_POOL=1 timeout 20 "$DRIVE" "$URI" stdin \
    >"$T/p9.out" 2>"$T/p9.err"
prc=$?
waitpid_t $pid 20
rc=$?
printf '%s\n' ready a b c >"$T/l9.want"
if [ $rc = 0 ] && [ $prc = 0 ] && cmp -s "$T/l9.out" "$T/l9.want" &&
    grep -q '^failed 2 .*invalid byte sequence' "$T/p9.out" &&
    grep -qx 'done published=3 failed=1' "$T/p9.out" &&
    grep -q 'retrying one by one' "$T/p9.err"; then
	ok "batch failure: good messages retried alone, bad one reported"
else
	bad "batch failure (rc $rc/$prc)" "$T/l9.out" "$T/p9.out" "$T/p9.err"
fi

# 11. A pool backend lost with a batch in flight (frozen, then terminated):
# that batch is reported or delivered, never both, never silently lost;
# what was queued behind it still arrives.
DB_UNTIL=four timeout 20 "$DRIVE" "$URI" listen 4 >"$T/l11.out" 2>"$T/l11.err" &
pid=$!
wait_for "$T/l11.out" '^ready$' 10
{
	echo one
	sleep 1
	STOPPED=$(sql "SELECT pid FROM pg_stat_activity WHERE pid <> pg_backend_pid()
	    AND query LIKE '%pg_catalog.pg_notify(\$1, p)%'")
	echo "$STOPPED" >"$T/stopped"
	[ -n "$STOPPED" ] && kill -STOP $STOPPED
	echo two
	sleep 0.5
	echo three
	sleep 0.3
	sql "SELECT count(pg_terminate_backend($STOPPED))" >"$T/k11.out"
	kill -CONT $STOPPED
	sleep 0.5
	echo four
} | DB_POOL=1 timeout 20 "$DRIVE" "$URI" stdin >"$T/p11.out" 2>"$T/p11.err"
prc=$?
waitpid_t $pid 10
rc=$?
rm -f "$T/stopped"
# Exactly one of: "two" delivered, or reported failed (tag 1).
got2=$(grep -cx two "$T/l11.out")
rep2=$(grep -c '^failed 1 ' "$T/p11.out")
if [ $rc = 0 ] && [ $prc = 0 ] && [ "$(cat "$T/k11.out")" = 1 ] &&
    [ $((got2 + rep2)) = 1 ] && grep -qx one "$T/l11.out" &&
    grep -qx three "$T/l11.out" && grep -qx four "$T/l11.out" &&
    grep -q 'done published=.* failed=.*' "$T/p11.out"; then
	ok "pool: batch in flight on a lost connection $([ $rep2 = 1 ] && echo reported || echo delivered), queue kept"
else
	bad "pool loss in flight (rc $rc/$prc)" "$T/k11.out" "$T/l11.out" "$T/p11.out" "$T/p11.err"
fi

# 10. Start-up against a closed port: retries=2 waits 1 s, then fails with
# libpq's message.
CLOSED=$(free_port)
t0=$(date +%s.%N)
DB_RETRIES=2 timeout 20 "$DRIVE" "postgresql://postgres@127.0.0.1:$CLOSED/postgres" \
    listen 1 >"$T/f10.out" 2>"$T/f10.err"
rc=$?
t1=$(date +%s.%N)
el=$(echo "$t1 - $t0" | bc)
if [ $rc = 1 ] && [ "$(echo "$el >= 1 && $el < 5" | bc)" = 1 ] &&
    grep -q '^init failed: .*Connection refused' "$T/f10.out" &&
    [ "$(grep -c 'connection attempt' "$T/f10.err")" = 2 ] &&
    [ "$(wc -l <"$T/f10.out")" = 1 ]; then
	ok "start-up: closed port fails after $(echo "$el" | cut -c1-4) s with libpq's message"
else
	bad "start-up failure (rc $rc, $el s)" "$T/f10.out" "$T/f10.err"
fi

# 12-14: a multi-host string whose first host accepts TCP connections and
# never answers (a listening socket nothing accepts from).  libpq gives up
# on it after connect_timeout only in its blocking start-up connect; every
# later connection is non-blocking, and db.c walks the hosts itself.
silent() { # PORT: a listening socket on 127.0.0.1:PORT that never accepts
	python3 -c 'import socket, sys, time
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen(16); time.sleep(600)' "$1" &
	for i in $(seq 100); do ss -ltn "sport = :$1" | grep -q LISTEN && break; sleep 0.1; done
}
SILENT=$(free_port)
silent "$SILENT"
MULTI="host=127.0.0.1,127.0.0.1 port=$SILENT,$PORT user=postgres dbname=postgres connect_timeout=2"

# 12. A pool connection, opened on demand after start-up, reaches the
# second host once the first has had its connect_timeout.
timeout 20 "$DRIVE" "$URI" listen 3 >"$T/l12.out" 2>"$T/l12.err" &
pid=$!
wait_for "$T/l12.out" '^ready$' 10
DB_POOL=1 DB_DEADLINE=15 timeout 30 "$DRIVE" "$MULTI" publish 3 >"$T/p12.out" 2>"$T/p12.err"
prc=$?
waitpid_t $pid 10
rc=$?
printf '%s\n' ready msg-0 msg-1 msg-2 >"$T/l12.want"
if [ $rc = 0 ] && [ $prc = 0 ] && cmp -s "$T/l12.out" "$T/l12.want" &&
    grep -qx 'done published=3 failed=0' "$T/p12.out" &&
    grep -q "pool connection 0: connection to server at \"127.0.0.1\", port $SILENT failed: timeout expired; trying host 2 of 2" "$T/p12.err"; then
	ok "multi-host: the pool skips a silent first host after connect_timeout and publishes"
else
	bad "multi-host pool (rc $rc/$prc)" "$T/l12.out" "$T/p12.out" "$T/p12.err"
fi

# 12b. PGCONNECT_TIMEOUT, with none in the string, is the limit per host
# for the start-up connection and the pool's alike (3 s each here).
# logged_s FILE REGEX: the seconds of the first log line matching REGEX.
logged_s() { date -d "$(grep -m1 -E "$2" "$1" | cut -d' ' -f1)" +%s.%N; }
t0=$(date +%s.%N)
PGCONNECT_TIMEOUT=3 DB_POOL=1 DB_DEADLINE=15 timeout 30 "$DRIVE" \
    "host=127.0.0.1,127.0.0.1 port=$SILENT,$PORT user=postgres dbname=postgres" \
    publish 1 >"$T/p12b.out" 2>"$T/p12b.err"
prc=$?
up=$(echo "$(logged_s "$T/p12b.err" 'listener: connected') - $t0" | bc)
pool=$(echo "$(logged_s "$T/p12b.err" 'timeout expired; trying host 2') - $(logged_s "$T/p12b.err" 'pool connection 0: connecting')" | bc)
if [ $prc = 0 ] && grep -qx 'done published=1 failed=0' "$T/p12b.out" &&
    [ "$(echo "$up >= 2.9 && $up < 4.5 && $pool >= 2.9 && $pool < 3.5" | bc)" = 1 ]; then
	ok "multi-host: PGCONNECT_TIMEOUT=3 applies at start-up ($(echo "$up" | cut -c1-4) s) and to the pool ($(echo "$pool" | cut -c1-4) s)"
else
	bad "multi-host PGCONNECT_TIMEOUT (rc $prc, start-up ${up:-?} s, pool ${pool:-?} s)" "$T/p12b.out" "$T/p12b.err"
fi

# reconnect_past TAG CONNINFO SILENT-PORT PREPARE WAIT LO HI: runs the
# driver on CONNINFO, runs PREPARE once it is up, terminates the listener
# and expects it back within WAIT s, after LO..HI s, past the host on
# SILENT-PORT (logged as timed out), with a notification received after.
# Sets rc, n (listeners killed) and el (seconds to come back).
reconnect_past() {
	local tag=$1 conninfo=$2 port=$3 prep=$4 wait=$5 lo=$6 hi=$7 pid t0
	DB_CHECK_MS=500 timeout 40 "$DRIVE" "$conninfo" supervise >"$T/$tag.out" 2>"$T/$tag.err" &
	pid=$!
	el= n=
	if wait_for "$T/$tag.out" '^ready$' 10; then
		$prep
		t0=$(date +%s.%N)
		n=$(sql "SELECT count(pg_terminate_backend(pid)) FROM ($LISTENER_PIDS) s")
		if wait_for "$T/$tag.out" '^up$' "$wait"; then
			el=$(echo "$(date +%s.%N) - $t0" | bc)
			notify "'$CH'" "'after'"
		fi
	fi
	waitpid_t $pid 10
	rc=$?
	printf '%s\n' ready down up after >"$T/$tag.want"
	[ $rc = 0 ] && [ "${n:-}" = 1 ] && cmp -s "$T/$tag.out" "$T/$tag.want" &&
	    [ "$(echo "$el >= $lo && $el < $hi" | bc)" = 1 ] &&
	    grep -q "listener: connection to server at \"127.0.0.1\", port $port failed: timeout expired; trying host 2 of 2" "$T/$tag.err"
}

# 13. The listener, terminated, reconnects past the silent host within
# connect_timeout (2 s) and a little.
if reconnect_past s13 "$MULTI" "$SILENT" "sleep 0.3" 8 1.9 6; then
	ok "multi-host: the terminated listener is back past the silent host in $(echo "$el" | cut -c1-4) s"
else
	bad "multi-host listener reconnect (rc $rc, killed ${n:-?}, ${el:-never} s)" "$T/s13.out" "$T/s13.err"
fi

# 13b. connect_timeout=0 is no limit to libpq (so the first host may not be
# silent at start-up: it refuses then, and goes silent after), but a
# reconnection still gives a silent host up after 10 s (CONNECT_TIMEOUT).
SILENT0=$(free_port)
if reconnect_past s13b "host=127.0.0.1,127.0.0.1 port=$SILENT0,$PORT user=postgres dbname=postgres connect_timeout=0" \
    "$SILENT0" "silent $SILENT0" 16 9.9 14; then
	ok "multi-host: connect_timeout=0 still gives a silent host up after 10 s on reconnection ($(echo "$el" | cut -c1-5) s)"
else
	bad "multi-host connect_timeout=0 (rc $rc, killed ${n:-?}, ${el:-never} s)" "$T/s13b.out" "$T/s13b.err"
fi

# 14. Every host failing is one line naming each host and its cause; the
# listener comes back once the database does.  (Stops the cluster: last.)
DB_CHECK_MS=500 DB_DEADLINE=40 timeout 50 "$DRIVE" "$MULTI" supervise >"$T/s14.out" 2>"$T/s14.err" &
pid=$!
ALLFAIL="listener: reconnection failed: connection to server at \"127.0.0.1\", port $SILENT failed: timeout expired; connection to server at \"127.0.0.1\", port $PORT failed: Connection refused"
if wait_for "$T/s14.out" '^ready$' 10; then
	runuser -u postgres -- "$PGBIN/pg_ctl" -D "$T/data" -m fast -w -t 30 stop >/dev/null
	wait_for "$T/s14.err" "$ALLFAIL" 10
	runuser -u postgres -- "$PGBIN/pg_ctl" -D "$T/data" -l "$T/pg.log" -w -t 30 \
	    -o "-c listen_addresses=127.0.0.1 -p $PORT -k $T -c fsync=off" start >/dev/null
	wait_for "$T/s14.out" '^up$' 20 && notify "'$CH'" "'back'"
fi
waitpid_t $pid 10
rc=$?
printf '%s\n' ready down up back >"$T/s14.want"
if [ $rc = 0 ] && cmp -s "$T/s14.out" "$T/s14.want" && grep -q "$ALLFAIL" "$T/s14.err"; then
	ok "multi-host: all hosts down is one line with each host's cause; back with the database"
else
	bad "multi-host all failing (rc $rc)" "$T/s14.out" "$T/s14.err"
fi

echo "$PASS passed, $FAIL failed"
[ $FAIL = 0 ]
