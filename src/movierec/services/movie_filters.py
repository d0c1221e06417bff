"""Which movies a list may show (``?genres=``, ``?year_min=``, ``?year_max=`` on the
recommendations and top movies), and reading the top list as deep as a filter needs.

A filter is applied before the limit: the answer holds ``limit`` matching movies while the
catalogue has them. The matching movies' ids come from one query (``movie_ids_matching``); the
ranked lists are then walked with membership in that set as the predicate, so no movie row is
read for the movies skipped: the cached list, then the top list read deeper and deeper, or, when
few movies match, those movies put in top order from their statistics (``top_list_reads``).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TypeVar

from sqlalchemy import Connection
from sqlalchemy.orm import Session

from movierec.cache import CacheStore
from movierec.data.movielens import GENRES
from movierec.db.repositories.movies import movie_ids_matching
from movierec.recommender.statistics import top_order_key

_GENRE_BY_LOWER_NAME = {genre.lower(): genre for genre in GENRES}


def _any_case(name: str) -> str:
    return "".join(f"[{c.upper()}{c.lower()}]" if c.isalpha() else c for c in name)


# What ``parse_genres`` accepts, as a regular expression valid in Python and JSON Schema (the
# OpenAPI document states it, so clients and schemathesis know which values are valid): comma-
# separated names in any case, spaces around them and empty items allowed.
_NAME = "(?:" + "|".join(_any_case(genre) for genre in GENRES) + ")"
GENRES_PATTERN = f"^ *(?:{_NAME} *)?(?:, *(?:{_NAME} *)?)*$"
_GENRES_RE = re.compile(GENRES_PATTERN)


def parse_genres(text: str | None) -> frozenset[str]:
    """``"comedy, Drama"`` -> ``{"Comedy", "Drama"}``: comma-separated MovieLens genre names,
    matched case-insensitively; empty items are ignored. Raises ``ValueError`` naming the
    unknown ones and listing the known ones."""
    if text is None:
        return frozenset()
    names = [part.strip() for part in text.split(",") if part.strip()]
    # re.search, as JSON Schema validators apply a pattern: what the document calls valid is.
    if not _GENRES_RE.search(text):
        unknown = [name for name in names if name.lower() not in _GENRE_BY_LOWER_NAME]
        what = (
            f"unknown genre{'s' if len(unknown) > 1 else ''} {', '.join(map(repr, unknown))}"
            if unknown
            else "must be genre names separated by commas"
        )
        raise ValueError(f"{what}; known genres: {', '.join(GENRES)}")
    return frozenset(_GENRE_BY_LOWER_NAME[name.lower()] for name in names)


@dataclass(frozen=True)
class MovieFilter:
    """Movies of any of ``genres`` (none: any genre), released from ``year_min`` to
    ``year_max`` inclusive (a bound set excludes movies of unknown year)."""

    genres: frozenset[str] = frozenset()
    year_min: int | None = None
    year_max: int | None = None

    def __post_init__(self) -> None:
        if None not in (self.year_min, self.year_max) and self.year_min > self.year_max:  # type: ignore[operator]
            raise ValueError(f"year_min {self.year_min} is after year_max {self.year_max}")

    def __bool__(self) -> bool:
        """Whether it filters anything out at all."""
        return bool(self.genres) or self.year_min is not None or self.year_max is not None

    def matching_ids(self, session: Session | Connection) -> set[int]:
        """The ids of every movie of the catalogue that passes (one query)."""
        return movie_ids_matching(
            session, genres=self.genres, year_min=self.year_min, year_max=self.year_max
        )


NO_FILTER = MovieFilter()

# A filter matching at most this many movies has them put in top order from their statistics
# (one read of that many values) instead of being looked for down the top list, which would
# have to be read about (catalogue / matching) times deeper than the answer: 87 film noirs
# among ml-latest-small's 9,742 movies, a few hundred from a year.
RANK_MATCHING_UP_TO = 1000


def top_list_reads(
    cache: CacheStore, depth: int, matching: set[int] | None = None
) -> Iterator[list[int]]:
    """The top list for a pick that needs ``depth`` entries when nothing is filtered out: in
    ever longer reads (``read_deeper``), or, for a few ``matching`` movies, just those in top
    order (at once). Nothing when no statistics are published."""
    if matching is None or len(matching) > RANK_MATCHING_UP_TO:
        yield from read_deeper(cache.top_movie_ids, depth)
        return
    stats = cache.movie_stats(sorted(matching))
    if stats is not None:
        ranked = sorted(
            stats.values(), key=lambda s: top_order_key(s.movie_id, s.votes, s.avg_rating)
        )
        yield [stat.movie_id for stat in ranked]


T = TypeVar("T")


def read_deeper(read: Callable[[int, int], list[T] | None], depth: int) -> Iterator[list[T]]:
    """The top list from its start, in consecutive reads ``read(start, stop)``: the first
    ``depth`` entries, then twice as many each time, until the list ends; stops at once when
    nothing is published (``read`` answers None). The caller stops when it has enough: without
    a filter the first read is deep enough, a filter keeping a share ``s`` of the movies needs
    about log2(1/s) more."""
    start, depth = 0, max(depth, 1)
    while True:
        chunk = read(start, start + depth)
        if chunk is None:
            return
        yield chunk
        if len(chunk) < depth:
            return
        start, depth = start + depth, depth * 2
