/*
 * JSON (RFC 8259) without a tree: json_parse() validates a whole text in
 * one pass and hands back the top-level value as a slice of the caller's
 * bytes; json_get() and json_next() then walk into it on demand.  Nothing
 * here allocates, and no function reads outside the slices it is given.
 * A small emitter writes into a caller-owned buffer and fails loudly.
 */
#ifndef PGWS_JSON_H
#define PGWS_JSON_H

#include <stddef.h>

enum json_type {
	JSON_NONE = 0, JSON_OBJECT, JSON_ARRAY, JSON_STRING, JSON_NUMBER,
	JSON_TRUE, JSON_FALSE, JSON_NULL
};

/*
 * A value is a slice of the caller's text: p/n is its exact source text
 * (a string includes its quotes, an object its braces, with no surrounding
 * whitespace).  It borrows the text, which must outlive it.
 */
struct json_val {
	const char *p;
	size_t n;
	enum json_type type;
};

/*
 * Arrays and objects nested deeper are refused.  A NOTIFY payload (under
 * 8000 bytes) cannot nest deeper than 4000, so every payload PostgreSQL can
 * carry is routed by what it is, not by how deep it nests; the scanner's
 * bit stack costs JSON_MAX_DEPTH / 8 bytes of C stack.
 */
#define JSON_MAX_DEPTH 4096

/*
 * Validates all n bytes of s as one JSON text (whitespace around the value
 * allowed, nothing else; strict numbers; strings of valid UTF-8 without raw
 * control characters, with only the legal escapes and paired surrogate
 * escapes; nesting at most JSON_MAX_DEPTH).  Returns 0 and sets *root to a
 * slice of s, or -1.  It never reads outside s[0..n).
 */
int json_parse(const char *s, size_t n, struct json_val *root);

/*
 * Finds the member named key (NUL-terminated, compared with the member name
 * after unescaping) in the object *obj, which must come from json_parse(),
 * json_get() or json_next().  When a name occurs more than once the last
 * occurrence wins.  Returns 1 and sets *out to a slice of obj's text, or 0
 * when absent or when obj is not an object.
 */
int json_get(const struct json_val *obj, const char *key, struct json_val *out);

/*
 * Iterates the elements of an array or the members of an object; *pos is
 * the caller's cursor and must start at 0.  Returns 1 and sets *val (and
 * *key, a JSON_STRING slice, for objects; key may be NULL), or 0 at the end
 * or when container is neither an array nor an object.
 */
int json_next(const struct json_val *container, size_t *pos,
    struct json_val *key, struct json_val *val);

/*
 * Unescapes the string value *v into the caller's out[cap] as UTF-8.
 * Returns its length in bytes, or -1 if v is not a string or the value is
 * longer than cap.  A NUL is appended only when there is room for it (the
 * returned length is less than cap); it is never counted.  The value may
 * itself contain NUL bytes (from \u0000): see json_cstr() for C strings.
 */
long json_str(const struct json_val *v, char *out, size_t cap);

/*
 * Like json_str(), but always NUL-terminates: returns the length, or -1 if
 * v is not a string, the value and its NUL do not fit in cap, or the value
 * contains a NUL byte (which would silently shorten a C string).
 */
long json_cstr(const struct json_val *v, char *out, size_t cap);

/* Returns 1 if *v is a string whose unescaped value equals s[0..n), else 0. */
int json_str_eq(const struct json_val *v, const char *s, size_t n);

/*
 * Returns 1 and sets *out to the value of the number *v (nearest double,
 * by strtod in the C locale on a bounded copy), or 0 if v is not a number
 * or its text is longer than 400 characters.
 */
int json_num(const struct json_val *v, double *out);

/*
 * The NOTIFY routing hot path, one pass: returns 1 if s[0..n) is a valid
 * JSON text whose top-level value is an object with a member "channel"
 * (last one wins) that is a string.  Then *ch and *ch_len give its unescaped
 * value: a slice of s when the string has no escapes, else written into
 * the caller's buf[cap] (no NUL is promised).  Returns 0 otherwise,
 * including when the unescaped name does not fit in buf.
 */
int json_route_channel(const char *s, size_t n, const char **ch,
    size_t *ch_len, char *buf, size_t cap);

/*
 * The emitter appends to a caller-owned buffer.  When an append does not
 * fit, err becomes 1 and stays 1, that append writes nothing (len keeps its
 * earlier value) and all later appends are ignored: nothing is ever
 * truncated silently, so callers check err once at the end.  No NUL is
 * written; buf[0..len) is the output.
 */
struct json_out {
	char *buf;
	size_t cap, len;
	int err;
};

/* Starts empty output into the caller's buf[cap]; keeps a pointer to buf. */
void json_out_init(struct json_out *o, char *buf, size_t cap);

/* Appends s[0..n) verbatim (caller's bytes, copied). */
void json_raw(struct json_out *o, const char *s, size_t n);

/*
 * Appends s[0..n) as a quoted JSON string: escapes '"', '\\', control
 * characters (\b \f \n \r \t, others as \u00XX) and U+2028/U+2029 (so the
 * output is valid JavaScript too).  s is assumed to be valid UTF-8, which
 * the caller checks; other bytes are copied verbatim.
 */
void json_string(struct json_out *o, const char *s, size_t n);

/*
 * Appends v in fixed notation with decimals (0..17) digits after the
 * point, e.g. 1700000000.123456 for 6.  A non-finite v or a decimals out
 * of range sets err.
 */
void json_double(struct json_out *o, double v, int decimals);

/* Appends v as a decimal integer. */
void json_long(struct json_out *o, long long v);

/*
 * Appends the members of the object *obj (from json_parse, json_get or
 * json_next), without braces, each as written from its name to the end of
 * its value, joined by ',', leaving out every member whose unescaped name
 * equals key[0..keylen).  Returns how many members were written, or -1
 * (nothing appended) when obj is not an object.  Errors of o are sticky.
 */
long json_members_without(struct json_out *o, const struct json_val *obj,
    const char *key, size_t keylen);

#endif
