#!/bin/bash
# Command-line behaviour of the binary given as $1: --help, --version,
# configuration errors (exit 2, naming the variable), start-up against the
# database in PGWS_TEST_URI, database retries, `pgws token`, and the binary
# alone in an empty chroot.
set -u
BIN=$(realpath "$1")
PASS=0
FAIL=0
T=$(mktemp -d /tmp/pgws-cli.XXXXXX)
trap 'rm -rf "$T"' EXIT
. "$(dirname "$0")/pg.sh"

ok() { PASS=$((PASS + 1)); echo "ok   $*"; }
bad() { FAIL=$((FAIL + 1)); echo "FAIL $*"; }
SECRET=reallyreallyreallyreallyverysafe

# run_env EXPECTED_STATUS REGEX [VAR=VALUE...]: pgws with only these
# variables must exit with that status and say something matching REGEX.
run_env() {
	local want=$1 re=$2
	shift 2
	env -i "$@" timeout 20 "$BIN" >"$T/out" 2>"$T/err" </dev/null
	local rc=$?
	if [ "$rc" = "$want" ] && grep -qE "$re" "$T/out" "$T/err"; then
		ok "exit $want /$re/ for $*"
	else
		bad "expected exit $want and /$re/ for $*; got $rc: $(head -c 300 "$T/err")"
	fi
}

"$BIN" --help >"$T/help" 2>&1 && ok "--help exits 0" || bad "--help"
for v in PGWS_DB_URI PGWS_JWT_SECRET PGWS_JWT_SECRET_BASE64 PGWS_HOST PGWS_PORT \
    PGWS_LISTEN_CHANNEL PGWS_META_CHANNEL PGWS_ROOT_PATH PGWS_POOL_SIZE \
    PGWS_RETRIES PGWS_CHECK_LISTENER_INTERVAL PGWS_CERTIFICATE_FILE PGWS_KEY_FILE \
    PGWS_MAX_CONNECTIONS PGWS_MAX_HEADER_SIZE PGWS_MAX_MESSAGE_SIZE \
    PGWS_MAX_PENDING PGWS_MAX_PENDING_HARD PGWS_MAX_PENDING_TOTAL PGWS_SLOW_TIMEOUT \
    PGWS_MAX_TOKEN_SIZE PGWS_HANDSHAKE_TIMEOUT \
    PGWS_PING_INTERVAL PGWS_CLOSE_TIMEOUT PGWS_PUBLISH_QUEUE PGWS_PUBLISH_QUEUE_BYTES \
    PGWS_PUBLISH_BATCH PGWS_EVENT_BACKEND PGWS_LOG_LEVEL; do
	grep -q "^  $v " "$T/help" || { bad "--help does not list $v"; continue; }
done
ok "--help lists every variable"
grep -q '\[postgres-websockets-listener\]' "$T/help" && ok "--help shows defaults" || bad "--help defaults"
"$BIN" --version | grep -qE '^pgws [0-9]+\.[0-9]+' && ok "--version" || bad "--version"
"$BIN" --bogus >/dev/null 2>&1; [ $? = 2 ] && ok "unknown argument exits 2" || bad "unknown argument"

