/*
 * pgws: PostgreSQL LISTEN/NOTIFY to WebSockets, authorised by JWTs.
 *
 * This file holds main, the configuration, the command-line helpers and the
 * single-threaded poll() loop that owns every client connection.  The pure
 * parsers live in http.c, ws.c, json.c, jwt.c, base64.c and sha1.c; the
 * database connections in db.c.
 *
 * The data path, in one paragraph: a NOTIFY arrives on the listener
 * connection, its payload is scanned once for a "channel" member, framed
 * once into a reference-counted struct msg, and a reference to that one
 * buffer is appended to the output queue of every reader of the channel.
 * Connections that got output this turn are written with writev() after
 * all input of the turn is handled, so a burst of notifications costs one
 * system call per reader.  A reader whose queue passes PGWS_MAX_PENDING is
 * dropped, so a slow client never holds memory or other clients hostage.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#ifdef __linux__
#include <sys/epoll.h>
#endif
#include <time.h>
#include <unistd.h>

#include "base64.h"
#include "client.h"
#include "db.h"
#include "http.h"
#include "json.h"
#include "tls.h"
#include "jwt.h"
#include "ws.h"

#ifndef PGWS_VERSION
#define PGWS_VERSION "dev"
#endif

/* ------------------------------------------------------------------ */
/* Logging                                                             */

enum { L_ERROR, L_WARN, L_INFO, L_DEBUG };
static const char *const level_name[] = { "error", "warn", "info", "debug" };
static int log_level = L_INFO;

static void vlogf(int lvl, const char *fmt, va_list ap)
{
	struct timespec ts;
	struct tm tm;
	char line[1024];
	int n;

	if (lvl > log_level)
		return;
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	n = snprintf(line, sizeof line, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ %s ",
	    tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
	    tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000, level_name[lvl]);
	vsnprintf(line + n, sizeof line - (size_t)n - 1, fmt, ap);
	/* One write per line keeps lines whole when stderr is shared. */
	n = (int)strlen(line);
	line[n++] = '\n';
	if (write(2, line, (size_t)n) < 0)
		return;
}

static void logf_(int lvl, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void logf_(int lvl, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vlogf(lvl, fmt, ap);
	va_end(ap);
}

void db_log(int level, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vlogf(level, fmt, ap);
	va_end(ap);
}

/* Start-up errors: one line naming the problem, exit status 2. */
static void die2(const char *fmt, ...) __attribute__((noreturn, format(printf, 1, 2)));
static void die2(const char *fmt, ...)
{
	va_list ap;
	fputs("pgws: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(2);
}

/* ------------------------------------------------------------------ */
/* Configuration                                                       */

static struct {
	char *db_uri;
	char *jwt_secret;
	size_t jwt_secret_len;
	long jwt_base64;
	char *host;
	long port;
	char *listen_channel;
	char *meta_channel;
	char *root_path;
	long pool_size;
	long retries;
	long check_interval;
	char *cert_file;
	char *key_file;
	/* Beyond the original: limits and timers. */
	long max_connections;
	long max_header;
	long max_message;
	long max_pending;
	long max_token;
	long handshake_timeout;
	long ping_interval;
	long close_timeout;
	long publish_queue;
	long publish_bytes;
	long publish_batch;
	char *log_level;
	char *backend;
} cfg;

#ifdef __linux__
#define EV_DEFAULT "epoll"
#else
#define EV_DEFAULT "poll"
#endif

enum { V_STR, V_URI, V_SECRET, V_BOOL, V_INT, V_LEVEL };

struct var {
	const char *name;
	const char *def;        /* NULL: unset by default */
	int kind;
	void *dst;
	long min, max;
	const char *help;
};

static const struct var vars[] = {
	{ "PGWS_DB_URI", NULL, V_URI, &cfg.db_uri, 0, 0,
	  "libpq connection string or URI (required); @path reads it from a file" },
	{ "PGWS_JWT_SECRET", NULL, V_SECRET, &cfg.jwt_secret, 0, 0,
	  "HMAC secret, JWK or JWK set (required); @path reads it from a file" },
	{ "PGWS_JWT_SECRET_BASE64", "false", V_BOOL, &cfg.jwt_base64, 0, 1,
	  "true: the secret is base64 or base64url text, decoded first" },
	{ "PGWS_HOST", "*4", V_STR, &cfg.host, 0, 0,
	  "*4 any IPv4, *6 any IPv6, * both, else an address or host name" },
	{ "PGWS_PORT", "3000", V_INT, &cfg.port, 0, 65535,
	  "TCP port (0: any free port)" },
	{ "PGWS_LISTEN_CHANNEL", "postgres-websockets-listener", V_STR,
	  &cfg.listen_channel, 0, 0,
	  "the database channel pgws LISTENs on and NOTIFYs to" },
	{ "PGWS_META_CHANNEL", NULL, V_STR, &cfg.meta_channel, 0, 0,
	  "when set, ConnectionOpen/ConnectionClose events go to this channel" },
	{ "PGWS_ROOT_PATH", NULL, V_STR, &cfg.root_path, 0, 0,
	  "directory of static files served over HTTP; unset: none" },
	{ "PGWS_POOL_SIZE", "10", V_INT, &cfg.pool_size, 1, 1000,
	  "database connections that send NOTIFYs" },
	{ "PGWS_RETRIES", "5", V_INT, &cfg.retries, 1, 1000,
	  "database connection attempts at start-up (back-off 1 s .. 32 s)" },
	{ "PGWS_CHECK_LISTENER_INTERVAL", "0", V_INT, &cfg.check_interval, 0,
	  86400000, "ms; >0: supervise and re-establish the listener; 0: exit 1 when it dies" },
	{ "PGWS_CERTIFICATE_FILE", NULL, V_STR, &cfg.cert_file, 0, 0,
	  "PEM certificate chain (with PGWS_KEY_FILE: serve TLS)" },
	{ "PGWS_KEY_FILE", NULL, V_STR, &cfg.key_file, 0, 0,
	  "PEM private key, RSA or EC" },
	{ "PGWS_MAX_CONNECTIONS", "10000", V_INT, &cfg.max_connections, 1,
	  1000000, "most client connections at once; more are refused" },
	{ "PGWS_MAX_HEADER_SIZE", "8192", V_INT, &cfg.max_header, 256,
	  1048576, "bytes of an HTTP request head (431 beyond)" },
	{ "PGWS_MAX_MESSAGE_SIZE", "65536", V_INT, &cfg.max_message, 1,
	  16777216, "bytes of one websocket message (close 1009 beyond)" },
	{ "PGWS_MAX_PENDING", "1048576", V_INT, &cfg.max_pending, 1024,
	  1073741824, "bytes queued for one slow client before it is dropped" },
	{ "PGWS_MAX_TOKEN_SIZE", "8192", V_INT, &cfg.max_token, 64, 65536,
	  "bytes of a JWT (401 beyond)" },
	{ "PGWS_HANDSHAKE_TIMEOUT", "10", V_INT, &cfg.handshake_timeout, 1,
	  3600, "seconds to send a complete request; also HTTP keep-alive idle time" },
	{ "PGWS_PING_INTERVAL", "30", V_INT, &cfg.ping_interval, 1, 86400,
	  "seconds between pings; a peer silent for two intervals is dropped" },
	{ "PGWS_CLOSE_TIMEOUT", "5", V_INT, &cfg.close_timeout, 1, 3600,
	  "seconds to wait for the peer's close frame after ours" },
	{ "PGWS_PUBLISH_QUEUE", "10000", V_INT, &cfg.publish_queue, 1,
	  10000000, "messages waiting per pool connection before senders get 1013" },
	{ "PGWS_PUBLISH_QUEUE_BYTES", "67108864", V_INT, &cfg.publish_bytes,
	  65536, 17179869184L, "payload bytes waiting across the pool before senders get 1013" },
	{ "PGWS_PUBLISH_BATCH", "256", V_INT, &cfg.publish_batch, 1, 10000,
	  "most NOTIFYs sent in one round trip" },
	{ "PGWS_EVENT_BACKEND", EV_DEFAULT, V_STR, &cfg.backend, 0, 0,
	  "epoll (Linux) or poll: how the loop waits for sockets" },
	{ "PGWS_LOG_LEVEL", "info", V_LEVEL, &cfg.log_level, 0, 0,
	  "error, warn, info or debug" },
};

/*
 * Reads a whole small file for an @path value; the caller frees it.
 * Configuration files are read once at start-up, so this may block.
 */
static char *slurp(const char *var, const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *buf = NULL;
	size_t n = 0, cap = 0;

	if (!f)
		die2("%s: cannot read %s: %s", var, path, strerror(errno));
	for (;;) {
		if (cap - n < 4096) {
			cap = cap ? cap * 2 : 8192;
			if (cap > (1u << 24))
				die2("%s: %s is too large", var, path);
			buf = realloc(buf, cap);
			if (!buf)
				die2("out of memory");
		}
		size_t r = fread(buf + n, 1, cap - n - 1, f);
		n += r;
		if (r == 0)
			break;
	}
	if (ferror(f))
		die2("%s: cannot read %s", var, path);
	fclose(f);
	buf[n] = 0;
	*len = n;
	return buf;
}

static int str_ieq(const char *a, const char *b)
{
	for (; *a && *b; a++, b++)
		if ((*a | 0x20) != (*b | 0x20))
			return 0;
	return *a == *b;
}

static void config_load(void)
{
	for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++) {
		const struct var *v = &vars[i];
		const char *s = getenv(v->name);
		char *val, *end;
		size_t len;

		if (s && !*s && v->kind != V_STR)
			s = NULL;       /* an empty variable counts as unset */
		if (!s)
			s = v->def;
		if (!s) {
			*(char **)v->dst = NULL;
			continue;
		}
		switch (v->kind) {
		case V_STR:
			*(char **)v->dst = strdup(s);
			break;
		case V_URI:
		case V_SECRET:
			if (s[0] == '@') {
				val = slurp(v->name, s + 1, &len);
			} else {
				len = strlen(s);
				val = strdup(s);
			}
			if (v->kind == V_URI) {
				/* Surrounding whitespace trimmed. */
				size_t a = 0;
				while (a < len && strchr(" \t\r\n", val[a]))
					a++;
				while (len > a && strchr(" \t\r\n", val[len - 1]))
					len--;
				memmove(val, val + a, len - a);
				len -= a;
				val[len] = 0;
			} else if (s[0] == '@' && len && val[len - 1] == '\n') {
				/* One trailing newline dropped (and its CR). */
				len--;
				if (len && val[len - 1] == '\r')
					len--;
				val[len] = 0;
			}
			if (!len)
				die2("%s is empty", v->name);
			*(char **)v->dst = val;
			if (v->dst == &cfg.jwt_secret)
				cfg.jwt_secret_len = len;
			break;
		case V_BOOL:
			if (str_ieq(s, "true") || !strcmp(s, "1"))
				*(long *)v->dst = 1;
			else if (str_ieq(s, "false") || !strcmp(s, "0"))
				*(long *)v->dst = 0;
			else
				die2("%s: '%s' is not true or false", v->name, s);
			break;
		case V_INT:
			errno = 0;
			long n = strtol(s, &end, 10);
			if (errno || end == s || *end || n < v->min || n > v->max)
				die2("%s: '%s' is not a whole number from %ld to %ld",
				    v->name, s, v->min, v->max);
			*(long *)v->dst = n;
			break;
		case V_LEVEL:
			for (int l = 0; l <= L_DEBUG; l++)
				if (str_ieq(s, level_name[l])) {
					log_level = l;
					*(char **)v->dst = strdup(s);
				}
			if (!*(char **)v->dst)
				die2("%s: '%s' is not error, warn, info or debug",
				    v->name, s);
			break;
		}
	}
	if (!cfg.db_uri)
		die2("PGWS_DB_URI is required (a libpq connection string or URI)");
	if (!cfg.jwt_secret)
		die2("PGWS_JWT_SECRET is required");
	if (!!cfg.cert_file != !!cfg.key_file)
		die2("%s is set but %s is not: TLS needs both",
		    cfg.cert_file ? "PGWS_CERTIFICATE_FILE" : "PGWS_KEY_FILE",
		    cfg.cert_file ? "PGWS_KEY_FILE" : "PGWS_CERTIFICATE_FILE");
	if (cfg.cert_file) {
		char err[512];
		if (tls_setup(cfg.cert_file, cfg.key_file, err, sizeof err) < 0)
			die2("%s", err);
	}
	if (!*cfg.listen_channel)
		die2("PGWS_LISTEN_CHANNEL is empty");
	if (strcmp(cfg.backend, "poll") && strcmp(cfg.backend, EV_DEFAULT))
		die2("PGWS_EVENT_BACKEND: '%s' is not %s", cfg.backend,
		    strcmp(EV_DEFAULT, "poll") ? "epoll or poll" : "poll");
	if (cfg.meta_channel && !*cfg.meta_channel)
		cfg.meta_channel = NULL;
	if (cfg.root_path) {
		struct stat st;
		if (stat(cfg.root_path, &st) || !S_ISDIR(st.st_mode))
			die2("PGWS_ROOT_PATH: %s is not a directory", cfg.root_path);
		char *r = realpath(cfg.root_path, NULL);
		if (!r)
			die2("PGWS_ROOT_PATH: %s: %s", cfg.root_path, strerror(errno));
		free(cfg.root_path);
		cfg.root_path = r;
	}
}

static void usage(FILE *f)
{
	fprintf(f,
	    "pgws %s: PostgreSQL LISTEN/NOTIFY to WebSockets, authorised by JWTs\n"
	    "\n"
	    "usage: pgws                 serve (configured by the environment)\n"
	    "       pgws token [--mode r|w|rw] [--channel C]... [--exp SECONDS]\n"
	    "                  [--claim KEY=VALUE]... [--alg HS256|HS384|HS512]\n"
	    "                            print a token signed with PGWS_JWT_SECRET\n"
	    "       pgws client [--count N] [--timeout S] [--header 'Name: value']...\n"
	    "                  [--cacert FILE] URL\n"
	    "                            websocket client: stdin lines out, messages in\n"
	    "       pgws --help | --version\n"
	    "\n"
	    "Clients connect to ws://HOST:PORT/<channel>/<jwt> or /<jwt>.\n"
	    "\n"
	    "environment (default in brackets):\n", PGWS_VERSION);
	for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++)
		fprintf(f, "  %-30s [%s]\n      %s\n", vars[i].name,
		    vars[i].def ? vars[i].def : "unset", vars[i].help);
}

