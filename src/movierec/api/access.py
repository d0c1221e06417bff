"""Access control: API keys on writes and on the admin endpoints (docs/api.md, "Access control").

Who may do what follows from the method and the path alone (``required_access``), so a new write
endpoint is protected without anyone remembering to, and the OpenAPI document declares exactly
what is enforced (``MovieRecAPI.generate_spec_json`` uses the same function).

- Reads (GET, HEAD) are open: they change nothing, and the pages and apps that show
  recommendations to people cannot keep a key secret anyway. Put the service on a private
  network, or behind a proxy that authenticates, if even reads must be private.
- Writes (PUT, POST, PATCH, DELETE) need a key of ``API_KEYS`` or ``ADMIN_API_KEYS``.
- Everything under ``/api/v1/admin/`` (it shows lock holders' hosts and PIDs and raw error
  texts) needs a key of ``ADMIN_API_KEYS``; with keys configured but no admin key, nobody. So
  does retiring a movie (``DELETE /api/v1/movie/<id>``): it takes the movie away from every
  user, where other writes change one user's data or add to the catalogue.
- No key configured at all: the open demo mode, every endpoint open (and a warning at start-up).

A key is sent as ``X-API-Key: <key>`` or ``Authorization: Bearer <key>``. Without one the answer
is 401, with a key that is not accepted there 403. Keys are compared as SHA-256 digests with
``hmac.compare_digest`` against every configured key, so the time taken says nothing about how
much of a key was right, nor which key (or how long a key) matched.
"""

from __future__ import annotations

import enum
import hashlib
import hmac
import logging
import re
from dataclasses import dataclass

from flask import Flask, Response, current_app, request
from werkzeug.datastructures import Headers

from movierec.api.errors import error_response
from movierec.config import OPEN_ACCESS_WARNING, Settings

log = logging.getLogger(__name__)

EXTENSION = "movierec.access"
ADMIN_PREFIX = "/api/v1/admin/"
WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
API_KEY_HEADER = "X-API-Key"

# The OpenAPI security schemes: either header carries the same key.
SECURITY_SCHEMES = {
    "ApiKeyHeader": {
        "type": "apiKey",
        "in": "header",
        "name": API_KEY_HEADER,
        "description": "A key of API_KEYS (writes) or ADMIN_API_KEYS (writes and admin).",
    },
    "BearerKey": {
        "type": "http",
        "scheme": "bearer",
        "description": "The same key as `Authorization: Bearer <key>`.",
    },
}
# An operation's requirement: one of the schemes (a list of alternatives in OpenAPI).
KEY_REQUIRED = [{name: []} for name in SECURITY_SCHEMES]


class Access(enum.Enum):
    OPEN = "open"
    WRITE = "write"
    ADMIN = "admin"


# Writes that need an admin key outside ADMIN_PREFIX: (method, path template), the route's rule
# ("<int:movie_id>") or the document's ("{movie_id}").
ADMIN_WRITES = re.compile(r"^DELETE /api/v1/movie/(?:<int:movie_id>|\{movie_id\})$")


def required_access(method: str, path: str) -> Access:
    """What a request needs: ``path`` is the route's rule or the document's path template."""
    if path.startswith(ADMIN_PREFIX) or ADMIN_WRITES.match(f"{method.upper()} {path}"):
        return Access.ADMIN
    if method.upper() in WRITE_METHODS:
        return Access.WRITE
    return Access.OPEN


def _digest(key: str) -> bytes:
    return hashlib.sha256(key.encode()).digest()


@dataclass(frozen=True)
class ApiKeys:
    """The configured keys, as digests."""

    write: tuple[bytes, ...]
    admin: tuple[bytes, ...]

    @classmethod
    def from_settings(cls, settings: Settings) -> ApiKeys:
        admin = tuple(_digest(key) for key in settings.admin_api_keys)
        # An admin key may also write.
        return cls(write=tuple(_digest(key) for key in settings.api_keys) + admin, admin=admin)

    @property
    def open(self) -> bool:
        return not self.write

    def accepts(self, key: str, access: Access) -> bool:
        if access is Access.OPEN:
            return True
        candidates = self.admin if access is Access.ADMIN else self.write
        presented = _digest(key)
        matched = False
        for candidate in candidates:  # no early exit: every key is compared, every time
            matched |= hmac.compare_digest(presented, candidate)
        return matched


def presented_key(headers: Headers) -> str | None:
    """The key of ``X-API-Key``, else of ``Authorization: Bearer``; None when neither has one."""
    key = headers.get(API_KEY_HEADER, "").strip()
    if key:
        return key
    scheme, _, credentials = headers.get("Authorization", "").strip().partition(" ")
    if scheme.lower() == "bearer" and credentials.strip():
        return credentials.strip()
    return None


def check_api_key() -> tuple[Response, int] | None:
    """Before every request: 401/403 unless the request may do what it asks.

    Unknown routes and wrong methods are left to routing (404/405); CORS preflights (OPTIONS)
    carry no credentials by design and change nothing.
    """
    rule = request.url_rule
    if rule is None or request.method == "OPTIONS":
        return None
    needed = required_access(request.method, rule.rule)
    keys: ApiKeys = current_app.extensions[EXTENSION]
    if needed is Access.OPEN or keys.open:
        return None
    kind = "an admin API key" if needed is Access.ADMIN else "an API key"
    key = presented_key(request.headers)
    if key is None:
        response, status = error_response(
            401, f"{kind} is required: send it as {API_KEY_HEADER} or Authorization: Bearer"
        )
        response.headers["WWW-Authenticate"] = 'Bearer realm="movierec"'
        return response, status
    if not keys.accepts(key, needed):
        return error_response(403, f"the API key is not accepted here: this needs {kind}")
    return None


def init_access(app: Flask, settings: Settings) -> None:
    app.extensions[EXTENSION] = ApiKeys.from_settings(settings)
    if settings.open_access:
        log.warning(OPEN_ACCESS_WARNING)
    elif not settings.admin_api_keys:
        log.info("ADMIN_API_KEYS is not set: the admin endpoints answer 401/403 to everyone")
    app.before_request(check_api_key)
