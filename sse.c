/*
 * Server-Sent Events framing.  It exists apart from the event loop so that
 * the one subtle rule, that CR, LF and CRLF inside a payload all end a
 * "data:" line, is a pure function with its own tests and fuzz target, and
 * so that an event is framed once per message, not once per reader.
 */
#include <stdint.h>
#include <string.h>

#include "sse.h"

/*
 * Counts the lines of d[0..n) when CR, LF and CRLF all end a line, and the
 * bytes left once the line ends are taken out.  A line end at the very end
 * still starts one more (empty) line, so "" has 1 line and "a\n" has 2.
 */
static size_t
count_lines(const char *d, size_t n, size_t *content)
{
	size_t i, lines = 1, eol = 0;

	for (i = 0; i < n; i++) {
		if (d[i] == '\r' && i + 1 < n && d[i + 1] == '\n') {
			lines++;
			eol += 2;
			i++;
		} else if (d[i] == '\r' || d[i] == '\n') {
			lines++;
			eol++;
		}
	}
	*content = n - eol;
	return lines;
}

/*
 * Writes every line of d[0..n) as pre[0..pn) + line + "\n" into out and
 * returns the bytes written; the caller has sized out with count_lines().
 */
static size_t
put_lines(char *out, const char *pre, size_t pn, const char *d, size_t n)
{
	size_t i = 0, s, o = 0;

	for (;;) {
		s = i;
		while (i < n && d[i] != '\r' && d[i] != '\n')
			i++;
		memcpy(out + o, pre, pn);
		o += pn;
		if (i > s)
			memcpy(out + o, d + s, i - s);
		o += i - s;
		out[o++] = '\n';
		if (i == n)
			return o;
		if (d[i] == '\r' && i + 1 < n && d[i + 1] == '\n')
			i++;
		i++;
	}
}

/*
 * "data: " with its space, always: EventSource drops one space after the
 * colon, so a payload line that itself starts with a space keeps it.
 */
static const char data_pre[] = "data: ";
static const char id_pre[] = "id: ";
static const char com_pre[] = ":";

/*
 * Size of the lines of d[0..n) each framed as pre + line + "\n", plus
 * extra bytes, or 0 on overflow.  With lines <= n + 1 and content <= n,
 * the total is at most n + (n + 1) * (pn + 1) + extra, checked up front.
 */
static size_t
framed_size(const char *d, size_t n, size_t pn, size_t extra)
{
	size_t lines, content;

	if (extra > SIZE_MAX / 2 ||
	    n >= (SIZE_MAX / 2 - extra) / (pn + 2) - 1)
		return 0;
	lines = count_lines(d, n, &content);
	return content + lines * (pn + 1) + extra;
}

size_t
sse_event_size(const char *data, size_t n, const char *id, size_t idn)
{
	size_t extra = 1;	/* the empty line that ends the event */

	if (idn) {
		/* Bounds first: nothing is read for a size that cannot be. */
		if (idn > SIZE_MAX / 4)
			return 0;
		if (memchr(id, '\r', idn) || memchr(id, '\n', idn) ||
		    memchr(id, '\0', idn))
			return 0;
		extra += sizeof id_pre - 1 + idn + 1;
	}
	return framed_size(data, n, sizeof data_pre - 1, extra);
}

size_t
sse_event(char *out, const char *data, size_t n, const char *id, size_t idn)
{
	size_t size = sse_event_size(data, n, id, idn), o;

	if (size == 0)
		return 0;
	o = put_lines(out, data_pre, sizeof data_pre - 1, data, n);
	if (idn) {
		memcpy(out + o, id_pre, sizeof id_pre - 1);
		o += sizeof id_pre - 1;
		memcpy(out + o, id, idn);
		o += idn;
		out[o++] = '\n';
	}
	out[o++] = '\n';
	return o;
}

size_t
sse_comment_size(const char *text, size_t n)
{
	return framed_size(text, n, sizeof com_pre - 1, 1);
}

size_t
sse_comment(char *out, const char *text, size_t n)
{
	size_t size = sse_comment_size(text, n), o;

	if (size == 0)
		return 0;
	o = put_lines(out, com_pre, sizeof com_pre - 1, text, n);
	out[o++] = '\n';
	return o;
}
