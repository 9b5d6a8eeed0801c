#!/usr/bin/env python3
"""A webhook receiver for alertgate's outbox tests that verifies signatures with the Standard
Webhooks reference library from PyPI (`pip install standardwebhooks`), not with alertgate's code.

    python3 standard_webhooks_receiver.py [--port 0]

Prints `listening <port>` once it accepts connections, and exits when its standard input closes
(so it never outlives the test that started it). Driven over HTTP:

    POST /_control/endpoints {"path": "/rca", "secret": "whsec_…"}   register a path; a null
                                                                     secret accepts unsigned
                                                                     requests (Slack-compatible)
    POST /_control/script    {"path": "/rca", "statuses": [503, 503], "default": 200}
                                                                     answer these statuses in
                                                                     order, then the default
    GET  /_control/received  {"verified": [...], "rejected": [...]}  what came in

Every other POST goes to a registered path: verified (or refused with 401 and recorded under
`rejected`), then answered with the next scripted status and recorded under `verified`.
"""

import argparse
import json
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from standardwebhooks import Webhook

LOCK = threading.Lock()
ENDPOINTS = {}  # path -> secret or None
SCRIPTS = {}  # path -> {"statuses": [...], "default": int}
VERIFIED = []
REJECTED = []


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        pass

    def reply(self, status, doc=None):
        body = json.dumps(doc if doc is not None else {}).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def read_body(self):
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def do_GET(self):
        if self.path.startswith("/_control/received"):
            with LOCK:
                self.reply(200, {"verified": VERIFIED, "rejected": REJECTED})
        else:
            self.reply(404, {"error": "not_found"})

    def do_POST(self):
        raw = self.read_body()
        if self.path.startswith("/_control/"):
            return self.control(json.loads(raw or b"{}"))
        with LOCK:
            known = self.path in ENDPOINTS
            secret = ENDPOINTS.get(self.path)
        if not known:
            with LOCK:
                REJECTED.append({"path": self.path, "reason": "unknown path"})
            return self.reply(404, {"error": "unknown path"})
        headers = {k.lower(): v for k, v in self.headers.items()}
        if secret is not None:
            try:
                payload = Webhook(secret).verify(raw, headers)
            except Exception as e:  # the library's verification error, or a malformed header
                with LOCK:
                    REJECTED.append({"path": self.path, "reason": repr(e)})
                return self.reply(401, {"error": "signature"})
        else:
            payload = json.loads(raw)
        with LOCK:
            script = SCRIPTS.setdefault(self.path, {"statuses": [], "default": 200})
            status = script["statuses"].pop(0) if script["statuses"] else script["default"]
            VERIFIED.append(
                {
                    "path": self.path,
                    "webhook_id": headers.get("webhook-id"),
                    "webhook_timestamp": headers.get("webhook-timestamp"),
                    "signed": secret is not None,
                    "status": status,
                    "payload": payload,
                }
            )
        self.reply(status, {"received": True})

    def control(self, doc):
        with LOCK:
            if self.path == "/_control/endpoints":
                ENDPOINTS[doc["path"]] = doc.get("secret")
            elif self.path == "/_control/script":
                SCRIPTS[doc["path"]] = {
                    "statuses": list(doc.get("statuses", [])),
                    "default": int(doc.get("default", 200)),
                }
            else:
                return self.reply(404, {"error": "unknown control"})
        self.reply(200, {"ok": True})


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    server = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    print(f"listening {server.server_address[1]}", flush=True)
    # Stop when the test that started us goes away.
    sys.stdin.read()
    server.shutdown()


if __name__ == "__main__":
    main()
