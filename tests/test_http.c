/*
 * Tests for http.c.  Every input handed to the parser is first placed right
 * before an unreadable page, and every request is also fed the way a socket
 * would deliver it (one byte at a time, and cut in two at every position),
 * which must not change the answer.
 */
#include "unit.h"
#include <stdint.h>

#include "../http.c"

#define S(lit) lit, sizeof(lit) - 1
/* Slice p[0..n) equals the string literal lit. */
#define CHECK_SLICE(p, n, lit) CHECK_MEM(p, n, lit, sizeof(lit) - 1)

static struct http_req req;

/*
 * Parses s[0..n) whole and then as every prefix, each copy guarded, and
 * checks that the prefixes agree with the whole: before the head is
 * complete they say -2 (or -1 once an error is visible, and then for good),
 * and split feeds end with the whole answer and the same slices.  Leaves the
 * whole parse in req (its slices point into the slot-0 copy) and returns
 * its result.
 */
static int
parse(const char *s, size_t n)
{
	struct http_req r2;
	const char *g, *g2;
	int whole, rc, seen_err = 0;
	size_t k, j;

	g = (const char *)unit_guard(s, n, 0);
	whole = http_parse(g, n, &req);

	for (k = 0; k <= n; k++) {
		g2 = (const char *)unit_guard(s, k, 1);
		rc = http_parse(g2, k, &r2);
		if (whole > 0 && k < (size_t)whole)
			CHECK(rc == -2);
		else if (whole > 0)
			CHECK_EQ_INT(rc, whole);
		else if (whole == -2)
			CHECK(rc == -2);
		else {
			/* Malformed: -2 until the error shows, then it for good. */
			CHECK(rc == -2 || rc == whole);
			if (seen_err)
				CHECK(rc == whole);
			if (rc == whole)
				seen_err = 1;
		}
		if (whole > 0 && rc > 0) {
			CHECK(r2.method - g2 == req.method - g);
			CHECK(r2.target - g2 == req.target - g);
			CHECK_EQ_INT(r2.method_len, req.method_len);
			CHECK_EQ_INT(r2.target_len, req.target_len);
			CHECK_EQ_INT(r2.minor, req.minor);
			CHECK_EQ_INT(r2.nhdr, req.nhdr);
			for (j = 0; j < req.nhdr && j < r2.nhdr; j++) {
				CHECK(r2.hdr[j].name - g2 == req.hdr[j].name - g);
				CHECK(r2.hdr[j].value - g2 == req.hdr[j].value - g);
				CHECK_EQ_INT(r2.hdr[j].name_len, req.hdr[j].name_len);
				CHECK_EQ_INT(r2.hdr[j].value_len, req.hdr[j].value_len);
			}
		}
	}
	if (whole == -1 || whole == -3)
		CHECK(seen_err);

	/*
	 * Split feed: a reader that got k bytes, then the rest.  The first
	 * call may only say -2 or (early) -1; the second gives the whole
	 * answer, since the parser keeps no state between calls.
	 */
	for (k = 0; k <= n; k++) {
		g2 = (const char *)unit_guard(s, k, 1);
		rc = http_parse(g2, k, &r2);
		if (rc > 0)
			continue;	/* already checked above */
		g2 = (const char *)unit_guard(s, n, 1);
		CHECK_EQ_INT(http_parse(g2, n, &r2), whole);
	}
	return whole;
}

#define PARSE(lit) parse(S(lit))

static int
hdr_is(size_t i, const char *name, const char *value)
{
	return i < req.nhdr &&
	    req.hdr[i].name_len == strlen(name) &&
	    memcmp(req.hdr[i].name, name, strlen(name)) == 0 &&
	    req.hdr[i].value_len == strlen(value) &&
	    memcmp(req.hdr[i].value, value, strlen(value)) == 0;
}

static void
test_valid(void)
{
	static const char get[] =
	    "GET /chat/eyJhbGciOi.x.y?x=1 HTTP/1.1\r\n"
	    "Host: example.com\r\n"
	    "Upgrade:websocket\r\n"
	    "Connection: \t keep-alive, Upgrade \t\r\n"
	    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
	    "X-Empty:\r\n"
	    "X-Blank:   \r\n"
	    "X-Inner: a  b\tc\r\n"
	    "X-Obs: caf\xc3\xa9 \xff\r\n"
	    "\r\n";

	CHECK_EQ_INT(PARSE(get), sizeof get - 1);
	CHECK_MEM(req.method, req.method_len, "GET", 3);
	CHECK_SLICE(req.target, req.target_len, "/chat/eyJhbGciOi.x.y?x=1");
	CHECK_EQ_INT(req.minor, 1);
	CHECK_EQ_INT(req.nhdr, 8);
	CHECK(hdr_is(0, "Host", "example.com"));
	CHECK(hdr_is(1, "Upgrade", "websocket"));
	CHECK(hdr_is(2, "Connection", "keep-alive, Upgrade"));
	CHECK(hdr_is(3, "Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="));
	CHECK(hdr_is(4, "X-Empty", ""));
	CHECK(hdr_is(5, "X-Blank", ""));
	CHECK(hdr_is(6, "X-Inner", "a  b\tc"));
	CHECK(hdr_is(7, "X-Obs", "caf\xc3\xa9 \xff"));

	CHECK_EQ_INT(PARSE("HEAD /index.html HTTP/1.1\r\nHost: h\r\n\r\n"), 38);
	CHECK_MEM(req.method, req.method_len, "HEAD", 4);
	CHECK_SLICE(req.target, req.target_len, "/index.html");

	CHECK_EQ_INT(PARSE("GET / HTTP/1.0\r\n\r\n"), 18);
	CHECK_EQ_INT(req.minor, 0);
	CHECK_EQ_INT(req.nhdr, 0);
	CHECK_MEM(req.target, req.target_len, "/", 1);

	/* Any tchar makes a method; deciding 405 is the caller's job. */
	CHECK_EQ_INT(PARSE("M-S.E4rch! * HTTP/1.0\r\n\r\n"), 25);
	CHECK_SLICE(req.method, req.method_len, "M-S.E4rch!");
	CHECK_MEM(req.target, req.target_len, "*", 1);

	/* Bare LF is accepted, also mixed with CRLF. */
	CHECK_EQ_INT(PARSE("GET / HTTP/1.0\nA: 1\n\n"), 21);
	CHECK(hdr_is(0, "A", "1"));
	CHECK_EQ_INT(PARSE("GET / HTTP/1.0\r\nA: 1\n\r\n"), 23);
	CHECK_EQ_INT(PARSE("GET / HTTP/1.0\nA: 1\r\n\n"), 22);

	/* Empty lines before the request line are skipped and consumed. */
	CHECK_EQ_INT(PARSE("\r\n\nGET / HTTP/1.0\r\n\r\n"), 21);
	CHECK_MEM(req.method, req.method_len, "GET", 3);

	/* Bytes after the head (a body, a pipelined request) are not consumed. */
	CHECK_EQ_INT(PARSE("GET /a HTTP/1.0\r\n\r\nGET /b HTTP/1.0\r\n\r\n"), 19);
	CHECK_MEM(req.target, req.target_len, "/a", 2);
	CHECK_EQ_INT(PARSE("POST / HTTP/1.0\r\nContent-Length: 3\r\n\r\nabc"),
	    38);

	/* Headers with odd but legal names and values. */
	CHECK_EQ_INT(PARSE("GET / HTTP/1.0\r\n!#$%&'*+-.^_`|~09az: :;\"(){}\r\n\r\n"),
	    48);
	CHECK(hdr_is(0, "!#$%&'*+-.^_`|~09az", ":;\"(){}"));
}

static void
test_incomplete(void)
{
	CHECK_EQ_INT(PARSE(""), -2);
	CHECK_EQ_INT(PARSE("\r"), -2);
	CHECK_EQ_INT(PARSE("\r\n\r\n"), -2);
	CHECK_EQ_INT(PARSE("GET"), -2);
	CHECK_EQ_INT(PARSE("GET / HTTP/1."), -2);
	CHECK_EQ_INT(PARSE("GET / HTTP/1.1"), -2);
	CHECK_EQ_INT(PARSE("GET / HTTP/1.1\r"), -2);
	CHECK_EQ_INT(PARSE("GET / HTTP/1.1\r\nHost: x"), -2);
	CHECK_EQ_INT(PARSE("GET / HTTP/1.1\r\nHost: x\r\n"), -2);
	CHECK_EQ_INT(PARSE("GET / HTTP/1.1\r\nHost: x\r\n\r"), -2);
}

