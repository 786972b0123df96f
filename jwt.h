/*
 * JSON Web Tokens (RFC 7519) in compact JWS form (RFC 7515): HS256/384/512
 * (HMAC), RS256/384/512 (RSASSA-PKCS1-v1_5), PS256/384/512 (RSASSA-PSS) and
 * ES256/384/512 (ECDSA on P-256, P-384, P-521), verified with BearSSL.
 * Verification is a pure function over the token's bytes that writes only
 * into a caller-owned work buffer; the result's strings are slices of that
 * buffer.  Keys are loaded once at start-up from PGWS_JWT_SECRET: raw
 * bytes, base64 text, a JWK or a JWK set of oct, RSA and EC public keys.
 */
#ifndef PGWS_JWT_H
#define PGWS_JWT_H

#include <stddef.h>

/* Algorithms, in families of three: the order of the names in jwt.c. */
enum {
	JWT_HS256 = 1, JWT_HS384, JWT_HS512,
	JWT_RS256, JWT_RS384, JWT_RS512,
	JWT_PS256, JWT_PS384, JWT_PS512,
	JWT_ES256, JWT_ES384, JWT_ES512,
	JWT_ALG_LAST = JWT_ES512
};
/* Key types: a key verifies only the algorithms of its own family. */
enum { JWT_KTY_OCT = 1, JWT_KTY_RSA, JWT_KTY_EC };
enum { JWT_MODE_R = 1, JWT_MODE_W = 2 };   /* rw is JWT_MODE_R | JWT_MODE_W */

#define JWT_MAX_KEYS 32
#define JWT_MAX_CHANNELS 256     /* default channels a token may carry */
#define JWT_MAX_CHANNELS_CAP 65536  /* the most a setting may allow */
#define JWT_RSA_MIN_BITS 2048    /* RFC 7518 section 3.3 */
#define JWT_RSA_MAX_BITS 4096    /* BearSSL's limit */
#define JWT_MAX_LEN 8192    /* default token length limit */

/*
 * One key.  alg 0 means the key may be used with any algorithm of its
 * family (kty), otherwise only with that one.  kid is not NUL-terminated.
 * k holds, for oct, the secret; for RSA, the modulus (k[0..n_len), no
 * leading zero) then the public exponent; for EC, the uncompressed point
 * 04 || X || Y on curve (a BR_EC_* id).
 */
struct jwt_key {
	int kty;
	int alg;
	int has_kid;
	char kid[128];
	size_t kid_len;
	unsigned char *k;
	size_t k_len;
	size_t n_len;
	int curve;
};

/*
 * max_chan is the most distinct channels a token may carry (its channel
 * and channels claims together); jwt_keys_load() sets JWT_MAX_CHANNELS,
 * and the caller may change it (1..JWT_MAX_CHANNELS_CAP) afterwards.
 */
struct jwt_keyset {
	size_t n;
	size_t max_chan;
	struct jwt_key key[JWT_MAX_KEYS];
};

/*
 * Fills *ks from secret[0..n), the value of PGWS_JWT_SECRET after @file
 * handling.  With base64 1, a value that does not start with '{' is first
 * decoded as postgres-websockets decodes it: surrounding ASCII whitespace
 * dropped, '-' '_' '.' read as '+' '/' '=', padding optional, both
 * alphabets allowed; the decoded bytes then go on as below.  Text that
 * starts (after whitespace) with '{' and is a JSON object with a "kty" or
 * a "keys" member is a JWK or a JWK set; any other text is a raw HMAC
 * secret.  Returns 0; 1 when the text starts with '{' but is not a JWK, so
 * it is used as a raw secret, with a warning in err; or -1 with a
 * one-line message (not naming the variable, naming the key) in the
 * caller's err[errcap] and *ks empty.  Key bytes are malloc'ed and owned
 * by *ks until jwt_keys_free().
 */
int jwt_keys_load(struct jwt_keyset *ks, const char *secret, size_t n,
    int base64, char *err, size_t errcap);

/* Returns the first HMAC (oct) key of *ks, which jwt_sign() can use, or NULL. */
const struct jwt_key *jwt_keys_hmac(const struct jwt_keyset *ks);

/*
 * Bytes of work buffer that jwt_verify() needs for tokens of up to max_len
 * bytes carrying up to max_chan channels.
 */
size_t jwt_work_size(size_t max_len, size_t max_chan);

/* Wipes and frees the key bytes owned by *ks and leaves it empty. */
void jwt_keys_free(struct jwt_keyset *ks);

enum jwt_err {
	JWT_OK = 0,
	JWT_E_TOO_LONG,        /* token longer than the limit, or work too small */
	JWT_E_MALFORMED,       /* not three base64url parts of JSON objects */
	JWT_E_ALG,             /* alg unknown, or no key may verify it */
	JWT_E_NO_KEY,          /* the key set is empty */
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
	int listed;             /* a channel or channels claim (not null) is
	                           there: only what it lists may be granted */
	size_t nchan;           /* "channel" then "channels", deduplicated */
	struct jwt_chan *chan;  /* nchan entries, in the work buffer */
	const char *why;        /* static message for the last error, more
	                           specific than jwt_strerror() for JWT_E_CLAIMS */
};

/*
 * Verifies the compact token tok[0..n) against the keys in *ks at Unix
 * time now (exp is exclusive, nbf inclusive) and fills *c.  work[cap] is
 * caller-owned scratch that *c points into afterwards;
 * jwt_work_size(n, ks->max_chan) bytes are always enough.  Checks run in
 * this order: length (n > max_len), shape, header and alg, signature
 * (HMAC compared in constant time), then claims.  The keys tried are
 * those whose kid equals the token's kid, or every key when none does;
 * of those, only keys of the alg's family (and curve) whose own alg, if
 * any, is the token's.  Returns JWT_OK or a jwt_err code; c->why is set
 * either way.
 */
int jwt_verify(const char *tok, size_t n, size_t max_len,
    const struct jwt_keyset *ks, double now, char *work, size_t cap,
    struct jwt_claims *c);

/*
 * Applies the channel rule of SPEC section 2 to *c in place.  asked NULL:
 * every allowed channel is granted.  Else asked[0..asked_len) (non-empty,
 * no NUL byte) is granted if the token lists no channel (c->listed 0) or
 * lists that one; an explicit empty channels array lists none and grants
 * nothing.  c->chan[0] may then borrow asked, which the caller keeps
 * alive.  Returns JWT_OK, or JWT_E_NO_CHANNELS when nothing is granted.
 */
int jwt_grant(struct jwt_claims *c, const char *asked, size_t asked_len);

/*
 * Mints header.payload.signature into the caller's out[cap], with header
 * {"alg":...,"typ":"JWT"} plus "kid" when k has one, claims[0..n) (a JSON
 * object text the caller built) as payload, signed with k.  alg 0 takes
 * k->alg, or HS256 when that is 0 too.  Returns the token's length (out is
 * NUL-terminated), or -1 if it does not fit, k is not an HMAC key, or alg
 * is not HS256/384/512 or differs from a set k->alg.
 */
long jwt_sign(const struct jwt_key *k, int alg, const char *claims,
    size_t n, char *out, size_t cap);

#endif
