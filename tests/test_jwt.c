/*
 * Tests for jwt.c.  Tokens are built here from header and payload text so
 * that every branch can be reached with a correct signature; each token,
 * secret and work buffer is placed against an unreadable page so that an
 * over-read crashes instead of passing.
 */
#include "unit.h"
#include "../base64.c"
#include "../json.c"
#include "../jwt.c"

static const char upstream_secret[] = "reallyreallyreallyreallyverysafe";
static const char upstream_token[] =
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9."
    "eyJtb2RlIjoiciIsImNoYW5uZWwiOiJ0ZXN0In0."
    "1d4s-at2kWj8OSabHZHTbNh1dENF7NWy_r0ED3Rwf58";
static const char upstream_jwk[] =
    "{\"kty\":\"oct\",\"k\":\"cmVhbGx5cmVhbGx5cmVhbGx5cmVhbGx5dmVyeXNhZmU\","
    "\"alg\":\"HS256\"}";

static struct jwt_keyset ks;
static struct jwt_claims cl;
static char workbuf[32768];

#define NOW 1700000000.0

/* Loads keys from a guarded copy of s; returns jwt_keys_load()'s result. */
static int
load(const char *s, int b64)
{
	char err[200];
	size_t n = strlen(s);
	const char *g = (const char *)unit_guard(s, n, 1);
	int r;

	jwt_keys_free(&ks);
	r = jwt_keys_load(&ks, g, n, b64, err, sizeof(err));
	if (r == 0)
		CHECK(err[0] == '\0');
	else
		CHECK(err[0] != '\0' && strchr(err, '\n') == NULL);
	return r;
}

/* Verifies a guarded copy of tok at time now into a guarded work buffer. */
static int
verify_at(const char *tok, double now)
{
	size_t n = strlen(tok), cap = 2 * n + 1024;
	const char *g = (const char *)unit_guard(tok, n, 0);
	char *w = (char *)unit_guard(workbuf, cap, 2);
	int e = jwt_verify(g, n, JWT_MAX_LEN, &ks, now, w, cap, &cl);

	CHECK(cl.why != NULL);
	if (e == JWT_OK) {
		size_t i;

		CHECK(cl.mode >= 1 && cl.mode <= 3);
		CHECK(cl.json >= w && cl.json + cl.json_len <= w + cap);
		for (i = 0; i < cl.nchan; i++)
			CHECK(cl.chan[i].p >= w &&
			    cl.chan[i].p + cl.chan[i].n <= w + cap);
	}
	return e;
}

static int
verify(const char *tok)
{
	return verify_at(tok, NOW);
}

static size_t
b64u(const void *in, size_t n, char *out)
{
	return base64_encode(in, n, out, B64_URL | B64_PAD_FORBID);
}

/*
 * Builds base64url(hdr).base64url(pay).signature into out, signed with
 * alg (a JWT_HS* value) and key; static so the result outlives the call.
 */
static const char *
mk_key(const char *hdr, const char *pay, int alg, const void *key,
    size_t klen)
{
	static char out[16384];
	unsigned char mac[64];
	size_t o;

	o = b64u(hdr, strlen(hdr), out);
	out[o++] = '.';
	o += b64u(pay, strlen(pay), out + o);
	jwt_hmac(alg, key, klen, out, o, mac);
	out[o++] = '.';
	b64u(mac, jwt_mac_len(alg), out + o);
	return out;
}

static const char *
mk(const char *hdr, const char *pay, int alg)
{
	return mk_key(hdr, pay, alg, upstream_secret, strlen(upstream_secret));
}

#define H256 "{\"alg\":\"HS256\",\"typ\":\"JWT\"}"
#define H384 "{\"alg\":\"HS384\"}"
#define H512 "{\"alg\":\"HS512\"}"

static int
chan_is(size_t i, const char *s)
{
	return i < cl.nchan && cl.chan[i].n == strlen(s) &&
	    memcmp(cl.chan[i].p, s, cl.chan[i].n) == 0;
}

static void
test_upstream(void)
{
	char tok[sizeof(upstream_token)];

	CHECK_EQ_INT(load(upstream_secret, 0), 0);
	CHECK_EQ_INT(verify(upstream_token), JWT_OK);
	CHECK_EQ_INT(cl.mode, JWT_MODE_R);
	CHECK_EQ_INT(cl.nchan, 1);
	CHECK(chan_is(0, "test"));
	CHECK_EQ_INT(cl.has_exp, 0);
	CHECK_MEM(cl.json, cl.json_len, "{\"mode\":\"r\",\"channel\":\"test\"}",
	    29);
	CHECK(strcmp(cl.why, "OK") == 0);

	/* The same key as a JWK, as a JWK set, and beside other keys. */
	CHECK_EQ_INT(load(upstream_jwk, 0), 0);
	CHECK_EQ_INT(ks.n, 1);
	CHECK_EQ_INT(ks.key[0].alg, JWT_HS256);
	CHECK_EQ_INT(verify(upstream_token), JWT_OK);
	CHECK_EQ_INT(load("  \n{\"keys\":[{\"kty\":\"RSA\",\"n\":\"x\"},"
	    "{\"kty\":\"oct\",\"k\":\"c2hvcnQ\"},"
	    "{\"kty\":\"oct\",\"k\":\"cmVhbGx5cmVhbGx5cmVhbGx5cmVhbGx5dmVyeXNhZmU\","
	    "\"alg\":\"HS256\"}]}\n", 0), 0);
	CHECK_EQ_INT(ks.n, 2);
	CHECK_EQ_INT(verify(upstream_token), JWT_OK);
	CHECK(chan_is(0, "test"));
	CHECK_EQ_INT(load("{\"keys\":[{\"kty\":\"oct\",\"k\":\"c2hvcnQ\"}]}", 0),
	    0);
	CHECK_EQ_INT(verify(upstream_token), JWT_E_SIGNATURE);
	CHECK(strcmp(cl.why, "Invalid signature") == 0);
	CHECK_EQ_INT(jwt_status(JWT_E_SIGNATURE), 401);

	/* PGWS_JWT_SECRET_BASE64, padded and unpadded. */
	CHECK_EQ_INT(load("cmVhbGx5cmVhbGx5cmVhbGx5cmVhbGx5dmVyeXNhZmU=", 1), 0);
	CHECK_EQ_INT(verify(upstream_token), JWT_OK);
	CHECK_EQ_INT(load("cmVhbGx5cmVhbGx5cmVhbGx5cmVhbGx5dmVyeXNhZmU", 1), 0);
	CHECK_EQ_INT(verify(upstream_token), JWT_OK);
	/* Without base64=1 the same text is the key itself. */
	CHECK_EQ_INT(load("cmVhbGx5cmVhbGx5cmVhbGx5cmVhbGx5dmVyeXNhZmU", 0), 0);
	CHECK_EQ_INT(verify(upstream_token), JWT_E_SIGNATURE);

	/* A flipped bit anywhere in the token is rejected. */
	CHECK_EQ_INT(load(upstream_secret, 0), 0);
	for (size_t i = 0; i + 1 < sizeof(tok); i++) {
		memcpy(tok, upstream_token, sizeof(tok));
		if (tok[i] == '.')
			continue;
		tok[i] ^= 1;
		CHECK(verify(tok) != JWT_OK);
	}
	/* Bits that land in the signature give "Invalid signature". */
	memcpy(tok, upstream_token, sizeof(tok));
	tok[sizeof(tok) - 10] ^= 1;
	CHECK_EQ_INT(verify(tok), JWT_E_SIGNATURE);
}

