/*
 * loadgen: websocket load generator for pgws benchmarks (bench/run.sh).
 * C11 + _GNU_SOURCE, libc only, one epoll loop.
 *
 *   loadgen idle N     open and hold N websockets; prints "READY" once all
 *                      are up, then holds until SIGTERM/SIGINT or --duration
 *                      (they read --channel: give one that nobody notifies,
 *                      or they are subscribers, not idle)
 *   loadgen fanout N   N readers of one channel; each notification payload
 *                      carries "t" (unix µs) and "i" (sequence); measures
 *                      deliveries, latency from t to receipt, sequence gaps
 *   loadgen echo N     N rw writers, each on its own channel ("<chan><k>"):
 *                      send, wait for the envelope to come back, repeat
 *                      (--window W keeps W messages in flight per writer:
 *                      then round trips/s is the ingest rate)
 *   loadgen startup R -- CMD ARGS...
 *                      runs CMD R times, timing the start until it prints
 *                      "Listening on port" on stdout, then SIGTERMs it
 *
 * options: --host A (127.0.0.1) --port P --token JWT --channel C (bench)
 *          --duration S (idle: hold at most S s; echo: run S s; fanout:
 *          hard stop after S s) --quiet-ms M (fanout: stop M ms after the
 *          last delivery, once at least one arrived; 0 = never)
 *          --src K (bind to 127.0.0.1..K round robin; default 1+N/20000)
 *          --inflight M (connects in flight at once, 256)
 *          --window W (echo: messages in flight per writer, 1)
 *          --hold 1 (after printing the results, keep every socket open
 *          until SIGTERM, so the caller can sample the server first)
 *
 * Results go to stdout as "RESULT <key> <value>" lines; progress and errors
 * to stderr.  The upgrade response is not checked beyond "HTTP/1.1 101".
 * Client frames are masked (RFC 6455 §5.3).
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifndef IP_BIND_ADDRESS_NO_PORT
#define IP_BIND_ADDRESS_NO_PORT 24
#endif

#define RBUF 16384

enum { S_FREE, S_CONNECTING, S_HANDSHAKE, S_OPEN, S_DEAD };
enum { M_IDLE, M_FANOUT, M_ECHO };

struct conn {
	int fd, state, idx;
	uint32_t rlen;
	char *rbuf;
	/* fanout */
	long long last_i;
	/* echo */
	long long sent_at;    /* messages in flight (echo) */
	char chan[32];
	int chan_len;
};

static int mode;
static long nconn;
static const char *host = "127.0.0.1", *token = "", *channel = "bench";
static int port = 3000;
static double duration = 0;
static int quiet_ms = 0, nsrc = 0, inflight_max = 256;
static volatile sig_atomic_t stop_flag;
static volatile sig_atomic_t nsig;
static int hold_after;
static int epfd;
static struct conn *conns;
static long n_open, n_failed, n_closed_by_server, n_inflight, next_to_open;
static long long t_start_us, t_all_up_us, t_first_msg_us, t_last_msg_us;

/* statistics */
static unsigned long long delivered, gaps, reordered, parse_err, bytes_in;
static unsigned long long round_trips, round_trips_timed;

static long long now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (long long)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static long long mono_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/*
 * Log-linear histogram of microseconds: exact below 2048, then 1024
 * sub-buckets per power of two (under 0.1 % error).
 */
#define H_LIN 2048
#define H_SUB 1024
#define H_EXP 40
static unsigned long long hist[H_LIN + H_EXP * H_SUB];
static unsigned long long h_count;
static long long h_max, h_neg;

static void hist_add(long long v)
{
	size_t idx;
	if (v < 0) {
		h_neg++;
		v = 0;
	}
	if (v > h_max)
		h_max = v;
	if (v < H_LIN) {
		idx = (size_t)v;
	} else {
		int e = 63 - __builtin_clzll((unsigned long long)v); /* >= 11 */
		if (e - 11 >= H_EXP)
			e = 11 + H_EXP - 1;
		idx = H_LIN + (size_t)(e - 11) * H_SUB +
		    (size_t)((v >> (e - 10)) & (H_SUB - 1));
	}
	hist[idx]++;
	h_count++;
}

static long long hist_val(size_t idx)
{
	if (idx < H_LIN)
		return (long long)idx;
	size_t e = (idx - H_LIN) / H_SUB + 11, sub = (idx - H_LIN) % H_SUB;
	return (long long)((1ULL << e) + ((unsigned long long)sub << (e - 10)));
}

