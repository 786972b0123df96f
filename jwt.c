/*
 * Signed JWTs: HMAC, RSA (PKCS#1 v1.5 and PSS) and ECDSA, every big-number
 * step done by BearSSL.  The token is attacker-controlled, so every step is
 * bounded by lengths the caller gave: the three parts are found by one scan,
 * decoded strictly into the caller's work buffer, and only parsed as JSON
 * after the signature over the raw header and payload text has been found
 * valid.  Nothing here allocates except jwt_keys_load(), which runs once.
 */
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <bearssl.h>

#include "base64.h"
#include "json.h"
#include "jwt.h"

static const char *const jwt_msg[JWT_E_COUNT] = {
	[JWT_OK] = "OK",
	[JWT_E_TOO_LONG] = "Token too long",
	[JWT_E_MALFORMED] = "Malformed token",
	[JWT_E_ALG] = "Unsupported algorithm",
	[JWT_E_NO_KEY] = "No key for this token",
	[JWT_E_SIGNATURE] = "Invalid signature",
	[JWT_E_EXPIRED] = "Token expired",
	[JWT_E_NOT_YET_VALID] = "Token not yet valid",
	[JWT_E_CLAIMS] = "Invalid claims",
	[JWT_E_MISSING_MODE] = "Missing mode",
	[JWT_E_MODE] = "Invalid mode",
	[JWT_E_NO_CHANNELS] = "No allowed channels",
	[JWT_E_CRIT] = "Unsupported critical header",
};

const char *
jwt_strerror(int e)
{
	if (e < 0 || e >= JWT_E_COUNT || !jwt_msg[e])
		return "Invalid token";
	return jwt_msg[e];
}

int
jwt_status(int e)
{
	return e == JWT_E_NO_CHANNELS ? 403 : 401;
}

/*
 * What each algorithm needs: the family of key that may verify it, the
 * hash, the DigestInfo OID for PKCS#1 v1.5 and the curve for ECDSA.
 */
struct jwt_alg {
	const char *name;
	int kty;
	const br_hash_class *hash;
	size_t hlen;
	const unsigned char *oid;
	int curve;
};

static const struct jwt_alg jwt_algs[JWT_ALG_LAST + 1] = {
	[JWT_HS256] = { "HS256", JWT_KTY_OCT, &br_sha256_vtable, 32, NULL, 0 },
	[JWT_HS384] = { "HS384", JWT_KTY_OCT, &br_sha384_vtable, 48, NULL, 0 },
	[JWT_HS512] = { "HS512", JWT_KTY_OCT, &br_sha512_vtable, 64, NULL, 0 },
	[JWT_RS256] = { "RS256", JWT_KTY_RSA, &br_sha256_vtable, 32,
	    BR_HASH_OID_SHA256, 0 },
	[JWT_RS384] = { "RS384", JWT_KTY_RSA, &br_sha384_vtable, 48,
	    BR_HASH_OID_SHA384, 0 },
	[JWT_RS512] = { "RS512", JWT_KTY_RSA, &br_sha512_vtable, 64,
	    BR_HASH_OID_SHA512, 0 },
	[JWT_PS256] = { "PS256", JWT_KTY_RSA, &br_sha256_vtable, 32, NULL, 0 },
	[JWT_PS384] = { "PS384", JWT_KTY_RSA, &br_sha384_vtable, 48, NULL, 0 },
	[JWT_PS512] = { "PS512", JWT_KTY_RSA, &br_sha512_vtable, 64, NULL, 0 },
	[JWT_ES256] = { "ES256", JWT_KTY_EC, &br_sha256_vtable, 32, NULL,
	    BR_EC_secp256r1 },
	[JWT_ES384] = { "ES384", JWT_KTY_EC, &br_sha384_vtable, 48, NULL,
	    BR_EC_secp384r1 },
	[JWT_ES512] = { "ES512", JWT_KTY_EC, &br_sha512_vtable, 64, NULL,
	    BR_EC_secp521r1 },
};

static int
jwt_is_ps(int alg)
{
	return alg >= JWT_PS256 && alg <= JWT_PS512;
}

/* Returns the JWT_* algorithm named by the JSON string *v, or 0. */
static int
jwt_alg_of(const struct json_val *v)
{
	int a;

	for (a = 1; a <= JWT_ALG_LAST; a++)
		if (json_str_eq(v, jwt_algs[a].name, 5))
			return a;
	return 0;
}

/* Bytes of one coordinate (and of r and of s) on a curve. */
static size_t
jwt_ec_coord(int curve)
{
	switch (curve) {
	case BR_EC_secp256r1: return 32;
	case BR_EC_secp384r1: return 48;
	case BR_EC_secp521r1: return 66;
	}
	return 0;
}

static void
jwt_hmac(int alg, const unsigned char *key, size_t klen, const void *data,
    size_t n, unsigned char *out)
{
	br_hmac_key_context kc;
	br_hmac_context hc;

	br_hmac_key_init(&kc, jwt_algs[alg].hash, key, klen);
	br_hmac_init(&hc, &kc, 0);
	br_hmac_update(&hc, data, n);
	br_hmac_out(&hc, out);
}

/* out = hash(a || b); b may be NULL. */
static void
jwt_digest(const br_hash_class *h, const void *a, size_t an, const void *b,
    size_t bn, unsigned char *out)
{
	br_hash_compat_context hc;

	h->init(&hc.vtable);
	h->update(&hc.vtable, a, an);
	if (b)
		h->update(&hc.vtable, b, bn);
	h->out(&hc.vtable, out);
}

/*
 * Compares n bytes without an early exit, so that the time taken does not
 * tell an attacker how many leading bytes of a forged MAC were right.
 */
static int
jwt_ct_eq(const unsigned char *a, const unsigned char *b, size_t n)
{
	unsigned acc = 0;
	size_t i;

	for (i = 0; i < n; i++)
		acc |= (unsigned)(a[i] ^ b[i]);
	return acc == 0;
}

