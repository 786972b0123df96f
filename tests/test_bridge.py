"""End-to-end tests through real websocket upgrades and a real PostgreSQL:
authorisation (SPEC section 2), messages both ways (section 3), the meta
channel (section 4), /health, /metrics, static files (section 5) and
database faults.  Run by test.sh with PGWS_BIN and PGWS_TEST_URI set."""
import asyncio
import json
import os
import re
import subprocess
import tempfile
import time

import websockets
from harness import (status_of, body_of, Raw, Server, check, notify, psql, run, token,
                     upgrade_request, SECRET, URI)

LISTEN = "postgres-websockets-listener"






async def recv_json(ws, timeout=5):
    return json.loads(await asyncio.wait_for(ws.recv(), timeout))


async def recv_close_code(ws, timeout=5):
    try:
        while True:
            await asyncio.wait_for(ws.recv(), timeout)
    except websockets.ConnectionClosed as e:
        return e.code, e.reason
    except asyncio.TimeoutError:
        return None, None


# -- authorisation ---------------------------------------------------------

def test_upgrade_statuses():
    with Server() as s:
        now = int(time.time())
        cases = [
            ("/test/" + token({"mode": "r", "channel": "test"}), 101, None),
            # Upstream's vector, minted by postgres-websockets' own tests.
            ("/test/eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJtb2RlIjoiciIsImNoYW5uZWwiOiJ0ZXN0In0."
             "1d4s-at2kWj8OSabHZHTbNh1dENF7NWy_r0ED3Rwf58", 101, None),
            ("/" + token({"mode": "r", "channels": ["a", "b"]}), 101, None),
            ("/x/" + token({"mode": "r"}), 101, None),
            ("/" + token({"mode": "r"}), 403, "No allowed channels"),
            ("/other/" + token({"mode": "r", "channel": "test"}), 403, "No allowed channels"),
            ("/test/" + token({"mode": "r", "channel": "test", "exp": now - 10}), 401, "Token expired"),
            ("/test/" + token({"mode": "r", "channel": "test", "nbf": now + 100}), 401, None),
            ("/test/" + token({"channel": "test"}), 401, "Missing mode"),
            ("/test/" + token({"mode": "x", "channel": "test"}), 401, None),
            ("/test/" + token({"mode": "r", "channel": "test"}, secret="wrong"), 401, None),
            ("/test/" + token({"mode": "r", "channel": "test"},
                              header={"alg": "none"})[:-10], 401, None),
            ("/test/" + token({"mode": "r", "channel": "test"},
                              header={"alg": "RS256", "typ": "JWT"}), 401, None),
            ("/test/" + token({"mode": "r", "channels": "test"}), 401, None),
            ("/test/not.a.token", 401, None),
            ("/test/" + token({"mode": "r", "channel": "test"}, alg="HS384"), 101, None),
            ("/test/" + token({"mode": "r", "channel": "test"}, alg="HS512"), 101, None),
            ("/", 401, None),
        ]
        for path, want, body in cases:
            resp = s.http(upgrade_request(path))
            st = status_of(resp)
            ok = st == want and (body is None or body_of(resp) == body)
            check(ok, "upgrade %s... -> %d %s (got %d %r)" % (
                path[:24], want, body or "", st, body_of(resp)[:60]))
            if want != 101:
                check(b"text/plain" in resp, "rejection has a text/plain body")
        log = s.log()
        check("websocket rejected: 401 Token expired" in log, "rejections are logged")
        check(SECRET not in log and "eyJ" not in log, "log never prints tokens or the secret")


