/*
 * The bridge, in its own file so that what pgws is for reads alone: a
 * websocket is opened from a token, its messages become NOTIFYs in the
 * envelope SPEC section 3 describes, and notifications become frames,
 * framed once and queued on every reader.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include "bridge.h"
#include "config.h"
#include "db.h"
#include "json.h"
#include "jwt.h"
#include "log.h"
#include "publish.h"
#include "serve.h"
#include "stream.h"
#include "ws.h"

/* Kernel send buffer of a websocket (Linux doubles it for bookkeeping). */
#define WS_SNDBUF 65536

/* Appends a string literal; the compiler counts its length. */
#define JSON_LIT(o, lit) json_raw((o), (lit), sizeof(lit) - 1)

static struct {
	struct msg *ping;       /* one empty ping frame, shared by all */
	struct jwt_keyset keys;
	char *jwt_work;         /* jwt_verify's scratch space */
	size_t jwt_work_cap;
	long long last_stamp;   /* last message_delivered_at handed out, µs */
	/* The channel the upgrade being handled asked for (decoded), for
	 * its log lines; NULL outside bridge_upgrade or when none. */
	const char *asked;
	size_t asked_len;
} br;

/*
 * Strictly increasing Unix time in microseconds: PostgreSQL folds equal
 * payloads sent in one transaction, so no two envelopes may share one.
 */
static long long stamp(void)
{
	long long t = (long long)(srv.wall * 1e6);
	if (t <= br.last_stamp)
		t = br.last_stamp + 1;
	br.last_stamp = t;
	return t;
}

long bridge_envelope(char *out, size_t cap, const char *event,
    const char *ch, size_t chlen, const char *payload, size_t plen,
    const struct session *s, long long *at)
{
	struct json_out o;

	json_out_init(&o, out, cap);
	JSON_LIT(&o, "{\"event\":");
	json_string(&o, event, strlen(event));
	JSON_LIT(&o, ",\"channel\":");
	json_string(&o, ch, chlen);
	JSON_LIT(&o, ",\"payload\":");
	json_string(&o, payload, plen);
	JSON_LIT(&o, ",\"claims\":{");
	json_raw(&o, s->claims, s->claims_len);
	if (s->claims_len)
		JSON_LIT(&o, ",");
	JSON_LIT(&o, "\"message_delivered_at\":");
	long long us = stamp();
	char num[32];
	if (at)
		*at = us;
	int nl = snprintf(num, sizeof num, "%lld.%06lld", us / 1000000, us % 1000000);
	json_raw(&o, num, (size_t)nl);
	JSON_LIT(&o, "}}");
	if (o.err)
		return -1;
	return (long)o.len;
}

/* Closes c's websocket with code and reason; c stays until the peer answers. */
void bridge_fail(struct conn *c, int code, const char *reason)
{
	unsigned char p[WS_CTL_MAX];
	size_t n = ws_close_payload(p, code, reason, reason ? strlen(reason) : 0);

	if (c->state != CS_WS)
		return;
	struct log_field f[] = { LF_STR("client", c->addr), LF_INT("code", code),
	    LF_STR("reason", reason ? reason : "") };
	log_fields(code == WS_CLOSE_NORMAL || code == WS_CLOSE_GOING_AWAY ? L_DEBUG : L_INFO,
	    f, LOG_NF(f), "%s: closing websocket: %d %s", c->addr, code,
	    reason ? reason : "");
	if (conn_frame(c, WS_OP_CLOSE, p, n) < 0)
		return;
	c->state = CS_CLOSING;
	c->deadline = srv.now + (double)cfg.close_timeout;
}

void bridge_meta(struct conn *c, const char *event)
{
	char payload[8000], env[8000];
	size_t n = 0;
	struct session *s = c->s;

	for (uint32_t i = 0; i < s->nchan; i++) {
		if (n + s->chan[i].len + 1 >= sizeof payload) {
			log_msg(L_WARN, "%s: %s event not published: channel list "
			    "too long for a NOTIFY", c->addr, event);
			return;
		}
		if (i)
			payload[n++] = ',';
		memcpy(payload + n, s->chan[i].name, s->chan[i].len);
		n += s->chan[i].len;
	}
	long e = bridge_envelope(env, sizeof env - 1, event, cfg.meta_channel,
	    strlen(cfg.meta_channel), payload, n, s, NULL);
	if (e < 0 || db_publish(0, (unsigned)conn_slot(c), env, (size_t)e) < 0)
		log_msg(L_WARN, "%s: %s event not published", c->addr, event);
}

