/*
 * HMAC-signed JWTs.  The token is attacker-controlled, so every step is
 * bounded by lengths the caller gave: the three parts are found by one scan,
 * decoded strictly into the caller's work buffer, and only parsed as JSON
 * after the signature over the raw header and payload text has been found
 * valid.  Nothing here allocates except jwt_keys_load(), which runs once.
 */
#include <math.h>
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

/* The names in the order of the JWT_HS* values, which start at 1. */
static const char *const jwt_alg_name[] = { "", "HS256", "HS384", "HS512" };

static const br_hash_class *
jwt_hash(int alg)
{
	switch (alg) {
	case JWT_HS256: return &br_sha256_vtable;
	case JWT_HS384: return &br_sha384_vtable;
	case JWT_HS512: return &br_sha512_vtable;
	}
	return NULL;
}

/* The HMAC output length is the hash length: 32, 48 or 64 bytes. */
static size_t
jwt_mac_len(int alg)
{
	return (size_t)alg * 16 + 16;
}

/* Returns the JWT_HS* value named by the JSON string *v, or 0. */
static int
jwt_alg_of(const struct json_val *v)
{
	int a;

	for (a = JWT_HS256; a <= JWT_HS512; a++)
		if (json_str_eq(v, jwt_alg_name[a], 5))
			return a;
	return 0;
}

