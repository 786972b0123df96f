/*
 * HTTP/1.1 request-head parser and helpers.  The parser starts from the
 * first byte on every call instead of keeping state between calls: heads
 * are small and bounded by the caller, and a stateless parser cannot get
 * out of step with the buffer it is given.  It is strict where leniency has
 * let requests be read two ways by two servers (whitespace before ':',
 * folded lines, bare CR), because pgws may well sit behind a proxy.
 */
#include <limits.h>
#include <string.h>

#include "http.h"

/* Bytes in the C locale, never the process locale: these are wire bytes. */
static int
lower(int c)
{
	return c >= 'A' && c <= 'Z' ? c + ('a' - 'A') : c;
}

/* tchar of RFC 9110 section 5.6.2: the bytes a method or field name may use. */
static int
is_tchar(unsigned char c)
{
	if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9'))
		return 1;
	switch (c) {
	case '!': case '#': case '$': case '%': case '&': case '\'':
	case '*': case '+': case '-': case '.': case '^': case '_':
	case '`': case '|': case '~':
		return 1;
	}
	return 0;
}

/*
 * Consumes a line ending at b[*i], which must exist.  Returns 1 after
 * consuming CRLF or LF, 0 if b[*i] does not start a line ending, -2 if a CR
 * is the last byte so far, and -1 for a CR followed by anything but LF.
 */
static int
take_eol(const unsigned char *b, size_t len, size_t *i)
{
	if (b[*i] == '\n') {
		*i += 1;
		return 1;
	}
	if (b[*i] != '\r')
		return 0;
	if (*i + 1 == len)
		return -2;
	if (b[*i + 1] != '\n')
		return -1;
	*i += 2;
	return 1;
}

int
http_parse(const char *buf, size_t len, struct http_req *r)
{
	static const char version[] = "HTTP/1.";
	const unsigned char *b = (const unsigned char *)buf;
	size_t i = 0, start, vend, k;
	int rc;

	/*
	 * RFC 9112 section 2.2 asks servers to ignore empty lines before the
	 * request line; some clients send a stray CRLF after a body.
	 */
	for (;;) {
		if (i == len)
			return -2;
		rc = take_eol(b, len, &i);
		if (rc == 0)
			break;
		if (rc < 0)
			return rc;
	}

	/* Every loop below stops at the end of input and reports -2 there. */
	start = i;
	while (i < len && is_tchar(b[i]))
		i++;
	if (i == len)
		return -2;
	if (i == start || b[i] != ' ')
		return -1;
	r->method = buf + start;
	r->method_len = i - start;
	i++;

	start = i;
	while (i < len && b[i] >= 0x21 && b[i] <= 0x7e)
		i++;
	if (i == len)
		return -2;
	if (i == start || b[i] != ' ')
		return -1;
	r->target = buf + start;
	r->target_len = i - start;
	i++;

	for (k = 0; k < sizeof version - 1; k++, i++) {
		if (i == len)
			return -2;
		if (b[i] != (unsigned char)version[k])
			return -1;
	}
	if (i == len)
		return -2;
	if (b[i] != '0' && b[i] != '1')
		return -1;
	r->minor = b[i] - '0';
	i++;
	if (i == len)
		return -2;
	rc = take_eol(b, len, &i);
	if (rc == 0)
		return -1;
	if (rc < 0)
		return rc;

	r->nhdr = 0;
	for (;;) {
		if (i == len)
			return -2;
		rc = take_eol(b, len, &i);
		if (rc == 1)
			break;
		if (rc < 0)
			return rc;
		/*
		 * A further header line has started; whatever follows, this
		 * head can no longer be valid, so say so now.
		 */
		if (r->nhdr == HTTP_MAX_HEADERS)
			return -3;

		/*
		 * The name must start the line: this also rejects obsolete
		 * line folding, whose continuation lines start with SP or HTAB.
		 */
		start = i;
		while (i < len && is_tchar(b[i]))
			i++;
		if (i == len)
			return -2;
		if (i == start || b[i] != ':')
			return -1;
		r->hdr[r->nhdr].name = buf + start;
		r->hdr[r->nhdr].name_len = i - start;
		i++;

		while (i < len && (b[i] == ' ' || b[i] == '\t'))
			i++;
		start = vend = i;
		for (;;) {
			if (i == len)
				return -2;
			if (b[i] == '\r' || b[i] == '\n')
				break;
			if (b[i] == ' ' || b[i] == '\t') {
				i++;
				continue;
			}
			if (b[i] < 0x21 || b[i] == 0x7f)
				return -1;
			vend = ++i;
		}
		rc = take_eol(b, len, &i);
		if (rc < 0)
			return rc;
		r->hdr[r->nhdr].value = buf + start;
		r->hdr[r->nhdr].value_len = vend - start;
		r->nhdr++;
	}
	if (i > INT_MAX)
		return -1;
	return (int)i;
}

