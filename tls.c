/*
 * TLS glue between BearSSL and pgws's poll() loop.
 *
 * This is its own file because it stands on its own: it knows nothing of
 * HTTP, websockets or the database, only how to load a certificate and key
 * with BearSSL's decoders, how to check a server's certificate for the
 * client, and how to drive a BearSSL engine over a non-blocking socket.
 * pgws.c, client.c and pqtls.c (TLS to the database) see read()/writev()-
 * like calls and an opaque struct; BearSSL's types stay in here.
 *
 * BearSSL never touches a socket.  The engine is a state machine that says,
 * through br_ssl_engine_current_state(), which of four things it can do
 * now: take records from the network (RECVREC), hand records out for the
 * network (SENDREC), take plaintext (SENDAPP), hand plaintext out
 * (RECVAPP).  Every function below is a loop that does whichever of those
 * the caller's request needs until the socket would block.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <unistd.h>

#include <bearssl.h>

#include "tls.h"
#include "x509name.h"

/* Certificate and key files larger than this are not PEM we expect. */
#define MAX_PEM_FILE    (1 << 20)

/* BearSSL's RSA code handles moduli of up to 4096 bits. */
#define MAX_RSA_BYTES   (4096 / 8)

/*
 * A certificate chain and the private key that goes with it.  Connections
 * hold a reference because the engine reads both during the handshake;
 * after a reload the old pair lives on until its last connection is freed.
 * The key itself stays inside the decoder context: the br_rsa_private_key
 * or br_ec_private_key it hands out points into it.
 */
struct pair {
	int refs;
	int key_type;                   /* BR_KEYTYPE_RSA or BR_KEYTYPE_EC */
	br_x509_certificate *chain;
	size_t chain_len;
	br_skey_decoder_context sk;
};

/*
 * Record buffers.  Incoming records are as large as the peer likes, up to
 * 16 KiB of plaintext, so the input buffer has BearSSL's full size.  The
 * size of outgoing records is ours to choose: 4 KiB of plaintext costs
 * under 1% in record overhead and saves 12 KiB per connection.
 *
 * Separate buffers (full duplex) rather than BearSSL's single half-duplex
 * one: with one buffer the engine takes no plaintext to send while it holds
 * received plaintext the caller has not read, and takes no records in while
 * records wait to go out.  A caller that must answer before it reads on
 * (an error reply to an oversized request, a pong while the peer streams)
 * would then spin on POLLOUT, and a peer that writes without reading would
 * deadlock with us.
 */
#define OUT_PLAIN       4096
#define OUT_BUF         (OUT_PLAIN + BR_SSL_BUFSIZE_OUTPUT - 16384)

struct verifier;
static void verifier_free(struct verifier *v);

/*
 * One engine, server or client.  Both contexts begin with the engine the
 * I/O functions drive, so these functions work through eng and never ask
 * which side they serve; the client-only parts live behind v so a server
 * connection pays 16 bytes for the choice and nothing more.
 */
struct tls {
	union {
		br_ssl_server_context sc;
		br_ssl_client_context cc;
	} u;
	br_ssl_engine_context *eng;     /* &u.sc.eng or &u.cc.eng */
	struct pair *pair;              /* our certificate and key, or NULL */
	struct verifier *v;             /* client side, else NULL */
	int dead;                       /* errno of a socket failure, or 0 */
	unsigned char ibuf[BR_SSL_BUFSIZE_INPUT];
	unsigned char obuf[OUT_BUF];
};

static struct pair *cur;
static char *cert_path, *key_path;

/*
 * Resumed sessions skip the public-key operations of a full handshake, so a
 * browser reconnecting costs little.  The cache is bounded: 64 KiB holds
 * about 650 sessions, the oldest evicted first.  It outlives reloads, which
 * is sound because a resumed session proves itself with its master secret,
 * not with the server's key.
 */
static br_ssl_session_cache_lru cache;
static unsigned char cache_buf[64 * 1024];
static int cache_ready;

/*
 * Server preference order, filled in by tls_setup(): AES-GCM first where
 * the CPU has AES instructions, ChaCha20-Poly1305 first where it does not,
 * since a constant-time software AES is several times slower than ChaCha20.
 */
static uint16_t suites_rsa[3], suites_ec[3];

static const char *alpn[] = { "http/1.1" };

/* memset() that the compiler may not drop: for keys and session secrets. */
static void wipe(void *p, size_t n)
{
	volatile unsigned char *v = p;

	while (n--)
		*v++ = 0;
}

/* ------------------------------------------------------------------ */
/* Loading the certificate and key                                     */

static void pair_free(struct pair *p)
{
	if (!p)
		return;
	for (size_t i = 0; i < p->chain_len; i++)
		free(p->chain[i].data);
	free(p->chain);
	wipe(p, sizeof *p);
	free(p);
}

static void pair_unref(struct pair *p)
{
	if (p && --p->refs == 0)
		pair_free(p);
}

/* Reads a whole file into a malloc'd buffer the caller frees. */
static unsigned char *slurp(const char *path, size_t *len,
    char *err, size_t errcap)
{
	FILE *f = fopen(path, "rb");
	unsigned char *b;

	if (!f) {
		snprintf(err, errcap, "%s: %s", path, strerror(errno));
		return NULL;
	}
	b = malloc(MAX_PEM_FILE + 1);
	if (!b) {
		fclose(f);
		snprintf(err, errcap, "%s: out of memory", path);
		return NULL;
	}
	*len = fread(b, 1, MAX_PEM_FILE + 1, f);
	if (ferror(f) || *len > MAX_PEM_FILE) {
		snprintf(err, errcap, "%s: %s", path, ferror(f) ?
		    "read error" : "larger than 1 MiB, not a PEM file");
		fclose(f);
		free(b);
		return NULL;
	}
	fclose(f);
	/*
	 * BearSSL's PEM decoder takes a CR before the line feed as part of
	 * the BEGIN line's label, so files with Windows line ends would hold
	 * "no certificate".  A CR never carries meaning in PEM: drop them.
	 */
	size_t w = 0;
	for (size_t i = 0; i < *len; i++)
		if (b[i] != '\r')
			b[w++] = b[i];
	*len = w;
	return b;
}

/* The DER bytes of the PEM object being decoded, grown as they come. */
struct der {
	unsigned char *p;
	size_t len, cap;
	int oom;
};