/* ------------------------------------------------------------------ */
/* Shared, reference-counted output messages                           */

/*
 * One framed message.  A notification delivered to a thousand readers is
 * one struct msg with refs == 1000; each reader's queue holds a pointer and
 * its own write offset.
 */
struct msg {
	uint32_t refs;
	uint32_t len;
	unsigned char data[];
};

static struct msg *msg_new(size_t len)
{
	struct msg *m = malloc(sizeof *m + len);
	if (!m)
		return NULL;
	m->refs = 1;
	m->len = (uint32_t)len;
	return m;
}

static void msg_unref(struct msg *m)
{
	if (--m->refs == 0)
		free(m);
}

/* A websocket frame holding a copy of payload; NULL when out of memory. */
static struct msg *msg_frame(int opcode, const void *payload, size_t len)
{
	unsigned char hdr[WS_HDR_MAX];
	size_t h = ws_frame_hdr(hdr, 1, opcode, len, NULL);
	struct msg *m = msg_new(h + len);
	if (!m)
		return NULL;
	memcpy(m->data, hdr, h);
	if (len)
		memcpy(m->data + h, payload, len);
	return m;
}

/* ------------------------------------------------------------------ */
/* Connections, sessions and channels                                  */

enum conn_state {
	CS_HTTP,        /* reading a request head */
	CS_FILE,        /* sending a static file body from file_fd */
	CS_WS,          /* websocket open */
	CS_CLOSING,     /* we sent a close frame; waiting for the peer's */
	CS_DRAIN        /* flush what is queued, then close the socket */
};

struct outref {
	struct msg *m;
	uint32_t off;
};

struct chan;

/* What an accepted token granted; one allocation per websocket. */
struct session {
	int mode;               /* JWT_MODE_R | JWT_MODE_W */
	uint32_t nchan;
	size_t claims_len;
	char *claims;           /* the token's claims object, verbatim */
	struct {
		const char *name;
		uint32_t len;
		struct chan *ch;        /* reader index entry, NULL if not reading */
		uint32_t pos;           /* our place in ch->readers */
	} chan[];
};

struct conn {
	int fd;
	uint32_t gen;           /* bumped on every reuse of the slot */
	unsigned char state;
	unsigned char keepalive;
	unsigned char dirty;    /* in the flush list this turn */
	unsigned char want_out; /* last write hit EAGAIN */
	unsigned char reparse;  /* c->in holds requests to parse */
	short ev_reg;           /* events registered with epoll */
	double deadline;        /* handshake, keep-alive or close timeout */
	double last_rx;
	double next_ping;
	double exp_at;          /* monotonic time the token expires, 0 none */
	double t0;              /* start of the current request */
	char *in;               /* partial request head */
	uint32_t in_len;
	unsigned char *msg;     /* message being reassembled */
	uint32_t msg_len, msg_cap;
	struct outref *oq;      /* ring of queued output */
	uint32_t oq_cap, oq_head, oq_n;
	size_t out_bytes;
	int file_fd;
	off_t file_off, file_end;
	struct session *s;
	struct ws_dec dec;
	struct tls *tls;         /* NULL on a plain connection */
	char addr[48];
};

struct chan {
	struct chan *next;      /* hash chain */
	uint32_t hash;
	uint32_t n, cap;
	uint32_t busy;          /* a fan-out is walking readers */
	int *readers;           /* connection slots */
	size_t len;
	char name[];
};

/* Kernel send buffer of a websocket (Linux doubles it for bookkeeping). */
#define WS_SNDBUF 65536

static struct msg *ping_msg;    /* one empty ping frame, shared by all */
static struct conn *conns;
static int *free_slots;
static int nfree;
static int *dirty;
static int ndirty;
static int nactive, nws;
static int conn_hiwater;        /* no slot at or above this was ever used */

static struct chan **chans;
static uint32_t chan_buckets = 1024, nchans;

static double now;              /* CLOCK_MONOTONIC seconds, once per turn */
static double wall;             /* CLOCK_REALTIME seconds, once per turn */
static long long last_stamp;    /* last message_delivered_at handed out, µs */
static unsigned char rbuf[65536];
static struct jwt_keyset keys;
static char *jwt_work;
static size_t jwt_work_cap;
static int listeners[2] = { -1, -1 };
static int nlisteners;
static int bound_port;
static double accept_pause;
static volatile sig_atomic_t got_stop, got_hup;
static int stopping;
static double stop_deadline;
static int exit_status;         /* main's return: 1 once the listener is lost */

static struct {
	unsigned long long accepted, refused_full, ws_opened, ws_rejected,
	    rej_401, rej_403, rej_400, rej_426, http_requests,
	    msgs_in, msgs_in_dropped, msgs_out, notifies, notifies_unrouted,
	    slow_dropped, publish_failed, timeouts;
} st;

