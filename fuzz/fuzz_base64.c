/*
 * libFuzzer target for base64.  The first byte picks the decode flags; the
 * rest is both decoder input and encoder input.  Every buffer is malloc'd
 * at its exact size so that ASan catches any overrun.  Invariants:
 *  - a successful decode is canonical: re-encoding gives back the input, and
 *    decoding into a buffer of exactly the result size gives the same bytes,
 *    while one byte less fails;
 *  - encoding then decoding returns the original bytes for every flag.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../base64.c"

static const int dec_flags[] = {
	B64_STD, B64_URL, B64_ANY,
	B64_STD | B64_PAD_FORBID, B64_URL | B64_PAD_FORBID,
	B64_ANY | B64_PAD_FORBID,
	B64_STD | B64_PAD_REQUIRE, B64_URL | B64_PAD_REQUIRE,
	B64_ANY | B64_PAD_REQUIRE,
	/* invalid combinations must simply fail */
	3, B64_PAD_FORBID | B64_PAD_REQUIRE, 16,
};

/* Is s[0..n) what base64_encode(out, r, ..., ef) writes? */
static int
same_as_encoding(const char *s, size_t n, const unsigned char *raw, size_t r,
    int ef)
{
	char *e = malloc(BASE64_ENC_LEN(r) + 1);
	size_t el;
	int same;

	if (!e)
		abort();
	el = base64_encode(raw, r, e, ef);
	if (e[el] != '\0')
		abort();
	same = el == n && memcmp(e, s, n) == 0;
	free(e);
	return same;
}

static void
check_decode(const char *s, size_t n, int flags)
{
	size_t cap = BASE64_DEC_MAX(n);
	unsigned char *out = malloc(cap ? cap : 1), *again;
	int alpha = flags & 3, pad = flags & 12, ok = 0;
	long r, r2;

	if (!out)
		abort();
	r = base64_decode(s, n, out, cap, flags);
	if (r < -1 || r > (long)cap)
		abort();
	if (r < 0) {
		free(out);
		return;
	}
	if (alpha == 3 || pad == 12 || (flags & ~15))
		abort();

	/* The input must be one of the encoder's spellings of the result. */
	if (alpha != B64_URL) {
		ok |= pad != B64_PAD_FORBID && same_as_encoding(s, n, out,
		    (size_t)r, B64_STD | B64_PAD_REQUIRE);
		ok |= pad != B64_PAD_REQUIRE && same_as_encoding(s, n, out,
		    (size_t)r, B64_STD | B64_PAD_FORBID);
	}
	if (alpha != B64_STD) {
		ok |= pad != B64_PAD_FORBID && same_as_encoding(s, n, out,
		    (size_t)r, B64_URL | B64_PAD_REQUIRE);
		ok |= pad != B64_PAD_REQUIRE && same_as_encoding(s, n, out,
		    (size_t)r, B64_URL | B64_PAD_FORBID);
	}
	if (!ok)
		abort();

	/* Exact room works; one byte less fails without writing past it. */
	again = malloc(r ? (size_t)r : 1);
	if (!again)
		abort();
	r2 = base64_decode(s, n, again, (size_t)r, flags);
	if (r2 != r || memcmp(again, out, (size_t)r) != 0)
		abort();
	if (r > 0 && base64_decode(s, n, again, (size_t)r - 1, flags) != -1)
		abort();
	free(again);
	free(out);
}

static void
check_encode(const unsigned char *raw, size_t n, int ef, int df)
{
	size_t el;
	char *e = malloc(BASE64_ENC_LEN(n) + 1);
	unsigned char *back = malloc(n ? n : 1);
	long r;

	if (!e || !back)
		abort();
	el = base64_encode(raw, n, e, ef);
	if (el > BASE64_ENC_LEN(n) || e[el] != '\0')
		abort();
	r = base64_decode(e, el, back, n, df);
	if (r != (long)n || memcmp(back, raw, n) != 0)
		abort();
	r = base64_decode(e, el, back, n, B64_ANY);
	if (r != (long)n || memcmp(back, raw, n) != 0)
		abort();
	free(back);
	free(e);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const int nf = (int)(sizeof(dec_flags) / sizeof(dec_flags[0]));
	const char *s;
	char *copy;
	size_t n;

	if (size == 0)
		return 0;
	n = size - 1;
	/* An exact-size copy, so a read past the end is caught. */
	copy = malloc(n ? n : 1);
	if (!copy)
		abort();
	memcpy(copy, data + 1, n);
	s = copy;

	check_decode(s, n, dec_flags[data[0] % nf]);
	check_encode((const unsigned char *)s, n, B64_STD,
	    B64_STD | B64_PAD_REQUIRE);
	check_encode((const unsigned char *)s, n, B64_URL,
	    B64_URL | B64_PAD_FORBID);
	check_encode((const unsigned char *)s, n, B64_STD | B64_PAD_FORBID,
	    B64_STD);
	check_encode((const unsigned char *)s, n, B64_URL | B64_PAD_REQUIRE,
	    B64_URL);
	free(copy);
	return 0;
}
