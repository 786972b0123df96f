/*
 * x509name: a certificate made by openssl (five subjectAltName entries of
 * three kinds, commonName after another attribute) read back name by name;
 * certificates built here field by field for the optional parts (no
 * version, no extensions, no commonName, a critical flag, a second
 * subjectAltName, a multi-valued RDN); every truncation and every single
 * byte changed, placed against an unreadable page so that a read past the
 * end crashes.
 */
#include "unit.h"
#include "../x509name.c"

/*
 * openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -days 3650
 *   -subj "/O=pgws test/CN=db.example.org" -addext "subjectAltName=
 *   DNS:localhost,DNS:*.example.com,IP:127.0.0.1,IP:::1,URI:https://example.org/"
 * (the DER form; also the fuzzer's seed, fuzz/corpus/x509name).
 */
static const unsigned char real[] = {
  0x30, 0x82, 0x02, 0x04, 0x30, 0x82, 0x01, 0xaa, 0xa0, 0x03, 0x02, 0x01,
  0x02, 0x02, 0x14, 0x15, 0x35, 0xbd, 0x01, 0x2b, 0xd8, 0x0e, 0x19, 0x30,
  0x33, 0x68, 0xa9, 0x7c, 0xb4, 0x78, 0xe0, 0xb3, 0x9a, 0xed, 0x86, 0x30,
  0x0a, 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x02, 0x30,
  0x2d, 0x31, 0x12, 0x30, 0x10, 0x06, 0x03, 0x55, 0x04, 0x0a, 0x0c, 0x09,
  0x70, 0x67, 0x77, 0x73, 0x20, 0x74, 0x65, 0x73, 0x74, 0x31, 0x17, 0x30,
  0x15, 0x06, 0x03, 0x55, 0x04, 0x03, 0x0c, 0x0e, 0x64, 0x62, 0x2e, 0x65,
  0x78, 0x61, 0x6d, 0x70, 0x6c, 0x65, 0x2e, 0x6f, 0x72, 0x67, 0x30, 0x1e,
  0x17, 0x0d, 0x32, 0x36, 0x31, 0x32, 0x30, 0x32, 0x31, 0x37, 0x33, 0x34,
  0x33, 0x37, 0x5a, 0x17, 0x0d, 0x33, 0x36, 0x31, 0x31, 0x32, 0x39, 0x31,
  0x37, 0x33, 0x34, 0x33, 0x37, 0x5a, 0x30, 0x2d, 0x31, 0x12, 0x30, 0x10,
  0x06, 0x03, 0x55, 0x04, 0x0a, 0x0c, 0x09, 0x70, 0x67, 0x77, 0x73, 0x20,
  0x74, 0x65, 0x73, 0x74, 0x31, 0x17, 0x30, 0x15, 0x06, 0x03, 0x55, 0x04,
  0x03, 0x0c, 0x0e, 0x64, 0x62, 0x2e, 0x65, 0x78, 0x61, 0x6d, 0x70, 0x6c,
  0x65, 0x2e, 0x6f, 0x72, 0x67, 0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a,
  0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce,
  0x3d, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00, 0x04, 0x5f, 0xfa, 0xe0, 0x20,
  0x9e, 0x52, 0xb5, 0x9a, 0x3d, 0x03, 0xc9, 0xaf, 0xe8, 0xff, 0x85, 0xf7,
  0xc3, 0x27, 0xdf, 0x53, 0xd2, 0xdd, 0x1f, 0x04, 0x4b, 0xf1, 0x94, 0x87,
  0x31, 0x4f, 0x1d, 0xd8, 0xc8, 0x92, 0xc5, 0xe1, 0xb8, 0xbd, 0xde, 0x32,
  0xed, 0x59, 0x50, 0x2d, 0x85, 0x9a, 0x5b, 0x66, 0xf5, 0xdf, 0x5b, 0x68,
  0x81, 0x25, 0x18, 0x9b, 0xdf, 0x01, 0x04, 0xf3, 0x49, 0x9b, 0x31, 0x0b,
  0xa3, 0x81, 0xa7, 0x30, 0x81, 0xa4, 0x30, 0x1d, 0x06, 0x03, 0x55, 0x1d,
  0x0e, 0x04, 0x16, 0x04, 0x14, 0xe6, 0x10, 0x21, 0xd8, 0xfb, 0x4f, 0x7b,
  0x24, 0x54, 0x06, 0x7e, 0xcd, 0x17, 0x90, 0x9d, 0xaa, 0x48, 0x96, 0x7e,
  0xb1, 0x30, 0x1f, 0x06, 0x03, 0x55, 0x1d, 0x23, 0x04, 0x18, 0x30, 0x16,
  0x80, 0x14, 0xe6, 0x10, 0x21, 0xd8, 0xfb, 0x4f, 0x7b, 0x24, 0x54, 0x06,
  0x7e, 0xcd, 0x17, 0x90, 0x9d, 0xaa, 0x48, 0x96, 0x7e, 0xb1, 0x30, 0x0f,
  0x06, 0x03, 0x55, 0x1d, 0x13, 0x01, 0x01, 0xff, 0x04, 0x05, 0x30, 0x03,
  0x01, 0x01, 0xff, 0x30, 0x51, 0x06, 0x03, 0x55, 0x1d, 0x11, 0x04, 0x4a,
  0x30, 0x48, 0x82, 0x09, 0x6c, 0x6f, 0x63, 0x61, 0x6c, 0x68, 0x6f, 0x73,
  0x74, 0x82, 0x0d, 0x2a, 0x2e, 0x65, 0x78, 0x61, 0x6d, 0x70, 0x6c, 0x65,
  0x2e, 0x63, 0x6f, 0x6d, 0x87, 0x04, 0x7f, 0x00, 0x00, 0x01, 0x87, 0x10,
  0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
  0x00, 0x00, 0x00, 0x01, 0x86, 0x14, 0x68, 0x74, 0x74, 0x70, 0x73, 0x3a,
  0x2f, 0x2f, 0x65, 0x78, 0x61, 0x6d, 0x70, 0x6c, 0x65, 0x2e, 0x6f, 0x72,
  0x67, 0x2f, 0x30, 0x0a, 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04,
  0x03, 0x02, 0x03, 0x48, 0x00, 0x30, 0x45, 0x02, 0x21, 0x00, 0xb5, 0xbc,
  0x74, 0xd6, 0x31, 0x6e, 0xb0, 0xdc, 0x2b, 0x44, 0xef, 0xe4, 0x4b, 0x5b,
  0x95, 0x34, 0x23, 0xd3, 0x08, 0xb6, 0x14, 0xf9, 0xe3, 0x4e, 0x97, 0x70,
  0xb0, 0x08, 0x69, 0xfc, 0x16, 0xf0, 0x02, 0x20, 0x03, 0x4e, 0xfa, 0xbb,
  0x67, 0xb1, 0xe3, 0x74, 0x81, 0xe5, 0x4f, 0xba, 0xf4, 0xfc, 0x91, 0xc4,
  0x5e, 0x98, 0x76, 0xa7, 0x85, 0x0f, 0x8c, 0x1f, 0x17, 0x25, 0x6c, 0x79,
  0xbb, 0x28, 0xd1, 0xe6
};

