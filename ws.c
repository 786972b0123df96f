/*
 * RFC 6455 framing.  The decoder is pushed bytes and never pulls them, so
 * the same code serves plain sockets, TLS records and fuzzers.  It checks
 * every rule of section 5 as early as the byte that breaks it arrives, so a
 * peer cannot make us buffer or forward anything it was not allowed to send.
 */
#include <string.h>

#include "base64.h"
#include "sha1.h"
#include "ws.h"

/* What the next input byte belongs to. */
enum {
	ST_HDR = 0,     /* a frame header, hdr_n bytes of it collected */
	ST_DATA,        /* the payload of a text, binary or continuation frame */
	ST_CTL,         /* the payload of a control frame, copied into ctl */
	ST_CLOSED,      /* a close frame was delivered; the rest is ignored */
	ST_FAILED       /* a rule was broken; err says which close code to send */
};

/*
 * UTF-8 validation is a small automaton over byte classes.  The classes
 * split the continuation range 80..BF where the second byte of E0, ED, F0
 * and F4 sequences is restricted: those restrictions are what rule out
 * overlong forms, surrogates and code points above U+10FFFF (RFC 3629
 * section 4).
 */
enum {
	U_OK = WS_UTF8_OK,
	U_BAD = WS_UTF8_BAD,
	U_C1,           /* one more continuation byte, any 80..BF */
	U_C2,           /* two more, any */
	U_C3,           /* three more, any */
	U_E0,           /* after E0: A0..BF, then one more */
	U_ED,           /* after ED: 80..9F, then one more (no surrogates) */
	U_F0,           /* after F0: 90..BF, then two more */
	U_F4,           /* after F4: 80..8F, then two more (max U+10FFFF) */
	U_NSTATES
};

static const unsigned char utf8_class[256] = {
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,  /* 00 */
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,  /* 10 */
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,  /* 20 */
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,  /* 30 */
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,  /* 40 */
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,  /* 50 */
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,  /* 60 */
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,  /* 70 */
	1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,  /* 80 */
	2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2,  /* 90 */
	3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3,  /* A0 */
	3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3,  /* B0 */
	4, 4, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5,  /* C0 */
	5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5,  /* D0 */
	6, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 8, 7, 7,  /* E0 */
	9, 10, 10, 10, 11, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4,  /* F0 */
};

/*
 * Columns are the classes above: ASCII, 80..8F, 90..9F, A0..BF, never
 * valid (C0 C1 F5..FF), C2..DF, E0, E1..EC EE EF, ED, F0, F1..F3, F4.
 */
static const unsigned char utf8_next[U_NSTATES][12] = {
	[U_OK] = { U_OK, U_BAD, U_BAD, U_BAD, U_BAD, U_C1, U_E0, U_C2,
	    U_ED, U_F0, U_C3, U_F4 },
	[U_BAD] = { U_BAD, U_BAD, U_BAD, U_BAD, U_BAD, U_BAD, U_BAD, U_BAD,
	    U_BAD, U_BAD, U_BAD, U_BAD },
	[U_C1] = { U_BAD, U_OK, U_OK, U_OK, U_BAD, U_BAD, U_BAD, U_BAD,
	    U_BAD, U_BAD, U_BAD, U_BAD },
	[U_C2] = { U_BAD, U_C1, U_C1, U_C1, U_BAD, U_BAD, U_BAD, U_BAD,
	    U_BAD, U_BAD, U_BAD, U_BAD },
	[U_C3] = { U_BAD, U_C2, U_C2, U_C2, U_BAD, U_BAD, U_BAD, U_BAD,
	    U_BAD, U_BAD, U_BAD, U_BAD },
	[U_E0] = { U_BAD, U_BAD, U_BAD, U_C1, U_BAD, U_BAD, U_BAD, U_BAD,
	    U_BAD, U_BAD, U_BAD, U_BAD },
	[U_ED] = { U_BAD, U_C1, U_C1, U_BAD, U_BAD, U_BAD, U_BAD, U_BAD,
	    U_BAD, U_BAD, U_BAD, U_BAD },
	[U_F0] = { U_BAD, U_BAD, U_C2, U_C2, U_BAD, U_BAD, U_BAD, U_BAD,
	    U_BAD, U_BAD, U_BAD, U_BAD },
	[U_F4] = { U_BAD, U_C2, U_BAD, U_BAD, U_BAD, U_BAD, U_BAD, U_BAD,
	    U_BAD, U_BAD, U_BAD, U_BAD },
};

