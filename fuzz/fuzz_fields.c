/*
 * libFuzzer target for the field readers of http.c that pgws applies to a
 * parsed request head: http_body_length(), http_expect(),
 * http_ws_protocol(), http_cookie() and http_accepts().  The input is a request head; when
 * http_parse() accepts it, each reader is compared with a plain reference
 * written here that first joins every field of the name into one string,
 * and their promises are checked (slices inside the head, a body length
 * never above max, 413 exactly one past it).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "../http.c"

/* Every value of the fields called name, joined by sep, NUL-terminated. */
static char *
joined(const struct http_req *r, const char *name, char sep, int *count)
{
	size_t k, n = 0;
	char *s = malloc(1);

	if (!s)
		abort();
	*count = 0;
	for (k = 0; k < r->nhdr; k++) {
		if (!eq_nocase(r->hdr[k].name, r->hdr[k].name_len, name))
			continue;
		s = realloc(s, n + r->hdr[k].value_len + 2);
		if (!s)
			abort();
		if ((*count)++)
			s[n++] = sep;
		memcpy(s + n, r->hdr[k].value, r->hdr[k].value_len);
		n += r->hdr[k].value_len;
	}
	s[n] = '\0';
	return s;
}

/* Trims SP/HTAB off [*s, *e). */
static void
trim(const char *v, size_t *s, size_t *e)
{
	while (*s < *e && (v[*s] == ' ' || v[*s] == '\t'))
		(*s)++;
	while (*e > *s && (v[*e - 1] == ' ' || v[*e - 1] == '\t'))
		(*e)--;
}

static int
ref_ws_protocol(const struct http_req *r, char **tok)
{
	int count, pgws = 0, others = 0, bad = 0;
	char *v = joined(r, "Sec-WebSocket-Protocol", ',', &count);
	size_t n = strlen(v), i = 0, s, e, k, dots, part;

	*tok = NULL;
	while (i <= n) {
		for (e = i; e < n && v[e] != ','; e++)
			;
		s = i;
		i = e + 1;
		trim(v, &s, &e);
		if (s == e)
			continue;
		for (k = s; k < e; k++)
			if (!is_tchar((unsigned char)v[k])) {
				free(v);
				return -1;
			}
		if (e - s == 4 && !memcmp(v + s, "pgws", 4)) {
			pgws++;
			continue;
		}
		others++;
		dots = part = 0;
		for (k = s; k < e; k++) {
			if (v[k] == '.') {
				if (!part)
					bad = 1;
				dots++;
				part = 0;
			} else if (strchr("-_", v[k]) || (v[k] >= '0' &&
			    v[k] <= '9') || ((v[k] | 32) >= 'a' &&
			    (v[k] | 32) <= 'z'))
				part++;
			else
				bad = 1;
		}
		if (dots != 2 || !part)
			bad = 1;
		free(*tok);
		*tok = strndup(v + s, e - s);
	}
	free(v);
	if (!pgws)
		return 0;
	if (pgws > 1 || others > 1 || bad)
		return -1;
	return others ? 2 : 1;
}

/* Cookie reference: pairs of all fields joined by ';'. */
static int
ref_cookie(const struct http_req *r, const char *name, char **val)
{
	int count;
	char *v = joined(r, "Cookie", ';', &count);
	size_t n = strlen(v), i = 0, s, e, eq, ne, vs, ve, k;
	int rc = 0;

	*val = NULL;
	while (i <= n) {
		for (e = i; e < n && v[e] != ';'; e++)
			;
		s = i;
		i = e + 1;
		trim(v, &s, &e);
		for (eq = s; eq < e && v[eq] != '='; eq++)
			;
		if (eq == e)
			continue;
		ne = eq;
		while (ne > s && (v[ne - 1] == ' ' || v[ne - 1] == '\t'))
			ne--;
		if (ne - s != strlen(name) || memcmp(v + s, name, ne - s))
			continue;
		vs = eq + 1;
		ve = e;
		trim(v, &vs, &ve);
		if (ve - vs >= 2 && v[vs] == '"' && v[ve - 1] == '"')
			vs++, ve--;
		for (k = vs; k < ve; k++)
			if (!is_cookie_octet((unsigned char)v[k])) {
				free(*val);
				*val = NULL;
				free(v);
				return -1;
			}
		if (vs == ve)
			continue;
		if (*val && (strlen(*val) != ve - vs ||
		    memcmp(*val, v + vs, ve - vs))) {
			free(*val);
			*val = NULL;
			rc = -1;
			break;
		}
		if (!*val)
			*val = strndup(v + vs, ve - vs);
		rc = 1;
	}
	free(v);
	return rc;
}

