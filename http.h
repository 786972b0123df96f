/*
 * HTTP/1.1 request heads (RFC 9110, RFC 9112) and the small helpers a
 * static-file server and a websocket handshake need.  Everything here is
 * pure: no I/O, no allocation, no globals.  Results are (pointer, length)
 * slices into the caller's buffer, which the caller keeps owning.
 */
#ifndef PGWS_HTTP_H
#define PGWS_HTTP_H

#include <stddef.h>

#define HTTP_MAX_HEADERS 48

struct http_hdr {
	const char *name;
	size_t name_len;
	const char *value;          /* surrounding SP/HTAB trimmed; may be empty */
	size_t value_len;
};

struct http_req {
	const char *method;
	size_t method_len;
	const char *target;         /* request-target as sent, e.g. "/chat/eyJ...?x=1" */
	size_t target_len;
	int minor;                  /* HTTP/1.<minor>: 0 or 1 */
	size_t nhdr;
	struct http_hdr hdr[HTTP_MAX_HEADERS];
};

/* One path segment of a request-target, still percent-encoded. */
struct http_seg {
	const char *p;
	size_t n;
};

/*
 * Parses one request head (request line, header lines, empty line) from the
 * caller's buf[0..len) into the caller's r, whose slices then point into
 * buf.  Returns the number of bytes consumed (> 0) once the head is
 * complete, -2 when more bytes are needed, -1 when it is malformed, -3 when
 * it has more than HTTP_MAX_HEADERS header lines (a 431, not a 400); r is
 * only meaningful after a positive return.
 *
 * Grammar, strict on purpose: method is 1*tchar; exactly one SP; target is
 * 1*(0x21-0x7e); exactly one SP; "HTTP/1.0" or "HTTP/1.1" (case-sensitive).
 * Lines end in CRLF or a bare LF (accepted, as most servers do, RFC 9112
 * section 2.2); a CR not followed by LF is malformed.  Empty lines before
 * the request line are skipped (RFC 9112 section 2.2).  A header line is
 * 1*tchar, ':' with no whitespace before it, then a value made of SP, HTAB,
 * 0x21-0x7e and 0x80-0xff.  A line starting with SP or HTAB (obsolete line
 * folding) is malformed.
 *
 * Once the head is complete it is also malformed (RFC 9112 sections 3.2
 * and 6.3) when an HTTP/1.1 request has no Host field, any request has two,
 * a Content-Length value is not a list of 1*DIGIT elements all of one
 * value ("5, 05" is 5), or two Content-Length fields differ.  The caller
 * answers 400 and closes, as for every -1.
 *
 * Calling again with a longer prefix of the same input gives the same final
 * answer: a prefix of a valid head always gives -2, and an error may be
 * reported as soon as the bytes that make it are present.  It never reads
 * buf[len] or beyond.  Bounding len is the caller's job.
 */
int http_parse(const char *buf, size_t len, struct http_req *r);

/*
 * Returns the first header of r whose name equals the NUL-terminated name
 * case-insensitively, or NULL; the result points into r.
 */
const struct http_hdr *http_header(const struct http_req *r, const char *name);

/*
 * Returns 1 if any header of r called name (case-insensitive; every such
 * header is considered) has token among its comma-separated elements, each
 * trimmed of SP/HTAB and compared case-insensitively, else 0.  Name and
 * token are NUL-terminated strings owned by the caller.
 */
int http_header_has_token(const struct http_req *r, const char *name,
    const char *token);

/*
 * Returns 1 if an Accept field of r (every one; comma lists) names the
 * media type type (NUL-terminated, e.g. "text/event-stream") exactly,
 * case-insensitively, parameters aside, and not with q=0; else 0.
 * Wildcard ranges (any type, any text type) do not count: a stream is only
 * for clients that ask for one.  Commas inside quoted parameter values
 * are not special-cased (they split the element, which then fails to
 * match, never matches wrongly).
 */
int http_accepts(const struct http_req *r, const char *type);

/*
 * Percent-decodes in[0..n) into the caller's out of cap bytes (no NUL is
 * written); returns the decoded length, or -1 for a malformed escape ("%",
 * "%4", "%zz"), a NUL byte in the output, or output longer than cap.  '+'
 * stays '+': this decodes paths, not forms.
 */
long http_pct_decode(const char *in, size_t n, char *out, size_t cap);

/*
 * Turns the request-target target[0..n) into a lexically safe path relative
 * to the static root, written NUL-terminated into the caller's out of cap
 * bytes.  The query ("?...") and fragment ("#...") are dropped, the rest
 * must start with '/', is percent-decoded, and then split on '/': empty and
 * "." segments vanish, a trailing '/' is kept ("/" -> "", "/a/b.js" ->
 * "a/b.js", "/dir/" -> "dir/", "//a/./b" -> "a/b").  Returns 0, or -1 when
 * decoding fails, for any ".." segment (also one spelt %2e%2e or made with
 * %2f), a backslash, a control character (0x00-0x1f, 0x7f), or when the
 * result does not fit; on -1, out holds "" if cap > 0.  The result never
 * starts with '/'.  Symlinks are the caller's business (realpath).
 */
int http_path_resolve(const char *target, size_t n, char *out, size_t cap);

/*
 * Returns 1 when the path of the request-target target[0..n) has a segment
 * that starts with '.', as the original's static file server refuses them
 * ("/.env", "/a/.git/config", "/.", "/..", also spelt "%2e" or after a
 * "%2f"), 0 when none has, -1 for a malformed escape.  The query and
 * fragment are not looked at; a target not starting with '/' counts as
 * starting a segment.  Pure; reads only target[0..n).
 */
int http_path_dotted(const char *target, size_t n);

