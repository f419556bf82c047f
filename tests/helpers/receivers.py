"""Local receivers of notifications: an HTTP server that keeps what is posted to it."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any


class Received:
    """What the receivers were sent, by kind ("webhook", "mail")."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, bytes]] = []
        self.lock = threading.Lock()

    def add(self, kind: str, content: bytes) -> None:
        with self.lock:
            self.calls.append((kind, content))

    def of(self, kind: str) -> list[bytes]:
        with self.lock:
            return [content for found, content in self.calls if found == kind]


def start_receiver(port: int, received: Received) -> HTTPServer:
    """An HTTP server on ``port`` keeping each POST's body as a "webhook"."""

    class Hook(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", 0))
            received.add("webhook", self.rfile.read(length))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = HTTPServer(("127.0.0.1", port), Hook)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server