static long long hist_pct(double p)
{
	unsigned long long want, acc = 0;
	size_t i;
	if (!h_count)
		return -1;
	want = (unsigned long long)(p / 100.0 * (double)h_count);
	if (want >= h_count)
		want = h_count - 1;
	for (i = 0; i < sizeof hist / sizeof hist[0]; i++) {
		acc += hist[i];
		if (acc > want)
			return hist_val(i);
	}
	return h_max;
}

static void on_signal(int sig)
{
	(void)sig;
	stop_flag = 1;
	nsig++;
}

static void die(const char *m)
{
	perror(m);
	exit(1);
}

static void conn_kill(struct conn *c, int by_server)
{
	if (c->state == S_DEAD || c->state == S_FREE)
		return;
	if (c->state == S_OPEN) {
		n_open--;
		if (by_server)
			n_closed_by_server++;
	} else {
		if (c->state == S_CONNECTING || c->state == S_HANDSHAKE)
			n_inflight--;
		n_failed++;
	}
	epoll_ctl(epfd, EPOLL_CTL_DEL, c->fd, NULL);
	close(c->fd);
	c->fd = -1;
	c->state = S_DEAD;
	free(c->rbuf);
	c->rbuf = NULL;
}

static int write_all(int fd, const void *buf, size_t n)
{
	const char *p = buf;
	while (n) {
		ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN) {
				/* rare: small frames into an empty socket */
				struct timespec ts = { 0, 100000 };
				nanosleep(&ts, NULL);
				continue;
			}
			return -1;
		}
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

static uint32_t rng_state = 0x9e3779b9u;
static uint32_t rng(void)
{
	uint32_t x = rng_state;
	x ^= x << 13;
	x ^= x >> 17;
	x ^= x << 5;
	return rng_state = x;
}

/* Sends one masked frame. */
static int send_frame(struct conn *c, int opcode, const char *data, size_t n)
{
	unsigned char hdr[14], buf[256 + 14];
	size_t h = 0, i;
	uint32_t mk = rng();
	unsigned char *m;
	hdr[h++] = (unsigned char)(0x80 | opcode);
	if (n < 126) {
		hdr[h++] = (unsigned char)(0x80 | n);
	} else if (n < 65536) {
		hdr[h++] = 0x80 | 126;
		hdr[h++] = (unsigned char)(n >> 8);
		hdr[h++] = (unsigned char)n;
	} else {
		return -1;
	}
	memcpy(hdr + h, &mk, 4);
	m = hdr + h;
	h += 4;
	if (h + n > sizeof buf)
		return -1;
	memcpy(buf, hdr, h);
	for (i = 0; i < n; i++)
		buf[h + i] = (unsigned char)data[i] ^ m[i & 3];
	return write_all(c->fd, buf, h + n);
}

static int window = 1;

/* Sends one message "echo-<idx>-<mono µs>"; the envelope carries it back. */
static void echo_send(struct conn *c)
{
	char msg[64];
	int n = snprintf(msg, sizeof msg, "echo-%d-%lld", c->idx, mono_us());
	c->sent_at++;
	if (send_frame(c, 1, msg, (size_t)n))
		conn_kill(c, 1);
}

static void start_connect(struct conn *c)
{
	struct sockaddr_in sa = { 0 }, src = { 0 };
	int one = 1, fd;
	fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		fprintf(stderr, "loadgen: socket: %s\n", strerror(errno));
		c->state = S_DEAD;
		n_failed++;
		return;
	}
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	if (nsrc > 1) {
		setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
		src.sin_family = AF_INET;
		src.sin_addr.s_addr = htonl(0x7f000001u + (uint32_t)(c->idx % nsrc));
		if (bind(fd, (struct sockaddr *)&src, sizeof src))
			fprintf(stderr, "loadgen: bind: %s\n", strerror(errno));
	}
	sa.sin_family = AF_INET;
	sa.sin_port = htons((uint16_t)port);
	inet_pton(AF_INET, host, &sa.sin_addr);
	c->fd = fd;
	c->state = S_CONNECTING;
	c->rlen = 0;
	c->last_i = 0;
	c->sent_at = 0;
	n_inflight++;
	if (connect(fd, (struct sockaddr *)&sa, sizeof sa) && errno != EINPROGRESS) {
		fprintf(stderr, "loadgen: connect: %s\n", strerror(errno));
		conn_kill(c, 0);
		return;
	}
	struct epoll_event ev = { .events = EPOLLIN | EPOLLOUT, .data.ptr = c };
	if (epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev))
		die("epoll_ctl");
}

