/*
 * JSON Web Tokens (RFC 7519) in compact JWS form (RFC 7515), HMAC only:
 * HS256, HS384 and HS512.  Verification is a pure function over the
 * token's bytes that writes only into a caller-owned work buffer; the
 * result's strings are slices of that buffer.  Keys are loaded once at
 * start-up from PGWS_JWT_SECRET: raw bytes, base64 text, a JWK or a JWK set.
 */
#ifndef PGWS_JWT_H
#define PGWS_JWT_H

#include <stddef.h>

enum { JWT_HS256 = 1, JWT_HS384, JWT_HS512 };
enum { JWT_MODE_R = 1, JWT_MODE_W = 2 };   /* rw is JWT_MODE_R | JWT_MODE_W */

#define JWT_MAX_KEYS 32
#define JWT_MAX_CHANNELS 64
#define JWT_MAX_LEN 8192    /* default token length limit */

/*
 * One HMAC key.  alg 0 means the key may be used with any HS algorithm,
 * otherwise only with that one.  kid is not NUL-terminated.
 */
struct jwt_key {
	int alg;
	int has_kid;
	char kid[128];
	size_t kid_len;
	unsigned char *k;
	size_t k_len;
};

struct jwt_keyset {
	size_t n;
	struct jwt_key key[JWT_MAX_KEYS];
};

/*
 * Fills *ks from secret[0..n), the value of PGWS_JWT_SECRET after @file
 * handling: a JWK or JWK set when it starts (after whitespace) with '{',
 * else the raw bytes, first decoded from base64 or base64url when base64
 * is 1.  Returns 0, or -1 with a one-line message (not naming the
 * variable) in the caller's err[errcap] and *ks empty.  Key bytes are
 * malloc'ed and owned by *ks until jwt_keys_free().
 */
int jwt_keys_load(struct jwt_keyset *ks, const char *secret, size_t n,
    int base64, char *err, size_t errcap);

/* Wipes and frees the key bytes owned by *ks and leaves it empty. */
void jwt_keys_free(struct jwt_keyset *ks);

enum jwt_err {
	JWT_OK = 0,
	JWT_E_TOO_LONG,        /* token longer than the limit, or work too small */
	JWT_E_MALFORMED,       /* not three base64url parts of JSON objects */
	JWT_E_ALG,             /* alg not HS256/384/512, or no key allows it */
	JWT_E_NO_KEY,          /* kid names no key */
	JWT_E_SIGNATURE,
	JWT_E_EXPIRED,
	JWT_E_NOT_YET_VALID,
	JWT_E_CLAIMS,          /* a claim of the wrong type; see jwt_claims.why */
	JWT_E_MISSING_MODE,
	JWT_E_MODE,
	JWT_E_NO_CHANNELS,
	JWT_E_CRIT,            /* the header has "crit": no extension is known */
	JWT_E_COUNT
};

/* Returns the static, user-facing text for error e ("Token expired"...). */
const char *jwt_strerror(int e);

/* Returns the HTTP status for error e: 403 for JWT_E_NO_CHANNELS, else 401. */
int jwt_status(int e);

struct jwt_chan {
	const char *p;
	size_t n;
};

/*
 * What jwt_verify() found.  All pointers are slices of the caller's work
 * buffer (except a channel granted by jwt_grant(), which is the caller's).
 */
struct jwt_claims {
	const char *json;       /* the decoded payload, the claims object text */
	size_t json_len;
	int mode;               /* JWT_MODE_R | JWT_MODE_W */
	int has_exp;
	double exp;
	size_t nchan;           /* "channel" then "channels", deduplicated */
	struct jwt_chan chan[JWT_MAX_CHANNELS];
	const char *why;        /* static message for the last error, more
	                           specific than jwt_strerror() for JWT_E_CLAIMS */
};

/*
 * Verifies the compact token tok[0..n) against the keys in *ks at Unix
 * time now (exp is exclusive, nbf inclusive) and fills *c.  work[cap] is
 * caller-owned scratch that *c points into afterwards; 2 * n + 1024 bytes
 * is always enough.  Checks run in this order: length (n > max_len), shape,
 * header and alg, signature (constant time), then claims.  Returns JWT_OK
 * or a jwt_err code; c->why is set either way.
 */
int jwt_verify(const char *tok, size_t n, size_t max_len,
    const struct jwt_keyset *ks, double now, char *work, size_t cap,
    struct jwt_claims *c);

/*
 * Applies the channel rule of SPEC section 2 to *c in place.  asked NULL:
 * every allowed channel is granted.  Else asked[0..asked_len) (non-empty,
 * no NUL byte) is granted if the token allows no channel or allows that
 * one; c->chan[0] then borrows asked, which the caller keeps alive.
 * Returns JWT_OK, or JWT_E_NO_CHANNELS when nothing is granted.
 */
int jwt_grant(struct jwt_claims *c, const char *asked, size_t asked_len);

/*
 * Mints header.payload.signature into the caller's out[cap], with header
 * {"alg":...,"typ":"JWT"} plus "kid" when k has one, claims[0..n) (a JSON
 * object text the caller built) as payload, signed with k.  alg 0 takes
 * k->alg, or HS256 when that is 0 too.  Returns the token's length (out is
 * NUL-terminated), or -1 if it does not fit or alg is unknown or differs
 * from a set k->alg.
 */
long jwt_sign(const struct jwt_key *k, int alg, const char *claims,
    size_t n, char *out, size_t cap);

#endif
