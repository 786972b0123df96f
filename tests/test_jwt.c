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

/*
 * RFC 7515 appendix A.2 (RS256), A.3 (ES256) and A.4 (ES512): the public
 * keys and the tokens as the RFC prints them.  The A.2 and A.3 payload is
 * {"iss":"joe",\r\n "exp":1300819380,\r\n "http://example.com/is_root":true}
 * and has no mode, so a good signature ends in "Missing mode" (before exp);
 * the A.4 payload is the text "Payload", so it ends in "Malformed token".
 */
#define RFC7515_A2_N \
    "ofgWCuLjybRlzo0tZWJjNiuSfb4p4fAkd_wWJcyQoTbji9k0l8W26mPddxHmfHQp-Vaw-4qPC" \
    "JrcS2mJPMEzP1Pt0Bm4d4QlL-yRT-SFd2lZS-pCgNMsD1W_YpRPEwOWvG6b32690r2jZ47so" \
    "MZo9wGzjb_7OMg0LOL-bSf63kpaSHSXndS5z5rexMdbBYUsLA9e-KXBdQOS-UTo7WTBEMa2R" \
    "2CapHg665xsmtdVMTBQY4uDZlxvb3qCo5ZwKh9kG4LT6_I5IhlJH7aGhyxXFvUK-DWNmoudF" \
    "8NAco9_h9iaGNj8q2ethFkMLs91kzk2PAcDTW9gb54h4FRWyuXpoQ"
#define RFC7515_A2_JWK "{\"kty\":\"RSA\",\"n\":\"" RFC7515_A2_N "\",\"e\":\"AQAB\"}"
#define RFC7515_PAYLOAD \
    "eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNv" \
    "bS9pc19yb290Ijp0cnVlfQ"
static const char rfc7515_a2[] =
    "eyJhbGciOiJSUzI1NiJ9." RFC7515_PAYLOAD "."
    "cC4hiUPoj9Eetdgtv3hF80EGrhuB__dzERat0XF9g2VtQgr9PJbu3XOiZj5RZmh7AAuHIm4B"
    "h-0Qc_lF5YKt_O8W2Fp5jujGbds9uJdbF9CUAr7t1dnZcAcQjbKBYNX4BAynRFdiuB--f_nZ"
    "LgrnbyTyWzO75vRK5h6xBArLIARNPvkSjtQBMHlb1L07Qe7K0GarZRmB_eSN9383LcOLn6_d"
    "O--xi12jzDwusC-eOkHWEsqtFZESc6BfI7noOPqvhJ1phCnvWh6IeYI2w9QOYEUipUTI8np6"
    "LbgGY9Fs98rqVt5AXLIhWkWywlVmtVrBp0igcN_IoypGlUPQGe77Rw";
#define RFC7515_A3_JWK "{\"kty\":\"EC\",\"crv\":\"P-256\"," \
    "\"x\":\"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU\"," \
    "\"y\":\"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0\"}"
static const char rfc7515_a3[] =
    "eyJhbGciOiJFUzI1NiJ9." RFC7515_PAYLOAD "."
    "DtEhU3ljbEg8L38VWAfUAqOyKAM6-Xx-F4GawxaepmXFCgfTjDxw5djxLa8ISlSApmWQxfKT"
    "UJqPP3-Kg6NU1Q";
#define RFC7515_A4_JWK "{\"kty\":\"EC\",\"crv\":\"P-521\"," \
    "\"x\":\"AekpBQ8ST8a8VcfVOTNl353vSrDCLLJXmPk06wTjxrrjcBpXp5EOnYG_NjFZ6OvLF" \
    "V1jSfS9tsz4qUxcWceqwQGk\"," \
    "\"y\":\"ADSmRA43Z1DSNx_RvcLI87cdL07l6jQyyBXMoxVg_l2Th-x3S1WDhjDly79ajL4Kk" \
    "d0AZMaZmh9ubmf63e3kyMj2\"}"
