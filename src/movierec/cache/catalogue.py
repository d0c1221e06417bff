"""The movie catalogue's version: ``{p}:catalogue:version``, new after every load, what
processes key their copies of movie details by."""

from __future__ import annotations

from movierec.cache.connection import RedisConnection
from movierec.cache.versions import new_version


class CatalogueVersion(RedisConnection):
    """The movie catalogue's version, made anew by every load."""

    def catalogue_version(self) -> str:
        """The movie catalogue's current version: what processes key their copies of movie
        details by. A new one is made by ``new_catalogue_version`` (after every load) or here,
        when there is none yet (or Redis lost it): every process then drops what it kept."""
        key = self.key("catalogue", "version")
        version = self.client.get(key)
        if version is None:
            self.client.set(key, new_version(), nx=True)  # the first of concurrent readers wins
            version = self.client.get(key)
        return version

    def new_catalogue_version(self) -> str:
        """Announce that the movie catalogue changed (a load committed)."""
        version = new_version()
        self.client.set(self.key("catalogue", "version"), version)
        return version