static void
test_base64_secret(void)
{
	/* Bytes chosen so that the text has '+' and '/', or '-' and '_'. */
	static const unsigned char raw[] = { 0xfb, 0xff, 0xbf, 0x01, 0x02 };
	char std[16], url[16], err[100];
	struct jwt_key k = { 0 };
	char tok[512];
	long n;

	base64_encode(raw, sizeof(raw), std, B64_STD);
	base64_encode(raw, sizeof(raw), url, B64_URL);
	CHECK(strcmp(std, "+/+/AQI=") == 0);
	CHECK(strcmp(url, "-_-_AQI") == 0);
	k.k = (unsigned char *)raw;
	k.k_len = sizeof(raw);
	n = jwt_sign(&k, JWT_HS256, "{\"mode\":\"rw\"}", 13, tok, sizeof(tok));
	CHECK(n > 0);
	CHECK_EQ_INT(load(std, 1), 0);
	CHECK_EQ_INT(ks.key[0].k_len, 5);
	CHECK_EQ_INT(verify(tok), JWT_OK);
	CHECK_EQ_INT(cl.mode, JWT_MODE_R | JWT_MODE_W);
	CHECK_EQ_INT(load(url, 1), 0);
	CHECK_EQ_INT(verify(tok), JWT_OK);
	CHECK_EQ_INT(load("+/+/AQI", 1), 0);
	CHECK_EQ_INT(verify(tok), JWT_OK);

	/* Bad base64: mixed alphabets, whitespace, junk, bad padding. */
	CHECK_EQ_INT(load("+/-_AQI=", 1), -1);
	CHECK_EQ_INT(load("+/+/AQI=\n", 1), -1);
	CHECK_EQ_INT(load("not base64!", 1), -1);
	CHECK_EQ_INT(load("+/+/AQI==", 1), -1);
	CHECK_EQ_INT(load("", 1), -1);
	CHECK_EQ_INT(load("", 0), -1);
	CHECK_EQ_INT(ks.n, 0);
	/* A bad load leaves the set empty, and err may be tiny. */
	CHECK_EQ_INT(jwt_keys_load(&ks, "", 0, 0, err, 1), -1);
	CHECK(err[0] == '\0');
	CHECK_EQ_INT(jwt_keys_load(&ks, "", 0, 0, NULL, 0), -1);
}

static void
test_jwk_errors(void)
{
	char big[4096];
	size_t i, o;

	CHECK_EQ_INT(load("{", 0), -1);
	CHECK_EQ_INT(load("{\"kty\":\"oct\"}", 0), -1);
	CHECK_EQ_INT(load("{\"k\":\"c2hvcnQ\"}", 0), -1);
	CHECK_EQ_INT(load("{\"kty\":\"RSA\",\"k\":\"c2hvcnQ\"}", 0), -1);
	CHECK_EQ_INT(load("{\"kty\":\"oct\",\"k\":\"\"}", 0), -1);
	CHECK_EQ_INT(load("{\"kty\":\"oct\",\"k\":7}", 0), -1);
	CHECK_EQ_INT(load("{\"kty\":\"oct\",\"k\":\"c2hvcnQ=\"}", 0), 0);
	CHECK_EQ_INT(load("{\"kty\":\"oct\",\"k\":\"c2h+cnQ\"}", 0), -1);
	CHECK_EQ_INT(load("{\"kty\":\"oct\",\"k\":\"c2h\\u0076cnQ\"}", 0), -1);
	CHECK_EQ_INT(load("{\"kty\":\"oct\",\"k\":\"c2hvcnQ\",\"alg\":\"RS256\"}",
	    0), -1);
	CHECK_EQ_INT(load("{\"kty\":\"oct\",\"k\":\"c2hvcnQ\",\"alg\":\"none\"}",
	    0), -1);
	CHECK_EQ_INT(load("{\"kty\":\"oct\",\"k\":\"c2hvcnQ\",\"alg\":5}", 0), -1);
	CHECK_EQ_INT(load("{\"kty\":\"oct\",\"k\":\"c2hvcnQ\",\"kid\":5}", 0), -1);
	CHECK_EQ_INT(load("{\"kty\":\"oct\",\"k\":\"c2hvcnQ\",\"alg\":\"HS512\","
	    "\"kid\":\"a\\\"b\"}", 0), 0);
	CHECK_EQ_INT(ks.key[0].alg, JWT_HS512);
	CHECK_EQ_INT(ks.key[0].has_kid, 1);
	CHECK_MEM(ks.key[0].kid, ks.key[0].kid_len, "a\"b", 3);
	CHECK_MEM(ks.key[0].k, ks.key[0].k_len, "short", 5);
	CHECK_EQ_INT(load("{\"keys\":{}}", 0), -1);
	CHECK_EQ_INT(load("{\"keys\":[]}", 0), -1);
	CHECK_EQ_INT(load("{\"keys\":[{\"kty\":\"EC\"}]}", 0), -1);
	CHECK_EQ_INT(load("{\"keys\":[1]}", 0), -1);
	CHECK_EQ_INT(load("{\"keys\":[{\"k\":\"c2hvcnQ\"}]}", 0), -1);
	CHECK_EQ_INT(load("{\"keys\":[{\"kty\":\"oct\",\"k\":\"c2hvcnQ\"},"
	    "{\"kty\":\"oct\",\"k\":\"!\"}]}", 0), -1);
	CHECK_EQ_INT(ks.n, 0);
	CHECK_EQ_INT(load("[1]", 0), 0);   /* not '{': a raw key */
	CHECK_EQ_INT(load("{} trailing", 0), -1);

	/* kid: 127 bytes fit, 128 do not. */
	o = (size_t)snprintf(big, sizeof(big),
	    "{\"kty\":\"oct\",\"k\":\"c2hvcnQ\",\"kid\":\"");
	for (i = 0; i < 127; i++)
		big[o++] = 'x';
	memcpy(big + o, "\"}", 3);
	CHECK_EQ_INT(load(big, 0), 0);
	CHECK_EQ_INT(ks.key[0].kid_len, 127);
	memcpy(big + o, "x\"}", 4);
	CHECK_EQ_INT(load(big, 0), -1);

	/* 32 keys fit, 33 do not. */
	o = (size_t)snprintf(big, sizeof(big), "{\"keys\":[");
	for (i = 0; i < 33; i++) {
		o += (size_t)snprintf(big + o, sizeof(big) - o,
		    "%s{\"kty\":\"oct\",\"k\":\"c2hvcnQ\"}", i ? "," : "");
		memcpy(big + o, "]}", 3);
		CHECK_EQ_INT(load(big, 0), i < 32 ? 0 : -1);
	}
	jwt_keys_free(&ks);
	jwt_keys_free(&ks);
	CHECK_EQ_INT(ks.n, 0);
}

