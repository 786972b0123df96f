# Sourced by test.sh and run.sh: a throwaway PostgreSQL cluster in a
# temporary directory, bound to 127.0.0.1 on a free port, run as the
# postgres user when we are root, stopped and removed by pg_stop.
#
#   pg_start        sets PG_DIR, PG_PORT, PGWS_TEST_URI; returns non-zero on failure
#   pg_stop         stops the cluster and removes its directory
#   free_port       prints a TCP port nothing listens on

PG_BIN=${PG_BIN:-$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)}

free_port() {
	local p
	for p in $(shuf -i 15000-32000 -n 100); do
		if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
			echo "$p"
			return 0
		fi
	done
	return 1
}

pg_as() {
	if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

pg_start() {
	[ -x "$PG_BIN/initdb" ] || { echo "pg.sh: no PostgreSQL server found (install postgresql)" >&2; return 1; }
	PG_DIR=$(mktemp -d /tmp/pgws-pg.XXXXXX) || return 1
	[ "$(id -u)" = 0 ] && chown postgres "$PG_DIR"
	PG_PORT=$(free_port) || return 1
	pg_as "$PG_BIN/initdb" -D "$PG_DIR/data" -U postgres -A trust -E UTF8 \
	    --locale=C.UTF-8 >"$PG_DIR/initdb.log" 2>&1 \
	    || { cat "$PG_DIR/initdb.log" >&2; return 1; }
	pg_as "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -l "$PG_DIR/server.log" -w -t 30 \
	    -o "-c listen_addresses=127.0.0.1 -p $PG_PORT -k $PG_DIR -c fsync=off -c max_connections=200" \
	    start >/dev/null || { cat "$PG_DIR/server.log" >&2; return 1; }
	PGWS_TEST_URI="postgres://postgres@127.0.0.1:$PG_PORT/postgres"
	export PG_DIR PG_PORT PGWS_TEST_URI
}

pg_restart() {
	pg_as "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -m fast -w -t 30 restart \
	    -o "-c listen_addresses=127.0.0.1 -p $PG_PORT -k $PG_DIR -c fsync=off -c max_connections=200" >/dev/null
}

# pg_halt / pg_resume: the server down and up again, data kept.
pg_halt() {
	pg_as "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -m fast -w -t 30 stop >/dev/null
}

pg_resume() {
	pg_as "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -l "$PG_DIR/server.log" -w -t 30 \
	    -o "-c listen_addresses=127.0.0.1 -p $PG_PORT -k $PG_DIR -c fsync=off -c max_connections=200" \
	    start >/dev/null
}

pg_stop() {
	[ -n "${PG_DIR:-}" ] || return 0
	if [ -f "$PG_DIR/data/postmaster.pid" ]; then
		pg_as "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -m immediate -w -t 30 stop >/dev/null 2>&1
	fi
	rm -rf "$PG_DIR"
	PG_DIR=
}
