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

#endif
