#!/bin/bash
# TLS to the database (pqtls.c), checked with the binary given as $1 against
# two throwaway PostgreSQL 15 clusters: one with ssl=on whose pg_hba.conf
# has only hostssl lines (one of them clientcert=verify-full), and one
# without TLS.  Certificates are made here with openssl: a CA, a server
# certificate for localhost and 127.0.0.1, and the bad ones (another CA, a
# certificate for another name, one for a name only in its CN, an expired
# one), plus client certificates (EC, RSA, and one from the other CA).
# Every sslmode against both servers, libpq's rules for verification and
# fallback, multi-host lists and connect_timeout, the PG* variables, the
# listener killed and the database restarted (re-established over TLS),
# pg_stat_ssl, and the empty chroot.  Run as root.
set -u
BIN=$(realpath "${1:-./pgws}")
cd "$(dirname "$0")/.." || exit 2
. tests/pg.sh
T=$(mktemp -d /tmp/pgws-dbtls.XXXXXX) || exit 2
chmod 755 "$T"
PASS=0
FAIL=0
SECRET=reallyreallyreallyreallyverysafe
PW=Pw-never-logged-4711

cleanup() {
	jobs -p | xargs -r kill 2>/dev/null
	pg_tls_halt "$T/tls"
	pg_tls_halt "$T/plain"
	if [ -n "${DB_TEST_KEEP:-}" ]; then echo "kept $T"; else rm -rf "$T"; fi
}
trap cleanup EXIT
trap 'exit 2' INT TERM

ok() { PASS=$((PASS + 1)); echo "ok   $*"; }
bad() { FAIL=$((FAIL + 1)); echo "FAIL $*"; }

# --- certificates -------------------------------------------------------

