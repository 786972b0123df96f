/*
 * libFuzzer target for the certificate and key loading of tls.c.  The
 * input is a PEM file (anything at all, really) and goes three ways:
 *
 *  - straight into pem_each(), whose callback copies every object into an
 *    exact-size block and runs BearSSL's X.509 and private key decoders
 *    and san_has_ip() (x509name.c's DER walk) over it, so ASan sees any access
 *    outside the object; the callback stopping the walk must make it fail
 *    with a message;
 *  - written to a memfd whose /proc/self/fd path is given to tls_setup()
 *    as both the certificate and the key file: the result is 0 or -1, -1
 *    comes with a NUL-terminated one-line message, and tls_reload() of the
 *    same (unchanged) file agrees;
 *  - given to anchors_load(), the client's trust anchor loader, under the
 *    same rules.
 */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "../tls.c"
#include "../x509name.c"

struct walk {
	size_t objects;
	size_t stop_at;         /* return nonzero for this object (1-based) */
};

static int
on_obj(void *arg, const char *label, const unsigned char *der, size_t len)
{
	static const unsigned char ip4[4] = { 127, 0, 0, 1 };
	static const unsigned char ip6[16] = { [15] = 1 };
	struct walk *w = arg;
	br_x509_decoder_context dc;
	br_skey_decoder_context sk;
	unsigned char *copy;

	if (memchr(label, '\0', 128) == NULL)
		abort();
	if (len > MAX_PEM_FILE || (len && der == NULL))
		abort();
	copy = malloc(len ? len : 1);
	if (copy == NULL)
		abort();
	if (len)
		memcpy(copy, der, len);
	(void)san_has_ip(copy, len, ip4, sizeof ip4);
	(void)san_has_ip(copy, len, ip6, sizeof ip6);
	br_x509_decoder_init(&dc, NULL, NULL);
	br_x509_decoder_push(&dc, copy, len);
	(void)br_x509_decoder_get_pkey(&dc);
	br_skey_decoder_init(&sk);
	br_skey_decoder_push(&sk, copy, len);
	(void)br_skey_decoder_key_type(&sk);
	free(copy);
	return ++w->objects == w->stop_at;
}

static void
check_err(int rc, const char *err, size_t cap)
{
	if (rc != 0 && rc != -1)
		abort();
	if (rc == -1 && (err[0] == '\0' || memchr(err, '\0', cap) == NULL))
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int fd = -1;
	static char path[64];
	char err[256], err2[256];
	struct walk w = { 0, 0 };
	struct anchors a = { 0 };
	unsigned char *text;
	int rc, rc2;

	if (size > MAX_PEM_FILE)
		return 0;
	if (fd < 0) {
		fd = memfd_create("fuzz_pem", 0);
		if (fd < 0)
			abort();
		snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
	}

	/* 1. The PEM walk over an exact-size copy. */
	text = malloc(size ? size : 1);
	if (text == NULL)
		abort();
	if (size)
		memcpy(text, data, size);
	err[0] = '\0';
	rc = pem_each("mem", text, size, on_obj, &w, err, sizeof err);
	check_err(rc, err, sizeof err);
	if (w.objects > 0) {
		/* Stopping at the last object fails the walk, with a message. */
		size_t all = w.objects;

		w.objects = 0;
		w.stop_at = all;
		strcpy(err, "stopped");
		if (pem_each("mem", text, size, on_obj, &w, err, sizeof err) != -1 ||
		    w.objects != all)
			abort();
	}
	free(text);

	/* 2. The server's certificate and key loading, from a file. */
	if (ftruncate(fd, 0) != 0 || pwrite(fd, data, size, 0) != (ssize_t)size)
		abort();
	err[0] = '\0';
	rc = tls_setup(path, path, err, sizeof err);
	check_err(rc, err, sizeof err);
	err2[0] = '\0';
	rc2 = tls_reload(err2, sizeof err2);
	check_err(rc2, err2, sizeof err2);
	if (rc2 != rc)
		abort();

	/* 3. The client's trust anchors, from the same file. */
	err[0] = '\0';
	rc = anchors_load(&a, path, err, sizeof err);
	check_err(rc, err, sizeof err);
	if (rc == 0 && a.n == 0)
		abort();
	anchors_free(&a);
	return 0;
}
