"""The movie catalogue's version: ``{p}:catalogue:version``, what processes key their copies of
movie details by.

A version is ``{load}`` or ``{load}/{edit}``: a load makes a new one (``new_catalogue_version``:
the ratings may have changed too, so the published lists are judged out of date), a change of
a movie through the API keeps the load part and makes a new edit part (``catalogue_edited``:
the details changed, the ratings did not, so the published lists stay as they are while every
process reads the movies again). ``load_part`` tells the two apart.
"""

from __future__ import annotations

from movierec.cache.connection import RedisConnection
from movierec.cache.versions import new_version

# The load part of the current version kept (or a new one when there is none), a new edit
# part put after it: atomically, so an edit never undoes a load announced meanwhile.
_CATALOGUE_EDITED = """
local current = redis.call('GET', KEYS[1])
local load = ARGV[1]
if current then load = string.match(current, '^[^/]+') end
local version = load .. '/' .. ARGV[2]
redis.call('SET', KEYS[1], version)
return version
"""


def load_part(version: str | None) -> str | None:
    """The part of a catalogue version that only a load changes."""
    return None if version is None else version.split("/", 1)[0]


class CatalogueVersion(RedisConnection):
    """The movie catalogue's version, made anew by every load and every change of a movie."""

    def catalogue_version(self) -> str:
        """The movie catalogue's current version: what processes key their copies of movie
        details by. A new one is made by ``new_catalogue_version`` (after every load),
        ``catalogue_edited`` (after a change through the API) or here, when there is none yet
        (or Redis lost it): every process then drops what it kept."""
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

    def catalogue_edited(self) -> str:
        """Announce that movies changed through the API (no rating did): a new version with
        the same load part."""
        return self._script(_CATALOGUE_EDITED)(
            keys=[self.key("catalogue", "version")], args=[new_version(), new_version()]
        )
