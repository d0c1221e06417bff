"""The ranker protocol: what every model that decides each user's list provides.

A rating model (Surprise's SVD) answers "how many stars would this user give this movie"; ranked
by that estimate, every user gets the same few rare movies with a handful of perfect ratings.
Models trained on *who rated what* answer "what will this user watch next", which is what a
top-N list is for (Cremonesi, Koren & Turrin 2010). Every ranker follows one small protocol,
so the refresh, the evaluation and the web tier never branch on the algorithm:

- ``fit(interactions)`` learns from an ``InteractionMatrix`` (users x movies);
- ``score_users(first, stop)`` scores user rows ``first..stop-1`` against every movie (higher
  is better; only the order within a row means anything);
- ``fold_in(item_rows, ratings)`` scores every movie for a user the model was not trained on
  (or whose ratings changed), from that user's rated movie columns alone, given in the order
  the user rated them (oldest first: time-aware rankers read the latest from the end);
- ``item_vectors()`` gives each movie's vector in the model's space (similar movies), or None;
- ``place_items(item_ids, vectors)``, after ``fit``, makes the ranker serve exactly the movies
  ``item_ids`` (ascending): movies it was fitted on but not among them leave (retired ones:
  their ratings trained the user side, they are never scored), movies it was not fitted on
  join (no ratings yet), and ``vectors`` (rows of ``item_ids``), when given, become the movie
  vectors: the content model's placement (``recommender.content``), so a new movie is scored
  in every list and in fold-in exactly as the others are. Without ``vectors`` a joining movie
  gets the ranker's "nothing known" (a zero vector, the lowest popularity score);
- ``params()`` are the parameters it was built with (recorded with each refresh);
- ``state()`` is what fold-in needs (the movie side only) as named numpy arrays, and
  ``restore(state)`` rebuilds a ranker from it that can fold in but has no user rows: the web
  tier loads it from Redis with each published version and never trains.


Rows and columns are those of the interaction matrix it was fitted on (ascending raw ids).

This module holds the protocol, its errors and the helpers the rankers share. Each ranker
family is a module of its own (``recommender.puresvd``, ``als``, ``ease``, ``sequential``,
``rating_ranker``, ``popularity``, and ``blended``: a ranker's scores blended with the
predicted stars); ``recommender.ranker_registry`` builds them by name.
"""

from __future__ import annotations

import logging
from typing import Any, ClassVar, Protocol, runtime_checkable

import numpy as np

from movierec.recommender.data import InteractionMatrix, positions

log = logging.getLogger(__name__)


class RankerError(ValueError):
    """A ranker cannot be built or fitted as asked (unknown name, too large a catalogue...)."""


@runtime_checkable
class Ranker(Protocol):
    name: ClassVar[str]
    user_ids: np.ndarray
    item_ids: np.ndarray

    def fit(self, interactions: InteractionMatrix) -> Ranker: ...

    def score_users(self, first: int, stop: int) -> np.ndarray: ...

    def fold_in(self, item_rows: np.ndarray, ratings: np.ndarray) -> np.ndarray: ...

    def item_vectors(self) -> np.ndarray | None: ...

    def place_items(self, item_ids: np.ndarray, vectors: np.ndarray | None) -> None: ...

    def params(self) -> dict[str, Any]: ...

    def state(self) -> dict[str, np.ndarray]: ...


class FoldInUnavailable(RankerError):
    """This ranker cannot be served for fold-in (its state does not fit the cache)."""


def as_float32(array: np.ndarray) -> np.ndarray:
    """``array`` as contiguous float32: how every ranker keeps its published factors."""
    return np.ascontiguousarray(array, dtype=np.float32)


def reindexed(
    old_ids: np.ndarray, new_ids: np.ndarray, values: np.ndarray, fill: float
) -> np.ndarray:
    """Rows of ``values`` (one per ``old_ids``) for ``new_ids``; ``fill`` for ids not in
    ``old_ids``."""
    rows = positions(old_ids, new_ids)
    out = np.full((len(new_ids), *values.shape[1:]), fill, dtype=values.dtype)
    out[rows >= 0] = values[rows[rows >= 0]]
    return out


def placed_vectors(
    old_ids: np.ndarray, new_ids: np.ndarray, current: np.ndarray, vectors: np.ndarray | None
) -> np.ndarray:
    """A factor ranker's movie vectors after ``place_items``: ``vectors`` (one row per
    ``new_ids``, placed by the content model) when given, else ``current`` moved to the new
    ids, zeros for movies it has not seen."""
    if vectors is None:
        return reindexed(old_ids, new_ids, current, 0.0)
    if vectors.shape != (len(new_ids), current.shape[1]):
        raise RankerError(
            f"placed vectors of shape {vectors.shape} for {len(new_ids)} movies x "
            f"{current.shape[1]} factors"
        )
    return np.ascontiguousarray(vectors, dtype=current.dtype)
