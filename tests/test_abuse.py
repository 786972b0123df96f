#!/usr/bin/python3
"""Abuse tests for pgws: slowloris, connection and frame floods, running
out of descriptors, SIGTERM under load, and hostile tokens, paths and
channel names.  Where it matters the resident memory of pgws
(/proc/<pid>/status VmRSS) is sampled before and after, and must come back
near its baseline.

    . tests/pg.sh && pg_start
    PGWS_BIN=./pgws-debug /usr/bin/python3 tests/test_abuse.py [test_name ...]
    pg_stop

All traffic goes to 127.0.0.1; every loop is bounded in count and time.
"""
import asyncio
import json
import os
import random
import re
import select
import socket
import subprocess
import sys
import threading
import time
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (recv_data, OP_CONT, OP_TEXT, OP_BIN, OP_CLOSE, OP_PING, OP_PONG, status_of, body_of, sock_gone, BIN, Raw, Server, check, psql, run, token,  # noqa: E402
                     upgrade_request, SECRET, b64url, lit, raise_nofile, status_kb, cpu_s)

import websockets  # noqa: E402

LISTEN = "postgres-websockets-listener"
TOK = token({"mode": "rw", "channel": "chat"})
PATH = "/chat/" + TOK

# Memory allowed above the baseline once a load has passed.  The sanitizer
# build keeps freed blocks in ASan's quarantine, so it gets more slack.
SANITIZED = "debug" in os.path.basename(BIN)
RSS_SLACK_KB = 2048 if not SANITIZED else 16384


# ---------------------------------------------------------------- helpers





def get(srv, path, timeout=5):
    return srv.http(("GET %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
                     % path).encode(), timeout)


def health(srv):
    try:
        return status_of(get(srv, "/health"))
    except OSError:
        return 0


def metric(srv, name):
    body = body_of(get(srv, "/metrics"))
    m = re.search(r"^%s (\d+)" % re.escape(name), body, re.M)
    return int(m.group(1)) if m else None


def settle_rss(srv, base, secs=3.0):
    """RSS sampled until it is within the slack of base, or secs passed."""
    end = time.time() + secs
    r = status_kb(srv)
    while r - base > RSS_SLACK_KB and time.time() < end:
        time.sleep(0.2)
        r = status_kb(srv)
    return r




def echo(srv, text, path=PATH, timeout=5):
    """A rw client writes text; returns the payload of the envelope it gets
    back through PostgreSQL (or a description of what came instead)."""
    try:
        r = Raw(srv.port, path, timeout=timeout)
    except OSError as e:
        return "<connect: %s>" % e
    try:
        if r.status != 101:
            return "<status %s>" % r.status
        r.send_frame(OP_TEXT, text.encode())
        f = recv_data(r, timeout)
        if f is None or f[0] != OP_TEXT:
            return "<no text frame: %r>" % (f,)
        return json.loads(f[1].decode())["payload"]
    except OSError as e:
        return "<%s>" % e
    finally:
        r.close()




def connect(srv, timeout=5):
    return socket.create_connection(("127.0.0.1", srv.port), timeout=timeout)


def send_len(r, b0, n, payload=b""):
    """A masked frame header declaring n bytes (64-bit form), then payload."""
    key = os.urandom(4)
    body = bytes(c ^ key[i % 4] for i, c in enumerate(payload))
    r.s.sendall(bytes([b0, 0x80 | 127]) + n.to_bytes(8, "big") + key + body)


# ---------------------------------------------------------------- slowloris

