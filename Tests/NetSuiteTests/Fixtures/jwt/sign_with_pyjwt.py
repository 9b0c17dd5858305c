#!/usr/bin/env python3
"""Signs a NetSuite client assertion with PyJWT now (run by JWTInteropTests at test time):
    sign_with_pyjwt.py <private key PEM file> <alg> <kid> <iss> <aud>
Prints the token."""
import sys
import time

import jwt
from cryptography.hazmat.primitives import serialization

key_file, alg, kid, iss, aud = sys.argv[1:6]
key = serialization.load_pem_private_key(open(key_file, "rb").read(), password=None)
now = int(time.time())
claims = {"iss": iss, "scope": ["rest_webservices"], "aud": aud, "iat": now, "exp": now + 300}
print(jwt.encode(claims, key, algorithm=alg, headers={"typ": "JWT", "kid": kid}))