static void der_append(void *ctx, const void *src, size_t len)
{
	struct der *d = ctx;

	if (d->oom)
		return;
	if (len > d->cap - d->len) {
		size_t cap = d->cap ? d->cap : 8192;
		while (cap - d->len < len)
			cap *= 2;
		/* Not realloc(): a moved key would leave a copy behind. */
		unsigned char *p = malloc(cap);
		if (!p) {
			d->oom = 1;
			return;
		}
		if (d->p) {
			memcpy(p, d->p, d->len);
			wipe(d->p, d->cap);
			free(d->p);
		}
		d->p = p;
		d->cap = cap;
	}
	memcpy(d->p + d->len, src, len);
	d->len += len;
}

/* Called for each PEM object with its label; nonzero stops the walk. */
typedef int (*pem_fn)(void *arg, const char *label,
    const unsigned char *der, size_t len);

/*
 * Feeds every PEM object of text to fn.  Returns 0, or -1 with a message
 * in err for malformed PEM, lack of memory or a nonzero fn.
 */
static int pem_each(const char *path, const unsigned char *text, size_t len,
    pem_fn fn, void *arg, char *err, size_t errcap)
{
	/*
	 * The decoder reports an object's end only once it has seen the end
	 * of the "-----END" line, so a file without a final newline gets one.
	 */
	static const unsigned char nl = '\n';
	br_pem_decoder_context pc;
	struct der d = { 0 };
	char label[128];
	int inside = 0, tail = 1, rc = 0;

	br_pem_decoder_init(&pc);
	while (len > 0 || tail) {
		if (len == 0) {
			text = &nl;
			len = 1;
			tail = 0;
		}
		size_t k = br_pem_decoder_push(&pc, text, len);
		text += k;
		len -= k;
		switch (br_pem_decoder_event(&pc)) {
		case BR_PEM_BEGIN_OBJ:
			snprintf(label, sizeof label, "%s",
			    br_pem_decoder_name(&pc));
			d.len = 0;
			br_pem_decoder_setdest(&pc, der_append, &d);
			inside = 1;
			break;
		case BR_PEM_END_OBJ:
			inside = 0;
			if (d.oom) {
				snprintf(err, errcap, "%s: out of memory", path);
				rc = -1;
				goto out;
			}
			if (fn(arg, label, d.p, d.len)) {
				rc = -1;
				goto out;
			}
			break;
		case BR_PEM_ERROR:
			snprintf(err, errcap, "%s: malformed PEM", path);
			rc = -1;
			goto out;
		}
	}
	if (inside) {
		snprintf(err, errcap, "%s: PEM object '%s' has no END line",
		    path, label);
		rc = -1;
	}
out:
	if (d.p) {
		wipe(d.p, d.cap);
		free(d.p);
	}
	return rc;
}

struct certs {
	struct pair *p;
	const char *path;
	char *err;
	size_t errcap;
};

/* Collects CERTIFICATE objects in file order; other objects are skipped. */
static int on_cert(void *arg, const char *label,
    const unsigned char *der, size_t len)
{
	struct certs *c = arg;
	struct pair *p = c->p;
	br_x509_certificate *v;

	if (strcmp(label, "CERTIFICATE") && strcmp(label, "X509 CERTIFICATE"))
		return 0;
	v = realloc(p->chain, (p->chain_len + 1) * sizeof *v);
	if (!v)
		goto oom;
	p->chain = v;
	v[p->chain_len].data = malloc(len ? len : 1);
	if (!v[p->chain_len].data)
		goto oom;
	memcpy(v[p->chain_len].data, der, len);
	v[p->chain_len].data_len = len;
	p->chain_len++;
	return 0;
oom:
	snprintf(c->err, c->errcap, "%s: out of memory", c->path);
	return -1;
}

struct keys {
	br_skey_decoder_context *sk;
	int found, encrypted;
};

/* Decodes the first private key object; an "EC PARAMETERS" block is skipped. */
static int on_key(void *arg, const char *label,
    const unsigned char *der, size_t len)
{
	struct keys *k = arg;

	if (!strcmp(label, "ENCRYPTED PRIVATE KEY"))
		k->encrypted = 1;
	if (k->found || (strcmp(label, "RSA PRIVATE KEY") &&
	    strcmp(label, "EC PRIVATE KEY") && strcmp(label, "PRIVATE KEY")))
		return 0;
	br_skey_decoder_init(k->sk);
	br_skey_decoder_push(k->sk, der, len);
	k->found = 1;
	return 0;
}

/* A big-endian integer without its leading zero bytes. */
static const unsigned char *strip(const unsigned char *p, size_t *len)
{
	while (*len > 0 && *p == 0) {
		p++;
		(*len)--;
	}
	return p;
}

/*
 * 1 when the private key sk is the one whose public half the leaf
 * certificate carries.  A server with a mismatched pair would fail every
 * handshake with an obscure client-side error, so this is checked at
 * start-up and on reload, by computing the public key from the private one.
 */
static int key_matches(const br_x509_pkey *pk, const struct pair *p)
{
	if (p->key_type == BR_KEYTYPE_RSA) {
		const br_rsa_private_key *sk = br_skey_decoder_get_rsa(&p->sk);
		br_rsa_compute_modulus modulus =
		    br_rsa_compute_modulus_get_default();
		unsigned char n[MAX_RSA_BYTES];
		size_t nlen, clen, elen;
		const unsigned char *cn, *ce;
		uint32_t e = 0;

		if (pk->key_type != BR_KEYTYPE_RSA)
			return 0;
		nlen = modulus(NULL, sk);
		if (nlen == 0 || nlen > sizeof n || modulus(n, sk) != nlen)
			return 0;
		clen = pk->key.rsa.nlen;
		cn = strip(pk->key.rsa.n, &clen);
		const unsigned char *kn = strip(n, &nlen);
		if (clen != nlen || memcmp(cn, kn, nlen))
			return 0;
		elen = pk->key.rsa.elen;
		ce = strip(pk->key.rsa.e, &elen);
		if (elen > 4)
			return 0;
		for (size_t i = 0; i < elen; i++)
			e = e << 8 | ce[i];
		/*
		 * BearSSL recomputes e only when p and q are 3 mod 4, which
		 * keys from other generators need not be; 0 means unknown.
		 */
		uint32_t ke = br_rsa_compute_pubexp_get_default()(sk);
		return ke == 0 || ke == e;
	} else {
		const br_ec_private_key *sk = br_skey_decoder_get_ec(&p->sk);
		unsigned char q[BR_EC_KBUF_PUB_MAX_SIZE];
		br_ec_public_key pub;

		if (pk->key_type != BR_KEYTYPE_EC ||
		    pk->key.ec.curve != sk->curve)
			return 0;
		if (!br_ec_compute_pub(br_ec_get_default(), &pub, q, sk))
			return 0;
		return pub.qlen == pk->key.ec.qlen &&
		    !memcmp(pub.q, pk->key.ec.q, pub.qlen);
	}
}

