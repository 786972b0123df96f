/*
 * JSON per RFC 8259, scanned in place.  Every value is validated by one
 * scanner, scan_value(), which walks nested containers with a bit stack
 * instead of recursion; json_parse() runs it over the whole text, and
 * json_next() runs it again over each element it hands out, so a forged or
 * stale json_val can make the accessors fail but never read out of bounds.
 * Network bytes are only ever read below an explicit length.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"

/*
 * Byte classes.  STOP_SCAN marks the bytes the string scanner cannot skip
 * blindly: the quote, the backslash, control characters (which RFC 8259
 * forbids raw) and every byte of a multi-byte UTF-8 sequence (which must be
 * checked).  STOP_EMIT marks what json_string() cannot copy as is: the
 * quote, the backslash, control characters and 0xE2, the lead byte of
 * U+2028 and U+2029.
 */
#define STOP_SCAN 1
#define STOP_EMIT 2

static const unsigned char bytecls[256] = {
	3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3,  /* 00 */
	3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3,  /* 10 */
	0, 0, 3, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,  /* 20 */
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,  /* 30 */
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,  /* 40 */
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 3, 0, 0, 0,  /* 50 */
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,  /* 60 */
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,  /* 70 */
	1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,  /* 80 */
	1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,  /* 90 */
	1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,  /* a0 */
	1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,  /* b0 */
	1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,  /* c0 */
	1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,  /* d0 */
	1, 1, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,  /* e0 */
	1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,  /* f0 */
};

/*
 * Eight bytes at a time: ones(b) repeats byte b in every lane.  any_zero()
 * is non-zero exactly when some lane of x is 0, any_below() when some lane
 * is below b (b <= 0x80): subtracting borrows out of such a lane into its
 * top bit, and "& ~x" discards lanes whose top bit was already set.
 */
#define LANES 0x0101010101010101ULL
#define TOPS  0x8080808080808080ULL

static uint64_t
any_zero(uint64_t x)
{
	return (x - LANES) & ~x & TOPS;
}

static uint64_t
any_below(uint64_t x, unsigned char b)
{
	return (x - LANES * b) & ~x & TOPS;
}

static uint64_t
load8(const unsigned char *p)
{
	uint64_t x;

	memcpy(&x, p, 8);
	return x;
}

static int
is_digit(char c)
{
	return c >= '0' && c <= '9';
}

static size_t
skip_ws(const char *s, size_t n, size_t i)
{
	while (i < n && (s[i] == ' ' || s[i] == '\n' || s[i] == '\r' ||
	    s[i] == '\t'))
		i++;
	return i;
}

/* Reads exactly four hex digits at s (the caller checked they exist). */
static int
hex4(const char *s, uint32_t *v)
{
	uint32_t r = 0;
	unsigned char c;
	int k;

	for (k = 0; k < 4; k++) {
		c = (unsigned char)s[k];
		if (c >= '0' && c <= '9')
			c -= '0';
		else if ((c | 0x20) >= 'a' && (c | 0x20) <= 'f')
			c = (unsigned char)((c | 0x20) - 'a' + 10);
		else
			return 0;
		r = r << 4 | c;
	}
	*v = r;
	return 1;
}

/*
 * Returns the length of the well-formed UTF-8 sequence at s[0..avail), or
 * 0.  The ranges of the second byte come from the table in RFC 3629
 * section 4; they are what rules out overlong forms (C0, C1, E0 80..9F,
 * F0 80..8F), surrogates (ED A0..BF) and code points above U+10FFFF.
 */
static size_t
utf8_seq(const unsigned char *s, size_t avail)
{
	unsigned char c = s[0], lo = 0x80, hi = 0xBF;
	size_t len, k;

	if (c < 0x80)
		return 1;
	if (c < 0xC2)
		return 0;
	if (c < 0xE0) {
		len = 2;
	} else if (c < 0xF0) {
		len = 3;
		if (c == 0xE0)
			lo = 0xA0;
		else if (c == 0xED)
			hi = 0x9F;
	} else if (c < 0xF5) {
		len = 4;
		if (c == 0xF0)
			lo = 0x90;
		else if (c == 0xF4)
			hi = 0x8F;
	} else {
		return 0;
	}
	if (avail < len || s[1] < lo || s[1] > hi)
		return 0;
	for (k = 2; k < len; k++)
		if ((s[k] & 0xC0) != 0x80)
			return 0;
	return len;
}

