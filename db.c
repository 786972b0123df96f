/*
 * The database side of pgws is its own file because it stands on its own:
 * libpq connections, the state machine each of them goes through (connect,
 * LISTEN, serve, lose, back off, reconnect) and the per-connection publish
 * queues.  It knows nothing of websockets and calls nobody back: the loop
 * moves pollfds in and out and then pulls what happened with db_next, the
 * way BearSSL's engine never touches a socket itself.
 *
 * After db_init returns nothing here blocks: every connection is in libpq's
 * non-blocking mode, reconnection goes through PQconnectStartParams and
 * PQconnectPoll, and PQgetResult is only called when PQisBusy says a result
 * is complete.  (One exception libpq imposes: PQconnectStartParams resolves
 * a host name with the blocking getaddrinfo; use an address, or hostaddr=,
 * where that matters.)
 */
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L
#endif

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <libpq-fe.h>

#include "db.h"
#include "log.h"
#include "mcache.h"

#define TEXT_OID 25              /* pg_type.oid of text */
#define BACKOFF_MAX 32.0         /* seconds */
#define CONNECT_TIMEOUT_S "10"
#define CONNECT_TIMEOUT 10.0     /* seconds: pg_start's connect_timeout, the bound of a
                                    non-blocking attempt when it is 0, and LISTEN's */
#define QUEUE_DEFAULT 10000
#define BATCH_DEFAULT 256
#define IDLE_DEFAULT 600.0       /* seconds; hasql-pool's idle time, as the original */
#define NAME_MAX_PG 63           /* NAMEDATALEN - 1: longer channels are truncated by LISTEN */

enum cstate {
	C_IDLE,        /* pool only: closed with nothing queued; db_publish opens it */
	C_DOWN,        /* no connection; the next attempt is due at when */
	C_CONNECTING,  /* PQconnectPoll in progress, until when */
	C_SETUP,       /* listener only: LISTEN sent, awaiting its result until when */
	C_READY,       /* usable */
	C_DEAD         /* listener lost without supervision: stays down for good */
};

/* A queued message; data is the payload, not NUL-terminated (it is sent in
 * binary format with its length, so no byte is special). */
struct msg {
	uint64_t tag;
	double t;           /* when db_publish queued it (CLOCK_MONOTONIC) */
	int len;
	int ack;            /* report DB_EV_PUBLISHED once committed */
	char data[];
};

struct dconn {
	PGconn *pg;
	enum cstate st;
	int id;             /* -1 for the listener, else the pool index */
	short cwant;        /* C_CONNECTING: POLLIN or POLLOUT, as PQconnectPoll asked */
	int wflush;         /* PQflush returned 1: libpq holds unsent output */
	double when;        /* deadline or retry time, see enum cstate */
	double backoff;     /* wait after the next failed attempt */
	double used;        /* pool: last time it had work (idle closing) */

	/* listener */
	double last_rx;     /* last time anything arrived */
	double probe_dl;    /* > 0: a health check is in flight, due by then */
	double last_probe;  /* when the last health check / queue sample went out */
	int qfail;          /* the query in flight failed */

	/* pool: a ring of queued messages; the first inflight are sent */
	struct msg **q;
	size_t qhead, qlen, qcap;
	size_t inflight;    /* > 0: a batch awaits its PGRES_PIPELINE_SYNC */
	size_t solo;        /* head messages to resend one per batch */
	int berr;           /* a statement of the batch in flight failed */
	char why[200];      /* first error of the batch in flight */
	unsigned char *abuf;  /* the batch's text[] parameter (batch_array) */
	size_t acap;

	/* a non-blocking attempt over a multi-host string (see host_walk) */
	int hix;            /* host tried now; -1: libpq has the whole string */
	int pass;           /* target_session_attrs=prefer-standby: 0 standby, 1 any */
	char errs[768];     /* each host's failure so far, "; " between them */
};

static struct {
	char *uri;
	char *channel;
	char *listen_sql;
	int pool_size;
	double idle_s;          /* close a pool connection idle this long */
	int retries;
	long check_ms;
	size_t queue_max;
	size_t bytes_max;       /* payload bytes queued across the pool, at most */
	size_t qbytes;          /* payload bytes queued now */
	size_t batch_max;
	/* The effective options of the start-up connection, for host_walk. */
	PQconninfoOption *opts;
	const char **keys, **vals;  /* opts as PQconnectStartParams wants them */
	int ihost, iaddr, iport, itsa;  /* their indexes in keys (-1: absent) */
	int nhost;              /* entries of hostaddr, else host; > 1: walked */
	int prefer_standby;     /* target_session_attrs=prefer-standby */
	double tmo;             /* seconds per host of a non-blocking attempt */
	struct dconn lis;
	struct dconn *pool;
	struct dconn **polled;  /* connection of each entry db_pollfds wrote */
	size_t npolled;
	struct db_stats st;
	/* Events for db_next, in order; their bytes live in arena. */
	struct qev *ev;
	size_t evhead, evn, evcap;
	char *arena;
	size_t alen, acap;
} db;

struct qev {
	enum db_event_kind kind;
	uint64_t tag;
	size_t off, len;        /* bytes in db.arena */
};

static void conn_lost(struct dconn *c, double now, const char *why);

/*
 * Queues an event for db_next with a copy of data[0..len) (a NUL is added
 * after it).  Out of memory, the event is dropped and logged: the caller's
 * view of the listener is still right through db_listener_up.
 */
static void
push_event(enum db_event_kind kind, uint64_t tag, const char *data, size_t len)
{
	if (db.evn == db.evcap) {
		size_t cap = db.evcap ? db.evcap * 2 : 64;
		struct qev *e = realloc(db.ev, cap * sizeof *e);
		if (!e)
			goto oom;
		db.ev = e;
		db.evcap = cap;
	}
	if (db.acap - db.alen <= len) {
		size_t cap = db.acap ? db.acap : 16384;
		while (cap - db.alen <= len)
			cap *= 2;
		char *a = realloc(db.arena, cap);
		if (!a)
			goto oom;
		db.arena = a;
		db.acap = cap;
	}
	memcpy(db.arena + db.alen, data, len);
	db.arena[db.alen + len] = 0;
	db.ev[db.evn++] = (struct qev){ kind, tag, db.alen, len };
	db.alen += len + 1;
	return;
oom:
	log_msg(L_ERROR, "database: out of memory; an event (%d) was dropped",
	    (int)kind);
}

