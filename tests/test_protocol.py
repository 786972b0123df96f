#!/usr/bin/python3
"""HTTP and RFC 6455 protocol tests for pgws (SPEC sections 2, 3 and 5).

Runs against the binary in PGWS_BIN and the database in PGWS_TEST_URI:

    . tests/pg.sh && pg_start
    PGWS_BIN=./pgws-debug /usr/bin/python3 tests/test_protocol.py [test_name ...]
    pg_stop

Every test starts its own Server with the limits it needs; every wait is
bounded.  A message a client writes comes back to every reader of its
channel as a JSON envelope, so a client reading its own echo proves pgws
accepted the message intact.
"""
import asyncio
import base64
import hashlib
import json
import os
import socket
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (recv_data, OP_CONT, OP_TEXT, OP_BIN, OP_CLOSE, OP_PING, OP_PONG, sock_gone, Raw, Server, check, psql, run, token,  # noqa: E402
                     parse_head, upgrade_request)

import websockets  # noqa: E402

TOK = token({"mode": "rw", "channel": "chat"})
PATH = "/chat/" + TOK
GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"



# ---------------------------------------------------------------- helpers

def accept_for(key):
    return base64.b64encode(hashlib.sha1((key + GUID).encode()).digest()).decode()


def new_key():
    return base64.b64encode(os.urandom(16)).decode()


def read_head(s, timeout=3):
    """(status, {lower-case name: value}, raw head bytes, rest) of one response;
    status 0 when nothing arrived before EOF or the timeout."""
    s.settimeout(timeout)
    buf = b""
    try:
        while b"\r\n\r\n" not in buf:
            b = s.recv(4096)
            if not b:
                break
            buf += b
    except (socket.timeout, ConnectionResetError):
        pass
    head, _, rest = buf.partition(b"\r\n\r\n")
    status, hdrs = parse_head(head)
    return status, hdrs, head, rest


def read_response(s, timeout=3):
    """One whole response (head and Content-Length body) from s."""
    status, hdrs, head, rest = read_head(s, timeout)
    n = int(hdrs.get("content-length", ["0"])[0] or 0)
    s.settimeout(timeout)
    try:
        while len(rest) < n:
            b = s.recv(65536)
            if not b:
                break
            rest += b
    except (socket.timeout, ConnectionResetError):
        pass
    return status, hdrs, rest[:n]


def request(srv, raw, timeout=3):
    """Sends raw on a new connection; (status, headers, head) of the answer."""
    s = socket.create_connection(("127.0.0.1", srv.port), timeout=timeout)
    try:
        s.sendall(raw)
        st, h, head, _ = read_head(s, timeout)
        return st, h, head
    finally:
        s.close()


def hdr(h, name):
    return ",".join(h.get(name.lower(), []))




def raw(srv, path=PATH):
    r = Raw(srv.port, path)
    check(r.status == 101, "upgrade answered 101 (got %s)" % r.status)
    return r




def echo_of(r, timeout=5):
    """The payload of the next WebsocketMessage envelope received, or a
    description of what came instead."""
    f = recv_data(r, timeout)
    if f is None or f[0] != OP_TEXT:
        return "<no text frame: %r>" % (f,)
    try:
        return json.loads(f[1].decode("utf-8"))["payload"]
    except Exception as e:  # noqa: BLE001
        return "<bad envelope %r: %s>" % (f[1][:200], e)


def expect_fail(r, code, what, eof=True):
    got = r.recv_close(3)
    check(got == code, "%s -> close %s (got %s)" % (what, code, got))
    if eof:
        check(sock_gone(r.s, 3), "%s -> TCP closed after the close frame" % what)
    r.close()


def send_hdr(r, b0, len_bytes, payload):
    """A masked frame whose length field is given as raw bytes (byte 1's
    7-bit length included), for non-minimal encodings."""
    key = os.urandom(4)
    masked = bytes(c ^ key[i % 4] for i, c in enumerate(payload))
    r.s.sendall(bytes([b0, 0x80 | len_bytes[0]]) + bytes(len_bytes[1:]) +
                key + masked)


# ---------------------------------------------------------------- 1 handshake

