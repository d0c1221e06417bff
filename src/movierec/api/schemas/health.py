"""The health probes' answers."""

from __future__ import annotations

from pydantic import BaseModel, Field

from movierec.api.schemas.common import example
from movierec.api.schemas.errors import ErrorOut


class LiveOut(BaseModel):
    status: str = Field(json_schema_extra=example("ok"))


class ReadyOut(BaseModel):
    status: str = Field(json_schema_extra=example("ready"))
    checks: dict[str, str] = Field(
        json_schema_extra=example({"database": "ok", "redis": "ok", "statistics": "ok"})
    )


class NotReadyOut(ErrorOut):
    checks: dict[str, str] = Field(
        json_schema_extra=example(
            {"database": "ok", "redis": "ok", "statistics": "missing: none published in Redis"}
        )
    )
