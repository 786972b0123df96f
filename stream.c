/*
 * Server-Sent Events streams, in their own file so that the one transport
 * that only reads is whole in one place: the stream request (the token
 * rules are the bridge's), the response head, the keep-alive comments and
 * the end at exp.  Notifications reach a stream through the bridge's
 * fan-out, which frames each message once with stream_event() and queues
 * that one buffer on every stream, as it does one frame on every
 * websocket; slow streams are dropped by conn_send like slow websockets.
 */
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "bridge.h"
#include "config.h"
#include "jwt.h"
#include "log.h"
#include "serve.h"
#include "sse.h"
#include "stream.h"

/* Kernel send buffer of a stream, as for a websocket: PGWS_MAX_PENDING
 * stays the bound on what a stalled reader holds. */
#define SSE_SNDBUF 65536

static struct msg *keepalive;   /* ":\n\n", shared by every stream */

int stream_init(void)
{
	size_t n = sse_comment_size(NULL, 0);

	if (!(keepalive = msg_new(n)))
		return -1;
	sse_comment((char *)keepalive->data, NULL, 0);
	return 0;
}

void stream_fini(void)
{
	if (keepalive)
		msg_unref(keepalive);
	keepalive = NULL;
}

struct msg *stream_event(const char *p, size_t n)
{
	size_t len = sse_event_size(p, n, NULL, 0);
	struct msg *m;

	if (!len || len > UINT32_MAX || !(m = msg_new(len)))
		return NULL;
	sse_event((char *)m->data, p, n, NULL, 0);
	return m;
}

void stream_open(struct conn *c, const struct http_req *r)
{
	char target[256];
	struct session *s;
	double exp_at;
	int proto = 0;

	c->keepalive = 0;
	if (!(s = bridge_session(c, r, BR_STREAM, &proto, &exp_at)))
		return;
	c->s = s;
	srv.nsse++;         /* bridge_end undoes this */
	if (bridge_join(c) < 0)
		return;
	/*
	 * No Content-Length: the body ends when the connection does.
	 * X-Accel-Buffering asks nginx-like proxies not to hold events back.
	 */
	static const char pre[] = "HTTP/1.1 200 OK\r\nServer: pgws\r\n"
	    "Content-Type: text/event-stream; charset=utf-8\r\n"
	    "Cache-Control: no-cache\r\nX-Accel-Buffering: no\r\n";
	static const char post[] = "Connection: close\r\n\r\n";
	size_t cn = c->cors ? strlen(c->cors) : 0;
	struct msg *m = msg_new(sizeof pre - 1 + cn + sizeof post - 1);
	if (!m) {
		conn_close(c, "out of memory");
		return;
	}
	memcpy(m->data, pre, sizeof pre - 1);
	if (cn)
		memcpy(m->data + sizeof pre - 1, c->cors, cn);
	memcpy(m->data + sizeof pre - 1 + cn, post, sizeof post - 1);
	int sndbuf = SSE_SNDBUF;
	setsockopt(c->fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof sndbuf);
	c->state = CS_SSE;
	srv.st.sse_opened++;
	srv.st.http_requests++;
	c->exp_at = exp_at;
	c->next_ping = srv.now + (double)cfg.ping_interval;
	http_log_target(r->target, r->target_len, target, sizeof target);
	log_msg(L_INFO, "%s \"GET %s\" 200 stream channels=%u", c->addr,
	    target, s->nchan);
	int rc = conn_send(c, m);
	msg_unref(m);
	if (rc == 0 && cfg.meta_channel)
		bridge_meta(c, "ConnectionOpen");
}

double stream_due(const struct conn *c)
{
	return c->exp_at && c->exp_at < c->next_ping ? c->exp_at : c->next_ping;
}

void stream_timers(struct conn *c)
{
	if (c->exp_at && srv.now >= c->exp_at) {
		/*
		 * The end of the stream: the session ends now, what is queued
		 * still goes out.  An EventSource reconnects and its expired
		 * token then gets 401, which ends it for good.
		 */
		log_msg(L_INFO, "%s: stream ended: JWT expired", c->addr);
		bridge_end(c);
		c->state = CS_DRAIN;
		c->deadline = srv.now + (double)cfg.close_timeout;
		conn_mark_dirty(c);
		return;
	}
	if (srv.now >= c->next_ping) {
		c->next_ping = srv.now + (double)cfg.ping_interval;
		conn_send(c, keepalive);
	}
}