/* A complete client message: one NOTIFY per granted channel. */
static void ws_message(struct conn *c, const unsigned char *p, size_t n)
{
	char env[8000];
	struct session *s = c->s;

	if (!(s->mode & JWT_MODE_W)) {
		srv.st.msgs_in_dropped++;
		return;
	}
	srv.st.msgs_in++;
	for (uint32_t i = 0; i < s->nchan; i++) {
		/* PostgreSQL refuses payloads of 8000 bytes or more. */
		long e = bridge_envelope(env, sizeof env - 1, "WebsocketMessage",
		    s->chan[i].name, s->chan[i].len, (const char *)p, n, s, NULL);
		if (e < 0) {
			bridge_fail(c, WS_CLOSE_TOO_BIG, "Message too long for a NOTIFY "
			    "(the envelope must stay under 8000 bytes)");
			return;
		}
		if (db_publish(conn_tag(c), (unsigned)conn_slot(c), env,
		    (size_t)e) < 0) {
			srv.st.publish_failed++;
			bridge_fail(c, WS_CLOSE_TRY_AGAIN, "Database queue full, try again later");
			return;
		}
	}
}

static void on_publish_failed(uint64_t tag, const char *why)
{
	uint32_t slot = (uint32_t)tag;
	struct conn *c;

	srv.st.publish_failed++;
	if (tag == 0 || slot >= (uint32_t)cfg.max_connections) {
		log_msg(L_WARN, "event not published: %s", why);
		return;
	}
	c = &srv.conns[slot];
	if (c->fd < 0 || c->state == CS_DEAD || c->gen != (uint32_t)(tag >> 32))
		return;
	log_msg(L_WARN, "%s: message not published: %s", c->addr, why);
	if (c->state == CS_PUB) {
		publish_result(c, 0);
		return;
	}
	bridge_fail(c, WS_CLOSE_INTERNAL, "Message could not be published");
}

/* A publish request's NOTIFY was committed. */
static void on_published(uint64_t tag)
{
	uint32_t slot = (uint32_t)tag;
	struct conn *c;

	if (slot >= (uint32_t)cfg.max_connections)
		return;
	c = &srv.conns[slot];
	if (c->fd >= 0 && c->state == CS_PUB && c->gen == (uint32_t)(tag >> 32))
		publish_result(c, 1);
}

/*
 * Logs a notification that could not be delivered: at most one line a
 * second, the next one saying how many were not logged meanwhile.
 */
static void dropped_notify(const char *ch, size_t chlen, const char *why)
{
	static double last = -1;
	static unsigned long quiet;

	srv.st.notifies_dropped++;
	if (last >= 0 && srv.now - last < 1.0) {
		quiet++;
		return;
	}
	last = srv.now;
	log_msg(L_WARN, "notification for %.*s not delivered: %s (%lu more not "
	    "logged in the last second)", (int)(chlen > 200 ? 200 : chlen), ch,
	    why, quiet);
	quiet = 0;
}

/* A notification from the database: route, frame once, fan out. */
static void on_notify(const char *payload, size_t len)
{
	/* An unescaped channel name is never longer than its payload. */
	static char buf[8192];
	const char *ch;
	size_t chlen;
	struct chan *c;

	srv.st.notifies++;
	if (!json_route_channel(payload, len, &ch, &chlen, buf, sizeof buf)) {
		ch = cfg.listen_channel;
		chlen = strlen(ch);
	}
	c = chan_find(&srv.chans, ch, chlen);
	if (!c) {
		srv.st.notifies_unrouted++;
		return;
	}
	if (ws_utf8(WS_UTF8_OK, (const unsigned char *)payload, len) != WS_UTF8_OK) {
		dropped_notify(ch, chlen, "not UTF-8 text");
		return;
	}
	/*
	 * One framing per transport, made when its first reader comes up
	 * and shared by every reader of that transport.
	 */
	struct msg *m = NULL, *ev = NULL;
	/*
	 * conn_send may drop reader i, which swaps the last reader into its
	 * place; the pin keeps the channel itself alive until the loop ends.
	 */
	chan_pin(c);
	for (uint32_t i = 0; i < c->n; ) {
		uint32_t before = c->n;
		struct conn *r = &srv.conns[c->readers[i].id];
		if (r->state == CS_WS) {
			if (!m) {
				if (!(m = msg_frame(WS_OP_TEXT, payload, len))) {
					dropped_notify(ch, chlen, "out of memory");
					break;
				}
				m->t_arr = srv.now;     /* read from the listener this turn */
			}
			if (conn_send(r, m) == 0)
				srv.st.msgs_out++;
		} else if (r->state == CS_SSE) {
			if (!ev) {
				if (!(ev = stream_event(payload, len))) {
					dropped_notify(ch, chlen, "out of memory");
					break;
				}
				ev->t_arr = srv.now;
			}
			if (conn_send(r, ev) == 0) {
				srv.st.msgs_out++;
				srv.st.sse_events++;
			}
		}
		if (c->n == before)
			i++;
	}
	chan_unpin(&srv.chans, c);
	if (m)
		msg_unref(m);
	if (ev)
		msg_unref(ev);
	conn_enforce_total();
}