/* Length of the unpadded base64url text for n bytes. */
static size_t
jwt_b64_len(size_t n)
{
	return n / 3 * 4 + (n % 3 ? n % 3 + 1 : 0);
}

/* Decoded length of n unpadded base64 characters (n % 4 != 1). */
static size_t
jwt_dec_len(size_t n)
{
	return n / 4 * 3 + (n % 4 ? n % 4 - 1 : 0);
}

static int
jwt_b64url_char(unsigned char ch)
{
	return (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') ||
	    (ch >= '0' && ch <= '9') || ch == '-' || ch == '_';
}

static int
jwt_space(unsigned char ch)
{
	return ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r' ||
	    ch == '\v' || ch == '\f';
}

/*
 * Zeroes secret bytes through a volatile pointer: a plain memset() just
 * before free() or a return is a dead store the compiler may drop.
 */
static void
jwt_wipe(void *p, size_t n)
{
	volatile unsigned char *v = p;
	size_t i;

	for (i = 0; v && i < n; i++)
		v[i] = 0;
}

void
jwt_keys_free(struct jwt_keyset *ks)
{
	size_t i;

	for (i = 0; i < ks->n && i < JWT_MAX_KEYS; i++) {
		jwt_wipe(ks->key[i].k, ks->key[i].k_len);
		free(ks->key[i].k);
		ks->key[i].k = NULL;
		ks->key[i].k_len = 0;
	}
	ks->n = 0;
}

const struct jwt_key *
jwt_keys_hmac(const struct jwt_keyset *ks)
{
	size_t i;

	for (i = 0; i < ks->n; i++)
		if (ks->key[i].kty == JWT_KTY_OCT)
			return &ks->key[i];
	return NULL;
}

size_t
jwt_work_size(size_t max_len, size_t max_chan)
{
	return 2 * max_len + 1024 + (max_chan + 1) * sizeof(struct jwt_chan) +
	    _Alignof(struct jwt_chan);
}

/*
 * Loading state: where errors go, and the name of the key being loaded
 * ("keys[2] (kid \"a\")" or "JWK"), so that every message names its key.
 */
struct jwt_load {
	struct jwt_keyset *ks;
	char *err;
	size_t errcap;
	char name[112];
};

static int
jwt_fail(struct jwt_load *L, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static int
jwt_fail(struct jwt_load *L, const char *fmt, ...)
{
	char msg[256];
	va_list ap;

	if (L->errcap == 0)
		return -1;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (L->name[0])
		snprintf(L->err, L->errcap, "%s: %s", L->name, msg);
	else
		snprintf(L->err, L->errcap, "%s", msg);
	return -1;
}

/*
 * Appends a key of type kty holding a copy of key[0..n) to the set;
 * returns 0 or -1 with the error set.
 */
static int
jwt_key_add(struct jwt_load *L, int kty, const unsigned char *key, size_t n,
    int alg, const struct json_val *kid)
{
	struct jwt_keyset *ks = L->ks;
	struct jwt_key *k;
	long kl = 0;

	if (n == 0)
		return jwt_fail(L, "the key is empty");
	if (ks->n >= JWT_MAX_KEYS)
		return jwt_fail(L, "more than %d keys", JWT_MAX_KEYS);
	k = &ks->key[ks->n];
	memset(k, 0, sizeof(*k));
	if (kid) {
		kl = json_str(kid, k->kid, sizeof(k->kid));
		if (kl < 0 || (size_t)kl >= sizeof(k->kid))
			return jwt_fail(L,
			    "\"kid\" is not a string of at most 127 bytes");
		k->has_kid = 1;
		k->kid_len = (size_t)kl;
	}
	if ((k->k = malloc(n)) == NULL)
		return jwt_fail(L, "out of memory");
	memcpy(k->k, key, n);
	k->k_len = n;
	k->kty = kty;
	k->alg = alg;
	ks->n++;
	return 0;
}

/*
 * Decodes the base64url string member name of *jwk into a fresh buffer
 * (the caller wipes and frees *out).  The text is a slice of the JSON
 * between the quotes; escapes are not base64 characters, so the decoder
 * refuses them.  Returns the length, or -1 with the error set.
 */
static long
jwt_member_b64(struct jwt_load *L, const struct json_val *jwk,
    const char *name, unsigned char **out)
{
	struct json_val v;
	long len;

	*out = NULL;
	if (!json_get(jwk, name, &v) || v.type != JSON_STRING)
		return jwt_fail(L, "no string \"%s\"", name);
	if ((*out = malloc(v.n)) == NULL)
		return jwt_fail(L, "out of memory");
	len = base64_decode(v.p + 1, v.n - 2, *out, v.n, B64_URL);
	if (len < 0) {
		free(*out);
		*out = NULL;
		return jwt_fail(L, "\"%s\" is not valid base64url", name);
	}
	return len;
}

/* Frees a buffer from jwt_member_b64(), wiped. */
static void
jwt_drop(unsigned char *p, size_t n)
{
	jwt_wipe(p, n);
	free(p);
}

/*
 * A JWK holding private members is refused: PGWS_JWT_SECRET is read by a
 * server that only verifies, and a private key there is a leak waiting
 * to happen (and a sign that the wrong key was pasted).
 */
static int
jwt_private_check(struct jwt_load *L, const struct json_val *jwk)
{
	static const char *const priv[] = { "d", "p", "q", "dp", "dq", "qi",
	    "oth" };
	struct json_val v;
	size_t i;

	for (i = 0; i < sizeof(priv) / sizeof(priv[0]); i++)
		if (json_get(jwk, priv[i], &v))
			return jwt_fail(L, "is a private key (it has \"%s\"): "
			    "give the public key only", priv[i]);
	return 0;
}

/* An RSA public key: n of 2048..4096 bits and odd, e odd and at least 3. */
static int
jwt_rsa_add(struct jwt_load *L, const struct json_val *jwk, int alg,
    const struct json_val *kid)
{
	unsigned char *n = NULL, *e = NULL, *buf;
	long nl, el;
	size_t ni = 0, ei = 0, bits;
	int r = -1;

	if ((nl = jwt_member_b64(L, jwk, "n", &n)) < 0 ||
	    (el = jwt_member_b64(L, jwk, "e", &e)) < 0)
		goto out;
	while (ni < (size_t)nl && n[ni] == 0)
		ni++;
	while (ei < (size_t)el && e[ei] == 0)
		ei++;
	nl -= (long)ni;
	el -= (long)ei;
	bits = nl > 0 ? (size_t)(nl - 1) * 8 : 0;
	if (nl > 0)
		for (unsigned t = n[ni]; t; t >>= 1)
			bits++;
	if (bits < JWT_RSA_MIN_BITS || bits > JWT_RSA_MAX_BITS) {
		jwt_fail(L, "RSA modulus of %zu bits: %d to %d bits are "
		    "supported", bits, JWT_RSA_MIN_BITS, JWT_RSA_MAX_BITS);
		goto out;
	}
	if (!(n[ni + (size_t)nl - 1] & 1) || el <= 0 || el > 8 ||
	    !(e[ei + (size_t)el - 1] & 1) || (el == 1 && e[ei] < 3)) {
		jwt_fail(L, "not a valid RSA public key (n even, or e not an "
		    "odd number from 3 up)");
		goto out;
	}
	if ((buf = malloc((size_t)(nl + el))) == NULL) {
		jwt_fail(L, "out of memory");
		goto out;
	}
	memcpy(buf, n + ni, (size_t)nl);
	memcpy(buf + nl, e + ei, (size_t)el);
	r = jwt_key_add(L, JWT_KTY_RSA, buf, (size_t)(nl + el), alg, kid);
	if (r == 0)
		L->ks->key[L->ks->n - 1].n_len = (size_t)nl;
	free(buf);
out:
	free(n);
	free(e);
	return r;
}

/*
 * An EC public key on P-256, P-384 or P-521, coordinates at most their
 * full size (RFC 7518 section 6.2.1.2), and a point on the curve: BearSSL's
 * point multiplication decodes and checks it.
 */
static int
jwt_ec_add(struct jwt_load *L, const struct json_val *jwk, int alg,
    const struct json_val *kid)
{
	static const unsigned char one[1] = { 1 };
	const br_ec_impl *ec = br_ec_get_default();
	unsigned char *x = NULL, *y = NULL, pt[1 + 2 * 66], tmp[sizeof(pt)];
	struct json_val crv;
	long xl, yl;
	size_t w;
	int curve, r = -1;

	if (!json_get(jwk, "crv", &crv) || crv.type != JSON_STRING)
		return jwt_fail(L, "no string \"crv\"");
	if (json_str_eq(&crv, "P-256", 5))
		curve = BR_EC_secp256r1;
	else if (json_str_eq(&crv, "P-384", 5))
		curve = BR_EC_secp384r1;
	else if (json_str_eq(&crv, "P-521", 5))
		curve = BR_EC_secp521r1;
	else
		return jwt_fail(L, "curve %.*s is not supported (P-256, P-384 "
		    "and P-521 are; BearSSL has no secp256k1)",
		    crv.n > 40 ? 40 : (int)crv.n, crv.p);
	if (alg && jwt_algs[alg].curve != curve)
		return jwt_fail(L, "\"alg\" %s does not match curve %.*s",
		    jwt_algs[alg].name, (int)crv.n, crv.p);
	w = jwt_ec_coord(curve);
	if ((xl = jwt_member_b64(L, jwk, "x", &x)) < 0 ||
	    (yl = jwt_member_b64(L, jwk, "y", &y)) < 0)
		goto out;
	/*
	 * RFC 7518 wants the full size, but some writers (PyJWT 2.6 for
	 * P-521) drop leading zero bytes; the number is the same.
	 */
	if ((size_t)xl > w || (size_t)yl > w || xl == 0 || yl == 0) {
		jwt_fail(L, "\"x\" and \"y\" must be %zu bytes each", w);
		goto out;
	}
	memset(pt, 0, sizeof(pt));
	pt[0] = 4;
	memcpy(pt + 1 + w - (size_t)xl, x, (size_t)xl);
	memcpy(pt + 1 + 2 * w - (size_t)yl, y, (size_t)yl);
	memcpy(tmp, pt, 1 + 2 * w);
	if (!((ec->supported_curves >> curve) & 1) ||
	    !ec->mul(tmp, 1 + 2 * w, one, 1, curve)) {
		jwt_fail(L, "the point (x, y) is not on the curve");
		goto out;
	}
	r = jwt_key_add(L, JWT_KTY_EC, pt, 1 + 2 * w, alg, kid);
	if (r == 0)
		L->ks->key[L->ks->n - 1].curve = curve;
out:
	free(x);
	free(y);
	return r;
}

/* An oct key: the secret in "k". */
static int
jwt_oct_add(struct jwt_load *L, const struct json_val *jwk, int alg,
    const struct json_val *kid)
{
	unsigned char *k;
	long len;
	int r;

	if ((len = jwt_member_b64(L, jwk, "k", &k)) < 0)
		return -1;
	r = jwt_key_add(L, JWT_KTY_OCT, k, (size_t)len, alg, kid);
	jwt_drop(k, (size_t)len);
	return r;
}

/*
 * Refuses an OKP key that could sign (Ed25519, Ed448): the original
 * verifies EdDSA tokens with it, and BearSSL has no EdDSA, so starting
 * without it would refuse those tokens at run time instead.  An X25519 or
 * X448 key cannot verify a signature at all: skipped inside a set.
 */
static int
jwt_okp(struct jwt_load *L, const struct json_val *jwk, int inset)
{
	struct json_val crv;

	if (inset && json_get(jwk, "crv", &crv) &&
	    (json_str_eq(&crv, "X25519", 6) || json_str_eq(&crv, "X448", 4)))
		return 0;
	return jwt_fail(L, "OKP (EdDSA) keys are not supported: BearSSL has "
	    "no Ed25519 or Ed448 signature verification");
}

/* Sets L->name from the key's place and kid. */
static void
jwt_name(struct jwt_load *L, const struct json_val *jwk, long idx)
{
	struct json_val kid;
	int n = 0;

	if (idx >= 0)
		n = snprintf(L->name, sizeof(L->name), "keys[%ld]", idx);
	else
		n = snprintf(L->name, sizeof(L->name), "JWK");
	if (jwk->type == JSON_OBJECT && json_get(jwk, "kid", &kid) &&
	    n > 0 && (size_t)n < sizeof(L->name))
		snprintf(L->name + n, sizeof(L->name) - (size_t)n,
		    " (kid %.*s)", kid.n > 64 ? 64 : (int)kid.n, kid.p);
}

/*
 * Adds the JWK *jwk, the idx-th of a set or (idx -1) the only one.
 * Inside a set, a key meant for encryption ("use" other than "sig", or
 * an "alg" that is no signature algorithm) is skipped; alone, it is an
 * error.  Returns 1 when added, 0 when skipped, -1.
 */
static int
jwt_jwk_add(struct jwt_load *L, const struct json_val *jwk, long idx)
{
	struct json_val kty, v, kid, *kidp = NULL;
	int a = 0, inset = idx >= 0, r;

	jwt_name(L, jwk, idx);
	if (jwk->type != JSON_OBJECT)
		return jwt_fail(L, "not a JSON object");
	if (!json_get(jwk, "kty", &kty) || kty.type != JSON_STRING)
		return jwt_fail(L, "no string \"kty\"");
	if (json_get(jwk, "kid", &kid))
		kidp = &kid;
	if (json_str_eq(&kty, "OKP", 3))
		return jwt_okp(L, jwk, inset);
	if (json_get(jwk, "use", &v) && !json_str_eq(&v, "sig", 3)) {
		if (inset)
			return 0;
		return jwt_fail(L, "\"use\" is not \"sig\"");
	}
	if (json_get(jwk, "alg", &v) && (a = jwt_alg_of(&v)) == 0) {
		if (inset && !json_str_eq(&v, "none", 4) &&
		    !json_str_eq(&v, "EdDSA", 5) &&
		    !json_str_eq(&v, "ES256K", 6))
			return 0;
		return jwt_fail(L, "\"alg\" %.*s is not a supported signature "
		    "algorithm", v.n > 40 ? 40 : (int)v.n, v.p);
	}
	if (json_str_eq(&kty, "oct", 3)) {
		if (a && jwt_algs[a].kty != JWT_KTY_OCT)
			return jwt_fail(L, "\"alg\" %s does not fit an oct key",
			    jwt_algs[a].name);
		r = jwt_oct_add(L, jwk, a, kidp);
	} else if (json_str_eq(&kty, "RSA", 3)) {
		if (a && jwt_algs[a].kty != JWT_KTY_RSA)
			return jwt_fail(L, "\"alg\" %s does not fit an RSA key",
			    jwt_algs[a].name);
		if (jwt_private_check(L, jwk) < 0)
			return -1;
		r = jwt_rsa_add(L, jwk, a, kidp);
	} else if (json_str_eq(&kty, "EC", 2)) {
		if (a && jwt_algs[a].kty != JWT_KTY_EC)
			return jwt_fail(L, "\"alg\" %s does not fit an EC key",
			    jwt_algs[a].name);
		if (jwt_private_check(L, jwk) < 0)
			return -1;
		r = jwt_ec_add(L, jwk, a, kidp);
	} else {
		return jwt_fail(L, "\"kty\" %.*s is not oct, RSA, EC or OKP",
		    kty.n > 40 ? 40 : (int)kty.n, kty.p);
	}
	return r < 0 ? -1 : 1;
}

/*
 * Loads s[0..n) as a JWK or a JWK set.  Returns 0, -1 with the error set,
 * or 1 when the text is not meant as one: not a JSON object, or an object
 * with neither "kty" nor "keys" (the caller then uses it as a raw secret,
 * as the original does with any text it cannot read as a JWK).
 */
static int
jwt_keys_json(struct jwt_load *L, const char *s, size_t n)
{
	struct json_val root, keys, item;
	size_t pos = 0;
	long idx = 0;
	int r, added = 0;

	if (json_parse(s, n, &root) < 0 || root.type != JSON_OBJECT)
		return 1;
	if (!json_get(&root, "keys", &keys)) {
		if (!json_get(&root, "kty", &item))
			return 1;
		return jwt_jwk_add(L, &root, -1) < 0 ? -1 : 0;
	}
	if (keys.type != JSON_ARRAY)
		return jwt_fail(L, "JWK set \"keys\" is not an array");
	while (json_next(&keys, &pos, NULL, &item)) {
		if ((r = jwt_jwk_add(L, &item, idx++)) < 0)
			return -1;
		added += r;
	}
	L->name[0] = '\0';
	if (!added)
		return jwt_fail(L, "the JWK set holds no signature key");
	return 0;
}

/*
 * Loads text that is not base64 (any more): a JWK or JWK set, or a raw
 * secret.  Returns 0, 1 (raw secret that looked like JSON, warning set)
 * or -1.
 */
static int
jwt_keys_text(struct jwt_load *L, const char *s, size_t n)
{
	size_t i = 0;
	int r;

	while (i < n && jwt_space((unsigned char)s[i]))
		i++;
	if (i < n && s[i] == '{') {
		if ((r = jwt_keys_json(L, s, n)) <= 0)
			return r;
		if (jwt_key_add(L, JWT_KTY_OCT, (const unsigned char *)s, n,
		    0, NULL) < 0)
			return -1;
		if (L->errcap)
			snprintf(L->err, L->errcap, "starts with '{' but is not "
			    "a JWK or JWK set (a JSON object with \"kty\" or "
			    "\"keys\"): used as a raw HMAC secret");
		return 1;
	}
	return jwt_key_add(L, JWT_KTY_OCT, (const unsigned char *)s, n, 0,
	    NULL);
}

/*
 * Decodes a base64 secret the way postgres-websockets does (it replaces
 * '-' '_' '.' with '+' '/' '=', strips surrounding whitespace and decodes
 * standard base64), except that padding may also be left out.  Returns
 * the length of *out (malloc'ed, the caller wipes and frees it), or -1.
 */
static long
jwt_b64_secret(const char *s, size_t n, unsigned char **out)
{
	char *t;
	size_t i, m = 0;
	long len;

	while (n && jwt_space((unsigned char)s[n - 1]))
		n--;
	while (n && jwt_space((unsigned char)*s))
		s++, n--;
	if ((t = malloc(n + 1)) == NULL)
		return -1;
	for (i = 0; i < n; i++)
		t[m++] = s[i] == '-' ? '+' : s[i] == '_' ? '/' :
		    s[i] == '.' ? '=' : s[i];
	if ((*out = malloc(n + 1)) == NULL) {
		jwt_drop((unsigned char *)t, n + 1);
		return -1;
	}
	len = base64_decode(t, m, *out, n + 1, B64_STD);
	jwt_drop((unsigned char *)t, n + 1);
	if (len < 0) {
		jwt_drop(*out, n + 1);
		*out = NULL;
	}
	return len;
}

int
jwt_keys_load(struct jwt_keyset *ks, const char *secret, size_t n,
    int base64, char *err, size_t errcap)
{
	struct jwt_load L;
	unsigned char *buf;
	size_t i = 0;
	long len;
	int r;

	memset(ks, 0, sizeof(*ks));
	ks->max_chan = JWT_MAX_CHANNELS;
	memset(&L, 0, sizeof(L));
	L.ks = ks;
	L.err = err;
	L.errcap = errcap;
	if (errcap)
		err[0] = '\0';
	while (i < n && jwt_space((unsigned char)secret[i]))
		i++;
	if (base64 && !(i < n && secret[i] == '{')) {
		len = jwt_b64_secret(secret, n, &buf);
		if (len < 0) {
			r = jwt_fail(&L, "not valid base64 or base64url text");
		} else {
			r = jwt_keys_text(&L, (const char *)buf, (size_t)len);
			jwt_drop(buf, (size_t)len);
		}
	} else {
		r = jwt_keys_text(&L, secret, n);
	}
	if (r < 0) {
		jwt_keys_free(ks);
		return -1;
	}
	return r;
}

/*
 * Records the message for e.  On an error nothing is granted, so that a
 * caller that forgets to look at the result still grants no channel.
 */
static int
jwt_ret(struct jwt_claims *c, int e, const char *why)
{
	c->why = why ? why : jwt_strerror(e);
	if (e != JWT_OK) {
		c->mode = 0;
		c->nchan = 0;
		c->chan = NULL;
		c->listed = 1;
	}
	return e;
}

/*
 * Copies the unescaped JSON string *v into work at *used, checks it is a
 * usable channel name, and appends it to c->chan unless already there;
 * limit is the most channels a token may carry, and c->chan has room for
 * that many or for every candidate, whichever is fewer.  Returns JWT_OK
 * or an error for jwt_verify() to return.
 */
static int
jwt_chan_add(struct jwt_claims *c, const struct json_val *v, size_t limit,
    char *work, size_t cap, size_t *used, const char *why)
{
	char *dst = work + *used;
	long len;
	size_t i;

	if (v->type != JSON_STRING)
		return jwt_ret(c, JWT_E_CLAIMS, why);
	/* The escaped text (quotes included) bounds the unescaped length. */
	if (v->n > cap - *used)
		return jwt_ret(c, JWT_E_TOO_LONG, NULL);
	if ((len = json_str(v, dst, cap - *used)) <= 0 ||
	    memchr(dst, '\0', (size_t)len))
		return jwt_ret(c, JWT_E_CLAIMS, why);
	for (i = 0; i < c->nchan; i++)
		if (c->chan[i].n == (size_t)len &&
		    memcmp(c->chan[i].p, dst, (size_t)len) == 0)
			return JWT_OK;
	if (c->nchan >= limit)
		return jwt_ret(c, JWT_E_CLAIMS, "Too many channels");
	c->chan[c->nchan].p = dst;
	c->chan[c->nchan].n = (size_t)len;
	c->nchan++;
	*used += (size_t)len;
	return JWT_OK;
}

/*
 * Reserves the channel list in work at *used: one entry per candidate
 * (the channel claim and each element of channels), at most limit, and
 * at least one so that jwt_grant() can always store the asked channel.
 */
static int
jwt_chan_reserve(struct jwt_claims *c, const struct json_val *ch,
    const struct json_val *chs, size_t limit, char *work, size_t cap,
    size_t *used)
{
	struct json_val item;
	size_t want = ch ? 1 : 0, pos = 0, pad;

	while (chs && want < limit && json_next(chs, &pos, NULL, &item))
		want++;
	if (want > limit)
		want = limit;
	if (want == 0)
		want = 1;
	pad = (size_t)(-(uintptr_t)(work + *used)) &
	    (_Alignof(struct jwt_chan) - 1);
	if (pad > cap - *used ||
	    want > (cap - *used - pad) / sizeof(struct jwt_chan))
		return jwt_ret(c, JWT_E_TOO_LONG, NULL);
	c->chan = (struct jwt_chan *)(void *)(work + *used + pad);
	*used += pad + want * sizeof(struct jwt_chan);
	return JWT_OK;
}

/* Checks the claims of a token whose signature is already known good. */
static int
jwt_claims_check(struct jwt_claims *c, size_t limit, double now, char *work,
    size_t cap, size_t used)
{
	struct json_val root, v, ch, chs, item;
	int has_ch, has_chs, e;
	size_t pos = 0;
	double d;

	if (json_parse(c->json, c->json_len, &root) < 0 ||
	    root.type != JSON_OBJECT)
		return jwt_ret(c, JWT_E_MALFORMED, NULL);
	/*
	 * A non-finite time (1e999 parses as infinity) would make a token
	 * that never expires and would upset the caller's timer arithmetic.
	 */
	if (json_get(&root, "exp", &v)) {
		if (!json_num(&v, &d) || !isfinite(d))
			return jwt_ret(c, JWT_E_CLAIMS, "Invalid exp claim");
		c->has_exp = 1;
		c->exp = d;
		if (d <= now)
			return jwt_ret(c, JWT_E_EXPIRED, NULL);
	}
	if (json_get(&root, "nbf", &v)) {
		if (!json_num(&v, &d) || !isfinite(d))
			return jwt_ret(c, JWT_E_CLAIMS, "Invalid nbf claim");
		if (d > now)
			return jwt_ret(c, JWT_E_NOT_YET_VALID, NULL);
	}
	/* A claim whose value is null counts as absent, as in the original. */
	has_ch = json_get(&root, "channel", &ch) && ch.type != JSON_NULL;
	has_chs = json_get(&root, "channels", &chs) && chs.type != JSON_NULL;
	e = jwt_chan_reserve(c, has_ch ? &ch : NULL, has_chs &&
	    chs.type == JSON_ARRAY ? &chs : NULL, limit, work, cap, &used);
	if (e != JWT_OK)
		return e;
	c->listed = has_ch || has_chs;
	if (has_ch) {
		e = jwt_chan_add(c, &ch, limit, work, cap, &used,
		    "Invalid channel claim");
		if (e != JWT_OK)
			return e;
	}
	/*
	 * The original server ignored a "channels" claim of the wrong type,
	 * which then granted whatever channel the client asked for.
	 */
	if (has_chs && chs.type != JSON_ARRAY)
		return jwt_ret(c, JWT_E_CLAIMS, "Invalid channels claim");
	while (has_chs && json_next(&chs, &pos, NULL, &item)) {
		e = jwt_chan_add(c, &item, limit, work, cap, &used,
		    "Invalid channels claim");
		if (e != JWT_OK)
			return e;
	}
	if (!json_get(&root, "mode", &v))
		return jwt_ret(c, JWT_E_MISSING_MODE, NULL);
	if (json_str_eq(&v, "r", 1))
		c->mode = JWT_MODE_R;
	else if (json_str_eq(&v, "w", 1))
		c->mode = JWT_MODE_W;
	else if (json_str_eq(&v, "rw", 2))
		c->mode = JWT_MODE_R | JWT_MODE_W;
	else
		return jwt_ret(c, JWT_E_MODE, NULL);
	return jwt_ret(c, JWT_OK, NULL);
}

/*
 * RSASSA-PSS verification (RFC 8017 section 8.1.2 and EMSA-PSS-VERIFY,
 * section 9.1.2) with MGF1 over the same hash and a salt as long as the
 * hash, as RFC 7518 section 3.5 requires.  BearSSL 0.6 has no PSS, so
 * this decodes the padding around its RSA public operation (the only
 * big-number step, done by BearSSL).  mhash is the hash of the message.
 */
static int
jwt_pss_verify(const struct jwt_key *k, const struct jwt_alg *a,
    const unsigned char *mhash, const unsigned char *sig, size_t sl)
{
	static const unsigned char zero8[8];
	br_rsa_public_key pk = { k->k, k->n_len, k->k + k->n_len,
	    k->k_len - k->n_len };
	unsigned char em[JWT_RSA_MAX_BITS / 8], mask[64], h2[64];
	br_hash_compat_context hc;
	size_t hl = a->hlen, embits, emlen, dblen, i, j, ps;
	unsigned top, t;
	uint32_t cnt;
	unsigned char *e;

	if (sl != k->n_len || sl > sizeof(em))
		return 0;
	memcpy(em, sig, sl);
	if (!br_rsa_public_get_default()(em, sl, &pk))
		return 0;
	embits = (k->n_len - 1) * 8;
	for (t = k->k[0]; t; t >>= 1)
		embits++;
	embits--;
	emlen = (embits + 7) / 8;
	/* The modulus is one bit longer than EM: a whole zero byte, maybe. */
	if (sl - emlen == 1 && em[0] != 0)
		return 0;
	e = em + (sl - emlen);
	if (emlen < 2 * hl + 2 || e[emlen - 1] != 0xbc)
		return 0;
	dblen = emlen - hl - 1;
	top = (unsigned)(8 * emlen - embits);
	if (e[0] & (0xff00u >> top) & 0xff)
		return 0;
	for (cnt = 0, i = 0; i < dblen; cnt++) {
		unsigned char c4[4] = { (unsigned char)(cnt >> 24),
		    (unsigned char)(cnt >> 16), (unsigned char)(cnt >> 8),
		    (unsigned char)cnt };

		jwt_digest(a->hash, e + dblen, hl, c4, 4, mask);
		for (j = 0; j < hl && i < dblen; j++)
			e[i++] ^= mask[j];
	}
	e[0] &= (unsigned char)(0xffu >> top);
	ps = dblen - hl - 1;
	for (i = 0; i < ps; i++)
		if (e[i] != 0)
			return 0;
	if (e[ps] != 1)
		return 0;
	a->hash->init(&hc.vtable);
	a->hash->update(&hc.vtable, zero8, 8);
	a->hash->update(&hc.vtable, mhash, hl);
	a->hash->update(&hc.vtable, e + ps + 1, hl);
	a->hash->out(&hc.vtable, h2);
	return memcmp(h2, e + dblen, hl) == 0;
}

/*
 * Checks sig[0..sl) with one key that fits alg.  h is the hash of the
 * signed text (for RSA and EC); HMAC keys take the text itself.
 */
static int
jwt_key_verify(const struct jwt_key *k, int alg, const char *tok,
    size_t signed_len, const unsigned char *h, const unsigned char *sig,
    size_t sl)
{
	const struct jwt_alg *a = &jwt_algs[alg];
	unsigned char out[64];
	int ok;

	if (k->kty == JWT_KTY_OCT) {
		if (sl != a->hlen)
			return 0;
		jwt_hmac(alg, k->k, k->k_len, tok, signed_len, out);
		ok = jwt_ct_eq(out, sig, a->hlen);
		jwt_wipe(out, sizeof(out));
		return ok;
	}
	if (k->kty == JWT_KTY_EC) {
		br_ec_public_key pk = { k->curve, k->k, k->k_len };

		/* JOSE signatures are raw r || s, each the curve's size. */
		if (sl != 2 * jwt_ec_coord(k->curve))
			return 0;
		return br_ecdsa_vrfy_raw_get_default()(br_ec_get_default(), h,
		    a->hlen, &pk, sig, sl) == 1;
	}
	if (jwt_is_ps(alg))
		return jwt_pss_verify(k, a, h, sig, sl);
	{
		br_rsa_public_key pk = { k->k, k->n_len, k->k + k->n_len,
		    k->k_len - k->n_len };

		if (sl != k->n_len || !br_rsa_pkcs1_vrfy_get_default()(sig, sl,
		    a->oid, a->hlen, &pk, out))
			return 0;
		return memcmp(out, h, a->hlen) == 0;
	}
}

static int
jwt_kid_is(const struct jwt_key *k, const struct json_val *kid)
{
	return k->has_kid && json_str_eq(kid, k->kid, k->kid_len);
}

/*
 * Tries every key that may verify this token and returns JWT_OK if one
 * of them does.  The keys are those whose kid is the token's, or all when
 * none is; of those, keys of the alg's family (and curve) not pinned to
 * another alg.  All candidates are tried, even after a match, so the time
 * taken depends only on the key set and the token's header.
 */
static int
jwt_check_sig(const struct jwt_keyset *ks, int alg, const struct json_val *kid,
    const char *tok, size_t signed_len, const unsigned char *sig, size_t sl)
{
	const struct jwt_alg *a = &jwt_algs[alg];
	unsigned char h[64];
	size_t i;
	int by_kid = 0, ok = 0, fit = 0;

	if (ks->n == 0)
		return JWT_E_NO_KEY;
	for (i = 0; kid && i < ks->n; i++)
		by_kid |= jwt_kid_is(&ks->key[i], kid);
	if (a->kty != JWT_KTY_OCT)
		jwt_digest(a->hash, tok, signed_len, NULL, 0, h);
	for (i = 0; i < ks->n; i++) {
		const struct jwt_key *k = &ks->key[i];

		if (by_kid && !jwt_kid_is(k, kid))
			continue;
		if (k->kty != a->kty || (a->curve && k->curve != a->curve) ||
		    (k->alg != 0 && k->alg != alg))
			continue;
		fit = 1;
		ok |= jwt_key_verify(k, alg, tok, signed_len, h, sig, sl);
	}
	if (ok)
		return JWT_OK;
	return fit ? JWT_E_SIGNATURE : JWT_E_ALG;
}

int
jwt_verify(const char *tok, size_t n, size_t max_len,
    const struct jwt_keyset *ks, double now, char *work, size_t cap,
    struct jwt_claims *c)
{
	const unsigned char *t = (const unsigned char *)tok;
	size_t dot[2], nd = 0, i, hl, pl, sl, used;
	struct json_val hdr, v, kid, *kidp = NULL;
	unsigned char sig[JWT_RSA_MAX_BITS / 8];
	long len;
	int alg, e;

	memset(c, 0, sizeof(*c));
	if (n > max_len)
		return jwt_ret(c, JWT_E_TOO_LONG, NULL);

	/* Shape: exactly two dots, base64url characters and nothing else. */
	for (i = 0; i < n; i++) {
		if (t[i] == '.') {
			if (nd == 2)
				return jwt_ret(c, JWT_E_MALFORMED, NULL);
			dot[nd++] = i;
		} else if (!jwt_b64url_char(t[i])) {
			return jwt_ret(c, JWT_E_MALFORMED, NULL);
		}
	}
	if (nd != 2)
		return jwt_ret(c, JWT_E_MALFORMED, NULL);
	hl = dot[0];
	pl = dot[1] - dot[0] - 1;
	sl = n - dot[1] - 1;
	/* A single character left over in a base64 group is never valid. */
	if (hl % 4 == 1 || pl % 4 == 1 || sl % 4 == 1 ||
	    hl == 0 || pl == 0 || sl == 0)
		return jwt_ret(c, JWT_E_MALFORMED, NULL);

	/* Header: decoded at the start of work. */
	if (jwt_dec_len(hl) > cap)
		return jwt_ret(c, JWT_E_TOO_LONG, NULL);
	len = base64_decode(tok, hl, (unsigned char *)work, cap,
	    B64_URL | B64_PAD_FORBID);
	if (len < 0)
		return jwt_ret(c, JWT_E_MALFORMED, NULL);
	used = (size_t)len;
	if (json_parse(work, used, &hdr) < 0 || hdr.type != JSON_OBJECT)
		return jwt_ret(c, JWT_E_MALFORMED, NULL);
	if (!json_get(&hdr, "alg", &v) || (alg = jwt_alg_of(&v)) == 0)
		return jwt_ret(c, JWT_E_ALG, NULL);
	/*
	 * RFC 7515 section 4.1.11: a recipient must reject a token whose
	 * "crit" names an extension it does not understand, and we
	 * understand none ("b64": false would change what is signed).
	 */
	if (json_get(&hdr, "crit", &v))
		return jwt_ret(c, JWT_E_CRIT, NULL);
	if (json_get(&hdr, "kid", &kid)) {
		if (kid.type != JSON_STRING)
			return jwt_ret(c, JWT_E_MALFORMED, NULL);
		kidp = &kid;
	}

	/* Signature over the raw "header.payload" text. */
	if (sl > jwt_b64_len(sizeof(sig)))
		return jwt_ret(c, JWT_E_SIGNATURE, NULL);
	len = base64_decode(tok + dot[1] + 1, sl, sig, sizeof(sig),
	    B64_URL | B64_PAD_FORBID);
	if (len < 0)
		return jwt_ret(c, JWT_E_SIGNATURE, NULL);
	e = jwt_check_sig(ks, alg, kidp, tok, dot[1], sig, (size_t)len);
	if (e != JWT_OK)
		return jwt_ret(c, e, NULL);

	/* Payload: decoded after the header; the claims refer into it. */
	if (jwt_dec_len(pl) > cap - used)
		return jwt_ret(c, JWT_E_TOO_LONG, NULL);
	len = base64_decode(tok + dot[0] + 1, pl, (unsigned char *)work + used,
	    cap - used, B64_URL | B64_PAD_FORBID);
	if (len < 0)
		return jwt_ret(c, JWT_E_MALFORMED, NULL);
	c->json = work + used;
	c->json_len = (size_t)len;
	used += (size_t)len;
	return jwt_claims_check(c, ks->max_chan ? ks->max_chan :
	    JWT_MAX_CHANNELS, now, work, cap, used);
}

/*
 * A refused grant leaves the claims as they were, so that a second call
 * decides the same way.
 */
static int
jwt_nogrant(struct jwt_claims *c)
{
	c->why = jwt_strerror(JWT_E_NO_CHANNELS);
	return JWT_E_NO_CHANNELS;
}

int
jwt_grant(struct jwt_claims *c, const char *asked, size_t asked_len)
{
	size_t i;

	if (c->chan == NULL)
		return jwt_nogrant(c);
	if (asked == NULL) {
		if (c->nchan == 0)
			return jwt_nogrant(c);
		return JWT_OK;
	}
	/* PostgreSQL text cannot hold NUL, and an empty name is no channel. */
	if (asked_len == 0 || memchr(asked, '\0', asked_len))
		return jwt_nogrant(c);
	if (!c->listed) {
		c->chan[0].p = asked;
		c->chan[0].n = asked_len;
		c->nchan = 1;
		c->listed = 1;
		return JWT_OK;
	}
	for (i = 0; i < c->nchan; i++) {
		if (c->chan[i].n == asked_len &&
		    memcmp(c->chan[i].p, asked, asked_len) == 0) {
			c->chan[0] = c->chan[i];
			c->nchan = 1;
			return JWT_OK;
		}
	}
	return jwt_nogrant(c);
}

long
jwt_sign(const struct jwt_key *k, int alg, const char *claims, size_t n,
    char *out, size_t cap)
{
	char hbuf[1024];
	struct json_out h;
	unsigned char mac[64];
	size_t o, need, mlen;

	if (k->kty != JWT_KTY_OCT)
		return -1;
	if (alg == 0)
		alg = k->alg ? k->alg : JWT_HS256;
	if (alg < JWT_HS256 || alg > JWT_HS512 || (k->alg && k->alg != alg))
		return -1;
	mlen = jwt_algs[alg].hlen;
	json_out_init(&h, hbuf, sizeof(hbuf));
	json_raw(&h, "{\"alg\":\"", 8);
	json_raw(&h, jwt_algs[alg].name, 5);
	json_raw(&h, "\",\"typ\":\"JWT\"", 13);
	if (k->has_kid) {
		json_raw(&h, ",\"kid\":", 7);
		json_string(&h, k->kid, k->kid_len < sizeof(k->kid) ?
		    k->kid_len : sizeof(k->kid));
	}
	json_raw(&h, "}", 1);
	if (h.err)
		return -1;
	/* Checked piecewise so that a huge n cannot wrap the sum. */
	if (n > (SIZE_MAX - 4096) / 4 * 3)
		return -1;
	need = jwt_b64_len(h.len) + 1 + jwt_b64_len(n) + 1 +
	    jwt_b64_len(mlen) + 1;
	if (need > cap)
		return -1;
	/*
	 * base64_encode() needs room for the padded form plus a NUL, which
	 * is at most three bytes more than the unpadded text.  The parts
	 * after the header and the payload are longer than that, so they
	 * can go straight into out; the last one goes through sbuf.
	 */
	o = base64_encode((const unsigned char *)hbuf, h.len, out,
	    B64_URL | B64_PAD_FORBID);
	out[o++] = '.';
	o += base64_encode((const unsigned char *)claims, n, out + o,
	    B64_URL | B64_PAD_FORBID);
	jwt_hmac(alg, k->k, k->k_len, out, o, mac);
	out[o++] = '.';
	{
		char sbuf[BASE64_ENC_LEN(64) + 1];
		size_t sl = base64_encode(mac, mlen, sbuf,
		    B64_URL | B64_PAD_FORBID);

		memcpy(out + o, sbuf, sl + 1);
		o += sl;
	}
	jwt_wipe(mac, sizeof(mac));
	return (long)o;
}