def test_bearer_and_percent_channel():
    with Server() as s:
        t = token({"mode": "r", "channel": "a b/c"})
        r = s.http(upgrade_request("/a%20b%2Fc/" + t))
        check(status_of(r) == 101, "percent-decoded channel 'a b/c' granted")
        r = s.http(upgrade_request("/a%20b%2Fc", extra="Authorization: Bearer %s\r\n" % t))
        check(status_of(r) == 101, "Bearer header with /<channel>")
        r = s.http(upgrade_request("/", extra="Authorization: Bearer %s\r\n" % t))
        check(status_of(r) == 101, "Bearer header with /")
        r = s.http(upgrade_request("/zzz", extra="Authorization: Bearer %s\r\n" % t))
        check(status_of(r) == 403, "Bearer header with a channel not allowed -> 403")
        r = s.http(upgrade_request("/%00/" + token({"mode": "r"})))
        check(status_of(r) == 400, "NUL in channel name -> 400")
        r = s.http(upgrade_request("/test/" + token({"mode": "r", "channel": "test"}) + "?x=1"))
        check(status_of(r) == 101, "query string ignored")


def test_token_size_limit():
    with Server(PGWS_MAX_TOKEN_SIZE=300) as s:
        small = token({"mode": "r", "channel": "t"})
        big = token({"mode": "r", "channel": "t", "pad": "x" * 400})
        check(status_of(s.http(upgrade_request("/t/" + small))) == 101, "token under PGWS_MAX_TOKEN_SIZE accepted")
        r = s.http(upgrade_request("/t/" + big))
        check(status_of(r) == 401, "token over PGWS_MAX_TOKEN_SIZE -> 401 (%s)" % body_of(r))


async def _jwk_server(secret, b64=None, expect=101):
    env = {"PGWS_JWT_SECRET": secret}
    if b64:
        env["PGWS_JWT_SECRET_BASE64"] = b64
    with Server(**env) as s:
        t = ("eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJtb2RlIjoiciIsImNoYW5uZWwiOiJ0ZXN0In0."
             "1d4s-at2kWj8OSabHZHTbNh1dENF7NWy_r0ED3Rwf58")
        return status_of(s.http(upgrade_request("/test/" + t)))


def test_secret_forms():
    jwk = '{"kty":"oct","k":"cmVhbGx5cmVhbGx5cmVhbGx5cmVhbGx5dmVyeXNhZmU","alg":"HS256"}'
    check(asyncio.run(_jwk_server(jwk)) == 101, "JWK secret")
    check(asyncio.run(_jwk_server('{"keys":[%s]}' % jwk)) == 101, "JWK set secret")
    other = '{"keys":[{"kty":"oct","k":"b3RoZXJvdGhlcm90aGVy"}]}'
    check(asyncio.run(_jwk_server(other)) == 401, "JWK set with another key rejects")
    check(asyncio.run(_jwk_server("cmVhbGx5cmVhbGx5cmVhbGx5cmVhbGx5dmVyeXNhZmU=", "true")) == 101,
          "PGWS_JWT_SECRET_BASE64=true")


async def _expiry():
    with Server() as s:
        t = token({"mode": "r", "channel": "t", "exp": time.time() + 1.5})
        async with websockets.connect(s.url + "/t/" + t) as ws:
            t0 = time.time()
            code, reason = await recv_close_code(ws, 5)
            check(code == 3001 and reason == "JWT expired",
                  "closed with 3001 'JWT expired' at exp (%s %r)" % (code, reason))
            check(0.8 < time.time() - t0 < 3.5, "closed at exp, not before or long after")


def test_expiry():
    asyncio.run(_expiry())


# -- messages --------------------------------------------------------------

async def _echo_and_channels():
    with Server() as s:
        r = token({"mode": "r", "channel": "test"})
        w = token({"mode": "w", "channels": ["test", "secondary"], "user": "alice"})
        rs = token({"mode": "r", "channel": "secondary"})
        both = token({"mode": "r", "channels": ["test", "secondary"]})
        async with websockets.connect(s.url + "/test/" + r) as reader, \
                websockets.connect(s.url + "/secondary/" + rs) as reader2, \
                websockets.connect(s.url + "/" + both) as reader3, \
                websockets.connect(s.url + "/" + w) as writer:
            await writer.send("hello 'world' \"q\" \\ é 😀")
            m = await recv_json(reader)
            check(m["event"] == "WebsocketMessage" and m["channel"] == "test"
                  and m["payload"] == "hello 'world' \"q\" \\ é 😀",
                  "reader of test gets the envelope with the exact payload")
            check(m["claims"]["user"] == "alice" and m["claims"]["mode"] == "w"
                  and isinstance(m["claims"]["message_delivered_at"], float),
                  "envelope carries every claim and message_delivered_at")
            check(abs(m["claims"]["message_delivered_at"] - time.time()) < 5,
                  "message_delivered_at is the current Unix time")
            m2 = await recv_json(reader2)
            check(m2["channel"] == "secondary", "writer with two channels reaches the second one")
            got = sorted([(await recv_json(reader3))["channel"] for _ in range(2)])
            check(got == ["secondary", "test"], "a client on both channels gets both copies")


