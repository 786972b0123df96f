/*
 * Client connections, in their own file so that a connection's life and
 * its output queue read alone: the slot table, open, close (marking only;
 * the loop reaps once per turn, so no callee frees a connection its caller
 * holds), the only code that knows whether a socket is TLS, and the
 * output queue written with one writev per turn.
 */
#include <arpa/inet.h>
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "bridge.h"
#include "config.h"
#include "conn.h"
#include "log.h"
#include "mcache.h"
#include "publish.h"
#include "serve.h"
#include "stream.h"
#include "tls.h"

struct server srv;

/*
 * Socket reads land here and are handed on at once (or copied into c->in).
 * Only conn_read fills it, and nothing it hands the bytes to reads a socket
 * or calls conn_read again (database events are handled later in the
 * turn); rbuf_busy asserts that.  Frames that follow an upgrade request
 * are fed from the request's own buffer, not from here.
 */
static unsigned char rbuf[65536];
static int rbuf_busy;
/*
 * Writes (of up to 64 KiB or 64 frames each) one connection may do in one
 * loop turn, so that a fast reader of a large file or queue shares the
 * loop with everyone else.
 */
#define CONN_TURN_WRITES 4

/* A static file's body goes out through this buffer, one pread at a time. */
static unsigned char fbuf[65536];

/* What a queued message holds in memory: its block (header and bytes,
 * rounded up to its mcache class) and the allocator's slack. */
static size_t msg_cost(const struct msg *m)
{
	return mcache_size(sizeof *m + m->len) + 16;
}

/* Messages come from mcache: they live while in flight, see mcache.c. */
struct msg *msg_new(size_t len)
{
	struct msg *m = mcache_alloc(sizeof *m + len);
	if (!m)
		return NULL;
	m->refs = 1;
	m->len = (uint32_t)len;
	m->counted = 0;
	m->t_arr = 0;
	return m;
}

void msg_unref(struct msg *m)
{
	if (--m->refs == 0) {
		if (m->counted)
			srv.queued -= msg_cost(m);
		mcache_free(m, sizeof *m + m->len);
	}
}

/* A websocket frame holding a copy of payload; NULL when out of memory. */
struct msg *msg_frame(int opcode, const void *payload, size_t len)
{
	unsigned char hdr[WS_HDR_MAX];
	size_t h = ws_frame_hdr(hdr, 1, opcode, len, NULL);
	struct msg *m = msg_new(h + len);
	if (!m)
		return NULL;
	memcpy(m->data, hdr, h);
	if (len)
		memcpy(m->data + h, payload, len);
	return m;
}

/* Socket I/O: the only place that knows whether a connection is TLS. */
/* Reads per connection per turn from its socket; what TLS decrypted
 * beyond that is still taken, without touching the socket. */
#define CONN_TURN_READS 4

static ssize_t io_read(struct conn *c, void *buf, size_t n, int round)
{
	if (c->tls && round >= CONN_TURN_READS)
		return tls_read_buffered(c->tls, buf, n);
	if (c->tls)
		return tls_read(c->tls, c->fd, buf, n);
	return read(c->fd, buf, n);
}

static ssize_t io_writev(struct conn *c, const struct iovec *iov, int n)
{
	if (c->tls)
		return tls_writev(c->tls, c->fd, iov, n);
	return writev(c->fd, iov, n);
}

static double mono_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/*
 * The instant a delivery ended, for srv.delivery.  Reading the clock costs
 * 20 ns on bare metal but about 100 ns under a VM's kvm-clock, near a tenth
 * of a small writev, so it is read at the first write of a turn that
 * completes a notification and then once per DELIVERY_CLOCK_EVERY such
 * writes: a saturated fan-out pays one read per 16 system calls, and a
 * recorded time is early by at most the time those writes took (tens of
 * microseconds).  Every delivery is still counted.
 */
#define DELIVERY_CLOCK_EVERY 16

static double delivery_now(void)
{
	static double clock, turn;
	static unsigned uses;

	if (turn != srv.now || ++uses >= DELIVERY_CLOCK_EVERY) {
		turn = srv.now;
		uses = 0;
		clock = mono_now();
	}
	return clock;
}

void conn_mark_dirty(struct conn *c)
{
	if (!c->dirty) {
		c->dirty = 1;
		srv.dirty[srv.ndirty++] = conn_slot(c);
	}
}

/* Drops c for falling behind; why says which rule. */
static void slow_drop(struct conn *c, const char *why, long limit)
{
	srv.st.slow_dropped++;
	log_msg(L_WARN, "%s: dropped: slow reader: %zu bytes queued, %s (%ld)",
	    c->addr, c->out_bytes, why, limit);
	conn_close(c, NULL);
}

