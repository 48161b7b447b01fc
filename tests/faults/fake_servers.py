"""Misbehaving HTTP servers on 127.0.0.1 for the fault tests: each connection gets a scripted answer."""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import time
from collections.abc import Callable


def http_answer(status: int, body: bytes, headers: dict[str, str] | None = None) -> bytes:
    head = [f"HTTP/1.1 {status} X", f"Content-Length: {len(body)}", "Connection: close"]
    head += [f"{k}: {v}" for k, v in (headers or {}).items()]
    return ("\r\n".join(head) + "\r\n\r\n").encode() + body


def completion(content) -> bytes:
    """A 200 chat completion whose message content is ``content`` (any JSON value)."""
    body = json.dumps({"choices": [{"message": {"role": "assistant", "content": content}}]}).encode()
    return http_answer(200, body, {"Content-Type": "application/json"})


class FakeServer:
    """Serves every connection with ``respond(connection)`` after reading the request.

    Attributes:
        url: the ``/v1`` base URL.
        requests: how many requests arrived.
    """

    def __init__(self, respond: Callable[[socket.socket], None]):
        self.respond = respond
        self.requests = 0
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}/v1"
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                connection, _ = self.sock.accept()
            except OSError:  # closed by stop()
                return
            threading.Thread(target=self._handle, args=(connection,), daemon=True).start()

    def _handle(self, connection: socket.socket) -> None:
        with connection:
            data = b""
            while b"\r\n\r\n" not in data:
                data += connection.recv(65536)
            head, _, body = data.partition(b"\r\n\r\n")
            length = next(
                (
                    int(line.split(b":")[1])
                    for line in head.split(b"\r\n")
                    if line.lower().startswith(b"content-length")
                ),
                0,
            )
            while len(body) < length:
                body += connection.recv(65536)
            self.requests += 1
            with contextlib.suppress(OSError):  # the client gave up (what a deadline does)
                self.respond(connection)

    def stop(self) -> None:
        self.sock.close()


def sends(answer: bytes) -> Callable[[socket.socket], None]:
    return lambda connection: connection.sendall(answer)


def drips(answer: bytes, every_s: float) -> Callable[[socket.socket], None]:
    """Sends the headers at once, then the body one byte every ``every_s`` seconds."""

    def respond(connection: socket.socket) -> None:
        head, _, body = answer.partition(b"\r\n\r\n")
        connection.sendall(head + b"\r\n\r\n")
        for byte in body:
            time.sleep(every_s)
            connection.sendall(bytes([byte]))

    return respond


def refused_url() -> str:
    """A ``/v1`` URL on a port nothing listens on."""
    with socket.create_server(("127.0.0.1", 0)) as sock:
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/v1"
