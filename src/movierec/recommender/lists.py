"""Building the list a user is shown from the ranked lists: shared by the web tier (cached list
plus what the user rated since) and the offline evaluation, so that what is measured is what is
served."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence


def merge_recommendations(
    ranked: Sequence[int],
    backfill: Iterable[int],
    exclude: set[int],
    limit: int,
    keep: Callable[[int], bool] | None = None,
) -> list[int]:
    """The first ``limit`` distinct movies of ``ranked`` then ``backfill`` (the top movies),
    skipping ``exclude`` (what the user rated, watched or dismissed) and, given ``keep``, every
    movie it says no to (a request's genre or year filter)."""
    chosen: list[int] = []
    seen = set(exclude)
    for source in (ranked, backfill):
        for movie_id in source:
            if len(chosen) == limit:
                return chosen
            if movie_id not in seen and (keep is None or keep(movie_id)):
                seen.add(movie_id)
                chosen.append(movie_id)
    return chosen
