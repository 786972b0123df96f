/*
 * pgws client URL: the websocket client for shell scripts and integration
 * tests.  It is its own file because it stands apart from the server loop:
 * it makes one outgoing connection driven by standard input, and shares
 * nothing with pgws.c (no configuration, database, tokens or connection
 * table).  What it does share, the RFC 6455 framing in ws.c, is used from
 * the other side: frames go out masked and come in unmasked.
 *
 * One poll() loop watches the socket and standard input.  The connection
 * moves through the states below; the loop derives what it polls for from
 * the state and from whether output is pending.  After the close frames
 * are exchanged the client waits briefly for the server to end the TCP
 * connection, as RFC 6455 section 7.1.1 asks of clients.
 *
 * For wss:// a BearSSL client engine from tls.c sits between the loop and
 * the socket: sock_read() and sock_write() call tls_read()/tls_writev()
 * instead of recv()/send(), and the engine adds what it needs to the poll
 * events.  The TLS handshake runs inside those calls, before the HTTP
 * request can go out.
 */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "base64.h"
#include "client.h"
#include "tls.h"
#include "ws.h"

/* Exit statuses; see client.h. */
enum {
	ST_OK = 0,
	ST_CLOSED = 1,
	ST_USAGE = 2,
	ST_CONNECT = 3,
	ST_TIMEOUT = 4,
	ST_CONT = -1            /* internal: keep looping */
};

enum state {
	S_CONNECT,              /* TCP connect in progress */
	S_HEAD,                 /* request queued or sent, reading the response head */
	S_BODY,                 /* upgrade refused, reading the error body */
	S_OPEN,                 /* websocket open */
	S_CLOSING,              /* our close frame queued, waiting for the server's */
	S_DONE                  /* close frames exchanged, waiting for TCP end */
};

#define HEAD_MAX (16 * 1024)            /* response head limit */
#define BODY_MAX 4096                   /* error body shown, at most */
#define LINE_MAX_ (16 * 1024 * 1024)    /* longest input line */
#define OUT_HIGH (1024 * 1024)          /* pending output that pauses stdin */
#define CLOSE_WAIT 5.0                  /* seconds to wait for the server's close */

struct obuf {
	unsigned char *p;
	size_t off;             /* sent so far */
	size_t len;             /* filled so far */
	size_t cap;
};

struct url {
	int tls;
	char host[256];         /* without brackets */
	char port[6];
	char *path;             /* request-target, malloc'd */
	char *hosthdr;          /* Host header value, malloc'd */
};

struct cl {
	struct url u;
	char **hdr;             /* --header values, in argv */
	int nhdr;
	const char *ptoken;     /* --protocol-token, in argv, else NULL */
	long count;             /* --count, 0 none */
	double timeout;         /* --timeout, 0 none */

	enum state state;
	int fd;
	struct tls *tls;        /* wss:// engine, else NULL */
	int tls_up;             /* the TLS handshake is done */
	struct addrinfo *ai, *cur;
	int cerr;               /* errno of the last failed connect */
	double deadline;        /* --timeout instant, 0 none */
	double close_by;        /* close-wait instant, 0 none */

	struct obuf out;
	char key[BASE64_ENC_LEN(16) + 1];
	char head[HEAD_MAX];
	size_t head_len;
	size_t head_end;        /* length of the head, its empty line included */
	char body[BODY_MAX];
	size_t body_len;
	size_t body_want;       /* Content-Length, capped; BODY_MAX without one */

	struct ws_dec dec;
	int in_open;            /* standard input not at EOF */
	char *line;             /* partial input line */
	size_t line_len, line_cap;
	long got;               /* messages received */
	int count_done;
	int close_sent;
	int result;             /* exit status once in S_DONE */
};

static double mono(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/*
 * Fills the caller's n bytes at buf with random bytes from the kernel.
 * getrandom() needs no file, which matters in an empty container;
 * /dev/urandom covers kernels older than 3.17.  Returns 0 or -1.
 */
static int sys_random(void *buf, size_t n)
{
	unsigned char *p = buf;
	ssize_t r;
	int fd;

	while (n) {
		r = getrandom(p, n, 0);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		p += r;
		n -= (size_t)r;
	}
	if (!n)
		return 0;
	if ((fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC)) < 0)
		return -1;
	while (n) {
		r = read(fd, p, n);
		if (r <= 0) {
			if (r < 0 && errno == EINTR)
				continue;
			close(fd);
			return -1;
		}
		p += r;
		n -= (size_t)r;
	}
	close(fd);
	return 0;
}

/*
 * Appends n caller-owned bytes to b, growing it.  Space freed by sent
 * bytes is reclaimed only when the buffer would otherwise grow.  Returns
 * 0, or -1 when memory runs out (b is unchanged).
 */
