#!/usr/bin/python3
"""Cross-checks jwt.c against PyJWT, an independent implementation.

Usage: /usr/bin/python3 tests/jwt_cross.py PATH_TO_jwt_tool

PyJWT mints tokens for HS256/384/512 and many claim shapes; jwt_tool must
reach the verdict that SPEC section 2 asks for, which this script computes
on its own (expect()).  In the other direction, every token jwt_tool signs
must verify in PyJWT with the same claims.  Prints "N passed, N failed" and
exits non-zero on any failure.
"""
import base64
import hashlib
import hmac
import json
import os
import random
import subprocess
import sys
import time

import jwt

TOOL = None
SECRET = "reallyreallyreallyreallyverysafe"
ALGS = ["HS256", "HS384", "HS512"]
HASH = {"HS256": hashlib.sha256, "HS384": hashlib.sha384,
        "HS512": hashlib.sha512}
passed = 0
failed = 0


def b64u(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def run(*args, env=None):
    e = dict(os.environ)
    e.pop("PGWS_JWT_SECRET_BASE64", None)
    if env:
        e.update(env)
    p = subprocess.run([TOOL] + list(args), capture_output=True, env=e)
    return p.returncode, p.stdout.decode("utf-8", "replace").rstrip("\n")


def check(name, got, want):
    global passed, failed
    if got == want:
        passed += 1
    else:
        failed += 1
        print("FAIL %s: got %r, want %r" % (name, got, want), file=sys.stderr)


def verify(secret, token, channel=None, env=None):
    args = ["verify", secret, token] + ([channel] if channel is not None
                                        else [])
    return run(*args, env=env)[1]


def manual(header, payload, key, alg="HS256"):
    """A token with exactly these header and payload bytes."""
    h = b64u(header.encode() if isinstance(header, str) else header)
    p = b64u(payload.encode() if isinstance(payload, str) else payload)
    signing = (h + "." + p).encode()
    sig = hmac.new(key.encode(), signing, HASH[alg]).digest()
    return h + "." + p + "." + b64u(sig)


def expect(claims, channel, now):
    """The SPEC section 2 verdict for a correctly signed claims object."""
    def is_num(v):
        return isinstance(v, (int, float)) and not isinstance(v, bool)

    if "exp" in claims:
        if not is_num(claims["exp"]):
            return "err 401 Invalid exp claim"
        if claims["exp"] <= now:
            return "err 401 Token expired"
    if "nbf" in claims:
        if not is_num(claims["nbf"]):
            return "err 401 Invalid nbf claim"
        if claims["nbf"] > now:
            return "err 401 Token not yet valid"
    allowed = []
    if "channel" in claims:
        c = claims["channel"]
        if not isinstance(c, str) or c == "" or "\0" in c:
            return "err 401 Invalid channel claim"
        allowed.append(c)
    if "channels" in claims:
        cs = claims["channels"]
        if not isinstance(cs, list):
            return "err 401 Invalid channels claim"
        for c in cs:
            if not isinstance(c, str) or c == "" or "\0" in c:
                return "err 401 Invalid channels claim"
            if c not in allowed:
                allowed.append(c)
        if len(allowed) > 64:
            return "err 401 Too many channels"
    if "mode" not in claims:
        return "err 401 Missing mode"
    if claims["mode"] not in ("r", "w", "rw"):
        return "err 401 Invalid mode"
    if channel is None:
        granted = allowed
    elif not allowed:
        granted = [channel]
    elif channel in allowed:
        granted = [channel]
    else:
        granted = []
    if not granted:
        return "err 403 No allowed channels"
    return "ok mode=%s channels=%s" % (claims["mode"], ",".join(granted))


def shapes(now):
    """Claim shapes, each with the channel to ask for."""
    future = now + 3600
    return [
        ({"mode": "r", "channel": "test"}, None),
        ({"mode": "w", "channel": "test"}, "test"),
        ({"mode": "rw", "channels": ["a", "b"]}, None),
        ({"mode": "rw", "channels": ["a", "b"]}, "b"),
        ({"mode": "rw", "channels": ["a", "b"]}, "c"),
        ({"mode": "r", "channel": "a", "channels": ["b", "a", "b"]}, None),
        ({"mode": "r"}, "anything"),
        ({"mode": "r"}, None),
        ({"mode": "r", "channels": []}, "x"),
        ({"mode": "r", "channel": "caf\u00e9", "channels": ["\u65e5\u672c"]},
         None),
        ({"mode": "r", "channel": "x", "exp": future}, None),
        ({"mode": "r", "channel": "x", "exp": future + 0.5}, None),
        ({"mode": "r", "channel": "x", "exp": now - 10}, None),
        ({"mode": "r", "channel": "x", "exp": 1}, None),
        ({"mode": "r", "channel": "x", "exp": "never"}, None),
        ({"mode": "r", "channel": "x", "exp": None}, None),
        ({"mode": "r", "channel": "x", "nbf": now - 10}, None),
        ({"mode": "r", "channel": "x", "nbf": future}, None),
        ({"mode": "r", "channel": "x", "nbf": "x"}, None),
        ({"channel": "x"}, None),
        ({"channel": "x", "exp": future, "iat": now}, "x"),
        ({"mode": "x", "channel": "x"}, None),
        ({"mode": "R", "channel": "x"}, None),
        ({"mode": "", "channel": "x"}, None),
        ({"mode": 1, "channel": "x"}, None),
        ({"mode": ["r"], "channel": "x"}, None),
        ({"mode": "r", "channels": "a"}, None),
        ({"mode": "r", "channels": "a"}, "a"),
        ({"mode": "r", "channels": {"a": 1}}, None),
        ({"mode": "r", "channels": ["a", 1]}, None),
        ({"mode": "r", "channels": [""]}, None),
        ({"mode": "r", "channel": 5}, None),
        ({"mode": "r", "channel": ""}, None),
        ({"mode": "r", "channel": "a\u0000b"}, None),
        ({"mode": "r", "channels": ["c%d" % i for i in range(64)]}, "c63"),
        ({"mode": "r", "channels": ["c%d" % i for i in range(65)]}, None),
        ({"mode": "rw", "channel": "x", "aud": 5, "iss": [],
          "role": "web", "nested": {"a": [1, 2]}}, "x"),
    ]


def random_claims(rng, now):
    """A random mix of good and bad values for every checked claim."""
    pick = {
        "mode": ["r", "w", "rw", "wr", "x", 1, None, ["r"]],
        "channel": ["a", "b", "", 3, None, "\u00e9", ["a"]],
        "channels": [[], ["a"], ["a", "b", "a"], ["b", "c"], "a", [1], None,
                     [""], {"a": "b"}],
        "exp": [now + 100, now - 100, now + 100.25, "1", True, None],
        "nbf": [now - 100, now + 100, "0", False],
    }
    c = {}
    for k, vs in pick.items():
        if rng.random() < 0.6:
            c[k] = rng.choice(vs)
    ch = rng.choice([None, None, "a", "b", "c", "\u00e9"])
    return c, ch


def test_pyjwt_tokens():
    now = time.time()
    for alg in ALGS:
        for i, (claims, ch) in enumerate(shapes(now)):
            tok = jwt.encode(claims, SECRET, algorithm=alg)
            check("%s shape %d" % (alg, i), verify(SECRET, tok, ch),
                  expect(claims, ch, now))
    rng = random.Random(20240601)
    for i in range(150):
        claims, ch = random_claims(rng, now)
        alg = rng.choice(ALGS)
        tok = jwt.encode(claims, SECRET, algorithm=alg)
        check("random %d %s %r %r" % (i, alg, claims, ch),
              verify(SECRET, tok, ch), expect(claims, ch, now))


def test_rejections():
    good = {"mode": "r", "channel": "test"}
    for alg in ALGS:
        tok = jwt.encode(good, "another secret", algorithm=alg)
        check("wrong secret " + alg, verify(SECRET, tok),
              "err 401 Invalid signature")
        tok = jwt.encode(good, SECRET, algorithm=alg)
        h, p, s = tok.split(".")
        flipped = s[:5] + ("A" if s[5] != "A" else "B") + s[6:]
        check("flipped sig " + alg, verify(SECRET, h + "." + p + "." +
                                           flipped),
              "err 401 Invalid signature")
        check("missing part " + alg, verify(SECRET, h + "." + p),
              "err 401 Malformed token")
        check("extra part " + alg, verify(SECRET, tok + "." + s),
              "err 401 Malformed token")
        check("padded " + alg, verify(SECRET, tok + "="),
              "err 401 Malformed token")
    # alg none, as PyJWT makes it: the signature part is empty.
    tok = jwt.encode(good, None, algorithm="none")
    check("alg none", verify(SECRET, tok), "err 401 Malformed token")
    tok = manual('{"alg":"none","typ":"JWT"}', json.dumps(good), SECRET)
    check("alg none with a sig", verify(SECRET, tok),
          "err 401 Unsupported algorithm")
    for alg in ["RS256", "ES256", "PS256", "EdDSA", "HS1", "hs256"]:
        tok = manual('{"alg":"%s","typ":"JWT"}' % alg, json.dumps(good),
                     SECRET)
        check("alg " + alg, verify(SECRET, tok),
              "err 401 Unsupported algorithm")
    # An HS256 token whose header was swapped to RS256.
    tok = jwt.encode(good, SECRET, algorithm="HS256")
    h, p, s = tok.split(".")
    tok = b64u(b'{"alg":"RS256","typ":"JWT"}') + "." + p + "." + s
    check("header swapped to RS256", verify(SECRET, tok),
          "err 401 Unsupported algorithm")
    tok = manual('{"typ":"JWT"}', json.dumps(good), SECRET)
    check("no alg", verify(SECRET, tok), "err 401 Unsupported algorithm")
    tok = jwt.encode(good, SECRET, algorithm="HS256",
                     headers={"crit": ["exp"]})
    check("crit", verify(SECRET, tok), "err 401 Unsupported critical header")
    tok = manual('{"alg":"HS256"}', '["mode"]', SECRET)
    check("payload array", verify(SECRET, tok), "err 401 Malformed token")
    check("garbage", verify(SECRET, "not a token"), "err 401 Malformed token")
    check("too long", verify(SECRET, "a" * 9000), "err 401 Token too long")


def test_keys():
    good = {"mode": "rw", "channels": ["a"]}
    k = b64u(SECRET.encode())
    jwk = json.dumps({"kty": "oct", "k": k, "alg": "HS256"})
    tok = jwt.encode(good, SECRET, algorithm="HS256")
    check("jwk", verify(jwk, tok), "ok mode=rw channels=a")
    tok512 = jwt.encode(good, SECRET, algorithm="HS512")
    check("jwk alg confusion", verify(jwk, tok512),
          "err 401 Unsupported algorithm")
    kset = json.dumps({"keys": [
        {"kty": "RSA", "n": "x", "e": "AQAB"},
        {"kty": "oct", "kid": "one", "k": b64u(b"key one")},
        {"kty": "oct", "kid": "two", "k": b64u(b"key two"), "alg": "HS384"},
    ]})
    tok = jwt.encode(good, "key two", algorithm="HS384",
                     headers={"kid": "two"})
    check("kid two", verify(kset, tok), "ok mode=rw channels=a")
    tok = jwt.encode(good, "key one", algorithm="HS256",
                     headers={"kid": "two"})
    check("kid two, key one", verify(kset, tok),
          "err 401 Unsupported algorithm")
    tok = jwt.encode(good, "key one", algorithm="HS384",
                     headers={"kid": "two"})
    check("kid two, key one, HS384", verify(kset, tok),
          "err 401 Invalid signature")
    tok = jwt.encode(good, "key one", algorithm="HS256",
                     headers={"kid": "three"})
    check("unknown kid", verify(kset, tok), "err 401 No key for this token")
    tok = jwt.encode(good, "key one", algorithm="HS512")
    check("no kid tries all", verify(kset, tok), "ok mode=rw channels=a")
    tok = jwt.encode(good, "key three", algorithm="HS256")
    check("no kid, no match", verify(kset, tok), "err 401 Invalid signature")
    # PGWS_JWT_SECRET_BASE64 with both alphabets.
    raw = bytes([0xfb, 0xff, 0xbf, 0x01, 0x02, 0x03])
    tok = jwt.encode(good, raw, algorithm="HS256")
    for text in [base64.b64encode(raw).decode(),
                 base64.urlsafe_b64encode(raw).decode().rstrip("=")]:
        check("base64 " + text, verify(text, tok,
                                       env={"PGWS_JWT_SECRET_BASE64": "true"}),
              "ok mode=rw channels=a")
    check("bad base64", run("verify", "@@@", tok,
                            env={"PGWS_JWT_SECRET_BASE64": "true"})[0], 2)


def test_sign():
    now = int(time.time())
    cases = [
        {"mode": "r", "channel": "test"},
        {"mode": "rw", "channels": ["a", "b"], "exp": now + 60},
        {"mode": "w", "channel": "caf\u00e9", "role": "web_user",
         "nested": {"a": [1, 2.5, None, True]}},
    ]
    for alg in ALGS:
        for i, claims in enumerate(cases):
            text = json.dumps(claims, ensure_ascii=(i % 2 == 0))
            rc, tok = run("sign", SECRET, text, alg)
            check("sign rc %s %d" % (alg, i), rc, 0)
            try:
                got = jwt.decode(tok, SECRET, algorithms=[alg])
                hdr = jwt.get_unverified_header(tok)
            except Exception as e:   # noqa: BLE001 -- reported as a failure
                got, hdr = repr(e), None
            check("pyjwt decodes %s %d" % (alg, i), got, claims)
            check("header %s %d" % (alg, i), hdr, {"alg": alg, "typ": "JWT"})
            check("round trip %s %d" % (alg, i), verify(SECRET, tok),
                  expect(claims, None, now))
    kjwk = json.dumps({"kty": "oct", "kid": "k\"1", "k": b64u(b"jwk key"),
                       "alg": "HS512"})
    rc, tok = run("sign", kjwk, '{"mode":"r","channel":"c"}')
    try:
        got = jwt.decode(tok, "jwk key", algorithms=["HS512"])
        hdr = jwt.get_unverified_header(tok)
    except Exception as e:   # noqa: BLE001 -- reported as a failure
        got, hdr = repr(e), None
    check("jwk sign", got, {"mode": "r", "channel": "c"})
    check("jwk sign header", hdr, {"alg": "HS512", "typ": "JWT",
                                    "kid": "k\"1"})
    check("jwk sign, wrong alg", run("sign", kjwk, '{"mode":"r"}',
                                     "HS256")[0], 2)


def main():
    global TOOL
    if len(sys.argv) != 2:
        print("usage: jwt_cross.py PATH_TO_jwt_tool", file=sys.stderr)
        return 2
    TOOL = sys.argv[1]
    test_pyjwt_tokens()
    test_rejections()
    test_keys()
    test_sign()
    print("%d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