/* Returns 1 when pgws must stop: the listener is lost for good. */
/*
 * The listener is back.  Notifications committed while it was down (and
 * in the moment before its loss was seen) never reach this instance, and
 * nothing in PostgreSQL can replay them; readers of the meta channel are
 * told, so an application can refetch what it may have missed.  The event
 * is this instance's own, so it is delivered here, not published.
 */
static void listener_back(double down_s)
{
	char ev[512];
	struct json_out o;

	if (!cfg.meta_channel)
		return;
	json_out_init(&o, ev, sizeof ev);
	JSON_LIT(&o, "{\"event\":\"ListenerReconnected\",\"channel\":");
	json_string(&o, cfg.meta_channel, strlen(cfg.meta_channel));
	char num[64];
	int n = snprintf(num, sizeof num, ",\"payload\":\"%.0f\",\"claims\":{}}",
	    down_s * 1000);
	json_raw(&o, num, (size_t)n);
	if (!o.err)
		on_notify(ev, o.len);
}

static int on_listener(int up)
{
	static double down_at;

	if (up) {
		log_msg(L_INFO, "listener connection re-established");
		listener_back(srv.now - down_at);
		return 0;
	}
	down_at = srv.now;
	if (cfg.check_interval > 0) {
		log_msg(L_WARN, "listener connection lost; reconnecting");
		return 0;
	}
	/*
	 * Without supervision a lost listener ends pgws, for a supervisor to
	 * restart it: the loop closes every websocket with 1011 and main
	 * returns 1.
	 */
	log_msg(L_ERROR, "listener connection lost and PGWS_CHECK_LISTENER_INTERVAL "
	    "is not set: closing every websocket and exiting");
	return 1;
}

int bridge_db_events(void)
{
	struct db_event ev;
	int stop = 0;

	while (db_next(&ev))
		switch (ev.kind) {
		case DB_EV_NOTIFY:
			on_notify(ev.data, ev.len);
			break;
		case DB_EV_LISTENER_DOWN:
		case DB_EV_LISTENER_UP:
			stop |= on_listener(ev.kind == DB_EV_LISTENER_UP);
			break;
		case DB_EV_PUBLISH_FAILED:
			on_publish_failed(ev.tag, ev.data);
			break;
		case DB_EV_PUBLISHED:
			on_published(ev.tag);
			break;
		}
	return stop;
}

/*
 * Refuses a request of the kind what (BR_UPGRADE, BR_STREAM, BR_PUBLISH)
 * with status and the reason as a text/plain body, counted and logged;
 * the connection closes after the answer (a publish body may be unread).
 * A listed Origin gets its CORS headers, so a page can read the reason.
 */
void bridge_reject(struct conn *c, const struct http_req *r, int what,
    int status, const char *why, const char *extra)
{
	static const char *const kind[] = { "websocket", "stream", "publish" };
	char body[256], *hdrs;
	int n = snprintf(body, sizeof body, "%s\n", why);
	/* Reasons are short texts of ours and of jwt.c; never cut one. */
	if (n < 0 || (size_t)n >= sizeof body)
		snprintf(body, sizeof body, "%s\n", http_reason(status));
	if (what == BR_UPGRADE) {
		switch (status) {
		case 401: srv.st.rej_401++; break;
		case 403: srv.st.rej_403++; break;
		case 426: srv.st.rej_426++; break;
		case 503: srv.st.rej_503++; break;
		default: srv.st.rej_400++; break;
		}
		srv.st.ws_rejected++;
	} else if (what == BR_STREAM) {
		srv.st.sse_rejected++;
	} else {
		publish_count(status);
	}
	char ch[256];
	struct log_field f[] = { LF_STR("client", c->addr), LF_INT("status", status),
	    LF_STR("reason", why), LF_MEM("channel", br.asked, br.asked_len) };
	if (br.asked)
		http_log_escape(br.asked, br.asked_len, ch, sizeof ch);
	log_fields(L_INFO, f, br.asked ? 4 : 3, "%s: %s rejected: %d %s%s%s%s",
	    c->addr, kind[what], status, why, br.asked ? " (channel \"" : "",
	    br.asked ? ch : "", br.asked ? "\")" : "");
	c->keepalive = 0;
	if (!(hdrs = bridge_headers(c, extra))) {
		conn_close(c, "out of memory");
		return;
	}
	serve_text(c, r, status, body, hdrs);
	free(hdrs);
}