/* A growable DER buffer for building certificates. */
struct buf {
	unsigned char b[4096];
	size_t n;
};

static void put(struct buf *d, const void *p, size_t n)
{
	if (d->n + n > sizeof d->b) {
		fprintf(stderr, "test buffer too small\n");
		exit(2);
	}
	memcpy(d->b + d->n, p, n);
	d->n += n;
}

/* Appends tag, a minimal length and the content of c to d. */
static void tlv(struct buf *d, int tag, const struct buf *c)
{
	unsigned char h[4] = { (unsigned char)tag };
	size_t k = 2;

	if (c->n < 128) {
		h[1] = (unsigned char)c->n;
	} else if (c->n < 256) {
		h[1] = 0x81;
		h[2] = (unsigned char)c->n;
		k = 3;
	} else {
		h[1] = 0x82;
		h[2] = (unsigned char)(c->n >> 8);
		h[3] = (unsigned char)c->n;
		k = 4;
	}
	put(d, h, k);
	put(d, c->b, c->n);
}

static void raw(struct buf *d, int tag, const char *s, size_t n)
{
	struct buf c = { .n = 0 };

	put(&c, s, n);
	tlv(d, tag, &c);
}

static const char cn_oid[] = "\x55\x04\x03", o_oid[] = "\x55\x04\x0a";
static const char san_oid[] = "\x55\x1d\x11", bc_oid[] = "\x55\x1d\x13";

/* An AttributeTypeAndValue. */
static void atv(struct buf *d, const char *oid, const char *val)
{
	struct buf c = { .n = 0 };

	raw(&c, 0x06, oid, 3);
	raw(&c, 0x0c, val, strlen(val));
	tlv(d, 0x30, &c);
}

/* An extension: OID, optional critical flag, OCTET STRING around inner. */
static void ext(struct buf *d, const char *oid, int critical,
    const struct buf *inner)
{
	struct buf c = { .n = 0 };

	raw(&c, 0x06, oid, 3);
	if (critical)
		raw(&c, 0x01, "\xff", 1);
	tlv(&c, 0x04, inner);
	tlv(d, 0x30, &c);
}

/* GeneralNames with one dNSName and one iPAddress. */
static void san(struct buf *d, const char *dns, const char *ip4)
{
	struct buf g = { .n = 0 };

	raw(&g, 0x82, dns, strlen(dns));
	raw(&g, 0x87, ip4, 4);
	tlv(d, 0x30, &g);
}

