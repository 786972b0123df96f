#!/usr/bin/python3
# bench/pyclient.py: the bench's clients for what bench/loadgen.c does not
# speak: wss:// (loadgen has no TLS client), Server-Sent Events readers and
# HTTP publish (POST) over keep-alive.  It also runs plain ws:// readers, so
# the ws/wss/SSE fan-out rows share one client and are comparable with each
# other (not with loadgen's rows: this client is slower and costs more CPU).
# Output: READY, DONE and "RESULT key value" lines, as loadgen's.
#
#   pyclient.py fanout ws|wss|sse N --port P --token T --channel C
#               [--quiet-ms 3000] [--duration 120]
#   pyclient.py publish N --port P --token T --channel C --duration S
import asyncio
import re
import ssl
import sys
import time

import websockets

T_RE = re.compile(rb'\\?"t\\?"\s*:\s*(\d+)')
lat = []
st = {"delivered": 0, "last": 0.0, "first": 0.0, "errors": 0}


def on_msg(data):
    now = time.time() * 1e6
    st["delivered"] += 1
    st["last"] = time.monotonic()
    if not st["first"]:
        st["first"] = st["last"]
    m = T_RE.search(data)
    if m:
        lat.append(now - int(m.group(1)))


async def ws_reader(url, ctx, ready):
    async with websockets.connect(url, ssl=ctx, max_size=None, ping_interval=None,
                                  compression=None, close_timeout=0.5) as ws:
        ready.append(1)
        async for m in ws:
            on_msg(m.encode() if isinstance(m, str) else m)


async def sse_reader(port, path, ready):
    r, w = await asyncio.open_connection("127.0.0.1", port)
    w.write(("GET %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n"
             "Accept: text/event-stream\r\n\r\n" % (path, port)).encode())
    head = await r.readuntil(b"\r\n\r\n")
    if b" 200 " not in head.split(b"\r\n", 1)[0]:
        raise RuntimeError(head.split(b"\r\n", 1)[0].decode())
    ready.append(1)
    chunked = b"chunked" in head.lower()
    while True:
        line = await r.readline()
        if not line:
            return
        if chunked and re.fullmatch(rb"[0-9a-fA-F]+\r\n", line):
            continue
        if line.startswith(b"data:"):
            on_msg(line)


async def fanout(kind, n, a):
    path = "/%s/%s" % (a["channel"], a["token"])
    ctx = None
    if kind == "wss":
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    ready = []
    scheme = "wss" if kind == "wss" else "ws"
    url = "%s://127.0.0.1:%d%s" % (scheme, a["port"], path)
    tasks = [asyncio.ensure_future(sse_reader(a["port"], path, ready) if kind == "sse"
                                   else ws_reader(url, ctx, ready)) for _ in range(n)]
    t0 = time.monotonic()
    while len(ready) < n and time.monotonic() - t0 < 60:
        if any(t.done() for t in tasks):
            break
        await asyncio.sleep(0.05)
    print("READY open=%d" % len(ready), flush=True)
    quiet = a["quiet-ms"] / 1000.0
    while time.monotonic() - t0 < a["duration"]:
        await asyncio.sleep(0.1)
        if st["last"] and time.monotonic() - st["last"] > quiet:
            break
        if all(t.done() for t in tasks):
            break
    closed = sum(1 for t in tasks if t.done())
    for t in tasks:
        t.cancel()
    print("DONE", flush=True)
    span = st["last"] - st["first"]
    lat.sort()
    pct = (lambda p: int(lat[min(len(lat) - 1, int(len(lat) * p / 100))]) if lat else 0)
    print("RESULT clients %d" % n)
    print("RESULT open %d" % len(ready))
    print("RESULT closed_by_server %d" % closed)
    print("RESULT delivered %d" % st["delivered"])
    print("RESULT deliveries_per_s %.0f" % (st["delivered"] / span if span > 0 else 0))
    print("RESULT lat_p50_us %d" % pct(50))
    print("RESULT lat_p99_us %d" % pct(99))
    print("RESULT lat_max_us %d" % (int(lat[-1]) if lat else 0))


async def publisher(a, end, body):
    r, w = await asyncio.open_connection("127.0.0.1", a["port"])
    req = ("POST /%s/%s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nContent-Type: text/plain\r\n"
           "Content-Length: %d\r\n\r\n" % (a["channel"], a["token"], a["port"], len(body))
           ).encode() + body
    while time.monotonic() < end:
        t = time.monotonic()
        w.write(req)
        head = await r.readuntil(b"\r\n\r\n")
        m = re.search(rb"(?i)\r\ncontent-length:\s*(\d+)", head)
        if m and int(m.group(1)):
            await r.readexactly(int(m.group(1)))
        if b" 200 " in head.split(b"\r\n", 1)[0] or b" 204 " in head.split(b"\r\n", 1)[0]:
            st["delivered"] += 1
            lat.append((time.monotonic() - t) * 1e6)
        else:
            st["errors"] += 1
            if st["errors"] == 1:
                print("first error: %r" % head[:200], file=sys.stderr)
    w.close()


async def publish(n, a):
    body = b'{"channel":"pub","bench":1}'
    t0 = time.monotonic()
    end = t0 + a["duration"]
    res = await asyncio.gather(*[publisher(a, end, body) for _ in range(n)],
                               return_exceptions=True)
    wall = time.monotonic() - t0
    for x in res:
        if isinstance(x, Exception):
            st["errors"] += 1
            print("publisher: %r" % x, file=sys.stderr)
    lat.sort()
    pct = (lambda p: int(lat[min(len(lat) - 1, int(len(lat) * p / 100))]) if lat else 0)
    print("RESULT requests %d" % st["delivered"])
    print("RESULT errors %d" % st["errors"])
    print("RESULT requests_per_s %.0f" % (st["delivered"] / wall))
    print("RESULT lat_p50_us %d" % pct(50))
    print("RESULT lat_p99_us %d" % pct(99))


def main():
    argv = sys.argv[1:]
    mode = argv.pop(0)
    kind = argv.pop(0) if mode == "fanout" else None
    n = int(argv.pop(0))
    a = {"quiet-ms": 3000, "duration": 120.0, "channel": "bench", "token": "", "port": 0}
    while argv:
        k, v = argv.pop(0)[2:], argv.pop(0)
        a[k] = int(v) if k in ("port", "quiet-ms") else float(v) if k == "duration" else v
    if mode == "fanout":
        asyncio.run(fanout(kind, n, a))
    else:
        asyncio.run(publish(n, a))


main()
