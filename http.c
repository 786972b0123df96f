/*
 * HTTP/1.1 request-head parser and helpers.  The parser starts from the
 * first byte on every call instead of keeping state between calls: heads
 * are small and bounded by the caller, and a stateless parser cannot get
 * out of step with the buffer it is given.  It is strict where leniency has
 * let requests be read two ways by two servers (whitespace before ':',
 * folded lines, bare CR), because pgws may well sit behind a proxy.
 * The same goes for the field readers after it (body framing, the token in
 * Sec-WebSocket-Protocol or a cookie, origins) and for the escaping that
 * keeps request text and tokens out of the log in a harmful form.
 */
#include <limits.h>
#include <stdio.h>
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

static int
is_ows(char c)
{
	return c == ' ' || c == '\t';
}

/*
 * Steps through the comma-separated list v[0..n): from *i, sets [*s, *e)
 * to the next element trimmed of SP/HTAB (possibly empty) and moves *i past
 * its comma.  Returns 0 once the list is used up.  Start with *i = 0; a
 * list always has at least one (maybe empty) element.
 */
static int
list_next(const char *v, size_t n, size_t *i, size_t *s, size_t *e)
{
	size_t c;

	if (*i > n)
		return 0;
	for (c = *i; c < n && v[c] != ','; c++)
		;
	*s = *i;
	*e = c;
	while (*s < *e && is_ows(v[*s]))
		(*s)++;
	while (*e > *s && is_ows(v[*e - 1]))
		(*e)--;
	*i = c + 1;
	return 1;
}

/*
 * Validates one Content-Length field value: a list of one or more
 * elements, each 1*DIGIT, all of the same value (RFC 9110 section 8.6
 * allows a recipient to take "42, 42" as 42).  On success, sets [*d, *d +
 * *dn) to the value's digits without leading zeros ("0" stays "0"), so
 * values compare as strings and never overflow anything.  Empty elements
 * are refused: this field frames the body, so nothing about it is guessed.
 */
static int
cl_digits(const char *v, size_t n, const char **d, size_t *dn)
{
	size_t i = 0, s, e, k;
	const char *first = NULL;
	size_t fn = 0;

	while (list_next(v, n, &i, &s, &e)) {
		if (s == e)
			return -1;
		for (k = s; k < e; k++)
			if (v[k] < '0' || v[k] > '9')
				return -1;
		while (e - s > 1 && v[s] == '0')
			s++;
		if (first && (e - s != fn || memcmp(first, v + s, fn) != 0))
			return -1;
		first = v + s;
		fn = e - s;
	}
	*d = first;
	*dn = fn;
	return 0;
}

/*
 * The checks that need the whole head (RFC 9112): every Content-Length
 * field valid and all of the same value (section 6.3: otherwise the body's
 * end is unknown, and "first wins" lets the body be read as a second
 * request); exactly one Host in an HTTP/1.1 request and at most one in an
 * HTTP/1.0 one (section 3.2).  Returns 0 or -1 (a 400).
 */
static int
head_check(const struct http_req *r)
{
	const char *cl = NULL, *d;
	size_t k, cln = 0, dn;
	int hosts = 0;

	for (k = 0; k < r->nhdr; k++) {
		const struct http_hdr *h = &r->hdr[k];

		if (eq_nocase(h->name, h->name_len, "host"))
			hosts++;
		if (!eq_nocase(h->name, h->name_len, "content-length"))
			continue;
		if (cl_digits(h->value, h->value_len, &d, &dn) < 0)
			return -1;
		if (cl && (dn != cln || memcmp(cl, d, dn) != 0))
			return -1;
		cl = d;
		cln = dn;
	}
	if (hosts > 1 || (r->minor == 1 && hosts == 0))
		return -1;
	return 0;
}

/* VCHAR of RFC 5234: the bytes a request target may use. */
static int
is_vchar(unsigned char c)
{
	return c >= 0x21 && c <= 0x7e;
}

/*
 * Takes a word at buf[*i..len): one or more bytes for which in() is true,
 * ended by the byte sep.  Sets [*w, *w + *wn) to it and moves *i past sep.
 * Returns 0, -2 when the input ends first, or -1 (an empty word, or
 * another byte than sep after it).
 */
