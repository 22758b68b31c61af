"""A local HTTP endpoint that collects the callbacks a bank pushes during a conformance test.

It answers every POST ``200 {"status": "applied"}`` and keeps ``(path, headers, body)``. The
server (the standard library's threading HTTP server, on 127.0.0.1 and a free port) starts the
first time :attr:`CallbackInbox.url` is read, so a provider that never reads it costs nothing
and has the callback checks skipped.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

#: Largest callback body the inbox reads (as cardcash's /callbacks endpoint: 64 KiB).
MAX_BODY = 64 * 1024


@dataclass(frozen=True)
class Delivery:
    """One callback as it arrived: the path posted to, its headers and body."""

    path: str
    headers: dict[str, str]
    body: bytes


class CallbackInbox:
    """Collects POSTed callbacks; ``url`` contains ``{bank}`` like cardcash's own."""

    def __init__(self) -> None:
        self._server: ThreadingHTTPServer | None = None
        self._lock = threading.Lock()
        self._deliveries: list[Delivery] = []

    @property
    def used(self) -> bool:
        """True once the URL was handed out (the provider was pointed here)."""
        return self._server is not None

    @property
    def url(self) -> str:
        """``http://127.0.0.1:<port>/callbacks/{bank}`` (the server starts on first read)."""
        if self._server is None:
            self._server = self._start()
        port = self._server.server_address[1]
        return f"http://127.0.0.1:{port}/callbacks/{{bank}}"

    @property
    def deliveries(self) -> list[Delivery]:
        """What arrived so far, in order."""
        with self._lock:
            return list(self._deliveries)

    def close(self) -> None:
        """Stop the server (if it was started)."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    def _start(self) -> ThreadingHTTPServer:
        inbox = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - the name http.server calls
                length = int(self.headers.get("Content-Length") or 0)
                if length > MAX_BODY:
                    self.send_response(413)
                    self.end_headers()
                    return
                body = self.rfile.read(length)
                with inbox._lock:
                    inbox._deliveries.append(Delivery(self.path, dict(self.headers.items()), body))
                answer = b'{"status": "applied"}'
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, format: str, *args: object) -> None:  # noqa: A002
                """Quiet: a test's output is not the place for an access log."""

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        server.daemon_threads = True
        threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02},
                         name="callback-inbox", daemon=True).start()
        return server


__all__ = ["MAX_BODY", "CallbackInbox", "Delivery"]
