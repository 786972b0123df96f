/*
 * Client connections: the table of slots, a connection's life (open, mark
 * for closing, reaped by the loop), its socket I/O (plain or TLS) and its
 * output queue of shared, reference-counted messages.  Also the state the
 * modules of the server share: the loop's clock, the counters behind
 * /metrics and the channel index.
 */
#ifndef PGWS_CONN_H
#define PGWS_CONN_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>

#include "chan.h"
#include "metrics.h"
#include "ws.h"

/*
 * One framed message.  A notification delivered to a thousand readers is
 * one struct msg with refs == 1000; each reader's queue holds a pointer and
 * its own write offset.
 */
struct msg {
	uint32_t refs;
	uint32_t len;
	uint32_t counted;       /* its bytes are in srv.queued (it was queued) */
	double t_arr;           /* a notification: when it arrived (srv.now),
	                           timed into srv.delivery per reader; else 0 */
	unsigned char data[];
};

/*
 * What one queued message costs a connection beyond its frame bytes: the
 * message's header and allocator overhead, and its slot in the ring (whose
 * capacity may be twice what is used).  PGWS_MAX_PENDING counts this, so
 * 5-byte frames cost 69 bytes each, as they do.
 */
#define CONN_ENTRY_COST 64

/* A message of len bytes (data uninitialised), refs 1; NULL out of memory. */
struct msg *msg_new(size_t len);
/* Drops one reference; the last one frees m. */
void msg_unref(struct msg *m);
/* A websocket frame holding a copy of payload; NULL when out of memory. */
struct msg *msg_frame(int opcode, const void *payload, size_t len);

enum conn_state {
	CS_HTTP,        /* reading a request head */
	CS_FILE,        /* sending a static file body from file_fd */
	CS_WS,          /* websocket open */
	CS_CLOSING,     /* we sent a close frame; waiting for the peer's */
	CS_DRAIN,       /* flush what is queued, then close the socket */
	CS_SSE,         /* a Server-Sent Events stream (stream.c) */
	CS_BODY,        /* reading the body of a publish request (publish.c) */
	CS_PUB,         /* a publish waits for PostgreSQL's answer */
	CS_DEAD         /* marked by conn_close; the loop reaps it this turn */
};

struct outref {
	struct msg *m;
	uint32_t off;
};

/* What a session is for; conn_close ends each kind its own way. */
enum session_kind { SESS_WS, SESS_SSE, SESS_PUB };

/* What an accepted token granted; one allocation per websocket, stream
 * or publish request. */
struct session {
	int mode;               /* JWT_MODE_R | JWT_MODE_W */
	int kind;               /* enum session_kind */
	uint32_t nchan;
	size_t claims_len;
	char *claims;           /* the members of the token's claims object
	                           as written, without braces and without any
	                           message_delivered_at, which pgws adds */
	struct {
		const char *name;
		uint32_t len;
		struct chan_member mem; /* in the reader index if reading */
	} chan[];
};

struct conn {
	int fd;                 /* -1: a vacant slot */
	uint32_t gen;           /* bumped on every reuse of the slot */
	unsigned char state;    /* enum conn_state */
	unsigned char keepalive;
	unsigned char dirty;    /* in the flush list this turn */
	unsigned char want_out; /* last write hit EAGAIN */
	unsigned char reparse;  /* c->in holds requests to parse */
	short ev_reg;           /* events registered with epoll */
	double deadline;        /* handshake, keep-alive or close timeout */
	double last_rx;
	double next_ping;
	double exp_at;          /* monotonic time the token expires, 0 none */
	double t0;              /* start of the current request */
	char *in;               /* partial request head */
	uint32_t in_len;
	unsigned char *msg;     /* message being reassembled */
	uint32_t msg_len, msg_cap;
	struct outref *oq;      /* ring of queued output */
	uint32_t oq_cap, oq_head, oq_n;
	size_t out_bytes;       /* queued: frame bytes + CONN_ENTRY_COST each */
	double progress_at;     /* last write progress (or first queued byte) */
	struct msg *pong;       /* the newest ping's answer, while one waits */
	unsigned char pong_queued; /* a pong is in oq, not fully written */
	uint32_t body_len;      /* CS_BODY: the request body's length (in c->msg) */
	uint32_t pub_wait;      /* CS_PUB: NOTIFYs not yet answered */
	int pub_failed;         /* CS_PUB: one of them failed */
	long long pub_stamp;    /* message_delivered_at of the first, in µs */
	char *cors;             /* CORS header lines for a listed Origin, or NULL */
	int file_fd;
	off_t file_off, file_end;
	struct session *s;
	struct ws_dec dec;
	struct tls *tls;        /* NULL on a plain connection */
	char addr[48];
};

