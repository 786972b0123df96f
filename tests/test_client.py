"""Tests of `pgws client URL` (SPEC section 6): against pgws itself, through
a real PostgreSQL, and against an independent server (the Python
`websockets` library) so that the client is not only checked against the
framing code it shares with pgws.  Run by test.sh with PGWS_BIN and
PGWS_TEST_URI set."""
import asyncio
import base64
import hashlib
import json
import os
import re
import shutil
import subprocess
import tempfile
import time

import websockets
from harness import BIN, Server, check, notify, run, token

SAN = re.compile(r"AddressSanitizer|LeakSanitizer|runtime error:")


def client(args, stdin=b"", timeout=20):
    """Runs the client to its end; returns (status, stdout, stderr)."""
    p = subprocess.run([BIN, "client"] + args, input=stdin,
                       capture_output=True, timeout=timeout)
    out, err = p.stdout.decode(errors="replace"), p.stderr.decode(errors="replace")
    check(not SAN.search(err), "no sanitizer report from the client")
    return p.returncode, out, err


async def aclient(args, stdin=b"", timeout=20):
    """client() for tests whose server runs in this process's event loop."""
    p = await asyncio.create_subprocess_exec(
        BIN, "client", *args, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE)
    out, err = await asyncio.wait_for(p.communicate(stdin), timeout)
    out, err = out.decode(errors="replace"), err.decode(errors="replace")
    check(not SAN.search(err), "no sanitizer report from the client")
    return p.returncode, out, err


def lines_json(out):
    try:
        return [json.loads(l) for l in out.splitlines()]
    except ValueError:
        return []


# -- against pgws ----------------------------------------------------------

def test_echo_through_postgres():
    with Server() as s:
        tok = token({"mode": "rw", "channel": "chat", "user": "ann"})
        rc, out, err = client(["--count", "1", "--timeout", "10",
                               "%s/chat/%s" % (s.url, tok)], b"hi\n")
        check(rc == 0, "echo: exit 0 after --count 1 (got %s, %r)" % (rc, err))
        m = lines_json(out)
        check(len(m) == 1 and m[0].get("payload") == "hi" and
              m[0].get("event") == "WebsocketMessage" and
              m[0].get("channel") == "chat" and
              m[0].get("claims", {}).get("user") == "ann",
              "echo: the envelope came back with payload hi (%r)" % out)


def test_pg_notify_received():
    with Server() as s:
        tok = token({"mode": "r", "channel": "chat"})
        p = subprocess.Popen([BIN, "client", "--count", "1", "--timeout", "15",
                              "%s/chat/%s" % (s.url, tok)],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE)
        # The client says nothing when it is connected: notify until it
        # has the one message it waits for.
        payload = json.dumps({"channel": "chat", "payload": "from sql"})
        t = time.time()
        while p.poll() is None and time.time() - t < 10:
            notify(payload)
            time.sleep(0.2)
        out, err = p.communicate(timeout=10)
        check(p.returncode == 0, "notify: exit 0 (got %s, %r)" % (p.returncode, err))
        check(out.decode().splitlines() == [payload],
              "notify: the payload is printed unchanged as one line (%r)" % out)


def test_count_stops_after_n():
    with Server() as s:
        tok = token({"mode": "rw", "channel": "chat"})
        rc, out, err = client(["--count", "2", "--timeout", "10",
                               "%s/chat/%s" % (s.url, tok)], b"a\nb\nc\n")
        m = lines_json(out)
        check(rc == 0, "count: exit 0 (got %s, %r)" % (rc, err))
        check([x.get("payload") for x in m] == ["a", "b"],
              "count: exactly the first two messages (%r)" % out)


def test_rejected_token():
    with Server() as s:
        bad = token({"mode": "rw", "channel": "chat"}, secret="wrong" * 8)
        rc, out, err = client(["--timeout", "10", "%s/chat/%s" % (s.url, bad)])
        check(rc == 3, "rejected: exit 3 (got %s)" % rc)
        check("401" in err, "rejected: status 401 on stderr (%r)" % err)
        rc, out, err = client(["--timeout", "10", "%s/chat/%s" % (s.url, token(
            {"mode": "r", "channel": "chat", "exp": int(time.time()) - 5}))])
        check(rc == 3 and "401" in err and "Token expired" in err,
              "rejected: status and body of an expired token (%r)" % err)
        rc, out, err = client(["--timeout", "10", "%s/other/%s" % (s.url, token(
            {"mode": "r", "channel": "chat"}))])
        check(rc == 3 and "403" in err, "rejected: 403 for a channel not granted (%r)" % err)


