/*
 * TLS glue between BearSSL and pgws's poll() loop.
 *
 * This is its own file because it stands on its own: it knows nothing of
 * HTTP, websockets or the database, only how to load a certificate and key
 * with BearSSL's decoders and how to drive a BearSSL engine over a
 * non-blocking socket.  pgws.c sees five read()/writev()-like calls and an
 * opaque struct; BearSSL's types stay in here.
 *
 * BearSSL never touches a socket.  The engine is a state machine that says,
 * through br_ssl_engine_current_state(), which of four things it can do
 * now: take records from the network (RECVREC), hand records out for the
 * network (SENDREC), take plaintext (SENDAPP), hand plaintext out
 * (RECVAPP).  Every function below is a loop that does whichever of those
 * the caller's request needs until the socket would block.
 */
#include <errno.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include <bearssl.h>

#include "tls.h"

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

struct tls {
	br_ssl_server_context sc;
	struct pair *pair;
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
	br_ssl_server_context *sc = &t->sc;
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
	t->pair = cur;
	t->dead = 0;
	engine_init(t);
	seed(&t->sc.eng);
	if (!br_ssl_server_reset(&t->sc)) {
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
	unsigned char *b = br_ssl_engine_sendrec_buf(&t->sc.eng, &len);
	ssize_t w;

	if (!b || t->dead)
		return t->dead ? -1 : 0;
	w = write(fd, b, len);
	if (w < 0) {
		if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
			return 0;
		t->dead = errno;
		return -1;
	}
	br_ssl_engine_sendrec_ack(&t->sc.eng, (size_t)w);
	return 1;
}

/* errno and -1 for an engine that can do nothing more. */
static ssize_t fail(const struct tls *t)
{
	int e = t->dead;

	if (!e)
		e = br_ssl_engine_last_error(&t->sc.eng) == BR_ERR_OK ?
		    EPIPE : EPROTO;
	errno = e;
	return -1;
}

ssize_t tls_read(struct tls *t, int fd, void *buf, size_t n)
{
	br_ssl_engine_context *eng = &t->sc.eng;
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
	br_ssl_engine_context *eng = &t->sc.eng;
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
	st = br_ssl_engine_current_state(&t->sc.eng);
	if (st == BR_SSL_CLOSED)
		return POLLOUT;
	if (st & BR_SSL_SENDREC)
		ev |= POLLOUT;
	if (st & BR_SSL_RECVREC)
		ev |= POLLIN;
	return ev;
}

int tls_buffered(const struct tls *t)
{
	return !t->dead && (br_ssl_engine_current_state(&t->sc.eng) &
	    BR_SSL_RECVAPP) != 0;
}

int tls_flush(struct tls *t, int fd)
{
	int r;

	while ((r = send_some(t, fd)) > 0)
		;
	if (r < 0 || br_ssl_engine_current_state(&t->sc.eng) == BR_SSL_CLOSED) {
		fail(t);
		return -1;
	}
	return 0;
}

int tls_pending(const struct tls *t)
{
	return !t->dead &&
	    (br_ssl_engine_current_state(&t->sc.eng) & BR_SSL_SENDREC) != 0;
}

void tls_close(struct tls *t, int fd)
{
	if (t->dead)
		return;
	br_ssl_engine_close(&t->sc.eng);
	while (send_some(t, fd) > 0)
		;
}

size_t tls_conn_bytes(void)
{
	return sizeof(struct tls);
}
