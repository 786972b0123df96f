/*
 * libFuzzer target for x509name: any bytes as a certificate.  The input is
 * copied to a buffer of its exact size so that ASan catches any over-read.
 * Invariants: a failed parse leaves nothing set; after a successful one,
 * every name handed out lies inside the input, the walk over the
 * subjectAltName ends, and it gives the same entries a second time.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../x509name.c"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	unsigned char *d = malloc(size ? size : 1);
	struct x509name x;
	const unsigned char *v;
	size_t n, pos = 0, count = 0, again = 0;
	int tag;

	if (!d)
		return 0;
	memcpy(d, data, size);
	if (x509name_parse(d, size, &x) < 0) {
		if (x.san || x.cn)
			abort();
		free(d);
		return 0;
	}
	if (x.cn && (x.cn < d || x.cn_len > size || x.cn + x.cn_len > d + size))
		abort();
	while (x509name_next(&x, &pos, &tag, &v, &n)) {
		if (v < d || n > size || v + n > d + size || ++count > size)
			abort();
	}
	pos = 0;
	while (x509name_next(&x, &pos, &tag, &v, &n))
		again++;
	if (again != count)
		abort();
	free(d);
	return 0;
}
