/*
 * libFuzzer target for json.c.  The input is parsed where libFuzzer put it
 * (a heap block of exactly its size, so ASan catches over-reads).
 * Invariants:
 *  - an accepted text can be walked with json_next() down to every leaf,
 *    and re-emitted compactly (strings through json_str() and
 *    json_string(), everything else verbatim); that re-emission parses,
 *    and emitting it again gives the very same bytes;
 *  - every string value compares equal to its own unescaped bytes, and
 *    json_get() finds, for each member name, the last member of that name;
 *  - json_members_without() on an object gives members that, in braces,
 *    parse again, lack the left-out name, and number the others;
 *  - json_route_channel() says yes exactly when json_parse() accepts, the
 *    top level is an object and json_get("channel") is a string, and it
 *    then gives the same unescaped bytes.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../json.c"

/* Unescapes string *v into a fresh exact-size block; *len gets its size. */
static char *
unescape(const struct json_val *v, size_t *len)
{
	char *b = malloc(v->n + 1);
	long l;

	if (b == NULL)
		abort();
	/* The value is never longer than its escaped text minus the quotes. */
	l = json_str(v, b, v->n - 2);
	if (l < 0 || json_str_eq(v, b, (size_t)l) != 1)
		abort();
	if (l > 0 && json_str_eq(v, b, (size_t)l - 1) != 0)
		abort();
	if (l > 0 && json_str(v, b, (size_t)l - 1) != -1)
		abort();
	*len = (size_t)l;
	return b;
}

/* Checks that json_get(obj, name of *key) lands on the last such member. */
static void
check_get(const struct json_val *obj, const struct json_val *key)
{
	struct json_val k, v, last = { NULL, 0, JSON_NONE }, got;
	size_t len, pos = 0;
	char *name = unescape(key, &len);

	/* json_get takes a C string, so names holding a NUL are skipped. */
	if (memchr(name, '\0', len) == NULL) {
		name[len] = '\0';
		while (json_next(obj, &pos, &k, &v))
			if (json_str_eq(&k, name, len))
				last = v;
		if (!json_get(obj, name, &got) || last.p == NULL ||
		    got.p != last.p || got.n != last.n || got.type != last.type)
			abort();
	}
	free(name);
}

/* Emits *v compactly into *o, walking containers with json_next(). */
static void
emit(struct json_out *o, const struct json_val *v, int top_object)
{
	struct json_val k, e;
	size_t pos = 0, len;
	char *b;
	double d;
	int first = 1;

	switch (v->type) {
	case JSON_OBJECT:
	case JSON_ARRAY:
		json_raw(o, v->type == JSON_OBJECT ? "{" : "[", 1);
		while (json_next(v, &pos, v->type == JSON_OBJECT ? &k : NULL,
		    &e)) {
			if (!first)
				json_raw(o, ",", 1);
			first = 0;
			if (v->type == JSON_OBJECT) {
				if (k.type != JSON_STRING)
					abort();
				if (top_object)
					check_get(v, &k);
				b = unescape(&k, &len);
				json_string(o, b, len);
				free(b);
				json_raw(o, ":", 1);
			}
			/* Element slices are exact: no whitespace around them. */
			if (e.n == 0 || e.p < v->p || e.p + e.n > v->p + v->n ||
			    e.p[0] == ' ' || e.p[e.n - 1] == ' ')
				abort();
			emit(o, &e, 0);
		}
		json_raw(o, v->type == JSON_OBJECT ? "}" : "]", 1);
		break;
	case JSON_STRING:
		b = unescape(v, &len);
		json_string(o, b, len);
		free(b);
		break;
	case JSON_NUMBER:
		(void)json_num(v, &d);
		json_raw(o, v->p, v->n);
		break;
	case JSON_TRUE:
	case JSON_FALSE:
	case JSON_NULL:
		json_raw(o, v->p, v->n);
		break;
	default:
		abort();
	}
}

/* Emits a parsed text into a fresh block; returns it and its length. */
static char *
reemit(const struct json_val *root, size_t in_len, size_t *out_len, int top)
{
	/*
	 * Unescaping then escaping at most doubles a string (a raw U+2028 of
	 * three bytes becomes six), and dropping whitespace only shrinks.
	 */
	size_t cap = 2 * in_len + 16;
	char *buf = malloc(cap);
	struct json_out o;

	if (buf == NULL)
		abort();
	json_out_init(&o, buf, cap);
	emit(&o, root, top);
	if (o.err)
		abort();
	*out_len = o.len;
	return buf;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *s = (const char *)data;
	struct json_val root, root2, ch;
	char *e1, *e2, *e1copy, *buf, *want;
	size_t n1, n2, chl, wantl;
	const char *chp;
	int ok, has, routed;

	ok = json_parse(s, size, &root) == 0;

	/* Routing agrees with parse + get. */
	buf = malloc(size ? size : 1);
	if (buf == NULL)
		abort();
	routed = json_route_channel(s, size, &chp, &chl, buf, size);
	has = ok && root.type == JSON_OBJECT && json_get(&root, "channel", &ch) &&
	    ch.type == JSON_STRING;
	if (routed != has)
		abort();
	if (has) {
		want = unescape(&ch, &wantl);
		if (chl != wantl || memcmp(chp, want, wantl) != 0)
			abort();
		free(want);
	}
	free(buf);

	if (!ok)
		return 0;
	if (root.p < s || root.p + root.n > s + size || root.n == 0)
		abort();

	if (root.type == JSON_OBJECT) {
		struct json_val k, v, again;
		struct json_out o;
		size_t pos = 0, cap = root.n + 2;
		long kept = 0, got;
		char *w = malloc(cap);

		if (w == NULL)
			abort();
		while (json_next(&root, &pos, &k, &v))
			if (!json_str_eq(&k, "channel", 7))
				kept++;
		json_out_init(&o, w, cap);
		json_raw(&o, "{", 1);
		got = json_members_without(&o, &root, "channel", 7);
		json_raw(&o, "}", 1);
		if (o.err || got != kept || json_parse(w, o.len, &again) != 0 ||
		    again.type != JSON_OBJECT || json_get(&again, "channel", &k))
			abort();
		free(w);
	}

	e1 = reemit(&root, size, &n1, 1);
	/* Parse the re-emission from an exact-size copy. */
	e1copy = malloc(n1 ? n1 : 1);
	if (e1copy == NULL)
		abort();
	memcpy(e1copy, e1, n1);
	if (json_parse(e1copy, n1, &root2) != 0 || root2.n != n1 ||
	    root2.type != root.type)
		abort();
	e2 = reemit(&root2, n1, &n2, 0);
	if (n1 != n2 || memcmp(e1, e2, n1) != 0)
		abort();
	free(e1);
	free(e1copy);
	free(e2);
	return 0;
}