static void
test_shape(void)
{
	char tok[9000];
	size_t n = strlen(upstream_token);

	CHECK_EQ_INT(load(upstream_secret, 0), 0);
	CHECK_EQ_INT(verify(""), JWT_E_MALFORMED);
	CHECK_EQ_INT(verify("."), JWT_E_MALFORMED);
	CHECK_EQ_INT(verify(".."), JWT_E_MALFORMED);
	CHECK_EQ_INT(verify("..."), JWT_E_MALFORMED);
	CHECK_EQ_INT(verify("eyJhbGciOiJIUzI1NiJ9.e30"), JWT_E_MALFORMED);
	CHECK_EQ_INT(verify("eyJhbGciOiJIUzI1NiJ9.e30."), JWT_E_MALFORMED);
	CHECK_EQ_INT(verify("eyJhbGciOiJIUzI1NiJ9..AAAA"), JWT_E_MALFORMED);
	CHECK_EQ_INT(verify(".e30.AAAA"), JWT_E_MALFORMED);

	/* An extra part, padding, a space, a NUL, other alphabets. */
	snprintf(tok, sizeof(tok), "%s.AAAA", upstream_token);
	CHECK_EQ_INT(verify(tok), JWT_E_MALFORMED);
	snprintf(tok, sizeof(tok), "%s=", upstream_token);
	CHECK_EQ_INT(verify(tok), JWT_E_MALFORMED);
	snprintf(tok, sizeof(tok), "%s ", upstream_token);
	CHECK_EQ_INT(verify(tok), JWT_E_MALFORMED);
	memcpy(tok, upstream_token, n + 1);
	tok[5] = '+';
	CHECK_EQ_INT(verify(tok), JWT_E_MALFORMED);
	tok[5] = '/';
	CHECK_EQ_INT(verify(tok), JWT_E_MALFORMED);
	{
		char *g = (char *)unit_guard(upstream_token, n, 0);
		char w[4096];

		g[3] = '\0';
		CHECK_EQ_INT(jwt_verify(g, n, JWT_MAX_LEN, &ks, NOW, w,
		    sizeof(w), &cl), JWT_E_MALFORMED);
	}
	/* A part with one leftover character cannot be base64. */
	CHECK_EQ_INT(verify("eyJhbGciOiJIUzI1NiJ9a.e30.AAAA"), JWT_E_MALFORMED);
	/* Non-zero trailing bits in the header: not canonical. */
	memcpy(tok, upstream_token, n + 1);
	tok[35] = 'f';   /* "...IkpXVCJ9" -> "...IkpXVCJf" */
	CHECK_EQ_INT(verify(tok), JWT_E_MALFORMED);

	/* Header not JSON, or not an object. */
	CHECK_EQ_INT(verify(mk("{\"alg\":\"HS256\"", "{\"mode\":\"r\"}",
	    JWT_HS256)), JWT_E_MALFORMED);
	CHECK_EQ_INT(verify(mk("[\"HS256\"]", "{\"mode\":\"r\"}", JWT_HS256)),
	    JWT_E_MALFORMED);
	CHECK_EQ_INT(verify(mk("\"HS256\"", "{\"mode\":\"r\"}", JWT_HS256)),
	    JWT_E_MALFORMED);
	/* Payload not JSON, or not an object, after a good signature. */
	CHECK_EQ_INT(verify(mk(H256, "{\"mode\":\"r\"", JWT_HS256)),
	    JWT_E_MALFORMED);
	CHECK_EQ_INT(verify(mk(H256, "[{\"mode\":\"r\"}]", JWT_HS256)),
	    JWT_E_MALFORMED);
	CHECK_EQ_INT(verify(mk(H256, "\"r\"", JWT_HS256)), JWT_E_MALFORMED);
	/* Surrounding whitespace inside the JSON is fine. */
	CHECK_EQ_INT(verify(mk(" {\"alg\":\"HS256\"}\n", " {\"mode\":\"r\"} ",
	    JWT_HS256)), JWT_OK);

	/* Length: the limit itself is fine, one more byte is not. */
	{
		char w[4096];
		const char *g = (const char *)unit_guard(upstream_token, n, 0);

		CHECK_EQ_INT(jwt_verify(g, n, n, &ks, NOW, w, sizeof(w), &cl),
		    JWT_OK);
		CHECK_EQ_INT(jwt_verify(g, n, n - 1, &ks, NOW, w, sizeof(w),
		    &cl), JWT_E_TOO_LONG);
		CHECK(strcmp(cl.why, "Token too long") == 0);
	}
	memset(tok, 'A', 8193);
	tok[8193] = '\0';
	CHECK_EQ_INT(verify(tok), JWT_E_TOO_LONG);
	tok[8192] = '\0';
	CHECK_EQ_INT(verify(tok), JWT_E_MALFORMED);
}