static void
test_reject(void)
{
	char big[4096];
	size_t n;
	int i;

	/* Method. */
	CHECK_EQ_INT(PARSE(" / HTTP/1.1\r\n\r\n"), -1);
	CHECK_EQ_INT(PARSE("GE(T / HTTP/1.1\r\n\r\n"), -1);
	CHECK_EQ_INT(PARSE("GE\0T / HTTP/1.1\r\n\r\n"), -1);
	CHECK_EQ_INT(PARSE("GET\t/ HTTP/1.1\r\n\r\n"), -1);
	CHECK_EQ_INT(PARSE("G\xc3\x89T / HTTP/1.1\r\n\r\n"), -1);

	/* Target. */
	CHECK_EQ_INT(PARSE("GET  / HTTP/1.1\r\n\r\n"), -1);
	CHECK_EQ_INT(PARSE("GET  HTTP/1.1\r\n\r\n"), -1);
	CHECK_EQ_INT(PARSE("GET /a b HTTP/1.1\r\n\r\n"), -1);
	CHECK_EQ_INT(PARSE("GET /a\0b HTTP/1.1\r\n\r\n"), -1);
	CHECK_EQ_INT(PARSE("GET /a\tb HTTP/1.1\r\n\r\n"), -1);
	CHECK_EQ_INT(PARSE("GET /a\x01 HTTP/1.1\r\n\r\n"), -1);
	CHECK_EQ_INT(PARSE("GET /a\x7f HTTP/1.1\r\n\r\n"), -1);
	CHECK_EQ_INT(PARSE("GET /caf\xc3\xa9 HTTP/1.1\r\n\r\n"), -1);
	CHECK_EQ_INT(PARSE("GET /\x80 HTTP/1.1\r\n\r\n"), -1);
	CHECK_EQ_INT(PARSE("GET /\xff HTTP/1.1\r\n\r\n"), -1);
	CHECK_EQ_INT(PARSE("GET /a\r\n\r\n"), -1);

	/* Version: exactly HTTP/1.0 or HTTP/1.1, nothing after it. */
	CHECK_EQ_INT(PARSE("GET / HTTP/1.2\r\n\r\n"), -1);
	CHECK_EQ_INT(PARSE("GET / HTTP/2.0\r\n\r\n"), -1);
	CHECK_EQ_INT(PARSE("GET / HTTP/0.9\r\n\r\n"), -1);
	CHECK_EQ_INT(PARSE("GET / http/1.1\r\n\r\n"), -1);
	CHECK_EQ_INT(PARSE("GET / HTTP/1.1 \r\n\r\n"), -1);
	CHECK_EQ_INT(PARSE("GET / HTTP/1.11\r\n\r\n"), -1);
	CHECK_EQ_INT(PARSE("GET / HTTP/1\r\n\r\n"), -1);
	CHECK_EQ_INT(PARSE("GET / \r\n\r\n"), -1);
	CHECK_EQ_INT(PARSE("GET /\r\n\r\n"), -1);

	/* Errors show up before the head is complete. */
	CHECK_EQ_INT(http_parse(S("GET / HTTP/2"), &req), -1);
	CHECK_EQ_INT(http_parse(S("GET /\x01"), &req), -1);
	CHECK_EQ_INT(http_parse(S("GET / HTTP/1.1\r\n Host"), &req), -1);

	/* Bare CR. */
	CHECK_EQ_INT(PARSE("\rGET / HTTP/1.1\r\n\r\n"), -1);
	CHECK_EQ_INT(PARSE("GET / HTTP/1.1\rX: 1\r\n\r\n"), -1);
	CHECK_EQ_INT(PARSE("GET / HTTP/1.1\r\nX: a\rb\r\n\r\n"), -1);
	CHECK_EQ_INT(PARSE("GET / HTTP/1.1\r\nX: a\r\r\n\r\n"), -1);
	CHECK_EQ_INT(PARSE("GET / HTTP/1.1\r\nX: a\r\n\r\r\n"), -1);

	/* Header names. */
	CHECK_EQ_INT(PARSE("GET / HTTP/1.1\r\nHost : x\r\n\r\n"), -1);
	CHECK_EQ_INT(PARSE("GET / HTTP/1.1\r\nHost\t: x\r\n\r\n"), -1);
	CHECK_EQ_INT(PARSE("GET / HTTP/1.1\r\n: x\r\n\r\n"), -1);
	CHECK_EQ_INT(PARSE("GET / HTTP/1.1\r\nHost x\r\n\r\n"), -1);
	CHECK_EQ_INT(PARSE("GET / HTTP/1.1\r\nHost\r\n\r\n"), -1);
	CHECK_EQ_INT(PARSE("GET / HTTP/1.1\r\nHo(st: x\r\n\r\n"), -1);
	CHECK_EQ_INT(PARSE("GET / HTTP/1.1\r\nHo\0st: x\r\n\r\n"), -1);
	CHECK_EQ_INT(PARSE("GET / HTTP/1.1\r\nH\xc3\xa9: x\r\n\r\n"), -1);

	/* Obsolete line folding, also before the first header. */
	CHECK_EQ_INT(PARSE("GET / HTTP/1.1\r\nX: a\r\n b\r\n\r\n"), -1);
	CHECK_EQ_INT(PARSE("GET / HTTP/1.1\r\nX: a\r\n\tb\r\n\r\n"), -1);
	CHECK_EQ_INT(PARSE("GET / HTTP/1.1\r\n Host: x\r\n\r\n"), -1);

	/* Header values: no controls other than HTAB, no NUL, no DEL. */
	CHECK_EQ_INT(PARSE("GET / HTTP/1.1\r\nX: a\0b\r\n\r\n"), -1);
	CHECK_EQ_INT(PARSE("GET / HTTP/1.1\r\nX: \0\r\n\r\n"), -1);
	CHECK_EQ_INT(PARSE("GET / HTTP/1.1\r\nX: a\x01\r\n\r\n"), -1);
	CHECK_EQ_INT(PARSE("GET / HTTP/1.1\r\nX: a\x1f\r\n\r\n"), -1);
	CHECK_EQ_INT(PARSE("GET / HTTP/1.1\r\nX: a\x7f\r\n\r\n"), -1);
	CHECK_EQ_INT(PARSE("GET / HTTP/1.1\r\nX: \x0b\r\n\r\n"), -1);

	/* Exactly HTTP_MAX_HEADERS headers is fine, one more is not. */
	n = (size_t)snprintf(big, sizeof big, "GET / HTTP/1.0\r\n");
	for (i = 0; i < HTTP_MAX_HEADERS; i++)
		n += (size_t)snprintf(big + n, sizeof big - n, "H%d: %d\r\n", i, i);
	memcpy(big + n, "\r\n", 2);
	CHECK_EQ_INT(parse(big, n + 2), n + 2);
	CHECK_EQ_INT(req.nhdr, HTTP_MAX_HEADERS);
	CHECK(hdr_is(HTTP_MAX_HEADERS - 1, "H47", "47"));
	n += (size_t)snprintf(big + n, sizeof big - n, "H48: 48\r\n\r\n");
	CHECK_EQ_INT(parse(big, n), -3);
}

static void
test_header_lookup(void)
{
	const struct http_hdr *h;

	CHECK(PARSE("GET / HTTP/1.0\r\n"
	    "x-dup: a\r\n"
	    "CONNECTION: keep-alive, Upgrade\r\n"
	    "Upgrade: WebSocket\r\n"
	    "X-Dup: b\r\n"
	    "Connection: foo\r\n"
	    "connection:  ,, upgrade2 ,\tclose\t\r\n"
	    "X-List: a,b\r\n"
	    "\r\n") > 0);

	h = http_header(&req, "X-Dup");
	CHECK(h != NULL && h == &req.hdr[0]);
	CHECK(http_header(&req, "X-DUP") == &req.hdr[0]);
	CHECK(http_header(&req, "upgrade") == &req.hdr[2]);
	CHECK(http_header(&req, "connection") == &req.hdr[1]);
	CHECK(http_header(&req, "X-Du") == NULL);
	CHECK(http_header(&req, "X-Dupx") == NULL);
	CHECK(http_header(&req, "") == NULL);
	CHECK(http_header(&req, "X-Missing") == NULL);

	CHECK_EQ_INT(http_header_has_token(&req, "Connection", "upgrade"), 1);
	CHECK_EQ_INT(http_header_has_token(&req, "connection", "Keep-Alive"), 1);
	/* Found only in the second and third Connection headers. */
	CHECK_EQ_INT(http_header_has_token(&req, "Connection", "foo"), 1);
	CHECK_EQ_INT(http_header_has_token(&req, "Connection", "close"), 1);
	CHECK_EQ_INT(http_header_has_token(&req, "Connection", "upgrade2"), 1);
	CHECK_EQ_INT(http_header_has_token(&req, "Connection", "upgrade3"), 0);
	CHECK_EQ_INT(http_header_has_token(&req, "Connection", "upgr"), 0);
	CHECK_EQ_INT(http_header_has_token(&req, "Connection", "keep"), 0);
	CHECK_EQ_INT(http_header_has_token(&req, "Connection",
	    "keep-alive, Upgrade"), 0);
	CHECK_EQ_INT(http_header_has_token(&req, "Upgrade", "websocket"), 1);
	CHECK_EQ_INT(http_header_has_token(&req, "X-List", "b"), 1);
	CHECK_EQ_INT(http_header_has_token(&req, "X-List", "a,b"), 0);
	CHECK_EQ_INT(http_header_has_token(&req, "X-Missing", "a"), 0);

	/* "upgrade2" alone must not count as "upgrade". */
	CHECK(PARSE("GET / HTTP/1.0\r\nConnection: upgrade2\r\n"
	    "Connection: xupgrade, upgradex\r\n\r\n") > 0);
	CHECK_EQ_INT(http_header_has_token(&req, "Connection", "upgrade"), 0);

	/* Across two Connection headers. */
	CHECK(PARSE("GET / HTTP/1.0\r\nConnection: keep-alive\r\n"
	    "Connection: Upgrade\r\n\r\n") > 0);
	CHECK_EQ_INT(http_header_has_token(&req, "Connection", "upgrade"), 1);
}

