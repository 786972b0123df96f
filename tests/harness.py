"""Shared helpers for pgws's Python integration tests.

A test module defines functions named test_*; run() calls each one, counts
checks and prints the closing "N passed, N failed" line.  Server starts the
binary under test (PGWS_BIN) against the throwaway database (PGWS_TEST_URI)
and stops it with SIGTERM, failing the check when it does not exit 0 or
when a sanitizer wrote a report.
"""
import asyncio
import base64
import hashlib
import hmac
import json
import os
import re
import resource
import signal
import socket
import subprocess
import sys
import tempfile
import time
import traceback

BIN = os.environ.get("PGWS_BIN", "./pgws")
URI = os.environ.get("PGWS_TEST_URI", "")
SECRET = "reallyreallyreallyreallyverysafe"

passed = 0
failed = 0
calibration = [0, 0]    # checks of the suite itself: passed, failed


def check(cond, what):
    global passed, failed
    if cond:
        passed += 1
        print("ok   " + what, flush=True)
    else:
        failed += 1
        print("FAIL " + what, flush=True)
    return cond


def calibrate(cond, what):
    """A check of the test suite against another implementation (say,
    python3-websockets' own server): it proves the expectations, not pgws,
    so it is printed and counted apart and never adds to pgws's total.
    A failed calibration still makes the suite exit non-zero."""
    calibration[0 if cond else 1] += 1
    print(("cal  " if cond else "CALIBRATION FAIL ") + what, flush=True)
    return cond