def test_handshake_ok():
    with Server() as srv:
        key = new_key()
        st, h, head = request(srv, upgrade_request(PATH, key))
        check(st == 101, "valid upgrade -> 101 (got %s: %r)" % (st, head[:200]))
        check(hdr(h, "sec-websocket-accept") == accept_for(key),
              "Sec-WebSocket-Accept is base64(sha1(key+GUID)) (got %r)"
              % hdr(h, "sec-websocket-accept"))
        check(hdr(h, "upgrade").lower() == "websocket", "Upgrade: websocket")
        check("upgrade" in hdr(h, "connection").lower(), "Connection: Upgrade")
        # the RFC 6455 sample key
        st, h, _ = request(srv, upgrade_request(PATH, "dGhlIHNhbXBsZSBub25jZQ=="))
        check(hdr(h, "sec-websocket-accept") == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=",
              "RFC 6455 sample key -> s3pPLMBiTxaQ9kYGzzhZRbK+xOo=")

        base = ("GET %s HTTP/1.1\r\nHost: x\r\n%s\r\n")
        ok_hdrs = ("Upgrade: websocket\r\nConnection: Upgrade\r\n"
                   "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n")

        for conn in ("keep-alive, Upgrade", "upgrade", "UPGRADE",
                     "Upgrade, keep-alive", "keep-alive,upgrade"):
            k = new_key()
            req = base % (PATH, ok_hdrs.replace("Connection: Upgrade",
                                                "Connection: " + conn) % k)
            st, h, _ = request(srv, req.encode())
            check(st == 101 and hdr(h, "sec-websocket-accept") == accept_for(k),
                  "Connection: %s -> 101 (got %s)" % (conn, st))
        k = new_key()
        req = ("GET %s HTTP/1.1\r\nhost: x\r\nupgrade: WebSocket\r\n"
               "CONNECTION: UPGRADE\r\nsec-websocket-key: %s\r\n"
               "SEC-WEBSOCKET-VERSION: 13\r\n\r\n" % (PATH, k))
        st, h, _ = request(srv, req.encode())
        check(st == 101, "header names and Upgrade value in any case -> 101 (got %s)"
              % st)

        k = new_key()
        st, h, head = request(srv, upgrade_request(
            PATH, k, "Sec-WebSocket-Extensions: permessage-deflate; "
            "client_max_window_bits\r\n"))
        check(st == 101, "permessage-deflate offered -> 101 (got %s)" % st)
        check("sec-websocket-extensions" not in h,
              "permessage-deflate declined: no Sec-WebSocket-Extensions (got %r)"
              % head)
        # and the connection really speaks uncompressed frames
        r = Raw(srv.port, PATH)
        r.send_frame(OP_TEXT, b"plain")
        check(echo_of(r) == "plain", "echo after a declined extension")
        r.close()


def test_handshake_errors():
    with Server() as srv:
        k = new_key()
        st, h, head = request(srv, upgrade_request(PATH, k).replace(
            b"Sec-WebSocket-Version: 13", b"Sec-WebSocket-Version: 8"))
        check(st == 426, "version 8 -> 426 (got %s)" % st)
        check(hdr(h, "sec-websocket-version") == "13",
              "426 carries Sec-WebSocket-Version: 13 (got %r)" % head)
        st, h, _ = request(srv, upgrade_request(PATH, k).replace(
            b"Sec-WebSocket-Version: 13\r\n", b""))
        # No version is not version 13: the same 426 that names the one we speak.
        check(st == 426, "no Sec-WebSocket-Version -> 426 (got %s)" % st)

        st, _, _ = request(srv, upgrade_request(PATH, k).replace(
            b"Sec-WebSocket-Key: %s\r\n" % k.encode(), b""))
        check(st == 400, "missing Sec-WebSocket-Key -> 400 (got %s)" % st)
        for bad, what in (("dGVzdA==", "short (4-byte)"),
                          ("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAA==", "long (22-byte)"),
                          ("!!!!!!!!!!!!!!!!!!!!!!==", "non-base64"),
                          ("", "empty")):
            st, _, _ = request(srv, upgrade_request(PATH, bad))
            check(st == 400, "%s Sec-WebSocket-Key -> 400 (got %s)" % (what, st))

        st, _, _ = request(srv, upgrade_request(PATH, k).replace(
            b"Connection: Upgrade\r\n", b""))
        check(st == 400, "missing Connection: upgrade -> 400 (got %s)" % st)
        st, _, _ = request(srv, upgrade_request(PATH, k).replace(
            b"Connection: Upgrade", b"Connection: keep-alive"))
        check(st == 400, "Connection: keep-alive only -> 400 (got %s)" % st)

        st, _, _ = request(srv, upgrade_request(PATH, k).replace(
            b"GET ", b"POST ", 1))
        check(st == 400, "POST with upgrade -> 400 (got %s)" % st)
        st, _, _ = request(srv, upgrade_request(PATH, k).replace(
            b"HTTP/1.1", b"HTTP/1.0", 1))
        check(st == 400, "HTTP/1.0 upgrade -> 400 (got %s)" % st)

        for line in (b"HELLO\r\n\r\n", b"GET\r\n\r\n", b"GET /x HTTX/1.1\r\n\r\n",
                     b"GET  /x HTTP/1.1\r\n\r\n", b"GET /x HTTP/1.1 y\r\n\r\n"):
            st, _, _ = request(srv, line)
            check(st == 400, "malformed request line %r -> 400 (got %s)"
                  % (line, st))
        # the server is still fine
        r = raw(srv)
        r.send_frame(OP_TEXT, b"still")
        check(echo_of(r) == "still", "echo after the bad handshakes")
        r.close()


