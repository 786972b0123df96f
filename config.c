/*
 * Configuration, in its own file so that the server and the subcommands
 * share one table of variables and one reader of @path values: `pgws
 * token` must sign with exactly the secret bytes the server verifies with.
 */
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "config.h"
#include "http.h"
#include "jwt.h"
#include "log.h"

_Static_assert(JWT_MAX_CHANNELS == 256 && JWT_MAX_CHANNELS_CAP == 65536,
    "PGWS_MAX_TOKEN_CHANNELS' default and maximum in vars[] follow jwt.h");

#ifndef PGWS_VERSION
#define PGWS_VERSION "dev"
#endif

struct config cfg;

void die(const char *fmt, ...)
{
	va_list ap;
	fputs("pgws: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(2);
}

/* Errors found by config_read: each is printed at once, all are counted. */
static int nerr;

static void bad(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void bad(const char *fmt, ...)
{
	va_list ap;
	fputs("pgws: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	nerr++;
}

enum { V_STR, V_URI, V_SECRET, V_BOOL, V_INT, V_LEVEL, V_FORMAT };

/* Byte ceilings of 16 and 64 GiB where a long holds them; on 32-bit
 * targets (armv7) the largest long, 2 GiB - 1. */
#if LONG_MAX >= 68719476736
#define BYTES_16G 17179869184L
#define BYTES_64G 68719476736L
#else
#define BYTES_16G LONG_MAX
#define BYTES_64G LONG_MAX
#endif
#define PUBLISH_BYTES_MAX BYTES_16G

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
	  "*4 or !4 any IPv4, *6 any (dual-stack), !6 any IPv6 only, * both, "
	  "else an address or host name" },
	{ "PGWS_PORT", "3000", V_INT, &cfg.port, 0, 65535,
	  "TCP port (0: any free port)" },
	{ "PGWS_LISTEN_CHANNEL", "postgres-websockets-listener", V_STR,
	  &cfg.listen_channel, 0, 0,
	  "the database channel pgws LISTENs on and NOTIFYs to" },
	{ "PGWS_META_CHANNEL", NULL, V_STR, &cfg.meta_channel, 0, 0,
	  "when set, ConnectionOpen/ConnectionClose events go to this channel" },
	{ "PGWS_ROOT_PATH", NULL, V_STR, &cfg.root_path, 0, 0,
	  "directory of static files served over HTTP; unset: 200 Hello, Web!" },
	{ "PGWS_POOL_SIZE", "10", V_INT, &cfg.pool_size, 1, INT_MAX,
	  "most database connections that send NOTIFYs, opened on demand" },
	{ "PGWS_RETRIES", "5", V_INT, &cfg.retries, INT_MIN, 1000,
	  "database connection attempts at start-up (back-off 1 s .. 32 s; "
	  "0 or less: one)" },
	{ "PGWS_CHECK_LISTENER_INTERVAL", "0", V_INT, &cfg.check_interval, 0,
	  86400000, "ms; >0: supervise and re-establish the listener; 0: exit 1 when it dies" },
	{ "PGWS_ALLOWED_ORIGINS", NULL, V_STR, &cfg.allowed_origins, 0, 0,
	  "origins (scheme://host[:port], comma-separated) whose pages may\n"
	  "      connect; others get 403; also enables the pgws_token cookie" },
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
	  1073741824, "bytes queued for one client (64 counted per message) past "
	  "which it is not read and must make progress within PGWS_SLOW_TIMEOUT" },
	{ "PGWS_MAX_PENDING_HARD", "134217728", V_INT, &cfg.max_pending_hard,
	  1024, BYTES_16G, "bytes queued for one client past which it is "
	  "dropped at once (at least PGWS_MAX_PENDING)" },
	{ "PGWS_MAX_PENDING_TOTAL", "268435456", V_INT, &cfg.max_pending_total,
	  65536, BYTES_64G, "bytes of output queued for all clients together; "
	  "beyond it the one waiting longest for its socket is dropped" },
	{ "PGWS_SLOW_TIMEOUT", "5", V_INT, &cfg.slow_timeout, 1, 3600,
	  "seconds a client over PGWS_MAX_PENDING may go without taking a byte" },
	{ "PGWS_MAX_TOKEN_SIZE", "8192", V_INT, &cfg.max_token, 64, 65536,
	  "bytes of a JWT (401 beyond)" },
	{ "PGWS_MAX_TOKEN_CHANNELS", "256", V_INT, &cfg.max_token_channels, 1,
	  65536, "distinct channels one token may carry (401 beyond)" },
	{ "PGWS_POOL_IDLE_TIMEOUT", "600", V_INT, &cfg.pool_idle, 1, 86400,
	  "seconds before an idle pool connection is closed" },
	{ "PGWS_HANDSHAKE_TIMEOUT", "10", V_INT, &cfg.handshake_timeout, 1,
	  3600, "seconds to send a complete request; also HTTP keep-alive idle time" },
	{ "PGWS_PING_INTERVAL", "30", V_INT, &cfg.ping_interval, 1, 86400,
	  "seconds between pings; a peer silent for two intervals is dropped" },
	{ "PGWS_CLOSE_TIMEOUT", "5", V_INT, &cfg.close_timeout, 1, 3600,
	  "seconds to wait for the peer's close frame after ours" },
	{ "PGWS_PUBLISH_QUEUE", "10000", V_INT, &cfg.publish_queue, 1,
	  10000000, "messages waiting per pool connection before senders get 1013" },
	{ "PGWS_PUBLISH_QUEUE_BYTES", "67108864", V_INT, &cfg.publish_bytes,
	  65536, PUBLISH_BYTES_MAX, "payload bytes waiting across the pool before senders get 1013" },
	{ "PGWS_PUBLISH_BATCH", "256", V_INT, &cfg.publish_batch, 1, 10000,
	  "most NOTIFYs sent in one round trip" },
	{ "PGWS_EVENT_BACKEND", EV_DEFAULT, V_STR, &cfg.backend, 0, 0,
	  "epoll (Linux) or poll: how the loop waits for sockets" },
	{ "PGWS_LOG_LEVEL", "info", V_LEVEL, &cfg.log_level, 0, 0,
	  "error, warn, info or debug" },
	{ "PGWS_LOG_FORMAT", "text", V_FORMAT, &cfg.log_format, 0, 0,
	  "text (one plain line per event) or json (one JSON object per line)" },
};

