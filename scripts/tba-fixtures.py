#!/usr/bin/env python3
"""Known answers for NetSuite TBA signing, computed outside Swift.

Writes Tests/NetSuiteTests/Fixtures/tba_signatures.json. Each case holds the inputs of one
request (method, URL, credentials, realm, fixed timestamp and nonce) and what oauthlib
(an independent OAuth 1.0a implementation) says the signature base string, the
oauth_signature and the Authorization header are. Every signature is then recomputed with
`openssl dgst -sha256 -hmac KEY -binary | base64` over oauthlib's base string, and the
script stops if the two disagree, so the fixture records agreement of two implementations.

The Swift tests (Tests/NetSuiteTests/TBASignerTests.swift) must reproduce these answers.

Usage (oauthlib is not a project dependency; use a throwaway venv):
    python3 -m venv /tmp/tba-venv && /tmp/tba-venv/bin/pip install oauthlib
    /tmp/tba-venv/bin/python scripts/tba-fixtures.py
"""

import base64
import json
import pathlib
import subprocess
import sys
import urllib.parse

import oauthlib
from oauthlib.oauth1 import SIGNATURE_HMAC_SHA256, Client
from oauthlib.oauth1.rfc5849 import signature, utils

OUT = pathlib.Path(__file__).resolve().parent.parent / "Tests/NetSuiteTests/Fixtures/tba_signatures.json"

# Fake credentials in the shape NetSuite issues them (64 hex characters each).
CREDS = {
    "consumer_key": "ef40afdd8abaac111b13825dd5e5e2ddddb44f86d5a0dd6dcf38c20aae6b67e4",
    "consumer_secret": "d26ad321a4b2f23b0741c8d38392ce01c3e23e109df6c96eac6d099e9ab9a8b5",
    "token_id": "2e4ab9ab0b4b2f0e9b74a7f66b6c4c0e1f7a3d2c7e9b8a6f5d4c3b2a1f0e9d8c",
    "token_secret": "5b7c1f9e3d2a4b6c8e0f1a3b5c7d9e1f2a4b6c8d0e2f4a6b8c0d2e4f6a8b0c2d",
}

# Secrets with characters that must be percent-encoded in the key (`&`, `+`, `/`, `=`, space).
ODD_CREDS = {
    "consumer_key": "consumer key/with+odd&chars",
    "consumer_secret": "s3cr3t+/=&with space",
    "token_id": "token~id_1.0-x",
    "token_secret": "tok&en/secret=+",
}

CASES = [
    {
        "name": "a_rest_record_post",
        "description": "REST record create: POST /services/rest/record/v1/customer",
        "method": "POST",
        "url": "https://1234567.suitetalk.api.netsuite.com/services/rest/record/v1/customer",
        "account_id": "1234567",
        "credentials": CREDS,
        "timestamp": 1767225600,
        "nonce": "fXz8Qw2LmN4pR7sT9vYb",
    },
    {
        "name": "b_rest_upsert_put_eid",
        "description": "REST record upsert by external id: PUT …/invoice/eid:INV-2026-0001",
        "method": "PUT",
        "url": "https://1234567.suitetalk.api.netsuite.com/services/rest/record/v1/invoice/eid:INV-2026-0001",
        "account_id": "1234567",
        "credentials": CREDS,
        "timestamp": 1767225661,
        "nonce": "A1b2C3d4E5f6G7h8I9j0",
    },
    {
        "name": "c_restlet_post",
        "description": "RESTlet POST with script and deploy in the query (both signed)",
        "method": "POST",
        "url": "https://1234567.restlets.api.netsuite.com/app/site/hosting/restlet.nl?script=1234&deploy=1",
        "account_id": "1234567",
        "credentials": CREDS,
        "timestamp": 1767225722,
        "nonce": "Zy9Xw8Vu7Ts6Rq5Po4Nm",
    },
    {
        "name": "d_restlet_get_encoded_query",
        "description": "RESTlet GET with a query value holding spaces (%20 and +), an encoded & and =, "
                       "a unicode character, and secrets that need percent-encoding in the key",
        "method": "GET",
        "url": "https://1234567.restlets.api.netsuite.com/app/site/hosting/restlet.nl"
               "?script=1234&deploy=1&customer=Acme%20%26%20Sons+Ltd&filter=a%3Db%2Cc&city=K%C3%B6ln",
        "account_id": "1234567",
        "credentials": ODD_CREDS,
        "timestamp": 1767225783,
        "nonce": "q1w2e3r4t5y6u7i8o9p0",
    },
    {
        "name": "e_sandbox_account",
        "description": "Sandbox account 1234567_SB1: realm 1234567_SB1, host 1234567-sb1",
        "method": "POST",
        "url": "https://1234567-sb1.suitetalk.api.netsuite.com/services/rest/record/v1/customer",
        "account_id": "1234567_SB1",
        "credentials": CREDS,
        "timestamp": 1767225844,
        "nonce": "SandboxNonce12345678",
    },
    {
        "name": "f_rest_get_limit_offset_q",
        "description": "REST list GET with limit, offset and a q filter (quotes and spaces); "
                       "parameters out of order in the URL",
        "method": "GET",
        "url": "https://1234567.suitetalk.api.netsuite.com/services/rest/record/v1/invoice"
               "?q=lastModifiedDate%20ON_OR_AFTER%20%2201%2F01%2F2026%22&offset=0&limit=100",
        "account_id": "1234567",
        "credentials": CREDS,
        "timestamp": 1767225905,
        "nonce": "LimitOffsetQ00000001",
    },
    {
        "name": "g_mixed_case_host_default_port",
        "description": "Upper-case scheme and host with the default port 443: the base URL is "
                       "lower-cased and drops the port, the path keeps its case",
        "method": "POST",
        "url": "HTTPS://1234567.SuiteTalk.API.NetSuite.com:443/services/rest/record/v1/salesOrder",
        "account_id": "1234567",
        "credentials": CREDS,
        "timestamp": 1767225966,
        "nonce": "MixedCaseHost0000001",
    },
    {
        "name": "h_simulator_non_default_port",
        "description": "A local simulator on http://127.0.0.1:8089 (non-default port is kept)",
        "method": "PUT",
        "url": "http://127.0.0.1:8089/services/rest/record/v1/customer/eid:CUS-42",
        "account_id": "1234567",
        "credentials": CREDS,
        "timestamp": 1767226027,
        "nonce": "SimulatorNonce000001",
    },
]