static void send_handshake(struct conn *c)
{
	char req[16384];
	int n;
	if (mode == M_ECHO)
		n = snprintf(req, sizeof req,
		    "GET /%.*s/%s HTTP/1.1\r\nHost: %s:%d\r\nUpgrade: websocket\r\n"
		    "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
		    "Sec-WebSocket-Version: 13\r\n\r\n",
		    c->chan_len, c->chan, token, host, port);
	else
		n = snprintf(req, sizeof req,
		    "GET /%s/%s HTTP/1.1\r\nHost: %s:%d\r\nUpgrade: websocket\r\n"
		    "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
		    "Sec-WebSocket-Version: 13\r\n\r\n",
		    channel, token, host, port);
	if (n <= 0 || (size_t)n >= sizeof req || write_all(c->fd, req, (size_t)n)) {
		conn_kill(c, 0);
		return;
	}
	c->state = S_HANDSHAKE;
	struct epoll_event ev = { .events = EPOLLIN, .data.ptr = c };
	epoll_ctl(epfd, EPOLL_CTL_MOD, c->fd, &ev);
}

/* Finds a JSON number member "key": in p[0..n) (flat scan; our payloads). */
static int find_num(const char *p, size_t n, const char *key, long long *out)
{
	size_t kl = strlen(key);
	const char *e = p + n, *q = p;
	while ((q = memmem(q, (size_t)(e - q), key, kl)) != NULL) {
		q += kl;
		while (q < e && (*q == ' ' || *q == ':'))
			q++;
		if (q < e && (*q == '-' || (*q >= '0' && *q <= '9'))) {
			long long v = 0;
			int neg = 0;
			if (*q == '-') {
				neg = 1;
				q++;
			}
			while (q < e && *q >= '0' && *q <= '9')
				v = v * 10 + (*q++ - '0');
			*out = neg ? -v : v;
			return 1;
		}
	}
	return 0;
}

static void on_message(struct conn *c, const char *p, size_t n)
{
	long long now = 0;
	bytes_in += n;
	if (mode == M_FANOUT) {
		long long t, i;
		now = now_us();
		if (!find_num(p, n, "\"t\"", &t) || !find_num(p, n, "\"i\"", &i)) {
			parse_err++;
			return;
		}
		delivered++;
		if (!t_first_msg_us)
			t_first_msg_us = mono_us();
		t_last_msg_us = mono_us();
		hist_add(now - t);
		if (i <= c->last_i)
			reordered++;
		else {
			if (c->last_i && i > c->last_i + 1)
				gaps += (unsigned long long)(i - c->last_i - 1);
			c->last_i = i;
		}
	} else if (mode == M_ECHO) {
		char want[64];
		int wl = snprintf(want, sizeof want, "\"echo-%d-", c->idx);
		const char *q = memmem(p, n, want, (size_t)wl);
		long long t = 0;
		if (!c->sent_at || !q) {
			parse_err++;
			return;
		}
		for (q += wl; q < p + n && *q >= '0' && *q <= '9'; q++)
			t = t * 10 + (*q - '0');
		now = mono_us();
		hist_add(now - t);
		round_trips++;
		if (!stop_flag)
			round_trips_timed++;
		c->sent_at--;
		if (!stop_flag)
			echo_send(c);
	}
}

/* Parses frames in c->rbuf; returns -1 if the connection must go. */
static int parse_frames(struct conn *c)
{
	uint32_t off = 0;
	unsigned char *b = (unsigned char *)c->rbuf;
	while (c->rlen - off >= 2) {
		unsigned op = b[off] & 0x0f, fin = b[off] & 0x80;
		uint64_t len = b[off + 1] & 0x7f;
		uint32_t h = 2;
		if (b[off + 1] & 0x80)
			return -1;      /* server frames are never masked */
		if (len == 126) {
			if (c->rlen - off < 4)
				break;
			len = ((uint64_t)b[off + 2] << 8) | b[off + 3];
			h = 4;
		} else if (len == 127) {
			if (c->rlen - off < 10)
				break;
			len = 0;
			for (int k = 0; k < 8; k++)
				len = (len << 8) | b[off + 2 + k];
			h = 10;
		}
		if (len > RBUF - 16) {
			fprintf(stderr, "loadgen: frame of %llu bytes too big\n",
			    (unsigned long long)len);
			return -1;
		}
		if (c->rlen - off < h + len)
			break;
		const char *pl = c->rbuf + off + h;
		if (op == 1 || op == 2 || op == 0) {
			if (!fin)
				parse_err++; /* fragmented: not expected here */
			else
				on_message(c, pl, (size_t)len);
		} else if (op == 9) {
			if (send_frame(c, 10, pl, (size_t)len))
				return -1;
		} else if (op == 8) {
			return -1;
		}
		off += h + (uint32_t)len;
	}
	if (off) {
		memmove(c->rbuf, c->rbuf + off, c->rlen - off);
		c->rlen -= off;
	}
	return 0;
}

