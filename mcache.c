/*
 * Why this file exists: under a steady flow, musl's allocator (mallocng)
 * unmaps a group of small blocks as soon as its last block is freed and
 * maps a new one when the next burst comes.  The blocks that live while a
 * message is in flight rise and fall with every batch, so at 60,000
 * messages/s pgws made some 7,000 munmap calls a second, each a TLB
 * shootdown across the cores, and a page fault on the next touch: a third
 * of its CPU time went there (perf, bench ingest row).  Here the freed
 * blocks of those two kinds wait on a free list per size class, up to
 * MCACHE_MAX_BYTES in all, and the next message takes one back.
 *
 * Classes are multiples of 64 bytes up to MCACHE_MAX_BLOCK; larger blocks,
 * and freed blocks past the cap, go to free() as before.  Single-threaded,
 * like the loop that uses it.
 */
#include <stdlib.h>

#include "mcache.h"

#define GRAIN 64
#define NCLASS (MCACHE_MAX_BLOCK / GRAIN)

struct block {
	struct block *next;
};

static struct block *lists[NCLASS];
static size_t kept;

size_t
mcache_size(size_t n)
{
	if (n == 0 || n > MCACHE_MAX_BLOCK)
		return n;
	return (n + GRAIN - 1) / GRAIN * GRAIN;
}

void *
mcache_alloc(size_t n)
{
	size_t sz = mcache_size(n);
	struct block *b;

	if (n == 0 || n > MCACHE_MAX_BLOCK)
		return malloc(n);
	b = lists[sz / GRAIN - 1];
	if (!b)
		return malloc(sz);
	lists[sz / GRAIN - 1] = b->next;
	kept -= sz;
	return b;
}

void
mcache_free(void *p, size_t n)
{
	size_t sz = mcache_size(n);
	struct block *b = p;

	if (!p)
		return;
	if (n == 0 || n > MCACHE_MAX_BLOCK || kept + sz > MCACHE_MAX_BYTES) {
		free(p);
		return;
	}
	b->next = lists[sz / GRAIN - 1];
	lists[sz / GRAIN - 1] = b;
	kept += sz;
}

void
mcache_drain(void)
{
	size_t i;

	for (i = 0; i < NCLASS; i++) {
		while (lists[i]) {
			struct block *b = lists[i];

			lists[i] = b->next;
			free(b);
		}
	}
	kept = 0;
}

size_t
mcache_kept(void)
{
	return kept;
}