/* Writes code point cp (a scalar value) as UTF-8; returns its length. */
static size_t
utf8_put(uint32_t cp, unsigned char *out)
{
	if (cp < 0x80) {
		out[0] = (unsigned char)cp;
		return 1;
	}
	if (cp < 0x800) {
		out[0] = (unsigned char)(0xC0 | cp >> 6);
		out[1] = (unsigned char)(0x80 | (cp & 0x3F));
		return 2;
	}
	if (cp < 0x10000) {
		out[0] = (unsigned char)(0xE0 | cp >> 12);
		out[1] = (unsigned char)(0x80 | (cp >> 6 & 0x3F));
		out[2] = (unsigned char)(0x80 | (cp & 0x3F));
		return 3;
	}
	out[0] = (unsigned char)(0xF0 | cp >> 18);
	out[1] = (unsigned char)(0x80 | (cp >> 12 & 0x3F));
	out[2] = (unsigned char)(0x80 | (cp >> 6 & 0x3F));
	out[3] = (unsigned char)(0x80 | (cp & 0x3F));
	return 4;
}

/*
 * Decodes the escape at s[*ip] (a backslash) within s[0..n) into out[0..4),
 * advancing *ip past it.  Returns the number of bytes written, or 0 for an
 * unknown escape, bad hex, or a surrogate escape that is not a high one
 * immediately followed by a low one: a lone surrogate has no UTF-8 form.
 * The scanner and the unescapers share this so they cannot disagree.
 */
static size_t
unescape1(const char *s, size_t n, size_t *ip, unsigned char *out)
{
	size_t i = *ip;
	uint32_t cp, lo;

	if (n - i < 2)
		return 0;
	switch (s[i + 1]) {
	case '"': case '\\': case '/':
		out[0] = (unsigned char)s[i + 1];
		break;
	case 'b': out[0] = '\b'; break;
	case 'f': out[0] = '\f'; break;
	case 'n': out[0] = '\n'; break;
	case 'r': out[0] = '\r'; break;
	case 't': out[0] = '\t'; break;
	case 'u':
		if (n - i < 6 || !hex4(s + i + 2, &cp))
			return 0;
		i += 6;
		if (cp >= 0xDC00 && cp <= 0xDFFF)
			return 0;
		if (cp >= 0xD800 && cp <= 0xDBFF) {
			if (n - i < 6 || s[i] != '\\' || s[i + 1] != 'u' ||
			    !hex4(s + i + 2, &lo) || lo < 0xDC00 || lo > 0xDFFF)
				return 0;
			i += 6;
			cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
		}
		*ip = i;
		return utf8_put(cp, out);
	default:
		return 0;
	}
	*ip = i + 2;
	return 1;
}

/*
 * Scans the string whose opening quote is s[i]; returns the index just past
 * its closing quote, or 0 if it is malformed.  Sets *esc when it holds any
 * escape, so that callers can use the raw bytes when it does not.
 */
static size_t
scan_string(const char *s, size_t n, size_t i, int *esc)
{
	const unsigned char *u = (const unsigned char *)s;
	unsigned char tmp[4];
	uint64_t x;
	size_t k;

	*esc = 0;
	i++;
	for (;;) {
		/* Plain ASCII is the common case; skip it eight at a time. */
		while (n - i >= 8) {
			x = load8(u + i);
			if ((x & TOPS) | any_below(x, 0x20) |
			    any_zero(x ^ LANES * '"') | any_zero(x ^ LANES * '\\'))
				break;
			i += 8;
		}
		while (i < n && !(bytecls[u[i]] & STOP_SCAN))
			i++;
		if (i >= n)
			return 0;
		if (u[i] == '"')
			return i + 1;
		if (u[i] == '\\') {
			*esc = 1;
			if (unescape1(s, n, &i, tmp) == 0)
				return 0;
			continue;
		}
		if (u[i] < 0x20 || (k = utf8_seq(u + i, n - i)) == 0)
			return 0;
		i += k;
	}
}