static void
test_pct_decode(void)
{
	char out[64];
	char *g;

	CHECK_EQ_INT(http_pct_decode(S(""), out, sizeof out), 0);
	CHECK_EQ_INT(http_pct_decode(S("abc"), out, sizeof out), 3);
	CHECK_MEM(out, 3, "abc", 3);
	CHECK_EQ_INT(http_pct_decode(S("a%20b+c"), out, sizeof out), 5);
	CHECK_MEM(out, 5, "a b+c", 5);
	CHECK_EQ_INT(http_pct_decode(S("%2f%2F%aA%Ff"), out, sizeof out), 4);
	CHECK_MEM(out, 4, "//\xaa\xff", 4);
	CHECK_EQ_INT(http_pct_decode(S("%25%32%35"), out, sizeof out), 3);
	CHECK_MEM(out, 3, "%25", 3);
	CHECK_EQ_INT(http_pct_decode(S("%"), out, sizeof out), -1);
	CHECK_EQ_INT(http_pct_decode(S("a%"), out, sizeof out), -1);
	CHECK_EQ_INT(http_pct_decode(S("%4"), out, sizeof out), -1);
	CHECK_EQ_INT(http_pct_decode(S("%zz"), out, sizeof out), -1);
	CHECK_EQ_INT(http_pct_decode(S("%4g"), out, sizeof out), -1);
	CHECK_EQ_INT(http_pct_decode(S("%g4"), out, sizeof out), -1);
	CHECK_EQ_INT(http_pct_decode(S("% 41"), out, sizeof out), -1);
	CHECK_EQ_INT(http_pct_decode(S("%+1"), out, sizeof out), -1);
	CHECK_EQ_INT(http_pct_decode(S("%00"), out, sizeof out), -1);
	CHECK_EQ_INT(http_pct_decode(S("a\0b"), out, sizeof out), -1);

	/* Exactly cap bytes fit; one more does not. */
	CHECK_EQ_INT(http_pct_decode(S("abcd"), out, 4), 4);
	CHECK_EQ_INT(http_pct_decode(S("abcde"), out, 4), -1);
	CHECK_EQ_INT(http_pct_decode(S("abc%41"), out, 4), 4);
	CHECK_EQ_INT(http_pct_decode(S("abcd%41"), out, 4), -1);
	CHECK_EQ_INT(http_pct_decode(S("a"), out, 0), -1);
	CHECK_EQ_INT(http_pct_decode(S(""), out, 0), 0);

	/* A '%' at the very end must not read past it. */
	g = (char *)unit_guard("ab%4", 4, 2);
	CHECK_EQ_INT(http_pct_decode(g, 4, out, sizeof out), -1);
	g = (char *)unit_guard("ab%", 3, 2);
	CHECK_EQ_INT(http_pct_decode(g, 3, out, sizeof out), -1);
	g = (char *)unit_guard("ab%41", 5, 2);
	CHECK_EQ_INT(http_pct_decode(g, 5, out, sizeof out), 3);
}

/* Resolves a guarded copy of target and compares with want (NULL: -1). */
static int
resolves(const char *target, const char *want)
{
	char out[64];
	size_t n = strlen(target);
	const char *g = (const char *)unit_guard(target, n, 2);
	int rc;

	memset(out, 'Z', sizeof out);
	rc = http_path_resolve(g, n, out, sizeof out);
	if (want == NULL)
		return rc == -1 && out[0] == '\0';
	return rc == 0 && strcmp(out, want) == 0;
}

/* http_path_dotted on a guarded copy of target. */
static int
dotted(const char *target)
{
	size_t n = strlen(target);
	return http_path_dotted((const char *)unit_guard(target, n, 2), n);
}

static void
test_path_dotted(void)
{
	static const char *const yes[] = {
		"/.env", "/.git/config", "/a/.git/", "/a/b/.hidden", "/.",
		"/..", "/../etc/passwd", "/a/../b", "/%2eenv", "/%2Eenv",
		"/a%2f.env", "/a%2F%2e", "//.x", "/a/./b", ".x", "/.?q",
	};
	static const char *const no[] = {
		"/", "", "/index.html", "/a.b/c.d", "/a/b.", "/a/b./c",
		"/x?/.env", "/x#/.env", "/%2fa", "/a%2e", "?/.x",
	};
	size_t i;

	for (i = 0; i < sizeof yes / sizeof yes[0]; i++)
		if (dotted(yes[i]) != 1) {
			CHECK(!"dotted");
			fprintf(stderr, "  not dotted: %s\n", yes[i]);
		} else
			CHECK(1);
	for (i = 0; i < sizeof no / sizeof no[0]; i++)
		if (dotted(no[i]) == 1) {
			CHECK(!"not dotted");
			fprintf(stderr, "  dotted: %s\n", no[i]);
		} else
			CHECK(1);
	/* Malformed escapes before any dot; a dot first wins. */
	CHECK_EQ_INT(dotted("/a%zz"), -1);
	CHECK_EQ_INT(dotted("/a%2"), -1);
	CHECK_EQ_INT(dotted("/%"), -1);
	CHECK_EQ_INT(dotted("/a/.%"), 1);
	CHECK_EQ_INT(dotted("/a%2e"), 0);
	/* Every prefix of a dotted target answers 0, -1 or 1, never reads past. */
	{
		static const char t[] = "/ab%2f%2e%2egit/x";
		for (i = 0; i <= sizeof t - 1; i++) {
			int r = http_path_dotted((const char *)unit_guard(t, i, 2), i);
			CHECK(r >= -1 && r <= 1);
		}
		CHECK_EQ_INT(dotted(t), 1);
	}
}