static void
test_alg(void)
{
	static const char *const bad[] = {
		"{\"alg\":\"none\"}", "{\"alg\":\"None\"}", "{\"alg\":\"RS256\"}",
		"{\"alg\":\"ES256\"}", "{\"alg\":\"PS256\"}", "{\"alg\":\"hs256\"}",
		"{\"alg\":\"HS256 \"}", "{\"alg\":\"HS1\"}", "{\"typ\":\"JWT\"}",
		"{\"alg\":null}", "{\"alg\":256}", "{\"alg\":[\"HS256\"]}", "{}",
		"{\"alg\":\"HS256\",\"alg\":\"none\"}",
	};
	size_t i;

	CHECK_EQ_INT(load(upstream_secret, 0), 0);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		CHECK_EQ_INT(verify(mk(bad[i], "{\"mode\":\"r\"}", JWT_HS256)),
		    JWT_E_ALG);
		CHECK(strcmp(cl.why, "Unsupported algorithm") == 0);
	}
	/* alg none with an empty signature never gets that far. */
	CHECK_EQ_INT(verify("eyJhbGciOiJub25lIn0.eyJtb2RlIjoiciJ9."),
	    JWT_E_MALFORMED);
	CHECK_EQ_INT(verify("eyJhbGciOiJub25lIn0.eyJtb2RlIjoiciJ9.AAAA"),
	    JWT_E_ALG);
	/* An escaped name is the same name; duplicates: the last wins. */
	CHECK_EQ_INT(verify(mk("{\"alg\":\"HS\\u0032\\u00356\"}",
	    "{\"mode\":\"r\"}", JWT_HS256)), JWT_OK);
	CHECK_EQ_INT(verify(mk("{\"alg\":\"none\",\"alg\":\"HS256\"}",
	    "{\"mode\":\"r\"}", JWT_HS256)), JWT_OK);
	/* typ is not checked. */
	CHECK_EQ_INT(verify(mk("{\"alg\":\"HS256\",\"typ\":\"xyz\"}",
	    "{\"mode\":\"r\"}", JWT_HS256)), JWT_OK);
	CHECK_EQ_INT(verify(mk("{\"alg\":\"HS256\",\"typ\":5}",
	    "{\"mode\":\"r\"}", JWT_HS256)), JWT_OK);
	/* crit is refused, whatever it holds. */
	CHECK_EQ_INT(verify(mk("{\"alg\":\"HS256\",\"crit\":[\"b64\"],"
	    "\"b64\":false}", "{\"mode\":\"r\"}", JWT_HS256)), JWT_E_CRIT);
	CHECK_EQ_INT(verify(mk("{\"alg\":\"HS256\",\"crit\":[]}",
	    "{\"mode\":\"r\"}", JWT_HS256)), JWT_E_CRIT);
	CHECK_EQ_INT(jwt_status(JWT_E_CRIT), 401);

	/* Each HS alg with the right signature length only. */
	CHECK_EQ_INT(verify(mk(H384, "{\"mode\":\"w\"}", JWT_HS384)), JWT_OK);
	CHECK_EQ_INT(cl.mode, JWT_MODE_W);
	CHECK_EQ_INT(verify(mk(H512, "{\"mode\":\"w\"}", JWT_HS512)), JWT_OK);
	CHECK_EQ_INT(verify(mk(H256, "{\"mode\":\"w\"}", JWT_HS512)),
	    JWT_E_SIGNATURE);
	CHECK_EQ_INT(verify(mk(H512, "{\"mode\":\"w\"}", JWT_HS256)),
	    JWT_E_SIGNATURE);
	CHECK_EQ_INT(verify(mk(H384, "{\"mode\":\"w\"}", JWT_HS512)),
	    JWT_E_SIGNATURE);
	{
		/* A truncated signature, and non-canonical trailing bits. */
		char tok[512];
		size_t n;

		snprintf(tok, sizeof(tok), "%s", upstream_token);
		n = strlen(tok);
		tok[n - 4] = '\0';
		CHECK_EQ_INT(verify(tok), JWT_E_SIGNATURE);
		snprintf(tok, sizeof(tok), "%s", upstream_token);
		CHECK(tok[n - 1] == '8');
		tok[n - 1] = '9';   /* changes only the 2 unused low bits */
		CHECK_EQ_INT(verify(tok), JWT_E_SIGNATURE);
	}

	/* Alg confusion: a key bound to HS512 does not sign HS256 tokens. */
	CHECK_EQ_INT(load("{\"kty\":\"oct\",\"alg\":\"HS512\",\"k\":"
	    "\"cmVhbGx5cmVhbGx5cmVhbGx5cmVhbGx5dmVyeXNhZmU\"}", 0), 0);
	CHECK_EQ_INT(verify(upstream_token), JWT_E_ALG);
	CHECK_EQ_INT(verify(mk(H512, "{\"mode\":\"r\"}", JWT_HS512)), JWT_OK);
	CHECK_EQ_INT(verify(mk(H384, "{\"mode\":\"r\"}", JWT_HS384)), JWT_E_ALG);
	/* An unbound key beside it still verifies HS256. */
	CHECK_EQ_INT(load("{\"keys\":[{\"kty\":\"oct\",\"alg\":\"HS512\",\"k\":"
	    "\"cmVhbGx5cmVhbGx5cmVhbGx5cmVhbGx5dmVyeXNhZmU\"},"
	    "{\"kty\":\"oct\",\"k\":\"c2hvcnQ\"}]}", 0), 0);
	CHECK_EQ_INT(verify(upstream_token), JWT_E_SIGNATURE);
	CHECK_EQ_INT(verify(mk_key(H256, "{\"mode\":\"r\"}", JWT_HS256,
	    "short", 5)), JWT_OK);
}