char *bridge_headers(const struct conn *c, const char *extra)
{
	size_t a = extra ? strlen(extra) : 0, b = c->cors ? strlen(c->cors) : 0;
	char *h = malloc(a + b + 1);

	if (h) {
		memcpy(h, extra ? extra : "", a);
		memcpy(h + a, c->cors ? c->cors : "", b);
		h[a + b] = 0;
	}
	return h;
}

static void reject(struct conn *c, const struct http_req *r, int status,
    const char *why, const char *extra)
{
	bridge_reject(c, r, BR_UPGRADE, status, why, extra);
}

/*
 * Checks what RFC 6455 asks of an upgrade request and computes the
 * Sec-WebSocket-Accept value into accept.  Returns 0, or -1 after
 * rejecting the request.
 */
static int upgrade_headers(struct conn *c, const struct http_req *r,
    char accept[WS_ACCEPT_LEN + 1])
{
	const struct http_hdr *h;

	if (r->method_len != sizeof "GET" - 1 ||
	    memcmp(r->method, "GET", sizeof "GET" - 1)) {
		reject(c, r, 400, "WebSocket upgrade requires GET", NULL);
		return -1;
	}
	if (r->minor != 1) {
		reject(c, r, 400, "WebSocket upgrade requires HTTP/1.1", NULL);
		return -1;
	}
	if (!http_header_has_token(r, "Connection", "upgrade")) {
		reject(c, r, 400, "Missing Connection: Upgrade", NULL);
		return -1;
	}
	h = http_header(r, "Sec-WebSocket-Version");
	if (!h || h->value_len != sizeof "13" - 1 ||
	    memcmp(h->value, "13", sizeof "13" - 1)) {
		reject(c, r, 426, "Unsupported WebSocket version (13 only)",
		    "Sec-WebSocket-Version: 13\r\n");
		return -1;
	}
	h = http_header(r, "Sec-WebSocket-Key");
	if (!h || ws_accept(h->value, h->value_len, accept) < 0) {
		reject(c, r, 400, "Missing or invalid Sec-WebSocket-Key", NULL);
		return -1;
	}
	return 0;
}

int bridge_origin(struct conn *c, const struct http_req *r)
{
	const struct http_hdr *o = http_header(r, "Origin");
	const char *list = cfg.allowed_origins;

	if (!list || !o)
		return 0;
	if (!http_origin_allowed(list, strlen(list), o->value, o->value_len))
		return -1;
	if (!c->cors) {
		/* Origin values that match are short and printable. */
		size_t n = o->value_len + 128;
		if (!(c->cors = malloc(n)))
			return 1;
		snprintf(c->cors, n, "Access-Control-Allow-Origin: %.*s\r\n"
		    "Access-Control-Allow-Credentials: true\r\nVary: Origin\r\n",
		    (int)o->value_len, o->value);
	}
	return 1;
}

/*
 * May the pgws_token cookie stand for a token?  Only with an origin
 * allowlist (cookies without one invite cross-site websocket hijacking),
 * and only for a listed Origin or for a request without Origin that the
 * browser does not mark as coming from another site (same-origin GETs,
 * such as an EventSource of the page pgws serves, carry no Origin).
 */
static int cookie_allowed(const struct http_req *r, int origin)
{
	const struct http_hdr *f;

	if (!cfg.allowed_origins || origin < 0)
		return 0;
	if (origin > 0)
		return 1;
	f = http_header(r, "Sec-Fetch-Site");
	return !f || (f->value_len == 11 && !memcmp(f->value, "same-origin", 11)) ||
	    (f->value_len == 4 && !memcmp(f->value, "none", 4));
}

/*
 * Finds the token and the channel the path asks for, percent-decoded into
 * asked (cap bytes): *asked_len is its length, or -2 when the path names
 * none.  The token in the path wins (/<channel>/<jwt>, and /<jwt> when
 * the segment has a token's shape: a gateway's header must not replace
 * the client's token); then, with the
 * path /<channel> or /, an Authorization Bearer header, a
 * Sec-WebSocket-Protocol "pgws" + token (upgrades), the pgws_token cookie
 * (cookie_allowed); without any of those, /<jwt>.  *proto is set when
 * an upgrade offered the pgws subprotocol.  Returns 0, or -1 after
 * rejecting the request.
 */
