/*
 * HTTP serving: request heads parsed off a connection, and the answers
 * that are not websockets (/health, /metrics, static files, errors).
 */
#ifndef PGWS_SERVE_H
#define PGWS_SERVE_H

#include <stddef.h>

#include "conn.h"
#include "http.h"

/* Parses and answers the request heads buffered in c->in; an upgrade
 * request goes to bridge_upgrade. */
void serve_input(struct conn *c);

/*
 * Queues a complete response: status line, Server, Content-Length (blen),
 * Content-Type when ctype is set, the extra header lines (each ending in
 * CRLF) and the body (none when body is NULL or head_only).  r, when set,
 * is logged.  A connection that is not kept alive drains and closes.
 */
void serve_respond(struct conn *c, const struct http_req *r, int status,
    const char *ctype, const char *extra, const char *body, size_t blen,
    int head_only);

/* serve_respond with a text/plain body. */
void serve_text(struct conn *c, const struct http_req *r, int status,
    const char *text, const char *extra);

/* Logs one answered request: client, method, path (tokens redacted,
 * escaped), status, bytes of body and time since the request began. */
void serve_log(struct conn *c, const struct http_req *r, int status,
    size_t bytes);

#endif