def test_header_size():
    with Server(PGWS_MAX_HEADER_SIZE=1024) as srv:
        big = "".join("X-Pad-%02d: %s\r\n" % (i, "a" * 90) for i in range(20))
        st, _, _ = request(srv, upgrade_request(PATH, new_key(), big))
        check(st == 431, "2000 bytes of headers, limit 1024 -> 431 (got %s)" % st)
        # the same without an upgrade
        st, _, _ = request(srv, ("GET /health HTTP/1.1\r\n%s\r\n" % big).encode())
        check(st == 431, "plain GET with 2000 bytes of headers -> 431 (got %s)" % st)

        def sized(total):
            k = new_key()
            req = upgrade_request(PATH, k, "X-Pad: \r\n")
            pad = total - len(req)
            return upgrade_request(PATH, k, "X-Pad: %s\r\n" % ("a" * pad)), k

        req, k = sized(1024)
        check(len(req) == 1024, "request head built at exactly 1024 bytes")
        st, h, _ = request(srv, req)
        check(st == 101 and hdr(h, "sec-websocket-accept") == accept_for(k),
              "head of exactly PGWS_MAX_HEADER_SIZE bytes -> 101 (got %s)" % st)
        req, k = sized(1025)
        st, _, _ = request(srv, req)
        check(st == 431, "head of limit+1 bytes -> 431 (got %s)" % st)


# ---------------------------------------------------------------- 2 framing

def test_framing_errors():
    with Server() as srv:
        r = raw(srv)
        r.send_frame(OP_TEXT, b"hi", mask=False)
        expect_fail(r, 1002, "unmasked client frame")

        for rsv in (4, 2, 1):
            r = raw(srv)
            r.send_frame(OP_TEXT, b"hi", rsv=rsv)
            expect_fail(r, 1002, "RSV bits %d set" % rsv)

        for op in (3, 7, 11, 15):
            r = raw(srv)
            r.send_frame(op, b"x")
            expect_fail(r, 1002, "reserved opcode %d" % op)

        r = raw(srv)
        r.send_frame(OP_PING, b"p" * 126)
        expect_fail(r, 1002, "ping with a 126-byte payload")
        r = raw(srv)
        r.send_frame(OP_CLOSE, b"\x03\xe8" + b"r" * 124)
        expect_fail(r, 1002, "close with a 126-byte payload")
        r = raw(srv)
        r.send_frame(OP_PING, b"x", fin=False)
        expect_fail(r, 1002, "fragmented ping (fin=0)")
        r = raw(srv)
        r.send_frame(OP_PONG, b"x", fin=False)
        expect_fail(r, 1002, "fragmented pong (fin=0)")

        r = raw(srv)
        r.send_frame(OP_CONT, b"x")
        expect_fail(r, 1002, "CONT without a message")
        r = raw(srv)
        r.send_frame(OP_TEXT, b"a", fin=False)
        r.send_frame(OP_TEXT, b"b")
        expect_fail(r, 1002, "new TEXT inside a fragmented message")
        r = raw(srv)
        r.send_frame(OP_TEXT, b"a", fin=False)
        r.send_frame(OP_BIN, b"b")
        expect_fail(r, 1002, "new BINARY inside a fragmented message")

        r = raw(srv)
        send_hdr(r, 0x81, [126, 0, 5], b"hello")
        expect_fail(r, 1002, "length 5 encoded in 16 bits")
        r = raw(srv)
        send_hdr(r, 0x81, [127] + list((200).to_bytes(8, "big")), b"a" * 200)
        expect_fail(r, 1002, "length 200 encoded in 64 bits")
        r = raw(srv)
        send_hdr(r, 0x82, [127] + list((1 << 63 | 5).to_bytes(8, "big")), b"")
        expect_fail(r, 1002, "64-bit length with the top bit set")