static int find_token(struct conn *c, const struct http_req *r, int what,
    int origin, const char **tok, size_t *toklen, char *asked, size_t cap,
    long *asked_len, int *proto)
{
	const struct http_hdr *h = http_header(r, "Authorization");
	struct http_seg seg[3];
	const char *ot = NULL;
	size_t on = 0;
	int nseg, pr = 0;

	/* One trailing slash is tolerated: "/chan/" is "/chan". */
	nseg = http_target_split(r->target, r->target_len, seg, 3);
	if (nseg > 0 && seg[nseg - 1].n == 0)
		nseg--;
	if (nseg > 2)
		nseg = -1;
	if (what == BR_UPGRADE) {
		pr = http_ws_protocol(r, &ot, &on);
		if (pr < 0) {
			bridge_reject(c, r, what, 400, "Invalid Sec-WebSocket-Protocol", NULL);
			return -1;
		}
		*proto = pr > 0;
	}
	if (nseg == 2 || (nseg == 1 && jwt_is_compact(seg[0].p, seg[0].n))) {
		*tok = seg[nseg - 1].p;
		*toklen = seg[nseg - 1].n;
		nseg--;         /* what is left names the channel */
	} else {
		if (h && h->value_len > sizeof "Bearer " - 1 &&
		    !strncasecmp(h->value, "Bearer ", sizeof "Bearer " - 1)) {
			ot = h->value + sizeof "Bearer " - 1;
			on = h->value_len - (sizeof "Bearer " - 1);
			while (on && *ot == ' ')
				ot++, on--;
		} else if (pr != 2 && cookie_allowed(r, origin)) {
			int k = http_cookie(r, "pgws_token", &ot, &on);
			if (k < 0) {
				bridge_reject(c, r, what, 400, "Invalid or repeated pgws_token cookie", NULL);
				return -1;
			}
		}
		if (ot) {
			if (nseg < 0) {
				bridge_reject(c, r, what, 400, "Path must be /<channel> or / "
				    "when the token is not in it", NULL);
				return -1;
			}
			*tok = ot;
			*toklen = on;
		} else {
			if (nseg < 1) {
				bridge_reject(c, r, what, 401, "Missing token", NULL);
				return -1;
			}
			*tok = seg[0].p;
			*toklen = seg[0].n;
			nseg = 0;
		}
	}
	*asked_len = nseg == 1 ?
	    http_pct_decode(seg[0].p, seg[0].n, asked, cap) : -2;
	if (*asked_len == -1 || *asked_len == 0 || (*asked_len > 0 &&
	    ws_utf8(WS_UTF8_OK, (const unsigned char *)asked, (size_t)*asked_len)
	    != WS_UTF8_OK)) {
		bridge_reject(c, r, what, 400, "Invalid channel name in path", NULL);
		return -1;
	}
	return 0;
}

/* One allocation: session, channel table, claims and names; NULL when out
 * of memory.  The caller owns it (freed by bridge_end). */
static struct session *session_new(const struct jwt_claims *cl, int kind)
{
	size_t names = 0;
	for (size_t i = 0; i < cl->nchan; i++)
		names += cl->chan[i].n;
	size_t hsz = sizeof(struct session) + cl->nchan * sizeof(((struct session *)0)->chan[0]);
	struct session *s = malloc(hsz + cl->json_len + names);
	if (!s)
		return NULL;
	char *p = (char *)s + hsz;
	s->mode = cl->mode;
	s->kind = kind;
	s->nchan = (uint32_t)cl->nchan;
	/*
	 * The claims' members, less any message_delivered_at: pgws writes
	 * its own, and an envelope must never carry the key twice.  They are
	 * never longer than the object they come from.
	 */
	struct json_val root;
	struct json_out o;
	json_out_init(&o, p, cl->json_len);
	if (json_parse(cl->json, cl->json_len, &root) < 0 ||
	    json_members_without(&o, &root, "message_delivered_at",
	    sizeof "message_delivered_at" - 1) < 0 || o.err) {
		free(s);
		return NULL;
	}
	s->claims = p;
	s->claims_len = o.len;
	p += o.len;
	for (size_t i = 0; i < cl->nchan; i++) {
		memcpy(p, cl->chan[i].p, cl->chan[i].n);
		s->chan[i].name = p;
		s->chan[i].len = (uint32_t)cl->chan[i].n;
		s->chan[i].mem.ch = NULL;
		p += cl->chan[i].n;
	}
	return s;
}

