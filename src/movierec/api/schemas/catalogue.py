"""The catalogue's writes: a new movie (PUT /movie), changes to one (PATCH /movie/<id>), and a
movie as its own page shows it (GET, and the answers of the writes)."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import BeforeValidator, ConfigDict, Field, field_validator, model_validator
from pydantic_core import PydanticCustomError

from movierec.api.schemas.common import RequestBody, example, no_bool
from movierec.api.schemas.movies import MovieOut
from movierec.data.movielens import GENRES, MAX_KEYWORD_LENGTH, MAX_KEYWORDS, normal_keyword

MAX_TITLE_LENGTH = 300
MAX_DESCRIPTION_LENGTH = 5000
MAX_COLLECTION_LENGTH = 200
# The first films were shot in the late 1880s; a release more than ten years ahead is no
# catalogue entry yet.
MIN_MOVIE_YEAR = 1870
YEARS_AHEAD = 10
# Fixed when the process starts, so the document states exactly the bound applied.
MAX_MOVIE_YEAR = datetime.now(UTC).year + YEARS_AHEAD

_GENRE_BY_LOWER_NAME = {genre.lower(): genre for genre in GENRES}
# What the fields may hold, as regular expressions valid in Python and JSON Schema (the
# document states them, so clients and schemathesis know which values are valid): no control
# characters (a description may have line breaks), and a title with something besides blanks.
ONE_LINE = r"^[^\x00-\x1f\x7f]*$"
LINES = r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f]*$"
TITLE = r"^[^\x00-\x1f\x7f]*[^\x00-\x20\x7f][^\x00-\x1f\x7f]*$"


def _any_case(name: str) -> str:
    return "".join(f"[{c.upper()}{c.lower()}]" if c.isalpha() else re.escape(c) for c in name)


_GENRE_NAME = "(?:" + "|".join(_any_case(genre) for genre in GENRES) + ")"
# "|"-separated names in any case, blanks around them; empty: no genres.
GENRES_PATTERN = rf"^ *(?:{_GENRE_NAME} *(?:\| *{_GENRE_NAME} *)*)?$"


def _text(value: str | None) -> str | None:
    """Stripped text; blank counts as none (the fields' patterns refuse control characters)."""
    if value is None:
        return None
    value = value.strip()
    return value or None


def canonical_genres(value: str | None) -> str | None:
    """``"sci-fi|Adventure"`` -> ``"Sci-Fi|Adventure"``: MovieLens genre names in the API's
    "|"-separated form, any case, each once, in the order given; unknown names are refused
    (naming them and the known ones). "" or null: no genres."""
    if value is None or not value.strip():
        return None
    names = [part.strip() for part in value.split("|")]
    unknown = [name for name in names if name.lower() not in _GENRE_BY_LOWER_NAME]
    if unknown:
        raise PydanticCustomError(
            "genre",
            "{reason}",
            {
                "reason": f"unknown genre{'s' if len(unknown) > 1 else ''} "
                f"{', '.join(map(repr, unknown))}: use {', '.join(GENRES)}, separated by '|'"
            },
        )
    return "|".join(dict.fromkeys(_GENRE_BY_LOWER_NAME[name.lower()] for name in names))


def canonical_keywords(value: list[str] | None) -> list[str] | None:
    """Keywords as stored: blanks collapsed, lower case, each once, in the order given."""
    if value is None:
        return None
    words = [normal_keyword(word) for word in value if word.strip()]
    return list(dict.fromkeys(words)) or None


Title = Annotated[
    str,
    Field(
        min_length=1,
        max_length=MAX_TITLE_LENGTH,
        pattern=TITLE,
        description='The title as people say it (leading articles in front: "The Matrix"); '
        "not blank, no control characters.",
        json_schema_extra=example("Star Wars: Episode X"),
    ),
]
Year = Annotated[
    Annotated[int, Field(ge=MIN_MOVIE_YEAR, le=MAX_MOVIE_YEAR)] | None,
    BeforeValidator(no_bool),
    Field(
        description=f"Year of release, {MIN_MOVIE_YEAR} to {YEARS_AHEAD} years ahead.",
        json_schema_extra=example(2026),
    ),
]
Genres = Annotated[
    str | None,
    Field(
        max_length=500,
        description='MovieLens genres as the API shows them, "|"-separated, any case: '
        f'{", ".join(GENRES)}. An unknown name is a 400; "" or null: none.',
        json_schema_extra={"example": "Sci-Fi|Adventure|Action", "pattern": GENRES_PATTERN},
    ),
]
Description = Annotated[
    str | None,
    Field(
        max_length=MAX_DESCRIPTION_LENGTH,
        pattern=LINES,
        description="What the movie is about (a line or a paragraph).",
        json_schema_extra=example("A new generation takes up the fight against the Empire."),
    ),
]
Collection = Annotated[
    str | None,
    Field(
        max_length=MAX_COLLECTION_LENGTH,
        pattern=ONE_LINE,
        description="The franchise or series it belongs to, as the other movies of it have "
        "it (TMDB's collection name).",
        json_schema_extra=example("Star Wars Collection"),
    ),
]
Keywords = Annotated[
    list[Annotated[str, Field(max_length=MAX_KEYWORD_LENGTH, pattern=ONE_LINE)]] | None,
    Field(
        max_length=MAX_KEYWORDS,
        description=f"Up to {MAX_KEYWORDS} keywords of up to {MAX_KEYWORD_LENGTH} characters "
        "(kept in lower case, each once).",
        json_schema_extra=example(["space opera", "jedi"]),
    ),
]


class _MovieFields(RequestBody):
    @field_validator("title", check_fields=False)
    @classmethod
    def _title(cls, value: str) -> str:
        return value.strip()

    @field_validator("genres", check_fields=False)
    @classmethod
    def _genres(cls, value: str | None) -> str | None:
        return canonical_genres(value)

    @field_validator("description", check_fields=False)
    @classmethod
    def _description(cls, value: str | None) -> str | None:
        return _text(value)

    @field_validator("collection", check_fields=False)
    @classmethod
    def _collection(cls, value: str | None) -> str | None:
        return _text(value)

    @field_validator("keywords", check_fields=False)
    @classmethod
    def _keywords(cls, value: list[str] | None) -> list[str] | None:
        return canonical_keywords(value)

    def values(self) -> dict[str, Any]:
        """The fields given (a PATCH changes only those), as the service takes them."""
        return self.model_dump(exclude_unset=True)


class NewMovieBody(_MovieFields):
    title: Title
    year: Year = None
    genres: Genres = None
    description: Description = None
    collection: Collection = None
    keywords: Keywords = None


class MovieChangesBody(_MovieFields):
    """Any of a movie's fields; null clears one (not the title). At least one field."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"minProperties": 1})

    title: Title = None  # type: ignore[assignment]  # optional, but never null
    year: Year = None
    genres: Genres = None
    description: Description = None
    collection: Collection = None
    keywords: Keywords = None

    @model_validator(mode="after")
    def _something(self) -> MovieChangesBody:
        if not self.model_fields_set:
            raise PydanticCustomError(
                "nothing_to_change",
                "name at least one field to change: title, year, genres, description, "
                "collection or keywords",
            )
        return self


class MovieDetailOut(MovieOut):
    """A movie with everything the catalogue knows of it."""

    collection: str | None = Field(description="The franchise or series it belongs to.")
    keywords: list[str] | None = Field(description="Keywords (tags, TMDB keywords, the API's).")
    retired: bool = Field(
        description="Retired (DELETE): never recommended, in top or similar movies again; its "
        "ratings are kept."
    )
    new: bool | None = Field(
        description="Fewer than CONTENT_WARM_RATINGS ratings at the last refresh, or created "
        "since (placed by its content); null before the first refresh."
    )
