/*
 * HTTP serving, in its own file so that the plain HTTP side reads alone:
 * the request loop of a connection, /health, /metrics and static files.
 * Responses are formatted into buffers sized for them, so a long answer
 * never truncates or over-reads.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bridge.h"
#include "config.h"
#include "db.h"
#include "log.h"
#include "serve.h"

/* Compares a slice with a string literal; the compiler counts its length. */
#define SLICE_IS(p, n, lit) ((n) == sizeof(lit) - 1 && !memcmp((p), (lit), sizeof(lit) - 1))

/*
 * printf into a new buffer of the right size; returns it (the caller
 * frees it) with its length in *len, or NULL when out of memory or the
 * format fails.
 */
static char *aprintf(size_t *len, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static char *aprintf(size_t *len, const char *fmt, ...)
{
	va_list ap, ap2;
	char *p;
	int n;

	va_start(ap, fmt);
	va_copy(ap2, ap);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0 || !(p = malloc((size_t)n + 1))) {
		va_end(ap2);
		return NULL;
	}
	if (vsnprintf(p, (size_t)n + 1, fmt, ap2) != n) {
		va_end(ap2);
		free(p);
		return NULL;
	}
	va_end(ap2);
	*len = (size_t)n;
	return p;
}

void serve_log(struct conn *c, const struct http_req *r, int status,
    size_t bytes)
{
	/* Tokens anywhere in the target become <token>; every byte that
	 * could garble the line is escaped (the method is a token already). */
	char path[512];
	size_t pl = http_log_target(r->target, r->target_len, path, sizeof path);
	double secs = srv.now - c->t0;
	struct log_field f[] = {
		LF_STR("client", c->addr),
		LF_MEM("method", r->method, r->method_len),
		LF_MEM("path", path, pl),
		LF_INT("status", status),
		LF_INT("bytes", bytes),
		LF_DBL("seconds", secs),
	};
	log_fields(L_INFO, f, LOG_NF(f), "%s \"%.*s %s\" %d %zu %.3fms", c->addr,
	    (int)r->method_len, r->method, path, status, bytes, secs * 1000);
}

/*
 * Queues a complete response.  body may be NULL; head_only sends the
 * headers of a GET response to a HEAD request.
 */
void serve_respond(struct conn *c, const struct http_req *r, int status,
    const char *ctype, const char *extra, const char *body, size_t blen,
    int head_only)
{
	size_t h;
	char *hdr = aprintf(&h,
	    "HTTP/1.1 %d %s\r\nServer: pgws\r\nContent-Length: %zu\r\n"
	    "%s%s%s%s%s\r\n", status, http_reason(status), blen,
	    ctype ? "Content-Type: " : "", ctype ? ctype : "",
	    ctype ? "\r\n" : "", extra ? extra : "",
	    c->keepalive ? "" : "Connection: close\r\n");
	size_t bl = head_only || !body ? 0 : blen;
	struct msg *m = hdr ? msg_new(h + bl) : NULL;
	if (!m) {
		free(hdr);
		conn_close(c, "out of memory");
		return;
	}
	memcpy(m->data, hdr, h);
	free(hdr);
	if (bl)
		memcpy(m->data + h, body, bl);
	srv.st.http_requests++;
	if (r)
		serve_log(c, r, status, SLICE_IS(r->method, r->method_len, "HEAD") ?
		    0 : blen);
	if (c->state == CS_HTTP && !c->keepalive) {
		c->state = CS_DRAIN;
		c->deadline = srv.now + (double)cfg.close_timeout;
	}
	conn_send(c, m);       /* on failure c is closed: nothing to undo */
	msg_unref(m);
}

void serve_text(struct conn *c, const struct http_req *r, int status,
    const char *text, const char *extra)
{
	serve_respond(c, r, status, "text/plain; charset=utf-8", extra, text,
	    strlen(text), 0);
}

static void serve_health(struct conn *c, const struct http_req *r, int head)
{
	size_t n;
	int up = db_listener_up();
	char *body = aprintf(&n,
	    "{\"listener\":\"%s\",\"websockets\":%d,\"connections\":%d}\n",
	    up ? "up" : "down", srv.nws, srv.nactive);
	if (!body) {
		conn_close(c, "out of memory");
		return;
	}
	serve_respond(c, r, up ? 200 : 503, "application/json", NULL, body,
	    n, head);
	free(body);
}

/* One family with one unlabelled sample. */
static void metric(struct mbuf *b, const char *name, const char *type,
    const char *help, unsigned long long v)
{
	m_family(b, name, type, help);
	m_u64(b, name, NULL, v);
}