def test_slowloris():
    N = 1000
    raise_nofile(N + 500)
    with Server(PGWS_HANDSHAKE_TIMEOUT=2) as srv:
        check(echo(srv, "warm") == "warm", "warm-up echo")
        time.sleep(0.2)
        base = status_kb(srv)
        req = upgrade_request(PATH)
        socks = []
        t0 = time.time()
        for i in range(N):
            try:
                s = connect(srv, 5)
            except OSError as e:
                print("   connect %d: %s" % (i, e))
                break
            s.setblocking(False)
            socks.append(s)
        check(len(socks) == N, "%d slow connections opened (%d) in %.1fs"
              % (N, len(socks), time.time() - t0))
        opened = time.time()
        pos = [0] * len(socks)
        closed_at = [None] * len(socks)
        result = {}

        def normal():
            time.sleep(0.5)
            t = time.time()
            result["echo"] = echo(srv, "through the slowloris")
            result["dt"] = time.time() - t

        th = threading.Thread(target=normal)
        th.start()
        poller = select.poll()
        fdmap = {}
        for i, s in enumerate(socks):
            poller.register(s, select.POLLIN)
            fdmap[s.fileno()] = i
        # one byte per connection every 0.25 s, until pgws closes them all
        # (2 s timeout) or 8 s have passed
        next_tick = time.time()
        while time.time() - opened < 8 and None in closed_at:
            if time.time() >= next_tick:
                next_tick += 0.25
                for i, s in enumerate(socks):
                    if closed_at[i] is None and pos[i] < len(req) - 1:
                        try:
                            s.send(req[pos[i]:pos[i] + 1])
                            pos[i] += 1
                        except BlockingIOError:
                            pass
                        except OSError:
                            closed_at[i] = time.time()
                            poller.unregister(s)
            for fd, ev in poller.poll(50):
                i = fdmap[fd]
                if closed_at[i] is not None:
                    continue
                try:
                    b = socks[i].recv(4096)
                except BlockingIOError:
                    continue
                except OSError:
                    b = b""
                if not b:  # a 408 answer is fine; EOF is what counts
                    closed_at[i] = time.time()
                    poller.unregister(socks[i])
        th.join(10)
        n_closed = sum(1 for c in closed_at if c is not None)
        last = max((c for c in closed_at if c is not None), default=opened)
        check(result.get("echo") == "through the slowloris",
              "a normal client gets its echo among %d slow ones (%r, %.2fs)"
              % (N, result.get("echo"), result.get("dt", -1)))
        check(result.get("dt", 99) < 2, "and gets it promptly")
        check(n_closed == len(socks), "pgws closed every slow connection "
              "(%d of %d)" % (n_closed, len(socks)))
        check(last - opened < 4.5, "within the 2 s handshake timeout "
              "(+slack): last closed after %.1fs" % (last - opened))
        check(max(pos) < len(req) - 1, "no slow request was ever completed")
        for s in socks:
            s.close()
        time.sleep(0.5)
        after = settle_rss(srv, base)
        check(after - base <= RSS_SLACK_KB, "RSS back near baseline: %d kB -> "
              "%d kB (+%d kB, slack %d)" % (base, after, after - base,
                                           RSS_SLACK_KB))
        check(metric(srv, "pgws_connections") == 1,
              "only the /metrics connection is left open")
        check(echo(srv, "after") == "after", "echo after the slowloris")


# ---------------------------------------------------------------- floods

def flood_abandon(srv, n):
    """n connections opened and dropped in four ways."""
    req = upgrade_request(PATH)
    for i in range(n):
        s = connect(srv, 5)
        k = i % 4
        if k == 1:
            s.sendall(b"GET /chat/")
        elif k == 2:
            s.sendall(req[:len(req) // 2])
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                         b"\x01\x00\x00\x00\x00\x00\x00\x00")  # RST
        elif k == 3:
            s.sendall(req)  # a full upgrade, never read
        s.close()


def flood_garbage(srv, n, rng):
    """n requests of random garbage; returns (statuses, hung)."""
    statuses = {}
    hung = 0
    valid_hdrs = ["Host: x", "Upgrade: websocket", "Connection: Upgrade",
                  "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
                  "Sec-WebSocket-Version: 13"]
    for i in range(n):
        k = i % 5
        junk = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 600)))
        if k == 0:
            req = junk + b"\r\n\r\n"
        elif k == 1:
            req = b"GET " + junk.replace(b" ", b"") + b" HTTP/1.1\r\n\r\n"
        elif k == 2:
            req = (b"GET " + PATH.encode() + b" HTTP/1.1\r\n" + junk +
                   b"\r\n" + "\r\n".join(valid_hdrs).encode() + b"\r\n\r\n")
        elif k == 3:
            h = list(valid_hdrs)
            j = rng.randrange(len(h))
            h[j] = h[j].split(":")[0] + ": " + junk.decode("latin-1") \
                .replace("\r", "").replace("\n", "")
            req = (b"GET " + PATH.encode() + b" HTTP/1.1\r\n" +
                   "\r\n".join(h).encode("latin-1") + b"\r\n\r\n")
        else:
            req = (b"GET /" + urllib.parse.quote_from_bytes(junk).encode() +
                   b"/" + TOK.encode() + b" HTTP/1.1\r\n" +
                   "\r\n".join(valid_hdrs).encode() + b"\r\n\r\n")
        s = connect(srv, 3)
        try:
            s.sendall(req)
            s.settimeout(2.5)
            b = s.recv(4096)
            st = status_of(b) if b else "eof"
        except socket.timeout:
            st = "hung"
            hung += 1
        except (ConnectionResetError, BrokenPipeError):
            st = "reset"
        s.close()
        statuses[st] = statuses.get(st, 0) + 1
        if hung > 3:
            break
    return statuses, hung