def test_fragments_and_control():
    with Server() as srv:
        r = raw(srv)
        r.send_frame(OP_TEXT, b"Hel", fin=False)
        r.send_frame(OP_PING, b"mid")
        r.send_frame(OP_CONT, b"lo")
        f = r.recv_frame(5)
        check(f == (OP_PONG, b"mid"),
              "ping inside a fragmented message -> pong 'mid' first (got %r)" % (f,))
        check(echo_of(r) == "Hello", "fragments 'Hel'+'lo' echo as 'Hello'")

        r.send_frame(OP_PING, b"abc")
        check(r.recv_frame(5) == (OP_PONG, b"abc"), "ping 'abc' -> pong 'abc'")
        r.send_frame(OP_PING, b"")
        check(r.recv_frame(5) == (OP_PONG, b""), "empty ping -> empty pong")
        r.send_frame(OP_PING, bytes(range(125)))
        check(r.recv_frame(5) == (OP_PONG, bytes(range(125))),
              "125-byte binary ping -> same pong")

        r.send_frame(OP_PONG, b"unsolicited")
        r.send_frame(OP_TEXT, b"after pong")
        check(echo_of(r) == "after pong", "unsolicited pong ignored")

        e = "é".encode()
        r.send_frame(OP_TEXT, b"caf" + e[:1], fin=False)
        r.send_frame(OP_CONT, e[1:])
        check(echo_of(r) == "café", "'é' split across fragments echoes intact")
        g = "😀".encode()
        r.send_frame(OP_TEXT, g[:1], fin=False)
        r.send_frame(OP_CONT, g[1:3], fin=False)
        r.send_frame(OP_PING, b"x")
        r.send_frame(OP_CONT, b"", fin=False)
        r.send_frame(OP_CONT, g[3:] + b"!")
        f = r.recv_frame(5)
        check(f == (OP_PONG, b"x"), "pong inside a split emoji")
        check(echo_of(r) == "😀!", "'😀' split over 4 fragments echoes intact")

        r.send_frame(OP_BIN, "bin é".encode())
        check(echo_of(r) == "bin é", "binary frame with valid UTF-8 echoes as text")
        r.send_frame(OP_BIN, b"bi", fin=False)
        r.send_frame(OP_CONT, b"n2")
        check(echo_of(r) == "bin2", "fragmented binary with valid UTF-8 echoes")
        r.send_frame(OP_TEXT, b"")
        check(echo_of(r) == "", "empty text message echoes")
        r.send_frame(OP_TEXT, b'q"\\\n\t\x01/<')
        check(echo_of(r) == 'q"\\\n\t\x01/<', "JSON specials in payload echo intact")
        r.close()


def frame_bytes(opcode, payload, fin=True):
    """One masked client frame as bytes."""
    n = len(payload)
    b0 = (0x80 if fin else 0) | opcode
    if n < 126:
        h = bytes([b0, 0x80 | n])
    elif n < 65536:
        h = bytes([b0, 0x80 | 126]) + n.to_bytes(2, "big")
    else:
        h = bytes([b0, 0x80 | 127]) + n.to_bytes(8, "big")
    key = os.urandom(4)
    return h + key + bytes(c ^ key[i % 4] for i, c in enumerate(payload))


def test_stream_boundaries():
    with Server() as srv:
        # frames in the same write as the upgrade request
        s = socket.create_connection(("127.0.0.1", srv.port), timeout=5)
        s.sendall(upgrade_request(PATH) + frame_bytes(OP_PING, b"early") +
                  frame_bytes(OP_TEXT, b"with the head"))
        r = Raw.__new__(Raw)
        r.s = s
        st, _, _, r.buf = read_head(s)
        check(st == 101, "upgrade with frames in the same write -> 101")
        check(r.recv_frame(5) == (OP_PONG, b"early"),
              "ping sent with the head answered")
        check(echo_of(r) == "with the head", "text sent with the head echoed")

        # many frames in one write, echoed in order
        msgs = ["m%03d" % i for i in range(50)]
        r.s.sendall(b"".join(frame_bytes(OP_TEXT, m.encode()) for m in msgs))
        got = [echo_of(r) for _ in msgs]
        check(got == msgs, "50 messages in one write echoed in order (%r...)"
              % got[:3])

        # one frame trickled byte by byte (16-bit length, mask split)
        r.s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        text = ("x" * 150 + "é").encode()
        for i, c in enumerate(frame_bytes(OP_TEXT, text)):
            r.s.sendall(bytes([c]))
            if i < 12 or i % 16 == 0:
                time.sleep(0.005)
        check(echo_of(r) == "x" * 150 + "é", "frame sent byte by byte echoed")
        r.close()


def test_utf8_errors():
    with Server() as srv:
        r = raw(srv)
        r.send_frame(OP_TEXT, b"ab\xffcd")
        expect_fail(r, 1007, "invalid UTF-8 text")
        r = raw(srv)
        r.send_frame(OP_TEXT, b"ab\xc0\xafcd")
        expect_fail(r, 1007, "overlong '/' in text")
        r = raw(srv)
        r.send_frame(OP_TEXT, b"\xed\xa0\x80")
        expect_fail(r, 1007, "UTF-16 surrogate in text")
        r = raw(srv)
        r.send_frame(OP_TEXT, b"\xf4\x90\x80\x80")
        expect_fail(r, 1007, "code point above U+10FFFF")
        r = raw(srv)
        r.send_frame(OP_TEXT, b"ok\xc3")
        expect_fail(r, 1007, "text ending inside a UTF-8 sequence")
        r = raw(srv)
        r.send_frame(OP_TEXT, b"ok\xc3", fin=False)
        r.send_frame(OP_CONT, b"")
        expect_fail(r, 1007, "fragmented text ending inside a UTF-8 sequence")
        r = raw(srv)
        r.send_frame(OP_TEXT, b"fine\xff", fin=False)
        expect_fail(r, 1007, "bad byte in the FIRST fragment (rest never sent)")
        r = raw(srv)
        r.send_frame(OP_TEXT, b"fine\xe2\x82", fin=False)
        r.send_frame(OP_CONT, b"x", fin=False)
        expect_fail(r, 1007, "bad continuation in a later fragment (no fin)")

        r = raw(srv)
        r.send_frame(OP_BIN, b"\x00\xff\xfe")
        expect_fail(r, 1003, "binary with invalid UTF-8")
        r = raw(srv)
        r.send_frame(OP_BIN, b"ok", fin=False)
        r.send_frame(OP_CONT, b"\xff")
        expect_fail(r, 1003, "fragmented binary with invalid UTF-8")