static int ob_put(struct obuf *b, const void *d, size_t n)
{
	unsigned char *np;
	size_t cap;

	if (b->off == b->len)
		b->off = b->len = 0;
	if (n > b->cap - b->len && b->off) {
		memmove(b->p, b->p + b->off, b->len - b->off);
		b->len -= b->off;
		b->off = 0;
	}
	if (n > b->cap - b->len) {
		cap = b->cap ? b->cap : 4096;
		while (cap - b->len < n) {
			if (cap > SIZE_MAX / 2)
				return -1;
			cap *= 2;
		}
		if (!(np = realloc(b->p, cap)))
			return -1;
		b->p = np;
		b->cap = cap;
	}
	if (n)
		memcpy(b->p + b->len, d, n);
	b->len += n;
	return 0;
}

static int ob_puts(struct obuf *b, const char *s)
{
	return ob_put(b, s, strlen(s));
}

/*
 * Queues one final frame of n caller-owned payload bytes, masked with a
 * fresh key: RFC 6455 section 5.3 wants every client frame masked with a
 * key the network cannot predict.  Returns 0 or -1.
 */
static int send_frame(struct cl *c, int op, const void *data, size_t n)
{
	unsigned char hdr[WS_HDR_MAX], key[4];
	size_t h;

	if (sys_random(key, sizeof key) < 0) {
		fprintf(stderr, "pgws client: no random bytes from the system\n");
		return -1;
	}
	h = ws_frame_hdr(hdr, 1, op, n, key);
	if (ob_put(&c->out, hdr, h) < 0 || ob_put(&c->out, data, n) < 0) {
		fprintf(stderr, "pgws client: out of memory\n");
		return -1;
	}
	/* The second ob_put may have moved the buffer: count from its end. */
	ws_mask(c->out.p + c->out.len - n, n, key, 0);
	return 0;
}

/* Queues our close frame once and starts waiting for the server's. */
static int start_close(struct cl *c, int code)
{
	unsigned char pl[WS_CTL_MAX];
	size_t n;

	if (c->close_sent)
		return 0;
	c->close_sent = 1;
	n = ws_close_payload(pl, code, NULL, 0);
	if (c->state == S_OPEN)
		c->state = S_CLOSING;
	c->close_by = mono() + CLOSE_WAIT;
	return send_frame(c, WS_OP_CLOSE, pl, n);
}

/* ------------------------------------------------------------------ */
/* Command line                                                        */

static void usage(FILE *f)
{
	fprintf(f,
	    "usage: pgws client [--count N] [--timeout S] [--header 'Name: value']...\n"
	    "                   [--protocol-token JWT] [--cacert FILE]\n"
	    "                   ws[s]://host[:port]/path\n"
	    "Sends each line of standard input as a text message and prints each\n"
	    "message received as a line.  At the end of standard input it closes\n"
	    "with 1000, unless --count is given: then it waits for N messages.\n"
	    "  --count N      exit 0 after N messages were received\n"
	    "  --timeout S    give up after S seconds in all (exit 4)\n"
	    "  --header H     add a request header, e.g. 'Authorization: Bearer ...'\n"
	    "  --protocol-token JWT\n"
	    "                 send the token as 'Sec-WebSocket-Protocol: pgws, JWT',\n"
	    "                 as a browser does, instead of in the URL\n"
	    "  --cacert FILE  CA certificates (PEM) the server's certificate must\n"
	    "                 chain to; required for wss://\n"
	    "Exit: 0 normal close or --count reached, 1 other close code (printed\n"
	    "as 'closed: CODE REASON' on stderr), 2 usage, 3 connection or\n"
	    "handshake failure, 4 timeout.\n");
}

/*
 * Appends s to the request-target in out, percent-encoding every byte that
 * may not appear in one (space, controls, non-ASCII), so a channel name
 * may be typed as it is.
 */
static void path_put(char *out, size_t *k, const char *s, size_t n)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t i;

	for (i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)s[i];
		if (ch > 0x20 && ch < 0x7f) {
			out[(*k)++] = (char)ch;
		} else {
			out[(*k)++] = '%';
			out[(*k)++] = hex[ch >> 4];
			out[(*k)++] = hex[ch & 15];
		}
	}
}

/*
 * Splits a ws:// or wss:// URL from the command line into u.  The host is
 * a name, an IPv4 literal or a bracketed IPv6 literal; the port defaults
 * to 80 or 443; the fragment is dropped.  Returns 0, or -1 with a message
 * on stderr.
 */
