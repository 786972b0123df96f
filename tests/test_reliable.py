#!/usr/bin/python3
"""What pgws promises about memory and delivery, checked against the
running binary (issue 15): a connection that stops reading costs at most
what the README says, a reader that keeps reading is never dropped by a
burst, many stalled readers together stay under the server-wide bound, and
what a sender has committed is always a clean prefix of what it sent.

    . tests/pg.sh && pg_start
    PGWS_BIN=./pgws /usr/bin/python3 tests/test_reliable.py [test_name ...]
    pg_stop

Memory is read from /proc/<pid>/status: VmHWM (the peak resident set) is
reset through /proc/<pid>/clear_refs before a load and read after it, so
the check sees the worst moment, not what is left.  Under the sanitizer
build (its quarantine and redzones are not pgws's memory) the resident
checks are skipped and the behaviour checks remain.
"""
import asyncio
import json
import os
import re
import select
import socket
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (OP_PING, OP_PONG, OP_TEXT, Raw, Server, check,  # noqa: E402
                     recv_data, psql, run, token, upgrade_request, status_of, body_of, URI,
                     raise_nofile, split_frames, status_kb)

import websockets  # noqa: E402

LISTEN = "postgres-websockets-listener"
SANITIZED = "debug" in os.path.basename(os.environ.get("PGWS_BIN", "./pgws"))
KiB = 1024
MiB = 1024 * 1024


# ---------------------------------------------------------------- helpers

def reset_peak(srv):
    """Resets VmHWM to the current RSS (Linux: clear_refs 5); returns it."""
    with open("/proc/%d/clear_refs" % srv.p.pid, "w") as f:
        f.write("5")
    return status_kb(srv, "VmRSS")


def peak_kb(srv):
    return status_kb(srv, "VmHWM")


def get(srv, path):
    return srv.http(("GET %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
                     % path).encode())


def metric(srv, name):
    m = re.search(r"^%s (\d+)" % re.escape(name), body_of(get(srv, "/metrics")), re.M)
    return int(m.group(1)) if m else None


def wait_metric(srv, name, want, secs):
    end = time.time() + secs
    v = metric(srv, name)
    while (v is None or v < want) and time.time() < end:
        time.sleep(0.1)
        v = metric(srv, name)
    return v


