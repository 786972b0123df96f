/*
 * libFuzzer target for httpc.c's readers.  The input is parsed as a URL
 * (a NUL-terminated heap copy) and as the start of an HTTP answer (an
 * exact-size heap copy, so ASan sees any read past it).  A URL that is
 * accepted has its slices inside the input, a port in range and a path
 * starting with '/' (inside the input, or the parser's own "/" when the
 * URL has none); a status line gives the same result from every
 * prefix at least 13 bytes long, and -2 or the same refusal before.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../httpc.c"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1), *r = malloc(size ? size : 1);
	struct httpc_url u;

	if (!s || !r)
		abort();
	memcpy(s, data, size);
	s[size] = 0;
	if (httpc_url_parse(s, &u) == 0) {
		int inside = u.path >= s && u.path + u.path_len <= s + size;
		if (u.host < s || u.host + u.host_len > s + size || !u.host_len ||
		    u.port < 1 || u.port > 65535 || !u.path_len || u.path[0] != '/' ||
		    (!inside && u.path_len != 1))
			abort();
	}
	memcpy(r, data, size);
	int whole = httpc_status_line(r, size);
	for (size_t k = 0; k <= size && k < 16; k++) {
		int p = httpc_status_line(r, k);
		if (k >= 13 && p != whole)
			abort();
		if (k < 13 && p != -2 && p != whole)
			abort();
	}
	free(s);
	free(r);
	return 0;
}
