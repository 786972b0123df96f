/*
 * TLS for pgws: BearSSL engines driven over non-blocking sockets, server
 * engines for pgws itself, client engines for "pgws client wss://" and for
 * the database connections (pqtls.c).
 *
 * One certificate chain and private key pair is loaded at start-up and
 * may be replaced on SIGHUP; every connection takes its own reference to
 * the pair that was current when it was accepted.  The I/O functions
 * mirror read()/writev() so the caller's loop stays the same with or
 * without TLS.  Protocol: TLS 1.2 only, ECDHE key exchange with AES-GCM
 * or ChaCha20-Poly1305, ALPN "http/1.1", a shared 64 KiB session cache.
 *
 * Memory: one connection costs tls_conn_bytes(), about 25 KB on x86-64:
 * sizeof(br_ssl_server_context) (4.1 KB), an input buffer that takes the
 * full-size records browsers send (BR_SSL_BUFSIZE_INPUT, 16709 bytes) and
 * an output buffer for records of 4 KiB of plaintext (4181 bytes).
 */
#ifndef TLS_H
#define TLS_H

#include <stddef.h>
#include <sys/types.h>
#include <sys/uio.h>

/*
 * Loads the PEM certificate chain (leaf first) and the PEM private key
 * (RSA or EC: "RSA PRIVATE KEY", "EC PRIVATE KEY" or "PRIVATE KEY") and
 * checks that the key belongs to the leaf certificate.  The paths are
 * copied and read again by tls_reload().  Returns 0, or -1 with a one-line
 * message naming the offending file in err (errcap bytes).
 */
int tls_setup(const char *cert_file, const char *key_file,
    char *err, size_t errcap);

/*
 * Reads the two files of tls_setup() again.  On success new connections
 * use the new pair while existing ones keep the pair they started with;
 * on failure the old pair stays and -1 comes back with the message in err.
 */
int tls_reload(char *err, size_t errcap);

struct tls;

/*
 * A server engine for a freshly accepted connection, owned by the caller
 * until tls_free().  NULL when out of memory (errno ENOMEM), when
 * tls_setup() has not succeeded (EINVAL) or when no random seed could be
 * had (EIO).
 */
struct tls *tls_new(void);

/*
 * A client engine for one connection to server_name (a host name, or an
 * IPv4 or IPv6 address without brackets), owned by the caller until
 * tls_free().  The server's chain must lead to a certificate of the PEM
 * file cafile, read here and kept in t; a CA certificate there anchors
 * chains, any other is trusted as the server's own certificate.  The
 * server's certificate must name server_name: a host name among its DNS
 * names (sent as SNI too), an address among its IP addresses.  Same
 * protocol as the server side.  The handshake runs inside the first
 * tls_read()/tls_writev() calls; until it is done tls_writev() takes
 * nothing.  Returns NULL with a one-line message in err (errcap bytes).
 */
struct tls *tls_client_new(const char *cafile, const char *server_name,
    char *err, size_t errcap);

/*
 * A client engine with every choice explicit, for TLS to the database
 * (pqtls.c); tls_client_new() is this with cafile, check_name, sni and
 * ALPN "http/1.1".  cafile NULL: the server's certificate is not checked
 * at all (its key is still used); otherwise its chain must lead to a
 * certificate of that PEM file.  check_name: server_name must be among
 * the certificate's names; 0: the caller checks them with tls_peer_cert().
 * sni: server_name goes out as SNI when it is a host name.  cert_file and
 * key_file (both or neither): a client certificate chain and its RSA or
 * EC key, as tls_setup() loads them.  http_alpn: offer ALPN "http/1.1"
 * (the database gets no ALPN, as libpq 15 sends none).
 * Returns NULL with a one-line message in err (errcap bytes).
 */
struct tls_client_opts {
	const char *cafile;
	const char *server_name;
	int check_name, sni;
	const char *cert_file, *key_file;
	int http_alpn;
};
struct tls *tls_client_open(const struct tls_client_opts *o,
    char *err, size_t errcap);

/*
 * Runs a client handshake on the non-blocking socket fd as far as it can
 * go: 1 when done, 0 when it waits for tls_events() on fd, -1 when it
 * failed (tls_error() says why when it is a TLS failure, 0 for a socket
 * that failed or closed).
 */
int tls_handshake(struct tls *t, int fd);

/*
 * The server's certificate (DER) of a client engine opened with
 * check_name 0 or with an address, once the handshake has seen it;
 * else NULL.  Valid until tls_free(t).
 */
const unsigned char *tls_peer_cert(const struct tls *t, size_t *len);

/* The OpenSSL-style name of the negotiated cipher suite, or NULL. */
const char *tls_cipher(const struct tls *t);

/*
 * The BearSSL error code that ended t (BR_ERR_*; 0 while none): after an
 * EPROTO from the I/O functions, it says why, a certificate that does not
 * verify included.
 */
int tls_error(const struct tls *t);

/* Writes a short English description of tls_error() code e into buf. */
void tls_error_text(int e, char *buf, size_t cap);

/*
 * Releases t (NULL is fine) and its reference to the key pair or its
 * trust anchors; wipes keys.
 */
void tls_free(struct tls *t);

/*
 * Like read() on the non-blocking socket fd, but yields decrypted data:
 * > 0 bytes copied into buf (n bytes at most); 0 at EOF or after the peer's
 * close_notify; -1 with errno EAGAIN when no plaintext can be had without
 * blocking, after sending pending records and reading what the socket
 * holds; -1 with another errno (EPROTO for a TLS failure) when the
 * connection is dead.  A count short of n means the engine holds no more
 * plaintext; a full count may leave some behind, which poll() cannot see:
 * call again until a short count or EAGAIN.
 */
ssize_t tls_read(struct tls *t, int fd, void *buf, size_t n);

/*
 * Like writev(): encrypts as much of iov as the engine takes, sends the
 * records as far as fd accepts and returns the number of plaintext bytes
 * taken (> 0); -1 with errno EAGAIN when none could be taken now (handshake
 * not done or records waiting for the socket); -1 with another errno when
 * the connection is dead (EPIPE once closed).  Bytes taken belong to the
 * engine: tls_flush() keeps sending them while tls_pending() says so.
 */
ssize_t tls_writev(struct tls *t, int fd, const struct iovec *iov, int iovcnt);

/*
 * The poll() events the engine needs on fd now: POLLOUT while records wait
 * to be sent, POLLIN while it wants records.  To be ORed into the events
 * the caller wants for itself.  A closed or dead engine asks for POLLOUT so
 * that the caller's tls_flush() reports it.
 */
int tls_events(const struct tls *t);

/*
 * 1 when decrypted data waits inside the engine.  poll() cannot see it: a
 * caller that stopped calling tls_read() before a short count must call it
 * again without waiting for POLLIN (poll with a zero timeout).
 */
int tls_buffered(const struct tls *t);

/* Sends pending records; 0 (some may still wait), or -1 when dead or closed. */
int tls_flush(struct tls *t, int fd);

/* 1 while records wait to be sent: keep polling POLLOUT before closing. */
int tls_pending(const struct tls *t);

/* Queues a close_notify and sends what fd takes without blocking. */
void tls_close(struct tls *t, int fd);

/* Bytes of memory one struct tls costs. */
size_t tls_conn_bytes(void);

#endif
