/*
 * The event loop, in its own file so that what happens in one turn reads
 * alone: one clock reading, due timers, a flush of every connection that
 * got output, one wait for readiness, then the database's events and each
 * ready socket, and finally the reaping of connections closed this turn.
 */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#ifdef __linux__
#include <sys/epoll.h>
#endif

#include "bridge.h"
#include "config.h"
#include "db.h"
#include "log.h"
#include "loop.h"
#include "serve.h"
#include "tls.h"
#include "ws.h"

/*
 * The readiness backend.  Each turn the loop declares the descriptors it
 * always watches (the signal pipe, listeners, database sockets) with
 * ev_add, sleeps in ev_wait and walks the ready entries with their owner
 * (WHO_* or a connection slot).  Client connections go one of two ways:
 *
 *   poll   every connection is declared every turn: portable, and fine
 *          for a few thousand connections;
 *   epoll  (Linux, the default) each connection is registered once and
 *          re-registered only when the events it waits for change
 *          (ev_update, from the dirty list), and the epoll descriptor is
 *          one more entry of the poll() set.  A turn then costs what is
 *          ready, not what is connected.
 */
enum { WHO_EPOLL = -4, WHO_SIGNAL = -3, WHO_DB = -2, WHO_LISTENER = -1 };

/* Timers run at most this often (seconds), however many connections. */
#define TIMER_SLACK 0.05

static struct {
	struct pollfd *pfd;
	int *who;
	uint32_t *gen;          /* a connection's gen when it was added */
	size_t n, cap;
	int epfd;               /* >= 0: the epoll backend is in use */
	double timer_walk_at;   /* when the connection timers next run */
	int listeners[2], nlisteners;
	double accept_pause;    /* no accept() before this instant */
	int stopping;
	double stop_deadline;
	int exit_status;        /* loop_run's return */
	const char *stop_why;   /* close reason when exit_status != 0 */
} lp = { .epfd = -1, .listeners = { -1, -1 } };

/*
 * The handler also writes to a pipe that poll() watches: a signal that
 * lands between the loop's check of got_stop and its poll() call would
 * otherwise go unseen until some other event woke the loop.
 */
static int sigpipe_fd[2] = { -1, -1 };
static volatile sig_atomic_t got_stop, got_hup;

static void loop_stop(int status, const char *why);

