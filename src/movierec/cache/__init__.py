"""The Redis store of precomputed recommendations and movie statistics."""

from movierec.cache.store import CacheStore, MovieStat

__all__ = ["CacheStore", "MovieStat"]
