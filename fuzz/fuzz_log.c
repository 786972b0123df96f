/*
 * libFuzzer target for the log text of http.c: http_log_escape() and
 * http_log_target().  The first input byte picks the room (cap), the rest
 * is the text.  Checked: the result is NUL-terminated at the returned
 * length, below cap, printable ASCII without '"'; a cut result is a prefix
 * of the whole one, never cut inside an escape, ending in "..."; the escape of
 * text is undone exactly by a reference unescaper; and no JWT the simple
 * way (a maximal run of base64url and '.', three non-empty parts, the first
 * starting "eyJ" and HTTP_LOG_HDR_MIN long) is left anywhere in the
 * redacted text.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../http.c"

static int
b64c(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
	    (c >= '0' && c <= '9') || c == '-' || c == '_';
}

static void
check_out(const char *o, size_t r, size_t cap)
{
	size_t k;

	if (cap == 0) {
		if (r != 0)
			abort();
		return;
	}
	if (r >= cap || o[r] != '\0' || strlen(o) != r)
		abort();
	for (k = 0; k < r; k++)
		if ((unsigned char)o[k] < 0x20 || (unsigned char)o[k] > 0x7e ||
		    o[k] == '"')
			abort();
}

/* Whether h[0..hn) contains the non-empty n[0..nn). */
static int
has(const char *h, size_t hn, const char *n, size_t nn)
{
	size_t k;

	for (k = 0; k + nn <= hn; k++)
		if (memcmp(h + k, n, nn) == 0)
			return 1;
	return 0;
}

/* Undoes http_log_escape(): \xHH back to a byte, nothing else escaped. */
static size_t
unescape(const char *o, size_t r, char *out)
{
	size_t k, w = 0;

	for (k = 0; k < r; k++) {
		if (o[k] != '\\') {
			out[w++] = o[k];
			continue;
		}
		if (k + 3 >= r)
			abort();
		if (o[k + 1] != 'x' || hexval((unsigned char)o[k + 2]) < 0 ||
		    hexval((unsigned char)o[k + 3]) < 0)
			abort();
		out[w++] = (char)(hexval((unsigned char)o[k + 2]) << 4 |
		    hexval((unsigned char)o[k + 3]));
		k += 3;
	}
	return w;
}

/* Whole result, then cut results for a few smaller caps. */
static void
check_mode(int redact, const char *t, size_t n, size_t cap0)
{
	size_t big = 8 * n + 16, r, rc, cap, plen, step;
	char *whole = malloc(big), *cut, *plain;

	if (!whole)
		abort();
	r = redact ? http_log_target(t, n, whole, big) :
	    http_log_escape(t, n, whole, big);
	check_out(whole, r, big);
	if (!redact) {
		plain = malloc(r + 1);
		if (!plain)
			abort();
		plen = unescape(whole, r, plain);
		if (plen != n || (n && memcmp(plain, t, n) != 0))
			abort();
		free(plain);
	}
	/* About 16 rooms from cap0 up to the whole, then the whole exactly. */
	step = (r + 1) / 16 > cap0 + 1 ? (r + 1) / 16 : cap0 + 1;
	for (cap = cap0; cap <= r + 1; cap = cap == r + 1 ? r + 2 :
	    cap + step > r + 1 ? r + 1 : cap + step) {
		cut = malloc(cap ? cap : 1);
		if (!cut)
			abort();
		rc = redact ? http_log_target(t, n, cut, cap) :
		    http_log_escape(t, n, cut, cap);
		check_out(cut, rc, cap);
		if (cap == r + 1) {
			if (rc != r || memcmp(cut, whole, r) != 0)
				abort();
		} else if (cap >= 4) {
			/* A prefix of the whole, then "...". */
			if (rc < 3 || memcmp(cut + rc - 3, "...", 3) != 0 ||
			    memcmp(cut, whole, rc - 3) != 0)
				abort();
			/* Not cut inside an escape. */
			plen = rc - 3;
			if ((plen >= 1 && whole[plen - 1] == '\\') ||
			    (plen >= 2 && whole[plen - 2] == '\\') ||
			    (plen >= 3 && whole[plen - 3] == '\\'))
				abort();
		} else if (rc != 0)
			abort();
		free(cut);
	}

	if (redact) {
		/* No simple JWT run of the input survives in the output. */
		size_t i = 0, s, k, dots, part, bad;
		while (i < n) {
			if (!b64c((unsigned char)t[i]) && t[i] != '.') {
				i++;
				continue;
			}
			s = i;
			while (i < n && (b64c((unsigned char)t[i]) || t[i] == '.'))
				i++;
			dots = part = bad = 0;
			for (k = s; k < i; k++) {
				if (t[k] == '.') {
					if (!part)
						bad = 1;
					dots++;
					part = 0;
				} else
					part++;
			}
			if (bad || (dots != 1 && dots != 2) || !part ||
			    memcmp(t + s, "eyJ", 3) != 0)
				continue;
			for (k = s; t[k] != '.'; k++)
				;
			if (k - s < HTTP_LOG_HDR_MIN)
				continue;
			if (has(whole, r, t + s, i - s))
				abort();
		}
	}
	free(whole);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *t;
	size_t n;

	if (size == 0)
		return 0;
	n = size - 1;
	t = malloc(n ? n : 1);
	if (!t)
		abort();
	memcpy(t, data + 1, n);
	check_mode(0, t, n, data[0] % 64);
	check_mode(1, t, n, data[0] % 64);
	free(t);
	return 0;
}
