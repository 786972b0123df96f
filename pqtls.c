/*
 * pqtls: TLS to PostgreSQL with the BearSSL already in pgws.
 *
 * Why a transport inside libpq and not a relay.  libpq keeps everything
 * that is TLS-specific behind a small internal interface (libpq-int.h:
 * pgtls_init, pgtls_open_client, pgtls_read, pgtls_write, pgtls_close ...)
 * that fe-secure-openssl.c implements with OpenSSL.  Everything else of
 * libpq's TLS behaviour stays in files we do not touch: fe-connect.c sends
 * the SSLRequest, takes the server's 'S' or 'N', refuses 'N' under
 * require/verify-*, falls back under prefer and allow, walks multi-host
 * lists, target_session_attrs and connect_timeout; fe-secure-common.c
 * holds libpq's own host name matching.  So libpq is built with USE_SSL
 * (not USE_OPENSSL) and this file implements that interface with
 * tls.c's BearSSL client engine: under 600 lines, no process or socket of
 * our own, nothing between libpq and the kernel but one copy through
 * BearSSL's record buffers, and the same code path for PQconnectdb,
 * PQconnectPoll, the listener and the pool.  A relay would have needed a
 * private socket per connection (and a guard so no other local process
 * can reach it), a second event loop for the ciphertext side, and its own
 * rendering of libpq's sslmode fallback rules.  The cost of this choice is
 * that it follows libpq's internal interface: a libpq update that changes
 * it breaks the build here, loudly, rather than the behaviour.
 *
 * What comes from libpq's manual (sslmode, sslrootcert, sslcert, sslkey,
 * sslsni, the ~/.postgresql defaults and the key file permission rule) is
 * re-stated below in our words; the checks libpq does itself (fallback,
 * name matching) are called, not copied.
 *
 * What is refused rather than approximated: certificate revocation lists
 * (BearSSL has none), TLS 1.3 as a minimum (BearSSL speaks up to 1.2),
 * encrypted client keys.  Channel binding is left to libpq: built without
 * HAVE_PGTLS_GET_PEER_CERTIFICATE_HASH, it never picks SCRAM-SHA-256-PLUS
 * and refuses channel_binding=require itself.
 *
 * State: PGconn has no field for a non-OpenSSL engine, so each connection's
 * engine lives in a small list keyed by the PGconn, most recent first.
 * pgws is single-threaded; the list is not locked.
 */
#include "postgres_fe.h"

#include <arpa/inet.h>
#include <errno.h>
#include <poll.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include <bearssl.h>

#include "libpq-fe.h"
#include "libpq-int.h"
#include "fe-secure-common.h"

#include "pqtls.h"
#include "tls.h"
#include "x509name.h"

struct side {
	PGconn *conn;
	struct tls *t;
	size_t owed;            /* bytes taken by pgtls_write, records unsent */
	int client_cert;        /* a client certificate was offered */
	char root[MAXPGPATH];   /* the trust anchors in use, or "" */
	struct side *next;
};

static struct side *sides;

/* The engine of conn, moved to the front of the list; NULL if none. */
static struct side *find(PGconn *conn)
{
	struct side **pp, *s;

	for (pp = &sides; (s = *pp); pp = &s->next)
		if (s->conn == conn) {
			*pp = s->next;
			s->next = sides;
			sides = s;
			return s;
		}
	return NULL;
}

static int set(const char *s)
{
	return s && s[0];
}

/* Appends one line to libpq's error message for conn (printf-style). */
static void say(PGconn *conn, const char *fmt, ...)
    pg_attribute_printf(2, 3);
static void say(PGconn *conn, const char *fmt, ...)
{
	char line[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof line, fmt, ap);
	va_end(ap);
	appendPQExpBuffer(&conn->errorMessage, "%s\n", line);
}

/* ------------------------------------------------------------------ */
/* Settings                                                           */

/*
 * The trust anchors, as libpq's manual has it: sslrootcert, else
 * ~/.postgresql/root.crt.  If that file exists the server's chain is
 * checked under every sslmode that tries TLS (so require behaves as
 * verify-ca); verify-ca and verify-full fail without it.  No system CA
 * store is consulted: pgws runs in empty containers.
 */