static void
test_path_resolve(void)
{
	char out[8];

	CHECK(resolves("/", ""));
	CHECK(resolves("/a/b.js", "a/b.js"));
	CHECK(resolves("/dir/", "dir/"));
	CHECK(resolves("//", ""));
	CHECK(resolves("///a//b//", "a/b/"));
	CHECK(resolves("/./", ""));
	CHECK(resolves("/.", ""));
	CHECK(resolves("/a/./b", "a/b"));
	CHECK(resolves("/a/.", "a/"));
	CHECK(resolves("/./a", "a"));
	CHECK(resolves("/%2e/a", "a"));
	CHECK(resolves("/index.html?x=1", "index.html"));
	CHECK(resolves("/a?../../etc/passwd", "a"));
	CHECK(resolves("/a#frag", "a"));
	CHECK(resolves("/?", ""));
	CHECK(resolves("/a%20b.txt", "a b.txt"));
	CHECK(resolves("/a%3Fb", "a?b"));
	CHECK(resolves("/caf%C3%A9", "caf\xc3\xa9"));
	CHECK(resolves("/a+b", "a+b"));
	CHECK(resolves("/a%2Fb", "a/b"));
	CHECK(resolves("/%2F%2Fetc/passwd", "etc/passwd"));
	CHECK(resolves("/...", "..."));
	CHECK(resolves("/..a/a..", "..a/a.."));
	CHECK(resolves("/.well-known/x", ".well-known/x"));

	/* ".." in every spelling. */
	CHECK(resolves("/..", NULL));
	CHECK(resolves("/../etc/passwd", NULL));
	CHECK(resolves("/a/../b", NULL));
	CHECK(resolves("/a/..", NULL));
	CHECK(resolves("/a/../", NULL));
	CHECK(resolves("/%2e%2e/x", NULL));
	CHECK(resolves("/%2E%2E", NULL));
	CHECK(resolves("/.%2e/x", NULL));
	CHECK(resolves("/a%2f..%2fb", NULL));
	CHECK(resolves("/a%2F..", NULL));
	CHECK(resolves("/..%2fetc", NULL));
	CHECK(resolves("/..%2Fetc", NULL));
	CHECK(resolves("/a/..%2f", NULL));

	/* Bad bytes and bad escapes. */
	CHECK(resolves("/a%00b", NULL));
	CHECK(resolves("/a%00", NULL));
	CHECK(resolves("/a\\b", NULL));
	CHECK(resolves("/a%5cb", NULL));
	CHECK(resolves("/..%5c..%5cetc", NULL));
	CHECK(resolves("/a%0ab", NULL));
	CHECK(resolves("/a%0d", NULL));
	CHECK(resolves("/a%1f", NULL));
	CHECK(resolves("/a%7f", NULL));
	CHECK(resolves("/a%", NULL));
	CHECK(resolves("/a%4", NULL));
	CHECK(resolves("/a%zz", NULL));

	/* Not origin-form. */
	CHECK(resolves("", NULL));
	CHECK(resolves("a", NULL));
	CHECK(resolves("*", NULL));
	CHECK(resolves("?/a", NULL));
	CHECK(resolves("http://h/a", NULL));
	CHECK(resolves("%2fa", NULL));

	/* Capacity: the NUL must fit too. */
	CHECK_EQ_INT(http_path_resolve(S("/abcdef"), out, 8), 0);
	CHECK(strcmp(out, "abcdef") == 0);
	CHECK_EQ_INT(http_path_resolve(S("/abcdefg"), out, 8), 0);
	CHECK(strcmp(out, "abcdefg") == 0);
	CHECK_EQ_INT(http_path_resolve(S("/abcdefgh"), out, 8), -1);
	CHECK_EQ_INT(http_path_resolve(S("/abcdefgh?q"), out, 8), -1);
	CHECK_EQ_INT(http_path_resolve(S("/a//////?q"), out, 8), 0);
	CHECK(strcmp(out, "a/") == 0);
	CHECK_EQ_INT(http_path_resolve(S("/abcdefg/"), out, 8), -1);
	CHECK_EQ_INT(http_path_resolve(S("/abcdef/"), out, 8), 0);
	CHECK(strcmp(out, "abcdef/") == 0);
	/* A "." that is removed again need not fit. */
	CHECK_EQ_INT(http_path_resolve(S("/abcdef/."), out, 8), 0);
	CHECK(strcmp(out, "abcdef/") == 0);
	CHECK_EQ_INT(http_path_resolve(S("/abcdefg/."), out, 8), -1);
	CHECK_EQ_INT(http_path_resolve(S("/abcdef/.."), out, 8), -1);
	CHECK_EQ_INT(http_path_resolve(S("/abcdef/%2e%2e"), out, 8), -1);
	CHECK_EQ_INT(http_path_resolve(S("/abcdef/./"), out, 8), 0);
	CHECK(strcmp(out, "abcdef/") == 0);
	CHECK_EQ_INT(http_path_resolve(S("/abcdef/.x"), out, 8), -1);
	CHECK_EQ_INT(http_path_resolve(S("/abcdefghijk/../"), out, 8), -1);
	CHECK_EQ_INT(http_path_resolve(S("/"), out, 1), 0);
	CHECK(out[0] == '\0');
	CHECK_EQ_INT(http_path_resolve(S("/a"), out, 1), -1);
	CHECK_EQ_INT(http_path_resolve(S("/"), out, 0), -1);
}

static void
test_target_split(void)
{
	struct http_seg seg[4];
	const char *g;

#define SPLIT(lit) \
	(g = (const char *)unit_guard(S(lit), 2), \
	 http_target_split(g, sizeof(lit) - 1, seg, 4))

	CHECK_EQ_INT(SPLIT("/"), 0);
	CHECK_EQ_INT(SPLIT("/?a/b"), 0);
	CHECK_EQ_INT(SPLIT("/jwt"), 1);
	CHECK_MEM(seg[0].p, seg[0].n, "jwt", 3);
	CHECK(seg[0].p == g + 1);
	CHECK_EQ_INT(SPLIT("/chat/ey.J.x?x=/1"), 2);
	CHECK_MEM(seg[0].p, seg[0].n, "chat", 4);
	CHECK_MEM(seg[1].p, seg[1].n, "ey.J.x", 6);
	CHECK_EQ_INT(SPLIT("/a%2Fb/c#x/y"), 2);
	CHECK_MEM(seg[0].p, seg[0].n, "a%2Fb", 5);
	CHECK_MEM(seg[1].p, seg[1].n, "c", 1);
	CHECK_EQ_INT(SPLIT("/a/"), 2);
	CHECK_MEM(seg[0].p, seg[0].n, "a", 1);
	CHECK_EQ_INT(seg[1].n, 0);
	CHECK_EQ_INT(SPLIT("//a"), 2);
	CHECK_EQ_INT(seg[0].n, 0);
	CHECK_MEM(seg[1].p, seg[1].n, "a", 1);
	CHECK_EQ_INT(SPLIT("/a/b/c/d"), 4);
	CHECK_MEM(seg[3].p, seg[3].n, "d", 1);
	CHECK_EQ_INT(SPLIT("/a/b/c/d/"), -1);
	CHECK_EQ_INT(SPLIT("/a/b/c/d/e"), -1);
	CHECK_EQ_INT(SPLIT(""), -1);
	CHECK_EQ_INT(SPLIT("a/b"), -1);
	CHECK_EQ_INT(SPLIT("?/a"), -1);
	CHECK_EQ_INT(SPLIT("*"), -1);
	CHECK_EQ_INT(http_target_split(S("/a"), seg, 0), -1);
	CHECK_EQ_INT(http_target_split(S("/"), seg, 0), 0);
#undef SPLIT
}

/* Issue 15 item 8: Content-Length and Host rules of RFC 9112. */
static void
test_framing_fields(void)
{
	/* HTTP/1.1 needs exactly one Host; HTTP/1.0 at most one. */
	CHECK_EQ_INT(PARSE("GET / HTTP/1.1\r\n\r\n"), -1);
	CHECK_EQ_INT(PARSE("GET / HTTP/1.1\r\nX: 1\r\n\r\n"), -1);
	CHECK_EQ_INT(PARSE("GET / HTTP/1.1\r\nHost: a\r\n\r\n"), 27);
	CHECK_EQ_INT(PARSE("GET / HTTP/1.1\r\nhOST:\r\n\r\n"), 25);
	CHECK_EQ_INT(PARSE("GET / HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n"), -1);
	CHECK_EQ_INT(PARSE("GET / HTTP/1.1\r\nHost: a\r\nhost: b\r\n\r\n"), -1);
	CHECK_EQ_INT(PARSE("GET / HTTP/1.0\r\n\r\n"), 18);
	CHECK_EQ_INT(PARSE("GET / HTTP/1.0\r\nHost: a\r\nHost: b\r\n\r\n"), -1);
	/* A missing Host is only known at the end: -2 until then. */
	CHECK_EQ_INT(http_parse(S("GET / HTTP/1.1\r\nX: 1\r\n"), &req), -2);

#define H11 "POST / HTTP/1.1\r\nHost: h\r\n"
	CHECK_EQ_INT(PARSE(H11 "Content-Length: 5\r\n\r\n"), 47);
	CHECK_EQ_INT(PARSE(H11 "Content-Length: 5\r\nContent-Length: 5\r\n\r\n"),
	    66);
	CHECK_EQ_INT(PARSE(H11 "Content-Length: 5, 5,5\r\n\r\n"), 52);
	CHECK_EQ_INT(PARSE(H11 "Content-Length: 5\r\ncontent-length: 05\r\n\r\n"),
	    67);
	CHECK_EQ_INT(PARSE(H11 "Content-Length: 0\r\nContent-Length: 000\r\n\r\n"),
	    68);
	/* Different values: the body's end would be a guess. */
	CHECK_EQ_INT(PARSE(H11 "Content-Length: 5\r\nContent-Length: 6\r\n\r\n"), -1);
	CHECK_EQ_INT(PARSE(H11 "Content-Length: 6\r\nContent-Length: 5\r\n\r\n"), -1);
	CHECK_EQ_INT(PARSE(H11 "Content-Length: 5, 6\r\n\r\n"), -1);
	CHECK_EQ_INT(PARSE(H11 "Content-Length: 5\r\nContent-Length: 5, 50\r\n\r\n"),
	    -1);
	CHECK_EQ_INT(PARSE(H11 "Content-Length: 99999999999999999999999\r\n"
	    "Content-Length: 99999999999999999999998\r\n\r\n"), -1);
	/* Not a number. */
	CHECK_EQ_INT(PARSE(H11 "Content-Length:\r\n\r\n"), -1);
	CHECK_EQ_INT(PARSE(H11 "Content-Length: -5\r\n\r\n"), -1);
	CHECK_EQ_INT(PARSE(H11 "Content-Length: +5\r\n\r\n"), -1);
	CHECK_EQ_INT(PARSE(H11 "Content-Length: 5 5\r\n\r\n"), -1);
	CHECK_EQ_INT(PARSE(H11 "Content-Length: 0x5\r\n\r\n"), -1);
	CHECK_EQ_INT(PARSE(H11 "Content-Length: 5,\r\n\r\n"), -1);
	CHECK_EQ_INT(PARSE(H11 "Content-Length: ,5\r\n\r\n"), -1);
	CHECK_EQ_INT(PARSE(H11 "Content-Length: 5.0\r\n\r\n"), -1);
	CHECK_EQ_INT(PARSE(H11 "Content-Length: \xd9\xa5\r\n\r\n"), -1);
}