static double clock_mono(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double clock_wall(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static uint32_t hash_name(const char *p, size_t n)
{
	/* FNV-1a: channel names are short and chosen by token issuers. */
	uint32_t h = 2166136261u;
	while (n--)
		h = (h ^ (unsigned char)*p++) * 16777619u;
	return h;
}

static struct chan *chan_find(const char *name, size_t len, uint32_t h)
{
	for (struct chan *c = chans[h & (chan_buckets - 1)]; c; c = c->next)
		if (c->hash == h && c->len == len && !memcmp(c->name, name, len))
			return c;
	return NULL;
}

/*
 * Doubles the bucket array so that chains stay short however many channels
 * tokens name; on failure the table keeps working with longer chains.
 */
static void chan_grow(void)
{
	uint32_t nb = chan_buckets * 2;
	struct chan **t = calloc(nb, sizeof *t);

	if (!t)
		return;
	for (uint32_t i = 0; i < chan_buckets; i++)
		while (chans[i]) {
			struct chan *c = chans[i];
			chans[i] = c->next;
			c->next = t[c->hash & (nb - 1)];
			t[c->hash & (nb - 1)] = c;
		}
	free(chans);
	chans = t;
	chan_buckets = nb;
}

/* Adds connection slot to the readers of name; 0 or -1 (out of memory). */
static int chan_join(struct session *s, uint32_t i, int slot)
{
	uint32_t h = hash_name(s->chan[i].name, s->chan[i].len);
	struct chan *c = chan_find(s->chan[i].name, s->chan[i].len, h);

	if (!c) {
		c = calloc(1, sizeof *c + s->chan[i].len);
		if (!c)
			return -1;
		c->hash = h;
		c->len = s->chan[i].len;
		memcpy(c->name, s->chan[i].name, c->len);
		c->next = chans[h & (chan_buckets - 1)];
		chans[h & (chan_buckets - 1)] = c;
		nchans++;
		if (nchans > 2 * chan_buckets)
			chan_grow();
	}
	if (c->n == c->cap) {
		uint32_t cap = c->cap ? c->cap * 2 : 4;
		int *r = realloc(c->readers, cap * sizeof *r);
		if (!r)
			return -1;
		c->readers = r;
		c->cap = cap;
	}
	s->chan[i].ch = c;
	s->chan[i].pos = c->n;
	c->readers[c->n++] = slot;
	return 0;
}

static void chan_free(struct chan *c)
{
	struct chan **pp = &chans[c->hash & (chan_buckets - 1)];
	while (*pp != c)
		pp = &(*pp)->next;
	*pp = c->next;
	free(c->readers);
	free(c);
	nchans--;
}

static void chan_leave(struct session *s, uint32_t i)
{
	struct chan *c = s->chan[i].ch;
	uint32_t pos = s->chan[i].pos;

	if (!c)
		return;
	s->chan[i].ch = NULL;
	/* Swap the last reader into our place and tell it where it went. */
	int moved = c->readers[--c->n];
	if (pos != c->n) {
		c->readers[pos] = moved;
		struct session *ms = conns[moved].s;
		for (uint32_t k = 0; k < ms->nchan; k++)
			if (ms->chan[k].ch == c)
				ms->chan[k].pos = pos;
	}
	if (c->n == 0 && !c->busy)
		chan_free(c);
}

/* ------------------------------------------------------------------ */
/* Socket I/O: the only place that knows whether a connection is TLS   */

static ssize_t io_read(struct conn *c, void *buf, size_t n)
{
	if (c->tls)
		return tls_read(c->tls, c->fd, buf, n);
	return read(c->fd, buf, n);
}

static ssize_t io_writev(struct conn *c, const struct iovec *iov, int n)
{
	if (c->tls)
		return tls_writev(c->tls, c->fd, iov, n);
	return writev(c->fd, iov, n);
}

/* ------------------------------------------------------------------ */
/* Output                                                              */

static void conn_close(struct conn *c, const char *why);

static void ev_forget(struct conn *c);

static void mark_dirty(struct conn *c)
{
	if (!c->dirty) {
		c->dirty = 1;
		dirty[ndirty++] = (int)(c - conns);
	}
}

/*
 * Queues a reference to m on c.  Returns 0, or -1 when c was dropped for
 * having too much queued (the reference is not taken then).
 */
static int conn_flush(struct conn *c);
static void http_input(struct conn *c);

static int conn_send(struct conn *c, struct msg *m)
{
	/* Before judging a reader slow, give it what its socket takes. */
	if (c->out_bytes + m->len > (size_t)cfg.max_pending / 2 && c->oq_n &&
	    !c->want_out && conn_flush(c) < 0)
		return -1;
	if (c->out_bytes + m->len > (size_t)cfg.max_pending) {
		st.slow_dropped++;
		logf_(L_WARN, "%s: dropped: %zu bytes queued for a slow reader "
		    "(PGWS_MAX_PENDING=%ld)", c->addr, c->out_bytes, cfg.max_pending);
		conn_close(c, NULL);
		return -1;
	}
	if (c->oq_n == c->oq_cap) {
		uint32_t cap = c->oq_cap ? c->oq_cap * 2 : 4;
		struct outref *q = malloc(cap * sizeof *q);
		if (!q) {
			conn_close(c, "out of memory");
			return -1;
		}
		for (uint32_t i = 0; i < c->oq_n; i++)
			q[i] = c->oq[(c->oq_head + i) % c->oq_cap];
		free(c->oq);
		c->oq = q;
		c->oq_cap = cap;
		c->oq_head = 0;
	}
	c->oq[(c->oq_head + c->oq_n++) % c->oq_cap] = (struct outref){ m, 0 };
	m->refs++;
	c->out_bytes += m->len;
	mark_dirty(c);
	return 0;
}

/* Queues a control or data frame built from payload; -1 if c was dropped. */
static int conn_frame(struct conn *c, int opcode, const void *p, size_t n)
{
	struct msg *m = msg_frame(opcode, p, n);
	if (!m) {
		conn_close(c, "out of memory");
		return -1;
	}
	int r = conn_send(c, m);
	msg_unref(m);
	return r;
}

/*
 * Writes as much queued output as the socket takes.  Returns 0, or -1 when
 * the connection was closed (write error, or a drained DRAIN connection).
 */
static int conn_flush(struct conn *c)
{
	struct iovec iov[64];

	if (c->tls && tls_flush(c->tls, c->fd) < 0) {
		conn_close(c, NULL);
		return -1;
	}
	while (c->oq_n) {
		int n = 0;
		for (uint32_t i = 0; i < c->oq_n && n < 64; i++) {
			struct outref *o = &c->oq[(c->oq_head + i) % c->oq_cap];
			iov[n].iov_base = o->m->data + o->off;
			iov[n].iov_len = o->m->len - o->off;
			n++;
		}
		ssize_t w = io_writev(c, iov, n);
		if (w < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK) {
				c->want_out = 1;
				return 0;
			}
			if (errno == EINTR)
				continue;
			conn_close(c, NULL);
			return -1;
		}
		c->out_bytes -= (size_t)w;
		while (w > 0) {
			struct outref *o = &c->oq[c->oq_head];
			size_t left = o->m->len - o->off;
			if ((size_t)w < left) {
				o->off += (uint32_t)w;
				break;
			}
			w -= (ssize_t)left;
			msg_unref(o->m);
			c->oq_head = (c->oq_head + 1) % c->oq_cap;
			c->oq_n--;
		}
		if (c->oq_n) {
			/* A short write: the socket buffer is full. */
			c->want_out = 1;
			return 0;
		}
	}
	c->want_out = 0;
	if (c->state == CS_FILE) {
		while (c->file_off < c->file_end) {
			size_t want = (size_t)(c->file_end - c->file_off);
			if (want > sizeof rbuf)
				want = sizeof rbuf;
			ssize_t r = pread(c->file_fd, rbuf, want, c->file_off);
			if (r <= 0) {
				conn_close(c, "static file read failed");
				return -1;
			}
			struct iovec one = { rbuf, (size_t)r };
			ssize_t w = io_writev(c, &one, 1);
			if (w < 0) {
				if (errno == EAGAIN || errno == EWOULDBLOCK) {
					c->want_out = 1;
					return 0;
				}
				conn_close(c, NULL);
				return -1;
			}
			c->file_off += w;
			/* A download that progresses is not idle. */
			c->deadline = now + (double)cfg.handshake_timeout;
			if (w < r) {
				c->want_out = 1;
				return 0;
			}
		}
		close(c->file_fd);
		c->file_fd = -1;
		c->state = c->keepalive ? CS_HTTP : CS_DRAIN;
		c->deadline = now + (double)(c->keepalive ? cfg.handshake_timeout :
		    cfg.close_timeout);
		/*
		 * Requests pipelined behind the file waited in c->in; the
		 * loop parses them next (not from here, which could recurse
		 * once per pipelined request).
		 */
		if (c->state == CS_HTTP && c->in_len) {
			c->reparse = 1;
			mark_dirty(c);
		}
	}
	if (c->state == CS_DRAIN) {
		if (c->tls && tls_pending(c->tls))
			return 0;       /* records still going out */
		conn_close(c, NULL);
		return -1;
	}
	return 0;
}

/* ------------------------------------------------------------------ */
/* Publishing to the database                                          */

/*
 * Strictly increasing Unix time in microseconds: PostgreSQL folds equal
 * payloads sent in one transaction, so no two envelopes may share one.
 */
static long long stamp(void)
{
	long long t = (long long)(wall * 1e6);
	if (t <= last_stamp)
		t = last_stamp + 1;
	last_stamp = t;
	return t;
}

/*
 * Builds the envelope SPEC section 3 describes into out (cap bytes) and
 * returns its length, or -1 when it does not fit.
 */
static long envelope(char *out, size_t cap, const char *event,
    const char *ch, size_t chlen, const char *payload, size_t plen,
    const struct session *s)
{
	struct json_out o;
	const char *cl = s->claims;
	size_t cln = s->claims_len;

	json_out_init(&o, out, cap);
	json_raw(&o, "{\"event\":", 9);
	json_string(&o, event, strlen(event));
	json_raw(&o, ",\"channel\":", 11);
	json_string(&o, ch, chlen);
	json_raw(&o, ",\"payload\":", 11);
	json_string(&o, payload, plen);
	json_raw(&o, ",\"claims\":", 10);
	/* The claims object verbatim, less its closing brace. */
	while (cln && cl[cln - 1] != '}')
		cln--;
	if (cln)
		cln--;
	json_raw(&o, cl, cln);
	{
		size_t k = cln;
		while (k > 1 && strchr(" \t\r\n", cl[k - 1]))
			k--;
		/* An empty object gets no comma. */
		if (k > 1)
			json_raw(&o, ",", 1);
	}
	json_raw(&o, "\"message_delivered_at\":", 23);
	long long us = stamp();
	char num[32];
	int nl = snprintf(num, sizeof num, "%lld.%06lld", us / 1000000, us % 1000000);
	json_raw(&o, num, (size_t)nl);
	json_raw(&o, "}}", 2);
	if (o.err)
		return -1;
	return (long)o.len;
}

static uint64_t conn_tag(const struct conn *c)
{
	return (uint64_t)c->gen << 32 | (uint32_t)(c - conns);
}

/* Closes c's websocket with code and reason; c stays until the peer answers. */
static void ws_fail(struct conn *c, int code, const char *reason)
{
	unsigned char p[WS_CTL_MAX];
	size_t n = ws_close_payload(p, code, reason, reason ? strlen(reason) : 0);

	if (c->state != CS_WS)
		return;
	logf_(code == 1000 || code == 1001 ? L_DEBUG : L_INFO,
	    "%s: closing websocket: %d %s", c->addr, code, reason ? reason : "");
	if (conn_frame(c, WS_OP_CLOSE, p, n) < 0)
		return;
	c->state = CS_CLOSING;
	c->deadline = now + (double)cfg.close_timeout;
}

static void meta_event(struct conn *c, const char *event)
{
	char payload[8000], env[8000];
	size_t n = 0;
	struct session *s = c->s;

	for (uint32_t i = 0; i < s->nchan; i++) {
		if (n + s->chan[i].len + 1 >= sizeof payload) {
			logf_(L_WARN, "%s: %s event not published: channel list "
			    "too long for a NOTIFY", c->addr, event);
			return;
		}
		if (i)
			payload[n++] = ',';
		memcpy(payload + n, s->chan[i].name, s->chan[i].len);
		n += s->chan[i].len;
	}
	long e = envelope(env, sizeof env - 1, event, cfg.meta_channel,
	    strlen(cfg.meta_channel), payload, n, s);
	if (e < 0 || db_publish(0, (unsigned)(c - conns), env, (size_t)e) < 0)
		logf_(L_WARN, "%s: %s event not published", c->addr, event);
}

/* A complete client message: one NOTIFY per granted channel. */
static void ws_message(struct conn *c, const unsigned char *p, size_t n)
{
	char env[8000];
	struct session *s = c->s;

	if (!(s->mode & JWT_MODE_W)) {
		st.msgs_in_dropped++;
		return;
	}
	st.msgs_in++;
	for (uint32_t i = 0; i < s->nchan; i++) {
		/* PostgreSQL refuses payloads of 8000 bytes or more. */
		long e = envelope(env, sizeof env - 1, "WebsocketMessage",
		    s->chan[i].name, s->chan[i].len, (const char *)p, n, s);
		if (e < 0) {
			ws_fail(c, 1009, "Message too long for a NOTIFY "
			    "(the envelope must stay under 8000 bytes)");
			return;
		}
		if (db_publish(conn_tag(c), (unsigned)(c - conns), env,
		    (size_t)e) < 0) {
			st.publish_failed++;
			ws_fail(c, 1013, "Database queue full, try again later");
			return;
		}
	}
}

void db_on_publish_failed(uint64_t tag, const char *why)
{
	uint32_t slot = (uint32_t)tag;
	struct conn *c;

	st.publish_failed++;
	if (tag == 0 || slot >= (uint32_t)cfg.max_connections) {
		logf_(L_WARN, "event not published: %s", why);
		return;
	}
	c = &conns[slot];
	if (c->fd < 0 || c->gen != (uint32_t)(tag >> 32))
		return;
	logf_(L_WARN, "%s: message not published: %s", c->addr, why);
	ws_fail(c, 1011, "Message could not be published");
}

/* A notification from the database: route, frame once, fan out. */
void db_on_notify(const char *payload, size_t len)
{
	/* An unescaped channel name is never longer than its payload. */
	static char buf[8192];
	const char *ch;
	size_t chlen;
	struct chan *c;

	st.notifies++;
	if (!json_route_channel(payload, len, &ch, &chlen, buf, sizeof buf)) {
		ch = cfg.listen_channel;
		chlen = strlen(ch);
	}
	c = chan_find(ch, chlen, hash_name(ch, chlen));
	if (!c) {
		st.notifies_unrouted++;
		return;
	}
	if (ws_utf8(WS_UTF8_OK, (const unsigned char *)payload, len) != WS_UTF8_OK) {
		logf_(L_WARN, "notification for %.*s is not UTF-8 text; not delivered",
		    (int)chlen, ch);
		return;
	}
	struct msg *m = msg_frame(WS_OP_TEXT, payload, len);
	if (!m) {
		logf_(L_ERROR, "out of memory delivering a notification");
		return;
	}
	/*
	 * conn_send may drop reader i, which swaps the last reader into its
	 * place; busy keeps the channel itself alive until the loop ends.
	 */
	c->busy++;
	for (uint32_t i = 0; i < c->n; ) {
		uint32_t before = c->n;
		struct conn *r = &conns[c->readers[i]];
		if (r->state == CS_WS && conn_send(r, m) == 0)
			st.msgs_out++;
		if (c->n == before)
			i++;
	}
	c->busy--;
	if (c->n == 0)
		chan_free(c);
	msg_unref(m);
}

void db_on_listener(int up)
{
	if (up) {
		logf_(L_INFO, "listener connection re-established");
		return;
	}
	if (cfg.check_interval > 0) {
		logf_(L_WARN, "listener connection lost; reconnecting");
		return;
	}
	/*
	 * Without supervision a lost listener ends pgws, for a supervisor to
	 * restart it: the loop closes every websocket with 1011 and main
	 * returns 1.
	 */
	logf_(L_ERROR, "listener connection lost and PGWS_CHECK_LISTENER_INTERVAL "
	    "is not set: closing every websocket and exiting");
	exit_status = 1;
	got_stop = 1;
}

/* ------------------------------------------------------------------ */
/* HTTP                                                                */

/*
 * Queues a complete response.  body may be NULL; head_only sends the
 * headers of a GET response to a HEAD request.
 */
static void respond(struct conn *c, const struct http_req *r, int status,
    const char *ctype, const char *extra, const char *body, size_t blen,
    int head_only)
{
	char hdr[1024];
	int h = snprintf(hdr, sizeof hdr,
	    "HTTP/1.1 %d %s\r\nServer: pgws\r\nContent-Length: %zu\r\n"
	    "%s%s%s%s\r\n", status, http_reason(status), blen,
	    ctype ? "Content-Type: " : "", ctype ? ctype : "",
	    ctype ? "\r\n" : "", extra ? extra : "");
	if (!c->keepalive && h > 2 && (size_t)h + 19 < sizeof hdr)
		h += snprintf(hdr + h - 2, sizeof hdr - (size_t)h + 2,
		    "Connection: close\r\n\r\n") - 2;
	size_t bl = head_only || !body ? 0 : blen;
	struct msg *m = msg_new((size_t)h + bl);
	if (!m) {
		conn_close(c, "out of memory");
		return;
	}
	memcpy(m->data, hdr, (size_t)h);
	if (bl)
		memcpy(m->data + h, body, bl);
	st.http_requests++;
	if (r) {
		/*
		 * A websocket path may end in a token: log only what precedes
		 * its last segment, so tokens never reach the log.
		 */
		size_t tl = r->target_len > 200 ? 200 : r->target_len;
		const char *redacted = "";
		if (http_header(r, "Upgrade")) {
			while (tl && r->target[tl - 1] != '/')
				tl--;
			redacted = "<token>";
		}
		logf_(L_INFO, "%s \"%.*s %.*s%s\" %d %zu %.3fms", c->addr,
		    (int)r->method_len, r->method, (int)tl, r->target, redacted,
		    status, r->method_len == 4 && !memcmp(r->method, "HEAD", 4) ?
		    (size_t)0 : blen, (now - c->t0) * 1000);
	}
	if (c->state == CS_HTTP && !c->keepalive) {
		c->state = CS_DRAIN;
		c->deadline = now + (double)cfg.close_timeout;
	}
	int rc = conn_send(c, m);
	msg_unref(m);
	(void)rc;
}

static void respond_text(struct conn *c, const struct http_req *r, int status,
    const char *text, const char *extra)
{
	respond(c, r, status, "text/plain; charset=utf-8", extra, text,
	    strlen(text), 0);
}

static void serve_health(struct conn *c, const struct http_req *r, int head)
{
	char body[256];
	int up = db_listener_up();
	int n = snprintf(body, sizeof body,
	    "{\"listener\":\"%s\",\"websockets\":%d,\"connections\":%d}\n",
	    up ? "up" : "down", nws, nactive);
	respond(c, r, up ? 200 : 503, "application/json", NULL, body,
	    (size_t)n, head);
}

static void serve_metrics(struct conn *c, const struct http_req *r, int head)
{
	static char body[4096];
	struct db_stats d;
	db_get_stats(&d);
	int n = snprintf(body, sizeof body,
	    "# TYPE pgws_websockets gauge\npgws_websockets %d\n"
	    "# TYPE pgws_connections gauge\npgws_connections %d\n"
	    "# TYPE pgws_channels gauge\npgws_channels %u\n"
	    "# TYPE pgws_connections_accepted_total counter\n"
	    "pgws_connections_accepted_total %llu\n"
	    "# TYPE pgws_connections_refused_total counter\n"
	    "pgws_connections_refused_total %llu\n"
	    "# TYPE pgws_websockets_opened_total counter\n"
	    "pgws_websockets_opened_total %llu\n"
	    "# TYPE pgws_upgrades_rejected_total counter\n"
	    "pgws_upgrades_rejected_total{status=\"400\"} %llu\n"
	    "pgws_upgrades_rejected_total{status=\"401\"} %llu\n"
	    "pgws_upgrades_rejected_total{status=\"403\"} %llu\n"
	    "pgws_upgrades_rejected_total{status=\"426\"} %llu\n"
	    "# TYPE pgws_http_requests_total counter\npgws_http_requests_total %llu\n"
	    "# TYPE pgws_messages_received_total counter\n"
	    "pgws_messages_received_total %llu\n"
	    "# TYPE pgws_messages_discarded_total counter\n"
	    "pgws_messages_discarded_total %llu\n"
	    "# TYPE pgws_messages_delivered_total counter\n"
	    "pgws_messages_delivered_total %llu\n"
	    "# TYPE pgws_notifications_received_total counter\n"
	    "pgws_notifications_received_total %llu\n"
	    "# TYPE pgws_notifications_unrouted_total counter\n"
	    "pgws_notifications_unrouted_total %llu\n"
	    "# TYPE pgws_notifications_sent_total counter\n"
	    "pgws_notifications_sent_total %llu\n"
	    "# TYPE pgws_notifications_failed_total counter\n"
	    "pgws_notifications_failed_total %llu\n"
	    "# TYPE pgws_publish_queue gauge\npgws_publish_queue %zu\n"
	    "# TYPE pgws_slow_clients_dropped_total counter\n"
	    "pgws_slow_clients_dropped_total %llu\n"
	    "# TYPE pgws_timeouts_total counter\npgws_timeouts_total %llu\n"
	    "# TYPE pgws_listener_reconnects_total counter\n"
	    "pgws_listener_reconnects_total %llu\n"
	    "# TYPE pgws_listener_up gauge\npgws_listener_up %d\n"
	    "# TYPE pgws_notification_queue_usage gauge\n"
	    "pgws_notification_queue_usage %g\n",
	    nws, nactive, nchans, st.accepted, st.refused_full, st.ws_opened,
	    st.rej_400, st.rej_401, st.rej_403, st.rej_426, st.http_requests,
	    st.msgs_in, st.msgs_in_dropped, st.msgs_out, st.notifies,
	    st.notifies_unrouted, d.published, d.publish_failed + st.publish_failed,
	    d.queued, st.slow_dropped, st.timeouts, d.listener_reconnects,
	    db_listener_up(), d.queue_usage);
	respond(c, r, 200, "text/plain; version=0.0.4", NULL, body, (size_t)n,
	    head);
}

static void serve_file(struct conn *c, const struct http_req *r, int head)
{
	char rel[PATH_MAX], full[PATH_MAX];
	struct stat sb;
	int fd;

	if (!cfg.root_path) {
		respond_text(c, r, 404, "Not Found\n", NULL);
		return;
	}
	if (http_path_resolve(r->target, r->target_len, rel, sizeof rel) < 0) {
		respond_text(c, r, 404, "Not Found\n", NULL);
		return;
	}
	int n = snprintf(full, sizeof full, "%s/%s", cfg.root_path, rel);
	if (n < 0 || (size_t)n >= sizeof full - 16) {
		respond_text(c, r, 404, "Not Found\n", NULL);
		return;
	}
	if (stat(full, &sb) == 0 && S_ISDIR(sb.st_mode)) {
		if (n && full[n - 1] != '/')
			full[n++] = '/';
		strcpy(full + n, "index.html");
	}
	/*
	 * The lexical check keeps ".." out; realpath() then catches symbolic
	 * links that lead outside the root.
	 */
	char *real = realpath(full, NULL);
	size_t rl = strlen(cfg.root_path);
	if (!real || strncmp(real, cfg.root_path, rl) ||
	    (real[rl] != '/' && real[rl] != 0) ||
	    (fd = open(real, O_RDONLY | O_CLOEXEC | O_NONBLOCK)) < 0) {
		free(real);
		respond_text(c, r, 404, "Not Found\n", NULL);
		return;
	}
	if (fstat(fd, &sb) || !S_ISREG(sb.st_mode)) {
		close(fd);
		free(real);
		respond_text(c, r, 404, "Not Found\n", NULL);
		return;
	}
	const char *mime = http_mime(real, strlen(real));
	free(real);
	respond(c, r, 200, mime, NULL, NULL, (size_t)sb.st_size, 1);
	if (c->fd < 0 || head || sb.st_size == 0) {
		close(fd);
		return;
	}
	c->file_fd = fd;
	c->file_off = 0;
	c->file_end = sb.st_size;
	c->state = CS_FILE;
}

/* ------------------------------------------------------------------ */
/* The websocket upgrade                                               */

static void reject(struct conn *c, const struct http_req *r, int status,
    const char *why, const char *extra)
{
	char body[256];
	snprintf(body, sizeof body, "%s\n", why);
	switch (status) {
	case 401: st.rej_401++; break;
	case 403: st.rej_403++; break;
	case 426: st.rej_426++; break;
	default: st.rej_400++; break;
	}
	st.ws_rejected++;
	logf_(L_INFO, "%s: websocket rejected: %d %s", c->addr, status, why);
	c->keepalive = 0;
	respond_text(c, r, status, body, extra);
}

/*
 * Splits the path of a request-target (query dropped) into at most two
 * segments after the leading slash.  Returns the number of segments (0, 1
 * or 2), or -1 for more, or a path not starting with '/'.
 */
static int split_path(const char *t, size_t n, const char *seg[2],
    size_t len[2])
{
	size_t end = 0, i;
	int k = 0;

	while (end < n && t[end] != '?' && t[end] != '#')
		end++;
	if (!end || t[0] != '/')
		return -1;
	i = 1;
	if (i == end)
		return 0;
	while (i <= end) {
		size_t s = i;
		while (i < end && t[i] != '/')
			i++;
		if (k == 2)
			return -1;
		seg[k] = t + s;
		len[k] = i - s;
		k++;
		if (i == end)
			break;
		i++;
		if (i == end)
			break;  /* one trailing slash is tolerated */
	}
	return k;
}

static void ws_upgrade(struct conn *c, const struct http_req *r)
{
	const struct http_hdr *h;
	char accept[WS_ACCEPT_LEN + 1];
	static char asked[8192];        /* a channel can be as long as a head */
	long asked_len = -1;
	const char *tok = NULL;
	size_t toklen = 0;
	const char *seg[2];
	size_t seglen[2];
	int nseg;
	struct jwt_claims cl;
	int e;

	c->keepalive = 0;
	if (r->method_len != 3 || memcmp(r->method, "GET", 3)) {
		reject(c, r, 400, "WebSocket upgrade requires GET", NULL);
		return;
	}
	if (r->minor != 1) {
		reject(c, r, 400, "WebSocket upgrade requires HTTP/1.1", NULL);
		return;
	}
	if (!http_header_has_token(r, "Connection", "upgrade")) {
		reject(c, r, 400, "Missing Connection: Upgrade", NULL);
		return;
	}
	h = http_header(r, "Sec-WebSocket-Version");
	if (!h || h->value_len != 2 || memcmp(h->value, "13", 2)) {
		reject(c, r, 426, "Unsupported WebSocket version (13 only)",
		    "Sec-WebSocket-Version: 13\r\n");
		return;
	}
	h = http_header(r, "Sec-WebSocket-Key");
	if (!h || ws_accept(h->value, h->value_len, accept) < 0) {
		reject(c, r, 400, "Missing or invalid Sec-WebSocket-Key", NULL);
		return;
	}

	/* Where the token is: a Bearer header, else the last path segment. */
	nseg = split_path(r->target, r->target_len, seg, seglen);
	h = http_header(r, "Authorization");
	if (h && h->value_len > 7 && !strncasecmp(h->value, "Bearer ", 7)) {
		tok = h->value + 7;
		toklen = h->value_len - 7;
		while (toklen && *tok == ' ')
			tok++, toklen--;
		if (nseg > 1) {
			reject(c, r, 400, "Path must be /<channel> or / with a Bearer token", NULL);
			return;
		}
		if (nseg == 1)
			asked_len = http_pct_decode(seg[0], seglen[0], asked,
			    sizeof asked);
		else
			asked_len = -2;
	} else {
		if (nseg < 1) {
			reject(c, r, 401, "Missing token", NULL);
			return;
		}
		tok = seg[nseg - 1];
		toklen = seglen[nseg - 1];
		if (nseg == 2)
			asked_len = http_pct_decode(seg[0], seglen[0], asked,
			    sizeof asked);
		else
			asked_len = -2;
	}
	if (asked_len == -1 || asked_len == 0 || (asked_len > 0 &&
	    ws_utf8(WS_UTF8_OK, (const unsigned char *)asked, (size_t)asked_len)
	    != WS_UTF8_OK)) {
		reject(c, r, 400, "Invalid channel name in path", NULL);
		return;
	}

	e = jwt_verify(tok, toklen, (size_t)cfg.max_token, &keys, wall,
	    jwt_work, jwt_work_cap, &cl);
	if (e == JWT_OK)
		e = jwt_grant(&cl, asked_len > 0 ? asked : NULL,
		    asked_len > 0 ? (size_t)asked_len : 0);
	if (e != JWT_OK) {
		reject(c, r, jwt_status(e), cl.why ? cl.why : jwt_strerror(e), NULL);
		return;
	}

	/* One allocation: session, channel table, claims and names. */
	size_t names = 0;
	for (size_t i = 0; i < cl.nchan; i++)
		names += cl.chan[i].n;
	size_t hsz = sizeof(struct session) + cl.nchan * sizeof(((struct session *)0)->chan[0]);
	struct session *s = malloc(hsz + cl.json_len + names);
	if (!s) {
		reject(c, r, 503, "Out of memory", NULL);
		return;
	}
	char *p = (char *)s + hsz;
	s->mode = cl.mode;
	s->nchan = (uint32_t)cl.nchan;
	s->claims = p;
	s->claims_len = cl.json_len;
	memcpy(p, cl.json, cl.json_len);
	p += cl.json_len;
	for (size_t i = 0; i < cl.nchan; i++) {
		memcpy(p, cl.chan[i].p, cl.chan[i].n);
		s->chan[i].name = p;
		s->chan[i].len = (uint32_t)cl.chan[i].n;
		s->chan[i].ch = NULL;
		p += cl.chan[i].n;
	}
	c->s = s;
	nws++;          /* conn_close undoes this whenever c->s is set */
	if (s->mode & JWT_MODE_R)
		for (uint32_t i = 0; i < s->nchan; i++)
			if (chan_join(s, i, (int)(c - conns)) < 0) {
				conn_close(c, "out of memory");
				return;
			}

	char resp[256];
	int n = snprintf(resp, sizeof resp,
	    "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
	    "Connection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n\r\n", accept);
	struct msg *m = msg_new((size_t)n);
	if (!m) {
		conn_close(c, "out of memory");
		return;
	}
	memcpy(m->data, resp, (size_t)n);
	/*
	 * Linux grows a socket's send buffer up to tcp_wmem[2] (4 MiB), which
	 * a reader that stopped reading would hold on top of PGWS_MAX_PENDING.
	 * A fixed buffer keeps the documented bound true.
	 */
	int sndbuf = WS_SNDBUF;
	setsockopt(c->fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof sndbuf);
	c->state = CS_WS;
	st.ws_opened++;
	ws_dec_init(&c->dec, (uint64_t)cfg.max_message, 0);
	c->last_rx = now;
	c->next_ping = now + (double)cfg.ping_interval;
	c->exp_at = cl.has_exp ? now + (cl.exp - wall) : 0;
	logf_(L_INFO, "%s \"GET %.*s/<token>\" 101 websocket mode=%s%s channels=%u",
	    c->addr, tok > r->target && tok <= r->target + r->target_len ?
	    (int)(tok - r->target - 1) : (int)(r->target_len > 200 ? 200 : r->target_len),
	    r->target, s->mode & JWT_MODE_R ? "r" : "", s->mode & JWT_MODE_W ? "w" : "",
	    s->nchan);
	int rc = conn_send(c, m);
	msg_unref(m);
	if (rc == 0 && cfg.meta_channel)
		meta_event(c, "ConnectionOpen");
}

/* ------------------------------------------------------------------ */
/* Input                                                               */

static void ws_input(struct conn *c, unsigned char *p, size_t len);

/* Parses and answers the request heads buffered in c->in. */
static void http_input(struct conn *c)
{
	struct http_req r;

	while (c->fd >= 0 && c->state == CS_HTTP && c->in_len) {
		int n = http_parse(c->in, c->in_len, &r);
		if (n == -2) {
			if (c->in_len >= (uint32_t)cfg.max_header) {
				c->keepalive = 0;
				respond_text(c, NULL, 431,
				    "Request Header Fields Too Large\n", NULL);
				c->in_len = 0;
			}
			return;
		}
		if (n == -3) {
			c->keepalive = 0;
			respond_text(c, NULL, 431, "Too many header fields\n", NULL);
			c->in_len = 0;
			return;
		}
		if (n < 0) {
			c->keepalive = 0;
			respond_text(c, NULL, 400, "Bad Request\n", NULL);
			c->in_len = 0;
			return;
		}
		if ((uint32_t)n > (uint32_t)cfg.max_header) {
			c->keepalive = 0;
			respond_text(c, NULL, 431, "Request Header Fields Too Large\n", NULL);
			c->in_len = 0;
			return;
		}
		c->keepalive = r.minor == 1 ?
		    !http_header_has_token(&r, "Connection", "close") :
		    http_header_has_token(&r, "Connection", "keep-alive");
		/* No request bodies here; never try to read past one. */
		const struct http_hdr *cl = http_header(&r, "Content-Length");
		if (http_header(&r, "Transfer-Encoding") ||
		    (cl && !(cl->value_len == 1 && cl->value[0] == '0')))
			c->keepalive = 0;

		int is_get = r.method_len == 3 && !memcmp(r.method, "GET", 3);
		int is_head = r.method_len == 4 && !memcmp(r.method, "HEAD", 4);
		if (http_header_has_token(&r, "Upgrade", "websocket")) {
			ws_upgrade(c, &r);
		} else if (!is_get && !is_head) {
			c->keepalive = 0;
			respond_text(c, &r, 405, "Method Not Allowed\n",
			    "Allow: GET, HEAD\r\n");
		} else if (r.target_len == 7 && !memcmp(r.target, "/health", 7)) {
			serve_health(c, &r, is_head);
		} else if (r.target_len == 8 && !memcmp(r.target, "/metrics", 8)) {
			serve_metrics(c, &r, is_head);
		} else {
			serve_file(c, &r, is_head);
		}
		if (c->fd < 0)
			return;
		/* Keep what follows the head: pipelined requests or frames. */
		memmove(c->in, c->in + n, c->in_len - (uint32_t)n);
		c->in_len -= (uint32_t)n;
		if (c->state == CS_WS && c->in_len) {
			uint32_t k = c->in_len;
			c->in_len = 0;
			memcpy(rbuf, c->in, k);
			free(c->in);
			c->in = NULL;
			ws_input(c, rbuf, k);
			return;
		}
		c->t0 = now;
		c->deadline = now + (double)cfg.handshake_timeout;
	}
	if (c->fd >= 0 && c->in_len == 0 && c->in) {
		free(c->in);
		c->in = NULL;
	}
}

static void ws_input(struct conn *c, unsigned char *p, size_t len)
{
	struct ws_ev ev;

	c->last_rx = now;
	while (c->fd >= 0 && (c->state == CS_WS || c->state == CS_CLOSING)) {
		size_t n = ws_decode(&c->dec, p, len, &ev);
		p += n;
		len -= n;
		switch (ev.type) {
		case WS_EV_NONE:
			return;
		case WS_EV_DATA:
			if (c->state != CS_WS)
				break;
			if (ev.fin && c->msg_len == 0) {
				/* Whole message in one read: no copy. */
				ws_message(c, ev.data, ev.len);
				break;
			}
			if (c->msg_len + ev.len > c->msg_cap) {
				size_t cap = c->msg_cap ? c->msg_cap : 256;
				while (cap < c->msg_len + ev.len)
					cap *= 2;
				unsigned char *b = realloc(c->msg, cap);
				if (!b) {
					ws_fail(c, 1011, "Out of memory");
					break;
				}
				c->msg = b;
				c->msg_cap = (uint32_t)cap;
			}
			memcpy(c->msg + c->msg_len, ev.data, ev.len);
			c->msg_len += (uint32_t)ev.len;
			if (ev.fin) {
				ws_message(c, c->msg, c->msg_len);
				free(c->msg);
				c->msg = NULL;
				c->msg_len = c->msg_cap = 0;
			}
			break;
		case WS_EV_PING:
			if (c->state == CS_WS)
				conn_frame(c, WS_OP_PONG, ev.data, ev.len);
			break;
		case WS_EV_PONG:
			break;
		case WS_EV_CLOSE:
			if (c->state == CS_CLOSING) {
				conn_close(c, NULL);
				return;
			}
			{
				unsigned char pl[WS_CTL_MAX];
				size_t pn = ws_close_payload(pl,
				    ev.code == 1005 ? 0 : ev.code,
				    (const char *)ev.data, ev.len);
				if (conn_frame(c, WS_OP_CLOSE, pl, pn) < 0)
					return;
				c->state = CS_DRAIN;
				c->deadline = now + (double)cfg.close_timeout;
			}
			return;
		case WS_EV_ERROR:
			if (c->state == CS_WS) {
				const char *why = ev.code == 1007 ? "Invalid UTF-8" :
				    ev.code == 1009 ? "Message too big" :
				    ev.code == 1003 ? "Binary message is not UTF-8 text" :
				    "Protocol error";
				ws_fail(c, ev.code, why);
			}
			if (c->fd >= 0) {
				c->state = CS_DRAIN;
				c->deadline = now + (double)cfg.close_timeout;
			}
			return;
		}
		if (len == 0)
			return;
	}
}

static void conn_read(struct conn *c)
{
	/*
	 * A few reads per turn keep one busy client from starving others;
	 * decrypted TLS data is read to the end, since no poll() would wake
	 * us for it.
	 */
	for (int rounds = 0; c->fd >= 0 && (rounds < 4 ||
	    (c->tls && tls_buffered(c->tls))); rounds++) {
		if (c->state == CS_HTTP) {
			/*
			 * Read into the shared buffer and keep only the bytes
			 * of an incomplete head: thousands of slow clients cost
			 * what they sent, not PGWS_MAX_HEADER_SIZE each.
			 */
			size_t room = (size_t)cfg.max_header + 1 - c->in_len;
			if (room > sizeof rbuf)
				room = sizeof rbuf;
			ssize_t n = io_read(c, rbuf, room);
			if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
				conn_close(c, NULL);
				return;
			}
			if (n < 0)
				return;
			char *b = realloc(c->in, c->in_len + (size_t)n);
			if (!b) {
				conn_close(c, "out of memory");
				return;
			}
			memcpy(b + c->in_len, rbuf, (size_t)n);
			c->in = b;
			c->in_len += (uint32_t)n;
			http_input(c);
			if ((size_t)n < room)
				return;
		} else if (c->state == CS_WS || c->state == CS_CLOSING) {
			ssize_t n = io_read(c, rbuf, sizeof rbuf);
			if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
				conn_close(c, NULL);
				return;
			}
			if (n < 0)
				return;
			ws_input(c, rbuf, (size_t)n);
			if ((size_t)n < sizeof rbuf)
				return;
		} else {
			return;
		}
	}
}