static void serve_metrics(struct conn *c, const struct http_req *r, int head)
{
	struct db_stats d;
	struct mbuf b = { 0 };
	unsigned long long queued = 0;

	db_get_stats(&d);
	for (int i = 0; i < srv.hiwater; i++)
		if (srv.conns[i].fd >= 0)
			queued += srv.conns[i].out_bytes;
	m_process(&b);
	metric(&b, "pgws_websockets", "gauge", "Websockets open.",
	    (unsigned long long)srv.nws);
	metric(&b, "pgws_connections", "gauge",
	    "Client connections open (HTTP, websocket, TLS handshakes).",
	    (unsigned long long)srv.nactive);
	metric(&b, "pgws_channels", "gauge",
	    "Channels with at least one reader.", srv.chans.n);
	metric(&b, "pgws_connections_accepted_total", "counter",
	    "Client connections accepted.", srv.st.accepted);
	metric(&b, "pgws_connections_refused_total", "counter",
	    "Client connections refused at PGWS_MAX_CONNECTIONS or while stopping.",
	    srv.st.refused_full);
	metric(&b, "pgws_websockets_opened_total", "counter",
	    "Websocket upgrades accepted.", srv.st.ws_opened);
	m_family(&b, "pgws_upgrades_rejected_total", "counter",
	    "Websocket upgrades refused, by HTTP status.");
	m_u64(&b, "pgws_upgrades_rejected_total", "status=\"400\"", srv.st.rej_400);
	m_u64(&b, "pgws_upgrades_rejected_total", "status=\"401\"", srv.st.rej_401);
	m_u64(&b, "pgws_upgrades_rejected_total", "status=\"403\"", srv.st.rej_403);
	m_u64(&b, "pgws_upgrades_rejected_total", "status=\"426\"", srv.st.rej_426);
	m_u64(&b, "pgws_upgrades_rejected_total", "status=\"503\"", srv.st.rej_503);
	metric(&b, "pgws_http_requests_total", "counter",
	    "HTTP requests answered (not upgrades).", srv.st.http_requests);
	metric(&b, "pgws_messages_received_total", "counter",
	    "Messages received from clients.", srv.st.msgs_in);
	metric(&b, "pgws_messages_discarded_total", "counter",
	    "Messages from clients without write mode, discarded.",
	    srv.st.msgs_in_dropped);
	metric(&b, "pgws_messages_delivered_total", "counter",
	    "Notifications queued to a reader (one per reader).", srv.st.msgs_out);
	metric(&b, "pgws_notifications_received_total", "counter",
	    "Notifications received on the listen channel.", srv.st.notifies);
	metric(&b, "pgws_notifications_unrouted_total", "counter",
	    "Notifications for a channel nobody here reads.",
	    srv.st.notifies_unrouted);
	metric(&b, "pgws_notifications_sent_total", "counter",
	    "NOTIFYs committed by the publishing pool.", d.published);
	metric(&b, "pgws_notifications_failed_total", "counter",
	    "NOTIFYs that could not be published.",
	    d.publish_failed + srv.st.publish_failed);
	metric(&b, "pgws_publish_queue", "gauge",
	    "NOTIFYs queued or in flight in the publishing pool.", d.queued);
	metric(&b, "pgws_client_queued_bytes", "gauge",
	    "Bytes waiting in the output queues of all client connections.", queued);
	metric(&b, "pgws_pool_connections", "gauge",
	    "Publishing connections to PostgreSQL open (the listener is apart).",
	    (unsigned long long)d.pool_open);
	metric(&b, "pgws_slow_clients_dropped_total", "counter",
	    "Readers dropped for passing PGWS_MAX_PENDING.", srv.st.slow_dropped);
	metric(&b, "pgws_timeouts_total", "counter",
	    "Connections closed by a handshake, keep-alive or close timeout.",
	    srv.st.timeouts);
	metric(&b, "pgws_listener_reconnects_total", "counter",
	    "Times the listener connection was re-established.",
	    d.listener_reconnects);
	metric(&b, "pgws_listener_up", "gauge",
	    "1 while the listener connection is up and LISTENing, else 0.",
	    (unsigned long long)db_listener_up());
	m_family(&b, "pgws_notification_queue_usage", "gauge",
	    "PostgreSQL's pg_notification_queue_usage(), 0 to 1, last sampled.");
	m_num(&b, "pgws_notification_queue_usage", NULL, d.queue_usage);
	m_hist(&b, "pgws_delivery_seconds",
	    "Seconds from a notification's arrival to its last byte written, per reader.",
	    &srv.delivery);
	m_hist(&b, "pgws_publish_seconds",
	    "Seconds from a client's message to PostgreSQL committing its NOTIFY.",
	    &d.publish);
	if (b.err) {
		free(b.p);
		conn_close(c, "out of memory");
		return;
	}
	serve_respond(c, r, 200, "text/plain; version=0.0.4", NULL, b.p, b.len,
	    head);
	free(b.p);
}