static void on_readable(struct conn *c)
{
	for (;;) {
		if (c->rlen >= RBUF) {
			conn_kill(c, 1);
			return;
		}
		ssize_t r = recv(c->fd, c->rbuf + c->rlen, RBUF - c->rlen, 0);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN)
				return;
			conn_kill(c, 1);
			return;
		}
		if (r == 0) {
			conn_kill(c, 1);
			return;
		}
		c->rlen += (uint32_t)r;
		if (c->state == S_HANDSHAKE) {
			char *e = memmem(c->rbuf, c->rlen, "\r\n\r\n", 4);
			if (!e) {
				if (c->rlen >= RBUF) {
					conn_kill(c, 0);
					return;
				}
				continue;
			}
			if (c->rlen < 12 || memcmp(c->rbuf, "HTTP/1.1 101", 12)) {
				if (n_failed < 5)
					fprintf(stderr, "loadgen: upgrade refused: %.*s\n",
					    (int)(strchr(c->rbuf, '\r') ? strchr(c->rbuf, '\r') - c->rbuf : 40),
					    c->rbuf);
				conn_kill(c, 0);
				return;
			}
			uint32_t hl = (uint32_t)(e + 4 - c->rbuf);
			memmove(c->rbuf, c->rbuf + hl, c->rlen - hl);
			c->rlen -= hl;
			c->state = S_OPEN;
			n_inflight--;
			n_open++;
		}
		if (c->state == S_OPEN && parse_frames(c)) {
			conn_kill(c, 1);
			return;
		}
		if ((size_t)r < 4096)
			return;   /* probably drained; level-triggered epoll */
	}
}

