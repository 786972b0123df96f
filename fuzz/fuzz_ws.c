/*
 * libFuzzer target for the RFC 6455 decoder.  Input: byte 0 picks where to
 * cut the stream, byte 1 picks the side (bit 0) and the message size limit
 * (bits 1-2); the rest is the byte stream.  The stream is decoded whole, cut
 * in two at the chosen point, and one byte at a time; the three must give
 * the same events with the same payload bytes as a plain reference decoder.
 * DATA chunks are merged per message before comparing, since their sizes
 * follow how the input arrived.
 * Every API promise made in ws.h is checked on the way, with abort().
 */
#include <stdlib.h>

#include "../ws.c"
#include "../sha1.c"
#include "../base64.c"

struct log {
	unsigned char *b;
	size_t n, cap;
	unsigned char *cur;
	size_t curn, curcap;
	int curop, inmsg, done, last, lastcode;
	uint64_t max;
};

static void
put(struct log *l, const void *p, size_t n)
{
	if (l->n + n > l->cap) {
		l->cap = (l->n + n) * 2;
		if (!(l->b = realloc(l->b, l->cap)))
			abort();
	}
	if (n)
		memcpy(l->b + l->n, p, n);
	l->n += n;
}

static void
rec(struct log *l, int tag, int a, const void *p, size_t n)
{
	unsigned char h[11] = { (unsigned char)tag, (unsigned char)(a >> 8),
	    (unsigned char)a };
	size_t i;

	for (i = 0; i < 8; i++)
		h[3 + i] = (unsigned char)((uint64_t)n >> (8 * i));
	put(l, h, sizeof h);
	put(l, p, n);
}

static void
on_event(struct log *l, const struct ws_ev *ev, const unsigned char *p,
    size_t avail, size_t k)
{
	if (k > avail)
		abort();
	switch (ev->type) {
	case WS_EV_NONE:
		if (k != avail)
			abort();
		break;
	case WS_EV_DATA:
		if (ev->data < p || ev->len > k || ev->data + ev->len > p + k)
			abort();
		if (ev->opcode != WS_OP_TEXT && ev->opcode != WS_OP_BIN)
			abort();
		if (ev->len == 0 && !ev->fin)
			abort();
		if (l->inmsg && ev->opcode != l->curop)
			abort();
		if (l->curn + ev->len > l->curcap) {
			l->curcap = (l->curn + ev->len) * 2;
			if (!(l->cur = realloc(l->cur, l->curcap)))
				abort();
		}
		if (ev->len)
			memcpy(l->cur + l->curn, ev->data, ev->len);
		l->curn += ev->len;
		l->curop = ev->opcode;
		l->inmsg = 1;
		if (l->max && l->curn > l->max)
			abort();
		if (ev->fin) {
			/* Whatever is delivered whole is valid UTF-8. */
			if (ws_utf8(WS_UTF8_OK, l->cur, l->curn) != WS_UTF8_OK)
				abort();
			rec(l, 'M', l->curop, l->cur, l->curn);
			l->curn = 0;
			l->inmsg = 0;
		}
		break;
	case WS_EV_PING:
	case WS_EV_PONG:
		if (ev->len > WS_CTL_MAX || k == 0)
			abort();
		rec(l, ev->type, 0, ev->data, ev->len);
		break;
	case WS_EV_CLOSE:
		if (ev->len > WS_CTL_MAX - 2 || k == 0)
			abort();
		if (ev->code == WS_CLOSE_NO_STATUS ? ev->len != 0 :
		    !ws_close_code_ok(ev->code))
			abort();
		if (ws_utf8(WS_UTF8_OK, ev->data, ev->len) != WS_UTF8_OK)
			abort();
		rec(l, 'C', ev->code, ev->data, ev->len);
		l->done = 1;
		break;
	case WS_EV_ERROR:
		if (ev->code != 1002 && ev->code != 1003 && ev->code != 1007 &&
		    ev->code != 1009)
			abort();
		rec(l, 'E', ev->code, NULL, 0);
		l->curn = 0;
		l->inmsg = 0;
		l->done = 1;
		break;
	default:
		abort();
	}
	if (ev->type != WS_EV_NONE) {
		l->last = ev->type;
		l->lastcode = ev->code;
	}
}

static void
feed(struct ws_dec *d, struct log *l, unsigned char *p, size_t n)
{
	struct ws_ev ev;
	size_t k;

	while (n > 0 && !l->done) {
		k = ws_decode(d, p, n, &ev);
		on_event(l, &ev, p, n, k);
		p += k;
		n -= k;
	}
	if (!l->done)
		return;
	/* Errors stick and consume nothing; after a close, all is ignored. */
	k = ws_decode(d, p, n, &ev);
	if (l->last == WS_EV_ERROR ? k != 0 || ev.type != WS_EV_ERROR ||
	    ev.code != l->lastcode : k != n || ev.type != WS_EV_NONE)
		abort();
}

static void
finish(struct log *l)
{
	if (l->inmsg)
		rec(l, 'p', l->curop, l->cur, l->curn);
	free(l->cur);
}

/*
 * A second, deliberately plain decoder that sees the whole stream at once
 * and writes the log the incremental one must produce.  Sharing no code
 * with ws_decode but ws_utf8 (fuzzed on its own), it catches rules that
 * ws_decode breaks the same way however its input is cut.
 */
static void
reference(int client, uint64_t max, const uint8_t *in, size_t n,
    struct log *l)
{
	unsigned char pl[WS_CTL_MAX], *cur = NULL;
	size_t i = 0, curn = 0, hl, k, avail;
	uint64_t len, msglen = 0;
	uint32_t u = WS_UTF8_OK;
	int fin, op, masked, msgop = 0, code;
	const uint8_t *key;