def test_message_size():
    with Server(PGWS_MAX_MESSAGE_SIZE=1000) as srv:
        r = raw(srv)
        r.send_frame(OP_TEXT, b"a" * 1000)
        check(echo_of(r) == "a" * 1000, "message of exactly the limit accepted")
        r.send_frame(OP_TEXT, b"b" * 500, fin=False)
        r.send_frame(OP_PING, b"p")
        r.send_frame(OP_CONT, b"b" * 500)
        check(echo_of(r) == "b" * 1000, "exactly the limit in 2 fragments accepted")
        r.send_frame(OP_TEXT, b"c" * 1001)
        expect_fail(r, 1009, "limit+1 in one frame")

        r = raw(srv)
        r.send_frame(OP_TEXT, b"d" * 600, fin=False)
        r.send_frame(OP_CONT, b"d" * 300, fin=False)
        r.send_frame(OP_CONT, b"d" * 101)
        expect_fail(r, 1009, "limit+1 spread over 3 fragments")

        r = raw(srv)
        r.send_frame(OP_TEXT, b"", fin=False, raw_len=1 << 40)
        expect_fail(r, 1009, "frame announcing 1 TiB (payload never sent)")

    with Server() as srv:
        # Under the message limit but over the NOTIFY payload limit.
        r = raw(srv)
        r.send_frame(OP_TEXT, b"e" * 7000)
        f = recv_data(r, 5)
        check(f is not None and f[0] == OP_TEXT and
              json.loads(f[1])["payload"] == "e" * 7000,
              "7000-byte message (envelope < 8000) echoes")
        r.send_frame(OP_TEXT, b"e" * 9000)
        expect_fail(r, 1009, "message whose envelope exceeds 8000 bytes", eof=False)


# ---------------------------------------------------------------- 3 close

def test_close_handshake():
    with Server() as srv:
        r = raw(srv)
        r.send_frame(OP_CLOSE, (1000).to_bytes(2, "big") + b"bye")
        f = r.recv_frame(3)
        check(f is not None and f[0] == OP_CLOSE and f[1][:2] == b"\x03\xe8",
              "close 1000 'bye' echoed with 1000 (got %r)" % (f,))
        check(sock_gone(r.s, 3), "TCP closed after the close echo")
        r.close()

        r = raw(srv)
        r.send_frame(OP_CLOSE, b"")
        f = r.recv_frame(3)
        check(f is not None and f[0] == OP_CLOSE and f[1] == b"",
              "empty close -> empty close echo, never 1005 (got %r)" % (f,))
        check(sock_gone(r.s, 3), "TCP closed after the empty close echo")
        r.close()

        r = raw(srv)
        r.send_frame(OP_CLOSE, b"\x03")
        expect_fail(r, 1002, "1-byte close payload")

        for code in (0, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999,
                     5000, 65535):
            r = raw(srv)
            r.send_frame(OP_CLOSE, code.to_bytes(2, "big"))
            expect_fail(r, 1002, "close code %d" % code)

        for code in (1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011,
                     3000, 3999, 4000, 4999):
            r = raw(srv)
            r.send_frame(OP_CLOSE, code.to_bytes(2, "big") + b"why")
            f = r.recv_frame(3)
            check(f is not None and f[0] == OP_CLOSE and
                  int.from_bytes(f[1][:2], "big") == code,
                  "close code %d echoed (got %r)" % (code, f))
            check(sock_gone(r.s, 3), "TCP closed after echoing %d" % code)
            r.close()

        r = raw(srv)
        r.send_frame(OP_CLOSE, (1000).to_bytes(2, "big") + b"\xff\xfe")
        expect_fail(r, 1007, "close reason with invalid UTF-8")

        # A close in the middle of a fragmented message is still answered.
        r = raw(srv)
        r.send_frame(OP_TEXT, b"part", fin=False)
        r.send_frame(OP_CLOSE, (1000).to_bytes(2, "big"))
        check(r.recv_close(3) == 1000, "close inside a fragmented message echoed")
        r.close()