def test_token_expiry_close():
    with Server() as s:
        tok = token({"mode": "rw", "channel": "chat", "exp": int(time.time()) + 2})
        # Standard input stays open (communicate() would close it): only
        # the server ends this session.
        p = subprocess.Popen([BIN, "client", "--timeout", "15",
                              "%s/chat/%s" % (s.url, tok)],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE)
        try:
            p.wait(timeout=15)
        except subprocess.TimeoutExpired:
            p.kill()
        err = p.stderr.read().decode(errors="replace")
        p.stdin.close()
        p.stdout.close()
        p.stderr.close()
        check(p.returncode == 1, "expiry: exit 1 (got %s)" % p.returncode)
        check("closed: 3001" in err, "expiry: close code 3001 on stderr (%r)" % err)


def test_stdin_eof_closes_normally():
    with Server() as s:
        tok = token({"mode": "rw", "channel": "chat"})
        t = time.time()
        rc, out, err = client(["--timeout", "10", "%s/chat/%s" % (s.url, tok)], b"")
        check(rc == 0, "eof: close 1000 and exit 0 (got %s, %r)" % (rc, err))
        check(time.time() - t < 5, "eof: the close handshake is quick")


def test_bearer_header():
    with Server() as s:
        tok = token({"mode": "rw", "channel": "chat"})
        rc, out, err = client(["--count", "1", "--timeout", "10",
                               "--header", "Authorization: Bearer " + tok,
                               s.url + "/chat"], b"bearer\n")
        m = lines_json(out)
        check(rc == 0 and len(m) == 1 and m[0].get("payload") == "bearer",
              "bearer: the token in a header works (%s, %r, %r)" % (rc, out, err))
        rc, out, err = client(["--timeout", "10", "--header", "Authorization: Bearer x.y.z",
                               s.url + "/chat"])
        check(rc == 3 and "401" in err, "bearer: a bad header token gets 401 (%r)" % err)


def test_protocol_token():
    with Server() as s:
        tok = token({"mode": "rw", "channel": "chat", "user": "sp"})
        rc, out, err = client(["--count", "1", "--timeout", "10", "--protocol-token", tok,
                               s.url + "/chat"], b"subprotocol\n")
        m = lines_json(out)
        check(rc == 0 and len(m) == 1 and m[0].get("payload") == "subprotocol" and
              m[0].get("claims", {}).get("user") == "sp",
              "protocol token: the token as a subprotocol works (%s, %r, %r)" % (rc, out, err))
        bad = token({"mode": "rw", "channel": "chat"}, secret="wrong" * 8)
        rc, out, err = client(["--timeout", "10", "--protocol-token", bad, s.url + "/chat"])
        check(rc == 3 and "401" in err, "protocol token: a bad one gets 401 (%r)" % err)


def test_host_by_name():
    with Server() as s:
        tok = token({"mode": "rw", "channel": "chat"})
        # localhost may resolve to ::1 first, where nothing listens: the
        # client must go on to the next address.
        rc, out, err = client(["--count", "1", "--timeout", "10",
                               "ws://localhost:%d/chat/%s" % (s.port, tok)], b"byname\n")
        check(rc == 0 and "byname" in out, "name: connects by host name (%s, %r)" % (rc, err))


