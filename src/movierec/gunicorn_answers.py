"""What gunicorn itself answers, made to look like the API (the packaged gunicorn.conf.py installs
this in every worker, whatever its worker class, through the ``post_worker_init`` hook).

- Requests gunicorn rejects before the app sees them (a request line it cannot parse: 400; one
  longer than ``limit_request_line``: 414; headers over ``limit_request_field_size`` or
  ``limit_request_fields``: 431) get the API's JSON error body and security headers instead of
  gunicorn's HTML page.
- No ``Server: gunicorn`` banner on any answer: it only tells a scanner what to try.

gunicorn has no setting for either: every worker writes its error pages with
``gunicorn.util.write_error`` and its responses through ``gunicorn.http.wsgi.Response``, so
those two are replaced (same signature, same behaviour otherwise) in the worker process.
"""

from __future__ import annotations

import json
import socket

from gunicorn import util
from gunicorn.http import wsgi

from movierec.api.headers import SECURITY_HEADERS


def write_json_error(sock: socket.socket, status_int: int, reason: str, mesg: str) -> None:
    """``gunicorn.util.write_error`` with the API's ``{"error": {"status", "message"}}`` body."""
    message = f"{reason}: {mesg}" if mesg else reason
    body = json.dumps({"error": {"status": status_int, "message": message}}).encode()
    head = [
        f"HTTP/1.1 {status_int} {reason}",
        "Connection: close",
        "Content-Type: application/json",
        f"Content-Length: {len(body)}",
        *(f"{name}: {value}" for name, value in SECURITY_HEADERS.items()),
    ]
    util.write_nonblock(sock, ("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + body)


class ResponseWithoutServerHeader(wsgi.Response):
    def default_headers(self) -> list[str]:
        return [line for line in super().default_headers() if not line.startswith("Server:")]


def install() -> None:
    util.write_error = write_json_error
    wsgi.Response = ResponseWithoutServerHeader
