#!/usr/bin/python3
"""Cross-checks jwt.c against PyJWT, an independent implementation.

Usage: /usr/bin/python3 tests/jwt_cross.py PATH_TO_jwt_tool

PyJWT mints tokens for HS256/384/512 and many claim shapes; jwt_tool must
reach the verdict that SPEC section 2 asks for, which this script computes
on its own (expect()).  PyJWT with python3-cryptography also signs RS, PS
and ES 256/384/512 tokens with keys made here at run time (none is kept),
given to jwt_tool as JWKs and JWK sets; algorithm confusion must fail.  In
the other direction, every token jwt_tool signs must verify in PyJWT with
the same claims.  Prints "N passed, N failed" and
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
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

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


def load_error(secret):
    """jwt_tool's exit status and stderr for a secret it should refuse."""
    e = dict(os.environ)
    e.pop("PGWS_JWT_SECRET_BASE64", None)
    p = subprocess.run([TOOL, "verify", secret, "a.b.c"], capture_output=True,
                       env=e)
    return p.returncode, p.stderr.decode("utf-8", "replace").strip()


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
    listed = (claims.get("channel") is not None
              or claims.get("channels") is not None)
    if claims.get("channel") is not None:
        c = claims["channel"]
        if not isinstance(c, str) or c == "" or "\0" in c:
            return "err 401 Invalid channel claim"
        allowed.append(c)
    if claims.get("channels") is not None:
        cs = claims["channels"]
        if not isinstance(cs, list):
            return "err 401 Invalid channels claim"
        for c in cs:
            if not isinstance(c, str) or c == "" or "\0" in c:
                return "err 401 Invalid channels claim"
            if c not in allowed:
                allowed.append(c)
        if len(allowed) > 256:
            return "err 401 Too many channels"
    if "mode" not in claims:
        return "err 401 Missing mode"
    if claims["mode"] not in ("r", "w", "rw"):
        return "err 401 Invalid mode"
    if channel is None:
        granted = allowed
    elif not listed:
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
        ({"mode": "r", "channels": ["c%d" % i for i in range(256)]}, "c255"),
        ({"mode": "r", "channels": ["c%d" % i for i in range(257)]}, None),
        ({"mode": "r", "channel": None}, "x"),
        ({"mode": "r", "channels": None}, "x"),
        ({"mode": "r", "channel": None, "channels": None}, None),
        ({"mode": "r", "channel": "a", "channels": None}, "b"),
        ({"mode": "r", "channel": None, "channels": ["b"]}, "b"),
        ({"mode": "r", "channels": []}, None),
        ({"mode": "r", "channel": "a", "channels": []}, "a"),
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
        json.loads(RSAAlgorithm.to_jwk(
            rsa.generate_private_key(65537, 2048).public_key())),
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
    check("unknown kid tries every key", verify(kset, tok),
          "ok mode=rw channels=a")
    tok = jwt.encode(good, "key three", algorithm="HS256",
                     headers={"kid": "three"})
    check("unknown kid, no match", verify(kset, tok),
          "err 401 Invalid signature")
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
    # As postgres-websockets decodes it: '.' pads, alphabets mix,
    # surrounding whitespace is dropped; inner whitespace is an error.
    b64 = {"PGWS_JWT_SECRET_BASE64": "true"}
    for text in ["-_-_AQIDAg..", "+/-_AQIDAg==", " \n+/+/AQIDAg==\n",
                 "+/+/AQIDAg"]:
        raw6 = bytes([0xfb, 0xff, 0xbf, 0x01, 0x02, 0x03, 0x02])
        tok6 = jwt.encode(good, raw6, algorithm="HS256")
        check("base64 %r" % text, verify(text, tok6, env=b64),
              "ok mode=rw channels=a")
    check("base64 inner space", run("verify", "+/+/ AQIDAg==", tok,
                                     env=b64)[0], 2)
    # Text that starts with '{' but is not a JWK is a raw secret.
    raw = '{"this is": "not a JWK"}'
    tok = jwt.encode(good, raw, algorithm="HS256")
    check("brace raw secret", verify(raw, tok), "ok mode=rw channels=a")


# --- RSA and EC keys -------------------------------------------------------

ASYM = {
    "RS256": "rsa", "RS384": "rsa", "RS512": "rsa",
    "PS256": "rsa", "PS384": "rsa", "PS512": "rsa",
    "ES256": "p256", "ES384": "p384", "ES512": "p521",
}