def test_usage_errors():
    rc, out, err = client([])
    check(rc == 2, "usage: no URL is exit 2")
    rc, out, err = client(["http://127.0.0.1:1/"])
    check(rc == 2, "usage: not a ws URL is exit 2")
    rc, out, err = client(["--count", "x", "ws://127.0.0.1:1/"])
    check(rc == 2, "usage: bad --count is exit 2")
    rc, out, err = client(["--header", "no colon", "ws://127.0.0.1:1/"])
    check(rc == 2, "usage: bad --header is exit 2")
    rc, out, err = client(["wss://127.0.0.1:1/"])
    check(rc == 2 and "--cacert" in err, "usage: wss:// without --cacert is exit 2 (%r)" % err)
    rc, out, err = client(["--cacert", "/nonexistent/ca.pem", "wss://127.0.0.1:1/"])
    check(rc == 2 and "/nonexistent/ca.pem" in err,
          "usage: an unreadable --cacert is exit 2 and named (%r)" % err)
    rc, out, err = client(["--timeout", "5", "ws://127.0.0.1:1/"])
    check(rc == 3 and "cannot connect" in err, "connect: refused is exit 3 (%r)" % err)
    rc, out, err = client(["--protocol-token", "a b", "ws://127.0.0.1:1/"])
    check(rc == 2, "usage: a --protocol-token that is not a token is exit 2")
    rc, out, err = client(["--protocol-token", "", "ws://127.0.0.1:1/"])
    check(rc == 2, "usage: an empty --protocol-token is exit 2")
    rc, out, err = client(["--help"])
    check(rc == 0 and "--count" in out, "usage: --help")


# -- wss:// against pgws with a throwaway CA --------------------------------

TLS_DIR = None


def openssl(*args):
    r = subprocess.run(("openssl",) + args, capture_output=True, timeout=60,
                       cwd=TLS_DIR)
    if r.returncode:
        raise RuntimeError("openssl %s: %s" % (" ".join(args), r.stderr.decode()))


def tls_path(name):
    return os.path.join(TLS_DIR, name)


def tls_files():
    """Makes, once, two CAs and server pairs signed by the first: RSA and
    EC P-256, for 127.0.0.1 and localhost (as tests/test_tls.py does), and
    one for another address only."""
    global TLS_DIR
    if TLS_DIR:
        return
    TLS_DIR = tempfile.mkdtemp(prefix="pgws-client-tls-")
    for ca in ("ca", "other-ca"):
        openssl("genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048",
                "-out", tls_path(ca + ".key"))
        openssl("req", "-x509", "-new", "-key", tls_path(ca + ".key"), "-subj",
                "/CN=pgws client test " + ca, "-days", "2", "-out", tls_path(ca + ".pem"))
    for serial, (name, kind, san) in enumerate((
            ("rsa", "rsa", "IP:127.0.0.1,DNS:localhost"),
            ("ec", "ec", "IP:127.0.0.1,DNS:localhost"),
            ("elsewhere", "ec", "IP:127.0.0.2,IP:::1,DNS:example.invalid")), 100):
        if kind == "rsa":
            openssl("genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048",
                    "-out", tls_path(name + ".key"))
        else:
            openssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256",
                    "-out", tls_path(name + ".key"))
        with open(tls_path(name + ".ext"), "w") as f:
            f.write("subjectAltName=%s\nextendedKeyUsage=serverAuth\n" % san)
        openssl("req", "-new", "-key", tls_path(name + ".key"), "-subj", "/CN=pgws " + name,
                "-out", tls_path(name + ".csr"))
        openssl("x509", "-req", "-in", tls_path(name + ".csr"), "-CA", tls_path("ca.pem"),
                "-CAkey", tls_path("ca.key"), "-set_serial", str(serial), "-days", "2",
                "-extfile", tls_path(name + ".ext"), "-out", tls_path(name + ".pem"))
    # A bundle as found in the wild: another CA first, text between objects.
    with open(tls_path("bundle.pem"), "w") as f:
        f.write("# other\n" + open(tls_path("other-ca.pem")).read() +
                "# ours\n" + open(tls_path("ca.pem")).read())


def tls_server(name="rsa"):
    tls_files()
    return Server(PGWS_CERTIFICATE_FILE=tls_path(name + ".pem"),
                  PGWS_KEY_FILE=tls_path(name + ".key"))


def wss(s, host="127.0.0.1"):
    return "wss://%s:%d" % (host, s.port)