def realm_for(account_id: str) -> str:
    """PROVIDERS 2.1: realm is the account id upper-case with underscores."""
    return account_id.replace("-", "_").upper()


def openssl_signature(key: str, message: str) -> str:
    digest = subprocess.run(
        ["openssl", "dgst", "-sha256", "-hmac", key, "-binary"],
        input=message.encode("utf-8"), capture_output=True, check=True,
    ).stdout
    return base64.b64encode(digest).decode("ascii")


def header_fields(header: str) -> dict:
    assert header.startswith("OAuth ")
    return {k: v for k, v in utils.parse_authorization_header(header)}


def run_case(case: dict) -> dict:
    creds = case["credentials"]
    realm = realm_for(case["account_id"])
    client = Client(
        creds["consumer_key"],
        client_secret=creds["consumer_secret"],
        resource_owner_key=creds["token_id"],
        resource_owner_secret=creds["token_secret"],
        signature_method=SIGNATURE_HMAC_SHA256,
        realm=realm,
        timestamp=str(case["timestamp"]),
        nonce=case["nonce"],
    )
    # No body: NetSuite signs no JSON body (and oauthlib would otherwise add oauth_body_hash).
    _, headers, _ = client.sign(case["url"], http_method=case["method"])
    header = headers["Authorization"]
    fields = header_fields(header)
    oauth_signature = urllib.parse.unquote(fields["oauth_signature"])

    # The base string, rebuilt with oauthlib's own RFC 5849 helpers from the signed header.
    query = urllib.parse.urlparse(case["url"]).query
    params = signature.collect_parameters(uri_query=query, headers={"Authorization": header})
    normalized = signature.normalize_parameters(params)
    base_uri = signature.base_string_uri(case["url"])
    base_string = signature.signature_base_string(case["method"], base_uri, normalized)

    # The same signature from oauthlib's signing function over that base string…
    key = utils.escape(creds["consumer_secret"]) + "&" + utils.escape(creds["token_secret"])
    assert signature.sign_hmac_sha256(base_string, creds["consumer_secret"], creds["token_secret"]) == oauth_signature
    # …and from OpenSSL, a third implementation of HMAC-SHA256.
    from_openssl = openssl_signature(key, base_string)
    if from_openssl != oauth_signature:
        sys.exit(f"{case['name']}: openssl {from_openssl} != oauthlib {oauth_signature}")

    return {
        "name": case["name"],
        "description": case["description"],
        "method": case["method"],
        "url": case["url"],
        "account_id": case["account_id"],
        "realm": realm,
        "consumer_key": creds["consumer_key"],
        "consumer_secret": creds["consumer_secret"],
        "token_id": creds["token_id"],
        "token_secret": creds["token_secret"],
        "timestamp": case["timestamp"],
        "nonce": case["nonce"],
        "expected": {
            "base_string_uri": base_uri,
            "normalized_parameters": normalized,
            "signature_base_string": base_string,
            "signing_key": key,
            "oauth_signature": oauth_signature,
            "oauthlib_authorization_header": header,
            "openssl_signature": from_openssl,
            "openssl_agrees": from_openssl == oauth_signature,
        },
    }


def main() -> None:
    openssl_version = subprocess.run(["openssl", "version"], capture_output=True, text=True, check=True).stdout.strip()
    results = [run_case(c) for c in CASES]
    document = {
        "generator": "scripts/tba-fixtures.py",
        "oauthlib_version": oauthlib.__version__,
        "openssl_version": openssl_version,
        "note": "Signatures by oauthlib.oauth1.Client (HMAC-SHA256), cross-checked with "
                "`openssl dgst -sha256 -hmac KEY -binary | base64`. Credentials are fake.",
        "cases": results,
    }
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(document, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    for r in results:
        print(f"{r['name']}: {r['expected']['oauth_signature']}  openssl agrees: {r['expected']['openssl_agrees']}")
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
