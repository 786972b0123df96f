/*
 * Server-Sent Events streams: a GET with Accept: text/event-stream on a
 * channel URL reads like a websocket in mode r, as a text/event-stream
 * response that never ends before the token's exp.
 */
#ifndef PGWS_STREAM_H
#define PGWS_STREAM_H

#include <stddef.h>

#include "conn.h"
#include "http.h"

/* Shared messages; 0, or -1 when out of memory. */
int stream_init(void);
void stream_fini(void);

/* Answers a stream request on c: the response head and CS_SSE, or a
 * refusal. */
void stream_open(struct conn *c, const struct http_req *r);

/* One event for payload p[0..n), framed once for every stream that reads
 * it (refs 1, the caller's); NULL when out of memory or too large. */
struct msg *stream_event(const char *p, size_t n);

/* The instant c's next timer (keep-alive comment, exp) is due. */
double stream_due(const struct conn *c);

/* Runs c's due timers: a keep-alive comment every PGWS_PING_INTERVAL, the
 * end of the stream at the token's exp. */
void stream_timers(struct conn *c);

#endif