def stalled(port, path, rcvbuf=4096):
    """A websocket that upgrades and then never reads: a small receive
    buffer, so the kernel holds little on its side."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    s.settimeout(10)
    s.connect(("127.0.0.1", port))
    s.sendall(upgrade_request(path))
    head = b""
    while b"\r\n\r\n" not in head:
        b = s.recv(1)
        if not b:
            return None
        head += b
    return s if status_of(head) == 101 else None


def masked(opcode, payload):
    key = os.urandom(4)
    n = len(payload)
    assert n < 126
    return bytes([0x80 | opcode, 0x80 | n]) + key + \
        bytes(c ^ key[i % 4] for i, c in enumerate(payload))


def push(s, data, stall=1.5):
    """Writes data without blocking until it is all out or the socket
    accepted nothing for stall seconds; returns the bytes written."""
    s.setblocking(False)
    off = 0
    while off < len(data):
        _, w, _ = select.select([], [s], [], stall)
        if not w:
            break
        try:
            off += s.send(data[off:off + 262144])
        except BlockingIOError:
            continue
    s.setblocking(True)
    return off


def gone(s, timeout):
    """True when the peer ended s within timeout (data read is dropped)."""
    end = time.time() + timeout
    try:
        while time.time() < end:
            s.settimeout(max(0.01, end - time.time()))
            if not s.recv(1 << 20):
                return True
    except (ConnectionResetError, BrokenPipeError):
        return True
    except socket.timeout:
        pass
    return False


# ------------------------------------------------- 1. memory per connection

def test_ping_flood_memory():
    """Clients that send 500,000 empty pings each and never read: each holds
    at most PGWS_MAX_PENDING (every queued entry counted at its full cost),
    and the most recent ping is still answered once they read (RFC 6455
    5.5.3: only the most recent pong need be sent)."""
    limit = 1048576
    n_conn, n_ping = 8, 500000
    with Server(PGWS_PING_INTERVAL=3600, PGWS_MAX_PENDING_HARD=limit) as srv:
        path = "/pings/" + token({"mode": "r", "channel": "pings"})
        socks = [stalled(srv.port, path) for _ in range(n_conn)]
        check(all(socks), "%d non-reading websockets open" % n_conn)
        base = reset_peak(srv)
        blob = masked(OP_PING, b"") * n_ping
        sent = [push(s, blob) for s in socks]
        time.sleep(1)
        peak = peak_kb(srv) - base
        per = peak * KiB / n_conn
        print("   %d x %d pings (%.1f MB sent), peak RSS +%d KB, %.0f KB per "
              "connection" % (n_conn, n_ping, sum(sent) / 1e6, peak, per / KiB))
        if not SANITIZED:
            check(per <= limit + 64 * KiB,
                  "peak RSS per ping-flooding connection %.0f KB <= "
                  "PGWS_MAX_PENDING_HARD + 64 KB (%d KB)" % (per / KiB, limit // KiB + 64))
        # Now read: the last ping must be answered, pongs in order.
        s = socks[0]
        got = []
        buf = b""
        stop = threading.Event()

        def reader():
            nonlocal buf
            quiet = 0
            while not stop.is_set() and quiet < 6:
                if not select.select([s], [], [], 0.5)[0]:
                    quiet += 1
                    continue
                b = s.recv(1 << 20)
                if not b:
                    break
                quiet = 0
                fs, buf = split_frames(buf + b)
                got.extend(p for op, p in fs if op == OP_PONG)

        s.settimeout(None)
        th = threading.Thread(target=reader)
        th.start()
        rest = blob[sent[0]:]
        s.sendall(rest + masked(OP_PING, b"last"))
        th.join(30)
        stop.set()
        check(got and got[-1] == b"last",
              "after the flood the most recent ping is answered (%d pongs, last %r)"
              % (len(got), got[-1] if got else None))
        check(srv.p.poll() is None, "pgws still running")
        for x in socks:
            x.close()


def test_tiny_notify_memory():
    """Readers that stopped reading while tiny notifications arrive: each
    holds at most PGWS_MAX_PENDING_HARD (1 MiB here), counting what each
    queued entry costs, not a 7-byte frame as 7 bytes."""
    n_read, n_note = 20, 200000
    limit = 1048576
    with Server(PGWS_PING_INTERVAL=3600, PGWS_MAX_PENDING_HARD=limit) as srv:
        path = "/" + LISTEN + "/" + token({"mode": "r", "channel": LISTEN})
        socks = [stalled(srv.port, path) for _ in range(n_read)]
        check(all(socks), "%d stalled readers open" % n_read)
        base = reset_peak(srv)
        r = psql("SELECT count(pg_notify('%s', g::text)) FROM generate_series(1, %d) g"
                 % (LISTEN, n_note))
        check(r.returncode == 0, "psql sent %d tiny notifications" % n_note)
        got = wait_metric(srv, "pgws_notifications_received_total", n_note, 60)
        check(got == n_note, "pgws took all %d (%s)" % (n_note, got))
        peak = peak_kb(srv) - base
        per = peak * KiB / n_read
        print("   %d readers x %d notifications: peak RSS +%d KB, %.0f KB per reader"
              % (n_read, n_note, peak, per / KiB))
        if not SANITIZED:
            check(per <= limit + 64 * KiB,
                  "peak RSS per stalled reader %.0f KB <= PGWS_MAX_PENDING_HARD + 64 KB"
                  % (per / KiB))
        check(srv.p.poll() is None, "pgws still running")
        for s in socks:
            s.close()


# ----------------------------------------- 3. a busy reader vs a stalled one

BURST_N = 8200          # 8200 x 7.8 KB: a 64 MB burst
BURST_SQL = ("SELECT count(pg_notify('%s', json_build_object('channel','burst',"
             "'i',g,'p',repeat('x',7800))::text)) FROM generate_series(%d,%d) g;\n")


def burst_script(n, per_tx=40):
    return "".join(BURST_SQL % (LISTEN, a, min(a + per_tx - 1, n))
                   for a in range(1, n + 1, per_tx))


def listener_pids():
    r = psql("SELECT pid FROM pg_stat_activity WHERE application_name = 'pgws' "
             "AND (query LIKE 'LISTEN%' OR query LIKE '%pg_notification_queue_usage%')")
    return [int(p) for p in r.stdout.split() if p]


def test_fast_reader_burst():
    """A reader that keeps reading keeps its connection through a 64 MB
    burst (7.8 KB payloads, 40 per transaction) with the default limits,
    and gets every message in order."""
    with Server() as srv:
        s = socket.create_connection(("127.0.0.1", srv.port), timeout=10)
        s.sendall(upgrade_request("/burst/" + token({"mode": "r", "channel": "burst"})))
        head = b""
        while b"\r\n\r\n" not in head:
            head += s.recv(1)
        check(status_of(head) == 101, "reader upgraded")
        got = []
        closed = []
        nbytes = [0]

        def reader():
            buf = b""
            s.settimeout(10)
            while len(got) < BURST_N:
                try:
                    b = s.recv(1 << 20)
                except (socket.timeout, ConnectionResetError):
                    break
                if not b:
                    closed.append("EOF")
                    break
                nbytes[0] += len(b)
                fs, buf = split_frames(buf + b)
                for op, p in fs:
                    if op == OP_TEXT:
                        got.append(json.loads(p)["i"])
                    elif op == 8:
                        closed.append(int.from_bytes(p[:2], "big"))

        # The listener's backend is stopped while the burst is committed,
        # then resumed: PostgreSQL then sends the 64 MB as fast as it can.
        lis = listener_pids()
        check(len(lis) == 1, "found pgws's listener backend (%s)" % lis)
        os.kill(lis[0], 19)         # SIGSTOP
        try:
            r = subprocess.run(["psql", "-X", "-q", "-At", "-v", "ON_ERROR_STOP=1", URI,
                                "-f", "-"], input=burst_script(BURST_N),
                               capture_output=True, text=True, timeout=120)
        finally:
            os.kill(lis[0], 18)     # SIGCONT
        check(r.returncode == 0, "psql committed the burst")
        t0 = time.time()
        th = threading.Thread(target=reader)
        th.start()
        th.join(60)
        dt = time.time() - t0
        print("   %d messages, %.1f MB in %.1f s; closed: %s"
              % (len(got), nbytes[0] / 1e6, dt, closed))
        check(not closed, "the fast reader was not closed (%s)" % closed)
        check(got == list(range(1, BURST_N + 1)),
              "the fast reader got all %d messages in order (%d)" % (BURST_N, len(got)))
        check("slow reader" not in srv.log(), "no slow-reader drop logged")
        s.close()


def test_stalled_reader_dropped():
    """A reader that stops reading is dropped after PGWS_SLOW_TIMEOUT
    seconds over PGWS_MAX_PENDING without progress, not at once; one over
    PGWS_MAX_PENDING_HARD is dropped at once."""
    path = "/st/" + token({"mode": "r", "channel": "st"})
    sql = ("SELECT count(pg_notify('%s', json_build_object('channel','st','i',g,"
           "'p',repeat('x',1000))::text)) FROM generate_series(1,3000) g" % LISTEN)
    for env, lo, hi, what in (
            ({"PGWS_MAX_PENDING": 262144, "PGWS_SLOW_TIMEOUT": 3}, 2.5, 4.5,
             "after PGWS_SLOW_TIMEOUT=3 s without progress"),
            ({"PGWS_MAX_PENDING": 262144, "PGWS_SLOW_TIMEOUT": 60,
              "PGWS_MAX_PENDING_HARD": 1048576}, 0.0, 1.5,
             "at PGWS_MAX_PENDING_HARD=1 MiB, long before PGWS_SLOW_TIMEOUT=60 s")):
        with Server(PGWS_PING_INTERVAL=3600, **env) as srv:
            s = stalled(srv.port, path)
            check(s is not None, "stalled reader open")
            # 3 MB at once: over the soft limit at once, over the hard one too.
            r = psql(sql)
            t0 = time.time()
            check(r.returncode == 0, "psql sent 3000 x 1 KB")
            while metric(srv, "pgws_slow_clients_dropped_total") == 0 and time.time() - t0 < 12:
                time.sleep(0.05)
            dt = time.time() - t0
            print("   %s: dropped %.2f s after the burst" % (env, dt))
            check(lo <= dt <= hi, "stalled reader dropped %s (%.2f s, want %.1f..%.1f)"
                  % (what, dt, lo, hi))
            check(gone(s, 5), "its socket is closed")
            s.close()


def test_stalled_readers_total():
    """1,000 readers that stopped reading: pgws's memory stays under
    PGWS_MAX_PENDING_TOTAL, however much each of them could hold."""
    n_read, n_note = 1000, 16000
    total = 32 * MiB
    raise_nofile(n_read + 200)
    with Server(PGWS_PING_INTERVAL=3600, PGWS_SLOW_TIMEOUT=60,
                PGWS_MAX_PENDING_TOTAL=total) as srv:
        path = "/" + LISTEN + "/" + token({"mode": "r", "channel": LISTEN})
        socks = [stalled(srv.port, path, rcvbuf=2048) for _ in range(n_read)]
        check(all(socks), "%d stalled readers open" % n_read)
        base = reset_peak(srv)
        r = psql("SELECT count(pg_notify('%s', g::text)) FROM generate_series(1, %d) g"
                 % (LISTEN, n_note))
        check(r.returncode == 0, "psql sent %d notifications" % n_note)
        got = wait_metric(srv, "pgws_notifications_received_total", n_note, 60)
        check(got == n_note, "pgws took all %d (%s)" % (n_note, got))
        time.sleep(0.5)
        peak = peak_kb(srv) - base
        dropped = metric(srv, "pgws_slow_clients_dropped_total")
        print("   %d readers x %d notifications: peak RSS +%d KB, %s dropped"
              % (n_read, n_note, peak, dropped))
        if not SANITIZED:
            check(peak * KiB <= total + 8 * MiB,
                  "peak RSS +%d KB <= PGWS_MAX_PENDING_TOTAL (%d KB) + 8 MB"
                  % (peak, total // KiB))
        # A new reader is served normally afterwards.
        for x in socks:
            x.close()
        rd = Raw(srv.port, "/after/" + token({"mode": "r", "channel": "after"}))
        check(rd.status == 101, "a new reader is accepted afterwards")
        psql("SELECT pg_notify('%s', '{\"channel\":\"after\",\"payload\":\"x\"}')" % LISTEN)
        f = recv_data(rd, 10)
        check(f is not None and f[0] == OP_TEXT, "and gets the next notification (%r)" % (f,))
        rd.close()


# -------------------------------- 4. what a sender committed is a prefix

POOL_SQL = ("SELECT pid FROM pg_stat_activity WHERE application_name = 'pgws' "
            "AND pid <> pg_backend_pid() AND query NOT LIKE 'LISTEN%%' "
            "AND query NOT LIKE '%%pg_notification_queue_usage%%'")


def fault_loop(stop, action, every, counter):
    """Applies action (pg_terminate_backend or pg_cancel_backend) to every
    pool backend of pgws each `every` seconds until stop is set."""
    while not stop.is_set():
        r = psql("SELECT count(%s(pid)) FROM (%s) p" % (action, POOL_SQL))
        if r.returncode == 0 and r.stdout.strip().isdigit():
            counter[0] += int(r.stdout.strip())
        stop.wait(every)


async def sender_and_reader(url, ch, n, rate, stats):
    """Sends 1..n on channel ch at about rate/s through a writer, watches
    them come back through a separate reader; whenever the writer is
    closed, waits until the reader is quiet and resumes right after the
    last message the reader saw (resend from the first unacknowledged).
    Returns the sequence the reader saw."""
    seen = []
    rd = await websockets.connect(url + "/%s/%s" % (ch, token({"mode": "r", "channel": ch})),
                                  ping_interval=None, max_queue=None)

    async def read():
        try:
            async for m in rd:
                seen.append(int(json.loads(m)["payload"]))
        except websockets.ConnectionClosed:
            pass

    rt = asyncio.ensure_future(read())
    wpath = url + "/%s/%s" % (ch, token({"mode": "w", "channel": ch}))

    async def quiet():
        last = -1
        while len(seen) != last:
            last = len(seen)
            await asyncio.sleep(0.7)

    nxt = 1
    deadline = time.time() + 60
    while time.time() < deadline:
        if nxt > n:
            await quiet()
            if seen and seen[-1] == n:
                break
            nxt = (seen[-1] + 1) if seen else 1
            if nxt > n:
                break
        try:
            async with websockets.connect(wpath, ping_interval=None) as ws:
                while nxt <= n:
                    for _ in range(10):
                        if nxt > n:
                            break
                        await ws.send(str(nxt))
                        nxt += 1
                    await asyncio.sleep(10 / rate)
                # Stay until the reader saw the end or the writer is closed.
                end = time.time() + 5
                while time.time() < end and not (seen and seen[-1] == n):
                    await asyncio.sleep(0.2)
                    if ws.close_code is not None:
                        raise websockets.ConnectionClosed(None, None)
        except (websockets.ConnectionClosed, OSError) as e:
            code = getattr(getattr(e, "rcvd", None), "code", None)
            stats.setdefault("closes", []).append(code)
        await quiet()
        nxt = (seen[-1] + 1) if seen else 1
    await rd.close()
    rt.cancel()
    return seen


def prefix_report(name, seqs, n):
    bad = {}
    for ch, s in seqs.items():
        if s != list(range(1, n + 1)):
            holes = sorted(set(range(1, n + 1)) - set(s))[:5]
            dups = len(s) - len(set(s))
            order = sum(1 for a, b in zip(s, s[1:]) if b <= a)
            bad[ch] = "len %d, holes %s, dups %d, backwards %d" % (len(s), holes, dups, order)
    check(not bad, "%s: every reader saw exactly 1..%d in order (%s)" % (name, n, bad or "ok"))


async def _prefix_under_faults(action, every, n, rate, clients):
    with Server(PGWS_POOL_SIZE=3, PGWS_PING_INTERVAL=3600) as srv:
        stop = threading.Event()
        faults = [0]
        th = threading.Thread(target=fault_loop, args=(stop, action, every, faults))
        stats = {}
        th.start()
        try:
            res = await asyncio.gather(*[
                sender_and_reader(srv.url, "px%d" % i, n, rate, stats)
                for i in range(clients)])
        finally:
            stop.set()
            th.join()
        closes = stats.get("closes", [])
        print("   %s every %.2f s: %d applied, writers closed %d times (codes %s)"
              % (action, every, faults[0], len(closes), sorted(set(map(str, closes)))))
        check(faults[0] > 0, "%s hit pool backends (%d)" % (action, faults[0]))
        prefix_report(action, {i: s for i, s in enumerate(res)}, n)
        return closes


def test_prefix_pool_kills():
    """Pool backends killed every 0.2 s while 10 clients publish about
    500 messages/s each: each channel's reader sees exactly 1..N once, in
    order, when every writer resends from the first message it did not see
    come back."""
    closes = asyncio.run(_prefix_under_faults("pg_terminate_backend", 0.2, 1500, 500, 10))
    check(len(closes) > 0, "the kill loop closed writers (%d times): the case was exercised"
          % len(closes))


def test_prefix_statement_cancels():
    """Statements cancelled at random (pg_cancel_backend on the pool every
    20 ms): the same clean prefix."""
    asyncio.run(_prefix_under_faults("pg_cancel_backend", 0.02, 1000, 500, 6))


def latin1_uri():
    psql("DROP DATABASE IF EXISTS pgws_latin1")
    r = psql("CREATE DATABASE pgws_latin1 ENCODING 'LATIN1' LC_COLLATE 'C' "
             "LC_CTYPE 'C' TEMPLATE template0")
    if r.returncode:
        raise RuntimeError(r.stderr)
    return URI.rsplit("/", 1)[0] + "/pgws_latin1"


def test_failed_message_ends_sender():
    """In a LATIN1 database "€" cannot be stored: the message carrying it
    fails on its own.  Its sender gets 1011 and nothing it sent after it
    is published, although those messages were already queued behind it."""
    uri = latin1_uri()
    ch = "lat"

    async def go(s):
        rd = await websockets.connect(s.url + "/%s/%s" % (ch, token({"mode": "r", "channel": ch})))
        wr = await websockets.connect(s.url + "/%s/%s" % (ch, token({"mode": "w", "channel": ch})))
        for i in range(1, 61):
            await wr.send("%d%s" % (i, " \u20ac" if i == 20 else ""))
        seen = []
        try:
            while True:
                m = await asyncio.wait_for(rd.recv(), 3)
                seen.append(json.loads(m)["payload"])
        except asyncio.TimeoutError:
            pass
        code = None
        try:
            await asyncio.wait_for(wr.recv(), 3)
        except websockets.ConnectionClosed as e:
            code = e.code
        except asyncio.TimeoutError:
            pass
        check(code == 1011, "the sender of the failed message got 1011 (%s)" % code)
        check(seen == [str(i) for i in range(1, 20)],
              "the reader saw 1..19 and nothing after the failed 20 (%s)"
              % (seen if len(seen) < 25 else seen[:3] + ["..."] + seen[-3:]))
        await rd.close()

    with Server(PGWS_DB_URI=uri, PGWS_POOL_SIZE=1) as s:
        asyncio.run(go(s))


# ---------------------------------------------- 9. client_encoding UTF8

def test_latin1_database():
    """Against a LATIN1 database, text crosses in both directions intact:
    a notification with "é" reaches readers as é, and "é" sent by a client
    is é in SQL."""
    uri = latin1_uri()

    async def go(s):
        path = "/enc/" + token({"mode": "rw", "channel": "enc"})
        async with websockets.connect(s.url + path) as ws:
            r = subprocess.run(["psql", "-X", "-q", "-At", uri, "-c",
                                "SELECT pg_notify('%s', json_build_object('channel','enc',"
                                "'payload','caf\u00e9')::text)" % LISTEN],
                               capture_output=True, text=True,
                               env=dict(os.environ, PGCLIENTENCODING="UTF8"))
            check(r.returncode == 0, "psql notified in the LATIN1 database")
            try:
                m = json.loads(await asyncio.wait_for(ws.recv(), 5))
                got = m.get("payload")
            except asyncio.TimeoutError:
                got = None
            check(got == "caf\u00e9", "SQL to websocket: %r" % got)
            # A psql session LISTENs in the same database, as UTF-8.
            lis = subprocess.Popen(["psql", "-X", "-q", "-At", uri, "-c",
                                    'LISTEN "%s"' % LISTEN, "-c", "SELECT pg_sleep(2)",
                                    "-c", "SELECT 1"], stdout=subprocess.PIPE,
                                   stderr=subprocess.STDOUT, text=True,
                                   env=dict(os.environ, PGCLIENTENCODING="UTF8"))
            await asyncio.sleep(1)
            await ws.send("na\u00efve")
            out = await asyncio.to_thread(lis.communicate)
            m = re.search(r'"payload":"([^"]*)"', out[0])
            check(m is not None and m.group(1) == "na\u00efve",
                  "websocket to SQL: %r" % (m.group(1) if m else out[0][-300:]))

    with Server(PGWS_DB_URI=uri) as s:
        asyncio.run(go(s))


# --------------------------------------- 13. functions schema-qualified

def test_shadowed_pg_notify():
    """A pg_notify(text, text) in a schema searched before pg_catalog gets
    nothing: pgws calls pg_catalog.pg_notify."""
    psql("DROP DATABASE IF EXISTS pgws_shadow")
    r = psql("CREATE DATABASE pgws_shadow")
    check(r.returncode == 0, "created a database")
    uri = URI.rsplit("/", 1)[0] + "/pgws_shadow"
    setup = ("CREATE SCHEMA evil; CREATE TABLE evil.got (p text); "
             "CREATE FUNCTION evil.pg_notify(text, text) RETURNS void LANGUAGE sql "
             "AS 'INSERT INTO evil.got VALUES ($2)'; "
             "CREATE FUNCTION evil.pg_notification_queue_usage() RETURNS double precision "
             "LANGUAGE sql AS 'INSERT INTO evil.got VALUES (''usage''); SELECT 0.0::float8'; "
             "ALTER DATABASE pgws_shadow SET search_path = evil, pg_catalog")
    r = subprocess.run(["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", uri, "-c", setup],
                       capture_output=True, text=True)
    check(r.returncode == 0, "a shadowing pg_notify in schema evil (%s)" % r.stderr.strip())

    async def go(s):
        async with websockets.connect(s.url + "/sh/" + token({"mode": "rw", "channel": "sh"})) as ws:
            await ws.send("secret")
            try:
                m = json.loads(await asyncio.wait_for(ws.recv(), 5))["payload"]
            except asyncio.TimeoutError:
                m = None
            check(m == "secret", "the message went through pg_catalog.pg_notify (%r)" % m)

    with Server(PGWS_DB_URI=uri) as s:
        asyncio.run(go(s))
    r = subprocess.run(["psql", "-X", "-At", uri, "-c", "SELECT count(*) FROM evil.got"],
                       capture_output=True, text=True)
    check(r.stdout.strip() == "0", "the shadowing functions were never called (%s rows)"
          % r.stdout.strip())


# ------------------------------------ 7. bounded work per connection per turn

def test_download_does_not_stall_loop():
    """A fast download of a large static file (1 GiB, sparse, so the disk
    is not what is measured) shares the loop: /health answers within
    200 ms throughout, not after the file is sent."""
    import tempfile
    d = tempfile.mkdtemp(prefix="pgws-big-")
    big = os.path.join(d, "big.bin")
    with open(big, "wb") as f:
        f.truncate(1 << 30)
    try:
        with Server(PGWS_ROOT_PATH=d) as srv:
            dl = subprocess.Popen(["curl", "-s", "-o", "/dev/null", "-w", "%{size_download}",
                                   "http://127.0.0.1:%d/big.bin" % srv.port],
                                  stdout=subprocess.PIPE, text=True)
            time.sleep(0.2)
            lat = []
            while dl.poll() is None and len(lat) < 200:
                t = time.time()
                st = status_of(get(srv, "/health"))
                lat.append((time.time() - t, st))
                time.sleep(0.01)
            out = dl.communicate(timeout=120)[0]
            worst = max(l for l, _ in lat) if lat else 0
            lat.sort()
            print("   %d /health requests during the download: median %.1f ms, worst %.1f ms"
                  % (len(lat), 1000 * lat[len(lat) // 2][0] if lat else 0, 1000 * worst))
            check(out.strip() == str(1 << 30), "the 1 GiB download completed (%s)" % out)
            check(len(lat) >= 5, "/health was asked during the download (%d times)" % len(lat))
            check(all(st == 200 for _, st in lat), "every /health answered 200")
            check(worst < 0.2, "worst /health latency %.0f ms < 200 ms" % (1000 * worst))
    finally:
        os.unlink(big)
        os.rmdir(d)


def test_tls_flood_does_not_stall_loop():
    """A TLS client sending websocket frames as fast as it can (mode r, so
    they are only counted) gets its share of the loop, no more: TLS
    /health requests meanwhile are answered within a second each (before
    the bound, the handshake of the first one timed out)."""
    import ssl
    import tempfile
    d = tempfile.mkdtemp(prefix="pgws-tls-")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:P-256", "-nodes", "-keyout", d + "/k.pem",
                    "-out", d + "/c.pem", "-subj", "/CN=127.0.0.1", "-days", "1"],
                   capture_output=True, check=True)
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    with Server(PGWS_CERTIFICATE_FILE=d + "/c.pem", PGWS_KEY_FILE=d + "/k.pem") as srv:
        stop = threading.Event()
        sent = [0]

        def flood():
            s = ctx.wrap_socket(socket.create_connection(("127.0.0.1", srv.port)))
            s.sendall(upgrade_request("/t/" + token({"mode": "r", "channel": "t"})))
            s.recv(4096)
            payload = b"x" * 60000
            frame = bytes([0x81, 0xfe]) + len(payload).to_bytes(2, "big") + b"\0\0\0\0" + payload
            blob = frame * 16
            try:
                while not stop.is_set():
                    s.sendall(blob)
                    sent[0] += len(blob)
            except OSError:
                pass
            s.close()

        th = threading.Thread(target=flood)
        th.start()
        time.sleep(0.5)
        lat = []
        try:
            for _ in range(30):
                t = time.time()
                c = ctx.wrap_socket(socket.create_connection(("127.0.0.1", srv.port), timeout=5))
                c.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                r = b""
                while True:
                    b = c.recv(4096)
                    if not b:
                        break
                    r += b
                c.close()
                lat.append((time.time() - t, status_of(r)))
                time.sleep(0.02)
        except OSError as e:
            lat.append((99, str(e)))
        stop.set()
        th.join()
        worst = max(x for x, _ in lat)
        print("   %.0f MB sent by the flooder; %d TLS /health, worst %.0f ms"
              % (sent[0] / 1e6, len(lat), worst * 1000))
        check(sent[0] > 10e6, "the flooder sent %.0f MB" % (sent[0] / 1e6))
        check(all(st == 200 for _, st in lat), "every TLS /health answered 200")
        check(worst < 1.0, "worst TLS /health %.0f ms < 1000 ms" % (worst * 1000))
    subprocess.run(["rm", "-rf", d])


# ------------------------------------------ 2. the listener-loss window

def listener_of(other):
    """pgws LISTEN backends other than the pids in other."""
    return [p for p in listener_pids() if p not in other]


async def _listener_kills(seconds, rate):
    """Instance A's listener is killed every 0.8 s while a writer on A and
    a psql loop publish; instance B (never killed) sees everything that
    committed.  Returns (A's reader count, B's, per direction)."""
    with Server(PGWS_CHECK_LISTENER_INTERVAL=200) as b:
        keep = listener_pids()
        with Server(PGWS_CHECK_LISTENER_INTERVAL=200) as a:
            got = {k: set() for k in ("a-ws", "b-ws", "a-sql", "b-sql")}

            async def reader(srv, ch, key):
                async with websockets.connect(srv.url + "/%s/%s" % (ch, token({"mode": "r", "channel": ch})),
                                              max_queue=None, ping_interval=None) as ws:
                    try:
                        async for m in ws:
                            got[key].add(int(json.loads(m)["payload"]))
                    except websockets.ConnectionClosed:
                        pass

            rs = [asyncio.ensure_future(reader(a, "gw", "a-ws")),
                  asyncio.ensure_future(reader(b, "gw", "b-ws")),
                  asyncio.ensure_future(reader(a, "gs", "a-sql")),
                  asyncio.ensure_future(reader(b, "gs", "b-sql"))]
            await asyncio.sleep(0.5)
            stop = threading.Event()
            kills = [0]

            def killer():
                while not stop.wait(0.8):
                    for p in listener_of(keep):
                        psql("SELECT pg_terminate_backend(%d)" % p)
                        kills[0] += 1

            def sql_writer():
                # One session, 50 notifications per transaction, about
                # 2,000 a second, for as long as the writer below runs.
                psql("DO $$ DECLARE i int := 0; t timestamptz := clock_timestamp() "
                     "+ interval '%f seconds'; BEGIN WHILE clock_timestamp() < t LOOP "
                     "FOR k IN 1..50 LOOP i := i + 1; PERFORM pg_notify('%s', "
                     "json_build_object('channel','gs','payload',i::text)::text); END LOOP; "
                     "COMMIT; PERFORM pg_sleep(0.025); END LOOP; END $$" % (seconds, LISTEN))

            ths = [threading.Thread(target=killer), threading.Thread(target=sql_writer)]
            for t in ths:
                t.start()
            closes = []
            seq = 1
            end = time.time() + seconds
            wpath = a.url + "/gw/" + token({"mode": "w", "channel": "gw"})
            while time.time() < end:
                try:
                    async with websockets.connect(wpath, ping_interval=None) as ws:
                        while time.time() < end:
                            for _ in range(10):
                                await ws.send(str(seq))
                                seq += 1
                            await asyncio.sleep(10 / rate)
                except websockets.ConnectionClosed as e:
                    closes.append(e.code)
            stop.set()
            for t in ths:
                t.join()
            await asyncio.sleep(2)
            for r in rs:
                r.cancel()
            return got, kills[0], closes


def test_listener_loss_window():
    """Measures what the README states about a lost listener: messages
    that committed while this instance's listener was down or not yet
    detected as down never reach this instance's readers.  Counts, per
    direction, what another instance saw and this one did not."""
    secs = float(os.environ.get("PGWS_LISTENER_KILL_SECONDS", "5"))
    got, kills, closes = asyncio.run(_listener_kills(secs, 2000))
    for d in ("ws", "sql"):
        a, b = got["a-" + d], got["b-" + d]
        print("   %s-published: %d committed (seen by instance B), instance A's reader "
              "missed %d, saw %d B did not; %d listener kills, writer closes %s"
              % (d, len(b), len(b - a), len(a - b), kills, sorted(set(map(str, closes)))))
        check(len(b) > 0 and kills > 0, "%s: the case was exercised" % d)
        check(not (a - b), "%s: instance A saw nothing that did not commit" % d)


def test_listener_reconnect_event():
    """After the listener is re-established, readers of the meta channel
    get a ListenerReconnected event (with the downtime in ms as payload):
    the signal that notifications may have been missed."""
    meta = "server-info"
    with Server(PGWS_CHECK_LISTENER_INTERVAL=200, PGWS_META_CHANNEL=meta) as srv:
        rd = Raw(srv.port, "/%s/%s" % (meta, token({"mode": "r", "channel": meta})))
        check(rd.status == 101, "meta reader open")
        for p in listener_pids():
            psql("SELECT pg_terminate_backend(%d)" % p)
        ev = None
        end = time.time() + 10
        while time.time() < end:
            f = recv_data(rd, 1)
            if f and f[0] == OP_TEXT:
                m = json.loads(f[1])
                if m.get("event") == "ListenerReconnected":
                    ev = m
                    break
        check(ev is not None and ev["channel"] == meta and ev["payload"].isdigit(),
              "ListenerReconnected reached the meta reader (%s)" % ev)
        rd.close()


# --------------------------------------------- 10. a hung listener shows

def test_hung_listener_shows():
    """Without PGWS_CHECK_LISTENER_INTERVAL, a listener backend that hangs
    (SIGSTOP) leaves the queue sample (sent every 10 s) unanswered: /health
    turns 503 "unresponsive" and /metrics says so, and both recover when
    it resumes."""
    with Server() as srv:
        lis = listener_pids()
        check(len(lis) == 1, "found the listener backend (%s)" % lis)
        os.kill(lis[0], 19)
        try:
            t0 = time.time()
            st = 200
            while time.time() - t0 < 20:
                r = get(srv, "/health")
                st = status_of(r)
                if st == 503:
                    break
                time.sleep(0.25)
            print("   /health %d after %.1f s: %s" % (st, time.time() - t0, body_of(r)))
            check(st == 503 and json.loads(body_of(r))["listener"] == "unresponsive",
                  "/health 503 unresponsive while the listener hangs")
            m = body_of(get(srv, "/metrics"))
            w = re.search(r"^pgws_listener_check_wait_seconds ([0-9.]+)", m, re.M)
            check("pgws_listener_up 0" in m and w and float(w.group(1)) > 3,
                  "/metrics: pgws_listener_up 0, check waiting %s s" % (w and w.group(1)))
        finally:
            os.kill(lis[0], 18)
        t0 = time.time()
        while time.time() - t0 < 5 and status_of(get(srv, "/health")) != 200:
            time.sleep(0.1)
        check(status_of(get(srv, "/health")) == 200, "/health 200 once it answers again")


# -------------------------------------------- 12 and 14. static files

def test_root_symlink_switch():
    """PGWS_ROOT_PATH is resolved per request: switching the "current"
    symbolic link it names serves the new tree at once."""
    import tempfile
    d = tempfile.mkdtemp(prefix="pgws-root-")
    for v in ("v1", "v2"):
        os.mkdir(os.path.join(d, v))
        with open(os.path.join(d, v, "index.html"), "w") as f:
            f.write("release %s\n" % v)
    cur = os.path.join(d, "current")
    os.symlink("v1", cur)
    with Server(PGWS_ROOT_PATH=cur) as srv:
        a = body_of(get(srv, "/"))
        os.symlink("v2", cur + ".new")
        os.replace(cur + ".new", cur)
        b = body_of(get(srv, "/"))
        check(a == "release v1", "before the switch: %r" % a)
        check(b == "release v2", "after the switch, at once: %r" % b)
    subprocess.run(["rm", "-rf", d])


def read_resp(s):
    """One whole HTTP response (head and Content-Length body) from s."""
    buf = b""
    while b"\r\n\r\n" not in buf:
        b = s.recv(65536)
        if not b:
            return buf
        buf += b
    head, _, body = buf.partition(b"\r\n\r\n")
    m = re.search(rb"(?i)content-length: *(\d+)", head)
    while m and len(body) < int(m.group(1)):
        b = s.recv(65536)
        if not b:
            break
        body += b
    return head + b"\r\n\r\n" + body


def test_static_file_emfile():
    """Out of descriptors, a static file request gets 503, not 404."""
    import tempfile
    d = tempfile.mkdtemp(prefix="pgws-root-")
    with open(os.path.join(d, "a.txt"), "w") as f:
        f.write("a\n")
    with Server(PGWS_ROOT_PATH=d) as srv:
        s = socket.create_connection(("127.0.0.1", srv.port), timeout=5)
        req = b"GET /a.txt HTTP/1.1\r\nHost: x\r\n\r\n"
        s.sendall(req)
        first = read_resp(s)
        check(status_of(first) == 200, "the file is served (%d)" % status_of(first))
        # Two below what is open: every descriptor pgws asks for fails,
        # and the loop's own poll() set (a few) still fits the limit.
        nfd = len(os.listdir("/proc/%d/fd" % srv.p.pid)) - 2
        old = subprocess.run(["prlimit", "--pid", str(srv.p.pid), "--nofile", "-o", "SOFT",
                              "--noheadings"], capture_output=True, text=True).stdout.strip()
        r = subprocess.run(["prlimit", "--pid", str(srv.p.pid), "--nofile=%d:" % nfd],
                           capture_output=True, text=True)
        check(r.returncode == 0, "descriptor limit lowered to %d (%s)" % (nfd, r.stderr))
        s.sendall(req)
        second = read_resp(s)
        check(status_of(second) == 503, "out of descriptors: %d (want 503)" % status_of(second))
        subprocess.run(["prlimit", "--pid", str(srv.p.pid), "--nofile=%s:" % old])
        s.sendall(req)
        third = read_resp(s)
        check(status_of(third) == 200, "descriptors back: %d" % status_of(third))
        s.close()
    subprocess.run(["rm", "-rf", d])


if __name__ == "__main__":
    run(globals())
