/*
 * SHA-1 as specified by FIPS 180-4, section 6.1.  The implementation is
 * byte-oriented so that it is independent of host endianness and alignment.
 */
#include <string.h>

#include "sha1.h"

static uint32_t
rol32(uint32_t x, unsigned n)
{
	return (x << n) | (x >> (32 - n));
}

static uint32_t
load_be32(const unsigned char *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	    (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

static void
store_be32(unsigned char *p, uint32_t v)
{
	p[0] = (unsigned char)(v >> 24);
	p[1] = (unsigned char)(v >> 16);
	p[2] = (unsigned char)(v >> 8);
	p[3] = (unsigned char)v;
}

/* Processes one 64-byte block into the chaining value h. */
static void
sha1_block(uint32_t h[5], const unsigned char *p)
{
	uint32_t w[16], a, b, c, d, e, f, k, t;
	int i;

	for (i = 0; i < 16; i++)
		w[i] = load_be32(p + 4 * i);
	a = h[0];
	b = h[1];
	c = h[2];
	d = h[3];
	e = h[4];
	for (i = 0; i < 80; i++) {
		/*
		 * The message schedule is kept as a 16-word ring rather than
		 * 80 words: W[t] only depends on W[t-3], W[t-8], W[t-14] and
		 * W[t-16], which all still sit in the ring.
		 */
		if (i >= 16) {
			t = w[(i + 13) & 15] ^ w[(i + 8) & 15] ^
			    w[(i + 2) & 15] ^ w[i & 15];
			w[i & 15] = rol32(t, 1);
		}
		if (i < 20) {
			f = (b & c) | (~b & d);
			k = 0x5a827999;
		} else if (i < 40) {
			f = b ^ c ^ d;
			k = 0x6ed9eba1;
		} else if (i < 60) {
			f = (b & c) | (b & d) | (c & d);
			k = 0x8f1bbcdc;
		} else {
			f = b ^ c ^ d;
			k = 0xca62c1d6;
		}
		t = rol32(a, 5) + f + e + k + w[i & 15];
		e = d;
		d = c;
		c = rol32(b, 30);
		b = a;
		a = t;
	}
	h[0] += a;
	h[1] += b;
	h[2] += c;
	h[3] += d;
	h[4] += e;
}

void
sha1_init(struct sha1_ctx *c)
{
	c->h[0] = 0x67452301;
	c->h[1] = 0xefcdab89;
	c->h[2] = 0x98badcfe;
	c->h[3] = 0x10325476;
	c->h[4] = 0xc3d2e1f0;
	c->len = 0;
}

void
sha1_update(struct sha1_ctx *c, const void *data, size_t n)
{
	const unsigned char *p = data;
	size_t used = (size_t)(c->len & 63), take;

	/* An empty update may come with a NULL pointer, which memcpy forbids. */
	if (n == 0)
		return;
	c->len += n;
	/* Top up a partial block first, so whole blocks are hashed in place. */
	if (used) {
		take = 64 - used;
		if (take > n)
			take = n;
		memcpy(c->buf + used, p, take);
		p += take;
		n -= take;
		if (used + take < 64)
			return;
		sha1_block(c->h, c->buf);
	}
	for (; n >= 64; p += 64, n -= 64)
		sha1_block(c->h, p);
	if (n)
		memcpy(c->buf, p, n);
}

void
sha1_final(struct sha1_ctx *c, unsigned char out[SHA1_LEN])
{
	size_t used = (size_t)(c->len & 63);
	uint64_t bits = c->len * 8;
	int i;

	/*
	 * Padding is a 1 bit, zeros up to 56 bytes mod 64, then the message
	 * length in bits as a 64-bit big-endian number.  When fewer than 9
	 * bytes remain in the block, the length goes into an extra block.
	 */
	c->buf[used++] = 0x80;
	if (used > 56) {
		memset(c->buf + used, 0, 64 - used);
		sha1_block(c->h, c->buf);
		used = 0;
	}
	memset(c->buf + used, 0, 56 - used);
	store_be32(c->buf + 56, (uint32_t)(bits >> 32));
	store_be32(c->buf + 60, (uint32_t)bits);
	sha1_block(c->h, c->buf);
	for (i = 0; i < 5; i++)
		store_be32(out + 4 * i, c->h[i]);
	memset(c, 0, sizeof(*c));
}

void
sha1(const void *data, size_t n, unsigned char out[SHA1_LEN])
{
	struct sha1_ctx c;

	sha1_init(&c);
	sha1_update(&c, data, n);
	sha1_final(&c, out);
}
