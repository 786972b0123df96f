#!/bin/bash
# pgws under valgrind: a plain glibc build without sanitizers (the sources
# are the Makefile's SRC), a short session that touches most code paths
# (upgrade, messages both ways, fragments, ping, pg_notify, a rejected
# token, a protocol error, /health, /metrics, a static file, close), then
# SIGTERM.  Passes when pgws exits 0 (not valgrind's 99), valgrind reports
# no error and no definitely lost bytes.
#
#   tests/valgrind.sh          (starts a throwaway PostgreSQL unless
#                               PGWS_TEST_URI is set)
#
# Ends with "N passed, N failed"; non-zero exit on any failure.
set -u
cd "$(dirname "$0")/.." || exit 2
PY=/usr/bin/python3
PASS=0
FAIL=0
ok() { PASS=$((PASS + 1)); echo "ok   $*"; }
bad() { FAIL=$((FAIL + 1)); echo "FAIL $*"; }
finish() { echo "$PASS passed, $FAIL failed"; [ "$FAIL" = 0 ]; exit $?; }

command -v valgrind >/dev/null || { bad "valgrind is not installed"; finish; }

WORK=$(mktemp -d /tmp/pgws-vg.XXXXXX)
PGWS_PID=
STARTED_PG=
cleanup() {
	[ -n "$PGWS_PID" ] && kill -KILL "$PGWS_PID" 2>/dev/null
	[ -n "$STARTED_PG" ] && pg_stop
	rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 2' INT TERM

# --- build: exactly the Makefile's sources ------------------------------
SRC=$(printf 'print-src:\n\t@echo $(SRC)\n' | make -s --no-print-directory -f Makefile -f - print-src)
[ -n "$SRC" ] || { bad "could not read SRC from the Makefile"; finish; }
mkdir -p build
# libpq as pgws-debug has it (built with pqtls.c's TLS, deps/pg-glibc).
mkv() { printf 'p:\n\t@echo $(%s)\n' "$1" | make -s --no-print-directory -f Makefile -f - p; }
PQ_INC=$(mkv PGG_INC)
PQ_LIBS=$(mkv PGG_LIBS)
if cc $PQ_INC -std=c11 -g -O1 -D_DEFAULT_SOURCE -DPGWS_VERSION='"valgrind"' \
    -o build/pgws-vg $SRC $PQ_LIBS -lbearssl -lm \
    >"$WORK/build.log" 2>&1; then
	ok "built build/pgws-vg from: $SRC"
else
	cat "$WORK/build.log"
	bad "build of build/pgws-vg"
	finish
fi

# --- database -------------------------------------------------------------
if [ -z "${PGWS_TEST_URI:-}" ]; then
	. tests/pg.sh
	pg_start || { bad "throwaway PostgreSQL did not start"; finish; }
	STARTED_PG=1
fi
export PGWS_TEST_URI

# --- pgws under valgrind ---------------------------------------------------
mkdir -p "$WORK/root"
printf '<h1>valgrind</h1>\n' >"$WORK/root/index.html"
printf 'plain text\n' >"$WORK/root/a.txt"

env -i PATH="$PATH" \
    PGWS_DB_URI="$PGWS_TEST_URI" \
    PGWS_JWT_SECRET=reallyreallyreallyreallyverysafe \
    PGWS_HOST=127.0.0.1 PGWS_PORT=0 PGWS_POOL_SIZE=2 \
    PGWS_MAX_CONNECTIONS=200 \
    PGWS_META_CHANNEL=server-info \
    PGWS_ROOT_PATH="$WORK/root" \
    valgrind --leak-check=full --errors-for-leak-kinds=definite \
    --error-exitcode=99 --log-file="$WORK/valgrind.log" \
    build/pgws-vg >"$WORK/out" 2>"$WORK/err" &
PGWS_PID=$!

PORT=
for _ in $(seq 1 600); do
	PORT=$(sed -n 's/^Listening on port \([0-9]*\).*/\1/p' "$WORK/out")
	[ -n "$PORT" ] && break
	kill -0 "$PGWS_PID" 2>/dev/null || break
	sleep 0.1
done
if [ -n "$PORT" ]; then
	ok "pgws under valgrind listening on port $PORT"
else
	bad "pgws under valgrind did not start"
	cat "$WORK/err" "$WORK/valgrind.log"
	finish
fi

# --- the session ------------------------------------------------------------
PORT=$PORT PYTHONPATH=tests "$PY" - <<'EOF' >"$WORK/session.log" 2>&1 &
import json, os, socket, subprocess, time
from harness import Raw, check, token, upgrade_request
import harness

port = int(os.environ["PORT"])
LISTEN = "postgres-websockets-listener"


def http(raw, timeout=10):
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    s.sendall(raw)
    out = b""
    try:
        while True:
            b = s.recv(65536)
            if not b:
                break
            out += b
    except (socket.timeout, ConnectionResetError):
        pass
    s.close()
    return out


def data(r, timeout=10):
    while True:
        f = r.recv_frame(timeout)
        if f is None or f[0] not in (9, 10):
            return f


def masked(op, payload, fin=True):
    key = os.urandom(4)
    return bytes([(0x80 if fin else 0) | op, 0x80 | len(payload)]) + key + \
        bytes(c ^ key[i % 4] for i, c in enumerate(payload))


rw = Raw(port, "/chat/" + token({"mode": "rw", "channel": "chat", "u": "x"}), 10)
check(rw.status == 101, "rw websocket upgraded")
rd = Raw(port, "/" + token({"mode": "r", "channels": ["chat", "other"],
                            "exp": int(time.time()) + 3600}), 10)
check(rd.status == 101, "r websocket on two channels upgraded")
meta = Raw(port, "/server-info/" + token({"mode": "r", "channel": "server-info"}), 10)
check(meta.status == 101, "meta reader upgraded")

for i in range(3):
    rw.send_frame(1, ("hello %d é" % i).encode())
for i in range(3):
    f = data(rd)
    ok = f is not None and f[0] == 1 and json.loads(f[1])["payload"] == "hello %d é" % i
    check(ok, "message %d: websocket -> PostgreSQL -> reader" % i)
# a fragmented message with a ping in the middle
rw.s.sendall(masked(1, b"frag", False) + masked(9, b"pp") + masked(0, b"ment"))
f = rw.recv_frame(10)
while f is not None and f[0] != 10:
    f = rw.recv_frame(10)
check(f == (10, b"pp"), "ping between fragments answered with its pong")
f = data(rd)
check(f is not None and json.loads(f[1])["payload"] == "fragment", "fragmented message delivered")

r = subprocess.run(["psql", "-X", "-q", "-At", os.environ["PGWS_TEST_URI"], "-c",
                    "SELECT pg_notify('%s', '{\"channel\":\"other\",\"payload\":\"from sql\"}')" % LISTEN],
                   capture_output=True, text=True, timeout=30)
check(r.returncode == 0, "pg_notify from psql")
f = data(rd)
check(f is not None and json.loads(f[1])["payload"] == "from sql", "pg_notify reaches the reader")

bad = http(upgrade_request("/chat/" + token({"mode": "r", "channel": "chat"}, secret="wrong")))
check(bad.startswith(b"HTTP/1.1 401"), "wrong signature -> 401")
bad = http(upgrade_request("/nope/" + token({"mode": "r", "channel": "chat"})))
check(bad.startswith(b"HTTP/1.1 403"), "channel not allowed -> 403")
h = http(b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
check(h.startswith(b"HTTP/1.1 200"), "/health 200")
m = http(b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
check(m.startswith(b"HTTP/1.1 200") and b"pgws_websockets 3" in m, "/metrics")
s = http(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
check(b"<h1>valgrind</h1>" in s, "static index.html")
s = http(b"GET /missing HTTP/1.1\r\nHost: x\r\n\r\n"
         b"HEAD /a.txt HTTP/1.1\r\nHost: x\r\n\r\n"
         b"GET /a.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
check(b"404" in s and s.count(b"Content-Length: 11") == 2 and b"plain text" in s,
      "keep-alive: a 404, a HEAD and a static file")

# protocol error and a too-big envelope
e = Raw(port, "/chat/" + token({"mode": "rw", "channel": "chat"}), 10)
e.send_frame(1, b"\xff\xfe")
check(e.recv_close(10) == 1007, "invalid UTF-8 -> 1007")
e.close()
e = Raw(port, "/chat/" + token({"mode": "rw", "channel": "chat"}), 10)
e.send_frame(1, b"x" * 9000)
check(e.recv_close(10) == 1009, "envelope too big -> 1009")
e.send_frame(8, (1000).to_bytes(2, "big"))
e.close()
# abandoned half request
a = socket.create_connection(("127.0.0.1", port))
a.sendall(b"GET /chat/")
a.close()

rw.send_frame(8, (1000).to_bytes(2, "big") + b"bye")
check(rw.recv_close(10) == 1000, "close handshake: 1000 echoed")
rw.close()
# rd and meta stay open: SIGTERM must close them with 1001
print("HOLDING", flush=True)
check(rd.recv_close(60) == 1001, "SIGTERM: open websocket gets close 1001")
check(meta.recv_close(10) == 1001, "SIGTERM: meta reader gets close 1001")
print("%d passed, %d failed" % (harness.passed, harness.failed))
EOF
SESSION=$!
for _ in $(seq 1 1200); do
	grep -q '^HOLDING' "$WORK/session.log" && break
	kill -0 "$SESSION" 2>/dev/null || break
	sleep 0.1
done

# --- SIGTERM and the verdict ------------------------------------------------
kill -TERM "$PGWS_PID"
for _ in $(seq 1 600); do
	kill -0 "$SESSION" 2>/dev/null || break
	sleep 0.1
done
kill "$SESSION" 2>/dev/null
wait "$SESSION" 2>/dev/null
grep -E '^(ok|FAIL|Traceback)' "$WORK/session.log" || true
line=$(grep -E '^[0-9]+ passed, [0-9]+ failed' "$WORK/session.log" | tail -1)
if [ -n "$line" ]; then
	p=${line%% passed*}; f=${line#*passed, }; f=${f%% failed*}
	PASS=$((PASS + p)); FAIL=$((FAIL + f))
else
	cat "$WORK/session.log"
	bad "session did not finish"
fi
rc=
for _ in $(seq 1 300); do
	if ! kill -0 "$PGWS_PID" 2>/dev/null; then
		wait "$PGWS_PID"; rc=$?
		break
	fi
	sleep 0.1
done
if [ -z "$rc" ]; then
	bad "pgws did not exit within 30 s of SIGTERM"
	kill -KILL "$PGWS_PID" 2>/dev/null
	wait "$PGWS_PID" 2>/dev/null
	rc=killed
fi
PGWS_PID=
[ "$rc" = 0 ] && ok "pgws exited 0 after SIGTERM" || bad "pgws exit status $rc (99: valgrind found errors)"

VG=$WORK/valgrind.log
if grep -q "ERROR SUMMARY: 0 errors" "$VG"; then
	ok "valgrind: ERROR SUMMARY: 0 errors"
else
	bad "valgrind: $(grep 'ERROR SUMMARY' "$VG" | tail -1)"
fi
if grep -q "definitely lost: 0 bytes" "$VG" || grep -q "All heap blocks were freed" "$VG" \
    || ! grep -q "definitely lost:" "$VG"; then
	ok "valgrind: nothing definitely lost ($(grep -E 'definitely lost|in use at exit' "$VG" | sed 's/^==[0-9]*== *//' | tr '\n' ' '))"
else
	bad "valgrind: $(grep 'definitely lost:' "$VG" | tail -1 | sed 's/^==[0-9]*== *//')"
fi
if [ "$FAIL" != 0 ]; then
	echo "--- valgrind log (errors and leaks)"
	grep -v '^==[0-9]*== *$' "$VG" | sed -n '/Invalid\|uninitialised\|definitely lost in\|Syscall param/,+25p' | head -200
	echo "--- pgws log (tail)"
	tail -30 "$WORK/err"
fi
finish