/* Compares the slice s[0..n) with the NUL-terminated lit, ignoring case. */
static int
eq_nocase(const char *s, size_t n, const char *lit)
{
	size_t k;

	for (k = 0; k < n; k++)
		if (lit[k] == '\0' || lower((unsigned char)s[k]) !=
		    lower((unsigned char)lit[k]))
			return 0;
	return lit[n] == '\0';
}

const struct http_hdr *
http_header(const struct http_req *r, const char *name)
{
	size_t k;

	for (k = 0; k < r->nhdr; k++)
		if (eq_nocase(r->hdr[k].name, r->hdr[k].name_len, name))
			return &r->hdr[k];
	return NULL;
}

int
http_header_has_token(const struct http_req *r, const char *name,
    const char *token)
{
	const struct http_hdr *h;
	const char *v;
	size_t k, i, c, s, e;

	for (k = 0; k < r->nhdr; k++) {
		h = &r->hdr[k];
		if (!eq_nocase(h->name, h->name_len, name))
			continue;
		v = h->value;
		/* Each element runs from i to the comma (or end) at c. */
		for (i = 0; i <= h->value_len; i = c + 1) {
			c = i;
			while (c < h->value_len && v[c] != ',')
				c++;
			s = i;
			e = c;
			while (s < e && (v[s] == ' ' || v[s] == '\t'))
				s++;
			while (e > s && (v[e - 1] == ' ' || v[e - 1] == '\t'))
				e--;
			if (eq_nocase(v + s, e - s, token))
				return 1;
		}
	}
	return 0;
}