static double
mono(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/*
 * libpq's messages span lines ("...failed: Connection refused\n\tIs the
 * server running...?\n"); a log line and the caller's err want one.
 * Collapses every run of whitespace into one space and trims both ends.
 */
static void
oneline(char *dst, size_t cap, const char *src)
{
	size_t n = 0;
	int sp = 0;

	if (!dst || cap == 0)
		return;
	for (; src && *src; src++) {
		char ch = *src;

		if (ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r') {
			sp = n > 0;
			continue;
		}
		if (n + 1 + (size_t)sp >= cap)
			break;
		if (sp)
			dst[n++] = ' ';
		sp = 0;
		dst[n++] = ch;
	}
	dst[n] = '\0';
}

static const char *
cname(const struct dconn *c, char *buf, size_t cap)
{
	if (c->id < 0)
		return "listener";
	snprintf(buf, cap, "pool connection %d", c->id);
	return buf;
}

/* Without this libpq prints notices (and the FATAL a terminated backend
 * sends while idle) straight to stderr, bypassing the caller's log. */
static void
notice(void *arg, const char *msg)
{
	char line[512], nb[32];

	oneline(line, sizeof line, msg);
	log_msg(L_WARN, "%s: %s", cname(arg, nb, sizeof nb), line);
}

/*
 * Our defaults come before dbname, and expand_dbname = 1 expands the user's
 * URI or conninfo in its place, so anything the user sets wins.  The
 * keepalives notice a dead peer even without PGWS_CHECK_LISTENER_INTERVAL,
 * and tcp_user_timeout does while a batch waits unacknowledged (keepalives
 * only probe idle sockets, retransmission alone takes minutes);
 * connect_timeout defaults to CONNECT_TIMEOUT unless PGCONNECT_TIMEOUT is
 * set (a value passed here would hide the variable from libpq).  libpq
 * applies it to the blocking start-up attempts; the non-blocking ones apply
 * it themselves (host_walk).  The server converts between the database's
 * encoding and UTF8 (a character the database cannot store fails that one
 * statement).
 */
static PGconn *
pg_start(int blocking)
{
	static const char *const keys[] = {
		"fallback_application_name", "connect_timeout", "keepalives",
		"keepalives_idle", "keepalives_interval", "keepalives_count",
		"tcp_user_timeout", "dbname", "client_encoding", NULL
	};
	/* client_encoding comes after dbname, so it wins over the user's:
	 * websockets carry UTF-8 only, whatever the database's encoding. */
	const char *env = getenv("PGCONNECT_TIMEOUT");
	/* A NULL or empty value is skipped by libpq, as if not passed. */
	const char *vals[] = {
		"pgws", env && *env ? NULL : CONNECT_TIMEOUT_S, "1", "10", "5",
		"3", "30000", db.uri, "UTF8", NULL
	};

	if (blocking)
		return PQconnectdbParams(keys, vals, 1);
	return PQconnectStartParams(keys, vals, 1);
}

static double
next_backoff(double b)
{
	return b * 2 > BACKOFF_MAX ? BACKOFF_MAX : b * 2;
}

/* Start-up only: blocking attempts with back-off.  Returns the connection or
 * NULL with the last libpq error in err. */
static PGconn *
connect_blocking(struct dconn *c, char *err, size_t errcap)
{
	char nb[32];
	double wait = 1;
	int i;

	for (i = 1;; i++) {
		PGconn *pg = pg_start(1);
		struct timespec ts;

		if (pg && PQstatus(pg) == CONNECTION_OK) {
			PQsetNoticeProcessor(pg, notice, c);
			return pg;
		}
		oneline(err, errcap, pg ? PQerrorMessage(pg) : "out of memory");
		PQfinish(pg);
		log_msg(L_WARN, "%s: connection attempt %d of %d failed: %s",
		    cname(c, nb, sizeof nb), i, db.retries, err);
		if (i >= db.retries)
			return NULL;
		/* A signal cutting the sleep short only brings the next attempt
		 * forward, so EINTR needs no loop. */
		ts.tv_sec = (time_t)wait;
		ts.tv_nsec = 0;
		nanosleep(&ts, NULL);
		wait = next_backoff(wait);
	}
}

/* Queued messages live in flight, so they come from mcache (mcache.c). */
static void
msg_free(struct msg *m)
{
	mcache_free(m, sizeof *m + (size_t)m->len);
}

static struct msg *
q_head(const struct dconn *c, size_t i)
{
	return c->q[(c->qhead + i) % c->qcap];
}

static struct msg *
q_pop(struct dconn *c)
{
	struct msg *m = c->q[c->qhead];

	c->qhead = (c->qhead + 1) % c->qcap;
	c->qlen--;
	db.qbytes -= (size_t)m->len;
	if (c->solo)
		c->solo--;
	return m;
}

/* Grows the ring geometrically up to queue_max, so an idle pool costs
 * nothing and a busy one reallocates only log(queue_max) times. */
static int
q_grow(struct dconn *c)
{
	size_t ncap = c->qcap ? c->qcap * 2 : 64, i;
	struct msg **nq;

	if (ncap > db.queue_max)
		ncap = db.queue_max;
	if (ncap <= c->qcap || !(nq = malloc(ncap * sizeof *nq)))
		return -1;
	for (i = 0; i < c->qlen; i++)
		nq[i] = q_head(c, i);
	free(c->q);
	c->q = nq;
	c->qcap = ncap;
	c->qhead = 0;
	return 0;
}

/*
 * Drops every message of tag queued at position from or later: once one
 * message of a sender fails, nothing it sent after it may be published,
 * so what it committed is always a clean prefix of what it sent.  Tag 0
 * (no sender: meta events) is never dropped this way.
 */
#define DROPPED_WHY "an earlier message of the same sender failed"

static void
drop_tag(struct dconn *c, size_t from, uint64_t tag)
{
	size_t i, j = from, n = 0, solo = 0;

	if (!tag)
		return;
	for (i = from; i < c->qlen; i++) {
		struct msg *m = q_head(c, i);

		if (m->tag != tag) {
			c->q[(c->qhead + j++) % c->qcap] = m;
			continue;
		}
		db.qbytes -= (size_t)m->len;
		solo += i < c->solo;
		/* A sender waiting for acknowledgements hears of every one. */
		if (m->ack)
			push_event(DB_EV_PUBLISH_FAILED, tag, DROPPED_WHY,
			    sizeof DROPPED_WHY - 1);
		msg_free(m);
		n++;
	}
	c->qlen = j;
	c->solo -= solo;
	db.st.publish_failed += n;
	if (n)
		log_msg(L_DEBUG, "%zu message%s queued behind a failed one dropped",
		    n, n == 1 ? "" : "s");
}

/*
 * Reports the message at the head as failed (an event for db_next) and
 * drops what the same sender queued behind it, beyond the `keep` messages
 * that follow it in flight (those are reported by the caller).
 */
static void
fail_head(struct dconn *c, const char *why, size_t keep)
{
	struct msg *m = q_pop(c);
	uint64_t tag = m->tag;

	msg_free(m);
	db.st.publish_failed++;
	push_event(DB_EV_PUBLISH_FAILED, tag, why, strlen(why));
	drop_tag(c, keep, tag);
}

static int
conn_flush(struct dconn *c)
{
	int r = PQflush(c->pg);

	c->wflush = r == 1;
	return r < 0 ? -1 : 0;
}

/* An attempt to (re)connect failed: wait, then try again. */
static void
conn_failed(struct dconn *c, double now, const char *why)
{
	char line[1024], nb[32];

	oneline(line, sizeof line, why);
	PQfinish(c->pg);
	c->pg = NULL;
	c->wflush = 0;
	c->probe_dl = 0;
	c->st = C_DOWN;
	c->when = now + c->backoff;
	log_msg(L_WARN, "%s: reconnection failed: %s; next attempt in %.0f s",
	    cname(c, nb, sizeof nb), line, c->backoff);
	c->backoff = next_backoff(c->backoff);
}

/*
 * host_walk: connect_timeout and multi-host strings without blocking.
 *
 * libpq walks host=a,b and applies connect_timeout itself only in the
 * blocking PQconnectdb, which pgws uses for the start-up listener alone.
 * PQconnectPoll, which every later connection goes through, ignores
 * connect_timeout, and a deadline of ours can only abandon libpq's whole
 * attempt, which restarts at the first host: a first host that accepts
 * and never answers would hide every other one from the pool and from a
 * reconnecting listener.  So when the string names more than one host
 * (host, or hostaddr when given), pgws walks them itself, one libpq
 * attempt per host: the effective options of the start-up connection
 * (PQconninfo: the URI or conninfo, the PG* variables and the defaults
 * merged by libpq) with host, hostaddr and port narrowed to entry i (a
 * single port serves every host, as in libpq).  A host that fails, does
 * not answer within connect_timeout, or does not match
 * target_session_attrs (libpq checks that within its one host) is logged
 * and the next one tried at once; prefer-standby is two passes, standby
 * then any, as libpq makes it.  Only when every host failed does the
 * attempt fail, with one line holding each host's cause, and back off.
 * Everything inside one host stays libpq's: its addresses, sslmode's
 * prefer/allow fallback, authentication.  A single-host string is left to
 * libpq whole, with connect_timeout as our deadline.
 *
 * Differences from libpq 15's own walk (which the start-up connection
 * keeps): the next host is tried after any failure of one, where libpq 15
 * ends the whole attempt at some (a TLS failure, a failed authentication),
 * since telling them apart would mean reading libpq's messages, and a host
 * failing alone should not keep the pool from the others; the deadline
 * covers a host, where libpq's covers each address of a name that resolves
 * to several; connect_timeout=0 (libpq: no limit) is CONNECT_TIMEOUT here,
 * so that no reconnection can hang for good; an empty entry of a list
 * (host=a,,b) is left unset, so PGHOST or PGPORT fill it where libpq would
 * take its compiled default.
 */
static int
list_len(const char *s)
{
	int n = 1;

	for (; s && *s; s++)
		n += *s == ',';
	return s ? n : 0;
}

/* Entry i of a comma-separated list into out[cap]; libpq splits host,
 * hostaddr and port on every comma, with no escape. */
static void
list_item(const char *s, int i, char *out, size_t cap)
{
	size_t n = 0;

	while (s && *s && i > 0)
		i -= *s++ == ',';
	while (s && *s && *s != ',' && n + 1 < cap)
		out[n++] = *s++;
	out[n] = '\0';
}

/* Takes what host_walk needs from the start-up connection pg.  Without it
 * (out of memory) every attempt is left to libpq whole. */
static void
walk_init(PGconn *pg)
{
	const char *host, *addr, *tmo = "";
	PQconninfoOption *o;
	int n = 0, i;
	long t;

	db.ihost = db.iaddr = db.iport = db.itsa = -1;
	db.tmo = CONNECT_TIMEOUT;
	if (!(db.opts = PQconninfo(pg)))
		return;
	for (o = db.opts; o->keyword; o++)
		n++;
	db.keys = calloc((size_t)n + 1, sizeof *db.keys);
	db.vals = calloc((size_t)n + 1, sizeof *db.vals);
	if (!db.keys || !db.vals)
		return;
	for (i = 0; i < n; i++) {
		const char *k = db.opts[i].keyword, *v = db.opts[i].val;

		db.keys[i] = k;
		db.vals[i] = v;
		if (!v)
			continue;
		if (!strcmp(k, "host"))
			db.ihost = i;
		else if (!strcmp(k, "hostaddr"))
			db.iaddr = i;
		else if (!strcmp(k, "port"))
			db.iport = i;
		else if (!strcmp(k, "target_session_attrs"))
			db.itsa = i;
		else if (!strcmp(k, "connect_timeout"))
			tmo = v;
	}
	/* libpq's rules: at least 2 s; 0 or less is no limit (see above).
	 * libpq has already refused a value that is not an int. */
	t = strtol(tmo, NULL, 10);
	db.tmo = t <= 0 ? CONNECT_TIMEOUT : t < 2 ? 2 : (double)t;
	host = db.ihost >= 0 ? db.vals[db.ihost] : "";
	addr = db.iaddr >= 0 ? db.vals[db.iaddr] : "";
	db.nhost = *addr ? list_len(addr) : *host ? list_len(host) : 1;
	db.prefer_standby = db.itsa >= 0 &&
	    !strcmp(db.vals[db.itsa], "prefer-standby");
}

/* Starts libpq on host c->hix alone. */
static PGconn *
host_start(struct dconn *c)
{
	char h[1024], a[1024], p[1024];
	const char *port = db.iport >= 0 ? db.opts[db.iport].val : NULL;

	list_item(db.ihost >= 0 ? db.opts[db.ihost].val : NULL, c->hix, h, sizeof h);
	list_item(db.iaddr >= 0 ? db.opts[db.iaddr].val : NULL, c->hix, a, sizeof a);
	list_item(port, list_len(port) == 1 ? 0 : c->hix, p, sizeof p);
	if (db.ihost >= 0)
		db.vals[db.ihost] = h;
	if (db.iaddr >= 0)
		db.vals[db.iaddr] = a;
	if (db.iport >= 0)
		db.vals[db.iport] = p;
	if (db.prefer_standby)
		db.vals[db.itsa] = c->pass ? "any" : "standby";
	/* The values are final: no expansion of dbname, no second merge. */
	PGconn *pg = PQconnectStartParams(db.keys, db.vals, 0);

	if (db.ihost >= 0)
		db.vals[db.ihost] = db.opts[db.ihost].val;
	if (db.iaddr >= 0)
		db.vals[db.iaddr] = db.opts[db.iaddr].val;
	if (db.iport >= 0)
		db.vals[db.iport] = db.opts[db.iport].val;
	if (db.prefer_standby)
		db.vals[db.itsa] = db.opts[db.itsa].val;
	return pg;
}

/*
 * The attempt on the current host failed for why: notes it and closes the
 * connection.  Returns 1 when host_walk has another host to try (c->hix,
 * c->pass moved on), 0 when the attempt as a whole failed (c->errs says
 * why).
 */
static int
host_next(struct dconn *c, const char *why)
{
	char line[512], nb[32];
	size_t n = strlen(c->errs);

	oneline(line, sizeof line, why && *why ? why : "out of memory");
	snprintf(c->errs + n, sizeof c->errs - n, "%s%s", n ? "; " : "", line);
	PQfinish(c->pg);
	c->pg = NULL;
	if (c->hix < 0)
		return 0;
	if (++c->hix == db.nhost && db.prefer_standby && !c->pass) {
		c->hix = 0;
		c->pass = 1;
	}
	if (c->hix == db.nhost)
		return 0;
	log_msg(L_INFO, "%s: %s; trying host %d of %d", cname(c, nb, sizeof nb),
	    line, c->hix + 1, db.nhost);
	return 1;
}

/* Starts the attempt on c->hix (or libpq's whole string), moving past the
 * hosts that fail at once. */
static void
attempt_start(struct dconn *c, double now)
{
	for (;;) {
		c->pg = c->hix < 0 ? pg_start(0) : host_start(c);
		if (c->pg && PQstatus(c->pg) != CONNECTION_BAD)
			break;
		if (!host_next(c, c->pg ? PQerrorMessage(c->pg) : NULL)) {
			conn_failed(c, now, c->errs);
			return;
		}
	}
	PQsetNoticeProcessor(c->pg, notice, c);
	c->st = C_CONNECTING;
	/* libpq's contract: behave as if PQconnectPoll had said WRITING. */
	c->cwant = POLLOUT;
	c->when = now + db.tmo;
}

/* The host being tried failed or timed out: the next one, or back off. */
static void
attempt_failed(struct dconn *c, double now, const char *why)
{
	if (host_next(c, why))
		attempt_start(c, now);
	else
		conn_failed(c, now, c->errs);
}

/*
 * connect_timeout ran out on the host being tried.  libpq has already put
 * "connection to server at ... failed: " in its message when it began on
 * an address, so "timeout expired" completes it as libpq's blocking
 * connect words it.
 */
static void
attempt_timeout(struct dconn *c, double now)
{
	char msg[512];
	const char *e = PQerrorMessage(c->pg), *h = PQhost(c->pg);

	if (e && *e)
		snprintf(msg, sizeof msg, "%stimeout expired", e);
	else
		snprintf(msg, sizeof msg, "connection to server at \"%s\", port %s "
		    "failed: timeout expired", h ? h : "", PQport(c->pg));
	attempt_failed(c, now, msg);
}

static void
conn_start(struct dconn *c, double now)
{
	char nb[32];

	log_msg(L_INFO, "%s: connecting", cname(c, nb, sizeof nb));
	c->hix = db.nhost > 1 ? 0 : -1;
	c->pass = 0;
	c->errs[0] = '\0';
	attempt_start(c, now);
}

/* The connection is established: LISTEN again, or enter pipeline mode. */
static void
conn_established(struct dconn *c, double now)
{
	char nb[32];

	if (PQsetnonblocking(c->pg, 1) != 0) {
		conn_failed(c, now, PQerrorMessage(c->pg));
		return;
	}
	if (c->id < 0) {
		if (!PQsendQuery(c->pg, db.listen_sql) || conn_flush(c) < 0) {
			conn_failed(c, now, PQerrorMessage(c->pg));
			return;
		}
		c->st = C_SETUP;
		c->qfail = 0;
		c->when = now + CONNECT_TIMEOUT;
		return;
	}
	if (!PQenterPipelineMode(c->pg)) {
		conn_failed(c, now, PQerrorMessage(c->pg));
		return;
	}
	c->st = C_READY;
	c->backoff = 1;
	c->used = now;
	log_msg(L_INFO, "%s: connected", cname(c, nb, sizeof nb));
}

static void
connect_step(struct dconn *c, double now)
{
	switch (PQconnectPoll(c->pg)) {
	case PGRES_POLLING_READING:
		c->cwant = POLLIN;
		break;
	case PGRES_POLLING_WRITING:
		c->cwant = POLLOUT;
		break;
	case PGRES_POLLING_OK:
		conn_established(c, now);
		break;
	default:
		attempt_failed(c, now, PQerrorMessage(c->pg));
		break;
	}
}

/*
 * A working connection broke.  The first new attempt is immediate (a killed
 * backend is the common case and the server is fine); only failed attempts
 * back off.
 */
static void
conn_lost(struct dconn *c, double now, const char *why)
{
	char line[256], nb[32];

	oneline(line, sizeof line, why && *why ? why : "connection lost");
	PQfinish(c->pg);
	c->pg = NULL;
	c->wflush = 0;
	c->probe_dl = 0;
	if (c->id < 0 && db.check_ms <= 0) {
		c->st = C_DEAD;
		log_msg(L_ERROR, "listener: connection lost: %s", line);
		push_event(DB_EV_LISTENER_DOWN, 0, "", 0);
		return;
	}
	if (c->st != C_READY) {
		/* LISTEN failing on a fresh connection is a failed attempt. */
		conn_failed(c, now, line);
		return;
	}
	log_msg(L_WARN, "%s: connection lost: %s; reconnecting",
	    cname(c, nb, sizeof nb), line);
	c->st = C_DOWN;
	c->when = now;
	if (c->id < 0) {
		push_event(DB_EV_LISTENER_DOWN, 0, "", 0);
		return;
	}
	/* The batch in flight may or may not have committed; resending could
	 * deliver it twice, so it is reported.  The rest stays queued. */
	while (c->inflight) {
		c->inflight--;
		fail_head(c, "database connection lost", c->inflight);
	}
}

/*
 * A batch is one statement: the payloads go as one binary text[] parameter
 * and pg_notify runs once per element, in order, inside the statement's
 * implicit transaction.  A statement per message made libpq build a
 * PGresult per message (a 2 KiB block, freed at once), and the server
 * parse and plan each: both cost more than the NOTIFY.  A batch commits or
 * fails whole, as the pipelined statements of one Sync did before, so the
 * retry one by one (batch_done) is unchanged.  The statement returns no
 * row and no column, however many messages (a HAVING that count() never
 * meets: the aggregate still reads every element), so libpq's result is
 * its bare header, with no 2 KiB block for a row to malloc and free.
 */
#define PUBLISH_SQL "SELECT FROM pg_catalog.unnest($2) AS p " \
	"HAVING pg_catalog.count(pg_catalog.pg_notify($1, p)) IS NULL"
#define TEXTARRAY_OID 1009       /* pg_type.oid of text[] */
#define ABUF_KEEP 65536          /* bytes of a batch's parameter buffer kept for the next */

static unsigned char *
put32(unsigned char *p, uint32_t v)
{
	p[0] = (unsigned char)(v >> 24);
	p[1] = (unsigned char)(v >> 16);
	p[2] = (unsigned char)(v >> 8);
	p[3] = (unsigned char)v;
	return p + 4;
}

/* The first k queued payloads as a text[] in binary format (array_recv:
 * ndim, has-nulls, element type, then per dimension its length and lower
 * bound, then per element its length and bytes) in c->abuf.  Returns its
 * length, or -1 out of memory. */
static long
batch_array(struct dconn *c, size_t k)
{
	size_t need = 20, i;
	unsigned char *p;

	for (i = 0; i < k; i++)
		need += 4 + (size_t)q_head(c, i)->len;
	if (need > INT_MAX)
		return -1;
	if (need > c->acap) {
		unsigned char *b = realloc(c->abuf, need);

		if (!b)
			return -1;
		c->abuf = b;
		c->acap = need;
	}
	p = put32(put32(put32(c->abuf, 1), 0), TEXT_OID);
	p = put32(put32(p, (uint32_t)k), 1);
	for (i = 0; i < k; i++) {
		const struct msg *m = q_head(c, i);

		p = put32(p, (uint32_t)m->len);
		memcpy(p, m->data, (size_t)m->len);
		p += m->len;
	}
	return (long)need;
}

/* Sends the next batch when the connection is idle and has messages. */
static void
pool_send(struct dconn *c, double now)
{
	static const Oid types[2] = { TEXT_OID, TEXTARRAY_OID };
	static const int fmts[2] = { 0, 1 };
	char nb[32];
	size_t k;
	long alen;

	/*
	 * While the listener is down, hold messages: published now, they
	 * would reach no reader of this instance (NOTIFY goes only to
	 * sessions listening when it commits).  They wait, bounded by the
	 * queue limits, and go out once LISTEN is back.
	 */
	if (c->st != C_READY || c->inflight || c->qlen == 0 ||
	    db.lis.st != C_READY)
		return;
	k = c->solo ? 1 : c->qlen < db.batch_max ? c->qlen : db.batch_max;
	/* Out of memory: waiting would spin the loop (the queue stays due),
	 * so the head message fails as a refused one does. */
	if ((alen = batch_array(c, k)) < 0) {
		fail_head(c, "out of memory", 0);
		return;
	}
	const char *vals[2] = { db.channel, (const char *)c->abuf };
	int lens[2] = { 0, (int)alen };

	/* Without the Sync nothing commits, so on a failure here the queued
	 * messages are kept and go out again after the reconnection. */
	if (!PQsendQueryParams(c->pg, PUBLISH_SQL, 2, types, vals, lens, fmts, 0) ||
	    !PQpipelineSync(c->pg)) {
		conn_lost(c, now, PQerrorMessage(c->pg));
		return;
	}
	/* libpq has copied it; a large one is not kept (see ABUF_KEEP). */
	if (c->acap > ABUF_KEEP) {
		free(c->abuf);
		c->abuf = NULL;
		c->acap = 0;
	}
	log_msg(L_DEBUG, "%s: batch of %zu sent", cname(c, nb, sizeof nb), k);
	c->used = now;
	c->inflight = k;
	c->berr = 0;
	c->why[0] = '\0';
	if (conn_flush(c) < 0)
		conn_lost(c, now, PQerrorMessage(c->pg));
}

/*
 * The batch's Sync came back.  One statement failing aborts the implicit
 * transaction, so none of the batch was published; each message is then
 * retried once on its own, so that one bad message does not take its
 * neighbours down with it, and only a message failing alone is reported.
 */
static void
batch_done(struct dconn *c)
{
	size_t k = c->inflight;
	char nb[32];

	c->inflight = 0;
	if (!c->berr) {
		/* Timed from db_publish to the Sync that says it committed. */
		double now = mono();
		db.st.published += k;
		while (k--) {
			struct msg *m = q_pop(c);
			if (m->ack)
				push_event(DB_EV_PUBLISHED, m->tag, "", 0);
			hist_observe(&db.st.publish, now - m->t);
			msg_free(m);
		}
		return;
	}
	if (k > 1 && c->solo == 0) {
		log_msg(L_WARN, "%s: batch of %zu failed (%s); retrying one by one",
		    cname(c, nb, sizeof nb), k, c->why);
		c->solo = k;
		return;
	}
	log_msg(L_DEBUG, "%s: publish failed: %s", cname(c, nb, sizeof nb), c->why);
	while (k--)
		fail_head(c, c->why, 0);
}

static void
pool_input(struct dconn *c, double now)
{
	int nulls = 0;

	/* In pipeline mode a NULL ends each statement's results; two in a row
	 * mean nothing more is ready. */
	while (c->inflight && !PQisBusy(c->pg)) {
		PGresult *r = PQgetResult(c->pg);

		if (!r) {
			if (++nulls > 1)
				break;
			continue;
		}
		nulls = 0;
		switch (PQresultStatus(r)) {
		case PGRES_TUPLES_OK:
		case PGRES_COMMAND_OK:
			break;
		case PGRES_PIPELINE_SYNC:
			batch_done(c);
			break;
		case PGRES_PIPELINE_ABORTED:
			c->berr = 1;
			break;
		default:
			/* The primary message alone ("invalid byte sequence
			 * for encoding ...") is the short reason callers
			 * want; the full one is for the log. */
			if (!c->berr) {
				const char *e = PQresultErrorField(r,
				    PG_DIAG_MESSAGE_PRIMARY);

				oneline(c->why, sizeof c->why,
				    e ? e : PQresultErrorMessage(r));
			}
			c->berr = 1;
			break;
		}
		PQclear(r);
	}
	if (c->pg && PQstatus(c->pg) == CONNECTION_BAD)
		conn_lost(c, now, PQerrorMessage(c->pg));
}

/* The LISTEN or the health check in flight has all its results. */
static void
listener_query_done(struct dconn *c, double now)
{
	if (c->qfail) {
		conn_lost(c, now, c->why);
		return;
	}
	if (c->st == C_SETUP) {
		c->st = C_READY;
		c->backoff = 1;
		c->last_rx = now;
		db.st.listener_reconnects++;
		log_msg(L_INFO, "listener: re-established");
		push_event(DB_EV_LISTENER_UP, 0, "", 0);
		return;
	}
	c->probe_dl = 0;
}

static void
listener_input(struct dconn *c, double now)
{
	PGnotify *n;

	if (c->st == C_SETUP || c->probe_dl > 0) {
		while (!PQisBusy(c->pg)) {
			PGresult *r = PQgetResult(c->pg);
			ExecStatusType s;

			if (!r) {
				listener_query_done(c, now);
				if (!c->pg)
					return;
				break;
			}
			s = PQresultStatus(r);
			if (s == PGRES_TUPLES_OK && PQntuples(r) == 1 &&
			    PQnfields(r) == 1 && !PQgetisnull(r, 0, 0))
				db.st.queue_usage = strtod(PQgetvalue(r, 0, 0), NULL);
			if (s != PGRES_COMMAND_OK && s != PGRES_TUPLES_OK) {
				oneline(c->why, sizeof c->why,
				    PQresultErrorMessage(r));
				c->qfail = 1;
			}
			PQclear(r);
		}
	}
	/* Only our channel: a LISTEN issued by someone sharing the
	 * connection's session (none today) must not leak to websockets. */
	while (c->pg && (n = PQnotifies(c->pg))) {
		if (strcmp(n->relname, db.channel) == 0) {
			db.st.notifies_received++;
			push_event(DB_EV_NOTIFY, 0, n->extra, strlen(n->extra));
		}
		PQfreemem(n);
	}
	if (c->pg && PQstatus(c->pg) == CONNECTION_BAD)
		conn_lost(c, now, PQerrorMessage(c->pg));
}

static void
conn_io(struct dconn *c, short rev, double now)
{
	if (c->st == C_CONNECTING) {
		connect_step(c, now);
		return;
	}
	if (rev & (POLLIN | POLLHUP | POLLERR | POLLNVAL)) {
		/* EOF and socket errors surface here as a 0 return. */
		if (!PQconsumeInput(c->pg)) {
			conn_lost(c, now, PQerrorMessage(c->pg));
			return;
		}
		c->last_rx = now;
	}
	if (c->wflush && conn_flush(c) < 0) {
		conn_lost(c, now, PQerrorMessage(c->pg));
		return;
	}
	if (c->id < 0)
		listener_input(c, now);
	else
		pool_input(c, now);
}

/*
 * The listener's probe: with supervision (check_ms > 0) a query sent when
 * nothing arrived for check_ms, answered within check_ms or the listener is
 * lost.  The same query samples pg_notification_queue_usage() for /metrics
 * at least every DB_SAMPLE_S seconds, also without supervision.
 */
#define DB_SAMPLE_S 10.0

static double
probe_due(const struct dconn *c)
{
	double t = c->last_probe + DB_SAMPLE_S;
	if (db.check_ms > 0 && c->last_rx + db.check_ms / 1000.0 < t)
		t = c->last_rx + db.check_ms / 1000.0;
	return t;
}

static void
listener_check(struct dconn *c, double now)
{
	double iv = db.check_ms > 0 ? db.check_ms / 1000.0 : DB_SAMPLE_S;
	char msg[96];

	if (c->probe_dl > 0) {
		if (now >= c->probe_dl) {
			snprintf(msg, sizeof msg,
			    "no answer to the health check within %.0f ms",
			    iv * 1000);
			conn_lost(c, now, msg);
		}
		return;
	}
	if (now < probe_due(c))
		return;
	if (!PQsendQuery(c->pg, "SELECT pg_catalog.pg_notification_queue_usage()") ||
	    conn_flush(c) < 0) {
		conn_lost(c, now, PQerrorMessage(c->pg));
		return;
	}
	c->qfail = 0;
	c->last_probe = now;
	/*
	 * Unsupervised, the sample has no deadline: only a listener that
	 * dies (an error or end of stream) ends pgws, not a slow database.
	 */
	c->probe_dl = now + (db.check_ms > 0 ? iv : 1e9);
}

static void
conn_timer(struct dconn *c, double now)
{
	char nb[32];

	switch (c->st) {
	case C_IDLE:
		break;
	case C_DOWN:
		/* A pool connection with nothing to send waits to be needed. */
		if (c->id >= 0 && c->qlen == 0) {
			c->st = C_IDLE;
			c->backoff = 1;
		} else if (now >= c->when) {
			conn_start(c, now);
		}
		break;
	case C_CONNECTING:
		if (now >= c->when)
			attempt_timeout(c, now);
		break;
	case C_SETUP:
		if (now >= c->when)
			conn_failed(c, now, "timed out waiting for LISTEN");
		break;
	case C_READY:
		if (c->id < 0) {
			listener_check(c, now);
			break;
		}
		pool_send(c, now);
		if (c->qlen == 0 && c->inflight == 0 && now - c->used >= db.idle_s) {
			log_msg(L_DEBUG, "%s: idle for %.0f s, closed",
			    cname(c, nb, sizeof nb), now - c->used);
			PQfinish(c->pg);
			c->pg = NULL;
			c->wflush = 0;
			c->st = C_IDLE;
			free(c->abuf);
			c->abuf = NULL;
			c->acap = 0;
		}
		break;
	case C_DEAD:
		break;
	}
}

static double
conn_due(const struct dconn *c)
{
	switch (c->st) {
	case C_IDLE:
		break;
	case C_DOWN:
		return c->id >= 0 && c->qlen == 0 ? 0 : c->when;
	case C_CONNECTING:
	case C_SETUP:
		return c->when;
	case C_READY:
		if (c->id >= 0 && c->inflight == 0 && c->qlen == 0)
			return c->used + db.idle_s;
		if (c->id >= 0)
			return c->inflight == 0 && c->qlen > 0 &&
			    db.lis.st == C_READY ? 0 : -1;
		return c->probe_dl > 0 ? c->probe_dl : probe_due(c);
	case C_DEAD:
		break;
	}
	return -1;
}

int
db_init(const struct db_cfg *cfg, char *err, size_t errcap)
{
	char ebuf[512];
	PGresult *r;
	char *id;
	double now;
	int i;

	if (err && errcap)
		err[0] = '\0';
	db_shutdown();
	hist_init(&db.st.publish, hist_publish_le, hist_publish_n);
	if (!cfg->uri || !cfg->channel || !*cfg->channel ||
	    strlen(cfg->channel) > NAME_MAX_PG || cfg->pool_size < 1) {
		oneline(err, errcap, "bad configuration: empty or too long "
		    "channel name (at most 63 bytes), or pool size < 1");
		return -1;
	}
	db.pool_size = cfg->pool_size;
	db.idle_s = cfg->idle_s > 0 ? cfg->idle_s : IDLE_DEFAULT;
	db.retries = cfg->retries < 1 ? 1 : cfg->retries;
	db.check_ms = cfg->check_ms < 0 ? 0 : cfg->check_ms;
	db.queue_max = cfg->queue_max ? cfg->queue_max : QUEUE_DEFAULT;
	db.bytes_max = cfg->bytes_max ? cfg->bytes_max : (size_t)64 << 20;
	db.batch_max = cfg->batch_max ? cfg->batch_max : BATCH_DEFAULT;
	db.uri = strdup(cfg->uri);
	db.channel = strdup(cfg->channel);
	db.pool = calloc((size_t)db.pool_size, sizeof *db.pool);
	db.polled = calloc((size_t)db.pool_size + 1, sizeof *db.polled);
	if (!db.uri || !db.channel || !db.pool || !db.polled) {
		oneline(err, errcap, "out of memory");
		goto fail;
	}
	db.lis.id = -1;
	db.lis.backoff = 1;
	for (i = 0; i < db.pool_size; i++) {
		db.pool[i].id = i;
		db.pool[i].backoff = 1;
	}

	if (!(db.lis.pg = connect_blocking(&db.lis, ebuf, sizeof ebuf)))
		goto fail_libpq;
	walk_init(db.lis.pg);
	/* The channel is an identifier in LISTEN, a plain text value in
	 * pg_notify; quoting keeps "odd" names working in both. */
	if (!(id = PQescapeIdentifier(db.lis.pg, db.channel,
	    strlen(db.channel)))) {
		oneline(ebuf, sizeof ebuf, PQerrorMessage(db.lis.pg));
		goto fail_libpq;
	}
	db.listen_sql = malloc(strlen(id) + 8);
	if (db.listen_sql)
		sprintf(db.listen_sql, "LISTEN %s", id);
	PQfreemem(id);
	if (!db.listen_sql) {
		oneline(err, errcap, "out of memory");
		goto fail;
	}
	r = PQexec(db.lis.pg, db.listen_sql);
	if (PQresultStatus(r) != PGRES_COMMAND_OK) {
		oneline(ebuf, sizeof ebuf, PQerrorMessage(db.lis.pg));
		PQclear(r);
		goto fail_libpq;
	}
	PQclear(r);
	if (PQsetnonblocking(db.lis.pg, 1) != 0) {
		oneline(ebuf, sizeof ebuf, PQerrorMessage(db.lis.pg));
		goto fail_libpq;
	}
	db.lis.st = C_READY;
	log_msg(L_INFO, "listener: connected, LISTEN %s", db.channel);

	/* Pool connections open when publishing needs them (db_publish). */
	log_msg(L_INFO, "pool: up to %d connection%s, opened on demand",
	    db.pool_size, db.pool_size == 1 ? "" : "s");
	now = mono();
	db.lis.last_rx = now;
	return 0;

fail_libpq:
	if (err && errcap)
		snprintf(err, errcap, "%s", ebuf);
fail:
	db_shutdown();
	return -1;
}

size_t
db_pollfds(struct pollfd *pfd, size_t max)
{
	size_t n = 0;
	int i;

	for (i = -1; db.pool && i < db.pool_size && n < max; i++) {
		struct dconn *c = i < 0 ? &db.lis : &db.pool[i];
		int fd;

		if (!c->pg || (fd = PQsocket(c->pg)) < 0)
			continue;
		pfd[n].fd = fd;
		if (c->st == C_CONNECTING)
			pfd[n].events = c->cwant;
		else
			pfd[n].events = POLLIN | (c->wflush ? POLLOUT : 0);
		pfd[n].revents = 0;
		db.polled[n++] = c;
	}
	db.npolled = n;
	return n;
}

void
db_process(const struct pollfd *pfd, size_t n, double now)
{
	size_t i;
	int j;

	if (!db.pool)
		return;
	for (i = 0; i < n && i < db.npolled; i++) {
		struct dconn *c = db.polled[i];

		/* The socket can change under us (a connection lost while an
		 * earlier entry was handled); stale entries are skipped. */
		if (!pfd[i].revents || !c->pg || PQsocket(c->pg) != pfd[i].fd)
			continue;
		conn_io(c, pfd[i].revents, now);
	}
	db.npolled = 0;
	conn_timer(&db.lis, now);
	for (j = 0; j < db.pool_size; j++)
		conn_timer(&db.pool[j], now);
}

double
db_timeout(double now)
{
	double best = -1, t;
	int i;

	if (!db.pool)
		return -1;
	for (i = -1; i < db.pool_size; i++) {
		t = conn_due(i < 0 ? &db.lis : &db.pool[i]);
		if (t >= 0 && (best < 0 || t < best))
			best = t;
	}
	if (best < 0)
		return -1;
	return best > now ? best - now : 0;
}

static int
enqueue(uint64_t tag, unsigned affinity, const char *payload, size_t len,
    int ack)
{
	struct dconn *c;
	struct msg *m;

	if (!db.pool || len > INT_MAX - sizeof *m)
		return -1;
	c = &db.pool[affinity % (unsigned)db.pool_size];
	if (c->qlen >= db.queue_max || db.qbytes + len > db.bytes_max)
		return -1;
	if (c->qlen == c->qcap && q_grow(c) < 0)
		return -1;
	if (!(m = mcache_alloc(sizeof *m + len)))
		return -1;
	m->tag = tag;
	m->t = mono();
	m->len = (int)len;
	m->ack = ack;
	memcpy(m->data, payload, len);
	c->q[(c->qhead + c->qlen) % c->qcap] = m;
	c->qlen++;
	db.qbytes += len;
	/* Opened on demand: db_timeout is 0 now, db_process connects. */
	if (c->st == C_IDLE) {
		c->st = C_DOWN;
		c->when = 0;
	}
	return 0;
}

int
db_publish(uint64_t tag, unsigned affinity, const char *payload, size_t len)
{
	return enqueue(tag, affinity, payload, len, 0);
}

int
db_publish_ack(uint64_t tag, unsigned affinity, const char *payload, size_t len)
{
	return enqueue(tag, affinity, payload, len, 1);
}

int
db_next(struct db_event *ev)
{
	if (db.evhead == db.evn) {
		/* All handed out: the bytes of the last one may go now. */
		db.evhead = db.evn = db.alen = 0;
		return 0;
	}
	struct qev *q = &db.ev[db.evhead++];
	ev->kind = q->kind;
	ev->tag = q->tag;
	ev->data = db.arena + q->off;
	ev->len = q->len;
	return 1;
}

double
db_listener_wait(double now)
{
	if (!db.pool || db.lis.st != C_READY || db.lis.probe_dl <= 0)
		return 0;
	return now - db.lis.last_probe;
}

int
db_listener_up(void)
{
	return db.pool && db.lis.st == C_READY;
}

size_t
db_pending(void)
{
	size_t n = 0;
	int i;

	for (i = 0; db.pool && i < db.pool_size; i++)
		n += db.pool[i].qlen;
	return n;
}

void
db_get_stats(struct db_stats *s)
{
	*s = db.st;
	s->queued = db_pending();
	s->pool_open = 0;
	for (int i = 0; db.pool && i < db.pool_size; i++)
		s->pool_open += db.pool[i].st == C_READY;
}

void
db_describe(char *out, size_t cap)
{
	PGconn *pg = db.lis.pg;

	if (!cap)
		return;
	if (!pg) {
		snprintf(out, cap, "not connected");
		return;
	}
	const char *host = PQhost(pg), *port = PQport(pg);
	if (!host)
		host = "";
	if (!port)
		port = "";
	int sock = host[0] == '/';
	snprintf(out, cap, "connected to %s%s%s%s database %s as %s",
	    sock ? "socket " : "", host, sock ? " port " : ":", port, PQdb(pg),
	    PQuser(pg));
}

static void
conn_free(struct dconn *c)
{
	PQfinish(c->pg);
	while (c->qlen)
		msg_free(q_pop(c));
	free(c->q);
	free(c->abuf);
}

void
db_shutdown(void)
{
	int i;

	if (db.pool)
		for (i = 0; i < db.pool_size; i++)
			conn_free(&db.pool[i]);
	conn_free(&db.lis);
	free(db.pool);
	free(db.polled);
	free(db.uri);
	free(db.channel);
	free(db.listen_sql);
	free(db.ev);
	free(db.arena);
	free(db.keys);
	free(db.vals);
	PQconninfoFree(db.opts);
	memset(&db, 0, sizeof db);
}
