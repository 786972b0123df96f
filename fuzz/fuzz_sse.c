/*
 * libFuzzer target for sse.c.  The input is a payload (and, chosen by its
 * first byte, an event id cut from its end); it is framed as an event, then
 * a comment, then the event again, and the stream is read back by a small
 * EventSource parser written here from the HTML standard's rules, sharing
 * no code with sse.c.  The reader must see exactly two events, each
 * carrying the payload with CRLF and CR turned into LF, and the id; sizes
 * must be exact (every output block is an exact-size heap copy).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../sse.c"

struct es {
	char *data;             /* data buffer, growing */
	size_t n, cap;
	char *id;               /* last event id */
	size_t idn;
	int events;             /* dispatched so far */
	char *got;              /* data of the last dispatched event */
	size_t gotn;
	int comments;           /* comment lines seen */
};

static void
append(char **b, size_t *n, size_t *cap, const char *p, size_t k)
{
	if (*n + k > *cap) {
		*cap = (*n + k) * 2 + 16;
		*b = realloc(*b, *cap);
		if (!*b)
			abort();
	}
	if (k)
		memcpy(*b + *n, p, k);
	*n += k;
}

/* One line (without its end) of the stream, as the standard processes it. */
static void
es_line(struct es *e, const char *l, size_t n)
{
	size_t c, vs;

	if (n == 0) {
		/* Dispatch: empty data buffer means no event. */
		if (e->n == 0)
			return;
		free(e->got);
		e->gotn = e->n - (e->data[e->n - 1] == '\n');
		e->got = malloc(e->gotn + 1);
		if (!e->got)
			abort();
		memcpy(e->got, e->data, e->gotn);
		e->n = 0;
		e->events++;
		return;
	}
	if (l[0] == ':') {
		e->comments++;
		return;
	}
	for (c = 0; c < n && l[c] != ':'; c++)
		;
	vs = c < n ? c + 1 : n;
	if (vs < n && l[vs] == ' ')
		vs++;
	if (c == 4 && memcmp(l, "data", 4) == 0) {
		append(&e->data, &e->n, &e->cap, l + vs, n - vs);
		append(&e->data, &e->n, &e->cap, "\n", 1);
	} else if (c == 2 && memcmp(l, "id", 2) == 0) {
		if (memchr(l + vs, '\0', n - vs))
			return;
		free(e->id);
		e->idn = n - vs;
		e->id = malloc(e->idn + 1);
		if (!e->id)
			abort();
		memcpy(e->id, l + vs, e->idn);
	} else
		abort();	/* sse.c writes no other field */
}

/* Splits s[0..n) into lines at CRLF, LF or CR; a trailing part must be empty. */
static void
es_feed(struct es *e, const char *s, size_t n)
{
	size_t i = 0, st;

	while (i < n) {
		st = i;
		while (i < n && s[i] != '\r' && s[i] != '\n')
			i++;
		if (i == n)
			abort();	/* every block ends in a line end */
		es_line(e, s + st, i - st);
		if (s[i] == '\r' && i + 1 < n && s[i + 1] == '\n')
			i++;
		i++;
	}
}

/* Exact-size heap copy of the framing of d[0..n), or NULL with size 0. */
static char *
frame(const char *d, size_t n, const char *id, size_t idn, size_t *size,
    int comment)
{
	size_t want = comment ? sse_comment_size(d, n) :
	    sse_event_size(d, n, id, idn);
	char *out;

	*size = want;
	if (want == 0)
		return NULL;
	out = malloc(want);
	if (!out)
		abort();
	if ((comment ? sse_comment(out, d, n) : sse_event(out, d, n, id, idn))
	    != want)
		abort();
	return out;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct es e = { 0 };
	size_t idn = 0, n, fs, cs, k, w;
	const char *d, *id;
	char *f, *c, *norm;
	int bad_id = 0;

	if (size == 0)
		return 0;
	idn = data[0] % 8;
	if (idn > size - 1)
		idn = size - 1;
	d = (const char *)data + 1;
	n = size - 1 - idn;
	id = d + n;
	for (k = 0; k < idn; k++)
		if (id[k] == '\r' || id[k] == '\n' || id[k] == '\0')
			bad_id = 1;

	f = frame(d, n, id, idn, &fs, 0);
	if (bad_id != (f == NULL))
		abort();
	if (!f)
		return 0;
	c = frame(d, n, NULL, 0, &cs, 1);
	if (!c)
		abort();

	es_feed(&e, f, fs);
	es_feed(&e, c, cs);
	if (e.events != 1 || e.comments == 0)
		abort();
	es_feed(&e, f, fs);
	if (e.events != 2)
		abort();

	/* The payload as EventSource delivers it: CRLF and CR become LF. */
	norm = malloc(n + 1);
	if (!norm)
		abort();
	for (k = 0, w = 0; k < n; k++) {
		if (d[k] == '\r') {
			norm[w++] = '\n';
			if (k + 1 < n && d[k + 1] == '\n')
				k++;
		} else
			norm[w++] = d[k];
	}
	if (e.gotn != w || memcmp(e.got, norm, w) != 0)
		abort();
	if (e.idn != idn || (idn && memcmp(e.id, id, idn) != 0))
		abort();

	free(norm);
	free(f);
	free(c);
	free(e.data);
	free(e.got);
	free(e.id);
	return 0;
}
