/*
 * The names a server certificate claims, read from its DER bytes: the
 * entries of its subjectAltName extension and the first commonName of its
 * subject.  Pure functions over bytes, for the host name check of TLS to
 * the database (pqtls.c), which follows libpq's rules and so needs every
 * name, not BearSSL's yes or no, and for the iPAddress check of a server
 * addressed by IP (tls.c, for pgws client), which BearSSL does not make.
 */
#ifndef X509NAME_H
#define X509NAME_H

#include <stddef.h>

/* GeneralName tags (RFC 5280 section 4.2.1.6) as they appear on the wire. */
#define X509NAME_DNS    0x82    /* dNSName, [2] IMPLICIT IA5String */
#define X509NAME_IP     0x87    /* iPAddress, [7] IMPLICIT OCTET STRING */

/* Slices into the certificate given to x509name_parse(). */
struct x509name {
	const unsigned char *san;       /* GeneralNames contents, or NULL */
	size_t san_len;
	const unsigned char *cn;        /* first commonName value, or NULL */
	size_t cn_len;
};

/*
 * Finds the subjectAltName and the first commonName of the certificate
 * der[0..len).  Returns 0, or -1 when the certificate is malformed as far
 * as it was read: bad DER, a second subjectAltName extension, a
 * subjectAltName whose GeneralNames do not parse.  Reads nothing outside
 * der[0..len) and allocates nothing.
 */
int x509name_parse(const unsigned char *der, size_t len, struct x509name *x);

/*
 * Iterates over the subjectAltName entries of x in certificate order:
 * *pos starts at 0.  Returns 1 with the entry's wire tag and its value
 * slice, or 0 after the last one (and for a certificate without the
 * extension).
 */
int x509name_next(const struct x509name *x, size_t *pos, int *tag,
    const unsigned char **val, size_t *vlen);

#endif