/* Scans a number at s[i] per the RFC 8259 grammar; returns its end or 0. */
static size_t
scan_number(const char *s, size_t n, size_t i)
{
	if (i < n && s[i] == '-')
		i++;
	if (i >= n)
		return 0;
	if (s[i] == '0')
		i++;
	else if (s[i] >= '1' && s[i] <= '9')
		while (i < n && is_digit(s[i]))
			i++;
	else
		return 0;
	if (i < n && s[i] == '.') {
		if (++i >= n || !is_digit(s[i]))
			return 0;
		while (i < n && is_digit(s[i]))
			i++;
	}
	if (i < n && (s[i] == 'e' || s[i] == 'E')) {
		if (++i < n && (s[i] == '+' || s[i] == '-'))
			i++;
		if (i >= n || !is_digit(s[i]))
			return 0;
		while (i < n && is_digit(s[i]))
			i++;
	}
	return i;
}

static size_t
scan_lit(const char *s, size_t n, size_t i, const char *lit, size_t len)
{
	if (n - i < len || memcmp(s + i, lit, len) != 0)
		return 0;
	return i + len;
}

static enum json_type
type_of(char c)
{
	switch (c) {
	case '{': return JSON_OBJECT;
	case '[': return JSON_ARRAY;
	case '"': return JSON_STRING;
	case 't': return JSON_TRUE;
	case 'f': return JSON_FALSE;
	case 'n': return JSON_NULL;
	default: return JSON_NUMBER;
	}
}

/*
 * Scans one value starting exactly at s[i], bounded by n, with at most
 * maxdepth containers open at once.  Returns the index just past the value
 * and its type in *t, or 0 if it is malformed.  Open containers live in a
 * bit stack, one bit each (1 for an object), of JSON_MAX_DEPTH bits; no
 * recursion means no stack to exhaust.
 */
#define TOP_IS_OBJ(objs, depth) \
	((objs[((depth) - 1) / 64] >> (((depth) - 1) % 64)) & 1)

static size_t
scan_value(const char *s, size_t n, size_t i, unsigned maxdepth,
    enum json_type *t)
{
	uint64_t objs[(JSON_MAX_DEPTH + 63) / 64];
	unsigned depth = 0;
	int esc;

	if (i >= n)
		return 0;
	*t = type_of(s[i]);
value:
	if (i >= n)
		return 0;
	switch (s[i]) {
	case '{':
	case '[':
		if (depth == maxdepth)
			return 0;
		if (s[i] == '{')
			objs[depth / 64] |= (uint64_t)1 << (depth % 64);
		else
			objs[depth / 64] &= ~((uint64_t)1 << (depth % 64));
		depth++;
		i = skip_ws(s, n, i + 1);
		if (i < n && s[i] == (TOP_IS_OBJ(objs, depth) ? '}' : ']')) {
			i++;
			goto close;
		}
		if (TOP_IS_OBJ(objs, depth))
			goto member;
		goto value;
	case '"':
		i = scan_string(s, n, i, &esc);
		break;
	case 't':
		i = scan_lit(s, n, i, "true", 4);
		break;
	case 'f':
		i = scan_lit(s, n, i, "false", 5);
		break;
	case 'n':
		i = scan_lit(s, n, i, "null", 4);
		break;
	default:
		i = scan_number(s, n, i);
		break;
	}
	if (i == 0)
		return 0;
after:
	/* A value ended: leave, or expect a separator or a closing bracket. */
	if (depth == 0)
		return i;
	i = skip_ws(s, n, i);
	if (i >= n)
		return 0;
	if (s[i] == ',') {
		i = skip_ws(s, n, i + 1);
		if (TOP_IS_OBJ(objs, depth))
			goto member;
		goto value;
	}
	if (s[i] != (TOP_IS_OBJ(objs, depth) ? '}' : ']'))
		return 0;
	i++;
close:
	depth--;
	goto after;
member:
	if (i >= n || s[i] != '"' || (i = scan_string(s, n, i, &esc)) == 0)
		return 0;
	i = skip_ws(s, n, i);
	if (i >= n || s[i] != ':')
		return 0;
	i = skip_ws(s, n, i + 1);
	goto value;
}

