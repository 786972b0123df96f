/*
 * Logging for every module of pgws: one line per call on standard error,
 * "2026-01-02T03:04:05.678Z info text", written with one write() so lines
 * stay whole when stderr is shared.  Format strings are checked by the
 * compiler.  The level is process-wide and set once at start-up.
 */
#ifndef PGWS_LOG_H
#define PGWS_LOG_H

#include <stdarg.h>

enum log_level { L_ERROR, L_WARN, L_INFO, L_DEBUG };

/* Lines above lvl are dropped; the default is L_INFO. */
void log_set_level(enum log_level lvl);

/* Returns the level named s ("error", "warn", "info", "debug", any case),
 * or -1 for anything else. */
int log_level_parse(const char *s);

/* Writes one line at lvl; fmt is printf-style without a trailing newline.
 * A line longer than about 1000 bytes is cut. */
void log_msg(enum log_level lvl, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void log_vmsg(enum log_level lvl, const char *fmt, va_list ap)
    __attribute__((format(printf, 2, 0)));

#endif