def test_server_close():
    with Server(PGWS_CLOSE_TIMEOUT=1) as srv:
        # Error close: the connection is failed and the TCP closed, at the
        # latest after the close timeout, when the client does not answer.
        r = raw(srv)
        t = time.time()
        r.send_frame(OP_TEXT, b"\xff")
        check(r.recv_close(3) == 1007, "invalid UTF-8 -> 1007")
        check(sock_gone(r.s, 3) and time.time() - t < 3,
              "no close answer: TCP closed within 3 s (PGWS_CLOSE_TIMEOUT=1)")
        r.close()

        # Clean server close (envelope too big -> 1009): the server waits
        # for the client's close; data frames sent meanwhile are ignored.
        watch = raw(srv)
        r = raw(srv)
        r.send_frame(OP_TEXT, b"e" * 9000)
        check(r.recv_close(3) == 1009, "envelope > 8000 bytes -> 1009")
        r.send_frame(OP_TEXT, b"after close")
        r.send_frame(OP_PING, b"late")
        f = watch.recv_frame(1.5)
        check(f is None, "text sent after the server's close is not published (got %r)"
              % (f,))
        f = r.recv_frame(0.3)
        check(f is None, "nothing (no echo, no pong) after the server's close (got %r)"
              % (f,))
        r.send_frame(OP_CLOSE, (1000).to_bytes(2, "big"))
        check(sock_gone(r.s, 1), "client's close answer -> TCP closed at once")
        r.close()

        r = raw(srv)
        r.send_frame(OP_TEXT, b"e" * 9000)
        t = time.time()
        check(r.recv_close(3) == 1009, "1009 again")
        gone = sock_gone(r.s, 4)
        dt = time.time() - t
        check(gone and dt < 3, "unanswered server close: TCP closed after the "
              "close timeout (%.1fs)" % dt)
        r.close()
        watch.send_frame(OP_TEXT, b"watch ok")
        check(echo_of(watch) == "watch ok", "other connection unaffected")
        watch.close()


# ---------------------------------------------------------------- 4 keep-alive

async def test_keepalive():
    with Server(PGWS_PING_INTERVAL=1) as srv:
        loop = asyncio.get_running_loop()

        def silent():
            r = Raw(srv.port, PATH)
            t = time.time()
            pings = 0
            while time.time() - t < 6:
                f = r.recv_frame(6 - (time.time() - t))
                if f is None:
                    break
                if f[0] == OP_PING:
                    pings += 1
            dt = time.time() - t
            r.close()
            return r.status, pings, dt

        fut = loop.run_in_executor(None, silent)
        async with websockets.connect(srv.url + PATH, ping_interval=None,
                                      open_timeout=5, close_timeout=2) as ws:
            await asyncio.sleep(3.2)
            check(not ws.closed, "websockets client answering pings still "
                  "connected after 3 s")
            await ws.send("alive")
            m = await asyncio.wait_for(ws.recv(), 5)
            check(json.loads(m)["payload"] == "alive",
                  "websockets client still gets its echo after 3 s")
        st, pings, dt = await fut
        check(st == 101 and pings >= 1, "server pings every second (%d pings)" % pings)
        check(dt < 3.5, "silent raw client dropped after ~2 intervals (%.1fs)" % dt)


# ---------------------------------------------------------------- 5 slow reader

NOTIFY_SQL = ("SELECT count(pg_notify('postgres-websockets-listener', "
              "json_build_object('channel','chat','payload',repeat('x',1000),"
              "'i',g)::text)) FROM generate_series(%d,%d) g")


async def test_slow_reader():
    with Server(PGWS_MAX_PENDING=65536, PGWS_MAX_PENDING_HARD=65536) as srv:
        slow = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        slow.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        slow.settimeout(5)
        slow.connect(("127.0.0.1", srv.port))
        slow.sendall(upgrade_request(PATH))
        st, _, _, _ = read_head(slow, 5)
        check(st == 101, "slow reader upgraded")

        async with websockets.connect(srv.url + PATH, ping_interval=None,
                                      max_size=None, max_queue=None,
                                      open_timeout=5, close_timeout=2) as ws:
            # make sure both are subscribed
            await ws.send("ready")
            m = await asyncio.wait_for(ws.recv(), 5)
            check(json.loads(m)["payload"] == "ready", "fast reader subscribed")
            seen = set()

            async def batch(lo, hi):
                # Bursts of 50 x 1 KB: each fits in the limit, so a reader
                # that keeps up is never dropped, while one that stopped
                # reading passes the limit after a few bursts.
                ok = True
                for a in range(lo, hi + 1, 50):
                    b = min(a + 49, hi)
                    res = await asyncio.to_thread(psql, NOTIFY_SQL % (a, b))
                    ok = ok and res.returncode == 0
                    try:
                        while len(seen) < b:
                            m = await asyncio.wait_for(ws.recv(), 10)
                            seen.add(json.loads(m)["i"])
                    except (asyncio.TimeoutError, websockets.ConnectionClosed) as e:
                        print("   fast reader stopped: %r" % (e,))
                        break
                check(ok, "psql sent notifications %d..%d" % (lo, hi))
                check(len(seen) == hi, "fast reader received all %d (got %d)"
                      % (hi, len(seen)))

            # 2000 x ~1 KB: 2 MB for a reader whose limit is 64 KiB
            await batch(1, 2000)
            check("slow reader" in srv.log(),
                  "slow reader dropped after 2000 x 1 KB with PGWS_MAX_PENDING"
                  "=65536 (the kernel send buffer must not extend the limit)")
            # 2000 more: the fast reader is unaffected by the drop
            await batch(2001, 4000)
        check("slow reader" in srv.log(), "pgws logged the slow reader")
        got = await asyncio.to_thread(sock_gone, slow, 15)
        check(got, "slow reader's socket ends with EOF/reset")
        slow.close()


