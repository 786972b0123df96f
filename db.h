/*
 * The database side of pgws: one LISTEN connection and a pool of publishing
 * connections, all driven without blocking from the caller's poll() loop.
 * The caller asks for pollfds (db_pollfds), hands back their revents
 * (db_process), takes what happened with db_next until it returns 0, and
 * sleeps at most db_timeout().  Nothing here calls back into the caller.
 */
#ifndef PGWS_DB_H
#define PGWS_DB_H

#include <poll.h>
#include <stddef.h>
#include <stdint.h>

#include "metrics.h"

struct db_cfg {
	const char *uri;      /* libpq conninfo or URI (copied by db_init) */
	const char *channel;  /* PGWS_LISTEN_CHANNEL: LISTEN on it, pg_notify to it (copied) */
	int pool_size;        /* PGWS_POOL_SIZE: most publishing connections (>= 1),
	                         each opened when a message is queued on it */
	double idle_s;        /* PGWS_POOL_IDLE_TIMEOUT: a pool connection with
	                         nothing queued this long is closed; 0 = 600 */
	int retries;          /* PGWS_RETRIES: start-up attempts per connection (< 1 means 1) */
	long check_ms;        /* PGWS_CHECK_LISTENER_INTERVAL; 0 = no supervision: listener loss
	                         is reported once (DB_EV_LISTENER_DOWN) and the caller exits */
	size_t queue_max;     /* messages queued or in flight per pool connection; 0 = 10000 */
	size_t bytes_max;     /* payload bytes queued across the whole pool before
	                         db_publish refuses (0 = 64 MiB) */
	size_t batch_max;     /* most notifications sent in one pipeline batch; 0 = 256 */
};

/* What db_next reports; every event is reported once, in order. */
enum db_event_kind {
	DB_EV_NOTIFY,           /* data[0..len): a payload on the listen channel */
	DB_EV_LISTENER_DOWN,    /* the listener was lost */
	DB_EV_LISTENER_UP,      /* the listener is back and LISTENing again */
	DB_EV_PUBLISH_FAILED,   /* the db_publish of tag will never be published;
	                           data: a short reason */
	DB_EV_PUBLISHED         /* the db_publish_ack of tag was committed */
};

struct db_event {
	enum db_event_kind kind;
	uint64_t tag;           /* DB_EV_PUBLISH_FAILED, DB_EV_PUBLISHED: the tag */
	const char *data;       /* NUL-terminated; owned by db, valid until the
	                           next db_next, db_process or db_shutdown */
	size_t len;             /* bytes of data before the NUL */
};

/*
 * Connects the listener, blocking, with up to c->retries attempts and
 * back-off 1 s, 2 s, 4 s ... capped at 32 s, and issues LISTEN.  No pool
 * connection is opened here: db_publish opens one when it needs it.  The strings of c are copied.  Returns 0, or -1 with
 * libpq's last error, on one line, in the caller's err of errcap bytes
 * (always NUL-terminated when errcap > 0); on -1 nothing stays allocated.
 */
int db_init(const struct db_cfg *c, char *err, size_t errcap);

/*
 * Writes into the caller's pfd, at most max entries, one pollfd per database
 * socket, with events from that connection's state; returns how many were
 * written.  max >= db_init's pool_size + 1 always suffices.
 */
size_t db_pollfds(struct pollfd *pfd, size_t max);

/*
 * Handles the revents of the n entries the last db_pollfds wrote (same order;
 * pass n = 0 when poll timed out) and runs the timers due at now (seconds,
 * CLOCK_MONOTONIC).  Never blocks.  What happened is queued for db_next.
 */
void db_process(const struct pollfd *pfd, size_t n, double now);

/*
 * Takes the oldest event that db_process queued: fills *ev and returns 1,
 * or returns 0 when there is none left.  The caller may call db_publish
 * while handling an event.
 */
int db_next(struct db_event *ev);

/* Returns seconds (>= 0) until db's next timer is due at now (0 when
 * queued messages wait to be sent), or -1 if none. */
double db_timeout(double now);

/*
 * Queues SELECT pg_notify(channel, payload) on pool connection
 * affinity % pool_size, so that messages of one affinity are published in
 * order.  The len bytes of payload are copied (the caller keeps ownership);
 * len must be < 8000.  Returns 0 when queued (then exactly one of: it is
 * published, or a DB_EV_PUBLISH_FAILED event reports tag later), or -1 when that
 * connection's queue is full or memory ran out (no event then).
 *
 * Messages go out in pipeline batches of up to batch_max, one implicit
 * transaction each.  If a statement of a batch fails, the whole batch was
 * rolled back, so its messages are retried once, each in a batch of its own;
 * only a message that fails alone is reported.  Messages of a batch in
 * flight when its connection is lost are reported (they may or may not have
 * been committed, and resending could duplicate them); queued ones wait for
 * the reconnection.  Once a message of a tag (other than 0) is reported,
 * every message of that tag still queued is dropped unsent, so what one
 * tag got published is always a prefix of what it queued.  Sending happens in db_process: db_timeout returns 0
 * while a connection has messages ready to go, so the caller's next poll()
 * does not sleep.
 */
int db_publish(uint64_t tag, unsigned affinity, const char *payload, size_t len);

/*
 * As db_publish, and once PostgreSQL has committed the NOTIFY a
 * DB_EV_PUBLISHED event reports tag (or DB_EV_PUBLISH_FAILED, as above):
 * for a sender that answers only after the acknowledgement (an HTTP
 * publish).  Plain db_publish reports no success, so websocket messages
 * cost no event each.
 */
int db_publish_ack(uint64_t tag, unsigned affinity, const char *payload, size_t len);

/*
 * Seconds the listener's health check (or queue sample, sent at least
 * every 10 s) has been waiting for its answer at now; 0 when none is out.
 * Without PGWS_CHECK_LISTENER_INTERVAL a hung backend is never given up
 * on, so this is how it shows.
 */
double db_listener_wait(double now);

/* Returns 1 when the listener connection is up and LISTENing, else 0. */
int db_listener_up(void);

/* Returns messages queued or in flight over all pool connections. */
size_t db_pending(void);

struct db_stats {
	unsigned long long notifies_received;   /* on the listen channel */
	unsigned long long published;           /* pg_notify calls committed */
	unsigned long long publish_failed;      /* reported as DB_EV_PUBLISH_FAILED */
	unsigned long long listener_reconnects; /* listener re-established */
	size_t queued;                          /* same as db_pending() */
	double queue_usage;                     /* last pg_notification_queue_usage() */
	int pool_open;                          /* pool connections up */
	struct hist publish;                    /* seconds from db_publish to
	                                           the commit, per message */
};

/* Fills the caller's s with counters since db_init. */
void db_get_stats(struct db_stats *s);

/*
 * Writes one line about the listener connection into out[cap]: "connected
 * to HOST:PORT database DB as USER" (a socket directory as "socket DIR
 * port PORT"), or "not connected".  The names come from libpq.
 */
void db_describe(char *out, size_t cap);

/*
 * Closes every connection and frees everything; messages still queued and
 * events not taken are dropped unreported (call db_pending first to drain).  Safe to call
 * when db_init failed or was never called.
 */
void db_shutdown(void);

#endif