/* Resizes c's ring to cap slots (cap >= c->oq_n; 0 frees it). */
static int ring_resize(struct conn *c, uint32_t cap)
{
	struct outref *q = NULL;

	if (cap && !(q = malloc(cap * sizeof *q)))
		return -1;
	for (uint32_t i = 0; i < c->oq_n; i++)
		q[i] = c->oq[(c->oq_head + i) % c->oq_cap];
	free(c->oq);
	srv.queued -= c->oq_cap * sizeof *q;
	srv.queued += cap * sizeof *q;
	c->oq = q;
	c->oq_cap = cap;
	c->oq_head = 0;
	return 0;
}

int conn_behind(const struct conn *c)
{
	return c->out_bytes > (size_t)cfg.max_pending;
}

/*
 * Appends m (taking a new reference) after the size checks; may_flush:
 * the caller is not inside conn_flush, which may be called first.
 */
static int enqueue(struct conn *c, struct msg *m, int may_flush)
{
	size_t cost = m->len + CONN_ENTRY_COST;

	/* Before judging a reader, give it what its socket takes. */
	if (may_flush && c->out_bytes + cost > (size_t)cfg.max_pending &&
	    c->oq_n && !c->want_out && conn_flush(c) < 0)
		return -1;
	if (c->out_bytes + cost > (size_t)cfg.max_pending_hard) {
		slow_drop(c, "over PGWS_MAX_PENDING_HARD", cfg.max_pending_hard);
		return -1;
	}
	if (c->oq_n == c->oq_cap &&
	    ring_resize(c, c->oq_cap ? c->oq_cap * 2 : 4) < 0) {
		conn_close(c, "out of memory");
		return -1;
	}
	/* A queue that starts, or passes the soft limit, starts the clock. */
	if (!c->oq_n || (!conn_behind(c) &&
	    c->out_bytes + cost > (size_t)cfg.max_pending))
		c->progress_at = srv.now;
	c->oq[(c->oq_head + c->oq_n++) % c->oq_cap] = (struct outref){ m, 0 };
	m->refs++;
	if (!m->counted) {
		m->counted = 1;
		srv.queued += msg_cost(m);
	}
	c->out_bytes += cost;
	conn_mark_dirty(c);
	return 0;
}

int conn_send(struct conn *c, struct msg *m)
{
	if (c->state == CS_DEAD)
		return -1;
	return enqueue(c, m, 1);
}

/* Queues a control or data frame built from payload; -1 if c was dropped. */
int conn_frame(struct conn *c, int opcode, const void *p, size_t n)
{
	struct msg *m = msg_frame(opcode, p, n);
	if (!m) {
		conn_close(c, "out of memory");
		return -1;
	}
	int r = conn_send(c, m);
	msg_unref(m);
	return r;
}

int conn_pong(struct conn *c, const void *p, size_t n)
{
	if (c->state == CS_DEAD)
		return -1;
	struct msg *m = msg_frame(WS_OP_PONG, p, n);
	if (!m) {
		conn_close(c, "out of memory");
		return -1;
	}
	if (c->pong_queued) {
		/* One answer is on its way; this one replaces any waiting. */
		if (c->pong)
			msg_unref(c->pong);
		c->pong = m;
		return 0;
	}
	int r = conn_send(c, m);
	msg_unref(m);
	if (r == 0)
		c->pong_queued = 1;
	return r;
}

/* A pong left the queue: the waiting answer, if any, takes its turn. */
static void pong_done(struct conn *c)
{
	struct msg *m = c->pong;

	c->pong_queued = 0;
	if (!m)
		return;
	c->pong = NULL;
	if (enqueue(c, m, 0) == 0)
		c->pong_queued = 1;
	msg_unref(m);
}

void conn_enforce_total(void)
{
	while (srv.queued > (size_t)cfg.max_pending_total) {
		struct conn *worst = NULL;
		for (int i = 0; i < srv.hiwater; i++) {
			struct conn *c = &srv.conns[i];
			if (c->fd < 0 || c->state == CS_DEAD || !c->oq_n)
				continue;
			if (!worst || c->progress_at < worst->progress_at ||
			    (c->progress_at == worst->progress_at &&
			    c->out_bytes > worst->out_bytes))
				worst = c;
		}
		if (!worst)
			return;
		/* Its queue goes when it is reaped; count it as gone now. */
		size_t before = srv.queued;
		slow_drop(worst, "all queues over PGWS_MAX_PENDING_TOTAL",
		    cfg.max_pending_total);
		if (srv.queued >= before)
			return;
	}
}