def huge_frames(srv):
    """Frames declaring 2^63-1 bytes, alone and after fragments."""
    big = (1 << 63) - 1
    cases = [
        ("text frame of 2^63-1", [(0x81, big, b"x" * 100)]),
        ("binary frame of 2^63-1", [(0x82, big, b"\x00" * 100)]),
        ("continuation of 2^63-1 after a 100-byte fragment",
         [(0x01, 100, b"a" * 100), (0x80, big, b"b" * 100)]),
        ("non-final continuation of 2^63-1 - 50 after 100 bytes",
         [(0x01, 100, b"a" * 100), (0x00, big - 50, b"b" * 100)]),
        ("two continuations of 2^62 after 100 bytes",
         [(0x01, 100, b"a" * 100), (0x00, 1 << 62, b"")]),
        ("ping of 2^63-1", [(0x89, big, b"p" * 10)]),
        ("close of 2^63-1", [(0x88, big, b"\x03\xe8")]),
    ]
    for what, frames in cases:
        # A data frame over the message limit is 1009 (too big); a control
        # frame longer than 125 bytes is a protocol error, 1002.
        want = 1002 if frames[-1][0] & 0x08 else 1009
        r = Raw(srv.port, PATH)
        if not check(r.status == 101, "upgrade for: " + what):
            r.close()
            continue
        try:
            for b0, n, payload in frames:
                if n < 126:
                    key = os.urandom(4)
                    body = bytes(c ^ key[i % 4] for i, c in enumerate(payload))
                    r.s.sendall(bytes([b0, 0x80 | n]) + key + body)
                else:
                    send_len(r, b0, n, payload)
        except OSError:
            pass
        code = r.recv_close(3)
        check(code == want, "%s -> close %d (got %s)" % (what, want, code))
        check(sock_gone(r.s, 3), what + ": TCP closed")
        r.close()


def ping_flood(srv, n=10000):
    """n pings from one raw client in ~1.5 s; returns (pongs, in order
    and answering the last ping, seconds to send).  RFC 6455 5.5.3 lets a
    server answer only the most recent of several pings, which pgws does
    while a pong is still on its way."""
    r = Raw(srv.port, "/pings/" + token({"mode": "r", "channel": "pings"}))
    if r.status != 101:
        return 0, False, 0
    got = []
    done = threading.Event()

    def reader():
        end = time.time() + 15
        while time.time() < end:
            f = r.recv_frame(3)
            if f is None:
                break
            if f[0] == OP_PONG:
                got.append(f[1])
                if f[1] == (n - 1).to_bytes(4, "big"):
                    break
        done.set()

    th = threading.Thread(target=reader)
    th.start()
    frames = []
    for i in range(n):
        key = os.urandom(4)
        p = i.to_bytes(4, "big")
        frames.append(bytes([0x89, 0x80 | 4]) + key +
                      bytes(c ^ key[j % 4] for j, c in enumerate(p)))
    chunk = 500
    t0 = time.time()
    for a in range(0, n, chunk):
        r.s.sendall(b"".join(frames[a:a + chunk]))
        time.sleep(0.07)
    sent_in = time.time() - t0
    th.join(20)
    nums = [int.from_bytes(p, "big") for p in got]
    ok_order = bool(nums) and nums == sorted(set(nums)) and nums[-1] == n - 1
    r.close()
    return len(got), ok_order, sent_in


def test_floods():
    raise_nofile(4000)
    with Server(PGWS_HANDSHAKE_TIMEOUT=2) as srv:
        check(echo(srv, "warm") == "warm", "warm-up echo")
        flood_abandon(srv, 200)  # warm the allocator and connection table
        time.sleep(0.5)
        base = status_kb(srv)

        t = time.time()
        flood_abandon(srv, 2000)
        print("   2000 connections opened and abandoned (%.1fs)"
              % (time.time() - t), flush=True)
        check(health(srv) == 200, "/health answers after the connection flood")
        check(echo(srv, "after abandon") == "after abandon",
              "echo after the connection flood")

        rng = random.Random(6455)
        t = time.time()
        statuses, hung = flood_garbage(srv, 500, rng)
        print("   garbage statuses: %s (%.1fs)" % (statuses, time.time() - t))
        check(hung == 0, "500 garbage handshakes: none left hanging (%d)" % hung)
        bad = {k: v for k, v in statuses.items()
               if isinstance(k, int) and k >= 500}
        check(not bad, "no 5xx answer to garbage (%s)" % bad)
        check(health(srv) == 200, "/health answers after the garbage flood")

        huge_frames(srv)
        check(health(srv) == 200, "/health answers after the 2^63-1 frames")

        res = {}

        def other():
            time.sleep(0.4)
            t = time.time()
            res["echo"] = echo(srv, "during the ping flood")
            res["dt"] = time.time() - t

        th = threading.Thread(target=other)
        th.start()
        pongs, in_order, sent_in = ping_flood(srv, 10000)
        th.join(10)
        check(1 <= pongs <= 10000, "10000 pings sent in %.1fs: %d pongs"
              % (sent_in, pongs))
        check(in_order, "pongs carry their pings' payloads, in order, none "
              "twice, and the last ping is answered")
        check(res.get("echo") == "during the ping flood",
              "another client gets its echo during the ping flood (%r, %.2fs)"
              % (res.get("echo"), res.get("dt", -1)))

        time.sleep(2.5)  # abandoned half-requests time out (2 s)
        after = settle_rss(srv, base)
        check(after - base <= RSS_SLACK_KB, "RSS back near baseline: %d kB -> "
              "%d kB (+%d kB, slack %d)" % (base, after, after - base,
                                           RSS_SLACK_KB))
        check(metric(srv, "pgws_connections") == 1,
              "no connection left behind (pgws_connections %s)"
              % metric(srv, "pgws_connections"))
        check(metric(srv, "pgws_websockets") == 0, "no websocket left behind")
        check(health(srv) == 200, "pgws still answers /health")


