/*
 * Logging for every module of pgws: one line per call on standard error,
 * written with one write() so lines stay whole when stderr is shared.
 * Format strings are checked by the compiler.  The level and the format
 * are process-wide and set once at start-up.
 *
 * Two formats (PGWS_LOG_FORMAT):
 *   text  "2026-01-02T03:04:05.678Z info <message>"
 *   json  {"time":"2026-01-02T03:04:05.678Z","level":"info",
 *          "message":"<message>", ...fields}
 * Fields (client address, channel, status, close code...) are given
 * separately from the message and written only in the JSON format, where
 * they keep their exact value; the text message says the same in words.
 * In both formats every byte that could forge or garble a line (control
 * characters, DEL, C1 controls, invalid UTF-8) is escaped as \xHH in text
 * and as a JSON escape in JSON, whatever the caller passed.
 */
#ifndef PGWS_LOG_H
#define PGWS_LOG_H

#include <stdarg.h>
#include <stddef.h>
#include <string.h>

enum log_level { L_ERROR, L_WARN, L_INFO, L_DEBUG };
enum log_format { LOG_TEXT, LOG_JSON };

/* Lines above lvl are dropped; the default is L_INFO. */
void log_set_level(enum log_level lvl);

/* Returns the level named s ("error", "warn", "info", "debug", any case),
 * or -1 for anything else. */
int log_level_parse(const char *s);

/* The line format; the default is LOG_TEXT. */
void log_set_format(enum log_format f);

/* Returns the format named s ("text" or "json", any case), or -1. */
int log_format_parse(const char *s);

/* One field of a JSON line: key (pgws's own, plain ASCII) and a value:
 * the bytes s[0..n) as a string, the whole number i, or the number d. */
enum log_field_type { LF_T_STR, LF_T_INT, LF_T_DBL };
struct log_field {
	const char *key;
	enum log_field_type type;
	const char *s;
	size_t n;
	long long i;
	double d;
};

#define LF_STR(k, str) ((struct log_field){ (k), LF_T_STR, (str), strlen(str), 0, 0 })
#define LF_MEM(k, p, len) ((struct log_field){ (k), LF_T_STR, (p), (len), 0, 0 })
#define LF_INT(k, v) ((struct log_field){ (k), LF_T_INT, NULL, 0, (long long)(v), 0 })
#define LF_DBL(k, v) ((struct log_field){ (k), LF_T_DBL, NULL, 0, 0, (double)(v) })

/* Writes one line at lvl; fmt is printf-style without a trailing newline.
 * A message longer than about 1000 bytes is cut. */
void log_msg(enum log_level lvl, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void log_vmsg(enum log_level lvl, const char *fmt, va_list ap)
    __attribute__((format(printf, 2, 0)));

/* Like log_msg, with the nf fields f added to a JSON line. */
void log_fields(enum log_level lvl, const struct log_field *f, size_t nf,
    const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* The number of entries of a field array. */
#define LOG_NF(a) (sizeof(a) / sizeof((a)[0]))

#endif
