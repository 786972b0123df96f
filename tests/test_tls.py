#!/usr/bin/python3
"""TLS tests for pgws (SPEC section 1, PGWS_CERTIFICATE_FILE/PGWS_KEY_FILE).

NEEDS tls.c WIRED INTO pgws.c: until pgws.c calls tls_setup() and routes
io_read/io_writev through tls_read/tls_writev, pgws refuses to start with a
certificate and every test here fails at start-up.

Runs against the binary in PGWS_BIN and the database in PGWS_TEST_URI:

    . tests/pg.sh && pg_start
    PGWS_BIN=./pgws-debug /usr/bin/python3 tests/test_tls.py [test_name ...]
    pg_stop

A throwaway CA and server certificates (RSA 2048 and EC P-256, valid for
127.0.0.1 and localhost) are made with the openssl command line in a
temporary directory; the clients are openssl s_client, curl and Python's
websockets, each trusting only that CA.
"""
import asyncio
import hashlib
import http.client
import json
import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import BIN, URI, SECRET, Server, check, run, token  # noqa: E402

import websockets  # noqa: E402

TOK = token({"mode": "rw", "channel": "chat"})
AEAD = re.compile(r"^ECDHE-(RSA|ECDSA)-(AES128-GCM-SHA256|AES256-GCM-SHA384|"
                  r"CHACHA20-POLY1305)$")

DIR = tempfile.mkdtemp(prefix="pgws-tls-")


# ---------------------------------------------------------------- certificates

def openssl(*args, stdin=None):
    r = subprocess.run(("openssl",) + args, capture_output=True, timeout=60,
                       input=stdin, cwd=DIR)
    if r.returncode:
        raise RuntimeError("openssl %s: %s" % (" ".join(args), r.stderr.decode()))
    return r.stdout


def path(name):
    return os.path.join(DIR, name)


def make_key(name, kind):
    """A private key file: kind is rsa, ec (P-256) or ed25519."""
    if kind == "rsa":
        openssl("genpkey", "-algorithm", "RSA", "-pkeyopt",
                "rsa_keygen_bits:2048", "-out", path(name))
    elif kind == "ec":
        openssl("genpkey", "-algorithm", "EC", "-pkeyopt",
                "ec_paramgen_curve:P-256", "-out", path(name))
    else:
        openssl("genpkey", "-algorithm", kind, "-out", path(name))
    return path(name)


_serial = [100]


def make_cert(name, key, cn):
    """A certificate for key signed by the test CA, a fresh serial each time."""
    _serial[0] += 1
    with open(path("san.ext"), "w") as f:
        f.write("subjectAltName=IP:127.0.0.1,DNS:localhost\n"
                "extendedKeyUsage=serverAuth\n")
    openssl("req", "-new", "-key", key, "-subj", "/CN=" + cn,
            "-out", path(name + ".csr"))
    openssl("x509", "-req", "-in", path(name + ".csr"), "-CA", path("ca.pem"),
            "-CAkey", path("ca.key"), "-set_serial", str(_serial[0]),
            "-days", "2", "-extfile", path("san.ext"), "-out", path(name))
    return path(name)


_made = False


def certs():
    """Makes the CA and the RSA and EC server pairs once."""
    global _made
    if not _made:
        make_key("ca.key", "rsa")
        openssl("req", "-x509", "-new", "-key", path("ca.key"), "-subj",
                "/CN=pgws test CA", "-days", "2", "-out", path("ca.pem"))
        make_key("rsa.key", "rsa")
        make_cert("rsa.pem", path("rsa.key"), "pgws rsa")
        make_key("ec.key", "ec")
        make_cert("ec.pem", path("ec.key"), "pgws ec")
        _made = True


def tls_server(kind="rsa", **env):
    certs()
    env.setdefault("PGWS_CERTIFICATE_FILE", path(kind + ".pem"))
    env.setdefault("PGWS_KEY_FILE", path(kind + ".key"))
    return Server(**env)


def client_ctx():
    ctx = ssl.create_default_context(cafile=path("ca.pem"))
    return ctx


