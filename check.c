/*
 * pgws check, in its own file because it runs instead of the server: it
 * loads the configuration the way the server does (reporting every error,
 * not only the first), connects to the database through the same db.c
 * code and runs LISTEN, optionally says what a token would be granted, or
 * asks a running instance's /health over plain HTTP.  It prints one line
 * and exits with one of the statuses in check.h.
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

#include "check.h"
#include "config.h"
#include "db.h"
#include "http.h"
#include "jwt.h"
#include "log.h"
#include "tls.h"

#define CHECK_TIMEOUT 5         /* seconds for --url, unless --timeout */
#define CHECK_RESP_MAX 4096     /* bytes of the answer that are read */

/* --- the URL and the answer ---------------------------------------------- */

static int is_host_byte(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_';
}

int check_url_parse(const char *s, struct check_url *u)
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

int check_status_line(const char *r, size_t n)
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
static int url_connect(const struct check_url *u, double deadline,
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
static long url_get(const struct check_url *u, double timeout, char *resp,
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
				if (n && check_status_line(resp, n) > 0)
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
static void body_line(const char *resp, size_t n, char *out, size_t cap)
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
	size_t k = 0, left = n - (size_t)(b - resp);
	while (k < left && b[k] != '\n' && b[k] != '\r')
		k++;
	http_log_escape(b, k > 200 ? 200 : k, out, cap);
}

static int check_url(const char *url, double timeout)
{
	struct check_url u;
	char resp[CHECK_RESP_MAX], why[512], body[1024];

	if (check_url_parse(url, &u) < 0) {
		fprintf(stderr, "pgws check: --url takes http://host[:port]/path, "
		    "not '%s'\n", url);
		return CHECK_CONFIG;
	}
	long n = url_get(&u, timeout, resp, sizeof resp, why, sizeof why);
	if (n < 0) {
		fprintf(stderr, "pgws check: %s: %s\n", url, why);
		return CHECK_UNREACHABLE;
	}
	int st = check_status_line(resp, (size_t)n);
	body_line(resp, (size_t)n, body, sizeof body);
	if (st != 200) {
		if (st < 0)
			fprintf(stderr, "pgws check: %s: not an HTTP answer\n", url);
		else
			fprintf(stderr, "pgws check: %s answered %d %s\n", url, st, body);
		return CHECK_UNREACHABLE;
	}
	printf("ok: %s answered 200 %s\n", url, body);
	return CHECK_OK;
}

/* --- the configuration, the token, the database ------------------------------ */

static void utc(double t, char *out, size_t cap)
{
	time_t s = (time_t)t;
	struct tm tm;
	gmtime_r(&s, &tm);
	strftime(out, cap, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/*
 * What tok would be granted at the path /<chan>/<tok> (chan NULL: /<tok>),
 * written as one line into out.  Returns 0, or the HTTP status of the
 * refusal with its reason in out.
 */
static int token_line(const struct jwt_keyset *keys, const char *tok,
    const char *chan, char *out, size_t cap)
{
	struct jwt_claims cl;
	struct timespec ts;
	size_t wcap = jwt_work_size((size_t)cfg.max_token, keys->max_chan);
	char *work = malloc(wcap), esc[512], when[32];
	int e;

	if (!work) {
		snprintf(out, cap, "out of memory");
		return 500;
	}
	clock_gettime(CLOCK_REALTIME, &ts);
	double now = (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
	e = jwt_verify(tok, strlen(tok), (size_t)cfg.max_token, keys, now, work,
	    wcap, &cl);
	if (e == JWT_OK && (chan || cl.listed))
		e = jwt_grant(&cl, chan, chan ? strlen(chan) : 0);
	if (e != JWT_OK) {
		snprintf(out, cap, "%d %s", jwt_status(e),
		    e == JWT_E_CLAIMS && cl.why ? cl.why : jwt_strerror(e));
		free(work);
		return jwt_status(e);
	}
	size_t n = (size_t)snprintf(out, cap, "token: mode %s%s, ",
	    cl.mode & JWT_MODE_R ? "r" : "", cl.mode & JWT_MODE_W ? "w" : "");
	if (!chan && !cl.listed) {
		n += (size_t)snprintf(out + n, n < cap ? cap - n : 0,
		    "any one channel named in the path (/<channel>/<jwt>)");
	} else {
		n += (size_t)snprintf(out + n, n < cap ? cap - n : 0, "channel%s ",
		    cl.nchan == 1 ? "" : "s");
		for (size_t i = 0; i < cl.nchan && n < cap; i++) {
			http_log_escape(cl.chan[i].p, cl.chan[i].n, esc, sizeof esc);
			n += (size_t)snprintf(out + n, cap - n, "%s%s", i ? ", " : "", esc);
		}
	}
	if (n < cap && cl.has_exp) {
		utc(cl.exp, when, sizeof when);
		snprintf(out + n, cap - n, "; expires %s (in %.0f s)", when, cl.exp - now);
	} else if (n < cap) {
		snprintf(out + n, cap - n, "; no exp: never expires");
	}
	free(work);
	return 0;
}

static int usage_error(const char *what)
{
	fprintf(stderr, "pgws check: %s\n"
	    "usage: pgws check [--token JWT [--channel C]]\n"
	    "       pgws check --url http://HOST:PORT/health [--timeout SECONDS]\n",
	    what);
	return CHECK_CONFIG;
}

/* Everything but --url: configuration, keys, TLS files, token, database. */
static int check_config(const char *tok, const char *chan)
{
	struct jwt_keyset keys;
	char err[512], line[2048] = "", where[512], lc[256];
	int have_keys = 0;

	int errors = config_read();
	/* Only the answer goes out, not the server's log lines. */
	log_set_level(L_ERROR);
	if (cfg.jwt_secret) {
		int kr = jwt_keys_load(&keys, cfg.jwt_secret, cfg.jwt_secret_len,
		    (int)cfg.jwt_base64, err, sizeof err);
		if (kr < 0) {
			fprintf(stderr, "pgws: PGWS_JWT_SECRET: %s\n", err);
			errors++;
		} else {
			have_keys = 1;
		}
	}
	if (cfg.cert_file && cfg.key_file &&
	    tls_setup(cfg.cert_file, cfg.key_file, err, sizeof err) < 0) {
		fprintf(stderr, "pgws: %s\n", err);
		errors++;
	}
	if (errors) {
		if (have_keys)
			jwt_keys_free(&keys);
		return CHECK_CONFIG;
	}
	if (tok && token_line(&keys, tok, chan, line, sizeof line)) {
		fprintf(stderr, "pgws check: token refused: %s\n", line);
		jwt_keys_free(&keys);
		return CHECK_TOKEN;
	}
	jwt_keys_free(&keys);
	struct db_cfg dc = {
		.uri = cfg.db_uri, .channel = cfg.listen_channel,
		.pool_size = (int)cfg.pool_size, .retries = 1,
		.check_ms = cfg.check_interval,
		.queue_max = (size_t)cfg.publish_queue,
		.bytes_max = (size_t)cfg.publish_bytes,
		.batch_max = (size_t)cfg.publish_batch,
	};
	if (db_init(&dc, err, sizeof err) < 0) {
		fprintf(stderr, "pgws check: database: %s\n", err);
		return CHECK_UNREACHABLE;
	}
	db_describe(where, sizeof where);
	db_shutdown();
	http_log_escape(cfg.listen_channel, strlen(cfg.listen_channel), lc, sizeof lc);
	printf("ok: configuration valid; %s; LISTEN \"%s\" done%s%s\n", where, lc,
	    tok ? "; " : "", line);
	return CHECK_OK;
}

int check_main(int argc, char **argv)
{
	const char *url = NULL, *tok = NULL, *chan = NULL;
	double timeout = CHECK_TIMEOUT;

	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		if (!v)
			return usage_error("an option without its value");
		if (!strcmp(a, "--url")) {
			url = v;
		} else if (!strcmp(a, "--token")) {
			tok = v;
		} else if (!strcmp(a, "--channel") && *v) {
			chan = v;
		} else if (!strcmp(a, "--timeout")) {
			char *end;
			timeout = strtod(v, &end);
			if (*end || !(timeout > 0 && timeout <= 3600))
				return usage_error("--timeout takes seconds, more than 0 and at most 3600");
		} else {
			return usage_error("unknown option");
		}
		i++;
	}
	if (url && (tok || chan))
		return usage_error("--url asks a running instance; --token and --channel check the configuration");
	if (chan && !tok)
		return usage_error("--channel goes with --token");
	if (url)
		return check_url(url, timeout);
	return check_config(tok, chan);
}
