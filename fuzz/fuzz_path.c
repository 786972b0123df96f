/*
 * libFuzzer target for http_path_resolve (and the other target helpers:
 * http_path_dotted is checked against the decoded path split on '/').
 * The resolver decodes and normalises in one pass; here a plain
 * decode-everything-then-split reference computes what it should give, and
 * the output is checked for the safety properties the static file server
 * depends on.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../http.c"

#define BIG 8192

/*
 * Reference: returns the expected length of the resolved path of t[0..n)
 * written to ref, or -1.  Deliberately simple and slow.
 */
static long
reference(const char *t, size_t n, char *ref)
{
	static char dec[BIG];
	size_t pn = 0, i, s, w = 0;
	long d;

	while (pn < n && t[pn] != '?' && t[pn] != '#')
		pn++;
	if (pn == 0 || t[0] != '/')
		return -1;
	d = http_pct_decode(t, pn, dec, sizeof dec);
	if (d < 0)
		return -1;
	for (i = 0; i < (size_t)d; i++)
		if ((unsigned char)dec[i] < 0x20 || dec[i] == 0x7f ||
		    dec[i] == '\\')
			return -1;
	for (i = 1; i <= (size_t)d; i++) {
		s = i;
		while (i < (size_t)d && dec[i] != '/')
			i++;
		if (i - s == 2 && dec[s] == '.' && dec[s + 1] == '.')
			return -1;
		if (i == s || (i - s == 1 && dec[s] == '.'))
			continue;
		memcpy(ref + w, dec + s, i - s);
		w += i - s;
		if (i < (size_t)d)
			ref[w++] = '/';
	}
	return (long)w;
}

/* Resolves into an exact-size heap buffer so ASan sees any over-write. */
static int
resolve_cap(const char *t, size_t n, size_t cap, char *copy)
{
	char *out = malloc(cap ? cap : 1);
	int rc;

	if (out == NULL)
		abort();
	rc = http_path_resolve(t, n, out, cap);
	if (cap > 0) {
		if (rc == 0)
			memcpy(copy, out, strlen(out) + 1);
		else if (out[0] != '\0')
			abort();
	}
	free(out);
	return rc;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char ref[BIG], out[BIG], out2[BIG];
	const char *t = (const char *)data;
	struct http_seg seg[16];
	long want;
	size_t len, i, s;
	int rc, ns;

	if (size > BIG / 2)
		return 0;
	want = reference(t, size, ref);
	rc = resolve_cap(t, size, BIG, out);
	if ((rc == 0) != (want >= 0))
		abort();
	if (rc == 0) {
		len = (size_t)want;
		if (memcmp(out, ref, len) != 0 || out[len] != '\0' ||
		    memchr(out, '\0', len) != NULL)
			abort();
		if (len > 0 && out[0] == '/')
			abort();
		for (i = 0; i < len; i++)
			if (out[i] == '\\' || (unsigned char)out[i] < 0x20 ||
			    out[i] == 0x7f)
				abort();
		/* No empty, "." or ".." segment anywhere. */
		for (i = 0; i < len; i++) {
			s = i;
			while (i < len && out[i] != '/')
				i++;
			if (i == s)
				abort();
			if (i - s == 1 && out[s] == '.')
				abort();
			if (i - s == 2 && out[s] == '.' && out[s + 1] == '.')
				abort();
		}
		/* Exactly len + 1 bytes are enough, len are not. */
		if (resolve_cap(t, size, len + 1, out2) != 0 ||
		    strcmp(out2, out) != 0)
			abort();
		if (resolve_cap(t, size, len, out2) != -1)
			abort();
	}

	/* The split slices lie inside the path, and rebuild it. */
	ns = http_target_split(t, size, seg, 16);
	if (ns >= 0) {
		s = 1;
		for (i = 0; i < (size_t)ns; i++) {
			if (seg[i].p != t + s || s + seg[i].n > size)
				abort();
			if (memchr(seg[i].p, '/', seg[i].n) ||
			    memchr(seg[i].p, '?', seg[i].n) ||
			    memchr(seg[i].p, '#', seg[i].n))
				abort();
			s += seg[i].n + 1;
		}
		if (ns > 0 && s - 1 < size && t[s - 1] != '?' &&
		    t[s - 1] != '#')
			abort();
	}

	/* Dot segments: any decoded segment starting with '.'. */
	{
		static char dec[BIG];
		size_t pn = 0;
		long d;
		int dot, want_dot = 0;

		while (pn < size && t[pn] != '?' && t[pn] != '#')
			pn++;
		dot = http_path_dotted(t, size);
		if (dot < -1 || dot > 1)
			abort();
		d = http_pct_decode(t, pn, dec, sizeof dec);
		if (d >= 0) {
			for (i = 0; i < (size_t)d; i++)
				if (dec[i] == '.' && (i == 0 || dec[i - 1] == '/'))
					want_dot = 1;
			if (dot != want_dot)
				abort();
		}
		/* The answer never depends on what follows the path. */
		if (pn < size && http_path_dotted(t, pn) != dot)
			abort();
	}

	http_mime(t, size);
	return 0;
}
