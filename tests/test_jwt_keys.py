#!/usr/bin/python3
"""PGWS_JWT_SECRET as RSA and EC keys, against the running binary.

pgws is started with an RSA JWK, an EC JWK and a JWK set mixing oct, RSA
and EC keys; PyJWT (with python3-cryptography) signs the tokens with keys
made here at run time, kept in memory only.  Upgrades with good tokens get
101 and carry notifications; algorithm confusion gets 401.  Keys that
pgws must refuse (private JWKs, EdDSA) stop it at start-up with exit 2
and a message naming the key; the original's leniencies (a '{' secret
that is not a JWK, base64 with '.' padding and whitespace) start it.
"""
import json
import subprocess

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

from harness import (BIN, URI, Raw, Server, b64url, check, lit, psql,
                     recv_data, run, token)

GOOD = {"mode": "rw", "channel": "keys"}

RSA_KEY = rsa.generate_private_key(65537, 2048)
P256 = ec.generate_private_key(ec.SECP256R1())
P384 = ec.generate_private_key(ec.SECP384R1())
P521 = ec.generate_private_key(ec.SECP521R1())


def pub_jwk(k, **extra):
    if isinstance(k, rsa.RSAPrivateKey):
        d = json.loads(RSAAlgorithm.to_jwk(k.public_key()))
    else:
        d = json.loads(ECAlgorithm.to_jwk(k.public_key()))
    d.update(extra)
    return d


def status(s, tok, channel="keys"):
    r = Raw(s.port, "/%s/%s" % (channel, tok) if channel else "/" + tok)
    st = r.status
    r.close()
    return st


def delivers(s, tok):
    """A reader opened with tok gets a notification on channel keys."""
    r = Raw(s.port, "/keys/" + tok)
    if r.status != 101:
        r.close()
        return False
    payload = json.dumps({"channel": "keys", "payload": "hi"})
    got = None
    for _ in range(20):   # the LISTEN is set up right after the 101
        psql("SELECT pg_notify('postgres-websockets-listener', %s)"
             % lit(payload))
        got = recv_data(r, timeout=0.5)
        if got:
            break
    r.close()
    return got is not None and got[1] == payload.encode()


def start_fails(secret, b64=None):
    """(exit status, stderr) of pgws started with this secret."""
    env = {"PATH": "/usr/bin:/bin", "PGWS_DB_URI": URI,
           "PGWS_JWT_SECRET": secret, "PGWS_HOST": "127.0.0.1",
           "PGWS_PORT": "0"}
    if b64:
        env["PGWS_JWT_SECRET_BASE64"] = b64
    p = subprocess.run([BIN], env=env, capture_output=True, text=True,
                       timeout=30)
    return p.returncode, p.stderr


def test_rsa_jwk():
    with Server(PGWS_JWT_SECRET=json.dumps(pub_jwk(RSA_KEY))) as s:
        for alg in ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512"]:
            tok = jwt.encode(GOOD, RSA_KEY, algorithm=alg)
            check(status(s, tok) == 101, alg + " token: 101")
        check(delivers(s, jwt.encode(GOOD, RSA_KEY, algorithm="PS256")),
              "PS256 reader gets the notification")
        other = rsa.generate_private_key(65537, 2048)
        check(status(s, jwt.encode(GOOD, other, algorithm="RS256")) == 401,
              "another RSA key: 401")
        # The public key as an HMAC secret, in every form an attacker has.
        pem = RSA_KEY.public_key().public_bytes(
            serialization.Encoding.PEM,
            serialization.PublicFormat.SubjectPublicKeyInfo)
        for name, secret in [("PEM", pem),
                             ("JWK text", json.dumps(pub_jwk(RSA_KEY)))]:
            tok = token(GOOD, secret=secret, alg="HS256")
            check(status(s, tok) == 401, "HS256 with the %s: 401" % name)
        # The RS256 signature relabelled PS256, ES256, HS256.
        h, p, sig = jwt.encode(GOOD, RSA_KEY, algorithm="RS256").split(".")
        for alg in ["PS256", "ES256", "HS256", "none"]:
            t = b64url(('{"alg":"%s"}' % alg).encode()) + "." + p + "." + sig
            check(status(s, t) == 401, "RS256 signature as %s: 401" % alg)
        check(status(s, jwt.encode(GOOD, P256, algorithm="ES256")) == 401,
              "ES256 token against an RSA key: 401")
        check(status(s, token(GOOD)) == 401,
              "the default HMAC secret is not a key here: 401")


def test_ec_jwk():
    for key, alg in [(P256, "ES256"), (P384, "ES384"), (P521, "ES512")]:
        with Server(PGWS_JWT_SECRET=json.dumps(pub_jwk(key))) as s:
            check(status(s, jwt.encode(GOOD, key, algorithm=alg)) == 101,
                  alg + " token: 101")
            check(delivers(s, jwt.encode(GOOD, key, algorithm=alg)),
                  alg + " reader gets the notification")
            other = ec.generate_private_key(key.curve)
            check(status(s, jwt.encode(GOOD, other, algorithm=alg)) == 401,
                  alg + " with another key: 401")
            wrong = {"ES256": "ES384", "ES384": "ES512", "ES512": "ES256"}
            h, p, sig = jwt.encode(GOOD, key, algorithm=alg).split(".")
            t = b64url(('{"alg":"%s"}' % wrong[alg]).encode()) + "." + p + \
                "." + sig
            check(status(s, t) == 401, "%s relabelled %s: 401"
                  % (alg, wrong[alg]))
            pt = key.public_key().public_bytes(
                serialization.Encoding.X962,
                serialization.PublicFormat.UncompressedPoint)
            check(status(s, token(GOOD, secret=pt, alg="HS256")) == 401,
                  alg + " key's point as an HMAC secret: 401")