/* Loads both files into a new pair with one reference; NULL and err on failure. */
static struct pair *pair_load(const char *cert_file, const char *key_file,
    char *err, size_t errcap)
{
	struct pair *p = calloc(1, sizeof *p);
	unsigned char *text = NULL;
	size_t len;
	int e;

	if (!p) {
		snprintf(err, errcap, "%s: out of memory", cert_file);
		return NULL;
	}
	p->refs = 1;

	if (!(text = slurp(cert_file, &len, err, errcap)))
		goto fail;
	struct certs c = { p, cert_file, err, errcap };
	e = pem_each(cert_file, text, len, on_cert, &c, err, errcap);
	free(text);
	if (e)
		goto fail;
	if (p->chain_len == 0) {
		snprintf(err, errcap, "%s: no CERTIFICATE in the file",
		    cert_file);
		goto fail;
	}

	if (!(text = slurp(key_file, &len, err, errcap)))
		goto fail;
	struct keys k = { &p->sk, 0, 0 };
	e = pem_each(key_file, text, len, on_key, &k, err, errcap);
	wipe(text, len);
	free(text);
	if (e)
		goto fail;
	if (!k.found) {
		snprintf(err, errcap, k.encrypted ?
		    "%s: encrypted private keys are not supported" :
		    "%s: no RSA PRIVATE KEY, EC PRIVATE KEY or PRIVATE KEY "
		    "in the file", key_file);
		goto fail;
	}
	e = br_skey_decoder_last_error(&p->sk);
	if (e == BR_ERR_X509_UNSUPPORTED) {
		snprintf(err, errcap, "%s: unsupported key type "
		    "(RSA and EC keys only)", key_file);
		goto fail;
	}
	if (e) {
		snprintf(err, errcap, "%s: cannot decode the private key "
		    "(BearSSL error %d)", key_file, e);
		goto fail;
	}
	p->key_type = br_skey_decoder_key_type(&p->sk);
	if (p->key_type == BR_KEYTYPE_EC) {
		int curve = br_skey_decoder_get_ec(&p->sk)->curve;
		if (curve < 0 || curve > 31 ||
		    !(br_ec_get_default()->supported_curves >> curve & 1)) {
			snprintf(err, errcap, "%s: unsupported elliptic curve "
			    "(P-256, P-384 and P-521 work)", key_file);
			goto fail;
		}
	}

	/* The decoder keeps the key it finds in its own buffers, valid here. */
	br_x509_decoder_context dc;
	const br_x509_pkey *pk;
	br_x509_decoder_init(&dc, NULL, NULL);
	br_x509_decoder_push(&dc, p->chain[0].data, p->chain[0].data_len);
	if (!(pk = br_x509_decoder_get_pkey(&dc))) {
		snprintf(err, errcap, "%s: cannot decode the first certificate "
		    "(BearSSL error %d)", cert_file,
		    br_x509_decoder_last_error(&dc));
		goto fail;
	}
	if (!key_matches(pk, p)) {
		snprintf(err, errcap, "%s: private key does not match the "
		    "certificate in %s", key_file, cert_file);
		goto fail;
	}
	return p;
fail:
	pair_free(p);
	return NULL;
}

/* Fills the suite lists in server preference order. */
static void pick_suites(void)
{
	int aesni = br_aes_x86ni_ctr_get_vtable() != NULL;
	uint16_t gcm128_rsa = BR_TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256;
	uint16_t chapol_rsa = BR_TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256;
	uint16_t gcm128_ec = BR_TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256;
	uint16_t chapol_ec = BR_TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256;

	suites_rsa[0] = aesni ? gcm128_rsa : chapol_rsa;
	suites_rsa[1] = aesni ? chapol_rsa : gcm128_rsa;
	suites_rsa[2] = BR_TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384;
	suites_ec[0] = aesni ? gcm128_ec : chapol_ec;
	suites_ec[1] = aesni ? chapol_ec : gcm128_ec;
	suites_ec[2] = BR_TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384;
}

int tls_setup(const char *cert_file, const char *key_file,
    char *err, size_t errcap)
{
	struct pair *p;
	struct tls *t;

	if (!(p = pair_load(cert_file, key_file, err, errcap)))
		return -1;
	free(cert_path);
	free(key_path);
	cert_path = strdup(cert_file);
	key_path = strdup(key_file);
	if (!cert_path || !key_path) {
		pair_free(p);
		snprintf(err, errcap, "%s: out of memory", cert_file);
		return -1;
	}
	if (!cache_ready) {
		br_ssl_session_cache_lru_init(&cache, cache_buf,
		    sizeof cache_buf);
		cache_ready = 1;
	}
	pick_suites();
	pair_unref(cur);
	cur = p;

	/* Better to fail now than on every connection. */
	if (!(t = tls_new())) {
		snprintf(err, errcap, "%s: cannot start a TLS engine: %s",
		    cert_file, errno == EIO ? "no source of random seed" :
		    strerror(errno));
		return -1;
	}
	tls_free(t);
	return 0;
}

int tls_reload(char *err, size_t errcap)
{
	struct pair *p;

	if (!cert_path) {
		snprintf(err, errcap, "TLS is not configured");
		return -1;
	}
	if (!(p = pair_load(cert_path, key_path, err, errcap)))
		return -1;
	pair_unref(cur);
	cur = p;
	return 0;
}

/* ------------------------------------------------------------------ */
/* Connections                                                         */

/*
 * BearSSL 0.6 seeds its generator from RDRAND when the CPU has it, else
 * from /dev/urandom, which an empty container lacks.  getrandom() needs no
 * file, so every engine gets its seed from it as well; GRND_NONBLOCK keeps
 * the loop from stalling in early boot, when BearSSL's own seeders remain.
 */
static void seed(br_ssl_engine_context *eng)
{
	unsigned char b[32];

	if (getrandom(b, sizeof b, GRND_NONBLOCK) == (ssize_t)sizeof b)
		br_ssl_engine_inject_entropy(eng, b, sizeof b);
	wipe(b, sizeof b);
}

