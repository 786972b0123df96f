#!/bin/bash
# Smoke suite for the release binaries (make release, README "Install on a
# box"): builds dist/, then runs each binary on this machine, the foreign
# ones under qemu-<arch>-static called explicitly (binfmt is not relied
# on): file type, SHA256SUMS, the BearSSL implementations linked in,
# --version, the PGWS_PUBLISH_QUEUE_BYTES ceiling (32-bit on armv7),
# `pgws token` checked by PyJWT, the binary alone in an empty
# chroot (with only the qemu binary beside it), a websocket round trip
# through the throwaway PostgreSQL, the same over wss:// with EC and
# RSA certificates made here by openssl, and TLS to the database (a second
# PostgreSQL with ssl=on and hostssl only: verify-full, and the wrong CA).
# Anything missing (qemu, a cross compiler, root for chroot) is a FAIL,
# never a skip.
#
#   tests/release_test.sh [ARCH...]    (default: x86_64 aarch64 armv7)
#
# Uses the database in PGWS_TEST_URI, or starts a throwaway one.
set -u
cd "$(dirname "$0")/.." || exit 2
PY=/usr/bin/python3
PASS=0
FAIL=0
T=$(mktemp -d /tmp/pgws-release.XXXXXX)
. tests/pg.sh
OWN_PG=
cleanup() {
	[ -n "${PID:-}" ] && kill -KILL "$PID" 2>/dev/null
	[ -n "$OWN_PG" ] && pg_stop
	[ -n "${DBTLS:-}" ] && { pg_tls_halt "$DBTLS/data"; rm -rf "$DBTLS"; }
	rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 2' INT TERM

ok() { PASS=$((PASS + 1)); echo "ok   $*"; }
bad() { FAIL=$((FAIL + 1)); echo "FAIL $*"; }
finish() { echo "$PASS passed, $FAIL failed"; [ "$FAIL" = 0 ]; exit; }

VERSION=$(sed -n 's/^VERSION *= *//p' Makefile)
ARCHES=${*:-x86_64 aarch64 armv7}
SECRET=reallyreallyreallyreallyverysafe
# Startup under qemu takes a few seconds on a loaded machine.
WAIT=${PGWS_RELEASE_WAIT:-30}

# Per architecture: the qemu user emulator (none for the host), what
# file(1) says, and the BearSSL functions that must and must not be linked
# in (README "Install on a box" lists the same).
qemu_of() { case $1 in aarch64) echo qemu-aarch64-static ;; armv7) echo qemu-arm-static ;; esac; }
file_of() {
	case $1 in
	x86_64) echo 'ELF 64-bit LSB executable, x86-64' ;;
	aarch64) echo 'ELF 64-bit LSB executable, ARM aarch64' ;;
	armv7) echo 'ELF 32-bit LSB executable, ARM, EABI5' ;;
	esac
}
bearssl_has() {
	case $1 in
	x86_64) echo br_aes_x86ni_ctr_run br_aes_ct64_ctr_run br_ghash_pclmul br_ghash_ctmul64 \
	    br_chacha20_sse2_run br_poly1305_ctmulq_run br_ec_p256_m31 br_ecdsa_i31_sign_asn1 br_rsa_i62_private ;;
	aarch64) echo br_aes_ct64_ctr_run br_ghash_ctmul64 br_chacha20_ct_run br_poly1305_ctmulq_run \
	    br_ec_p256_m31 br_ecdsa_i31_sign_asn1 br_rsa_i62_private ;;
	armv7) echo br_aes_ct_ctr_run br_ghash_ctmul br_chacha20_ct_run br_poly1305_ctmul_run \
	    br_ec_p256_m31 br_ecdsa_i31_sign_asn1 br_rsa_i31_private ;;
	esac
}
bearssl_hasnt() {
	case $1 in
	x86_64) echo br_aes_ct_ctr_run br_ghash_ctmul br_rsa_i31_private ;;
	aarch64) echo br_aes_x86ni_ctr_run br_ghash_pclmul br_chacha20_sse2_run br_rsa_i31_private ;;
	armv7) echo br_aes_x86ni_ctr_run br_aes_ct64_ctr_run br_ghash_pclmul br_ghash_ctmul64 \
	    br_poly1305_ctmulq_run br_rsa_i62_private ;;
	esac
}