# ---------------------------------------------------------------- 6 timeouts

def test_handshake_timeout():
    with Server(PGWS_HANDSHAKE_TIMEOUT=1) as srv:
        s = socket.create_connection(("127.0.0.1", srv.port), timeout=5)
        t = time.time()
        s.sendall(b"GET /chat/" + TOK.encode() + b" HTTP/1.1\r\nHost: x\r\n")
        gone = sock_gone(s, 4)
        dt = time.time() - t
        check(gone and dt < 2.5, "half a request head closed within ~2 s (%.1fs)"
              % dt)
        s.close()

        # trickling bytes does not extend the deadline
        s = socket.create_connection(("127.0.0.1", srv.port), timeout=5)
        t = time.time()
        req = upgrade_request(PATH)
        closed = False
        for i in range(len(req) - 1):
            try:
                s.sendall(req[i:i + 1])
            except (BrokenPipeError, ConnectionResetError):
                closed = True
                break
            if sock_gone(s, 0.1):
                closed = True
                break
            if time.time() - t > 4:
                break
        dt = time.time() - t
        check(closed and dt < 2.5, "slowloris trickle closed within ~2 s (%.1fs)" % dt)
        s.close()

        # an idle keep-alive connection is closed too
        s = socket.create_connection(("127.0.0.1", srv.port), timeout=5)
        s.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        st, _, _ = read_response(s)
        t = time.time()
        check(st == 200 and sock_gone(s, 4) and time.time() - t < 2.5,
              "idle keep-alive connection closed after the timeout")
        s.close()

        r = raw(srv)
        r.send_frame(OP_TEXT, b"fresh")
        check(echo_of(r) == "fresh", "fresh client works after the timeouts")
        time.sleep(1.5)
        r.send_frame(OP_TEXT, b"later")
        check(echo_of(r) == "later",
              "an open websocket is not hit by the handshake timeout")
        r.close()


def test_max_connections():
    with Server(PGWS_MAX_CONNECTIONS=3) as srv:
        socks = []
        for i in range(3):
            s = socket.create_connection(("127.0.0.1", srv.port), timeout=5)
            s.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
            st, _, _ = read_response(s)
            check(st == 200, "connection %d accepted (keep-alive /health %s)"
                  % (i + 1, st))
            socks.append(s)
        s4 = socket.create_connection(("127.0.0.1", srv.port), timeout=5)
        t = time.time()
        check(sock_gone(s4, 2) and time.time() - t < 1.5,
              "4th connection closed at once")
        s4.close()
        socks.pop(0).close()
        time.sleep(0.3)
        r = raw(srv)
        r.send_frame(OP_TEXT, b"room again")
        check(echo_of(r) == "room again", "after closing one, a new one works")
        r.close()
        for s in socks:
            s.close()


# ---------------------------------------------------------------- 8 SIGTERM

async def test_sigterm():
    srv = Server()
    try:
        a = await websockets.connect(srv.url + PATH, ping_interval=None,
                                     open_timeout=5, close_timeout=2)
        b = await websockets.connect(srv.url + "/" + TOK, ping_interval=None,
                                     open_timeout=5, close_timeout=2)
        await a.send("x")
        for w in (a, b):
            m = await asyncio.wait_for(w.recv(), 5)
            check(json.loads(m)["payload"] == "x", "subscribed before SIGTERM")
        t = time.time()
        rc = await asyncio.to_thread(srv.stop)
        dt = time.time() - t
        for name, w in (("first", a), ("second", b)):
            try:
                await asyncio.wait_for(w.wait_closed(), 5)
            except asyncio.TimeoutError:
                pass
            check(w.close_code == 1001, "%s websocket got close 1001 (got %s)"
                  % (name, w.close_code))
        check(rc == 0 and dt < 4, "pgws exited 0 promptly once clients "
              "answered (%.1fs)" % dt)
    finally:
        if not srv.stopped:
            srv.stop()


# ---------------------------------------------------------------- 9 HTTP