static struct session *session_find(struct conn *c, const struct http_req *r,
    int what, int *proto, double *exp_at)
{
	static char asked[8192];        /* a channel can be as long as a head */
	static const int kinds[] = { SESS_WS, SESS_SSE, SESS_PUB };
	long asked_len;
	const char *tok;
	size_t toklen;
	struct jwt_claims cl;
	struct session *s;
	int e, origin = bridge_origin(c, r);

	if (origin < 0) {
		bridge_reject(c, r, what, 403, "Origin not allowed", NULL);
		return NULL;
	}
	if (find_token(c, r, what, origin, &tok, &toklen, asked, sizeof asked,
	    &asked_len, proto) < 0)
		return NULL;
	if (asked_len > 0) {
		br.asked = asked;
		br.asked_len = (size_t)asked_len;
	}
	e = jwt_verify(tok, toklen, (size_t)cfg.max_token, &br.keys, srv.wall,
	    br.jwt_work, br.jwt_work_cap, &cl);
	if (e == JWT_OK)
		e = jwt_grant(&cl, asked_len > 0 ? asked : NULL,
		    asked_len > 0 ? (size_t)asked_len : 0);
	if (e != JWT_OK) {
		bridge_reject(c, r, what, jwt_status(e),
		    cl.why ? cl.why : jwt_strerror(e), NULL);
		return NULL;
	}
	if (what == BR_STREAM && !(cl.mode & JWT_MODE_R)) {
		bridge_reject(c, r, what, 403, "Token mode does not allow reading", NULL);
		return NULL;
	}
	if (what == BR_PUBLISH && !(cl.mode & JWT_MODE_W)) {
		bridge_reject(c, r, what, 403, "Token mode does not allow writing", NULL);
		return NULL;
	}
	if (!(s = session_new(&cl, kinds[what]))) {
		bridge_reject(c, r, what, 503, "Out of memory", NULL);
		return NULL;
	}
	*exp_at = cl.has_exp ? srv.now + (cl.exp - srv.wall) : 0;
	return s;
}

struct session *bridge_session(struct conn *c, const struct http_req *r,
    int what, int *proto, double *exp_at)
{
	struct session *s = session_find(c, r, what, proto, exp_at);

	br.asked = NULL;
	br.asked_len = 0;
	return s;
}

/* The 101 line: the path with any token redacted, the mode, how many
 * channels, the channel when there is one. */
static void upgrade_log(struct conn *c, const struct http_req *r,
    const struct session *s, int proto)
{
	char path[512], ch[256];
	const char *mode = s->mode == (JWT_MODE_R | JWT_MODE_W) ? "rw" :
	    s->mode & JWT_MODE_R ? "r" : "w";
	size_t pl = http_log_target(r->target, r->target_len, path, sizeof path);
	int one = s->nchan == 1;
	struct log_field f[] = {
		LF_STR("client", c->addr), LF_STR("method", "GET"),
		LF_MEM("path", path, pl), LF_INT("status", 101),
		LF_STR("mode", mode), LF_INT("channels", s->nchan),
		LF_MEM("channel", one ? s->chan[0].name : "", one ? s->chan[0].len : 0),
	};
	if (one)
		http_log_escape(s->chan[0].name, s->chan[0].len, ch, sizeof ch);
	log_fields(L_INFO, f, one ? 7 : 6,
	    "%s \"GET %s\" 101 websocket mode=%s channels=%u%s%s%s%s", c->addr,
	    path, mode, s->nchan, one ? " channel \"" : "", one ? ch : "",
	    one ? "\"" : "", proto ? " subprotocol=pgws" : "");
}

/* Joins every granted channel of c's session as a reader; 0 or -1 (c
 * closed, out of memory). */
int bridge_join(struct conn *c)
{
	struct session *s = c->s;

	for (uint32_t i = 0; i < s->nchan; i++)
		if (chan_join(&srv.chans, s->chan[i].name, s->chan[i].len,
		    conn_slot(c), &s->chan[i].mem) < 0) {
			conn_close(c, "out of memory");
			return -1;
		}
	return 0;
}

void bridge_upgrade(struct conn *c, const struct http_req *r)
{
	char accept[WS_ACCEPT_LEN + 1];
	struct session *s;
	double exp_at;
	int proto = 0;

	c->keepalive = 0;
	if (upgrade_headers(c, r, accept) < 0 ||
	    !(s = bridge_session(c, r, BR_UPGRADE, &proto, &exp_at)))
		return;
	c->s = s;
	srv.nws++;          /* conn_close undoes this whenever c->s is set */
	if ((s->mode & JWT_MODE_R) && bridge_join(c) < 0)
		return;

	char resp[256];
	int n = snprintf(resp, sizeof resp,
	    "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
	    "Connection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n%s\r\n", accept,
	    proto ? "Sec-WebSocket-Protocol: pgws\r\n" : "");
	struct msg *m = n > 0 && (size_t)n < sizeof resp ? msg_new((size_t)n) : NULL;
	if (!m) {
		conn_close(c, "out of memory");
		return;
	}
	memcpy(m->data, resp, (size_t)n);
	/*
	 * Linux grows a socket's send buffer up to tcp_wmem[2] (4 MiB), which
	 * a reader that stopped reading would hold on top of PGWS_MAX_PENDING.
	 * A fixed buffer keeps the documented bound true.
	 */
	int sndbuf = WS_SNDBUF;
	setsockopt(c->fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof sndbuf);
	c->state = CS_WS;
	srv.st.ws_opened++;
	ws_dec_init(&c->dec, (uint64_t)cfg.max_message, 0);
	c->last_rx = srv.now;
	c->next_ping = srv.now + (double)cfg.ping_interval;
	c->exp_at = exp_at;
	upgrade_log(c, r, s, proto);
	int rc = conn_send(c, m);
	msg_unref(m);
	if (rc == 0 && cfg.meta_channel)
		bridge_meta(c, "ConnectionOpen");
}