static int pick_root(PGconn *conn, const char *home, struct side *s,
    struct tls_client_opts *o)
{
	struct stat st;
	char crl[MAXPGPATH];

	if (set(conn->sslrootcert))
		snprintf(s->root, sizeof s->root, "%s", conn->sslrootcert);
	else if (home)
		snprintf(s->root, sizeof s->root, "%s/%s", home, ROOT_CERT_FILE);
	if (s->root[0] && stat(s->root, &st) == 0) {
		o->cafile = s->root;
	} else if (conn->sslmode[0] == 'v') {
		if (s->root[0])
			say(conn, "root certificate file \"%s\" does not exist: "
			    "sslmode=%s needs the CA certificates that signed the "
			    "server's (sslrootcert)", s->root, conn->sslmode);
		else
			say(conn, "sslmode=%s needs sslrootcert: there is no "
			    "home directory to find ~/%s in", conn->sslmode,
			    ROOT_CERT_FILE);
		return -1;
	} else {
		s->root[0] = '\0';
		return 0;
	}
	/* libpq would check revocation lists too; BearSSL cannot. */
	crl[0] = '\0';
	if (set(conn->sslcrl))
		snprintf(crl, sizeof crl, "%s", conn->sslcrl);
	else if (set(conn->sslcrldir))
		snprintf(crl, sizeof crl, "%s", conn->sslcrldir);
	else if (home) {
		snprintf(crl, sizeof crl, "%s/%s", home, ROOT_CRL_FILE);
		if (stat(crl, &st) != 0)
			crl[0] = '\0';
	}
	if (crl[0]) {
		say(conn, "certificate revocation list \"%s\": not supported "
		    "(pgws's TLS has no CRL checking); remove sslcrl/sslcrldir "
		    "or the file", crl);
		return -1;
	}
	return 0;
}

/*
 * The client certificate: sslcert, else ~/.postgresql/postgresql.crt if it
 * exists, with its key from sslkey, else ~/.postgresql/postgresql.key.  A
 * key file must be a regular file that only its owner can read, or owner
 * read-write and group read when root owns it (libpq's rule, so that a
 * key shared by mistake is refused rather than used).
 */
static int pick_cert(PGconn *conn, const char *home, struct side *s,
    struct tls_client_opts *o, char *cert, char *key)
{
	struct stat st;

	cert[0] = key[0] = '\0';
	if (set(conn->sslcert))
		snprintf(cert, MAXPGPATH, "%s", conn->sslcert);
	else if (home)
		snprintf(cert, MAXPGPATH, "%s/%s", home, USER_CERT_FILE);
	if (!cert[0])
		return 0;
	if (stat(cert, &st) != 0) {
		if (errno == ENOENT || errno == ENOTDIR)
			return 0;
		say(conn, "could not open certificate file \"%s\": %s", cert,
		    strerror(errno));
		return -1;
	}
	if (set(conn->sslkey))
		snprintf(key, MAXPGPATH, "%s", conn->sslkey);
	else if (home)
		snprintf(key, MAXPGPATH, "%s/%s", home, USER_KEY_FILE);
	if (!key[0] || stat(key, &st) != 0) {
		say(conn, "certificate \"%s\" present, but not its private key "
		    "file \"%s\"", cert, key);
		return -1;
	}
	if (!S_ISREG(st.st_mode)) {
		say(conn, "private key file \"%s\" is not a regular file", key);
		return -1;
	}
	if ((st.st_uid == geteuid() && (st.st_mode & (S_IRWXG | S_IRWXO))) ||
	    (st.st_uid == 0 &&
	    (st.st_mode & (S_IWGRP | S_IXGRP | S_IRWXO)))) {
		say(conn, "private key file \"%s\" is readable by others: it "
		    "must be mode 0600 or less (0640 or less if owned by root)",
		    key);
		return -1;
	}
	o->cert_file = cert;
	o->key_file = key;
	s->client_cert = 1;
	return 0;
}

