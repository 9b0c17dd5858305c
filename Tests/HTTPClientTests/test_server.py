#!/usr/bin/env python3
"""A small HTTP/1.1 server for the HTTPClient tests (Python 3 standard library only).

Usage: test_server.py PORT_FILE PARENT_PID
Binds a free port on 127.0.0.1, starts accepting, then writes the port to PORT_FILE.
Exits when its parent process is gone, so a crashed test run leaves nothing behind.

Routes (any method):
  /echo                 200; body = request body; X-Echo-Method, X-Echo-Custom (from X-Custom),
                        X-Echo-Length headers
  /status/N             status N; 204 and 201 carry Location: /things/42
  /redirect             302 to http://169.254.169.254/latest/meta-data/ (the cloud metadata service)
  /sleep/MS             sleeps MS milliseconds, then 200 "slept"
  /sleep/MS/KEY         counts the request under KEY (see /hits/KEY) as it arrives, then as above:
                        a test knows its request is in flight by reading the count, not by waiting
  /bytes/N              200 with N bytes, Content-Length set
  /chunked/N            200 with N bytes, chunked (no Content-Length)
  /partial              promises 1000 bytes, sends 10, closes the connection
  /empty                closes the connection without any reply
  /connections          200; body = number of TCP connections accepted so far
  /drop-counted/KEY     counts the request under KEY, then closes without any reply
  /hits/KEY             200; body = how many requests /drop-counted/KEY or /sleep/MS/KEY received
"""
import os
import socket
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

connection_count = 0
hits = {}
count_lock = threading.Lock()


class Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128

    def get_request(self):
        global connection_count
        accepted = super().get_request()
        with count_lock:
            connection_count += 1
        return accepted


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive

    def log_message(self, format, *args):
        pass

    def handle_any(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        path = self.path.split("?")[0]
        parts = path.strip("/").split("/")
        try:
            if parts[0] == "echo":
                self.send_response(200)
                self.send_header("X-Echo-Method", self.command)
                self.send_header("X-Echo-Custom", self.headers.get("X-Custom", ""))
                self.send_header("X-Echo-Length", str(len(body)))
                self.send_header("Content-Type", "application/octet-stream")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
            elif parts[0] == "redirect":
                self.send_response(302)
                self.send_header("Location", "http://169.254.169.254/latest/meta-data/")
                self.send_header("Content-Length", "0")
                self.end_headers()
            elif parts[0] == "status":
                code = int(parts[1])
                self.send_response(code)
                if code in (201, 204):
                    self.send_header("Location", "/things/42")
                if code == 204:
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                else:
                    payload = ("status %d" % code).encode()
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
            elif parts[0] == "sleep":
                if len(parts) > 2:
                    with count_lock:
                        hits[parts[2]] = hits.get(parts[2], 0) + 1
                time.sleep(int(parts[1]) / 1000.0)
                self.reply(b"slept")
            elif parts[0] == "bytes":
                self.reply(b"x" * int(parts[1]))
            elif parts[0] == "chunked":
                remaining = int(parts[1])
                self.send_response(200)
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                while remaining > 0:
                    size = min(remaining, 65536)
                    self.wfile.write(b"%x\r\n" % size + b"y" * size + b"\r\n")
                    remaining -= size
                self.wfile.write(b"0\r\n\r\n")
            elif parts[0] == "partial":
                self.send_response(200)
                self.send_header("Content-Length", "1000")
                self.end_headers()
                self.wfile.write(b"0123456789")
                self.wfile.flush()
                self.drop()
            elif parts[0] == "empty":
                self.drop()
            elif parts[0] == "drop-counted":
                with count_lock:
                    hits[parts[1]] = hits.get(parts[1], 0) + 1
                self.drop()
            elif parts[0] == "hits":
                with count_lock:
                    count = hits.get(parts[1], 0)
                self.reply(str(count).encode())
            elif parts[0] == "connections":
                with count_lock:
                    count = connection_count
                self.reply(str(count).encode())
            else:
                self.send_error(404)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    def reply(self, payload):
        self.send_response(200)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def drop(self):
        self.close_connection = True
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = handle_any


def watch_parent(parent_pid):
    while True:
        time.sleep(0.5)
        if os.getppid() != parent_pid:
            os._exit(0)


def main():
    port_file, parent_pid = sys.argv[1], int(sys.argv[2])
    server = Server(("127.0.0.1", 0), Handler)  # bound and listening from here on
    threading.Thread(target=watch_parent, args=(parent_pid,), daemon=True).start()
    temporary = port_file + ".tmp"
    with open(temporary, "w") as f:
        f.write(str(server.server_address[1]))
    os.rename(temporary, port_file)  # atomic: the reader never sees a half-written port
    server.serve_forever()


if __name__ == "__main__":
    main()