# ---------------------------------------------------------------- EMFILE

def test_out_of_descriptors():
    raise_nofile(1000)
    with Server() as srv:
        check(echo(srv, "before") == "before", "echo before the limit")
        r = subprocess.run(["prlimit", "--pid", str(srv.p.pid),
                            "--nofile=64:64"], capture_output=True, text=True)
        if not check(r.returncode == 0, "prlimit --nofile=64:64 (%s)"
                     % r.stderr.strip()):
            return
        socks = []
        for i in range(100):
            try:
                s = connect(srv, 2)
                s.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n")  # unfinished
                socks.append(s)
            except OSError as e:
                print("   connect %d: %s" % (i, e))
                break
        check(len(socks) == 100, "100 connections made (%d); the backlog "
              "holds those pgws cannot accept" % len(socks))
        time.sleep(0.3)
        c0 = cpu_s(srv)
        time.sleep(3)
        used = cpu_s(srv) - c0
        check(used < 0.5, "pgws does not spin out of descriptors: %.2f s CPU "
              "in 3 s" % used)
        log = srv.log()
        check(re.search(r"accept.*(Too many open files|No file descriptors available|EMFILE)", log)
              is not None, "EMFILE on accept is logged")
        n = len(re.findall(r"accept.*(?:Too many open files|No file descriptors|EMFILE)", log))
        check(n < 100, "and not flooding the log (%d lines in ~3 s)" % n)
        for s in socks:
            s.close()
        ok = None
        end = time.time() + 8
        while time.time() < end:
            ok = echo(srv, "recovered", timeout=2)
            if ok == "recovered":
                break
            time.sleep(0.3)
        check(ok == "recovered", "after closing them, a new client works (%r)"
              % ok)
        check(health(srv) == 200, "/health answers")


# ---------------------------------------------------------------- SIGTERM

def notifier(stop, counter, channel="load", interval=0.01):
    """Notifications from a psql session until stop is set."""
    p = subprocess.Popen(["psql", "-X", "-q", "-At", os.environ["PGWS_TEST_URI"]],
                         stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL, text=True)
    i = 0
    end = time.time() + 60
    try:
        while not stop.is_set() and time.time() < end:
            p.stdin.write("SELECT pg_notify('%s', %s);\n" % (
                LISTEN, lit(json.dumps({"channel": channel, "payload": "n%d" % i}))))
            p.stdin.flush()
            i += 1
            counter[0] = i
            time.sleep(interval)
    finally:
        try:
            p.stdin.close()
        except OSError:
            pass
        p.wait(10)


async def test_sigterm_under_load():
    raise_nofile(1000)
    srv = Server()
    stop = threading.Event()
    counter = [0]
    th = threading.Thread(target=notifier, args=(stop, counter))
    try:
        tok = token({"mode": "r", "channel": "load"})
        clients = []
        for i in range(50):
            clients.append(await websockets.connect(
                srv.url + "/load/" + tok, ping_interval=None, open_timeout=5,
                close_timeout=3, max_queue=None))
        counts = [0] * 50

        async def consume(i, ws):
            try:
                async for _ in ws:
                    counts[i] += 1
            except websockets.ConnectionClosed:
                pass

        tasks = [asyncio.create_task(consume(i, w)) for i, w in enumerate(clients)]
        th.start()
        end = time.time() + 10
        while min(counts) < 30 and time.time() < end:
            await asyncio.sleep(0.1)
        check(min(counts) >= 30, "50 clients receive notifications (min %d)"
              % min(counts))
        t = time.time()
        rc = await asyncio.to_thread(srv.stop)
        dt = time.time() - t
        await asyncio.wait(tasks, timeout=5)
        codes = [w.close_code for w in clients]
        check(all(c == 1001 for c in codes), "every client saw close 1001 "
              "(%s)" % {c: codes.count(c) for c in set(codes)})
        check(rc == 0 and dt < 6, "exit 0 within %.1fs under load (%d "
              "notifications sent, %d delivered)" % (dt, counter[0], sum(counts)))
    finally:
        stop.set()
        if th.is_alive():
            th.join(15)
        if not srv.stopped:
            srv.stop()


