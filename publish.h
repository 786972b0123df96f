/*
 * HTTP publish: a POST to a channel URL publishes its body as a websocket
 * message would be, and is answered once PostgreSQL has acknowledged it.
 */
#ifndef PGWS_PUBLISH_H
#define PGWS_PUBLISH_H

#include <stddef.h>

#include "conn.h"
#include "http.h"

/* The statuses counted apart in pgws_http_publish_total; any other is
 * counted as "other" (srv.st.pub_status[PUB_NCODES]). */
#define PUB_NCODES 9
extern const int publish_codes[PUB_NCODES];

/* Counts one publish answer of status. */
void publish_count(int status);

/*
 * Starts a publish request on c: token, mode, body length and Expect are
 * checked (a refusal is answered and c closes), then c reads the body
 * (CS_BODY).  The caller then drops the head from c->in and calls
 * publish_take.
 */
void publish_start(struct conn *c, const struct http_req *r);

/* In CS_BODY: takes what c->in holds of the body (the rest of c->in is
 * the next request), and publishes once the body is complete. */
void publish_take(struct conn *c);

/* In CS_BODY: body bytes p[0..n) read from the socket (never more than
 * the body still missing). */
void publish_input(struct conn *c, const unsigned char *p, size_t n);

/* In CS_PUB: one NOTIFY of c's publish was committed (ok) or failed. */
void publish_result(struct conn *c, int ok);

#endif