int
json_parse(const char *s, size_t n, struct json_val *root)
{
	size_t i = skip_ws(s, n, 0), end;
	enum json_type t;

	end = scan_value(s, n, i, JSON_MAX_DEPTH, &t);
	if (end == 0 || skip_ws(s, n, end) != n)
		return -1;
	root->p = s + i;
	root->n = end - i;
	root->type = t;
	return 0;
}

int
json_next(const struct json_val *c, size_t *pos, struct json_val *key,
    struct json_val *val)
{
	const char *s;
	size_t n, i, end;
	enum json_type t;
	int esc;

	if (c == NULL || (c->type != JSON_OBJECT && c->type != JSON_ARRAY) ||
	    c->n < 2)
		return 0;
	/* Stop before the closing bracket, so no element can swallow it. */
	s = c->p;
	n = c->n - 1;
	i = *pos;
	if (i == 0) {
		i = skip_ws(s, n, 1);
	} else {
		i = skip_ws(s, n, i);
		if (i >= n || s[i] != ',')
			return 0;
		i = skip_ws(s, n, i + 1);
	}
	if (i >= n)
		return 0;
	if (c->type == JSON_OBJECT) {
		if (s[i] != '"' || (end = scan_string(s, n, i, &esc)) == 0)
			return 0;
		if (key != NULL) {
			key->p = s + i;
			key->n = end - i;
			key->type = JSON_STRING;
		}
		i = skip_ws(s, n, end);
		if (i >= n || s[i] != ':')
			return 0;
		i = skip_ws(s, n, i + 1);
	}
	end = scan_value(s, n, i, JSON_MAX_DEPTH, &t);
	if (end == 0)
		return 0;
	val->p = s + i;
	val->n = end - i;
	val->type = t;
	*pos = end;
	return 1;
}

long
json_members_without(struct json_out *o, const struct json_val *obj,
    const char *key, size_t keylen)
{
	struct json_val k, v;
	size_t pos = 0;
	long n = 0;

	if (obj == NULL || obj->type != JSON_OBJECT)
		return -1;
	while (json_next(obj, &pos, &k, &v)) {
		if (json_str_eq(&k, key, keylen))
			continue;
		if (n++)
			json_raw(o, ",", 1);
		/* The member as written: name, colon, value and the spaces. */
		json_raw(o, k.p, (size_t)(v.p + v.n - k.p));
	}
	return n;
}

int
json_str_eq(const struct json_val *v, const char *s, size_t n)
{
	const char *p, *bs;
	size_t m, i = 0, j = 0, run, k;
	unsigned char tmp[4];

	if (v == NULL || v->type != JSON_STRING || v->n < 2)
		return 0;
	p = v->p + 1;
	m = v->n - 2;
	while (i < m) {
		bs = memchr(p + i, '\\', m - i);
		run = bs ? (size_t)(bs - p) - i : m - i;
		if (run > n - j || (run && memcmp(p + i, s + j, run) != 0))
			return 0;
		i += run;
		j += run;
		if (i == m)
			break;
		if ((k = unescape1(p, m, &i, tmp)) == 0 || k > n - j ||
		    memcmp(tmp, s + j, k) != 0)
			return 0;
		j += k;
	}
	return j == n;
}

int
json_get(const struct json_val *obj, const char *key, struct json_val *out)
{
	struct json_val k, v;
	size_t pos = 0, kn;
	int found = 0;

	if (obj == NULL || obj->type != JSON_OBJECT)
		return 0;
	kn = strlen(key);
	/* Walk every member: the last occurrence of a name is the one that counts. */
	while (json_next(obj, &pos, &k, &v)) {
		if (json_str_eq(&k, key, kn)) {
			*out = v;
			found = 1;
		}
	}
	return found;
}

