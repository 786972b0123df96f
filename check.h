/*
 * pgws check: "is this configuration good, can it reach the database, and
 * what would this token get?", or "is the instance at this URL healthy?",
 * answered with one line and an exit status, for init containers, shell
 * scripts and a scratch image's HEALTHCHECK.
 */
#ifndef PGWS_CHECK_H
#define PGWS_CHECK_H

#include <stddef.h>

/* Exit statuses of pgws check. */
enum {
	CHECK_OK = 0,
	CHECK_UNREACHABLE = 1,  /* database, or --url: no answer or not 200 */
	CHECK_CONFIG = 2,       /* configuration or usage error */
	CHECK_TOKEN = 3         /* --token would be refused */
};

/* Runs "pgws check [options]"; argv[0] is "check".  Returns the exit status. */
int check_main(int argc, char **argv);

/* An http:// URL split into its parts; slices of the parsed text. */
struct check_url {
	const char *host;       /* without the brackets of an IPv6 literal */
	size_t host_len;
	int port;               /* 80 when the URL names none */
	const char *path;       /* from the first '/', or "/" when there is none */
	size_t path_len;
};

/*
 * Parses s as http://host[:port][/path] (host a name, an IPv4 address or a
 * bracketed IPv6 literal; port 1..65535; no user info; path bytes printable
 * ASCII).  Returns 0, or -1 with nothing promised about *u.
 */
int check_url_parse(const char *s, struct check_url *u);

/*
 * Reads the status line at the start of an HTTP response r[0..n).
 * Returns the status code (100..999), -2 when more bytes are needed, or -1
 * when the bytes are not an HTTP/1.x status line.
 */
int check_status_line(const char *r, size_t n);

#endif