def test_echo_and_channels():
    asyncio.run(_echo_and_channels())


async def _sql_to_ws():
    with Server() as s:
        a = await websockets.connect(s.url + "/chat/" + token({"mode": "r", "channel": "chat"}))
        b = await websockets.connect(s.url + "/other/" + token({"mode": "r", "channel": "other"}))
        l = await websockets.connect(s.url + "/" + LISTEN + "/" + token({"mode": "r", "channel": LISTEN}))
        payload = json.dumps({"channel": "chat", "payload": "x\n\"y\" \\ ü 🐘", "n": 1})
        notify(payload)
        got = await asyncio.wait_for(a.recv(), 5)
        check(got == payload, "pg_notify with a channel reaches its reader byte for byte")
        try:
            await asyncio.wait_for(b.recv(), 0.5)
            check(False, "other channel must not receive it")
        except asyncio.TimeoutError:
            check(True, "readers of other channels do not receive it")
        notify("plain text, not JSON")
        got = await asyncio.wait_for(l.recv(), 5)
        check(got == "plain text, not JSON", "non-JSON payload reaches readers of the listen-channel-named channel")
        notify('["channel","chat"]')
        got = await asyncio.wait_for(l.recv(), 5)
        check(got == '["channel","chat"]', "a JSON array goes to the listen-channel-named channel")
        notify('{"channel":5}')
        got = await asyncio.wait_for(l.recv(), 5)
        check(got == '{"channel":5}', "a non-string channel goes to the listen-channel-named channel")
        notify('{"channel":"nobody-listens"}')
        notify("{\"channel\":\"chat\",\"payload\":\"after\"}")
        got = await asyncio.wait_for(a.recv(), 5)
        check(json.loads(got)["payload"] == "after", "unrouted notifications are skipped")
        for w in (a, b, l):
            await w.close()


def test_sql_to_ws():
    asyncio.run(_sql_to_ws())


async def _ws_to_sql_listen():
    with Server() as s:
        listener = subprocess.Popen(
            ["/usr/bin/python3", "-c", LISTEN_PY, os.environ["PGWS_TEST_URI"], "1000"],
            stdout=subprocess.PIPE, text=True)
        assert listener.stdout.readline().strip() == "ready"
        w = token({"mode": "w", "channel": "order", "k": [1, {"x": None}]})
        async with websockets.connect(s.url + "/" + w) as ws:
            for i in range(1000):
                await ws.send("m%d" % i)
        out, _ = listener.communicate(timeout=60)
        lines = [json.loads(l) for l in out.splitlines()]
        check(len(lines) == 1000, "1000 messages reach a LISTEN session (%d)" % len(lines))
        check([l["payload"] for l in lines] == ["m%d" % i for i in range(1000)],
              "in the order sent, none lost")
        check(lines and lines[0]["claims"]["k"] == [1, {"x": None}],
              "claims copied verbatim into the envelope")
        ts = [l["claims"]["message_delivered_at"] for l in lines]
        check(all(a < b for a, b in zip(ts, ts[1:])), "message_delivered_at strictly increasing")


