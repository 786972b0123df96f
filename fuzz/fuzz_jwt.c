/*
 * libFuzzer target for jwt.c.  The input is cut into pieces:
 *
 *	byte 0      flags: bit 0 secret is base64, bit 1 the rest is a
 *	            claims text to sign and verify, bits 2-3 the alg to sign
 *	            with (0: the key's own), bit 4 the secret length takes
 *	            two bytes (RSA and EC JWKs are longer than 255), bit 5
 *	            a token may carry at most 2 channels
 *	byte 1(-2)  secret length s, little-endian (clipped to what is there)
 *	s bytes     the secret, loaded with jwt_keys_load()
 *	4 bytes     now, in seconds, little-endian (missing bytes are 0)
 *	the rest    a token to verify, or claims to sign
 *
 * The seeds include RFC 7515's RS256, ES256 and ES512 examples with their
 * public JWKs (and a time before their exp), so mutations start from
 * tokens whose signature verifies.
 *
 * Every buffer is malloc'ed at its exact size so that AddressSanitizer
 * sees any access outside it.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../base64.c"
#include "../json.c"
#include "../jwt.c"

static void
check_claims(const struct jwt_claims *c, size_t limit, const char *work,
    size_t cap)
{
	size_t i;

	if (c->mode < 1 || c->mode > 3)
		abort();
	if (c->nchan > limit || c->chan == NULL ||
	    (const char *)c->chan < work ||
	    (const char *)(c->chan + c->nchan) > work + cap)
		abort();
	if (c->json < work || c->json_len > cap ||
	    c->json + c->json_len > work + cap)
		abort();
	for (i = 0; i < c->nchan; i++) {
		if (c->chan[i].p < work || c->chan[i].n == 0 ||
		    c->chan[i].n > cap || c->chan[i].p + c->chan[i].n > work + cap)
			abort();
		if (memchr(c->chan[i].p, '\0', c->chan[i].n))
			abort();
	}
}

static void
verify_one(const struct jwt_keyset *ks, const char *tok, size_t n,
    size_t max_len, double now, const char *claims, size_t cn)
{
	size_t cap = jwt_work_size(n, ks->max_chan);
	char *work = malloc(cap);
	char *t = malloc(n ? n : 1);
	struct jwt_claims c;
	int e;

	if (!work || !t)
		abort();
	memcpy(t, tok, n);
	e = jwt_verify(t, n, max_len, ks, now, work, cap, &c);
	if (e < 0 || e >= JWT_E_COUNT || c.why == NULL)
		abort();
	if (e == JWT_OK) {
		check_claims(&c, ks->max_chan, work, cap);
		if (jwt_grant(&c, NULL, 0) == JWT_OK && c.nchan == 0)
			abort();
		/* An explicit list grants only what it lists. */
		if (c.listed && c.nchan == 0 &&
		    jwt_grant(&c, "chat", 4) != JWT_E_NO_CHANNELS)
			abort();
		if (jwt_grant(&c, "chat", 4) == JWT_OK &&
		    (c.nchan != 1 || c.chan[0].n != 4 ||
		    memcmp(c.chan[0].p, "chat", 4) != 0))
			abort();
	}
	if (claims) {
		struct json_val root;
		int obj = json_parse(claims, cn, &root) == 0 &&
		    root.type == JSON_OBJECT;

		/* A token we signed always gets past the signature. */
		if (obj && (e == JWT_E_TOO_LONG || e == JWT_E_MALFORMED ||
		    e == JWT_E_ALG || e == JWT_E_NO_KEY ||
		    e == JWT_E_SIGNATURE || e == JWT_E_CRIT))
			abort();
		if (e == JWT_OK && (c.json_len != cn ||
		    memcmp(c.json, claims, cn) != 0))
			abort();
	}
	free(t);
	free(work);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct jwt_keyset ks;
	char err[128];
	size_t s, off, rest, i;
	uint32_t secs = 0;
	char *secret;
	size_t hdr;
	int flags, r;

	if (size < 3)
		return 0;
	flags = data[0];
	off = flags & 16 ? 3 : 2;
	s = flags & 16 ? (size_t)data[1] | (size_t)data[2] << 8 : data[1];
	if (s > size - off)
		s = size - off;
	hdr = off;
	off += s;
	for (i = 0; i < 4 && off < size; i++, off++)
		secs |= (uint32_t)data[off] << (8 * i);
	rest = size - off;

	if ((secret = malloc(s ? s : 1)) == NULL)
		abort();
	memcpy(secret, data + hdr, s);
	r = jwt_keys_load(&ks, secret, s, flags & 1, err, sizeof(err));
	if (r < 0) {
		free(secret);
		if (ks.n != 0 || err[0] == '\0')
			abort();
		/* An empty key set must still verify nothing, safely. */
		verify_one(&ks, (const char *)data + off, rest, JWT_MAX_LEN, secs,
		    NULL, 0);
		return 0;
	}
	free(secret);
	if (ks.n == 0 || ks.n > JWT_MAX_KEYS || (r == 1) != (err[0] != '\0'))
		abort();
	for (i = 0; i < ks.n; i++) {
		const struct jwt_key *k = &ks.key[i];

		/* Loaded keys are what the verifiers expect. */
		if (k->kty == JWT_KTY_RSA && (k->n_len < 256 ||
		    k->n_len > 512 || k->n_len >= k->k_len || k->k[0] == 0))
			abort();
		if (k->kty == JWT_KTY_EC && (k->k_len != 1 + 2 *
		    jwt_ec_coord(k->curve) || k->k[0] != 4))
			abort();
	}
	if (flags & 32)
		ks.max_chan = 2;

	if ((flags & 2) && jwt_keys_hmac(&ks) == NULL) {
		/* Only HMAC keys sign: nothing to do with an RSA/EC set. */
		if (jwt_sign(&ks.key[0], 0, "{}", 2, err, sizeof(err)) != -1)
			abort();
	} else if (flags & 2) {
		const struct jwt_key *k = jwt_keys_hmac(&ks);
		int alg = (flags >> 2) & 3;
		size_t cap = rest / 3 * 4 + 512;
		char *claims = malloc(rest ? rest : 1);
		char *tok = malloc(cap);
		long n;

		if (!claims || !tok)
			abort();
		memcpy(claims, data + off, rest);
		n = jwt_sign(k, alg, claims, rest, tok, cap);
		if (n < 0) {
			/* Only a key bound to another alg may refuse. */
			if (!(alg && k->alg && k->alg != alg))
				abort();
		} else {
			if ((size_t)n >= cap || tok[n] != '\0')
				abort();
			verify_one(&ks, tok, (size_t)n, (size_t)n, secs, claims,
			    rest);
		}
		free(tok);
		free(claims);
	} else {
		verify_one(&ks, (const char *)data + off, rest, JWT_MAX_LEN, secs,
		    NULL, 0);
	}
	jwt_keys_free(&ks);
	return 0;
}