/* Parses the literal head, which must be valid, then asks for its body. */
static int
body(const char *s, size_t n, size_t max, size_t *len)
{
	if (parse(s, n) <= 0)
		return -100;
	return http_body_length(&req, max, len);
}
#define BODY(lit, max) body(S(lit), max, &len)

static void
test_body_length(void)
{
	size_t len = 99;

	CHECK_EQ_INT(BODY(H11 "\r\n", 10), 0);
	CHECK_EQ_INT(len, 0);
	CHECK_EQ_INT(BODY(H11 "Content-Length: 10\r\n\r\n", 10), 0);
	CHECK_EQ_INT(len, 10);
	CHECK_EQ_INT(BODY(H11 "Content-Length: 0010\r\n\r\n", 10), 0);
	CHECK_EQ_INT(len, 10);
	/* The boundary: max is allowed, one more is 413. */
	CHECK_EQ_INT(BODY(H11 "Content-Length: 11\r\n\r\n", 10), 413);
	CHECK_EQ_INT(len, 0);
	CHECK_EQ_INT(BODY(H11 "Content-Length: 0\r\n\r\n", 0), 0);
	CHECK_EQ_INT(BODY(H11 "Content-Length: 1\r\n\r\n", 0), 413);
	/* Far past any size_t: 413, not a wrapped small number. */
	CHECK_EQ_INT(BODY(H11 "Content-Length: 18446744073709551616\r\n\r\n",
	    SIZE_MAX), 413);
	CHECK_EQ_INT(BODY(H11 "Content-Length: 18446744073709551615\r\n\r\n",
	    SIZE_MAX), 0);
	CHECK(len == SIZE_MAX);
	CHECK_EQ_INT(BODY(H11 "Content-Length: 18446744073709551615\r\n\r\n",
	    SIZE_MAX - 1), 413);
	CHECK_EQ_INT(BODY(H11 "Content-Length: 1844674407370955161\r\n\r\n",
	    SIZE_MAX), 0);
	CHECK(len == SIZE_MAX / 10);
	CHECK_EQ_INT(BODY(H11 "Content-Length: 000000000000000000000000001\r\n"
	    "\r\n", 1), 0);
	CHECK_EQ_INT(len, 1);

	/* Transfer-Encoding. */
	CHECK_EQ_INT(BODY(H11 "Transfer-Encoding: chunked\r\n\r\n", 10), 411);
	CHECK_EQ_INT(BODY(H11 "Transfer-Encoding: Chunked \r\n\r\n", 10), 411);
	CHECK_EQ_INT(BODY(H11 "Transfer-Encoding: gzip, chunked\r\n\r\n", 10),
	    501);
	CHECK_EQ_INT(BODY(H11 "Transfer-Encoding: gzip\r\n"
	    "Transfer-Encoding: chunked\r\n\r\n", 10), 501);
	CHECK_EQ_INT(BODY(H11 "Transfer-Encoding: identity\r\n\r\n", 10), 501);
	CHECK_EQ_INT(BODY(H11 "Transfer-Encoding: chunked\r\n"
	    "Content-Length: 3\r\n\r\n", 10), 400);
	CHECK_EQ_INT(BODY(H11 "Transfer-Encoding:\r\n\r\n", 10), 400);
	CHECK_EQ_INT(BODY(H11 "Transfer-Encoding: ,\r\n\r\n", 10), 400);
	CHECK_EQ_INT(BODY("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n",
	    10), 400);

	/* A request built elsewhere is not trusted either. */
	CHECK(PARSE(H11 "Content-Length: 3\r\nX: 4\r\n\r\n") > 0);
	req.hdr[2].name = "Content-Length";
	req.hdr[2].name_len = 14;
	CHECK_EQ_INT(http_body_length(&req, 10, &len), 400);
	req.hdr[2].value = "3";
	CHECK_EQ_INT(http_body_length(&req, 10, &len), 0);
	CHECK_EQ_INT(len, 3);
	req.hdr[2].value = "x";
	CHECK_EQ_INT(http_body_length(&req, 10, &len), 400);
}

static void
test_expect(void)
{
	CHECK(PARSE(H11 "\r\n") > 0);
	CHECK_EQ_INT(http_expect(&req), 0);
	CHECK(PARSE(H11 "Expect: 100-continue\r\n\r\n") > 0);
	CHECK_EQ_INT(http_expect(&req), 100);
	CHECK(PARSE(H11 "Expect: 100-Continue \r\n\r\n") > 0);
	CHECK_EQ_INT(http_expect(&req), 100);
	CHECK(PARSE(H11 "Expect: , 100-continue,\r\n\r\n") > 0);
	CHECK_EQ_INT(http_expect(&req), 100);
	CHECK(PARSE(H11 "Expect:\r\n\r\n") > 0);
	CHECK_EQ_INT(http_expect(&req), 0);
	CHECK(PARSE(H11 "Expect: 100-continue, foo\r\n\r\n") > 0);
	CHECK_EQ_INT(http_expect(&req), 417);
	CHECK(PARSE(H11 "Expect: 100-continue\r\nExpect: 200-ok\r\n\r\n") > 0);
	CHECK_EQ_INT(http_expect(&req), 417);
	CHECK(PARSE(H11 "Expect: 100-continuex\r\n\r\n") > 0);
	CHECK_EQ_INT(http_expect(&req), 417);
	CHECK(PARSE(H11 "Expect: 100\r\n\r\n") > 0);
	CHECK_EQ_INT(http_expect(&req), 417);
	/* HTTP/1.0: the expectation is ignored (RFC 9110 section 10.1.1). */
	CHECK(PARSE("POST / HTTP/1.0\r\nExpect: 100-continue\r\n\r\n") > 0);
	CHECK_EQ_INT(http_expect(&req), 0);
}

#define JWT "eyJhbGciOiJIUzI1NiJ9.eyJleHAiOjF9.c2ln-_0"
#define GET11 "GET /chat HTTP/1.1\r\nHost: h\r\n"

/* Parses the head and returns http_ws_protocol() for it. */
static int
wsp(const char *s, size_t n, const char **tok, size_t *tn)
{
	if (parse(s, n) <= 0)
		return -100;
	return http_ws_protocol(&req, tok, tn);
}
#define WSP(lit) wsp(S(lit), &tok, &tn)

