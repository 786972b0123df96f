/*
 * SHA-1: the FIPS 180 / RFC 3174 vectors, the RFC 6455 handshake example,
 * split updates against one-shot hashing, and a cross-check with BearSSL's
 * SHA-1 on every length around the block and padding boundaries.
 */
#include <bearssl.h>

#include "unit.h"
#include "../sha1.c"
#include "../base64.c"

static int
hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	return c - 'a' + 10;
}

/* Turns a 40-digit lower-case hex digest into 20 bytes. */
static void
unhex(const char *hex, unsigned char out[20])
{
	int i;

	for (i = 0; i < 20; i++)
		out[i] = (unsigned char)(hexval(hex[2 * i]) << 4 |
		    hexval(hex[2 * i + 1]));
}

/* Checks sha1(msg), with msg ending at an unreadable page, against hex. */
static void
check_hex(const void *msg, size_t n, const char *hex)
{
	unsigned char want[20], got[20];

	unhex(hex, want);
	sha1(unit_guard(msg, n, 0), n, got);
	CHECK_MEM(got, 20, want, 20);
}

static void
test_vectors(void)
{
	static const char m448[] =
	    "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
	static const char m896[] =
	    "abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmn"
	    "hijklmnoijklmnopjklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu";
	struct sha1_ctx c;
	unsigned char a[1000], got[20], want[20];
	int i;

	check_hex("", 0, "da39a3ee5e6b4b0d3255bfef95601890afd80709");
	check_hex("abc", 3, "a9993e364706816aba3e25717850c26c9cd0d89d");
	check_hex(m448, sizeof(m448) - 1,
	    "84983e441c3bd26ebaae4aa1f95129e5e54670f1");
	check_hex(m896, sizeof(m896) - 1,
	    "a49b2446a02c645bf419f995b67091253a04a259");

	/* One million 'a', fed in odd-sized pieces to cross many blocks. */
	memset(a, 'a', sizeof(a));
	sha1_init(&c);
	for (i = 0; i < 1000; i++) {
		sha1_update(&c, a, 999);
		sha1_update(&c, a, 1);
	}
	sha1_final(&c, got);
	unhex("34aa973cd4c4daa4f61eeb2bdbad27316534016f", want);
	CHECK_MEM(got, 20, want, 20);

	/* RFC 3174's fourth test: "01234567" repeated 80 times. */
	for (i = 0; i < 640; i++)
		a[i] = (unsigned char)"01234567"[i % 8];
	check_hex(a, 640, "dea356a2cddd90c7a7ecedc5ebb563934f460452");

	/* An empty update may pass NULL. */
	sha1_init(&c);
	sha1_update(&c, NULL, 0);
	sha1_update(&c, "abc", 3);
	sha1_update(&c, NULL, 0);
	sha1_final(&c, got);
	sha1("abc", 3, want);
	CHECK_MEM(got, 20, want, 20);
}

static void
test_rfc6455(void)
{
	static const char key[] = "dGhlIHNhbXBsZSBub25jZQ=="
	    "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
	unsigned char d[20];
	char b[BASE64_ENC_LEN(20) + 1];
	size_t n;

	sha1(key, sizeof(key) - 1, d);
	n = base64_encode(d, 20, b, B64_STD);
	CHECK_EQ_INT(n, 28);
	CHECK(strcmp(b, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=") == 0);
}

/* Every length 0..300 against BearSSL, whose SHA-1 we trust. */
static void
test_against_bearssl(void)
{
	unsigned char m[300], got[20], want[20];
	br_sha1_context bc;
	size_t n;

	for (n = 0; n < sizeof(m); n++)
		m[n] = (unsigned char)(n * 131 + 7);
	for (n = 0; n <= sizeof(m); n++) {
		br_sha1_init(&bc);
		br_sha1_update(&bc, m, n);
		br_sha1_out(&bc, want);
		sha1(unit_guard(m, n, 0), n, got);
		CHECK_MEM(got, 20, want, 20);
	}
}

/* Split at every point, in two and in three, and byte by byte. */
static void
test_splits(void)
{
	unsigned char m[150], one[20], got[20];
	struct sha1_ctx c;
	size_t i, j, n = sizeof(m);
	int bad2 = 0, bad3 = 0, bad1 = 0;

	for (i = 0; i < n; i++)
		m[i] = (unsigned char)(i * 7 + 1);
	sha1(m, n, one);
	for (i = 0; i <= n; i++) {
		sha1_init(&c);
		sha1_update(&c, m, i);
		sha1_update(&c, m + i, n - i);
		sha1_final(&c, got);
		bad2 += memcmp(got, one, 20) != 0;
		for (j = i; j <= n; j++) {
			sha1_init(&c);
			sha1_update(&c, m, i);
			sha1_update(&c, m + i, j - i);
			sha1_update(&c, m + j, n - j);
			sha1_final(&c, got);
			bad3 += memcmp(got, one, 20) != 0;
		}
	}
	sha1_init(&c);
	for (i = 0; i < n; i++)
		sha1_update(&c, m + i, 1);
	sha1_final(&c, got);
	bad1 += memcmp(got, one, 20) != 0;
	CHECK_EQ_INT(bad2, 0);
	CHECK_EQ_INT(bad3, 0);
	CHECK_EQ_INT(bad1, 0);
}

int
main(void)
{
	test_vectors();
	test_rfc6455();
	test_against_bearssl();
	test_splits();
	return unit_done();
}
