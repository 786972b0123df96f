/*
 * The event loop: listening sockets, signals, the readiness backend (poll,
 * or epoll on Linux), connection timers, and the turn that ties them to the
 * database module and the connections.
 */
#ifndef PGWS_LOOP_H
#define PGWS_LOOP_H

#include "conn.h"

/* Creates the signal pipe and ignores SIGPIPE; exits 2 on failure. */
void loop_init(void);

/* Binds the listening sockets cfg names; exits 2 on failure.  Returns the
 * port bound (cfg.port, or the one the kernel chose for 0). */
int loop_listen(void);

/* Installs the SIGINT, SIGTERM (stop) and SIGHUP (reload) handlers. */
void loop_signals(void);

/*
 * Serves until a signal asks it to stop, or the database listener is lost
 * without supervision, and then until every connection and queued message
 * is done or PGWS_CLOSE_TIMEOUT passed.  Returns main's exit status: 0, or
 * 1 after the listener was lost or poll/epoll failed.
 */
int loop_run(void);

#endif
