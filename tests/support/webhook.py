"""A local HTTP receiver for alarm webhooks (127.0.0.1, a free port, one thread)."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit


class WebhookReceiver:
    """Records every POST as ``(path, query, json_body)``; ``/refuse`` answers errcode 93000."""

    def __init__(self) -> None:
        self.posts: list[tuple[str, dict[str, list[str]], Any]] = []
        self._changed = threading.Condition()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                n = int(self.headers.get("Content-Length", "0"))
                body = json.loads(self.rfile.read(n))
                u = urlsplit(self.path)
                refuse = u.path == "/refuse"
                answer = (
                    {"errcode": 93000, "errmsg": "invalid webhook url"}
                    if refuse
                    else {
                        "errcode": 0,
                        "errmsg": "ok",
                    }
                )
                data = json.dumps(answer).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
                with receiver._changed:
                    receiver.posts.append((u.path, parse_qs(u.query), body))
                    receiver._changed.notify_all()

            def log_message(self, *args: object) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def url(self, path: str = "/hook", query: str = "") -> str:
        return f"http://127.0.0.1:{self.port}{path}" + (f"?{query}" if query else "")

    def __enter__(self) -> WebhookReceiver:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    def wait_for(
        self, pred: Any, timeout: float = 30
    ) -> list[tuple[str, dict[str, list[str]], Any]]:
        """Block until ``pred(posts)`` is true; return the posts."""
        with self._changed:
            if not self._changed.wait_for(lambda: pred(self.posts), timeout):
                raise TimeoutError(f"webhook condition not met; got {len(self.posts)} posts")
            return list(self.posts)
