"""The example page (client-example/index.html) in a real browser: headless
Chromium driven through the DevTools protocol over a websocket.  It loads
the page from pgws with a token in the fragment, connects with the token as
a subprotocol (not in the URL), sends a message that must come back
through PostgreSQL, receives a NOTIFY sent from SQL, shows the meta
channel's ConnectionOpen, and shows close code 1001 when pgws stops.  The
same page in Server-Sent Events mode reads with an EventSource and writes
with fetch() POSTs, and a bare EventSource reads multi-line payloads.
A screenshot goes to PGWS_SCREENSHOT (default /tmp/pgws-browser.png).
Skipped, with "0 passed, 0 failed", when Chromium is not installed."""
import asyncio
import base64
import itertools
import json
import os
import shutil
import struct
import subprocess
import sys
import tempfile
import time
import urllib.request

import websockets
from harness import Server, check, notify, run, token

CHROMIUM = os.environ.get("PGWS_CHROMIUM", "/usr/bin/chromium")
ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "client-example")
SHOT = os.environ.get("PGWS_SCREENSHOT", "/tmp/pgws-browser.png")


class Chromium:
    """Headless Chromium and a DevTools session on its one page."""

    async def start(self):
        self.dir = tempfile.mkdtemp(prefix="pgws-chromium-")
        self.log = open(os.path.join(self.dir, "chromium.log"), "wb")
        self.p = subprocess.Popen(
            [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu",
             "--disable-quic", "--no-first-run", "--disable-background-networking",
             "--disable-component-update", "--disable-sync",
             "--disable-dev-shm-usage", "--user-data-dir=" + self.dir,
             "--remote-debugging-port=0", "--window-size=1100,760", "about:blank"],
            stdout=self.log, stderr=self.log)
        # Chromium picks a free port and writes it to this file.
        f = os.path.join(self.dir, "DevToolsActivePort")
        for _ in range(300):
            if os.path.exists(f) and open(f).read().count("\n") >= 1:
                break
            if self.p.poll() is not None:
                raise RuntimeError("chromium exited: " + self.tail())
            await asyncio.sleep(0.1)
        port = int(open(f).read().split("\n")[0])
        targets = json.load(urllib.request.urlopen(
            "http://127.0.0.1:%d/json/list" % port, timeout=10))
        page = [t for t in targets if t.get("type") == "page"][0]
        self.ws = await websockets.connect(page["webSocketDebuggerUrl"],
                                           max_size=None, ping_interval=None)
        self.ids = itertools.count(1)
        return self

    def tail(self):
        self.log.flush()
        with open(os.path.join(self.dir, "chromium.log"), "rb") as f:
            return f.read()[-2000:].decode(errors="replace")

    async def call(self, method, **params):
        i = next(self.ids)
        await self.ws.send(json.dumps({"id": i, "method": method, "params": params}))
        while True:
            m = json.loads(await asyncio.wait_for(self.ws.recv(), 30))
            if m.get("id") == i:
                if "error" in m:
                    raise RuntimeError("%s: %s" % (method, m["error"]))
                return m.get("result", {})

    async def js(self, expr):
        r = await self.call("Runtime.evaluate", expression=expr, returnByValue=True,
                            awaitPromise=True)
        if "exceptionDetails" in r:
            raise RuntimeError("js %r: %s" % (expr, r["exceptionDetails"]))
        return r.get("result", {}).get("value")

    async def wait(self, expr, timeout=10):
        """Polls a JS expression until it is truthy; returns its last value."""
        t = time.time()
        while True:
            v = await self.js(expr)
            if v or time.time() - t > timeout:
                return v
            await asyncio.sleep(0.1)

    async def stop(self):
        try:
            await self.ws.close()
        except Exception:
            pass
        self.p.terminate()
        try:
            self.p.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.p.kill()
            self.p.wait()
        self.log.close()
        shutil.rmtree(self.dir, ignore_errors=True)


def png_size(b):
    """(width, height) of PNG bytes, or None."""
    if len(b) < 24 or b[:8] != b"\x89PNG\r\n\x1a\n" or b[12:16] != b"IHDR":
        return None
    return struct.unpack(">II", b[16:24])


def text_of(id_):
    return "document.getElementById(%s).textContent" % json.dumps(id_)