/*
 * Sends the body of a static file after the queued output.  Returns 1 when
 * the whole file went out (the connection is back to CS_HTTP or drains),
 * 0 when the socket is full, -1 when c was closed.
 */
static int flush_file(struct conn *c)
{
	/* A bounded share per turn: the socket of a fast reader on loopback
	 * never fills, and the loop has other connections to serve. */
	for (int rounds = 0; c->file_off < c->file_end; rounds++) {
		if (rounds == CONN_TURN_WRITES)
			return 0;       /* POLLOUT brings it back next turn */
		size_t want = (size_t)(c->file_end - c->file_off);
		if (want > sizeof fbuf)
			want = sizeof fbuf;
		ssize_t r = pread(c->file_fd, fbuf, want, c->file_off);
		if (r <= 0) {
			conn_close(c, "static file read failed");
			return -1;
		}
		struct iovec one = { fbuf, (size_t)r };
		ssize_t w = io_writev(c, &one, 1);
		if (w < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK) {
				c->want_out = 1;
				return 0;
			}
			conn_close(c, NULL);
			return -1;
		}
		c->file_off += w;
		/* A download that progresses is not idle. */
		c->deadline = srv.now + (double)cfg.handshake_timeout;
		if (w < r) {
			c->want_out = 1;
			return 0;
		}
	}
	close(c->file_fd);
	c->file_fd = -1;
	c->state = c->keepalive ? CS_HTTP : CS_DRAIN;
	c->deadline = srv.now + (double)(c->keepalive ? cfg.handshake_timeout :
	    cfg.close_timeout);
	/*
	 * Requests pipelined behind the file waited in c->in; the
	 * loop parses them next (not from here, which could recurse
	 * once per pipelined request).
	 */
	if (c->state == CS_HTTP && c->in_len) {
		c->reparse = 1;
		conn_mark_dirty(c);
	}
	return 1;
}

/*
 * Takes the w bytes just written off the front of c's output queue: whole
 * entries are released, a partial one keeps its offset.  Returns 1 when a
 * pong went out whole.
 */
static int oq_written(struct conn *c, size_t w)
{
	int pong = 0;
	/*
	 * A notification whose last byte just went out is timed into
	 * srv.delivery: one bucket increment per delivery (about 10 ns), and
	 * the clock as delivery_now() reads it.
	 */
	double done = 0;

	c->out_bytes -= w;
	while (w > 0) {
		struct outref *o = &c->oq[c->oq_head];
		size_t left = o->m->len - o->off;
		if (w < left) {
			o->off += (uint32_t)w;
			break;
		}
		w -= left;
		/* Only conn_pong queues a pong. */
		pong |= o->m->data[0] == (0x80 | WS_OP_PONG);
		if (o->m->t_arr > 0) {
			if (done == 0)
				done = delivery_now();
			hist_observe(&srv.delivery, done - o->m->t_arr);
		}
		msg_unref(o->m);
		c->out_bytes -= CONN_ENTRY_COST;
		c->oq_head = (c->oq_head + 1) % c->oq_cap;
		c->oq_n--;
	}
	return pong;
}

/*
 * Writes as much queued output as the socket takes.  Returns 0, or -1 when
 * the connection was closed (write error, or a drained DRAIN connection).
 */
int conn_flush(struct conn *c)
{
	struct iovec iov[64];

	if (c->state == CS_DEAD)
		return -1;
	if (c->tls && tls_flush(c->tls, c->fd) < 0) {
		conn_close(c, NULL);
		return -1;
	}
	for (int rounds = 0; c->oq_n; rounds++) {
		int n = 0;
		if (rounds == CONN_TURN_WRITES)
			return 0;       /* POLLOUT brings it back next turn */
		for (uint32_t i = 0; i < c->oq_n && n < 64; i++) {
			struct outref *o = &c->oq[(c->oq_head + i) % c->oq_cap];
			iov[n].iov_base = o->m->data + o->off;
			iov[n].iov_len = o->m->len - o->off;
			n++;
		}
		ssize_t w = io_writev(c, iov, n);
		if (w < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK) {
				c->want_out = 1;
				return 0;
			}
			if (errno == EINTR)
				continue;
			conn_close(c, NULL);
			return -1;
		}
		if (w > 0)
			c->progress_at = srv.now;
		int pong = oq_written(c, (size_t)w);
		if (pong)
			pong_done(c);
		if (c->state == CS_DEAD)
			return -1;
		if (!c->oq_n && c->oq_cap > 64)
			ring_resize(c, 0);     /* a burst's ring goes with it */
		if (c->oq_n && !pong) {
			/* A short write: the socket buffer is full. */
			c->want_out = 1;
			return 0;
		}
	}
	c->want_out = 0;
	if (c->state == CS_FILE && flush_file(c) <= 0)
		return c->state == CS_DEAD ? -1 : 0;
	if (c->state == CS_DRAIN) {
		if (c->tls && tls_pending(c->tls))
			return 0;       /* records still going out */
		conn_close(c, NULL);
		return -1;
	}
	return 0;
}