static void print_rusage(long long wall_us)
{
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	double cpu = (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 +
	    (double)ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
	printf("RESULT loadgen_cpu_s %.3f\n", cpu);
	printf("RESULT loadgen_cpu_pct %.1f\n", wall_us > 0 ? 100.0 * cpu / (wall_us / 1e6) : 0.0);
	printf("RESULT loadgen_maxrss_kb %ld\n", ru.ru_maxrss);
}

static int run_startup(int reps, char **cmd)
{
	long long *t = calloc((size_t)reps, sizeof *t);
	int ok = 0;
	for (int r = 0; r < reps; r++) {
		int pfd[2];
		if (pipe(pfd))
			die("pipe");
		long long t0 = mono_us();
		pid_t pid = fork();
		if (pid < 0)
			die("fork");
		if (pid == 0) {
			dup2(pfd[1], 1);
			close(pfd[0]);
			close(pfd[1]);
			execvp(cmd[0], cmd);
			_exit(127);
		}
		close(pfd[1]);
		char buf[4096];
		size_t have = 0;
		long long dt = -1;
		for (;;) {
			ssize_t n = read(pfd[0], buf + have, sizeof buf - 1 - have);
			if (n <= 0)
				break;
			have += (size_t)n;
			buf[have] = 0;
			if (strstr(buf, "Listening on port")) {
				dt = mono_us() - t0;
				break;
			}
			if (have > sizeof buf - 2)
				have = 0;
		}
		kill(pid, SIGTERM);
		close(pfd[0]);
		waitpid(pid, NULL, 0);
		if (dt >= 0)
			t[ok++] = dt;
	}
	if (!ok) {
		fprintf(stderr, "loadgen: server never printed Listening on port\n");
		return 1;
	}
	/* median */
	for (int i = 0; i < ok; i++)
		for (int j = i + 1; j < ok; j++)
			if (t[j] < t[i]) {
				long long x = t[i];
				t[i] = t[j];
				t[j] = x;
			}
	printf("RESULT startup_ms_median %.2f\n", t[ok / 2] / 1000.0);
	printf("RESULT startup_ms_min %.2f\n", t[0] / 1000.0);
	printf("RESULT startup_runs %d\n", ok);
	return 0;
}

int main(int argc, char **argv)
{
	int i;
	if (argc < 3) {
		fprintf(stderr, "usage: loadgen idle|fanout|echo N [options] | startup R -- CMD...\n");
		return 2;
	}
	if (!strcmp(argv[1], "startup")) {
		for (i = 3; i < argc; i++)
			if (!strcmp(argv[i], "--"))
				return run_startup(atoi(argv[2]), argv + i + 1);
		return 2;
	}
	if (!strcmp(argv[1], "idle"))
		mode = M_IDLE;
	else if (!strcmp(argv[1], "fanout"))
		mode = M_FANOUT;
	else if (!strcmp(argv[1], "echo"))
		mode = M_ECHO;
	else {
		fprintf(stderr, "loadgen: unknown mode %s\n", argv[1]);
		return 2;
	}
	nconn = atol(argv[2]);
	for (i = 3; i + 1 < argc; i += 2) {
		const char *k = argv[i], *v = argv[i + 1];
		if (!strcmp(k, "--host")) host = v;
		else if (!strcmp(k, "--port")) port = atoi(v);
		else if (!strcmp(k, "--token")) token = v;
		else if (!strcmp(k, "--channel")) channel = v;
		else if (!strcmp(k, "--duration")) duration = atof(v);
		else if (!strcmp(k, "--quiet-ms")) quiet_ms = atoi(v);
		else if (!strcmp(k, "--src")) nsrc = atoi(v);
		else if (!strcmp(k, "--inflight")) inflight_max = atoi(v);
		else if (!strcmp(k, "--hold")) hold_after = atoi(v);
		else if (!strcmp(k, "--window")) window = atoi(v) > 0 ? atoi(v) : 1;
		else {
			fprintf(stderr, "loadgen: unknown option %s\n", k);
			return 2;
		}
	}
	if (nconn <= 0)
		return 2;
	if (!nsrc)
		nsrc = 1 + (int)(nconn / 20000);
	{
		struct rlimit rl;
		getrlimit(RLIMIT_NOFILE, &rl);
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
		if ((rlim_t)nconn + 16 > rl.rlim_cur)
			fprintf(stderr, "loadgen: warning: RLIMIT_NOFILE %llu < %ld connections\n",
			    (unsigned long long)rl.rlim_cur, nconn);
	}
	struct sigaction sa = { 0 };
	sigset_t term_set, old_set;
	sa.sa_handler = on_signal;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigemptyset(&term_set);
	sigaddset(&term_set, SIGTERM);
	sigaddset(&term_set, SIGINT);
	signal(SIGPIPE, SIG_IGN);
	rng_state ^= (uint32_t)getpid() * 2654435761u;

	conns = calloc((size_t)nconn, sizeof *conns);
	if (!conns || (epfd = epoll_create1(EPOLL_CLOEXEC)) < 0)
		die("init");
	for (i = 0; i < nconn; i++) {
		conns[i].idx = i;
		conns[i].fd = -1;
		conns[i].chan_len = snprintf(conns[i].chan, sizeof conns[i].chan, "%s%d", channel, i);
	}

	struct epoll_event evs[512];
	int ready_printed = 0, load_started = 0;
	long long t_load_start = 0, t_end = 0, t_deadline = 0;
	t_start_us = mono_us();
	if (duration > 0 && mode != M_ECHO)
		t_deadline = t_start_us + (long long)(duration * 1e6);

	for (;;) {
		/* ramp up, a bounded number of connects in flight */
		while (next_to_open < nconn && n_inflight < inflight_max && !stop_flag) {
			struct conn *c = &conns[next_to_open++];
			c->rbuf = malloc(RBUF);
			if (!c->rbuf)
				die("malloc");
			start_connect(c);
		}
		if (!ready_printed && next_to_open == nconn && n_inflight == 0) {
			t_all_up_us = mono_us();
			ready_printed = 1;
			printf("READY open=%ld failed=%ld ms=%.0f\n", n_open, n_failed,
			    (t_all_up_us - t_start_us) / 1000.0);
			fflush(stdout);
			if (n_open == 0)
				stop_flag = 1;   /* nothing to measure */
			if (mode == M_ECHO) {
				load_started = 1;
				t_load_start = mono_us();
				if (duration > 0)
					t_deadline = t_load_start + (long long)(duration * 1e6);
				for (int w = 0; w < window; w++)
					for (i = 0; i < nconn; i++)
						if (conns[i].state == S_OPEN)
							echo_send(&conns[i]);
			}
		}
		long long now = mono_us();
		if (stop_flag && !t_end)
			t_end = now;
		if (t_deadline && now >= t_deadline && !stop_flag) {
			stop_flag = 1;
			t_end = now;
		}
		if (mode == M_FANOUT && quiet_ms > 0 && t_last_msg_us &&
		    now - t_last_msg_us > (long long)quiet_ms * 1000 && !stop_flag) {
			stop_flag = 1;
			t_end = now;
		}
		if (stop_flag) {
			if (mode != M_ECHO)
				break;
			/* echo: let outstanding round trips finish (at most 2 s) */
			int pending = 0;
			for (i = 0; i < nconn && !pending; i++)
				pending = conns[i].state == S_OPEN && conns[i].sent_at;
			if (!pending || now - t_end > 2000000)
				break;
		}
		int n = epoll_wait(epfd, evs, 512, 50);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			die("epoll_wait");
		}
		for (i = 0; i < n; i++) {
			struct conn *c = evs[i].data.ptr;
			if (c->state == S_DEAD)
				continue;
			if (c->state == S_CONNECTING) {
				int err = 0;
				socklen_t el = sizeof err;
				getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &el);
				if (err || (evs[i].events & (EPOLLERR | EPOLLHUP))) {
					if (n_failed < 5)
						fprintf(stderr, "loadgen: connect: %s\n", strerror(err));
					conn_kill(c, 0);
					continue;
				}
				if (evs[i].events & EPOLLOUT)
					send_handshake(c);
				continue;
			}
			if (evs[i].events & (EPOLLIN | EPOLLERR | EPOLLHUP))
				on_readable(c);
		}
	}
	long long t_fin = mono_us();
	(void)load_started;

	printf("RESULT clients %ld\n", nconn);
	printf("RESULT open_at_end %ld\n", n_open);
	printf("RESULT connect_failed %ld\n", n_failed);
	printf("RESULT closed_by_server %ld\n", n_closed_by_server);
	if (t_all_up_us)
		printf("RESULT connect_all_ms %.0f\n", (t_all_up_us - t_start_us) / 1000.0);
	if (mode == M_FANOUT) {
		double span = t_last_msg_us > t_first_msg_us ? (t_last_msg_us - t_first_msg_us) / 1e6 : 0;
		printf("RESULT delivered %llu\n", delivered);
		printf("RESULT gaps %llu\n", gaps);
		printf("RESULT reordered %llu\n", reordered);
		printf("RESULT parse_errors %llu\n", parse_err);
		printf("RESULT delivery_span_s %.3f\n", span);
		printf("RESULT deliveries_per_s %.0f\n", span > 0 ? delivered / span : 0.0);
		printf("RESULT lat_p50_us %lld\n", hist_pct(50));
		printf("RESULT lat_p99_us %lld\n", hist_pct(99));
		printf("RESULT lat_max_us %lld\n", h_max);
		printf("RESULT lat_negative %lld\n", h_neg);
		print_rusage(t_fin - (t_all_up_us ? t_all_up_us : t_start_us));
	} else if (mode == M_ECHO) {
		double span = (t_end ? t_end : t_fin) - t_load_start;
		span /= 1e6;
		printf("RESULT round_trips %llu\n", round_trips);
		printf("RESULT round_trips_per_s %.0f\n", span > 0 ? round_trips_timed / span : 0.0);
		printf("RESULT parse_errors %llu\n", parse_err);
		printf("RESULT lat_p50_us %lld\n", hist_pct(50));
		printf("RESULT lat_p99_us %lld\n", hist_pct(99));
		printf("RESULT lat_max_us %lld\n", h_max);
		print_rusage(t_fin - t_load_start);
	} else {
		print_rusage(t_fin - t_start_us);
	}
	printf("DONE\n");
	fflush(stdout);
	if (hold_after && !nsig) {
		/* wait for a signal that arrives from now on */
		sigprocmask(SIG_BLOCK, &term_set, &old_set);
		stop_flag = 0;
		while (!stop_flag)
			sigsuspend(&old_set);
		sigprocmask(SIG_SETMASK, &old_set, NULL);
	}
	return 0;
}