/*
 * Reads a whole small file for an @path value; the caller frees it.
 * Returns NULL with a message (naming var and path) in err[errcap].
 * Configuration files are small and read at start-up or on SIGHUP, so
 * this may block.
 */
static char *slurp(const char *var, const char *path, size_t *len,
    char *err, size_t errcap)
{
	FILE *f = fopen(path, "rb");
	char *buf = NULL, *nb;
	size_t n = 0, cap = 0;

	if (!f) {
		snprintf(err, errcap, "%s: cannot read %s: %s", var, path, strerror(errno));
		return NULL;
	}
	for (;;) {
		if (cap - n < 4096) {
			cap = cap ? cap * 2 : 8192;
			if (cap > (1u << 24)) {
				snprintf(err, errcap, "%s: %s is too large", var, path);
				goto fail;
			}
			if (!(nb = realloc(buf, cap))) {
				snprintf(err, errcap, "%s: out of memory", var);
				goto fail;
			}
			buf = nb;
		}
		size_t r = fread(buf + n, 1, cap - n - 1, f);
		n += r;
		if (r == 0)
			break;
	}
	if (ferror(f)) {
		snprintf(err, errcap, "%s: cannot read %s: %s", var, path, strerror(errno));
		goto fail;
	}
	fclose(f);
	buf[n] = 0;
	*len = n;
	return buf;
fail:
	fclose(f);
	free(buf);
	return NULL;
}

static int str_ieq(const char *a, const char *b)
{
	for (; *a && *b; a++, b++)
		if ((*a | 0x20) != (*b | 0x20))
			return 0;
	return *a == *b;
}

/* Parses a whole number for v from s into *n; 0, or -1 when s is not one
 * within v's bounds. */
static int int_value(const struct var *v, const char *s, long *n)
{
	char *end;
	errno = 0;
	*n = strtol(s, &end, 10);
	return errno || end == s || *end || *n < v->min || *n > v->max ? -1 : 0;
}

/*
 * Sets one variable's destination from the environment or its default.
 * A bad value is reported (bad()) and the default is used in its place, so
 * that the checks after it still run and every error is reported.
 */