/*
 * A data frame (or fragment) from c: a whole message in one frame is
 * handed on where it lies; fragments are gathered in c->msg until the
 * last one.
 */
static void frame_data(struct conn *c, const struct ws_ev *ev)
{
	if (ev->fin && c->msg_len == 0) {
		/* Whole message in one read: no copy. */
		ws_message(c, ev->data, ev->len);
		return;
	}
	if (c->msg_len + ev->len > c->msg_cap) {
		size_t cap = c->msg_cap ? c->msg_cap : 256;
		while (cap < c->msg_len + ev->len)
			cap *= 2;
		unsigned char *b = realloc(c->msg, cap);
		if (!b) {
			bridge_fail(c, WS_CLOSE_INTERNAL, "Out of memory");
			return;
		}
		c->msg = b;
		c->msg_cap = (uint32_t)cap;
	}
	memcpy(c->msg + c->msg_len, ev->data, ev->len);
	c->msg_len += (uint32_t)ev->len;
	if (ev->fin) {
		ws_message(c, c->msg, c->msg_len);
		free(c->msg);
		c->msg = NULL;
		c->msg_len = c->msg_cap = 0;
	}
}

/* The client began the closing handshake: logs it, echoes its code and
 * waits for the client to end TCP. */
static void frame_close(struct conn *c, const struct ws_ev *ev)
{
	char why[256];
	struct log_field f[] = { LF_STR("client", c->addr),
	    LF_INT("code", ev->code),
	    LF_MEM("reason", (const char *)ev->data, ev->len) };
	unsigned char pl[WS_CTL_MAX];
	size_t pn;

	http_log_escape((const char *)ev->data, ev->len, why, sizeof why);
	log_fields(ev->code == WS_CLOSE_NORMAL ||
	    ev->code == WS_CLOSE_GOING_AWAY ||
	    ev->code == WS_CLOSE_NO_STATUS ? L_DEBUG : L_INFO,
	    f, LOG_NF(f), "%s: websocket closed by the client: %d %s",
	    c->addr, ev->code, why);
	pn = ws_close_payload(pl, ev->code == WS_CLOSE_NO_STATUS ? 0 : ev->code,
	    (const char *)ev->data, ev->len);
	if (conn_frame(c, WS_OP_CLOSE, pl, pn) < 0)
		return;
	c->state = CS_DRAIN;
	c->deadline = srv.now + (double)cfg.close_timeout;
}

/* The decoder found a protocol error: closes with its code, unless we
 * were closing already, and waits for the client to end TCP. */
static void frame_error(struct conn *c, const struct ws_ev *ev)
{
	if (c->state == CS_WS) {
		const char *why = ev->code == WS_CLOSE_BAD_DATA ? "Invalid UTF-8" :
		    ev->code == WS_CLOSE_TOO_BIG ? "Message too big" :
		    ev->code == WS_CLOSE_UNSUPPORTED ? "Binary message is not UTF-8 text" :
		    "Protocol error";
		bridge_fail(c, ev->code, why);
	}
	if (c->state != CS_DEAD) {
		c->state = CS_DRAIN;
		c->deadline = srv.now + (double)cfg.close_timeout;
	}
}

void bridge_input(struct conn *c, unsigned char *p, size_t len)
{
	struct ws_ev ev;

	c->last_rx = srv.now;
	while (c->state == CS_WS || c->state == CS_CLOSING) {
		size_t n = ws_decode(&c->dec, p, len, &ev);
		p += n;
		len -= n;
		switch (ev.type) {
		case WS_EV_NONE:
			return;
		case WS_EV_DATA:
			if (c->state == CS_WS)
				frame_data(c, &ev);
			break;
		case WS_EV_PING:
			if (c->state == CS_WS)
				conn_pong(c, ev.data, ev.len);
			break;
		case WS_EV_PONG:
			break;
		case WS_EV_CLOSE:
			/* Our close answered, or the client's to answer. */
			if (c->state == CS_CLOSING)
				conn_close(c, NULL);
			else
				frame_close(c, &ev);
			return;
		case WS_EV_ERROR:
			frame_error(c, &ev);
			return;
		}
		if (len == 0)
			return;
	}
}