# ---------------------------------------------------------------- security

def up(srv, path, extra=""):
    """(status, body) of an upgrade request: the response head and what
    follows it within 0.2 s; a reset while sending still reads the answer."""
    s = connect(srv, 5)
    buf = b""
    try:
        try:
            s.sendall(upgrade_request(path, extra=extra))
        except (BrokenPipeError, ConnectionResetError):
            pass
        end = time.time() + 5
        while b"\r\n\r\n" not in buf and time.time() < end:
            b = s.recv(65536)
            if not b:
                break
            buf += b
        if b"\r\n\r\n" in buf and not buf.startswith(b"HTTP/1.1 101"):
            s.settimeout(0.2)
            while True:
                b = s.recv(65536)
                if not b:
                    break
                buf += b
    except (socket.timeout, ConnectionResetError):
        pass
    finally:
        s.close()
    return status_of(buf), body_of(buf)


def hs256_with(header, claims, secret=SECRET):
    return token(claims, secret=secret, header=header)


def unsigned(header, claims, sig=""):
    return (b64url(json.dumps(header).encode()) + "." +
            b64url(json.dumps(claims).encode()) + "." + sig)


def test_token_attacks():
    with Server() as srv:
        c = {"mode": "rw", "channel": "sec"}
        good = token(c)
        check(up(srv, "/sec/" + good)[0] == 101, "the valid token is accepted")
        h, p, s = good.split(".")
        cases = []
        for alg in ("none", "None", "NONE", "nOnE"):
            cases += [("alg %s, empty signature" % alg,
                       unsigned({"alg": alg, "typ": "JWT"}, c)),
                      ("alg %s, no third segment" % alg,
                       unsigned({"alg": alg}, c)[:-1]),
                      ("alg %s with an HS256 signature" % alg,
                       hs256_with({"alg": alg}, c))]
        for alg in ("RS256", "ES256", "PS256", "EdDSA", "hs256", "HS256 ",
                    "", "HS1"):
            cases.append(("alg %r signed HMAC-SHA256 with the secret" % alg,
                          hs256_with({"alg": alg, "typ": "JWT"}, c)))
        cases += [
            ("no alg", hs256_with({"typ": "JWT"}, c)),
            ("alg as an array", hs256_with({"alg": ["HS256"]}, c)),
            ("alg as null", hs256_with({"alg": None}, c)),
            ("forged: last signature char changed",
             h + "." + p + "." + s[:-2] + ("A" if s[-2] != "A" else "B") + s[-1]),
            ("forged: first signature char changed",
             h + "." + p + "." + ("A" if s[0] != "A" else "B") + s[1:]),
            ("forged: claims swapped, old signature",
             h + "." + b64url(json.dumps({"mode": "rw", "channel": "sec",
                                          "admin": True}).encode()) + "." + s),
            ("forged: signature truncated to 1 byte", h + "." + p + "." + s[:2]),
            ("forged: empty signature", h + "." + p + "."),
            ("forged: signature doubled", h + "." + p + "." + s + s),
            ("forged: signed with another secret", token(c, secret="x" * 32)),
            ("forged: signed with an empty secret", token(c, secret="")),
            ("HS512 signature under an HS256 header",
             h + "." + p + "." + token(c, alg="HS512").split(".")[2]),
            ("four segments", good + ".x"),
            ("crit header", hs256_with({"alg": "HS256", "crit": ["exp"]}, c)),
            ("header not JSON", b64url(b"{alg:HS256") + "." + p + "." + s),
        ]
        for what, t in cases:
            st, body = up(srv, "/sec/" + t)
            check(st == 401, "%s -> 401 (got %s %r)" % (what, st, body[:40]))

        # a token reused after its exp
        t = token({"mode": "r", "channel": "sec", "exp": int(time.time()) + 2})
        check(up(srv, "/sec/" + t)[0] == 101, "short-lived token accepted")
        time.sleep(max(0, (int(time.time()) + 2) - time.time()) + 1.1)
        st, body = up(srv, "/sec/" + t)
        check(st == 401 and body == "Token expired",
              "the same token reused after exp -> 401 Token expired (%s %r)"
              % (st, body))

        # channels
        check(up(srv, "/other/" + good)[0] == 403, "channel outside the claims -> 403")
        check(up(srv, "/" + token({"mode": "r", "channel": "a",
                                   "channels": ["b"]}))[0] == 101,
              "channel and channels together")
        for v in ("sec", ["sec", 1], [None], [{"x": 1}], {"0": "sec"}, True, 5):
            st, _ = up(srv, "/sec/" + token({"mode": "r", "channels": v}))
            check(st == 401, "channels claim %r -> 401 (got %s)" % (v, st))
        for v in (5, ["sec"], {"x": 1}):
            st, _ = up(srv, "/sec/" + token({"mode": "r", "channel": v}))
            check(st == 401, "channel claim %r (not a string) -> 401 (got %s)" % (v, st))
        # null counts as absent (SPEC section 2, as the original); an
        # explicit empty list grants nothing (beyond: the original fails open).
        for claims in ({"mode": "r", "channel": None},
                       {"mode": "r", "channels": None}):
            st, _ = up(srv, "/sec/" + token(claims))
            check(st == 101, "%r asks freely (got %s)" % (claims, st))
        st, body = up(srv, "/sec/" + token({"mode": "r", "channels": []}))
        check(st == 403 and body == "No allowed channels",
              "channels [] grants nothing -> 403 (%s %r)" % (st, body))

        # size: 100 KB tokens and headers
        big = token({"mode": "r", "channel": "sec", "pad": "p" * 100000})
        st, _ = up(srv, "/sec/" + big)
        check(st == 431, "100 KB token in the path -> 431 (head too big) (%s)" % st)
        st, _ = up(srv, "/sec", extra="Authorization: Bearer %s\r\n" % big)
        check(st == 431, "100 KB token in Authorization -> 431 (%s)" % st)
        st, _ = up(srv, "/sec/" + good, extra="X-Big: %s\r\n" % ("h" * 100000))
        check(st == 431, "100 KB header -> 431 (%s)" % st)
        st, _ = up(srv, "/sec/" + good, extra="X-A: a\r\n" * 12000)
        check(st == 431, "12000 small headers -> 431 (%s)" % st)
        check(health(srv) == 200, "/health after the big requests")
        log = srv.log()
        check(SECRET not in log, "the secret never appears in the log")
        check("eyJ" not in log, "no token (eyJ...) appears in the log")
        check(h not in log and s not in log, "no token segment in the log")

    with Server(PGWS_MAX_HEADER_SIZE=300000, PGWS_MAX_TOKEN_SIZE=65536) as srv:
        st, body = up(srv, "/sec/" + big)
        check(st == 401, "100 KB token under a 300 KB head limit -> 401 "
              "(token limit) (%s %r)" % (st, body[:40]))
        st, body = up(srv, "/sec", extra="Authorization: Bearer %s\r\n" % big)
        check(st == 401, "the same in Authorization -> 401 (%s)" % st)
        check("eyJ" not in srv.log() and "ppppp" not in srv.log(),
              "the 100 KB token is not logged")