long
json_str(const struct json_val *v, char *out, size_t cap)
{
	const char *p, *bs;
	size_t m, i = 0, len = 0, run, k;
	unsigned char tmp[4];

	if (v == NULL || v->type != JSON_STRING || v->n < 2)
		return -1;
	p = v->p + 1;
	m = v->n - 2;
	while (i < m) {
		bs = memchr(p + i, '\\', m - i);
		run = bs ? (size_t)(bs - p) - i : m - i;
		if (run > cap - len)
			return -1;
		if (run)
			memcpy(out + len, p + i, run);
		i += run;
		len += run;
		if (i == m)
			break;
		if ((k = unescape1(p, m, &i, tmp)) == 0 || k > cap - len)
			return -1;
		memcpy(out + len, tmp, k);
		len += k;
	}
	if (len < cap)
		out[len] = '\0';
	return (long)len;
}

long
json_cstr(const struct json_val *v, char *out, size_t cap)
{
	long len = json_str(v, out, cap);

	if (len < 0 || (size_t)len >= cap || memchr(out, '\0', (size_t)len))
		return -1;
	return len;
}

int
json_num(const struct json_val *v, double *out)
{
	char tmp[401];
	double d;

	if (v == NULL || v->type != JSON_NUMBER || v->n == 0 ||
	    v->n >= sizeof tmp)
		return 0;
	/*
	 * strtod wants a NUL-terminated string and accepts more than JSON
	 * does (hex, "inf"), so it gets a copy that is checked first.  It
	 * reads '.' as the decimal point because pgws never sets a locale.
	 */
	memcpy(tmp, v->p, v->n);
	tmp[v->n] = '\0';
	if (scan_number(tmp, v->n, 0) != v->n)
		return 0;
	d = strtod(tmp, NULL);
	if (!isfinite(d))
		return 0;
	*out = d;
	return 1;
}

/* Does the member name s[0..n) (with quotes) read "channel"? */
static int
is_channel(const char *s, size_t n, int esc)
{
	struct json_val k;

	if (!esc)
		return n == 9 && memcmp(s + 1, "channel", 7) == 0;
	k.p = s;
	k.n = n;
	k.type = JSON_STRING;
	return json_str_eq(&k, "channel", 7);
}

int
json_route_channel(const char *s, size_t n, const char **ch, size_t *ch_len,
    char *buf, size_t cap)
{
	size_t i, ks, ke, vs, ve, cs = 0, ce = 0;
	int kesc, vesc = 0, cesc = 0;
	enum json_type t;
	struct json_val v;
	long len;

	/*
	 * This is json_parse() with the top-level object unrolled, so that
	 * member names are looked at while validating, in the same pass.
	 * Members are one level down, hence the depth budget of one less.
	 */
	i = skip_ws(s, n, 0);
	if (i >= n || s[i] != '{')
		return 0;
	i = skip_ws(s, n, i + 1);
	if (i < n && s[i] == '}') {
		i++;
	} else {
		for (;;) {
			if (i >= n || s[i] != '"')
				return 0;
			ks = i;
			if ((ke = scan_string(s, n, i, &kesc)) == 0)
				return 0;
			i = skip_ws(s, n, ke);
			if (i >= n || s[i] != ':')
				return 0;
			vs = skip_ws(s, n, i + 1);
			if (vs < n && s[vs] == '"')
				ve = scan_string(s, n, vs, &vesc);
			else
				ve = scan_value(s, n, vs, JSON_MAX_DEPTH - 1, &t);
			if (ve == 0)
				return 0;
			/* The last "channel" wins, even when it is no string. */
			if (is_channel(s + ks, ke - ks, kesc)) {
				cs = ce = 0;
				if (s[vs] == '"') {
					cs = vs;
					ce = ve;
					cesc = vesc;
				}
			}
			i = skip_ws(s, n, ve);
			if (i < n && s[i] == ',') {
				i = skip_ws(s, n, i + 1);
				continue;
			}
			if (i < n && s[i] == '}') {
				i++;
				break;
			}
			return 0;
		}
	}
	if (skip_ws(s, n, i) != n || ce == 0)
		return 0;
	if (!cesc) {
		*ch = s + cs + 1;
		*ch_len = ce - cs - 2;
		return 1;
	}
	v.p = s + cs;
	v.n = ce - cs;
	v.type = JSON_STRING;
	if ((len = json_str(&v, buf, cap)) < 0)
		return 0;
	*ch = buf;
	*ch_len = (size_t)len;
	return 1;
}