static int url_parse(const char *s, struct url *u)
{
	const char *a, *ae, *h, *he, *pe, *rest;
	size_t hn, rn, k;
	long port;

	if (!strncasecmp(s, "ws://", 5)) {
		u->tls = 0;
		a = s + 5;
	} else if (!strncasecmp(s, "wss://", 6)) {
		u->tls = 1;
		a = s + 6;
	} else {
		fprintf(stderr, "pgws client: the URL must start with ws:// or wss://\n");
		return -1;
	}
	ae = a + strcspn(a, "/?#");
	if (memchr(a, '@', (size_t)(ae - a))) {
		fprintf(stderr, "pgws client: user information in the URL is not supported\n");
		return -1;
	}
	if (*a == '[') {
		h = a + 1;
		if (!(he = memchr(h, ']', (size_t)(ae - h))))
			goto bad;
		pe = he + 1;
	} else {
		h = a;
		if (!(he = memchr(h, ':', (size_t)(ae - h))))
			he = ae;
		pe = he;
	}
	hn = (size_t)(he - h);
	if (!hn || hn >= sizeof u->host)
		goto bad;
	memcpy(u->host, h, hn);
	u->host[hn] = 0;
	if (pe < ae) {
		if (*pe != ':' || ae - pe < 2 || ae - pe > 6)
			goto bad;
		port = 0;
		for (const char *p = pe + 1; p < ae; p++) {
			if (*p < '0' || *p > '9')
				goto bad;
			port = port * 10 + (*p - '0');
		}
		if (port < 1 || port > 65535)
			goto bad;
	} else {
		port = u->tls ? 443 : 80;
	}
	snprintf(u->port, sizeof u->port, "%ld", port);

	/* Host header: brackets for IPv6, the port unless it is the default. */
	if (!(u->hosthdr = malloc(hn + 16)))
		return -1;
	snprintf(u->hosthdr, hn + 16, "%s%s%s", strchr(u->host, ':') ? "[" : "",
	    u->host, strchr(u->host, ':') ? "]" : "");
	if (port != (u->tls ? 443 : 80))
		snprintf(u->hosthdr + strlen(u->hosthdr), 8, ":%ld", port);

	rest = ae;
	rn = strcspn(rest, "#");
	if (!(u->path = malloc(3 * rn + 2)))
		return -1;
	k = 0;
	if (*rest != '/')
		u->path[k++] = '/';
	path_put(u->path, &k, rest, rn);
	u->path[k] = 0;
	return 0;
bad:
	fprintf(stderr, "pgws client: bad host or port in '%s'\n", s);
	return -1;
}

/*
 * Checks a --header value: a field name of visible characters, a colon,
 * and a value without line breaks, so a header can never inject another
 * header or end the request.  Returns 0 or -1.
 */
static int header_ok(const char *h)
{
	const char *p = h;

	while (*p > 0x20 && *p < 0x7f && *p != ':')
		p++;
	if (p == h || *p != ':')
		return -1;
	for (; *p; p++)
		if ((unsigned char)*p < 0x20 && *p != '\t')
			return -1;
	return 0;
}

/*
 * Checks a --protocol-token value: one Sec-WebSocket-Protocol element, so
 * only token characters (RFC 9110 tchar), which every JWT is made of.
 * Returns 0 or -1.
 */
static int ptoken_ok(const char *t)
{
	static const char other[] = "!#$%&'*+-.^_`|~";

	if (!*t)
		return -1;
	for (; *t; t++)
		if (!((*t >= '0' && *t <= '9') || (*t >= 'a' && *t <= 'z') ||
		    (*t >= 'A' && *t <= 'Z') || strchr(other, *t)))
			return -1;
	return 0;
}

/* ------------------------------------------------------------------ */
/* Handshake                                                           */

/*
 * Queues the upgrade request (RFC 6455 section 4.1) with a fresh 16-byte
 * key.  Returns 0 or -1.
 */
static int request_put(struct cl *c)
{
	unsigned char raw[16];
	struct obuf *o = &c->out;
	int e = 0;

	if (sys_random(raw, sizeof raw) < 0) {
		fprintf(stderr, "pgws client: no random bytes from the system\n");
		return -1;
	}
	base64_encode(raw, sizeof raw, c->key, B64_STD);
	e |= ob_puts(o, "GET ");
	e |= ob_puts(o, c->u.path);
	e |= ob_puts(o, " HTTP/1.1\r\nHost: ");
	e |= ob_puts(o, c->u.hosthdr);
	e |= ob_puts(o, "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
	    "Sec-WebSocket-Key: ");
	e |= ob_puts(o, c->key);
	e |= ob_puts(o, "\r\nSec-WebSocket-Version: 13\r\n"
	    "User-Agent: pgws-client\r\n");
	if (c->ptoken) {
		e |= ob_puts(o, "Sec-WebSocket-Protocol: pgws, ");
		e |= ob_puts(o, c->ptoken);
		e |= ob_puts(o, "\r\n");
	}
	for (int i = 0; i < c->nhdr; i++) {
		e |= ob_puts(o, c->hdr[i]);
		e |= ob_puts(o, "\r\n");
	}
	e |= ob_puts(o, "\r\n");
	if (e)
		fprintf(stderr, "pgws client: out of memory\n");
	return e ? -1 : 0;
}

/*
 * Returns the length of the response head in p[0..n), its empty line
 * included, or 0 while it is incomplete.  Bare LF line ends are taken too.
 */
static size_t find_head_end(const char *p, size_t n)
{
	for (size_t i = 0; i + 1 < n; i++) {
		if (p[i] != '\n')
			continue;
		if (p[i + 1] == '\n')
			return i + 2;
		if (p[i + 1] == '\r' && i + 2 < n && p[i + 2] == '\n')
			return i + 3;
	}
	return 0;
}

/* Case-insensitive comparison of p[0..n) with the NUL-terminated s. */
static int span_ieq(const char *p, size_t n, const char *s)
{
	return strlen(s) == n && !strncasecmp(p, s, n);
}