def test_nul_bytes():
    with Server() as srv:
        t = token({"mode": "r"})
        for path in ("/%00/" + t, "/a%00b/" + t, "/a%00/" + t, "/%00",
                     "/a%00b/" + token({"mode": "r", "channel": "a"})):
            st, body = up(srv, path)
            # "/%00" alone is the one-segment form: a malformed token, 401;
            # a channel segment holding a NUL is an invalid channel name, 400.
            want = 401 if path == "/%00" else 400
            check(st == want, "NUL in the path %s... -> %d (got %s %r)"
                  % (path[:12], want, st, body[:40]))
        r = srv.http(b"GET /a\x00b/" + t.encode() + b" HTTP/1.1\r\nHost: x\r\n"
                     b"Upgrade: websocket\r\nConnection: Upgrade\r\n"
                     b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                     b"Sec-WebSocket-Version: 13\r\n\r\n")
        check(status_of(r) == 400, "a raw NUL byte in the request line -> 400 "
              "(got %s)" % status_of(r))
        st, _ = up(srv, "/a/" + t, extra="X-N: a\x00b\r\n")
        check(st == 400, "a NUL byte in a header value -> 400 (got %s)" % st)
        r = srv.http(b"GET /health\x00 HTTP/1.1\r\nHost: x\r\n\r\n", timeout=2)
        check(status_of(r) == 400, "NUL in a plain GET path -> 400 "
              "(got %s)" % status_of(r))

        # A channel claim with a NUL must never turn into the channel before
        # the NUL: the token is refused as malformed, 401.
        for claims in ({"mode": "r", "channel": "a\u0000b"},
                       {"mode": "r", "channels": ["a\u0000b"]}):
            raw = Raw(srv.port, "/" + token(claims))
            check(raw.status == 401, "token channel 'a\\u0000b' (%s) -> 401 "
                  "(got %s)" % (list(claims)[1], raw.status))
            raw.close()

        # A notification whose channel holds a NUL goes to no reader of "a".
        ra = Raw(srv.port, "/a/" + token({"mode": "r", "channel": "a"}))
        check(ra.status == 101, "reader of 'a'")
        psql("SELECT pg_notify(%s, %s)" % (lit(LISTEN), lit(
            '{"channel":"a\\u0000b","payload":"nul"}')))
        psql("SELECT pg_notify(%s, %s)" % (lit(LISTEN), lit(
            '{"channel":"a","payload":"plain"}')))
        f = recv_data(ra, 3)
        got = json.loads(f[1])["payload"] if f and f[0] == OP_TEXT else f
        check(got == "plain", "notification for 'a\\u0000b' does not reach "
              "'a' (first message %r)" % (got,))
        ra.close()