P=$T/pki
mkdir -p "$P" "$T/home" "$T/sock"
# ca, wrongca and server (localhost, 127.0.0.1): tests/pg.sh, shared with
# tests/release_test.sh; the other certificates are made here.
pg_tls_certs "$P" || { echo "could not make certificates"; echo "0 passed, 1 failed"; exit 1; }
(
	set -e
	cd "$P"
	ossl() { openssl "$@" >/dev/null 2>&1; }
	# leaf NAME CN CA EXT KEYALG: NAME.key and NAME.crt signed by CA.
	leaf() {
		ossl req -newkey "$5" -nodes -keyout "$1.key" -out "$1.csr" -subj "/CN=$2"
		printf '%s\n' "$4" >"$1.ext"
		ossl x509 -req -in "$1.csr" -CA "$3.crt" -CAkey "$3.key" -CAcreateserial \
		    -days 30 -out "$1.crt" -extfile "$1.ext"
	}
	leaf wrongname db.example.com ca 'subjectAltName=DNS:db.example.com,IP:192.0.2.10' rsa:2048
	leaf cnonly localhost ca 'basicConstraints=CA:FALSE' rsa:2048
	leaf client_ec certuser ca 'extendedKeyUsage=clientAuth' ec:<(openssl ecparam -name prime256v1)
	leaf client_rsa certuser ca 'extendedKeyUsage=clientAuth' rsa:2048
	leaf client_wrong certuser wrongca 'extendedKeyUsage=clientAuth' ec:<(openssl ecparam -name prime256v1)
	# An expired certificate needs dates in the past: openssl ca sets them.
	touch index.txt
	echo 1000 >serial
	cat >ca.cnf <<-EOF
	[ca]
	default_ca = d
	[d]
	dir = .
	database = index.txt
	new_certs_dir = .
	serial = serial
	default_md = sha256
	policy = p
	unique_subject = no
	[p]
	commonName = supplied
	[x]
	subjectAltName = DNS:localhost,IP:127.0.0.1
	EOF
	ossl req -newkey rsa:2048 -nodes -keyout expired.key -out expired.csr -subj /CN=localhost
	ossl ca -batch -config ca.cnf -cert ca.crt -keyfile ca.key -in expired.csr \
	    -out expired.crt -startdate 20200101000000Z -enddate 20200201000000Z \
	    -extensions x -notext
	# A provider-style bundle: many CAs with text between them, ours among them.
	for i in 1 2 3; do
		ossl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
		    -keyout other$i.key -out other$i.crt -days 30 -subj /CN=bundle-ca-$i
	done
	{
		for f in other1 wrongca other2 ca other3; do
			echo "# $f"
			openssl x509 -in $f.crt -noout -subject
			cat $f.crt
		done
	} >bundle.crt
	chmod 600 ./*.key
) || { echo "could not make certificates"; echo "0 passed, 1 failed"; exit 1; }
[ "$(id -u)" = 0 ] && chown postgres "$P"/wrongname.key \
    "$P"/cnonly.key "$P"/expired.key "$T/sock"

# --- servers ------------------------------------------------------------

TLS_PORT=$(free_port) || exit 2
PLAIN_PORT=$(free_port) || exit 2
[ "$(id -u)" = 0 ] && chown postgres "$T"
pg_as "$PG_BIN/initdb" -D "$T/plain" -U postgres -A trust -E UTF8 \
    --locale=C.UTF-8 >"$T/initdb-plain.log" 2>&1 \
    || { cat "$T/initdb-plain.log"; echo "0 passed, 1 failed"; exit 1; }
# ssl=on and only hostssl lines over TCP (tests/pg.sh); the local socket is
# for this script's psql.
pg_tls_init "$T/tls" "$P" \
    'hostssl all certuser  127.0.0.1/32  trust clientcert=verify-full' \
    'hostssl all scramuser 127.0.0.1/32  scram-sha-256' \
    || { echo "0 passed, 1 failed"; exit 1; }
cat >"$T/plain/pg_hba.conf" <<EOF
local all all              trust
host  all all 127.0.0.1/32 trust
EOF

srv_start() { # NAME PORT
	pg_as "$PG_BIN/pg_ctl" -D "$T/$1" -l "$T/$1.log" -w -t 30 \
	    -o "-c listen_addresses=127.0.0.1 -p $2 -k $T/sock -c fsync=off -c max_connections=100" \
	    start >/dev/null
}
pg_tls_run "$T/tls" "$TLS_PORT" "$T/sock" && srv_start plain "$PLAIN_PORT" \
    || { tail -5 "$T"/*.log; echo "0 passed, 1 failed"; exit 1; }

sql() { # PORT SQL
	psql -X -q -At -v ON_ERROR_STOP=1 -h "$T/sock" -p "$1" -U postgres -d postgres -c "$2"
}
sql "$TLS_PORT" "CREATE ROLE certuser LOGIN; CREATE ROLE scramuser LOGIN PASSWORD '$PW'" >/dev/null

# use_cert NAME: the TLS server presents NAME.crt from now on (reloaded, not restarted).
use_cert() {
	sql "$TLS_PORT" "ALTER SYSTEM SET ssl_cert_file = '$P/$1.crt'" >/dev/null
	sql "$TLS_PORT" "ALTER SYSTEM SET ssl_key_file = '$P/$1.key'" >/dev/null
	sql "$TLS_PORT" "SELECT pg_reload_conf()" >/dev/null
	local i
	for i in $(seq 50); do
		[ "$(sql "$TLS_PORT" "SHOW ssl_cert_file")" = "$P/$1.crt" ] && return 0
		sleep 0.1
	done
	echo "server did not switch to $1.crt"
}

# --- pgws ---------------------------------------------------------------

TLS="postgres://postgres@localhost:$TLS_PORT/postgres"
TLS_IP="postgres://postgres@127.0.0.1:$TLS_PORT/postgres"
PLAIN="postgres://postgres@127.0.0.1:$PLAIN_PORT/postgres"
POOL=2

# start NAME URI [VAR=VALUE...]: pgws in the background with only these
# variables; waits until it listens (PID, PORT set; returns 0) or exits
# (returns 1, RC set).
start() {
	local name=$1 uri=$2 i
	shift 2
	env -i PATH=/usr/bin:/bin HOME="$T/home" PGWS_DB_URI="$uri" \
	    PGWS_JWT_SECRET=$SECRET PGWS_HOST=127.0.0.1 PGWS_PORT=0 \
	    PGWS_RETRIES=1 PGWS_POOL_SIZE=$POOL "$@" \
	    ${ASAN_OPTIONS:+ASAN_OPTIONS=$ASAN_OPTIONS} \
	    "$BIN" >"$T/$name.out" 2>"$T/$name.err" </dev/null &
	PID=$!
	PORT=
	for i in $(seq 300); do
		PORT=$(sed -n 's/^Listening on port //p' "$T/$name.out")
		[ -n "$PORT" ] && return 0
		if ! kill -0 $PID 2>/dev/null; then
			wait $PID
			RC=$?
			return 1
		fi
		sleep 0.1
	done
	kill $PID; wait $PID
	RC=timeout
	return 1
}

# stop: SIGTERM, which must end pgws with status 0 (under ASan: no leak,
# no error report).
stop() {
	kill -TERM $PID 2>/dev/null
	wait $PID
	local rc=$?
	[ $rc = 0 ] || bad "pgws exited $rc after SIGTERM"
}

# roundtrip: a message sent by a websocket client comes back through
# pg_notify and LISTEN, i.e. through the pool and the listener.
roundtrip() {
	local tok out
	tok=$(env -i PGWS_JWT_SECRET=$SECRET "$BIN" token --mode rw --channel tlschan)
	out=$(echo "over-tls-$1" | timeout 10 "$BIN" client --count 1 --timeout 8 \
	    "ws://127.0.0.1:$PORT/tlschan/$tok" 2>&1)
	[[ $out == *over-tls-$1* ]]
}

# encrypted PORT: how many pgws backends there are, and whether all use TLS,
# as "N t|f".
# enc_ok "N t": the listener and 1..PGWS_POOL_SIZE pool connections (opened
# on demand), every one encrypted.
enc_ok() {
	[[ $1 =~ ^([0-9]+)\ t$ ]] && [ "${BASH_REMATCH[1]}" -ge 2 ] &&
	    [ "${BASH_REMATCH[1]}" -le $((POOL + 1)) ]
}

encrypted() {
	sql "$1" "SELECT count(*) || ' ' || CASE WHEN bool_and(s.ssl) THEN 't' ELSE 'f' END
	    FROM pg_stat_activity a JOIN pg_stat_ssl s USING (pid)
	    WHERE a.application_name = 'pgws'"
}

# expect_ok NAME URI [VAR=VALUE...]: starts, answers a round trip, and (for
# the TLS server) every pgws backend is encrypted.
expect_ok() {
	local name=$1 uri=$2
	shift 2
	if ! start "$name" "$uri" "$@"; then
		bad "$name: did not start (exit $RC): $(tail -1 "$T/$name.err")"
		return
	fi
	if ! roundtrip "$name"; then
		bad "$name: no round trip"
		stop
		return
	fi
	local enc
	if [[ $uri == *"$TLS_PORT"* ]]; then
		enc=$(encrypted "$TLS_PORT")
		if ! enc_ok "$enc"; then
			bad "$name: pg_stat_ssl says '$enc', want 2..$((POOL + 1)) backends, all 't'"
			stop
			return
		fi
	fi
	stop
	ok "$name${enc:+ (pg_stat_ssl: $enc)}"
}

# expect_fail NAME URI REGEX [VAR=VALUE...]: exit 1 at start-up, and the
# last line of the log names the cause (REGEX) on one line.
expect_fail() {
	local name=$1 uri=$2 re=$3
	shift 3
	if start "$name" "$uri" "$@"; then
		stop
		bad "$name: started, expected a failure /$re/"
		return
	fi
	local last
	last=$(tail -1 "$T/$name.err")
	if [ "$RC" = 1 ] && grep -qE "$re" <<<"$last"; then
		ok "$name: exit 1: ${last#* error }"
	else
		bad "$name: exit $RC, last line: $last (want /$re/)"
	fi
}

V="sslrootcert=$P/ca.crt"
echo "== every sslmode against the TLS server (hostssl only)"
expect_fail tls-disable "$TLS?sslmode=disable" 'localhost.*no pg_hba.conf entry.*no encryption'
expect_ok tls-allow "$TLS?sslmode=allow"
expect_ok tls-prefer "$TLS"
expect_ok tls-require "$TLS?sslmode=require"
expect_ok tls-verify-ca "$TLS?sslmode=verify-ca&$V"
expect_ok tls-verify-full-dns "$TLS?sslmode=verify-full&$V"
expect_ok tls-verify-full-ip "$TLS_IP?sslmode=verify-full&$V"
expect_ok tls-bundle "$TLS?sslmode=verify-full&sslrootcert=$P/bundle.crt"
expect_ok tls-conninfo "host=localhost port=$TLS_PORT user=postgres dbname=postgres sslmode=verify-full $V"

echo "== every sslmode against the server without TLS"
expect_ok plain-disable "$PLAIN?sslmode=disable"
expect_ok plain-allow "$PLAIN?sslmode=allow"
expect_ok plain-prefer "$PLAIN?sslmode=prefer"
expect_fail plain-require "$PLAIN?sslmode=require" '127.0.0.1.*server does not support SSL, but SSL was required'
expect_fail plain-verify-ca "$PLAIN?sslmode=verify-ca&$V" '127.0.0.1.*server does not support SSL, but SSL was required'
expect_fail plain-verify-full "$PLAIN?sslmode=verify-full&$V" '127.0.0.1.*server does not support SSL, but SSL was required'

echo "== environment"
expect_fail env-require "$PLAIN" 'server does not support SSL, but SSL was required' PGSSLMODE=require
expect_fail env-disable "$TLS" 'no encryption' PGSSLMODE=disable
expect_ok env-verify-full "$TLS" PGSSLMODE=verify-full PGSSLROOTCERT="$P/ca.crt"
expect_ok env-client-cert "postgres://certuser@localhost:$TLS_PORT/postgres" \
    PGSSLMODE=verify-full PGSSLROOTCERT="$P/ca.crt" PGSSLCERT="$P/client_ec.crt" PGSSLKEY="$P/client_ec.key"

echo "== verification"
expect_fail verify-ca-no-root "$TLS?sslmode=verify-ca" 'root certificate file .*root.crt" does not exist'
expect_fail wrong-ca "$TLS?sslmode=verify-ca&sslrootcert=$P/wrongca.crt" 'localhost.*server certificate not trusted'
expect_fail wrong-ca-full "$TLS_IP?sslmode=verify-full&sslrootcert=$P/wrongca.crt" '127.0.0.1.*server certificate not trusted'
# libpq: a ~/.postgresql/root.crt makes require (and prefer) verify the chain.
mkdir -p "$T/home/.postgresql"
cp "$P/wrongca.crt" "$T/home/.postgresql/root.crt"
expect_fail require-home-root "$TLS?sslmode=require" 'server certificate not trusted'
expect_fail prefer-home-root "$TLS" 'server certificate not trusted.*no pg_hba.conf entry.*no encryption'
cp "$P/ca.crt" "$T/home/.postgresql/root.crt"
expect_ok require-home-root-good "$TLS?sslmode=verify-full"
rm -f "$T/home/.postgresql/root.crt"
expect_fail crl-refused "$TLS?sslmode=verify-ca&$V&sslcrl=$P/none.crl" 'revocation list.*not supported'
expect_fail tls13-refused "$TLS?sslmode=require&ssl_min_protocol_version=TLSv1.3" 'TLSv1.3: not supported'

use_cert wrongname
expect_fail name-mismatch-dns "$TLS?sslmode=verify-full&$V" \
    'localhost.*server certificate for "db.example.com" \(and 1 other name\) does not match host name "localhost"'
expect_fail name-mismatch-ip "$TLS_IP?sslmode=verify-full&$V" \
    'does not match host name "127.0.0.1"'
expect_ok wrongname-verify-ca "$TLS?sslmode=verify-ca&$V"
expect_ok wrongname-require "$TLS?sslmode=require"
use_cert cnonly
expect_ok cn-fallback "$TLS?sslmode=verify-full&$V"
expect_fail cn-not-ip "$TLS_IP?sslmode=verify-full&$V" 'server certificate for "localhost" does not match host name "127.0.0.1"'
use_cert expired
expect_fail expired "$TLS?sslmode=verify-full&$V" 'localhost.*server certificate expired'
expect_ok expired-require "$TLS?sslmode=require"
use_cert server

echo "== client certificates (clientcert=verify-full for certuser)"
C="postgres://certuser@localhost:$TLS_PORT/postgres?sslmode=verify-full&$V"
expect_fail client-none "$C" 'localhost.*(requires a valid client certificate|client certificate)'
expect_ok client-ec "$C&sslcert=$P/client_ec.crt&sslkey=$P/client_ec.key"
expect_ok client-rsa "$C&sslcert=$P/client_rsa.crt&sslkey=$P/client_rsa.key"
expect_fail client-wrong-ca "$C&sslcert=$P/client_wrong.crt&sslkey=$P/client_wrong.key" \
    'localhost.*server refused the client certificate'
expect_fail client-key-mismatch "$C&sslcert=$P/client_ec.crt&sslkey=$P/client_rsa.key" \
    'does not match the certificate'
cp "$P/client_ec.key" "$T/loose.key"
chmod 644 "$T/loose.key"
expect_fail client-key-mode "$C&sslcert=$P/client_ec.crt&sslkey=$T/loose.key" 'loose.key" is readable by others'
expect_fail client-key-missing "$C&sslcert=$P/client_ec.crt&sslkey=$T/nokey" 'not its private key file'
mkdir -p "$T/home/.postgresql"
cp "$P/client_rsa.crt" "$T/home/.postgresql/postgresql.crt"
cp "$P/client_rsa.key" "$T/home/.postgresql/postgresql.key"
expect_ok client-home-default "$C"
rm -f "$T/home/.postgresql/postgresql."*
if grep -l 'PRIVATE KEY' "$T"/client-*.err "$T"/client-*.out >/dev/null 2>&1; then
	bad "a log holds key material"
else
	ok "no key material in any client-certificate log"
fi

echo "== what pgws cannot offer is refused"
expect_fail gss-require "$TLS?gssencmode=require" 'gssencmode value "require" invalid when GSSAPI support is not compiled in'
expect_fail direct-uri "$TLS?sslnegotiation=direct" '^.*sslnegotiation in PGWS_DB_URI: not supported'
expect_fail direct-env "$TLS" 'PGSSLNEGOTIATION=direct: not supported' PGSSLNEGOTIATION=direct
S="postgres://scramuser:$PW@localhost:$TLS_PORT/postgres?sslmode=verify-full&$V"
expect_fail channel-binding "$S&channel_binding=require" 'localhost.*channel binding is required, but client does not support it'
expect_ok scram-over-tls "$S"
expect_fail wrong-password "postgres://scramuser:x$PW@localhost:$TLS_PORT/postgres?sslmode=require" \
    'password authentication failed'
if grep -l -- "$PW" "$T"/channel-binding.* "$T"/scram-over-tls.* "$T"/wrong-password.* >/dev/null 2>&1; then
	bad "the password reached a log"
else
	ok "the password is in no log"
fi

echo "== multi-host, target_session_attrs, connect_timeout"
# The first host refuses the connection; libpq goes on to the second.
DEAD=$(free_port)
expect_ok multi-host "postgres://postgres@127.0.0.1:$DEAD,localhost:$TLS_PORT/postgres?sslmode=verify-full&$V&target_session_attrs=read-write"
# libpq 15 does not try the next host when one refuses TLS under require.
expect_fail multi-host-plain-first "postgres://postgres@127.0.0.1:$PLAIN_PORT,localhost:$TLS_PORT/postgres?sslmode=verify-full&$V" \
    'port '$PLAIN_PORT' failed: server does not support SSL, but SSL was required'
# A host that accepts the connection and never answers the SSLRequest.
SILENT=$(free_port)
python3 -c 'import socket, sys, time
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen(16); time.sleep(600)' "$SILENT" &
SILENT_PID=$!
for i in $(seq 100); do ss -ltn "sport = :$SILENT" | grep -q LISTEN && break; sleep 0.1; done
t0=$SECONDS
# The listener's start-up connection (libpq's blocking connect) skips the
# silent host after connect_timeout; the pool connection, opened on demand
# by the round trip's publish, connects without blocking, where pgws walks
# the hosts itself and must skip it the same way.
CT="host=127.0.0.1,localhost port=$SILENT,$TLS_PORT user=postgres dbname=postgres sslmode=verify-full $V connect_timeout=2"
if start connect-timeout "$CT"; then
	t1=$SECONDS
	if roundtrip connect-timeout && enc_ok "$(encrypted "$TLS_PORT")" &&
	    grep -q "pool connection [01]: connection to server at \"127.0.0.1\", port $SILENT failed: timeout expired; trying host 2 of 2" "$T/connect-timeout.err"; then
		ok "connect-timeout: listener and on-demand pool connection skipped the silent host, round trip over TLS ($((SECONDS - t1)) s; pg_stat_ssl: $(encrypted "$TLS_PORT"))"
	else
		bad "connect-timeout: no round trip through the pool: $(grep 'pool connection' "$T/connect-timeout.err" | tail -2)"
	fi
	stop
else
	bad "connect-timeout: did not start (exit $RC): $(tail -1 "$T/connect-timeout.err")"
fi
[ $((t1 - t0)) -ge 2 ] && [ $((t1 - t0)) -le 40 ] && ok "connect_timeout: the silent host was given up after 2 s at start-up ($((t1 - t0)) s)" \
    || bad "connect_timeout at start-up took $((t1 - t0)) s"
expect_fail connect-timeout-only "host=127.0.0.1 port=$SILENT user=postgres dbname=postgres sslmode=require connect_timeout=2" \
    'timeout expired'
# The listener killed: its reconnection (non-blocking) skips the silent host
# after connect_timeout (2 s) and is back over TLS soon after.
if start ct-reconnect "$CT" PGWS_CHECK_LISTENER_INTERVAL=500; then
	t1=$(date +%s%N)
	n=$(sql "$TLS_PORT" "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
	    WHERE application_name = 'pgws'
	    AND (query LIKE 'LISTEN%' OR query LIKE '%pg_notification_queue_usage%')")
	for i in $(seq 100); do grep -q 'listener: re-established' "$T/ct-reconnect.err" && break; sleep 0.1; done
	ms=$((($(date +%s%N) - t1) / 1000000))
	if [ "$n" = 1 ] && grep -q 'listener: re-established' "$T/ct-reconnect.err" &&
	    [ $ms -ge 1900 ] && [ $ms -le 6000 ] && roundtrip ct-reconnect && enc_ok "$(encrypted "$TLS_PORT")"; then
		ok "connect-timeout: the killed listener skipped the silent host and was back over TLS in $ms ms"
	else
		bad "connect-timeout reconnect (terminated $n, $ms ms): $(grep 'listener' "$T/ct-reconnect.err" | tail -2)"
	fi
	stop
else
	bad "ct-reconnect: did not start (exit $RC): $(tail -1 "$T/ct-reconnect.err")"
fi
# target_session_attrs: past the silent host, a read-only server (the plain
# one, read-only for now) is skipped for the next, by libpq at start-up and
# by pgws's walk for the pool.
sql "$PLAIN_PORT" "ALTER SYSTEM SET default_transaction_read_only = on" >/dev/null
sql "$PLAIN_PORT" "SELECT pg_reload_conf()" >/dev/null
TSA="host=127.0.0.1,127.0.0.1,localhost port=$SILENT,$PLAIN_PORT,$TLS_PORT user=postgres dbname=postgres connect_timeout=2 target_session_attrs=read-write"
if start tsa "$TSA"; then
	if roundtrip tsa && enc_ok "$(encrypted "$TLS_PORT")" &&
	    grep -q "pool connection [01]: connection to server at \"127.0.0.1\", port $PLAIN_PORT failed: session is read-only; trying host 3 of 3" "$T/tsa.err"; then
		ok "target_session_attrs=read-write: the pool skipped the silent and the read-only host"
	else
		bad "target_session_attrs: $(grep 'pool connection' "$T/tsa.err" | tail -3)"
	fi
	stop
else
	bad "tsa: did not start (exit $RC): $(tail -1 "$T/tsa.err")"
fi
sql "$PLAIN_PORT" "ALTER SYSTEM RESET default_transaction_read_only" >/dev/null
sql "$PLAIN_PORT" "SELECT pg_reload_conf()" >/dev/null
kill $SILENT_PID 2>/dev/null; wait $SILENT_PID 2>/dev/null

echo "== reconnection over TLS"
if start supervised "$TLS?sslmode=verify-full&$V" PGWS_CHECK_LISTENER_INTERVAL=500 PGWS_LOG_LEVEL=debug; then
	n=$(sql "$TLS_PORT" "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
	    WHERE application_name = 'pgws'
	    AND (query LIKE 'LISTEN%' OR query LIKE '%pg_notification_queue_usage%')")
	for i in $(seq 100); do grep -q 'listener: re-established' "$T/supervised.err" && break; sleep 0.1; done
	if [ "$n" = 1 ] && grep -q 'listener: re-established' "$T/supervised.err" && roundtrip kill \
	    && enc_ok "$(encrypted "$TLS_PORT")"; then
		ok "listener killed with pg_terminate_backend: re-established over TLS, round trip, all encrypted"
	else
		bad "listener kill (terminated $n): $(grep -E 'listener' "$T/supervised.err" | tail -3)"
	fi
	pg_as "$PG_BIN/pg_ctl" -D "$T/tls" -m fast -w -t 30 restart \
	    -o "-c listen_addresses=127.0.0.1 -p $TLS_PORT -k $T/sock -c fsync=off -c max_connections=100" >/dev/null
	up=
	for i in $(seq 150); do
		if roundtrip restart 2>/dev/null; then up=1; break; fi
		sleep 0.2
	done
	enc=$(encrypted "$TLS_PORT")
	if [ -n "$up" ] && enc_ok "$enc" && kill -0 $PID; then
		ok "database restarted: pgws reconnected over TLS (pg_stat_ssl: $enc)"
	else
		bad "database restart: up=$up enc=$enc: $(tail -3 "$T/supervised.err")"
	fi
	# A reconnection that fails verification is logged with its cause and
	# retried; once the server presents a good certificate again, it works.
	use_cert wrongname
	sql "$TLS_PORT" "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
	    WHERE application_name = 'pgws'" >/dev/null
	for i in $(seq 100); do
		grep -q 'reconnection failed: .*does not match host name "localhost"' "$T/supervised.err" && break
		sleep 0.1
	done
	logged=$(grep -c 'reconnection failed: .*does not match host name "localhost"' "$T/supervised.err")
	use_cert server
	up=
	for i in $(seq 150); do
		if roundtrip recover 2>/dev/null; then up=1; break; fi
		sleep 0.2
	done
	enc=$(encrypted "$TLS_PORT")
	if [ "$logged" -ge 1 ] && [ -n "$up" ] && enc_ok "$enc" && kill -0 $PID; then
		ok "a reconnection with the wrong certificate is logged ($logged lines) and retried until it verifies"
	else
		bad "reconnect after bad certificate: logged=$logged up=$up enc=$enc: $(grep -E 'failed' "$T/supervised.err" | tail -2)"
	fi
	stop
	if grep -qiE 'PRIVATE KEY|'"$PW" "$T/supervised.err"; then bad "secrets in the debug log"; else ok "debug log holds no secrets"; fi
else
	bad "supervised: did not start: $(tail -1 "$T/supervised.err")"
fi

echo "== empty chroot"
if [ "$(id -u)" = 0 ] && file "$BIN" | grep -q 'statically linked'; then
	R=$T/root
	mkdir -p "$R"
	cp "$BIN" "$R/pgws"
	cp "$P/ca.crt" "$R/ca.crt"
	env -i PGWS_DB_URI="$TLS_IP?sslmode=verify-full&sslrootcert=/ca.crt" PGWS_JWT_SECRET=$SECRET \
	    PGWS_HOST=127.0.0.1 PGWS_PORT=0 PGWS_POOL_SIZE=$POOL \
	    "$(command -v chroot)" "$R" /pgws >"$T/chroot.out" 2>"$T/chroot.err" &
	PID=$!
	PORT=
	for i in $(seq 100); do
		PORT=$(sed -n 's/^Listening on port //p' "$T/chroot.out")
		[ -n "$PORT" ] && break
		sleep 0.1
	done
	if [ -n "$PORT" ] && roundtrip chroot && enc_ok "$(encrypted "$TLS_PORT")"; then
		ok "empty chroot (binary and ca.crt only): verify-full by IP, round trip, all encrypted"
	else
		bad "chroot: $(tail -2 "$T/chroot.err")"
	fi
	stop
else
	echo "skip chroot (not root or not a static binary)"
fi

if grep -lE 'AddressSanitizer|LeakSanitizer|runtime error:' "$T"/*.err >/dev/null 2>&1; then
	bad "sanitizer reports: $(grep -lE 'AddressSanitizer|LeakSanitizer|runtime error:' "$T"/*.err)"
else
	ok "no sanitizer report in any log"
fi

echo "$PASS passed, $FAIL failed"
[ "$FAIL" = 0 ]
