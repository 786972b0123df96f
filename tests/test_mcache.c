/*
 * Tests for mcache.c: a freed block of a class comes back for the next
 * request of that class (the point of the file), classes stay apart,
 * blocks past MCACHE_MAX_BLOCK and frees past MCACHE_MAX_BYTES go to
 * free(), and drain empties it.  Run under ASan, so a block kept after
 * drain, freed twice or handed out too small fails here.
 */
#include "unit.h"
#include "../mcache.c"

int main(void)
{
	void *a, *b, *c, *d;
	size_t i, n;

	CHECK_EQ_INT(mcache_size(1), 64);
	CHECK_EQ_INT(mcache_size(64), 64);
	CHECK_EQ_INT(mcache_size(65), 128);
	CHECK_EQ_INT(mcache_size(MCACHE_MAX_BLOCK), MCACHE_MAX_BLOCK);
	CHECK_EQ_INT(mcache_size(MCACHE_MAX_BLOCK + 1), MCACHE_MAX_BLOCK + 1);

	/* Reuse within a class, whatever the size asked inside it. */
	a = mcache_alloc(100);
	CHECK(a != NULL);
	memset(a, 0xab, mcache_size(100));   /* the whole class is usable */
	mcache_free(a, 100);
	CHECK_EQ_INT(mcache_kept(), 128);
	b = mcache_alloc(120);
	CHECK(b == a);
	CHECK_EQ_INT(mcache_kept(), 0);
	/* Another class does not take it. */
	mcache_free(b, 120);
	c = mcache_alloc(200);
	CHECK(c != b);
	CHECK_EQ_INT(mcache_kept(), 128);
	mcache_free(c, 200);
	CHECK_EQ_INT(mcache_kept(), 128 + 256);
	/* Last in, first out within a class. */
	d = mcache_alloc(193);
	CHECK(d == c);
	mcache_free(d, 193);

	/* Beyond the largest class: never kept. */
	a = mcache_alloc(MCACHE_MAX_BLOCK + 1);
	CHECK(a != NULL);
	memset(a, 1, MCACHE_MAX_BLOCK + 1);
	mcache_free(a, MCACHE_MAX_BLOCK + 1);
	CHECK_EQ_INT(mcache_kept(), 128 + 256);

	/* The cap: fill to exactly MCACHE_MAX_BYTES, then one more is freed. */
	mcache_drain();
	CHECK_EQ_INT(mcache_kept(), 0);
	n = MCACHE_MAX_BYTES / MCACHE_MAX_BLOCK;
	{
		void **v = calloc(n + 1, sizeof *v);

		CHECK(v != NULL);
		for (i = 0; i <= n; i++)
			v[i] = mcache_alloc(MCACHE_MAX_BLOCK);
		for (i = 0; i <= n; i++)
			mcache_free(v[i], MCACHE_MAX_BLOCK);
		CHECK_EQ_INT(mcache_kept(), MCACHE_MAX_BYTES);
		/* The n kept come back; the n+1st was freed, so a new one. */
		for (i = 0; i <= n; i++)
			v[i] = mcache_alloc(MCACHE_MAX_BLOCK);
		CHECK_EQ_INT(mcache_kept(), 0);
		for (i = 0; i <= n; i++)
			mcache_free(v[i], MCACHE_MAX_BLOCK);
		free(v);
	}
	mcache_drain();
	CHECK_EQ_INT(mcache_kept(), 0);
	mcache_free(NULL, 10);
	CHECK_EQ_INT(mcache_kept(), 0);
	return unit_done();
}