static int
hexval(unsigned char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = (unsigned char)lower(c);
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/*
 * Decodes the byte at in[*i], which must exist, moving *i past it or past
 * its escape.  Returns the byte (0-255) or -1 for a malformed escape.
 */
static int
pct_next(const char *in, size_t n, size_t *i)
{
	unsigned char c = (unsigned char)in[*i];
	int hi, lo;

	if (c != '%') {
		*i += 1;
		return c;
	}
	if (n - *i < 3)
		return -1;
	hi = hexval((unsigned char)in[*i + 1]);
	lo = hexval((unsigned char)in[*i + 2]);
	if (hi < 0 || lo < 0)
		return -1;
	*i += 3;
	return hi << 4 | lo;
}

long
http_pct_decode(const char *in, size_t n, char *out, size_t cap)
{
	size_t i = 0, o = 0;
	int c;

	while (i < n) {
		c = pct_next(in, n, &i);
		/*
		 * A NUL would cut the name short in every C API it later
		 * meets, so the name checked would not be the name opened.
		 */
		if (c <= 0 || o == cap || o == LONG_MAX)
			return -1;
		out[o++] = (char)c;
	}
	return (long)o;
}

/* Length of the path part of a target: everything before '?' or '#'. */
static size_t
path_len(const char *target, size_t n)
{
	size_t k;

	for (k = 0; k < n; k++)
		if (target[k] == '?' || target[k] == '#')
			break;
	return k;
}

int
http_path_resolve(const char *target, size_t n, char *out, size_t cap)
{
	size_t pn, i, w, seg, sl;
	int c, c0 = 0, c1 = 0, end, over;

	if (cap == 0)
		return -1;
	out[0] = '\0';
	pn = path_len(target, n);
	if (pn == 0 || target[0] != '/')
		return -1;

	/*
	 * Decode and split in one pass, so that "%2f" separates segments
	 * exactly like '/': otherwise "..%2f" would pass the ".." check as one
	 * harmless-looking segment and become "../" on disk.  The leading '/'
	 * is dropped.  A segment is written at seg..w as it is decoded; c0 and
	 * c1 remember its first two bytes so that "." and ".." are recognised
	 * even when they did not fit (over), which only matters for a result
	 * that fits exactly after a "." at its end is removed.
	 */
	w = seg = sl = 0;
	over = 0;
	for (i = 1; ; ) {
		end = i == pn;
		c = end ? '/' : pct_next(target, pn, &i);
		if (c < 0)
			goto bad;
		if (c == '/') {
			if (sl == 1 && c0 == '.')
				w = seg;
			else if (sl == 2 && c0 == '.' && c1 == '.')
				goto bad;
			else if (over)
				goto bad;
			else if (sl > 0 && !end) {
				/* A '/' in the input after a kept segment. */
				if (w + 1 >= cap)
					goto bad;
				out[w++] = '/';
			}
			if (end)
				break;
			seg = w;
			sl = 0;
			over = 0;
			continue;
		}
		if (c < 0x20 || c == 0x7f || c == '\\')
			goto bad;
		if (sl == 0)
			c0 = c;
		else if (sl == 1)
			c1 = c;
		sl++;
		if (w + 1 >= cap)
			over = 1;
		else
			out[w++] = (char)c;
	}
	out[w] = '\0';
	return 0;
bad:
	out[0] = '\0';
	return -1;
}

int
http_target_split(const char *target, size_t n, struct http_seg *seg,
    int max)
{
	size_t pn, i, s;
	int cnt = 0;

	pn = path_len(target, n);
	if (pn == 0 || target[0] != '/')
		return -1;
	if (pn == 1)
		return 0;
	for (i = 1; ; i++) {
		s = i;
		while (i < pn && target[i] != '/')
			i++;
		if (cnt == max)
			return -1;
		seg[cnt].p = target + s;
		seg[cnt].n = i - s;
		cnt++;
		if (i == pn)
			break;
	}
	return cnt;
}

const char *
http_reason(int status)
{
	switch (status) {
	case 101: return "Switching Protocols";
	case 200: return "OK";
	case 304: return "Not Modified";
	case 400: return "Bad Request";
	case 401: return "Unauthorized";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 408: return "Request Timeout";
	case 413: return "Payload Too Large";
	case 426: return "Upgrade Required";
	case 431: return "Request Header Fields Too Large";
	case 500: return "Internal Server Error";
	case 503: return "Service Unavailable";
	}
	return "Unknown";
}

const char *
http_mime(const char *path, size_t n)
{
	static const struct {
		const char *ext;
		const char *type;
	} tab[] = {
		{ "html", "text/html; charset=utf-8" },
		{ "htm",  "text/html; charset=utf-8" },
		{ "js",   "text/javascript; charset=utf-8" },
		{ "mjs",  "text/javascript; charset=utf-8" },
		{ "css",  "text/css; charset=utf-8" },
		{ "json", "application/json" },
		{ "svg",  "image/svg+xml" },
		{ "png",  "image/png" },
		{ "jpg",  "image/jpeg" },
		{ "jpeg", "image/jpeg" },
		{ "ico",  "image/x-icon" },
		{ "txt",  "text/plain; charset=utf-8" },
		{ "wasm", "application/wasm" },
	};
	size_t i, k;

	/* Look back for the last '.', but not past the last '/'. */
	for (i = n; i > 0; i--)
		if (path[i - 1] == '.' || path[i - 1] == '/')
			break;
	if (i == 0 || path[i - 1] != '.')
		return "application/octet-stream";
	for (k = 0; k < sizeof tab / sizeof tab[0]; k++)
		if (eq_nocase(path + i, n - i, tab[k].ext))
			return tab[k].type;
	return "application/octet-stream";
}
