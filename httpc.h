/*
 * A minimal blocking HTTP/1.1 GET client (plain http), for `pgws check
 * --url`.  Pure readers for the URL and the status line, and one call that
 * connects, asks and reads the answer within a timeout.
 */
#ifndef PGWS_HTTPC_H
#define PGWS_HTTPC_H

#include <stddef.h>

/* An http:// URL split into its parts; slices of the parsed text. */
struct httpc_url {
	const char *host;       /* without the brackets of an IPv6 literal */
	size_t host_len;
	int port;               /* 80 when the URL names none */
	const char *path;       /* from the first '/', or "/" when there is none */
	size_t path_len;
};

/*
 * Parses the NUL-terminated s as http://host[:port][/path] (host a name,
 * an IPv4 address or a bracketed IPv6 literal; port 1..65535; no user
 * info; path bytes printable ASCII without spaces).  Returns 0, or -1 with
 * nothing promised about *u.
 */
int httpc_url_parse(const char *s, struct httpc_url *u);

/*
 * Reads the status line at the start of an HTTP response r[0..n).
 * Returns the status code (100..999), -2 when more bytes are needed, or -1
 * when the bytes are not an HTTP/1.x status line.
 */
int httpc_status_line(const char *r, size_t n);

/*
 * Connects to u (every address its host resolves to, in turn), sends
 * "GET path" with Connection: close, and reads the answer into the
 * caller's resp[0..cap) until the peer closes, resp is full or timeout
 * seconds have passed since the call (a status line already read is then
 * enough).  Returns the bytes read, or -1 with a one-line reason in
 * why[whycap].
 */
long httpc_get(const struct httpc_url *u, double timeout, char *resp,
    size_t cap, char *why, size_t whycap);

/*
 * Writes into out[cap] (cap > 5) the first line of the body of the answer
 * resp[0..n), at most 200 bytes of it: printable ASCII as it is, any other
 * byte as \xHH.  Empty when there is no body.
 */
void httpc_body_line(const char *resp, size_t n, char *out, size_t cap);

#endif