static void
jwt_hmac(int alg, const unsigned char *key, size_t klen, const void *data,
    size_t n, unsigned char *out)
{
	br_hmac_key_context kc;
	br_hmac_context hc;

	br_hmac_key_init(&kc, jwt_hash(alg), key, klen);
	br_hmac_init(&hc, &kc, 0);
	br_hmac_update(&hc, data, n);
	br_hmac_out(&hc, out);
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

static int
jwt_fail(char *err, size_t errcap, const char *msg)
{
	if (errcap)
		snprintf(err, errcap, "%s", msg);
	return -1;
}

/* Appends a copy of key[0..n) to *ks; returns 0 or -1 with err set. */
static int
jwt_key_add(struct jwt_keyset *ks, const unsigned char *key, size_t n,
    int alg, const struct json_val *kid, char *err, size_t errcap)
{
	struct jwt_key *k;
	long kl = 0;

	if (n == 0)
		return jwt_fail(err, errcap, "the key is empty");
	if (ks->n >= JWT_MAX_KEYS)
		return jwt_fail(err, errcap, "more than 32 keys");
	k = &ks->key[ks->n];
	memset(k, 0, sizeof(*k));
	if (kid) {
		kl = json_str(kid, k->kid, sizeof(k->kid));
		if (kl < 0 || (size_t)kl >= sizeof(k->kid))
			return jwt_fail(err, errcap,
			    "JWK \"kid\" is not a string of at most 127 bytes");
		k->has_kid = 1;
		k->kid_len = (size_t)kl;
	}
	if ((k->k = malloc(n)) == NULL)
		return jwt_fail(err, errcap, "out of memory");
	memcpy(k->k, key, n);
	k->k_len = n;
	k->alg = alg;
	ks->n++;
	return 0;
}

/*
 * Adds the JWK *jwk.  Keys of another kty are skipped when skip is set
 * (inside a set, where RSA or EC keys may sit beside the HMAC ones), and
 * are an error otherwise.  Returns 1 when added, 0 when skipped, -1.
 */
static int
jwt_jwk_add(struct jwt_keyset *ks, const struct json_val *jwk, int skip,
    char *err, size_t errcap)
{
	struct json_val kty, k, alg, kid;
	unsigned char *buf;
	long len;
	int a = 0, r;

	if (jwk->type != JSON_OBJECT)
		return jwt_fail(err, errcap, "JWK is not an object");
	if (!json_get(jwk, "kty", &kty) || kty.type != JSON_STRING)
		return jwt_fail(err, errcap, "JWK has no \"kty\"");
	if (!json_str_eq(&kty, "oct", 3)) {
		if (skip)
			return 0;
		return jwt_fail(err, errcap,
		    "JWK \"kty\" is not \"oct\": only HMAC keys are supported");
	}
	if (json_get(jwk, "alg", &alg)) {
		if ((a = jwt_alg_of(&alg)) == 0)
			return jwt_fail(err, errcap,
			    "JWK \"alg\" is not HS256, HS384 or HS512");
	}
	if (!json_get(jwk, "k", &k) || k.type != JSON_STRING)
		return jwt_fail(err, errcap, "JWK has no string \"k\"");
	/*
	 * The base64url text is a slice of the JSON between the quotes;
	 * escapes are not base64 characters, so the decoder refuses them.
	 */
	if ((buf = malloc(k.n)) == NULL)
		return jwt_fail(err, errcap, "out of memory");
	len = base64_decode(k.p + 1, k.n - 2, buf, k.n, B64_URL);
	if (len < 0) {
		jwt_wipe(buf, k.n);
		free(buf);
		return jwt_fail(err, errcap, "JWK \"k\" is not valid base64url");
	}
	r = jwt_key_add(ks, buf, (size_t)len, a,
	    json_get(jwk, "kid", &kid) ? &kid : NULL, err, errcap);
	jwt_wipe(buf, k.n);
	free(buf);
	return r < 0 ? -1 : 1;
}

static int
jwt_keys_json(struct jwt_keyset *ks, const char *s, size_t n, char *err,
    size_t errcap)
{
	struct json_val root, keys, item;
	size_t pos = 0;
	int r, added = 0;

	if (json_parse(s, n, &root) < 0 || root.type != JSON_OBJECT)
		return jwt_fail(err, errcap, "not a valid JSON object (JWK)");
	if (!json_get(&root, "keys", &keys))
		return jwt_jwk_add(ks, &root, 0, err, errcap) < 0 ? -1 : 0;
	if (keys.type != JSON_ARRAY)
		return jwt_fail(err, errcap, "JWK set \"keys\" is not an array");
	while (json_next(&keys, &pos, NULL, &item)) {
		if ((r = jwt_jwk_add(ks, &item, 1, err, errcap)) < 0)
			return -1;
		added += r;
	}
	if (!added)
		return jwt_fail(err, errcap, "JWK set holds no \"oct\" key");
	return 0;
}

int
jwt_keys_load(struct jwt_keyset *ks, const char *secret, size_t n,
    int base64, char *err, size_t errcap)
{
	unsigned char *buf;
	size_t i = 0;
	long len;
	int r;

	memset(ks, 0, sizeof(*ks));
	if (errcap)
		err[0] = '\0';
	while (i < n && (secret[i] == ' ' || secret[i] == '\t' ||
	    secret[i] == '\n' || secret[i] == '\r'))
		i++;
	if (i < n && secret[i] == '{') {
		r = jwt_keys_json(ks, secret, n, err, errcap);
	} else if (base64) {
		if ((buf = malloc(n + 1)) == NULL)
			return jwt_fail(err, errcap, "out of memory");
		len = base64_decode(secret, n, buf, n + 1, B64_ANY);
		if (len < 0)
			r = jwt_fail(err, errcap,
			    "not valid base64 or base64url text");
		else
			r = jwt_key_add(ks, buf, (size_t)len, 0, NULL, err,
			    errcap);
		jwt_wipe(buf, n + 1);
		free(buf);
	} else {
		r = jwt_key_add(ks, (const unsigned char *)secret, n, 0, NULL,
		    err, errcap);
	}
	if (r < 0) {
		jwt_keys_free(ks);
		return -1;
	}
	return 0;
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
	}
	return e;
}

/*
 * Copies the unescaped JSON string *v into work at *used, checks it is a
 * usable channel name, and appends it to c->chan unless already there.
 * Returns JWT_OK or an error for jwt_verify() to return.
 */
static int
jwt_chan_add(struct jwt_claims *c, const struct json_val *v, char *work,
    size_t cap, size_t *used, const char *why)
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
	if (c->nchan == JWT_MAX_CHANNELS)
		return jwt_ret(c, JWT_E_CLAIMS, "Too many channels");
	c->chan[c->nchan].p = dst;
	c->chan[c->nchan].n = (size_t)len;
	c->nchan++;
	*used += (size_t)len;
	return JWT_OK;
}