# A plain libpq-free LISTEN client: psql cannot easily wait for N notifies.
LISTEN_PY = r'''
import sys, subprocess, select, time
uri, n = sys.argv[1], int(sys.argv[2])
p = subprocess.Popen(["stdbuf", "-oL", "psql", "-X", "-q", "-At", uri], stdin=subprocess.PIPE,
                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
p.stdin.write("LISTEN \"postgres-websockets-listener\";\nSELECT 'listening';\n"); p.stdin.flush()
while p.stdout.readline().strip() != "listening":
    pass
print("ready", flush=True)
got = []
deadline = time.time() + 50
while len(got) < n and time.time() < deadline:
    p.stdin.write("SELECT 1;\n"); p.stdin.flush()
    while True:
        r, _, _ = select.select([p.stdout], [], [], 0.2)
        if not r:
            break
        line = p.stdout.readline()
        pre = 'Asynchronous notification "postgres-websockets-listener" with payload "'
        if line.startswith(pre):
            got.append(line[len(pre):line.rindex('" received')])
for g in got:
    print(g)
'''


def test_ws_to_sql_listen():
    asyncio.run(_ws_to_sql_listen())


async def _modes_and_limit():
    with Server() as s:
        rd = await websockets.connect(s.url + "/m/" + token({"mode": "r", "channel": "m"}))
        ro = await websockets.connect(s.url + "/m/" + token({"mode": "r", "channel": "m", "who": "ro"}))
        wo = await websockets.connect(s.url + "/m/" + token({"mode": "w", "channel": "m", "who": "wo"}))
        await ro.send("from a reader")
        await wo.send("from a writer")
        m = json.loads(await asyncio.wait_for(rd.recv(), 5))
        check(m["payload"] == "from a writer", "mode r messages are discarded, mode w published")
        try:
            await asyncio.wait_for(wo.recv(), 0.7)
            check(False, "a mode w client must not receive")
        except asyncio.TimeoutError:
            check(True, "a mode w client is not a reader")
        big = "x" * 7900
        await wo.send(big)
        code, reason = await recv_close_code(wo, 5)
        check(code == 1009 and reason, "envelope over 8000 bytes -> 1009 with a reason (%s %r)" % (code, reason))
        for w in (rd, ro):
            await w.close()


def test_modes_and_limit():
    asyncio.run(_modes_and_limit())


async def _meta():
    with Server(PGWS_META_CHANNEL="server-info") as s:
        meta = await websockets.connect(s.url + "/server-info/" + token({"mode": "r", "channel": "server-info"}))
        m = await recv_json(meta)
        check(m["event"] == "ConnectionOpen" and m["channel"] == "server-info",
              "the meta reader sees its own ConnectionOpen")
        c = await websockets.connect(s.url + "/" + token({"mode": "rw", "channels": ["a", "b"], "u": 7}))
        m = await recv_json(meta)
        check(m["event"] == "ConnectionOpen" and m["payload"] == "a,b" and m["claims"]["u"] == 7,
              "ConnectionOpen with granted channels and claims (%s)" % m)
        await c.close()
        m = await recv_json(meta)
        check(m["event"] == "ConnectionClose" and m["payload"] == "a,b", "ConnectionClose when it ends")
        await meta.close()


def test_meta():
    asyncio.run(_meta())


# -- HTTP ------------------------------------------------------------------