/*
 * Configures the engine by hand rather than with br_ssl_server_init_full_*:
 * only what TLS 1.2 with ECDHE and AEAD needs gets set, so nothing else of
 * BearSSL is linked in and no other suite can ever be negotiated.
 */
static void engine_init(struct tls *t)
{
	br_ssl_server_context *sc = &t->u.sc;
	br_ssl_engine_context *eng = &sc->eng;
	const struct pair *p = t->pair;

	br_ssl_server_zero(sc);
	br_ssl_engine_set_versions(eng, BR_TLS12, BR_TLS12);
	br_ssl_engine_set_suites(eng, p->key_type == BR_KEYTYPE_RSA ?
	    suites_rsa : suites_ec, 3);
	/* PRF and handshake hashes, and the hashes a signature may use. */
	br_ssl_engine_set_hash(eng, br_sha256_ID, &br_sha256_vtable);
	br_ssl_engine_set_hash(eng, br_sha384_ID, &br_sha384_vtable);
	br_ssl_engine_set_hash(eng, br_sha512_ID, &br_sha512_vtable);
	br_ssl_engine_set_prf_sha256(eng, &br_tls12_sha256_prf);
	br_ssl_engine_set_prf_sha384(eng, &br_tls12_sha384_prf);
	br_ssl_engine_set_default_aes_gcm(eng);
	br_ssl_engine_set_default_chapol(eng);
	br_ssl_engine_set_ec(eng, br_ec_get_default());
	/* BR_KEYTYPE_SIGN only: the key signs ECDHE parameters, nothing else. */
	if (p->key_type == BR_KEYTYPE_RSA)
		br_ssl_server_set_single_rsa(sc, p->chain, p->chain_len,
		    br_skey_decoder_get_rsa(&p->sk), BR_KEYTYPE_SIGN,
		    br_rsa_private_get_default(),
		    br_rsa_pkcs1_sign_get_default());
	else
		br_ssl_server_set_single_ec(sc, p->chain, p->chain_len,
		    br_skey_decoder_get_ec(&p->sk), BR_KEYTYPE_SIGN,
		    BR_KEYTYPE_EC, br_ec_get_default(),
		    br_ecdsa_sign_asn1_get_default());
	br_ssl_server_set_cache(sc, &cache.vtable);
	br_ssl_engine_set_protocol_names(eng, alpn, 1);
	/* Client-initiated renegotiation only gives a peer free CPU of ours. */
	br_ssl_engine_set_all_flags(eng, BR_OPT_ENFORCE_SERVER_PREFERENCES |
	    BR_OPT_NO_RENEGOTIATION);
	br_ssl_engine_set_buffers_bidi(eng, t->ibuf, sizeof t->ibuf,
	    t->obuf, sizeof t->obuf);
}

struct tls *tls_new(void)
{
	struct tls *t;

	if (!cur) {
		errno = EINVAL;
		return NULL;
	}
	if (!(t = malloc(sizeof *t)))
		return NULL;
	t->eng = &t->u.sc.eng;
	t->pair = cur;
	t->v = NULL;
	t->dead = 0;
	engine_init(t);
	seed(t->eng);
	if (!br_ssl_server_reset(&t->u.sc)) {
		wipe(t, sizeof *t);
		free(t);
		errno = EIO;
		return NULL;
	}
	cur->refs++;
	return t;
}

void tls_free(struct tls *t)
{
	if (!t)
		return;
	pair_unref(t->pair);
	verifier_free(t->v);
	wipe(t, sizeof *t);
	free(t);
}

/*
 * Sends one batch of pending records.  1 when some bytes went out, 0 when
 * nothing waits or the socket is full, -1 when the socket failed (recorded
 * in t->dead).
 */
static int send_some(struct tls *t, int fd)
{
	size_t len;
	unsigned char *b = br_ssl_engine_sendrec_buf(t->eng, &len);
	ssize_t w;

	if (!b || t->dead)
		return t->dead ? -1 : 0;
	/* Not write(): a peer gone must not kill a caller that keeps SIGPIPE. */
	w = send(fd, b, len, MSG_NOSIGNAL);
	if (w < 0) {
		if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
			return 0;
		t->dead = errno;
		return -1;
	}
	br_ssl_engine_sendrec_ack(t->eng, (size_t)w);
	return 1;
}

/* errno and -1 for an engine that can do nothing more. */
static ssize_t fail(const struct tls *t)
{
	int e = t->dead;

	if (!e)
		e = br_ssl_engine_last_error(t->eng) == BR_ERR_OK ?
		    EPIPE : EPROTO;
	errno = e;
	return -1;
}

ssize_t tls_read(struct tls *t, int fd, void *buf, size_t n)
{
	br_ssl_engine_context *eng = t->eng;
	unsigned char *out = buf;
	size_t got = 0;

	if (t->dead)
		return fail(t);
	for (;;) {
		unsigned st = br_ssl_engine_current_state(eng);
		unsigned char *b;
		size_t len;

		if ((st & BR_SSL_RECVAPP) && got < n) {
			b = br_ssl_engine_recvapp_buf(eng, &len);
			if (len > n - got)
				len = n - got;
			memcpy(out + got, b, len);
			br_ssl_engine_recvapp_ack(eng, len);
			got += len;
			continue;
		}
		if (got == n && n > 0)
			return (ssize_t)got;
		if (st == BR_SSL_CLOSED) {
			/* Data before the close first; the close on the next call. */
			if (got)
				return (ssize_t)got;
			if (br_ssl_engine_last_error(eng) == BR_ERR_OK)
				return 0;
			errno = EPROTO;
			return -1;
		}
		/* Handshake messages, alerts and our replies go out first. */
		if (st & BR_SSL_SENDREC) {
			int r = send_some(t, fd);
			if (r > 0)
				continue;
			if (r < 0)
				return got ? (ssize_t)got : fail(t);
		}
		if (st & BR_SSL_RECVREC) {
			b = br_ssl_engine_recvrec_buf(eng, &len);
			ssize_t r = read(fd, b, len);
			if (r > 0) {
				br_ssl_engine_recvrec_ack(eng, (size_t)r);
				continue;
			}
			/*
			 * EOF without close_notify: a truncation TLS would
			 * flag, but websocket and HTTP framing catch a cut
			 * message themselves, so it is an ordinary EOF.
			 */
			if (r == 0)
				return (ssize_t)got;
			if (errno != EAGAIN && errno != EWOULDBLOCK &&
			    errno != EINTR) {
				t->dead = errno;
				return got ? (ssize_t)got : fail(t);
			}
		}
		if (got)
			return (ssize_t)got;
		errno = EAGAIN;
		return -1;
	}
}

