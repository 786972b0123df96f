/*
 * Logging, in its own file so that every module (the loop, the database
 * side) writes the same line format through one format-checked function
 * instead of calling back into whoever owns stderr, and so that the one
 * place that writes lines is the one place that makes untrusted bytes safe.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

#define LOG_MSG_MAX 1024        /* bytes of a formatted message */
#define LOG_LINE_MAX 4096       /* bytes of a written line */

static const char *const level_name[] = { "error", "warn", "info", "debug" };
static enum log_level log_level = L_INFO;
static enum log_format log_format = LOG_TEXT;

void log_set_level(enum log_level lvl)
{
	log_level = lvl;
}

void log_set_format(enum log_format f)
{
	log_format = f;
}

static int word_ieq(const char *a, const char *b)
{
	for (; *a && *b; a++, b++)
		if ((*a | 0x20) != *b)
			return 0;
	return !*a && !*b;
}

int log_level_parse(const char *s)
{
	for (int l = L_ERROR; l <= L_DEBUG; l++)
		if (word_ieq(s, level_name[l]))
			return l;
	return -1;
}

int log_format_parse(const char *s)
{
	return word_ieq(s, "text") ? LOG_TEXT : word_ieq(s, "json") ? LOG_JSON : -1;
}

/* A line being built; full once a write did not fit (the rest is dropped). */
struct line {
	char *p;
	size_t n, cap;
};

static void put(struct line *l, const char *s, size_t n)
{
	if (n > l->cap - l->n)
		n = l->cap - l->n;
	memcpy(l->p + l->n, s, n);
	l->n += n;
}

static void puts_(struct line *l, const char *s)
{
	put(l, s, strlen(s));
}

/*
 * Length of the valid UTF-8 sequence at s[0..n) that is not a C1 control
 * (U+0080..U+009F), or 0.  Overlong forms, surrogates and values past
 * U+10FFFF are not valid.
 */
static size_t utf8_ok(const unsigned char *s, size_t n)
{
	size_t k;
	unsigned cp;

	if (s[0] < 0xc2 || s[0] > 0xf4)
		return 0;
	k = s[0] < 0xe0 ? 2 : s[0] < 0xf0 ? 3 : 4;
	if (n < k)
		return 0;
	cp = s[0] & (0x7f >> k);
	for (size_t i = 1; i < k; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (s[i] & 0x3f);
	}
	if ((k == 3 && cp < 0x800) || (k == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
	    (cp >= 0xd800 && cp <= 0xdfff) || cp < 0xa0)
		return 0;
	return k;
}

/*
 * Appends s[0..n) with every byte that is a control character, DEL, part
 * of a C1 control or of invalid UTF-8 escaped: as \xHH in text, as a JSON
 * escape (or the six characters \\xHH for a byte that is not UTF-8) in
 * JSON, where '"' and '\' are escaped too.  Stops before a sequence that
 * would not fit whole in the room left, less keep bytes.
 */
static void put_safe(struct line *l, const char *str, size_t n, int json,
    size_t keep)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *s = (const unsigned char *)str;
	char e[8];

	for (size_t i = 0; i < n;) {
		size_t k = 1, en = 0;
		unsigned char c = s[i];
		if (c >= 0x20 && c < 0x7f) {
			if (json && (c == '"' || c == '\\')) {
				e[en++] = '\\';
			}
			e[en++] = (char)c;
		} else if (c >= 0x80 && (k = utf8_ok(s + i, n - i))) {
			en = 0;     /* copied below */
		} else if (json && c < 0x20 && (c == '\n' || c == '\r' || c == '\t')) {
			k = 1;
			e[en++] = '\\';
			e[en++] = c == '\n' ? 'n' : c == '\r' ? 'r' : 't';
		} else if (json && (c < 0x20 || c == 0x7f)) {
			k = 1;
			memcpy(e, "\\u00", 4);
			e[4] = hex[c >> 4];
			e[5] = hex[c & 15];
			en = 6;
		} else {
			k = 1;
			en = 0;
			if (json)
				e[en++] = '\\';
			e[en++] = '\\';
			e[en++] = 'x';
			e[en++] = hex[c >> 4];
			e[en++] = hex[c & 15];
		}
		size_t need = en ? en : k;
		if (need + keep > l->cap - l->n)
			return;
		if (en)
			put(l, e, en);
		else
			put(l, str + i, k);
		i += k;
	}
}

static void put_time(struct line *l)
{
	struct timespec ts;
	struct tm tm;
	char t[96];     /* room for any int fields, so nothing is cut */

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	snprintf(t, sizeof t, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ",
	    tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
	    tm.tm_min, tm.tm_sec, (int)(ts.tv_nsec / 1000000));
	puts_(l, t);
}

static void vfields(enum log_level lvl, const struct log_field *f, size_t nf,
    const char *fmt, va_list ap)
{
	char msg[LOG_MSG_MAX], buf[LOG_LINE_MAX];
	struct line l = { buf, 0, sizeof buf - 1 };     /* room for '\n' */
	int m;

	if (lvl > log_level)
		return;
	m = vsnprintf(msg, sizeof msg, fmt, ap);
	if (m < 0)
		m = 0;
	if ((size_t)m >= sizeof msg)
		m = sizeof msg - 1;
	if (log_format == LOG_TEXT) {
		put_time(&l);
		put(&l, " ", 1);
		puts_(&l, level_name[lvl]);
		put(&l, " ", 1);
		put_safe(&l, msg, (size_t)m, 0, 0);
	} else {
		puts_(&l, "{\"time\":\"");
		put_time(&l);
		puts_(&l, "\",\"level\":\"");
		puts_(&l, level_name[lvl]);
		puts_(&l, "\",\"message\":\"");
		put_safe(&l, msg, (size_t)m, 1, 2);
		put(&l, "\"", 1);
		for (size_t i = 0; i < nf; i++) {
			char num[48];
			size_t numlen = 0;
			int str = f[i].type == LF_T_STR;
			if (f[i].type == LF_T_INT)
				numlen = (size_t)snprintf(num, sizeof num, "%lld", f[i].i);
			else if (f[i].type == LF_T_DBL)
				/* JSON has no NaN or infinity. */
				numlen = (size_t)snprintf(num, sizeof num, "%.6g",
				    f[i].d == f[i].d && f[i].d - f[i].d == 0 ? f[i].d : 0);
			/* ,"key": then "" or the number, and the closing brace:
			 * a field is written whole (a string maybe cut) or not. */
			if (l.cap - l.n < strlen(f[i].key) + 5 + (str ? 3 : numlen + 1))
				break;
			put(&l, ",\"", 2);
			puts_(&l, f[i].key);
			put(&l, "\":", 2);
			if (str) {
				put(&l, "\"", 1);
				put_safe(&l, f[i].s, f[i].n, 1, 2);
				put(&l, "\"", 1);
			} else {
				put(&l, num, numlen);
			}
		}
		put(&l, "}", 1);
	}
	/* One write per line keeps lines whole when stderr is shared. */
	buf[l.n++] = '\n';
	if (write(2, buf, l.n) < 0)
		return;
}

void log_vmsg(enum log_level lvl, const char *fmt, va_list ap)
{
	vfields(lvl, NULL, 0, fmt, ap);
}

void log_msg(enum log_level lvl, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vfields(lvl, NULL, 0, fmt, ap);
	va_end(ap);
}

void log_fields(enum log_level lvl, const struct log_field *f, size_t nf,
    const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vfields(lvl, f, nf, fmt, ap);
	va_end(ap);
}
