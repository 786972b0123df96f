/*
 * libFuzzer target for ws_utf8.  Input: byte 0 picks a cut point, the rest
 * is the text.  The validator's verdict is compared with a reference that
 * decodes code points the slow, obvious way, and the state after feeding
 * the text whole, cut in two, and one byte at a time must be the same.
 */
#include <stdlib.h>

#include "../ws.c"
#include "../sha1.c"
#include "../base64.c"

enum { REF_OK, REF_BAD, REF_MORE };

/*
 * Reference: REF_OK for complete valid UTF-8, REF_MORE when the text ends
 * inside a sequence that some continuation bytes could still complete into
 * a valid scalar value, REF_BAD otherwise.
 */
static int
ref(const unsigned char *p, size_t n)
{
	size_t i = 0, k, need;
	uint32_t cp, min, lo, hi;

	while (i < n) {
		if (p[i] < 0x80) {
			i++;
			continue;
		}
		if ((p[i] & 0xe0) == 0xc0) {
			need = 1, cp = p[i] & 0x1f, min = 0x80;
		} else if ((p[i] & 0xf0) == 0xe0) {
			need = 2, cp = p[i] & 0x0f, min = 0x800;
		} else if ((p[i] & 0xf8) == 0xf0) {
			need = 3, cp = p[i] & 0x07, min = 0x10000;
		} else {
			return REF_BAD;
		}
		for (k = 1; k <= need; k++) {
			if (i + k == n) {
				/*
				 * Cut short: the missing 6-bit groups span an
				 * interval of values; it must meet the valid
				 * range and not lie wholly among surrogates.
				 */
				lo = cp << 6 * (need - k + 1);
				hi = lo | ((1u << 6 * (need - k + 1)) - 1);
				if (lo < min)
					lo = min;
				if (hi > 0x10ffff)
					hi = 0x10ffff;
				if (lo > hi || (lo >= 0xd800 && hi <= 0xdfff))
					return REF_BAD;
				return REF_MORE;
			}
			if ((p[i + k] & 0xc0) != 0x80)
				return REF_BAD;
			cp = cp << 6 | (p[i + k] & 0x3f);
		}
		if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
			return REF_BAD;
		i += need + 1;
	}
	return REF_OK;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	unsigned char *x, *y;
	uint32_t whole, st;
	size_t n, cut, i;
	int r;

	if (size < 1)
		return 0;
	n = size - 1;
	cut = n * data[0] / 255;
	data++;

	x = malloc(n ? n : 1);
	if (!x)
		abort();
	if (n)
		memcpy(x, data, n);
	whole = ws_utf8(WS_UTF8_OK, x, n);
	r = ref(x, n);
	if (r == REF_OK ? whole != WS_UTF8_OK : r == REF_BAD ?
	    whole != WS_UTF8_BAD : whole == WS_UTF8_OK || whole == WS_UTF8_BAD)
		abort();

	st = WS_UTF8_OK;
	for (i = 0; i < n; i++)
		st = ws_utf8(st, x + i, 1);
	if (st != whole)
		abort();
	free(x);

	/* Two separate allocations, so an over-read of either is caught. */
	x = malloc(cut ? cut : 1);
	y = malloc(n - cut ? n - cut : 1);
	if (!x || !y)
		abort();
	if (cut)
		memcpy(x, data, cut);
	if (n - cut)
		memcpy(y, data + cut, n - cut);
	st = ws_utf8(WS_UTF8_OK, x, cut);
	if (st == WS_UTF8_BAD && whole != WS_UTF8_BAD)
		abort();
	st = ws_utf8(st, y, n - cut);
	if (st != whole)
		abort();
	free(x);
	free(y);
	return 0;
}