/*
 * A certificate: version (if v3), serial, algorithm, issuer, validity,
 * subject (the bytes of subj, a Name), key, extensions (if exts, their
 * SEQUENCE contents), then signature algorithm and value.
 */
static void cert(struct buf *out, int v3, const struct buf *subj,
    const struct buf *exts)
{
	struct buf tbs = { .n = 0 }, t = { .n = 0 }, c = { .n = 0 };
	struct buf alg = { .n = 0 }, name = { .n = 0 }, rdn = { .n = 0 };

	if (v3) {
		raw(&t, 0x02, "\x02", 1);
		tlv(&tbs, 0xa0, &t);
	}
	raw(&tbs, 0x02, "\x01", 1);
	raw(&alg, 0x06, "\x2a\x86\x48\xce\x3d\x04\x03\x02", 8);
	tlv(&tbs, 0x30, &alg);
	atv(&rdn, cn_oid, "issuer");
	tlv(&name, 0x31, &rdn);
	tlv(&tbs, 0x30, &name);
	t.n = 0;
	raw(&t, 0x17, "200101000000Z", 13);
	raw(&t, 0x17, "300101000000Z", 13);
	tlv(&tbs, 0x30, &t);
	put(&tbs, subj->b, subj->n);
	t.n = 0;
	raw(&t, 0x30, "", 0);
	raw(&t, 0x03, "\x00", 1);
	tlv(&tbs, 0x30, &t);
	if (exts) {
		t.n = 0;
		tlv(&t, 0x30, exts);
		tlv(&tbs, 0xa3, &t);
	}
	tlv(&c, 0x30, &tbs);
	tlv(&c, 0x30, &alg);
	raw(&c, 0x03, "\x00\x01", 2);
	out->n = 0;
	tlv(out, 0x30, &c);
}

/* A Name of one RDN per value, attribute types alternating O and CN. */
static void subject(struct buf *d, const char *o, const char *cn)
{
	struct buf rdns = { .n = 0 }, r = { .n = 0 };

	d->n = 0;
	if (o) {
		atv(&r, o_oid, o);
		tlv(&rdns, 0x31, &r);
	}
	if (cn) {
		r.n = 0;
		atv(&r, cn_oid, cn);
		tlv(&rdns, 0x31, &r);
	}
	tlv(d, 0x30, &rdns);
}

static int parse(const unsigned char *p, size_t n, struct x509name *x)
{
	return x509name_parse(unit_guard(p, n, 0), n, x);
}

static int is(const unsigned char *v, size_t n, const char *s)
{
	return n == strlen(s) && !memcmp(v, s, n);
}

static void test_real(void)
{
	struct x509name x;
	const unsigned char *v;
	size_t n, pos = 0;
	int tag;

	CHECK_EQ_INT(parse(real, sizeof real, &x), 0);
	CHECK(x.cn && is(x.cn, x.cn_len, "db.example.org"));
	CHECK(x509name_next(&x, &pos, &tag, &v, &n) == 1 &&
	    tag == X509NAME_DNS && is(v, n, "localhost"));
	CHECK(x509name_next(&x, &pos, &tag, &v, &n) == 1 &&
	    tag == X509NAME_DNS && is(v, n, "*.example.com"));
	CHECK(x509name_next(&x, &pos, &tag, &v, &n) == 1 &&
	    tag == X509NAME_IP && n == 4 && !memcmp(v, "\x7f\0\0\x01", 4));
	CHECK(x509name_next(&x, &pos, &tag, &v, &n) == 1 &&
	    tag == X509NAME_IP && n == 16 &&
	    !memcmp(v, "\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\x01", 16));
	CHECK(x509name_next(&x, &pos, &tag, &v, &n) == 1 && tag == 0x86 &&
	    is(v, n, "https://example.org/"));
	CHECK_EQ_INT(x509name_next(&x, &pos, &tag, &v, &n), 0);
	CHECK_EQ_INT(x509name_next(&x, &pos, &tag, &v, &n), 0);
}

