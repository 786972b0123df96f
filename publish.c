/*
 * HTTP publish, in its own file so that the one transport that only
 * writes is whole in one place: the request body read off the connection,
 * the envelopes (the bridge's, as for a websocket message), the NOTIFYs
 * queued on the connection's affinity (so one client's messages keep
 * their order), and the answer, sent only once PostgreSQL acknowledged
 * every NOTIFY.  One request is handled at a time per connection:
 * requests pipelined behind it wait in c->in, which keeps their order.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bridge.h"
#include "config.h"
#include "db.h"
#include "json.h"
#include "log.h"
#include "publish.h"
#include "serve.h"
#include "ws.h"

#define JSON_LIT(o, lit) json_raw((o), (lit), sizeof(lit) - 1)

const int publish_codes[PUB_NCODES] = { 200, 400, 401, 403, 411, 413, 417, 501, 503 };

void publish_count(int status)
{
	int i = 0;

	while (i < PUB_NCODES && publish_codes[i] != status)
		i++;
	srv.st.pub_status[i]++;
}

/*
 * Ends the request with an answer: counted, logged, the session and the
 * body freed; a kept-alive connection goes on with what waits in c->in.
 */
static void answer(struct conn *c, int status, const char *ctype,
    const char *body, size_t blen, const char *extra)
{
	char *hdrs = bridge_headers(c, extra);
	uint32_t nchan = c->s ? c->s->nchan : 0;

	if (!hdrs) {
		conn_close(c, "out of memory");
		return;
	}
	publish_count(status);
	c->state = CS_HTTP;
	log_msg(status == 200 ? L_DEBUG : L_INFO, "%s \"POST\" %d publish "
	    "channels=%u %.3fms", c->addr, status, nchan, (srv.now - c->t0) * 1000);
	if (c->s)
		bridge_end(c);
	free(c->msg);
	c->msg = NULL;
	c->msg_len = c->msg_cap = 0;
	c->body_len = 0;
	serve_respond(c, NULL, status, ctype, hdrs, body, blen, 0);
	free(hdrs);
	free(c->cors);
	c->cors = NULL;
	if (c->state == CS_HTTP) {
		c->t0 = srv.now;
		c->deadline = srv.now + (double)cfg.handshake_timeout;
		if (c->in_len) {
			c->reparse = 1;
			conn_mark_dirty(c);
		}
	}
}

static void answer_text(struct conn *c, int status, const char *text,
    const char *extra)
{
	answer(c, status, "text/plain; charset=utf-8", text, strlen(text), extra);
}

void publish_start(struct conn *c, const struct http_req *r)
{
	struct session *s;
	double exp_at;
	size_t len;
	int proto = 0, st, ex;

	if (!(s = bridge_session(c, r, BR_PUBLISH, &proto, &exp_at)))
		return;
	c->s = s;
	st = http_body_length(r, (size_t)cfg.max_message, &len);
	if (st) {
		char why[128];
		snprintf(why, sizeof why, "%s", st == 413 ?
		    "Message too big (PGWS_MAX_MESSAGE_SIZE)" : st == 411 ?
		    "Send the body with a Content-Length (chunked is not read)" :
		    st == 501 ? "Transfer-Encoding not supported" :
		    "Invalid body framing");
		bridge_reject(c, r, BR_PUBLISH, st, why, NULL);
		return;
	}
	ex = http_expect(r);
	if (ex == 417) {
		bridge_reject(c, r, BR_PUBLISH, 417, "Only Expect: 100-continue is "
		    "understood", NULL);
		return;
	}
	if (!(c->msg = malloc(len ? len : 1))) {
		conn_close(c, "out of memory");
		return;
	}
	c->msg_cap = (uint32_t)(len ? len : 1);
	c->msg_len = 0;
	c->body_len = (uint32_t)len;
	c->state = CS_BODY;
	c->deadline = srv.now + (double)cfg.handshake_timeout;
	if (ex == 100 && len) {
		static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
		struct msg *m = msg_new(sizeof cont - 1);
		if (!m) {
			conn_close(c, "out of memory");
			return;
		}
		memcpy(m->data, cont, sizeof cont - 1);
		conn_send(c, m);
		msg_unref(m);
	}
}

/* The 200 body: the channels and the first envelope's
 * message_delivered_at, exactly as the envelope has it. */