static void load_var(const struct var *v)
{
	const char *s = getenv(v->name);
	char *val, err[512];
	size_t len;
	long n;

	if (s && !*s && v->kind != V_STR)
		s = NULL;       /* an empty variable counts as unset */
	if (!s)
		s = v->def;
	if (!s) {
		*(char **)v->dst = NULL;
		return;
	}
	switch (v->kind) {
	case V_STR:
		*(char **)v->dst = strdup(s);
		break;
	case V_URI:
	case V_SECRET:
		*(char **)v->dst = NULL;
		if (!(val = config_file_value(v->name, s, &len, err, sizeof err))) {
			bad("%s", err);
			break;
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
		}
		if (!len) {
			bad("%s is empty", v->name);
			free(val);
			break;
		}
		*(char **)v->dst = val;
		if (v->dst == &cfg.jwt_secret)
			cfg.jwt_secret_len = len;
		break;
	case V_BOOL:
		if (str_ieq(s, "true") || !strcmp(s, "1"))
			*(long *)v->dst = 1;
		else if (str_ieq(s, "false") || !strcmp(s, "0"))
			*(long *)v->dst = 0;
		else {
			bad("%s: '%s' is not true or false", v->name, s);
			*(long *)v->dst = str_ieq(v->def, "true");
		}
		break;
	case V_INT:
		if (int_value(v, s, &n) < 0) {
			bad("%s: '%s' is not a whole number from %ld to %ld",
			    v->name, s, v->min, v->max);
			int_value(v, v->def, &n);
		}
		*(long *)v->dst = n;
		break;
	case V_LEVEL:
		if (log_level_parse(s) < 0) {
			bad("%s: '%s' is not error, warn, info or debug", v->name, s);
			s = v->def;
		}
		log_set_level((enum log_level)log_level_parse(s));
		*(char **)v->dst = strdup(s);
		break;
	case V_FORMAT:
		if (log_format_parse(s) < 0) {
			bad("%s: '%s' is not text or json", v->name, s);
			s = v->def;
		}
		log_set_format((enum log_format)log_format_parse(s));
		*(char **)v->dst = strdup(s);
		break;
	}
}

/*
 * PGWS_HOST: warp's host preferences (*, *4, !4, *6, !6) or an address or
 * host name, which the listener resolves.  Any other * or ! form is a
 * typo, refused here rather than looked up as a host name.
 */
static void config_host(void)
{
	static const char *const forms[] = { "*", "*4", "!4", "*6", "!6" };

	if (cfg.host[0] != '*' && cfg.host[0] != '!')
		return;
	for (size_t i = 0; i < sizeof forms / sizeof forms[0]; i++)
		if (!strcmp(cfg.host, forms[i]))
			return;
	bad("PGWS_HOST: '%s' is not *, *4, !4, *6, !6, an address or a host "
	    "name", cfg.host);
}

/*
 * PGWS_ROOT_PATH: a path that is not a directory
 * is a warning, not an error, as the original starts and answers 404:
 * root_missing makes every file request a 404.
 */
static void config_root(void)
{
	struct stat st;
	int rc = stat(cfg.root_path, &st);

	/* Kept as given: resolved again for every request, so switching a
	 * "current" symbolic link takes effect at once. */
	if (rc < 0 || !S_ISDIR(st.st_mode)) {
		log_msg(L_WARN, "PGWS_ROOT_PATH: %s: %s; every file request "
		    "gets 404", cfg.root_path,
		    rc < 0 ? strerror(errno) : "not a directory");
		cfg.root_missing = 1;
	}
}

/* The checks that look at several variables, or at the file system. */
static void check_together(int uri_set, int secret_set)
{
	if (!cfg.db_uri && !uri_set)
		bad("PGWS_DB_URI is required (a libpq connection string or URI)");
	if (!cfg.jwt_secret && !secret_set)
		bad("PGWS_JWT_SECRET is required");
	if (!!cfg.cert_file != !!cfg.key_file)
		bad("%s is set but %s is not: TLS needs both",
		    cfg.cert_file ? "PGWS_CERTIFICATE_FILE" : "PGWS_KEY_FILE",
		    cfg.cert_file ? "PGWS_KEY_FILE" : "PGWS_CERTIFICATE_FILE");
	if (!*cfg.listen_channel)
		bad("PGWS_LISTEN_CHANNEL is empty");
	if (strlen(cfg.listen_channel) > 63)
		bad("PGWS_LISTEN_CHANNEL: %zu bytes; PostgreSQL channel names "
		    "have at most 63", strlen(cfg.listen_channel));
	if (cfg.max_pending_hard < cfg.max_pending)
		bad("PGWS_MAX_PENDING_HARD: %ld is less than PGWS_MAX_PENDING (%ld)",
		    cfg.max_pending_hard, cfg.max_pending);
	if (strcmp(cfg.backend, "poll") && strcmp(cfg.backend, EV_DEFAULT))
		bad("PGWS_EVENT_BACKEND: '%s' is not %s", cfg.backend,
		    strcmp(EV_DEFAULT, "poll") ? "epoll or poll" : "poll");
	if (cfg.meta_channel && !*cfg.meta_channel)
		cfg.meta_channel = NULL;
	if (cfg.allowed_origins && !*cfg.allowed_origins)
		cfg.allowed_origins = NULL;
	if (cfg.allowed_origins) {
		char err[256];
		if (http_origins_check(cfg.allowed_origins,
		    strlen(cfg.allowed_origins), err, sizeof err) < 0)
			bad("PGWS_ALLOWED_ORIGINS: %s", err);
	}
	config_host();
	/* Each client publishes through one pool connection: more are idle. */
	if (cfg.pool_size > cfg.max_connections)
		cfg.pool_size = cfg.max_connections;
	if (cfg.root_path)
		config_root();
}