echo "== make release"
t0=$SECONDS
# Both cross chains at once: each spends a while in libpq's serial configure.
if make -s -j"$(nproc 2>/dev/null || echo 2)" release >"$T/make.log" 2>&1; then
	ok "make release ($((SECONDS - t0)) s)"
else
	tail -30 "$T/make.log"
	bad "make release"
	finish
fi
if (cd dist && sha256sum --quiet -c SHA256SUMS) && [ "$(wc -l <dist/SHA256SUMS)" = 3 ]; then
	ok "dist/SHA256SUMS lists 3 binaries and they match"
else
	bad "dist/SHA256SUMS: $(cat dist/SHA256SUMS)"
fi

if [ -z "${PGWS_TEST_URI:-}" ]; then
	pg_start || { bad "throwaway PostgreSQL did not start"; finish; }
	OWN_PG=1
fi

# Test certificates: a CA, and EC P-256 and RSA 2048 server pairs for
# 127.0.0.1, made once for all architectures.
certs() {
	local k
	openssl req -x509 -newkey rsa:2048 -nodes -keyout "$T/ca.key" -subj '/CN=pgws release CA' \
	    -days 2 -out "$T/ca.pem" 2>/dev/null || return 1
	printf 'subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n' >"$T/san.ext"
	openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$T/ec.key" 2>/dev/null || return 1
	openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$T/rsa.key" 2>/dev/null || return 1
	for k in ec rsa; do
		openssl req -new -key "$T/$k.key" -subj "/CN=pgws $k" -out "$T/$k.csr" 2>/dev/null \
		    && openssl x509 -req -in "$T/$k.csr" -CA "$T/ca.pem" -CAkey "$T/ca.key" \
		    -CAcreateserial -days 2 -extfile "$T/san.ext" -out "$T/$k.pem" 2>/dev/null || return 1
	done
}
certs && ok "test CA and EC/RSA server certificates made by openssl" || bad "openssl certificates"

# A second throwaway PostgreSQL with ssl=on and only hostssl lines in
# pg_hba.conf, its certificates made by openssl (tests/pg.sh, as
# tests/db_tls_test.sh uses them).
DBTLS=$(mktemp -d /tmp/pgws-release-db.XXXXXX)
DBTLS_PORT=
chmod 755 "$DBTLS"
mkdir -p "$DBTLS/pki" "$DBTLS/sock"
[ "$(id -u)" = 0 ] && chown postgres "$DBTLS/sock"
if pg_tls_certs "$DBTLS/pki" && pg_tls_init "$DBTLS/data" "$DBTLS/pki" \
    && p=$(free_port) && pg_tls_run "$DBTLS/data" "$p" "$DBTLS/sock"; then
	DBTLS_PORT=$p
	ok "TLS PostgreSQL (ssl=on, hostssl only) on port $DBTLS_PORT"
else
	bad "TLS PostgreSQL did not start"
fi

# start RUN... : starts the command with PGWS_* from the environment given
# to it by the caller (env -i ... start ...), waits for "Listening on
# port"; sets PID and PORT (empty on failure).
start() {
	"$@" >"$T/out" 2>"$T/err" </dev/null &
	PID=$!
	PORT=
	local i
	for i in $(seq $((WAIT * 10))); do
		PORT=$(sed -n 's/^Listening on port //p' "$T/out")
		[ -n "$PORT" ] && return 0
		kill -0 "$PID" 2>/dev/null || break
		sleep 0.1
	done
	return 1
}

# stop WHAT: SIGTERM, then the exit status must be 0.
stop() {
	kill -TERM "$PID" 2>/dev/null
	local i
	for i in $(seq 150); do kill -0 "$PID" 2>/dev/null || break; sleep 0.1; done
	kill -KILL "$PID" 2>/dev/null
	wait "$PID"
	local rc=$?
	PID=
	[ "$rc" = 0 ] && ok "$1: SIGTERM exits 0" || bad "$1: exit $rc after SIGTERM: $(tail -3 "$T/err")"
}

