"""The Redis store of precomputed recommendations and movie statistics: ``CacheStore`` is its
face, each part lives in the module of what it stores (see ``store``)."""

from movierec.cache.statistics import MovieStat
from movierec.cache.store import CacheStore

__all__ = ["CacheStore", "MovieStat"]