DB="PGWS_DB_URI=${PGWS_TEST_URI:-postgres://nobody@127.0.0.1:1/x}"
run_env 2 'PGWS_DB_URI' PGWS_JWT_SECRET=$SECRET
run_env 2 'PGWS_JWT_SECRET' "$DB"
run_env 2 'PGWS_PORT' "$DB" PGWS_JWT_SECRET=$SECRET PGWS_PORT=70000
run_env 2 'PGWS_PORT' "$DB" PGWS_JWT_SECRET=$SECRET PGWS_PORT=12ab
run_env 2 'PGWS_POOL_SIZE' "$DB" PGWS_JWT_SECRET=$SECRET PGWS_POOL_SIZE=0
# PGWS_RETRIES below 1 means one attempt (tests/test_dropin.py); only
# nonsense and values above the maximum stop pgws.
run_env 2 'PGWS_RETRIES' "$DB" PGWS_JWT_SECRET=$SECRET PGWS_RETRIES=1001
run_env 2 'PGWS_RETRIES' "$DB" PGWS_JWT_SECRET=$SECRET PGWS_RETRIES=few
run_env 2 'PGWS_JWT_SECRET_BASE64' "$DB" PGWS_JWT_SECRET=$SECRET PGWS_JWT_SECRET_BASE64=maybe
run_env 2 'PGWS_JWT_SECRET' "$DB" PGWS_JWT_SECRET='!!!' PGWS_JWT_SECRET_BASE64=true
run_env 2 'PGWS_JWT_SECRET' "$DB" PGWS_JWT_SECRET='{"kty":"RSA"}'
run_env 2 'PGWS_JWT_SECRET.*/nonexistent' "$DB" PGWS_JWT_SECRET=@/nonexistent/secret
run_env 2 'PGWS_DB_URI.*/nonexistent' PGWS_DB_URI=@/nonexistent/uri PGWS_JWT_SECRET=$SECRET
run_env 2 'PGWS_KEY_FILE' "$DB" PGWS_JWT_SECRET=$SECRET PGWS_CERTIFICATE_FILE=/x.pem
run_env 2 'PGWS_CERTIFICATE_FILE' "$DB" PGWS_JWT_SECRET=$SECRET PGWS_KEY_FILE=/x.pem
# A PGWS_ROOT_PATH that does not exist is a warning (tests/test_dropin.py).
run_env 2 'PGWS_HOST' "$DB" PGWS_JWT_SECRET=$SECRET PGWS_HOST='*5'
run_env 2 'PGWS_LOG_LEVEL' "$DB" PGWS_JWT_SECRET=$SECRET PGWS_LOG_LEVEL=loud
run_env 2 'PGWS_EVENT_BACKEND' "$DB" PGWS_JWT_SECRET=$SECRET PGWS_EVENT_BACKEND=kqueue
run_env 2 'PGWS_PUBLISH_QUEUE_BYTES' "$DB" PGWS_JWT_SECRET=$SECRET PGWS_PUBLISH_QUEUE_BYTES=10
run_env 2 'PGWS_MAX_MESSAGE_SIZE' "$DB" PGWS_JWT_SECRET=$SECRET PGWS_MAX_MESSAGE_SIZE=0
# A channel name PostgreSQL would truncate: exit 2 naming the variable.
run_env 2 'PGWS_LISTEN_CHANNEL' "$DB" PGWS_JWT_SECRET=$SECRET \
    PGWS_LISTEN_CHANNEL=$(printf 'c%.0s' $(seq 64))
# The output queue limits: below their minimum, and a hard cap under the soft one.
run_env 2 'PGWS_SLOW_TIMEOUT' "$DB" PGWS_JWT_SECRET=$SECRET PGWS_SLOW_TIMEOUT=0
run_env 2 'PGWS_MAX_PENDING_TOTAL' "$DB" PGWS_JWT_SECRET=$SECRET PGWS_MAX_PENDING_TOTAL=65535
run_env 2 'PGWS_MAX_PENDING_HARD.*less than PGWS_MAX_PENDING' "$DB" PGWS_JWT_SECRET=$SECRET \
    PGWS_MAX_PENDING=2048 PGWS_MAX_PENDING_HARD=2047
run_env 2 'PGWS_CHECK_LISTENER_INTERVAL' "$DB" PGWS_JWT_SECRET=$SECRET PGWS_CHECK_LISTENER_INTERVAL=soon
run_env 2 'PGWS_HOST' "$DB" PGWS_JWT_SECRET=$SECRET PGWS_HOST=no.such.host.invalid PGWS_PORT=0

