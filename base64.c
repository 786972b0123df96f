/*
 * Base64 per RFC 4648.  The decoder is strict on purpose: JWT signatures and
 * secrets are compared as bytes, so accepting several spellings of the same
 * bytes (stray padding, non-zero trailing bits, whitespace) would only make
 * room for confusion.
 */
#include <limits.h>
#include <stdint.h>

#include "base64.h"

static const char b64_std[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
static const char b64_url[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

size_t
base64_encode(const unsigned char *in, size_t n, char *out, int flags)
{
	int url = (flags & 3) == B64_URL;
	const char *tab = url ? b64_url : b64_std;
	int pad = !url;
	size_t i, o = 0;
	uint32_t v;

	if (flags & B64_PAD_REQUIRE)
		pad = 1;
	if (flags & B64_PAD_FORBID)
		pad = 0;
	for (i = 0; i + 3 <= n; i += 3) {
		v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
		out[o++] = tab[v >> 18];
		out[o++] = tab[(v >> 12) & 63];
		out[o++] = tab[(v >> 6) & 63];
		out[o++] = tab[v & 63];
	}
	/* One leftover byte makes two characters, two make three. */
	if (n - i == 1) {
		v = (uint32_t)in[i] << 16;
		out[o++] = tab[v >> 18];
		out[o++] = tab[(v >> 12) & 63];
		if (pad) {
			out[o++] = '=';
			out[o++] = '=';
		}
	} else if (n - i == 2) {
		v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8;
		out[o++] = tab[v >> 18];
		out[o++] = tab[(v >> 12) & 63];
		out[o++] = tab[(v >> 6) & 63];
		if (pad)
			out[o++] = '=';
	}
	out[o] = '\0';
	return o;
}

/*
 * Maps one character to its 6-bit value, or -1.  *alpha is B64_STD,
 * B64_URL or B64_ANY; the first character specific to one alphabet turns
 * B64_ANY into that alphabet, so that mixed input is rejected.
 */
static int
b64_val(unsigned char c, int *alpha)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+' || c == '/') {
		if (*alpha == B64_URL)
			return -1;
		*alpha = B64_STD;
		return c == '+' ? 62 : 63;
	}
	if (c == '-' || c == '_') {
		if (*alpha == B64_STD)
			return -1;
		*alpha = B64_URL;
		return c == '-' ? 62 : 63;
	}
	return -1;
}

long
base64_decode(const char *in, size_t n, unsigned char *out, size_t cap,
    int flags)
{
	const unsigned char *p = (const unsigned char *)in;
	int alpha = flags & 3;
	int pad = flags & (B64_PAD_FORBID | B64_PAD_REQUIRE);
	size_t npad = 0, data, rem, len, i, o = 0;
	uint32_t v;
	int d[4], k;

	if (alpha == 3 || pad == (B64_PAD_FORBID | B64_PAD_REQUIRE) ||
	    (flags & ~15))
		return -1;

	/*
	 * Padding is only legal at the very end.  Count the trailing '='
	 * (three is enough to know it is too many); an '=' anywhere else
	 * fails below as an invalid character.
	 */
	while (npad < n && npad < 3 && p[n - 1 - npad] == '=')
		npad++;
	data = n - npad;
	rem = data % 4;
	if (rem == 1)
		return -1;
	if (npad) {
		/* Two data characters take "==", three take "=". */
		if (pad == B64_PAD_FORBID || rem + npad != 4)
			return -1;
	} else if (pad == B64_PAD_REQUIRE && rem) {
		return -1;
	}
	len = data / 4 * 3 + (rem ? rem - 1 : 0);
	/* The result must fit the return type as well as the buffer. */
	if (len > cap || len > (size_t)LONG_MAX)
		return -1;

	for (i = 0; i + 4 <= data; i += 4) {
		for (k = 0; k < 4; k++)
			if ((d[k] = b64_val(p[i + k], &alpha)) < 0)
				return -1;
		v = (uint32_t)d[0] << 18 | (uint32_t)d[1] << 12 |
		    (uint32_t)d[2] << 6 | (uint32_t)d[3];
		out[o++] = (unsigned char)(v >> 16);
		out[o++] = (unsigned char)(v >> 8);
		out[o++] = (unsigned char)v;
	}
	if (rem) {
		v = 0;
		for (k = 0; k < (int)rem; k++) {
			if ((d[k] = b64_val(p[i + k], &alpha)) < 0)
				return -1;
			v |= (uint32_t)d[k] << (18 - 6 * k);
		}
		/*
		 * The bits below the last whole byte must be zero; otherwise
		 * several strings would decode to the same bytes.
		 */
		if (rem == 2 && (v & 0xffff) != 0)
			return -1;
		if (rem == 3 && (v & 0xff) != 0)
			return -1;
		out[o++] = (unsigned char)(v >> 16);
		if (rem == 3)
			out[o++] = (unsigned char)(v >> 8);
	}
	return (long)o;
}
