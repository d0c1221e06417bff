"""The Redis store of precomputed results: versioned, atomically published, cheap to read.

Key layout (every key starts with the configured prefix, ``movierec`` by default)::

    {p}:recs:current            -> version id of the recommendation set readers use
    {p}:recs:{version}          HASH  user_id -> "movie:score:stars:reasons,..." (best first;
                                      score = the ranker's, stars = the rating model's
                                      prediction, empty when unknown; reasons = the liked
                                      movies that explain it, "id;id", maybe empty, or "-id":
                                      the movie it follows, "because you just watched". Older
                                      values, "movie:score:stars,..." and "movie,movie,...",
                                      are still read)
    {p}:recs:{version}:model    STRING  the servable model (``recommender.serving``, .npz bytes):
                                        what the web tier folds new ratings into
    {p}:stats:current           -> version id of the statistics readers use
    {p}:stats:{version}:movies  HASH  movie_id -> "votes,average" (average empty below the limit)
    {p}:stats:{version}:top     LIST  movie ids, votes desc then average desc
    {p}:catalogue:version       -> version id of the movie catalogue: "{load}" after every load,
                                   "{load}/{edit}" after a change of movies through the API
    {p}:users:changed           HASH  user_id -> epoch seconds of the user's latest write that
                                      changes what they may be recommended (after its commit):
                                      a list from ratings read before it is out of date
    {p}:signals:missing         LIST  kinds ("recs", "stats") a web process found unpublished,
                                      for the scheduler's guard (``cache.signals``)

A publish writes a whole new version under keys that expire on their own (so a killed refresh
leaves nothing behind), then in one MULTI/EXEC makes them permanent, points ``current`` at them
and gives the previous version a short grace TTL. A reader therefore sees the old complete set or
the new complete set, never a mix, a gap or an empty set.

Jobs that must not overlap (two schedulers, or a scheduler and a manual ``movierec train``)
hold ``{p}:lock:{job}`` through ``hold_lock``: a short-lived Redis lock renewed while the job
runs, so a killed job frees it within a minute.

``CacheStore`` is the one face callers use; each part lives in the module of what it stores:
``connection`` (clients, key prefix, scripts), ``versions`` (versioned publishing), ``locks``,
``lists`` (every user's list), ``model_blob`` (the servable model), ``statistics``,
``catalogue`` (the catalogue's version) and ``changes`` (the users' change marks).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from movierec.cache.catalogue import CatalogueVersion
from movierec.cache.changes import ChangeMarks
from movierec.cache.connection import REDIS_UNAVAILABLE
from movierec.cache.lists import (
    NOTHING_PUBLISHED,
    CachedList,
    PublishedList,
    RecommendationLists,
    decode_list,
    encode_list,
)
from movierec.cache.locks import LOCK_TTL_SECONDS, JobLocks, LockBusy
from movierec.cache.model_blob import ModelBlob
from movierec.cache.statistics import MovieStat, MovieStatistics
from movierec.cache.versions import BUILD_TTL_SECONDS, GRACE_TTL_SECONDS, new_version

if TYPE_CHECKING:
    from flask import Flask

    from movierec.config import Settings

# The names callers imported from this module before it was split by what is stored.
__all__ = [
    "BUILD_TTL_SECONDS",
    "GRACE_TTL_SECONDS",
    "LOCK_TTL_SECONDS",
    "NOTHING_PUBLISHED",
    "REDIS_UNAVAILABLE",
    "CachedList",
    "CacheStore",
    "LockBusy",
    "MovieStat",
    "PublishedList",
    "decode_list",
    "encode_list",
    "new_version",
]


class CacheStore(
    JobLocks, RecommendationLists, ModelBlob, MovieStatistics, CatalogueVersion, ChangeMarks
):
    """The whole store behind one face; each part lives in the module of what it stores.
    Lazily connects, so that nothing touches Redis at import or app-creation time."""

    @classmethod
    def from_settings(cls, settings: Settings) -> CacheStore:
        return cls(settings.redis_url, settings.redis_key_prefix, settings.redis_chunk_size)

    def init_app(self, app: Flask) -> None:
        settings = app.config["MOVIEREC_SETTINGS"]
        self.url = settings.redis_url
        self.prefix = settings.redis_key_prefix
        self.chunk_size = settings.redis_chunk_size
        app.extensions["movierec.cache"] = self
