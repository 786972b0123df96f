/*
 * RFC 6455 framing: a push decoder that unmasks in place, a frame header
 * encoder, masking, an incremental UTF-8 validator, close payloads and the
 * handshake's Sec-WebSocket-Accept value.  Nothing here does I/O or
 * allocates; every buffer belongs to the caller.
 */
#ifndef PGWS_WS_H
#define PGWS_WS_H

#include <stddef.h>
#include <stdint.h>

enum {
	WS_OP_CONT = 0,
	WS_OP_TEXT = 1,
	WS_OP_BIN = 2,
	WS_OP_CLOSE = 8,
	WS_OP_PING = 9,
	WS_OP_PONG = 10
};

/* Close codes: those the decoder reports in WS_EV_ERROR (RFC 6455 section
 * 7.4.1), and those the server sends. */
enum {
	WS_CLOSE_NORMAL = 1000,
	WS_CLOSE_GOING_AWAY = 1001,
	WS_CLOSE_PROTOCOL = 1002,
	WS_CLOSE_UNSUPPORTED = 1003,
	WS_CLOSE_NO_STATUS = 1005,
	WS_CLOSE_BAD_DATA = 1007,
	WS_CLOSE_POLICY = 1008,
	WS_CLOSE_TOO_BIG = 1009,
	WS_CLOSE_INTERNAL = 1011,
	WS_CLOSE_TRY_AGAIN = 1013,      /* RFC 6455 registry: Try Again Later */
	WS_CLOSE_JWT_EXPIRED = 3001     /* pgws (as the original): the token expired */
};

#define WS_CTL_MAX 125          /* largest control frame payload */
#define WS_HDR_MAX 14           /* largest frame header */
#define WS_ACCEPT_LEN 28        /* Sec-WebSocket-Accept text, without NUL */

#define WS_UTF8_OK 0u           /* ws_utf8: everything so far is complete, valid text */
#define WS_UTF8_BAD 1u          /* ws_utf8: invalid; sticky */

enum ws_ev_type {
	WS_EV_NONE = 0,
	WS_EV_DATA,
	WS_EV_PING,
	WS_EV_PONG,
	WS_EV_CLOSE,
	WS_EV_ERROR
};

/*
 * One decoder event.  DATA: data/len is a chunk of the current message's
 * payload, unmasked in place inside the caller's buffer; fin is 1 when the
 * chunk ends the message (an empty final frame gives len 0, fin 1); opcode
 * is the message's WS_OP_TEXT or WS_OP_BIN.  A DATA event with len 0 always
 * has fin 1.  PING, PONG, CLOSE: data/len is the whole control payload (for
 * CLOSE the reason text only, without the two code bytes) in the decoder's
 * own buffer, valid until the next ws_decode call; code is the received
 * close code, 1005 when the payload was empty.  ERROR: code is the close
 * code we must send: 1002 protocol error, 1003 binary message that is not
 * UTF-8, 1007 invalid UTF-8 text, 1009 message too big.
 */
struct ws_ev {
	enum ws_ev_type type;
	unsigned char *data;
	size_t len;
	int fin;
	int opcode;
	int code;
};

/*
 * Decoder state.  Zero-initialised it is ready to decode a client's frames
 * on the server side, with no message size limit.  The fields are private.
 */
struct ws_dec {
	uint64_t max_msg;       /* largest message; 0 means no limit */
	uint64_t remain;        /* payload bytes left in the current frame */
	uint64_t msg_len;       /* payload bytes announced for the message so far */
	uint32_t utf8;          /* ws_utf8 state of the message in progress */
	uint16_t err;           /* sticky close code once failed */
	unsigned char state;    /* what the next input byte belongs to */
	unsigned char client;   /* 1: we are the client, frames arrive unmasked */
	unsigned char hdr_n;    /* header bytes collected */
	unsigned char hdr_need; /* header length, known after two bytes */
	unsigned char opcode;   /* current frame's opcode */
	unsigned char fin;      /* current frame's FIN bit */
	unsigned char msg_op;   /* opcode of the message in progress, 0 if none */
	unsigned char mask_off; /* position in the mask key of the next byte */
	unsigned char ctl_len;  /* control payload bytes collected */
	unsigned char key[4];   /* masking key of the current frame */
	unsigned char hdr[WS_HDR_MAX];
	unsigned char ctl[WS_CTL_MAX];
};

/*
 * Prepares the caller-owned d: max_msg is the largest message (sum of its
 * fragments) accepted, 0 for no limit; client 0 expects masked frames from a
 * client, 1 expects unmasked frames from a server.  Returns nothing.
 */
void ws_dec_init(struct ws_dec *d, uint64_t max_msg, int client);

/*
 * Consumes a prefix of the caller's buf (len bytes, unmasked in place) and
 * returns its length, filling *ev with at most one event.  WS_EV_NONE always
 * comes with all of buf consumed and means more input is needed.  Call again
 * with the rest of buf until it is empty; an event may come with every byte
 * consumed.  After WS_EV_ERROR every call returns the same error and
 * consumes nothing; after WS_EV_CLOSE further input is consumed and ignored.
 * DATA events point into buf, control events into d; see struct ws_ev.
 */
size_t ws_decode(struct ws_dec *d, unsigned char *buf, size_t len,
    struct ws_ev *ev);

/*
 * Writes into the caller's out a header with the minimal length encoding
 * for a frame of len (below 2^63) payload bytes; mask_key is NULL for an unmasked
 * (server) frame or 4 caller-owned bytes for a masked (client) frame, which
 * sets the MASK bit and appends the key.  Returns the header length, 2..14.
 */
size_t ws_frame_hdr(unsigned char out[WS_HDR_MAX], int fin, int opcode,
    uint64_t len, const unsigned char *mask_key);

/*
 * XORs the caller's n bytes at p in place with key, starting at key byte
 * offset % 4, so that a payload may be masked in pieces.  Returns nothing.
 */
void ws_mask(unsigned char *p, size_t n, const unsigned char key[4],
    size_t offset);

/*
 * Writes into the caller's out a close payload: the 2-byte code and as much
 * of reason as fits in 123 bytes, cut at a character boundary; a reason
 * that is not valid UTF-8 is left out; code 0 gives the empty payload.
 * Returns the payload length.
 */
size_t ws_close_payload(unsigned char out[WS_CTL_MAX], int code,
    const char *reason, size_t reason_len);

/*
 * Advances UTF-8 validation over n caller-owned bytes at p from state
 * (WS_UTF8_OK to begin) and returns the new state: WS_UTF8_BAD, sticky, once
 * the text cannot be valid; the text is complete and valid only when the
 * final state is WS_UTF8_OK.
 */
uint32_t ws_utf8(uint32_t state, const unsigned char *p, size_t n);

/*
 * Computes the Sec-WebSocket-Accept value for the key_len bytes of the
 * caller's Sec-WebSocket-Key value into the caller's out (28 characters and
 * a NUL).  Returns 0, or -1 when the key is not padded standard base64 of
 * exactly 16 bytes.
 */
int ws_accept(const char *key, size_t key_len, char out[WS_ACCEPT_LEN + 1]);

/* Returns 1 when code may appear in a close frame on the wire, else 0. */
int ws_close_code_ok(int code);

#endif
