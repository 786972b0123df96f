#!/bin/bash
# The README's run command from a fresh clone: `make run` comes up with a
# throwaway PostgreSQL, serves the example page, delivers a message, and
# removes everything after SIGINT.  deps/ is shared with this checkout so the
# clone does not fetch and build libpq and BearSSL again.
set -u
top=$(cd "$(dirname "$0")/.." && pwd)
PASS=0
FAIL=0
ok() { PASS=$((PASS + 1)); echo "ok   $*"; }
bad() { FAIL=$((FAIL + 1)); echo "FAIL $*"; }
T=$(mktemp -d /tmp/pgws-run.XXXXXX)
trap 'kill -INT $pid 2>/dev/null; sleep 1; rm -rf "$T"' EXIT
. "$top/tests/pg.sh"

git clone -q "$top" "$T/clone" || { echo "0 passed, 1 failed"; exit 1; }
[ -d "$top/deps" ] && ln -s "$top/deps" "$T/clone/deps"
port=$(free_port)
cd "$T/clone"
env -u PGWS_DB_URI PGWS_PORT=$port setsid make -s run >"$T/out" 2>"$T/err" </dev/null &
pid=$!
for i in $(seq 600); do grep -q '^Open:' "$T/out" && break; sleep 0.1; done
url=$(sed -n 's/^Open: *//p' "$T/out")
[ -n "$url" ] && ok "make run prints the URL to open" || bad "make run: $(tail -5 "$T/err")"
page=$(curl -s --max-time 5 "http://127.0.0.1:$port/")
echo "$page" | grep -q '<html' && ok "the example page is served" || bad "no page at /"
tok=${url#*#token=}
uri=$(grep -o "psql '[^']*'" "$T/out" | head -1 | tr -d "'" | cut -d' ' -f2)
sqlcmd=$(sed -n "s/^  psql '\([^']*\)' -c \"\(.*\)\"$/\2/p" "$T/out")
( sleep 1; psql -X -q "$uri" -c "$sqlcmd" >/dev/null ) &
msg=$(timeout 10 "$top/pgws" client --count 1 "ws://127.0.0.1:$port/chat/$tok" </dev/null)
echo "$msg" | grep -q 'hello from SQL' && ok "the printed psql command reaches a client of the page's channel" \
    || bad "psql command did not arrive: '$msg' (uri $uri)"
kill -INT -- -$pid 2>/dev/null || kill -INT $pid
for i in $(seq 100); do kill -0 $pid 2>/dev/null || break; sleep 0.1; done
! kill -0 $pid 2>/dev/null && ok "Ctrl-C stops make run" || bad "make run still running"
curl -s --max-time 2 "http://127.0.0.1:$port/health" >/dev/null && bad "pgws still answers" || ok "pgws stopped"
pgdir=$(sed -n 's/^throwaway PostgreSQL in \([^,]*\),.*/\1/p' "$T/out")
[ -n "$pgdir" ] && ok "make run started a throwaway PostgreSQL ($pgdir)" || bad "no throwaway PostgreSQL reported"
[ -n "$pgdir" ] && [ ! -e "$pgdir" ] && ok "the throwaway database was removed" || bad "throwaway database left behind: $pgdir"
echo "$PASS passed, $FAIL failed"
[ "$FAIL" = 0 ]