async def test_example_page():
    s = Server(PGWS_ROOT_PATH=ROOT, PGWS_META_CHANNEL="server-info")
    b = None
    try:
        b = await Chromium().start()
        await b.call("Page.enable")
        await b.call("Runtime.enable")
        tok = token({"mode": "rw", "channels": ["chat", "server-info"],
                     "user": "browser-test", "exp": int(time.time()) + 3600})
        await b.call("Page.navigate", url="http://127.0.0.1:%d/#token=%s" % (s.port, tok))

        state = await b.wait("(document.getElementById('status') || {dataset: {}}).dataset.state === 'open'"
                             " && document.getElementById('status').dataset.state", 15)
        check(state == "open", "page: connected (#status %r)" %
              await b.js(text_of("status") + " + ''"))
        check(await b.js("document.getElementById('token').value === %s" % json.dumps(tok)),
              "page: the token was taken from the fragment")
        check(await b.js("chat instanceof WebSocket && chat.protocol === 'pgws'"),
              "page: the websocket chose the pgws subprotocol (%r)" % await b.js("chat && chat.protocol"))
        check(await b.js("!chat.url.includes(%s)" % json.dumps(tok.split(".")[2])),
              "page: the token is not in the websocket URL")

        await b.js("document.getElementById('input').value = 'hello from chromium';"
                   "document.getElementById('send').click(); true")
        got = await b.wait(text_of("messages") + ".includes('hello from chromium')")
        check(got, "page: a typed message came back through PostgreSQL")
        check(await b.js(text_of("messages") + ".includes('user=browser-test')"),
              "page: the message shows the sender's claims")
        check(await b.js("document.getElementById('input').value === ''"),
              "page: the input is cleared after sending")

        notify(json.dumps({"channel": "chat", "payload": "hello from SQL"}))
        check(await b.wait(text_of("messages") + ".includes('hello from SQL')"),
              "page: a pg_notify from SQL is shown")

        check(await b.wait(text_of("meta") + ".includes('ConnectionOpen')"),
              "page: a ConnectionOpen meta event is shown")
        check(await b.js(text_of("meta") + ".includes('chat')"),
              "page: the meta event names the granted channel")

        # Screenshots: desktop width, then a phone-sized viewport.
        await b.js("document.getElementById('input').value = 'typing\u2026';"
                   "window.scrollTo(0, 0); true")
        shot = await b.call("Page.captureScreenshot", format="png")
        png = base64.b64decode(shot["data"])
        with open(SHOT, "wb") as f:
            f.write(png)
        size = png_size(png)
        check(size is not None and size[0] >= 600 and size[1] >= 400 and len(png) > 20000,
              "screenshot: %s is a non-trivial PNG (%s, %d bytes)" % (SHOT, size, len(png)))
        await b.call("Emulation.setDeviceMetricsOverride", width=390, height=844,
                     deviceScaleFactor=2, mobile=True)
        await asyncio.sleep(0.3)
        overflow = await b.js("document.documentElement.scrollWidth <= window.innerWidth")
        check(overflow, "phone: nothing wider than a 390 px screen")
        shot = await b.call("Page.captureScreenshot", format="png")
        phone = os.path.splitext(SHOT)[0] + "-phone.png"
        with open(phone, "wb") as f:
            f.write(base64.b64decode(shot["data"]))
        await b.call("Emulation.clearDeviceMetricsOverride")

        # SIGTERM: every websocket gets 1001, which the page explains.
        s.stop()
        st = await b.wait(text_of("status") + ".includes('1001') && " + text_of("status"))
        check(st and "going away" in st, "page: close 1001 shown with its meaning (%r)" % st)
        check(await b.js("document.getElementById('status').dataset.state") == "closed",
              "page: status is closed")
    finally:
        if b:
            await b.stop()
        s.stop()


async def test_event_source():
    s = Server(PGWS_ROOT_PATH=ROOT)
    b = None
    try:
        b = await Chromium().start()
        await b.call("Page.enable")
        await b.call("Runtime.enable")
        tok = token({"mode": "rw", "channels": ["chat", "postgres-websockets-listener"],
                     "user": "sse-test", "exp": int(time.time()) + 3600})
        await b.call("Page.navigate", url="http://127.0.0.1:%d/#token=%s&transport=sse"
                     % (s.port, tok))
        state = await b.wait("(document.getElementById('status') || {dataset: {}}).dataset.state === 'open'"
                             " && document.getElementById('status').dataset.state", 15)
        check(state == "open", "sse page: connected (#status %r)" %
              await b.js(text_of("status") + " + ''"))
        check(await b.js("chat instanceof EventSource"), "sse page: reads with an EventSource")
        await b.js("document.getElementById('input').value = 'posted from chromium';"
                   "document.getElementById('send').click(); true")
        check(await b.wait(text_of("messages") + ".includes('posted from chromium')"),
              "sse page: a POSTed message came back through PostgreSQL and the stream")
        check(await b.js(text_of("messages") + ".includes('user=sse-test')"),
              "sse page: with the sender's claims")
        notify(json.dumps({"channel": "chat", "payload": "sse from SQL"}))
        check(await b.wait(text_of("messages") + ".includes('sse from SQL')"),
              "sse page: a pg_notify from SQL is shown")
        # A bare EventSource: CR, LF and CRLF in a payload all arrive as LF.
        await b.js("window.got = []; window.es = new EventSource('/postgres-websockets-listener/%s');"
                   "es.onmessage = (e) => got.push(e.data);"
                   "new Promise((r) => { es.onopen = () => r(true); setTimeout(() => r(false), 5000); })"
                   % tok)
        notify("one\r\ntwo\rthree\nfour")
        got = await b.wait("got.length && got[0]")
        check(got == "one\ntwo\nthree\nfour", "EventSource: a multi-line payload (%r)" % got)
        notify(json.dumps({"channel": "postgres-websockets-listener", "n": 2}))
        got = await b.wait("got.length > 1 && got[1]")
        check(got and json.loads(got) == {"channel": "postgres-websockets-listener", "n": 2},
              "EventSource: the next event (%r)" % got)
        # A refused stream (channel not granted) ends in CLOSED, no retry loop.
        st = await b.js("new Promise((r) => { const x = new EventSource('/other/%s');"
                        "x.onerror = () => r(x.readyState); setTimeout(() => r('timeout'), 5000); })"
                        % tok)
        check(st == 2, "EventSource: a 403 closes it for good (readyState %r)" % st)
        shot = await b.call("Page.captureScreenshot", format="png")
        with open(os.path.splitext(SHOT)[0] + "-sse.png", "wb") as f:
            f.write(base64.b64decode(shot["data"]))
    finally:
        if b:
            await b.stop()
        s.stop()


if __name__ == "__main__":
    if not os.access(CHROMIUM, os.X_OK):
        print("skip: chromium not installed")
        print("0 passed, 0 failed")
        sys.exit(0)
    run(globals())
