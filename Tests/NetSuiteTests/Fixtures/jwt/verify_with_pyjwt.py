#!/usr/bin/env python3
"""Verifies a JWT with PyJWT and `cryptography` (run by JWTInteropTests at test time):
    verify_with_pyjwt.py <token> <certificate or public key PEM file> <alg> <audience>
Prints the header and the claims as JSON, exits 0; exits 1 with the reason otherwise."""
import json
import sys

import jwt
from cryptography import x509
from cryptography.hazmat.primitives import serialization

token, key_file, alg, audience = sys.argv[1:5]
pem = open(key_file, "rb").read()
if b"BEGIN CERTIFICATE" in pem:
    key = x509.load_pem_x509_certificate(pem).public_key()
else:
    key = serialization.load_pem_public_key(pem)
try:
    claims = jwt.decode(token, key, algorithms=[alg], audience=audience, options={"require": ["exp", "iat", "iss"]})
except jwt.PyJWTError as error:
    print(f"PyJWT refused the token: {type(error).__name__}: {error}")
    sys.exit(1)
print(json.dumps({"header": jwt.get_unverified_header(token), "claims": claims}, sort_keys=True))
