/*
 * libFuzzer target for the output queues of conn.c (issue 15): messages
 * shared by several websockets, pongs answering ping floods, partial
 * writes into small socket buffers, peers that read or stall, the slow
 * timer, the hard cap and the server-wide bound.  The real conn.c runs
 * over socketpairs; the modules around it are stubs.  After every step:
 *
 *   - a connection's out_bytes is exactly its unwritten frame bytes plus
 *     CONN_ENTRY_COST per entry, and never above PGWS_MAX_PENDING_HARD;
 *   - srv.queued is exactly every queued message once plus the rings;
 *   - at most one pong is queued, and one more waits;
 *   - conn_enforce_total leaves srv.queued within PGWS_MAX_PENDING_TOTAL;
 *   - each peer reads data frames in the order they were sent, none twice,
 *     and pongs with increasing counters; once drained, a live connection
 *     has answered its most recent ping.
 *
 * Input: 3 bytes of limits, then 2-byte operations (see the switch).
 */
#include <stdlib.h>
#include <sys/socket.h>

#include "../conn.c"
#include "../mcache.c"
#include "../chan.c"
#include "../ws.c"
#include "../sha1.c"
#include "../base64.c"
#include "../metrics.c"

struct config cfg;

/* The modules conn.c calls, reduced to what these tests need. */
void bridge_end(struct conn *c) { (void)c; }
void bridge_input(struct conn *c, unsigned char *p, size_t len) { (void)c; (void)p; (void)len; }
void bridge_timers(struct conn *c) { c->next_ping = srv.now + 1e9; }
void serve_input(struct conn *c) { (void)c; }
void publish_input(struct conn *c, const unsigned char *p, size_t n) { (void)c; (void)p; (void)n; }
double stream_due(const struct conn *c) { return c->next_ping; }
void stream_timers(struct conn *c) { (void)c; }
ssize_t tls_read(struct tls *t, int fd, void *buf, size_t n) { (void)t; return read(fd, buf, n); }
ssize_t tls_writev(struct tls *t, int fd, const struct iovec *iov, int n) { (void)t; return writev(fd, iov, n); }
int tls_flush(struct tls *t, int fd) { (void)t; (void)fd; return 0; }
int tls_pending(const struct tls *t) { (void)t; return 0; }
int tls_buffered(const struct tls *t) { (void)t; return 0; }
ssize_t tls_read_buffered(struct tls *t, void *buf, size_t n) { (void)t; (void)buf; (void)n; errno = EAGAIN; return -1; }
void tls_close(struct tls *t, int fd) { (void)t; (void)fd; }
void tls_free(struct tls *t) { (void)t; }
struct tls *tls_new(void) { return NULL; }
void log_msg(enum log_level lvl, const char *fmt, ...) { (void)lvl; (void)fmt; }

#define NC 4

static struct peer {
	int fd;                 /* our end of the socketpair */
	struct conn *c;
	uint32_t gen;
	unsigned char buf[1 << 16];
	size_t n;
	uint32_t last_data;     /* sequence of the last data frame read */
	uint32_t last_pong;     /* counter of the last pong read */
	uint32_t last_ping;     /* counter of the last ping answered by pgws */
} peer[NC];

static uint32_t seq, pings;

static int alive(const struct peer *p)
{
	return p->c && p->c->fd >= 0 && p->c->gen == p->gen &&
	    p->c->state != CS_DEAD;
}

static void check_conn(const struct conn *c)
{
	size_t bytes = 0;
	int pongs = 0;

	for (uint32_t i = 0; i < c->oq_n; i++) {
		const struct outref *o = &c->oq[(c->oq_head + i) % c->oq_cap];
		bytes += o->m->len - o->off + CONN_ENTRY_COST;
		pongs += o->m->data[0] == (0x80 | WS_OP_PONG);
	}
	if (bytes != c->out_bytes || c->out_bytes > (size_t)cfg.max_pending_hard)
		abort();
	if (pongs > 1 || pongs != c->pong_queued || (c->pong && !c->pong_queued))
		abort();
}

/* srv.queued against a recount: each queued message once, plus rings. */
static void check_total(void)
{
	static const struct msg *seen[NC * 4096];
	size_t n = 0, sum = 0;

	for (int k = 0; k < NC; k++) {
		const struct conn *c = peer[k].c;
		if (!c || c->fd < 0)
			continue;
		sum += c->oq_cap * sizeof(struct outref);
		for (uint32_t i = 0; i < c->oq_n; i++) {
			const struct msg *m = c->oq[(c->oq_head + i) % c->oq_cap].m;
			size_t j;
			for (j = 0; j < n && seen[j] != m; j++)
				;
			if (j == n && n < sizeof seen / sizeof seen[0]) {
				seen[n++] = m;
				sum += msg_cost(m);
			}
		}
	}
	if (sum != srv.queued)
		abort();
}

