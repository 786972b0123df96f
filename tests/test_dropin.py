#!/usr/bin/python3
"""pgws as a drop-in for postgres-websockets (issue 13, SPEC sections 1,
2, 3 and 5), against the running binary and a real PostgreSQL:

  - the token channel limit PGWS_MAX_TOKEN_CHANNELS at its boundaries;
  - '/' and any other plain request without PGWS_ROOT_PATH: 200 Hello, Web!;
  - the configuration values the original accepts (PGWS_RETRIES below 1,
    any positive PGWS_POOL_SIZE, a missing PGWS_ROOT_PATH, PGWS_HOST
    !4 !6 *6 * *4, checked by which of 127.0.0.1 and ::1 accept);
  - the publishing pool opened on demand, closed when idle, order kept;
  - the token in the path winning over an Authorization header;
  - message_delivered_at replacing a claim of that name, in every event;
  - dot segments (403) and non-regular files (403, a FIFO never opened).

Run by test.sh with PGWS_BIN and PGWS_TEST_URI set.
"""
import json
import os
import re
import socket
import stat
import subprocess
import tempfile
import threading
import time

from harness import (BIN, URI, SECRET, Raw, Server, b64url, body_of, check,
                     lit, psql, recv_data, run, status_of, token,
                     upgrade_request)
import hashlib
import hmac

LISTEN = "postgres-websockets-listener"


# -- helpers ---------------------------------------------------------------

def raw_token(claims_text, secret=SECRET):
    """An HS256 token whose payload is exactly claims_text (so duplicate
    keys, escapes and whitespace survive)."""
    si = b64url(b'{"alg":"HS256","typ":"JWT"}') + "." + \
        b64url(claims_text.encode())
    sig = hmac.new(secret.encode(), si.encode(), hashlib.sha256).digest()
    return si + "." + b64url(sig)


class RawH(Raw):
    """Raw with extra request header lines."""

    def __init__(self, port, path, extra="", timeout=5):
        self.s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.s.sendall(upgrade_request(path, extra=extra))
        self.buf = b""
        while b"\r\n\r\n" not in self.buf:
            b = self.s.recv(65536)
            if not b:
                break
            self.buf += b
        head, _, self.buf = self.buf.partition(b"\r\n\r\n")
        self.status = int(head.split(b" ")[1]) if head else 0
        self.head = head


def up(s, path, extra=""):
    """(status, body) of an upgrade request."""
    r = s.http(upgrade_request(path, extra=extra), timeout=1)
    return status_of(r), body_of(r)


def get(s, path, method="GET", extra=""):
    return s.http(("%s %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n%s\r\n"
                   % (method, path, extra)).encode())


def start_status(env, timeout=10):
    """(exit status, stderr, seconds) of pgws run with env (PGWS_* only);
    a pgws still running after timeout seconds is killed: status None."""
    e = {"PATH": "/usr/bin:/bin", "PGWS_DB_URI": URI,
         "PGWS_JWT_SECRET": SECRET, "PGWS_HOST": "127.0.0.1",
         "PGWS_PORT": "0"}
    e.update(env)
    t = time.time()
    p = subprocess.Popen([BIN], env=e, stdout=subprocess.DEVNULL,
                         stderr=subprocess.PIPE, text=True)
    try:
        _, err = p.communicate(timeout=timeout)
        return p.returncode, err, time.time() - t
    except subprocess.TimeoutExpired:
        p.kill()
        _, err = p.communicate()
        return None, err, time.time() - t


def accepts(host, port):
    """True when a TCP connection to host:port is accepted."""
    fam = socket.AF_INET6 if ":" in host else socket.AF_INET
    s = socket.socket(fam, socket.SOCK_STREAM)
    s.settimeout(2)
    try:
        s.connect((host, port))
        return True
    except OSError:
        return False
    finally:
        s.close()