/* TLS 1.2 is all BearSSL and tls.c offer; refuse settings that exclude it. */
static int check_versions(PGconn *conn)
{
	const char *lo = conn->ssl_min_protocol_version;
	const char *hi = conn->ssl_max_protocol_version;

	if (set(lo) && !pg_strcasecmp(lo, "TLSv1.3")) {
		say(conn, "ssl_min_protocol_version=TLSv1.3: not supported: "
		    "pgws's TLS (BearSSL) speaks TLS 1.2 only");
		return -1;
	}
	if (set(hi) && (!pg_strcasecmp(hi, "TLSv1") ||
	    !pg_strcasecmp(hi, "TLSv1.1"))) {
		say(conn, "ssl_max_protocol_version=%s: not supported: pgws's "
		    "TLS speaks TLS 1.2 only", hi);
		return -1;
	}
	return 0;
}

/* libpq's test for an address in host: no SNI for it (RFC 6066). */
static int host_is_address(const char *host)
{
	return strspn(host, "0123456789.") == strlen(host) ||
	    strchr(host, ':') != NULL;
}

/* A new engine for conn, or NULL with the reason in conn's error message. */
static struct side *engine_open(PGconn *conn)
{
	struct tls_client_opts o = { 0 };
	char homebuf[MAXPGPATH], cert[MAXPGPATH], key[MAXPGPATH], err[512];
	const char *home = pqGetHomeDirectory(homebuf, sizeof homebuf) ?
	    homebuf : NULL;
	const char *host = conn->connhost[conn->whichhost].host;
	struct side *s = calloc(1, sizeof *s);

	if (!s) {
		say(conn, "out of memory");
		return NULL;
	}
	if (check_versions(conn) < 0 || pick_root(conn, home, s, &o) < 0 ||
	    pick_cert(conn, home, s, &o, cert, key) < 0)
		goto fail;
	if (conn->sslsni && conn->sslsni[0] == '1' && set(host) &&
	    !host_is_address(host)) {
		o.server_name = host;
		o.sni = 1;
	}
	/* Names are checked by libpq's rules after the handshake. */
	o.check_name = 0;
	if (!(s->t = tls_client_open(&o, err, sizeof err))) {
		say(conn, "%s", err);
		goto fail;
	}
	s->conn = conn;
	s->next = sides;
	sides = s;
	return s;
fail:
	free(s);
	return NULL;
}

/* ------------------------------------------------------------------ */
/* Failures                                                           */

/* Alerts by which a server turns down the certificate we offered. */
static int cert_alert(int a)
{
	return (a >= 42 && a <= 46) || a == 48 || a == 49 || a == 116;
}

/* One line for a handshake that failed: the cause, in a user's words. */
static void explain(PGconn *conn, const struct side *s)
{
	int e = tls_error(s->t), a = 0;
	char txt[128];

	if (e >= BR_ERR_RECV_FATAL_ALERT && e < BR_ERR_SEND_FATAL_ALERT)
		a = e - BR_ERR_RECV_FATAL_ALERT;
	tls_error_text(e, txt, sizeof txt);
	if (e == BR_ERR_OK)
		say(conn, "server closed the connection during the TLS "
		    "handshake");
	else if (e == BR_ERR_X509_NOT_TRUSTED)
		say(conn, "server certificate not trusted: it does not lead to "
		    "a certificate in \"%s\"", s->root);
	else if (e == BR_ERR_X509_EXPIRED)
		say(conn, "server certificate expired or not yet valid");
	else if (e > BR_ERR_X509_OK && e < BR_ERR_RECV_FATAL_ALERT)
		say(conn, "server certificate rejected: %s", txt);
	else if (a && s->client_cert && cert_alert(a))
		say(conn, "server refused the client certificate (TLS alert %d)",
		    a);
	else if (a == 116)
		say(conn, "server requires a client certificate (sslcert, "
		    "sslkey)");
	else if (e == BR_ERR_BAD_VERSION || e == BR_ERR_UNSUPPORTED_VERSION ||
	    a == 70)
		say(conn, "server does not accept TLS 1.2, the version pgws "
		    "speaks");
	else
		say(conn, "TLS handshake failed: %s", txt);
}

/* ------------------------------------------------------------------ */
/* libpq's interface                                                  */