static void
test_ws_protocol(void)
{
	const char *tok;
	size_t tn;

	CHECK_EQ_INT(WSP(GET11 "\r\n"), 0);
	CHECK(tok == NULL && tn == 0);
	CHECK_EQ_INT(WSP(GET11 "Sec-WebSocket-Protocol: chat, superchat\r\n\r\n"), 0);
	CHECK(tok == NULL);
	CHECK_EQ_INT(WSP(GET11 "Sec-WebSocket-Protocol: pgws\r\n\r\n"), 1);
	CHECK(tok == NULL);
	/* What a browser sends for new WebSocket(url, ["pgws", token]). */
	CHECK_EQ_INT(WSP(GET11 "Sec-WebSocket-Protocol: pgws, " JWT "\r\n\r\n"), 2);
	CHECK_SLICE(tok, tn, JWT);
	/* The token first, no spaces, empty elements, several fields. */
	CHECK_EQ_INT(WSP(GET11 "Sec-WebSocket-Protocol: " JWT ",pgws\r\n\r\n"), 2);
	CHECK_SLICE(tok, tn, JWT);
	CHECK_EQ_INT(WSP(GET11 "Sec-WebSocket-Protocol: ,\t" JWT " ,, \r\n"
	    "sec-websocket-protocol: pgws\r\n\r\n"), 2);
	CHECK_SLICE(tok, tn, JWT);
	/* The token slice points into the request, not a copy. */
	CHECK(tok > req.hdr[1].value && tok < req.hdr[1].value + req.hdr[1].value_len);

	/* Case matters for "pgws"; "PGWS" is just another protocol. */
	CHECK_EQ_INT(WSP(GET11 "Sec-WebSocket-Protocol: PGWS\r\n\r\n"), 0);
	CHECK_EQ_INT(WSP(GET11 "Sec-WebSocket-Protocol: PGWS, " JWT "\r\n\r\n"), 0);
	/* Refused: duplicates, two candidates, a non-JWT beside pgws. */
	CHECK_EQ_INT(WSP(GET11 "Sec-WebSocket-Protocol: pgws, pgws\r\n\r\n"), -1);
	CHECK_EQ_INT(WSP(GET11 "Sec-WebSocket-Protocol: pgws\r\n"
	    "Sec-WebSocket-Protocol: pgws\r\n\r\n"), -1);
	CHECK_EQ_INT(WSP(GET11 "Sec-WebSocket-Protocol: pgws, " JWT ", " JWT
	    "\r\n\r\n"), -1);
	CHECK_EQ_INT(WSP(GET11 "Sec-WebSocket-Protocol: pgws, chat\r\n\r\n"), -1);
	CHECK_EQ_INT(WSP(GET11 "Sec-WebSocket-Protocol: pgws, a.b\r\n\r\n"), -1);
	CHECK_EQ_INT(WSP(GET11 "Sec-WebSocket-Protocol: pgws, a.b.c.d\r\n\r\n"), -1);
	CHECK_EQ_INT(WSP(GET11 "Sec-WebSocket-Protocol: pgws, a..c\r\n\r\n"), -1);
	CHECK_EQ_INT(WSP(GET11 "Sec-WebSocket-Protocol: pgws, .b.c\r\n\r\n"), -1);
	CHECK_EQ_INT(WSP(GET11 "Sec-WebSocket-Protocol: pgws, a.b.\r\n\r\n"), -1);
	CHECK_EQ_INT(WSP(GET11 "Sec-WebSocket-Protocol: pgws, a.b.c=\r\n\r\n"), -1);
	CHECK_EQ_INT(WSP(GET11 "Sec-WebSocket-Protocol: pgws, a.b+.c\r\n\r\n"), -1);
	CHECK_EQ_INT(WSP(GET11 "Sec-WebSocket-Protocol: pgws, a.b.c~\r\n\r\n"), -1);
	/* Not tokens at all: refused whether or not pgws is there. */
	CHECK_EQ_INT(WSP(GET11 "Sec-WebSocket-Protocol: pgws, a b.c.d\r\n\r\n"), -1);
	CHECK_EQ_INT(WSP(GET11 "Sec-WebSocket-Protocol: pgws; x\r\n\r\n"), -1);
	CHECK_EQ_INT(WSP(GET11 "Sec-WebSocket-Protocol: \"pgws\"\r\n\r\n"), -1);
	CHECK_EQ_INT(WSP(GET11 "Sec-WebSocket-Protocol: ch\xc3\xa9t\r\n\r\n"), -1);
	CHECK_EQ_INT(WSP(GET11 "Sec-WebSocket-Protocol: a/b\r\n\r\n"), -1);
	CHECK_EQ_INT(WSP(GET11 "Sec-WebSocket-Protocol: ,\r\n\r\n"), 0);
}

/* Parses the head and returns http_accepts(type) for it. */
static int
accepts(const char *s, size_t n, const char *type)
{
	if (parse(s, n) <= 0)
		return -100;
	return http_accepts(&req, type);
}
#define ACC(lit) accepts(S(GET11 lit "\r\n"), "text/event-stream")

static void
test_accepts(void)
{
	CHECK_EQ_INT(ACC(""), 0);
	/* What EventSource sends. */
	CHECK_EQ_INT(ACC("Accept: text/event-stream\r\n"), 1);
	CHECK_EQ_INT(ACC("accept: Text/Event-Stream\r\n"), 1);
	CHECK_EQ_INT(ACC("Accept: text/html, text/event-stream;q=0.9\r\n"), 1);
	CHECK_EQ_INT(ACC("Accept: text/html\r\nAccept: text/event-stream\r\n"), 1);
	CHECK_EQ_INT(ACC("Accept: text/event-stream ; charset=utf-8 ; q=1\r\n"), 1);
	CHECK_EQ_INT(ACC("Accept: text/event-stream;q=0.001\r\n"), 1);
	/* q=0 in its spellings refuses it. */
	CHECK_EQ_INT(ACC("Accept: text/event-stream;q=0\r\n"), 0);
	CHECK_EQ_INT(ACC("Accept: text/event-stream; Q=0.000\r\n"), 0);
	CHECK_EQ_INT(ACC("Accept: text/event-stream;q=0.\r\n"), 0);
	CHECK_EQ_INT(ACC("Accept: text/event-stream;q=0, text/event-stream\r\n"), 1);
	/* Wildcards and near misses are not a request for a stream. */
	CHECK_EQ_INT(ACC("Accept: */*\r\n"), 0);
	CHECK_EQ_INT(ACC("Accept: text/*\r\n"), 0);
	CHECK_EQ_INT(ACC("Accept: text/event-streamx\r\n"), 0);
	CHECK_EQ_INT(ACC("Accept: text/event\r\n"), 0);
	CHECK_EQ_INT(ACC("Accept: \"text/event-stream\"\r\n"), 0);
	CHECK_EQ_INT(ACC("X-Accept: text/event-stream\r\n"), 0);
	CHECK_EQ_INT(ACC("Accept: ;text/event-stream\r\n"), 0);
	CHECK_EQ_INT(ACC("Accept: ,,\r\n"), 0);
}

/* Parses the head and returns http_cookie(name) for it. */
static int
cookie(const char *s, size_t n, const char *name, const char **v, size_t *vn)
{
	if (parse(s, n) <= 0)
		return -100;
	return http_cookie(&req, name, v, vn);
}
#define COOKIE(lit, name) cookie(S(lit), name, &v, &vn)

static void
test_cookie(void)
{
	const char *v;
	size_t vn;

	CHECK_EQ_INT(COOKIE(GET11 "\r\n", "pgws_token"), 0);
	CHECK(v == NULL && vn == 0);
	CHECK_EQ_INT(COOKIE(GET11 "Cookie: pgws_token=" JWT "\r\n\r\n",
	    "pgws_token"), 1);
	CHECK_SLICE(v, vn, JWT);
	CHECK_EQ_INT(COOKIE(GET11 "Cookie: a=1; pgws_token=abc; b=2\r\n\r\n",
	    "pgws_token"), 1);
	CHECK_SLICE(v, vn, "abc");
	CHECK_EQ_INT(COOKIE(GET11 "Cookie: a=1;pgws_token = \"abc\" ;b\r\n\r\n",
	    "pgws_token"), 1);
	CHECK_SLICE(v, vn, "abc");
	/* Over several Cookie fields; the same value twice is fine. */
	CHECK_EQ_INT(COOKIE(GET11 "Cookie: a=1\r\nCookie: pgws_token=x; "
	    "pgws_token=x\r\n\r\n", "pgws_token"), 1);
	CHECK_SLICE(v, vn, "x");
	/* Names are case-sensitive and whole. */
	CHECK_EQ_INT(COOKIE(GET11 "Cookie: PGWS_TOKEN=x; pgws_tokenx=y; "
	    "xpgws_token=z\r\n\r\n", "pgws_token"), 0);
	/* A value with '=' in it: only the first '=' splits. */
	CHECK_EQ_INT(COOKIE(GET11 "Cookie: pgws_token=a=b\r\n\r\n", "pgws_token"), 1);
	CHECK_SLICE(v, vn, "a=b");
	/* Empty (a logout): absent, and the other copy wins. */
	CHECK_EQ_INT(COOKIE(GET11 "Cookie: pgws_token=\r\n\r\n", "pgws_token"), 0);
	CHECK_EQ_INT(COOKIE(GET11 "Cookie: pgws_token=\"\"\r\n\r\n", "pgws_token"), 0);
	CHECK_EQ_INT(COOKIE(GET11 "Cookie: pgws_token=; pgws_token=q\r\n\r\n",
	    "pgws_token"), 1);
	CHECK_SLICE(v, vn, "q");
	/* Two different values: refused, never a guess. */
	CHECK_EQ_INT(COOKIE(GET11 "Cookie: pgws_token=a; pgws_token=b\r\n\r\n",
	    "pgws_token"), -1);
	CHECK(v == NULL);
	/* Bytes that are not cookie-octets in our value. */
	CHECK_EQ_INT(COOKIE(GET11 "Cookie: pgws_token=a b\r\n\r\n", "pgws_token"), -1);
	CHECK_EQ_INT(COOKIE(GET11 "Cookie: pgws_token=a,b\r\n\r\n", "pgws_token"), -1);
	CHECK_EQ_INT(COOKIE(GET11 "Cookie: pgws_token=\"a\r\n\r\n", "pgws_token"), -1);
	CHECK_EQ_INT(COOKIE(GET11 "Cookie: pgws_token=a\\b\r\n\r\n", "pgws_token"), -1);
	CHECK_EQ_INT(COOKIE(GET11 "Cookie: pgws_token=\xc3\xa9\r\n\r\n", "pgws_token"), -1);
	/* ... but other cookies may be as sloppy as they like. */
	CHECK_EQ_INT(COOKIE(GET11 "Cookie: x=a b,\"\\\xff; pgws_token=t\r\n\r\n",
	    "pgws_token"), 1);
	CHECK_SLICE(v, vn, "t");
	CHECK_EQ_INT(COOKIE(GET11 "Cookie: ;;; ; pgws_token=t;\r\n\r\n",
	    "pgws_token"), 1);
	CHECK_SLICE(v, vn, "t");
	CHECK_EQ_INT(COOKIE(GET11 "Cookie: =x\r\n\r\n", ""), 0);
}