static void
test_kid(void)
{
	static const char set[] =
	    "{\"keys\":[{\"kty\":\"oct\",\"kid\":\"a\",\"k\":\"a2V5QQ\"},"
	    "{\"kty\":\"oct\",\"kid\":\"b\",\"k\":\"a2V5Qg\"},"
	    "{\"kty\":\"oct\",\"k\":\"a2V5Qw\"}]}";   /* keyA, keyB, keyC */
	const char *pay = "{\"mode\":\"r\"}";

	CHECK_EQ_INT(load(set, 0), 0);
	CHECK_EQ_INT(ks.n, 3);
	CHECK_EQ_INT(verify(mk_key("{\"alg\":\"HS256\",\"kid\":\"b\"}", pay,
	    JWT_HS256, "keyB", 4)), JWT_OK);
	CHECK_EQ_INT(verify(mk_key("{\"alg\":\"HS256\",\"kid\":\"\\u0062\"}", pay,
	    JWT_HS256, "keyB", 4)), JWT_OK);
	CHECK_EQ_INT(verify(mk_key("{\"alg\":\"HS256\",\"kid\":\"a\"}", pay,
	    JWT_HS256, "keyA", 4)), JWT_OK);
	/* The kid picks the key: another key's signature does not count. */
	CHECK_EQ_INT(verify(mk_key("{\"alg\":\"HS256\",\"kid\":\"b\"}", pay,
	    JWT_HS256, "keyA", 4)), JWT_E_SIGNATURE);
	/* Keys without a kid are not used when the token names one. */
	CHECK_EQ_INT(verify(mk_key("{\"alg\":\"HS256\",\"kid\":\"b\"}", pay,
	    JWT_HS256, "keyC", 4)), JWT_E_SIGNATURE);
	CHECK_EQ_INT(verify(mk_key("{\"alg\":\"HS256\",\"kid\":\"c\"}", pay,
	    JWT_HS256, "keyC", 4)), JWT_E_NO_KEY);
	CHECK(strcmp(cl.why, "No key for this token") == 0);
	CHECK_EQ_INT(verify(mk_key("{\"alg\":\"HS256\",\"kid\":\"B\"}", pay,
	    JWT_HS256, "keyB", 4)), JWT_E_NO_KEY);
	CHECK_EQ_INT(verify(mk_key("{\"alg\":\"HS256\",\"kid\":\"\"}", pay,
	    JWT_HS256, "keyB", 4)), JWT_E_NO_KEY);
	CHECK_EQ_INT(verify(mk_key("{\"alg\":\"HS256\",\"kid\":1}", pay,
	    JWT_HS256, "keyB", 4)), JWT_E_MALFORMED);
	/* No kid: every key is tried. */
	CHECK_EQ_INT(verify(mk_key(H256, pay, JWT_HS256, "keyA", 4)), JWT_OK);
	CHECK_EQ_INT(verify(mk_key(H256, pay, JWT_HS256, "keyB", 4)), JWT_OK);
	CHECK_EQ_INT(verify(mk_key(H256, pay, JWT_HS256, "keyC", 4)), JWT_OK);
	CHECK_EQ_INT(verify(mk_key(H256, pay, JWT_HS256, "keyD", 4)),
	    JWT_E_SIGNATURE);
	/* A kid when no key has one: every key is tried. */
	CHECK_EQ_INT(load("a2V5Qw", 1), 0);
	CHECK_EQ_INT(verify(mk_key("{\"alg\":\"HS256\",\"kid\":\"zz\"}", pay,
	    JWT_HS256, "keyC", 4)), JWT_OK);
	/* An empty key set verifies nothing. */
	jwt_keys_free(&ks);
	CHECK_EQ_INT(verify(upstream_token), JWT_E_NO_KEY);
}

static void
test_time(void)
{
	CHECK_EQ_INT(load(upstream_secret, 0), 0);
	CHECK_EQ_INT(verify_at(mk(H256, "{\"mode\":\"r\",\"exp\":1000}",
	    JWT_HS256), 999), JWT_OK);
	CHECK_EQ_INT(cl.has_exp, 1);
	CHECK(cl.exp == 1000);
	CHECK_EQ_INT(verify_at(mk(H256, "{\"mode\":\"r\",\"exp\":1000}",
	    JWT_HS256), 999.999), JWT_OK);
	CHECK_EQ_INT(verify_at(mk(H256, "{\"mode\":\"r\",\"exp\":1000}",
	    JWT_HS256), 1000), JWT_E_EXPIRED);
	CHECK(strcmp(cl.why, "Token expired") == 0);
	CHECK_EQ_INT(jwt_status(JWT_E_EXPIRED), 401);
	CHECK_EQ_INT(verify_at(mk(H256, "{\"mode\":\"r\",\"exp\":1000}",
	    JWT_HS256), 5000), JWT_E_EXPIRED);
	CHECK_EQ_INT(verify_at(mk(H256, "{\"mode\":\"r\",\"exp\":1000.5}",
	    JWT_HS256), 1000.25), JWT_OK);
	CHECK(cl.exp == 1000.5);
	CHECK_EQ_INT(verify_at(mk(H256, "{\"mode\":\"r\",\"exp\":1000.5}",
	    JWT_HS256), 1000.5), JWT_E_EXPIRED);
	CHECK_EQ_INT(verify_at(mk(H256, "{\"mode\":\"r\",\"exp\":1.0005e3}",
	    JWT_HS256), 1000.75), JWT_E_EXPIRED);
	CHECK_EQ_INT(verify_at(mk(H256, "{\"mode\":\"r\",\"exp\":-1}",
	    JWT_HS256), 0), JWT_E_EXPIRED);
	/* The expiry is checked before the mode. */
	CHECK_EQ_INT(verify_at(mk(H256, "{\"exp\":1000}", JWT_HS256), 1000),
	    JWT_E_EXPIRED);
	CHECK_EQ_INT(verify_at(mk(H256, "{\"exp\":1000}", JWT_HS256), 10),
	    JWT_E_MISSING_MODE);

	/* exp of the wrong type. */
	CHECK_EQ_INT(verify(mk(H256, "{\"mode\":\"r\",\"exp\":\"1800000000\"}",
	    JWT_HS256)), JWT_E_CLAIMS);
	CHECK(strcmp(cl.why, "Invalid exp claim") == 0);
	CHECK(strcmp(jwt_strerror(JWT_E_CLAIMS), "Invalid claims") == 0);
	CHECK_EQ_INT(verify(mk(H256, "{\"mode\":\"r\",\"exp\":null}",
	    JWT_HS256)), JWT_E_CLAIMS);
	CHECK_EQ_INT(verify(mk(H256, "{\"mode\":\"r\",\"exp\":1e999}",
	    JWT_HS256)), JWT_E_CLAIMS);
	CHECK_EQ_INT(verify(mk(H256, "{\"mode\":\"r\",\"exp\":[1]}",
	    JWT_HS256)), JWT_E_CLAIMS);

	/* nbf is inclusive: valid from that instant on. */
	CHECK_EQ_INT(verify_at(mk(H256, "{\"mode\":\"r\",\"nbf\":1000}",
	    JWT_HS256), 1000), JWT_OK);
	CHECK_EQ_INT(verify_at(mk(H256, "{\"mode\":\"r\",\"nbf\":1000}",
	    JWT_HS256), 999.5), JWT_E_NOT_YET_VALID);
	CHECK(strcmp(cl.why, "Token not yet valid") == 0);
	CHECK_EQ_INT(verify_at(mk(H256, "{\"mode\":\"r\",\"nbf\":1000.5}",
	    JWT_HS256), 1000.4), JWT_E_NOT_YET_VALID);
	CHECK_EQ_INT(verify(mk(H256, "{\"mode\":\"r\",\"nbf\":true}",
	    JWT_HS256)), JWT_E_CLAIMS);
	CHECK(strcmp(cl.why, "Invalid nbf claim") == 0);
	CHECK_EQ_INT(verify_at(mk(H256, "{\"mode\":\"r\",\"nbf\":10,"
	    "\"exp\":20}", JWT_HS256), 15), JWT_OK);
	/* Other registered claims are not checked. */
	CHECK_EQ_INT(verify(mk(H256, "{\"mode\":\"r\",\"iat\":\"x\","
	    "\"aud\":5,\"iss\":[],\"sub\":null}", JWT_HS256)), JWT_OK);
}

