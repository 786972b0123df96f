#!/bin/bash
# Heavy reliability run for pgws (not part of test.sh; figures for the
# README's reliability section).  Two phases against PGWS_BIN (./pgws):
#
#  1. HOLD: 10,000 concurrent websockets (raw sockets, one Python process,
#     epoll) held for 60 s while notifications flow to all of them at
#     20/s (one burst of 20 each second).  Every delivery is counted per
#     client: nothing may be dropped, no client disconnected; pgws's RSS is
#     sampled every 5 s and must stay flat.
#  2. SLOW: one client stops reading while 50 others receive 100 MB of
#     notifications in total.  The slow one is dropped at PGWS_MAX_PENDING_HARD,
#     set equal to PGWS_MAX_PENDING here (logged), the others lose nothing,
#     RSS stays bounded.
#
#   tests/heavy.sh                 (throwaway PostgreSQL unless PGWS_TEST_URI)
#   HOLD_CLIENTS=2000 HOLD_SECONDS=20 tests/heavy.sh     a smaller run
#
# Ends with "N passed, N failed"; non-zero exit on any failure.
set -u
cd "$(dirname "$0")/.." || exit 2
export PGWS_BIN=${PGWS_BIN:-./pgws}
[ -x "$PGWS_BIN" ] || { echo "no $PGWS_BIN (make pgws)"; echo "0 passed, 1 failed"; exit 1; }
STARTED_PG=
if [ -z "${PGWS_TEST_URI:-}" ]; then
	. tests/pg.sh
	pg_start || { echo "throwaway PostgreSQL did not start"; echo "0 passed, 1 failed"; exit 1; }
	STARTED_PG=1
	trap 'pg_stop' EXIT
fi
export PGWS_TEST_URI
# this shell and its children may hold ~10k sockets
ulimit -n "$(ulimit -Hn)" 2>/dev/null

PYTHONPATH=tests /usr/bin/python3 - <<'PYEOF'
import json
import os
import re
import resource
import selectors
import socket
import subprocess
import threading
import time

import harness
from harness import (Server, check, cpu_s, split_frames, status_kb, token,
                     upgrade_request)

LISTEN = "postgres-websockets-listener"
N = int(os.environ.get("HOLD_CLIENTS", "10000"))
HOLD = float(os.environ.get("HOLD_SECONDS", "60"))
RATE = 20                      # notifications per second, to every client
SLOW_READERS = 50
SLOW_TOTAL = 100 * 1000 * 1000   # bytes delivered to the 50 readers together
SLOW_PAYLOAD = 4000
MAX_PENDING = 262144

soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def metric(srv, name):
    s = socket.create_connection(("127.0.0.1", srv.port), timeout=10)
    s.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    out = b""
    while True:
        b = s.recv(65536)
        if not b:
            break
        out += b
    s.close()
    m = re.search(rb"^%s (\d+)" % name.encode(), out, re.M)
    return int(m.group(1)) if m else None


def open_websockets(port, n, path, rcvbuf=None, batch=500):
    """n upgraded raw websockets; returns the list (fewer on failure)."""
    req = upgrade_request(path)
    out = []
    for a in range(0, n, batch):
        group = []
        for _ in range(min(batch, n - a)):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            if rcvbuf:
                s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
            s.settimeout(10)
            s.connect(("127.0.0.1", port))
            s.sendall(req)
            group.append(s)
        for s in group:
            buf = b""
            while b"\r\n\r\n" not in buf:
                b = s.recv(4096)
                if not b:
                    break
                buf += b
            head, _, rest = buf.partition(b"\r\n\r\n")
            if not head.startswith(b"HTTP/1.1 101") or rest:
                print("   upgrade failed: %r" % head[:60])
                s.close()
                continue
            out.append(s)
    return out


class Notifier(threading.Thread):
    """Feeds SQL to one psql session."""

    def __init__(self):
        super().__init__(daemon=True)
        self.p = subprocess.Popen(["stdbuf", "-oL", "psql", "-X", "-q", "-At", "-v",
                                   "ON_ERROR_STOP=1", os.environ["PGWS_TEST_URI"]],
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  stderr=subprocess.STDOUT, text=True)

    def sql(self, q):
        """Runs q and waits for its (one-line) result."""
        self.p.stdin.write(q.rstrip(";") + ";\n")
        self.p.stdin.flush()
        return self.p.stdout.readline().strip()

    def close(self):
        self.p.stdin.close()
        self.p.wait(30)


# ------------------------------------------------------------------ 1 HOLD

