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
	char *root_path;        /* PGWS_ROOT_PATH as given (resolved per request), or NULL */
	int root_missing;       /* PGWS_ROOT_PATH was no directory at start: files 404 */
	char *allowed_origins;  /* PGWS_ALLOWED_ORIGINS, checked; NULL when unset */
	long pool_size;         /* at most max_connections */
	long pool_idle;         /* PGWS_POOL_IDLE_TIMEOUT, seconds */
	long retries;
	long check_interval;
	char *cert_file;
	char *key_file;
	/* Beyond the original: limits and timers. */
	long max_connections;
	long max_header;
	long max_message;
	long max_pending;       /* soft: stop reading, start the slow clock */
	long max_pending_hard;  /* dropped at once beyond it */
	long max_pending_total; /* all output queues together */
	long slow_timeout;      /* seconds over max_pending without progress */
	long max_token;
	long max_token_channels;
	long handshake_timeout;
	long ping_interval;
	long close_timeout;
	long publish_queue;
	long publish_bytes;
	long publish_batch;
	char *log_level;
	char *log_format;
	char *backend;
};

/* The configuration, filled by config_load and read-only afterwards. */
extern struct config cfg;

/*
 * Fills cfg from the environment and sets the log level and format.  Every
 * invalid, missing or unreadable value is reported on stderr, one line
 * naming the variable each ("pgws: ..."), and the variable's default is
 * used in its place; returns how many were reported.  TLS files are named,
 * not loaded.  For `pgws check`.
 */
int config_read(void);

/* Frees the strings config_read allocated and leaves them NULL. */
void config_free(void);

/* config_read, then exit status 2 if it reported anything (start-up). */
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

/*
 * For SIGHUP: when PGWS_JWT_SECRET is an @file, reads the file again as
 * config_load did and returns 1 with a copy the caller frees in *val and
 * its length in *len; returns 0 when it is not an @file; -1 with a message
 * in err[errcap] when the file cannot be read or is empty.  Never exits.
 */
int config_reload_secret(char **val, size_t *len, char *err, size_t errcap);

/* config_value without exiting: NULL with a message (naming var) in
 * err[errcap] when the file cannot be read. */
char *config_file_value(const char *var, const char *s, size_t *len,
    char *err, size_t errcap);

/* Writes --help: usage and every variable with its default and meaning. */
void config_usage(FILE *f);

/* Start-up errors: "pgws: " and one line on stderr, then exit status 2. */
void die(const char *fmt, ...) __attribute__((noreturn, format(printf, 1, 2)));

#endif