def make_keys():
    """Fresh private keys, in memory only, and their public JWKs."""
    priv = {
        "rsa": rsa.generate_private_key(65537, 2048),
        "rsa4096": rsa.generate_private_key(65537, 4096),
        "p256": ec.generate_private_key(ec.SECP256R1()),
        "p384": ec.generate_private_key(ec.SECP384R1()),
        "p521": ec.generate_private_key(ec.SECP521R1()),
    }
    pub = {}
    for name, k in priv.items():
        if name.startswith("rsa"):
            pub[name] = json.loads(RSAAlgorithm.to_jwk(k.public_key()))
        else:
            pub[name] = json.loads(ECAlgorithm.to_jwk(k.public_key()))
    return priv, pub


def test_asym():
    priv, pub = make_keys()
    good = {"mode": "rw", "channels": ["a", "b"]}
    now = time.time()
    for alg, kn in ASYM.items():
        single = json.dumps(pub[kn])
        tok = jwt.encode(good, priv[kn], algorithm=alg)
        check("%s jwk" % alg, verify(single, tok), "ok mode=rw channels=a,b")
        for i, (claims, ch) in enumerate(shapes(now)[:12]):
            t = jwt.encode(claims, priv[kn], algorithm=alg)
            check("%s shape %d" % (alg, i), verify(single, t, ch),
                  expect(claims, ch, now))
        # Another key of the same family and the same alg: refused.
        other = (rsa.generate_private_key(65537, 2048) if kn == "rsa" else
                 ec.generate_private_key(priv[kn].curve))
        t = jwt.encode(good, other, algorithm=alg)
        check("%s other key" % alg, verify(single, t),
              "err 401 Invalid signature")
        # The key's own alg pins it.
        pinned = dict(pub[kn], alg=alg)
        check("%s pinned" % alg, verify(json.dumps(pinned), tok),
              "ok mode=rw channels=a,b")
        h, p, sig = tok.split(".")
        flipped = sig[:10] + ("A" if sig[10] != "A" else "B") + sig[11:]
        check("%s flipped" % alg, verify(single, h + "." + p + "." + flipped),
              "err 401 Invalid signature")
    # A 4096-bit key, and moduli whose length is not a multiple of 8
    # (2049 bits: PSS's encoded message is one byte shorter than n).
    for alg in ["RS512", "PS384"]:
        tok = jwt.encode(good, priv["rsa4096"], algorithm=alg)
        check("4096 " + alg, verify(json.dumps(pub["rsa4096"]), tok),
              "ok mode=rw channels=a,b")
    for bits in [2049, 2055, 3071]:
        k = rsa.generate_private_key(65537, bits)
        j = RSAAlgorithm.to_jwk(k.public_key())
        for alg in ["PS256", "PS512", "RS256"]:
            check("%d-bit %s" % (bits, alg),
                  verify(j, jwt.encode(good, k, algorithm=alg)),
                  "ok mode=rw channels=a,b")

    # A mixed set: oct + RSA + EC, with and without kid.
    keys = [dict(pub["rsa"], kid="r"), dict(pub["p256"], kid="e1"),
            {"kty": "oct", "kid": "h", "k": b64u(SECRET.encode())},
            pub["p384"], pub["p521"]]
    kset = json.dumps({"keys": keys})
    for alg, kn in ASYM.items():
        tok = jwt.encode(good, priv[kn], algorithm=alg)
        check("set " + alg, verify(kset, tok), "ok mode=rw channels=a,b")
        kid = {"rsa": "r", "p256": "e1"}.get(kn, "nope")
        tok = jwt.encode(good, priv[kn], algorithm=alg, headers={"kid": kid})
        check("set kid %s %s" % (kid, alg), verify(kset, tok),
              "ok mode=rw channels=a,b")
    tok = jwt.encode(good, SECRET, algorithm="HS512", headers={"kid": "h"})
    check("set oct", verify(kset, tok), "ok mode=rw channels=a,b")
    # kid picks: a token naming the RSA key but signed by P-256.
    tok = jwt.encode(good, priv["p256"], algorithm="ES256",
                     headers={"kid": "r"})
    check("kid names another key", verify(kset, tok),
          "err 401 Unsupported algorithm")

    # Confusion: the public key (PEM, JWK text, modulus) as an HMAC secret.
    for name, kn in [("rsa", "rsa"), ("ec", "p256")]:
        single = json.dumps(pub[kn])
        pemk = priv[kn].public_key().public_bytes(
            serialization.Encoding.PEM,
            serialization.PublicFormat.SubjectPublicKeyInfo).decode()
        for alg in ["HS256", "HS384", "HS512"]:
            for secret in [pemk, single]:
                tok = manual('{"alg":"%s"}' % alg, json.dumps(good), secret,
                             alg)
                check("%s as HMAC %s" % (name, alg), verify(single, tok),
                      "err 401 Unsupported algorithm")
    n = base64.urlsafe_b64decode(pub["rsa"]["n"] + "==")
    h = b64u(b'{"alg":"HS256"}')
    p = b64u(json.dumps(good).encode())
    sig = hmac.new(n, (h + "." + p).encode(), hashlib.sha256).digest()
    check("modulus as HMAC", verify(json.dumps(pub["rsa"]), h + "." + p + "."
                                   + b64u(sig)),
          "err 401 Unsupported algorithm")
    # alg swapped between RSA schemes and families.
    rs = jwt.encode(good, priv["rsa"], algorithm="RS256")
    h, p, sig = rs.split(".")
    for alg, want in [("PS256", "err 401 Invalid signature"),
                      ("RS512", "err 401 Invalid signature"),
                      ("ES256", "err 401 Unsupported algorithm"),
                      ("HS256", "err 401 Unsupported algorithm")]:
        t = b64u(('{"alg":"%s"}' % alg).encode()) + "." + p + "." + sig
        check("RS256 sig as " + alg, verify(json.dumps(pub["rsa"]), t), want)
    es = jwt.encode(good, priv["p256"], algorithm="ES256")
    h, p, sig = es.split(".")
    for alg in ["ES384", "ES512"]:
        t = b64u(('{"alg":"%s"}' % alg).encode()) + "." + p + "." + sig
        check("ES256 sig as " + alg, verify(json.dumps(pub["p256"]), t),
              "err 401 Unsupported algorithm")
    # A DER-encoded ECDSA signature is not JOSE's r||s.
    der = priv["p256"].sign((h + "." + p).encode(), ec.ECDSA(hashes.SHA256()))
    check("ES256 DER signature", verify(json.dumps(pub["p256"]),
                                        h + "." + p + "." + b64u(der)),
          "err 401 Invalid signature")
    # PSS with another salt length than the hash's is refused.
    signing = (b64u(b'{"alg":"PS256"}') + "." + p).encode()
    s0 = priv["rsa"].sign(signing, padding.PSS(
        mgf=padding.MGF1(hashes.SHA256()), salt_length=0), hashes.SHA256())
    check("PS256 salt 0", verify(json.dumps(pub["rsa"]),
                                 signing.decode() + "." + b64u(s0)),
          "err 401 Invalid signature")
    s32 = priv["rsa"].sign(signing, padding.PSS(
        mgf=padding.MGF1(hashes.SHA256()), salt_length=32), hashes.SHA256())
    check("PS256 salt 32", verify(json.dumps(pub["rsa"]),
                                  signing.decode() + "." + b64u(s32)),
          "ok mode=rw channels=a,b")
    # A key pinned to another alg of its family.
    check("pinned PS256, RS256 token",
          verify(json.dumps(dict(pub["rsa"], alg="PS256")), rs),
          "err 401 Unsupported algorithm")
    check("RSA alg HS256 refused",
          load_error(json.dumps(dict(pub["rsa"], alg="HS256")))[0], 2)

    # Private JWKs are refused at load, naming the key.
    d = json.loads(RSAAlgorithm.to_jwk(priv["rsa"]))
    rc, err = load_error(json.dumps({"keys": [keys[2], dict(d, kid="x")]}))
    check("private RSA refused", (rc, "keys[1] (kid \"x\"): is a private key"
                                  in err), (2, True))
    d = json.loads(ECAlgorithm.to_jwk(priv["p256"]))
    rc, err = load_error(json.dumps(d))
    check("private EC refused", (rc, "JWK: is a private key" in err),
          (2, True))
    # EdDSA: refused at load, naming the key.
    okp = {"kty": "OKP", "crv": "Ed25519", "kid": "ed",
           "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}
    rc, err = load_error(json.dumps({"keys": [keys[0], okp]}))
    check("EdDSA refused", (rc, "keys[1] (kid \"ed\"): OKP (EdDSA)" in err),
          (2, True))
    # Too small and too large RSA keys.
    small = json.loads(RSAAlgorithm.to_jwk(
        rsa.generate_private_key(65537, 1024).public_key()))
    check("RSA 1024 refused", load_error(json.dumps(small))[0], 2)


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
    test_asym()
    test_sign()
    print("%d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