/*
 * Splits the path of target[0..n) (the part before any '?' or '#') on '/'
 * into the caller's seg[0..max), slices into target, still percent-encoded.
 * Returns the number of segments, or -1 if the path does not start with
 * '/' or has more than max segments.  "/" has 0 segments; every other path
 * has one more segment than it has slashes after the first, so empty
 * segments are kept: "/a" -> {"a"}, "/a/b" -> {"a","b"}, "/a/" -> {"a",""}.
 */
int http_target_split(const char *target, size_t n, struct http_seg *seg,
    int max);

/*
 * Returns the static reason phrase for an HTTP status code, "Unknown" for
 * codes this server never sends.
 */
const char *http_reason(int status);

/*
 * Returns a static Content-Type for the extension of path[0..n) (the text
 * after the last '.' of the last segment, case-insensitive), defaulting to
 * "application/octet-stream".
 */
const char *http_mime(const char *path, size_t n);

/* --- request bodies ---------------------------------------------------- */

/*
 * How many body bytes follow the head of r, for a server that takes at
 * most max.  Returns 0 and sets *len (0 when the request has no body), or
 * the status to answer, after which the connection must be closed because
 * the body's end is unknown or the body is not read:
 *   400  Transfer-Encoding in HTTP/1.0, with Content-Length, or empty;
 *        or an invalid Content-Length (http_parse already refuses those)
 *   411  Transfer-Encoding: chunked (not decoded; send Content-Length)
 *   501  any other transfer coding
 *   413  Content-Length above max (never overflows, whatever the digits)
 */
int http_body_length(const struct http_req *r, size_t max, size_t *len);

/*
 * The Expect fields of r (RFC 9110 section 10.1.1): 0 for none (or
 * 100-continue in an HTTP/1.0 request, which must be ignored), 100 when the
 * client waits for "HTTP/1.1 100 Continue" before sending its body, 417
 * for any other expectation.  Compared case-insensitively; a list and
 * several fields are allowed.
 */
int http_expect(const struct http_req *r);

/* --- tokens outside the URL -------------------------------------------- */

/*
 * The Sec-WebSocket-Protocol fields of r (every one; comma lists; SP/HTAB
 * around elements and empty elements ignored).  Returns:
 *    0  "pgws" is not offered (no field, or only other protocols): choose
 *       no subprotocol and take no token from here;
 *    1  "pgws" offered alone;
 *    2  "pgws" and exactly one other element, which is the token:
 *       *tok and *tok_len point into r's buffer;
 *   -1  malformed (a 400): an element that is not a token (RFC 9110
 *       tchar), "pgws" twice, or "pgws" beside an element that is not
 *       JWT-shaped or beside two or more other elements.
 * "pgws" is matched case-sensitively.  JWT-shaped is exactly three
 * non-empty parts of base64url letters (A-Z a-z 0-9 - _) joined by '.':
 * no padding, no spaces; the signature is for jwt_verify() to check.
 */
int http_ws_protocol(const struct http_req *r, const char **tok,
    size_t *tok_len);

/*
 * Finds the cookie called name (NUL-terminated, case-sensitive) in the
 * Cookie fields of r: pairs split at ';', SP/HTAB trimmed, pairs without
 * '=' ignored (RFC 6265 section 5.2), one pair of surrounding DQUOTEs
 * taken off the value.  Returns 1 with *val and *val_len pointing into r's
 * buffer, 0 when absent or empty, and -1 when its value has a byte that is
 * not a cookie-octet or when it appears twice with different values (say
 * a sibling domain's cookie beside ours: never guess which to use).
 * Other cookies are not looked at beyond finding their names.
 */
int http_cookie(const struct http_req *r, const char *name, const char **val,
    size_t *val_len);

/*
 * Checks an origin allowlist (PGWS_ALLOWED_ORIGINS) list[0..n): comma-
 * separated serialized origins scheme://host[:port], SP/HTAB around them
 * and empty elements ignored.  Returns 0, or -1 with a NUL-terminated
 * message in err[0..errcap) naming the entry and what is wrong.  "*" and
 * "null" are refused, and so is an empty list; a path (even "/"), query,
 * userinfo or port outside 1-65535 is an error.
 */
int http_origins_check(const char *list, size_t n, char *err, size_t errcap);

/*
 * Returns 1 when origin[0..on) (an Origin field value) is one of the
 * origins of list[0..n) (checked with http_origins_check() beforehand),
 * else 0.  Scheme and host compare ASCII-case-insensitively, the port
 * exactly, the default ports of http (80) and https (443) equal to none.
 * "null" and anything that is not a single serialized origin match nothing.
 */
int http_origin_allowed(const char *list, size_t n, const char *origin,
    size_t on);

/* --- text for the log --------------------------------------------------- */

/*
 * Writes s[0..n) NUL-terminated into out[0..cap), every byte outside
 * 0x20-0x7e and every '"' and '\' as \xHH (so control characters, newlines,
 * terminal escapes and non-ASCII bytes cannot reach the log raw).  When
 * the result does not fit, it is cut after a whole byte or escape and ends
 * in "...".  Returns the length written; cap 0 writes nothing.
 */
size_t http_log_escape(const char *s, size_t n, char *out, size_t cap);

/*
 * Like http_log_escape(), with every token-like run of the request-target
 * t[0..n) first replaced by "<token>": a maximal run of base64url bytes,
 * '.' and %XX escapes of those, in which base64url decoding from some
 * character with at least one dot after it gives text starting (after
 * JSON whitespace) with '{', as a JWT's header does (so header.claims
 * without a signature is hidden too).  Covers
 * /<channel>/<jwt>, /<jwt>, a trailing '/', queries, and a token with
 * bytes glued before it; "jquery.min.js" stays as it is.
 */
size_t http_log_target(const char *t, size_t n, char *out, size_t cap);

#endif