static void test_built(void)
{
	struct buf c, s, e, g;
	struct x509name x;
	const unsigned char *v;
	size_t n, pos;
	int tag;

	/* v1: no version, no extensions. */
	subject(&s, "org", "host.example");
	cert(&c, 0, &s, NULL);
	CHECK_EQ_INT(parse(c.b, c.n, &x), 0);
	CHECK(x.cn && is(x.cn, x.cn_len, "host.example") && !x.san);
	pos = 0;
	CHECK_EQ_INT(x509name_next(&x, &pos, &tag, &v, &n), 0);

	/* No commonName; a critical subjectAltName after another extension. */
	subject(&s, "org", NULL);
	e.n = g.n = 0;
	raw(&g, 0x30, "", 0);
	ext(&e, bc_oid, 1, &g);
	g.n = 0;
	san(&g, "a.example", "\x0a\x00\x00\x01");
	ext(&e, san_oid, 1, &g);
	cert(&c, 1, &s, &e);
	CHECK_EQ_INT(parse(c.b, c.n, &x), 0);
	CHECK(!x.cn && x.san);
	pos = 0;
	CHECK(x509name_next(&x, &pos, &tag, &v, &n) == 1 &&
	    tag == X509NAME_DNS && is(v, n, "a.example"));
	CHECK(x509name_next(&x, &pos, &tag, &v, &n) == 1 &&
	    tag == X509NAME_IP && n == 4);
	CHECK_EQ_INT(x509name_next(&x, &pos, &tag, &v, &n), 0);

	/* Two subjectAltName extensions: malformed (RFC 5280 4.2). */
	g.n = 0;
	san(&g, "b.example", "\x0a\x00\x00\x02");
	ext(&e, san_oid, 0, &g);
	cert(&c, 1, &s, &e);
	CHECK_EQ_INT(parse(c.b, c.n, &x), -1);
	CHECK(!x.san && !x.cn);

	/* The first commonName wins, also inside a multi-valued RDN. */
	{
		struct buf rdns = { .n = 0 }, r = { .n = 0 };

		atv(&r, o_oid, "org");
		atv(&r, cn_oid, "first.example");
		tlv(&rdns, 0x31, &r);
		r.n = 0;
		atv(&r, cn_oid, "second.example");
		tlv(&rdns, 0x31, &r);
		s.n = 0;
		tlv(&s, 0x30, &rdns);
	}
	cert(&c, 1, &s, NULL);
	CHECK_EQ_INT(parse(c.b, c.n, &x), 0);
	CHECK(x.cn && is(x.cn, x.cn_len, "first.example"));

	/* An extension whose value is not an OCTET STRING. */
	subject(&s, NULL, "h");
	e.n = 0;
	{
		struct buf c2 = { .n = 0 };

		raw(&c2, 0x06, san_oid, 3);
		raw(&c2, 0x02, "\x01", 1);
		tlv(&e, 0x30, &c2);
	}
	cert(&c, 1, &s, &e);
	CHECK_EQ_INT(parse(c.b, c.n, &x), -1);

	/* GeneralNames with bytes after the SEQUENCE inside the OCTET STRING. */
	e.n = g.n = 0;
	san(&g, "c.example", "\x0a\x00\x00\x03");
	put(&g, "\x00", 1);
	ext(&e, san_oid, 0, &g);
	cert(&c, 1, &s, &e);
	CHECK_EQ_INT(parse(c.b, c.n, &x), -1);
}

static void test_bad_lengths(void)
{
	struct x509name x;
	/* Indefinite length, a four-byte length, a multi-byte tag. */
	static const unsigned char indef[] = { 0x30, 0x80, 0x30, 0x00, 0, 0 };
	static const unsigned char four[] = { 0x30, 0x84, 0, 0, 0, 2, 5, 0 };
	static const unsigned char mtag[] = { 0x1f, 0x81, 0x01, 0x00 };

	CHECK_EQ_INT(parse(indef, sizeof indef, &x), -1);
	CHECK_EQ_INT(parse(four, sizeof four, &x), -1);
	CHECK_EQ_INT(parse(mtag, sizeof mtag, &x), -1);
	CHECK_EQ_INT(parse(real, 0, &x), -1);
	CHECK_EQ_INT(parse(real, 1, &x), -1);
}

/* Every prefix fails; every byte changed parses or fails, within bounds. */
static void test_mutations(void)
{
	unsigned char m[sizeof real];
	struct x509name x;
	int prefix_ok = 1, walked = 1;

	for (size_t n = 0; n < sizeof real; n++)
		if (parse(real, n, &x) != -1)
			prefix_ok = 0;
	CHECK(prefix_ok);
	for (size_t i = 0; i < sizeof real; i++) {
		for (int bit = 0; bit < 8; bit++) {
			const unsigned char *g, *v;
			size_t n, pos = 0;
			int tag;

			memcpy(m, real, sizeof m);
			m[i] ^= (unsigned char)(1u << bit);
			g = unit_guard(m, sizeof m, 1);
			if (x509name_parse(g, sizeof m, &x) < 0)
				continue;
			while (x509name_next(&x, &pos, &tag, &v, &n))
				if (v < g || v + n > g + sizeof m)
					walked = 0;
			if (x.cn && (x.cn < g || x.cn + x.cn_len > g + sizeof m))
				walked = 0;
		}
	}
	CHECK(walked);
}

int main(void)
{
	test_real();
	test_built();
	test_bad_lengths();
	test_mutations();
	return unit_done();
}