/* ------------------------------------------------------------------ */
/* Connection life                                                     */

static void conn_close(struct conn *c, const char *why)
{
	if (c->fd < 0)
		return;
	if (why)
		logf_(L_WARN, "%s: closing: %s", c->addr, why);
	if (c->s) {
		nws--;
		if (cfg.meta_channel)
			meta_event(c, "ConnectionClose");
		for (uint32_t i = 0; i < c->s->nchan; i++)
			chan_leave(c->s, i);
		free(c->s);
		c->s = NULL;
	}
	while (c->oq_n) {
		msg_unref(c->oq[c->oq_head].m);
		c->oq_head = (c->oq_head + 1) % c->oq_cap;
		c->oq_n--;
	}
	free(c->oq);
	free(c->in);
	free(c->msg);
	if (c->file_fd >= 0)
		close(c->file_fd);
	if (c->tls) {
		tls_close(c->tls, c->fd);
		tls_free(c->tls);
		c->tls = NULL;
	}
	close(c->fd);
	c->fd = -1;
	c->oq = NULL;
	c->in = NULL;
	c->msg = NULL;
	c->reparse = 0;
	ev_forget(c);
	nactive--;
	free_slots[nfree++] = (int)(c - conns);
}

static void conn_open(int fd, const struct sockaddr_storage *sa)
{
	if (!nfree || stopping) {
		st.refused_full++;
		close(fd);
		return;
	}
	struct tls *tls = NULL;
	if (cfg.cert_file && !(tls = tls_new())) {
		logf_(L_WARN, "TLS: %s", strerror(errno));
		close(fd);
		return;
	}
	int slot = free_slots[--nfree];
	struct conn *c = &conns[slot];
	uint32_t gen = c->gen + 1;
	unsigned char listed = c->dirty;
	if (slot >= conn_hiwater)
		conn_hiwater = slot + 1;
	memset(c, 0, sizeof *c);
	c->dirty = listed;
	c->ev_reg = -1;
	c->tls = tls;
	c->gen = gen ? gen : 1;
	c->fd = fd;
	c->file_fd = -1;
	c->state = CS_HTTP;
	c->keepalive = 1;
	c->t0 = now;
	c->deadline = now + (double)cfg.handshake_timeout;
	if (sa->ss_family == AF_INET6) {
		const struct sockaddr_in6 *a = (const void *)sa;
		c->addr[0] = '[';
		inet_ntop(AF_INET6, &a->sin6_addr, c->addr + 1, sizeof c->addr - 8);
		size_t l = strlen(c->addr);
		snprintf(c->addr + l, sizeof c->addr - l, "]:%u", ntohs(a->sin6_port));
	} else {
		const struct sockaddr_in *a = (const void *)sa;
		inet_ntop(AF_INET, &a->sin_addr, c->addr, sizeof c->addr - 8);
		size_t l = strlen(c->addr);
		snprintf(c->addr + l, sizeof c->addr - l, ":%u", ntohs(a->sin_port));
	}
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	nactive++;
	st.accepted++;
	mark_dirty(c);          /* registers its interest, arms its timer */
}

