/*
 * The channel index: which readers listen on which channel name.  A hash
 * table of channels (FNV-1a, chained, doubled as it fills), each with an
 * array of reader ids.  A reader's place in that array is kept in a
 * struct chan_member that the reader owns, so leaving is O(1) and the
 * index never needs to know what a reader is.
 */
#ifndef PGWS_CHAN_H
#define PGWS_CHAN_H

#include <stddef.h>
#include <stdint.h>

struct chan;

/* One reader's membership of one channel; owned (and kept at a fixed
 * address) by the reader.  ch == NULL: not a member. */
struct chan_member {
	struct chan *ch;
	uint32_t pos;           /* index into ch->readers */
};

struct chan_reader {
	int id;                 /* the caller's name for the reader */
	struct chan_member *m;
};

struct chan {
	struct chan *next;      /* hash chain */
	uint32_t hash;
	uint32_t n, cap;        /* readers in use, allocated */
	uint32_t busy;          /* pins: a fan-out is walking readers */
	struct chan_reader *readers;
	size_t len;
	char name[];
};

struct chan_index {
	struct chan **bucket;
	uint32_t nbuckets;      /* a power of two */
	uint32_t n;             /* channels with readers (or pinned) */
};

/* Sets up an empty index of nbuckets (a power of two) buckets; 0, or -1
 * when out of memory. */
int chan_index_init(struct chan_index *x, uint32_t nbuckets);

/* Frees every channel and the buckets; members still pointing into the
 * index are not touched. */
void chan_index_free(struct chan_index *x);

/* FNV-1a of the name's bytes. */
uint32_t chan_hash(const char *name, size_t len);

/* The channel named name[0..len), or NULL when nobody reads it. */
struct chan *chan_find(const struct chan_index *x, const char *name, size_t len);

/*
 * Adds reader id to the channel name[0..len), creating the channel, and
 * records its place in *m (which must stay at that address until
 * chan_leave).  Returns 0, or -1 when out of memory (then *m is
 * unchanged and ch stays NULL if it was).
 */
int chan_join(struct chan_index *x, const char *name, size_t len, int id,
    struct chan_member *m);

/*
 * Removes the reader of *m from its channel (nothing when m->ch is NULL)
 * and clears m->ch.  The last reader takes its place, so a fan-out that
 * walks c->readers must not advance its index when c->n shrank.  A
 * channel left without readers is freed unless pinned.
 */
void chan_leave(struct chan_index *x, struct chan_member *m);

/* Keeps c allocated while a fan-out walks its readers (which may leave). */
void chan_pin(struct chan *c);

/* Ends a chan_pin; frees c when it has no readers and no other pin. */
void chan_unpin(struct chan_index *x, struct chan *c);

#endif