# ---------------------------------------------------------------- clients

def s_client(port, *extra, stdin=b""):
    """Runs openssl s_client; returns its combined output as text."""
    args = ["openssl", "s_client", "-connect", "127.0.0.1:%d" % port,
            "-CAfile", path("ca.pem"), "-verify_ip", "127.0.0.1",
            "-servername", "localhost"] + list(extra)
    try:
        r = subprocess.run(args, input=stdin, capture_output=True, timeout=15)
    except subprocess.TimeoutExpired as e:
        return (e.stdout or b"").decode(errors="replace")
    return (r.stdout + r.stderr).decode(errors="replace")


def field(out, name):
    m = re.search(r"^\s*%s\s*:\s*(.*?)\s*$" % re.escape(name), out, re.M)
    return m.group(1) if m else None


def negotiated(out):
    """The cipher s_client settled on, or None when the handshake failed."""
    c = field(out, "Cipher")
    return None if c in (None, "0000", "(NONE)") else c


def subject_cn(out):
    m = re.search(r"^subject=.*CN\s*=\s*([^,/\n]+)", out, re.M)
    return m.group(1).strip() if m else None


def curl(port, url_path, *extra):
    """(status, body bytes) of curl over https trusting the test CA."""
    out = path("curl.out")
    r = subprocess.run(["curl", "-s", "--http1.1", "--max-time", "10",
                        "--cacert", path("ca.pem"), "-o", out,
                        "-w", "%{http_code}"] + list(extra) +
                       ["https://127.0.0.1:%d%s" % (port, url_path)],
                       capture_output=True, timeout=20)
    body = open(out, "rb").read() if os.path.exists(out) else b""
    try:
        return int(r.stdout or b"0"), body
    except ValueError:
        return 0, body


def closed_within(sock, seconds):
    """True when the server ends the connection (EOF or reset) in time."""
    sock.settimeout(seconds)
    try:
        while sock.recv(4096):
            pass
        return True
    except ConnectionResetError:
        return True
    except socket.timeout:
        return False


def still_serves(s):
    """The server is alive and completes a TLS handshake."""
    return s.p.poll() is None and negotiated(s_client(s.port)) is not None