def test_wss_echo():
    for name in ("rsa", "ec"):
        with tls_server(name) as s:
            tok = token({"mode": "rw", "channel": "chat", "user": "ann"})
            rc, out, err = client(["--cacert", tls_path("ca.pem"), "--count", "1",
                                   "--timeout", "10", "%s/chat/%s" % (wss(s), tok)], b"hi\n")
            m = lines_json(out)
            check(rc == 0 and len(m) == 1 and m[0].get("payload") == "hi" and
                  m[0].get("channel") == "chat",
                  "wss %s: the envelope came back with payload hi (%s, %r, %r)"
                  % (name, rc, out, err))
            # By name: SNI and the DNS name of the certificate.
            rc, out, err = client(["--cacert", tls_path("bundle.pem"), "--count", "1",
                                   "--timeout", "10",
                                   "%s/chat/%s" % (wss(s, "localhost"), tok)], b"byname\n")
            m = lines_json(out)
            check(rc == 0 and len(m) == 1 and m[0].get("payload") == "byname",
                  "wss %s: by host name, CA found in a bundle (%s, %r)" % (name, rc, err))


def test_wss_large_and_eof():
    with tls_server("ec") as s:
        tok = token({"mode": "rw", "channel": "chat"})
        # More than one 4 KiB record of ours; NOTIFY takes < 8000 bytes.
        big = "y" * 7000
        rc, out, err = client(["--cacert", tls_path("ca.pem"), "--count", "3",
                               "--timeout", "15", "%s/chat/%s" % (wss(s), tok)],
                              ("a\n%s\nc\n" % big).encode())
        m = lines_json(out)
        check(rc == 0 and [x.get("payload") for x in m] == ["a", big, "c"],
              "wss: three messages, one of 7 kB, in order (%s, %r)" % (rc, err[-300:]))
        t = time.time()
        rc, out, err = client(["--cacert", tls_path("ca.pem"), "--timeout", "10",
                               "%s/chat/%s" % (wss(s), tok)], b"")
        check(rc == 0 and time.time() - t < 5,
              "wss: EOF at once is a quick normal close (%s, %r)" % (rc, err))
        bad = token({"mode": "rw", "channel": "chat"}, secret="wrong" * 8)
        rc, out, err = client(["--cacert", tls_path("ca.pem"), "--timeout", "10",
                               "%s/chat/%s" % (wss(s), bad)])
        check(rc == 3 and "401" in err, "wss: a refused upgrade is still exit 3 (%r)" % err)


def test_wss_untrusted():
    with tls_server("rsa") as s:
        tok = token({"mode": "rw", "channel": "chat"})
        t = time.time()
        rc, out, err = client(["--cacert", tls_path("other-ca.pem"), "--timeout", "10",
                               "%s/chat/%s" % (wss(s), tok)], b"hi\n")
        check(rc == 3 and "certificate" in err and "not trusted" in err and out == "",
              "wss: another CA is exit 3, certificate not trusted (%s, %r)" % (rc, err))
        check(time.time() - t < 5, "wss: the failure is quick")
        # The server's own certificate is not a CA: pinned, it is trusted.
        rc, out, err = client(["--cacert", tls_path("rsa.pem"), "--count", "1",
                               "--timeout", "10", "%s/chat/%s" % (wss(s), tok)], b"pin\n")
        check(rc == 0 and "pin" in out, "wss: the server certificate itself pins (%s, %r)"
              % (rc, err))
        # A plain client on the TLS port gets no websocket.
        rc, out, err = client(["--timeout", "5", "%s/chat/%s" % (s.url, tok)])
        check(rc == 3, "ws:// to a TLS port fails with exit 3 (%s, %r)" % (rc, err))
    with tls_server("elsewhere") as s:
        tok = token({"mode": "rw", "channel": "chat"})
        for host in ("127.0.0.1", "localhost"):
            rc, out, err = client(["--cacert", tls_path("ca.pem"), "--timeout", "10",
                                   "%s/chat/%s" % (wss(s, host), tok)], b"hi\n")
            check(rc == 3 and "certificate" in err and "not for this host" in err,
                  "wss: a certificate for other names fails for %s (%s, %r)" % (host, rc, err))


def test_wss_not_tls():
    """wss:// to a plain port: the server answers HTTP to our ClientHello."""
    with Server() as s:
        tls_files()
        rc, out, err = client(["--cacert", tls_path("ca.pem"), "--timeout", "10",
                               "wss://127.0.0.1:%d/chat" % s.port])
        check(rc == 3 and "TLS" in err, "wss to a plain port is exit 3 (%s, %r)" % (rc, err))