PGENV=(PGWS_DB_URI="$PGWS_TEST_URI" PGWS_JWT_SECRET=$SECRET PGWS_HOST=127.0.0.1 PGWS_PORT=0 PGWS_POOL_SIZE=2)
TOKEN=$($PY -c 'import sys; sys.path.insert(0, "tests"); from harness import token; print(token({"mode": "rw", "channel": "chat"}))')

smoke() {
	local a=$1 bin=dist/pgws-$VERSION-linux-$1 q qemu= run s
	echo "== $a"
	q=$(qemu_of "$a")
	if [ -n "$q" ]; then
		qemu=$(command -v "$q") || { bad "$a: no $q (make setup installs qemu-user-static)"; return; }
	fi
	run=($qemu "$(realpath "$bin")")

	local f
	f=$(file -b "$bin")
	case $f in
	"$(file_of "$a")"*"statically linked"*", stripped") ok "$a: $f" ;;
	*) bad "$a: file says: $f" ;;
	esac
	local syms missing= present=
	syms=$(nm "build/release/$a/pgws" 2>/dev/null | awk '{print $NF}')
	for s in $(bearssl_has "$a"); do grep -qx "$s" <<<"$syms" || missing="$missing $s"; done
	for s in $(bearssl_hasnt "$a"); do grep -qx "$s" <<<"$syms" && present="$present $s"; done
	[ -z "$missing$present" ] && ok "$a: BearSSL $(bearssl_has "$a" | tr ' ' '\n' | grep -E 'aes|ghash|p256|rsa' | tr '\n' ' ')linked in" \
	    || bad "$a: BearSSL implementations: missing:$missing unexpected:$present"

	local v
	v=$("${run[@]}" --version 2>&1)
	[ "$v" = "pgws $VERSION" ] && ok "$a: --version says '$v'" || bad "$a: --version said '$v'"

	# PGWS_PUBLISH_QUEUE_BYTES' ceiling: 16 GiB, or the largest long on
	# 32-bit armv7; one byte more is a configuration error naming it.
	local max=17179869184 e
	[ "$a" = armv7 ] && max=2147483647
	e=$(env -i PGWS_DB_URI=postgres://x@127.0.0.1:1/x PGWS_JWT_SECRET=$SECRET \
	    PGWS_PUBLISH_QUEUE_BYTES=$((max + 1)) timeout 20 "${run[@]}" 2>&1 >/dev/null)
	[ $? = 2 ] && grep -q "PGWS_PUBLISH_QUEUE_BYTES.* to $max" <<<"$e" \
	    && ok "$a: PGWS_PUBLISH_QUEUE_BYTES=$((max + 1)) exits 2 (ceiling $max)" \
	    || bad "$a: PGWS_PUBLISH_QUEUE_BYTES=$((max + 1)): $e"

	local tok
	tok=$(env -i PGWS_JWT_SECRET=$SECRET "${run[@]}" token --mode rw --channel chat --exp 60 --claim user=pi)
	if $PY - "$tok" "$SECRET" <<'PY'; then