/*
 * Finds header name in the head h[0..n) (status line first, ends with the
 * empty line) and points *v, *vn at its value, trimmed.  Returns 1 if
 * found, else 0.  Only bounded scans: the head is network input.
 */
static int head_get(const char *h, size_t n, const char *name,
    const char **v, size_t *vn)
{
	const char *p = h, *end = h + n, *eol, *colon, *a, *b;

	/* Skip the status line. */
	if (!(eol = memchr(p, '\n', n)))
		return 0;
	for (p = eol + 1; p < end; p = eol + 1) {
		if (!(eol = memchr(p, '\n', (size_t)(end - p))))
			return 0;
		if (!(colon = memchr(p, ':', (size_t)(eol - p))))
			continue;
		if (!span_ieq(p, (size_t)(colon - p), name))
			continue;
		a = colon + 1;
		b = eol;
		while (a < b && (*a == ' ' || *a == '\t'))
			a++;
		while (b > a && (b[-1] == '\r' || b[-1] == ' ' || b[-1] == '\t'))
			b--;
		*v = a;
		*vn = (size_t)(b - a);
		return 1;
	}
	return 0;
}

/* Returns 1 when the comma-separated list v[0..n) holds tok, any case. */
static int list_has(const char *v, size_t n, const char *tok)
{
	const char *p = v, *end = v + n, *c, *a, *b;

	while (p <= end) {
		c = memchr(p, ',', (size_t)(end - p));
		if (!c)
			c = end;
		a = p;
		b = c;
		while (a < b && (*a == ' ' || *a == '\t'))
			a++;
		while (b > a && (b[-1] == ' ' || b[-1] == '\t'))
			b--;
		if (span_ieq(a, (size_t)(b - a), tok))
			return 1;
		p = c + 1;
	}
	return 0;
}

/* Writes s[0..n) to stderr with control characters replaced, then a newline. */
static void err_span(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)s[i];
		fputc(ch < 0x20 && ch != '\n' && ch != '\t' ? '?' : ch, stderr);
	}
	fputc('\n', stderr);
}

/* Returns the status code of the head's status line, or 0 when malformed. */
static int head_status(const char *h, size_t n)
{
	if (n < 12 || memcmp(h, "HTTP/1.", 7) || h[8] != ' ')
		return 0;
	for (int i = 9; i < 12; i++)
		if (h[i] < '0' || h[i] > '9')
			return 0;
	if (n > 12 && h[12] != ' ' && h[12] != '\r' && h[12] != '\n')
		return 0;
	return (h[9] - '0') * 100 + (h[10] - '0') * 10 + (h[11] - '0');
}

/* Reports a refused upgrade: status line and body on stderr.  Returns 3. */
static int refused(struct cl *c)
{
	size_t sl = 0, bn = c->body_len;

	while (sl < c->head_len && c->head[sl] != '\r' && c->head[sl] != '\n')
		sl++;
	fprintf(stderr, "pgws client: handshake failed: ");
	err_span(c->head, sl);
	while (bn && (c->body[bn - 1] == '\n' || c->body[bn - 1] == '\r'))
		bn--;
	if (bn)
		err_span(c->body, bn);
	return ST_CONNECT;
}

static int ws_feed(struct cl *c, unsigned char *p, size_t n);

/*
 * Acts on a complete response head: 101 with the right accept value opens
 * the websocket, anything else is a refusal whose body we collect.
 * Returns ST_CONT or an exit status.
 */
static int head_done(struct cl *c)
{
	const char *h = c->head, *v;
	size_t n = c->head_end, vn;
	char want[WS_ACCEPT_LEN + 1];
	int status = head_status(h, n);

	if (!status) {
		fprintf(stderr, "pgws client: not an HTTP response: ");
		err_span(h, n < 80 ? n : 80);
		return ST_CONNECT;
	}
	if (status != 101) {
		long cl = -1;
		c->body_want = BODY_MAX;
		if (head_get(h, n, "Content-Length", &v, &vn) && vn && vn < 10) {
			cl = 0;
			for (size_t i = 0; i < vn && cl >= 0; i++)
				cl = v[i] >= '0' && v[i] <= '9' ? cl * 10 + (v[i] - '0') : -1;
		}
		if (cl >= 0 && cl < BODY_MAX)
			c->body_want = (size_t)cl;
		c->body_len = c->head_len - c->head_end;
		if (c->body_len > BODY_MAX)
			c->body_len = BODY_MAX;
		memcpy(c->body, c->head + c->head_end, c->body_len);
		c->state = S_BODY;
		return c->body_len >= c->body_want ? refused(c) : ST_CONT;
	}
	if (ws_accept(c->key, strlen(c->key), want) < 0)
		return ST_CONNECT;
	if (!head_get(h, n, "Upgrade", &v, &vn) || !list_has(v, vn, "websocket") ||
	    !head_get(h, n, "Connection", &v, &vn) || !list_has(v, vn, "upgrade")) {
		fprintf(stderr, "pgws client: handshake failed: 101 without Upgrade: websocket\n");
		return ST_CONNECT;
	}
	if (!head_get(h, n, "Sec-WebSocket-Accept", &v, &vn) ||
	    vn != WS_ACCEPT_LEN || memcmp(v, want, vn)) {
		fprintf(stderr, "pgws client: handshake failed: wrong Sec-WebSocket-Accept\n");
		return ST_CONNECT;
	}
	/*
	 * RFC 6455 section 4.1: the subprotocol chosen must be one offered;
	 * with --protocol-token a server that chose none ignored the token.
	 */
	if (!head_get(h, n, "Sec-WebSocket-Protocol", &v, &vn))
		vn = 0;
	if (c->ptoken ? vn != 4 || memcmp(v, "pgws", 4) : vn != 0) {
		fprintf(stderr, "pgws client: handshake failed: %s\n", c->ptoken ?
		    "the server did not choose the pgws subprotocol" :
		    "unrequested subprotocol");
		return ST_CONNECT;
	}
	/* We offered no extension, so a server that uses one is broken. */
	if (head_get(h, n, "Sec-WebSocket-Extensions", &v, &vn) && vn) {
		fprintf(stderr, "pgws client: handshake failed: unrequested extension\n");
		return ST_CONNECT;
	}
	c->state = S_OPEN;
	ws_dec_init(&c->dec, 0, 1);
	/* Frames may have come in the same read as the head. */
	return ws_feed(c, (unsigned char *)c->head + c->head_end,
	    c->head_len - c->head_end);
}

