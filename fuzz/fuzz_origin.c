/*
 * libFuzzer target for the origin allowlist of http.c.  The input is an
 * allowlist, a NUL byte, and an Origin value.  http_origins_check() must
 * give 0, or -1 with a message; an accepted list must allow each of its
 * own entries (and their case-flipped spellings) and allow an origin
 * exactly when one of its entries, checked as a list of its own, does;
 * http_origin_allowed() must agree with a reference comparison of the
 * origin's parts.  Every input is an exact-size heap copy.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../http.c"

static char *
dup_n(const char *p, size_t n)
{
	char *c = malloc(n ? n : 1);

	if (!c)
		abort();
	if (n)
		memcpy(c, p, n);
	return c;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *d = (const char *)data, *z;
	char err[128], *list, *orig, *ent, *flip;
	size_t ln, on, i, s, e, k;
	int ok, any, allowed;

	z = memchr(d, '\0', size);
	ln = z ? (size_t)(z - d) : size;
	on = z ? size - ln - 1 : 0;
	list = dup_n(d, ln);
	orig = dup_n(z ? z + 1 : d, on);

	memset(err, 'x', sizeof err);
	ok = http_origins_check(list, ln, err, sizeof err);
	if (ok != 0 && ok != -1)
		abort();
	if (!memchr(err, '\0', sizeof err) || (ok == 0) != (err[0] == '\0'))
		abort();

	allowed = http_origin_allowed(list, ln, orig, on);
	if (allowed != 0 && allowed != 1)
		abort();
	if (ok == 0) {
		any = 0;
		i = 0;
		while (list_next(list, ln, &i, &s, &e)) {
			if (s == e)
				continue;
			ent = dup_n(list + s, e - s);
			/* An entry is allowed, in any letter case. */
			if (http_origin_allowed(list, ln, ent, e - s) != 1)
				abort();
			flip = dup_n(ent, e - s);
			for (k = 0; k < e - s; k++)
				if (is_alpha((unsigned char)flip[k]))
					flip[k] ^= 32;
			if (http_origin_allowed(list, ln, flip, e - s) != 1)
				abort();
			if (http_origins_check(ent, e - s, NULL, 0) != 0)
				abort();
			any |= http_origin_allowed(ent, e - s, orig, on);
			free(flip);
			free(ent);
		}
		if (any != allowed)
			abort();
	}
	/* Allowed means the origin parses and matches some entry's parts. */
	if (allowed) {
		struct origin a;
		if (origin_parse(orig, on, &a) != NULL)
			abort();
		if (memchr(orig, ',', on) || memchr(orig, ' ', on) ||
		    memchr(orig, '/', on) == NULL)
			abort();
	}
	free(list);
	free(orig);
	return 0;
}
