"""The transports beside websockets (SPEC section 9, issue 16), against the
running binary and a real PostgreSQL: Server-Sent Events (raw socket and
curl -N), HTTP publish (curl and raw sockets, keep-alive and pipelining,
Expect: 100-continue, every refusal, the database down, the publish queue
full), the token as a Sec-WebSocket-Protocol entry, PGWS_ALLOWED_ORIGINS
(cookie, origin refusal, CORS and preflight), and tokens kept out of the
log whichever way they came.  Run by test.sh with PGWS_BIN and
PGWS_TEST_URI set."""
import asyncio
import json
import os
import re
import select
import socket
import subprocess
import sys
import time

import websockets
from harness import (BIN, URI, SECRET, Server, check, notify, parse_head,
                     psql, run, sock_gone, status_of, token, upgrade_request)

LISTEN = "postgres-websockets-listener"
COOKIE = "pgws_token"
GOOD = "http://good.example"
OTHER = "https://app.test:8443"
ORIGINS = GOOD + ", " + OTHER


# -- helpers ---------------------------------------------------------------

def hdr(h, name):
    v = h.get(name.lower())
    return v[0] if v else None


class Sse:
    """A raw text/event-stream reader: one GET, then the stream's blocks."""

    def __init__(self, port, path, headers="", rcvbuf=None, timeout=5,
                 accept="text/event-stream"):
        self.s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if rcvbuf:
            self.s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.s.settimeout(timeout)
        self.s.connect(("127.0.0.1", port))
        self.s.sendall(("GET %s HTTP/1.1\r\nHost: x\r\nAccept: %s\r\n%s\r\n"
                        % (path, accept, headers)).encode())
        self.buf = b""
        self.eof = False
        self.status, self.head, self.hdrs = 0, b"", {}
        self.comments = 0
        end = time.time() + timeout
        while b"\r\n\r\n" not in self.buf and self._fill(end):
            pass
        head, _, self.buf = self.buf.partition(b"\r\n\r\n")
        if head:
            self.head = head
            self.status, self.hdrs = parse_head(head)

    def _fill(self, end):
        if self.eof:
            return False
        self.s.settimeout(max(0.01, end - time.time()))
        try:
            b = self.s.recv(65536)
        except socket.timeout:
            return False
        except ConnectionResetError:
            b = b""
        if not b:
            self.eof = True
            return False
        self.buf += b
        return True

    def block(self, timeout=5):
        """The next block (bytes up to and with the empty line), or None at
        EOF or timeout."""
        end = time.time() + timeout
        while b"\n\n" not in self.buf:
            if not self._fill(end):
                return None
        blk, _, self.buf = self.buf.partition(b"\n\n")
        return blk + b"\n\n"

    def event_block(self, timeout=5):
        """The next block that is not a comment, counting the comments."""
        end = time.time() + timeout
        while True:
            b = self.block(max(0.01, end - time.time()))
            if b is None or not b.startswith(b":"):
                return b
            self.comments += 1

    def event(self, timeout=5):
        """The data of the next event as an EventSource delivers it."""
        b = self.event_block(timeout)
        if b is None:
            return None
        data = []
        for line in b.decode().split("\n"):
            if line.startswith("data:"):
                v = line[5:]
                data.append(v[1:] if v.startswith(" ") else v)
        return "\n".join(data)

    def body(self, timeout=3):
        """The body of a refusal (Content-Length bytes), stripped."""
        n = int(hdr(self.hdrs, "content-length") or 0)
        end = time.time() + timeout
        while len(self.buf) < n and self._fill(end):
            pass
        return self.buf[:n].strip()

    def closed(self, timeout=5):
        """True when the server ends the stream within timeout."""
        end = time.time() + timeout
        while self._fill(end):
            pass
        return self.eof

    def close(self):
        self.s.close()


def post(s, path, body, headers="", close=True):
    """One POST on its own connection: (status, headers, body bytes)."""
    if isinstance(body, str):
        body = body.encode()
    raw = ("POST %s HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n%s%s\r\n"
           % (path, len(body), "Connection: close\r\n" if close else "",
              headers)).encode() + body
    resp = s.http(raw)
    head, _, rest = resp.partition(b"\r\n\r\n")
    st, h = parse_head(head)
    return st, h, rest


def post_request(path, body, headers=""):
    if isinstance(body, str):
        body = body.encode()
    return ("POST %s HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n%s\r\n"
            % (path, len(body), headers)).encode() + body


def read_responses(sock, n, timeout=10):
    """n responses read from sock, each (status, headers, body); fewer at
    EOF or timeout."""
    out, buf = [], b""
    end = time.time() + timeout
    while len(out) < n:
        if b"\r\n\r\n" in buf:
            head, _, rest = buf.partition(b"\r\n\r\n")
            st, h = parse_head(head)
            cl = int(hdr(h, "content-length") or 0)
            if len(rest) >= cl:
                out.append((st, h, rest[:cl]))
                buf = rest[cl:]
                continue
        sock.settimeout(max(0.01, end - time.time()))
        try:
            b = sock.recv(65536)
        except (socket.timeout, ConnectionResetError):
            break
        if not b:
            break
        buf += b
    return out


def curl(*args, timeout=20):
    p = subprocess.run(["curl", "-s", "-S"] + list(args), capture_output=True,
                       timeout=timeout)
    return p.returncode, p.stdout.decode(errors="replace"), p.stderr.decode(errors="replace")


def curl_post(url, data, *extra):
    """curl --data-binary: (http status, body)."""
    rc, out, err = curl("-w", "\n%{http_code}", "--data-binary", data, *extra, url)
    body, _, code = out.rpartition("\n")
    return int(code or 0), body