# The database unreachable: PGWS_RETRIES attempts with back-off, then exit 1
# with libpq's message.
p=$(free_port)
start=$(date +%s)
run_env 1 'Connection refused|could not connect' PGWS_DB_URI=postgres://x@127.0.0.1:$p/x \
    PGWS_JWT_SECRET=$SECRET PGWS_RETRIES=2 PGWS_PORT=0 PGWS_HOST=127.0.0.1
el=$(( $(date +%s) - start ))
[ "$el" -ge 1 ] && [ "$el" -le 10 ] && ok "2 retries took ${el}s (back-off 1 s)" || bad "retries took ${el}s"

if [ -n "${PGWS_TEST_URI:-}" ]; then
	# @file forms: the URI with surrounding whitespace, the secret with one newline.
	printf '  %s \n\n' "$PGWS_TEST_URI" >"$T/uri"
	printf '%s\n' "$SECRET" >"$T/secret"
	env -i PGWS_DB_URI=@$T/uri PGWS_JWT_SECRET=@$T/secret PGWS_HOST=127.0.0.1 \
	    PGWS_PORT=0 "$BIN" >"$T/out" 2>"$T/err" &
	pid=$!
	for i in $(seq 50); do grep -q 'Listening on port' "$T/out" && break; sleep 0.1; done
	port=$(sed -n 's/^Listening on port //p' "$T/out")
	[ -n "$port" ] && ok "starts with @file URI and secret, prints 'Listening on port $port'" \
	    || bad "did not start with @file values: $(cat "$T/err")"
	tok=$(PGWS_JWT_SECRET=$SECRET "$BIN" token --mode r --channel test)
	code=$(curl -s -o /dev/null -w '%{http_code}' -H 'Connection: Upgrade' -H 'Upgrade: websocket' \
	    -H 'Sec-WebSocket-Version: 13' -H 'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==' \
	    --max-time 2 "http://127.0.0.1:$port/test/$tok")
	[ "$code" = 101 ] && ok "the @file secret (trailing newline dropped) verifies tokens" || bad "upgrade with @file secret gave $code"
	# pgws token reads a CR LF secret file as the server does.
	printf '%s\r\n' "$SECRET" >"$T/secret.crlf"
	tok=$(env -i PGWS_JWT_SECRET=@$T/secret.crlf "$BIN" token --mode r --channel test)
	code=$(curl -s -o /dev/null -w '%{http_code}' -H 'Connection: Upgrade' -H 'Upgrade: websocket' \
	    -H 'Sec-WebSocket-Version: 13' -H 'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==' \
	    --max-time 2 "http://127.0.0.1:$port/test/$tok")
	[ "$code" = 101 ] && ok "pgws token with a CR LF @file secret mints tokens the server accepts" \
	    || bad "token from a CR LF secret file gave $code"
	grep -q 'info' "$T/err" && ok "logs go to stderr with a level" || bad "no log lines"
	grep -qE '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:.]+Z info ' "$T/err" && ok "log lines carry an ISO-8601 UTC time" || bad "log format: $(head -2 "$T/err")"
	kill -TERM $pid; wait $pid; rc=$?
	[ $rc = 0 ] && ok "SIGTERM exits 0" || bad "SIGTERM exit $rc"

	# The output queue limits at their minimum values start.
	env -i PGWS_DB_URI=$PGWS_TEST_URI PGWS_JWT_SECRET=$SECRET PGWS_HOST=127.0.0.1 \
	    PGWS_PORT=0 PGWS_MAX_PENDING=1024 PGWS_MAX_PENDING_HARD=1024 \
	    PGWS_MAX_PENDING_TOTAL=65536 PGWS_SLOW_TIMEOUT=1 "$BIN" >"$T/out" 2>"$T/err" &
	pid=$!
	for i in $(seq 50); do grep -q 'Listening on port' "$T/out" && break; sleep 0.1; done
	grep -q 'Listening on port' "$T/out" && ok "queue limits at their minimum values start" \
	    || bad "queue limits at minimum: $(cat "$T/err")"
	kill -TERM $pid; wait $pid

	# A short secret is warned about; a 32-byte one is not.
	env -i PGWS_DB_URI=$PGWS_TEST_URI PGWS_JWT_SECRET=short PGWS_HOST=127.0.0.1 \
	    PGWS_PORT=0 "$BIN" >"$T/out" 2>"$T/err" &
	pid=$!
	for i in $(seq 50); do grep -q 'Listening on port' "$T/out" && break; sleep 0.1; done
	kill -TERM $pid; wait $pid
	grep -q 'warn PGWS_JWT_SECRET: key 1 is 5 bytes' "$T/err" && ok "a 5-byte secret is warned about" \
	    || bad "no warning for a short secret: $(head -3 "$T/err")"
	env -i PGWS_DB_URI=$PGWS_TEST_URI PGWS_JWT_SECRET=$SECRET PGWS_HOST=127.0.0.1 \
	    PGWS_PORT=0 "$BIN" >"$T/out" 2>"$T/err" &
	pid=$!
	for i in $(seq 50); do grep -q 'Listening on port' "$T/out" && break; sleep 0.1; done
	kill -TERM $pid; wait $pid
	! grep -q 'shorter than' "$T/err" && ok "a 32-byte secret is not warned about" || bad "warned about a 32-byte secret"

	# SIGHUP while the start-up retries wait for the database: pgws goes on.
	p=$(free_port)
	env -i PGWS_DB_URI=postgres://x@127.0.0.1:$p/x PGWS_JWT_SECRET=$SECRET PGWS_RETRIES=3 \
	    PGWS_PORT=0 PGWS_HOST=127.0.0.1 "$BIN" >"$T/out" 2>"$T/err" &
	pid=$!
	sleep 0.5
	kill -HUP $pid
	wait $pid; rc=$?
	[ $rc = 1 ] && grep -q 'attempt 3 of 3' "$T/err" && ok "SIGHUP during start-up retries: all 3 attempts, exit 1" \
	    || bad "SIGHUP during start-up: exit $rc, $(tail -2 "$T/err")"

	# PGWS_LOG_LEVEL=error keeps info lines out.
	env -i PGWS_DB_URI=$PGWS_TEST_URI PGWS_JWT_SECRET=$SECRET PGWS_HOST=127.0.0.1 \
	    PGWS_PORT=0 PGWS_LOG_LEVEL=error "$BIN" >"$T/out" 2>"$T/err" &
	pid=$!
	for i in $(seq 50); do grep -q 'Listening on port' "$T/out" && break; sleep 0.1; done
	kill -TERM $pid; wait $pid
	! grep -q ' info ' "$T/err" && ok "PGWS_LOG_LEVEL=error silences info" || bad "info lines at level error"

	# The binary alone in an empty root: no libraries, no /etc.
	if [ "$(id -u)" = 0 ] && file "$BIN" | grep -q 'statically linked'; then
		mkdir -p "$T/root"
		cp "$BIN" "$T/root/pgws"
		env -i PGWS_DB_URI=$PGWS_TEST_URI PGWS_JWT_SECRET=$SECRET PGWS_HOST=127.0.0.1 \
		    PGWS_PORT=0 "$(command -v chroot)" "$T/root" /pgws >"$T/out" 2>"$T/err" &
		pid=$!
		for i in $(seq 50); do grep -q 'Listening on port' "$T/out" && break; sleep 0.1; done
		port=$(sed -n 's/^Listening on port //p' "$T/out")
		[ -n "$port" ] && [ "$(ls "$T/root")" = pgws ] && ok "runs in an empty chroot holding only the binary" \
		    || bad "chroot: $(cat "$T/err")"
		code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "http://127.0.0.1:$port/health")
		[ "$code" = 200 ] && ok "chroot: /health 200 (database reached over TCP)" || bad "chroot health $code"
		# The image's HEALTHCHECK and an init container's check, with
		# nothing but the binary around them.
		env -i "$(command -v chroot)" "$T/root" /pgws check --url "http://127.0.0.1:$port/health" \
		    >"$T/chk" 2>&1 && grep -q '^ok: .* answered 200' "$T/chk" \
		    && ok "chroot: pgws check --url (the HEALTHCHECK) exits 0" || bad "chroot check --url: $(cat "$T/chk")"
		env -i PGWS_DB_URI=$PGWS_TEST_URI PGWS_JWT_SECRET=$SECRET "$(command -v chroot)" "$T/root" \
		    /pgws check >"$T/chk" 2>&1 && grep -q '^ok: configuration valid; connected to .*LISTEN' "$T/chk" \
		    && ok "chroot: pgws check reaches the database and LISTENs" || bad "chroot check: $(cat "$T/chk")"
		kill -TERM $pid; wait $pid; rc=$?
		[ $rc = 0 ] && ok "chroot: SIGTERM exits 0" || bad "chroot: exit $rc"
	else
		echo "skip chroot (not root or not a static binary)"
	fi
