/*
 * Tests for ws.c.  Every decoder test is fed three ways: whole, one byte
 * at a time, and cut in two at every position, each piece placed right
 * before an unreadable page.  The events are written to a log that merges
 * the DATA chunks of a message, because chunking legitimately depends on
 * how the input arrived, and everything else must not.
 */
#include "unit.h"
#include "../ws.c"
#include "../sha1.c"
#include "../base64.c"

/* ---- event log ---- */

#define LOG_MAX 140000

struct log {
	unsigned char b[LOG_MAX];
	size_t n;
	unsigned char cur[LOG_MAX / 2];
	size_t curn;
	int curop, inmsg;
	int done, last, lastcode;
	int bad;                /* broken API invariants seen */
};

static struct log lg, le;

static void
log_reset(struct log *l)
{
	l->n = l->curn = 0;
	l->curop = l->inmsg = l->done = l->last = l->lastcode = l->bad = 0;
}

static void
log_put(struct log *l, const void *p, size_t n)
{
	if (l->n + n > sizeof l->b) {
		l->bad++;
		return;
	}
	if (n)
		memcpy(l->b + l->n, p, n);
	l->n += n;
}

static void
log_rec(struct log *l, int tag, int a, const void *p, size_t n)
{
	unsigned char h[7] = { (unsigned char)tag, (unsigned char)(a >> 8),
	    (unsigned char)a, (unsigned char)(n >> 24), (unsigned char)(n >> 16),
	    (unsigned char)(n >> 8), (unsigned char)n };

	log_put(l, h, sizeof h);
	log_put(l, p, n);
}

/* Expected-log builders, using the same record format. */
static void e_msg(int op, const void *p, size_t n) { log_rec(&le, 'M', op, p, n); }
static void e_part(int op, const void *p, size_t n) { log_rec(&le, 'p', op, p, n); }
static void e_ping(const void *p, size_t n) { log_rec(&le, 'P', 0, p, n); }
static void e_pong(const void *p, size_t n) { log_rec(&le, 'O', 0, p, n); }
static void e_close(int code, const void *p, size_t n) { log_rec(&le, 'C', code, p, n); }
static void e_err(int code) { log_rec(&le, 'E', code, NULL, 0); }

/* Records one ws_decode result: p/avail was the input, k the bytes used. */
static void
log_ev(struct log *l, const struct ws_ev *ev, const unsigned char *p,
    size_t avail, size_t k)
{
	if (k > avail || (ev->type == WS_EV_NONE && k != avail))
		l->bad++;
	switch (ev->type) {
	case WS_EV_NONE:
		break;
	case WS_EV_DATA:
		if (ev->data < p || ev->len > k || ev->data + ev->len > p + k)
			l->bad++;
		if (ev->opcode != WS_OP_TEXT && ev->opcode != WS_OP_BIN)
			l->bad++;
		if (ev->len == 0 && !ev->fin)
			l->bad++;
		if (l->inmsg && ev->opcode != l->curop)
			l->bad++;
		if (l->curn + ev->len > sizeof l->cur) {
			l->bad++;
			break;
		}
		l->inmsg = 1;
		l->curop = ev->opcode;
		if (ev->len)
			memcpy(l->cur + l->curn, ev->data, ev->len);
		l->curn += ev->len;
		if (ev->fin) {
			log_rec(l, 'M', l->curop, l->cur, l->curn);
			l->curn = 0;
			l->inmsg = 0;
		}
		break;
	case WS_EV_PING:
	case WS_EV_PONG:
		if (ev->len > 125)
			l->bad++;
		log_rec(l, ev->type == WS_EV_PING ? 'P' : 'O', 0, ev->data,
		    ev->len);
		break;
	case WS_EV_CLOSE:
		if (ev->len > 123 || !(ws_close_code_ok(ev->code) ||
		    (ev->code == 1005 && ev->len == 0)))
			l->bad++;
		log_rec(l, 'C', ev->code, ev->data, ev->len);
		l->done = 1;
		break;
	case WS_EV_ERROR:
		/* The message in progress is abandoned with the connection. */
		log_rec(l, 'E', ev->code, NULL, 0);
		l->curn = 0;
		l->inmsg = 0;
		l->done = 1;
		break;
	default:
		l->bad++;
	}
	if (ev->type != WS_EV_NONE) {
		l->last = ev->type;
		l->lastcode = ev->code;
	}
}

/* Feeds p/n to d, logging into l; checks stickiness once done. */
static void
feed(struct ws_dec *d, struct log *l, unsigned char *p, size_t n)
{
	struct ws_ev ev;
	size_t k;

	while (n > 0 && !l->done) {
		k = ws_decode(d, p, n, &ev);
		log_ev(l, &ev, p, n, k);
		if (k > n)
			return;
		p += k;
		n -= k;
	}
	if (!l->done)
		return;
	k = ws_decode(d, p, n, &ev);
	if (l->last == WS_EV_ERROR) {
		if (k != 0 || ev.type != WS_EV_ERROR || ev.code != l->lastcode)
			l->bad++;
	} else if (k != n || ev.type != WS_EV_NONE) {
		l->bad++;
	}
}

static void
log_end(struct log *l)
{
	if (l->inmsg || l->curn)
		log_rec(l, 'p', l->curop, l->cur, l->curn);
}

static void
run_whole(int client, uint64_t max, const unsigned char *in, size_t n)
{
	struct ws_dec d;

	ws_dec_init(&d, max, client);
	log_reset(&lg);
	feed(&d, &lg, unit_guard(in, n, 0), n);
	log_end(&lg);
}

static void
run_split(int client, uint64_t max, const unsigned char *in, size_t n,
    size_t cut)
{
	struct ws_dec d;
	unsigned char *a, *b;

	ws_dec_init(&d, max, client);
	log_reset(&lg);
	a = unit_guard(in, cut, 0);
	b = unit_guard(in + cut, n - cut, 1);
	feed(&d, &lg, a, cut);
	feed(&d, &lg, b, n - cut);
	log_end(&lg);
}

static unsigned char bytes_copy[200000];

static void
run_bytes(int client, uint64_t max, const unsigned char *in, size_t n)
{
	struct ws_dec d;
	size_t i;

	ws_dec_init(&d, max, client);
	log_reset(&lg);
	/* Guarding every byte of big inputs costs an mmap per byte. */
	if (n > 4096)
		memcpy(bytes_copy, in, n);
	for (i = 0; i < n; i++)
		feed(&d, &lg, n > 4096 ? bytes_copy + i : unit_guard(in + i, 1, 0), 1);
	log_end(&lg);
}

