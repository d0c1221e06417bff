"""Users: the body that creates one and the answers about one."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, BeforeValidator, Field

from movierec.api.schemas.common import ApiModel, RequestBody, example, no_bool


class NewUserBody(RequestBody):
    gender: str | None = Field(
        None,
        min_length=1,
        max_length=16,
        pattern=r"^[A-Za-z][A-Za-z _-]*$",
        description='Free text of ASCII letters, spaces, "_" or "-", e.g. "M" or "F".',
        json_schema_extra=example("M"),
    )
    year_of_birth: Annotated[int | None, BeforeValidator(no_bool)] = Field(
        None,
        ge=1870,
        le=2100,
        description='A year; a numeric string such as "1982" is accepted too.',
        json_schema_extra=example(1982),
    )


class UserOut(ApiModel):
    gender: str | None
    user_id: int
    year_of_birth: int | None


class UserDeletedOut(BaseModel):
    deleted: bool = Field(True, description="Always true: what the ids name is gone.")
    msg: str = Field(
        "deleted",
        deprecated=True,
        description='Always "deleted". Deprecated: read `deleted`; `msg` goes in the next '
        "version of the API.",
        json_schema_extra=example("deleted"),
    )
    user_id: int