static void
inside(const char *p, size_t n, const char *b, size_t len)
{
	if (p < b || p > b + len || n > (size_t)(b + len - p))
		abort();
}

static void
check_body(const struct http_req *r, size_t max)
{
	size_t len = 12345, l2;
	int rc = http_body_length(r, max, &len);

	if (rc != 0 && rc != 400 && rc != 411 && rc != 413 && rc != 501)
		abort();
	if (rc != 0 && len != 0)
		abort();
	if (rc != 0)
		return;
	if (len > max)
		abort();
	/* Exactly len fits; one byte less room is 413. */
	if (http_body_length(r, len, &l2) != 0 || l2 != len)
		abort();
	if (len > 0 && http_body_length(r, len - 1, &l2) != 413)
		abort();
}

/* Text of s without surrounding SP/HTAB, in place. */
static char *
strip(char *s)
{
	size_t n;

	s += strspn(s, " \t");
	n = strlen(s);
	while (n && (s[n - 1] == ' ' || s[n - 1] == '\t'))
		s[--n] = '\0';
	return s;
}

/* http_accepts() by string functions over the joined Accept fields. */
static int
ref_accepts(const struct http_req *r, const char *type)
{
	int count, yes = 0;
	char *v = joined(r, "Accept", ',', &count), *el = v, *next;

	for (; el && !yes; el = next) {
		char *par, *media;
		next = strchr(el, ',');
		if (next)
			*next++ = '\0';
		par = strchr(el, ';');
		if (par)
			*par++ = '\0';
		media = strip(el);
		if (strlen(media) != strlen(type) || strncasecmp(media, type, strlen(type)))
			continue;
		yes = 1;
		while (par) {
			char *p = par, *q;
			par = strchr(par, ';');
			if (par)
				*par++ = '\0';
			p += strspn(p, " \t");
			if ((p[0] != 'q' && p[0] != 'Q') || p[1] != '=')
				continue;
			q = strip(p + 2);
			if (q[0] != '0')
				continue;
			q++;
			if (*q == '.')
				q++;
			q += strspn(q, "0");
			if (!*q)
				yes = 0;
		}
	}
	free(v);
	return yes;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct http_req r;
	const char *b = (const char *)data, *tok, *val;
	char *rtok, *rval;
	size_t tn, vn;
	int rc, e, count;
	char *te;

	if (http_parse(b, size, &r) <= 0)
		return 0;

	check_body(&r, SIZE_MAX);
	check_body(&r, 0);
	check_body(&r, size);
	/*
	 * No transfer coding: 0 or 413 (a length past SIZE_MAX), never a
	 * framing error after http_parse; with one, never a length.
	 */
	te = joined(&r, "Transfer-Encoding", ',', &count);
	{
		size_t len;
		rc = http_body_length(&r, SIZE_MAX, &len);
		if (!count && rc != 0 && rc != 413)
			abort();
		if (count && (rc == 0 || rc == 413))
			abort();
	}
	free(te);

	e = http_expect(&r);
	if (e != 0 && e != 100 && e != 417)
		abort();
	if (e == 100 && r.minor != 1)
		abort();

	rc = http_ws_protocol(&r, &tok, &tn);
	if (rc != ref_ws_protocol(&r, &rtok))
		abort();
	if (rc == 2) {
		inside(tok, tn, b, size);
		if (!rtok || strlen(rtok) != tn || memcmp(rtok, tok, tn))
			abort();
	} else if (tok != NULL || tn != 0)
		abort();
	free(rtok);

	rc = http_cookie(&r, "pgws_token", &val, &vn);
	if (rc != ref_cookie(&r, "pgws_token", &rval))
		abort();
	if (rc == 1) {
		inside(val, vn, b, size);
		if (!rval || strlen(rval) != vn || memcmp(rval, val, vn) || !vn)
			abort();
	} else if (val != NULL || vn != 0)
		abort();
	free(rval);

	if (http_accepts(&r, "text/event-stream") != ref_accepts(&r, "text/event-stream"))
		abort();
	return 0;
}