/* Reads up to max bytes on the peer's side and checks the frames. */
static void peer_read(struct peer *p, size_t max)
{
	while (max > 0) {
		size_t room = sizeof p->buf - p->n;
		ssize_t r = read(p->fd, p->buf + p->n, room < max ? room : max);
		if (r <= 0)
			break;
		p->n += (size_t)r;
		max -= (size_t)r;
		size_t off = 0;
		while (p->n - off >= 2) {
			unsigned char *f = p->buf + off;
			size_t len = f[1] & 0x7f, h = 2;
			if (len == 126) {
				if (p->n - off < 4)
					break;
				len = (size_t)f[2] << 8 | f[3];
				h = 4;
			} else if (len == 127) {
				abort();        /* nothing here is that long */
			}
			if (p->n - off < h + len)
				break;
			uint32_t v = 0;
			if (len >= 4)
				memcpy(&v, f + h, 4);
			if ((f[0] & 15) == WS_OP_TEXT) {
				if (v <= p->last_data) {
					fprintf(stderr, "peer %d: data %u after %u (len %zu off %zu n %zu)\n",
					    (int)(p - peer), v, p->last_data, len, off, p->n);
					abort();        /* reordered or repeated */
				}
				p->last_data = v;
			} else if ((f[0] & 15) == WS_OP_PONG) {
				if (v <= p->last_pong && p->last_pong)
					abort();
				p->last_pong = v;
			}
			off += h + len;
		}
		memmove(p->buf, p->buf + off, p->n - off);
		p->n -= off;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n)
{
	if (n < 3)
		return 0;
	memset(&cfg, 0, sizeof cfg);
	cfg.max_pending = 256 + 64 * (long)d[0];
	cfg.max_pending_hard = cfg.max_pending + 128 * (long)d[1];
	cfg.max_pending_total = 1024 + 128 * (long)d[2];
	cfg.slow_timeout = 2;
	cfg.ping_interval = 30;
	cfg.close_timeout = 5;
	cfg.handshake_timeout = 10;
	cfg.max_header = 8192;
	d += 3;
	n -= 3;
	memset(&srv, 0, sizeof srv);
	if (conn_init(NC) < 0)
		abort();
	seq = pings = 0;
	for (int k = 0; k < NC; k++) {
		int sv[2], small = 4096;
		struct sockaddr_storage sa = { .ss_family = AF_INET };
		if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv) < 0)
			abort();
		setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &small, sizeof small);
		setsockopt(sv[1], SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
		conn_open(sv[0], &sa, 0);
		struct peer *p = &peer[k];
		p->n = 0;
		p->last_data = p->last_pong = p->last_ping = 0;
		p->fd = sv[1];
		p->c = NULL;
		for (int i = 0; i < NC; i++)
			if (srv.conns[i].fd == sv[0])
				p->c = &srv.conns[i];
		p->c->state = CS_WS;
		p->gen = p->c->gen;
	}
	srv.ndirty = 0;
	for (size_t i = 0; i + 1 < n; i += 2) {
		unsigned op = d[i] >> 5, who = d[i] & 3, arg = d[i + 1];
		struct peer *p = &peer[who];
		switch (op) {
		case 0: case 1: {       /* a message to the readers in arg's bits */
			size_t len = 4 + (arg >> 4) * 7;
			struct msg *m = msg_new(2 + len);
			if (!m)
				abort();
			m->data[0] = 0x80 | WS_OP_TEXT;
			m->data[1] = (unsigned char)len;
			seq++;
			memcpy(m->data + 2, &seq, 4);
			memset(m->data + 6, 'x', len - 4);
			for (int k = 0; k < NC; k++)
				if ((arg >> k & 1) && alive(&peer[k]))
					conn_send(peer[k].c, m);
			msg_unref(m);
			conn_enforce_total();
			if (srv.queued > (size_t)cfg.max_pending_total)
				abort();
			break;
		}
		case 2:                 /* a ping answered */
			if (alive(p)) {
				uint32_t v = ++pings;
				if (conn_pong(p->c, &v, 4) == 0)
					p->last_ping = v;
			}
			break;
		case 3:                 /* pgws writes */
			if (alive(p))
				conn_flush(p->c);
			break;
		case 4:                 /* the peer reads */
			peer_read(p, (size_t)arg * 64);
			break;
		case 5:                 /* time passes; timers run */
			srv.now += arg / 50.0;
			if (alive(p))
				conn_timers(p->c);
			break;
		default:                /* the loop's end of turn */
			srv.ndirty = 0;
			for (int k = 0; k < NC; k++)
				if (peer[k].c->dirty)
					peer[k].c->dirty = 0;
			break;
		}
		for (int k = 0; k < NC; k++)
			if (alive(&peer[k]))
				check_conn(peer[k].c);
		check_total();
	}
	/* Drain: a live connection ends having answered its latest ping. */
	for (int round = 0; round < 10000; round++) {
		int busy = 0;
		for (int k = 0; k < NC; k++) {
			if (!alive(&peer[k]))
				continue;
			conn_flush(peer[k].c);
			peer_read(&peer[k], 1 << 16);
			busy |= alive(&peer[k]) && (peer[k].c->oq_n || peer[k].n);
		}
		if (!busy)
			break;
	}
	for (int k = 0; k < NC; k++)
		if (alive(&peer[k]) && peer[k].last_ping &&
		    peer[k].last_pong != peer[k].last_ping)
			abort();
	for (int k = 0; k < NC; k++) {
		if (peer[k].c)
			conn_close(peer[k].c, NULL);
		close(peer[k].fd);
	}
	conn_reap();
	if (srv.queued != 0)
		abort();
	conn_fini();
	return 0;
}