static void
test_channels(void)
{
	char pay[4096];
	size_t i, o;

	CHECK_EQ_INT(load(upstream_secret, 0), 0);
	CHECK_EQ_INT(verify(mk(H256, "{\"mode\":\"r\"}", JWT_HS256)), JWT_OK);
	CHECK_EQ_INT(cl.nchan, 0);
	CHECK_EQ_INT(verify(mk(H256, "{\"mode\":\"r\",\"channel\":\"a\","
	    "\"channels\":[\"b\",\"a\",\"b\",\"c\",\"c\"]}", JWT_HS256)), JWT_OK);
	CHECK_EQ_INT(cl.nchan, 3);
	CHECK(chan_is(0, "a") && chan_is(1, "b") && chan_is(2, "c"));
	CHECK_EQ_INT(verify(mk(H256, "{\"mode\":\"r\",\"channels\":[\"x\",\"y\"]"
	    ",\"channel\":\"y\"}", JWT_HS256)), JWT_OK);
	CHECK_EQ_INT(cl.nchan, 2);
	CHECK(chan_is(0, "y") && chan_is(1, "x"));
	CHECK_EQ_INT(verify(mk(H256, "{\"mode\":\"r\",\"channels\":[]}",
	    JWT_HS256)), JWT_OK);
	CHECK_EQ_INT(cl.nchan, 0);
	/* Escapes are undone; "ab" and "a" are different names. */
	CHECK_EQ_INT(verify(mk(H256, "{\"mode\":\"r\",\"channel\":\"\\u00e9\\n\","
	    "\"channels\":[\"\xc3\xa9\\n\",\"a\",\"ab\",\"\\\"\"]}", JWT_HS256)),
	    JWT_OK);
	CHECK_EQ_INT(cl.nchan, 4);
	CHECK(chan_is(0, "\xc3\xa9\n") && chan_is(1, "a") && chan_is(2, "ab") &&
	    chan_is(3, "\""));

	/* Wrong types, empty names and NUL bytes. */
	CHECK_EQ_INT(verify(mk(H256, "{\"mode\":\"r\",\"channel\":5}",
	    JWT_HS256)), JWT_E_CLAIMS);
	CHECK(strcmp(cl.why, "Invalid channel claim") == 0);
	CHECK_EQ_INT(verify(mk(H256, "{\"mode\":\"r\",\"channel\":[\"a\"]}",
	    JWT_HS256)), JWT_E_CLAIMS);
	CHECK_EQ_INT(verify(mk(H256, "{\"mode\":\"r\",\"channel\":\"\"}",
	    JWT_HS256)), JWT_E_CLAIMS);
	CHECK_EQ_INT(verify(mk(H256, "{\"mode\":\"r\",\"channel\":\"a\\u0000\"}",
	    JWT_HS256)), JWT_E_CLAIMS);
	CHECK_EQ_INT(verify(mk(H256, "{\"mode\":\"r\",\"channel\":null}",
	    JWT_HS256)), JWT_E_CLAIMS);
	CHECK_EQ_INT(verify(mk(H256, "{\"mode\":\"r\",\"channels\":\"a\"}",
	    JWT_HS256)), JWT_E_CLAIMS);
	CHECK(strcmp(cl.why, "Invalid channels claim") == 0);
	CHECK_EQ_INT(verify(mk(H256, "{\"mode\":\"r\",\"channels\":{\"a\":1}}",
	    JWT_HS256)), JWT_E_CLAIMS);
	CHECK_EQ_INT(verify(mk(H256, "{\"mode\":\"r\",\"channels\":null}",
	    JWT_HS256)), JWT_E_CLAIMS);
	CHECK_EQ_INT(verify(mk(H256, "{\"mode\":\"r\",\"channels\":[\"a\",1]}",
	    JWT_HS256)), JWT_E_CLAIMS);
	CHECK(strcmp(cl.why, "Invalid channels claim") == 0);
	CHECK_EQ_INT(verify(mk(H256, "{\"mode\":\"r\",\"channels\":[[\"a\"]]}",
	    JWT_HS256)), JWT_E_CLAIMS);
	CHECK_EQ_INT(verify(mk(H256, "{\"mode\":\"r\",\"channels\":[\"\"]}",
	    JWT_HS256)), JWT_E_CLAIMS);
	CHECK_EQ_INT(verify(mk(H256, "{\"mode\":\"r\",\"channels\":"
	    "[\"\\u0000\"]}", JWT_HS256)), JWT_E_CLAIMS);

	/* 64 distinct names fit (with any number of repeats), 65 do not. */
	o = (size_t)snprintf(pay, sizeof(pay), "{\"mode\":\"r\",\"channels\":[");
	for (i = 0; i < 65; i++) {
		o += (size_t)snprintf(pay + o, sizeof(pay) - o, "%s\"c%zu\","
		    "\"c%zu\"", i ? "," : "", i, i);
		memcpy(pay + o, "]}", 3);
		CHECK_EQ_INT(verify(mk(H256, pay, JWT_HS256)),
		    i < 64 ? JWT_OK : JWT_E_CLAIMS);
	}
	CHECK(strcmp(cl.why, "Too many channels") == 0);
	o = (size_t)snprintf(pay, sizeof(pay), "{\"mode\":\"r\",\"channel\":"
	    "\"c63\",\"channels\":[");
	for (i = 0; i < 200; i++)
		o += (size_t)snprintf(pay + o, sizeof(pay) - o, "%s\"c%zu\"",
		    i ? "," : "", i % 64);
	memcpy(pay + o, "]}", 3);
	CHECK_EQ_INT(verify(mk(H256, pay, JWT_HS256)), JWT_OK);
	CHECK_EQ_INT(cl.nchan, 64);
	CHECK(chan_is(0, "c63") && chan_is(1, "c0") && chan_is(63, "c62"));
}