uint32_t
ws_utf8(uint32_t state, const unsigned char *p, size_t n)
{
	size_t i = 0;
	uint64_t w;

	/* The state may come from anywhere; an unknown one is invalid. */
	if (state >= U_NSTATES)
		return WS_UTF8_BAD;
	while (i < n) {
		/*
		 * Most text is ASCII: between characters, skip eight bytes
		 * at a time while none has its top bit set.  memcpy keeps
		 * the load free of alignment and aliasing trouble.
		 */
		if (state == U_OK) {
			while (n - i >= 8) {
				memcpy(&w, p + i, 8);
				if (w & UINT64_C(0x8080808080808080))
					break;
				i += 8;
			}
			while (i < n && p[i] < 0x80)
				i++;
			if (i == n)
				break;
		}
		state = utf8_next[state][utf8_class[p[i++]]];
		if (state == U_BAD)
			break;
	}
	return state;
}

int
ws_close_code_ok(int code)
{
	/*
	 * 1004 is reserved, 1005, 1006 and 1015 must never be sent, and the
	 * rest of 1012..2999 is not defined by RFC 6455; 3000..4999 belong to
	 * libraries and applications.
	 */
	return (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1011)
	    || (code >= 3000 && code <= 4999);
}

void
ws_dec_init(struct ws_dec *d, uint64_t max_msg, int client)
{
	memset(d, 0, sizeof *d);
	d->max_msg = max_msg;
	d->client = client != 0;
}

static size_t
fail(struct ws_dec *d, int code, size_t used, struct ws_ev *ev)
{
	d->state = ST_FAILED;
	d->err = (uint16_t)code;
	memset(ev, 0, sizeof *ev);
	ev->type = WS_EV_ERROR;
	ev->code = code;
	return used;
}

/* Checks the first header byte: FIN, RSV1-3 and the opcode. */
static int
hdr_first(struct ws_dec *d, unsigned b)
{
	unsigned op = b & 0x0f;

	/* No extension is ever negotiated, so no RSV bit may be set. */
	if (b & 0x70)
		return WS_CLOSE_PROTOCOL;
	d->fin = (unsigned char)(b >> 7);
	d->opcode = (unsigned char)op;
	switch (op) {
	case WS_OP_CONT:
		return d->msg_op ? 0 : WS_CLOSE_PROTOCOL;
	case WS_OP_TEXT:
	case WS_OP_BIN:
		return d->msg_op ? WS_CLOSE_PROTOCOL : 0;
	case WS_OP_CLOSE:
	case WS_OP_PING:
	case WS_OP_PONG:
		return d->fin ? 0 : WS_CLOSE_PROTOCOL;
	default:
		return WS_CLOSE_PROTOCOL;
	}
}

/*
 * Checks the payload length once all of it has arrived and remembers it.
 * The size limit is applied to what the header announces, so an oversized
 * message is refused before any of its payload is read.
 */
static int
hdr_len(struct ws_dec *d, uint64_t len)
{
	unsigned len7 = d->hdr[1] & 0x7f;
	uint64_t before;

	if (len7 == 126 && len < 126)
		return WS_CLOSE_PROTOCOL;
	if (len7 == 127 && (len >> 63 || len <= 0xffff))
		return WS_CLOSE_PROTOCOL;
	if (!(d->opcode & 8)) {
		before = d->opcode == WS_OP_CONT ? d->msg_len : 0;
		if (d->max_msg && len > d->max_msg - before)
			return WS_CLOSE_TOO_BIG;
	}
	d->remain = len;
	return 0;
}

/*
 * Checks the header byte just stored at hdr[hdr_n - 1].  Each rule is
 * checked at the byte that completes what it looks at, so the error and
 * where it happens never depend on how the input was split.
 */