static int
log_same(int line, const char *how, size_t cut)
{
	if (lg.bad == 0 && lg.n == le.n && memcmp(lg.b, le.b, le.n) == 0) {
		unit_pass++;
		return 1;
	}
	unit_fail++;
	fprintf(stderr, "%s:%d: events differ (%s, cut %zu, %d API errors)\n",
	    __FILE__, line, how, cut, lg.bad);
	return 0;
}

/*
 * Decodes in/n whole, byte by byte and split at every position (at a
 * sample of positions for big inputs) and checks each log against le.
 */
#define FEEDS(client, max, in, n) feeds(__LINE__, client, max, in, n)
static void
feeds(int line, int client, uint64_t max, const unsigned char *in, size_t n)
{
	size_t c;

	log_end(&le);
	run_whole(client, max, in, n);
	log_same(line, "whole", n);
	run_bytes(client, max, in, n);
	log_same(line, "bytes", 1);
	for (c = 0; c <= n; c++) {
		if (n > 600 && c > 40 && c + 40 < n && c % 997 != 0)
			continue;
		run_split(client, max, in, n, c);
		if (!log_same(line, "split", c))
			break;
	}
}

/* ---- input builder ---- */

static unsigned char S[140000];
static size_t Sn;
static unsigned kseed;

static void s_reset(void) { Sn = 0; log_reset(&le); }

static void
s_raw(const void *p, size_t n)
{
	memcpy(S + Sn, p, n);
	Sn += n;
}

/*
 * Appends a frame with first byte b0 (FIN, RSV, opcode) and the minimal
 * length encoding, masked with a key that changes from frame to frame.
 * Written independently of ws_frame_hdr so that one cannot hide the other.
 */
static void
s_frame(int b0, int masked, const void *pl, size_t n)
{
	const unsigned char *q = pl;
	unsigned char key[4];
	size_t i;

	S[Sn++] = (unsigned char)b0;
	if (n < 126) {
		S[Sn++] = (unsigned char)((masked ? 0x80 : 0) | n);
	} else if (n < 65536) {
		S[Sn++] = (masked ? 0x80 : 0) | 126;
		S[Sn++] = (unsigned char)(n >> 8);
		S[Sn++] = (unsigned char)n;
	} else {
		S[Sn++] = (masked ? 0x80 : 0) | 127;
		for (i = 0; i < 8; i++)
			S[Sn++] = (unsigned char)((uint64_t)n >> (56 - 8 * i));
	}
	for (i = 0; i < 4; i++)
		key[i] = (unsigned char)(0x37 + 71 * kseed + 29 * i);
	kseed++;
	if (masked)
		s_raw(key, 4);
	for (i = 0; i < n; i++)
		S[Sn++] = masked ? q[i] ^ key[i & 3] : q[i];
}

/* Client frame (masked), as the server decoder expects. */
#define CF(b0, s) s_frame(b0, 1, s, sizeof s - 1)
#define FIN 0x80

/* ---- UTF-8 ---- */

static size_t
enc(unsigned char *o, uint32_t cp, int len)
{
	switch (len) {
	case 1:
		o[0] = (unsigned char)cp;
		break;
	case 2:
		o[0] = (unsigned char)(0xc0 | cp >> 6);
		o[1] = (unsigned char)(0x80 | (cp & 0x3f));
		break;
	case 3:
		o[0] = (unsigned char)(0xe0 | cp >> 12);
		o[1] = (unsigned char)(0x80 | (cp >> 6 & 0x3f));
		o[2] = (unsigned char)(0x80 | (cp & 0x3f));
		break;
	default:
		o[0] = (unsigned char)(0xf0 | cp >> 18);
		o[1] = (unsigned char)(0x80 | (cp >> 12 & 0x3f));
		o[2] = (unsigned char)(0x80 | (cp >> 6 & 0x3f));
		o[3] = (unsigned char)(0x80 | (cp & 0x3f));
	}
	return (size_t)len;
}

/* ws_utf8 over s whole, byte by byte and split everywhere must agree. */
static uint32_t
utf8_all(const char *s, size_t n)
{
	const unsigned char *p = (const unsigned char *)s;
	uint32_t whole, st;
	size_t i, c;

	whole = ws_utf8(WS_UTF8_OK, unit_guard(p, n, 0), n);
	st = WS_UTF8_OK;
	for (i = 0; i < n; i++)
		st = ws_utf8(st, unit_guard(p + i, 1, 0), 1);
	CHECK_EQ_INT(st, whole);
	for (c = 0; c <= n; c++) {
		st = ws_utf8(WS_UTF8_OK, unit_guard(p, c, 0), c);
		st = ws_utf8(st, unit_guard(p + c, n - c, 1), n - c);
		if (st != whole) {
			CHECK_EQ_INT(st, whole);
			break;
		}
	}
	return whole;
}

#define U8(s) utf8_all(s, sizeof s - 1)
#define U8_OK(s) CHECK_EQ_INT(U8(s), WS_UTF8_OK)
#define U8_BAD(s) CHECK_EQ_INT(U8(s), WS_UTF8_BAD)
#define U8_MORE(s) do { uint32_t st_ = U8(s); \
	CHECK(st_ != WS_UTF8_OK && st_ != WS_UTF8_BAD); } while (0)

