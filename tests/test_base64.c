/*
 * Base64: RFC 4648 section 10 vectors in both alphabets, with and without
 * padding; every kind of rejection; random round trips; and an exhaustive
 * check that the decoder accepts exactly the canonical encodings.  Inputs
 * and outputs are placed against an unreadable page to catch overruns.
 */
#include "unit.h"
#include "../base64.c"

/* A guarded output buffer of n bytes (n <= 512), filled with junk. */
static unsigned char *
guard_out(size_t n, int slot)
{
	static unsigned char junk[512];

	memset(junk, 0xa5, sizeof(junk));
	return unit_guard(junk, n, slot);
}

/* Decodes s (ending at an unreadable page) into a buffer of cap bytes. */
static long
dec(const char *s, size_t cap, int flags, unsigned char *out)
{
	size_t n = strlen(s);
	const char *in = (const char *)unit_guard(s, n, 0);
	unsigned char *o = guard_out(cap, 1);
	long r;

	/*
	 * The output buffer also ends at the unreadable page, so a write
	 * past cap crashes.
	 */
	r = base64_decode(in, n, o, cap, flags);
	if (r > 0 && out)
		memcpy(out, o, (size_t)r);
	return r;
}

static void
check_dec(const char *s, int flags, const char *want)
{
	unsigned char out[64];
	size_t wn = strlen(want);

	CHECK_EQ_INT(dec(s, wn, flags, out), (long)wn);
	CHECK_MEM(out, wn, want, wn);
	/* One byte less room must fail rather than truncate. */
	if (wn)
		CHECK_EQ_INT(dec(s, wn - 1, flags, NULL), -1);
}

static void
check_enc(const char *in, size_t n, int flags, const char *want)
{
	char *o = (char *)guard_out(BASE64_ENC_LEN(n) + 1, 2);
	size_t r = base64_encode(unit_guard(in, n, 3), n, o, flags);

	CHECK_EQ_INT(r, strlen(want));
	CHECK(strcmp(o, want) == 0);
}

static void
test_rfc4648(void)
{
	static const char *v[][3] = {
		{ "", "", "" },
		{ "f", "Zg==", "Zg" },
		{ "fo", "Zm8=", "Zm8" },
		{ "foo", "Zm9v", "Zm9v" },
		{ "foob", "Zm9vYg==", "Zm9vYg" },
		{ "fooba", "Zm9vYmE=", "Zm9vYmE" },
		{ "foobar", "Zm9vYmFy", "Zm9vYmFy" },
	};
	size_t i;

	for (i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		const char *raw = v[i][0], *pad = v[i][1], *bare = v[i][2];
		size_t n = strlen(raw);

		check_enc(raw, n, B64_STD, pad);
		check_enc(raw, n, B64_URL, bare);
		check_enc(raw, n, B64_STD | B64_PAD_FORBID, bare);
		check_enc(raw, n, B64_URL | B64_PAD_REQUIRE, pad);

		check_dec(pad, B64_STD, raw);
		check_dec(bare, B64_STD, raw);
		check_dec(pad, B64_URL, raw);
		check_dec(bare, B64_URL, raw);
		check_dec(pad, B64_ANY, raw);
		check_dec(bare, B64_ANY, raw);
		check_dec(pad, B64_STD | B64_PAD_REQUIRE, raw);
		check_dec(bare, B64_URL | B64_PAD_FORBID, raw);
		if (strcmp(pad, bare) != 0) {
			CHECK_EQ_INT(dec(pad, 8, B64_URL | B64_PAD_FORBID,
			    NULL), -1);
			CHECK_EQ_INT(dec(bare, 8, B64_STD | B64_PAD_REQUIRE,
			    NULL), -1);
		}
	}
}

/* The two characters where the alphabets differ, at every position. */
static void
test_alphabets(void)
{
	static const char b1[] = "\xfb\xef\xbe";
	static const char b2[] = "\xff\xff\xff";
	static const char b3[] = "\xfb\xff";

	check_enc(b1, 3, B64_STD, "++++");
	check_enc(b1, 3, B64_URL, "----");
	check_enc(b2, 3, B64_STD, "////");
	check_enc(b2, 3, B64_URL, "____");
	check_enc(b3, 2, B64_STD, "+/8=");
	check_enc(b3, 2, B64_URL, "-_8");

	check_dec("++++", B64_STD, b1);
	check_dec("----", B64_URL, b1);
	check_dec("////", B64_ANY, b2);
	check_dec("____", B64_ANY, b2);
	check_dec("+/8=", B64_STD, b3);
	check_dec("-_8", B64_URL, b3);
	check_dec("-_8=", B64_URL, b3);
	check_dec("+/8", B64_ANY, b3);
	check_dec("-_8=", B64_ANY, b3);

	CHECK_EQ_INT(dec("++++", 3, B64_URL, NULL), -1);
	CHECK_EQ_INT(dec("____", 3, B64_STD, NULL), -1);
	CHECK_EQ_INT(dec("+/8=", 2, B64_URL, NULL), -1);
	CHECK_EQ_INT(dec("-_8", 2, B64_STD, NULL), -1);
	/* B64_ANY takes one alphabet per input, never a mix. */
	CHECK_EQ_INT(dec("+_8=", 2, B64_ANY, NULL), -1);
	CHECK_EQ_INT(dec("-/8", 2, B64_ANY, NULL), -1);
	CHECK_EQ_INT(dec("AAAA+AA-", 6, B64_ANY, NULL), -1);
	CHECK_EQ_INT(dec("AAAA_AA/", 6, B64_ANY, NULL), -1);
}

