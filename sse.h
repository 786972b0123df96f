/*
 * Server-Sent Events framing (the text/event-stream format of the HTML
 * standard): one message payload becomes the bytes of one event, computed
 * once and then shared by every reader of the channel.  Pure: no I/O, no
 * allocation; sizes first, then writes into the caller's buffer.
 */
#ifndef PGWS_SSE_H
#define PGWS_SSE_H

#include <stddef.h>

/*
 * Exact number of bytes sse_event() writes for payload data[0..n) and the
 * optional event id id[0..idn) (idn 0: no "id:" line).  Returns 0 when the
 * id contains CR, LF or NUL (it could not survive the framing) or when the
 * size would overflow; every valid event is at least 8 bytes long.
 */
size_t sse_event_size(const char *data, size_t n, const char *id, size_t idn);

/*
 * Writes the event into the caller's out, which must hold
 * sse_event_size(data, n, id, idn) bytes, and returns that count (0 and
 * nothing written when the size is 0).  Every CR, LF and CRLF of the
 * payload is a line end: each line becomes "data: <line>\n", an "id:" line
 * follows when idn > 0, and an empty line ends the event.  An EventSource
 * then delivers the payload with every CRLF and CR turned into LF.
 */
size_t sse_event(char *out, const char *data, size_t n, const char *id,
    size_t idn);

/*
 * Exact size of, and writer for, a comment block: one ":<text>\n" line per
 * line of text[0..n) (CR, LF and CRLF end lines, as above), then an empty
 * line.  EventSource ignores it; it keeps proxies and idle timers from
 * closing the stream.  n == 0 gives ":\n\n".  Size 0 means overflow.
 */
size_t sse_comment_size(const char *text, size_t n);
size_t sse_comment(char *out, const char *text, size_t n);

#endif
