/*
 * mcache: a free list per size class for the blocks that live while a
 * message is in flight (a framed message waiting in readers' queues, a
 * payload waiting for its batch to commit).  See mcache.c for why.
 */
#ifndef PGWS_MCACHE_H
#define PGWS_MCACHE_H

#include <stddef.h>

/* Bytes of freed blocks kept for reuse, at most, across every class. */
#define MCACHE_MAX_BYTES (1024 * 1024)
/* Blocks larger than this go straight to malloc and free. */
#define MCACHE_MAX_BLOCK 2048

/* A block of at least n bytes, or NULL; mcache_size(n) says how many. */
void *mcache_alloc(size_t n);
/* Gives back a block mcache_alloc(n) returned, with the same n. */
void mcache_free(void *p, size_t n);
/* The bytes mcache_alloc(n) really takes. */
size_t mcache_size(size_t n);
/* Frees every kept block (shutdown, and tests). */
void mcache_drain(void);
/* Bytes kept now. */
size_t mcache_kept(void);

#endif