def delivered(reader, channel, text, tries=20):
    """Notifies {"channel": channel, "payload": text} until reader gets it
    (the LISTEN side is up right after the 101); the frame received."""
    payload = json.dumps({"channel": channel, "payload": text})
    for _ in range(tries):
        psql("SELECT pg_notify(%s, %s)" % (lit(LISTEN), lit(payload)))
        f = recv_data(reader, timeout=0.3)
        if f:
            return f
    return None


# -- a. PGWS_MAX_TOKEN_CHANNELS --------------------------------------------

def chans(n):
    return token({"mode": "r", "channels": ["c%d" % i for i in range(n)]})


def test_token_channel_limit():
    h = subprocess.run([BIN, "--help"], capture_output=True, text=True).stdout
    m = re.search(r"PGWS_MAX_TOKEN_CHANNELS\s+\[(\w+)\]", h)
    check(m is not None and m.group(1) == "256",
          "--help lists PGWS_MAX_TOKEN_CHANNELS [256] (%s)" % (m and m.group(1)))
    with Server() as s:
        check(up(s, "/" + chans(256))[0] == 101, "default: 256 channels -> 101")
        st, body = up(s, "/" + chans(257))
        check(st == 401 and body == "Too many channels",
              "default: 257 channels -> 401 Too many channels (%s %r)" % (st, body))
    with Server(PGWS_MAX_TOKEN_CHANNELS=1) as s:
        check(up(s, "/" + token({"mode": "r", "channel": "a"}))[0] == 101,
              "limit 1: one channel -> 101")
        check(up(s, "/" + token({"mode": "r", "channel": "a",
                                 "channels": ["a", "a"]}))[0] == 101,
              "limit 1: one distinct channel named thrice -> 101")
        st, body = up(s, "/" + token({"mode": "r", "channels": ["a", "b"]}))
        check(st == 401 and body == "Too many channels",
              "limit 1: two channels -> 401 (%s %r)" % (st, body))
    # The top of the range: a 3000-channel token needs the work buffer
    # sized from the setting, not from the default.
    with Server(PGWS_MAX_TOKEN_CHANNELS=65536, PGWS_MAX_TOKEN_SIZE=65536,
                PGWS_MAX_HEADER_SIZE=131072) as s:
        r = Raw(s.port, "/" + chans(3000))
        check(r.status == 101, "limit 65536: a 3000-channel token -> 101 "
              "(%s)" % r.status)
        if r.status == 101:
            f = delivered(r, "c2999", "last")
            check(f is not None and b'"last"' in f[1],
                  "the 3000th channel is granted and delivered")
        r.close()
    for bad in ("0", "65537", "-1", "many"):
        rc, err, _ = start_status({"PGWS_MAX_TOKEN_CHANNELS": bad})
        check(rc == 2 and "PGWS_MAX_TOKEN_CHANNELS" in err,
              "PGWS_MAX_TOKEN_CHANNELS=%s -> exit 2 naming it (%s %r)"
              % (bad, rc, err.strip()[:80]))


# -- b. Hello, Web! ----------------------------------------------------------

