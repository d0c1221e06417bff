"""Response headers on every answer (errors included): security headers, and CORS when configured.

- ``X-Content-Type-Options: nosniff``: a browser never reads a JSON answer as HTML or script.
- ``Content-Security-Policy``: JSON answers may load nothing and be framed by nobody
  (``default-src 'none'``). The Swagger UI pages (``/api/v1/docs``) get their own policy: their
  scripts, styles and images from this origin only, their one inline script allowed by its
  SHA-256 hash (computed from the page as served, so a new flask-openapi3-swagger template still
  works) and requests ("Try it out") to this origin only.
  The web page (``movierec.web``) may load its own script, style and icon and call this
  origin's API, and nothing else: no inline script, nothing from another origin.
- ``Referrer-Policy: no-referrer``: URLs (which hold user ids) do not leak to other sites.
- CORS is off unless ``CORS_ORIGINS`` lists origins (flask-cors answers the preflights); the key
  headers are allowed, cookies are not (keys travel in headers).

gunicorn's own answers (requests it rejects before the app) get the same security headers from
``movierec.gunicorn_answers``.
"""

from __future__ import annotations

import base64
import hashlib
import re

from flask import Flask, Response, request

from movierec.api.access import API_KEY_HEADER
from movierec.config import Settings

STRICT_CSP = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": STRICT_CSP,
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
}
# The HTML pages of the interactive docs (flask-openapi3-swagger's endpoints and our alias).
DOCS_ENDPOINTS = frozenset({"docs", "swagger.swagger", "swagger.oauth2-redirect"})
WEB_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
_INLINE_SCRIPT = re.compile(r"<script>(.*?)</script>", re.S)


def _sha256_source(source: str) -> str:
    digest = base64.b64encode(hashlib.sha256(source.encode()).digest()).decode()
    return f"'sha256-{digest}'"


def docs_csp(page: str) -> str:
    """The policy of a Swagger UI page: local assets, its own inline scripts by hash."""
    scripts = " ".join(_sha256_source(script) for script in _INLINE_SCRIPT.findall(page))
    return (
        f"default-src 'none'; script-src 'self' {scripts}; "
        # Swagger UI styles elements at run time; inline styles cannot run code.
        "style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; "
        "frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
    )


def add_security_headers(response: Response) -> Response:
    # One look at the headers already set, not a case-insensitive scan per header
    # (``setdefault`` four times was the dearest of the request hooks). keys():
    # iterating the headers gives (name, value) pairs.
    present = {name.lower() for name in response.headers.keys()}  # noqa: SIM118
    response.headers.extend(
        [(name, value) for name, value in SECURITY_HEADERS.items() if name.lower() not in present]
    )
    if request.endpoint in DOCS_ENDPOINTS and response.mimetype == "text/html":
        response.headers["Content-Security-Policy"] = docs_csp(response.get_data(as_text=True))
    elif request.blueprint == "web" and response.status_code < 400:
        response.headers["Content-Security-Policy"] = WEB_CSP
    return response


def init_headers(app: Flask, settings: Settings) -> None:
    app.after_request(add_security_headers)
    if settings.cors_origins:
        from flask_cors import CORS

        CORS(
            app,
            origins=list(settings.cors_origins),
            allow_headers=["Content-Type", "Authorization", API_KEY_HEADER],
            methods=["GET", "HEAD", "PUT", "POST", "PATCH", "DELETE", "OPTIONS"],
            supports_credentials=False,
            max_age=600,
        )