static void
test_origins(void)
{
	char err[256];
#define OK_LIST(lit) do { \
	CHECK_EQ_INT(http_origins_check(S(lit), err, sizeof err), 0); \
	CHECK_EQ_INT(err[0], '\0'); \
} while (0)
#define BAD_LIST(lit, msg) do { \
	CHECK_EQ_INT(http_origins_check(S(lit), err, sizeof err), -1); \
	if (!strstr(err, msg)) { unit_fail++; \
		fprintf(stderr, "%s:%d: error \"%s\"\n", __FILE__, __LINE__, err); \
	} else unit_pass++; \
} while (0)
#define ALLOWED(list, origin) http_origin_allowed(S(list), S(origin))

	OK_LIST("https://app.example.com");
	OK_LIST("https://app.example.com, http://localhost:8080 ,http://[::1]:3000");
	OK_LIST(",https://a.example,,");
	OK_LIST("HTTPS://A.EXAMPLE:8443");
	OK_LIST("http://127.0.0.1");
	OK_LIST("chrome-extension://abcdefghijklmnop");
	BAD_LIST("", "no origin listed");
	BAD_LIST(" , ,", "no origin listed");
	BAD_LIST("*", "'*' is refused");
	BAD_LIST("https://a.example, *", "origin 2 \"*\"");
	BAD_LIST("null", "'null'");
	BAD_LIST("https://a.example/", "no path");
	BAD_LIST("https://a.example/app", "no path");
	BAD_LIST("a.example", "expected scheme://host[:port]");
	BAD_LIST("https//a.example", "expected scheme://host[:port]");
	BAD_LIST("://a.example", "expected scheme://host[:port]");
	BAD_LIST("1http://a.example", "expected scheme://host[:port]");
	BAD_LIST("https://", "no host");
	BAD_LIST("https://:443", "no host");
	BAD_LIST("https://a.example:", "port must be 1-65535");
	BAD_LIST("https://a.example:0", "port must be 1-65535");
	BAD_LIST("https://a.example:65536", "port must be 1-65535");
	BAD_LIST("https://a.example:0443", "port must be 1-65535");
	BAD_LIST("https://a.example:4430000000000000000000", "port must be 1-65535");
	BAD_LIST("https://user@a.example", "unexpected character");
	BAD_LIST("https://a.example?x", "unexpected character");
	BAD_LIST("https://a b.example", "unexpected character");
	BAD_LIST("https://[::1", "bad IPv6 literal");
	BAD_LIST("https://[]", "bad IPv6 literal");
	BAD_LIST("https://[::g]", "bad IPv6 literal");
	/* The entry is shown escaped in the message. */
	BAD_LIST("https://a\x1b[31m", "origin 1 \"https://a\\x1b[31m\"");
	OK_LIST("https://a.example:65535");
	/* A small err buffer is cut, still NUL-terminated; none is fine too. */
	CHECK_EQ_INT(http_origins_check(S("*"), err, 5), -1);
	CHECK_EQ_INT(strlen(err), 4);
	CHECK_EQ_INT(http_origins_check(S("*"), NULL, 0), -1);

	CHECK_EQ_INT(ALLOWED("https://app.example.com", "https://app.example.com"), 1);
	CHECK_EQ_INT(ALLOWED("https://app.example.com", "HTTPS://App.Example.COM"), 1);
	CHECK_EQ_INT(ALLOWED("https://a.x, http://b.x:8080", "http://b.x:8080"), 1);
	CHECK_EQ_INT(ALLOWED("https://a.x, http://b.x:8080", "http://b.x"), 0);
	CHECK_EQ_INT(ALLOWED("https://a.x, http://b.x:8080", "http://b.x:80"), 0);
	CHECK_EQ_INT(ALLOWED("https://a.x, http://b.x:8080", "https://b.x:8080"), 0);
	/* Default ports are the same origin either way. */
	CHECK_EQ_INT(ALLOWED("https://a.x:443", "https://a.x"), 1);
	CHECK_EQ_INT(ALLOWED("https://a.x", "https://a.x:443"), 1);
	CHECK_EQ_INT(ALLOWED("http://a.x", "http://a.x:80"), 1);
	CHECK_EQ_INT(ALLOWED("http://a.x", "https://a.x"), 0);
	CHECK_EQ_INT(ALLOWED("https://a.x", "http://a.x:443"), 0);
	/* Look-alikes. */
	CHECK_EQ_INT(ALLOWED("https://a.x", "https://a.x.evil"), 0);
	CHECK_EQ_INT(ALLOWED("https://a.x", "https://evil.a.x"), 0);
	CHECK_EQ_INT(ALLOWED("https://a.x", "https://a.x/"), 0);
	CHECK_EQ_INT(ALLOWED("https://a.x", "https://a.x."), 0);
	CHECK_EQ_INT(ALLOWED("https://a.x", "https://a.x https://b.x"), 0);
	CHECK_EQ_INT(ALLOWED("https://a.x", "https://a.x, https://b.x"), 0);
	CHECK_EQ_INT(ALLOWED("https://a.x", "null"), 0);
	CHECK_EQ_INT(ALLOWED("https://a.x", ""), 0);
	CHECK_EQ_INT(ALLOWED("https://a.x", "https://a.x:"), 0);
	CHECK_EQ_INT(ALLOWED("http://[::1]:3000", "http://[::1]:3000"), 1);
	CHECK_EQ_INT(ALLOWED("http://[::1]:3000", "http://[::1]"), 0);
	/* The Origin header is read with guards on both sides. */
	{
		const char *g = (const char *)unit_guard(S("https://a.x:44"), 0);
		CHECK_EQ_INT(http_origin_allowed(S("https://a.x:44"), g, 14), 1);
		g = (const char *)unit_guard(S("https://a.x:4"), 0);
		CHECK_EQ_INT(http_origin_allowed(S("https://a.x:44"), g, 13), 0);
	}
#undef OK_LIST
#undef BAD_LIST
#undef ALLOWED
}

/* Escapes lit with cap bytes of room, the input guarded; compares. */
static void
log_is(int redact, const char *s, size_t n, size_t cap, const char *want,
    int line)
{
	char out[512];
	const char *g = (const char *)unit_guard(s, n, 0);
	size_t r;

	memset(out, 'Z', sizeof out);
	r = redact ? http_log_target(g, n, out, cap) :
	    http_log_escape(g, n, out, cap);
	if (r != strlen(want) || strcmp(out, want) != 0 || out[cap] != 'Z') {
		unit_fail++;
		fprintf(stderr, "%s:%d: got %zu \"%.*s\", expected \"%s\"\n",
		    __FILE__, line, r, (int)(r < sizeof out ? r : 0), out, want);
	} else
		unit_pass++;
}
#define LOGT(lit, want) log_is(1, S(lit), 200, want, __LINE__)
#define LOGE(lit, want) log_is(0, S(lit), 200, want, __LINE__)