static void
test_utf8(void)
{
	unsigned char b[64];
	uint32_t cp;
	size_t i, j, n;
	int len, bad;

	U8_OK("");
	U8_OK("hello, world");
	U8_OK("\xc2\x80");              /* U+0080 */
	U8_OK("\xdf\xbf");              /* U+07FF */
	U8_OK("\xe0\xa0\x80");          /* U+0800 */
	U8_OK("\xe2\x82\xac");          /* euro sign */
	U8_OK("\xed\x9f\xbf");          /* U+D7FF, just below surrogates */
	U8_OK("\xee\x80\x80");          /* U+E000, just above */
	U8_OK("\xef\xbf\xbf");          /* U+FFFF */
	U8_OK("\xf0\x90\x80\x80");      /* U+10000 */
	U8_OK("\xf0\x9d\x84\x9e");      /* musical G clef */
	U8_OK("\xf4\x8f\xbf\xbf");      /* U+10FFFF */
	U8_OK("\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5");  /* Kuhn's kosme */

	/* Overlong forms. */
	U8_BAD("\xc0\x80");
	U8_BAD("\xc1\xbf");
	U8_BAD("\xe0\x80\x80");
	U8_BAD("\xe0\x9f\xbf");
	U8_BAD("\xf0\x80\x80\x80");
	U8_BAD("\xf0\x8f\xbf\xbf");
	U8_BAD("\xc0\xaf");
	U8_BAD("\xe0\x80\xaf");
	U8_BAD("\xf0\x80\x80\xaf");
	/* Surrogates, alone and paired. */
	U8_BAD("\xed\xa0\x80");
	U8_BAD("\xed\xbf\xbf");
	U8_BAD("\xed\xa0\x80\xed\xb0\x80");
	/* Beyond U+10FFFF, and bytes that never occur. */
	U8_BAD("\xf4\x90\x80\x80");
	U8_BAD("\xf5\x80\x80\x80");
	U8_BAD("\xf7\xbf\xbf\xbf");
	U8_BAD("\xf8\x88\x80\x80\x80");
	U8_BAD("\xfc\x84\x80\x80\x80\x80");
	U8_BAD("\xfe");
	U8_BAD("\xff");
	U8_BAD("\xfe\xfe\xff\xff");
	/* Lone and unexpected continuation bytes. */
	U8_BAD("\x80");
	U8_BAD("\xbf");
	U8_BAD("a\x80");
	U8_BAD("\xe2\x82\xac\x80");
	/* Truncated sequences followed by something else. */
	U8_BAD("\xc2\x41");
	U8_BAD("\xe2\x82\x41");
	U8_BAD("\xf0\x9d\x84\x41");
	U8_BAD("\xc2\xc2\x80");
	U8_BAD("\xe2\x82 ");
	/* Valid, then broken: stays broken. */
	U8_BAD("abc\xff\x61\x62\x63");
	/* Truncated at the end: not valid yet, not invalid either. */
	U8_MORE("\xc2");
	U8_MORE("\xe2\x82");
	U8_MORE("\xf0\x9d\x84");
	U8_MORE("abc\xe0");
	U8_MORE("abc\xed\x9f");
	U8_MORE("abc\xf4\x8f\xbf");

	/* Sticky, and unknown states are invalid. */
	CHECK_EQ_INT(ws_utf8(WS_UTF8_BAD, (const unsigned char *)"a", 1),
	    WS_UTF8_BAD);
	CHECK_EQ_INT(ws_utf8(WS_UTF8_BAD, NULL, 0), WS_UTF8_BAD);
	CHECK_EQ_INT(ws_utf8(12345, (const unsigned char *)"a", 1), WS_UTF8_BAD);
	CHECK_EQ_INT(ws_utf8(WS_UTF8_OK, NULL, 0), WS_UTF8_OK);

	/* A non-ASCII byte at every offset around the 8-byte fast path. */
	for (i = 0; i < 40; i++) {
		memset(b, 'a', sizeof b);
		b[i] = 0xff;
		CHECK_EQ_INT(ws_utf8(WS_UTF8_OK, unit_guard(b, 48, 0), 48),
		    WS_UTF8_BAD);
		memset(b, 'a', sizeof b);
		memcpy(b + i, "\xe2\x82\xac", 3);
		CHECK_EQ_INT(ws_utf8(WS_UTF8_OK, unit_guard(b, 48, 0), 48),
		    WS_UTF8_OK);
		CHECK(ws_utf8(WS_UTF8_OK, unit_guard(b, i + 2, 0), i + 2) > 1);
	}

	/*
	 * Every code point in its shortest form is valid except surrogates;
	 * every longer form is overlong; above U+10FFFF is invalid.
	 */
	bad = 0;
	for (cp = 0; cp < 0x200000; cp++) {
		len = cp < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4;
		n = enc(b, cp, len);
		if (ws_utf8(WS_UTF8_OK, b, n) != ((cp >= 0xd800 && cp <= 0xdfff)
		    || cp > 0x10ffff ? WS_UTF8_BAD : WS_UTF8_OK))
			bad++;
		for (j = (size_t)len + 1; j <= 4 && cp <= 0x10ffff; j++) {
			if (j == 2 && cp >= 0x80)
				continue;
			n = enc(b, cp, (int)j);
			if (ws_utf8(WS_UTF8_OK, b, n) != WS_UTF8_BAD)
				bad++;
		}
	}
	CHECK_EQ_INT(bad, 0);
}

/* ---- handshake key ---- */

static int
accept_g(const char *k, char *out)
{
	size_t n = strlen(k);

	return ws_accept((const char *)unit_guard(k, n, 2), n, out);
}