import sys, time, jwt
c = jwt.decode(sys.argv[1], sys.argv[2], algorithms=["HS256"])
assert c["mode"] == "rw" and c["channel"] == "chat" and c["user"] == "pi", c
assert abs(c["exp"] - time.time() - 60) < 30, c
PY
		ok "$a: pgws token verified by PyJWT (HS256, claims, exp)"
	else
		bad "$a: pgws token not accepted by PyJWT: $tok"
	fi

	# The binary alone in an empty root, beside the emulator (itself static).
	if [ "$(id -u)" != 0 ]; then
		bad "$a: empty-chroot test needs root"
	else
		local root=$T/root-$a want=pgws
		mkdir -p "$root"
		cp "$bin" "$root/pgws"
		if [ -n "$qemu" ]; then cp "$qemu" "$root/"; want="$want $q"; fi
		if start env -i "${PGENV[@]}" "$(command -v chroot)" "$root" ${qemu:+/$q} /pgws; then
			local ls code
			ls=$(ls "$root" | sort | tr '\n' ' ')
			[ "$ls" = "$(tr ' ' '\n' <<<"$want" | sort | tr '\n' ' ')" ] \
			    && ok "$a: runs in an empty chroot holding only: $ls" || bad "$a: chroot holds $ls"
			code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 10 "http://127.0.0.1:$PORT/health")
			[ "$code" = 200 ] && ok "$a: chroot: /health 200 (database reached over TCP)" || bad "$a: chroot /health $code"
			stop "$a: chroot"
		else
			bad "$a: did not start in the chroot: $(tail -3 "$T/err")"
			kill -KILL "$PID" 2>/dev/null; PID=
		fi
	fi

	# ws:// and wss:// round trips: client -> pgws -> NOTIFY -> LISTEN -> client.
	local mode
	for mode in ws ec rsa; do
		local tls=() url=ws ca=
		if [ "$mode" != ws ]; then
			tls=(PGWS_CERTIFICATE_FILE="$T/$mode.pem" PGWS_KEY_FILE="$T/$mode.key")
			url=wss
			ca=$T/ca.pem
		fi
		if start env -i "${PGENV[@]}" "${tls[@]}" "${run[@]}"; then
			local r
			r=$($PY tests/release_ws.py "$url://127.0.0.1:$PORT/chat/$TOKEN" "hello from $a over $mode" $ca 2>&1)
			[ "$r" = "ok round trip" ] && ok "$a: $url:// ${tls:+($mode certificate) }message came back through NOTIFY" \
			    || bad "$a: $url:// ($mode): $r $(tail -3 "$T/err")"
			stop "$a: $mode"
		else
			bad "$a: did not start ($mode): $(tail -3 "$T/err")"
			kill -KILL "$PID" 2>/dev/null; PID=
		fi
	done

	# TLS to the database (pqtls.c in this architecture's libpq): the
	# hostssl-only server, verify-full against our CA, a round trip through
	# NOTIFY and every pgws backend encrypted per pg_stat_ssl; then the
	# wrong CA: exit 1, the cause on the last line.
	if [ -z "$DBTLS_PORT" ]; then
		bad "$a: no TLS PostgreSQL for the database TLS check"
		return
	fi
	local dburi="postgres://postgres@localhost:$DBTLS_PORT/postgres?sslmode=verify-full"
	if start env -i "${PGENV[@]}" PGWS_DB_URI="$dburi&sslrootcert=$DBTLS/pki/ca.crt" "${run[@]}"; then
		local r enc
		r=$($PY tests/release_ws.py "ws://127.0.0.1:$PORT/chat/$TOKEN" "hello from $a over TLS to the database" 2>&1)
		enc=$(psql -X -At -h "$DBTLS/sock" -p "$DBTLS_PORT" -U postgres -d postgres -c \
		    "SELECT count(*) || ' ' || bool_and(s.ssl) FROM pg_stat_activity a
		     JOIN pg_stat_ssl s USING (pid) WHERE a.application_name = 'pgws'" 2>&1)
		[ "$r" = "ok round trip" ] && [[ $enc =~ ^[23]\ true$ ]] \
		    && ok "$a: database over TLS (verify-full, hostssl only): message came back through NOTIFY, pg_stat_ssl: the listener and the pool connections opened on demand ($enc), all TLS" \
		    || bad "$a: database over TLS: $r; pg_stat_ssl: $enc; $(tail -3 "$T/err")"
		stop "$a: database TLS"
	else
		bad "$a: did not start with verify-full to the TLS database: $(tail -3 "$T/err")"
		kill -KILL "$PID" 2>/dev/null; PID=
	fi
	local rc last
	env -i "${PGENV[@]}" PGWS_DB_URI="$dburi&sslrootcert=$DBTLS/pki/wrongca.crt" PGWS_RETRIES=1 \
	    timeout $((WAIT * 2)) "${run[@]}" >"$T/out" 2>"$T/err" </dev/null
	rc=$?
	last=$(tail -1 "$T/err")
	[ "$rc" = 1 ] && grep -q 'localhost.*server certificate not trusted' <<<"$last" \
	    && ok "$a: database TLS with the wrong CA: exit 1: ${last#* error }" \
	    || bad "$a: database TLS with the wrong CA: exit $rc, last line: $last"
}

for a in $ARCHES; do
	t0=$SECONDS
	smoke "$a"
	echo "   ($a: $((SECONDS - t0)) s)"
done
finish