static void
test_reject(void)
{
	static const char *bad[] = {
		/* characters outside both alphabets, whitespace included */
		"Zm9v ", " Zm9v", "Zm 9v", "Zm9v\n", "Zm9v\r\n", "Zm\t9v",
		"Zm9.", "Zm9*", "Zm9\x80", "Zm9\xff", "Zm9~", "Zm9@",
		/* a single leftover character */
		"Z", "Zm9vY", "Zm9vY=", "Zm9vY==", "Zm9vY===",
		/* bad or misplaced padding */
		"=", "==", "===", "====", "Z===", "Zg=", "Zg===", "Zm8==",
		"Zm9v=", "Zm9v==", "Zm9v====", "Zg==Zg==", "Z=g=", "Zm=v",
		"=Zm9v", "Zm9vYg=", "Zm9vYg===", "Zm9vYmE==", "Zm8=Zm8=",
		/* non-zero bits after the last byte */
		"Zh==", "Zh", "Zv==", "Zm9=", "Zm9", "Zm+", "Zm/=", "AB", "AAB",
		"Zm9vYh==", "Zm9vYmF=", "Zm9vYmF",
	};
	int flags[] = { B64_STD, B64_URL, B64_ANY, B64_STD | B64_PAD_REQUIRE,
	    B64_URL | B64_PAD_FORBID, B64_ANY | B64_PAD_REQUIRE,
	    B64_ANY | B64_PAD_FORBID };
	size_t i, f;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		for (f = 0; f < sizeof(flags) / sizeof(flags[0]); f++)
			CHECK_EQ_INT(dec(bad[i], 16, flags[f], NULL), -1);

	/* A NUL byte is just another invalid character. */
	CHECK_EQ_INT(base64_decode("Zm\0v", 4, (unsigned char[3]){0}, 3,
	    B64_STD), -1);
	CHECK_EQ_INT(base64_decode("Zg\0=", 4, (unsigned char[3]){0}, 3,
	    B64_STD), -1);

	/* Padding flags. */
	CHECK_EQ_INT(dec("Zg==", 1, B64_STD | B64_PAD_FORBID, NULL), -1);
	CHECK_EQ_INT(dec("Zm8=", 2, B64_STD | B64_PAD_FORBID, NULL), -1);
	CHECK_EQ_INT(dec("Zg", 1, B64_STD | B64_PAD_REQUIRE, NULL), -1);
	CHECK_EQ_INT(dec("Zm8", 2, B64_STD | B64_PAD_REQUIRE, NULL), -1);
	CHECK_EQ_INT(dec("Zm9vYg", 4, B64_ANY | B64_PAD_REQUIRE, NULL), -1);

	/* Invalid flag combinations. */
	CHECK_EQ_INT(dec("Zm9v", 3, 3, NULL), -1);
	CHECK_EQ_INT(dec("Zm9v", 3, B64_PAD_FORBID | B64_PAD_REQUIRE, NULL),
	    -1);
	CHECK_EQ_INT(dec("Zm9v", 3, 16, NULL), -1);
	CHECK_EQ_INT(dec("Zm9v", 3, -1, NULL), -1);

	/* Output room, including none at all. */
	CHECK_EQ_INT(dec("Zm9v", 0, B64_STD, NULL), -1);
	CHECK_EQ_INT(dec("Zm9v", 2, B64_STD, NULL), -1);
	CHECK_EQ_INT(dec("Zm9vYg", 3, B64_STD, NULL), -1);
	CHECK_EQ_INT(dec("Zm9vYg", 4, B64_STD, NULL), 4);
	CHECK_EQ_INT(dec("Zm9vYg", 100, B64_STD, NULL), 4);
	CHECK_EQ_INT(dec("", 0, B64_STD | B64_PAD_REQUIRE, NULL), 0);
	CHECK_EQ_INT(dec("", 0, B64_URL | B64_PAD_FORBID, NULL), 0);
	CHECK_EQ_INT(base64_decode(NULL, 0, NULL, 0, B64_ANY), 0);
}