/* ------------------------------------------------------------------ */
/* The open websocket                                                  */

/*
 * Handles a close frame from the server: echo its code if we have not
 * closed yet (RFC 6455 section 5.5.1), then decide the exit status.
 */
static int got_close(struct cl *c, const struct ws_ev *ev)
{
	int we_closed = c->close_sent;

	if (start_close(c, ev->code == WS_CLOSE_NO_STATUS ? 0 : ev->code) < 0)
		return ST_CLOSED;
	c->state = S_DONE;
	c->close_by = mono() + CLOSE_WAIT;
	/* Our own 1000 answered without a code is still a normal close. */
	if (c->count_done || ev->code == WS_CLOSE_NORMAL ||
	    (we_closed && ev->code == WS_CLOSE_NO_STATUS)) {
		c->result = ST_OK;
		return ST_CONT;
	}
	fprintf(stderr, "closed: %d", ev->code);
	if (ev->len) {
		fputc(' ', stderr);
		fwrite(ev->data, 1, ev->len, stderr);
	}
	fputc('\n', stderr);
	c->result = ST_CLOSED;
	return ST_CONT;
}

/*
 * Decodes the caller's n bytes at p (unmasked in place, which for server
 * frames changes nothing).  Message chunks go straight to stdout, so a
 * message of any size costs no memory here.  Returns ST_CONT or an exit
 * status.
 */
static int ws_feed(struct cl *c, unsigned char *p, size_t n)
{
	struct ws_ev ev;
	size_t k;

	while (n && c->state != S_DONE) {
		k = ws_decode(&c->dec, p, n, &ev);
		p += k;
		n -= k;
		switch (ev.type) {
		case WS_EV_NONE:
			break;
		case WS_EV_DATA:
			if (c->count_done)
				break;
			if (ev.len)
				fwrite(ev.data, 1, ev.len, stdout);
			if (!ev.fin)
				break;
			fputc('\n', stdout);
			fflush(stdout);
			if (c->count && ++c->got >= c->count) {
				c->count_done = 1;
				if (start_close(c, WS_CLOSE_NORMAL) < 0)
					return ST_CLOSED;
			}
			break;
		case WS_EV_PING:
			if (!c->close_sent && send_frame(c, WS_OP_PONG, ev.data, ev.len) < 0)
				return ST_CLOSED;
			break;
		case WS_EV_PONG:
			break;
		case WS_EV_CLOSE:
			return got_close(c, &ev);
		case WS_EV_ERROR:
			fprintf(stderr, "pgws client: invalid frame from the server\n"
			    "closed: %d (sent by pgws client)\n", ev.code);
			start_close(c, ev.code);
			c->state = S_DONE;
			c->result = ST_CLOSED;
			return ST_CONT;
		}
	}
	return ST_CONT;
}

/* The connection ended (EOF or error); returns the exit status. */
static int sock_ended(struct cl *c, const char *why)
{
	switch (c->state) {
	case S_CONNECT:
	case S_HEAD:
		fprintf(stderr, "pgws client: connection closed during the handshake%s%s\n",
		    why ? ": " : "", why ? why : "");
		return ST_CONNECT;
	case S_BODY:
		return refused(c);
	case S_OPEN:
	case S_CLOSING:
		if (c->count_done)
			return ST_OK;
		fprintf(stderr, "closed: 1006 connection lost without a close frame%s%s\n",
		    why ? ": " : "", why ? why : "");
		return ST_CLOSED;
	case S_DONE:
		break;
	}
	return c->result;
}

/*
 * The socket or the TLS engine failed with errno e; returns the exit
 * status.  A TLS failure is explained by BearSSL's error code, which is
 * how a certificate that does not verify gets named; before the handshake
 * is done it is a connection failure like a refused connect.
 */