ssize_t tls_writev(struct tls *t, int fd, const struct iovec *iov, int iovcnt)
{
	br_ssl_engine_context *eng = t->eng;
	size_t taken = 0, off = 0;
	int i = 0, any = 0;

	if (t->dead)
		return fail(t);
	while (i < iovcnt) {
		unsigned st = br_ssl_engine_current_state(eng);
		unsigned char *b;
		size_t len;

		if (off == iov[i].iov_len) {
			i++;
			off = 0;
			continue;
		}
		any = 1;
		if (st & BR_SSL_SENDAPP) {
			b = br_ssl_engine_sendapp_buf(eng, &len);
			if (len > iov[i].iov_len - off)
				len = iov[i].iov_len - off;
			memcpy(b, (const unsigned char *)iov[i].iov_base + off,
			    len);
			br_ssl_engine_sendapp_ack(eng, len);
			off += len;
			taken += len;
			continue;
		}
		/* A full record blocks the buffer until it leaves. */
		if ((st & BR_SSL_SENDREC) && send_some(t, fd) > 0)
			continue;
		break;
	}
	if (taken) {
		/* Close the record now: a websocket message must not wait. */
		br_ssl_engine_flush(eng, 0);
		while (send_some(t, fd) > 0)
			;
		return (ssize_t)taken;
	}
	if (!any)
		return 0;
	if (t->dead || br_ssl_engine_current_state(eng) == BR_SSL_CLOSED)
		return fail(t);
	errno = EAGAIN;
	return -1;
}

int tls_events(const struct tls *t)
{
	unsigned st;
	int ev = 0;

	if (t->dead)
		return POLLOUT;
	st = br_ssl_engine_current_state(t->eng);
	if (st == BR_SSL_CLOSED)
		return POLLOUT;
	if (st & BR_SSL_SENDREC)
		ev |= POLLOUT;
	if (st & BR_SSL_RECVREC)
		ev |= POLLIN;
	return ev;
}

ssize_t tls_read_buffered(struct tls *t, void *buf, size_t n)
{
	unsigned char *out = buf;
	size_t got = 0, len;

	while (!t->dead && got < n &&
	    (br_ssl_engine_current_state(t->eng) & BR_SSL_RECVAPP)) {
		unsigned char *b = br_ssl_engine_recvapp_buf(t->eng, &len);
		if (len > n - got)
			len = n - got;
		memcpy(out + got, b, len);
		br_ssl_engine_recvapp_ack(t->eng, len);
		got += len;
	}
	if (!got) {
		errno = EAGAIN;
		return -1;
	}
	return (ssize_t)got;
}

int tls_buffered(const struct tls *t)
{
	return !t->dead && (br_ssl_engine_current_state(t->eng) &
	    BR_SSL_RECVAPP) != 0;
}

int tls_flush(struct tls *t, int fd)
{
	int r;

	while ((r = send_some(t, fd)) > 0)
		;
	if (r < 0 || br_ssl_engine_current_state(t->eng) == BR_SSL_CLOSED) {
		fail(t);
		return -1;
	}
	return 0;
}

int tls_pending(const struct tls *t)
{
	return !t->dead &&
	    (br_ssl_engine_current_state(t->eng) & BR_SSL_SENDREC) != 0;
}

void tls_close(struct tls *t, int fd)
{
	if (t->dead)
		return;
	br_ssl_engine_close(t->eng);
	while (send_some(t, fd) > 0)
		;
}

size_t tls_conn_bytes(void)
{
	return sizeof(struct tls);
}

/* ------------------------------------------------------------------ */
/* Client engines                                                      */

/*
 * The trust anchors of a client: the CA certificates of a PEM file reduced
 * to what BearSSL's path validation needs, a subject DN and a public key,
 * both copied out of the decoder that found them because the decoder's
 * buffers do not outlive it.
 */
struct anchors {
	br_x509_trust_anchor *v;
	size_t n;
	const char *path;
	char *err;
	size_t errcap;
};

/* Largest leaf certificate kept for the IP address check. */
#define MAX_LEAF        (64 * 1024)

/*
 * The certificate verifier of a client engine: BearSSL's "minimal" X.509
 * engine behind a wrapper of ours.  The minimal engine matches a host name
 * with the dNSName entries of the server's certificate but knows nothing
 * of iPAddress entries, so for an IP address it runs without a name and
 * the wrapper keeps the leaf certificate, to look for the address in its
 * subjectAltName once the chain is known to be trusted.  The SSL engine
 * calls the wrapper through vtable, which therefore comes first.
 */
struct verifier {
	const br_x509_class *vtable;
	br_x509_minimal_context mc;
	struct anchors ta;
	unsigned char ip[16];           /* the server's address, network order */
	size_t iplen;                   /* 4 or 16; 0 for a host name */
	int no_chain;                   /* tls_client_open(): cafile NULL */
	int no_name;                    /* tls_client_open(): check_name 0 */
	int keep;                       /* keep the leaf: IP check or no_name */
	br_x509_decoder_context dc;     /* the leaf's key when no_chain */
	unsigned certs;                 /* certificates begun in this chain */
	unsigned char *leaf;            /* the first of them, in IP mode */
	size_t leaf_len, leaf_want;
	int leaf_err;                   /* why the leaf could not be kept */
};

static void anchors_free(struct anchors *a)
{
	for (size_t i = 0; i < a->n; i++) {
		br_x509_trust_anchor *ta = &a->v[i];

		free(ta->dn.data);
		if (ta->pkey.key_type == BR_KEYTYPE_RSA) {
			free(ta->pkey.key.rsa.n);
			free(ta->pkey.key.rsa.e);
		} else {
			free(ta->pkey.key.ec.q);
		}
	}
	free(a->v);
	a->v = NULL;
	a->n = 0;
}

static void verifier_free(struct verifier *v)
{
	if (!v)
		return;
	anchors_free(&v->ta);
	free(v->leaf);
	free(v);
}

