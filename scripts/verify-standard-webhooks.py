#!/usr/bin/env python3
"""Verifies Ledgersync's webhook deliveries with the `standardwebhooks` package from PyPI
(https://github.com/standard-webhooks/standard-webhooks), not with Ledgersync's own code.

Usage: verify-standard-webhooks.py < deliveries.json
stdin:  [{"secret": "whsec_...", "body": "...", "headers": {"webhook-id": ..., ...}}, ...]
stdout: [{"valid": true} | {"valid": false, "error": "..."}, ...], one per delivery, in order.

The tests (Tests/APITests/WebhookSignatureTests.swift) run it with the interpreter of the
gitignored venv scripts/test.sh makes (.venv-webhooks, LEDGERSYNC_WEBHOOK_VERIFIER_PYTHON).
"""
import json
import sys

from standardwebhooks import Webhook


def verify(delivery):
    try:
        Webhook(delivery["secret"]).verify(delivery["body"], delivery["headers"])
        return {"valid": True}
    except Exception as error:  # the library's refusal, or a malformed secret
        return {"valid": False, "error": f"{type(error).__name__}: {error}"}


print(json.dumps([verify(d) for d in json.load(sys.stdin)]))