async def recv_json(ws, timeout=5):
    return json.loads(await asyncio.wait_for(ws.recv(), timeout))


async def test_sql_looking_channels():
    r = psql("DROP TABLE IF EXISTS t; CREATE TABLE t (x int); "
             "INSERT INTO t VALUES (42)")
    check(r.returncode == 0, "table t created (%s)" % r.stderr.strip())
    names = ["x'); DROP TABLE t; --", 'a"b', "x'; DROP TABLE t; --",
             "\\'); DROP TABLE t; --", "$$); DROP TABLE t; --",
             "x\"); DROP TABLE t; --", "é'\\n\"", "' || pg_sleep(5) || '"]
    with Server() as srv:
        for name in names:
            t = token({"mode": "rw", "channel": name})
            q = urllib.parse.quote(name, safe="")
            try:
                async with websockets.connect(srv.url + "/" + q + "/" + t,
                                              open_timeout=5) as ws, \
                        websockets.connect(srv.url + "/" + t,
                                           open_timeout=5) as ws2:
                    msg = "hi from " + name
                    t0 = time.time()
                    await ws.send(msg)
                    m = await recv_json(ws)
                    m2 = await recv_json(ws2)
                    check(m["channel"] == name and m["payload"] == msg and
                          m2 == m and time.time() - t0 < 3,
                          "channel %r: exactly its message, to both readers" % name)
                    try:
                        extra = await asyncio.wait_for(ws.recv(), 0.3)
                    except asyncio.TimeoutError:
                        extra = None
                    check(extra is None, "channel %r: nothing else (%r)"
                          % (name, extra))
                    # and from SQL, byte for byte
                    payload = json.dumps({"channel": name, "payload": "sql"})
                    psql("SELECT pg_notify(%s, %s)" % (lit(LISTEN), lit(payload)))
                    got = await asyncio.wait_for(ws.recv(), 5)
                    check(got == payload, "channel %r: pg_notify delivered" % name)
            except Exception as e:  # noqa: BLE001
                check(False, "channel %r: %r" % (name, e))
        r = psql("SELECT x FROM t")
        check(r.returncode == 0 and r.stdout.strip() == "42",
              "table t still exists with its row (%r %r)"
              % (r.stdout.strip(), r.stderr.strip()))
        log = srv.log()
        check(SECRET not in log and "eyJ" not in log, "no secret or token logged")
    psql("DROP TABLE IF EXISTS t")


async def test_no_cross_channel_leak():
    with Server() as srv:
        def url(ch, mode="r"):
            return srv.url + "/" + urllib.parse.quote(ch, safe="") + "/" + \
                token({"mode": mode, "channel": ch})
        w = await websockets.connect(url("a", "w"))
        readers = {ch: await websockets.connect(url(ch))
                   for ch in ("a", "b", "ab", "A", "a ", " a", "a/b")}
        for i in range(50):
            await w.send("m%d" % i)
        got = []
        for i in range(50):
            got.append((await recv_json(readers["a"]))["payload"])
        check(got == ["m%d" % i for i in range(50)], "reader of a got all 50 in order")
        # also 50 from SQL to a
        psql("SELECT count(pg_notify(%s, json_build_object('channel','a',"
             "'payload','s'||g)::text)) FROM generate_series(1,50) g" % lit(LISTEN))
        got = [json.loads(await asyncio.wait_for(readers["a"].recv(), 5))["payload"]
               for _ in range(50)]
        check(got == ["s%d" % i for i in range(1, 51)], "50 from SQL reach a")
        await asyncio.sleep(0.5)
        for ch, ws in readers.items():
            if ch == "a":
                continue
            n = 0
            try:
                while True:
                    await asyncio.wait_for(ws.recv(), 0.05)
                    n += 1
            except asyncio.TimeoutError:
                pass
            check(n == 0, "reader of %r got none of a's 100 messages (%d)" % (ch, n))
        # the writer in mode w is not a reader of a either
        try:
            await asyncio.wait_for(w.recv(), 0.2)
            check(False, "the mode-w writer received something")
        except asyncio.TimeoutError:
            check(True, "the mode-w writer received nothing")
        for ws in list(readers.values()) + [w]:
            await ws.close()