void pgtls_init_library(bool do_ssl, int do_crypto)
{
	(void)do_ssl;
	(void)do_crypto;
}

int pgtls_init(PGconn *conn, bool do_ssl, bool do_crypto)
{
	(void)conn;
	(void)do_ssl;
	(void)do_crypto;
	return 0;
}

PostgresPollingStatusType pgtls_open_client(PGconn *conn)
{
	struct side *s = find(conn);
	int r;

	if (!s) {
		if (!(s = engine_open(conn)))
			return PGRES_POLLING_FAILED;
		/* fe-connect.c reads the 'S' only while this is false. */
		conn->ssl_in_use = true;
	}
	r = tls_handshake(s->t, conn->sock);
	if (r == 0)
		return tls_events(s->t) & POLLOUT ? PGRES_POLLING_WRITING :
		    PGRES_POLLING_READING;
	if (r < 0) {
		explain(conn, s);
		pgtls_close(conn);
		return PGRES_POLLING_FAILED;
	}
	if (!pq_verify_peer_name_matches_certificate(conn)) {
		pgtls_close(conn);
		return PGRES_POLLING_FAILED;
	}
	return PGRES_POLLING_OK;
}

void pgtls_close(PGconn *conn)
{
	struct side *s = find(conn);

	if (s) {
		if (conn->sock != PGINVALID_SOCKET)
			tls_close(s->t, conn->sock);
		tls_free(s->t);
		sides = s->next;
		free(s);
	}
	conn->ssl_in_use = false;
}

/* libpq's convention: a hard failure is -1 with a message and errno set. */
static ssize_t broken(PGconn *conn, const struct side *s, int e)
{
	char txt[128];

	if (e == EPROTO) {
		tls_error_text(tls_error(s->t), txt, sizeof txt);
		say(conn, "TLS error: %s", txt);
	} else if (e == EPIPE || e == ECONNRESET || e == 0) {
		say(conn, "server closed the connection unexpectedly");
	} else {
		say(conn, "could not use the TLS connection: %s", strerror(e));
	}
	SOCK_ERRNO_SET(ECONNRESET);
	return -1;
}

/* 0 means "nothing now, wait for the socket", as with OpenSSL's WANT_READ. */
ssize_t pgtls_read(PGconn *conn, void *ptr, size_t len)
{
	struct side *s = find(conn);
	ssize_t n;

	if (!s)
		return broken(conn, NULL, ENOTCONN);
	n = tls_read(s->t, conn->sock, ptr, len);
	if (n > 0)
		return n;
	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK ||
	    errno == EINTR)) {
		SOCK_ERRNO_SET(EWOULDBLOCK);
		return 0;
	}
	return broken(conn, s, n == 0 ? 0 : errno);
}

bool pgtls_read_pending(PGconn *conn)
{
	struct side *s = find(conn);

	return s && tls_buffered(s->t);
}

/*
 * BearSSL takes plaintext into a record before the record can be sent.
 * libpq must not take bytes for sent while their record still waits for
 * the socket: it would then wait for the server's answer to a query the
 * server never got.  So such bytes are owed: reported as 0 sent, and once
 * the records are out, reported on the next call, which libpq makes with
 * the same bytes at the front (it keeps what was not reported sent).
 */
ssize_t pgtls_write(PGconn *conn, const void *ptr, size_t len)
{
	struct side *s = find(conn);
	struct iovec iov;
	ssize_t n;

	if (!s)
		return broken(conn, NULL, ENOTCONN);
	if (s->owed) {
		if (tls_flush(s->t, conn->sock) < 0)
			return broken(conn, s, errno);
		if (tls_pending(s->t))
			return 0;
		n = (ssize_t)(s->owed < len ? s->owed : len);
		s->owed = 0;
		return n;
	}
	iov.iov_base = (void *)ptr;
	iov.iov_len = len;
	n = tls_writev(s->t, conn->sock, &iov, 1);
	if (n < 0) {
		if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
			return 0;
		return broken(conn, s, errno);
	}
	if (n > 0 && tls_pending(s->t)) {
		s->owed = (size_t)n;
		return 0;
	}
	return n;
}