static void
test_log(void)
{
	char out[8];

	/* Every path form of issue 15 item 5. */
	LOGT("/chat/" JWT, "/chat/<token>");
	LOGT("/" JWT, "/<token>");
	LOGT("/other/" JWT "/", "/other/<token>/");
	LOGT("/chat/" JWT "?a=/b/c", "/chat/<token>?a=/b/c");
	LOGT("/chat?token=" JWT "&x=1", "/chat?token=<token>&x=1");
	LOGT("/chat/x?q=/" JWT, "/chat/x?q=/<token>");
	LOGT("/a/" JWT "/b/" JWT, "/a/<token>/b/<token>");
	/* Percent-escaped token bytes still make a token. */
	LOGT("/c/eyJhbGciOiJIUzI1NiJ9%2EeyJleHAiOjF9.c2ln",
	    "/c/<token>");
	LOGT("/c/%65yJhbGciOiJIUzI1NiJ9.eyJleHAiOjF9.c2ln", "/c/<token>");
	/* JSON whitespace before '{' ("\n{" and " {" in base64url). */
	LOGT("/c/CnsiYWxnIjoiIn0.e30.sig", "/c/<token>");
	LOGT("/c/IHsiYWxnIjoiIn0.e30.sig", "/c/<token>");
	/* A JWE (five parts), an empty signature, junk before it. */
	LOGT("/c/eyJhbGciOiIifQ.a.b.c.d", "/c/<token>");
	LOGT("/c/eyJhbGciOiIifQ.e30.", "/c/<token>");
	LOGT("/c/abc.eyJhbGciOiIifQ.e30.x", "/c/<token>");
	LOGT("/c/q" JWT, "/c/<token>");
	LOGT("/c/xy" JWT "/", "/c/<token>/");
	/* One dot after the '{' is enough: "x.eyJ.a" hides the claims too. */
	LOGT("/c/x.eyJhbGciOiIifQ.e30", "/c/<token>");
	/* Not tokens: file names, versions, a lone part, no '{', too short. */
	LOGT("/js/jquery.min.js", "/js/jquery.min.js");
	LOGT("/assets/index.min.js", "/assets/index.min.js");
	LOGT("/example.min.js", "/example.min.js");
	LOGT("/bootstrap.bundle.min.js?v=1.2.3", "/bootstrap.bundle.min.js?v=1.2.3");
	/* A token without its signature still shows its claims. */
	LOGT("/c/eyJhbGciOiIifQ.e30", "/c/<token>");
	LOGT("/c/eyJhbGciOiIifQ", "/c/eyJhbGciOiIifQ");
	LOGT("/c/eyJhIjoxfQ.e30.sig", "/c/eyJhIjoxfQ.e30.sig");
	LOGT("/c/eyJhbGciOiIifQ.e30.sig.eyJhIjoxfQ", "/c/<token>");
	LOGT("/", "/");
	LOGT("", "");
	/* Escaping: controls, quotes, backslashes, non-ASCII, ESC. */
	LOGE("a\"b\\c", "a\\x22b\\x5cc");
	LOGE("x\r\ny\t\x1b[2J\x7f\x80\xff", "x\\x0d\\x0ay\\x09\\x1b[2J\\x7f\\x80\\xff");
	log_is(0, "a\0b", 3, 200, "a\\x00b", __LINE__);
	LOGT("/c/" JWT "\n\x1b", "/c/<token>\\x0a\\x1b");
	/* Cut at whole pieces, "..." at the end, never past cap. */
	log_is(0, S("abcdef"), 7, "abcdef", __LINE__);
	log_is(0, S("abcdef"), 6, "ab...", __LINE__);
	log_is(0, S("abcdefg"), 7, "abc...", __LINE__);
	log_is(0, S("a\nbcdef"), 7, "a...", __LINE__);
	log_is(0, S("ab\nbcdef"), 8, "ab...", __LINE__);
	log_is(0, S("ab\nbcdef"), 10, "ab\\x0a...", __LINE__);
	log_is(1, S("/" JWT "/xyz"), 13, "/<token>/xyz", __LINE__);
	log_is(1, S("/" JWT "/xyz"), 12, "/<token>...", __LINE__);
	log_is(1, S("/" JWT "/xyz"), 11, "/...", __LINE__);
	log_is(0, S("abcdef"), 4, "...", __LINE__);
	log_is(0, S("abcdef"), 3, "", __LINE__);
	log_is(0, S("ab"), 3, "ab", __LINE__);
	log_is(0, S("abc"), 1, "", __LINE__);
	memset(out, 'Z', sizeof out);
	CHECK_EQ_INT(http_log_escape(S("abc"), out, 0), 0);
	CHECK_EQ_INT(out[0], 'Z');
}

static void
test_reason_mime(void)
{
	CHECK(strcmp(http_reason(101), "Switching Protocols") == 0);
	CHECK(strcmp(http_reason(200), "OK") == 0);
	CHECK(strcmp(http_reason(304), "Not Modified") == 0);
	CHECK(strcmp(http_reason(400), "Bad Request") == 0);
	CHECK(strcmp(http_reason(401), "Unauthorized") == 0);
	CHECK(strcmp(http_reason(403), "Forbidden") == 0);
	CHECK(strcmp(http_reason(404), "Not Found") == 0);
	CHECK(strcmp(http_reason(405), "Method Not Allowed") == 0);
	CHECK(strcmp(http_reason(408), "Request Timeout") == 0);
	CHECK(strcmp(http_reason(411), "Length Required") == 0);
	CHECK(strcmp(http_reason(413), "Payload Too Large") == 0);
	CHECK(strcmp(http_reason(417), "Expectation Failed") == 0);
	CHECK(strcmp(http_reason(429), "Too Many Requests") == 0);
	CHECK(strcmp(http_reason(501), "Not Implemented") == 0);
	CHECK(strcmp(http_reason(426), "Upgrade Required") == 0);
	CHECK(strcmp(http_reason(431), "Request Header Fields Too Large") == 0);
	CHECK(strcmp(http_reason(500), "Internal Server Error") == 0);
	CHECK(strcmp(http_reason(503), "Service Unavailable") == 0);
	CHECK(strcmp(http_reason(0), "Unknown") == 0);
	CHECK(strcmp(http_reason(-1), "Unknown") == 0);
	CHECK(strcmp(http_reason(418), "Unknown") == 0);

#define MIME(lit) http_mime(S(lit))
	CHECK(strcmp(MIME("index.html"), "text/html; charset=utf-8") == 0);
	CHECK(strcmp(MIME("a/INDEX.HTM"), "text/html; charset=utf-8") == 0);
	CHECK(strcmp(MIME("app.js"), "text/javascript; charset=utf-8") == 0);
	CHECK(strcmp(MIME("m.Mjs"), "text/javascript; charset=utf-8") == 0);
	CHECK(strcmp(MIME("s.css"), "text/css; charset=utf-8") == 0);
	CHECK(strcmp(MIME("d.json"), "application/json") == 0);
	CHECK(strcmp(MIME("i.svg"), "image/svg+xml") == 0);
	CHECK(strcmp(MIME("i.PNG"), "image/png") == 0);
	CHECK(strcmp(MIME("i.jpg"), "image/jpeg") == 0);
	CHECK(strcmp(MIME("i.jpeg"), "image/jpeg") == 0);
	CHECK(strcmp(MIME("favicon.ico"), "image/x-icon") == 0);
	CHECK(strcmp(MIME("r.txt"), "text/plain; charset=utf-8") == 0);
	CHECK(strcmp(MIME("x.wasm"), "application/wasm") == 0);
	CHECK(strcmp(MIME("a.tar.gz"), "application/octet-stream") == 0);
	CHECK(strcmp(MIME("a.min.js"), "text/javascript; charset=utf-8") == 0);
	CHECK(strcmp(MIME("js"), "application/octet-stream") == 0);
	CHECK(strcmp(MIME("a."), "application/octet-stream") == 0);
	CHECK(strcmp(MIME("a.jsx"), "application/octet-stream") == 0);
	CHECK(strcmp(MIME("a.j"), "application/octet-stream") == 0);
	CHECK(strcmp(MIME("dir.html/file"), "application/octet-stream") == 0);
	CHECK(strcmp(MIME("dir/"), "application/octet-stream") == 0);
	CHECK(strcmp(MIME(""), "application/octet-stream") == 0);
	CHECK(strcmp(MIME("a.html\0x"), "application/octet-stream") == 0);
	CHECK(strcmp(http_mime("a.css!", 5), "text/css; charset=utf-8") == 0);
#undef MIME
}

int
main(void)
{
	test_valid();
	test_incomplete();
	test_reject();
	test_header_lookup();
	test_pct_decode();
	test_path_resolve();
	test_path_dotted();
	test_target_split();
	test_reason_mime();
	test_framing_fields();
	test_body_length();
	test_expect();
	test_ws_protocol();
	test_cookie();
	test_accepts();
	test_origins();
	test_log();
	return unit_done();
}