void bridge_end(struct conn *c)
{
	struct session *s = c->s;

	if (s->kind == SESS_WS)
		srv.nws--;
	else if (s->kind == SESS_SSE)
		srv.nsse--;
	if (cfg.meta_channel && s->kind != SESS_PUB)
		bridge_meta(c, "ConnectionClose");
	for (uint32_t i = 0; i < s->nchan; i++)
		chan_leave(&srv.chans, &s->chan[i].mem);
	free(s);
	c->s = NULL;
}

void bridge_timers(struct conn *c)
{
	if (c->exp_at && srv.now >= c->exp_at) {
		c->exp_at = 0;
		bridge_fail(c, WS_CLOSE_JWT_EXPIRED, "JWT expired");
		return;
	}
	/* One that is not read because it is behind is not silent. */
	if (conn_behind(c))
		c->last_rx = srv.now;
	if (srv.now - c->last_rx >= 2.0 * (double)cfg.ping_interval) {
		srv.st.timeouts++;
		log_msg(L_INFO, "%s: no answer for %ld s; dropped", c->addr,
		    2 * cfg.ping_interval);
		conn_close(c, NULL);
		return;
	}
	if (srv.now >= c->next_ping) {
		c->next_ping = srv.now + (double)cfg.ping_interval;
		conn_send(c, br.ping);
	}
}

int bridge_init(char *err, size_t errcap)
{
	int kr = jwt_keys_load(&br.keys, cfg.jwt_secret, cfg.jwt_secret_len,
	    (int)cfg.jwt_base64, err, errcap);
	if (kr < 0)
		return -1;
	if (kr > 0)
		log_msg(L_WARN, "PGWS_JWT_SECRET: %s", err);
	/* RFC 7518 3.2: a key at least as long as the hash.  Tokens still
	 * verify (the original's library refuses such keys outright). */
	for (size_t i = 0; i < br.keys.n; i++)
		if (br.keys.key[i].kty == JWT_KTY_OCT &&
		    br.keys.key[i].k_len < 32)
			log_msg(L_WARN, "PGWS_JWT_SECRET: key %zu is %zu bytes, shorter "
			    "than the 32 that HS256 needs (RFC 7518 3.2); use a longer one",
			    i + 1, br.keys.key[i].k_len);
	/*
	 * jwt_keys_load sets the default limit; the setting replaces it
	 * before the work buffer is sized for it.  (A reload of the keys
	 * must set it again.)
	 */
	br.keys.max_chan = (size_t)cfg.max_token_channels;
	br.jwt_work_cap = jwt_work_size((size_t)cfg.max_token, br.keys.max_chan);
	br.jwt_work = malloc(br.jwt_work_cap);
	br.ping = msg_frame(WS_OP_PING, NULL, 0);
	if (!br.jwt_work || !br.ping || stream_init() < 0) {
		snprintf(err, errcap, "out of memory");
		return -1;
	}
	return 0;
}

/* Overwrites n bytes of secret text before it is freed. */
static void wipe(char *p, size_t n)
{
	volatile char *v = p;
	while (n--)
		*v++ = 0;
}

int bridge_reload_keys(size_t *nkeys, char *err, size_t errcap)
{
	static struct jwt_keyset fresh;  /* large; used only here */
	char *val;
	size_t len;
	int r = config_reload_secret(&val, &len, err, errcap);

	if (r <= 0)
		return r;
	int kr = jwt_keys_load(&fresh, val, len, (int)cfg.jwt_base64, err, errcap);
	wipe(val, len);
	free(val);
	if (kr > 0) {
		/*
		 * Text starting with '{' that is not a JWK: at start-up it is
		 * a raw secret, as the original takes it; on a reload it is
		 * far more likely a key file caught half-written, and taking
		 * it would refuse every token.
		 */
		jwt_keys_free(&fresh);
		snprintf(err, errcap, "PGWS_JWT_SECRET: the file starts with '{' but "
		    "is not a JWK or JWK set");
		return -1;
	}
	if (kr < 0)
		return -1;
	fresh.max_chan = br.keys.max_chan;
	size_t need = jwt_work_size((size_t)cfg.max_token, fresh.max_chan);
	if (need > br.jwt_work_cap) {
		char *w = realloc(br.jwt_work, need);
		if (!w) {
			jwt_keys_free(&fresh);
			snprintf(err, errcap, "out of memory");
			return -1;
		}
		br.jwt_work = w;
		br.jwt_work_cap = need;
	}
	/* Tokens are verified only in this thread, between turns: the
	 * swap is whole before the next upgrade looks at the keys. */
	jwt_keys_free(&br.keys);
	br.keys = fresh;
	memset(&fresh, 0, sizeof fresh);
	*nkeys = br.keys.n;
	return 1;
}

void bridge_fini(void)
{
	jwt_keys_free(&br.keys);
	free(br.jwt_work);
	if (br.ping)
		msg_unref(br.ping);
	stream_fini();
}