def test_health_metrics():
    with Server() as s:
        r = s.http(b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        check(status_of(r) == 200 and json.loads(body_of(r))["listener"] == "up", "/health 200 with listener up")
        r = s.http(b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        body = body_of(r)
        check(status_of(r) == 200 and "pgws_listener_up 1" in body, "/metrics in Prometheus text")
        before = int(re.search(r"pgws_notifications_received_total (\d+)", body).group(1))
        notify("tick")
        time.sleep(0.5)
        body = body_of(s.http(b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"))
        after = int(re.search(r"pgws_notifications_received_total (\d+)", body).group(1))
        check(after == before + 1, "metrics counters move (%d -> %d)" % (before, after))


def test_static_files():
    root = tempfile.mkdtemp()
    os.mkdir(root + "/sub")
    files = {"index.html": "<h1>hi</h1>", "app.js": "1", "s.css": "a{}", "d.json": "{}",
             "i.svg": "<svg/>", "p.png": "PNG", "j.jpg": "JPG", "f.ico": "ICO",
             "t.txt": "text", "sub/index.html": "sub"}
    for k, v in files.items():
        with open(os.path.join(root, k), "w") as f:
            f.write(v)
    outside = tempfile.mkdtemp()
    with open(outside + "/secret.txt", "w") as f:
        f.write("SECRET")
    os.symlink(outside + "/secret.txt", root + "/link.txt")
    with Server(PGWS_ROOT_PATH=root) as s:
        def get(path, method="GET"):
            return s.http(("%s %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n" % (method, path)).encode())
        r = get("/")
        check(status_of(r) == 200 and body_of(r) == "<h1>hi</h1>" and b"text/html" in r, "/ serves index.html")
        for name, ctype in [("app.js", "text/javascript"), ("s.css", "text/css"),
                            ("d.json", "application/json"), ("i.svg", "image/svg+xml"),
                            ("p.png", "image/png"), ("j.jpg", "image/jpeg"),
                            ("f.ico", "image/x-icon"), ("t.txt", "text/plain")]:
            r = get("/" + name)
            check(status_of(r) == 200 and ("Content-Type: " + ctype).encode() in r,
                  "%s served as %s" % (name, ctype))
        check(body_of(get("/sub/")) == "sub", "directory index")
        r = get("/t.txt", "HEAD")
        check(status_of(r) == 200 and b"Content-Length: 4" in r and body_of(r) == "", "HEAD: headers only")
        check(status_of(get("/missing")) == 404, "404 for a missing file")
        check(status_of(get("/t.txt", "POST")) == 405 and b"Allow: GET, HEAD" in get("/t.txt", "POST"), "405 with Allow")
        for p in ["/../etc/passwd", "/%2e%2e/etc/passwd", "/sub/..%2f..%2fetc/passwd",
                  "/%2e%2e%2fetc%2fpasswd", "/link.txt", "/t.txt%00.html", "/..\\etc\\passwd",
                  "//etc/passwd"]:
            r = get(p)
            # serve_file answers every refusal alike, 404, so as not to say
            # whether something exists outside the root.
            check(status_of(r) == 404 and b"SECRET" not in r and b"root:" not in r,
                  "traversal %s refused (%d)" % (p, status_of(r)))
    with Server() as s:
        r = s.http(b"GET /index.html HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        check(status_of(r) == 404, "without PGWS_ROOT_PATH no file is served")


# -- faults ----------------------------------------------------------------

def listener_pid():
    r = psql("SELECT pid FROM pg_stat_activity WHERE query LIKE 'LISTEN%' OR query LIKE 'SELECT pg_notification_queue_usage%' "
             "AND pid <> pg_backend_pid()")
    return [p for p in r.stdout.split() if p]


async def _listener_supervised():
    with Server(PGWS_CHECK_LISTENER_INTERVAL=300) as s:
        ws = await websockets.connect(s.url + "/f/" + token({"mode": "r", "channel": "f"}))
        pids = listener_pid()
        check(len(pids) >= 1, "found the listener backend")
        psql("SELECT pg_terminate_backend(%s)" % pids[0])
        ok = False
        for _ in range(50):
            await asyncio.sleep(0.2)
            notify('{"channel":"f","payload":"after"}')
            try:
                m = await asyncio.wait_for(ws.recv(), 0.3)
                ok = json.loads(m)["payload"] == "after"
                break
            except asyncio.TimeoutError:
                pass
        check(ok, "after pg_terminate_backend the websocket stays open and gets the next notification")
        check("re-established" in s.log(), "reconnect logged")
        r = s.http(b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        check(re.search(rb"pgws_listener_reconnects_total [1-9]", r) is not None, "reconnect counted")
        await ws.close()


def test_listener_supervised():
    asyncio.run(_listener_supervised())


async def _listener_unsupervised():
    s = Server()
    ws = await websockets.connect(s.url + "/f/" + token({"mode": "r", "channel": "f"}))
    for p in listener_pid():
        psql("SELECT pg_terminate_backend(%s)" % p)
    code, _ = await recv_close_code(ws, 10)
    check(code == 1011, "without the interval: close 1011 (%s)" % code)
    s.stop(expect=1)


def test_listener_unsupervised():
    asyncio.run(_listener_unsupervised())


def psql_other_db(sql):
    """psql on template1: works while the test database refuses connections."""
    return subprocess.run(["psql", "-X", "-q", "-At", "-v", "ON_ERROR_STOP=1",
                           URI.rsplit("/", 1)[0] + "/template1", "-c", sql],
                          capture_output=True, text=True, timeout=30)


async def _held_while_listener_down():
    # Only the listener is cut off: its backend is terminated and the
    # database refuses new connections, while the pool connection stays up.
    # Messages sent meanwhile must wait until LISTEN is back; published at
    # once they would reach no reader of this instance.
    db = URI.rsplit("/", 1)[1].split("?")[0]
    # Supervised: without PGWS_CHECK_LISTENER_INTERVAL a lost listener ends pgws.
    with Server(PGWS_CHECK_LISTENER_INTERVAL=300, PGWS_POOL_SIZE=1) as s:
        rd = await websockets.connect(s.url + "/h/" + token({"mode": "r", "channel": "h"}))
        wr = await websockets.connect(s.url + "/h/" + token({"mode": "w", "channel": "h"}))
        await wr.send("before")
        check((await recv_json(rd))["payload"] == "before", "delivery before the listener is cut off")
        pids = listener_pid()
        check(len(pids) == 1, "found the listener backend (%s)" % pids)
        try:
            r = psql_other_db('ALTER DATABASE "%s" ALLOW_CONNECTIONS false' % db)
            check(r.returncode == 0, "database closed to new connections (%s)" % r.stderr.strip())
            psql_other_db("SELECT pg_terminate_backend(%s)" % pids[0])
            end = time.time() + 10
            while "listener: connection lost" not in s.log() and time.time() < end:
                await asyncio.sleep(0.1)
            check("listener: connection lost" in s.log(), "pgws noticed the listener's loss")
            for i in range(3):
                await wr.send("held %d" % i)
            await asyncio.sleep(1.5)
        finally:
            r = psql_other_db('ALTER DATABASE "%s" ALLOW_CONNECTIONS true' % db)
        check(r.returncode == 0, "database open again (%s)" % r.stderr.strip())
        got = []
        end = time.time() + 30
        while len(got) < 3 and time.time() < end:
            try:
                got.append((await recv_json(rd, 2))["payload"])
            except asyncio.TimeoutError:
                pass
        check(got == ["held 0", "held 1", "held 2"],
              "messages sent while the listener was down are delivered, in order, "
              "once it is back (got %r)" % got)
        check(wr.open, "the writer was not closed")
        await rd.close()
        await wr.close()


def test_held_while_listener_down():
    asyncio.run(_held_while_listener_down())


async def _pool_killed():
    with Server(PGWS_POOL_SIZE=1) as s:
        async with websockets.connect(s.url + "/p/" + token({"mode": "rw", "channel": "p"})) as ws:
            await ws.send("one")
            check((await recv_json(ws))["payload"] == "one", "echo before the pool backend dies")
            psql("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE pid <> pg_backend_pid() "
                 "AND backend_type = 'client backend' AND query NOT LIKE 'LISTEN%' AND query NOT LIKE 'SELECT pg_notification_queue_usage%'")
            # pgws watches idle pool connections, so it notices the loss
            # before anything is in flight; a message sent after that waits
            # for the reconnection and is delivered (nothing was lost).
            lost = re.compile(r"pool connection \d+: connection lost")
            end = time.time() + 10
            while not lost.search(s.log()) and time.time() < end:
                await asyncio.sleep(0.1)
            check(lost.search(s.log()) is not None, "pgws noticed the pool backend's death")
            await ws.send("two")
            try:
                got = (await recv_json(ws, 15))["payload"]
            except websockets.ConnectionClosed as e:
                got = "closed %s" % e.code
            except asyncio.TimeoutError:
                got = "nothing in 15 s"
            check(got == "two", "after the pool backend is killed, a message is delivered (got %r)" % got)


def test_pool_killed():
    asyncio.run(_pool_killed())


async def _database_restart():
    with Server(PGWS_CHECK_LISTENER_INTERVAL=300, PGWS_POOL_SIZE=1) as s:
        ws = await websockets.connect(s.url + "/r/" + token({"mode": "rw", "channel": "r"}))
        r = subprocess.run(["bash", "-c", ". tests/pg.sh && pg_restart"], capture_output=True,
                           text=True, timeout=60)
        check(r.returncode == 0, "database restarted (%s)" % r.stderr.strip())
        got = None
        for _ in range(60):
            await asyncio.sleep(0.25)
            try:
                notify('{"channel":"r","payload":"back"}')
            except RuntimeError:
                continue
            try:
                got = json.loads(await asyncio.wait_for(ws.recv(), 0.5))["payload"]
                break
            except asyncio.TimeoutError:
                pass
        check(got == "back", "after a database restart the websocket is open and gets notifications")
        # The pool connection was idle when the database went away, so
        # nothing was in flight: the message waits for the pool to be back
        # and is published.
        await ws.send("written after restart")
        try:
            got = json.loads(await asyncio.wait_for(ws.recv(), 20))["payload"]
        except websockets.ConnectionClosed as e:
            got = "closed %s" % e.code
        except asyncio.TimeoutError:
            got = "nothing in 20 s"
        check(got == "written after restart",
              "a message written after the restart is published (got %r)" % got)
        body = s.http(b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").decode()
        check(re.search(r"pgws_notification_queue_usage [0-9.e-]+", body) is not None,
              "pg_notification_queue_usage() sampled into /metrics")
        await ws.close()


def test_database_restart():
    asyncio.run(_database_restart())


def pool_pids():
    r = psql("SELECT pid FROM pg_stat_activity WHERE application_name = 'pgws' "
             "AND query NOT LIKE 'LISTEN%' AND query NOT LIKE 'SELECT pg_notification_queue_usage%'")
    return [p for p in r.stdout.split() if p]


async def _publish_queue_limits():
    # The pool backend is frozen, so every message waits in pgws's queue:
    # exactly the limit is accepted, one more closes the sender with 1013.
    for env, size, fits in (({"PGWS_PUBLISH_QUEUE": 5}, 10, 5),
                            ({"PGWS_PUBLISH_QUEUE_BYTES": 65536}, 6000, None)):
        with Server(PGWS_POOL_SIZE=1, **env) as s:
            rd = await websockets.connect(s.url + "/q/" + token({"mode": "r", "channel": "q"}))
            wr = await websockets.connect(s.url + "/q/" + token({"mode": "w", "channel": "q"}))
            await wr.send("warm-up")
            await recv_json(rd)
            pids = pool_pids()
            check(len(pids) == 1, "found the one pool backend (%s)" % pids)
            os.kill(int(pids[0]), 19)       # SIGSTOP
            try:
                sent = 0
                code = None
                for i in range(100):
                    try:
                        await wr.send("%d:" % i + "x" * size)
                        sent += 1
                        await asyncio.sleep(0.02)
                    except websockets.ConnectionClosed as e:
                        code = e.code
                        break
                    if wr.close_code:
                        code = wr.close_code
                        break
                if code is None:
                    code, _ = await recv_close_code(wr, 3)
                # The envelope of a 6000-byte message is about 6.1 KB: ten fit.
                want = fits if fits else 65536 // (size + 120)
                accepted = sent - 1
                check(code == 1013, "%s: sender closed with 1013 (%s)" % (env, code))
                check(abs(accepted - want) <= 1,
                      "%s: %d accepted before 1013 (limit allows about %d)" % (env, accepted, want))
            finally:
                os.kill(int(pids[0]), 18)   # SIGCONT
            got = 0
            try:
                while True:
                    await asyncio.wait_for(rd.recv(), 3)
                    got += 1
            except (asyncio.TimeoutError, websockets.ConnectionClosed):
                pass
            check(got >= accepted, "%s: the %d accepted messages are delivered after the stall (%d)"
                  % (env, accepted, got))
            await rd.close()


def test_publish_queue_limits():
    asyncio.run(_publish_queue_limits())


async def _many_channels():
    # 40 readers x 64 channels: 2560 channels, past the table's first growth.
    with Server() as s:
        socks = []
        for k in range(40):
            chans = ["ch-%d-%d" % (k, j) for j in range(64)]
            socks.append(await websockets.connect(s.url + "/" + token({"mode": "r", "channels": chans})))
        body = s.http(b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").decode()
        check("pgws_channels 2560" in body, "2560 channels indexed")
        ok = True
        for k in (0, 17, 39):
            for j in (0, 63):
                notify(json.dumps({"channel": "ch-%d-%d" % (k, j), "n": j}))
                m = json.loads(await asyncio.wait_for(socks[k].recv(), 5))
                ok = ok and m["channel"] == "ch-%d-%d" % (k, j)
        check(ok, "notifications reach the right reader among 2560 channels")
        for w in socks:
            await w.close()
        await asyncio.sleep(0.3)
        body = s.http(b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").decode()
        check("pgws_channels 0" in body, "channels are freed when their readers leave")


def test_many_channels():
    asyncio.run(_many_channels())


async def _database_outage():
    secs = float(os.environ.get("PGWS_OUTAGE_SECONDS", "30"))
    with Server(PGWS_CHECK_LISTENER_INTERVAL=500, PGWS_POOL_SIZE=2, PGWS_PING_INTERVAL=5) as s:
        rd = await websockets.connect(s.url + "/o/" + token({"mode": "r", "channel": "o"}))
        wr = await websockets.connect(s.url + "/o/" + token({"mode": "w", "channel": "o"}))
        r = subprocess.run(["bash", "-c", ". tests/pg.sh && pg_halt"], capture_output=True, text=True, timeout=60)
        check(r.returncode == 0, "database stopped (%s)" % r.stderr.strip())
        t0 = time.time()
        during = 0
        told = None
        while time.time() - t0 < secs:
            try:
                await wr.send("during %d" % during)
                during += 1
            except websockets.ConnectionClosed as e:
                told = e.code
                break
            await asyncio.sleep(1)
        health = s.http(b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        check(status_of(health) == 503, "/health answers 503 while the database is down")
        r = subprocess.run(["bash", "-c", ". tests/pg.sh && pg_resume"], capture_output=True, text=True, timeout=60)
        check(r.returncode == 0, "database back after %.0f s (%s)" % (time.time() - t0, r.stderr.strip()))
        check(rd.open, "the reader's websocket survived the outage")
        # Messages accepted during the outage wait in the publish queue
        # (held while the listener is down) and are all delivered after it;
        # the writer is not closed.
        got = set()
        deadline = time.time() + 45
        while time.time() < deadline and len(got) < during:
            try:
                m = json.loads(await asyncio.wait_for(rd.recv(), 2))
                got.add(m["payload"])
            except asyncio.TimeoutError:
                pass
        if told is None and not wr.open:
            told = wr.close_code
        want = set("during %d" % i for i in range(during))
        check(during > 0 and got == want and told is None,
              "all %d messages sent during the outage delivered (got %d, writer closed: %s)"
              % (during, len(got & want), told))
        delivered = None
        for _ in range(60):
            try:
                notify('{"channel":"o","payload":"after"}')
            except RuntimeError:
                await asyncio.sleep(0.5)
                continue
            try:
                while True:
                    m = json.loads(await asyncio.wait_for(rd.recv(), 1))
                    if m["payload"] == "after":
                        delivered = True
                        break
            except asyncio.TimeoutError:
                pass
            if delivered:
                break
        check(delivered, "notifications reach the surviving websocket after recovery")
        await rd.close()
        if wr.open:
            await wr.close()


def test_database_outage():
    asyncio.run(_database_outage())


async def _two_instances():
    with Server() as a, Server() as b:
        async with websockets.connect(b.url + "/x/" + token({"mode": "r", "channel": "x"})) as rd, \
                websockets.connect(a.url + "/x/" + token({"mode": "w", "channel": "x"})) as wr:
            await wr.send("across")
            m = await recv_json(rd)
            check(m["payload"] == "across", "a message written through one instance reaches a reader on another")


def test_two_instances():
    asyncio.run(_two_instances())


if __name__ == "__main__":
    run(globals())
