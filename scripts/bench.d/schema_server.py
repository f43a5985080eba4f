#!/usr/bin/env python3
"""A stand-in igord that publishes one fixed schema document, for timing the client against
a schema igord does not have (the synthetic 300-command one). It answers GET /api/ping and
GET /api/schema (ETag = the fingerprint, 304 on a matching If-None-Match, Cache-Control
max-age) with the same headers igord sends; everything else is 404. It binds loopback only.

  schema_server.py DOC.json PORT_FILE [--ttl SECONDS]

Writes the port it listens on to PORT_FILE once it is ready, then serves until killed.
"""
import argparse
import json
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("doc")
    ap.add_argument("port_file")
    ap.add_argument("--ttl", type=int, default=86400)
    a = ap.parse_args()
    body = open(a.doc, "rb").read()
    doc = json.loads(body)
    fp = doc["fingerprint"]
    level = doc["api_level"]
    ping = json.dumps({"server_version": "0.0.0-synthetic", "api_level": level,
                       "min_api_level": "1.0", "schema": True}).encode()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):
            pass

        def send(self, status, payload=b"", extra=()):
            self.send_response(status)
            self.send_header("Igor-Api-Level", level)
            self.send_header("Igor-Schema-Fingerprint", fp)
            for k, v in extra:
                self.send_header(k, v)
            if status != 304:
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            if status != 304:
                self.wfile.write(payload)

        def do_GET(self):
            if self.path == "/api/ping":
                return self.send(200, ping)
            if self.path == "/api/schema":
                tags = [t.strip().removeprefix("W/").strip('"')
                        for t in (self.headers.get("If-None-Match") or "").split(",")]
                extra = [("ETag", f'"{fp}"'), ("Cache-Control", f"max-age={a.ttl}")]
                if fp in tags or "*" in tags:
                    return self.send(304, extra=extra)
                return self.send(200, body, extra)
            err = {"error": {"code": "not_found", "message": f"no such endpoint: GET {self.path}"}}
            self.send(404, json.dumps(err).encode())

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    with open(a.port_file, "w") as f:
        f.write(str(server.server_address[1]))
    server.serve_forever()


if __name__ == "__main__":
    main()