/* A malloc'd copy of p[0..n) the caller frees, or NULL. */
static unsigned char *dup_bytes(const unsigned char *p, size_t n)
{
	unsigned char *d = malloc(n ? n : 1);

	if (d && n)
		memcpy(d, p, n);
	return d;
}

/*
 * Turns each CERTIFICATE object into a trust anchor; other objects are
 * skipped.  A CA certificate anchors chains; any other certificate is
 * trusted as the server's own (BearSSL then compares the leaf's key with
 * it), which is how a self-signed server certificate can be pinned.
 */
static int on_anchor(void *arg, const char *label,
    const unsigned char *der, size_t len)
{
	struct anchors *a = arg;
	br_x509_decoder_context dc;
	const br_x509_pkey *pk;
	br_x509_trust_anchor *v, *ta;
	struct der dn = { 0 };
	int ok;

	if (strcmp(label, "CERTIFICATE") && strcmp(label, "X509 CERTIFICATE"))
		return 0;
	br_x509_decoder_init(&dc, der_append, &dn);
	br_x509_decoder_push(&dc, der, len);
	if (dn.oom)
		goto oom;
	if (!(pk = br_x509_decoder_get_pkey(&dc))) {
		snprintf(a->err, a->errcap, "%s: cannot decode certificate %zu "
		    "(BearSSL error %d)", a->path, a->n + 1,
		    br_x509_decoder_last_error(&dc));
		free(dn.p);
		return -1;
	}
	if (!(v = realloc(a->v, (a->n + 1) * sizeof *v)))
		goto oom;
	a->v = v;
	ta = &v[a->n++];
	memset(ta, 0, sizeof *ta);
	ta->dn.data = dn.p;
	ta->dn.len = dn.len;
	dn.p = NULL;
	ta->flags = br_x509_decoder_isCA(&dc) ? BR_X509_TA_CA : 0;
	ta->pkey.key_type = pk->key_type;
	if (pk->key_type == BR_KEYTYPE_RSA) {
		br_rsa_public_key *k = &ta->pkey.key.rsa;
		k->n = dup_bytes(pk->key.rsa.n, pk->key.rsa.nlen);
		k->nlen = pk->key.rsa.nlen;
		k->e = dup_bytes(pk->key.rsa.e, pk->key.rsa.elen);
		k->elen = pk->key.rsa.elen;
		ok = k->n && k->e;
	} else {
		br_ec_public_key *k = &ta->pkey.key.ec;
		k->curve = pk->key.ec.curve;
		k->q = dup_bytes(pk->key.ec.q, pk->key.ec.qlen);
		k->qlen = pk->key.ec.qlen;
		ok = k->q != NULL;
	}
	if (ok)
		return 0;
oom:
	free(dn.p);
	snprintf(a->err, a->errcap, "%s: out of memory", a->path);
	return -1;
}

/* Loads every certificate of path into a; 0, or -1 with err. */
static int anchors_load(struct anchors *a, const char *path,
    char *err, size_t errcap)
{
	unsigned char *text;
	size_t len;
	int e;

	a->path = path;
	a->err = err;
	a->errcap = errcap;
	if (!(text = slurp(path, &len, err, errcap)))
		return -1;
	e = pem_each(path, text, len, on_anchor, a, err, errcap);
	free(text);
	if (e)
		return -1;
	if (a->n == 0) {
		snprintf(err, errcap, "%s: no CERTIFICATE in the file", path);
		return -1;
	}
	return 0;
}

/*
 * 1 when the certificate der[0..len) lists ip[0..iplen) among the
 * iPAddress entries of its subjectAltName (RFC 5280 section 4.2.1.6),
 * else 0, also for a certificate x509name cannot read.  It runs after
 * BearSSL has validated the certificate, but reads within bounds all the
 * same.
 */
static int san_has_ip(const unsigned char *der, size_t len,
    const unsigned char *ip, size_t iplen)
{
	struct x509name x;
	const unsigned char *v;
	size_t n, pos = 0;
	int tag;

	if (x509name_parse(der, len, &x) < 0)
		return 0;
	while (x509name_next(&x, &pos, &tag, &v, &n))
		if (tag == X509NAME_IP && n == iplen && !memcmp(v, ip, iplen))
			return 1;
	return 0;
}

/* The verifier whose vtable field ctx points to. */
static struct verifier *vf(const br_x509_class **ctx)
{
	return (struct verifier *)(void *)ctx;
}

static void vf_start_chain(const br_x509_class **ctx, const char *server_name)
{
	struct verifier *v = vf(ctx);

	v->certs = 0;
	v->leaf_len = v->leaf_want = 0;
	v->leaf_err = 0;
	v->mc.vtable->start_chain(&v->mc.vtable,
	    v->iplen || v->no_name ? NULL : server_name);
}

static void vf_start_cert(const br_x509_class **ctx, uint32_t length)
{
	struct verifier *v = vf(ctx);
	unsigned char *b;

	v->mc.vtable->start_cert(&v->mc.vtable, length);
	if (v->certs++ || !v->keep)
		return;
	if (length > MAX_LEAF || !(b = realloc(v->leaf, length ? length : 1))) {
		v->leaf_err = BR_ERR_X509_LIMIT_EXCEEDED;
		return;
	}
	v->leaf = b;
	v->leaf_want = length;
}

static void vf_append(const br_x509_class **ctx, const unsigned char *buf,
    size_t len)
{
	struct verifier *v = vf(ctx);

	v->mc.vtable->append(&v->mc.vtable, buf, len);
	if (v->certs != 1 || !v->keep || v->leaf_err || !len)
		return;
	if (len > v->leaf_want - v->leaf_len)
		len = v->leaf_want - v->leaf_len;
	memcpy(v->leaf + v->leaf_len, buf, len);
	v->leaf_len += len;
}

static void vf_end_cert(const br_x509_class **ctx)
{
	struct verifier *v = vf(ctx);

	v->mc.vtable->end_cert(&v->mc.vtable);
}

