/*
 * The bridge between websockets and the database: the upgrade (token
 * checked, session built, channels joined), websocket input turned into
 * NOTIFYs, notifications fanned out to readers, meta events, and the
 * timers of an open websocket.
 */
#ifndef PGWS_BRIDGE_H
#define PGWS_BRIDGE_H

#include <stddef.h>

#include "conn.h"
#include "http.h"

/* Loads the JWT keys from cfg and allocates what the bridge needs; 0, or
 * -1 with a message in err (errcap bytes). */
int bridge_init(char *err, size_t errcap);
/*
 * For SIGHUP: when PGWS_JWT_SECRET is an @file, loads it again and, if it
 * gives keys, puts them in place of the current ones for every token
 * checked from now on (open websockets are not checked again).  Returns 1
 * with the number of keys in *nkeys; 0 when the secret is not an @file;
 * -1 with the reason in err[errcap] when the file cannot be read, holds
 * no valid key or starts with '{' without being a JWK (a file caught
 * half-written), and then the keys in force stay.
 */
int bridge_reload_keys(size_t *nkeys, char *err, size_t errcap);

/* Frees what bridge_init allocated. */
void bridge_fini(void);

/* What a request is after: bridge_session and bridge_reject count and log
 * each kind apart. */
enum { BR_UPGRADE, BR_STREAM, BR_PUBLISH };

/*
 * PGWS_ALLOWED_ORIGINS against r's Origin: 0 when there is no allowlist
 * or no Origin, 1 for a listed origin (c->cors then holds its CORS
 * header lines), -1 for any other origin.
 */
int bridge_origin(struct conn *c, const struct http_req *r);

/*
 * The session r's token grants, for a request of kind what: the origin
 * checked, the token found (path, Authorization, subprotocol, cookie),
 * verified and granted, the mode checked (r for a stream, w for a
 * publish).  Sets *proto when an upgrade offered the pgws subprotocol and
 * *exp_at to the monotonic instant of the token's exp (0 none).  Returns
 * the session (the caller owns it, c->s), or NULL after answering the
 * refusal.
 */
struct session *bridge_session(struct conn *c, const struct http_req *r,
    int what, int *proto, double *exp_at);

/* Joins every channel of c->s as a reader; 0, or -1 when c was closed. */
int bridge_join(struct conn *c);

/* extra (may be NULL) followed by c's CORS header lines, in a new string
 * the caller frees; NULL when out of memory. */
char *bridge_headers(const struct conn *c, const char *extra);

/* Answers a refused request (status, reason as text/plain, extra header
 * lines or NULL), counted and logged by kind; c closes after it. */
void bridge_reject(struct conn *c, const struct http_req *r, int what,
    int status, const char *why, const char *extra);

/*
 * The envelope of SPEC section 3 into out (cap bytes): its length, or -1
 * when it does not fit.  *at (when not NULL) gets its
 * message_delivered_at in microseconds.
 */
long bridge_envelope(char *out, size_t cap, const char *event,
    const char *ch, size_t chlen, const char *payload, size_t plen,
    const struct session *s, long long *at);

/* Publishes a meta event (ConnectionOpen, ConnectionClose) for c's
 * session when PGWS_META_CHANNEL is set. */
void bridge_meta(struct conn *c, const char *event);

/* Answers an upgrade request on c: 101 and a websocket, or a rejection. */
void bridge_upgrade(struct conn *c, const struct http_req *r);

/* Decodes websocket bytes p[0..len) read on c (unmasked in place). */
void bridge_input(struct conn *c, unsigned char *p, size_t len);

/* Sends a close frame with code and reason; c waits for the peer's. */
void bridge_fail(struct conn *c, int code, const char *reason);

/* Ends c's session (from conn_close): leaves its channels, sends the
 * ConnectionClose meta event, frees it. */
void bridge_end(struct conn *c);

/* Runs an open websocket's due timers: token expiry, silence, ping. */
void bridge_timers(struct conn *c);

/*
 * Handles every event the database queued (db_next), in order.  Returns 1
 * when pgws must stop because the listener is lost and not supervised
 * (the caller closes websockets with 1011 and exits 1), else 0.
 */
int bridge_db_events(void);

#endif