fi

# pgws token: a claim the options write, or one given twice, is refused,
# never written twice; --exp is range-checked.
for args in "--claim mode=r" "--claim channels=x" "--claim exp=1" "--claim a=1 --claim a=2" \
    "--exp 315360001" "--exp 99999999999999999999" "--exp 0" "--exp 12x"; do
	env -i PGWS_JWT_SECRET=$SECRET "$BIN" token $args >"$T/out" 2>"$T/err"
	[ $? = 2 ] && [ ! -s "$T/out" ] && ok "pgws token $args: refused ($(head -c 80 "$T/err"))" \
	    || bad "pgws token $args: $(cat "$T/out")"
done
env -i PGWS_JWT_SECRET=$SECRET "$BIN" token --exp 315360000 --claim ab=1 --claim a=2 >"$T/out" 2>"$T/err" \
    && ok "pgws token --exp 315360000 (ten years) and claims a, ab" || bad "pgws token at the --exp limit: $(cat "$T/err")"

# pgws token: claims and signature checked with Python's hmac, independently.
tok=$(env -i PGWS_JWT_SECRET=$SECRET "$BIN" token --mode rw --channel a --channel b --exp 60 --claim user=alice)
/usr/bin/python3 - "$tok" "$SECRET" <<'PY' && ok "pgws token: HS256, claims as asked" || bad "pgws token: $tok"
import sys, json, base64, hmac, hashlib, time
tok, sec = sys.argv[1], sys.argv[2]
h, p, s = tok.split(".")
d = lambda x: base64.urlsafe_b64decode(x + "=" * (-len(x) % 4))
mac = hmac.new(sec.encode(), (h + "." + p).encode(), hashlib.sha256).digest()
assert d(s) == mac
assert json.loads(d(h))["alg"] == "HS256"
c = json.loads(d(p))
assert c["mode"] == "rw" and c["channels"] == ["a", "b"] and c["user"] == "alice"
assert abs(c["exp"] - time.time() - 60) < 5
PY
env -i "$BIN" token >/dev/null 2>&1; [ $? = 2 ] && ok "pgws token without a secret exits 2" || bad "token without secret"
env -i PGWS_JWT_SECRET=x "$BIN" token --mode q >/dev/null 2>&1; [ $? = 2 ] && ok "pgws token --mode q exits 2" || bad "token bad mode"
env -i PGWS_JWT_SECRET=x PGWS_JWT_SECRET_BASE64=maybe "$BIN" token >/dev/null 2>&1; [ $? = 2 ] \
    && ok "pgws token with PGWS_JWT_SECRET_BASE64=maybe exits 2" || bad "token BASE64=maybe"

echo "$PASS passed, $FAIL failed"
[ "$FAIL" = 0 ]