def metric(s, name):
    r = s.http(b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").decode()
    m = re.search(r"^%s (\d+(?:\.\d+)?)$" % re.escape(name), r, re.M)
    return float(m.group(1)) if m else None


def payload_of(text):
    try:
        return json.loads(text)["payload"]
    except (ValueError, KeyError, TypeError):
        return None


async def recv_json(ws, timeout=5):
    return json.loads(await asyncio.wait_for(ws.recv(), timeout))


async def nothing(ws, timeout=0.7):
    try:
        m = await asyncio.wait_for(ws.recv(), timeout)
        return "got %r" % m
    except asyncio.TimeoutError:
        return True


# -- Server-Sent Events ----------------------------------------------------

async def test_sse_framing():
    with Server() as s:
        # /<jwt>: both channels of the token, the second named like the
        # listen channel, where text that is not JSON goes.
        tok = token({"mode": "r", "channels": ["sse", LISTEN]})
        e = Sse(s.port, "/" + tok)
        check(e.status == 200, "sse: 200 (got %s %r)" % (e.status, e.head[:200]))
        check((hdr(e.hdrs, "content-type") or "").startswith("text/event-stream"),
              "sse: Content-Type text/event-stream (%r)" % hdr(e.hdrs, "content-type"))
        check(hdr(e.hdrs, "cache-control") == "no-cache", "sse: Cache-Control: no-cache")
        check(hdr(e.hdrs, "content-length") is None, "sse: no Content-Length on a stream")
        rd = await websockets.connect(s.url + "/sse/" + token({"mode": "r", "channel": "sse"}))
        p1 = json.dumps({"channel": "sse", "payload": "one"})
        notify(p1)
        b = e.event_block()
        check(b == b"data: " + p1.encode() + b"\n\n", "sse: one event per message (%r)" % b)
        check(await asyncio.wait_for(rd.recv(), 5) == p1, "sse: the websocket reader got the same")
        # JSON may hold raw line ends between its tokens: CRLF, CR, LF.
        p2 = '{"channel":"sse",\r\n"a":1,\r"b":2\n}'
        notify(p2)
        b = e.event_block()
        check(b == b'data: {"channel":"sse",\ndata: "a":1,\ndata: "b":2\ndata: }\n\n',
              "sse: CRLF, CR and LF each end a data line (%r)" % b)
        check(await asyncio.wait_for(rd.recv(), 5) == p2, "sse: the websocket got it unchanged")
        # Text that is not JSON goes to the channel named like the listen channel.
        for text, want in (("l1\nl2\r\nl3\rl4", b"data: l1\ndata: l2\ndata: l3\ndata: l4\n\n"),
                           ("end\n", b"data: end\ndata: \n\n"),
                           ("a\n\nb", b"data: a\ndata: \ndata: b\n\n"),
                           ("\u00fcn\u00efc\u00f8d\u00e9 \u2713", "data: \u00fcn\u00efc\u00f8d\u00e9 \u2713\n\n".encode())):
            notify(text)
            b = e.event_block()
            check(b == want, "sse: payload %r framed as %r (got %r)" % (text, want, b))
        notify("x\r\ny")
        check(e.event() == "x\ny", "sse: an EventSource reads CRLF as LF")
        # A websocket writer's message arrives as its envelope, as on a websocket.
        wr = await websockets.connect(s.url + "/sse/" + token({"mode": "w", "channel": "sse", "u": "w"}))
        await wr.send("from a websocket")
        got = e.event()
        ws_got = await asyncio.wait_for(rd.recv(), 5)
        check(got == ws_got and json.loads(got)["payload"] == "from a websocket",
              "sse: a websocket message arrives with the same envelope (%r)" % got)
        e.close()
        for w in (rd, wr):
            await w.close()


async def test_sse_token_forms():
    with Server() as s:
        streams = [
            ("/<jwt>", Sse(s.port, "/" + token({"mode": "rw", "channels": ["f1", "f2"]}))),
            ("Authorization", Sse(s.port, "/f1", "Authorization: Bearer %s\r\n"
                                  % token({"mode": "r", "channel": "f1"}))),
            ("query and HTTP/1.1 keep-alive", Sse(s.port, "/f2/" + token({"mode": "r"}) + "?x=1")),
        ]
        for what, e in streams:
            check(e.status == 200, "sse %s: 200 (%s %r)" % (what, e.status, e.head[:120]))
        notify(json.dumps({"channel": "f1", "payload": 1}))
        notify(json.dumps({"channel": "f2", "payload": 2}))
        a = [streams[0][1].event(), streams[0][1].event()]
        check([json.loads(x)["payload"] for x in a if x] == [1, 2],
              "sse /<jwt>: every channel of the token (%r)" % a)
        b = streams[1][1].event()
        check(b and json.loads(b)["payload"] == 1, "sse Authorization: its channel (%r)" % b)
        c = streams[2][1].event()
        check(c and json.loads(c)["payload"] == 2, "sse: path channel granted by a token without claims (%r)" % c)
        for _, e in streams:
            e.close()
        # An Accept list with parameters still asks for the stream.
        e = Sse(s.port, "/f1/" + token({"mode": "r", "channel": "f1"}),
                accept="text/html;q=0.5, text/event-stream;q=1")
        check(e.status == 200 and (hdr(e.hdrs, "content-type") or "").startswith("text/event-stream"),
              "sse: Accept list with q values (%s)" % e.status)
        e.close()


async def test_sse_meta_events():
    with Server(PGWS_META_CHANNEL="server-info") as s:
        meta = await websockets.connect(s.url + "/server-info/" +
                                        token({"mode": "r", "channel": "server-info"}))
        m = await recv_json(meta)
        check(m["event"] == "ConnectionOpen", "meta: the meta reader's own open")
        e = Sse(s.port, "/" + token({"mode": "r", "channels": ["m1", "m2"], "who": "sse"}))
        m = await recv_json(meta)
        check(m["event"] == "ConnectionOpen" and m["payload"] == "m1,m2" and
              m["claims"]["who"] == "sse", "meta: a stream publishes ConnectionOpen (%r)" % m)
        check(metric(s, "pgws_sse_streams") == 1, "meta: one stream counted")
        e.close()
        m = await recv_json(meta)
        check(m["event"] == "ConnectionClose" and m["payload"] == "m1,m2",
              "meta: and ConnectionClose when it ends (%r)" % m)
        await meta.close()


def test_sse_refusals():
    with Server() as s:
        now = int(time.time())
        for path, want, what in (
                ("/c/" + token({"mode": "w", "channel": "c"}), 403, "mode w cannot read"),
                ("/c/" + token({"mode": "r", "channel": "d"}), 403, "channel not granted"),
                ("/c/" + token({"mode": "r", "channel": "c"}, secret="wrong"), 401, "bad signature"),
                ("/c/" + token({"mode": "r", "channel": "c", "exp": now - 5}), 401, "expired"),
                ("/c/" + token({"channel": "c"}), 401, "missing mode"),
                ("/c", 401, "no token")):
            e = Sse(s.port, path)
            body = e.buf.decode(errors="replace")
            check(e.status == want and "text/plain" in (hdr(e.hdrs, "content-type") or ""),
                  "sse refused, %s: %d text/plain (got %s %r)" % (what, want, e.status, body[:60]))
            e.close()
        e = Sse(s.port, "/c/" + token({"mode": "r", "channel": "c", "exp": now - 5}))
        body = e.body()
        check(body == b"Token expired", "sse: the reason is the body, as for the upgrade (%r)" % body)
        e.close()
        check(metric(s, "pgws_sse_streams") == 0, "sse: no stream counted after refusals")


def test_sse_keepalive_and_exp():
    with Server(PGWS_PING_INTERVAL=1) as s:
        # exp leaves room for the 3 s below and a notification after them
        # (int() may take up to a second off).
        exp = int(time.time()) + 7
        e = Sse(s.port, "/k/" + token({"mode": "r", "channel": "k", "exp": exp}))
        check(e.status == 200, "keep-alive: stream open")
        t = time.time()
        # Never a byte from the client: an SSE reader cannot answer pings,
        # so two silent intervals do not drop it.
        n = 0
        while time.time() - t < 3.2:
            b = e.block(0.5)
            if b is not None and b.startswith(b":"):
                n += 1
        check(2 <= n <= 5, "keep-alive: a comment about every second for 3 s (%d)" % n)
        check(not e.eof, "keep-alive: a silent SSE reader is not dropped like a silent websocket")
        notify(json.dumps({"channel": "k", "payload": "still here"}))
        m = e.event()
        check(m and json.loads(m)["payload"] == "still here", "keep-alive: events still arrive")
        ended = e.closed(exp - time.time() + 3)
        dt = time.time() - exp
        check(ended and -0.6 < dt < 2.0, "exp: the stream ends at the token's exp (%.2f s after)" % dt)
        e.close()
        check(metric(s, "pgws_sse_streams") == 0, "exp: the stream is no longer counted")


def test_sse_slow_reader():
    with Server(PGWS_MAX_PENDING=65536, PGWS_MAX_PENDING_HARD=65536) as s:
        slow = Sse(s.port, "/slow/" + token({"mode": "r", "channel": "slow"}), rcvbuf=4096)
        fast = Sse(s.port, "/slow/" + token({"mode": "r", "channel": "slow"}))
        check(slow.status == 200 and fast.status == 200, "slow: two streams open")
        sql = ("SELECT count(pg_notify('%s', json_build_object('channel','slow',"
               "'payload',repeat('x',1000),'i',g)::text)) FROM generate_series(%d,%d) g")
        seen = 0
        ok = True
        for a in range(1, 2001, 50):
            r = psql(sql % (LISTEN, a, a + 49))
            ok = ok and r.returncode == 0
            while seen < a + 49:
                m = fast.event(10)
                if m is None:
                    break
                if json.loads(m)["i"] == seen + 1:
                    seen += 1
                else:
                    ok = False
                    break
        check(ok and seen == 2000, "slow: the fast stream got all 2000 in order (%d)" % seen)
        check("slow reader" in s.log(), "slow: pgws logged the slow reader")
        check(sock_gone(slow.s, 15), "slow: the stalled stream was ended")
        check((metric(s, "pgws_slow_clients_dropped_total") or 0) >= 1,
              "slow: counted in pgws_slow_clients_dropped_total")
        slow.close()
        fast.close()


def test_sse_curl():
    with Server() as s:
        url = "http://127.0.0.1:%d/cu/%s" % (s.port, token({"mode": "r", "channel": "cu"}))
        p = subprocess.Popen(["curl", "-N", "-s", "-H", "Accept: text/event-stream", url],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        got = b""
        try:
            t = time.time()
            i = 0
            while time.time() - t < 10 and got.count(b"\n\n") < 3:
                if i < 3:
                    notify(json.dumps({"channel": "cu", "payload": "m%d" % i}))
                    i += 1
                r, _, _ = select.select([p.stdout], [], [], 0.3)
                if r:
                    got += os.read(p.stdout.fileno(), 65536)
            # Printed while curl still runs: streamed, not buffered to the end.
            check(p.poll() is None, "curl -N: still connected while events print")
        finally:
            p.terminate()
            p.wait(5)
        events = [b for b in got.split(b"\n\n") if b and not b.startswith(b":")]
        check([payload_of(b[6:]) for b in events[:3]] == ["m0", "m1", "m2"],
              "curl -N: prints each event as it comes (%r)" % got[:300])


# -- HTTP publish ----------------------------------------------------------

async def test_publish_envelope():
    from test_bridge import LISTEN_PY
    with Server() as s:
        lp = subprocess.Popen([sys.executable, "-c", LISTEN_PY, URI, "2"],
                              stdout=subprocess.PIPE, text=True)
        check(lp.stdout.readline().strip() == "ready", "psql LISTEN ready")
        rd = await websockets.connect(s.url + "/p/" + token({"mode": "r", "channel": "p"}))
        tok = token({"mode": "w", "channel": "p", "user": "ann"})
        url = "http://127.0.0.1:%d/p/%s" % (s.port, tok)
        code, body = curl_post(url, "hello")
        check(code == 200, "publish: curl --data-binary gets 200 (%s %r)" % (code, body))
        try:
            ans = json.loads(body)
        except ValueError:
            ans = {}
        check(isinstance(ans.get("message_delivered_at"), float),
              "publish: JSON answer with message_delivered_at (%r)" % body)
        check(ans.get("channels") == ["p"], "publish: the answer names the channels (%r)" % body)
        m = await recv_json(rd)
        check(m == {"event": "WebsocketMessage", "channel": "p", "payload": "hello",
                    "claims": {"mode": "w", "channel": "p", "user": "ann",
                               "message_delivered_at": ans.get("message_delivered_at")}},
              "publish: the reader gets the websocket envelope (%r)" % m)
        # Through a websocket writer, for comparison: same shape.
        wr = await websockets.connect(s.url + "/p/" + tok)
        await wr.send("hello")
        w = await recv_json(rd)
        m["claims"].pop("message_delivered_at", None)
        w["claims"].pop("message_delivered_at", None)
        check(m == w, "publish: HTTP and websocket envelopes are the same")
        out = lp.communicate(timeout=60)[0].splitlines()
        check(len(out) == 2 and json.loads(out[0])["payload"] == "hello" and
              json.loads(out[0])["claims"]["message_delivered_at"] == ans.get("message_delivered_at"),
              "publish: psql LISTEN sees the same envelope (%r)" % out[:1])
        # Bodies are the text as sent: new lines, UTF-8, empty, form-looking.
        for text in ("line 1\nline 2\r\n", "\u00fcn\u00efc\u00f8d\u00e9 \u2713", "", "a=1&b=%20"):
            st, h, b = post(s, "/p/" + tok, text, "Content-Type: application/x-www-form-urlencoded\r\n")
            m = await recv_json(rd)
            check(st == 200 and m["payload"] == text, "publish: body %r kept as it is (%s)" % (text, st))
        # Authorization header; /<jwt> publishes once per granted channel.
        code, body = curl_post("http://127.0.0.1:%d/p" % s.port, "bearer",
                               "-H", "Authorization: Bearer " + tok)
        check(code == 200 and (await recv_json(rd))["payload"] == "bearer",
              "publish: token in the Authorization header (%s)" % code)
        rq = await websockets.connect(s.url + "/q/" + token({"mode": "r", "channel": "q"}))
        code, body = curl_post("http://127.0.0.1:%d/%s" % (s.port, token({"mode": "rw", "channels": ["p", "q"]})), "both")
        a, b = await recv_json(rd), await recv_json(rq)
        check(code == 200 and json.loads(body).get("channels") == ["p", "q"] and
              (a["channel"], a["payload"], b["channel"], b["payload"]) == ("p", "both", "q", "both"),
              "publish /<jwt>: once for each granted channel (%s %r)" % (code, body))
        check(metric(s, 'pgws_http_publish_total{code="200"}') == 7,
              "publish: pgws_http_publish_total counts the answers")
        for w in (rd, wr, rq):
            await w.close()


async def test_publish_refusals():
    with Server(PGWS_MAX_MESSAGE_SIZE=1000) as s:
        rd = await websockets.connect(s.url + "/r/" + token({"mode": "r", "channel": "r"}))
        w = token({"mode": "w", "channel": "r"})
        now = int(time.time())
        for path, body, extra, want, what in (
                ("/r/" + token({"mode": "r", "channel": "r"}), "x", "", 403, "mode r cannot write"),
                ("/s/" + w, "x", "", 403, "channel not granted"),
                ("/r/" + token({"mode": "w", "channel": "r"}, secret="wrong"), "x", "", 401, "bad signature"),
                ("/r/" + token({"mode": "w", "channel": "r", "exp": now - 9}), "x", "", 401, "expired"),
                ("/r", "x", "", 401, "no token"),
                ("/r/" + w, "y" * 1001, "", 413, "body above PGWS_MAX_MESSAGE_SIZE"),
                ("/r/" + w, b"\xff\xfe", "", 400, "not UTF-8"),
                ("/r/" + w, "x", "Expect: teapot\r\n", 417, "unknown expectation")):
            st, h, b = post(s, path, body, extra)
            check(st == want and "text/plain" in (hdr(h, "content-type") or ""),
                  "publish refused, %s: %d (got %s %r)" % (what, want, st, b[:80]))
        st, h, b = post(s, "/r/" + w, "y" * 1000)
        check(st == 200, "publish: a body of exactly PGWS_MAX_MESSAGE_SIZE is taken (%s)" % st)
        check((await recv_json(rd))["payload"] == "y" * 1000, "publish: and delivered")
        check(await nothing(rd) is True, "publish: no refused message was published")
        # Chunked bodies are not decoded: 411, and the connection closes.
        r = s.http(b"POST /r/" + w.encode() + b" HTTP/1.1\r\nHost: x\r\n"
                   b"Transfer-Encoding: chunked\r\n\r\n1\r\nx\r\n0\r\n\r\n")
        check(status_of(r) == 411, "publish: chunked body -> 411 (%s)" % status_of(r))
        # A Content-Length above the limit is refused before the body is read.
        sk = socket.create_connection(("127.0.0.1", s.port), timeout=5)
        sk.sendall(b"POST /r/" + w.encode() + b" HTTP/1.1\r\nHost: x\r\nContent-Length: 5000000\r\n\r\n")
        got = read_responses(sk, 1)
        check(got and got[0][0] == 413, "publish: Content-Length 5000000 -> 413 at once")
        check(sock_gone(sk, 3), "publish: and the connection is closed")
        sk.close()
        await rd.close()
    with Server() as s:
        # The envelope must fit PostgreSQL's NOTIFY limit, as for websockets (1009).
        w = token({"mode": "w", "channel": "r"})
        st, h, b = post(s, "/r/" + w, "z" * 7000)
        check(st == 200, "publish: 7000 bytes fit a NOTIFY (%s)" % st)
        st, h, b = post(s, "/r/" + w, "z" * 7990)
        check(st == 413 and b.strip(), "publish: an envelope past 7999 bytes -> 413 with a reason (%s %r)" % (st, b[:80]))


async def test_publish_order_pipelined():
    with Server() as s:
        rd = await websockets.connect(s.url + "/o/" + token({"mode": "r", "channel": "o"}))
        w = token({"mode": "w", "channel": "o"})
        sk = socket.create_connection(("127.0.0.1", s.port), timeout=10)
        # 60 requests in one write, then a GET on the same connection.
        sk.sendall(b"".join(post_request("/o/" + w, "m%d" % i) for i in range(60)) +
                   b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        res = read_responses(sk, 61, 20)
        check(len(res) == 61 and all(r[0] == 200 for r in res),
              "pipelined: 60 publishes and a GET answered 200 (%d, %s)"
              % (len(res), sorted(set(r[0] for r in res))))
        ts = [json.loads(r[2])["message_delivered_at"] for r in res[:60] if r[0] == 200]
        check(all(a < b for a, b in zip(ts, ts[1:])), "pipelined: answers in request order")
        got = []
        for _ in range(60):
            got.append((await recv_json(rd))["payload"])
        check(got == ["m%d" % i for i in range(60)], "pipelined: published in order (%r)" % got[:5])
        # Keep-alive: one request at a time on the same connection.
        for i in range(5):
            sk.sendall(post_request("/o/" + w, "k%d" % i))
            r = read_responses(sk, 1)
            check(r and r[0][0] == 200 and hdr(r[0][1], "connection") != "close",
                  "keep-alive: publish %d answered, connection kept" % i)
        check([(await recv_json(rd))["payload"] for _ in range(5)] == ["k%d" % i for i in range(5)],
              "keep-alive: published in order")
        sk.close()
        await rd.close()


async def test_publish_expect_continue():
    with Server() as s:
        rd = await websockets.connect(s.url + "/e/" + token({"mode": "r", "channel": "e"}))
        w = token({"mode": "w", "channel": "e"})
        sk = socket.create_connection(("127.0.0.1", s.port), timeout=5)
        sk.sendall(("POST /e/%s HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n"
                    "Expect: 100-continue\r\n\r\n" % w).encode())
        first = b""
        while b"\r\n\r\n" not in first:
            b = sk.recv(4096)
            if not b:
                break
            first += b
        check(first.startswith(b"HTTP/1.1 100 Continue\r\n\r\n"),
              "expect: 100 Continue before the body (%r)" % first[:60])
        sk.sendall(b"later")
        res = read_responses(sk, 1)
        check(res and res[0][0] == 200, "expect: then 200")
        check((await recv_json(rd))["payload"] == "later", "expect: the body was published")
        sk.close()
        # A refusal comes instead of 100 Continue: the body is never sent.
        sk = socket.create_connection(("127.0.0.1", s.port), timeout=5)
        sk.sendall(("POST /e/%s HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n"
                    "Expect: 100-continue\r\n\r\n" % token({"mode": "r", "channel": "e"})).encode())
        res = read_responses(sk, 1)
        check(res and res[0][0] == 403, "expect: a refused token gets 403 without 100 Continue")
        sk.close()
        # curl sends Expect for a large body by itself; forced here.
        code, body = curl_post("http://127.0.0.1:%d/e/%s" % (s.port, w), "c" * 3000,
                               "-H", "Expect: 100-continue")
        check(code == 200 and (await recv_json(rd))["payload"] == "c" * 3000,
              "expect: curl with Expect: 100-continue (%s)" % code)
        await rd.close()


def pool_pids():
    r = psql("SELECT pid FROM pg_stat_activity WHERE application_name = 'pgws' "
             "AND query NOT LIKE 'LISTEN%' AND query NOT LIKE '%pg_notification_queue_usage%'")
    return [p for p in r.stdout.split() if p]


async def test_publish_queue_full():
    with Server(PGWS_POOL_SIZE=1, PGWS_PUBLISH_QUEUE=5) as s:
        rd = await websockets.connect(s.url + "/f/" + token({"mode": "r", "channel": "f"}))
        w = token({"mode": "w", "channel": "f"})
        st, _, _ = post(s, "/f/" + w, "warm-up")
        check(st == 200, "queue: warm-up published")
        await recv_json(rd)
        pids = pool_pids()
        check(len(pids) == 1, "queue: found the one pool backend (%s)" % pids)
        os.kill(int(pids[0]), 19)       # SIGSTOP: nothing is acknowledged
        socks = []
        try:
            for i in range(7):
                sk = socket.create_connection(("127.0.0.1", s.port), timeout=5)
                sk.sendall(post_request("/f/" + w, "q%d" % i, "Connection: close\r\n"))
                socks.append(sk)
                time.sleep(0.05)
            time.sleep(1)
            early = []
            for sk in socks:
                r, _, _ = select.select([sk], [], [], 0)
                early.append(read_responses(sk, 1, 1)[0][0] if r else None)
            check(early[:5] == [None] * 5, "queue: 5 publishes wait for PostgreSQL (%r)" % early)
            check(early[5:] in ([503, 503], [429, 429]),
                  "queue: past PGWS_PUBLISH_QUEUE the answer is 503 or 429 at once (%r)" % early)
        finally:
            os.kill(int(pids[0]), 18)   # SIGCONT
        late = [read_responses(sk, 1, 10) for sk in socks[:5]]
        check([r[0][0] if r else None for r in late] == [200] * 5,
              "queue: the 5 waiting publishes get 200 after the stall")
        got = [(await recv_json(rd))["payload"] for _ in range(5)]
        check(got == ["q%d" % i for i in range(5)], "queue: and are delivered (%r)" % got)
        for sk in socks:
            sk.close()
        await rd.close()


def test_publish_database_down():
    with Server(PGWS_CHECK_LISTENER_INTERVAL=300) as s:
        w = token({"mode": "w", "channel": "d"})
        st, _, _ = post(s, "/d/" + w, "before")
        check(st == 200, "db down: published before the outage")
        r = subprocess.run(["bash", "-c", ". tests/pg.sh && pg_halt"], capture_output=True,
                           text=True, timeout=60)
        check(r.returncode == 0, "db down: database stopped (%s)" % r.stderr.strip())
        try:
            t = time.time()
            st, h, b = post(s, "/d/" + w, "during")
            check(st == 503 and time.time() - t < 5,
                  "db down: publish -> 503 promptly (%s %r, %.1f s)" % (st, b[:60], time.time() - t))
        finally:
            r = subprocess.run(["bash", "-c", ". tests/pg.sh && pg_resume"], capture_output=True,
                               text=True, timeout=60)
        check(r.returncode == 0, "db down: database back")
        st = None
        for _ in range(60):
            st, _, _ = post(s, "/d/" + w, "after")
            if st == 200:
                break
            time.sleep(0.5)
        check(st == 200, "db down: publishing works again after recovery (%s)" % st)


# -- the token as a subprotocol --------------------------------------------

async def test_subprotocol_token():
    with Server() as s:
        tok = token({"mode": "rw", "channel": "sp"})
        ws = await websockets.connect(s.url + "/sp", subprotocols=["pgws", tok])
        check(ws.subprotocol == "pgws", "subprotocol: the server chose pgws (%r)" % ws.subprotocol)
        await ws.send("via subprotocol")
        check((await recv_json(ws))["payload"] == "via subprotocol", "subprotocol: echo works")
        await ws.close()
        for offer, path, want, proto in (
                ("pgws, " + tok, "/sp", 101, "pgws"),
                (tok + ", pgws", "/sp", 101, "pgws"),
                ("pgws", "/sp/" + tok, 101, "pgws"),
                ("chat.v1", "/sp/" + tok, 101, None),
                ("pgws, " + token({"mode": "r", "channel": "sp"}, secret="x"), "/sp", 401, None),
                ("pgws, " + token({"mode": "r", "channel": "other"}), "/sp", 403, None),
                ("pgws, a.b.c, d.e.f", "/sp", 400, None),
                ("pgws, not-a-jwt", "/sp", 400, None),
                ("pgws", "/sp", 401, None)):
            resp = s.http(upgrade_request(path, extra="Sec-WebSocket-Protocol: %s\r\n" % offer), 2)
            head = resp.partition(b"\r\n\r\n")[0]
            st, h = parse_head(head)
            check(st == want and hdr(h, "sec-websocket-protocol") == proto,
                  "subprotocol %r... on %s: %d with protocol %r (got %s %r)"
                  % (offer[:20], path[:12], want, proto, st, hdr(h, "sec-websocket-protocol")))
            check(tok.split(".")[2].encode() not in resp, "subprotocol: the token is never echoed")
        # The token in the path wins, as over the Authorization header.
        resp = s.http(upgrade_request("/sp/" + tok, extra="Sec-WebSocket-Protocol: pgws, %s\r\n"
                                      % token({"mode": "r", "channel": "x"}, secret="y")), 2)
        check(status_of(resp) == 101, "subprotocol: a path token wins over it")


# -- origins and cookies -----------------------------------------------------

def test_origins_config():
    for bad in ("*", "null", "http://a.example/", "ftp://", " , "):
        env = {k: v for k, v in os.environ.items() if not k.startswith("PGWS_")}
        env.update({"PGWS_DB_URI": URI, "PGWS_JWT_SECRET": SECRET, "PGWS_PORT": "0",
                    "PGWS_HOST": "127.0.0.1", "PGWS_ALLOWED_ORIGINS": bad})
        p = subprocess.run([BIN], env=env, capture_output=True, text=True, timeout=20)
        check(p.returncode == 2 and "PGWS_ALLOWED_ORIGINS" in p.stderr,
              "PGWS_ALLOWED_ORIGINS=%r: exit 2 naming it (%s %r)" % (bad, p.returncode, p.stderr[-100:]))


async def test_origins_and_cors():
    with Server(PGWS_ALLOWED_ORIGINS=ORIGINS) as s:
        rtok = token({"mode": "rw", "channel": "o"})
        for origin, want in ((GOOD, 101), ("HTTP://GOOD.EXAMPLE:80", 101), (OTHER, 101),
                             (None, 101), ("http://evil.example", 403), ("null", 403),
                             ("http://good.example:81", 403), ("https://good.example", 403)):
            extra = "Origin: %s\r\n" % origin if origin else ""
            st = status_of(s.http(upgrade_request("/o/" + rtok, extra=extra), 2))
            check(st == want, "origins: upgrade from %s -> %d (got %s)" % (origin, want, st))
        rd = await websockets.connect(s.url + "/o/" + rtok, origin=GOOD)
        # Streams.
        e = Sse(s.port, "/o/" + rtok, "Origin: http://evil.example\r\n")
        check(e.status == 403, "origins: stream from another origin -> 403 (%s)" % e.status)
        e.close()
        e = Sse(s.port, "/o/" + rtok, "Origin: %s\r\n" % GOOD)
        check(e.status == 200 and hdr(e.hdrs, "access-control-allow-origin") == GOOD and
              hdr(e.hdrs, "access-control-allow-credentials") == "true" and
              "Origin" in (hdr(e.hdrs, "vary") or ""),
              "origins: stream from a listed origin has CORS headers (%r)" % e.head)
        e.close()
        # Publish.
        st, h, b = post(s, "/o/" + rtok, "evil", "Origin: http://evil.example\r\n")
        check(st == 403, "origins: publish from another origin -> 403 (%s)" % st)
        check(await nothing(rd) is True, "origins: nothing published for it")
        st, h, b = post(s, "/o/" + rtok, "good", "Origin: %s\r\n" % GOOD)
        check(st == 200 and hdr(h, "access-control-allow-origin") == GOOD,
              "origins: publish from a listed origin, with CORS headers (%s)" % st)
        check((await recv_json(rd))["payload"] == "good", "origins: and published")
        # Preflight.
        pre = ("OPTIONS /o HTTP/1.1\r\nHost: x\r\nOrigin: %s\r\n"
               "Access-Control-Request-Method: POST\r\n"
               "Access-Control-Request-Headers: authorization, content-type\r\n"
               "Connection: close\r\n\r\n")
        st, h = parse_head(s.http((pre % OTHER).encode()).partition(b"\r\n\r\n")[0])
        check(st in (200, 204) and hdr(h, "access-control-allow-origin") == OTHER and
              "POST" in (hdr(h, "access-control-allow-methods") or "") and
              "authorization" in (hdr(h, "access-control-allow-headers") or "").lower() and
              hdr(h, "access-control-allow-credentials") == "true",
              "origins: preflight answered for a listed origin (%s %r)" % (st, h))
        st, h = parse_head(s.http((pre % "http://evil.example").encode()).partition(b"\r\n\r\n")[0])
        check(st == 403 and hdr(h, "access-control-allow-origin") is None,
              "origins: preflight from another origin -> 403 without CORS headers (%s)" % st)
        # Cookies, from a listed origin or from no origin at all.
        ck = "Cookie: theme=dark; %s=%s\r\n" % (COOKIE, rtok)
        st = status_of(s.http(upgrade_request("/o", extra=ck + "Origin: %s\r\n" % GOOD), 2))
        check(st == 101, "cookie: upgrade from a listed origin (%s)" % st)
        st = status_of(s.http(upgrade_request("/o", extra=ck + "Origin: http://evil.example\r\n"), 2))
        check(st == 403, "cookie: upgrade from another origin -> 403 (%s)" % st)
        e = Sse(s.port, "/o", ck)
        check(e.status == 200, "cookie: same-origin stream without Origin (%s)" % e.status)
        e.close()
        e = Sse(s.port, "/o", ck + "Sec-Fetch-Site: cross-site\r\n")
        check(e.status == 401, "cookie: not taken from a cross-site request without Origin (%s)"
              % e.status)
        e.close()
        st, h, b = post(s, "/o", "cookie", ck + "Origin: %s\r\n" % GOOD)
        check(st == 200 and (await recv_json(rd))["payload"] == "cookie",
              "cookie: publish from a listed origin (%s)" % st)
        code, body = curl_post("http://127.0.0.1:%d/o" % s.port, "curl cookie",
                               "--cookie", "%s=%s" % (COOKIE, rtok))
        check(code == 200 and (await recv_json(rd))["payload"] == "curl cookie",
              "cookie: curl --cookie (%s)" % code)
        st, h, b = post(s, "/o", "two", "Cookie: %s=%s; %s=%s\r\n"
                        % (COOKIE, rtok, COOKIE, token({"mode": "r", "channel": "o"})))
        check(st == 400, "cookie: two different %s cookies -> 400 (%s)" % (COOKIE, st))
        await rd.close()


def test_long_origin():
    """CORS headers are built to the origin's length, never cut."""
    long_origin = "https://" + ".".join(["x" * 60] * 4) + ".example:8443"
    with Server(PGWS_ALLOWED_ORIGINS=GOOD + "," + long_origin) as s:
        tok = token({"mode": "rw", "channel": "l"})
        e = Sse(s.port, "/l/" + tok, "Origin: %s\r\n" % long_origin)
        check(e.status == 200 and hdr(e.hdrs, "access-control-allow-origin") == long_origin,
              "long origin: stream with its CORS header (%s)" % e.status)
        e.close()
        for path, want in (("/l/" + tok, 200), ("/l/" + token({"mode": "r"}), 403)):
            st, h, b = post(s, path, "x", "Origin: %s\r\n" % long_origin)
            check(st == want and hdr(h, "access-control-allow-origin") == long_origin,
                  "long origin: publish answer %d with its CORS header (%s)" % (want, st))
        r = s.http(("OPTIONS /l HTTP/1.1\r\nHost: x\r\nOrigin: %s\r\n"
                    "Access-Control-Request-Method: POST\r\nConnection: close\r\n\r\n"
                    % long_origin).encode())
        st, h = parse_head(r.partition(b"\r\n\r\n")[0])
        check(st == 204 and hdr(h, "access-control-allow-origin") == long_origin and
              hdr(h, "access-control-max-age") == "600",
              "long origin: preflight (%s)" % st)


async def test_no_allowlist():
    with Server() as s:
        tok = token({"mode": "rw", "channel": "n"})
        ck = "Cookie: %s=%s\r\n" % (COOKIE, tok)
        st = status_of(s.http(upgrade_request("/n", extra=ck), 2))
        check(st == 401, "no allowlist: a cookie is not a token for the upgrade (%s)" % st)
        e = Sse(s.port, "/n", ck)
        check(e.status == 401, "no allowlist: nor for a stream (%s)" % e.status)
        e.close()
        st, h, b = post(s, "/n", "x", ck)
        check(st == 401, "no allowlist: nor for a publish (%s)" % st)
        resp = s.http(upgrade_request("/n/" + tok, extra="Origin: http://any.example\r\n"), 2)
        check(status_of(resp) == 101, "no allowlist: any origin may upgrade, as the original")
        st, h, b = post(s, "/n/" + tok, "x", "Origin: http://any.example\r\n")
        check(st == 200 and hdr(h, "access-control-allow-origin") is None,
              "no allowlist: publish works, no CORS headers (%s)" % st)
        r = s.http(b"OPTIONS /n HTTP/1.1\r\nHost: x\r\nOrigin: http://any.example\r\n"
                   b"Access-Control-Request-Method: POST\r\nConnection: close\r\n\r\n")
        check(b"access-control-allow-origin" not in r.lower() and status_of(r) == 405,
              "no allowlist: no preflight answer (%s)" % status_of(r))


# -- the log -----------------------------------------------------------------

def test_log_redaction():
    with Server(PGWS_ALLOWED_ORIGINS=GOOD, PGWS_LOG_LEVEL="debug") as s:
        toks = []

        def t(claims, **kw):
            claims = dict(claims, n=len(toks))
            toks.append(token(claims, **kw))
            return toks[-1]
        ok = {"mode": "rw", "channel": "g"}
        bad = {"secret": "wrong"}
        reqs = [
            upgrade_request("/g/" + t(ok)),
            upgrade_request("/g/" + t(ok, **bad)),
            upgrade_request("/g/x" + t(ok, **bad)),
            upgrade_request("/g/" + t(ok, **bad) + "?a=b"),
            upgrade_request("/g", extra="Authorization: Bearer %s\r\n" % t(ok, **bad)),
            upgrade_request("/g", extra="Sec-WebSocket-Protocol: pgws, %s\r\n" % t(ok)),
            upgrade_request("/g", extra="Sec-WebSocket-Protocol: pgws, %s\r\n" % t(ok, **bad)),
            upgrade_request("/g", extra="Cookie: %s=%s\r\nOrigin: %s\r\n" % (COOKIE, t(ok), GOOD)),
            upgrade_request("/g", extra="Cookie: %s=%s\r\nOrigin: %s\r\n" % (COOKIE, t(ok, **bad), GOOD)),
            upgrade_request("/g/" + t(ok), extra="Origin: http://evil.example\r\n"),
            ("GET /g/%s HTTP/1.1\r\nHost: x\r\nAccept: text/event-stream\r\n\r\n" % t(ok, **bad)).encode(),
            ("GET /g/%s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n" % t(ok)).encode(),
            ("HEAD /%s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n" % t(ok)).encode(),
            ("GET /%s/.git HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n" % t(ok)).encode(),
            ("DELETE /g/%s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n" % t(ok)).encode(),
            post_request("/g/" + t(ok), "x", "Connection: close\r\n"),
            post_request("/g/" + t({"mode": "r", "channel": "g"}), "x", "Connection: close\r\n"),
            post_request("/g/" + t(ok, **bad), "x", "Connection: close\r\n"),
            post_request("/g", "x", "Authorization: Bearer %s\r\nConnection: close\r\n" % t(ok, **bad)),
            post_request("/g", "x", "Cookie: %s=%s\r\nConnection: close\r\n" % (COOKIE, t(ok, **bad))),
            ("GET /g/%s HTTP/1.1\r\nHost: x\r\n" % t(ok)).encode() + b"\x01bad\r\n\r\n",
        ]
        for r in reqs:
            s.http(r, 1)
        time.sleep(0.3)
        log = s.log()
        leaks = [i for i, tk in enumerate(toks)
                 if tk.split(".")[1] in log or tk.split(".")[2] in log]
        check(not leaks, "log: no token of %d requests in the log (leaked: %s)" % (len(toks), leaks))
        check("eyJ" not in log, "log: nothing JWT-shaped at all")
        check(log.count("\n") >= 10, "log: the requests were logged (%d lines)" % log.count("\n"))
        check("<token>" in log, "log: a redacted target says <token>")


if __name__ == "__main__":
    run(globals())
