/*
 * pgws client: a websocket client for shell scripts and tests.  Lines of
 * standard input become text messages; messages received become lines of
 * standard output.
 */
#ifndef PGWS_CLIENT_H
#define PGWS_CLIENT_H

/*
 * Runs "pgws client [options] URL"; argv[0] is "client" and the rest are
 * the caller's command-line words, only read.  Returns the process exit
 * status: 0 after a normal close (1000) or after --count messages, 1 after
 * a close with another code or a lost connection, 2 for a usage error, 3
 * when the connection or the handshake fails, 4 when --timeout expires.
 */
int client_main(int argc, char **argv);

#endif