/* Checks the claims of a token whose signature is already known good. */
static int
jwt_claims_check(struct jwt_claims *c, double now, char *work, size_t cap,
    size_t used)
{
	struct json_val root, v, item;
	size_t pos = 0;
	double d;
	int e;

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
	if (json_get(&root, "channel", &v)) {
		e = jwt_chan_add(c, &v, work, cap, &used,
		    "Invalid channel claim");
		if (e != JWT_OK)
			return e;
	}
	/*
	 * The original server ignored a "channels" claim of the wrong type,
	 * which then granted whatever channel the client asked for.
	 */
	if (json_get(&root, "channels", &v)) {
		if (v.type != JSON_ARRAY)
			return jwt_ret(c, JWT_E_CLAIMS,
			    "Invalid channels claim");
		while (json_next(&v, &pos, NULL, &item)) {
			e = jwt_chan_add(c, &item, work, cap, &used,
			    "Invalid channels claim");
			if (e != JWT_OK)
				return e;
		}
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
 * Tries every key that may sign this token and returns JWT_OK if one of
 * them produced sig.  All candidates are tried, even after a match, so
 * the time taken depends only on the key set and the token's header.
 */
static int
jwt_check_sig(const struct jwt_keyset *ks, int alg, const struct json_val *kid,
    const char *tok, size_t signed_len, const unsigned char *sig)
{
	unsigned char mac[64];
	size_t i, mlen = jwt_mac_len(alg);
	int any_kid = 0, ok = 0, tried = 0;

	for (i = 0; i < ks->n; i++)
		any_kid |= ks->key[i].has_kid;
	for (i = 0; i < ks->n; i++) {
		const struct jwt_key *k = &ks->key[i];

		if (kid && any_kid && (!k->has_kid ||
		    !json_str_eq(kid, k->kid, k->kid_len)))
			continue;
		if (k->alg != 0 && k->alg != alg) {
			/* Counted as seen, so the error says "algorithm". */
			tried |= 1;
			continue;
		}
		tried |= 2;
		jwt_hmac(alg, k->k, k->k_len, tok, signed_len, mac);
		ok |= jwt_ct_eq(mac, sig, mlen);
	}
	jwt_wipe(mac, sizeof(mac));
	if (ok)
		return JWT_OK;
	if (tried & 2)
		return JWT_E_SIGNATURE;
	return tried ? JWT_E_ALG : JWT_E_NO_KEY;
}

int
jwt_verify(const char *tok, size_t n, size_t max_len,
    const struct jwt_keyset *ks, double now, char *work, size_t cap,
    struct jwt_claims *c)
{
	const unsigned char *t = (const unsigned char *)tok;
	size_t dot[2], nd = 0, i, hl, pl, sl, used;
	struct json_val hdr, v, kid, *kidp = NULL;
	unsigned char sig[64];
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
	if (sl != jwt_b64_len(jwt_mac_len(alg)))
		return jwt_ret(c, JWT_E_SIGNATURE, NULL);
	len = base64_decode(tok + dot[1] + 1, sl, sig, sizeof(sig),
	    B64_URL | B64_PAD_FORBID);
	if (len != (long)jwt_mac_len(alg))
		return jwt_ret(c, JWT_E_SIGNATURE, NULL);
	e = jwt_check_sig(ks, alg, kidp, tok, dot[1], sig);
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
	return jwt_claims_check(c, now, work, cap, used);
}

/*
 * A refused grant leaves the claims as they were: clearing the list would
 * make a second call look like a token that allows every channel.
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

	if (asked == NULL) {
		if (c->nchan == 0)
			return jwt_nogrant(c);
		return JWT_OK;
	}
	/* PostgreSQL text cannot hold NUL, and an empty name is no channel. */
	if (asked_len == 0 || memchr(asked, '\0', asked_len))
		return jwt_nogrant(c);
	if (c->nchan == 0) {
		c->chan[0].p = asked;
		c->chan[0].n = asked_len;
		c->nchan = 1;
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

	if (alg == 0)
		alg = k->alg ? k->alg : JWT_HS256;
	if (alg < JWT_HS256 || alg > JWT_HS512 || (k->alg && k->alg != alg))
		return -1;
	mlen = jwt_mac_len(alg);
	json_out_init(&h, hbuf, sizeof(hbuf));
	json_raw(&h, "{\"alg\":\"", 8);
	json_raw(&h, jwt_alg_name[alg], 5);
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