static void
test_mode(void)
{
	static const char *const bad[] = {
		"\"x\"", "\"R\"", "\"\"", "\"wr\"", "\"rw \"", "\"rwx\"",
		"\"r\\u0000\"", "1", "null", "true", "[\"r\"]", "{\"r\":1}",
	};
	char pay[100];
	size_t i;

	CHECK_EQ_INT(load(upstream_secret, 0), 0);
	CHECK_EQ_INT(verify(mk(H256, "{\"channel\":\"a\"}", JWT_HS256)),
	    JWT_E_MISSING_MODE);
	CHECK(strcmp(cl.why, "Missing mode") == 0);
	/* A rejected token grants nothing, even if read half-way. */
	CHECK_EQ_INT(cl.nchan, 0);
	CHECK_EQ_INT(cl.mode, 0);
	CHECK(strcmp(jwt_strerror(JWT_E_MISSING_MODE), "Missing mode") == 0);
	CHECK_EQ_INT(verify(mk(H256, "{}", JWT_HS256)), JWT_E_MISSING_MODE);
	CHECK_EQ_INT(verify(mk(H256, "{\"Mode\":\"r\"}", JWT_HS256)),
	    JWT_E_MISSING_MODE);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(pay, sizeof(pay), "{\"mode\":%s}", bad[i]);
		CHECK_EQ_INT(verify(mk(H256, pay, JWT_HS256)), JWT_E_MODE);
		CHECK(strcmp(cl.why, "Invalid mode") == 0);
	}
	CHECK_EQ_INT(verify(mk(H256, "{\"mode\":\"r\"}", JWT_HS256)), JWT_OK);
	CHECK_EQ_INT(cl.mode, JWT_MODE_R);
	CHECK_EQ_INT(verify(mk(H256, "{\"mode\":\"w\"}", JWT_HS256)), JWT_OK);
	CHECK_EQ_INT(cl.mode, JWT_MODE_W);
	CHECK_EQ_INT(verify(mk(H256, "{\"mode\":\"rw\"}", JWT_HS256)), JWT_OK);
	CHECK_EQ_INT(cl.mode, JWT_MODE_R | JWT_MODE_W);
	CHECK_EQ_INT(verify(mk(H256, "{\"mode\":\"\\u0072w\"}", JWT_HS256)),
	    JWT_OK);
	CHECK_EQ_INT(cl.mode, 3);
	CHECK_EQ_INT(verify(mk(H256, "{\"mode\":\"x\",\"mode\":\"w\"}",
	    JWT_HS256)), JWT_OK);
	CHECK_EQ_INT(cl.mode, JWT_MODE_W);
}

static void
test_grant(void)
{
	static const char asked[] = "b";
	char *g;

	CHECK_EQ_INT(load(upstream_secret, 0), 0);
	/* No channel asked. */
	CHECK_EQ_INT(verify(mk(H256, "{\"mode\":\"r\",\"channels\":[\"a\","
	    "\"b\"]}", JWT_HS256)), JWT_OK);
	CHECK_EQ_INT(jwt_grant(&cl, NULL, 0), JWT_OK);
	CHECK_EQ_INT(cl.nchan, 2);
	CHECK_EQ_INT(verify(mk(H256, "{\"mode\":\"r\"}", JWT_HS256)), JWT_OK);
	CHECK_EQ_INT(jwt_grant(&cl, NULL, 0), JWT_E_NO_CHANNELS);
	CHECK(strcmp(cl.why, "No allowed channels") == 0);
	CHECK(strcmp(jwt_strerror(JWT_E_NO_CHANNELS), "No allowed channels")
	    == 0);
	CHECK_EQ_INT(jwt_status(JWT_E_NO_CHANNELS), 403);

	/* The token allows none: the asked one is granted, borrowed. */
	g = (char *)unit_guard(asked, 1, 3);
	CHECK_EQ_INT(jwt_grant(&cl, g, 1), JWT_OK);
	CHECK_EQ_INT(cl.nchan, 1);
	CHECK(cl.chan[0].p == g && cl.chan[0].n == 1);
	CHECK_EQ_INT(verify(mk(H256, "{\"mode\":\"r\"}", JWT_HS256)), JWT_OK);
	CHECK_EQ_INT(jwt_grant(&cl, g, 0), JWT_E_NO_CHANNELS);
	CHECK_EQ_INT(jwt_grant(&cl, "a\0b", 3), JWT_E_NO_CHANNELS);

	/* The token allows some: the asked one must be one of them. */
	CHECK_EQ_INT(verify(mk(H256, "{\"mode\":\"r\",\"channel\":\"a\","
	    "\"channels\":[\"bb\",\"b\"]}", JWT_HS256)), JWT_OK);
	CHECK_EQ_INT(jwt_grant(&cl, g, 1), JWT_OK);
	CHECK_EQ_INT(cl.nchan, 1);
	CHECK(chan_is(0, "b"));
	CHECK(cl.chan[0].p != g);   /* the token's copy, in work */
	CHECK_EQ_INT(verify(mk(H256, "{\"mode\":\"r\",\"channel\":\"a\","
	    "\"channels\":[\"bb\"]}", JWT_HS256)), JWT_OK);
	CHECK_EQ_INT(jwt_grant(&cl, g, 1), JWT_E_NO_CHANNELS);
	CHECK_EQ_INT(jwt_grant(&cl, "A", 1), JWT_E_NO_CHANNELS);
	CHECK_EQ_INT(jwt_grant(&cl, "bb", 2), JWT_OK);
	CHECK(chan_is(0, "bb"));
	CHECK_EQ_INT(cl.nchan, 1);
}

