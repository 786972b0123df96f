#!/bin/bash
# `make run`: pgws for a first look.  Without PGWS_DB_URI it starts a
# throwaway PostgreSQL (removed again on exit); it mints a development
# token, serves the example page and prints what to open and what to type.
set -u
cd "$(dirname "$0")" || exit 2
. tests/pg.sh
[ -x ./pgws ] || make -s pgws || exit 1

cleanup() { [ -n "${PID:-}" ] && kill -TERM "$PID" 2>/dev/null && wait "$PID"; pg_stop; }
trap cleanup EXIT
trap 'exit 0' INT TERM

if [ -z "${PGWS_DB_URI:-}" ]; then
	echo "PGWS_DB_URI is not set: starting a throwaway PostgreSQL..."
	pg_start || exit 1
	export PGWS_DB_URI=$PGWS_TEST_URI
	echo "throwaway PostgreSQL in $PG_DIR, port $PG_PORT"
fi
export PGWS_JWT_SECRET=${PGWS_JWT_SECRET:-development-secret-do-not-use-in-production}
export PGWS_META_CHANNEL=${PGWS_META_CHANNEL:-server-info}
export PGWS_HOST=${PGWS_HOST:-127.0.0.1}
export PGWS_PORT=${PGWS_PORT:-3000}
[ -d client-example ] && export PGWS_ROOT_PATH=${PGWS_ROOT_PATH:-$PWD/client-example}

TOKEN=$(./pgws token --mode rw --channel chat --channel "$PGWS_META_CHANNEL" --exp 86400 --claim user=dev) || exit 1
./pgws &
PID=$!
sleep 0.5
kill -0 "$PID" 2>/dev/null || exit 1
cat <<MSG

pgws is running on port $PGWS_PORT.  A development token (mode rw, channels chat and $PGWS_META_CHANNEL, 24 h):

  $TOKEN

Open:   http://127.0.0.1:$PGWS_PORT/#token=$TOKEN
Listen: ./pgws client ws://127.0.0.1:$PGWS_PORT/chat/$TOKEN
Send from SQL:
  psql '$PGWS_DB_URI' -c "SELECT pg_notify('postgres-websockets-listener', json_build_object('channel','chat','payload','hello from SQL')::text)"

Ctrl-C stops pgws$( [ -n "${PG_DIR:-}" ] && echo " and removes the throwaway database").
MSG
wait "$PID"