	for (;;) {
		if (i == n)
			break;
		fin = in[i] >> 7;
		op = in[i] & 15;
		if (in[i] & 0x70 || (op > 2 && op < 8) || op > 10 ||
		    (op >= 8 && !fin) || (op == 0 && !msgop) ||
		    ((op == 1 || op == 2) && msgop))
			goto protocol;
		if (i + 1 == n)
			break;
		masked = in[i + 1] >> 7;
		len = in[i + 1] & 127;
		if (masked == client || (op >= 8 && len > 125))
			goto protocol;
		hl = len == 126 ? 4 : len == 127 ? 10 : 2;
		if (i + hl > n)
			break;
		if (hl > 2) {
			len = 0;
			for (k = 2; k < hl; k++)
				len = len << 8 | in[i + k];
			if ((hl == 4 && len < 126) || (hl == 10 &&
			    (len < 65536 || len >= UINT64_C(1) << 63)))
				goto protocol;
		}
		if (op < 8 && max && (op ? 0 : msglen) + len > max) {
			rec(l, 'E', 1009, NULL, 0);
			goto out;
		}
		key = masked ? in + i + hl : NULL;
		hl += masked ? 4 : 0;
		if (i + hl > n)
			break;
		i += hl;
		avail = n - i < len ? n - i : (size_t)len;
		if (op >= 8) {
			if (avail < len)
				break;
			for (k = 0; k < avail; k++)
				pl[k] = in[i + k] ^ (key ? key[k & 3] : 0);
			i += avail;
			if (op != WS_OP_CLOSE) {
				rec(l, op == WS_OP_PING ? WS_EV_PING : WS_EV_PONG, 0,
				    pl, avail);
				continue;
			}
			if (avail == 0) {
				rec(l, 'C', 1005, NULL, 0);
				break;
			}
			code = avail > 1 ? pl[0] << 8 | pl[1] : 0;
			if (!((code >= 1000 && code <= 1003) ||
			    (code >= 1007 && code <= 1011) ||
			    (code >= 3000 && code <= 4999)))
				goto protocol;
			if (ws_utf8(WS_UTF8_OK, pl + 2, avail - 2) != WS_UTF8_OK) {
				rec(l, 'E', 1007, NULL, 0);
				goto out;
			}
			rec(l, 'C', code, pl + 2, avail - 2);
			break;
		}
		if (op) {
			msgop = op;
			msglen = 0;
			u = WS_UTF8_OK;
		}
		msglen += len;
		if (!(cur = realloc(cur, curn + avail + 1)))
			abort();
		for (k = 0; k < avail; k++)
			cur[curn + k] = in[i + k] ^ (key ? key[k & 3] : 0);
		u = ws_utf8(u, cur + curn, avail);
		curn += avail;
		i += avail;
		if (u == WS_UTF8_BAD || (avail == len && fin && u != WS_UTF8_OK)) {
			rec(l, 'E', msgop == 1 ? 1007 : 1003, NULL, 0);
			goto out;
		}
		if (avail < len)
			break;
		if (fin) {
			rec(l, 'M', msgop, cur, curn);
			curn = 0;
			msgop = 0;
		}
	}
	/* Truncated or closed: the message in progress is left unfinished. */
	if (curn)
		rec(l, 'p', msgop, cur, curn);
	goto out;
protocol:
	rec(l, 'E', 1002, NULL, 0);
out:
	free(cur);
}

/* Each piece gets its own allocation so that ASan sees any over-read. */
static unsigned char *
copy_in(const uint8_t *p, size_t n)
{
	unsigned char *q = malloc(n ? n : 1);

	if (!q)
		abort();
	if (n)
		memcpy(q, p, n);
	return q;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint64_t limits[4] = { 0, 1, 126, 1000 };
	struct log a = { 0 }, b = { 0 }, c = { 0 }, r = { 0 };
	struct ws_dec d;
	unsigned char *x, *y;
	char acc[WS_ACCEPT_LEN + 1];
	size_t n, cut, i;
	int client;
	uint64_t max;

	/* The accept key computation must cope with any bytes too. */
	x = copy_in(data, size);
	if (ws_accept((const char *)x, size, acc) == 0 &&
	    (size != 24 || strlen(acc) != WS_ACCEPT_LEN))
		abort();
	free(x);

	if (size < 2)
		return 0;
	client = data[1] & 1;
	max = limits[(data[1] >> 1) & 3];
	n = size - 2;
	cut = n * data[0] / 255;
	data += 2;
	a.max = b.max = c.max = max;

	ws_dec_init(&d, max, client);
	x = copy_in(data, n);
	feed(&d, &a, x, n);
	finish(&a);
	free(x);

	ws_dec_init(&d, max, client);
	x = copy_in(data, cut);
	y = copy_in(data + cut, n - cut);
	feed(&d, &b, x, cut);
	feed(&d, &b, y, n - cut);
	finish(&b);
	free(x);
	free(y);

	ws_dec_init(&d, max, client);
	x = copy_in(data, n);
	for (i = 0; i < n; i++)
		feed(&d, &c, x + i, 1);
	finish(&c);
	free(x);

	reference(client, max, data, n, &r);

	if (a.n != b.n || a.n != c.n || a.n != r.n || (a.n &&
	    (memcmp(a.b, b.b, a.n) || memcmp(a.b, c.b, a.n) ||
	    memcmp(a.b, r.b, a.n))))
		abort();
	free(a.b);
	free(b.b);
	free(c.b);
	free(r.b);
	return 0;
}