/* A small deterministic generator, so failures are reproducible. */
static unsigned long rng_state = 88172645463325252UL;

static unsigned
rng(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return (unsigned)(rng_state >> 11);
}

static void
test_roundtrip(void)
{
	static const int ef[] = { B64_STD, B64_URL, B64_STD | B64_PAD_FORBID,
	    B64_URL | B64_PAD_REQUIRE };
	unsigned char raw[300], *back;
	char *txt;
	size_t n, i, e, tl, want_len;
	long r;
	int bad = 0, padded;

	for (i = 0; i < 2000; i++) {
		n = i < 301 ? i : rng() % 301;
		for (e = 0; e < n; e++)
			raw[e] = (unsigned char)rng();
		for (e = 0; e < 4; e++) {
			padded = ef[e] == B64_STD || (ef[e] & B64_PAD_REQUIRE);
			txt = (char *)guard_out(BASE64_ENC_LEN(n) + 1, 2);
			tl = base64_encode(unit_guard(raw, n, 3), n, txt, ef[e]);
			want_len = padded ? BASE64_ENC_LEN(n) :
			    (n * 4 + 2) / 3;
			bad += tl != want_len || txt[tl] != '\0';
			bad += tl > 0 && memchr(txt, '=', tl) != NULL &&
			    !padded;
			back = guard_out(n, 1);
			r = base64_decode(txt, tl, back, n,
			    (ef[e] & 3) | (padded ? B64_PAD_REQUIRE :
			    B64_PAD_FORBID));
			bad += r != (long)n || memcmp(back, raw, n) != 0;
			r = base64_decode(txt, tl, back, n, B64_ANY);
			bad += r != (long)n || memcmp(back, raw, n) != 0;
			bad += BASE64_DEC_MAX(tl) < n;
		}
	}
	CHECK_EQ_INT(bad, 0);
}

/*
 * Every string of up to five characters over a set that covers both
 * alphabets, padding and junk: a decode succeeds exactly when the input is
 * what the encoder would have written for that result.  Together with the
 * round trips this means the decoder accepts the canonical encodings and
 * nothing else.
 */
static void
test_exhaustive(void)
{
	static const char set[] = "AQgw+/-_= \0";
	static const int df[] = { B64_STD, B64_URL, B64_ANY,
	    B64_STD | B64_PAD_REQUIRE, B64_URL | B64_PAD_FORBID,
	    B64_ANY | B64_PAD_REQUIRE, B64_ANY | B64_PAD_FORBID };
	const size_t k = sizeof(set) - 1;
	char s[5], e1[16], e2[16];
	unsigned char out[8];
	size_t len, idx, total, j, f, t;
	long r;
	int bad = 0, ok, flags, accepted = 0;

	for (len = 0; len <= 5; len++) {
		for (total = 1, j = 0; j < len; j++)
			total *= k;
		for (idx = 0; idx < total; idx++) {
			for (t = idx, j = 0; j < len; j++, t /= k)
				s[j] = set[t % k];
			for (f = 0; f < sizeof(df) / sizeof(df[0]); f++) {
				flags = df[f];
				r = base64_decode(s, len, out, sizeof(out),
				    flags);
				if (r < 0)
					continue;
				accepted++;
				/* Which spellings of out may the input be? */
				ok = 0;
				if ((flags & 3) != B64_URL) {
					base64_encode(out, (size_t)r, e1,
					    B64_STD);
					base64_encode(out, (size_t)r, e2,
					    B64_STD | B64_PAD_FORBID);
					ok |= (!(flags & B64_PAD_FORBID) &&
					    strlen(e1) == len &&
					    memcmp(e1, s, len) == 0) ||
					    (!(flags & B64_PAD_REQUIRE) &&
					    strlen(e2) == len &&
					    memcmp(e2, s, len) == 0);
				}
				if ((flags & 3) != B64_STD) {
					base64_encode(out, (size_t)r, e1,
					    B64_URL | B64_PAD_REQUIRE);
					base64_encode(out, (size_t)r, e2,
					    B64_URL);
					ok |= (!(flags & B64_PAD_FORBID) &&
					    strlen(e1) == len &&
					    memcmp(e1, s, len) == 0) ||
					    (!(flags & B64_PAD_REQUIRE) &&
					    strlen(e2) == len &&
					    memcmp(e2, s, len) == 0);
				}
				bad += !ok;
				if (!ok)
					fprintf(stderr, "accepted %.*s "
					    "flags %d\n", (int)len, s, flags);
			}
		}
	}
	CHECK_EQ_INT(bad, 0);
	CHECK(accepted > 1000);
}

int
main(void)
{
	test_rfc4648();
	test_alphabets();
	test_reject();
	test_roundtrip();
	test_exhaustive();
	return unit_done();
}