def test_mixed_set():
    keys = {"keys": [
        {"kty": "oct", "kid": "h", "k": b64url(b"mixed set hmac key")},
        pub_jwk(RSA_KEY, kid="r"),
        pub_jwk(P256, kid="e", alg="ES256"),
        pub_jwk(P384),
    ]}
    with Server(PGWS_JWT_SECRET=json.dumps(keys)) as s:
        for alg, key, kid in [("HS256", b"mixed set hmac key", "h"),
                              ("HS512", b"mixed set hmac key", None),
                              ("RS256", RSA_KEY, "r"),
                              ("PS512", RSA_KEY, None),
                              ("ES256", P256, "e"),
                              ("ES384", P384, None),
                              ("ES384", P384, "unknown")]:
            hdr = {"kid": kid} if kid else None
            tok = jwt.encode(GOOD, key, algorithm=alg, headers=hdr)
            check(status(s, tok) == 101, "set: %s kid %s: 101" % (alg, kid))
        check(delivers(s, jwt.encode(GOOD, P384, algorithm="ES384")),
              "set: ES384 reader gets the notification")
        # kid picks the key: the RSA key's kid on an EC-signed token.
        tok = jwt.encode(GOOD, P256, algorithm="ES256", headers={"kid": "r"})
        check(status(s, tok) == 401, "set: kid of another key: 401")
        check(status(s, jwt.encode(GOOD, P521, algorithm="ES512")) == 401,
              "set: ES512 with no P-521 key: 401")
        tok = token(GOOD, secret=json.dumps(pub_jwk(RSA_KEY, kid="r")),
                    header={"alg": "HS256", "kid": "r"})
        check(status(s, tok) == 401, "set: RSA JWK as HMAC secret: 401")
        # Claims: null channel claims are absent; [] grants nothing.
        tok = jwt.encode({"mode": "r", "channel": None, "channels": None},
                         P256, algorithm="ES256")
        check(status(s, tok, "any") == 101, "channel: null asks freely: 101")
        tok = jwt.encode({"mode": "r", "channels": []}, P256,
                         algorithm="ES256")
        check(status(s, tok, "any") == 403, "channels: [] grants nothing: 403")


def test_refused_keys():
    priv = json.loads(RSAAlgorithm.to_jwk(RSA_KEY))
    rc, err = start_fails(json.dumps({"keys": [pub_jwk(P256),
                                               dict(priv, kid="leak")]}))
    check(rc == 2 and 'keys[1] (kid "leak"): is a private key' in err,
          "private RSA JWK refused at start-up (exit %s: %s)"
          % (rc, err.strip()))
    rc, err = start_fails(json.dumps(json.loads(ECAlgorithm.to_jwk(P256))))
    check(rc == 2 and "is a private key" in err,
          "private EC JWK refused at start-up")
    okp = {"kty": "OKP", "crv": "Ed25519", "kid": "ed1",
           "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}
    rc, err = start_fails(json.dumps({"keys": [pub_jwk(P256), okp]}))
    check(rc == 2 and 'PGWS_JWT_SECRET: keys[1] (kid "ed1"): OKP (EdDSA)'
          in err, "EdDSA key refused at start-up, named (%s)" % err.strip())
    rc, err = start_fails(json.dumps(pub_jwk(RSA_KEY, alg="HS256")))
    check(rc == 2 and "does not fit an RSA key" in err,
          "RSA JWK with alg HS256 refused")
    small = pub_jwk(rsa.generate_private_key(65537, 1024))
    rc, err = start_fails(json.dumps(small))
    check(rc == 2 and "1024 bits" in err, "1024-bit RSA key refused")


def test_leniencies():
    raw = '{"not": "a JWK"}'
    with Server(PGWS_JWT_SECRET=raw) as s:
        check(status(s, token(GOOD, secret=raw)) == 101,
              "'{' text that is not a JWK is an HMAC secret")
        check("not a JWK or JWK set" in s.log() and "warn" in s.log().lower(),
              "and a warning says so")
    for text in ["-_-_AQIDAg..", " +/+/AQIDAg==\n", "+/-_AQIDAg"]:
        with Server(PGWS_JWT_SECRET=text, PGWS_JWT_SECRET_BASE64="true") as s:
            key = bytes([0xfb, 0xff, 0xbf, 0x01, 0x02, 0x03, 0x02])
            check(status(s, token(GOOD, secret=key)) == 101,
                  "base64 secret %r decoded as the original" % text)
    rc, err = start_fails("+/+/ AQIDAg==", "true")
    check(rc == 2 and "base64" in err, "inner whitespace in base64: exit 2")


if __name__ == "__main__":
    run(globals())