static int
hdr_byte(struct ws_dec *d)
{
	unsigned len7, masked, i;
	uint64_t len;

	if (d->hdr_n == 1)
		return hdr_first(d, d->hdr[0]);
	len7 = d->hdr[1] & 0x7f;
	if (d->hdr_n == 2) {
		masked = d->hdr[1] >> 7;
		if (masked == d->client)
			return WS_CLOSE_PROTOCOL;
		if ((d->opcode & 8) && len7 > WS_CTL_MAX)
			return WS_CLOSE_PROTOCOL;
		d->hdr_need = (unsigned char)(2 + (masked ? 4 : 0) +
		    (len7 == 126 ? 2 : len7 == 127 ? 8 : 0));
		return len7 < 126 ? hdr_len(d, len7) : 0;
	}
	if ((len7 == 126 && d->hdr_n == 4) || (len7 == 127 && d->hdr_n == 10)) {
		len = 0;
		for (i = 2; i < d->hdr_n; i++)
			len = len << 8 | d->hdr[i];
		return hdr_len(d, len);
	}
	return 0;
}

/* Sets up the payload state once the whole header is in. */
static void
frame_start(struct ws_dec *d)
{
	if (!d->client)
		memcpy(d->key, d->hdr + d->hdr_need - 4, 4);
	d->hdr_n = 0;
	d->mask_off = 0;
	if (d->opcode & 8) {
		d->ctl_len = 0;
		d->state = ST_CTL;
		return;
	}
	if (d->opcode != WS_OP_CONT) {
		d->msg_op = d->opcode;
		d->msg_len = 0;
		d->utf8 = WS_UTF8_OK;
	}
	d->msg_len += d->remain;
	d->state = ST_DATA;
}

/* Turns a complete control payload into its event. */
static size_t
ctl_event(struct ws_dec *d, size_t used, struct ws_ev *ev)
{
	int code;

	d->state = ST_HDR;
	ev->data = d->ctl;
	ev->len = d->ctl_len;
	if (d->opcode == WS_OP_PING) {
		ev->type = WS_EV_PING;
		return used;
	}
	if (d->opcode == WS_OP_PONG) {
		ev->type = WS_EV_PONG;
		return used;
	}
	if (d->ctl_len == 0) {
		code = WS_CLOSE_NO_STATUS;
	} else {
		if (d->ctl_len == 1)
			return fail(d, WS_CLOSE_PROTOCOL, used, ev);
		code = d->ctl[0] << 8 | d->ctl[1];
		if (!ws_close_code_ok(code))
			return fail(d, WS_CLOSE_PROTOCOL, used, ev);
		if (ws_utf8(WS_UTF8_OK, d->ctl + 2, d->ctl_len - 2u) != U_OK)
			return fail(d, WS_CLOSE_BAD_DATA, used, ev);
		ev->data = d->ctl + 2;
		ev->len = d->ctl_len - 2u;
	}
	ev->type = WS_EV_CLOSE;
	ev->code = code;
	d->state = ST_CLOSED;
	return used;
}

size_t
ws_decode(struct ws_dec *d, unsigned char *buf, size_t len, struct ws_ev *ev)
{
	size_t i = 0, n;
	unsigned char *p;
	int code, fin, op;

	memset(ev, 0, sizeof *ev);
	for (;;) {
		switch (d->state) {
		case ST_HDR:
			/* Headers are at most 14 bytes: a byte at a time is fine. */
			while (i < len && (d->hdr_n < 2 || d->hdr_n < d->hdr_need)) {
				d->hdr[d->hdr_n++] = buf[i++];
				if ((code = hdr_byte(d)) != 0)
					return fail(d, code, i, ev);
			}
			if (d->hdr_n < 2 || d->hdr_n < d->hdr_need)
				return i;
			frame_start(d);
			break;
		case ST_DATA:
			if (d->remain > 0 && i == len)
				return i;
			n = len - i;
			if (n > d->remain)
				n = (size_t)d->remain;
			p = buf + i;
			if (!d->client) {
				ws_mask(p, n, d->key, d->mask_off);
				d->mask_off = (unsigned char)((d->mask_off + n) & 3);
			}
			d->utf8 = ws_utf8(d->utf8, p, n);
			d->remain -= n;
			i += n;
			fin = d->fin && d->remain == 0;
			/*
			 * Text is refused at the first byte that cannot be
			 * valid, not at the end of the message, and a message
			 * may not end inside a character.
			 */
			if (d->utf8 == U_BAD || (fin && d->utf8 != U_OK))
				return fail(d, d->msg_op == WS_OP_TEXT ?
				    WS_CLOSE_BAD_DATA : WS_CLOSE_UNSUPPORTED, i, ev);
			op = d->msg_op;
			if (d->remain == 0) {
				d->state = ST_HDR;
				if (fin)
					d->msg_op = WS_OP_CONT;
			}
			/* An empty fragment that does not end a message says nothing. */
			if (n == 0 && !fin)
				break;
			ev->type = WS_EV_DATA;
			ev->data = p;
			ev->len = n;
			ev->fin = fin;
			ev->opcode = op;
			return i;
		case ST_CTL:
			n = len - i;
			if (n > d->remain)
				n = (size_t)d->remain;
			if (n) {
				memcpy(d->ctl + d->ctl_len, buf + i, n);
				if (!d->client)
					ws_mask(d->ctl + d->ctl_len, n, d->key,
					    d->ctl_len);
			}
			d->ctl_len = (unsigned char)(d->ctl_len + n);
			d->remain -= n;
			i += n;
			if (d->remain > 0)
				return i;
			return ctl_event(d, i, ev);
		case ST_CLOSED:
			return len;
		default:
			ev->type = WS_EV_ERROR;
			ev->code = d->err;
			return 0;
		}
	}
}

