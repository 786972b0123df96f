/*
 * TLS to PostgreSQL: libpq's internal TLS interface (pgtls_*, PQgetssl and
 * friends) implemented with BearSSL, linked into a libpq built with
 * USE_SSL but without OpenSSL.  See pqtls.c for why.  The only function
 * pgws itself calls is the start-up check below; everything else is
 * reached through libpq.
 */
#ifndef PQTLS_H
#define PQTLS_H

#include <stddef.h>

/*
 * Refuses, before any connection, what this libpq cannot do although the
 * user asked for it: sslnegotiation (PostgreSQL 17's direct TLS, unknown
 * to libpq 15) in the connection string or PGSSLNEGOTIATION=direct in the
 * environment.  Returns 0, or -1 with one line naming the setting and
 * saying why in err (errcap bytes).
 */
int pqtls_check(const char *conninfo, char *err, size_t errcap);

#endif