static const char rfc7515_a4[] =
    "eyJhbGciOiJFUzUxMiJ9.UGF5bG9hZA."
    "AdwMgeerwtHoh-l192l60hp9wAHZFVJbLfD_UxMi70cwnZOYaRI1bKPWROc-mZZqwqT2SI-K"
    "GDKB34XO0aw_7XdtAG8GaSwFKdCAPZgoXD2YBJZCPEX3xKpRwcdOO8KpEHwJjyqOgzDO7iKv"
    "U8vcnwNrmxYbSW9ERBXukOXolLzeO_Jn";
/* RFC 8037 appendix A.2 (public Ed25519 key) and A.4 (its EdDSA token). */
#define RFC8037_JWK "{\"kty\":\"OKP\",\"crv\":\"Ed25519\"," \
    "\"x\":\"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo\"}"
static const char rfc8037_a4[] =
    "eyJhbGciOiJFZERTQSJ9.RXhhbXBsZSBvZiBFZDI1NTE5IHNpZ25pbmc."
    "hgyY0il_MGCjP0JzlnLWG1PPOt7-09PGcvMg3AIbQR6dWbhijcNR4ki4iylGjg5BhVsPt9g7"
    "sVvpAr_MuM0KAg";
#define RFC_BEFORE 1300819379.0   /* the A.2/A.3 exp is 1300819380 */

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
	size_t n = strlen(tok), cap = jwt_work_size(n, ks.max_chan);
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
	b64u(mac, jwt_algs[alg].hlen, out + o);
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
	CHECK_EQ_INT(load("  \n{\"keys\":[" RFC7515_A2_JWK ","
	    "{\"kty\":\"oct\",\"k\":\"c2hvcnQ\"},"
	    "{\"kty\":\"oct\",\"k\":\"cmVhbGx5cmVhbGx5cmVhbGx5cmVhbGx5dmVyeXNhZmU\","
	    "\"alg\":\"HS256\"}]}\n", 0), 0);
	CHECK_EQ_INT(ks.n, 3);
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
	k.kty = JWT_KTY_OCT;
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

	/*
	 * As postgres-websockets reads it: '-' '_' '.' stand for '+' '/' '='
	 * (so alphabets may mix and '.' pads), whitespace around is dropped.
	 */
	CHECK_EQ_INT(load("+/-_AQI=", 1), 0);
	CHECK_EQ_INT(verify(tok), JWT_OK);
	CHECK_EQ_INT(load(" \t+/+/AQI=\r\n", 1), 0);
	CHECK_EQ_INT(verify(tok), JWT_OK);
	CHECK_EQ_INT(load("-_-_AQI.", 1), 0);
	CHECK_EQ_INT(verify(tok), JWT_OK);
	CHECK_EQ_INT(load("\n-_-_AQI.\n", 1), 0);
	CHECK_EQ_INT(verify(tok), JWT_OK);

	/* Bad base64: inner whitespace, junk, bad padding, stray bits. */
	CHECK_EQ_INT(load("+/+/ AQI=", 1), -1);
	CHECK_EQ_INT(load("+/+/\nAQI=", 1), -1);
	CHECK_EQ_INT(load("not base64!", 1), -1);
	CHECK_EQ_INT(load("+/+/AQI==", 1), -1);
	CHECK_EQ_INT(load("+/+/AQI..", 1), -1);
	CHECK_EQ_INT(load("+/+/AQJ=", 1), -1);
	CHECK_EQ_INT(load("+/+.AQI=", 1), -1);
	CHECK_EQ_INT(load(" \n ", 1), -1);
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

	CHECK_EQ_INT(load("{\"kty\":\"oct\"}", 0), -1);
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

	/*
	 * Text that starts with '{' but is not a JSON object with "kty" or
	 * "keys" is a raw secret (with a warning), as in the original.
	 */
	CHECK_EQ_INT(load("{", 0), 1);
	CHECK_EQ_INT(ks.n, 1);
	CHECK_MEM(ks.key[0].k, ks.key[0].k_len, "{", 1);
	CHECK_EQ_INT(load("{\"k\":\"c2hvcnQ\"}", 0), 1);
	CHECK_EQ_INT(ks.key[0].kty, JWT_KTY_OCT);
	CHECK_EQ_INT(ks.key[0].k_len, 15);
	CHECK_EQ_INT(load("{} trailing", 0), 1);
	CHECK_EQ_INT(load("{\"kty\":\"oct\",\"k\":\"c2hvcnQ\"", 0), 1);
	CHECK_EQ_INT(verify(mk_key(H256, "{\"mode\":\"r\"}", JWT_HS256,
	    "{\"kty\":\"oct\",\"k\":\"c2hvcnQ\"",
	    strlen("{\"kty\":\"oct\",\"k\":\"c2hvcnQ\""))), JWT_OK);
	/* The same after base64 decoding, which comes first there. */
	CHECK_EQ_INT(load("eyJub3QiOiJhIGtleSJ9", 1), 1);   /* {"not":"a key"} */
	CHECK_MEM(ks.key[0].k, ks.key[0].k_len, "{\"not\":\"a key\"}", 15);
	CHECK_EQ_INT(load("eyJrdHkiOiJvY3QiLCJrIjoiYzJodmNuUSJ9", 1), 0);
	CHECK_MEM(ks.key[0].k, ks.key[0].k_len, "short", 5);
	/* With a "kty" or "keys" member it is meant as a JWK: errors stay. */
	CHECK_EQ_INT(load("{\"kty\":\"oct\",\"k\":\"!\"}", 0), -1);
	CHECK_EQ_INT(load("{\"keys\":5}", 0), -1);

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
	/* A kid that no key has: every key is tried, as in the original. */
	CHECK_EQ_INT(verify(mk_key("{\"alg\":\"HS256\",\"kid\":\"c\"}", pay,
	    JWT_HS256, "keyC", 4)), JWT_OK);
	CHECK_EQ_INT(verify(mk_key("{\"alg\":\"HS256\",\"kid\":\"B\"}", pay,
	    JWT_HS256, "keyB", 4)), JWT_OK);
	CHECK_EQ_INT(verify(mk_key("{\"alg\":\"HS256\",\"kid\":\"\"}", pay,
	    JWT_HS256, "keyA", 4)), JWT_OK);
	CHECK_EQ_INT(verify(mk_key("{\"alg\":\"HS256\",\"kid\":\"c\"}", pay,
	    JWT_HS256, "keyD", 4)), JWT_E_SIGNATURE);
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
	CHECK(strcmp(cl.why, "No key for this token") == 0);
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
	char pay[8192];
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
	/* null counts as absent, as in the original. */
	CHECK_EQ_INT(verify(mk(H256, "{\"mode\":\"r\",\"channel\":null}",
	    JWT_HS256)), JWT_OK);
	CHECK_EQ_INT(cl.nchan, 0);
	CHECK_EQ_INT(cl.listed, 0);
	CHECK_EQ_INT(jwt_grant(&cl, "any", 3), JWT_OK);
	CHECK(chan_is(0, "any"));
	CHECK_EQ_INT(verify(mk(H256, "{\"mode\":\"r\",\"channels\":\"a\"}",
	    JWT_HS256)), JWT_E_CLAIMS);
	CHECK(strcmp(cl.why, "Invalid channels claim") == 0);
	CHECK_EQ_INT(verify(mk(H256, "{\"mode\":\"r\",\"channels\":{\"a\":1}}",
	    JWT_HS256)), JWT_E_CLAIMS);
	CHECK_EQ_INT(verify(mk(H256, "{\"mode\":\"r\",\"channels\":null}",
	    JWT_HS256)), JWT_OK);
	CHECK_EQ_INT(cl.listed, 0);
	CHECK_EQ_INT(verify(mk(H256, "{\"mode\":\"r\",\"channel\":null,"
	    "\"channels\":null}", JWT_HS256)), JWT_OK);
	CHECK_EQ_INT(jwt_grant(&cl, NULL, 0), JWT_E_NO_CHANNELS);
	CHECK_EQ_INT(verify(mk(H256, "{\"mode\":\"r\",\"channel\":\"a\","
	    "\"channels\":null}", JWT_HS256)), JWT_OK);
	CHECK_EQ_INT(cl.nchan, 1);
	CHECK_EQ_INT(jwt_grant(&cl, "b", 1), JWT_E_NO_CHANNELS);
	CHECK_EQ_INT(verify(mk(H256, "{\"mode\":\"r\",\"channel\":null,"
	    "\"channels\":[\"b\"]}", JWT_HS256)), JWT_OK);
	CHECK_EQ_INT(jwt_grant(&cl, "b", 1), JWT_OK);
	CHECK_EQ_INT(verify(mk(H256, "{\"mode\":\"r\",\"channels\":[\"a\",1]}",
	    JWT_HS256)), JWT_E_CLAIMS);
	CHECK(strcmp(cl.why, "Invalid channels claim") == 0);
	CHECK_EQ_INT(verify(mk(H256, "{\"mode\":\"r\",\"channels\":[[\"a\"]]}",
	    JWT_HS256)), JWT_E_CLAIMS);
	CHECK_EQ_INT(verify(mk(H256, "{\"mode\":\"r\",\"channels\":[\"\"]}",
	    JWT_HS256)), JWT_E_CLAIMS);
	CHECK_EQ_INT(verify(mk(H256, "{\"mode\":\"r\",\"channels\":"
	    "[\"\\u0000\"]}", JWT_HS256)), JWT_E_CLAIMS);

	/*
	 * JWT_MAX_CHANNELS (256) distinct names fit (with any number of
	 * repeats), 257 do not; the limit is the key set's max_chan.
	 */
	CHECK_EQ_INT(ks.max_chan, 256);
	o = (size_t)snprintf(pay, sizeof(pay), "{\"mode\":\"r\",\"channels\":[");
	for (i = 0; i < 257; i++) {
		o += (size_t)snprintf(pay + o, sizeof(pay) - o, "%s\"c%zu\","
		    "\"c%zu\"", i ? "," : "", i, i);
		memcpy(pay + o, "]}", 3);
		if (i < 250 && i % 50 != 0)
			continue;
		CHECK_EQ_INT(verify(mk(H256, pay, JWT_HS256)),
		    i < 256 ? JWT_OK : JWT_E_CLAIMS);
		if (i == 255)
			CHECK_EQ_INT(cl.nchan, 256);
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
	/* A lower limit: 3 fit, 4 do not; duplicates do not count. */
	ks.max_chan = 3;
	CHECK_EQ_INT(verify(mk(H256, "{\"mode\":\"r\",\"channel\":\"a\","
	    "\"channels\":[\"a\",\"b\",\"c\",\"b\"]}", JWT_HS256)), JWT_OK);
	CHECK_EQ_INT(cl.nchan, 3);
	CHECK_EQ_INT(verify(mk(H256, "{\"mode\":\"r\",\"channel\":\"a\","
	    "\"channels\":[\"b\",\"c\",\"d\"]}", JWT_HS256)), JWT_E_CLAIMS);
	CHECK(strcmp(cl.why, "Too many channels") == 0);
	ks.max_chan = JWT_MAX_CHANNELS;
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
			    jwt_algs[alg].name);
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
	k.kty = JWT_KTY_OCT;
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
	for (cap = 0; cap < jwt_work_size(n, ks.max_chan); cap++) {
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

/* Flips one bit of the character at i (keeping it base64url). */
static const char *
flip(const char *tok, size_t i)
{
	static char out[2048];
	size_t n = strlen(tok);

	memcpy(out, tok, n + 1);
	out[i] = out[i] == 'A' ? 'B' : 'A';
	return out;
}

static void
test_rfc7515(void)
{
	size_t sig;

	/* A.2 RS256 */
	CHECK_EQ_INT(load(RFC7515_A2_JWK, 0), 0);
	CHECK_EQ_INT(ks.key[0].kty, JWT_KTY_RSA);
	CHECK_EQ_INT(ks.key[0].n_len, 256);
	CHECK_EQ_INT(verify_at(rfc7515_a2, RFC_BEFORE), JWT_E_MISSING_MODE);
	CHECK_EQ_INT(verify_at(rfc7515_a2, NOW), JWT_E_EXPIRED);
	sig = strlen(rfc7515_a2) - 20;
	CHECK_EQ_INT(verify_at(flip(rfc7515_a2, sig), RFC_BEFORE),
	    JWT_E_SIGNATURE);
	CHECK_EQ_INT(verify_at(flip(rfc7515_a2, 30), RFC_BEFORE),
	    JWT_E_SIGNATURE);
	/* The same key verifies nothing of another family. */
	CHECK_EQ_INT(verify_at(rfc7515_a3, RFC_BEFORE), JWT_E_ALG);
	CHECK_EQ_INT(verify(upstream_token), JWT_E_ALG);

	/* A.3 ES256 */
	CHECK_EQ_INT(load(RFC7515_A3_JWK, 0), 0);
	CHECK_EQ_INT(ks.key[0].kty, JWT_KTY_EC);
	CHECK_EQ_INT(ks.key[0].curve, BR_EC_secp256r1);
	CHECK_EQ_INT(verify_at(rfc7515_a3, RFC_BEFORE), JWT_E_MISSING_MODE);
	sig = strlen(rfc7515_a3) - 5;
	CHECK_EQ_INT(verify_at(flip(rfc7515_a3, sig), RFC_BEFORE),
	    JWT_E_SIGNATURE);
	CHECK_EQ_INT(verify_at(rfc7515_a2, RFC_BEFORE), JWT_E_ALG);
	CHECK_EQ_INT(verify_at(rfc7515_a4, RFC_BEFORE), JWT_E_ALG);

	/* A.4 ES512 (P-521, 66-byte coordinates, 132-byte signature) */
	CHECK_EQ_INT(load(RFC7515_A4_JWK, 0), 0);
	CHECK_EQ_INT(ks.key[0].curve, BR_EC_secp521r1);
	CHECK_EQ_INT(ks.key[0].k_len, 133);
	CHECK_EQ_INT(verify_at(rfc7515_a4, RFC_BEFORE), JWT_E_MALFORMED);
	sig = strlen(rfc7515_a4) - 40;
	CHECK_EQ_INT(verify_at(flip(rfc7515_a4, sig), RFC_BEFORE),
	    JWT_E_SIGNATURE);
	CHECK_EQ_INT(verify_at(rfc7515_a3, RFC_BEFORE), JWT_E_ALG);

	/* All three in one set, with an HMAC key: each finds its own. */
	CHECK_EQ_INT(load("{\"keys\":[" RFC7515_A4_JWK "," RFC7515_A2_JWK ","
	    "{\"kty\":\"oct\",\"k\":\"cmVhbGx5cmVhbGx5cmVhbGx5cmVhbGx5dmVyeXNh"
	    "ZmU\"}," RFC7515_A3_JWK "]}", 0), 0);
	CHECK_EQ_INT(ks.n, 4);
	CHECK_EQ_INT(verify_at(rfc7515_a2, RFC_BEFORE), JWT_E_MISSING_MODE);
	CHECK_EQ_INT(verify_at(rfc7515_a3, RFC_BEFORE), JWT_E_MISSING_MODE);
	CHECK_EQ_INT(verify_at(rfc7515_a4, RFC_BEFORE), JWT_E_MALFORMED);
	CHECK_EQ_INT(verify(upstream_token), JWT_OK);
	CHECK(jwt_keys_hmac(&ks) == &ks.key[2]);

	/* RFC 8037: an Ed25519 key is refused at load, naming the key. */
	{
		char err[300];

		jwt_keys_free(&ks);
		CHECK_EQ_INT(jwt_keys_load(&ks, RFC8037_JWK,
		    strlen(RFC8037_JWK), 0, err, sizeof(err)), -1);
		CHECK(strstr(err, "JWK: OKP (EdDSA) keys are not supported")
		    == err);
		static const char set[] = "{\"keys\":[" RFC7515_A3_JWK
		    ",{\"kid\":\"ed\",\"kty\":\"OKP\",\"crv\":\"Ed25519\","
		    "\"x\":\"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo\"}]}";

		CHECK_EQ_INT(load(set, 0), -1);
		jwt_keys_load(&ks, set, strlen(set), 0, err, sizeof(err));
		CHECK(strstr(err, "keys[1] (kid \"ed\"): OKP") == err);
	}
	/* An X25519 key in a set cannot sign: skipped. */
	CHECK_EQ_INT(load("{\"keys\":[" RFC7515_A3_JWK ",{\"kty\":\"OKP\","
	    "\"crv\":\"X25519\",\"x\":\"AAAA\"}]}", 0), 0);
	CHECK_EQ_INT(ks.n, 1);
	/* EdDSA tokens are refused whatever the keys. */
	CHECK_EQ_INT(verify(rfc8037_a4), JWT_E_ALG);
}

/*
 * Algorithm confusion: an RSA or EC public key is never an HMAC secret,
 * alg cannot move a key to another family or curve, and a private JWK is
 * refused where a public one is expected.
 */
static void
test_confusion(void)
{
	unsigned char n[256], pt[65];
	char der[2048];
	long nl;
	size_t o;

	/* HS256 signed with the RSA modulus bytes, the JWK text, or the point. */
	CHECK_EQ_INT(load(RFC7515_A2_JWK, 0), 0);
	nl = base64_decode(RFC7515_A2_N, strlen(RFC7515_A2_N), n, sizeof(n),
	    B64_URL);
	CHECK_EQ_INT(nl, 256);
	CHECK_EQ_INT(verify(mk_key(H256, "{\"mode\":\"r\"}", JWT_HS256, n,
	    (size_t)nl)), JWT_E_ALG);
	CHECK_EQ_INT(verify(mk_key(H256, "{\"mode\":\"r\"}", JWT_HS256,
	    RFC7515_A2_JWK, strlen(RFC7515_A2_JWK))), JWT_E_ALG);
	CHECK_EQ_INT(verify(mk_key(H384, "{\"mode\":\"r\"}", JWT_HS384,
	    ks.key[0].k, ks.key[0].k_len)), JWT_E_ALG);
	CHECK_EQ_INT(load(RFC7515_A3_JWK, 0), 0);
	memcpy(pt, ks.key[0].k, 65);
	CHECK_EQ_INT(verify(mk_key(H256, "{\"mode\":\"r\"}", JWT_HS256, pt, 65)),
	    JWT_E_ALG);
	CHECK_EQ_INT(verify(mk_key(H256, "{\"mode\":\"r\"}", JWT_HS256,
	    RFC7515_A3_JWK, strlen(RFC7515_A3_JWK))), JWT_E_ALG);

	/* The A.2 signature under a PS256, RS384 or ES256 header fails. */
	CHECK_EQ_INT(load(RFC7515_A2_JWK, 0), 0);
	o = (size_t)snprintf(der, sizeof(der), "%s", rfc7515_a2);
	(void)o;
	memcpy(der, "eyJhbGciOiJQUzI1NiJ9", 20);   /* {"alg":"PS256"} */
	CHECK_EQ_INT(verify_at(der, RFC_BEFORE), JWT_E_SIGNATURE);
	memcpy(der, "eyJhbGciOiJSUzM4NCJ9", 20);   /* {"alg":"RS384"} */
	CHECK_EQ_INT(verify_at(der, RFC_BEFORE), JWT_E_SIGNATURE);
	memcpy(der, "eyJhbGciOiJFUzI1NiJ9", 20);   /* {"alg":"ES256"} */
	CHECK_EQ_INT(verify_at(der, RFC_BEFORE), JWT_E_ALG);
	/* An ES256 token against P-521 and P-256 keys mixed up. */
	CHECK_EQ_INT(load(RFC7515_A4_JWK, 0), 0);
	CHECK_EQ_INT(verify_at(rfc7515_a3, RFC_BEFORE), JWT_E_ALG);

	/* A key's alg pins it, and must fit its family and curve. */
	CHECK_EQ_INT(load("{\"kty\":\"RSA\",\"alg\":\"PS256\",\"n\":\""
	    RFC7515_A2_N "\",\"e\":\"AQAB\"}", 0), 0);
	CHECK_EQ_INT(ks.key[0].alg, JWT_PS256);
	CHECK_EQ_INT(verify_at(rfc7515_a2, RFC_BEFORE), JWT_E_ALG);
	CHECK_EQ_INT(load("{\"kty\":\"RSA\",\"alg\":\"RS256\",\"n\":\""
	    RFC7515_A2_N "\",\"e\":\"AQAB\"}", 0), 0);
	CHECK_EQ_INT(verify_at(rfc7515_a2, RFC_BEFORE), JWT_E_MISSING_MODE);
	CHECK_EQ_INT(load("{\"kty\":\"RSA\",\"alg\":\"HS256\",\"n\":\""
	    RFC7515_A2_N "\",\"e\":\"AQAB\"}", 0), -1);
	CHECK_EQ_INT(load("{\"kty\":\"RSA\",\"alg\":\"ES256\",\"n\":\""
	    RFC7515_A2_N "\",\"e\":\"AQAB\"}", 0), -1);
	CHECK_EQ_INT(load("{\"kty\":\"EC\",\"alg\":\"ES384\",\"crv\":\"P-256\","
	    "\"x\":\"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU\","
	    "\"y\":\"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0\"}", 0), -1);
	CHECK_EQ_INT(load("{\"kty\":\"EC\",\"alg\":\"RS256\",\"crv\":\"P-256\","
	    "\"x\":\"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU\","
	    "\"y\":\"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0\"}", 0), -1);
	CHECK_EQ_INT(load("{\"kty\":\"oct\",\"alg\":\"ES256\",\"k\":\"c2hvcnQ\"}",
	    0), -1);

	/* Private members are refused, each one, naming the key. */
	{
		static const char *const priv[] = { "d", "p", "q", "dp", "dq",
		    "qi", "oth" };
		char j[1024], err[300];
		size_t i;

		for (i = 0; i < 7; i++) {
			snprintf(j, sizeof(j), "{\"keys\":[{\"kty\":\"oct\","
			    "\"k\":\"c2hvcnQ\"},{\"kty\":\"RSA\",\"kid\":\"r1\","
			    "\"n\":\"%s\",\"e\":\"AQAB\",\"%s\":\"AQAB\"}]}",
			    RFC7515_A2_N, priv[i]);
			CHECK_EQ_INT(load(j, 0), -1);
			jwt_keys_load(&ks, j, strlen(j), 0, err, sizeof(err));
			CHECK(strstr(err, "keys[1] (kid \"r1\"): is a private "
			    "key") == err);
		}
		CHECK_EQ_INT(load("{\"kty\":\"EC\",\"crv\":\"P-256\","
		    "\"x\":\"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU\","
		    "\"y\":\"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0\","
		    "\"d\":\"jpsQnnGQmL-YBIffH1136cspYG6-0iY7X1fCE9-E9LI\"}", 0),
		    -1);
	}
}

/* Bad RSA and EC keys fail at load with a message; good ones load. */
static void
test_asym_keys(void)
{
	char j[2048];

	/* e must be odd and at least 3; n 2048..4096 bits and odd. */
	snprintf(j, sizeof(j), "{\"kty\":\"RSA\",\"n\":\"%s\",\"e\":\"AQ\"}",
	    RFC7515_A2_N);
	CHECK_EQ_INT(load(j, 0), -1);
	snprintf(j, sizeof(j), "{\"kty\":\"RSA\",\"n\":\"%s\",\"e\":\"Aw\"}",
	    RFC7515_A2_N);
	CHECK_EQ_INT(load(j, 0), 0);
	snprintf(j, sizeof(j), "{\"kty\":\"RSA\",\"n\":\"%s\",\"e\":\"AAEAAQ\"}",
	    RFC7515_A2_N);
	CHECK_EQ_INT(load(j, 0), 0);   /* leading zeros dropped */
	CHECK_EQ_INT(ks.key[0].k_len - ks.key[0].n_len, 3);
	snprintf(j, sizeof(j), "{\"kty\":\"RSA\",\"n\":\"%s\",\"e\":\"AQAA\"}",
	    RFC7515_A2_N);
	CHECK_EQ_INT(load(j, 0), -1);  /* even */
	snprintf(j, sizeof(j), "{\"kty\":\"RSA\",\"n\":\"AA%s\",\"e\":\"AQAB\"}",
	    RFC7515_A2_N);
	CHECK_EQ_INT(load(j, 0), -1);  /* not base64url any more (length) */
	snprintf(j, sizeof(j), "{\"kty\":\"RSA\",\"n\":\"AAAA%s\",\"e\":\"AQAB\"}",
	    RFC7515_A2_N);
	CHECK_EQ_INT(load(j, 0), 0);   /* leading zero bytes dropped */
	CHECK_EQ_INT(ks.key[0].n_len, 256);
	CHECK_EQ_INT(verify_at(rfc7515_a2, RFC_BEFORE), JWT_E_MISSING_MODE);
	/* 2016 bits: the first 252 bytes of the A.2 modulus. */
	snprintf(j, sizeof(j), "{\"kty\":\"RSA\",\"n\":\"%.336s\",\"e\":\"AQAB\"}",
	    RFC7515_A2_N);
	CHECK_EQ_INT(load(j, 0), -1);
	CHECK_EQ_INT(load("{\"kty\":\"RSA\",\"e\":\"AQAB\"}", 0), -1);
	CHECK_EQ_INT(load("{\"kty\":\"RSA\",\"n\":\"" RFC7515_A2_N "\"}", 0), -1);

	/* EC: curve names, coordinate sizes, the point on the curve. */
	CHECK_EQ_INT(load("{\"kty\":\"EC\",\"crv\":\"secp256k1\","
	    "\"x\":\"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU\","
	    "\"y\":\"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0\"}", 0), -1);
	CHECK_EQ_INT(load("{\"kty\":\"EC\",\"crv\":\"P-384\","
	    "\"x\":\"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU\","
	    "\"y\":\"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0\"}", 0), -1);
	CHECK_EQ_INT(load("{\"kty\":\"EC\",\"crv\":\"P-256\","
	    "\"x\":\"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU\","
	    "\"y\":\"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a1\"}", 0), -1);
	CHECK_EQ_INT(load("{\"kty\":\"EC\",\"crv\":\"P-256\","
	    "\"x\":\"AAf83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU\","
	    "\"y\":\"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0\"}", 0), -1);
	CHECK_EQ_INT(load("{\"kty\":\"EC\",\"crv\":\"P-256\","
	    "\"y\":\"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0\"}", 0), -1);
	CHECK_EQ_INT(load("{\"kty\":\"EC\","
	    "\"x\":\"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU\","
	    "\"y\":\"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0\"}", 0), -1);
	CHECK_EQ_INT(load("{\"kty\":\"ec\",\"crv\":\"P-256\"}", 0), -1);

	/* Inside a set, encryption keys are skipped; alone they fail. */
	CHECK_EQ_INT(load("{\"keys\":[{\"kty\":\"RSA\",\"use\":\"enc\","
	    "\"n\":\"x\"}," RFC7515_A3_JWK "]}", 0), 0);
	CHECK_EQ_INT(ks.n, 1);
	CHECK_EQ_INT(load("{\"keys\":[{\"kty\":\"RSA\",\"alg\":\"RSA-OAEP\","
	    "\"n\":\"x\"}," RFC7515_A3_JWK "]}", 0), 0);
	CHECK_EQ_INT(ks.n, 1);
	CHECK_EQ_INT(load("{\"kty\":\"RSA\",\"alg\":\"RSA-OAEP\",\"n\":\""
	    RFC7515_A2_N "\",\"e\":\"AQAB\"}", 0), -1);
	CHECK_EQ_INT(load("{\"keys\":[{\"kty\":\"RSA\",\"alg\":\"none\"}]}", 0),
	    -1);
	CHECK_EQ_INT(load("{\"keys\":[{\"kty\":\"RSA\",\"use\":\"enc\"}]}", 0),
	    -1);   /* nothing left to verify with */
	CHECK_EQ_INT(load("{\"keys\":[{\"kty\":\"XYZ\"}]}", 0), -1);

	/* jwt_sign() refuses a key that is not HMAC. */
	CHECK_EQ_INT(load(RFC7515_A3_JWK, 0), 0);
	CHECK(jwt_keys_hmac(&ks) == NULL);
	CHECK_EQ_INT(jwt_sign(&ks.key[0], 0, "{}", 2, j, sizeof(j)), -1);
	CHECK_EQ_INT(jwt_sign(&ks.key[0], JWT_ES256, "{}", 2, j, sizeof(j)),
	    -1);
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
	test_rfc7515();
	test_confusion();
	test_asym_keys();
	test_strerror();
	jwt_keys_free(&ks);
	return unit_done();
}