def phase_hold():
    print("== HOLD: %d websockets for %.0f s, %d notifications/s to each" % (N, HOLD, RATE))
    srv = Server(PGWS_MAX_CONNECTIONS=N + 2000, PGWS_PING_INTERVAL=3600,
                 PGWS_HANDSHAKE_TIMEOUT=120, PGWS_LOG_LEVEL="warn")
    try:
        base = status_kb(srv)
        t0 = time.time()
        socks = open_websockets(srv.port, N, "/all/" + token({"mode": "r", "channel": "all"}))
        t_open = time.time() - t0
        check(len(socks) == N, "%d websockets open (%d) in %.1f s" % (N, len(socks), t_open))
        held_rss = status_kb(srv)
        print("   RSS: %d kB idle, %d kB with %d websockets (%.1f kB each)"
              % (base, held_rss, len(socks), (held_rss - base) / max(1, len(socks))))
        check(metric(srv, "pgws_websockets") == len(socks), "pgws counts them all")

        # fixed-size payloads: every frame is 2 + PLEN bytes
        fmt = "format('{\"channel\":\"all\",\"seq\":\"%s\"}', lpad(g::text, 8, '0'))"
        PLEN = len('{"channel":"all","seq":"00000000"}')
        F = 2 + PLEN
        sel = selectors.DefaultSelector()
        for i, s in enumerate(socks):
            s.setblocking(False)
            sel.register(s, selectors.EVENT_READ, i)
        got = [0] * len(socks)
        tail = [b""] * len(socks)
        closed = [False] * len(socks)

        def pump(until):
            while time.time() < until:
                for key, _ in sel.select(timeout=max(0, min(0.1, until - time.time()))):
                    i = key.data
                    try:
                        b = key.fileobj.recv(262144)
                    except BlockingIOError:
                        continue
                    except OSError:
                        b = b""
                    if not b:
                        closed[i] = True
                        sel.unregister(key.fileobj)
                        continue
                    got[i] += len(b)
                    tail[i] = (tail[i] + b)[-F:]

        nt = Notifier()
        sent = 0
        samples = []
        c0 = cpu_s(srv)
        start = time.time()
        next_sample = start
        sec = 0
        while time.time() - start < HOLD:
            if time.time() >= next_sample:
                samples.append((round(time.time() - start), status_kb(srv)))
                next_sample += 5
            r = nt.sql("SELECT count(pg_notify('%s', %s)) FROM generate_series(%d, %d) g"
                       % (LISTEN, fmt, sent + 1, sent + RATE))
            if r == str(RATE):
                sent += RATE
            else:
                print("   psql: %r" % r)
            sec += 1
            pump(start + sec)
        samples.append((round(time.time() - start), status_kb(srv)))
        cpu = cpu_s(srv) - c0
        # stragglers
        end = time.time() + 10
        while time.time() < end and any(g < sent * F for g, c in zip(got, closed) if not c):
            pump(time.time() + 0.5)
        nt.close()

        want = sent * F
        full = sum(1 for g in got if g == want)
        lost = sum(max(0, sent - g // F) for g in got)
        bad_tail = sum(1 for t in tail if t[2:] != ('{"channel":"all","seq":"%08d"}' % sent).encode())
        n_closed = sum(closed)
        delivered = sum(got) // F
        print("   held %d websockets for %.0f s; %d notifications sent, %d deliveries "
              "(%.0f/s), %d lost, %d clients disconnected; pgws CPU %.1f s"
              % (len(socks), HOLD, sent, delivered, delivered / HOLD, lost, n_closed, cpu))
        print("   RSS samples (s, kB): %s" % " ".join("%d:%d" % x for x in samples))
        check(sent == RATE * int(HOLD), "every notification sent (%d)" % sent)
        check(full == len(socks) and lost == 0,
              "every client got every notification (%d of %d complete, %d lost)"
              % (full, len(socks), lost))
        check(bad_tail == 0, "and each ended on the last sequence number (%d did not)" % bad_tail)
        check(n_closed == 0, "no client was disconnected (%d)" % n_closed)
        # the first sample precedes the first delivery (output queues are
        # allocated then); flat means flat from 5 s on
        rss = [r for t, r in samples if t >= 5] or [samples[-1][1]]
        spread = max(rss) - min(rss)
        check(spread <= max(2048, min(rss) // 20),
              "RSS flat while holding (5 s .. end): min %d kB, max %d kB (spread %d kB)"
              % (min(rss), max(rss), spread))
        for s in socks:
            s.close()
        t = time.time()
        while metric(srv, "pgws_websockets") and time.time() - t < 30:
            time.sleep(0.5)
        time.sleep(1)
        after = status_kb(srv)
        print("   RSS after closing them all: %d kB (idle was %d kB, peak %d kB)"
              % (after, base, max(r for _, r in samples)))
        check(metric(srv, "pgws_websockets") == 0, "all websockets gone after the clients closed")
    finally:
        srv.stop()


# ------------------------------------------------------------------ 2 SLOW

SEQ = re.compile(rb'"i" ?: ?(\d+)')


def phase_slow():
    per_reader = SLOW_TOTAL // SLOW_READERS
    count = -(-per_reader // SLOW_PAYLOAD)
    print("== SLOW: 1 stalled reader, %d readers receive %d notifications of ~%d bytes "
          "(%.0f MB in total), PGWS_MAX_PENDING=%d"
          % (SLOW_READERS, count, SLOW_PAYLOAD,
             SLOW_READERS * count * SLOW_PAYLOAD / 1e6, MAX_PENDING))
    srv = Server(PGWS_MAX_PENDING=MAX_PENDING, PGWS_MAX_PENDING_HARD=MAX_PENDING,
                 PGWS_PING_INTERVAL=3600)
    try:
        base = status_kb(srv)
        path = "/slow/" + token({"mode": "r", "channel": "slow"})
        stalled = open_websockets(srv.port, 1, path, rcvbuf=4096)
        fast = open_websockets(srv.port, SLOW_READERS, path)
        check(len(stalled) == 1 and len(fast) == SLOW_READERS,
              "1 stalled and %d reading websockets open" % len(fast))
        sel = selectors.DefaultSelector()
        bufs = [bytearray() for _ in fast]
        seqs = [[] for _ in fast]
        nbytes = [0] * len(fast)
        closed = [False] * len(fast)
        for i, s in enumerate(fast):
            s.setblocking(False)
            sel.register(s, selectors.EVENT_READ, i)

        def pump(target, until):
            while time.time() < until and any(
                    (len(q) < target) for q, c in zip(seqs, closed) if not c):
                for key, _ in sel.select(timeout=0.1):
                    i = key.data
                    try:
                        b = key.fileobj.recv(1 << 20)
                    except BlockingIOError:
                        continue
                    except OSError:
                        b = b""
                    if not b:
                        closed[i] = True
                        sel.unregister(key.fileobj)
                        continue
                    nbytes[i] += len(b)
                    bufs[i] += b
                    frames, rest = split_frames(bufs[i])
                    bufs[i] = bytearray(rest)
                    for op, p in frames:
                        if op == 1:
                            seqs[i].append(int(SEQ.search(p).group(1)))

        nt = Notifier()
        batch = 32   # 32 x 4 KB = 128 KB per burst, under PGWS_MAX_PENDING
        peak = base
        t0 = time.time()
        c0 = cpu_s(srv)
        sent = 0
        while sent < count:
            hi = min(count, sent + batch)
            r = nt.sql("SELECT count(pg_notify('%s', json_build_object('channel','slow','i',g,"
                       "'p',repeat('x',%d))::text)) FROM generate_series(%d,%d) g"
                       % (LISTEN, SLOW_PAYLOAD, sent + 1, hi))
            if r != str(hi - sent):
                print("   psql: %r" % r)
                break
            sent = hi
            pump(sent, time.time() + 20)
            peak = max(peak, status_kb(srv))
        dt = time.time() - t0
        cpu = cpu_s(srv) - c0
        nt.close()
        complete = sum(1 for q in seqs if q == list(range(1, count + 1)))
        lost = sum(count - len(q) for q in seqs)
        total = sum(nbytes)
        dropped = metric(srv, "pgws_slow_clients_dropped_total")
        log = srv.log()
        print("   %d readers received %.1f MB in %.1f s (%.0f MB/s), %d lost, %d disconnected; "
              "pgws CPU %.1f s" % (len(fast), total / 1e6, dt, total / 1e6 / dt, lost,
                                   sum(closed), cpu))
        print("   RSS: %d kB before, %d kB peak (+%d kB)" % (base, peak, peak - base))
        check(sent == count, "all %d notifications sent" % count)
        check(complete == len(fast) and lost == 0,
              "every reader got every notification in order (%d of %d complete, %d lost)"
              % (complete, len(fast), lost))
        check(total >= SLOW_TOTAL, "%.1f MB delivered in total" % (total / 1e6))
        check(sum(closed) == 0, "no reading client was disconnected")
        check(dropped == 1 and "slow reader" in log,
              "the stalled reader was dropped and logged (%s dropped)" % dropped)
        m = re.search(r".*slow reader.*", log)
        if m:
            print("   log: " + m.group(0))
        s = stalled[0]
        s.settimeout(5)
        gone = False
        try:
            while True:
                b = s.recv(1 << 20)
                if not b:
                    gone = True
                    break
        except (ConnectionResetError, BrokenPipeError):
            gone = True
        except socket.timeout:
            pass
        check(gone, "the stalled reader's socket ends (EOF/reset)")
        bound = (MAX_PENDING + 256 * 1024) * (SLOW_READERS + 1) // 1024 + 8192
        check(peak - base < bound, "RSS bounded: +%d kB (bound %d kB)" % (peak - base, bound))
        for s in fast:
            s.close()
    finally:
        srv.stop()


t = time.time()
phase_hold()
phase_slow()
print("heavy.sh took %.0f s" % (time.time() - t))
print("%d passed, %d failed" % (harness.passed, harness.failed))
raise SystemExit(1 if harness.failed else 0)
PYEOF