/* The minimal engine's verdict first: the address matters only for a trusted chain. */
static unsigned vf_end_chain(const br_x509_class **ctx)
{
	struct verifier *v = vf(ctx);
	unsigned r = v->mc.vtable->end_chain(&v->mc.vtable);

	/*
	 * No chain check: any certificate will do, as with libpq's
	 * sslmode=require, but its key still has to be read for the key
	 * exchange, which the minimal engine refuses to hand out for a chain
	 * it rejected (expired, say).
	 */
	if (v->no_chain) {
		if (v->leaf_err)
			return (unsigned)v->leaf_err;
		if (v->certs == 0)
			return BR_ERR_X509_EMPTY_CHAIN;
		br_x509_decoder_init(&v->dc, NULL, NULL);
		br_x509_decoder_push(&v->dc, v->leaf, v->leaf_len);
		if (v->leaf_len != v->leaf_want ||
		    !br_x509_decoder_get_pkey(&v->dc))
			return BR_ERR_X509_UNSUPPORTED;
		return 0;
	}
	if (r == 0 && v->iplen && !v->no_name) {
		if (v->leaf_err)
			r = (unsigned)v->leaf_err;
		else if (v->certs == 0 || v->leaf_len != v->leaf_want ||
		    !san_has_ip(v->leaf, v->leaf_len, v->ip, v->iplen))
			r = BR_ERR_X509_BAD_SERVER_NAME;
	}
	return r;
}

static const br_x509_pkey *vf_get_pkey(const br_x509_class *const *ctx,
    unsigned *usages)
{
	const struct verifier *v = (const struct verifier *)(const void *)ctx;

	if (v->no_chain) {
		if (usages)
			*usages = BR_KEYTYPE_KEYX | BR_KEYTYPE_SIGN;
		return br_x509_decoder_get_pkey(
		    (br_x509_decoder_context *)&v->dc);
	}
	return v->mc.vtable->get_pkey(&v->mc.vtable, usages);
}

static const br_x509_class verifier_vtable = {
	sizeof(struct verifier),
	vf_start_chain,
	vf_start_cert,
	vf_append,
	vf_end_cert,
	vf_end_chain,
	vf_get_pkey
};

/*
 * Configures a client engine by hand, like engine_init() the server: TLS
 * 1.2, the server's six ECDHE AEAD suites, and only the hashes and
 * signature verifiers those suites and ordinary certificate chains need,
 * so no legacy code of BearSSL is linked into the static binary.
 */
static void client_engine_init(struct tls *t, int http_alpn)
{
	br_ssl_client_context *cc = &t->u.cc;
	br_ssl_engine_context *eng = &cc->eng;
	br_x509_minimal_context *mc = &t->v->mc;
	static const struct {
		int id;
		const br_hash_class *impl;
	} hashes[] = {
		{ br_sha256_ID, &br_sha256_vtable },
		{ br_sha384_ID, &br_sha384_vtable },
		{ br_sha512_ID, &br_sha512_vtable },
	};
	uint16_t suites[6];

	pick_suites();
	for (int i = 0; i < 3; i++) {
		suites[2 * i] = suites_ec[i];
		suites[2 * i + 1] = suites_rsa[i];
	}
	br_ssl_client_zero(cc);
	br_ssl_engine_set_versions(eng, BR_TLS12, BR_TLS12);
	br_ssl_engine_set_suites(eng, suites, 6);
	br_x509_minimal_init(mc, &br_sha256_vtable, t->v->ta.v, t->v->ta.n);
	for (size_t i = 0; i < sizeof hashes / sizeof hashes[0]; i++) {
		br_ssl_engine_set_hash(eng, hashes[i].id, hashes[i].impl);
		br_x509_minimal_set_hash(mc, hashes[i].id, hashes[i].impl);
	}
	br_ssl_engine_set_prf_sha256(eng, &br_tls12_sha256_prf);
	br_ssl_engine_set_prf_sha384(eng, &br_tls12_sha384_prf);
	br_ssl_engine_set_default_aes_gcm(eng);
	br_ssl_engine_set_default_chapol(eng);
	/* The server signs its ECDHE parameters; the CAs sign certificates. */
	br_ssl_engine_set_ec(eng, br_ec_get_default());
	br_ssl_engine_set_rsavrfy(eng, br_rsa_pkcs1_vrfy_get_default());
	br_ssl_engine_set_ecdsa(eng, br_ecdsa_vrfy_asn1_get_default());
	br_x509_minimal_set_rsa(mc, br_rsa_pkcs1_vrfy_get_default());
	br_x509_minimal_set_ecdsa(mc, br_ec_get_default(),
	    br_ecdsa_vrfy_asn1_get_default());
	t->v->vtable = &verifier_vtable;
	br_ssl_engine_set_x509(eng, &t->v->vtable);
	/* BearSSL keeps the pointer: the names must be static. */
	if (http_alpn)
		br_ssl_engine_set_protocol_names(eng, alpn, 1);
	/* A client certificate signs the handshake (TLS 1.2 CertificateVerify). */
	if (t->pair && t->pair->key_type == BR_KEYTYPE_RSA)
		br_ssl_client_set_single_rsa(cc, t->pair->chain,
		    t->pair->chain_len, br_skey_decoder_get_rsa(&t->pair->sk),
		    br_rsa_pkcs1_sign_get_default());
	else if (t->pair)
		br_ssl_client_set_single_ec(cc, t->pair->chain,
		    t->pair->chain_len, br_skey_decoder_get_ec(&t->pair->sk),
		    BR_KEYTYPE_SIGN, BR_KEYTYPE_EC, br_ec_get_default(),
		    br_ecdsa_sign_asn1_get_default());
	br_ssl_engine_set_all_flags(eng, BR_OPT_NO_RENEGOTIATION);
	br_ssl_engine_set_buffers_bidi(eng, t->ibuf, sizeof t->ibuf,
	    t->obuf, sizeof t->obuf);
}

