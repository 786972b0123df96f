/*
 * SHA-1 (FIPS 180-4), used only for the RFC 6455 handshake, where the
 * Sec-WebSocket-Accept value is the SHA-1 of the client key and a fixed GUID.
 * SHA-1 is broken for collision resistance; do not use it for anything that
 * needs a secure hash.
 */
#ifndef PGWS_SHA1_H
#define PGWS_SHA1_H

#include <stddef.h>
#include <stdint.h>

#define SHA1_LEN 20

/*
 * Running state of one hash.  It is public so that callers can keep it on
 * the stack; its fields are private to sha1.c.
 */
struct sha1_ctx {
	uint32_t h[5];              /* chaining value */
	uint64_t len;               /* bytes hashed so far */
	unsigned char buf[64];      /* partial block, len % 64 bytes used */
};

/* Starts a new hash in the caller-owned c; returns nothing. */
void sha1_init(struct sha1_ctx *c);

/*
 * Adds n bytes from data (caller-owned, only read during the call; may be
 * NULL when n is 0) to the hash in c; returns nothing.
 */
void sha1_update(struct sha1_ctx *c, const void *data, size_t n);

/*
 * Writes the 20-byte digest into the caller's out and wipes c, which must be
 * passed to sha1_init again before reuse; returns nothing.
 */
void sha1_final(struct sha1_ctx *c, unsigned char out[SHA1_LEN]);

/* Hashes n bytes of caller-owned data in one call into out; returns nothing. */
void sha1(const void *data, size_t n, unsigned char out[SHA1_LEN]);

#endif
