/*
 * Tests for chan.c, the channel index: lookups, join and leave with the
 * swap that keeps every member's position right, the table growing past
 * its buckets, and pins keeping a channel alive through a fan-out whose
 * readers leave.  Run under ASan, so a channel freed too early or never
 * freed fails here.
 */
#include "unit.h"
#include "../chan.c"

#define NR 64

static struct chan_index x;
static struct chan_member mem[NR];

/* Every member of c sits where it says it does, with the right id. */
static int consistent(const struct chan *c)
{
	for (uint32_t i = 0; i < c->n; i++) {
		const struct chan_reader *r = &c->readers[i];
		if (r->m != &mem[r->id] || r->m->ch != c || r->m->pos != i)
			return 0;
	}
	return 1;
}

int main(void)
{
	struct chan *a, *b;

	CHECK_EQ_INT(chan_index_init(&x, 4), 0);
	CHECK(chan_find(&x, "a", 1) == NULL);

	/* Readers 0..9 on "a", 10..19 on "b". */
	for (int i = 0; i < 20; i++)
		CHECK_EQ_INT(chan_join(&x, i < 10 ? "a" : "b", 1, i, &mem[i]), 0);
	a = chan_find(&x, "a", 1);
	b = chan_find(&x, "b", 1);
	CHECK(a && b && a != b);
	CHECK_EQ_INT(a->n, 10);
	CHECK_EQ_INT(x.n, 2);
	CHECK(chan_find(&x, "ab", 2) == NULL);
	CHECK(chan_find(&x, "", 0) == NULL);
	CHECK(consistent(a) && consistent(b));

	/* Leaving from the front, the middle and the end keeps positions. */
	chan_leave(&x, &mem[0]);
	CHECK(mem[0].ch == NULL);
	chan_leave(&x, &mem[5]);
	chan_leave(&x, &mem[a->readers[a->n - 1].id]);
	CHECK_EQ_INT(a->n, 7);
	CHECK(consistent(a));
	chan_leave(&x, &mem[0]);        /* not a member: nothing happens */
	CHECK_EQ_INT(a->n, 7);

	/* A fan-out pins the channel; every reader leaves during it. */
	chan_pin(a);
	while (a->n)
		chan_leave(&x, a->readers[0].m);
	CHECK(chan_find(&x, "a", 1) == a);
	CHECK_EQ_INT(x.n, 2);
	chan_unpin(&x, a);
	CHECK(chan_find(&x, "a", 1) == NULL);
	CHECK_EQ_INT(x.n, 1);

	/* A pinned channel with readers left stays after the unpin. */
	chan_pin(b);
	chan_leave(&x, &mem[10]);
	chan_unpin(&x, b);
	CHECK(chan_find(&x, "b", 1) == b);
	CHECK_EQ_INT(b->n, 9);
	CHECK(consistent(b));

	/* Many channels: the table doubles, every channel stays findable. */
	static struct chan_member many[1000];
	char name[16];
	for (int i = 0; i < 1000; i++) {
		int n = snprintf(name, sizeof name, "c%d", i);
		CHECK_EQ_INT(chan_join(&x, name, (size_t)n, i, &many[i]), 0);
	}
	CHECK(x.nbuckets > 4);
	CHECK(x.n <= 2 * x.nbuckets);
	int found = 0;
	for (int i = 0; i < 1000; i++) {
		int n = snprintf(name, sizeof name, "c%d", i);
		struct chan *c = chan_find(&x, name, (size_t)n);
		found += c && c == many[i].ch && c->n == 1;
	}
	CHECK_EQ_INT(found, 1000);
	for (int i = 0; i < 1000; i += 2)
		chan_leave(&x, &many[i]);
	CHECK_EQ_INT(x.n, 501);
	CHECK(chan_find(&x, "c2", 2) == NULL);
	CHECK(chan_find(&x, "c3", 2) == many[3].ch);

	/* Names are bytes: NUL and high bytes are part of the name. */
	CHECK_EQ_INT(chan_join(&x, "x\0y", 3, 30, &mem[30]), 0);
	CHECK(chan_find(&x, "x", 1) == NULL);
	CHECK(chan_find(&x, "x\0y", 3) == mem[30].ch);
	CHECK_EQ_INT(chan_hash("", 0), 2166136261u);
	CHECK_EQ_INT(chan_hash("a", 1), 0xe40c292cu);

	chan_index_free(&x);
	return unit_done();
}