def test_hello_web():
    with Server() as s:
        for path in ("/", "/index.html", "/some/where", "/x?y=1"):
            r = get(s, path)
            check(status_of(r) == 200 and body_of(r) == "Hello, Web!"
                  and re.search(rb"(?i)\r\ncontent-type: text/plain", r) is not None,
                  "no PGWS_ROOT_PATH: GET %s -> 200 text/plain Hello, Web! (%r)"
                  % (path, r[:60]))
        r = get(s, "/", "HEAD")
        check(status_of(r) == 200 and body_of(r) == "" and
              b"Content-Length: 11" in r, "HEAD / -> 200, length 11, no body")
        r = get(s, "/anything", "DELETE")
        check(status_of(r) == 200 and body_of(r) == "Hello, Web!",
              "DELETE /anything -> 200 Hello, Web! as the original (%r)" % r[:40])
        r = get(s, "/health")
        check(status_of(r) == 200 and "Hello" not in body_of(r),
              "/health still answers itself")
        # Keep-alive: two requests on one connection, both answered.
        r = s.http(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"
                   b"GET /a HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        check(r.count(b"Hello, Web!") == 2, "keep-alive: two answers")
        # An upgrade is still an upgrade.
        st, _ = up(s, "/" + token({"mode": "r"}))
        check(st == 403, "a websocket upgrade is not answered with Hello")


# -- c. configuration values the original accepts ---------------------------

def test_retries_below_one():
    dead = "postgres://postgres@127.0.0.1:1/postgres"
    for v in ("0", "-3"):
        rc, err, t = start_status({"PGWS_DB_URI": dead, "PGWS_RETRIES": v})
        check(rc == 1 and t < 0.9, "PGWS_RETRIES=%s: one attempt, exit 1 at "
              "once (%s, %.2fs)" % (v, rc, t))
    rc, err, t = start_status({"PGWS_DB_URI": dead, "PGWS_RETRIES": "2"})
    check(rc == 1 and t >= 0.9, "PGWS_RETRIES=2: two attempts 1 s apart "
          "(%s, %.2fs)" % (rc, t))
    with Server(PGWS_RETRIES=0) as s:
        check(up(s, "/c/" + token({"mode": "r"}))[0] == 101,
              "PGWS_RETRIES=0 with a database: serves")
    rc, err, _ = start_status({"PGWS_RETRIES": "x"})
    check(rc == 2 and "PGWS_RETRIES" in err, "PGWS_RETRIES=x -> exit 2")


def test_pool_size_any_positive():
    with Server(PGWS_POOL_SIZE=100000) as s:
        r = Raw(s.port, "/big/" + token({"mode": "rw"}))
        r.send_frame(1, b"hi")
        f = recv_data(r)
        check(f is not None and json.loads(f[1])["payload"] == "hi",
              "PGWS_POOL_SIZE=100000: starts and publishes")
        r.close()
    for bad in ("0", "-1", "ten"):
        rc, err, _ = start_status({"PGWS_POOL_SIZE": bad})
        check(rc == 2 and "PGWS_POOL_SIZE" in err,
              "PGWS_POOL_SIZE=%s -> exit 2" % bad)


def test_missing_root_path():
    with Server(PGWS_ROOT_PATH="/nonexistent/pgws-root") as s:
        check(re.search(r"warn.*PGWS_ROOT_PATH.*/nonexistent/pgws-root", s.log())
              is not None, "a missing PGWS_ROOT_PATH is a warning naming it")
        for p in ("/", "/index.html", "/a/b"):
            check(status_of(get(s, p)) == 404, "then GET %s -> 404" % p)
        check(status_of(get(s, "/health")) == 200, "and /health works")
    with tempfile.NamedTemporaryFile() as f:
        with Server(PGWS_ROOT_PATH=f.name) as s:
            check("PGWS_ROOT_PATH" in s.log() and status_of(get(s, "/")) == 404,
                  "a PGWS_ROOT_PATH that is a file: warning, then 404")


def test_host_forms():
    cases = [("!4", True, False), ("!6", False, True), ("*6", True, True),
             ("*", True, True), ("*4", True, False)]
    for host, v4, v6 in cases:
        with Server(PGWS_HOST=host) as s:
            a4 = accepts("127.0.0.1", s.port)
            a6 = accepts("::1", s.port)
            check((a4, a6) == (v4, v6), "PGWS_HOST=%s: 127.0.0.1 %s, ::1 %s "
                  "(expected %s, %s)" % (host, a4, a6, v4, v6))
    with Server(PGWS_HOST="::1") as s:
        check(accepts("::1", s.port) and not accepts("127.0.0.1", s.port),
              "PGWS_HOST=::1: only ::1")
    for var, val in (("PGWS_PORT", "abc"), ("PGWS_PORT", "65536"),
                     ("PGWS_HOST", "!5")):
        rc, err, _ = start_status({var: val})
        check(rc == 2 and var in err, "%s=%s -> exit 2 naming it (%s %r)"
              % (var, val, rc, err.strip()[:80]))


# -- d. the pool on demand -----------------------------------------------------

def backends(app):
    r = psql("SELECT count(*) FROM pg_stat_activity WHERE application_name = %s"
             % lit(app))
    return int(r.stdout.strip() or -1)


def pool_server(app, **env):
    sep = "&" if "?" in URI else "?"
    return Server(PGWS_DB_URI=URI + sep + "application_name=" + app, **env)


def test_pool_on_demand():
    h = subprocess.run([BIN, "--help"], capture_output=True, text=True).stdout
    m = re.search(r"PGWS_POOL_IDLE_TIMEOUT\s+\[(\w+)\]", h)
    check(m is not None, "--help lists PGWS_POOL_IDLE_TIMEOUT (%s)"
          % (m and m.group(1)))
    app = "pgws_dropin_pool"
    with pool_server(app, PGWS_POOL_SIZE=4, PGWS_POOL_IDLE_TIMEOUT=1) as s:
        time.sleep(0.5)
        n0 = backends(app)
        check(1 <= n0 <= 2, "idle at start: the listener and at most one "
              "more (%d)" % n0)
        reader = Raw(s.port, "/pool/" + token({"mode": "r"}))
        writers = [Raw(s.port, "/pool/" + token({"mode": "w"}))
                   for _ in range(8)]
        for i, w in enumerate(writers):
            w.send_frame(1, b"w%d" % i)
        got = set()
        for _ in range(8):
            f = recv_data(reader)
            if f:
                got.add(json.loads(f[1])["payload"])
        check(len(got) == 8, "8 writers published (%d)" % len(got))
        peak = backends(app)
        check(3 <= peak <= 5, "publishing opened pool connections, at most "
              "PGWS_POOL_SIZE=4 (%d backends)" % peak)
        for w in writers:
            w.close()
        time.sleep(3)
        n1 = backends(app)
        check(n1 <= 2 and n1 < peak, "idle for PGWS_POOL_IDLE_TIMEOUT: pool "
              "connections closed (%d)" % n1)
        # Order across the reopening: 300 messages from one writer while
        # its pool connection is being opened again.
        w = Raw(s.port, "/pool/" + token({"mode": "w"}))
        for i in range(300):
            w.send_frame(1, b"%d" % i)
        seq = []
        while len(seq) < 300:
            f = recv_data(reader)
            if f is None:
                break
            seq.append(int(json.loads(f[1])["payload"]))
        check(seq == list(range(300)), "300 messages after the idle close "
              "arrive in order (%d, first wrong %s)" % (len(seq),
              next((i for i, v in enumerate(seq) if v != i), None)))
        w.close()
        reader.close()
    with pool_server(app + "1", PGWS_POOL_SIZE=1) as s:
        reader = Raw(s.port, "/p1/" + token({"mode": "r"}))
        writers = [Raw(s.port, "/p1/" + token({"mode": "w"}))
                   for _ in range(6)]
        most = 0
        for rnd in range(5):
            for w in writers:
                w.send_frame(1, b"x")
            most = max(most, backends(app + "1"))
        for _ in range(30):
            recv_data(reader, timeout=2)
        most = max(most, backends(app + "1"))
        check(most <= 2, "PGWS_POOL_SIZE=1: never more than the listener and "
              "one (%d)" % most)
        for w in writers:
            w.close()
        reader.close()
    for bad in ("0", "86401"):
        rc, err, _ = start_status({"PGWS_POOL_IDLE_TIMEOUT": bad})
        check(rc == 2 and "PGWS_POOL_IDLE_TIMEOUT" in err,
              "PGWS_POOL_IDLE_TIMEOUT=%s -> exit 2" % bad)


# -- e. token precedence --------------------------------------------------------

def test_path_token_wins():
    a = token({"mode": "r", "channel": "pa"})
    b = token({"mode": "r", "channel": "pb"})
    bad = a[:-4] + ("AAAA" if not a.endswith("AAAA") else "BBBB")
    with Server() as s:
        st, body = up(s, "/pa/" + a, "Authorization: Bearer %s\r\n" % b)
        check(st == 101, "/pa/<token for pa> with a header token for pb -> "
              "101 (path wins) (%s %r)" % (st, body))
        st, body = up(s, "/pa/" + bad, "Authorization: Bearer %s\r\n" % a)
        check(st == 401, "/pa/<bad token> with a good header token -> 401 "
              "(the path's token is the one checked) (%s %r)" % (st, body))
        st, _ = up(s, "/pa", "Authorization: Bearer %s\r\n" % a)
        check(st == 101, "/pa with a header token -> 101 (no token in the path)")
        st, _ = up(s, "/", "Authorization: Bearer %s\r\n" % a)
        check(st == 101, "/ with a header token -> 101")
        # /<jwt> with a header: the path's token gives the channels.
        r = RawH(s.port, "/" + a, "Authorization: Bearer %s\r\n" % b)
        check(r.status == 101, "/<token pa> with header token pb -> 101")
        if r.status == 101:
            notify(json.dumps({"channel": "pb", "payload": "b"}))
            f = delivered(r, "pa", "a")
            check(f is not None and json.loads(f[1])["payload"] == "a",
                  "granted the path token's channel pa, not the header's pb "
                  "(%r)" % (f,))
        r.close()


def notify(payload):
    psql("SELECT pg_notify(%s, %s)" % (lit(LISTEN), lit(payload)))


# -- f. message_delivered_at ------------------------------------------------------

def pairs_hook(dups):
    def hook(pairs):
        keys = [k for k, _ in pairs]
        for k in set(keys):
            if keys.count(k) > 1:
                dups.append(k)
        return dict(pairs)
    return hook


def check_envelope(raw, what, claims_expect):
    dups = []
    try:
        env = json.loads(raw, object_pairs_hook=pairs_hook(dups))
    except ValueError as e:
        check(False, "%s: envelope is JSON (%s: %r)" % (what, e, raw[:200]))
        return
    cl = env.get("claims", {})
    mda = cl.get("message_delivered_at")
    now = time.time()
    check(not dups and isinstance(mda, float) and abs(mda - now) < 60,
          "%s: one message_delivered_at, the time of handling (%s, dups %s)"
          % (what, mda, dups))
    check(raw.count(b"message_delivered_at") == 1 + claims_expect.pop("_nested", 0),
          "%s: the key is written once (%r)" % (what, raw[:300]))
    for k, v in claims_expect.items():
        check(cl.get(k) == v, "%s: claim %s kept (%r)" % (what, k, cl.get(k)))


def test_delivered_at_replaces_claim():
    variants = [
        ('{"message_delivered_at":5,"mode":"rw","channel":"env"}', {"mode": "rw"}),
        ('{"mode":"rw","message_delivered_at":"x","channel":"env","u":1}', {"u": 1}),
        ('{"mode":"rw","channel":"env","message_delivered_at":{"a":[1,2]}}', {"channel": "env"}),
        ('{ "mode" : "rw" , "message_delivered_at" : null , "channel" : "env" }', {"mode": "rw"}),
        ('{"mode":"rw","channel":"env","message\\u005fdelivered_at":7}', {"mode": "rw"}),
        ('{"mode":"rw","channel":"env","x":{"message_delivered_at":1}}',
         {"x": {"message_delivered_at": 1}, "_nested": 1}),
        ('{"message_delivered_at":1,"message_delivered_at":2,"mode":"rw","channel":"env"}',
         {"mode": "rw"}),
    ]
    with Server(PGWS_META_CHANNEL="meta") as s:
        reader = Raw(s.port, "/" + token({"mode": "r", "channels": ["env", "meta"]}))
        check(reader.status == 101, "reader of env and meta")
        for i, (claims, expect) in enumerate(variants):
            # "n" tells the events of one writer from the others'.
            claims = claims[:claims.rindex("}")] + ',"n":%d}' % i
            w = Raw(s.port, "/env/" + raw_token(claims))
            if not check(w.status == 101, "writer %d: 101 (%s)" % (i, w.status)):
                continue
            w.send_frame(1, b"m%d" % i)
            w.send_frame(8, b"\x03\xe8")
            got = {}
            while len(got) < 3:
                f = recv_data(reader)
                if f is None:
                    break
                env = json.loads(f[1])
                if env.get("claims", {}).get("n") == i:
                    got[env.get("event")] = f[1]
            w.close()
            for ev in ("ConnectionOpen", "WebsocketMessage", "ConnectionClose"):
                if check(ev in got, "writer %d: %s received" % (i, ev)):
                    check_envelope(got[ev], "writer %d %s" % (i, ev), dict(expect))
        reader.close()


# -- g. static files ---------------------------------------------------------------

def test_static_dot_segments_and_fifo():
    root = tempfile.mkdtemp(prefix="pgws-dropin-")
    os.makedirs(root + "/.git")
    os.makedirs(root + "/sub/.hidden")
    for name, text in (("ok.txt", "ok"), (".env", "SECRET=1"),
                       (".git/config", "[core]"), ("sub/.hidden/x.txt", "hid"),
                       ("sub/ok.txt", "subok")):
        with open(os.path.join(root, name), "w") as f:
            f.write(text)
    fifo = root + "/pipe"
    os.mkfifo(fifo)
    os.symlink("pipe", root + "/pipe.txt")
    us = socket.socket(socket.AF_UNIX)
    us.bind(root + "/sock")
    with Server(PGWS_ROOT_PATH=root) as s:
        check(body_of(get(s, "/ok.txt")) == "ok", "/ok.txt served")
        check(body_of(get(s, "/sub/ok.txt")) == "subok", "/sub/ok.txt served")
        for p in ("/.env", "/.git/config", "/.git/", "/sub/.hidden/x.txt",
                  "/%2eenv", "/%2Egit/config", "/sub/%2ehidden/x.txt",
                  "/.well-known/none", "/.", "/..", "/../ok.txt",
                  "/sub/../ok.txt"):
            r = get(s, p)
            check(status_of(r) == 403 and b"SECRET" not in r and b"[core]" not in r
                  and b"hid" not in body_of(r).encode(),
                  "%s -> 403 (%d)" % (p, status_of(r)))
        check(status_of(get(s, "/.env", "HEAD")) == 403, "HEAD /.env -> 403")

        # A blocked writer tells whether pgws ever opened the FIFO: its
        # open() returns as soon as any reader opens it.
        opened = threading.Event()

        def writer():
            fd = os.open(fifo, os.O_WRONLY)
            opened.set()
            os.close(fd)
        t = threading.Thread(target=writer, daemon=True)
        t.start()
        time.sleep(0.2)
        for p in ("/pipe", "/pipe.txt", "/sock"):
            t0 = time.time()
            r = get(s, p)
            check(status_of(r) == 403 and time.time() - t0 < 2,
                  "%s (not a regular file) -> 403 at once (%d, %.2fs)"
                  % (p, status_of(r), time.time() - t0))
        time.sleep(0.3)
        check(not opened.is_set(), "pgws never opened the FIFO")
        # Keep-alive past a refused FIFO, and the loop still serves others.
        r = s.http(b"GET /pipe HTTP/1.1\r\nHost: x\r\n\r\n"
                   b"GET /ok.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        check(r.startswith(b"HTTP/1.1 403") and r.endswith(b"ok"),
              "after the FIFO's 403 the same connection gets /ok.txt")
        # Release the writer.
        fd = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
        t.join(2)
        os.close(fd)
    us.close()
    subprocess.run(["rm", "-rf", root])


run(globals())
