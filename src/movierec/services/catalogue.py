"""Movie details kept in each process, for as long as the catalogue does not change.

Movies change through a load (``movierec data load``) and through the API (created, changed,
retired: ``services.catalogue_edits``); either then announces a new catalogue version in Redis
(``announce_new_catalogue``, ``CacheStore.catalogue_edited``). The first look-up under a
version reads the whole catalogue in one query (about 10k movies in ml-latest-small, 62k in
MovieLens 25M: about 30 MB per process, docs/scaling.md), and every look-up after it is a
dictionary read, an unknown id included: reading movies one query at a time as they were
first asked for had every worker query the database for most GET movie requests long after it
started, and made-up ids queried it every time.

The version is checked at most every ``CATALOGUE_CHECK_SECONDS``, the rule the published model
follows too: a new catalogue shows within a second of its announcement. A Redis GET on every
look-up was a fifth of the CPU of GET movie. A caller that has just read the version
along with something else (a recommendations answer, a kept top-movies answer) passes it, and
it counts at once: answers kept under a version are made from that version's details.

Redis unreachable: the details come from the database, a query per look-up, and nothing kept is
trusted afterwards (a load may have happened meanwhile), so movie details never depend on Redis
being up.

Lists (recommendations, top, similar and found movies) ask for movies in the catalogue:
``movies_by_ids`` leaves retired movies out, so a movie retired after the lists were published
is dropped from them at once (and replaced, as any movie gone). ``get_movie`` answers any movie.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Iterable

import redis

from movierec.cache import CacheStore
from movierec.db import Database
from movierec.db.repositories import movies as movies_repo
from movierec.db.repositories.movies import MovieDetails
from movierec.services.errors import NotFound

log = logging.getLogger(__name__)

# How long a process trusts the catalogue version it last read (as MODEL_CHECK_SECONDS).
CATALOGUE_CHECK_SECONDS = 1.0


class MovieCatalogue:
    """The process's copy of the movie catalogue, valid for one catalogue version
    (thread-safe)."""

    def __init__(
        self, db: Database, cache: CacheStore, check_seconds: float = CATALOGUE_CHECK_SECONDS
    ) -> None:
        self.db = db
        self.cache = cache
        self.check_seconds = check_seconds
        self._version: str | None = None
        self._checked_at = -math.inf  # time.monotonic() of the last version read
        # Every movie of ``_version``, once read (None: not read under it yet).
        self._movies: dict[int, MovieDetails] | None = None
        self._redis_down = False  # logged once per outage, not on every request
        self._lock = threading.Lock()
        self._reading = threading.Lock()  # one read of the whole catalogue at a time

    def _current_version(self, known: str | None) -> str | None:
        now = time.monotonic()
        recent = now - self._checked_at < self.check_seconds
        if known is None and self._version is not None and recent:
            return self._version
        try:
            version = known or self.cache.catalogue_version()
            self._redis_down = False
        except redis.RedisError as error:
            if not self._redis_down:
                log.warning("catalogue version unknown (%s): movies from the database", error)
            self._redis_down = True
            version = None
        with self._lock:
            if version is None or version != self._version:
                self._movies = None
                self._version = version
            self._checked_at = now
        return version

    def _all_movies(self, version: str) -> dict[int, MovieDetails]:
        """Every movie of the catalogue ``version``: kept, else read (and kept unless a newer
        version was announced while it was read: its rows may be older than that)."""
        with self._lock:
            if self._version == version and self._movies is not None:
                return self._movies
        with self._reading:  # concurrent first look-ups wait for one read
            with self._lock:
                if self._version == version and self._movies is not None:
                    return self._movies
            with self.db.session() as session:
                movies = movies_repo.all_movies(session)
            with self._lock:
                if self._version == version:
                    self._movies = movies
            return movies

    def forget(self) -> None:
        """Drop the movies kept (this process just changed one): the next look-up reads the
        catalogue again, whatever version it finds."""
        with self._lock:
            self._movies = None
            self._version = None
            self._checked_at = -math.inf

    def movies_by_ids(
        self, movie_ids: Iterable[int], version: str | None = None, *, retired: bool = False
    ) -> dict[int, MovieDetails]:
        """The movies with the given ids, keyed by id (unknown ids are absent, retired ones too
        unless ``retired``); the same answer as ``db.repositories.movies.movies_by_ids``.
        ``version``: the catalogue's version when the caller has just read it along with
        something else (it counts at once)."""
        version = self._current_version(version)
        if version is None:  # Redis down: no version to trust anything kept under
            with self.db.session() as session:
                found = movies_repo.movies_by_ids(session, movie_ids)
            return {m: movie for m, movie in found.items() if retired or not movie.retired}
        movies = self._all_movies(version)
        return {
            m: movies[m]
            for m in map(int, movie_ids)
            if m in movies and (retired or not movies[m].retired)
        }

    def get_movie(self, movie_id: int) -> MovieDetails:
        """A movie, or ``NotFound``."""
        movie = self.movies_by_ids([movie_id], retired=True).get(movie_id)
        if movie is None:
            # Another process may have created it a moment ago: its new version is announced,
            # but this process trusts the version it read for up to a second, and the page a
            # creation leads to asks for the movie at once. One Redis read settles it; the
            # catalogue is read again only if the version did change.
            with self._lock:
                self._checked_at = -math.inf
            movie = self.movies_by_ids([movie_id], retired=True).get(movie_id)
        if movie is None:
            raise NotFound(f"movie {movie_id} not found")
        return movie


def announce_new_catalogue(cache: CacheStore) -> str | None:
    """After a load committed: a new catalogue version, so every process drops the movie
    details it kept. Returns a warning to show when Redis cannot be reached (the load itself
    stands; it needs no Redis, e.g. when a database image is seeded)."""
    try:
        cache.new_catalogue_version()
    except redis.RedisError as error:
        return (
            f"could not announce the new catalogue in Redis ({error}): running web workers "
            "keep the movie details they cached until the next load (run it again once Redis "
            "is back; loading is idempotent) or until they restart"
        )
    return None
