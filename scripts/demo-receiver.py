#!/usr/bin/env python3
"""The billing system's webhook endpoint in the demo (Python 3 standard library only).

Usage: demo-receiver.py PORT_FILE LOG_FILE PARENT_PID
Listens on 127.0.0.1 (a free port, written to PORT_FILE), checks every POST's Standard
Webhooks signature against LEDGERSYNC_WEBHOOK_SECRET the way docs/security.md tells a
receiver to (HMAC-SHA256 over "webhook-id.webhook-timestamp.body", base64, any of the
space-separated v1 signatures, compared in constant time, timestamp within 5 minutes),
answers 200 or 401, and appends one JSON line per delivery to LOG_FILE. Exits when its
parent is gone.
"""
import base64
import hashlib
import hmac
import json
import os
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

SECRET = os.environ["LEDGERSYNC_WEBHOOK_SECRET"]
# A whsec_ secret is the base64 of the key; any other secret is used as its UTF-8 bytes.
KEY = base64.b64decode(SECRET[len("whsec_"):]) if SECRET.startswith("whsec_") else SECRET.encode()
TOLERANCE_SECONDS = 5 * 60
log_lock = threading.Lock()


def verify(message_id, timestamp, signatures, body):
    if not message_id or not timestamp or not signatures or not timestamp.isdigit():
        return False
    if abs(time.time() - int(timestamp)) > TOLERANCE_SECONDS:
        return False
    signed = message_id.encode() + b"." + timestamp.encode() + b"." + body
    expected = base64.b64encode(hmac.new(KEY, signed, hashlib.sha256).digest())
    return any(hmac.compare_digest(expected, entry[3:].encode())
               for entry in signatures.split(" ") if entry.startswith("v1,"))


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, format, *args):
        pass

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        valid = verify(self.headers.get("webhook-id"), self.headers.get("webhook-timestamp"),
                       self.headers.get("webhook-signature"), body)
        entry = {"event": self.headers.get("X-Ledgersync-Event"),
                 "unique_key": self.headers.get("webhook-id"), "signature_valid": valid}
        if valid:
            event = json.loads(body)
            detail = event.get("accounting_provider_customer_error") or event.get("provider_error") or {}
            entry.update(billing_object=detail.get("billing_object_id"),
                         error_code=(detail.get("provider_error") or {}).get("error_code"))
        with log_lock, open(sys.argv[2], "a") as log:
            log.write(json.dumps(entry) + "\n")
        self.send_response(200 if valid else 401)
        self.send_header("Content-Length", "0")
        self.end_headers()


def watch_parent(parent_pid):
    while True:
        time.sleep(0.5)
        if os.getppid() != parent_pid:
            os._exit(0)


def main():
    port_file, parent_pid = sys.argv[1], int(sys.argv[3])
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=watch_parent, args=(parent_pid,), daemon=True).start()
    with open(port_file + ".tmp", "w") as f:
        f.write(str(server.server_address[1]))
    os.rename(port_file + ".tmp", port_file)
    server.serve_forever()


if __name__ == "__main__":
    main()