/*
 * Host name check under verify-full, libpq's rules: every dNSName and
 * iPAddress of the subjectAltName is tried in order; the commonName only
 * when the certificate has no subjectAltName entry of the host's kind
 * (name or address).  Matching itself is fe-secure-common.c's.
 */
int pgtls_verify_peer_name_matches_certificate_guts(PGconn *conn,
    int *names_examined, char **first_name)
{
	struct side *s = find(conn);
	const char *host = conn->connhost[conn->whichhost].host;
	const unsigned char *der, *v;
	struct x509name x;
	struct in_addr a4;
	struct in6_addr a6;
	size_t len, n, pos = 0;
	int tag, want, rc = 0, check_cn = 1;

	if (!s || !(der = tls_peer_cert(s->t, &len))) {
		say(conn, "could not get the server's certificate");
		return -1;
	}
	if (x509name_parse(der, len, &x) < 0) {
		say(conn, "could not read the names of the server's certificate");
		return -1;
	}
	want = host && (inet_aton(host, &a4) ||
	    inet_pton(AF_INET6, host, &a6) == 1) ? X509NAME_IP : X509NAME_DNS;
	while (rc == 0 && x509name_next(&x, &pos, &tag, &v, &n)) {
		char *name = NULL;

		if (tag == want)
			check_cn = 0;
		if (tag == X509NAME_DNS)
			rc = pq_verify_peer_name_matches_certificate_name(conn,
			    (const char *)v, n, &name);
		else if (tag == X509NAME_IP)
			rc = pq_verify_peer_name_matches_certificate_ip(conn,
			    v, n, &name);
		else
			continue;
		(*names_examined)++;
		if (name && !*first_name)
			*first_name = name;
		else
			free(name);
	}
	if (rc == 0 && check_cn && x.cn) {
		char *name = NULL;

		(*names_examined)++;
		rc = pq_verify_peer_name_matches_certificate_name(conn,
		    (const char *)x.cn, x.cn_len, &name);
		if (name && !*first_name)
			*first_name = name;
		else
			free(name);
	}
	return rc;
}

/* No OpenSSL objects to hand out. */
void *PQgetssl(PGconn *conn)
{
	(void)conn;
	return NULL;
}

void *PQsslStruct(PGconn *conn, const char *struct_name)
{
	(void)conn;
	(void)struct_name;
	return NULL;
}

const char *const *PQsslAttributeNames(PGconn *conn)
{
	static const char *const names[] = {
		"library", "protocol", "cipher", "compression", NULL
	};

	(void)conn;
	return names;
}

const char *PQsslAttribute(PGconn *conn, const char *attribute_name)
{
	struct side *s;

	if (!attribute_name)
		return NULL;
	if (!strcmp(attribute_name, "library"))
		return "BearSSL";
	if (!conn || !conn->ssl_in_use || !(s = find(conn)))
		return NULL;
	if (!strcmp(attribute_name, "protocol"))
		return "TLSv1.2";
	if (!strcmp(attribute_name, "cipher"))
		return tls_cipher(s->t);
	if (!strcmp(attribute_name, "compression"))
		return "off";
	return NULL;
}

/* ------------------------------------------------------------------ */
/* Start-up check                                                     */

int pqtls_check(const char *conninfo, char *err, size_t errcap)
{
	const char *env = getenv("PGSSLNEGOTIATION");
	char *msg = NULL;
	PQconninfoOption *opts = PQconninfoParse(conninfo, &msg);

	PQconninfoFree(opts);
	if (!opts && msg && strstr(msg, "\"sslnegotiation\"")) {
		PQfreemem(msg);
		snprintf(err, errcap, "sslnegotiation in PGWS_DB_URI: not "
		    "supported: pgws's libpq (15) starts TLS with PostgreSQL's "
		    "SSLRequest only, which every server accepts; direct TLS "
		    "(PostgreSQL 17) is not available, remove the option");
		return -1;
	}
	PQfreemem(msg);
	if (env && !strcmp(env, "direct")) {
		snprintf(err, errcap, "PGSSLNEGOTIATION=direct: not supported: "
		    "pgws's libpq (15) starts TLS with PostgreSQL's SSLRequest "
		    "only; unset it");
		return -1;
	}
	return 0;
}
