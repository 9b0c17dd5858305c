#!/usr/bin/env python3
"""Makes the JWT fixtures of Tests/NetSuiteTests (issue 13, must-show 1), outside Swift:
keys, certificates and client assertions made with PyJWT and the `cryptography` package, so
the Swift signer and the simulator's verifier are held to another implementation.

Run once (Debian: python3-jwt python3-cryptography) and commit the outputs:
    python3 Tests/NetSuiteTests/Fixtures/jwt/make_fixtures.py

TEST KEYS ONLY, NOT SECRETS: they open nothing but the tests.
"""
import datetime
import json
import pathlib

import jwt
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

HERE = pathlib.Path(__file__).resolve().parent
TOKEN_URL = "http://127.0.0.1/services/rest/auth/oauth2/v1/token"
CLIENT_ID = "fixture-client-id"
IAT = 1_800_000_000  # 2027-01-15; tests check these tokens with a clock set near it.


def certificate(key, name):
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    start = datetime.datetime(2026, 1, 1, tzinfo=datetime.timezone.utc)
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        # NetSuite caps a certificate at two years.
        .not_valid_after(start + datetime.timedelta(days=730))
        .sign(key, hashes.SHA256())
    )


def write(name, data):
    (HERE / name).write_bytes(data if isinstance(data, bytes) else data.encode())


def private_pem(key, traditional=False):
    fmt = serialization.PrivateFormat.TraditionalOpenSSL if traditional else serialization.PrivateFormat.PKCS8
    return key.private_bytes(serialization.Encoding.PEM, fmt, serialization.NoEncryption())


def public_pem(key):
    return key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=3072)
ec_key = ec.generate_private_key(ec.SECP256R1())
other_rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=3072)
short_rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=1024)

write("rsa3072_private_pkcs8.pem", private_pem(rsa_key))
write("rsa3072_private_traditional.pem", private_pem(rsa_key, traditional=True))
write("rsa3072_public.pem", public_pem(rsa_key))
write("rsa3072_certificate.pem", certificate(rsa_key, "ledgersync fixture RSA").public_bytes(serialization.Encoding.PEM))
write("ec_p256_private_pkcs8.pem", private_pem(ec_key))
write("ec_p256_private_traditional.pem", private_pem(ec_key, traditional=True))
write("ec_p256_public.pem", public_pem(ec_key))
write("ec_p256_certificate.pem", certificate(ec_key, "ledgersync fixture EC").public_bytes(serialization.Encoding.PEM))
write("rsa1024_private_pkcs8.pem", private_pem(short_rsa_key))


def assertion(key, alg, kid, **overrides):
    claims = {"iss": CLIENT_ID, "scope": ["rest_webservices"], "aud": TOKEN_URL, "iat": IAT, "exp": IAT + 300}
    claims.update(overrides)
    return jwt.encode(claims, key, algorithm=alg, headers={"typ": "JWT", "kid": kid})


tokens = {
    "tokenURL": TOKEN_URL,
    "clientID": CLIENT_ID,
    "iat": IAT,
    "rsaKid": "fixture-cert-rsa",
    "ecKid": "fixture-cert-ec",
    "ps256": assertion(rsa_key, "PS256", "fixture-cert-rsa"),
    "es256": assertion(ec_key, "ES256", "fixture-cert-ec"),
    # Refused: signed by a key that is not the mapping's.
    "ps256WrongKey": assertion(other_rsa_key, "PS256", "fixture-cert-rsa"),
    # Refused: aud is not the token endpoint.
    "ps256WrongAudience": assertion(rsa_key, "PS256", "fixture-cert-rsa", aud="https://example.com/token"),
    # Refused: exp more than an hour after iat.
    "ps256TooLong": assertion(rsa_key, "PS256", "fixture-cert-rsa", exp=IAT + 3601),
    # Refused: RS256 (PKCS#1 v1.5), not on NetSuite's list.
    "rs256": assertion(rsa_key, "RS256", "fixture-cert-rsa"),
}
write("tokens.json", json.dumps(tokens, indent=2) + "\n")
print("wrote", sorted(p.name for p in HERE.iterdir()))