static int sock_failed(struct cl *c, int e)
{
	char txt[96], why[160];
	int te;

	if (!c->tls || e != EPROTO || !(te = tls_error(c->tls)))
		return sock_ended(c, strerror(e));
	tls_error_text(te, txt, sizeof txt);
	if (!c->tls_up) {
		fprintf(stderr, "pgws client: TLS handshake failed: %s (BearSSL error %d)\n",
		    txt, te);
		return ST_CONNECT;
	}
	snprintf(why, sizeof why, "TLS error: %s (BearSSL error %d)", txt, te);
	return sock_ended(c, why);
}

/* recv() through the TLS engine when there is one. */
static ssize_t sock_recv(struct cl *c, void *buf, size_t n)
{
	if (c->tls)
		return tls_read(c->tls, c->fd, buf, n);
	return recv(c->fd, buf, n, 0);
}

/* Reads from the socket; returns ST_CONT or an exit status. */
static int sock_read(struct cl *c)
{
	unsigned char buf[64 * 1024];
	ssize_t n;

	if (c->state == S_HEAD) {
		n = sock_recv(c, c->head + c->head_len, sizeof c->head - c->head_len);
	} else if (c->state == S_BODY) {
		n = sock_recv(c, c->body + c->body_len, sizeof c->body - c->body_len);
	} else {
		n = sock_recv(c, buf, sizeof buf);
	}
	if (n < 0) {
		if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
			return ST_CONT;
		return sock_failed(c, errno);
	}
	if (n == 0)
		return sock_ended(c, NULL);

	switch (c->state) {
	case S_HEAD:
		c->head_len += (size_t)n;
		if ((c->head_end = find_head_end(c->head, c->head_len)))
			return head_done(c);
		if (c->head_len == sizeof c->head) {
			fprintf(stderr, "pgws client: response head longer than %d bytes\n", HEAD_MAX);
			return ST_CONNECT;
		}
		return ST_CONT;
	case S_BODY:
		c->body_len += (size_t)n;
		return c->body_len >= c->body_want ? refused(c) : ST_CONT;
	default:
		return ws_feed(c, buf, (size_t)n);
	}
}

/*
 * Sends pending output, and with TLS the engine's pending records (our
 * handshake messages among them); returns ST_CONT or an exit status.
 * The engine takes no plaintext until its handshake is done: EAGAIN then
 * leaves the output queued for a later call.
 */
static int sock_write(struct cl *c)
{
	struct obuf *o = &c->out;
	struct iovec iov;
	ssize_t n;

	while (o->off < o->len) {
		if (c->tls) {
			iov.iov_base = o->p + o->off;
			iov.iov_len = o->len - o->off;
			if ((n = tls_writev(c->tls, c->fd, &iov, 1)) > 0)
				c->tls_up = 1;
		} else {
			n = send(c->fd, o->p + o->off, o->len - o->off, MSG_NOSIGNAL);
		}
		if (n < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				break;
			if (errno == EINTR)
				continue;
			return sock_failed(c, errno);
		}
		o->off += (size_t)n;
	}
	if (c->tls && tls_flush(c->tls, c->fd) < 0)
		return sock_failed(c, errno);
	return ST_CONT;
}

/* Sends one input line as a text message, without its CR LF or LF. */
static int send_line(struct cl *c, const char *s, size_t n)
{
	if (n && s[n - 1] == '\r')
		n--;
	return send_frame(c, WS_OP_TEXT, s, n) < 0 ? ST_CLOSED : ST_CONT;
}

/*
 * Reads standard input and sends every complete line.  A line split
 * across reads waits in c->line; a line already whole in the read buffer
 * is framed straight from it.  Returns ST_CONT or an exit status.
 */
static int stdin_read(struct cl *c)
{
	char buf[64 * 1024], *p, *nl, *np;
	ssize_t n = read(0, buf, sizeof buf);
	size_t left, seg, cap;

	if (n < 0 && (errno == EINTR || errno == EAGAIN))
		return ST_CONT;
	if (n <= 0) {
		c->in_open = 0;
		/* A last line without a newline is still a line. */
		if (c->line_len && send_line(c, c->line, c->line_len) != ST_CONT)
			return ST_CLOSED;
		c->line_len = 0;
		/* With --count we stay to receive; otherwise EOF ends the session. */
		if (!c->count && start_close(c, WS_CLOSE_NORMAL) < 0)
			return ST_CLOSED;
		return ST_CONT;
	}
	p = buf;
	left = (size_t)n;
	while (left) {
		nl = memchr(p, '\n', left);
		seg = nl ? (size_t)(nl - p) : left;
		if (nl && !c->line_len) {
			if (send_line(c, p, seg) != ST_CONT)
				return ST_CLOSED;
		} else {
			if (seg > LINE_MAX_ - c->line_len) {
				fprintf(stderr, "pgws client: input line longer than %d bytes\n", LINE_MAX_);
				return ST_CLOSED;
			}
			if (c->line_len + seg > c->line_cap) {
				cap = c->line_cap ? c->line_cap : 4096;
				while (cap < c->line_len + seg)
					cap *= 2;
				if (!(np = realloc(c->line, cap))) {
					fprintf(stderr, "pgws client: out of memory\n");
					return ST_CLOSED;
				}
				c->line = np;
				c->line_cap = cap;
			}
			memcpy(c->line + c->line_len, p, seg);
			c->line_len += seg;
			if (nl) {
				if (send_line(c, c->line, c->line_len) != ST_CONT)
					return ST_CLOSED;
				c->line_len = 0;
			}
		}
		if (!nl)
			break;
		p = nl + 1;
		left -= seg + 1;
	}
	return ST_CONT;
}

