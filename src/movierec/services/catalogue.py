"""Movie details kept in each process, for as long as the catalogue does not change.

Movies change only through a load (``movierec data load``), which then announces a new
catalogue version in Redis (``announce_new_catalogue``). A look-up checks that version, drops
everything kept when it changed, and reads the movies it does not hold yet from the database in
one query. Ids that are not in the catalogue are never kept, so made-up ids cannot fill the
memory; everything kept is a real movie, at most the whole catalogue.

The version is checked at most every ``CATALOGUE_CHECK_SECONDS``, the rule the published model
follows too: a new catalogue shows within a second of its announcement. A Redis GET on every
look-up was a fifth of the CPU of GET movie (issue 12). A caller that has just read the version
along with something else (a recommendations answer, a kept top-movies answer) passes it, and
it counts at once: answers kept under a version are made from that version's details.

Redis unreachable: the details come from the database and nothing kept is trusted afterwards
(a load may have happened meanwhile), so movie details never depend on Redis being up.
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
    """The process's copy of movie details, valid for one catalogue version (thread-safe)."""

    def __init__(
        self, db: Database, cache: CacheStore, check_seconds: float = CATALOGUE_CHECK_SECONDS
    ) -> None:
        self.db = db
        self.cache = cache
        self.check_seconds = check_seconds
        self._version: str | None = None
        self._checked_at = -math.inf  # time.monotonic() of the last version read
        self._movies: dict[int, MovieDetails] = {}
        self._redis_down = False  # logged once per outage, not on every request
        self._lock = threading.Lock()

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
                self._movies = {}
                self._version = version
            self._checked_at = now
        return version

    def movies_by_ids(
        self, movie_ids: Iterable[int], version: str | None = None
    ) -> dict[int, MovieDetails]:
        """The movies with the given ids, keyed by id (unknown ids are absent); the same answer
        as ``db.repositories.movies.movies_by_ids``. ``version``: the catalogue's version when
        the caller has just read it along with something else (it counts at once)."""
        ids = list(dict.fromkeys(int(m) for m in movie_ids))
        version = self._current_version(version)
        kept = self._movies
        found = {m: kept[m] for m in ids if m in kept}
        missing = [m for m in ids if m not in found]
        if missing:
            with self.db.session() as session:
                read = movies_repo.movies_by_ids(session, missing)
            found.update(read)
            with self._lock:
                # Kept only under the version read before the query: a load announced since
                # then may have changed these rows.
                if version is not None and version == self._version:
                    self._movies.update(read)
        return found

    def get_movie(self, movie_id: int) -> MovieDetails:
        """A movie, or ``NotFound``."""
        movie = self.movies_by_ids([movie_id]).get(movie_id)
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
