"""A real HTTP server on 127.0.0.1 for the tests, scripted per path.

Each path has a list of responses served in order (the last one repeats), so a
test can say "500, then 429 with Retry-After, then the dump". Every request is
recorded with its headers.

Faults a reply can inject: a delay before the body, a body cut short of its
Content-Length, a connection reset part-way (TCP RST), a body dripped one byte at
a time, and basic auth required (401 otherwise). Redirects are plain replies with
a ``Location`` header.
"""

from __future__ import annotations

import base64
import socket
import struct
import sys
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Reply:
    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0  # seconds before the body starts
    truncate_to: int | None = None  # send only this many bytes of the body, then close
    etag: str | None = None  # answer 304 when If-None-Match matches
    reset_after: int | None = None  # send this many bytes of the body, then reset the connection
    drip: float = 0.0  # seconds between single bytes of the body
    auth: tuple[str, str] | None = None  # basic auth required: 401 without these credentials


def _basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


@dataclass
class Seen:
    path: str
    headers: dict[str, str]


class _QuietServer(ThreadingHTTPServer):
    """A client that hangs up on a keep-alive connection (as requests does after an error
    reply whose body it did not read) is normal here, not a traceback on stderr."""

    def handle_error(self, request, client_address) -> None:
        if not isinstance(sys.exc_info()[1], ConnectionResetError | BrokenPipeError):
            super().handle_error(request, client_address)


class ScriptedServer:
    def __init__(self) -> None:
        self.routes: dict[str, list[Reply]] = {}
        self.requests: list[Seen] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args) -> None:  # keep test output clean
                pass

            def do_GET(self) -> None:
                server.requests.append(Seen(self.path, dict(self.headers)))
                replies = server.routes.get(self.path)
                if not replies:
                    self.send_response(404)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                reply = replies.pop(0) if len(replies) > 1 else replies[0]
                if reply.auth and self.headers.get("Authorization") != _basic(*reply.auth):
                    self.send_response(401)
                    self.send_header("WWW-Authenticate", 'Basic realm="dumps"')
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                if reply.etag and self.headers.get("If-None-Match") == reply.etag:
                    self.send_response(304)
                    self.send_header("ETag", reply.etag)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                if reply.delay:
                    time.sleep(reply.delay)
                self.send_response(reply.status)
                headers = {"Content-Length": str(len(reply.body)), **reply.headers}
                if reply.etag:
                    headers["ETag"] = reply.etag
                for key, value in headers.items():
                    self.send_header(key, value)
                self.end_headers()
                body = reply.body if reply.truncate_to is None else reply.body[: reply.truncate_to]
                if reply.reset_after is not None:
                    body = reply.body[: reply.reset_after]
                try:
                    if reply.drip:
                        for i in range(len(body)):
                            self.wfile.write(body[i : i + 1])
                            self.wfile.flush()
                            time.sleep(reply.drip)
                    else:
                        self.wfile.write(body)
                        self.wfile.flush()
                except (BrokenPipeError, ConnectionResetError):
                    self.close_connection = True
                    return
                if reply.reset_after is not None:
                    # SO_LINGER 0: close() sends RST instead of FIN, as a crashed peer or proxy does
                    self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                    self.connection.close()
                    self.close_connection = True
                    return
                if reply.truncate_to is not None:
                    self.close_connection = True

        self.httpd = _QuietServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def base(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host}:{port}"

    def route(self, path: str, *replies: Reply) -> str:
        self.routes[path] = list(replies)
        return self.base + path

    def hits(self, path: str) -> list[Seen]:
        return [r for r in self.requests if r.path == path]

    def __enter__(self) -> ScriptedServer:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
