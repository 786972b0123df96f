/*
 * The channel index, in its own file so that the fan-out's data structure
 * is tested alone and the dispatch benchmark measures this very code.
 */
#include <stdlib.h>
#include <string.h>

#include "chan.h"

int chan_index_init(struct chan_index *x, uint32_t nbuckets)
{
	x->bucket = calloc(nbuckets, sizeof *x->bucket);
	x->nbuckets = x->bucket ? nbuckets : 0;
	x->n = 0;
	return x->bucket ? 0 : -1;
}

void chan_index_free(struct chan_index *x)
{
	for (uint32_t i = 0; i < x->nbuckets; i++)
		while (x->bucket[i]) {
			struct chan *c = x->bucket[i];
			x->bucket[i] = c->next;
			free(c->readers);
			free(c);
		}
	free(x->bucket);
	x->bucket = NULL;
	x->nbuckets = x->n = 0;
}

uint32_t chan_hash(const char *p, size_t n)
{
	/* FNV-1a: channel names are short and chosen by token issuers. */
	uint32_t h = 2166136261u;
	while (n--)
		h = (h ^ (unsigned char)*p++) * 16777619u;
	return h;
}

struct chan *chan_find(const struct chan_index *x, const char *name, size_t len)
{
	uint32_t h = chan_hash(name, len);

	for (struct chan *c = x->bucket[h & (x->nbuckets - 1)]; c; c = c->next)
		if (c->hash == h && c->len == len && !memcmp(c->name, name, len))
			return c;
	return NULL;
}

/*
 * Doubles the bucket array so that chains stay short however many channels
 * tokens name; on failure the table keeps working with longer chains.
 */
static void grow(struct chan_index *x)
{
	uint32_t nb = x->nbuckets * 2;
	struct chan **t = calloc(nb, sizeof *t);

	if (!t)
		return;
	for (uint32_t i = 0; i < x->nbuckets; i++)
		while (x->bucket[i]) {
			struct chan *c = x->bucket[i];
			x->bucket[i] = c->next;
			c->next = t[c->hash & (nb - 1)];
			t[c->hash & (nb - 1)] = c;
		}
	free(x->bucket);
	x->bucket = t;
	x->nbuckets = nb;
}

static void chan_free(struct chan_index *x, struct chan *c)
{
	struct chan **pp = &x->bucket[c->hash & (x->nbuckets - 1)];
	while (*pp != c)
		pp = &(*pp)->next;
	*pp = c->next;
	free(c->readers);
	free(c);
	x->n--;
}

int chan_join(struct chan_index *x, const char *name, size_t len, int id,
    struct chan_member *m)
{
	struct chan *c = chan_find(x, name, len);

	if (!c) {
		c = calloc(1, sizeof *c + len);
		if (!c)
			return -1;
		c->hash = chan_hash(name, len);
		c->len = len;
		memcpy(c->name, name, len);
		c->next = x->bucket[c->hash & (x->nbuckets - 1)];
		x->bucket[c->hash & (x->nbuckets - 1)] = c;
		x->n++;
		if (x->n > 2 * x->nbuckets)
			grow(x);
	}
	if (c->n == c->cap) {
		uint32_t cap = c->cap ? c->cap * 2 : 4;
		struct chan_reader *r = realloc(c->readers, cap * sizeof *r);
		if (!r) {
			if (c->n == 0 && !c->busy)
				chan_free(x, c);
			return -1;
		}
		c->readers = r;
		c->cap = cap;
	}
	m->ch = c;
	m->pos = c->n;
	c->readers[c->n++] = (struct chan_reader){ id, m };
	return 0;
}

void chan_leave(struct chan_index *x, struct chan_member *m)
{
	struct chan *c = m->ch;

	if (!c)
		return;
	m->ch = NULL;
	/* Swap the last reader into our place and tell it where it went. */
	struct chan_reader moved = c->readers[--c->n];
	if (m->pos != c->n) {
		c->readers[m->pos] = moved;
		moved.m->pos = m->pos;
	}
	if (c->n == 0 && !c->busy)
		chan_free(x, c);
}

void chan_pin(struct chan *c)
{
	c->busy++;
}

void chan_unpin(struct chan_index *x, struct chan *c)
{
	if (--c->busy == 0 && c->n == 0)
		chan_free(x, c);
}