def start_fails(cert, key):
    """(exit status, stderr) of pgws started with this pair; it must not run."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PGWS_")}
    env.update({"PGWS_DB_URI": URI or "postgres://invalid", "PGWS_JWT_SECRET": SECRET,
                "PGWS_HOST": "127.0.0.1", "PGWS_PORT": "0",
                "PGWS_CERTIFICATE_FILE": cert, "PGWS_KEY_FILE": key})
    try:
        r = subprocess.run([BIN], env=env, capture_output=True, text=True,
                           timeout=20)
    except subprocess.TimeoutExpired:
        return None, "still running after 20 s"
    return r.returncode, r.stderr


# ---------------------------------------------------------------- handshakes

def test_handshake_rsa_and_ec():
    for kind, auth in (("rsa", "RSA"), ("ec", "ECDSA")):
        with tls_server(kind) as s:
            out = s_client(s.port, "-alpn", "http/1.1")
            check(field(out, "Protocol") == "TLSv1.2",
                  "%s: TLS 1.2 (%s)" % (kind, field(out, "Protocol")))
            c = negotiated(out)
            check(c is not None and AEAD.match(c) and c.startswith("ECDHE-" + auth),
                  "%s: ECDHE %s with an AEAD suite (%s)" % (kind, auth, c))
            check("ALPN protocol: http/1.1" in out, "%s: ALPN http/1.1" % kind)
            check("Verify return code: 0 (ok)" in out,
                  "%s: certificate chain and 127.0.0.1 verify" % kind)
            # Every suite we offer, each asked for alone.
            for suite in ("AES128-GCM-SHA256", "AES256-GCM-SHA384",
                          "CHACHA20-POLY1305"):
                name = "ECDHE-%s-%s" % (auth, suite)
                out = s_client(s.port, "-tls1_2", "-cipher", name)
                check(negotiated(out) == name, "%s: %s accepted" % (kind, name))


def test_crlf_pem_files():
    # Certificates and keys saved with Windows line ends load as well.
    certs()
    for kind in ("rsa", "ec"):
        for name in (kind + ".pem", kind + ".key"):
            with open(path(name), "rb") as f:
                data = f.read().replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
            with open(path("crlf-" + name), "wb") as f:
                f.write(data)
        with Server(PGWS_CERTIFICATE_FILE=path("crlf-%s.pem" % kind),
                    PGWS_KEY_FILE=path("crlf-%s.key" % kind)) as s:
            out = s_client(s.port)
            check("Verify return code: 0 (ok)" in out,
                  "%s: CRLF PEM certificate and key serve TLS" % kind)


def test_session_resumption():
    with tls_server() as s:
        sess = path("sess.pem")
        out1 = s_client(s.port, "-tls1_2", "-sess_out", sess)
        out2 = s_client(s.port, "-tls1_2", "-sess_in", sess)
        check(re.search(r"^New, TLSv1\.2", out1, re.M) is not None,
              "first connection: full handshake")
        check(re.search(r"^Reused, TLSv1\.2", out2, re.M) is not None,
              "second connection: session resumed from the cache")


def test_refused_protocols_and_suites():
    with tls_server() as s:
        out = s_client(s.port, "-tls1_1", "-cipher", "DEFAULT@SECLEVEL=0")
        check(negotiated(out) is None, "TLS 1.1 only: refused")
        out = s_client(s.port, "-tls1", "-cipher", "DEFAULT@SECLEVEL=0")
        check(negotiated(out) is None, "TLS 1.0 only: refused")
        out = s_client(s.port, "-tls1_2", "-cipher", "ECDHE-RSA-AES128-SHA")
        check(negotiated(out) is None, "CBC suite only: refused")
        out = s_client(s.port, "-tls1_2", "-cipher", "AES128-GCM-SHA256")
        check(negotiated(out) is None, "static RSA key exchange only: refused")
        out = s_client(s.port, "-tls1_3")
        check(negotiated(out) is None, "TLS 1.3 only: refused (TLS 1.2 server)")
        check(still_serves(s), "server still serves TLS after the refusals")


# ---------------------------------------------------------------- HTTP and websockets

async def test_wss_message_roundtrip():
    with tls_server() as s:
        url = "wss://127.0.0.1:%d/chat/%s" % (s.port, TOK)
        async with websockets.connect(url, ssl=client_ctx()) as ws:
            await ws.send("hello over tls")
            m = await asyncio.wait_for(ws.recv(), 10)
            check(json.loads(m)["payload"] == "hello over tls",
                  "wss: message comes back as the JSON envelope")
            # Larger than one TLS record both ways (records carry 16 KiB in, 4 KiB out).
            big = "x" * 6000
            await ws.send(big)
            m = await asyncio.wait_for(ws.recv(), 10)
            check(json.loads(m)["payload"] == big,
                  "wss: a 6000-byte message spanning several records")
            for i in range(50):
                await ws.send("n%d" % i)
            got = [json.loads(await asyncio.wait_for(ws.recv(), 10))["payload"]
                   for _ in range(50)]
            check(got == ["n%d" % i for i in range(50)],
                  "wss: 50 back-to-back messages in order")


async def test_wss_ec_key():
    with tls_server("ec") as s:
        url = "wss://localhost:%d/chat/%s" % (s.port, TOK)
        async with websockets.connect(url, ssl=client_ctx()) as ws:
            await ws.send("ec")
            m = await asyncio.wait_for(ws.recv(), 10)
            check(json.loads(m)["payload"] == "ec", "wss with the EC key (host name localhost)")


def test_https_health_and_static():
    root = path("www")
    os.makedirs(root, exist_ok=True)
    with open(os.path.join(root, "index.html"), "w") as f:
        f.write("<h1>pgws over tls</h1>\n")
    big = os.urandom(3 * 1024 * 1024 + 17)
    with open(os.path.join(root, "big.bin"), "wb") as f:
        f.write(big)
    with tls_server(PGWS_ROOT_PATH=root) as s:
        st, _ = curl(s.port, "/health")
        check(st == 200, "https /health: 200 (%s)" % st)
        st, body = curl(s.port, "/")
        check(st == 200 and body == b"<h1>pgws over tls</h1>\n",
              "https static index.html")
        st, body = curl(s.port, "/big.bin")
        check(st == 200 and hashlib.sha256(body).digest() ==
              hashlib.sha256(big).digest(),
              "https: a 3 MiB static file arrives intact (%d bytes)" % len(body))
        # Keep-alive: several requests on one TLS connection.
        conn = http.client.HTTPSConnection("127.0.0.1", s.port, timeout=10,
                                           context=client_ctx())
        statuses = []
        for p in ("/health", "/", "/health"):
            conn.request("GET", p)
            r = conn.getresponse()
            r.read()
            statuses.append(r.status)
        conn.close()
        check(statuses == [200, 200, 200],
              "https keep-alive: three requests on one connection %s" % statuses)


# ---------------------------------------------------------------- hostile clients

def test_plain_http_on_tls_port():
    with tls_server() as s:
        sock = socket.create_connection(("127.0.0.1", s.port), timeout=5)
        sock.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        sock.settimeout(5)
        try:
            raw = sock.recv(4096)
        except (ConnectionResetError, socket.timeout):
            raw = b""
        check(not raw.startswith(b"HTTP/"), "plain HTTP gets no HTTP answer")
        check(closed_within(sock, 5), "plain HTTP connection closed")
        sock.close()
        check(still_serves(s), "server still serves TLS after plain HTTP")


def test_garbage_bytes():
    with tls_server() as s:
        for blob in (os.urandom(5000), b"\x16\x03\x03\xff\xff" + os.urandom(100),
                     b"\x00" * 64):
            sock = socket.create_connection(("127.0.0.1", s.port), timeout=5)
            try:
                sock.sendall(blob)
            except OSError:
                pass
            check(closed_within(sock, 5), "garbage (%d bytes) closed" % len(blob))
            sock.close()
        check(still_serves(s), "server still serves TLS after garbage")


def test_stalled_handshake_times_out():
    with tls_server(PGWS_HANDSHAKE_TIMEOUT=1) as s:
        sock = socket.create_connection(("127.0.0.1", s.port), timeout=5)
        # A handshake record header announcing 512 bytes, then a few of them.
        sock.sendall(bytes([0x16, 3, 1, 2, 0]) + b"\x01\x00\x01\xfc\x03\x03")
        t = time.time()
        closed = closed_within(sock, 5)
        check(closed and time.time() - t < 4,
              "partial ClientHello dropped after PGWS_HANDSHAKE_TIMEOUT=1 (%.1fs)"
              % (time.time() - t))
        sock.close()
        # A client that connects and says nothing at all.
        sock = socket.create_connection(("127.0.0.1", s.port), timeout=5)
        check(closed_within(sock, 5), "silent client dropped after the timeout")
        sock.close()
        check(still_serves(s), "server still serves TLS after the stalled clients")


def test_client_vanishes_mid_stream():
    """A client that drops the TCP connection with records in flight."""
    with tls_server() as s:
        for _ in range(5):
            raw = socket.create_connection(("127.0.0.1", s.port), timeout=5)
            tls = client_ctx().wrap_socket(raw, server_hostname="localhost")
            tls.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n" * 20)
            tls.shutdown(socket.SHUT_RDWR)      # TCP only, no close_notify
            tls.close()
        check(still_serves(s), "server survives clients vanishing mid-stream")


# ---------------------------------------------------------------- start-up errors

def test_bad_pairs_exit_2():
    certs()
    other = make_key("other.key", "rsa")
    ed = make_key("ed.key", "ed25519")
    openssl("ec", "-in", path("ec.key"), "-out", path("ec-sec1.key"))
    openssl("pkey", "-in", path("rsa.key"), "-traditional", "-out",
            path("rsa-pkcs1.key"))
    with open(path("encrypted.key"), "wb") as f:
        f.write(openssl("pkcs8", "-topk8", "-in", path("ec.key"), "-passout",
                        "pass:secret"))
    with open(path("empty.pem"), "w") as f:
        f.write("")
    cases = [
        ("key of another certificate", path("rsa.pem"), other, other),
        ("EC key with the RSA certificate", path("rsa.pem"), path("ec.key"),
         path("ec.key")),
        ("Ed25519 key", path("rsa.pem"), ed, ed),
        ("encrypted key", path("rsa.pem"), path("encrypted.key"),
         path("encrypted.key")),
        ("missing key file", path("rsa.pem"), path("nope.key"), path("nope.key")),
        ("missing certificate file", path("nope.pem"), path("rsa.key"),
         path("nope.pem")),
        ("certificate file without a certificate", path("empty.pem"),
         path("rsa.key"), path("empty.pem")),
        ("key file given as certificate", path("rsa.key"), path("rsa.key"),
         path("rsa.key")),
    ]
    for what, cert, key, culprit in cases:
        rc, err = start_fails(cert, key)
        lines = [l for l in err.splitlines() if l.strip()]
        check(rc == 2, "%s: exit 2 (%s)" % (what, rc))
        check(len(lines) == 1 and culprit in lines[0],
              "%s: one line naming %s: %r" % (what, os.path.basename(culprit),
                                              err.strip()))
    # The other encodings of good keys are accepted.
    for cert, key in (("ec.pem", "ec-sec1.key"), ("rsa.pem", "rsa-pkcs1.key")):
        with tls_server(PGWS_CERTIFICATE_FILE=path(cert),
                        PGWS_KEY_FILE=path(key)) as s:
            check(negotiated(s_client(s.port)) is not None,
                  "%s (%s) accepted" % (key, "SEC1" if "ec" in key else "PKCS#1"))


# ---------------------------------------------------------------- SIGHUP

async def test_sighup_reload():
    certs()
    live = path("live")
    os.makedirs(live, exist_ok=True)
    cert, key = os.path.join(live, "cert.pem"), os.path.join(live, "key.pem")
    shutil.copy(path("rsa.pem"), cert)
    shutil.copy(path("rsa.key"), key)
    with tls_server(PGWS_CERTIFICATE_FILE=cert, PGWS_KEY_FILE=key) as s:
        check(subject_cn(s_client(s.port)) == "pgws rsa", "before SIGHUP: first certificate")
        url = "wss://127.0.0.1:%d/chat/%s" % (s.port, TOK)
        async with websockets.connect(url, ssl=client_ctx()) as ws:
            # New key and certificate (EC this time), written in place.
            make_key("new.key", "ec")
            make_cert("new.pem", path("new.key"), "pgws reloaded")
            shutil.copy(path("new.pem"), cert)
            shutil.copy(path("new.key"), key)
            s.p.send_signal(signal.SIGHUP)
            await asyncio.sleep(0.5)
            out = s_client(s.port)
            check(subject_cn(out) == "pgws reloaded" and
                  (negotiated(out) or "").startswith("ECDHE-ECDSA"),
                  "after SIGHUP: a new connection sees the new certificate (%s)"
                  % subject_cn(out))
            await ws.send("after reload")
            m = await asyncio.wait_for(ws.recv(), 10)
            check(json.loads(m)["payload"] == "after reload",
                  "the websocket opened before SIGHUP still works")

            # A broken pair on disk: the reload fails, the server keeps going.
            shutil.copy(path("rsa.pem"), cert)
            s.p.send_signal(signal.SIGHUP)
            await asyncio.sleep(0.5)
            check(s.p.poll() is None, "bad pair on SIGHUP: still running")
            check(subject_cn(s_client(s.port)) == "pgws reloaded",
                  "bad pair on SIGHUP: keeps serving the previous certificate")
            check(key in s.log(), "bad pair on SIGHUP: logged, naming the file")
            await ws.send("still")
            m = await asyncio.wait_for(ws.recv(), 10)
            check(json.loads(m)["payload"] == "still", "websocket unaffected")


if __name__ == "__main__":
    try:
        run(globals())
    finally:
        shutil.rmtree(DIR, ignore_errors=True)