/* ------------------------------------------------------------------ */
/* Connecting and the loop                                             */

/*
 * Starts a non-blocking connect to the next address that takes one.
 * Returns ST_CONT, or ST_CONNECT with a message when none is left.
 */
static int connect_next(struct cl *c)
{
	for (; c->cur; c->cur = c->cur->ai_next) {
		int fd = socket(c->cur->ai_family, c->cur->ai_socktype |
		    SOCK_NONBLOCK | SOCK_CLOEXEC, c->cur->ai_protocol);
		if (fd < 0) {
			c->cerr = errno;
			continue;
		}
		if (!connect(fd, c->cur->ai_addr, c->cur->ai_addrlen) ||
		    errno == EINPROGRESS) {
			c->fd = fd;
			c->state = S_CONNECT;
			return ST_CONT;
		}
		c->cerr = errno;
		close(fd);
	}
	fprintf(stderr, "pgws client: cannot connect to %s port %s: %s\n",
	    c->u.host, c->u.port, strerror(c->cerr));
	return ST_CONNECT;
}

/* The connect in progress finished; returns ST_CONT or an exit status. */
static int connect_done(struct cl *c)
{
	int err = 0, one = 1;
	socklen_t el = sizeof err;

	if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &el) < 0)
		err = errno;
	if (err) {
		c->cerr = err;
		close(c->fd);
		c->fd = -1;
		c->cur = c->cur->ai_next;
		return connect_next(c);
	}
	/* Lines are small messages: send each at once. */
	setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	c->state = S_HEAD;
	return ST_CONT;
}

static int loop(struct cl *c)
{
	struct pollfd pfd[2];
	double now, wake;
	int rc, ms, buffered;

	for (;;) {
		now = mono();
		if (c->deadline && now >= c->deadline) {
			if (c->state == S_DONE || c->count_done)
				return c->count_done ? ST_OK : c->result;
			fprintf(stderr, "pgws client: timed out after %g s\n", c->timeout);
			return ST_TIMEOUT;
		}
		if (c->close_by && now >= c->close_by) {
			if (c->state == S_DONE || c->count_done)
				return c->count_done ? ST_OK : c->result;
			fprintf(stderr, "pgws client: no close frame from the server in %g s\n",
			    CLOSE_WAIT);
			return ST_CLOSED;
		}
		/* Done once the server ended TCP, or our echo is out and we waited. */
		wake = c->deadline;
		if (c->close_by && (!wake || c->close_by < wake))
			wake = c->close_by;
		ms = -1;
		if (wake)
			ms = wake - now > 60 ? 60000 : (int)((wake - now) * 1000) + 1;

		/*
		 * The TLS engine says itself when it has records to send.  Our
		 * output, which it takes only after the handshake, is offered
		 * before every poll instead: asking POLLOUT for it would spin
		 * while the engine waits for the server.  Plaintext the engine
		 * already decrypted is invisible to poll(): do not wait then.
		 */
		buffered = 0;
		if (c->tls && c->state != S_CONNECT) {
			if (c->out.off < c->out.len && (rc = sock_write(c)) != ST_CONT)
				return rc;
			if ((buffered = tls_buffered(c->tls)))
				ms = 0;
		}
		pfd[0].fd = c->fd;
		if (c->state == S_CONNECT) {
			pfd[0].events = POLLOUT;
		} else if (c->tls) {
			pfd[0].events = POLLIN | tls_events(c->tls);
		} else {
			pfd[0].events = POLLIN;
			if (c->out.off < c->out.len)
				pfd[0].events |= POLLOUT;
		}
		pfd[1].fd = c->state == S_OPEN && c->in_open &&
		    c->out.len - c->out.off < OUT_HIGH ? 0 : -1;
		pfd[1].events = POLLIN;
		pfd[0].revents = pfd[1].revents = 0;
		if (poll(pfd, 2, ms) < 0) {
			if (errno == EINTR)
				continue;
			fprintf(stderr, "pgws client: poll: %s\n", strerror(errno));
			return ST_CLOSED;
		}
		if (c->state == S_CONNECT) {
			if (pfd[0].revents && (rc = connect_done(c)) != ST_CONT)
				return rc;
			continue;
		}
		if ((pfd[0].revents & (POLLOUT | POLLERR)) &&
		    (c->tls || c->out.off < c->out.len) &&
		    (rc = sock_write(c)) != ST_CONT)
			return rc;
		if (((pfd[0].revents & (POLLIN | POLLHUP | POLLERR)) || buffered) &&
		    (rc = sock_read(c)) != ST_CONT)
			return rc;
		if (pfd[1].revents && c->state == S_OPEN &&
		    (rc = stdin_read(c)) != ST_CONT)
			return rc;
	}
}