/* Counters behind /metrics. */
struct stats {
	unsigned long long accepted, refused_full, ws_opened, ws_rejected,
	    rej_401, rej_403, rej_400, rej_426, rej_503, http_requests,
	    msgs_in, msgs_in_dropped, msgs_out, notifies, notifies_unrouted,
	    notifies_dropped,
	    slow_dropped, publish_failed, timeouts,
	    sse_opened, sse_rejected, sse_events, pub_status[10];
};

/* The connection table and what the modules of the server share. */
struct server {
	struct conn *conns;     /* cfg.max_connections slots */
	int hiwater;            /* no slot at or above this was ever used */
	int nactive, nws;       /* open connections, open websockets */
	int nsse;               /* open Server-Sent Events streams */
	int *free_slots, nfree;
	int *dirty, ndirty;     /* touched this turn: flush and re-arm */
	int *dead, ndead;       /* marked by conn_close: reap this turn */
	double now;             /* CLOCK_MONOTONIC seconds, once per turn */
	double wall;            /* CLOCK_REALTIME seconds, once per turn */
	size_t queued;          /* bytes held by all output queues: each queued
	                           message once, plus the rings */
	struct chan_index chans;
	struct stats st;
	struct hist delivery;   /* notification arrival to last byte written */
};

extern struct server srv;

/* Allocates max slots, all vacant; 0 or -1 out of memory. */
int conn_init(int max);
/* Frees the table (every connection must be reaped first). */
void conn_fini(void);

/* Takes an accepted, non-blocking fd; refuses it (closes fd) when every
 * slot is taken or stopping is set. */
void conn_open(int fd, const struct sockaddr_storage *sa, int stopping);

/*
 * Ends c: logs why (when not NULL) at warn, leaves its channels, and marks
 * it CS_DEAD.  Its memory and socket stay until conn_reap, so a caller
 * holding c may keep using the pointer; nothing more is sent or read.
 */
void conn_close(struct conn *c, const char *why);

/* Frees every marked connection (srv.dead) and closes its socket; the
 * loop calls it once per turn, when no connection pointer is held, after
 * unregistering those sockets from its backend. */
void conn_reap(void);

/* Lists c for this turn's flush (its output and interest changed). */
void conn_mark_dirty(struct conn *c);

/* Queues a reference to m on c.  Returns 0, or -1 when c is dead or was
 * closed for having too much queued (the reference is not taken then). */
int conn_send(struct conn *c, struct msg *m);

/* Queues a frame built from payload p[0..n); -1 when c is dead or closed. */
int conn_frame(struct conn *c, int opcode, const void *p, size_t n);

/*
 * Answers a ping.  While a pong is queued and not yet written, a newer
 * ping only replaces the one answer waiting behind it (RFC 6455 5.5.3:
 * only the most recent ping need be answered), so a ping flood holds at
 * most two pongs.  Returns 0, or -1 when c is dead or was closed.
 */
int conn_pong(struct conn *c, const void *p, size_t n);

/* 1 when c has more than PGWS_MAX_PENDING queued: it is not read until
 * its queue drains below that. */
int conn_behind(const struct conn *c);

/*
 * While srv.queued exceeds PGWS_MAX_PENDING_TOTAL, drops the connection
 * that has waited longest for its socket to take a byte.  Called where no
 * fan-out is walking a channel's readers.
 */
void conn_enforce_total(void);

/* Writes as much queued output (and file body) as the socket takes.
 * Returns 0, or -1 when c is dead or was closed here. */
int conn_flush(struct conn *c);

/* Reads what the socket has and hands it to the HTTP or websocket side. */
void conn_read(struct conn *c);

/* The instant c's next timer is due (one per state), or -1. */
double conn_due(const struct conn *c);

/* Runs c's due timers; returns seconds until its next one, -1 if none. */
double conn_timers(struct conn *c);

/* The slot number of c, and the tag of its current life (slot and gen). */
#define conn_slot(c) ((int)((c) - srv.conns))
#define conn_tag(c) ((uint64_t)(c)->gen << 32 | (uint32_t)conn_slot(c))

#endif