def test_wss_bad_cacert():
    tls_files()
    for name, text in (("empty.pem", ""), ("key-only.pem", open(tls_path("ca.key")).read()),
                       ("junk.pem", "-----BEGIN CERTIFICATE-----\nnot base64!\n"
                                    "-----END CERTIFICATE-----\n")):
        with open(tls_path(name), "w") as f:
            f.write(text)
        rc, out, err = client(["--cacert", tls_path(name), "wss://127.0.0.1:1/"])
        check(rc == 2 and name in err, "bad --cacert %s: exit 2 naming the file (%s, %r)"
              % (name, rc, err))


# -- against an independent server (python websockets) ------------------

async def serve(handler):
    srv = await websockets.serve(handler, "127.0.0.1", 0)
    return srv, "ws://127.0.0.1:%d" % srv.sockets[0].getsockname()[1]


async def echo(ws):
    async for m in ws:
        await ws.send(m)


async def test_independent_echo():
    srv, url = await serve(echo)
    try:
        # The library answers a close at once, even with echoes still
        # queued, so --count waits for them before closing.
        big = "x" * 200000
        text = "one\n\ntwo\r\nünïcødé ✓\n" + big + "\nlast"
        rc, out, err = await aclient(["--count", "6", "--timeout", "10", url + "/any"],
                                     text.encode())
        check(rc == 0, "py echo: exit 0 (got %s, %r)" % (rc, err))
        check(out == "one\n\ntwo\nünïcødé ✓\n" + big + "\nlast\n",
              "py echo: every line, empty, CRLF, UTF-8, 200 kB and unterminated, came back")
        rc, out, err = await aclient(["--timeout", "10", url], b"")
        check(rc == 0 and out == "", "py echo: EOF at once is a normal close (%s, %r)" % (rc, err))
        rc, out, err = await aclient(["--count", "2", "--timeout", "10", url],
                                     b"a\nb\nc\n")
        check(rc == 0 and out == "a\nb\n", "py echo: --count 2 (%r)" % out)
    finally:
        srv.close()
        await srv.wait_closed()


async def test_independent_wss_echo():
    """Large messages both ways through TLS: Python sends 16 KiB records,
    more than one read of the client takes."""
    import ssl
    tls_files()
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(tls_path("rsa.pem"), tls_path("rsa.key"))
    srv = await websockets.serve(echo, "127.0.0.1", 0, ssl=ctx, max_size=None)
    url = "wss://127.0.0.1:%d/any" % srv.sockets[0].getsockname()[1]
    try:
        big = "z" * 300000
        text = "one\n" + big + "\nünïcødé ✓\n" + big[:70000] + "\nlast"
        rc, out, err = await aclient(["--cacert", tls_path("ca.pem"), "--count", "5",
                                      "--timeout", "15", url], text.encode())
        check(rc == 0 and out == text + "\n",
              "py wss echo: 300 kB, 70 kB, UTF-8 and short lines came back (%s, %r)"
              % (rc, err))
        rc, out, err = await aclient(["--cacert", tls_path("ca.pem"), "--timeout", "10",
                                      url], b"")
        check(rc == 0 and out == "", "py wss echo: EOF at once is a normal close (%s, %r)"
              % (rc, err))
    finally:
        srv.close()
        await srv.wait_closed()


async def test_independent_close_code():
    async def bye(ws):
        await ws.close(4000, "bye")
    srv, url = await serve(bye)
    try:
        rc, out, err = await aclient(["--timeout", "10", url])
        check(rc == 1, "py close: exit 1 for code 4000 (got %s)" % rc)
        check("closed: 4000 bye" in err, "py close: code and reason on stderr (%r)" % err)
    finally:
        srv.close()
        await srv.wait_closed()


async def test_independent_ping():
    async def pinger(ws):
        waiter = await ws.ping(b"are you there")
        try:
            await asyncio.wait_for(waiter, 5)
            await ws.send("pong received")
        except asyncio.TimeoutError:
            await ws.send("no pong")
        await ws.close()
    srv, url = await serve(pinger)
    try:
        rc, out, err = await aclient(["--count", "1", "--timeout", "10", url])
        check(rc == 0 and out == "pong received\n",
              "py ping: the client answers pings (%s, %r)" % (rc, out))
    finally:
        srv.close()
        await srv.wait_closed()