static void serve_file(struct conn *c, const struct http_req *r, int head)
{
	char rel[PATH_MAX], full[PATH_MAX];
	struct stat sb;
	int fd;

	if (!cfg.root_path) {
		serve_text(c, r, 404, "Not Found\n", NULL);
		return;
	}
	if (http_path_resolve(r->target, r->target_len, rel, sizeof rel) < 0) {
		serve_text(c, r, 404, "Not Found\n", NULL);
		return;
	}
	int n = snprintf(full, sizeof full, "%s/%s", cfg.root_path, rel);
	if (n < 0 || (size_t)n >= sizeof full - 16) {
		serve_text(c, r, 404, "Not Found\n", NULL);
		return;
	}
	if (stat(full, &sb) == 0 && S_ISDIR(sb.st_mode)) {
		if (n && full[n - 1] != '/')
			full[n++] = '/';
		strcpy(full + n, "index.html");
	}
	/*
	 * The lexical check keeps ".." out; realpath() then catches symbolic
	 * links that lead outside the root.
	 */
	char *real = realpath(full, NULL);
	size_t rl = strlen(cfg.root_path);
	if (!real || strncmp(real, cfg.root_path, rl) ||
	    (real[rl] != '/' && real[rl] != 0) ||
	    (fd = open(real, O_RDONLY | O_CLOEXEC | O_NONBLOCK)) < 0) {
		free(real);
		serve_text(c, r, 404, "Not Found\n", NULL);
		return;
	}
	if (fstat(fd, &sb) || !S_ISREG(sb.st_mode)) {
		close(fd);
		free(real);
		serve_text(c, r, 404, "Not Found\n", NULL);
		return;
	}
	const char *mime = http_mime(real, strlen(real));
	free(real);
	serve_respond(c, r, 200, mime, NULL, NULL, (size_t)sb.st_size, 1);
	if (c->state == CS_DEAD || head || sb.st_size == 0) {
		close(fd);
		return;
	}
	c->file_fd = fd;
	c->file_off = 0;
	c->file_end = sb.st_size;
	c->state = CS_FILE;
}

/* Parses and answers the request heads buffered in c->in. */
void serve_input(struct conn *c)
{
	struct http_req r;

	while (c->state == CS_HTTP && c->in_len) {
		int n = http_parse(c->in, c->in_len, &r);
		if (n == -2) {
			if (c->in_len >= (uint32_t)cfg.max_header) {
				c->keepalive = 0;
				serve_text(c, NULL, 431,
				    "Request Header Fields Too Large\n", NULL);
				c->in_len = 0;
			}
			return;
		}
		if (n == -3) {
			c->keepalive = 0;
			serve_text(c, NULL, 431, "Too many header fields\n", NULL);
			c->in_len = 0;
			return;
		}
		if (n < 0) {
			c->keepalive = 0;
			serve_text(c, NULL, 400, "Bad Request\n", NULL);
			c->in_len = 0;
			return;
		}
		if ((uint32_t)n > (uint32_t)cfg.max_header) {
			c->keepalive = 0;
			serve_text(c, NULL, 431, "Request Header Fields Too Large\n", NULL);
			c->in_len = 0;
			return;
		}
		c->keepalive = r.minor == 1 ?
		    !http_header_has_token(&r, "Connection", "close") :
		    http_header_has_token(&r, "Connection", "keep-alive");
		/* No request bodies here; never try to read past one. */
		const struct http_hdr *cl = http_header(&r, "Content-Length");
		if (http_header(&r, "Transfer-Encoding") ||
		    (cl && !(cl->value_len == 1 && cl->value[0] == '0')))
			c->keepalive = 0;

		int is_get = SLICE_IS(r.method, r.method_len, "GET");
		int is_head = SLICE_IS(r.method, r.method_len, "HEAD");
		if (http_header_has_token(&r, "Upgrade", "websocket")) {
			bridge_upgrade(c, &r);
		} else if (!is_get && !is_head) {
			c->keepalive = 0;
			serve_text(c, &r, 405, "Method Not Allowed\n",
			    "Allow: GET, HEAD\r\n");
		} else if (SLICE_IS(r.target, r.target_len, "/health")) {
			serve_health(c, &r, is_head);
		} else if (SLICE_IS(r.target, r.target_len, "/metrics")) {
			serve_metrics(c, &r, is_head);
		} else {
			serve_file(c, &r, is_head);
		}
		/* Keep what follows the head: pipelined requests or frames. */
		memmove(c->in, c->in + n, c->in_len - (uint32_t)n);
		c->in_len -= (uint32_t)n;
		if (c->state == CS_WS && c->in_len) {
			/* Frames sent right behind the upgrade: fed from the
			 * request buffer itself, which c no longer owns. */
			unsigned char *in = (unsigned char *)c->in;
			uint32_t k = c->in_len;
			c->in = NULL;
			c->in_len = 0;
			bridge_input(c, in, k);
			free(in);
			return;
		}
		c->t0 = srv.now;
		c->deadline = srv.now + (double)cfg.handshake_timeout;
	}
	if (c->in_len == 0 && c->in) {
		free(c->in);
		c->in = NULL;
	}
}