void
json_out_init(struct json_out *o, char *buf, size_t cap)
{
	o->buf = buf;
	o->cap = cap;
	o->len = 0;
	o->err = 0;
}

void
json_raw(struct json_out *o, const char *s, size_t n)
{
	if (o->err || n > o->cap - o->len) {
		o->err = 1;
		return;
	}
	if (n)
		memcpy(o->buf + o->len, s, n);
	o->len += n;
}

void
json_string(struct json_out *o, const char *s, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *u = (const unsigned char *)s;
	size_t start = o->len, i = 0, j;
	uint64_t x;
	char e[6];
	size_t k;

	if (o->err)
		return;
	json_raw(o, "\"", 1);
	while (i < n && !o->err) {
		/* Copy the longest run that needs no escaping in one go. */
		for (j = i; n - j >= 8; j += 8) {
			x = load8(u + j);
			if (any_below(x, 0x20) | any_zero(x ^ LANES * '"') |
			    any_zero(x ^ LANES * '\\') | any_zero(x ^ LANES * 0xE2))
				break;
		}
		while (j < n && !(bytecls[u[j]] & STOP_EMIT))
			j++;
		json_raw(o, s + i, j - i);
		if ((i = j) == n)
			break;
		if (u[i] == 0xE2) {
			/*
			 * U+2028 and U+2029 are legal in JSON but end a line in
			 * JavaScript before ES2019; any other 0xE2 sequence is
			 * copied, one byte now and the rest as plain bytes.
			 */
			if (n - i >= 3 && u[i + 1] == 0x80 &&
			    (u[i + 2] == 0xA8 || u[i + 2] == 0xA9)) {
				json_raw(o, u[i + 2] == 0xA8 ? "\\u2028" :
				    "\\u2029", 6);
				i += 3;
			} else {
				json_raw(o, s + i, 1);
				i++;
			}
			continue;
		}
		e[0] = '\\';
		k = 2;
		switch (u[i]) {
		case '"': e[1] = '"'; break;
		case '\\': e[1] = '\\'; break;
		case '\b': e[1] = 'b'; break;
		case '\f': e[1] = 'f'; break;
		case '\n': e[1] = 'n'; break;
		case '\r': e[1] = 'r'; break;
		case '\t': e[1] = 't'; break;
		default:
			e[1] = 'u';
			e[2] = '0';
			e[3] = '0';
			e[4] = hex[u[i] >> 4];
			e[5] = hex[u[i] & 15];
			k = 6;
			break;
		}
		json_raw(o, e, k);
		i++;
	}
	json_raw(o, "\"", 1);
	/* Leave no half string behind: err is set, len is as before. */
	if (o->err)
		o->len = start;
}

void
json_double(struct json_out *o, double v, int decimals)
{
	/* Enough for -DBL_MAX in full (309 digits) and 17 decimals. */
	char tmp[340];
	int k;

	if (o->err)
		return;
	if (!isfinite(v) || decimals < 0 || decimals > 17) {
		o->err = 1;
		return;
	}
	/* "%f" uses '.' because pgws never sets a locale. */
	k = snprintf(tmp, sizeof tmp, "%.*f", decimals, v);
	if (k < 0 || (size_t)k >= sizeof tmp) {
		o->err = 1;
		return;
	}
	json_raw(o, tmp, (size_t)k);
}

void
json_long(struct json_out *o, long long v)
{
	char tmp[24];
	size_t k = sizeof tmp;
	/* Negate in unsigned arithmetic so that LLONG_MIN works too. */
	unsigned long long u = v < 0 ? 0ULL - (unsigned long long)v :
	    (unsigned long long)v;

	do {
		tmp[--k] = (char)('0' + u % 10);
		u /= 10;
	} while (u != 0);
	if (v < 0)
		tmp[--k] = '-';
	json_raw(o, tmp + k, sizeof tmp - k);
}