async def test_independent_subprotocol():
    """The token goes out as 'pgws, JWT'; the server's choice is checked."""
    async def tell(ws):
        # The client may end first (--count reached, or it refused the
        # handshake): nothing more to say then.
        try:
            await ws.send("%s|%s" % (ws.request_headers.get("Sec-WebSocket-Protocol"),
                                     ws.subprotocol))
            await ws.close()
        except websockets.ConnectionClosed:
            pass
    tok = token({"mode": "r"})
    srv = await websockets.serve(tell, "127.0.0.1", 0, subprotocols=["pgws"])
    url = "ws://127.0.0.1:%d/" % srv.sockets[0].getsockname()[1]
    try:
        rc, out, err = await aclient(["--count", "1", "--timeout", "10",
                                      "--protocol-token", tok, url])
        check(rc == 0 and out == "pgws, %s|pgws\n" % tok,
              "py subprotocol: offered 'pgws, JWT', pgws chosen (%s, %r, %r)" % (rc, out, err))
    finally:
        srv.close()
        await srv.wait_closed()
    # A server that does not speak pgws ignores the token: that is a failure.
    srv = await websockets.serve(tell, "127.0.0.1", 0)
    url = "ws://127.0.0.1:%d/" % srv.sockets[0].getsockname()[1]
    try:
        rc, out, err = await aclient(["--timeout", "10", "--protocol-token", tok, url])
        check(rc == 3 and "pgws subprotocol" in err and out == "",
              "py subprotocol: no subprotocol chosen is exit 3 (%s, %r)" % (rc, err))
    finally:
        srv.close()
        await srv.wait_closed()
    # Choosing a subprotocol that was never offered breaks RFC 6455.
    async def bad_proto(r, w):
        req = await r.readuntil(b"\r\n\r\n")
        key = re.search(rb"Sec-WebSocket-Key: (\S+)", req).group(1)
        acc = base64.b64encode(hashlib.sha1(key + b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11").digest())
        w.write(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                b"Connection: Upgrade\r\nSec-WebSocket-Protocol: chat\r\n"
                b"Sec-WebSocket-Accept: " + acc + b"\r\n\r\n")
        await w.drain()
        await asyncio.sleep(2)
        w.close()
    srv = await asyncio.start_server(bad_proto, "127.0.0.1", 0)
    url = "ws://127.0.0.1:%d/" % srv.sockets[0].getsockname()[1]
    try:
        rc, out, err = await aclient(["--timeout", "5", url])
        check(rc == 3 and "unrequested subprotocol" in err,
              "py subprotocol: an unrequested one is exit 3 (%s, %r)" % (rc, err))
    finally:
        srv.close()
        await srv.wait_closed()


async def test_handshake_checks():
    """Servers that answer 101 wrongly, or not at all."""
    async def bad_accept(r, w):
        await r.readuntil(b"\r\n\r\n")
        w.write(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                b"Connection: Upgrade\r\n"
                b"Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n")
        await w.drain()
        await asyncio.sleep(3)
        w.close()

    async def silent(r, w):
        await asyncio.sleep(5)
        w.close()

    for handler, args, want, what in (
            (bad_accept, ["--timeout", "5"], 3, "a wrong Sec-WebSocket-Accept is exit 3"),
            (silent, ["--timeout", "1"], 4, "--timeout gives up with exit 4")):
        srv = await asyncio.start_server(handler, "127.0.0.1", 0)
        url = "ws://127.0.0.1:%d/" % srv.sockets[0].getsockname()[1]
        try:
            t = time.time()
            rc, out, err = await aclient(args + [url])
            check(rc == want and time.time() - t < 4.5, "handshake: %s (%s, %r)" % (what, rc, err))
        finally:
            srv.close()
            await srv.wait_closed()


if __name__ == "__main__":
    try:
        run(globals())
    finally:
        if TLS_DIR:
            shutil.rmtree(TLS_DIR, ignore_errors=True)