/* Whether the variable is set to something (an error in it is its own). */
static int is_set(const char *name)
{
	const char *s = getenv(name);
	return s && *s;
}

int config_read(void)
{
	nerr = 0;
	for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++)
		load_var(&vars[i]);
	check_together(is_set("PGWS_DB_URI"), is_set("PGWS_JWT_SECRET"));
	return nerr;
}

void config_free(void)
{
	for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++)
		if (vars[i].kind != V_BOOL && vars[i].kind != V_INT) {
			free(*(char **)vars[i].dst);
			*(char **)vars[i].dst = NULL;
		}
	cfg.jwt_secret_len = 0;
}

void config_load(void)
{
	if (config_read())
		exit(2);
}

void config_load_secret(void)
{
	nerr = 0;
	for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++)
		if (vars[i].dst == &cfg.jwt_secret || vars[i].dst == &cfg.jwt_base64)
			load_var(&vars[i]);
	if (!cfg.jwt_secret && !is_set("PGWS_JWT_SECRET"))
		bad("PGWS_JWT_SECRET is required");
	if (nerr)
		exit(2);
}

int config_reload_secret(char **val, size_t *len, char *err, size_t errcap)
{
	const char *s = getenv("PGWS_JWT_SECRET");

	if (!s || s[0] != '@')
		return 0;
	if (!(*val = config_file_value("PGWS_JWT_SECRET", s, len, err, errcap)))
		return -1;
	if (!*len) {
		snprintf(err, errcap, "PGWS_JWT_SECRET: %s is empty", s + 1);
		free(*val);
		*val = NULL;
		return -1;
	}
	return 1;
}

char *config_file_value(const char *var, const char *s, size_t *len,
    char *err, size_t errcap)
{
	char *val;

	if (s[0] != '@') {
		*len = strlen(s);
		val = strdup(s);
		if (!val)
			snprintf(err, errcap, "%s: out of memory", var);
		return val;
	}
	if (!(val = slurp(var, s + 1, len, err, errcap)))
		return NULL;
	/* One trailing newline dropped, and a CR before it. */
	if (*len && val[*len - 1] == '\n') {
		(*len)--;
		if (*len && val[*len - 1] == '\r')
			(*len)--;
		val[*len] = 0;
	}
	return val;
}

char *config_value(const char *var, const char *s, size_t *len)
{
	char err[512];
	char *val = config_file_value(var, s, len, err, sizeof err);
	if (!val)
		die("%s", err);
	return val;
}

void config_usage(FILE *f)
{
	fprintf(f,
	    "pgws %s: PostgreSQL LISTEN/NOTIFY to WebSockets, authorised by JWTs\n"
	    "\n"
	    "usage: pgws                 serve (configured by the environment)\n"
	    "       pgws token [--mode r|w|rw] [--channel C]... [--exp SECONDS]\n"
	    "                  [--claim KEY=VALUE]... [--alg HS256|HS384|HS512]\n"
	    "                            print a token signed with PGWS_JWT_SECRET\n"
	    "       pgws client [--count N] [--timeout S] [--header 'Name: value']...\n"
	    "                  [--protocol-token JWT] [--cacert FILE] URL\n"
	    "                            websocket client: stdin lines out, messages in\n"
	    "       pgws check [--token JWT [--channel C]]\n"
	    "                            check the configuration and the database (LISTEN),\n"
	    "                            and what a token would be granted; one line, exit 0\n"
	    "       pgws check --url http://HOST:PORT/health [--timeout SECONDS]\n"
	    "                            ask a running instance (container HEALTHCHECK)\n"
	    "       pgws --help | --version\n"
	    "\n"
	    "Clients connect to ws://HOST:PORT/<channel>/<jwt> or /<jwt>; the same\n"
	    "URLs stream Server-Sent Events (GET, Accept: text/event-stream) and\n"
	    "publish the body of a POST.\n"
	    "\n"
	    "environment (default in brackets):\n", PGWS_VERSION);
	for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++)
		fprintf(f, "  %-30s [%s]\n      %s\n", vars[i].name,
		    vars[i].def ? vars[i].def : "unset", vars[i].help);
}