static void accept_all(int lfd)
{
	for (;;) {
		struct sockaddr_storage sa;
		socklen_t sl = sizeof sa;
		int fd = accept(lfd, (struct sockaddr *)&sa, &sl);
		if (fd < 0) {
			if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS ||
			    errno == ENOMEM) {
				/* Without a spare descriptor, back off briefly. */
				logf_(L_WARN, "accept: %s; pausing new connections",
				    strerror(errno));
				accept_pause = now + 0.25;
			}
			return;
		}
		fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
		fcntl(fd, F_SETFD, FD_CLOEXEC);
		conn_open(fd, &sa);
	}
}

/* Timers of one connection: returns seconds until its next one. */
static double conn_timers(struct conn *c)
{
	switch (c->state) {
	case CS_HTTP:
	case CS_FILE:
	case CS_CLOSING:
	case CS_DRAIN:
		if (now >= c->deadline) {
			st.timeouts++;
			logf_(L_DEBUG, "%s: timed out", c->addr);
			conn_close(c, NULL);
			return -1;
		}
		return c->deadline - now;
	case CS_WS: {
		if (c->exp_at && now >= c->exp_at) {
			c->exp_at = 0;
			ws_fail(c, 3001, "JWT expired");
			return c->fd >= 0 ? c->deadline - now : -1;
		}
		if (now - c->last_rx >= 2.0 * (double)cfg.ping_interval) {
			st.timeouts++;
			logf_(L_INFO, "%s: no answer for %ld s; dropped", c->addr,
			    2 * cfg.ping_interval);
			conn_close(c, NULL);
			return -1;
		}
		if (now >= c->next_ping) {
			c->next_ping = now + (double)cfg.ping_interval;
			if (conn_send(c, ping_msg) < 0)
				return -1;
		}
		double t = c->next_ping - now;
		double d = c->last_rx + 2.0 * (double)cfg.ping_interval - now;
		if (d < t)
			t = d;
		if (c->exp_at && c->exp_at - now < t)
			t = c->exp_at - now;
		return t;
	}
	default:
		return -1;
	}
}