/*
 * Reads the command line into c (options, the URL into c->u) and
 * *cacert.  Returns ST_CONT, ST_OK after --help, or ST_USAGE with the
 * reason on stderr.
 */
static int client_args(struct cl *c, int argc, char **argv,
    const char **cacert)
{
	const char *url = NULL;
	char *end;

	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
			usage(stdout);
			return ST_OK;
		} else if (!strcmp(a, "--count") && v) {
			c->count = strtol(v, &end, 10);
			if (*end || end == v || c->count <= 0) {
				fprintf(stderr, "pgws client: --count takes a positive number\n");
				return ST_USAGE;
			}
			i++;
		} else if (!strcmp(a, "--timeout") && v) {
			c->timeout = strtod(v, &end);
			if (*end || end == v || !(c->timeout > 0 && c->timeout < 1e9)) {
				fprintf(stderr, "pgws client: --timeout takes a positive number of seconds\n");
				return ST_USAGE;
			}
			i++;
		} else if (!strcmp(a, "--header") && v) {
			if (header_ok(v) < 0) {
				fprintf(stderr, "pgws client: --header takes 'Name: value' on one line\n");
				return ST_USAGE;
			}
			c->hdr[c->nhdr++] = argv[++i];
		} else if (!strcmp(a, "--protocol-token") && v) {
			if (ptoken_ok(v) < 0) {
				fprintf(stderr, "pgws client: --protocol-token takes a JWT\n");
				return ST_USAGE;
			}
			c->ptoken = argv[++i];
		} else if (!strcmp(a, "--cacert") && v) {
			*cacert = argv[++i];
		} else if (a[0] == '-' && a[1]) {
			fprintf(stderr, "pgws client: unknown or incomplete option '%s'\n", a);
			usage(stderr);
			return ST_USAGE;
		} else if (url) {
			fprintf(stderr, "pgws client: more than one URL\n");
			return ST_USAGE;
		} else {
			url = a;
		}
	}
	if (!url) {
		usage(stderr);
		return ST_USAGE;
	}
	return url_parse(url, &c->u) < 0 ? ST_USAGE : ST_CONT;
}

/*
 * Sets up TLS (wss://), resolves the host, queues the request and starts
 * connecting.  Returns ST_CONT, or an exit status with the reason on
 * stderr.
 */
static int client_start(struct cl *c, const char *cacert)
{
	struct addrinfo hints;
	char err[512];
	int g;

	/*
	 * No default trust store: a static binary has no fixed place to find
	 * one, and a client that silently trusted anything would be worse.
	 */
	if (c->u.tls) {
		if (!cacert) {
			fprintf(stderr, "pgws client: wss:// needs --cacert FILE, "
			    "the CA certificates (PEM) to verify the server with\n");
			return ST_USAGE;
		}
		if (!(c->tls = tls_client_new(cacert, c->u.host, err, sizeof err))) {
			fprintf(stderr, "pgws client: %s\n", err);
			return ST_USAGE;
		}
	}

	if (c->timeout)
		c->deadline = mono() + c->timeout;
	memset(&hints, 0, sizeof hints);
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	if ((g = getaddrinfo(c->u.host, c->u.port, &hints, &c->ai))) {
		fprintf(stderr, "pgws client: %s: %s\n", c->u.host, gai_strerror(g));
		return ST_CONNECT;
	}
	c->cur = c->ai;
	c->cerr = ECONNREFUSED;
	if (request_put(c) < 0)
		return ST_CLOSED;
	return connect_next(c);
}

/* Ends the connection (close_notify first over TLS) and frees c. */
static void client_free(struct cl *c)
{
	if (c->tls) {
		/* close_notify, as far as the socket takes it without waiting. */
		if (c->fd >= 0 && c->state != S_CONNECT)
			tls_close(c->tls, c->fd);
		tls_free(c->tls);
	}
	if (c->fd >= 0)
		close(c->fd);
	if (c->ai)
		freeaddrinfo(c->ai);
	free(c->u.path);
	free(c->u.hosthdr);
	free(c->out.p);
	free(c->line);
	free(c->hdr);
	free(c);
}

int client_main(int argc, char **argv)
{
	struct cl *c;
	const char *cacert = NULL;
	int rc;

	if (!(c = calloc(1, sizeof *c)) ||
	    !(c->hdr = calloc((size_t)argc + 1, sizeof *c->hdr))) {
		fprintf(stderr, "pgws client: out of memory\n");
		free(c);
		return ST_CLOSED;
	}
	c->fd = -1;
	c->in_open = 1;
	if ((rc = client_args(c, argc, argv, &cacert)) == ST_CONT &&
	    (rc = client_start(c, cacert)) == ST_CONT)
		rc = loop(c);
	fflush(stdout);
	client_free(c);
	return rc;
}