struct tls *tls_client_open(const struct tls_client_opts *o,
    char *err, size_t errcap)
{
	struct verifier *v;
	struct tls *t;
	const char *name = o->server_name;

	if (!o->cert_file != !o->key_file) {
		snprintf(err, errcap, "a client certificate needs its key file");
		return NULL;
	}
	if (!(v = calloc(1, sizeof *v))) {
		snprintf(err, errcap, "out of memory");
		return NULL;
	}
	if (name && inet_pton(AF_INET, name, v->ip) == 1)
		v->iplen = 4;
	else if (name && inet_pton(AF_INET6, name, v->ip) == 1)
		v->iplen = 16;
	v->no_chain = !o->cafile;
	v->no_name = !o->check_name;
	v->keep = v->iplen || v->no_name;
	if (o->cafile && anchors_load(&v->ta, o->cafile, err, errcap) < 0) {
		verifier_free(v);
		return NULL;
	}
	if (!(t = malloc(sizeof *t))) {
		snprintf(err, errcap, "out of memory");
		verifier_free(v);
		return NULL;
	}
	t->eng = &t->u.cc.eng;
	t->pair = NULL;
	t->v = v;
	t->dead = 0;
	if (o->cert_file && !(t->pair = pair_load(o->cert_file, o->key_file,
	    err, errcap))) {
		tls_free(t);
		return NULL;
	}
	client_engine_init(t, o->http_alpn);
	seed(t->eng);
	/*
	 * No SNI for an address: RFC 6066 section 3 allows host names only,
	 * and the verifier checks the address itself.
	 */
	if (!br_ssl_client_reset(&t->u.cc, v->iplen || !o->sni ? NULL : name,
	    0)) {
		int e = br_ssl_engine_last_error(t->eng);
		if (e == BR_ERR_NO_RANDOM)
			snprintf(err, errcap, "cannot start a TLS engine: "
			    "no source of random seed");
		else
			snprintf(err, errcap, "cannot start a TLS engine for "
			    "'%s' (BearSSL error %d)", name ? name : "", e);
		tls_free(t);
		return NULL;
	}
	return t;
}

struct tls *tls_client_new(const char *cafile, const char *server_name,
    char *err, size_t errcap)
{
	struct tls_client_opts o = {
		.cafile = cafile, .server_name = server_name,
		.check_name = 1, .sni = 1, .http_alpn = 1,
	};

	return tls_client_open(&o, err, errcap);
}

int tls_handshake(struct tls *t, int fd)
{
	for (;;) {
		unsigned st = br_ssl_engine_current_state(t->eng);
		unsigned char *b;
		size_t len;
		ssize_t r;

		if (t->dead || st == BR_SSL_CLOSED)
			return -1;
		/* Our flight goes out first (after a resumption, the last one). */
		if (st & BR_SSL_SENDREC) {
			int k = send_some(t, fd);
			if (k < 0)
				return -1;
			if (k > 0)
				continue;
			return 0;
		}
		if (st & (BR_SSL_SENDAPP | BR_SSL_RECVAPP))
			return 1;
		if (!(st & BR_SSL_RECVREC))
			return 0;
		b = br_ssl_engine_recvrec_buf(t->eng, &len);
		r = read(fd, b, len);
		if (r > 0) {
			br_ssl_engine_recvrec_ack(t->eng, (size_t)r);
			continue;
		}
		if (r == 0) {
			t->dead = ECONNRESET;
			return -1;
		}
		if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
			return 0;
		t->dead = errno;
		return -1;
	}
}

const unsigned char *tls_peer_cert(const struct tls *t, size_t *len)
{
	if (!t->v || !t->v->keep || t->v->leaf_err ||
	    t->v->leaf_len != t->v->leaf_want || t->v->certs == 0)
		return NULL;
	*len = t->v->leaf_len;
	return t->v->leaf;
}

const char *tls_cipher(const struct tls *t)
{
	static const struct {
		uint16_t id;
		const char *name;
	} names[] = {
		{ BR_TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256, "ECDHE-RSA-AES128-GCM-SHA256" },
		{ BR_TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384, "ECDHE-RSA-AES256-GCM-SHA384" },
		{ BR_TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256, "ECDHE-RSA-CHACHA20-POLY1305" },
		{ BR_TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, "ECDHE-ECDSA-AES128-GCM-SHA256" },
		{ BR_TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384, "ECDHE-ECDSA-AES256-GCM-SHA384" },
		{ BR_TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256, "ECDHE-ECDSA-CHACHA20-POLY1305" },
	};
	br_ssl_session_parameters sp;

	br_ssl_engine_get_session_parameters(t->eng, &sp);
	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
		if (names[i].id == sp.cipher_suite)
			return names[i].name;
	return NULL;
}

int tls_error(const struct tls *t)
{
	return br_ssl_engine_last_error(t->eng);
}

void tls_error_text(int e, char *buf, size_t cap)
{
	static const struct {
		int e;
		const char *s;
	} known[] = {
		{ BR_ERR_OK, "no error" },
		{ BR_ERR_BAD_VERSION, "the peer does not speak TLS 1.2" },
		{ BR_ERR_BAD_CIPHER_SUITE, "no cipher suite in common" },
		{ BR_ERR_BAD_SIGNATURE, "bad signature on the key exchange" },
		{ BR_ERR_BAD_MAC, "record authentication failed" },
		{ BR_ERR_UNSUPPORTED_VERSION, "the peer does not speak TLS 1.2" },
		{ BR_ERR_NO_RANDOM, "no source of random seed" },
		{ BR_ERR_X509_EMPTY_CHAIN, "no certificate sent" },
		{ BR_ERR_X509_EXPIRED, "certificate expired or not yet valid" },
		{ BR_ERR_X509_TIME_UNKNOWN, "certificate validity unknown" },
		{ BR_ERR_X509_BAD_SERVER_NAME, "certificate is not for this host" },
		{ BR_ERR_X509_NOT_CA, "certificate issued by a non-CA" },
		{ BR_ERR_X509_FORBIDDEN_KEY_USAGE, "certificate key usage forbids TLS" },
		{ BR_ERR_X509_WEAK_PUBLIC_KEY, "certificate key too weak" },
		{ BR_ERR_X509_BAD_SIGNATURE, "certificate signature invalid" },
		{ BR_ERR_X509_CRITICAL_EXTENSION, "certificate has an unknown critical extension" },
		{ BR_ERR_X509_LIMIT_EXCEEDED, "certificate chain too large" },
		{ BR_ERR_X509_UNSUPPORTED, "certificate algorithm unsupported" },
		{ BR_ERR_X509_NOT_TRUSTED, "certificate not trusted" },
	};

	for (size_t i = 0; i < sizeof known / sizeof known[0]; i++)
		if (known[i].e == e) {
			snprintf(buf, cap, "%s", known[i].s);
			return;
		}
	if (e >= BR_ERR_SEND_FATAL_ALERT)
		snprintf(buf, cap, "sent fatal alert %d", e - BR_ERR_SEND_FATAL_ALERT);
	else if (e >= BR_ERR_RECV_FATAL_ALERT)
		snprintf(buf, cap, "peer sent fatal alert %d",
		    e - BR_ERR_RECV_FATAL_ALERT);
	else if (e >= BR_ERR_X509_OK)
		snprintf(buf, cap, "certificate rejected");
	else
		snprintf(buf, cap, "protocol error");
}
