/*
 * x509name: the names in a DER certificate (see x509name.h).
 *
 * This is its own file because it is a parser of bytes a server sends:
 * kept pure so that it can be unit-tested and fuzzed on its own.  BearSSL
 * validates certificates but reports at most one subjectAltName entry of a
 * kind, while libpq's host name rules look at all of them, and at the
 * commonName only when no entry of the host's kind exists.
 *
 * Only the path to the two fields is walked (RFC 5280 section 4.1):
 * Certificate -> TBSCertificate -> subject and extensions.  Every element
 * is bounds-checked against its parent, so a lying length ends the walk.
 */
#include <string.h>

#include "x509name.h"

/*
 * Reads the DER element at *p (before end): its tag and the span of its
 * value, and moves *p past it.  Returns 0, or -1 for a multi-byte tag, an
 * indefinite or over-long length, or one that runs past end.
 */
static int elem(const unsigned char **p, const unsigned char *end,
    int *tag, const unsigned char **val, size_t *vlen)
{
	const unsigned char *q = *p;
	size_t n, k;

	if (end - q < 2 || (q[0] & 0x1f) == 0x1f)
		return -1;
	*tag = q[0];
	n = q[1];
	q += 2;
	if (n & 0x80) {
		/* Three length bytes are 16 MiB, more than any certificate. */
		k = n & 0x7f;
		if (k == 0 || k > 3 || (size_t)(end - q) < k)
			return -1;
		for (n = 0; k > 0; k--)
			n = n << 8 | *q++;
	}
	if (n > (size_t)(end - q))
		return -1;
	*val = q;
	*vlen = n;
	*p = q + n;
	return 0;
}

/* Enters the element at *p, which must have tag: [*p, *end) becomes its value. */
static int enter(const unsigned char **p, const unsigned char **end, int tag)
{
	const unsigned char *v;
	size_t n;
	int t;

	if (elem(p, *end, &t, &v, &n) || t != tag)
		return -1;
	*p = v;
	*end = v + n;
	return 0;
}

/* Skips the element at *p, which must have tag. */
static int skip(const unsigned char **p, const unsigned char *end, int tag)
{
	const unsigned char *v;
	size_t n;
	int t;

	return elem(p, end, &t, &v, &n) || t != tag ? -1 : 0;
}

/*
 * The first commonName (OID 2.5.4.3) of the Name in [p, end): a SEQUENCE
 * OF SET OF SEQUENCE { type OID, value }.  0 with x->cn set or left NULL,
 * -1 when the Name does not parse.
 */
static int find_cn(const unsigned char *p, const unsigned char *end,
    struct x509name *x)
{
	static const unsigned char cn_oid[] = { 0x55, 0x04, 0x03 };

	while (p < end) {
		const unsigned char *s = p, *se = end;

		if (enter(&s, &se, 0x31) || skip(&p, end, 0x31))
			return -1;
		while (s < se) {
			const unsigned char *a = s, *ae = se, *oid, *val;
			size_t oidlen, vlen;
			int tag;

			if (enter(&a, &ae, 0x30) || skip(&s, se, 0x30) ||
			    elem(&a, ae, &tag, &oid, &oidlen) || tag != 0x06 ||
			    elem(&a, ae, &tag, &val, &vlen) || a != ae)
				return -1;
			if (!x->cn && oidlen == sizeof cn_oid &&
			    !memcmp(oid, cn_oid, oidlen)) {
				x->cn = val;
				x->cn_len = vlen;
			}
		}
	}
	return 0;
}

/*
 * Walks the Extensions in [p, end) for the subjectAltName (OID 2.5.29.17),
 * whose extnValue wraps GeneralNames.  A second one is malformed (RFC 5280
 * section 4.2: at most one instance of an extension).
 */
static int find_san(const unsigned char *p, const unsigned char *end,
    struct x509name *x)
{
	static const unsigned char san_oid[] = { 0x55, 0x1d, 0x11 };

	if (enter(&p, &end, 0x30))
		return -1;
	while (p < end) {
		const unsigned char *e = p, *ee = end, *oid, *val;
		size_t oidlen, vlen;
		int tag;

		/* Extension ::= SEQUENCE { extnID, critical BOOLEAN DEFAULT FALSE, extnValue } */
		if (enter(&e, &ee, 0x30) || skip(&p, end, 0x30) ||
		    elem(&e, ee, &tag, &oid, &oidlen) || tag != 0x06 ||
		    elem(&e, ee, &tag, &val, &vlen))
			return -1;
		if (tag == 0x01 && elem(&e, ee, &tag, &val, &vlen))
			return -1;
		if (tag != 0x04 || e != ee)
			return -1;
		if (oidlen != sizeof san_oid || memcmp(oid, san_oid, oidlen))
			continue;
		if (x->san)
			return -1;
		/* The OCTET STRING holds exactly one SEQUENCE OF GeneralName. */
		const unsigned char *g = val, *ge = val + vlen;
		if (enter(&g, &ge, 0x30) || ge != val + vlen)
			return -1;
		x->san = g;
		x->san_len = (size_t)(ge - g);
		/* Every entry must parse, so that x509name_next cannot fail. */
		while (g < ge) {
			const unsigned char *v;
			size_t n;

			if (elem(&g, ge, &tag, &v, &n))
				return -1;
		}
	}
	return 0;
}

int x509name_parse(const unsigned char *der, size_t len, struct x509name *x)
{
	const unsigned char *p = der, *end = der + len, *v;
	size_t n;
	int tag;

	memset(x, 0, sizeof *x);
	/* Certificate ::= SEQUENCE { tbsCertificate, signatureAlgorithm, signature } */
	if (enter(&p, &end, 0x30) || enter(&p, &end, 0x30))
		return -1;
	/* version [0] EXPLICIT, optional; serialNumber; signature; issuer; validity */
	if (p < end && *p == 0xa0 && skip(&p, end, 0xa0))
		return -1;
	if (skip(&p, end, 0x02) || skip(&p, end, 0x30) ||
	    skip(&p, end, 0x30) || skip(&p, end, 0x30))
		return -1;
	if (elem(&p, end, &tag, &v, &n) || tag != 0x30 ||
	    find_cn(v, v + n, x) < 0)
		goto bad;
	if (skip(&p, end, 0x30))        /* subjectPublicKeyInfo */
		goto bad;
	/* issuerUniqueID [1], subjectUniqueID [2], extensions [3] EXPLICIT */
	while (p < end) {
		if (elem(&p, end, &tag, &v, &n))
			goto bad;
		if (tag == 0xa3 && find_san(v, v + n, x) < 0)
			goto bad;
	}
	return 0;
bad:
	memset(x, 0, sizeof *x);
	return -1;
}

int x509name_next(const struct x509name *x, size_t *pos, int *tag,
    const unsigned char **val, size_t *vlen)
{
	const unsigned char *p, *end;

	if (!x->san || *pos >= x->san_len)
		return 0;
	p = x->san + *pos;
	end = x->san + x->san_len;
	if (elem(&p, end, tag, val, vlen))
		return 0;
	*pos = (size_t)(p - x->san);
	return 1;
}
