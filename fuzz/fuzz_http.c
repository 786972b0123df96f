/*
 * libFuzzer target for http_parse.  Beyond not crashing, it checks what
 * the event loop relies on: slices lie inside the consumed bytes, every
 * prefix agrees with the whole input (a stateless parser fed by a socket),
 * and the parsed fields obey the grammar the header promises.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../http.c"

static void
in_range(const char *p, size_t n, const char *lo, const char *hi)
{
	if (p < lo || p > hi || n > (size_t)(hi - p))
		abort();
}

static void
check_fields(const struct http_req *r, const char *b, int rc)
{
	const char *end = b + rc;
	char name[256], tok[256];
	const struct http_hdr *h;
	size_t k, j, e;

	in_range(r->method, r->method_len, b, end);
	in_range(r->target, r->target_len, b, end);
	if (r->method_len == 0 || r->target_len == 0)
		abort();
	if (r->minor != 0 && r->minor != 1)
		abort();
	if (r->nhdr > HTTP_MAX_HEADERS)
		abort();
	for (k = 0; k < r->method_len; k++)
		if (!is_tchar((unsigned char)r->method[k]))
			abort();
	for (k = 0; k < r->target_len; k++)
		if ((unsigned char)r->target[k] < 0x21 ||
		    (unsigned char)r->target[k] > 0x7e)
			abort();
	for (k = 0; k < r->nhdr; k++) {
		h = &r->hdr[k];
		in_range(h->name, h->name_len, b, end);
		in_range(h->value, h->value_len, b, end);
		if (h->name_len == 0)
			abort();
		for (j = 0; j < h->name_len; j++)
			if (!is_tchar((unsigned char)h->name[j]))
				abort();
		for (j = 0; j < h->value_len; j++) {
			unsigned char c = (unsigned char)h->value[j];
			if ((c < 0x20 && c != '\t') || c == 0x7f)
				abort();
		}
		if (h->value_len && (h->value[0] == ' ' ||
		    h->value[0] == '\t' || h->value[h->value_len - 1] == ' ' ||
		    h->value[h->value_len - 1] == '\t'))
			abort();
	}

	http_header_has_token(r, "connection", "upgrade");
	http_header_has_token(r, "Upgrade", "websocket");
	if (r->nhdr == 0)
		return;

	/*
	 * The first header must be found by its own name in any case, and
	 * its first comma-separated element must count as one of its tokens.
	 */
	h = &r->hdr[0];
	if (h->name_len >= sizeof name)
		return;
	for (j = 0; j < h->name_len; j++)
		name[j] = (char)(j & 1 ? lower((unsigned char)h->name[j]) :
		    h->name[j]);
	name[h->name_len] = '\0';
	if (http_header(r, name) != h)
		abort();
	for (e = 0; e < h->value_len && h->value[e] != ','; e++)
		;
	while (e > 0 && (h->value[e - 1] == ' ' || h->value[e - 1] == '\t'))
		e--;
	if (e >= sizeof tok)
		return;
	memcpy(tok, h->value, e);
	tok[e] = '\0';
	if (!http_header_has_token(r, name, tok))
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct http_req r, r2;
	int rc, prc, seen_err = 0;
	size_t k;

	rc = http_parse((const char *)data, size, &r);
	if (rc != -1 && rc != -2 && rc != -3 && rc <= 0)
		abort();
	if (rc > 0) {
		if ((size_t)rc > size)
			abort();
		check_fields(&r, (const char *)data, rc);
	}

	/*
	 * Every prefix (parsed in place: libFuzzer's exact-size buffer already
	 * catches over-reads of the whole input, and each prefix is an input
	 * of its own sooner or later): before a complete head, -2; for malformed input, -2
	 * until the error is visible and -1 from then on; for incomplete
	 * input, always -2.
	 */
	for (k = 0; k < size; k++) {
		prc = http_parse((const char *)data, k, &r2);
		if (rc > 0) {
			if (k < (size_t)rc && prc != -2)
				abort();
			if (k >= (size_t)rc && prc != rc)
				abort();
		} else if (rc == -2) {
			if (prc != -2)
				abort();
		} else {
			/* -3 (too many headers) is an error like -1. */
			if (prc != -2 && prc != rc)
				abort();
			if (seen_err && prc != rc)
				abort();
			if (prc == rc)
				seen_err = 1;
		}
	}
	return 0;
}