size_t
ws_frame_hdr(unsigned char out[WS_HDR_MAX], int fin, int opcode, uint64_t len,
    const unsigned char *mask_key)
{
	unsigned char m = mask_key ? 0x80 : 0;
	size_t n, i;

	out[0] = (unsigned char)((fin ? 0x80 : 0) | (opcode & 0x0f));
	if (len < 126) {
		out[1] = (unsigned char)(m | len);
		n = 2;
	} else if (len <= 0xffff) {
		out[1] = m | 126;
		out[2] = (unsigned char)(len >> 8);
		out[3] = (unsigned char)len;
		n = 4;
	} else {
		out[1] = m | 127;
		for (i = 0; i < 8; i++)
			out[2 + i] = (unsigned char)(len >> (56 - 8 * i));
		n = 10;
	}
	if (mask_key) {
		memcpy(out + n, mask_key, 4);
		n += 4;
	}
	return n;
}

void
ws_mask(unsigned char *p, size_t n, const unsigned char key[4], size_t offset)
{
	unsigned char k[8];
	uint64_t kw, w;
	size_t i;

	/*
	 * Rotate the key to the starting offset and repeat it to eight
	 * bytes, so whole words can be XORed whatever the byte order.
	 */
	for (i = 0; i < 8; i++)
		k[i] = key[(offset + i) & 3];
	memcpy(&kw, k, 8);
	for (i = 0; n - i >= 8; i += 8) {
		memcpy(&w, p + i, 8);
		w ^= kw;
		memcpy(p + i, &w, 8);
	}
	for (; i < n; i++)
		p[i] ^= k[i & 7];
}

size_t
ws_close_payload(unsigned char out[WS_CTL_MAX], int code, const char *reason,
    size_t reason_len)
{
	const unsigned char *r = (const unsigned char *)reason;
	size_t n;

	if (code == 0)
		return 0;
	out[0] = (unsigned char)(code >> 8);
	out[1] = (unsigned char)code;
	if (!r)
		reason_len = 0;
	n = reason_len;
	if (n > WS_CTL_MAX - 2) {
		/* Back off to the first byte of the character that does not fit. */
		n = WS_CTL_MAX - 2;
		while (n > 0 && (r[n] & 0xc0) == 0x80)
			n--;
	}
	/* The peer would fail us with 1007 for a bad reason; send none. */
	if (ws_utf8(WS_UTF8_OK, r, n) != U_OK)
		n = 0;
	if (n)
		memcpy(out + 2, r, n);
	return 2 + n;
}

int
ws_accept(const char *key, size_t key_len, char out[WS_ACCEPT_LEN + 1])
{
	static const char guid[] = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
	unsigned char raw[18], cat[24 + sizeof guid - 1], dig[SHA1_LEN];

	/* RFC 6455 section 4.1: the key is 16 random bytes in base64. */
	if (key_len != 24 || base64_decode(key, key_len, raw, sizeof raw,
	    B64_STD | B64_PAD_REQUIRE) != 16)
		return -1;
	memcpy(cat, key, 24);
	memcpy(cat + 24, guid, sizeof guid - 1);
	sha1(cat, sizeof cat, dig);
	base64_encode(dig, sizeof dig, out, B64_STD);
	return 0;
}