static double clock_mono(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double clock_wall(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int listen_on(const struct sockaddr *sa, socklen_t sl, int v6only)
{
	int fd = socket(sa->sa_family, SOCK_STREAM, 0), one = 1;
	if (fd < 0)
		return -1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	if (sa->sa_family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &v6only, sizeof v6only);
	if (bind(fd, sa, sl) || listen(fd, 1024)) {
		int e = errno;
		close(fd);
		errno = e;
		return -1;
	}
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
	fcntl(fd, F_SETFD, FD_CLOEXEC);
	return fd;
}

/*
 * Binds a wildcard listener of family af (AF_INET or AF_INET6) on
 * PGWS_PORT, or on the port the first listener got when that is 0.
 * Returns the descriptor or -1 with errno set.
 */
static int listen_any(int af, int v6only)
{
	struct sockaddr_in a4 = { .sin_family = AF_INET,
	    .sin_port = htons((uint16_t)cfg.port) };
	struct sockaddr_in6 a6 = { .sin6_family = AF_INET6,
	    .sin6_port = htons((uint16_t)cfg.port) };

	a4.sin_addr.s_addr = htonl(INADDR_ANY);
	a6.sin6_addr = in6addr_any;
	if (lp.nlisteners && cfg.port == 0) {
		/* Both families on the port the first one got. */
		struct sockaddr_in got;
		socklen_t gl = sizeof got;
		getsockname(lp.listeners[0], (struct sockaddr *)&got, &gl);
		a4.sin_port = a6.sin6_port = got.sin_port;
	}
	if (af == AF_INET)
		return listen_on((struct sockaddr *)&a4, sizeof a4, 0);
	return listen_on((struct sockaddr *)&a6, sizeof a6, v6only);
}

/*
 * PGWS_HOST's wildcard forms, as warp reads them: *4 and !4 the IPv4
 * wildcard (*4 falls back to IPv6 where IPv4 cannot bind), *6 the IPv6
 * wildcard dual-stack, IPV6_V6ONLY off, so IPv4 clients still connect
 * (falling back to IPv4), !6 the IPv6 wildcard alone, * both families.
 * Returns 0, or -1 when host is not one of them.
 */
static int listen_wildcard(const char *h)
{
	int fd, only = h[0] == '!';

	if (!strcmp(h, "*")) {
		if ((fd = listen_any(AF_INET, 0)) < 0)
			die("PGWS_HOST/PGWS_PORT: cannot listen on *:%ld: %s",
			    cfg.port, strerror(errno));
		lp.listeners[lp.nlisteners++] = fd;
		if ((fd = listen_any(AF_INET6, 1)) < 0)
			die("PGWS_HOST/PGWS_PORT: cannot listen on [::]:%ld: %s",
			    cfg.port, strerror(errno));
	} else if (!strcmp(h, "*4") || !strcmp(h, "!4")) {
		fd = listen_any(AF_INET, 0);
		if (fd < 0 && !only)
			fd = listen_any(AF_INET6, 0);
	} else if (!strcmp(h, "*6") || !strcmp(h, "!6")) {
		fd = listen_any(AF_INET6, only);
		if (fd < 0 && !only)
			fd = listen_any(AF_INET, 0);
	} else {
		return -1;
	}
	if (fd < 0)
		die("PGWS_HOST/PGWS_PORT: cannot listen on %s:%ld: %s", h,
		    cfg.port, strerror(errno));
	lp.listeners[lp.nlisteners++] = fd;
	return 0;
}

/* Binds what PGWS_HOST and PGWS_PORT name; returns the port bound. */
int loop_listen(void)
{
	int fd;

	if (listen_wildcard(cfg.host) < 0) {
		struct addrinfo hints = { .ai_socktype = SOCK_STREAM,
		    .ai_flags = AI_PASSIVE | AI_NUMERICSERV }, *res, *ai;
		char port[16];
		snprintf(port, sizeof port, "%ld", cfg.port);
		int e = getaddrinfo(cfg.host, port, &hints, &res);
		if (e)
			die("PGWS_HOST: cannot resolve '%s': %s", cfg.host,
			    gai_strerror(e));
		for (ai = res; ai && lp.nlisteners < 1; ai = ai->ai_next)
			if ((fd = listen_on(ai->ai_addr, ai->ai_addrlen, 1)) >= 0)
				lp.listeners[lp.nlisteners++] = fd;
		if (!lp.nlisteners)
			die("PGWS_HOST/PGWS_PORT: cannot listen on %s:%ld: %s",
			    cfg.host, cfg.port, strerror(errno));
		freeaddrinfo(res);
	}
	struct sockaddr_storage got;
	socklen_t gl = sizeof got;
	getsockname(lp.listeners[0], (struct sockaddr *)&got, &gl);
	return ntohs(got.ss_family == AF_INET6 ?
	    ((struct sockaddr_in6 *)&got)->sin6_port :
	    ((struct sockaddr_in *)&got)->sin_port);
}

static void on_stop(int sig)
{
	int e = errno;
	(void)sig;
	got_stop = 1;
	if (write(sigpipe_fd[1], "", 1) < 0)
		errno = e;
	errno = e;
}

static void on_hup(int sig)
{
	int e = errno;
	(void)sig;
	got_hup = 1;
	if (write(sigpipe_fd[1], "", 1) < 0)
		errno = e;
	errno = e;
}

static void accept_all(int lfd)
{
	for (;;) {
		struct sockaddr_storage sa;
		socklen_t sl = sizeof sa;
		int fd = accept(lfd, (struct sockaddr *)&sa, &sl);
		if (fd < 0) {
			if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS ||
			    errno == ENOMEM) {
				/* Without a spare descriptor, back off briefly. */
				log_msg(L_WARN, "accept: %s; pausing new connections",
				    strerror(errno));
				lp.accept_pause = srv.now + 0.25;
			}
			return;
		}
		fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
		fcntl(fd, F_SETFD, FD_CLOEXEC);
		conn_open(fd, &sa, lp.stopping);
	}
}

static void begin_stop(void)
{
	lp.stopping = 1;
	lp.stop_deadline = srv.now + (double)cfg.close_timeout;
	log_msg(L_INFO, "shutting down: closing %d websockets", srv.nws);
	for (int i = 0; i < lp.nlisteners; i++)
		close(lp.listeners[i]);
	lp.nlisteners = 0;
	for (int i = 0; i < cfg.max_connections; i++) {
		struct conn *c = &srv.conns[i];
		if (c->fd < 0)
			continue;
		if (c->state == CS_WS && lp.exit_status)
			bridge_fail(c, WS_CLOSE_INTERNAL, lp.stop_why);
		else if (c->state == CS_WS)
			bridge_fail(c, WS_CLOSE_GOING_AWAY, "Server shutting down");
		else if (c->state != CS_CLOSING)
			conn_close(c, NULL);
	}
}

static void ev_add(int fd, short events, int who)
{
	lp.pfd[lp.n] = (struct pollfd){ fd, events, 0 };
	lp.gen[lp.n] = who >= 0 ? srv.conns[who].gen : 0;
	lp.who[lp.n++] = who;
}

static int ev_wait(double timeout)
{
	int ms = timeout < 0 ? -1 : (int)ceil(timeout * 1000);
	return poll(lp.pfd, lp.n, ms);
}

/* What c waits for, derived from its state alone. */
static short conn_events(const struct conn *c)
{
	short ev = 0;

	/* A websocket too far behind is not read until it catches up. */
	if (c->state == CS_HTTP || c->state == CS_CLOSING ||
	    c->state == CS_SSE || c->state == CS_BODY ||
	    (c->state == CS_WS && !conn_behind(c)))
		ev |= POLLIN;
	if (c->want_out || c->oq_n || c->state == CS_FILE)
		ev |= POLLOUT;
	/*
	 * The TLS engine wants records almost always; only states that read
	 * may wait for them, or unread bytes would wake every turn.
	 */
	if (c->tls)
		ev |= tls_events(c->tls) & ((ev & POLLIN) | POLLOUT);
	return ev;
}

/* epoll: registers the events c now waits for, if they changed. */
static void ev_update(struct conn *c)
{
#ifdef __linux__
	short want = conn_events(c);

	if (lp.epfd < 0 || want == c->ev_reg)
		return;
	struct epoll_event e = { .events = (uint32_t)want,
	    .data.u64 = (uint64_t)c->gen << 32 | (uint32_t)conn_slot(c) };
	if (epoll_ctl(lp.epfd, c->ev_reg < 0 ? EPOLL_CTL_ADD : EPOLL_CTL_MOD,
	    c->fd, &e) < 0) {
		conn_close(c, "epoll_ctl failed");
		return;
	}
	c->ev_reg = want;
#else
	(void)c;
#endif
}

static void ev_forget(struct conn *c)
{
#ifdef __linux__
	if (lp.epfd >= 0 && c->ev_reg >= 0)
		epoll_ctl(lp.epfd, EPOLL_CTL_DEL, c->fd, NULL);
#endif
	c->ev_reg = -1;
}

/* Reaps the connections closed this turn, unregistered while their
 * descriptors are still open. */
static void reap(void)
{
	for (int i = 0; i < srv.ndead; i++)
		ev_forget(&srv.conns[srv.dead[i]]);
	conn_reap();
}

/*
 * Visits every connection touched since the last call: writes what it
 * queued (one writev each), parses requests that waited behind a file,
 * reads TLS data already decrypted, re-registers its interest and lets its
 * timers pull the next timer walk earlier.  Entries added meanwhile are
 * visited in the same call.
 */
static void flush_dirty(void)
{
	for (int i = 0; i < srv.ndirty; i++) {
		struct conn *c = &srv.conns[srv.dirty[i]];
		/* dirty means "listed": it survives close and reuse. */
		c->dirty = 0;
		conn_flush(c);
		if (c->reparse) {
			c->reparse = 0;
			serve_input(c);
		}
		if (lp.epfd >= 0 && c->tls && tls_buffered(c->tls) &&
		    (conn_events(c) & POLLIN))
			conn_read(c);
		if (c->state == CS_DEAD || c->dirty)
			continue;       /* closed, or listed again further on */
		ev_update(c);
		double d = conn_due(c);
		if (d >= 0 && d < lp.timer_walk_at)
			lp.timer_walk_at = d;
	}
	srv.ndirty = 0;
}

static void min_timeout(double *timeout, double t)
{
	if (t >= 0 && (*timeout < 0 || t < *timeout))
		*timeout = t;
}

/* Runs the timers of every connection; sets when they next need to run. */
static void run_timers(void)
{
	double next = srv.now + 3600;

	for (int i = 0; i < srv.hiwater; i++) {
		struct conn *c = &srv.conns[i];
		if (c->fd < 0)
			continue;
		double t = conn_timers(c);
		if (t >= 0 && srv.now + t < next)
			next = srv.now + t;
	}
	lp.timer_walk_at = next > srv.now + TIMER_SLACK ? next : srv.now + TIMER_SLACK;
}

/*
 * Runs due timers, writes pending output and declares what the loop waits
 * for.  Returns how long it may sleep (-1: until an event).
 */
static double loop_prepare(size_t *db_first, size_t *db_n)
{
	double timeout = -1;

	if (srv.now >= lp.timer_walk_at)
		run_timers();
	flush_dirty();
	reap();
	min_timeout(&timeout, lp.timer_walk_at - srv.now);

	lp.n = 0;
	ev_add(sigpipe_fd[0], POLLIN, WHO_SIGNAL);
	if (lp.epfd >= 0)
		ev_add(lp.epfd, POLLIN, WHO_EPOLL);
	if (srv.now >= lp.accept_pause)
		for (int i = 0; i < lp.nlisteners; i++)
			ev_add(lp.listeners[i], POLLIN, WHO_LISTENER);
	else
		min_timeout(&timeout, lp.accept_pause - srv.now);
	*db_first = lp.n;
	*db_n = db_pollfds(lp.pfd + lp.n, lp.cap - lp.n);
	for (size_t i = 0; i < *db_n; i++)
		lp.who[lp.n++] = WHO_DB;
	min_timeout(&timeout, db_timeout(srv.now));
	if (lp.epfd < 0)
		for (int i = 0; i < srv.hiwater; i++) {
			struct conn *c = &srv.conns[i];
			if (c->fd < 0)
				continue;
			short ev = conn_events(c);
			/* Plaintext already decrypted wakes no poll(). */
			if (c->tls && (ev & POLLIN) && tls_buffered(c->tls))
				timeout = 0;
			ev_add(c->fd, ev, i);
		}
	if (lp.stopping)
		min_timeout(&timeout, lp.stop_deadline - srv.now);
	if (srv.ndirty)
		timeout = 0;
	return timeout;
}

/* Reads or writes one connection that poll() or epoll found ready. */
static void conn_ready(struct conn *c, short revents)
{
	if (revents & (POLLIN | POLLHUP | POLLERR))
		conn_read(c);
	if (revents & POLLOUT)
		conn_flush(c);
	if (c->state != CS_DEAD)
		conn_mark_dirty(c);  /* its interest may have changed */
}

static void epoll_dispatch(void)
{
#ifdef __linux__
	struct epoll_event evs[512];
	int n = epoll_wait(lp.epfd, evs, 512, 0);

	for (int i = 0; i < n; i++) {
		uint32_t slot = (uint32_t)evs[i].data.u64;
		uint32_t gen = (uint32_t)(evs[i].data.u64 >> 32);
		struct conn *c = &srv.conns[slot];
		if (c->fd < 0 || c->state == CS_DEAD || c->gen != gen)
			continue;       /* closed this turn */
		conn_ready(c, (short)evs[i].events);
	}
#endif
}

static void loop_dispatch(size_t db_first, size_t db_n)
{
	db_process(db_n ? lp.pfd + db_first : NULL, db_n, srv.now);
	if (bridge_db_events())
		loop_stop(1, "Database listener lost");
	for (size_t i = 0; i < lp.n; i++) {
		struct pollfd *p = &lp.pfd[i];
		int who = lp.who[i];

		if (who >= 0 && srv.conns[who].tls && (p->events & POLLIN) &&
		    tls_buffered(srv.conns[who].tls))
			p->revents |= POLLIN;
		if (!p->revents || who == WHO_DB)
			continue;
		if (who == WHO_SIGNAL) {
			char drain[64];
			while (read(sigpipe_fd[0], drain, sizeof drain) > 0)
				;
			continue;
		}
		if (who == WHO_EPOLL) {
			epoll_dispatch();
			continue;
		}
		if (who == WHO_LISTENER) {
			if (!lp.stopping)
				accept_all(p->fd);
			continue;
		}
		struct conn *c = &srv.conns[who];
		if (c->fd != p->fd || c->gen != lp.gen[i] || c->state == CS_DEAD)
			continue;       /* closed this turn (or vacant) */
		conn_ready(c, p->revents);
	}
	/* One writev per connection that got output this turn. */
	flush_dirty();
	reap();
}

int loop_run(void)
{
	lp.cap = (size_t)cfg.max_connections + (size_t)cfg.pool_size + 16;
	lp.pfd = calloc(lp.cap, sizeof *lp.pfd);
	lp.who = calloc(lp.cap, sizeof *lp.who);
	lp.gen = calloc(lp.cap, sizeof *lp.gen);
	if (!lp.pfd || !lp.who || !lp.gen)
		die("out of memory");
#ifdef __linux__
	if (!strcmp(cfg.backend, "epoll") &&
	    (lp.epfd = epoll_create1(EPOLL_CLOEXEC)) < 0)
		die("PGWS_EVENT_BACKEND: epoll: %s", strerror(errno));
#endif
	for (;;) {
		size_t db_first, db_n;

		srv.now = clock_mono();
		srv.wall = clock_wall();
		if (got_stop && !lp.stopping) {
			begin_stop();
			reap();
		}
		if (got_hup) {
			char err[512];
			got_hup = 0;
			if (cfg.cert_file && tls_reload(err, sizeof err) < 0)
				log_msg(L_ERROR, "SIGHUP: keeping the old certificate: %s", err);
			else if (cfg.cert_file)
				log_msg(L_INFO, "SIGHUP: reloaded %s and %s",
				    cfg.cert_file, cfg.key_file);
			size_t nk = 0;
			int kr = bridge_reload_keys(&nk, err, sizeof err);
			if (kr < 0)
				log_msg(L_ERROR, "SIGHUP: keeping the old keys: %s", err);
			else if (kr > 0)
				log_msg(L_INFO, "SIGHUP: reloaded PGWS_JWT_SECRET (%zu key%s)",
				    nk, nk == 1 ? "" : "s");
		}
		/* Messages already accepted (and Close events) still go out. */
		if (lp.stopping && ((srv.nactive == 0 && db_pending() == 0) ||
		    srv.now >= lp.stop_deadline))
			break;
		double timeout = loop_prepare(&db_first, &db_n);
		int rc = ev_wait(timeout);
		srv.now = clock_mono();
		srv.wall = clock_wall();
		if (rc < 0) {
			if (errno == EINTR)
				continue;
			/*
			 * The loop cannot wait any more: close what it can
			 * (websockets get 1011 and their queues one last
			 * write) and return, so main closes the database.
			 */
			log_msg(L_ERROR, "poll: %s; shutting down", strerror(errno));
			lp.exit_status = 1;
			lp.stop_why = "Server error";
			if (!lp.stopping)
				begin_stop();
			flush_dirty();
			reap();
			break;
		}
		loop_dispatch(db_first, db_n);
	}
	for (int i = 0; i < srv.hiwater; i++)
		conn_close(&srv.conns[i], NULL);
	reap();
	for (int i = 0; i < lp.nlisteners; i++)
		close(lp.listeners[i]);
	free(lp.pfd);
	free(lp.who);
	free(lp.gen);
	if (lp.epfd >= 0)
		close(lp.epfd);
	log_msg(L_INFO, "stopped");
	return lp.exit_status;
}

/* Asks the loop to shut down with exit status status; with status != 0
 * websockets are closed with 1011 and reason why (a literal) instead of
 * 1001. */
static void loop_stop(int status, const char *why)
{
	if (status && !lp.exit_status) {
		lp.exit_status = status;
		lp.stop_why = why;
	}
	got_stop = 1;
}

void loop_init(void)
{
	signal(SIGPIPE, SIG_IGN);
	/* A reload asked for while the database is still being reached (the
	 * start-up retries) has nothing to do yet; it must not end pgws. */
	signal(SIGHUP, SIG_IGN);
	if (pipe(sigpipe_fd) < 0)
		die("pipe: %s", strerror(errno));
	for (int i = 0; i < 2; i++) {
		fcntl(sigpipe_fd[i], F_SETFL, O_NONBLOCK);
		fcntl(sigpipe_fd[i], F_SETFD, FD_CLOEXEC);
	}
}

void loop_signals(void)
{
	struct sigaction sa = { .sa_handler = on_stop };

	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sa.sa_handler = on_hup;
	sigaction(SIGHUP, &sa, NULL);
}