def b64url(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


def token(claims, secret=SECRET, alg="HS256", header=None):
    """An HS* token minted here (independent of pgws's own signer)."""
    h = header or {"alg": alg, "typ": "JWT"}
    digest = {"HS256": hashlib.sha256, "HS384": hashlib.sha384,
              "HS512": hashlib.sha512}.get(alg, hashlib.sha256)
    si = b64url(json.dumps(h, separators=(",", ":")).encode()) + "." + \
        b64url(json.dumps(claims, separators=(",", ":")).encode())
    sig = hmac.new(secret.encode() if isinstance(secret, str) else secret,
                   si.encode(), digest).digest()
    return si + "." + b64url(sig)


def psql(sql):
    return subprocess.run(["psql", "-X", "-q", "-At", "-v", "ON_ERROR_STOP=1",
                           URI, "-c", sql], capture_output=True, text=True,
                          timeout=30)


def notify(payload, channel="postgres-websockets-listener"):
    r = psql("SELECT pg_notify(%s, %s)" % (lit(channel), lit(payload)))
    if r.returncode:
        raise RuntimeError(r.stderr)


def lit(s):
    return "'" + s.replace("'", "''") + "'"


class Server:
    """pgws under test, on 127.0.0.1 and a free port."""

    def __init__(self, **env):
        # PGWS_EVENT_BACKEND passes through, so a whole suite can run
        # against either readiness backend.
        self.env = {k: v for k, v in os.environ.items()
                    if not k.startswith("PGWS_") or k in ("PGWS_BIN", "PGWS_EVENT_BACKEND")}
        self.env.update({"PGWS_DB_URI": URI, "PGWS_JWT_SECRET": SECRET,
                         "PGWS_HOST": "127.0.0.1", "PGWS_PORT": "0",
                         "PGWS_POOL_SIZE": "2"})
        for k, v in env.items():
            if v is None:
                self.env.pop(k, None)
            else:
                self.env[k] = str(v)
        self.errf = tempfile.NamedTemporaryFile(prefix="pgws-err-", delete=False)
        self.p = subprocess.Popen([BIN], env=self.env, stdout=subprocess.PIPE,
                                  stderr=self.errf, text=True)
        line = self.p.stdout.readline()
        m = re.match(r"Listening on port (\d+)", line)
        if not m:
            self.p.kill()
            raise RuntimeError("pgws did not start: %r %s" % (line, self.log()))
        self.port = int(m.group(1))
        self.url = "ws://127.0.0.1:%d" % self.port
        self.stopped = False

    def log(self):
        with open(self.errf.name, errors="replace") as f:
            return f.read()

    def stop(self, expect=0):
        """SIGTERM; returns the exit status (checked against expect)."""
        if self.stopped:
            return self.p.returncode
        self.stopped = True
        if self.p.poll() is None:
            self.p.send_signal(signal.SIGTERM)
        try:
            rc = self.p.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.p.kill()
            rc = self.p.wait()
        log = self.log()
        clean = not re.search(r"AddressSanitizer|LeakSanitizer|runtime error:", log)
        check(clean, "no sanitizer report from pgws")
        if not clean:
            print(log[-4000:])
        if expect is not None:
            check(rc == expect, "pgws exited %s (expected %s)" % (rc, expect))
        os.unlink(self.errf.name)
        return rc

    def __enter__(self):
        return self

    def __exit__(self, *a):
        self.stop()

    def http(self, raw, timeout=5):
        """Sends raw bytes, returns everything read until EOF or timeout."""
        s = socket.create_connection(("127.0.0.1", self.port), timeout=timeout)
        s.sendall(raw)
        out = b""
        try:
            while True:
                b = s.recv(65536)
                if not b:
                    break
                out += b
        except socket.timeout:
            pass
        s.close()
        return out


OP_CONT, OP_TEXT, OP_BIN, OP_CLOSE, OP_PING, OP_PONG = 0, 1, 2, 8, 9, 10


def recv_data(r, timeout=5):
    """The next data frame (opcode, payload) from a Raw client, skipping
    pings and pongs; ("close", code) for a close frame; None at EOF or
    timeout."""
    while True:
        f = r.recv_frame(timeout)
        if f is None:
            return None
        if f[0] in (OP_PING, OP_PONG):
            continue
        if f[0] == OP_CLOSE:
            return ("close", int.from_bytes(f[1][:2], "big")
                    if len(f[1]) >= 2 else 1005)
        return f


def status_of(resp):
    """The status code of a raw HTTP response, 0 if there is none."""
    m = re.match(rb"HTTP/1\.[01] (\d+)", resp)
    return int(m.group(1)) if m else 0


def body_of(resp):
    return resp.partition(b"\r\n\r\n")[2].decode(errors="replace").strip()


def sock_gone(s, timeout=3):
    """True when the peer closed s (EOF or reset) within timeout; data
    still buffered is read and discarded."""
    end = time.time() + timeout
    try:
        while True:
            s.settimeout(max(0.01, end - time.time()))
            b = s.recv(65536)
            if not b:
                return True
            if time.time() > end:
                return False
    except (ConnectionResetError, BrokenPipeError):
        return True
    except socket.timeout:
        return False


def parse_head(head):
    """(status, {lower-case name: [values]}) of a raw response head; status
    0 when the status line has none."""
    lines = head.split(b"\r\n")
    try:
        status = int(lines[0].split(b" ")[1])
    except (IndexError, ValueError):
        status = 0
    hdrs = {}
    for ln in lines[1:]:
        k, _, v = ln.partition(b":")
        hdrs.setdefault(k.strip().lower().decode("latin-1"), []).append(
            v.strip().decode("latin-1"))
    return status, hdrs


def frame_at(buf, i=0):
    """The whole unmasked (server) frame at buf[i:] as (opcode, payload,
    end), end the index after it; None while it is incomplete."""
    if len(buf) - i < 2:
        return None
    n, off = buf[i + 1] & 0x7f, 2
    if n == 126:
        if len(buf) - i < 4:
            return None
        n, off = int.from_bytes(buf[i + 2:i + 4], "big"), 4
    elif n == 127:
        if len(buf) - i < 10:
            return None
        n, off = int.from_bytes(buf[i + 2:i + 10], "big"), 10
    if len(buf) - i < off + n:
        return None
    return buf[i] & 0x0f, bytes(buf[i + off:i + off + n]), i + off + n


def split_frames(buf):
    """Splits the whole server frames off buf: ([(opcode, payload)], rest).
    Walks by index, so a buffer of many frames costs one pass."""
    out, i = [], 0
    while True:
        f = frame_at(buf, i)
        if f is None:
            return out, buf[i:]
        out.append(f[:2])
        i = f[2]


def raise_nofile(n):
    """Raises this process's descriptor limit to n (at most the hard
    limit); returns the soft limit now."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = min(n, hard) if hard != resource.RLIM_INFINITY else n
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def status_kb(srv, field="VmRSS"):
    """A kB field of the server's /proc/<pid>/status: VmRSS, VmHWM..."""
    with open("/proc/%d/status" % srv.p.pid) as f:
        m = re.search(r"%s:\s+(\d+) kB" % field, f.read())
    return int(m.group(1))


def cpu_s(srv):
    """CPU seconds (user + system) the server has used so far."""
    with open("/proc/%d/stat" % srv.p.pid) as f:
        fields = f.read().rpartition(")")[2].split()
    # fields[0] is field 3 (state): utime is field 14, stime field 15
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def upgrade_request(path, key="dGhlIHNhbXBsZSBub25jZQ==", extra=""):
    return ("GET %s HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
            "Connection: Upgrade\r\nSec-WebSocket-Key: %s\r\n"
            "Sec-WebSocket-Version: 13\r\n%s\r\n" % (path, key, extra)).encode()


class Raw:
    """A raw websocket client for the malformed cases."""

    def __init__(self, port, path, timeout=5):
        self.s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.s.sendall(upgrade_request(path))
        self.buf = b""
        while b"\r\n\r\n" not in self.buf:
            b = self.s.recv(4096)
            if not b:
                break
            self.buf += b
        head, _, self.buf = self.buf.partition(b"\r\n\r\n")
        self.status = int(head.split(b" ")[1]) if head else 0

    def send_frame(self, opcode, payload=b"", fin=True, mask=True, rsv=0,
                   raw_len=None):
        b0 = (0x80 if fin else 0) | (rsv << 4) | opcode
        n = len(payload) if raw_len is None else raw_len
        m = 0x80 if mask else 0
        if n < 126:
            hdr = bytes([b0, m | n])
        elif n < 65536:
            hdr = bytes([b0, m | 126]) + n.to_bytes(2, "big")
        else:
            hdr = bytes([b0, m | 127]) + n.to_bytes(8, "big")
        if mask:
            key = os.urandom(4)
            payload = bytes(c ^ key[i % 4] for i, c in enumerate(payload))
            hdr += key
        self.s.sendall(hdr + payload)

    def recv_frame(self, timeout=5):
        """(opcode, payload) or None at EOF/timeout."""
        self.s.settimeout(timeout)
        try:
            while True:
                f = frame_at(self.buf)
                if f is not None:
                    self.buf = self.buf[f[2]:]
                    return f[:2]
                b = self.s.recv(65536)
                if not b:
                    return None
                self.buf += b
        except (socket.timeout, ConnectionResetError):
            return None

    def recv_close(self, timeout=5):
        """The close code received (skipping other frames), or None."""
        while True:
            f = self.recv_frame(timeout)
            if f is None:
                return None
            if f[0] == 8:
                return int.from_bytes(f[1][:2], "big") if len(f[1]) >= 2 else 1005

    def eof(self, timeout=5):
        """True when the server closes the TCP connection."""
        self.s.settimeout(timeout)
        try:
            while True:
                b = self.s.recv(65536)
                if not b:
                    return True
        except (socket.timeout, ConnectionResetError):
            return False

    def close(self):
        self.s.close()


def run(module_globals):
    tests = [(n, f) for n, f in module_globals.items()
             if n.startswith("test_") and callable(f)]
    only = sys.argv[1:]
    for name in only:
        if name not in dict(tests):
            check(False, "no test named %s in this suite" % name)
    for name, f in tests:
        if only and name not in only:
            continue
        print("== " + name, flush=True)
        t = time.time()
        try:
            r = f()
            if asyncio.iscoroutine(r):
                asyncio.run(asyncio.wait_for(r, 120))
        except Exception:
            traceback.print_exc()
            check(False, name + " raised")
        print("   (%.1fs)" % (time.time() - t), flush=True)
    if sum(calibration):
        print("calibration (the suite against another implementation, "
              "not counted below): %d passed, %d failed" % tuple(calibration))
    print("%d passed, %d failed" % (passed, failed))
    sys.exit(1 if failed or calibration[1] else 0)
