/*
 * A minimal blocking HTTP/1.1 GET client, for `pgws check --url`: a
 * scratch image has no curl, and a container HEALTHCHECK needs something
 * that asks /health and says yes or no.  Plain http only.  The URL and
 * status-line readers are pure functions with their own tests.
 */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "httpc.h"

static int is_host_byte(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_';
}

int httpc_url_parse(const char *s, struct httpc_url *u)
{
	const char *p;

	if (strncmp(s, "http://", 7))
		return -1;
	p = s + 7;
	if (*p == '[') {
		const char *h = ++p;
		while ((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f') ||
		    (*p >= 'A' && *p <= 'F') || *p == ':' || *p == '.')
			p++;
		if (*p != ']' || p == h)
			return -1;
		u->host = h;
		u->host_len = (size_t)(p - h);
		p++;
	} else {
		u->host = p;
		while (is_host_byte(*p))
			p++;
		u->host_len = (size_t)(p - u->host);
		if (!u->host_len)
			return -1;
	}
	u->port = 80;
	if (*p == ':') {
		long port = 0;
		const char *d = ++p;
		while (*p >= '0' && *p <= '9' && p - d < 6)
			port = port * 10 + (*p++ - '0');
		if (p == d || port < 1 || port > 65535)
			return -1;
		u->port = (int)port;
	}
	if (!*p) {
		u->path = "/";
		u->path_len = 1;
		return 0;
	}
	if (*p != '/')
		return -1;
	u->path = p;
	for (; *p; p++)
		if (*p < 0x21 || *p > 0x7e)
			return -1;
	u->path_len = (size_t)(p - u->path);
	return 0;
}

int httpc_status_line(const char *r, size_t n)
{
	static const char pre[] = "HTTP/1.";
	int st = 0;

	for (size_t i = 0; i < 7; i++) {
		if (i >= n)
			return -2;
		if (r[i] != pre[i])
			return -1;
	}
	if (n < 8)
		return -2;
	if (r[7] != '0' && r[7] != '1')
		return -1;
	if (n < 9)
		return -2;
	if (r[8] != ' ')
		return -1;
	for (size_t i = 9; i < 12; i++) {
		if (i >= n)
			return -2;
		if (r[i] < '0' || r[i] > '9')
			return -1;
		st = st * 10 + (r[i] - '0');
	}
	if (n < 13)
		return -2;
	if ((r[12] != ' ' && r[12] != '\r') || st < 100)
		return -1;
	return st;
}

static double mono(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Waits for events on fd until the deadline; 1 when ready, 0 on timeout. */
static int wait_fd(int fd, short events, double deadline)
{
	for (;;) {
		double left = deadline - mono();
		if (left <= 0)
			return 0;
		struct pollfd p = { .fd = fd, .events = events };
		int r = poll(&p, 1, (int)(left * 1000) + 1);
		if (r > 0)
			return 1;
		if (r < 0 && errno != EINTR)
			return 0;
	}
}

/* Connects to u within the deadline; returns the socket or -1 with why. */
static int url_connect(const struct httpc_url *u, double deadline,
    char *why, size_t whycap)
{
	char host[256], port[8];
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM,
	    .ai_flags = AI_NUMERICSERV }, *ai, *a;
	int fd = -1, e;

	if (u->host_len >= sizeof host) {
		snprintf(why, whycap, "host name too long");
		return -1;
	}
	memcpy(host, u->host, u->host_len);
	host[u->host_len] = 0;
	snprintf(port, sizeof port, "%d", u->port);
	if ((e = getaddrinfo(host, port, &hints, &ai))) {
		snprintf(why, whycap, "cannot resolve %s: %s", host, gai_strerror(e));
		return -1;
	}
	snprintf(why, whycap, "no address for %s", host);
	for (a = ai; a; a = a->ai_next) {
		fd = socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC |
		    SOCK_NONBLOCK, a->ai_protocol);
		if (fd < 0)
			continue;
		if (connect(fd, a->ai_addr, a->ai_addrlen) == 0)
			break;
		e = errno;
		if (e == EINPROGRESS) {
			socklen_t l = sizeof e;
			if (!wait_fd(fd, POLLOUT, deadline)) {
				snprintf(why, whycap, "no connection within the timeout");
				close(fd);
				fd = -1;
				break;
			}
			if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &l) == 0 && e == 0)
				break;
		}
		snprintf(why, whycap, "connect: %s", strerror(e));
		close(fd);
		fd = -1;
	}
	freeaddrinfo(ai);
	return fd;
}

/*
 * GET u's path; reads the answer into resp[0..cap) until the peer closes,
 * the buffer is full or the deadline passes.  Returns the bytes read, or
 * -1 with why.
 */
long httpc_get(const struct httpc_url *u, double timeout, char *resp,
    size_t cap, char *why, size_t whycap)
{
	double deadline = mono() + timeout;
	char req[4096];
	int fd = url_connect(u, deadline, why, whycap);
	size_t n = 0, off = 0;

	if (fd < 0)
		return -1;
	int rl = snprintf(req, sizeof req, "GET %.*s HTTP/1.1\r\nHost: %s%.*s%s\r\n"
	    "User-Agent: pgws-check\r\nConnection: close\r\n\r\n",
	    (int)u->path_len, u->path, memchr(u->host, ':', u->host_len) ? "[" : "",
	    (int)u->host_len, u->host, memchr(u->host, ':', u->host_len) ? "]" : "");
	while (off < (size_t)rl) {
		ssize_t w = send(fd, req + off, (size_t)rl - off, MSG_NOSIGNAL);
		if (w > 0) {
			off += (size_t)w;
		} else if (w < 0 && errno == EAGAIN && wait_fd(fd, POLLOUT, deadline)) {
			continue;
		} else {
			snprintf(why, whycap, "send: %s", w < 0 ? strerror(errno) : "closed");
			close(fd);
			return -1;
		}
	}
	while (n < cap) {
		ssize_t r = recv(fd, resp + n, cap - n, 0);
		if (r > 0) {
			n += (size_t)r;
		} else if (r == 0) {
			break;
		} else if (errno == EAGAIN || errno == EINTR) {
			if (!wait_fd(fd, POLLIN, deadline)) {
				if (n && httpc_status_line(resp, n) > 0)
					break;  /* the status is there; the rest is late */
				snprintf(why, whycap, "no answer within %g s", timeout);
				close(fd);
				return -1;
			}
		} else {
			snprintf(why, whycap, "recv: %s", strerror(errno));
			close(fd);
			return -1;
		}
	}
	close(fd);
	return (long)n;
}

/* The first line of the body of resp[0..n), escaped for one line. */
void httpc_body_line(const char *resp, size_t n, char *out, size_t cap)
{
	const char *b = NULL;
	out[0] = 0;
	for (size_t i = 0; i + 4 <= n; i++)
		if (!memcmp(resp + i, "\r\n\r\n", 4)) {
			b = resp + i + 4;
			break;
		}
	if (!b)
		return;
	size_t k = 0, o = 0, left = n - (size_t)(b - resp);
	/* Printable ASCII as it is (a JSON body stays readable), anything
	 * else as \xHH; at most 200 bytes of it. */
	for (; k < left && k < 200 && b[k] != '\n' && b[k] != '\r' && o + 5 < cap; k++) {
		unsigned char c = (unsigned char)b[k];
		if (c >= 0x20 && c < 0x7f)
			out[o++] = (char)c;
		else
			o += (size_t)snprintf(out + o, cap - o, "\\x%02x", c);
	}
	out[o] = 0;
}

