/*
 * Tests for sse.c: the exact bytes of events and comments for the payloads
 * whose line ends are easy to get wrong, with every payload placed right
 * before an unreadable page and every output written into a buffer of
 * exactly the announced size followed by an unreadable page.
 */
#include "unit.h"
#include "../sse.c"

#define S(lit) lit, sizeof(lit) - 1

/* A writable buffer of n bytes (n < 4096) that ends at an unreadable page. */
static char *
out_guard(size_t n)
{
	static const char zero[4096];

	if (n > sizeof zero) { fprintf(stderr, "out_guard\n"); exit(2); }
	return (char *)unit_guard(zero, n, 2);
}

/*
 * Frames data[0..n) with id[0..idn) and checks that the result is exactly
 * want[0..wn): the size agrees with what is written, nothing is written
 * past it (the output ends at a guard page).
 */
static void
event_is(const char *data, size_t n, const char *id, size_t idn,
    const char *want, size_t wn, int line)
{
	const char *g = (const char *)unit_guard(data, n, 0);
	const char *gi = (const char *)unit_guard(id, idn, 1);
	size_t size = sse_event_size(g, n, gi, idn);
	char *out;

	if (size != wn) {
		unit_fail++;
		fprintf(stderr, "%s:%d: size %zu, expected %zu\n", __FILE__,
		    line, size, wn);
		return;
	}
	out = out_guard(size);
	CHECK_EQ_INT(sse_event(out, g, n, gi, idn), size);
	if (memcmp(out, want, wn) != 0) {
		unit_fail++;
		fprintf(stderr, "%s:%d: got \"%.*s\"\n", __FILE__, line,
		    (int)size, out);
	} else
		unit_pass++;
}
#define EVENT(d, id, want) event_is(S(d), S(id), S(want), __LINE__)

static void
comment_is(const char *t, size_t n, const char *want, size_t wn, int line)
{
	const char *g = (const char *)unit_guard(t, n, 0);
	size_t size = sse_comment_size(g, n);
	char *out = out_guard(size);

	CHECK_EQ_INT(size, wn);
	if (size != wn)
		return;
	CHECK_EQ_INT(sse_comment(out, g, n), size);
	if (memcmp(out, want, wn) != 0) {
		unit_fail++;
		fprintf(stderr, "%s:%d: got \"%.*s\"\n", __FILE__, line,
		    (int)size, out);
	} else
		unit_pass++;
}
#define COMMENT(t, want) comment_is(S(t), S(want), __LINE__)

static void
test_events(void)
{
	EVENT("hello", "", "data: hello\n\n");
	/* Empty payload: one empty data line, which EventSource delivers as "". */
	EVENT("", "", "data: \n\n");
	/* Only line ends: each is one, so n line ends make n + 1 lines. */
	EVENT("\n", "", "data: \ndata: \n\n");
	EVENT("\n\n", "", "data: \ndata: \ndata: \n\n");
	EVENT("\r\n", "", "data: \ndata: \n\n");
	EVENT("\r\r", "", "data: \ndata: \ndata: \n\n");
	EVENT("\n\r", "", "data: \ndata: \ndata: \n\n");
	/* Mixed: CRLF is one line end, LF CR is two. */
	EVENT("a\r\nb\nc\rd", "", "data: a\ndata: b\ndata: c\ndata: d\n\n");
	EVENT("a\n\rb", "", "data: a\ndata: \ndata: b\n\n");
	/* A lone CR at the end ends the last line; nothing waits for an LF. */
	EVENT("a\r", "", "data: a\ndata: \n\n");
	EVENT("a\r\n", "", "data: a\ndata: \n\n");
	/* Leading spaces and colons survive: "data: " always has its space. */
	EVENT(" x", "", "data:  x\n\n");
	EVENT(":x: y", "", "data: :x: y\n\n");
	/* UTF-8 and other bytes pass through untouched. */
	EVENT("gr\xc3\xbc\xc3\x9f \xe2\x82\xac \xf0\x9f\x98\x80", "",
	    "data: gr\xc3\xbc\xc3\x9f \xe2\x82\xac \xf0\x9f\x98\x80\n\n");
	EVENT("{\"a\":\"\\n\"}", "", "data: {\"a\":\"\\n\"}\n\n");
	/* A NUL in the payload is data like any other byte. */
	event_is("a\0b", 3, "", 0, "data: a\0b\n\n", 11, __LINE__);
	/* With an id. */
	EVENT("x", "42", "data: x\nid: 42\n\n");
	EVENT("a\nb", "7", "data: a\ndata: b\nid: 7\n\n");
}

static void
test_bad_id(void)
{
	CHECK_EQ_INT(sse_event_size(S("x"), S("4\n2")), 0);
	CHECK_EQ_INT(sse_event_size(S("x"), S("4\r")), 0);
	CHECK_EQ_INT(sse_event_size(S("x"), "4\0", 2), 0);
	/* Nothing is written for an event that cannot be framed. */
	char out[8] = "unused!";
	CHECK_EQ_INT(sse_event(out, S("x"), S("\n")), 0);
	CHECK(memcmp(out, "unused!", 8) == 0);
}

static void
test_overflow(void)
{
	/*
	 * Sizes that cannot be represented are refused, not wrapped, and
	 * before a byte is read (the lengths here lie about the buffers).
	 */
	static const char d[1] = "x";
	CHECK_EQ_INT(sse_event_size(d, SIZE_MAX / 7, NULL, 0), 0);
	CHECK_EQ_INT(sse_event_size(d, SIZE_MAX, NULL, 0), 0);
	CHECK_EQ_INT(sse_event_size(d, 1, d, SIZE_MAX / 4 + 1), 0);
	CHECK_EQ_INT(sse_comment_size(d, SIZE_MAX), 0);
}

static void
test_comments(void)
{
	COMMENT("", ":\n\n");
	COMMENT("keep-alive", ":keep-alive\n\n");
	COMMENT("a\r\nb\rc\n", ":a\n:b\n:c\n:\n\n");
}

/* A large payload: sizes and bytes agree far beyond any small buffer. */
static void
test_large(void)
{
	size_t n = 1 << 20, k, size, lines = 1;
	char *d = malloc(n), *out;

	if (!d) { perror("malloc"); exit(2); }
	for (k = 0; k < n; k++) {
		d[k] = "ab\r\ncd\n\r"[k % 8];
	}
	/* Per 8 bytes: "ab", CRLF, "cd", LF, CR: three line ends. */
	lines += n / 8 * 3;
	size = sse_event_size(d, n, NULL, 0);
	CHECK_EQ_INT(size, n / 8 * 4 + lines * 7 + 1);
	out = malloc(size);
	if (!out) { perror("malloc"); exit(2); }
	CHECK_EQ_INT(sse_event(out, d, n, NULL, 0), size);
	CHECK(memcmp(out, "data: ab\ndata: cd\ndata: \ndata: ab\n", 34) == 0);
	CHECK(memcmp(out + size - 8, "data: \n\n", 8) == 0);
	free(out);
	free(d);
}

int
main(void)
{
	test_events();
	test_bad_id();
	test_overflow();
	test_comments();
	test_large();
	return unit_done();
}
