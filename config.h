/*
 * pgws's configuration: the table of PGWS_* variables with their defaults,
 * limits and help text, loading them from the environment, and the one
 * reader of @path values.  The server and `pgws token` both read the
 * secret through config_load_secret, so they agree on every byte of it.
 */
#ifndef PGWS_CONFIG_H
#define PGWS_CONFIG_H

#include <stddef.h>
#include <stdio.h>

#ifdef __linux__
#define EV_DEFAULT "epoll"
#else
#define EV_DEFAULT "poll"
#endif

struct config {
	char *db_uri;
	char *jwt_secret;
	size_t jwt_secret_len;
	long jwt_base64;
	char *host;
	long port;
	char *listen_channel;
	char *meta_channel;     /* NULL when unset or empty */
	char *root_path;        /* realpath() of PGWS_ROOT_PATH, or NULL */
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
};

/* The configuration, filled by config_load and read-only afterwards. */
extern struct config cfg;

/*
 * Fills cfg from the environment and sets the log level.  On any invalid,
 * missing or unreadable value it prints one line naming the variable and
 * exits with status 2 (start-up only).  TLS files are named, not loaded.
 */
void config_load(void);

/*
 * Loads only PGWS_JWT_SECRET (required) and PGWS_JWT_SECRET_BASE64 into
 * cfg.jwt_secret, cfg.jwt_secret_len and cfg.jwt_base64, exactly as
 * config_load does; for `pgws token`.  Exits 2 on an error.
 */
void config_load_secret(void);

/*
 * The value of a variable that may name a file: "@path" reads the file
 * (one trailing LF, and a CR before it, dropped), anything else is the
 * value itself.  Returns a NUL-terminated copy the caller frees, its
 * length in *len; exits 2 when the file cannot be read.
 */
char *config_value(const char *var, const char *s, size_t *len);

/* Writes --help: usage and every variable with its default and meaning. */
void config_usage(FILE *f);

/* Start-up errors: "pgws: " and one line on stderr, then exit status 2. */
void die(const char *fmt, ...) __attribute__((noreturn, format(printf, 1, 2)));

#endif