def test_http_keepalive():
    with Server() as srv:
        s = socket.create_connection(("127.0.0.1", srv.port), timeout=5)
        s.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        st1, _, _ = read_response(s)
        s.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        st2, _, _ = read_response(s)
        check(st1 == 200 and st2 == 200,
              "two GET /health on one connection (%s, %s)" % (st1, st2))
        s.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        st5, h5, _ = read_response(s)
        check(st5 == 200, "Connection: close request answered")
        check(sock_gone(s, 3), "server closes after a Connection: close response")
        s.close()

        # pipelined: three requests in one write, the last one closing
        s = socket.create_connection(("127.0.0.1", srv.port), timeout=5)
        s.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n"
                  b"HEAD /health HTTP/1.1\r\nHost: x\r\n\r\n"
                  b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        out, eof = b"", False
        s.settimeout(3)
        try:
            while True:
                b = s.recv(65536)
                if not b:
                    eof = True
                    break
                out += b
        except (socket.timeout, ConnectionResetError):
            pass
        s.close()
        check(out.count(b"HTTP/1.1 200") == 3 and eof,
              "three pipelined requests answered, then closed (%d answers, eof %s)"
              % (out.count(b"HTTP/1.1 200"), eof))

        s = socket.create_connection(("127.0.0.1", srv.port), timeout=5)
        s.sendall(b"GET /health HTTP/1.0\r\n\r\n")
        st, _, _ = read_response(s)
        check(st == 200 and sock_gone(s, 3), "HTTP/1.0 request: answered then closed")
        s.close()

        s = socket.create_connection(("127.0.0.1", srv.port), timeout=5)
        s.sendall(b"DELETE /health HTTP/1.1\r\nHost: x\r\n\r\n")
        st, h, _ = read_response(s)
        check(st == 405, "DELETE -> 405 (got %s)" % st)
        check(hdr(h, "allow") == "GET, HEAD, POST", "405 has Allow: GET, HEAD, POST (got %r)"
              % hdr(h, "allow"))
        s.close()

        # upgrade after a plain request on the same connection
        s = socket.create_connection(("127.0.0.1", srv.port), timeout=5)
        s.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        st, _, _ = read_response(s)
        k = new_key()
        s.sendall(upgrade_request(PATH, k))
        st2, h2, _, _ = read_head(s)
        check(st == 200 and st2 == 101 and
              hdr(h2, "sec-websocket-accept") == accept_for(k),
              "upgrade after a keep-alive request on one connection (%s, %s)"
              % (st, st2))
        s.close()


def read_all(s, timeout=3):
    """Everything s sends until it closes or is quiet for timeout; (bytes, eof)."""
    out, eof = b"", False
    s.settimeout(timeout)
    try:
        while True:
            b = s.recv(65536)
            if not b:
                eof = True
                break
            out += b
    except (socket.timeout, ConnectionResetError):
        pass
    return out, eof


def test_request_framing():
    """Issue 15 item 8: conflicting Content-Length and a missing Host are 400."""
    with Server() as srv:
        # "First wins" would answer two requests here: the second one hidden
        # in what the other Content-Length calls a body.
        s = socket.create_connection(("127.0.0.1", srv.port), timeout=5)
        s.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n"
                  b"Content-Length: 34\r\n\r\n"
                  b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        out, eof = read_all(s)
        s.close()
        check(out.startswith(b"HTTP/1.1 400") and out.count(b"HTTP/1.1") == 1
              and eof, "two different Content-Length -> one 400, then closed "
              "(got %r, eof %s)" % (out[:60], eof))
        for raw, want, what in (
                (b"GET /health HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n"
                 b"Content-Length: 0\r\n\r\n", 200, "the same Content-Length twice"),
                (b"GET /health HTTP/1.1\r\nHost: x\r\nContent-Length: 0, 0\r\n\r\n",
                 200, "Content-Length: 0, 0"),
                (b"GET /health HTTP/1.1\r\nHost: x\r\nContent-Length: 0, 1\r\n\r\n",
                 400, "Content-Length: 0, 1"),
                (b"GET /health HTTP/1.1\r\nHost: x\r\nContent-Length: -0\r\n\r\n",
                 400, "Content-Length: -0"),
                (b"GET /health HTTP/1.1\r\n\r\n", 400, "HTTP/1.1 without Host"),
                (b"GET /health HTTP/1.1\r\nHost: x\r\nHost: y\r\n\r\n", 400,
                 "two Host fields"),
                (b"GET /health HTTP/1.0\r\n\r\n", 200, "HTTP/1.0 without Host")):
            st, _, _ = request(srv, raw)
            check(st == want, "%s -> %d (got %s)" % (what, want, st))
        st, _, _ = request(srv, upgrade_request(PATH, new_key()).replace(
            b"Host: x\r\n", b"", 1))
        check(st == 400, "upgrade without Host -> 400 (got %s)" % st)


if __name__ == "__main__":
    if not os.environ.get("PGWS_TEST_URI"):
        sys.exit("PGWS_TEST_URI is not set (. tests/pg.sh && pg_start)")
    run(globals())
