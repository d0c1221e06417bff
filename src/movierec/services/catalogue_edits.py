"""The living catalogue: create, change and retire movies.

- A new movie takes the next id after the highest ever used (never one a movie had before);
  a title and year that a movie already has (any case, retired movies included) is a
  ``Conflict`` naming that movie.
- A change sets the fields given; a re-load of MovieLens files leaves the movie as it is now
  (``edited_at``, db/bulk.py).
- Retiring keeps the movie and its ratings (history, and the models' user side) but takes it
  out of everything recommended: lists, top movies, similar movies (``MovieCatalogue`` leaves
  retired movies out of lists at once; the next refresh leaves them out of the models).

Every write announces a new catalogue version (same load part: the published lists stay valid,
``cache.catalogue``) so every process reads the movies again within a second, this one at once.
The version is announced before the commit too: with Redis down the write is refused (503) and
rolled back, rather than left for processes to ignore until the next load. The announcement
after the commit is what processes that read the catalogue meanwhile go by.

A new movie reaches the lists at the next refresh, placed by its content; its similar movies
come from its content at once (``services.movies.similar_movies``).
"""

from __future__ import annotations

import logging
from typing import Any

import redis

from movierec.cache import CacheStore
from movierec.db import Database
from movierec.db.repositories import movies as movies_repo
from movierec.db.repositories.movies import MovieDetails
from movierec.services.catalogue import MovieCatalogue
from movierec.services.changes import change_time
from movierec.services.errors import Conflict, NotFound

log = logging.getLogger(__name__)


def _duplicate(movie_id: int, title: str, year: int | None) -> Conflict:
    when = f"year {year}" if year is not None else "no year"
    return Conflict(
        f"movie {movie_id} already has the title {title!r} and {when}: change that one "
        f"(PATCH /api/v1/movie/{movie_id}) or give this one another title or year"
    )


def _announced(cache: CacheStore, catalogue: MovieCatalogue) -> None:
    """After the commit: a new catalogue version for every process, this one's copy dropped."""
    catalogue.forget()
    try:
        cache.catalogue_edited()
    except redis.RedisError as error:  # the version announced before the commit stands
        log.error("movie catalogue changed but not announced again: %s", error)


def create_movie(
    db: Database, cache: CacheStore, catalogue: MovieCatalogue, values: dict[str, Any]
) -> MovieDetails:
    """A new movie with ``values`` (title required; year, genres, description, collection,
    keywords); ``Conflict`` when a movie has its title and year."""
    title, year = values["title"], values.get("year")
    with db.session() as session:
        movies_repo.lock_titles(session, title)
        existing = movies_repo.same_title_and_year(session, title, year)
        if existing is not None:
            raise _duplicate(existing, title, year)
        movie = movies_repo.create_movie(session, values, change_time())
        cache.catalogue_edited()
    _announced(cache, catalogue)
    log.info("movie %d created: %r (%s)", movie.movie_id, movie.title, movie.year)
    return movie


def change_movie(
    db: Database,
    cache: CacheStore,
    catalogue: MovieCatalogue,
    movie_id: int,
    values: dict[str, Any],
) -> MovieDetails:
    """Set the given fields of a movie; ``NotFound``, or ``Conflict`` when the new title and
    year are another movie's."""
    with db.session() as session:
        current = movies_repo.get_movie(session, movie_id)
        if current is None:
            raise NotFound(f"movie {movie_id} not found")
        title = values.get("title", current.title)
        year = values.get("year", current.year)
        if "title" in values or "year" in values:
            movies_repo.lock_titles(session, title)
            existing = movies_repo.same_title_and_year(session, title, year, other_than=movie_id)
            if existing is not None:
                raise _duplicate(existing, title, year)
        movie = movies_repo.update_movie(session, movie_id, values, change_time())
        assert movie is not None
        cache.catalogue_edited()
    _announced(cache, catalogue)
    log.info("movie %d changed: %s", movie_id, ", ".join(sorted(values)))
    return movie


def retire_movie(
    db: Database, cache: CacheStore, catalogue: MovieCatalogue, movie_id: int
) -> MovieDetails:
    """Retire a movie (again: no change); ``NotFound`` for an unknown one."""
    with db.session() as session:
        movie = movies_repo.retire_movie(session, movie_id, change_time())
        if movie is None:
            raise NotFound(f"movie {movie_id} not found")
        cache.catalogue_edited()
    _announced(cache, catalogue)
    try:  # the published top list, until the next statistics refresh leaves it out
        cache.leave_out_of_top(movie_id)
    except redis.RedisError as error:
        log.warning("movie %d retired; still in the top list until the next refresh: %s",
                    movie_id, error)  # fmt: skip
    log.info("movie %d retired: %r", movie_id, movie.title)
    return movie
