"""The body of every error the API answers."""

from __future__ import annotations

from pydantic import BaseModel, Field

from movierec.api.schemas.common import example


class ErrorDetail(BaseModel):
    status: int = Field(json_schema_extra=example(400))
    message: str = Field(
        json_schema_extra=example("rating: Input should be less than or equal to 5")
    )


class ErrorOut(BaseModel):
    """Every error the API answers."""

    error: ErrorDetail