/* ------------------------------------------------------------------ */
/* Listening sockets and signals                                       */

static int listen_on(const struct sockaddr *sa, socklen_t sl, int v6only)
{
	int fd = socket(sa->sa_family, SOCK_STREAM, 0), one = 1;
	if (fd < 0)
		return -1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	if (sa->sa_family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &v6only, sizeof v6only);
	if (bind(fd, sa, sl) || listen(fd, 1024)) {
		int e = errno;
		close(fd);
		errno = e;
		return -1;
	}
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
	fcntl(fd, F_SETFD, FD_CLOEXEC);
	return fd;
}

static void open_listeners(void)
{
	struct sockaddr_in a4 = { .sin_family = AF_INET,
	    .sin_port = htons((uint16_t)cfg.port) };
	struct sockaddr_in6 a6 = { .sin6_family = AF_INET6,
	    .sin6_port = htons((uint16_t)cfg.port) };
	int fd;

	a4.sin_addr.s_addr = htonl(INADDR_ANY);
	a6.sin6_addr = in6addr_any;
	if (!strcmp(cfg.host, "*4") || !strcmp(cfg.host, "*")) {
		if ((fd = listen_on((struct sockaddr *)&a4, sizeof a4, 0)) < 0)
			die2("PGWS_HOST/PGWS_PORT: cannot listen on *:%ld: %s",
			    cfg.port, strerror(errno));
		listeners[nlisteners++] = fd;
	}
	if (!strcmp(cfg.host, "*6") || !strcmp(cfg.host, "*")) {
		if (nlisteners && cfg.port == 0) {
			/* Both families on the port the first one got. */
			struct sockaddr_in got;
			socklen_t gl = sizeof got;
			getsockname(listeners[0], (struct sockaddr *)&got, &gl);
			a6.sin6_port = got.sin_port;
		}
		if ((fd = listen_on((struct sockaddr *)&a6, sizeof a6, 1)) < 0)
			die2("PGWS_HOST/PGWS_PORT: cannot listen on [::]:%ld: %s",
			    cfg.port, strerror(errno));
		listeners[nlisteners++] = fd;
	}
	if (!nlisteners) {
		struct addrinfo hints = { .ai_socktype = SOCK_STREAM,
		    .ai_flags = AI_PASSIVE | AI_NUMERICSERV }, *res, *ai;
		char port[16];
		snprintf(port, sizeof port, "%ld", cfg.port);
		int e = getaddrinfo(cfg.host, port, &hints, &res);
		if (e)
			die2("PGWS_HOST: cannot resolve '%s': %s", cfg.host,
			    gai_strerror(e));
		for (ai = res; ai && nlisteners < 1; ai = ai->ai_next)
			if ((fd = listen_on(ai->ai_addr, ai->ai_addrlen, 1)) >= 0)
				listeners[nlisteners++] = fd;
		if (!nlisteners)
			die2("PGWS_HOST/PGWS_PORT: cannot listen on %s:%ld: %s",
			    cfg.host, cfg.port, strerror(errno));
		freeaddrinfo(res);
	}
	struct sockaddr_storage got;
	socklen_t gl = sizeof got;
	getsockname(listeners[0], (struct sockaddr *)&got, &gl);
	bound_port = ntohs(got.ss_family == AF_INET6 ?
	    ((struct sockaddr_in6 *)&got)->sin6_port :
	    ((struct sockaddr_in *)&got)->sin_port);
}

