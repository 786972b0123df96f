#!/usr/bin/python3
"""One websocket round trip for tests/release_test.sh, which cannot speak
websockets from bash: connects a real client (python3-websockets) to URL,
sends TEXT and waits for it to come back from the database as the
WebsocketMessage envelope pgws published with pg_notify.

    release_ws.py URL TEXT [CAFILE]     (CAFILE: trust it for wss://)

Exit 0 and prints "ok ..." when the message came back with the token's
claims; exit 1 and says why otherwise.
"""
import asyncio
import json
import ssl
import sys

import websockets


async def main(url, text, cafile):
    ctx = ssl.create_default_context(cafile=cafile) if cafile else None
    async with websockets.connect(url, ssl=ctx, open_timeout=20) as ws:
        await ws.send(text)
        env = json.loads(await asyncio.wait_for(ws.recv(), 20))
    if env.get("event") != "WebsocketMessage" or env.get("payload") != text:
        return "unexpected envelope: %r" % env
    if env.get("channel") != "chat" or env["claims"].get("mode") != "rw":
        return "wrong channel or claims: %r" % env
    return None


if __name__ == "__main__":
    try:
        err = asyncio.run(main(sys.argv[1], sys.argv[2],
                               sys.argv[3] if len(sys.argv) > 3 else None))
    except Exception as e:  # noqa: BLE001 - any failure is the answer
        err = "%s: %s" % (type(e).__name__, e)
    print("ok round trip" if err is None else err)
    sys.exit(0 if err is None else 1)
