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

# A TLS cluster beside the plain one (tests/db_tls_test.sh and
# tests/release_test.sh): certificates made by openssl, ssl=on, and a
# pg_hba.conf whose only TCP lines are hostssl.
#
#   pg_tls_certs DIR                 DIR/ca.{crt,key}, DIR/server.{crt,key}
#                                    (localhost, 127.0.0.1, signed by ca) and
#                                    DIR/wrongca.{crt,key} (another CA)
#   pg_tls_init DATA PKI [HBA...]    initdb DATA, ssl=on with PKI/server.*;
#                                    pg_hba: local trust, the HBA lines given,
#                                    then hostssl all all 127.0.0.1/32 trust
#   pg_tls_run DATA PORT SOCKDIR     starts it on 127.0.0.1:PORT
#   pg_tls_halt DATA                 stops it (immediate)
pg_tls_certs() {
	(
		set -e
		cd "$1"
		ossl() { openssl "$@" >/dev/null 2>&1; }
		ossl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.crt -days 30 \
		    -subj /CN=pgws-test-ca
		ossl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
		    -keyout wrongca.key -out wrongca.crt -days 30 -subj /CN=pgws-other-ca
		ossl req -newkey rsa:2048 -nodes -keyout server.key -out server.csr -subj /CN=localhost
		printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\n' >server.ext
		ossl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial \
		    -days 30 -out server.crt -extfile server.ext
		chmod 600 ./*.key
	) || return 1
	[ "$(id -u)" = 0 ] && chown postgres "$1/server.key"
	return 0
}

pg_tls_init() {
	local data=$1 pki=$2 l
	shift 2
	[ "$(id -u)" = 0 ] && chown postgres "$(dirname "$data")"
	pg_as "$PG_BIN/initdb" -D "$data" -U postgres -A trust -E UTF8 \
	    --locale=C.UTF-8 >"$data.initdb.log" 2>&1 \
	    || { cat "$data.initdb.log" >&2; return 1; }
	cat >>"$data/postgresql.conf" <<-EOF
	ssl = on
	ssl_cert_file = '$pki/server.crt'
	ssl_key_file = '$pki/server.key'
	ssl_ca_file = '$pki/ca.crt'
	password_encryption = 'scram-sha-256'
	EOF
	{
		echo 'local   all all trust'
		for l in "$@"; do echo "$l"; done
		echo 'hostssl all all 127.0.0.1/32 trust'
	} >"$data/pg_hba.conf"
}

pg_tls_run() {
	pg_as "$PG_BIN/pg_ctl" -D "$1" -l "$1.log" -w -t 30 \
	    -o "-c listen_addresses=127.0.0.1 -p $2 -k $3 -c fsync=off -c max_connections=100" \
	    start >/dev/null || { tail -5 "$1.log" >&2; return 1; }
}

pg_tls_halt() {
	[ -f "$1/postmaster.pid" ] || return 0
	pg_as "$PG_BIN/pg_ctl" -D "$1" -m immediate -t 20 stop >/dev/null 2>&1
}