static int
take_word(const char *buf, size_t len, size_t *i, int (*in)(unsigned char),
    unsigned char sep, const char **w, size_t *wn)
{
	const unsigned char *b = (const unsigned char *)buf;
	size_t k = *i;

	while (k < len && in(b[k]))
		k++;
	if (k == len)
		return -2;
	if (k == *i || b[k] != sep)
		return -1;
	*w = buf + *i;
	*wn = k - *i;
	*i = k + 1;
	return 0;
}

/*
 * The request line at buf[*i..len), from the method to its line ending,
 * into r.  Returns 0 with *i past it, -2 or -1.  Every step stops at the
 * end of input and reports -2 there.
 */
static int
request_line(const char *buf, size_t len, size_t *i, struct http_req *r)
{
	static const char version[] = "HTTP/1.";
	const unsigned char *b = (const unsigned char *)buf;
	int rc;

	if ((rc = take_word(buf, len, i, is_tchar, ' ', &r->method,
	    &r->method_len)) < 0 ||
	    (rc = take_word(buf, len, i, is_vchar, ' ', &r->target,
	    &r->target_len)) < 0)
		return rc;
	for (size_t k = 0; k < sizeof version - 1; k++, (*i)++) {
		if (*i == len)
			return -2;
		if (b[*i] != (unsigned char)version[k])
			return -1;
	}
	if (*i == len)
		return -2;
	if (b[*i] != '0' && b[*i] != '1')
		return -1;
	r->minor = b[*i] - '0';
	(*i)++;
	if (*i == len)
		return -2;
	rc = take_eol(b, len, i);
	return rc == 0 ? -1 : rc < 0 ? rc : 0;
}

/*
 * The header line at buf[*i..len), known not to be the empty line that
 * ends the head, into h.  The name must start the line: this also rejects
 * obsolete line folding, whose continuation lines start with SP or HTAB.
 * Returns 0 with *i past its line ending, -2 or -1.
 */
static int
header_line(const char *buf, size_t len, size_t *i, struct http_hdr *h)
{
	const unsigned char *b = (const unsigned char *)buf;
	size_t start, vend;
	int rc;

	if ((rc = take_word(buf, len, i, is_tchar, ':', &h->name,
	    &h->name_len)) < 0)
		return rc;
	while (*i < len && (b[*i] == ' ' || b[*i] == '\t'))
		(*i)++;
	start = vend = *i;
	for (;;) {
		if (*i == len)
			return -2;
		if (b[*i] == '\r' || b[*i] == '\n')
			break;
		if (b[*i] == ' ' || b[*i] == '\t') {
			(*i)++;
			continue;
		}
		if (b[*i] < 0x21 || b[*i] == 0x7f)
			return -1;
		vend = ++(*i);
	}
	rc = take_eol(b, len, i);
	if (rc < 0)
		return rc;
	h->value = buf + start;
	h->value_len = vend - start;
	return 0;
}

int
http_parse(const char *buf, size_t len, struct http_req *r)
{
	const unsigned char *b = (const unsigned char *)buf;
	size_t i = 0;
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
	if ((rc = request_line(buf, len, &i, r)) < 0)
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
		if ((rc = header_line(buf, len, &i, &r->hdr[r->nhdr])) < 0)
			return rc;
		r->nhdr++;
	}
	if (i > INT_MAX || head_check(r) < 0)
		return -1;
	return (int)i;
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

/*
 * 1 when the Accept element v[s..e) (SP/HTAB trimmed already) names type
 * and does not carry q=0: the media range ends at the first ';', then
 * parameters "name=value" split at ';'.
 */
static int
accept_elem(const char *v, size_t s, size_t e, const char *type)
{
	size_t m = s, p, q, k;

	while (m < e && v[m] != ';')
		m++;
	k = m;
	while (k > s && (v[k - 1] == ' ' || v[k - 1] == '\t'))
		k--;
	if (!eq_nocase(v + s, k - s, type))
		return 0;
	for (p = m; p < e; p = q) {
		p++;            /* past the ';' */
		q = p;
		while (q < e && v[q] != ';')
			q++;
		while (p < q && (v[p] == ' ' || v[p] == '\t'))
			p++;
		if (q - p < 2 || lower((unsigned char)v[p]) != 'q' || v[p + 1] != '=')
			continue;
		/* qvalue = ( "0" [ "." 0*3DIGIT ] ) / ( "1" [ "." 0*3("0") ] ) */
		k = p + 2;
		if (k < q && v[k] == '0') {
			k++;
			if (k < q && v[k] == '.')
				k++;
			while (k < q && v[k] == '0')
				k++;
			while (k < q && (v[k] == ' ' || v[k] == '\t'))
				k++;
			if (k == q)
				return 0;       /* q=0: not acceptable */
		}
	}
	return 1;
}