/*
 * The handler also writes to a pipe that poll() watches: a signal that
 * lands between the loop's check of got_stop and its poll() call would
 * otherwise go unseen until some other event woke the loop.
 */
static int sigpipe_fd[2] = { -1, -1 };

static void on_stop(int sig)
{
	int e = errno;
	(void)sig;
	got_stop = 1;
	if (write(sigpipe_fd[1], "", 1) < 0)
		errno = e;
	errno = e;
}

static void on_hup(int sig)
{
	int e = errno;
	(void)sig;
	got_hup = 1;
	if (write(sigpipe_fd[1], "", 1) < 0)
		errno = e;
	errno = e;
}

static void begin_stop(void)
{
	stopping = 1;
	stop_deadline = now + (double)cfg.close_timeout;
	logf_(L_INFO, "shutting down: closing %d websockets", nws);
	for (int i = 0; i < nlisteners; i++)
		close(listeners[i]);
	nlisteners = 0;
	for (int i = 0; i < cfg.max_connections; i++) {
		struct conn *c = &conns[i];
		if (c->fd < 0)
			continue;
		if (c->state == CS_WS && exit_status)
			ws_fail(c, 1011, "Database listener lost");
		else if (c->state == CS_WS)
			ws_fail(c, 1001, "Server shutting down");
		else if (c->state != CS_CLOSING)
			conn_close(c, NULL);
	}
}

/* ------------------------------------------------------------------ */
/* The loop                                                            */

/*
 * The readiness backend.  Each turn the loop declares the descriptors it
 * always watches (the signal pipe, listeners, database sockets) with
 * ev_add, sleeps in ev_wait and walks the ready entries with their owner
 * (WHO_* or a connection slot).  Client connections go one of two ways:
 *
 *   poll   every connection is declared every turn: portable, and fine
 *          for a few thousand connections;
 *   epoll  (Linux, the default) each connection is registered once and
 *          re-registered only when the events it waits for change
 *          (ev_update, from the dirty list), and the epoll descriptor is
 *          one more entry of the poll() set.  A turn then costs what is
 *          ready, not what is connected.
 */
enum { WHO_EPOLL = -4, WHO_SIGNAL = -3, WHO_DB = -2, WHO_LISTENER = -1 };

static struct pollfd *ev_pfd;
static int *ev_who;
static uint32_t *ev_gen;        /* a connection's gen when it was added */
static size_t ev_n, ev_cap;
static int epfd = -1;           /* >= 0: the epoll backend is in use */
static double timer_walk_at;    /* when the connection timers next run */

/* Timers run at most this often (seconds), however many connections. */
#define TIMER_SLACK 0.05

static void ev_add(int fd, short events, int who)
{
	ev_pfd[ev_n] = (struct pollfd){ fd, events, 0 };
	ev_gen[ev_n] = who >= 0 ? conns[who].gen : 0;
	ev_who[ev_n++] = who;
}

static int ev_wait(double timeout)
{
	int ms = timeout < 0 ? -1 : (int)ceil(timeout * 1000);
	return poll(ev_pfd, ev_n, ms);
}

/* What c waits for, derived from its state alone. */
static short conn_events(const struct conn *c)
{
	short ev = 0;

	if (c->state == CS_HTTP || c->state == CS_WS || c->state == CS_CLOSING)
		ev |= POLLIN;
	if (c->want_out || c->oq_n || c->state == CS_FILE)
		ev |= POLLOUT;
	/*
	 * The TLS engine wants records almost always; only states that read
	 * may wait for them, or unread bytes would wake every turn.
	 */
	if (c->tls)
		ev |= tls_events(c->tls) & ((ev & POLLIN) | POLLOUT);
	return ev;
}

/* epoll: registers the events c now waits for, if they changed. */
static void ev_update(struct conn *c)
{
#ifdef __linux__
	short want = conn_events(c);

	if (epfd < 0 || want == c->ev_reg)
		return;
	struct epoll_event e = { .events = (uint32_t)want,
	    .data.u64 = (uint64_t)c->gen << 32 | (uint32_t)(c - conns) };
	if (epoll_ctl(epfd, c->ev_reg < 0 ? EPOLL_CTL_ADD : EPOLL_CTL_MOD,
	    c->fd, &e) < 0) {
		conn_close(c, "epoll_ctl failed");
		return;
	}
	c->ev_reg = want;
#else
	(void)c;
#endif
}

static void ev_forget(struct conn *c)
{
#ifdef __linux__
	if (epfd >= 0 && c->ev_reg >= 0)
		epoll_ctl(epfd, EPOLL_CTL_DEL, c->fd, NULL);
#endif
	c->ev_reg = -1;
}

/* The next instant one of c's timers is due, or -1. */
static double conn_due(const struct conn *c)
{
	switch (c->state) {
	case CS_HTTP:
	case CS_FILE:
	case CS_CLOSING:
	case CS_DRAIN:
		return c->deadline;
	case CS_WS: {
		double t = c->next_ping;
		double d = c->last_rx + 2.0 * (double)cfg.ping_interval;
		if (d < t)
			t = d;
		if (c->exp_at && c->exp_at < t)
			t = c->exp_at;
		return t;
	}
	default:
		return -1;
	}
}

/*
 * Visits every connection touched since the last call: writes what it
 * queued (one writev each), parses requests that waited behind a file,
 * reads TLS data already decrypted, re-registers its interest and lets its
 * timers pull the next timer walk earlier.  Entries added meanwhile are
 * visited in the same call.
 */
static void flush_dirty(void)
{
	for (int i = 0; i < ndirty; i++) {
		struct conn *c = &conns[dirty[i]];
		/* dirty means "listed": it survives close and reuse. */
		c->dirty = 0;
		if (c->fd >= 0)
			conn_flush(c);
		if (c->fd >= 0 && c->reparse) {
			c->reparse = 0;
			http_input(c);
		}
		if (c->fd >= 0 && epfd >= 0 && c->tls && tls_buffered(c->tls) &&
		    (conn_events(c) & POLLIN))
			conn_read(c);
		if (c->fd < 0 || c->dirty)
			continue;       /* closed, or listed again further on */
		ev_update(c);
		double d = conn_due(c);
		if (d >= 0 && d < timer_walk_at)
			timer_walk_at = d;
	}
	ndirty = 0;
}

static void min_timeout(double *timeout, double t)
{
	if (t >= 0 && (*timeout < 0 || t < *timeout))
		*timeout = t;
}

/* Runs the timers of every connection; sets when they next need to run. */
static void run_timers(void)
{
	double next = now + 3600;

	for (int i = 0; i < conn_hiwater; i++) {
		struct conn *c = &conns[i];
		if (c->fd < 0)
			continue;
		double t = conn_timers(c);
		if (c->fd >= 0 && t >= 0 && now + t < next)
			next = now + t;
	}
	timer_walk_at = next > now + TIMER_SLACK ? next : now + TIMER_SLACK;
}

/*
 * Runs due timers, writes pending output and declares what the loop waits
 * for.  Returns how long it may sleep (-1: until an event).
 */
static double loop_prepare(size_t *db_first, size_t *db_n)
{
	double timeout = -1;

	if (now >= timer_walk_at)
		run_timers();
	flush_dirty();
	min_timeout(&timeout, timer_walk_at - now);

	ev_n = 0;
	ev_add(sigpipe_fd[0], POLLIN, WHO_SIGNAL);
	if (epfd >= 0)
		ev_add(epfd, POLLIN, WHO_EPOLL);
	if (now >= accept_pause)
		for (int i = 0; i < nlisteners; i++)
			ev_add(listeners[i], POLLIN, WHO_LISTENER);
	else
		min_timeout(&timeout, accept_pause - now);
	*db_first = ev_n;
	*db_n = db_pollfds(ev_pfd + ev_n, ev_cap - ev_n);
	for (size_t i = 0; i < *db_n; i++)
		ev_who[ev_n++] = WHO_DB;
	min_timeout(&timeout, db_timeout(now));
	if (epfd < 0)
		for (int i = 0; i < conn_hiwater; i++) {
			struct conn *c = &conns[i];
			if (c->fd < 0)
				continue;
			short ev = conn_events(c);
			/* Plaintext already decrypted wakes no poll(). */
			if (c->tls && (ev & POLLIN) && tls_buffered(c->tls))
				timeout = 0;
			ev_add(c->fd, ev, i);
		}
	if (stopping)
		min_timeout(&timeout, stop_deadline - now);
	if (ndirty)
		timeout = 0;
	return timeout;
}

/* Reads or writes one connection that poll() or epoll found ready. */
static void conn_ready(struct conn *c, short revents)
{
	if (revents & (POLLIN | POLLHUP | POLLERR))
		conn_read(c);
	if (c->fd >= 0 && (revents & POLLOUT))
		conn_flush(c);
	if (c->fd >= 0)
		mark_dirty(c);  /* its interest may have changed */
}

static void epoll_dispatch(void)
{
#ifdef __linux__
	struct epoll_event evs[512];
	int n = epoll_wait(epfd, evs, 512, 0);

	for (int i = 0; i < n; i++) {
		uint32_t slot = (uint32_t)evs[i].data.u64;
		uint32_t gen = (uint32_t)(evs[i].data.u64 >> 32);
		struct conn *c = &conns[slot];
		if (c->fd < 0 || c->gen != gen)
			continue;       /* closed (and maybe reused) this turn */
		conn_ready(c, (short)evs[i].events);
	}
#endif
}

static void loop_dispatch(size_t db_first, size_t db_n)
{
	db_process(db_n ? ev_pfd + db_first : NULL, db_n, now);
	for (size_t i = 0; i < ev_n; i++) {
		struct pollfd *p = &ev_pfd[i];
		int who = ev_who[i];

		if (who >= 0 && conns[who].tls && (p->events & POLLIN) &&
		    tls_buffered(conns[who].tls))
			p->revents |= POLLIN;
		if (!p->revents || who == WHO_DB)
			continue;
		if (who == WHO_SIGNAL) {
			char drain[64];
			while (read(sigpipe_fd[0], drain, sizeof drain) > 0)
				;
			continue;
		}
		if (who == WHO_EPOLL) {
			epoll_dispatch();
			continue;
		}
		if (who == WHO_LISTENER) {
			if (!stopping)
				accept_all(p->fd);
			continue;
		}
		struct conn *c = &conns[who];
		if (c->fd != p->fd || c->gen != ev_gen[i])
			continue;       /* closed (and maybe reused) this turn */
		conn_ready(c, p->revents);
	}
	/* One writev per connection that got output this turn. */
	flush_dirty();
}

