"""Operating pgws (SPEC section 10, issue 17): /metrics in the Prometheus
text format (checked by a strict parser of our own and, when it is there,
by promtool), the latency histograms moving with traffic, JSON and plain
logs that hostile text cannot forge, JWT key rotation on SIGHUP under
load, and every exit path of `pgws check`.  Run by test.sh with PGWS_BIN
and PGWS_TEST_URI set."""
import asyncio
import json
import math
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import urllib.parse

import websockets
from harness import (BIN, SECRET, URI, Raw, Server, b64url, check, lit,
                     notify, psql, recv_data, run, status_of, token)

LISTEN = "postgres-websockets-listener"
HERE = os.path.dirname(os.path.abspath(__file__))


def scrape(srv):
    r = srv.http(b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    head, _, body = r.partition(b"\r\n\r\n")
    return status_of(r), head.decode(errors="replace"), body.decode()


# ------------------------------------------------- the exposition format

NAME = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
LABEL = r"[a-zA-Z_][a-zA-Z0-9_]*"
SAMPLE = re.compile(r"^(%s)(\{.*\})? (\S+)( -?\d+)?$" % NAME)
LABEL_PAIR = re.compile(r'\s*(%s)="((?:[^"\\\n]|\\[\\"n])*)"\s*(,|$)' % LABEL)


def parse_value(s):
    if s in ("+Inf", "Inf"):
        return math.inf
    if s == "-Inf":
        return -math.inf
    if s == "NaN":
        return math.nan
    return float(s)


def parse_labels(s):
    """{a="x",b="y"} -> ((a, x), (b, y)); raises ValueError."""
    inner = s[1:-1]
    out = []
    pos = 0
    while pos < len(inner):
        m = LABEL_PAIR.match(inner, pos)
        if not m:
            raise ValueError("bad label syntax in %r" % s)
        out.append((m.group(1), m.group(2)))
        pos = m.end()
    names = [k for k, _ in out]
    if len(set(names)) != len(names):
        raise ValueError("repeated label in %r" % s)
    return tuple(out)


def family_of(name, types):
    """The family a sample name belongs to, given the TYPE lines seen."""
    if name in types and types[name] != "histogram":
        return name
    for suffix in ("_bucket", "_sum", "_count"):
        if name.endswith(suffix):
            base = name[:-len(suffix)]
            if types.get(base) == "histogram" or (
                    types.get(base) == "summary" and suffix != "_bucket"):
                return base
    return name


def parse_metrics(text):
    """Parses the Prometheus text format 0.0.4 strictly.  Returns
    (families, problems): families maps a family name to {"type", "help",
    "samples": [(name, labels, value)]}; problems lists every rule broken
    (empty when the text is clean)."""
    problems = []
    fams = {}
    types = {}
    order = []              # families in the order their samples appear
    seen_series = set()
    if not text.endswith("\n"):
        problems.append("does not end with a newline")
    for no, line in enumerate(text.split("\n")[:-1], 1):
        if line == "":
            continue
        if re.search(r"[\x00-\x08\x0b-\x1f\x7f]", line):
            problems.append("line %d: control byte" % no)
        if line.startswith("#"):
            m = re.match(r"^# (HELP|TYPE) (%s) (.*)$" % NAME, line)
            if not m:
                if re.match(r"^#\s*(HELP|TYPE)\b", line):
                    problems.append("line %d: malformed %r" % (no, line))
                continue
            kind, name, rest = m.groups()
            f = fams.setdefault(name, {"type": None, "help": None, "samples": []})
            if f["samples"]:
                problems.append("line %d: %s for %s after its samples" % (no, kind, name))
            if kind == "HELP":
                if f["help"] is not None:
                    problems.append("line %d: second HELP for %s" % (no, name))
                if not rest.strip():
                    problems.append("line %d: empty HELP for %s" % (no, name))
                f["help"] = rest
            else:
                if f["type"] is not None:
                    problems.append("line %d: second TYPE for %s" % (no, name))
                if rest not in ("counter", "gauge", "histogram", "summary", "untyped"):
                    problems.append("line %d: unknown type %r" % (no, rest))
                f["type"] = rest
                types[name] = rest
            continue
        m = SAMPLE.match(line)
        if not m:
            problems.append("line %d: not a sample: %r" % (no, line))
            continue
        name, labels, value = m.group(1), m.group(2) or "{}", m.group(3)
        try:
            lab = parse_labels(labels)
            v = parse_value(value)
        except ValueError as e:
            problems.append("line %d: %s" % (no, e))
            continue
        fam = family_of(name, types)
        f = fams.setdefault(fam, {"type": None, "help": None, "samples": []})
        if order and order[-1] != fam and fam in order:
            problems.append("line %d: samples of %s are not together" % (no, fam))
        if not order or order[-1] != fam:
            order.append(fam)
        key = (name, tuple(sorted(lab)))
        if key in seen_series:
            problems.append("line %d: duplicate series %s%s" % (no, name, labels))
        seen_series.add(key)
        f["samples"].append((name, dict(lab), v))
    for name, f in fams.items():
        if f["type"] is None:
            problems.append("%s has no TYPE" % name)
        if f["help"] is None:
            problems.append("%s has no HELP" % name)
        if not f["samples"]:
            problems.append("%s has no samples" % name)
        problems += family_rules(name, f)
    return fams, problems


def family_rules(name, f):
    """The naming and histogram rules for one family."""
    p = []
    t = f["type"]
    if t == "counter":
        if not name.endswith("_total"):
            p.append("counter %s does not end in _total" % name)
        for s in f["samples"]:
            if not s[2] >= 0:
                p.append("counter %s is %r" % (name, s[2]))
    elif name.endswith("_total"):
        p.append("%s ends in _total but is a %s" % (name, t))
    if re.search(r"_(milliseconds|microseconds|ms|us|kb|kilobytes|megabytes|mb|percent)(_|$)", name):
        p.append("%s is not in base units" % name)
    if t == "histogram":
        p += histogram_rules(name, f["samples"])
    return p


def histogram_rules(name, samples):
    p = []
    groups = {}
    for n, lab, v in samples:
        rest = tuple(sorted((k, x) for k, x in lab.items() if k != "le"))
        g = groups.setdefault(rest, {"buckets": [], "sum": None, "count": None})
        if n == name + "_bucket":
            if "le" not in lab:
                p.append("%s bucket without le" % name)
                continue
            g["buckets"].append((parse_value(lab["le"]), v))
        elif n == name + "_sum":
            g["sum"] = v
        elif n == name + "_count":
            g["count"] = v
        else:
            p.append("%s: stray sample %s" % (name, n))
    for rest, g in groups.items():
        b = g["buckets"]
        les = [le for le, _ in b]
        if les != sorted(les) or len(set(les)) != len(les):
            p.append("%s%s: le not strictly increasing" % (name, rest))
        if not b or b[-1][0] != math.inf:
            p.append("%s%s: no +Inf bucket last" % (name, rest))
        if any(b[i][1] > b[i + 1][1] for i in range(len(b) - 1)):
            p.append("%s%s: buckets not cumulative" % (name, rest))
        if g["count"] is None or g["sum"] is None:
            p.append("%s%s: _sum or _count missing" % (name, rest))
        elif b and g["count"] != b[-1][1]:
            p.append("%s%s: _count %r != +Inf bucket %r" % (name, rest, g["count"], b[-1][1]))
        if g["sum"] is not None and g["sum"] < 0:
            p.append("%s%s: negative _sum" % (name, rest))
    return p


def series(fams):
    """{(sample name, sorted labels): value} over every family."""
    out = {}
    for f in fams.values():
        for n, lab, v in f["samples"]:
            out[(n, tuple(sorted(lab.items())))] = v
    return out


def value(fams, name, **labels):
    for f in fams.values():
        for n, lab, v in f["samples"]:
            if n == name and all(lab.get(k) == x for k, x in labels.items()):
                return v
    return None


def test_parser_catches_mistakes():
    """The checker itself: each broken text is caught, a clean one passes."""
    good = ("# HELP a_total A.\n# TYPE a_total counter\na_total 3\n"
            "# HELP h_seconds H.\n# TYPE h_seconds histogram\n"
            'h_seconds_bucket{le="0.1"} 1\nh_seconds_bucket{le="+Inf"} 2\n'
            "h_seconds_sum 0.3\nh_seconds_count 2\n")
    check(parse_metrics(good)[1] == [], "a clean text passes the checker")
    bad = {
        "no HELP": good.replace("# HELP a_total A.\n", ""),
        "no TYPE": good.replace("# TYPE a_total counter\n", ""),
        "counter without _total": good.replace("a_total", "a"),
        "not cumulative": good.replace('le="+Inf"} 2', 'le="+Inf"} 0').replace("count 2", "count 0"),
        "_count != +Inf": good.replace("h_seconds_count 2", "h_seconds_count 5"),
        "no +Inf": good.replace('h_seconds_bucket{le="+Inf"} 2\n', ""),
        "bad value": good.replace("a_total 3", "a_total three"),
        "milliseconds": good.replace("h_seconds", "h_milliseconds"),
        "duplicate": good + "a_total 4\n",
        "bad label": good.replace('le="0.1"', "le=0.1"),
        "no newline at end": good[:-1],
    }
    for what, text in bad.items():
        check(parse_metrics(text)[1] != [], "the checker catches: " + what)


def promtool():
    for p in (os.environ.get("PROMTOOL"), shutil.which("promtool"),
              os.path.join(HERE, "..", "deps", "promtool", "usr", "bin", "promtool")):
        if p and os.access(p, os.X_OK):
            return p
    return None


REQUIRED = {
    "process_resident_memory_bytes": "gauge",
    "process_virtual_memory_bytes": "gauge",
    "process_open_fds": "gauge",
    "process_max_fds": "gauge",
    "process_cpu_seconds_total": "counter",
    "process_start_time_seconds": "gauge",
    "pgws_delivery_seconds": "histogram",
    "pgws_publish_seconds": "histogram",
    "pgws_client_queued_bytes": "gauge",
    "pgws_pool_connections": "gauge",
    "pgws_notification_queue_usage": "gauge",
    "pgws_websockets": "gauge",
    "pgws_listener_up": "gauge",
    "pgws_messages_delivered_total": "counter",
}


def test_metrics_format():
    t0 = time.time()
    with Server(PGWS_POOL_SIZE=3) as s:
        st, head, body = scrape(s)
        check(st == 200, "/metrics answers 200")
        check(re.search(r"(?im)^content-type: text/plain; version=0\.0\.4", head) is not None,
              "Content-Type names the text format version 0.0.4")
        fams, problems = parse_metrics(body)
        check(problems == [], "the exposition format checks out: %s" % problems[:8])
        for name, t in REQUIRED.items():
            check(name in fams and fams[name]["type"] == t,
                  "%s is a %s" % (name, t))
        rss = value(fams, "process_resident_memory_bytes") or 0
        check(1 << 20 < rss < 1 << 30, "resident memory is a plausible byte count (%d)" % rss)
        with open("/proc/%d/status" % s.p.pid) as f:
            vmrss = int(re.search(r"VmRSS:\s+(\d+) kB", f.read()).group(1)) * 1024
        check(abs(rss - vmrss) < max(vmrss // 4, 2 << 20),
              "process_resident_memory_bytes matches /proc (%d vs %d)" % (rss, vmrss))
        nfd = len(os.listdir("/proc/%d/fd" % s.p.pid))
        ofd = value(fams, "process_open_fds") or 0
        check(abs(ofd - nfd) <= 2, "process_open_fds matches /proc (%d vs %d)" % (ofd, nfd))
        with open("/proc/%d/limits" % s.p.pid) as f:
            lim = re.search(r"Max open files\s+(\d+)", f.read()).group(1)
        check(value(fams, "process_max_fds") == float(lim),
              "process_max_fds is the soft RLIMIT_NOFILE (%s)" % lim)
        start = value(fams, "process_start_time_seconds") or 0
        check(t0 - 2 <= start <= time.time() + 1,
              "process_start_time_seconds is when pgws started (%.3f, test at %.3f)" % (start, t0))
        cpu = value(fams, "process_cpu_seconds_total")
        check(cpu is not None and 0 <= cpu < 60, "process_cpu_seconds_total %r" % cpu)
        pool = value(fams, "pgws_pool_connections")
        check(pool is not None and 0 <= pool <= 3,
              "pool connections open within PGWS_POOL_SIZE (%r)" % pool)
        q = value(fams, "pgws_notification_queue_usage")
        check(q is not None and 0 <= q <= 1, "notification queue usage is a ratio (%r)" % q)
        # The buckets fit pgws's latencies: sub-millisecond up to seconds.
        for h in ("pgws_delivery_seconds", "pgws_publish_seconds"):
            les = [parse_value(l["le"]) for n, l, _ in fams.get(h, {"samples": []})["samples"]
                   if n == h + "_bucket"]
            finite = [x for x in les if x != math.inf]
            check(len(finite) >= 8 and finite[0] <= 0.001 and finite[-1] >= 1,
                  "%s buckets span 1 ms or less to 1 s or more (%s)" % (h, finite))
        pt = promtool()
        if pt:
            r = subprocess.run([pt, "check", "metrics"], input=body, capture_output=True,
                               text=True, timeout=30)
            check(r.returncode == 0, "promtool check metrics: exit %d %s" % (
                r.returncode, (r.stdout + r.stderr).strip()[:600]))
        else:
            print("     (promtool not found: the exposition check above is ours alone)")
        # HEAD: the same headers, no body.
        r = s.http(b"HEAD /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        check(status_of(r) == 200 and r.endswith(b"\r\n\r\n"), "HEAD /metrics: headers only")


async def test_metrics_move():
    """Counters never go back, and both histograms count every message."""
    with Server() as s:
        rt = token({"mode": "r", "channel": "mv"})
        wt = token({"mode": "w", "channel": "mv"})
        a = await websockets.connect(s.url + "/mv/" + rt)
        b = await websockets.connect(s.url + "/mv/" + rt)
        w = await websockets.connect(s.url + "/mv/" + wt)
        st, _, body = scrape(s)
        f1, p1 = parse_metrics(body)
        for i in range(10):
            await w.send("m%d" % i)
        for i in range(5):
            notify(json.dumps({"channel": "mv", "payload": "n%d" % i}))
        got = {0: [], 1: []}
        for k, ws in enumerate((a, b)):
            for _ in range(15):
                got[k].append(json.loads(await asyncio.wait_for(ws.recv(), 10))["payload"])
        check(sorted(got[0]) == sorted(got[1]) and len(got[0]) == 15,
              "both readers got the 15 messages")
        st, _, body = scrape(s)
        f2, p2 = parse_metrics(body)
        check(p2 == [], "second scrape checks out: %s" % p2[:5])
        s1, s2 = series(f1), series(f2)
        back = []
        for key, v in s1.items():
            n = key[0]
            fam = family_of(n, {k: f["type"] for k, f in f2.items()})
            t = f2.get(fam, {}).get("type")
            if t in ("counter", "histogram") and key in s2 and s2[key] < v:
                back.append((n, v, s2[key]))
        check(back == [], "no counter or histogram series went down: %s" % back[:5])
        check(all(k in s2 for k in s1), "no series disappeared between scrapes")

        def d(name, **lab):
            return (value(f2, name, **lab) or 0) - (value(f1, name, **lab) or 0)
        check(d("pgws_delivery_seconds_count") == 30,
              "pgws_delivery_seconds counts 15 messages x 2 readers (%r)" % d("pgws_delivery_seconds_count"))
        check(0 < d("pgws_delivery_seconds_sum") < 30 * 1.0,
              "delivery time sum grew by a plausible amount (%r s)" % d("pgws_delivery_seconds_sum"))
        check(d("pgws_delivery_seconds_bucket", le="1") == 30,
              "every delivery took under a second")
        check(d("pgws_publish_seconds_count") == 10,
              "pgws_publish_seconds counts the 10 client messages (%r)" % d("pgws_publish_seconds_count"))
        check(0 < d("pgws_publish_seconds_sum") < 10 * 1.0,
              "publish time sum grew by a plausible amount (%r s)" % d("pgws_publish_seconds_sum"))
        check(d("pgws_messages_delivered_total") == 30, "pgws_messages_delivered_total +30")
        pool = value(f2, "pgws_pool_connections")
        check(pool is not None and pool >= 1, "a pool connection is open after publishing (%r)" % pool)
        # HTTP publish is a publish too.
        r = s.http(("POST /mv/%s HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n"
                    "Connection: close\r\n\r\nhp" % wt).encode())
        if status_of(r) != 200:
            print("     (no HTTP publish in this build: POST answered %d)" % status_of(r))
        else:
            await asyncio.wait_for(a.recv(), 5)
            f3, _ = parse_metrics(scrape(s)[2])
            check(value(f3, "pgws_publish_seconds_count") - value(f2, "pgws_publish_seconds_count") == 1,
                  "an HTTP publish is timed too")
        for ws in (a, b, w):
            await ws.close()


def test_queued_bytes_gauge():
    """Bytes waiting for a reader that stopped reading show in
    pgws_client_queued_bytes, and go back to zero when it is gone."""
    with Server(PGWS_MAX_PENDING=8 << 20) as s:
        sk = socket.socket()
        sk.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sk.connect(("127.0.0.1", s.port))
        from harness import upgrade_request
        sk.sendall(upgrade_request("/slow/" + token({"mode": "r", "channel": "slow"})))
        head = b""
        while b"\r\n\r\n" not in head:
            head += sk.recv(1)
        check(b" 101 " in head, "slow reader upgraded")
        r = psql("SELECT pg_notify(%s, json_build_object('channel', 'slow', 'payload', "
                 "repeat('x', 7000) || i)::text) FROM generate_series(1, 300) i" % lit(LISTEN))
        check(r.returncode == 0, "2 MB of notifications sent")
        q = 0
        for _ in range(50):
            fams, _ = parse_metrics(scrape(s)[2])
            q = value(fams, "pgws_client_queued_bytes") or 0
            if q > 1 << 20:
                break
            time.sleep(0.1)
        check(q > 1 << 20, "pgws_client_queued_bytes shows over 1 MiB waiting (%d)" % q)
        sk.close()
        for _ in range(50):
            fams, _ = parse_metrics(scrape(s)[2])
            q = value(fams, "pgws_client_queued_bytes")
            if q == 0:
                break
            time.sleep(0.1)
        check(q == 0, "back to 0 when the reader is gone (%r)" % q)


# ---------------------------------------------------------------- logs

HOSTILE = ('evil\n2030-01-01T00:00:00.000Z error forged line\r\x1b[2J\x1b]0;pwn\x07'
           '"q" \\ \x7f\u00e9')
TIME_RE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$")


def hostile_traffic(s):
    """Requests that put untrusted text where pgws logs: a path, a granted
    channel, a refused channel, a close reason, a raw control byte in the
    request line."""
    q = urllib.parse.quote(HOSTILE, safe="")
    s.http(("GET /%s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n" % q).encode())
    s.http(b"GET /a\x1b[31mb\x07 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    r = Raw(s.port, "/%s/%s" % (q, token({"mode": "r"})))
    opened = r.status == 101
    reason = ("bye\n" + "2030-01-01T00:00:00.000Z error forged\x1b[0m").encode()
    r.send_frame(8, (4000).to_bytes(2, "big") + reason)
    r.recv_close()
    r.close()
    r2 = Raw(s.port, "/%s/%s" % (q, token({"mode": "r", "channel": "ok"})))
    refused = r2.status == 403
    r2.close()
    time.sleep(0.3)
    return opened, refused


def test_json_logs():
    # A root, so the plain request in hostile_traffic is a 404 (without
    # one every plain request is "Hello, Web!").
    with Server(PGWS_LOG_FORMAT="json", PGWS_LOG_LEVEL="debug",
                PGWS_ROOT_PATH=tempfile.mkdtemp()) as s:
        opened, refused = hostile_traffic(s)
        check(opened, "a channel named with newlines and escapes is granted")
        check(refused, "and refused (403) where the token names another")
        log = s.log()
    lines = log.split("\n")
    check(lines[-1] == "", "the log ends with a newline")
    objs, bad = [], []
    for ln in lines[:-1]:
        try:
            o = json.loads(ln)
            if not isinstance(o, dict):
                raise ValueError
            objs.append(o)
        except ValueError:
            bad.append(ln)
    check(bad == [] and len(objs) >= 5, "every line is one JSON object (%d lines, bad: %r)"
          % (len(objs), bad[:3]))
    check(objs and all(isinstance(o.get("time"), str) and TIME_RE.match(o["time"]) for o in objs),
          "every line has an RFC 3339 UTC time")
    check(objs and all(o.get("level") in ("error", "warn", "info", "debug") for o in objs),
          "every line has a level")
    check(objs and all(isinstance(o.get("message"), str) and o["message"] for o in objs),
          "every line has a message")
    check(not re.search(r"[\x00-\x09\x0b-\x1f\x7f]", log), "no raw control byte in the JSON log")
    up = [o for o in objs if o.get("status") == 101]
    check(any(o.get("channel") == HOSTILE for o in up),
          "the upgrade line carries the hostile channel, intact once decoded")
    check(all(isinstance(o.get("client"), str) and o["client"].startswith("127.0.0.1")
              for o in up) and up, "the upgrade line names the client address")
    check(any(o.get("status") == 403 and o.get("channel") == HOSTILE for o in objs),
          "the refused upgrade carries the asked channel and status 403")
    check(any(o.get("code") == 4000 and "forged" in str(o.get("reason", "")) for o in objs),
          "the close line carries the client's close code and reason")
    check(any(o.get("status") == 404 for o in objs), "the plain request line has its status")
    check(any(o.get("message", "").startswith("pgws ") for o in objs),
          "start-up line in JSON too")


def test_plain_logs_escaped():
    with Server(PGWS_LOG_LEVEL="debug") as s:
        opened, refused = hostile_traffic(s)
        check(opened and refused, "hostile traffic reached pgws")
        log = s.log()
    check(not re.search(r"[\x00-\x09\x0b-\x1f\x7f]", log),
          "no raw control byte (ESC, CR, BEL, DEL) in the plain log")
    lines = log.split("\n")[:-1]
    check(all(re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z (error|warn|info|debug) ", l)
              for l in lines), "every plain line starts with time and level")
    check(not any(l.startswith("2030-") for l in lines), "no forged line")
    check(any("evil" in l and "forged" in l for l in lines),
          "the hostile channel is logged, escaped, on one line")


def test_log_format_invalid():
    r = subprocess.run([BIN], env=clean_env(PGWS_LOG_FORMAT="xml", PGWS_DB_URI=URI,
                                            PGWS_JWT_SECRET=SECRET), capture_output=True,
                       text=True, timeout=20)
    check(r.returncode == 2 and "PGWS_LOG_FORMAT" in r.stderr,
          "PGWS_LOG_FORMAT=xml: exit 2 naming the variable (%d %r)" % (r.returncode, r.stderr[:200]))


# -------------------------------------------------------- key rotation

K1 = b"first-key-first-key-first-key-01"
K2 = b"second-key-second-key-second-k02"


def jwks(*keys):
    return json.dumps({"keys": [{"kty": "oct", "kid": kid, "k": b64url(k), "alg": "HS256"}
                                for kid, k in keys]})


def signed(kid, key, claims):
    return token(claims, secret=key, header={"alg": "HS256", "typ": "JWT", "kid": kid})


def replace_file(path, text):
    """Atomically, as a secret manager or a Kubernetes volume would."""
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, path)


def wait_log(s, pattern, after, timeout=5):
    """Waits for pattern in the log text past offset after; returns the
    match or None."""
    end = time.time() + timeout
    while time.time() < end:
        m = re.search(pattern, s.log()[after:])
        if m:
            return m
        time.sleep(0.05)
    return None


def reload(s, pattern):
    n = len(s.log())
    s.p.send_signal(signal.SIGHUP)
    return wait_log(s, pattern, n) is not None


def status_for(s, path):
    r = Raw(s.port, path)
    st = r.status
    r.close()
    return st


RELOADED = r"reloaded PGWS_JWT_SECRET"
KEPT = r"keeping the old keys"


def notifier(stop, sent, channel, interval=0.01):
    """Numbered notifications from one psql session until stop is set."""
    p = subprocess.Popen(["psql", "-X", "-q", "-At", URI], stdin=subprocess.PIPE,
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, text=True)
    try:
        while not stop.is_set() and len(sent) < 100000:
            i = len(sent)
            p.stdin.write("SELECT pg_notify(%s, %s);\n" % (
                lit(LISTEN), lit(json.dumps({"channel": channel, "payload": str(i)}))))
            p.stdin.flush()
            sent.append(i)
            time.sleep(interval)
    finally:
        p.stdin.close()
        p.wait(10)


async def test_sighup_rotation_under_load():
    d = tempfile.mkdtemp(prefix="pgws-keys-")
    path = os.path.join(d, "jwks.json")
    replace_file(path, jwks(("k1", K1)))
    stop = threading.Event()
    sent = []
    th = threading.Thread(target=notifier, args=(stop, sent, "rot"))
    with Server(PGWS_JWT_SECRET="@" + path) as s:
        claims = {"mode": "r", "channel": "rot"}
        t1, t2 = signed("k1", K1, claims), signed("k2", K2, claims)
        check(status_for(s, "/rot/" + t2) == 401, "before rotation a k2 token is refused")
        readers = [await websockets.connect(s.url + "/rot/" + t1, max_queue=None)
                   for _ in range(10)]
        exp_at = int(time.time()) + 8     # the claim is whole seconds
        short = await websockets.connect(
            s.url + "/rot/" + signed("k1", K1, dict(claims, exp=exp_at)), max_queue=None)
        got = [[] for _ in readers]

        async def consume(ws, out):
            try:
                async for m in ws:
                    out.append(int(json.loads(m)["payload"]))
            except websockets.ConnectionClosed:
                pass
        tasks = [asyncio.create_task(consume(w, g)) for w, g in zip(readers, got)]
        th.start()
        await asyncio.sleep(0.5)

        # Step 1: both keys.
        replace_file(path, jwks(("k1", K1), ("k2", K2)))
        check(await asyncio.to_thread(reload, s, RELOADED), "SIGHUP: the two-key set is loaded")
        check(status_for(s, "/rot/" + t2) == 101, "a k2 token is accepted after the reload")
        check(status_for(s, "/rot/" + t1) == 101, "a k1 token still is")
        late = await websockets.connect(s.url + "/rot/" + t2, max_queue=None)
        late_got = []
        tasks.append(asyncio.create_task(consume(late, late_got)))
        await asyncio.sleep(0.5)

        # Step 2: the old key removed.
        replace_file(path, jwks(("k2", K2)))
        check(await asyncio.to_thread(reload, s, RELOADED), "SIGHUP: the k2-only set is loaded")
        check(status_for(s, "/rot/" + t1) == 401, "a k1 token is refused once k1 is removed")
        check(status_for(s, "/rot/" + t2) == 101, "a k2 token is accepted")

        # Step 3: broken files keep the keys in force.
        for what, text in (("an empty file", ""), ("a JWK set with a bad key",
                           '{"keys":[{"kty":"oct","kid":"k3"}]}'),
                           ("a half-written JWK set", jwks(("k2", K2), ("k3", K1))[:30])):
            replace_file(path, text)
            check(await asyncio.to_thread(reload, s, KEPT),
                  "SIGHUP with %s: logged, old keys kept" % what)
            check(status_for(s, "/rot/" + t2) == 101, "k2 still accepted after %s" % what)
            check(status_for(s, "/rot/" + t1) == 401, "k1 still refused after %s" % what)
        os.unlink(path)
        check(await asyncio.to_thread(reload, s, KEPT), "SIGHUP with the file gone: old keys kept")
        check(status_for(s, "/rot/" + t2) == 101, "k2 still accepted with the file gone")
        check(time.time() < exp_at - 1 and short.open,
              "the k1 websocket with exp is still open after k1 was removed")
        await asyncio.sleep(0.5)
        stop.set()
        await asyncio.to_thread(th.join, 15)
        n = len(sent)
        end = time.time() + 10
        while time.time() < end and min(len(g) for g in got) < n:
            await asyncio.sleep(0.1)
        check(all(g == list(range(n)) for g in got),
              "10 websockets opened before the reloads got all %d notifications, in order (%s)"
              % (n, sorted(set(len(g) for g in got))))
        check(all(w.open for w in readers), "and all 10 are still open")
        check(late_got and late_got == list(range(late_got[0], n)),
              "the k2 websocket got every notification since it opened (%d)" % len(late_got))
        code = None
        try:
            await asyncio.wait_for(short.wait_closed(), max(1, exp_at - time.time() + 3))
            code = short.close_code
        except asyncio.TimeoutError:
            pass
        check(code == 3001 and time.time() >= exp_at - 0.05,
              "the k1 websocket with exp closes at its own exp with 3001 (%r)" % code)
        for w in readers + [late]:
            await w.close()
        await asyncio.wait(tasks, timeout=5)
    shutil.rmtree(d)


async def test_sighup_plain_secret():
    d = tempfile.mkdtemp(prefix="pgws-keys-")
    path = os.path.join(d, "secret")
    s1, s2 = "plain-secret-number-one-32bytes!", "plain-secret-number-two-32bytes!"
    with open(path, "w") as f:
        f.write(s1 + "\n")
    with Server(PGWS_JWT_SECRET="@" + path) as s:
        claims = {"mode": "r", "channel": "ps"}
        ws = await websockets.connect(s.url + "/ps/" + token(claims, secret=s1))
        replace_file(path, s2 + "\n")
        check(await asyncio.to_thread(reload, s, RELOADED), "SIGHUP reloads a plain secret file")
        check(status_for(s, "/ps/" + token(claims, secret=s2)) == 101, "the new secret signs")
        check(status_for(s, "/ps/" + token(claims, secret=s1)) == 401, "the old one no longer")
        notify(json.dumps({"channel": "ps", "payload": "after"}))
        m = json.loads(await asyncio.wait_for(ws.recv(), 5))
        check(m["payload"] == "after", "a websocket signed with the old secret keeps receiving")
        await ws.close()
    with Server() as s:
        s.p.send_signal(signal.SIGHUP)
        time.sleep(0.3)
        check(status_for(s, "/ps/" + token({"mode": "r"})) == 101,
              "SIGHUP without an @file secret changes nothing")
    shutil.rmtree(d)


# ---------------------------------------------------------- pgws check

def clean_env(**env):
    e = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LC_ALL": "C.UTF-8"}
    for k in ("ASAN_OPTIONS", "UBSAN_OPTIONS"):
        if k in os.environ:
            e[k] = os.environ[k]
    for k, v in env.items():
        if v is not None:
            e[k] = str(v)
    return e


def pgws_check(*args, timeout=30, **env):
    base = {"PGWS_DB_URI": URI, "PGWS_JWT_SECRET": SECRET}
    base.update(env)
    t = time.time()
    r = subprocess.run([BIN, "check"] + list(args), env=clean_env(**base),
                       capture_output=True, text=True, timeout=timeout)
    print("     pgws check %s -> %d %r %r" % (" ".join(a[:40] for a in args), r.returncode,
                                              short(r.stdout), short(r.stderr)))
    return r.returncode, r.stdout, r.stderr, time.time() - t


def short(s):
    return s if len(s) < 300 else s[:300] + "..."


def one_line(s):
    return s.count("\n") == 1 and s.endswith("\n") and len(s) > 1


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def test_check_good():
    chan = 'check "quoted" %d' % os.getpid()
    rc, out, err, _ = pgws_check(PGWS_LISTEN_CHANNEL=chan)
    check(rc == 0 and one_line(out), "good configuration, database up: exit 0, one line")
    check("LISTEN" in out, "the line says LISTEN ran")
    check("127.0.0.1" in out, "and names the server it reached")
    log = os.path.join(os.environ.get("PG_DIR", "/nonexistent"), "server.log")
    if os.access(log, os.R_OK):
        uri = URI + ("&" if "?" in URI else "?") + "options=" + urllib.parse.quote("-c log_statement=all")
        rc, out, err, _ = pgws_check(PGWS_LISTEN_CHANNEL=chan, PGWS_DB_URI=uri)
        time.sleep(0.3)
        with open(log, errors="replace") as f:
            text = f.read()
        check(rc == 0 and ('LISTEN "check ""quoted"" %d"' % os.getpid()) in text,
              "PostgreSQL's log shows the LISTEN, the channel quoted as an identifier")
    rc, out, err, _ = pgws_check(PGWS_JWT_SECRET=None)
    check(rc == 2 and "PGWS_JWT_SECRET" in err, "check without a secret: exit 2 naming it")


def test_check_bad_config():
    rc, out, err, _ = pgws_check(PGWS_DB_URI=None, PGWS_PORT="abc", PGWS_POOL_SIZE="0",
                                 PGWS_LOG_LEVEL="loud", PGWS_JWT_SECRET_BASE64="maybe",
                                 PGWS_CERTIFICATE_FILE="/nonexistent.pem")
    names = ["PGWS_DB_URI", "PGWS_PORT", "PGWS_POOL_SIZE", "PGWS_LOG_LEVEL",
             "PGWS_JWT_SECRET_BASE64", "PGWS_KEY_FILE"]
    check(rc == 2, "six bad values: exit 2 (%d)" % rc)
    missing = [n for n in names if n not in err]
    check(missing == [], "every error is reported, not only the first (missing %s)" % missing)
    lines = [l for l in err.split("\n") if l]
    check(len(lines) >= len(names) and all(len(re.findall(r"PGWS_[A-Z_0-9]+", l)) >= 1 for l in lines),
          "one line per error, each naming its variable")
    check(out == "", "nothing on standard output")
    rc, out, err, _ = pgws_check(PGWS_JWT_SECRET="@/nonexistent/secret", PGWS_PORT="70000")
    check(rc == 2 and "PGWS_JWT_SECRET" in err and "PGWS_PORT" in err,
          "an unreadable @file and a port out of range, both reported")
    # The server itself reports them all too, and exits 2.
    r = subprocess.run([BIN], env=clean_env(PGWS_DB_URI=URI, PGWS_JWT_SECRET=SECRET,
                                            PGWS_PORT="x", PGWS_RETRIES="y"),
                       capture_output=True, text=True, timeout=20)
    check(r.returncode == 2 and "PGWS_PORT" in r.stderr and "PGWS_RETRIES" in r.stderr,
          "the server reports every bad value too, exit 2")


def test_check_database():
    port = free_port()
    rc, out, err, dt = pgws_check(PGWS_DB_URI="postgres://postgres@127.0.0.1:%d/postgres" % port)
    check(rc == 1 and one_line(err) and out == "",
          "database unreachable: exit 1, one line")
    check(rc == 1 and (str(port) in err or "refused" in err.lower()),
          "the line says why")
    check(rc == 1 and dt < 5, "one attempt, no start-up back-off (%.1fs)" % dt)
    bad = URI.rsplit("/", 1)[0] + "/no_such_db_%d" % os.getpid()
    rc, out, err, _ = pgws_check(PGWS_DB_URI=bad)
    check(rc == 1 and "no_such_db" in err, "a database that does not exist: exit 1 naming it")
    rc, out, err, _ = pgws_check(PGWS_DB_URI=URI + ("&" if "?" in URI else "?") + "sslmode=require")
    check(rc == 1 and re.search(r"(?i)ssl|tls", err),
          "sslmode=require against a server without TLS: exit 1, TLS named")


def test_check_token():
    claims = {"mode": "rw", "channels": ["news", "chat\n\x1b[31m"], "exp": int(time.time()) + 3600}
    rc, out, err, _ = pgws_check("--token", token(claims))
    check(rc == 0 and one_line(out), "a good token: exit 0, one line")
    check("rw" in out and "news" in out and "chat" in out, "the line gives mode and channels")
    check("\x1b" not in out and out.count("\n") == 1, "a hostile channel name is escaped")
    check(re.search(r"exp|expire", out) is not None, "and when it expires")
    rc, out, err, _ = pgws_check("--token", token(claims), "--channel", "news")
    check(rc == 0 and "news" in out and "chat" not in out, "--channel: only that one is granted")
    rc, out, err, _ = pgws_check("--token", token(claims), "--channel", "other")
    check(rc == 3 and "403" in out + err, "--channel not allowed: exit 3 with 403")
    rc, out, err, _ = pgws_check("--token", token(dict(claims, exp=int(time.time()) - 10)))
    check(rc == 3 and "Token expired" in out + err, "an expired token: exit 3, 'Token expired'")
    rc, out, err, _ = pgws_check("--token", token(claims, secret="another-secret-another-secret-00"))
    check(rc == 3 and "401" in out + err, "a token signed with another key: exit 3, 401")
    rc, out, err, _ = pgws_check("--token", token({"channel": "x"}))
    check(rc == 3 and "Missing mode" in out + err, "a token without mode: exit 3")
    rc, out, err, _ = pgws_check("--token")
    check(rc == 2, "--token without a value: usage error, exit 2")
    rc, out, err, _ = pgws_check("--bogus")
    check(rc == 2, "an unknown option: exit 2")


def test_check_url():
    with Server(PGWS_ROOT_PATH=tempfile.mkdtemp()) as s:
        url = "http://127.0.0.1:%d/health" % s.port
        rc, out, err, _ = pgws_check("--url", url, PGWS_DB_URI=None, PGWS_JWT_SECRET=None)
        check(rc == 0 and one_line(out) and "200" in out,
              "--url against a healthy instance: exit 0, one line with 200")
        rc, out, err, _ = pgws_check("--url", "http://127.0.0.1:%d/nothing-here" % s.port,
                                     PGWS_DB_URI=None, PGWS_JWT_SECRET=None)
        check(rc == 1 and "404" in out + err, "--url answered 404: exit 1")
    port = free_port()
    rc, out, err, _ = pgws_check("--url", "http://127.0.0.1:%d/health" % port,
                                 PGWS_DB_URI=None, PGWS_JWT_SECRET=None)
    check(rc == 1 and one_line(err) and "refused" in err.lower(),
          "--url with nothing listening: exit 1, 'refused'")
    # A peer that accepts and never answers: the check gives up in time.
    ls = socket.socket()
    ls.bind(("127.0.0.1", 0))
    ls.listen(1)
    rc, out, err, dt = pgws_check("--url", "http://127.0.0.1:%d/health" % ls.getsockname()[1],
                                  "--timeout", "1", PGWS_DB_URI=None, PGWS_JWT_SECRET=None)
    ls.close()
    check(rc == 1 and dt < 4, "--url to a silent peer: exit 1 after --timeout (%.1fs)" % dt)
    for bad in ("ftp://127.0.0.1/health", "http://", "http://127.0.0.1:99999/health", "nonsense"):
        rc, out, err, _ = pgws_check("--url", bad, PGWS_DB_URI=None, PGWS_JWT_SECRET=None)
        check(rc == 2, "--url %r: usage error, exit 2" % bad)


def test_check_url_503():
    """/health answers 503 while the listener is down; check --url says so."""
    db = "opcheck_%d" % os.getpid()
    psql("DROP DATABASE IF EXISTS %s" % db)
    r = psql("CREATE DATABASE %s" % db)
    if not check(r.returncode == 0, "created database %s" % db):
        return
    uri = URI.rsplit("/", 1)[0] + "/" + db
    try:
        with Server(PGWS_DB_URI=uri, PGWS_CHECK_LISTENER_INTERVAL=500) as s:
            url = "http://127.0.0.1:%d/health" % s.port
            psql("ALTER DATABASE %s ALLOW_CONNECTIONS false" % db)
            psql("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s"
                 % lit(db))
            rc = None
            for _ in range(40):
                rc, out, err, _ = pgws_check("--url", url, PGWS_DB_URI=None, PGWS_JWT_SECRET=None)
                if rc != 0:
                    break
                time.sleep(0.1)
            check(rc == 1 and "503" in out + err,
                  "--url while the listener is down: exit 1 with 503")
            psql("ALTER DATABASE %s ALLOW_CONNECTIONS true" % db)
            for _ in range(100):
                rc, out, err, _ = pgws_check("--url", url, PGWS_DB_URI=None, PGWS_JWT_SECRET=None)
                if rc == 0:
                    break
                time.sleep(0.1)
            check(rc == 0, "--url once the listener is back: exit 0")
    finally:
        psql("ALTER DATABASE %s ALLOW_CONNECTIONS true" % db)
        psql("DROP DATABASE IF EXISTS %s WITH (FORCE)" % db)


def test_dockerfile_healthcheck():
    with open(os.path.join(HERE, "..", "Dockerfile")) as f:
        text = f.read()
    # Each final stage (FROM scratch) has its HEALTHCHECK.
    stages = re.split(r"(?m)^FROM ", text)[1:]
    final = [st for st in stages if st.startswith("scratch")]
    hc = [re.search(r'(?m)^HEALTHCHECK\b(?:.*\\\n)*.*CMD \["/pgws", "check", "--url", "([^"]+)"\]', st)
          for st in final]
    check(final and all(hc), "every final stage's HEALTHCHECK runs pgws check --url (%d stages)"
          % len(final))
    check(all(m and urllib.parse.urlparse(m.group(1)).path == "/health" and
              urllib.parse.urlparse(m.group(1)).port == 3000 for m in hc),
          "against /health on the default port")


if __name__ == "__main__":
    run(globals())