static void answer_ok(struct conn *c)
{
	struct session *s = c->s;
	size_t cap = 96;
	struct json_out o;
	char num[32], *buf;

	for (uint32_t i = 0; i < s->nchan; i++)
		cap += 6 * (size_t)s->chan[i].len + 3;
	if (!(buf = malloc(cap))) {
		conn_close(c, "out of memory");
		return;
	}
	json_out_init(&o, buf, cap);
	JSON_LIT(&o, "{\"channels\":[");
	for (uint32_t i = 0; i < s->nchan; i++) {
		if (i)
			JSON_LIT(&o, ",");
		json_string(&o, s->chan[i].name, s->chan[i].len);
	}
	int n = snprintf(num, sizeof num, "%lld.%06lld", c->pub_stamp / 1000000,
	    c->pub_stamp % 1000000);
	JSON_LIT(&o, "],\"message_delivered_at\":");
	json_raw(&o, num, (size_t)n);
	JSON_LIT(&o, "}\n");
	if (o.err)
		answer_text(c, 503, "Out of memory\n", NULL);
	else
		answer(c, 200, "application/json", buf, o.len, NULL);
	free(buf);
}

/* The body is complete: one NOTIFY per granted channel, or a refusal. */
static void publish_send(struct conn *c)
{
	static char env[8000];
	struct session *s = c->s;
	const char *p = (const char *)c->msg;
	size_t n = c->msg_len;
	uint32_t queued = 0;
	long e;

	if (ws_utf8(WS_UTF8_OK, (const unsigned char *)p, n) != WS_UTF8_OK) {
		answer_text(c, 400, "Body is not UTF-8 text\n", NULL);
		return;
	}
	/* While the listener is down nothing published would be delivered
	 * here; say so now rather than hold the request. */
	if (!db_listener_up()) {
		answer_text(c, 503, "Database unavailable, try again later\n",
		    "Retry-After: 1\r\n");
		return;
	}
	/* Every envelope must fit before any is queued: all or none. */
	for (uint32_t i = 0; i < s->nchan; i++)
		if (bridge_envelope(env, sizeof env - 1, "WebsocketMessage",
		    s->chan[i].name, s->chan[i].len, p, n, s, NULL) < 0) {
			answer_text(c, 413, "Message too long for a NOTIFY (the "
			    "envelope must stay under 8000 bytes)\n", NULL);
			return;
		}
	c->pub_failed = 0;
	for (uint32_t i = 0; i < s->nchan; i++) {
		e = bridge_envelope(env, sizeof env - 1, "WebsocketMessage",
		    s->chan[i].name, s->chan[i].len, p, n, s,
		    i == 0 ? &c->pub_stamp : NULL);
		if (e < 0 || db_publish_ack(conn_tag(c), (unsigned)conn_slot(c),
		    env, (size_t)e) < 0) {
			srv.st.publish_failed++;
			c->pub_failed = 1;
			break;
		}
		queued++;
	}
	if (!queued) {
		answer_text(c, 503, "Database queue full, try again later\n",
		    "Retry-After: 1\r\n");
		return;
	}
	c->pub_wait = queued;
	c->state = CS_PUB;
}

void publish_input(struct conn *c, const unsigned char *p, size_t n)
{
	if (n > c->body_len - c->msg_len)
		n = c->body_len - c->msg_len;
	memcpy(c->msg + c->msg_len, p, n);
	c->msg_len += (uint32_t)n;
	/* A body that arrives is not idle. */
	c->deadline = srv.now + (double)cfg.handshake_timeout;
	if (c->msg_len == c->body_len)
		publish_send(c);
}

void publish_take(struct conn *c)
{
	uint32_t k = c->body_len - c->msg_len;

	if (k > c->in_len)
		k = c->in_len;
	if (k) {
		memcpy(c->msg + c->msg_len, c->in, k);
		c->msg_len += k;
		memmove(c->in, c->in + k, c->in_len - k);
		c->in_len -= k;
	}
	if (c->msg_len == c->body_len)
		publish_send(c);
}

void publish_result(struct conn *c, int ok)
{
	if (!ok)
		c->pub_failed = 1;
	if (c->pub_wait && --c->pub_wait)
		return;
	if (c->pub_failed)
		answer_text(c, 503, "Message could not be published\n",
		    "Retry-After: 1\r\n");
	else
		answer_ok(c);
}