static void read_rounds(struct conn *c)
{
	/*
	 * A few reads per turn keep one busy client from starving others;
	 * decrypted TLS data is then read to the end (no poll() would wake us
	 * for it), but no more from the socket.
	 */
	for (int rounds = 0; (rounds < CONN_TURN_READS ||
	    (c->tls && tls_buffered(c->tls))); rounds++) {
		if (c->state == CS_HTTP) {
			/*
			 * Read into the shared buffer and keep only the bytes
			 * of an incomplete head: thousands of slow clients cost
			 * what they sent, not PGWS_MAX_HEADER_SIZE each.
			 */
			size_t room = (size_t)cfg.max_header + 1 - c->in_len;
			if (room > sizeof rbuf)
				room = sizeof rbuf;
			ssize_t n = io_read(c, rbuf, room, rounds);
			if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
				conn_close(c, NULL);
				return;
			}
			if (n < 0)
				return;
			char *b = realloc(c->in, c->in_len + (size_t)n);
			if (!b) {
				conn_close(c, "out of memory");
				return;
			}
			memcpy(b + c->in_len, rbuf, (size_t)n);
			c->in = b;
			c->in_len += (uint32_t)n;
			serve_input(c);
			if ((size_t)n < room)
				return;
		} else if (c->state == CS_WS || c->state == CS_CLOSING) {
			ssize_t n = io_read(c, rbuf, sizeof rbuf, rounds);
			if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
				conn_close(c, NULL);
				return;
			}
			if (n < 0)
				return;
			bridge_input(c, rbuf, (size_t)n);
			if ((size_t)n < sizeof rbuf)
				return;
		} else if (c->state == CS_BODY) {
			/* Never past the body: what follows is the next request. */
			size_t want = c->body_len - c->msg_len;
			ssize_t n = io_read(c, rbuf, want < sizeof rbuf ? want : sizeof rbuf, rounds);
			if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
				conn_close(c, NULL);
				return;
			}
			if (n < 0)
				return;
			publish_input(c, rbuf, (size_t)n);
		} else if (c->state == CS_SSE) {
			/* A stream's client has nothing to say; only its end counts. */
			ssize_t n = io_read(c, rbuf, sizeof rbuf, rounds);
			if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
				conn_close(c, NULL);
				return;
			}
			if (n < 0)
				return;
		} else {
			return;
		}
	}
}

void conn_read(struct conn *c)
{
	assert(!rbuf_busy);
	rbuf_busy = 1;
	read_rounds(c);
	rbuf_busy = 0;
}

/* Frees what c has queued: a closed connection sends nothing more. */
static void release_queue(struct conn *c)
{
	while (c->oq_n) {
		msg_unref(c->oq[c->oq_head].m);
		c->oq_head = (c->oq_head + 1) % c->oq_cap;
		c->oq_n--;
	}
	ring_resize(c, 0);
	if (c->pong)
		msg_unref(c->pong);
	c->pong = NULL;
	c->pong_queued = 0;
	c->out_bytes = 0;
}

void conn_close(struct conn *c, const char *why)
{
	if (c->fd < 0 || c->state == CS_DEAD)
		return;         /* a vacant slot, or closed already */
	if (why)
		log_msg(L_WARN, "%s: closing: %s", c->addr, why);
	if (c->s)
		bridge_end(c);
	c->state = CS_DEAD;
	c->reparse = 0;
	release_queue(c);
	srv.dead[srv.ndead++] = conn_slot(c);
}

void conn_reap(void)
{
	for (int i = 0; i < srv.ndead; i++) {
		struct conn *c = &srv.conns[srv.dead[i]];
		free(c->in);
		free(c->msg);
		free(c->cors);
		c->cors = NULL;
		if (c->file_fd >= 0)
			close(c->file_fd);
		if (c->tls) {
			tls_close(c->tls, c->fd);
			tls_free(c->tls);
			c->tls = NULL;
		}
		close(c->fd);
		c->fd = -1;
		c->in = NULL;
		c->msg = NULL;
		srv.nactive--;
		srv.free_slots[srv.nfree++] = srv.dead[i];
	}
	srv.ndead = 0;
}