# ---------------------------------------------------------------- pipelines

def test_pipeline_flood():
    """Hundreds of pipelined requests in one write, static files among
    them: every one is answered, in order, then the connection closes."""
    import tempfile
    root = tempfile.mkdtemp(prefix="pgws-abuse-")
    with open(root + "/index.html", "w") as f:
        f.write("<p>index</p>")
    with open(root + "/big.txt", "w") as f:
        f.write("b" * 200000)
    kinds = [b"GET /health", b"GET /", b"HEAD /big.txt", b"GET /missing",
             b"GET /metrics", b"GET /big.txt"]
    with Server(PGWS_ROOT_PATH=root, PGWS_HANDSHAKE_TIMEOUT=3) as srv:
        for name, reqs in (("no file bodies", [k for k in kinds if k in (
                               b"GET /health", b"HEAD /big.txt", b"GET /missing")] * 100),
                           ("with file bodies", kinds * 50)):
            data = b"".join(k + b" HTTP/1.1\r\nHost: x\r\n\r\n" for k in reqs)
            data += b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
            s = connect(srv, 5)
            s.sendall(data)
            out, eof, t0 = b"", False, time.time()
            s.settimeout(2)
            try:
                while time.time() - t0 < 6:
                    b = s.recv(1 << 20)
                    if not b:
                        eof = True
                        break
                    out += b
            except (socket.timeout, ConnectionResetError):
                pass
            s.close()
            n = len(re.findall(rb"HTTP/1\.1 [0-9]{3} ", out))
            check(n == len(reqs) + 1 and eof,
                  "%d pipelined requests (%s): %d answered, eof %s in %.1fs"
                  % (len(reqs) + 1, name, n, eof, time.time() - t0))
        check(health(srv) == 200, "/health after the pipelines")
    import shutil
    shutil.rmtree(root, ignore_errors=True)


# ---------------------------------------------------------------- routing

def test_routing_edges():
    """Notifications that are valid JSON objects with a string channel go to
    that channel and nowhere else, however deep or long; everything else
    goes to the listen-channel-named channel only."""
    with Server() as srv:
        lc = Raw(srv.port, "/" + LISTEN + "/" + token({"mode": "r", "channel": LISTEN}))
        check(lc.status == 101, "reader of the listen-channel-named channel")

        def route(what, name, payload):
            rd = Raw(srv.port, "/" + token({"mode": "r", "channel": name}))
            if not check(rd.status == 101, what + ": reader upgraded (%s)" % rd.status):
                return
            psql("SELECT pg_notify(%s, %s)" % (lit(LISTEN), lit(payload)))
            f = recv_data(rd, 1.5)
            g = recv_data(lc, 0.3)
            check(f is not None and f[1] == payload.encode(),
                  what + ": delivered to its channel (got %r)" % (f and f[1][:40],))
            check(g is None, what + ": not to the listen-channel readers "
                  "(got %r)" % (g and g[1][:40],))
            rd.close()

        for d in (10, 63, 64, 100):
            route("object with a %d-deep member" % d, "deep",
                  '{"channel":"deep","x":%s%s}' % ("[" * d, "]" * d))
        route("channel of 300 plain bytes", "x" * 300,
              json.dumps({"channel": "x" * 300}))
        route("channel of 255 bytes with an escape", "\n" + "y" * 254,
              json.dumps({"channel": "\n" + "y" * 254}))
        route("channel of 300 bytes with an escape", "\n" + "y" * 299,
              json.dumps({"channel": "\n" + "y" * 299}))
        route("channel of 300 bytes with \\u00e9", "\u00e9" + "y" * 299,
              json.dumps({"channel": "\u00e9" + "y" * 299}))
        # a client's own message on such a channel comes back to it
        name = 'q"' + "z" * 300
        r = Raw(srv.port, "/" + token({"mode": "rw", "channel": name}))
        if check(r.status == 101, "rw client on a 302-byte channel with a quote"):
            r.send_frame(OP_TEXT, b"long")
            f = recv_data(r, 1.5)
            got = json.loads(f[1]) if f and f[0] == OP_TEXT else f
            check(isinstance(got, dict) and got.get("payload") == "long" and
                  got.get("channel") == name,
                  "its message comes back on its channel (got %r)" % (str(got)[:60],))
            g = recv_data(lc, 0.5)
            check(g is None, "and not on the listen-channel-named channel (got %r)"
                  % (g and g[1][:40],))
            r.close()
        lc.close()


if __name__ == "__main__":
    if not os.environ.get("PGWS_TEST_URI"):
        sys.exit("PGWS_TEST_URI is not set (. tests/pg.sh && pg_start)")
    run(globals())
