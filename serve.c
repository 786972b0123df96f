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
#include "publish.h"
#include "serve.h"
#include "stream.h"

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

/* A listener whose check has waited this long (seconds) is unresponsive. */
#define LISTENER_HUNG_S 3.0

/* 1 while the listener is up and its check, waiting wait seconds, is not
 * overdue: /health's "up" and pgws_listener_up. */
static int listener_ok(double wait)
{
	return db_listener_up() && wait <= LISTENER_HUNG_S;
}

static void serve_health(struct conn *c, const struct http_req *r, int head)
{
	size_t n;
	double wait = db_listener_wait(srv.now);
	int up = listener_ok(wait);
	char *body = aprintf(&n,
	    "{\"listener\":\"%s\",\"listener_wait_s\":%.1f,"
	    "\"websockets\":%d,\"connections\":%d}\n",
	    up ? "up" : db_listener_up() ? "unresponsive" : "down", wait,
	    srv.nws, srv.nactive);
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

/* The client side: connections, websockets, upgrades, HTTP requests. */
static void metrics_clients(struct mbuf *b)
{
	metric(b, "pgws_websockets", "gauge", "Websockets open.",
	    (unsigned long long)srv.nws);
	metric(b, "pgws_connections", "gauge",
	    "Client connections open (HTTP, websocket, TLS handshakes).",
	    (unsigned long long)srv.nactive);
	metric(b, "pgws_channels", "gauge",
	    "Channels with at least one reader.", srv.chans.n);
	metric(b, "pgws_connections_accepted_total", "counter",
	    "Client connections accepted.", srv.st.accepted);
	metric(b, "pgws_connections_refused_total", "counter",
	    "Client connections refused at PGWS_MAX_CONNECTIONS or while stopping.",
	    srv.st.refused_full);
	metric(b, "pgws_websockets_opened_total", "counter",
	    "Websocket upgrades accepted.", srv.st.ws_opened);
	m_family(b, "pgws_upgrades_rejected_total", "counter",
	    "Websocket upgrades refused, by HTTP status.");
	m_u64(b, "pgws_upgrades_rejected_total", "status=\"400\"", srv.st.rej_400);
	m_u64(b, "pgws_upgrades_rejected_total", "status=\"401\"", srv.st.rej_401);
	m_u64(b, "pgws_upgrades_rejected_total", "status=\"403\"", srv.st.rej_403);
	m_u64(b, "pgws_upgrades_rejected_total", "status=\"426\"", srv.st.rej_426);
	m_u64(b, "pgws_upgrades_rejected_total", "status=\"503\"", srv.st.rej_503);
	metric(b, "pgws_http_requests_total", "counter",
	    "HTTP requests answered (not upgrades).", srv.st.http_requests);
}

/* Messages and notifications both ways, the publishing pool, the listener. */
static void metrics_messages(struct mbuf *b, const struct db_stats *d)
{
	double wait = db_listener_wait(srv.now);

	metric(b, "pgws_messages_received_total", "counter",
	    "Messages received from clients.", srv.st.msgs_in);
	metric(b, "pgws_messages_discarded_total", "counter",
	    "Messages from clients without write mode, discarded.",
	    srv.st.msgs_in_dropped);
	metric(b, "pgws_messages_delivered_total", "counter",
	    "Notifications queued to a reader (one per reader).", srv.st.msgs_out);
	metric(b, "pgws_notifications_received_total", "counter",
	    "Notifications received on the listen channel.", srv.st.notifies);
	metric(b, "pgws_notifications_unrouted_total", "counter",
	    "Notifications for a channel nobody here reads.",
	    srv.st.notifies_unrouted);
	metric(b, "pgws_notifications_dropped_total", "counter",
	    "Notifications that could not be delivered (logged at most once a second).",
	    srv.st.notifies_dropped);
	metric(b, "pgws_notifications_sent_total", "counter",
	    "NOTIFYs committed by the publishing pool.", d->published);
	metric(b, "pgws_notifications_failed_total", "counter",
	    "NOTIFYs that could not be published.",
	    d->publish_failed + srv.st.publish_failed);
	metric(b, "pgws_publish_queue", "gauge",
	    "NOTIFYs queued or in flight in the publishing pool.", d->queued);
	metric(b, "pgws_client_queued_bytes", "gauge",
	    "Bytes held by the output queues of all client connections (a "
	    "message shared by many readers counted once).",
	    (unsigned long long)srv.queued);
	metric(b, "pgws_pool_connections", "gauge",
	    "Publishing connections to PostgreSQL open (the listener is apart).",
	    (unsigned long long)d->pool_open);
	metric(b, "pgws_slow_clients_dropped_total", "counter",
	    "Readers dropped for passing PGWS_MAX_PENDING.", srv.st.slow_dropped);
	metric(b, "pgws_timeouts_total", "counter",
	    "Connections closed by a handshake, keep-alive or close timeout.",
	    srv.st.timeouts);
	metric(b, "pgws_listener_reconnects_total", "counter",
	    "Times the listener connection was re-established.",
	    d->listener_reconnects);
	metric(b, "pgws_listener_up", "gauge",
	    "1 while the listener connection is up, LISTENing and answering its "
	    "checks, else 0.", (unsigned long long)listener_ok(wait));
	m_family(b, "pgws_listener_check_wait_seconds", "gauge",
	    "Seconds the listener's check has waited for its answer (0: none out).");
	m_num(b, "pgws_listener_check_wait_seconds", NULL, wait);
}

/* Server-Sent Events streams and HTTP publish answers. */
static void metrics_http(struct mbuf *b)
{
	metric(b, "pgws_sse_streams", "gauge", "Server-Sent Events streams open.",
	    (unsigned long long)srv.nsse);
	metric(b, "pgws_sse_streams_opened_total", "counter",
	    "Server-Sent Events streams accepted.", srv.st.sse_opened);
	metric(b, "pgws_sse_rejected_total", "counter",
	    "Server-Sent Events requests refused.", srv.st.sse_rejected);
	metric(b, "pgws_sse_events_total", "counter",
	    "Events queued to Server-Sent Events readers.", srv.st.sse_events);
	m_family(b, "pgws_http_publish_total", "counter",
	    "HTTP publish requests answered, by status.");
	for (int i = 0; i <= PUB_NCODES; i++) {
		char code[32];
		if (i < PUB_NCODES)
			snprintf(code, sizeof code, "code=\"%d\"", publish_codes[i]);
		else
			snprintf(code, sizeof code, "code=\"other\"");
		m_u64(b, "pgws_http_publish_total", code, srv.st.pub_status[i]);
	}
}

/*
 * The families in the order /metrics has always listed them: the
 * process, the clients, messages and the database, SSE and publish, then
 * the queue usage and the latency histograms.
 */
static void serve_metrics(struct conn *c, const struct http_req *r, int head)
{
	struct db_stats d;
	struct mbuf b = { 0 };

	db_get_stats(&d);
	m_process(&b);
	metrics_clients(&b);
	metrics_messages(&b, &d);
	metrics_http(&b);
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

/* Out of descriptors is the server's trouble, not a missing file. */
static int fd_shortage(void)
{
	return errno == EMFILE || errno == ENFILE || errno == ENOMEM;
}

/*
 * Without PGWS_ROOT_PATH the original answers every plain request so;
 * load balancers probe / and expect a 200.
 */
static void serve_hello(struct conn *c, const struct http_req *r, int head)
{
	static const char hello[] = "Hello, Web!";

	serve_respond(c, r, 200, "text/plain", NULL, hello, sizeof hello - 1,
	    head);
}

/*
 * Opens the regular file real for reading, never blocking: anything else
 * (a FIFO, a socket, a device, also behind a symbolic link) is refused by
 * stat() before any open(), and fstat() checks again what was opened, as
 * the name may have changed in between (O_NONBLOCK keeps even that open
 * from waiting for a FIFO's writer).  Returns the descriptor, -1 when it
 * cannot be opened (404), or -2 for a file that is not regular (403).
 */
static int open_regular(const char *real, struct stat *sb)
{
	int fd;

	if (stat(real, sb) < 0)
		return -1;
	if (!S_ISREG(sb->st_mode))
		return -2;
	fd = open(real, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
	if (fd < 0)
		return -1;
	if (fstat(fd, sb) < 0 || !S_ISREG(sb->st_mode)) {
		close(fd);
		return -2;
	}
	return fd;
}

static void serve_file(struct conn *c, const struct http_req *r, int head)
{
	char rel[PATH_MAX], full[PATH_MAX];
	struct stat sb;
	int fd = -1;

	/*
	 * A segment starting with '.' (/.env, /.git/config, "..") is refused
	 * from its spelling alone, before the file system is asked, as the
	 * original's static server does.
	 */
	if (http_path_dotted(r->target, r->target_len) == 1) {
		serve_text(c, r, 403, "Forbidden\n", NULL);
		return;
	}
	if (cfg.root_missing ||
	    http_path_resolve(r->target, r->target_len, rel, sizeof rel) < 0) {
		serve_text(c, r, 404, "Not Found\n", NULL);
		return;
	}
	/*
	 * The root is resolved for every request, so a deployment that
	 * switches a "current" symbolic link is served from the new tree at
	 * once.
	 */
	char *root = realpath(cfg.root_path, NULL);
	if (!root) {
		log_msg(L_WARN, "PGWS_ROOT_PATH %s: %s", cfg.root_path, strerror(errno));
		serve_text(c, r, fd_shortage() ? 503 : 404, fd_shortage() ?
		    "Service Unavailable\n" : "Not Found\n", NULL);
		return;
	}
	int n = snprintf(full, sizeof full, "%s/%s", root, rel);
	if (n < 0 || (size_t)n >= sizeof full - 16) {
		free(root);
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
	int busy = !real && fd_shortage();
	size_t rl = strlen(root);
	if (!real || strncmp(real, root, rl) ||
	    (real[rl] != '/' && real[rl] != 0) ||
	    (fd = open_regular(real, &sb)) < 0) {
		int other = real && fd == -2;
		busy |= real && fd == -1 && fd_shortage();
		free(real);
		free(root);
		if (busy)
			log_msg(L_WARN, "%s: static file: %s", c->addr, strerror(errno));
		if (other)
			serve_text(c, r, 403, "Forbidden\n", NULL);
		else
			serve_text(c, r, busy ? 503 : 404, busy ?
			    "Service Unavailable\n" : "Not Found\n", NULL);
		return;
	}
	free(root);
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

/*
 * OPTIONS: the CORS preflight of a page of a listed origin, answered with
 * what it may send (PGWS_ALLOWED_ORIGINS); 403 for another origin, and
 * without an allowlist OPTIONS is a method like any other (405).
 */
static void serve_preflight(struct conn *c, const struct http_req *r)
{
	char *hdrs;
	int o = bridge_origin(c, r);

	if (o < 0) {
		c->keepalive = 0;
		serve_text(c, r, 403, "Origin not allowed\n", NULL);
		return;
	}
	if (o == 0) {
		c->keepalive = 0;
		serve_text(c, r, 405, "Method Not Allowed\n",
		    "Allow: GET, HEAD, POST\r\n");
		return;
	}
	hdrs = bridge_headers(c, "Access-Control-Allow-Methods: GET, POST, "
	    "OPTIONS\r\nAccess-Control-Allow-Headers: Authorization, "
	    "Content-Type, Last-Event-ID\r\nAccess-Control-Max-Age: 600\r\n");
	free(c->cors);
	c->cors = NULL;
	if (!hdrs) {
		conn_close(c, "out of memory");
		return;
	}
	serve_respond(c, r, 204, NULL, hdrs, NULL, 0, 0);
	free(hdrs);
}

/*
 * What http_parse() said of the buffered head, n, when it is not a head
 * to answer: -2 with the buffer full or a head longer than
 * PGWS_MAX_HEADER_SIZE (431), -3 for too many fields (431), another
 * negative for a malformed head (400).  Answers it, ending the
 * connection, and returns 1; returns 1 also for -2 with room to wait for
 * more, and 0 for a head to answer.
 */
static int serve_bad_head(struct conn *c, int n)
{
	uint32_t max = (uint32_t)cfg.max_header;
	int status = 431;
	const char *text = "Request Header Fields Too Large\n";

	if (n >= 0 && (uint32_t)n <= max)
		return 0;
	if (n == -2 && c->in_len < max)
		return 1;
	if (n == -3) {
		text = "Too many header fields\n";
	} else if (n < 0 && n != -2) {
		status = 400;
		text = "Bad Request\n";
	}
	c->keepalive = 0;
	serve_text(c, NULL, status, text, NULL);
	c->in_len = 0;
	return 1;
}

/* Answers the request r: whether the connection is kept, then who serves it. */
static void serve_route(struct conn *c, const struct http_req *r)
{
	int is_get = SLICE_IS(r->method, r->method_len, "GET");
	int is_head = SLICE_IS(r->method, r->method_len, "HEAD");
	int is_post = SLICE_IS(r->method, r->method_len, "POST");
	/* pgws's own paths; without a root, all others get Hello. */
	int is_health = SLICE_IS(r->target, r->target_len, "/health");
	int is_metrics = SLICE_IS(r->target, r->target_len, "/metrics");
	int is_stream = is_get && http_accepts(r, "text/event-stream");

	c->keepalive = r->minor == 1 ?
	    !http_header_has_token(r, "Connection", "close") :
	    http_header_has_token(r, "Connection", "keep-alive");
	/* Bodies are only read for a publish; never read past another. */
	const struct http_hdr *cl = http_header(r, "Content-Length");
	if (!is_post && (http_header(r, "Transfer-Encoding") ||
	    (cl && !(cl->value_len == 1 && cl->value[0] == '0'))))
		c->keepalive = 0;

	if (http_header_has_token(r, "Upgrade", "websocket")) {
		bridge_upgrade(c, r);
	} else if (is_post) {
		publish_start(c, r);
	} else if (SLICE_IS(r->method, r->method_len, "OPTIONS")) {
		serve_preflight(c, r);
	} else if (!cfg.root_path && !is_health && !is_metrics && !is_stream) {
		serve_hello(c, r, is_head);
	} else if (!is_get && !is_head) {
		c->keepalive = 0;
		serve_text(c, r, 405, "Method Not Allowed\n",
		    "Allow: GET, HEAD, POST\r\n");
	} else if (is_health) {
		serve_health(c, r, is_head);
	} else if (is_metrics) {
		serve_metrics(c, r, is_head);
	} else if (is_stream) {
		stream_open(c, r);
	} else {
		serve_file(c, r, is_head);
	}
}

/* Parses and answers the request heads buffered in c->in. */
void serve_input(struct conn *c)
{
	struct http_req r;

	while (c->state == CS_HTTP && c->in_len) {
		int n = http_parse(c->in, c->in_len, &r);
		if (serve_bad_head(c, n))
			return;
		serve_route(c, &r);
		/* Keep what follows the head: pipelined requests or frames. */
		memmove(c->in, c->in + n, c->in_len - (uint32_t)n);
		c->in_len -= (uint32_t)n;
		if (c->state == CS_BODY) {
			/* The body, or what came of it, follows the head. */
			publish_take(c);
			if (c->state != CS_HTTP)
				break;
			continue;
		}
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
