#!/usr/bin/env python3
"""Known answers for SecretBox (Sources/LedgerCrypto/SecretBox.swift), made outside Swift.

Usage: scripts/secretbox-fixtures.py > Tests/SyncTests/Fixtures/secretbox.json
Needs the `cryptography` package (scripts/test.sh installs it into .venv-webhooks).

Each case fixes the key, nonce, associated data and plaintext, and records what AES-256-GCM
(pyca/cryptography over OpenSSL) gives: the raw ciphertext and tag, and the sealed text the
way SecretBox writes it, v2:<key id>:<base64(nonce | ciphertext | tag)> with the associated
data "ledgersync.<table>|<row>|<column>", and v1:<base64(...)> without associated data. The
key id is the first 4 bytes of SHA-256("ledgersync secret key id" NUL key), in hex.
"""
import base64
import hashlib
import json

from cryptography.hazmat.primitives.ciphers.aead import AESGCM


def key_id(key):
    return hashlib.sha256(b"ledgersync secret key id\x00" + key).digest()[:4].hex()


def case(name, key, nonce, table, row, column, plaintext):
    aad = f"ledgersync.{table}|{row}|{column}".encode()
    sealed_v2 = AESGCM(key).encrypt(nonce, plaintext.encode(), aad)
    sealed_v1 = AESGCM(key).encrypt(nonce, plaintext.encode(), None)
    return {
        "name": name,
        "key_base64": base64.b64encode(key).decode(),
        "key_id": key_id(key),
        "nonce_hex": nonce.hex(),
        "table": table, "row": row, "column": column,
        "associated_data": aad.decode(),
        "plaintext": plaintext,
        "ciphertext_and_tag_hex": sealed_v2.hex(),
        "sealed_v2": f"v2:{key_id(key)}:" + base64.b64encode(nonce + sealed_v2).decode(),
        "sealed_v1": "v1:" + base64.b64encode(nonce + sealed_v1).decode(),
    }


cases = [
    case("connection secrets", bytes(range(32)), bytes.fromhex("000102030405060708090a0b"),
         "connections", "0b6c3e4c-2b1e-4b8e-9f4a-1a2b3c4d5e6f", "secrets_sealed",
         '{"consumer_key":"ck_4f1a","consumer_secret":"cs_9e2b","token_id":"ti_77","token_secret":"ts_Grüße"}'),
    case("webhook secret", bytes([0xA5] * 32), bytes.fromhex("cafebabefacedbaddecaf888"),
         "webhook_endpoints", "4c6c3e4c-2b1e-4b8e-9f4a-1a2b3c4d5e6f", "secret_sealed",
         "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"),
    case("empty plaintext", hashlib.sha256(b"ledgersync fixture key 3").digest(), bytes(12),
         "inbound_secrets", "9a1f0c2e-0000-4000-8000-000000000001", "secret_sealed", ""),
]
print(json.dumps({"generator": "scripts/secretbox-fixtures.py (pyca/cryptography AESGCM)", "cases": cases}, indent=2, ensure_ascii=False))