int
http_accepts(const struct http_req *r, const char *type)
{
	const struct http_hdr *h;
	const char *v;
	size_t k, i, c, s, e;

	for (k = 0; k < r->nhdr; k++) {
		h = &r->hdr[k];
		if (!eq_nocase(h->name, h->name_len, "Accept"))
			continue;
		v = h->value;
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
			if (accept_elem(v, s, e, type))
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
http_path_dotted(const char *target, size_t n)
{
	size_t pn = path_len(target, n), i = 0;
	int c, start = 1;

	/*
	 * Decoded on the fly, so that "%2e" is a dot and "%2f" starts a
	 * segment exactly as '/' does.
	 */
	while (i < pn) {
		c = pct_next(target, pn, &i);
		if (c < 0)
			return -1;
		if (start && c == '.')
			return 1;
		start = c == '/';
	}
	return 0;
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
	case 411: return "Length Required";
	case 413: return "Payload Too Large";
	case 417: return "Expectation Failed";
	case 426: return "Upgrade Required";
	case 429: return "Too Many Requests";
	case 431: return "Request Header Fields Too Large";
	case 500: return "Internal Server Error";
	case 501: return "Not Implemented";
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

/* --- request bodies (RFC 9112 section 6) ------------------------------ */

int
http_body_length(const struct http_req *r, size_t max, size_t *len)
{
	const char *d = NULL, *nd;
	size_t k, dn = 0, ndn, v = 0, i, s, e, codings = 0;
	int have_cl = 0, have_te = 0, chunked_last = 0;

	*len = 0;
	for (k = 0; k < r->nhdr; k++) {
		const struct http_hdr *h = &r->hdr[k];

		if (eq_nocase(h->name, h->name_len, "content-length")) {
			/* http_parse checked this already; r may come from elsewhere. */
			if (cl_digits(h->value, h->value_len, &nd, &ndn) < 0 ||
			    (have_cl && (ndn != dn || memcmp(nd, d, dn) != 0)))
				return 400;
			d = nd;
			dn = ndn;
			have_cl = 1;
		} else if (eq_nocase(h->name, h->name_len, "transfer-encoding")) {
			have_te = 1;
			i = 0;
			while (list_next(h->value, h->value_len, &i, &s, &e)) {
				if (s == e)
					continue;
				codings++;
				chunked_last = eq_nocase(h->value + s, e - s,
				    "chunked");
			}
		}
	}
	if (have_te) {
		/*
		 * RFC 9112 section 6.1: Transfer-Encoding in HTTP/1.0 means the
		 * framing is faulty; section 6.3: with Content-Length too, it is
		 * a smuggling attempt as often as not, and a server may refuse.
		 */
		if (r->minor == 0 || have_cl || codings == 0)
			return 400;
		/*
		 * Chunked bodies are refused with 411 rather than decoded: a
		 * message is bounded and small, every client pgws documents
		 * (curl -d, fetch() with a string or Blob) sends Content-Length,
		 * and 411 tells a client exactly what to send instead.  This
		 * departs from RFC 9112 section 7.1, which wants every
		 * HTTP/1.1 recipient to parse chunked.  Any other coding is one
		 * this server does not know: 501 (RFC 9112 section 6.1).
		 */
		return chunked_last && codings == 1 ? 411 : 501;
	}
	if (!have_cl)
		return 0;
	/* Digits without leading zeros: stop as soon as the value passes max. */
	for (k = 0; k < dn; k++) {
		size_t dig = (size_t)(d[k] - '0');

		if (v > max / 10 || dig > max - v * 10)
			return 413;
		v = v * 10 + dig;
	}
	*len = v;
	return 0;
}

int
http_expect(const struct http_req *r)
{
	size_t k, i, s, e;
	int cont = 0;

	for (k = 0; k < r->nhdr; k++) {
		const struct http_hdr *h = &r->hdr[k];

		if (!eq_nocase(h->name, h->name_len, "expect"))
			continue;
		i = 0;
		while (list_next(h->value, h->value_len, &i, &s, &e)) {
			if (s == e)
				continue;
			if (!eq_nocase(h->value + s, e - s, "100-continue"))
				return 417;
			cont = 1;
		}
	}
	/* RFC 9110 section 10.1.1: an HTTP/1.0 client cannot take a 100. */
	return cont && r->minor == 1 ? 100 : 0;
}

/* --- tokens outside the URL ------------------------------------------ */

static int
is_b64url(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
	    (c >= '0' && c <= '9') || c == '-' || c == '_';
}

/* Three non-empty base64url parts separated by '.': a JWS in compact form. */
static int
jwt_shaped(const char *p, size_t n)
{
	size_t k, part = 0, dots = 0;

	for (k = 0; k < n; k++) {
		if (p[k] == '.') {
			if (part == 0)
				return 0;
			dots++;
			part = 0;
		} else if (is_b64url((unsigned char)p[k]))
			part++;
		else
			return 0;
	}
	return dots == 2 && part > 0;
}

int
http_ws_protocol(const struct http_req *r, const char **tok, size_t *tok_len)
{
	const char *t = NULL, *v;
	size_t k, i, s, e, j, others = 0, tn = 0;
	int pgws = 0, bad_other = 0;

	*tok = NULL;
	*tok_len = 0;
	for (k = 0; k < r->nhdr; k++) {
		const struct http_hdr *h = &r->hdr[k];

		if (!eq_nocase(h->name, h->name_len, "sec-websocket-protocol"))
			continue;
		v = h->value;
		i = 0;
		while (list_next(v, h->value_len, &i, &s, &e)) {
			/* RFC 9110 section 5.6.1: empty elements are ignored. */
			if (s == e)
				continue;
			for (j = s; j < e; j++)
				if (!is_tchar((unsigned char)v[j]))
					return -1;
			if (e - s == 4 && memcmp(v + s, "pgws", 4) == 0) {
				if (pgws++)
					return -1;
				continue;
			}
			others++;
			if (!jwt_shaped(v + s, e - s))
				bad_other = 1;
			t = v + s;
			tn = e - s;
		}
	}
	if (!pgws)
		return 0;
	if (others > 1 || bad_other)
		return -1;
	if (others == 0)
		return 1;
	*tok = t;
	*tok_len = tn;
	return 2;
}

/* cookie-octet of RFC 6265 section 4.1.1. */
static int
is_cookie_octet(unsigned char c)
{
	return c == 0x21 || (c >= 0x23 && c <= 0x2b) ||
	    (c >= 0x2d && c <= 0x3a) || (c >= 0x3c && c <= 0x5b) ||
	    (c >= 0x5d && c <= 0x7e);
}

/*
 * Sets [*vs, *ve) to the value of the pair p[s..e) if its name is name,
 * with surrounding SP/HTAB and one pair of DQUOTEs taken off.  Returns 1
 * for a match, 0 otherwise.
 */
static int
cookie_pair(const char *p, size_t s, size_t e, const char *name,
    size_t *vs, size_t *ve)
{
	size_t eq, ne, nl = strlen(name);

	for (eq = s; eq < e && p[eq] != '='; eq++)
		;
	if (eq == e)
		return 0;	/* RFC 6265 section 5.2: no '=', ignored */
	for (ne = eq; ne > s && is_ows(p[ne - 1]); ne--)
		;
	if (ne - s != nl || memcmp(p + s, name, nl) != 0)
		return 0;
	*vs = eq + 1;
	*ve = e;
	while (*vs < *ve && is_ows(p[*vs]))
		(*vs)++;
	while (*ve > *vs && is_ows(p[*ve - 1]))
		(*ve)--;
	if (*ve - *vs >= 2 && p[*vs] == '"' && p[*ve - 1] == '"') {
		(*vs)++;
		(*ve)--;
	}
	return 1;
}

int
http_cookie(const struct http_req *r, const char *name, const char **val,
    size_t *val_len)
{
	const char *found = NULL, *p;
	size_t k, i, c, s, e, vs, ve, j, fn = 0;

	*val = NULL;
	*val_len = 0;
	if (name[0] == '\0')
		return 0;
	for (k = 0; k < r->nhdr; k++) {
		const struct http_hdr *h = &r->hdr[k];

		if (!eq_nocase(h->name, h->name_len, "cookie"))
			continue;
		p = h->value;
		for (i = 0; i <= h->value_len; i = c + 1) {
			for (c = i; c < h->value_len && p[c] != ';'; c++)
				;
			for (s = i; s < c && is_ows(p[s]); s++)
				;
			for (e = c; e > s && is_ows(p[e - 1]); e--)
				;
			if (!cookie_pair(p, s, e, name, &vs, &ve))
				continue;
			for (j = vs; j < ve; j++)
				if (!is_cookie_octet((unsigned char)p[j]))
					return -1;
			if (vs == ve)
				continue;	/* an emptied cookie: absent */
			if (found && (ve - vs != fn ||
			    memcmp(found, p + vs, fn) != 0))
				return -1;
			found = p + vs;
			fn = ve - vs;
		}
	}
	if (!found)
		return 0;
	*val = found;
	*val_len = fn;
	return 1;
}

/* --- origins (RFC 6454) ---------------------------------------------- */

struct origin {
	const char *scheme, *host;
	size_t scheme_len, host_len;
	long port;              /* explicit or the scheme's default; -1: none */
};

static int
is_alpha(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
}

static int
is_digit(unsigned char c)
{
	return c >= '0' && c <= '9';
}

/*
 * Parses a serialized origin p[0..n), scheme "://" host [":" port] and
 * nothing else, into o.  Returns NULL, or why it is not one.  Hosts are a
 * DNS name or IPv4 address (letters, digits, '-', '.', '_') or a bracketed
 * IPv6 literal; ports are 1-65535 without leading zeros, and the default
 * port of http (80) and https (443) counts as no port, so both spellings
 * are one origin.
 */
static const char *
origin_parse(const char *p, size_t n, struct origin *o)
{
	size_t i = 0, s;

	if (n == 0 || !is_alpha((unsigned char)p[0]))
		return "expected scheme://host[:port]";
	while (i < n && (is_alpha((unsigned char)p[i]) ||
	    is_digit((unsigned char)p[i]) || p[i] == '+' || p[i] == '-' ||
	    p[i] == '.'))
		i++;
	if (n - i < 3 || memcmp(p + i, "://", 3) != 0)
		return "expected scheme://host[:port]";
	o->scheme = p;
	o->scheme_len = i;
	i += 3;
	s = i;
	if (i < n && p[i] == '[') {
		for (i++; i < n && (is_digit((unsigned char)p[i]) ||
		    (lower((unsigned char)p[i]) >= 'a' &&
		    lower((unsigned char)p[i]) <= 'f') || p[i] == ':' ||
		    p[i] == '.'); i++)
			;
		if (i == n || p[i] != ']' || i == s + 1)
			return "bad IPv6 literal";
		i++;
	} else {
		while (i < n && (is_alpha((unsigned char)p[i]) ||
		    is_digit((unsigned char)p[i]) || p[i] == '-' ||
		    p[i] == '.' || p[i] == '_'))
			i++;
		if (i == s)
			return "no host";
	}
	o->host = p + s;
	o->host_len = i - s;
	o->port = -1;
	if (i < n && p[i] == ':') {
		s = ++i;
		o->port = 0;
		while (i < n && is_digit((unsigned char)p[i]) && i - s < 6)
			o->port = o->port * 10 + (p[i++] - '0');
		if (i == s || p[s] == '0' || o->port > 65535)
			return "port must be 1-65535";
	}
	if (i < n)
		return p[i] == '/' ? "an origin has no path, not even a '/'" :
		    "unexpected character after the host (an origin is "
		    "scheme://host[:port])";
	if ((eq_nocase(o->scheme, o->scheme_len, "http") && o->port == 80) ||
	    (eq_nocase(o->scheme, o->scheme_len, "https") && o->port == 443))
		o->port = -1;
	return NULL;
}

static int
slice_eq_nocase(const char *a, size_t an, const char *b, size_t bn)
{
	size_t k;

	if (an != bn)
		return 0;
	for (k = 0; k < an; k++)
		if (lower((unsigned char)a[k]) != lower((unsigned char)b[k]))
			return 0;
	return 1;
}

int
http_origins_check(const char *list, size_t n, char *err, size_t errcap)
{
	size_t i = 0, s, e, count = 0;
	struct origin o;
	const char *why;
	char shown[64];

	if (errcap)
		err[0] = '\0';
	while (list_next(list, n, &i, &s, &e)) {
		if (s == e)
			continue;
		count++;
		if (e - s == 1 && list[s] == '*')
			why = "'*' is refused: cookie tokens from any site would "
			    "allow cross-site websocket hijacking; list the origins";
		else if (slice_eq_nocase(list + s, e - s, "null", 4))
			why = "'null' is shared by sandboxed and file: pages "
			    "and cannot be trusted";
		else
			why = origin_parse(list + s, e - s, &o);
		if (why) {
			http_log_escape(list + s, e - s, shown, sizeof shown);
			if (errcap)
				snprintf(err, errcap, "origin %zu \"%s\": %s",
				    count, shown, why);
			return -1;
		}
	}
	if (count == 0) {
		if (errcap)
			snprintf(err, errcap, "no origin listed");
		return -1;
	}
	return 0;
}

int
http_origin_allowed(const char *list, size_t n, const char *origin,
    size_t on)
{
	struct origin a, b;
	size_t i = 0, s, e;

	if (origin_parse(origin, on, &a))
		return 0;
	while (list_next(list, n, &i, &s, &e)) {
		if (s == e || origin_parse(list + s, e - s, &b))
			continue;
		if (slice_eq_nocase(a.scheme, a.scheme_len, b.scheme,
		    b.scheme_len) && slice_eq_nocase(a.host, a.host_len,
		    b.host, b.host_len) && a.port == b.port)
			return 1;
	}
	return 0;
}

/* --- text for the log -------------------------------------------------- */

/* Bytes a log line shows as they are; the rest become \xHH. */
static int
log_plain(unsigned char c)
{
	return c >= 0x20 && c <= 0x7e && c != '"' && c != '\\';
}

static const char token_mark[] = "<token>";

/*
 * The decoded byte of the run character at t[i] (a base64url byte, '.',
 * or a %XX escape of one), with *adv its length in t, or -1 when t[i]
 * does not continue a token-like run.
 */
static int
run_char(const char *t, size_t n, size_t i, size_t *adv)
{
	unsigned char c = (unsigned char)t[i];
	int hi, lo;

	*adv = 1;
	if (c == '%' && n - i >= 3) {
		hi = hexval((unsigned char)t[i + 1]);
		lo = hexval((unsigned char)t[i + 2]);
		if (hi < 0 || lo < 0)
			return -1;
		c = (unsigned char)(hi << 4 | lo);
		*adv = 3;
	}
	return is_b64url(c) || c == '.' ? c : -1;
}

static int
b64url_val(int c)
{
	if (c >= 'A' && c <= 'Z') return c - 'A';
	if (c >= 'a' && c <= 'z') return c - 'a' + 26;
	if (c >= '0' && c <= '9') return c - '0' + 52;
	return c == '-' ? 62 : 63;
}

/* Longest JSON whitespace before '{' looked through, in run characters. */
#define HTTP_LOG_WS_SPAN 64
/*
 * Fewest base64url characters from where '{' is decoded to the next '.':
 * the smallest JOSE header worth the name, {"alg":""}, takes 14.  Without
 * it, names like "index.min.js" ("ex" decodes to '{') would be hidden.
 */
#define HTTP_LOG_HDR_MIN 12

/*
 * Whether base64url decoding from t[j] (within a token-like run ending at
 * end, up to the next '.') gives JSON whitespace and then '{', as the
 * JOSE header of every JWT does, over at least HTTP_LOG_HDR_MIN
 * characters.  Looks at most HTTP_LOG_WS_SPAN characters, so checking
 * every start in a run stays linear.
 */
static int
opens_object(const char *t, size_t end, size_t j)
{
	unsigned bits = 0, acc = 0;
	size_t adv, seen;
	int c, open = 0;

	for (seen = 0; j < end && seen < HTTP_LOG_WS_SPAN; seen++, j += adv) {
		c = run_char(t, end, j, &adv);
		if (c < 0 || c == '.')
			break;
		if (open)
			continue;	/* only counting up to HTTP_LOG_HDR_MIN */
		acc = (acc << 6 | (unsigned)b64url_val(c)) & 0xfff;
		bits += 6;
		if (bits < 8)
			continue;
		bits -= 8;
		c = (int)(acc >> bits) & 0xff;
		if (c == ' ' || c == '\t' || c == '\n' || c == '\r')
			continue;
		if (c != '{')
			return 0;
		open = 1;
	}
	return open && seen >= HTTP_LOG_HDR_MIN;
}

/*
 * Length in t of the token-like run at t[i]: a maximal run of run_char()
 * characters in which, from any character followed by at least one more
 * dot, base64url decodes to text starting with '{' (opens_object()).
 * One dot is enough: a token cut short or without its signature
 * (header.claims, "alg":"none" attempts) still shows claims.
 * Any start, not only a part's first character, so that a token with
 * bytes glued before it ("/chat/x<jwt>") is still caught.  Returns 0 when
 * the run at i is not one; *end is set to where the run ends either way
 * (i when t[i] starts no run).
 */
static size_t
token_run(const char *t, size_t n, size_t i, size_t *end)
{
	size_t j, adv, dots = 0, seen = 0;
	int c;

	for (j = i; j < n && (c = run_char(t, n, j, &adv)) >= 0; j += adv)
		dots += c == '.';
	*end = j;
	if (dots < 1)
		return 0;
	for (j = i; j < *end && dots - seen >= 1; j += adv) {
		c = run_char(t, *end, j, &adv);
		if (c == '.')
			seen++;
		else if (opens_object(t, *end, j))
			return *end - i;
	}
	return 0;
}

/*
 * Escapes s[0..n) into out (see http_log_escape), with every token-like
 * run replaced by token_mark when redact is set.  The first pass only
 * measures, so that a result that does not fit can be cut at a whole piece
 * (a byte, an escape, the mark) and end in "...".
 */
static size_t
log_text(const char *s, size_t n, int redact, char *out, size_t cap)
{
	size_t i, end, piece, total = 0, o = 0, room = 0, k;
	int pass, cut = 0;
	static const char hex[] = "0123456789abcdef";

	if (cap == 0)
		return 0;
	for (pass = 0; pass < 2; pass++) {
		if (pass == 1) {
			if (total <= cap - 1)
				room = cap - 1;
			else if (cap - 1 >= 3)
				room = cap - 1 - 3, cut = 1;
			else
				room = 0, cut = 1;
		}
		o = 0;
		for (i = 0; i < n; ) {
			end = i;
			if (redact && token_run(s, n, i, &end)) {
				piece = sizeof token_mark - 1;
				if (pass == 1 && o + piece > room)
					break;
				if (pass == 1)
					memcpy(out + o, token_mark, piece);
				o += piece;
				i = end;
				continue;
			}
			/* A run that is not a token is shown whole, all plain bytes. */
			if (end == i)
				end = i + 1;
			for (; i < end; i++) {
				unsigned char c = (unsigned char)s[i];

				piece = log_plain(c) ? 1 : 4;
				if (pass == 1 && o + piece > room)
					goto full;
				if (pass == 1 && piece == 1)
					out[o] = (char)c;
				else if (pass == 1) {
					out[o] = '\\';
					out[o + 1] = 'x';
					out[o + 2] = hex[c >> 4];
					out[o + 3] = hex[c & 15];
				}
				o += piece;
			}
		}
full:
		if (pass == 0)
			total = o;
	}
	if (cut && cap - 1 >= 3)
		for (k = 0; k < 3; k++)
			out[o++] = '.';
	out[o] = '\0';
	return o;
}

size_t
http_log_escape(const char *s, size_t n, char *out, size_t cap)
{
	return log_text(s, n, 0, out, cap);
}

size_t
http_log_target(const char *t, size_t n, char *out, size_t cap)
{
	return log_text(t, n, 1, out, cap);
}
