"""Webhook receivers for the tests: HTTP servers on the loopback address that record what they are sent,
verify it with the reference Standard Webhooks library (never Chalkboard's code), and answer as told."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from standardwebhooks.webhooks import Webhook, WebhookVerificationError


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes
    path: str
    verified: dict[str, bool]
    status: int = 0  # 0 until it is answered


@dataclass(frozen=True)
class Answer:
    status: int = 200
    body: bytes = b"ok"
    delay: float = 0.0
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Receiver:
    """``answer(n)`` says how to answer the n-th request (0-based). ``secrets`` are the keys to verify with."""

    answer: Callable[[int], Answer] = lambda n: Answer()
    secrets: dict[str, str] = field(default_factory=dict)
    received: list[Received] = field(default_factory=list)
    port: int = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks/chalkboard?from=tests"

    def verified_with(self, name: str) -> list[bool]:
        return [request.verified[name] for request in self.received]

    def delivered(self) -> list[Received]:
        """The requests answered 2xx, in the order they arrived."""
        return [request for request in self.received if 200 <= request.status < 300]

    def event_ids(self) -> list[int]:
        """The event ids of the requests answered 2xx, in the order they arrived."""
        return [json.loads(request.body)["data"]["id"] for request in self.delivered()]


def _verify(secret: str, body: bytes, headers: dict[str, str]) -> bool:
    try:
        Webhook(secret).verify(body, headers)
    except WebhookVerificationError:
        return False
    return True


@contextmanager
def running(receiver: Receiver) -> Iterator[Receiver]:
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            headers = {key.lower(): value for key, value in self.headers.items()}
            verified = {name: _verify(secret, body, headers) for name, secret in receiver.secrets.items()}
            request = Received(headers, body, self.path, verified)
            with lock:
                number = len(receiver.received)
                receiver.received.append(request)
            answer = receiver.answer(number)
            request.status = answer.status
            if answer.delay:
                time.sleep(answer.delay)
            try:
                self.send_response(answer.status)
                for name, value in answer.headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(answer.body)))
                self.end_headers()
                self.wfile.write(answer.body)
            except OSError:
                pass  # the caller gave up (a timeout): nothing to answer

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    receiver.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