static void
test_accept(void)
{
	char out[WS_ACCEPT_LEN + 1];

	CHECK_EQ_INT(accept_g("dGhlIHNhbXBsZSBub25jZQ==", out), 0);
	CHECK(strcmp(out, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=") == 0);
	CHECK_EQ_INT(accept_g("AAAAAAAAAAAAAAAAAAAAAA==", out), 0);
	CHECK_EQ_INT(strlen(out), 28);

	CHECK_EQ_INT(accept_g("", out), -1);
	CHECK_EQ_INT(accept_g("dGhlIHNhbXBsZSBub25jZQ", out), -1);
	CHECK_EQ_INT(accept_g("dGhlIHNhbXBsZSBub25jZQ=", out), -1);
	CHECK_EQ_INT(accept_g("dGhlIHNhbXBsZSBub25jZQ===", out), -1);
	CHECK_EQ_INT(accept_g(" dGhlIHNhbXBsZSBub25jZQ==", out), -1);
	CHECK_EQ_INT(accept_g("dGhlIHNhbXBsZSBub25jZQ==\r", out), -1);
	CHECK_EQ_INT(accept_g("dGhlIHNhbXBsZSBub25jZQ=!", out), -1);
	CHECK_EQ_INT(accept_g("dGhlIHNhbXBsZSBub25jZ*==", out), -1);
	CHECK_EQ_INT(accept_g("dGhlIHNhbXBsZSBub25jZR==", out), -1);  /* trailing bits */
	CHECK_EQ_INT(accept_g("dGhlIHNhbXBsZSBub25jZQ-_", out), -1);  /* url alphabet */
	CHECK_EQ_INT(accept_g("AAAAAAAAAAAAAAAAAAAAAAA=", out), -1);  /* 17 bytes */
	CHECK_EQ_INT(accept_g("AAAAAAAAAAAAAAAAAAAAAAAA", out), -1);  /* 18 bytes */
	CHECK_EQ_INT(accept_g("AAAAAAAAAAAAAAAAAAAA====", out), -1);
	CHECK_EQ_INT(ws_accept(NULL, 0, out), -1);
}

/* ---- RFC 6455 section 5.7 examples ---- */

static void
test_rfc_examples(void)
{
	static unsigned char big[65536];
	size_t i;

	/* A single-frame unmasked text message, as a client receives it. */
	s_reset();
	s_raw("\x81\x05\x48\x65\x6c\x6c\x6f", 7);
	e_msg(WS_OP_TEXT, "Hello", 5);
	FEEDS(1, 0, S, Sn);
	/* The same frame sent to a server is a protocol error. */
	log_reset(&le);
	e_err(1002);
	FEEDS(0, 0, S, Sn);

	/* A single-frame masked text message. */
	s_reset();
	s_raw("\x81\x85\x37\xfa\x21\x3d\x7f\x9f\x4d\x51\x58", 11);
	e_msg(WS_OP_TEXT, "Hello", 5);
	FEEDS(0, 0, S, Sn);
	log_reset(&le);
	e_err(1002);
	FEEDS(1, 0, S, Sn);

	/* A fragmented unmasked text message. */
	s_reset();
	s_raw("\x01\x03\x48\x65\x6c", 5);
	s_raw("\x80\x02\x6c\x6f", 4);
	e_msg(WS_OP_TEXT, "Hello", 5);
	FEEDS(1, 0, S, Sn);

	/* Unmasked ping, masked pong. */
	s_reset();
	s_raw("\x89\x05\x48\x65\x6c\x6c\x6f", 7);
	e_ping("Hello", 5);
	FEEDS(1, 0, S, Sn);
	s_reset();
	s_raw("\x8a\x85\x37\xfa\x21\x3d\x7f\x9f\x4d\x51\x58", 11);
	e_pong("Hello", 5);
	FEEDS(0, 0, S, Sn);

	/* 256 bytes and 64 KiB of binary data in one unmasked frame. */
	for (i = 0; i < sizeof big; i++)
		big[i] = (unsigned char)(i * 7 % 128);
	s_reset();
	s_raw("\x82\x7e\x01\x00", 4);
	s_raw(big, 256);
	e_msg(WS_OP_BIN, big, 256);
	FEEDS(1, 0, S, Sn);
	s_reset();
	s_raw("\x82\x7f\x00\x00\x00\x00\x00\x01\x00\x00", 10);
	s_raw(big, 65536);
	e_msg(WS_OP_BIN, big, 65536);
	FEEDS(1, 0, S, Sn);
	/* The same, masked, to a server, with a ping behind it. */
	s_reset();
	s_frame(FIN | WS_OP_BIN, 1, big, 65536);
	CF(FIN | WS_OP_PING, "x");
	e_msg(WS_OP_BIN, big, 65536);
	e_ping("x", 1);
	FEEDS(0, 0, S, Sn);
}

/* ---- raw event details that the merged log hides ---- */

static void
test_events(void)
{
	unsigned char in[] = "\x81\x85\x37\xfa\x21\x3d\x7f\x9f\x4d\x51\x58"
	    "\x89\x80\x01\x02\x03\x04";
	struct ws_dec d;
	struct ws_ev ev;
	unsigned char *p;
	size_t k;

	/* Zero-initialised is a server decoder without a size limit. */
	memset(&d, 0, sizeof d);
	p = unit_guard(in, sizeof in - 1, 0);
	k = ws_decode(&d, p, sizeof in - 1, &ev);
	CHECK_EQ_INT(k, 11);
	CHECK_EQ_INT(ev.type, WS_EV_DATA);
	CHECK(ev.data == p + 6);
	CHECK_MEM(ev.data, ev.len, "Hello", 5);
	CHECK_EQ_INT(ev.fin, 1);
	CHECK_EQ_INT(ev.opcode, WS_OP_TEXT);
	k = ws_decode(&d, p + 11, 6, &ev);
	CHECK_EQ_INT(k, 6);
	CHECK_EQ_INT(ev.type, WS_EV_PING);
	CHECK_EQ_INT(ev.len, 0);
	k = ws_decode(&d, p + 17, 0, &ev);
	CHECK_EQ_INT(k, 0);
	CHECK_EQ_INT(ev.type, WS_EV_NONE);

	/* Payload split: the chunk that ends the frame carries fin. */
	memcpy(in, "\x81\x85\x37\xfa\x21\x3d\x7f\x9f\x4d\x51\x58", 11);
	ws_dec_init(&d, 0, 0);
	k = ws_decode(&d, in, 8, &ev);
	CHECK_EQ_INT(k, 8);
	CHECK_EQ_INT(ev.type, WS_EV_DATA);
	CHECK_MEM(ev.data, ev.len, "He", 2);
	CHECK_EQ_INT(ev.fin, 0);
	CHECK_EQ_INT(ev.opcode, WS_OP_TEXT);
	k = ws_decode(&d, in + 8, 3, &ev);
	CHECK_EQ_INT(k, 3);
	CHECK_MEM(ev.data, ev.len, "llo", 3);
	CHECK_EQ_INT(ev.fin, 1);

	/* An empty final frame is an event of its own. */
	ws_dec_init(&d, 0, 1);
	memcpy(in, "\x01\x01" "a" "\x80\x00", 5);
	k = ws_decode(&d, in, 5, &ev);
	CHECK_EQ_INT(k, 3);
	CHECK_EQ_INT(ev.type, WS_EV_DATA);
	CHECK_EQ_INT(ev.fin, 0);
	k = ws_decode(&d, in + 3, 2, &ev);
	CHECK_EQ_INT(k, 2);
	CHECK_EQ_INT(ev.type, WS_EV_DATA);
	CHECK_EQ_INT(ev.len, 0);
	CHECK_EQ_INT(ev.fin, 1);
	CHECK_EQ_INT(ev.opcode, WS_OP_TEXT);

	/* Errors stick; input after a close is swallowed. */
	ws_dec_init(&d, 0, 1);
	memcpy(in, "\x83\x00\x81\x00", 4);
	k = ws_decode(&d, in, 4, &ev);
	CHECK_EQ_INT(ev.type, WS_EV_ERROR);
	CHECK_EQ_INT(ev.code, 1002);
	CHECK_EQ_INT(k, 1);
	k = ws_decode(&d, in + 1, 3, &ev);
	CHECK_EQ_INT(k, 0);
	CHECK_EQ_INT(ev.type, WS_EV_ERROR);
	CHECK_EQ_INT(ev.code, 1002);
	ws_dec_init(&d, 0, 1);
	memcpy(in, "\x88\x02\x03\xe8\x81\x00", 6);
	k = ws_decode(&d, in, 6, &ev);
	CHECK_EQ_INT(k, 4);
	CHECK_EQ_INT(ev.type, WS_EV_CLOSE);
	CHECK_EQ_INT(ev.code, 1000);
	CHECK_EQ_INT(ev.len, 0);
	k = ws_decode(&d, in + 4, 2, &ev);
	CHECK_EQ_INT(k, 2);
	CHECK_EQ_INT(ev.type, WS_EV_NONE);
}

/* ---- section 5 rules ---- */

static void
test_header_rules(void)
{
	static const unsigned char zero[126];
	int op, rsv;

	/* RSV1, RSV2, RSV3, on data and control frames. */
	for (rsv = 0x10; rsv <= 0x40; rsv <<= 1) {
		s_reset();
		s_frame(FIN | rsv | WS_OP_TEXT, 1, "a", 1);
		e_err(1002);
		FEEDS(0, 0, S, Sn);
		s_reset();
		s_frame(FIN | rsv | WS_OP_PING, 1, "", 0);
		e_err(1002);
		FEEDS(0, 0, S, Sn);
	}
	/* Reserved opcodes, with and without FIN. */
	for (op = 3; op < 16; op++) {
		if (op >= 8 && op <= 10)
			continue;
		s_reset();
		s_frame(FIN | op, 1, "a", 1);
		e_err(1002);
		FEEDS(0, 0, S, Sn);
		s_reset();
		s_frame(op, 1, "", 0);
		e_err(1002);
		FEEDS(0, 0, S, Sn);
	}
	/* Control frames: 125 bytes is fine, 126 is not, nor a missing FIN. */
	s_reset();
	s_frame(FIN | WS_OP_PING, 1, zero, 125);
	s_frame(FIN | WS_OP_PONG, 1, zero, 125);
	s_frame(FIN | WS_OP_CLOSE, 1, "\x03\xe8", 2);
	e_ping(zero, 125);
	e_pong(zero, 125);
	e_close(1000, "", 0);
	FEEDS(0, 0, S, Sn);
	for (op = 8; op <= 10; op++) {
		s_reset();
		s_frame(FIN | op, 1, zero, 126);
		e_err(1002);
		FEEDS(0, 0, S, Sn);
		s_reset();
		s_raw("\x80\x7f\x00\x00\x00\x00\x00\x00\x00\x05", 10);
		S[0] = (unsigned char)(FIN | op);
		e_err(1002);
		FEEDS(1, 0, S, Sn);
		s_reset();
		s_frame(op, 1, "", 0);
		e_err(1002);
		FEEDS(0, 0, S, Sn);
	}
	/* Masking: required from clients, forbidden from servers. */
	s_reset();
	s_frame(FIN | WS_OP_TEXT, 0, "a", 1);
	e_err(1002);
	FEEDS(0, 0, S, Sn);
	s_reset();
	s_frame(FIN | WS_OP_PING, 0, "", 0);
	e_err(1002);
	FEEDS(0, 0, S, Sn);
	s_reset();
	s_frame(FIN | WS_OP_TEXT, 1, "a", 1);
	e_err(1002);
	FEEDS(1, 0, S, Sn);

	/* Length encodings must be minimal. */
	s_reset();
	s_raw("\x82\x7e\x00\x7d", 4);
	e_err(1002);
	FEEDS(1, 0, S, Sn);
	s_reset();
	s_raw("\x82\x7e\x00\x00", 4);
	e_err(1002);
	FEEDS(1, 0, S, Sn);
	s_reset();
	s_raw("\x82\x7e\x00\x7e", 4);
	s_raw(zero, 126);
	e_msg(WS_OP_BIN, zero, 126);
	FEEDS(1, 0, S, Sn);
	s_reset();
	s_raw("\x82\x7f\x00\x00\x00\x00\x00\x00\xff\xff", 10);
	e_err(1002);
	FEEDS(1, 0, S, Sn);
	s_reset();
	s_raw("\x82\x7f\x00\x00\x00\x00\x00\x00\x00\x05" "abcde", 15);
	e_err(1002);
	FEEDS(1, 0, S, Sn);
	/* 65536 announced, nothing more yet: accepted so far. */
	s_reset();
	s_raw("\x82\x7f\x00\x00\x00\x00\x00\x01\x00\x00", 10);
	FEEDS(1, 0, S, Sn);
	/* The 64-bit length's top bit must be clear. */
	s_reset();
	s_raw("\x82\x7f\x80\x00\x00\x00\x00\x01\x00\x00", 10);
	e_err(1002);
	FEEDS(1, 0, S, Sn);
	s_reset();
	s_raw("\x82\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01\x02\x03\x04", 14);
	e_err(1002);
	FEEDS(0, 0, S, Sn);
	/* 2^63 - 1 is a legal length when there is no limit. */
	s_reset();
	s_raw("\x82\x7f\x7f\xff\xff\xff\xff\xff\xff\xff" "abc", 13);
	e_part(WS_OP_BIN, "abc", 3);
	FEEDS(1, 0, S, Sn);
}

static void
test_fragments(void)
{
	/* Continuation without a message, a new message inside one. */
	s_reset();
	CF(FIN | WS_OP_CONT, "a");
	e_err(1002);
	FEEDS(0, 0, S, Sn);
	s_reset();
	CF(WS_OP_CONT, "a");
	e_err(1002);
	FEEDS(0, 0, S, Sn);
	s_reset();
	CF(FIN | WS_OP_TEXT, "a");
	CF(FIN | WS_OP_CONT, "b");
	e_msg(WS_OP_TEXT, "a", 1);
	e_err(1002);
	FEEDS(0, 0, S, Sn);
	s_reset();
	CF(WS_OP_TEXT, "a");
	CF(FIN | WS_OP_TEXT, "b");
	e_err(1002);
	FEEDS(0, 0, S, Sn);
	s_reset();
	CF(WS_OP_TEXT, "a");
	CF(WS_OP_BIN, "b");
	e_err(1002);
	FEEDS(0, 0, S, Sn);
	s_reset();
	CF(WS_OP_BIN, "a");
	CF(FIN | WS_OP_TEXT, "b");
	e_err(1002);
	FEEDS(0, 0, S, Sn);

	/* Control frames between fragments, including close. */
	s_reset();
	CF(WS_OP_TEXT, "Hel");
	CF(FIN | WS_OP_PING, "ping!");
	CF(WS_OP_CONT, "");
	CF(FIN | WS_OP_PONG, "");
	CF(FIN | WS_OP_CONT, "lo");
	CF(FIN | WS_OP_BIN, "\x00\x01");
	e_ping("ping!", 5);
	e_pong("", 0);
	e_msg(WS_OP_TEXT, "Hello", 5);
	e_msg(WS_OP_BIN, "\x00\x01", 2);
	FEEDS(0, 0, S, Sn);
	s_reset();
	CF(WS_OP_BIN, "ab");
	CF(FIN | WS_OP_CLOSE, "\x03\xe9" "bye");
	CF(FIN | WS_OP_CONT, "c");
	e_close(1001, "bye", 3);
	e_part(WS_OP_BIN, "ab", 2);
	FEEDS(0, 0, S, Sn);

	/* Empty frames: fragments, and empty messages. */
	s_reset();
	CF(WS_OP_TEXT, "");
	CF(WS_OP_CONT, "");
	CF(FIN | WS_OP_CONT, "a");
	CF(FIN | WS_OP_TEXT, "");
	CF(FIN | WS_OP_BIN, "");
	CF(WS_OP_BIN, "");
	CF(FIN | WS_OP_CONT, "");
	e_msg(WS_OP_TEXT, "a", 1);
	e_msg(WS_OP_TEXT, "", 0);
	e_msg(WS_OP_BIN, "", 0);
	e_msg(WS_OP_BIN, "", 0);
	FEEDS(0, 0, S, Sn);

	/* Many messages and frames in one buffer. */
	s_reset();
	CF(FIN | WS_OP_TEXT, "one");
	CF(FIN | WS_OP_TEXT, "two");
	CF(FIN | WS_OP_PING, "");
	CF(WS_OP_TEXT, "th");
	CF(WS_OP_CONT, "r");
	CF(FIN | WS_OP_CONT, "ee");
	CF(FIN | WS_OP_CLOSE, "");
	CF(FIN | WS_OP_TEXT, "ignored");
	e_msg(WS_OP_TEXT, "one", 3);
	e_msg(WS_OP_TEXT, "two", 3);
	e_ping("", 0);
	e_msg(WS_OP_TEXT, "three", 5);
	e_close(1005, "", 0);
	FEEDS(0, 0, S, Sn);
}

static void
test_text_rules(void)
{
	static const char msg[] = "h\xe2\x82\xacllo \xf0\x9d\x84\x9e \xc3\xa9!";
	size_t n = sizeof msg - 1, c, i;

	/* Valid text split across two fragments at every byte. */
	for (c = 0; c <= n; c++) {
		s_reset();
		s_frame(WS_OP_TEXT, 1, msg, c);
		s_frame(FIN | WS_OP_CONT, 1, msg + c, n - c);
		e_msg(WS_OP_TEXT, msg, n);
		FEEDS(0, 0, S, Sn);
	}
	/* One fragment per byte, pings in between. */
	s_reset();
	for (i = 0; i < n; i++) {
		s_frame(i ? WS_OP_CONT : WS_OP_TEXT, 1, msg + i, 1);
		s_frame(FIN | WS_OP_PING, 1, "", 0);
		e_ping("", 0);
	}
	s_frame(FIN | WS_OP_CONT, 1, "", 0);
	e_msg(WS_OP_TEXT, msg, n);
	FEEDS(0, 0, S, Sn);

	/* Invalid text, and invalid bytes in a binary message. */
	s_reset();
	CF(FIN | WS_OP_TEXT, "a\xff");
	e_err(1007);
	FEEDS(0, 0, S, Sn);
	s_reset();
	CF(FIN | WS_OP_TEXT, "\xed\xa0\x80");
	e_err(1007);
	FEEDS(0, 0, S, Sn);
	s_reset();
	CF(FIN | WS_OP_BIN, "a\xc0\x80");
	e_err(1003);
	FEEDS(0, 0, S, Sn);
	s_reset();
	CF(FIN | WS_OP_BIN, "\xe2\x82\xac");
	e_msg(WS_OP_BIN, "\xe2\x82\xac", 3);
	FEEDS(0, 0, S, Sn);

	/* Ending inside a character: at a final frame, even an empty one. */
	s_reset();
	CF(FIN | WS_OP_TEXT, "ok\xe2\x82");
	e_err(1007);
	FEEDS(0, 0, S, Sn);
	s_reset();
	CF(WS_OP_TEXT, "ok\xe2\x82");
	CF(FIN | WS_OP_CONT, "");
	e_err(1007);
	FEEDS(0, 0, S, Sn);
	s_reset();
	CF(WS_OP_BIN, "\xf0");
	CF(FIN | WS_OP_CONT, "\x9d\x84");
	e_err(1003);
	FEEDS(0, 0, S, Sn);
	/* A character cut by a control frame is still one character. */
	s_reset();
	CF(WS_OP_TEXT, "\xf0\x9d");
	CF(FIN | WS_OP_PING, "\xff");
	CF(FIN | WS_OP_CONT, "\x84\x9e");
	e_ping("\xff", 1);
	e_msg(WS_OP_TEXT, "\xf0\x9d\x84\x9e", 4);
	FEEDS(0, 0, S, Sn);

	/* Fails fast: the bad byte is refused before the message ends. */
	s_reset();
	CF(WS_OP_TEXT, "abc\xc0");
	e_err(1007);
	FEEDS(0, 0, S, Sn);
	s_reset();
	CF(WS_OP_TEXT, "abc");
	CF(WS_OP_CONT, "\xe2\x82");
	CF(WS_OP_CONT, "\xad");  /* E2 82 AD is fine */
	CF(WS_OP_CONT, "\xed");
	CF(WS_OP_CONT, "\xa0");  /* surrogate */
	e_err(1007);
	FEEDS(0, 0, S, Sn);
	/* Even inside one frame whose payload has not fully arrived. */
	s_reset();
	CF(FIN | WS_OP_TEXT, "abc\xff" "defgh");
	Sn -= 5;
	e_err(1007);
	FEEDS(0, 0, S, Sn);
}

static void
test_close(void)
{
	unsigned char pl[125];
	char reason[130];
	int code, bad = 0;
	size_t n, i;

	/* Every code from 0 to 5999 and a few beyond, as a server sees them. */
	for (code = 0; code < 6100; code += code < 6000 ? 1 : 13) {
		struct ws_dec d;
		struct ws_ev ev;
		size_t k;
		int ok = (code >= 1000 && code <= 1003) ||
		    (code >= 1007 && code <= 1011) ||
		    (code >= 3000 && code <= 4999);

		s_reset();
		pl[0] = (unsigned char)(code >> 8);
		pl[1] = (unsigned char)code;
		s_frame(FIN | WS_OP_CLOSE, 1, pl, 2);
		ws_dec_init(&d, 0, 0);
		k = ws_decode(&d, S, Sn, &ev);
		if (ws_close_code_ok(code) != ok)
			bad++;
		if (ok && (k != Sn || ev.type != WS_EV_CLOSE || ev.code != code))
			bad++;
		if (!ok && (ev.type != WS_EV_ERROR || ev.code != 1002))
			bad++;
	}
	CHECK_EQ_INT(bad, 0);
	CHECK_EQ_INT(ws_close_code_ok(1004), 0);
	CHECK_EQ_INT(ws_close_code_ok(1005), 0);
	CHECK_EQ_INT(ws_close_code_ok(1006), 0);
	CHECK_EQ_INT(ws_close_code_ok(1012), 0);
	CHECK_EQ_INT(ws_close_code_ok(1015), 0);
	CHECK_EQ_INT(ws_close_code_ok(2999), 0);
	CHECK_EQ_INT(ws_close_code_ok(5000), 0);
	CHECK_EQ_INT(ws_close_code_ok(65535), 0);
	CHECK_EQ_INT(ws_close_code_ok(-1000), 0);

	/* Payload shapes, split every way. */
	s_reset();
	CF(FIN | WS_OP_CLOSE, "");
	e_close(1005, "", 0);
	FEEDS(0, 0, S, Sn);
	s_reset();
	CF(FIN | WS_OP_CLOSE, "\x03");
	e_err(1002);
	FEEDS(0, 0, S, Sn);
	s_reset();
	CF(FIN | WS_OP_CLOSE, "\x0b\xb9" "JWT expired");
	e_close(3001, "JWT expired", 11);
	FEEDS(0, 0, S, Sn);
	s_reset();
	CF(FIN | WS_OP_CLOSE, "\x03\xe8" "caf\xc3\xa9");
	e_close(1000, "caf\xc3\xa9", 5);
	FEEDS(0, 0, S, Sn);
	s_reset();
	CF(FIN | WS_OP_CLOSE, "\x03\xe8" "caf\xc3");
	e_err(1007);
	FEEDS(0, 0, S, Sn);
	s_reset();
	CF(FIN | WS_OP_CLOSE, "\x03\xe8" "\xed\xa0\x80");
	e_err(1007);
	FEEDS(0, 0, S, Sn);
	s_reset();
	CF(FIN | WS_OP_CLOSE, "\x03\xed" "x");
	e_err(1002);
	FEEDS(0, 0, S, Sn);
	s_reset();
	CF(FIN | WS_OP_CLOSE, "\x00\x00");
	e_err(1002);
	FEEDS(0, 0, S, Sn);

	/* Building close payloads. */
	CHECK_EQ_INT(ws_close_payload(pl, 0, "x", 1), 0);
	n = ws_close_payload(pl, 1000, NULL, 0);
	CHECK_MEM(pl, n, "\x03\xe8", 2);
	n = ws_close_payload(pl, 3001, "JWT expired", 11);
	CHECK_MEM(pl, n, "\x0b\xb9JWT expired", 13);
	n = ws_close_payload(pl, 1009, "caf\xc3", 4);
	CHECK_MEM(pl, n, "\x03\xf1", 2);
	memset(reason, 'a', sizeof reason);
	n = ws_close_payload(pl, 1000, reason, 123);
	CHECK_EQ_INT(n, 125);
	n = ws_close_payload(pl, 1000, reason, 130);
	CHECK_EQ_INT(n, 125);
	/* A character straddling byte 123 is left out whole. */
	for (i = 119; i <= 124; i++) {
		memset(reason, 'a', sizeof reason);
		memcpy(reason + i, "\xf0\x9d\x84\x9e", 4);
		n = ws_close_payload(pl, 1000, reason, sizeof reason);
		CHECK_EQ_INT(n, 2 + (i + 4 <= 123 ? 123 : i < 123 ? i : 123));
		CHECK_EQ_INT(ws_utf8(WS_UTF8_OK, pl + 2, n - 2), WS_UTF8_OK);
	}
	/* What it builds, the decoder accepts. */
	memset(reason, 'a', sizeof reason);
	memcpy(reason + 121, "\xe2\x82\xac", 3);
	n = ws_close_payload(pl, 4000, reason, 124);
	CHECK_EQ_INT(n, 123);
	s_reset();
	s_frame(FIN | WS_OP_CLOSE, 1, pl, n);
	e_close(4000, reason, 121);
	FEEDS(0, 0, S, Sn);
}

static void
test_max_msg(void)
{
	static unsigned char z[300];

	/* Exactly the limit passes; one more is refused. */
	s_reset();
	CF(FIN | WS_OP_TEXT, "0123456789");
	e_msg(WS_OP_TEXT, "0123456789", 10);
	FEEDS(0, 10, S, Sn);
	s_reset();
	CF(FIN | WS_OP_TEXT, "0123456789a");
	e_err(1009);
	FEEDS(0, 10, S, Sn);
	/* Refused at the header, before any payload. */
	s_reset();
	CF(FIN | WS_OP_TEXT, "0123456789a");
	Sn = 2;
	e_err(1009);
	FEEDS(0, 10, S, Sn);
	/* Across fragments. */
	s_reset();
	CF(WS_OP_BIN, "01234");
	CF(WS_OP_CONT, "");
	CF(FIN | WS_OP_CONT, "56789");
	CF(FIN | WS_OP_TEXT, "0123456789");
	e_msg(WS_OP_BIN, "0123456789", 10);
	e_msg(WS_OP_TEXT, "0123456789", 10);
	FEEDS(0, 10, S, Sn);
	s_reset();
	CF(WS_OP_BIN, "01234");
	CF(FIN | WS_OP_CONT, "56789a");
	e_err(1009);
	FEEDS(0, 10, S, Sn);
	s_reset();
	CF(WS_OP_BIN, "01234");
	CF(FIN | WS_OP_CONT, "56789a");
	Sn -= 6;  /* only the second header arrived */
	e_err(1009);
	FEEDS(0, 10, S, Sn);
	/* Control frames do not count. */
	s_reset();
	CF(WS_OP_TEXT, "01234");
	CF(FIN | WS_OP_PING, "0123456789abcdef");
	CF(FIN | WS_OP_CONT, "56789");
	e_ping("0123456789abcdef", 16);
	e_msg(WS_OP_TEXT, "0123456789", 10);
	FEEDS(0, 10, S, Sn);
	/* Extended lengths against the limit. */
	s_reset();
	s_frame(FIN | WS_OP_BIN, 1, z, 300);
	e_msg(WS_OP_BIN, z, 300);
	FEEDS(0, 300, S, Sn);
	log_reset(&le);
	e_err(1009);
	FEEDS(0, 299, S, Sn);
	s_reset();
	s_raw("\x82\xff\x7f\xff\xff\xff\xff\xff\xff\xff", 10);
	e_err(1009);
	FEEDS(0, UINT64_C(0x7ffffffffffffffe), S, Sn);
	/* A limit near 2^64 does not overflow across fragments. */
	s_reset();
	s_raw("\x02\x7f\x7f\xff\xff\xff\xff\xff\xff\xff", 10);
	s_raw("\x00\x7f\x7f\xff\xff\xff\xff\xff\xff\xff", 10);
	{
		struct ws_dec d;
		struct ws_ev ev;
		size_t k;

		ws_dec_init(&d, UINT64_MAX, 1);
		k = ws_decode(&d, S, 10, &ev);
		CHECK_EQ_INT(k, 10);
		CHECK_EQ_INT(ev.type, WS_EV_NONE);
		/* Skip the payload by hand: the decoder only counts. */
		d.remain = 0;
		d.state = ST_HDR;
		k = ws_decode(&d, S + 10, 10, &ev);
		CHECK_EQ_INT(ev.type, WS_EV_NONE);
		ws_dec_init(&d, UINT64_MAX - 2, 1);
		ws_decode(&d, S, 10, &ev);
		d.remain = 0;
		d.state = ST_HDR;
		ws_decode(&d, S + 10, 10, &ev);
		CHECK_EQ_INT(ev.type, WS_EV_ERROR);
		CHECK_EQ_INT(ev.code, 1009);
	}
}

/* ---- encoder ---- */

static void
test_encoder(void)
{
	static unsigned char pl[65536 + 10], fr[65536 + 30];
	static const uint64_t lens[] = { 0, 1, 125, 126, 65535, 65536 };
	static const unsigned char key[4] = { 0xa1, 0xb2, 0xc3, 0xd4 };
	unsigned char h[WS_HDR_MAX], a[37], b[37], *g, *t;
	size_t i, j, n, hn, off;
	int m;

	hn = ws_frame_hdr(h, 1, WS_OP_TEXT, 0, NULL);
	CHECK_MEM(h, hn, "\x81\x00", 2);
	hn = ws_frame_hdr(h, 1, WS_OP_TEXT, 125, NULL);
	CHECK_MEM(h, hn, "\x81\x7d", 2);
	hn = ws_frame_hdr(h, 0, WS_OP_BIN, 126, NULL);
	CHECK_MEM(h, hn, "\x02\x7e\x00\x7e", 4);
	hn = ws_frame_hdr(h, 1, WS_OP_CONT, 65535, NULL);
	CHECK_MEM(h, hn, "\x80\x7e\xff\xff", 4);
	hn = ws_frame_hdr(h, 1, WS_OP_BIN, 65536, NULL);
	CHECK_MEM(h, hn, "\x82\x7f\x00\x00\x00\x00\x00\x01\x00\x00", 10);
	hn = ws_frame_hdr(h, 1, WS_OP_CLOSE, 2, key);
	CHECK_MEM(h, hn, "\x88\x82\xa1\xb2\xc3\xd4", 6);
	hn = ws_frame_hdr(h, 1, WS_OP_BIN, 65536, key);
	CHECK_MEM(h, hn, "\x82\xff\x00\x00\x00\x00\x00\x01\x00\x00\xa1\xb2\xc3\xd4", 14);
	hn = ws_frame_hdr(h, 1, WS_OP_BIN, UINT64_C(0x0102030405060708), NULL);
	CHECK_MEM(h, hn, "\x82\x7f\x01\x02\x03\x04\x05\x06\x07\x08", 10);

	/* Encode, decode back: masked for the server, plain for the client. */
	for (i = 0; i < sizeof pl; i++)
		pl[i] = (unsigned char)(' ' + i % 90);
	for (m = 0; m < 2; m++) {
		for (i = 0; i < sizeof lens / sizeof lens[0]; i++) {
			n = (size_t)lens[i];
			hn = ws_frame_hdr(fr, 1, WS_OP_TEXT, n, m ? key : NULL);
			memcpy(fr + hn, pl, n);
			if (m)
				ws_mask(fr + hn, n, key, 0);
			s_reset();
			s_raw(fr, hn + n);
			e_msg(WS_OP_TEXT, pl, n);
			FEEDS(!m, 0, S, Sn);
		}
	}

	/* Masking in pieces equals masking at once, from any offset. */
	for (i = 0; i < sizeof a; i++)
		a[i] = b[i] = (unsigned char)(i * 31);
	ws_mask(a, sizeof a, key, 0);
	for (i = 0; i < sizeof a; i++)
		CHECK_EQ_INT(a[i], (unsigned char)(i * 31) ^ key[i & 3]);
	for (j = 0; j <= sizeof b; j++) {
		for (off = 0; off < 12; off += 4) {
			for (i = 0; i < sizeof b; i++)
				b[i] = (unsigned char)(i * 31);
			g = unit_guard(b, j, 0);
			t = unit_guard(b + j, sizeof b - j, 1);
			ws_mask(g, j, key, off);
			ws_mask(t, sizeof b - j, key, off + j);
			memcpy(b, g, j);
			memcpy(b + j, t, sizeof b - j);
			CHECK_MEM(a, sizeof a, b, sizeof b);
		}
	}
}

int
main(void)
{
	test_utf8();
	test_accept();
	test_rfc_examples();
	test_events();
	test_header_rules();
	test_fragments();
	test_text_rules();
	test_close();
	test_max_msg();
	test_encoder();
	return unit_done();
}
