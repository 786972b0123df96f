/*
 * libFuzzer target for SHA-1.  The first two bytes pick two split points;
 * hashing the rest in one call, in three pieces, and byte by byte must give
 * the same digest, and it must match BearSSL's SHA-1.
 */
#include <bearssl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../sha1.c"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	unsigned char one[20], split[20], bytes[20], ref[20];
	struct sha1_ctx c;
	br_sha1_context bc;
	size_t n, i, j, k;

	if (size < 2)
		return 0;
	n = size - 2;
	i = n ? data[0] % (n + 1) : 0;
	j = n ? data[1] % (n + 1) : 0;
	if (i > j) {
		k = i;
		i = j;
		j = k;
	}
	data += 2;

	sha1(data, n, one);

	sha1_init(&c);
	sha1_update(&c, data, i);
	sha1_update(&c, data + i, j - i);
	sha1_update(&c, data + j, n - j);
	sha1_final(&c, split);

	sha1_init(&c);
	for (k = 0; k < n; k++)
		sha1_update(&c, data + k, 1);
	sha1_final(&c, bytes);

	br_sha1_init(&bc);
	br_sha1_update(&bc, data, n);
	br_sha1_out(&bc, ref);

	if (memcmp(one, split, 20) || memcmp(one, bytes, 20) ||
	    memcmp(one, ref, 20))
		abort();
	return 0;
}