void conn_open(int fd, const struct sockaddr_storage *sa, int stopping)
{
	if (!srv.nfree || stopping) {
		srv.st.refused_full++;
		close(fd);
		return;
	}
	struct tls *tls = NULL;
	if (cfg.cert_file && !(tls = tls_new())) {
		log_msg(L_WARN, "TLS: %s", strerror(errno));
		close(fd);
		return;
	}
	int slot = srv.free_slots[--srv.nfree];
	struct conn *c = &srv.conns[slot];
	uint32_t gen = c->gen + 1;
	unsigned char listed = c->dirty;
	if (slot >= srv.hiwater)
		srv.hiwater = slot + 1;
	memset(c, 0, sizeof *c);
	c->dirty = listed;
	c->ev_reg = -1;
	c->tls = tls;
	c->gen = gen ? gen : 1;
	c->fd = fd;
	c->file_fd = -1;
	c->state = CS_HTTP;
	c->keepalive = 1;
	c->t0 = srv.now;
	c->deadline = srv.now + (double)cfg.handshake_timeout;
	if (sa->ss_family == AF_INET6) {
		const struct sockaddr_in6 *a = (const void *)sa;
		c->addr[0] = '[';
		inet_ntop(AF_INET6, &a->sin6_addr, c->addr + 1, sizeof c->addr - 8);
		size_t l = strlen(c->addr);
		snprintf(c->addr + l, sizeof c->addr - l, "]:%u", ntohs(a->sin6_port));
	} else {
		const struct sockaddr_in *a = (const void *)sa;
		inet_ntop(AF_INET, &a->sin_addr, c->addr, sizeof c->addr - 8);
		size_t l = strlen(c->addr);
		snprintf(c->addr + l, sizeof c->addr - l, ":%u", ntohs(a->sin_port));
	}
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	srv.nactive++;
	srv.st.accepted++;
	conn_mark_dirty(c);          /* registers its interest, arms its timer */
}

/* The next instant one of c's timers is due, or -1. */
double conn_due(const struct conn *c)
{
	switch (c->state) {
	case CS_HTTP:
	case CS_FILE:
	case CS_CLOSING:
	case CS_DRAIN:
	case CS_BODY:
		return c->deadline;
	case CS_SSE:
		return stream_due(c);
	case CS_WS: {
		double t = c->next_ping;
		if (conn_behind(c) && c->progress_at + (double)cfg.slow_timeout < t)
			t = c->progress_at + (double)cfg.slow_timeout;
		double d = c->last_rx + 2.0 * (double)cfg.ping_interval;
		if (d < t)
			t = d;
		if (c->exp_at && c->exp_at < t)
			t = c->exp_at;
		return t;
	}
	default:
		return -1;
	}
}

double conn_timers(struct conn *c)
{
	double due = conn_due(c);

	if (due < 0 || srv.now < due)
		return due < 0 ? -1 : due - srv.now;
	if (c->state == CS_WS && conn_behind(c) &&
	    srv.now >= c->progress_at + (double)cfg.slow_timeout) {
		slow_drop(c, "over PGWS_MAX_PENDING with nothing written for "
		    "PGWS_SLOW_TIMEOUT seconds", cfg.slow_timeout);
		return -1;
	} else if (c->state == CS_WS) {
		bridge_timers(c);
	} else if (c->state == CS_SSE) {
		stream_timers(c);
	} else {
		srv.st.timeouts++;
		log_msg(L_DEBUG, "%s: timed out", c->addr);
		conn_close(c, NULL);
	}
	due = conn_due(c);
	return due < 0 ? -1 : due > srv.now ? due - srv.now : 0;
}

int conn_init(int max)
{
	srv.conns = calloc((size_t)max, sizeof *srv.conns);
	srv.free_slots = malloc((size_t)max * sizeof *srv.free_slots);
	srv.dirty = malloc((size_t)max * sizeof *srv.dirty);
	srv.dead = malloc((size_t)max * sizeof *srv.dead);
	if (!srv.conns || !srv.free_slots || !srv.dirty || !srv.dead ||
	    chan_index_init(&srv.chans, 1024) < 0)
		return -1;
	hist_init(&srv.delivery, hist_delivery_le, hist_delivery_n);
	for (int i = max - 1; i >= 0; i--) {
		srv.conns[i].fd = -1;
		srv.free_slots[srv.nfree++] = i;
	}
	return 0;
}

void conn_fini(void)
{
	chan_index_free(&srv.chans);
	free(srv.conns);
	free(srv.free_slots);
	free(srv.dirty);
	free(srv.dead);
}
