"""Flask's JSON (``jsonify``, dicts returned by views, the OpenAPI document) written by orjson,
byte for byte what Flask's standard provider writes.

orjson is several times faster than the standard library's encoder, but writes a few things
differently: floats below 1e-4 (``1e-7`` instead of ``1e-07``, ``0.000015`` instead of
``1.5e-05``), non-ASCII text and DEL unescaped, NaN and Infinity as ``null``, and it refuses
what the standard encoder converts (non-string keys, integers beyond 64 bits). Each of these
either makes orjson fail or shows in its output (an exponent of one digit, ``0.0000``, a byte
above 126, a ``null`` that may stand for a NaN), so the output is checked and, when it may
differ, the standard encoder writes it instead: the answer never changes, only its cost.
"""

from __future__ import annotations

import math
import re
from typing import Any

import orjson
from flask.json.provider import DefaultJSONProvider

# What orjson writes differently from ``json.dumps``, for floats: Python switches to an exponent
# below 1e-4 and always writes it with two digits or more.
_FLOAT_MAY_DIFFER = re.compile(rb"\b0\.0000|\de-\d(?!\d)")
# Dates, dataclasses and subclasses go to Flask's ``default`` (HTTP dates, ``asdict``), as
# with the standard encoder.
_OPTIONS = orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS
# ``response()`` asks for these unless the app is in debug mode (then it indents).
_COMPACT = {"separators": (",", ":")}


def _plain_and_finite(value: Any) -> bool:
    """Only JSON's own types and finite floats (so a ``null`` in orjson's output is a None)."""
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, dict):
        return all(_plain_and_finite(v) for v in value.values())
    if isinstance(value, list | tuple):
        return all(_plain_and_finite(v) for v in value)
    return value is None or isinstance(value, str | int)


def _same_as_standard(encoded: bytes, obj: Any) -> bool:
    return (
        encoded.isascii()
        and b"\x7f" not in encoded
        and not _FLOAT_MAY_DIFFER.search(encoded)
        and (b"null" not in encoded or _plain_and_finite(obj))
    )


class OrjsonProvider(DefaultJSONProvider):
    def dumps(self, obj: Any, **kwargs: Any) -> str:
        if kwargs == _COMPACT and self.ensure_ascii and not self.sort_keys:
            try:
                encoded = orjson.dumps(obj, default=self.default, option=_OPTIONS)
            except TypeError:  # orjson.JSONEncodeError: let the standard encoder convert it
                pass
            else:
                if _same_as_standard(encoded, obj):
                    return encoded.decode()
        return super().dumps(obj, **kwargs)