static void
test_sign(void)
{
	static const char claims[] =
	    "{\"mode\":\"rw\",\"channels\":[\"x\",\"y\"],\"exp\":1800000000}";
	struct jwt_key k = { 0 };
	char tok[1024];
	long n, m;
	int alg;
	size_t cap;

	CHECK_EQ_INT(load("{\"keys\":[{\"kty\":\"oct\",\"kid\":\"k\\\"1\","
	    "\"k\":\"c2hvcnQ\"},{\"kty\":\"oct\",\"kid\":\"k2\",\"k\":\"bG9uZ2Vy\","
	    "\"alg\":\"HS384\"}]}", 0), 0);
	for (alg = JWT_HS256; alg <= JWT_HS512; alg++) {
		n = jwt_sign(&ks.key[0], alg, claims, sizeof(claims) - 1, tok,
		    sizeof(tok));
		CHECK(n > 0 && (size_t)n == strlen(tok));
		CHECK_EQ_INT(verify(tok), JWT_OK);
		CHECK_EQ_INT(cl.mode, 3);
		CHECK(chan_is(0, "x") && chan_is(1, "y"));
		CHECK_MEM(cl.json, cl.json_len, claims, sizeof(claims) - 1);
		/* The header carries alg, typ and the escaped kid. */
		{
			char want[100];
			unsigned char h[200];
			long hl = base64_decode(tok, (size_t)(strchr(tok, '.') -
			    tok), h, sizeof(h), B64_URL | B64_PAD_FORBID);

			snprintf(want, sizeof(want), "{\"alg\":\"%s\","
			    "\"typ\":\"JWT\",\"kid\":\"k\\\"1\"}",
			    jwt_alg_name[alg]);
			CHECK_MEM(h, (size_t)hl, want, strlen(want));
		}
		/* Every shorter buffer fails cleanly; the exact one fits. */
		for (cap = 0; cap <= (size_t)n; cap++) {
			char *o = (char *)unit_guard(tok, cap, 1);

			CHECK_EQ_INT(jwt_sign(&ks.key[0], alg, claims,
			    sizeof(claims) - 1, o, cap), -1);
		}
		{
			char *o = (char *)unit_guard(tok, (size_t)n + 1, 1);

			m = jwt_sign(&ks.key[0], alg, claims,
			    sizeof(claims) - 1, o, (size_t)n + 1);
			CHECK_EQ_INT(m, n);
			CHECK(o[n] == '\0');
		}
	}
	/* A key bound to HS384 signs only HS384; alg 0 means its own. */
	CHECK_EQ_INT(jwt_sign(&ks.key[1], JWT_HS256, claims, 10, tok,
	    sizeof(tok)), -1);
	n = jwt_sign(&ks.key[1], 0, "{\"mode\":\"w\"}", 12, tok, sizeof(tok));
	CHECK(n > 0);
	CHECK_EQ_INT(verify(tok), JWT_OK);
	CHECK_EQ_INT(jwt_sign(&ks.key[0], 4, claims, 10, tok, sizeof(tok)),
	    -1);
	CHECK_EQ_INT(jwt_sign(&ks.key[0], -1, claims, 10, tok, sizeof(tok)),
	    -1);

	/* A raw key: header is exactly {"alg":"HS256","typ":"JWT"}. */
	k.k = (unsigned char *)upstream_secret;
	k.k_len = strlen(upstream_secret);
	n = jwt_sign(&k, 0, "{\"mode\":\"r\",\"channel\":\"test\"}", 29, tok,
	    sizeof(tok));
	CHECK(n > 0 && strcmp(tok, upstream_token) == 0);
	/* An empty claims text still makes a token; verify refuses it. */
	CHECK_EQ_INT(load(upstream_secret, 0), 0);
	n = jwt_sign(&k, JWT_HS256, "", 0, tok, sizeof(tok));
	CHECK(n > 0);
	CHECK_EQ_INT(verify(tok), JWT_E_MALFORMED);
}

/* Every work size below what a token needs fails cleanly, never over. */
static void
test_work_size(void)
{
	const char *tok = mk(H256, "{\"mode\":\"r\",\"channels\":[\"one\","
	    "\"two\",\"\\u00e9\"]}", JWT_HS256);
	size_t n = strlen(tok), cap, need = 0;
	const char *g;
	int e;

	CHECK_EQ_INT(load(upstream_secret, 0), 0);
	g = (const char *)unit_guard(tok, n, 0);
	for (cap = 0; cap < 2 * n + 1024; cap++) {
		char *w = (char *)unit_guard(workbuf, cap, 2);

		e = jwt_verify(g, n, JWT_MAX_LEN, &ks, NOW, w, cap, &cl);
		if (e == JWT_OK) {
			if (!need)
				need = cap;
			CHECK(chan_is(2, "\xc3\xa9"));
		} else {
			CHECK_EQ_INT(e, JWT_E_TOO_LONG);
			CHECK(need == 0);
		}
	}
	CHECK(need > 0 && need < n);
}

static void
test_strerror(void)
{
	int e;

	for (e = 0; e < JWT_E_COUNT; e++) {
		CHECK(jwt_strerror(e) != NULL && jwt_strerror(e)[0] != '\0');
		CHECK_EQ_INT(jwt_status(e), e == JWT_E_NO_CHANNELS ? 403 : 401);
	}
	CHECK(strcmp(jwt_strerror(JWT_E_EXPIRED), "Token expired") == 0);
	CHECK(strcmp(jwt_strerror(-1), "Invalid token") == 0);
	CHECK(strcmp(jwt_strerror(JWT_E_COUNT), "Invalid token") == 0);
}

int
main(void)
{
	test_upstream();
	test_base64_secret();
	test_jwk_errors();
	test_shape();
	test_alg();
	test_kid();
	test_time();
	test_channels();
	test_mode();
	test_grant();
	test_sign();
	test_work_size();
	test_strerror();
	jwt_keys_free(&ks);
	return unit_done();
}