static void serve(void)
{
	ev_cap = (size_t)cfg.max_connections + (size_t)cfg.pool_size + 16;
	ev_pfd = calloc(ev_cap, sizeof *ev_pfd);
	ev_who = calloc(ev_cap, sizeof *ev_who);
	ev_gen = calloc(ev_cap, sizeof *ev_gen);
	if (!ev_pfd || !ev_who || !ev_gen)
		die2("out of memory");
#ifdef __linux__
	if (!strcmp(cfg.backend, "epoll") &&
	    (epfd = epoll_create1(EPOLL_CLOEXEC)) < 0)
		die2("PGWS_EVENT_BACKEND: epoll: %s", strerror(errno));
#endif
	for (;;) {
		size_t db_first, db_n;

		now = clock_mono();
		wall = clock_wall();
		if (got_stop && !stopping)
			begin_stop();
		if (got_hup) {
			char err[512];
			got_hup = 0;
			if (cfg.cert_file && tls_reload(err, sizeof err) < 0)
				logf_(L_ERROR, "SIGHUP: keeping the old certificate: %s", err);
			else if (cfg.cert_file)
				logf_(L_INFO, "SIGHUP: reloaded %s and %s",
				    cfg.cert_file, cfg.key_file);
		}
		/* Messages already accepted (and Close events) still go out. */
		if (stopping && ((nactive == 0 && db_pending() == 0) ||
		    now >= stop_deadline))
			break;
		double timeout = loop_prepare(&db_first, &db_n);
		int rc = ev_wait(timeout);
		now = clock_mono();
		wall = clock_wall();
		if (rc < 0) {
			if (errno == EINTR)
				continue;
			logf_(L_ERROR, "poll: %s", strerror(errno));
			exit(1);
		}
		loop_dispatch(db_first, db_n);
	}
	for (int i = 0; i < conn_hiwater; i++)
		conn_close(&conns[i], NULL);
	free(ev_pfd);
	free(ev_who);
	free(ev_gen);
	if (epfd >= 0)
		close(epfd);
	logf_(L_INFO, "stopped");
}

/* ------------------------------------------------------------------ */
/* pgws token                                                          */

static int cmd_token(int argc, char **argv)
{
	char claims[8192], tok[16384];
	struct json_out o;
	const char *mode = "rw";
	long exp = 0;
	int alg = JWT_HS256;
	char err[256];

	json_out_init(&o, claims, sizeof claims);
	json_raw(&o, "{", 1);
	int first = 1, nch = 0;
	for (int i = 2; i < argc; i++) {
		const char *a = argv[i];
		const char *v = i + 1 < argc ? argv[i + 1] : NULL;
		if (!strcmp(a, "--mode") && v) {
			if (strcmp(v, "r") && strcmp(v, "w") && strcmp(v, "rw"))
				die2("token: --mode must be r, w or rw");
			mode = v;
			i++;
		} else if (!strcmp(a, "--channel") && v) {
			nch++;
			i++;
		} else if (!strcmp(a, "--exp") && v) {
			char *end;
			exp = strtol(v, &end, 10);
			if (*end || exp <= 0)
				die2("token: --exp takes a number of seconds");
			i++;
		} else if (!strcmp(a, "--alg") && v) {
			alg = !strcmp(v, "HS256") ? JWT_HS256 : !strcmp(v, "HS384") ?
			    JWT_HS384 : !strcmp(v, "HS512") ? JWT_HS512 : 0;
			if (!alg)
				die2("token: --alg must be HS256, HS384 or HS512");
			i++;
		} else if (!strcmp(a, "--claim") && v) {
			const char *eq = strchr(v, '=');
			if (!eq || eq == v)
				die2("token: --claim takes KEY=VALUE");
			if (!first)
				json_raw(&o, ",", 1);
			first = 0;
			json_string(&o, v, (size_t)(eq - v));
			json_raw(&o, ":", 1);
			json_string(&o, eq + 1, strlen(eq + 1));
			i++;
		} else {
			die2("token: unknown or incomplete option '%s' (see pgws --help)", a);
		}
	}
	if (!first)
		json_raw(&o, ",", 1);
	json_raw(&o, "\"mode\":", 7);
	json_string(&o, mode, strlen(mode));
	if (nch == 1) {
		for (int i = 2; i + 1 < argc; i++)
			if (!strcmp(argv[i], "--channel")) {
				json_raw(&o, ",\"channel\":", 11);
				json_string(&o, argv[i + 1], strlen(argv[i + 1]));
				break;
			}
	} else if (nch > 1) {
		json_raw(&o, ",\"channels\":[", 13);
		int k = 0;
		for (int i = 2; i + 1 < argc; i++)
			if (!strcmp(argv[i], "--channel")) {
				if (k++)
					json_raw(&o, ",", 1);
				json_string(&o, argv[i + 1], strlen(argv[i + 1]));
				i++;
			} else if (argv[i][0] == '-' && argv[i][1] == '-') {
				i++;
			}
		json_raw(&o, "]", 1);
	}
	if (exp) {
		json_raw(&o, ",\"exp\":", 7);
		json_long(&o, (long long)time(NULL) + exp);
	}
	json_raw(&o, "}", 1);
	if (o.err)
		die2("token: claims too long");

	const char *sec = getenv("PGWS_JWT_SECRET");
	if (!sec || !*sec)
		die2("PGWS_JWT_SECRET is required");
	size_t sl;
	char *secret;
	if (sec[0] == '@') {
		secret = slurp("PGWS_JWT_SECRET", sec + 1, &sl);
		if (sl && secret[sl - 1] == '\n')
			secret[--sl] = 0;
	} else {
		secret = strdup(sec);
		sl = strlen(secret);
	}
	const char *b = getenv("PGWS_JWT_SECRET_BASE64");
	int b64 = b && (str_ieq(b, "true") || !strcmp(b, "1"));
	if (jwt_keys_load(&keys, secret, sl, b64, err, sizeof err) < 0)
		die2("PGWS_JWT_SECRET: %s", err);
	const struct jwt_key *hk = jwt_keys_hmac(&keys);
	if (!hk)
		die2("token: PGWS_JWT_SECRET holds no HMAC key (pgws token signs with HMAC only)");
	long n = jwt_sign(hk, alg, claims, o.len, tok, sizeof tok);
	if (n < 0)
		die2("token: too long");
	printf("%s\n", tok);
	jwt_keys_free(&keys);
	free(secret);
	return 0;
}

/* ------------------------------------------------------------------ */

int main(int argc, char **argv)
{
	char err[512];

	if (argc > 1) {
		if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
			usage(stdout);
			return 0;
		}
		if (!strcmp(argv[1], "--version") || !strcmp(argv[1], "-V")) {
			printf("pgws %s\n", PGWS_VERSION);
			return 0;
		}
		if (!strcmp(argv[1], "token"))
			return cmd_token(argc, argv);
		if (!strcmp(argv[1], "client"))
			return client_main(argc - 1, argv + 1);
		fprintf(stderr, "pgws: unknown argument '%s'\n", argv[1]);
		usage(stderr);
		return 2;
	}

	config_load();
	int kr = jwt_keys_load(&keys, cfg.jwt_secret, cfg.jwt_secret_len,
	    (int)cfg.jwt_base64, err, sizeof err);
	if (kr < 0)
		die2("PGWS_JWT_SECRET: %s", err);
	if (kr > 0)
		logf_(L_WARN, "PGWS_JWT_SECRET: %s", err);
	jwt_work_cap = jwt_work_size((size_t)cfg.max_token, keys.max_chan);
	jwt_work = malloc(jwt_work_cap);

	/* Enough descriptors for every connection the limit allows. */
	struct rlimit rl;
	rlim_t want = (rlim_t)cfg.max_connections + (rlim_t)cfg.pool_size + 64;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < want) {
		rl.rlim_cur = rl.rlim_max < want ? rl.rlim_max : want;
		setrlimit(RLIMIT_NOFILE, &rl);
		if (rl.rlim_cur < want)
			logf_(L_WARN, "RLIMIT_NOFILE is %llu: fewer than "
			    "PGWS_MAX_CONNECTIONS=%ld connections fit",
			    (unsigned long long)rl.rlim_cur, cfg.max_connections);
	}

	conns = calloc((size_t)cfg.max_connections, sizeof *conns);
	free_slots = malloc((size_t)cfg.max_connections * sizeof *free_slots);
	dirty = malloc((size_t)cfg.max_connections * sizeof *dirty);
	chans = calloc(chan_buckets, sizeof *chans);
	if (!conns || !free_slots || !dirty || !chans || !jwt_work)
		die2("out of memory for PGWS_MAX_CONNECTIONS=%ld", cfg.max_connections);
	for (int i = cfg.max_connections - 1; i >= 0; i--) {
		conns[i].fd = -1;
		free_slots[nfree++] = i;
	}

	signal(SIGPIPE, SIG_IGN);
	ping_msg = msg_frame(WS_OP_PING, NULL, 0);
	if (!ping_msg)
		die2("out of memory");
	if (pipe(sigpipe_fd) < 0)
		die2("pipe: %s", strerror(errno));
	for (int i = 0; i < 2; i++) {
		fcntl(sigpipe_fd[i], F_SETFL, O_NONBLOCK);
		fcntl(sigpipe_fd[i], F_SETFD, FD_CLOEXEC);
	}

	struct db_cfg dc = {
		.uri = cfg.db_uri, .channel = cfg.listen_channel,
		.pool_size = (int)cfg.pool_size, .retries = (int)cfg.retries,
		.check_ms = cfg.check_interval,
		.queue_max = (size_t)cfg.publish_queue,
		.bytes_max = (size_t)cfg.publish_bytes,
		.batch_max = (size_t)cfg.publish_batch,
	};
	if (db_init(&dc, err, sizeof err) < 0) {
		logf_(L_ERROR, "database: %s", err);
		return 1;
	}
	/*
	 * Installed only now: while db_init waits between connection
	 * attempts, SIGTERM keeps its default action and ends pgws at once.
	 */
	struct sigaction sa = { .sa_handler = on_stop };
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sa.sa_handler = on_hup;
	sigaction(SIGHUP, &sa, NULL);
	open_listeners();
	logf_(L_INFO, "pgws %s serving on port %d (listen channel '%s')",
	    PGWS_VERSION, bound_port, cfg.listen_channel);
	printf("Listening on port %d\n", bound_port);
	fflush(stdout);
	serve();
	db_shutdown();
	jwt_keys_free(&keys);
	free(jwt_work);
	free(conns);
	free(free_slots);
	free(dirty);
	free(chans);
	msg_unref(ping_msg);
	return exit_status;
}
