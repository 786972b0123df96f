/*
 * Logging, in its own file so that every module (the loop, the database
 * side) writes the same line format through one format-checked function
 * instead of calling back into whoever owns stderr.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

static const char *const level_name[] = { "error", "warn", "info", "debug" };
static enum log_level log_level = L_INFO;

void log_set_level(enum log_level lvl)
{
	log_level = lvl;
}

int log_level_parse(const char *s)
{
	for (int l = L_ERROR; l <= L_DEBUG; l++) {
		const char *a = s, *b = level_name[l];
		for (; *a && *b; a++, b++)
			if ((*a | 0x20) != *b)
				break;
		if (!*a && !*b)
			return l;
	}
	return -1;
}

void log_vmsg(enum log_level lvl, const char *fmt, va_list ap)
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

void log_msg(enum log_level lvl, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	log_vmsg(lvl, fmt, ap);
	va_end(ap);
}
