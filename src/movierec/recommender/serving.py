"""What the web tier needs of a trained model, published with each recommendations version.

The refresh trains; the web tier never does. With each version it publishes a ``ServingModel``:
the ranker's movie side (``Ranker.state``), the rating model's movie side (global mean, movie
biases and factors), the movie ids and how many users had rated each movie (what its vector
rests on), as one ``.npz`` blob (numpy arrays only: loading it runs
no code). Each gunicorn worker loads it once per version and then, for a user whose ratings
changed since the lists were computed (or a user the refresh did not know):

- ``recommend`` folds the user in (the ranker's own fold-in) and ranks every movie they have
  not rated, with the predicted stars of the rating model's fold-in beside each;
- ``similar`` gives the movies closest to one movie in the ranker's movie space (cosine, shrunk
  by how many users rated each candidate: ``recommender.similarity``); a movie the model does
  not hold (created since the refresh) is placed by its content with the published content
  mapping (``recommender.content.ContentMap``), so it has similar movies at once;
- ``is_new`` tells the movies that had fewer than the content model's ``warm_ratings``
  ratings at the refresh (or none: created since), which answers mark as new;
- ``explain`` picks, for recommended movies, the user's liked movies most similar to each;
  ``followed``, for a sequential ranker, the latest rating a movie follows where that is why.
"""

from __future__ import annotations

import functools
import io
import json
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from movierec.recommender.als import ALSRanker
from movierec.recommender.blended import BlendedRanker
from movierec.recommender.content import ContentMap
from movierec.recommender.content_features import MovieContent
from movierec.recommender.data import positions
from movierec.recommender.explanations import explanation_vectors
from movierec.recommender.just_watched import JustWatched
from movierec.recommender.popularity import PopularityRanker
from movierec.recommender.puresvd import PureSVDRanker
from movierec.recommender.ranking import FoldInUnavailable, Ranker
from movierec.recommender.rating_ranker import RatingModelRanker
from movierec.recommender.scoring import top_k_columns
from movierec.recommender.sequential import SequentialRanker
from movierec.recommender.similarity import nearest_movies, nearest_to, support_weights
from movierec.recommender.training import RATING_SCALE, FactorModel, fold_in_user

FORMAT = 1
_RESTORE = {
    PureSVDRanker.name: PureSVDRanker,
    SequentialRanker.name: SequentialRanker,
    ALSRanker.name: ALSRanker,
    PopularityRanker.name: PopularityRanker,
}


class ServingModelError(ValueError):
    """A published model blob cannot be read (another format, truncated...)."""


@dataclass
class ServingModel:
    ranker_name: str
    ranker_params: dict[str, Any]
    rating: FactorModel  # the movie side only: no user rows
    rating_regularization: float
    ratings_read_at: float  # epoch seconds: ratings newer than this are not in the model
    ranker: Ranker | None  # None: this ranker cannot fold in (EASE)
    # The movie catalogue's version when the ratings were read: while it is still current, no
    # load has changed anyone's ratings since, and the lists were published finished (the
    # dismissed movies left out, the reasons attached). None: a model from before that.
    catalogue_version: str | None = None
    # Users who had rated each movie when the model was trained (int32, the order of
    # ``item_ids``): what each vector rests on, so it stays right however the statistics move
    # on until the next model. None: a blob published before the counts were.
    item_votes: np.ndarray | None = field(default=None, repr=False)
    # The content model's mapping (None: content off, or a ranker without a movie space) and
    # the number of votes below which a movie is new (0: unknown, a model from before it).
    content_map: ContentMap | None = field(default=None, repr=False)
    warm_ratings: int = 0
    _unit_vectors: np.ndarray | None = field(default=None, repr=False)
    _explanation_vectors: np.ndarray | None = field(default=None, repr=False)
    _support: tuple[float, np.ndarray] | None = field(default=None, repr=False)

    @property
    def item_ids(self) -> np.ndarray:
        return self.rating.item_ids

    @property
    def can_fold_in(self) -> bool:
        return self.ranker is not None

    # -- building and publishing --------------------------------------------------------------

    @classmethod
    def of(
        cls,
        ranker: Ranker,
        rating_model: FactorModel,
        rating_regularization: float,
        ratings_read_at: float,
        catalogue_version: str | None = None,
        item_votes: np.ndarray | None = None,
        content_map: ContentMap | None = None,
        warm_ratings: int = 0,
    ) -> ServingModel:
        """The servable part of a trained ranker and rating model (same movie ids), with the
        number of users who rated each of those movies and the content model's mapping."""
        movie_side = FactorModel(
            global_mean=rating_model.global_mean,
            user_ids=np.empty(0, dtype=np.int64),
            item_ids=rating_model.item_ids,
            user_bias=np.empty(0),
            item_bias=rating_model.item_bias,
            user_factors=np.empty((0, rating_model.item_factors.shape[1])),
            item_factors=rating_model.item_factors,
        )
        try:
            ranker.state()
            served: Ranker | None = ranker
        except FoldInUnavailable:
            served = None
        return cls(
            ranker.name, ranker.params(), movie_side, rating_regularization, ratings_read_at,
            served, catalogue_version, _votes(item_votes),
            None if served is None else content_map, warm_ratings,
        )  # fmt: skip

    def to_bytes(self) -> bytes:
        arrays: dict[str, np.ndarray] = {
            "item_ids": self.rating.item_ids,
            "rating.item_bias": self.rating.item_bias.astype(np.float32),
            "rating.item_factors": self.rating.item_factors.astype(np.float32),
        }
        if self.item_votes is not None:
            arrays["item_votes"] = self.item_votes
        if self.content_map is not None:
            for name, value in self.content_map.state().items():
                arrays[f"content.{name}"] = value
        if self.ranker is not None:
            for name, value in self.ranker.state().items():
                arrays[f"ranker.{name}"] = np.asarray(value)
        meta = {
            "format": FORMAT,
            "ranker": self.ranker_name,
            "ranker_params": self.ranker_params,
            "can_fold_in": self.ranker is not None,
            "global_mean": self.rating.global_mean,
            "rating_regularization": self.rating_regularization,
            "ratings_read_at": self.ratings_read_at,
            "catalogue_version": self.catalogue_version,
            "content": None if self.content_map is None else self.content_map.meta(),
            "warm_ratings": self.warm_ratings,
        }
        arrays["meta"] = np.array(json.dumps(meta, default=float))
        buffer = io.BytesIO()
        np.savez(buffer, **arrays)
        return buffer.getvalue()

    @classmethod
    def from_bytes(cls, blob: bytes) -> ServingModel:
        try:
            with np.load(io.BytesIO(blob), allow_pickle=False) as archive:
                arrays = {name: archive[name] for name in archive.files}
            meta = json.loads(str(arrays.pop("meta")))
        except (OSError, ValueError, KeyError) as error:
            raise ServingModelError(f"unreadable model blob: {error}") from None
        if meta.get("format") != FORMAT:
            raise ServingModelError(f"model blob format {meta.get('format')}, not {FORMAT}")
        item_ids = arrays["item_ids"]
        # float32 as published: a fold-in reads the whole matrix once per request, so half the
        # bytes is most of its cost (the stars it gives are clipped and shown to 3 decimals).
        factors = arrays["rating.item_factors"]
        rating = FactorModel(
            global_mean=float(meta["global_mean"]),
            user_ids=np.empty(0, dtype=np.int64),
            item_ids=item_ids,
            user_bias=np.empty(0),
            item_bias=arrays["rating.item_bias"].astype(np.float64),
            user_factors=np.empty((0, factors.shape[1])),
            item_factors=factors,
        )
        regularization = float(meta["rating_regularization"])
        state = {k.removeprefix("ranker."): v for k, v in arrays.items() if k.startswith("ranker.")}
        ranker = None
        if meta["can_fold_in"]:
            ranker = _restore(meta["ranker"], dict(meta["ranker_params"]), state, rating,
                              regularization, item_ids)  # fmt: skip
        return cls(
            meta["ranker"], meta["ranker_params"], rating, regularization,
            float(meta["ratings_read_at"]), ranker, meta.get("catalogue_version"),
            _votes(arrays.get("item_votes")), _content_map(meta, arrays),
            int(meta.get("warm_ratings") or 0),
        )  # fmt: skip

    # -- answering --------------------------------------------------------------------------

    def columns(self, movie_ids: np.ndarray) -> np.ndarray:
        """Column of each movie id, -1 for movies the model has not seen."""
        return positions(self.item_ids, np.asarray(movie_ids, dtype=np.int64))

    def recommend(
        self,
        rated_ids: np.ndarray,
        ratings: np.ndarray,
        exclude_ids: np.ndarray,
        n: int,
        only: np.ndarray | None = None,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Fold a user in from their ratings and rank the movies not in ``exclude_ids`` (and,
        when given, in ``only``): the ``n`` best movie ids, the ranker's scores and the
        predicted stars (clipped)."""
        if self.ranker is None:
            raise FoldInUnavailable(f"the {self.ranker_name} ranker cannot fold in")
        columns = self.columns(rated_ids)
        known = columns >= 0
        scores = np.asarray(
            self.ranker.fold_in(columns[known], np.asarray(ratings)[known]), dtype=np.float64
        )[None, :]
        excluded = self.columns(exclude_ids)
        scores[0, excluded[excluded >= 0]] = -np.inf
        if only is not None:  # a filter: everything else out
            allowed = np.zeros(len(self.item_ids), dtype=bool)
            kept = self.columns(only)
            allowed[kept[kept >= 0]] = True
            scores[0, ~allowed] = -np.inf
        picked = top_k_columns(scores, n)[0]
        picked = picked[np.isfinite(scores[0, picked])]
        stars = self.predict(columns[known], np.asarray(ratings)[known], picked)
        return self.item_ids[picked], scores[0, picked], stars

    def predict(
        self, rated_columns: np.ndarray, ratings: np.ndarray, columns: np.ndarray
    ) -> np.ndarray:
        """The rating model's stars for ``columns`` of a user folded in from their ratings."""
        bias, factors = fold_in_user(
            self.rating, rated_columns, ratings, self.rating_regularization
        )
        model = self.rating
        stars = model.global_mean + bias + model.item_bias[columns]
        return np.clip(stars + model.item_factors[columns] @ factors, *RATING_SCALE)  # few rows

    def unit_vectors(self) -> np.ndarray | None:
        """The ranker's movie vectors scaled to length 1 (float32; zero rows stay zero), what
        similarity and explanations compare; None for a ranker without a movie space."""
        if self._unit_vectors is None and self.ranker is not None:
            vectors = self.ranker.item_vectors()
            if vectors is None:
                return None
            norms = np.linalg.norm(vectors, axis=1, keepdims=True)
            self._unit_vectors = np.divide(
                vectors, norms, out=np.zeros_like(vectors), where=norms > 0
            ).astype(np.float32)
        return self._unit_vectors

    def explanation_vectors(self) -> np.ndarray | None:
        """The unit vectors on the grid reasons are chosen by (``recommender.explanations``):
        the same for this read path and for the refresh, so both pick the same reasons."""
        if self._explanation_vectors is None:
            unit = self.unit_vectors()
            if unit is None:
                return None
            self._explanation_vectors = explanation_vectors(unit)
        return self._explanation_vectors

    def similar(
        self,
        movie_id: int,
        n: int,
        prior_votes: float = 0.0,
        content: MovieContent | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """The ``n`` movies closest to ``movie_id`` in the ranker's movie space (best first, the
        movie itself left out): by cosine, each shrunk by ``votes / (votes + prior_votes)`` of
        the candidate (``recommender.similarity``; plain cosine for a prior of 0 or a model
        published without the counts). A movie the model has not seen is placed by its
        ``content`` with the published mapping; empty when it has no place."""
        unit = self.unit_vectors()
        if unit is None:
            return np.empty(0, dtype=np.int64), np.empty(0)
        column = int(self.columns(np.array([movie_id]))[0])
        weights = self._support_weights(prior_votes)
        if column >= 0:
            if not unit[column].any():
                return np.empty(0, dtype=np.int64), np.empty(0)
            picked, scores = nearest_movies(unit, column, n, weights)
            return self.item_ids[picked], scores
        vector = self.content_vector(content)
        if vector is None:
            return np.empty(0, dtype=np.int64), np.empty(0)
        picked, scores = nearest_to(unit, vector, n, weights)
        return self.item_ids[picked], scores

    def content_vector(self, content: MovieContent | None) -> np.ndarray | None:
        """A movie's unit vector in the ranker's movie space from its content alone (one
        movie's ``content``), with the published mapping; None without one (or content)."""
        if self.content_map is None or content is None or not len(content):
            return None
        vector = self.content_map.embed(content)[0]
        norm = float(np.linalg.norm(vector))
        return (vector / norm).astype(np.float32) if norm > 0 else None

    def is_new(self, movie_ids: np.ndarray) -> np.ndarray:
        """Whether each movie is new: fewer than ``warm_ratings`` votes at the refresh, or not
        in the model at all (created since)."""
        columns = self.columns(movie_ids)
        new = columns < 0
        if self.item_votes is not None and self.warm_ratings:
            new[~new] = self.item_votes[columns[~new]] < self.warm_ratings
        return new

    def votes(self, movie_ids: np.ndarray) -> np.ndarray | None:
        """How many users had rated each movie when the model was trained (-1 for a movie it
        has not seen); None for a model published without the counts."""
        if self.item_votes is None:
            return None
        columns = self.columns(movie_ids)
        return np.where(columns >= 0, self.item_votes[columns.clip(min=0)], -1).astype(np.int64)

    def _support_weights(self, prior_votes: float) -> np.ndarray | None:
        if self.item_votes is None or prior_votes <= 0:
            return None
        if self._support is None or self._support[0] != prior_votes:
            self._support = (prior_votes, support_weights(self.item_votes, prior_votes))
        return self._support[1]

    def explain(
        self, liked_ids: np.ndarray, recommended_ids: np.ndarray, per_movie: int = 2
    ) -> dict[int, list[int]]:
        """For each recommended movie, up to ``per_movie`` of ``liked_ids`` most similar to it
        (positive cosine only), most similar first; equal cosines to the smaller movie id."""
        unit = self.explanation_vectors()
        if unit is None or len(liked_ids) == 0 or len(recommended_ids) == 0:
            return {}
        liked = np.asarray(liked_ids, dtype=np.int64)
        liked_columns = self.columns(liked)
        liked, liked_columns = liked[liked_columns >= 0], liked_columns[liked_columns >= 0]
        recommended = np.asarray(recommended_ids, dtype=np.int64)
        columns = self.columns(recommended)
        found: dict[int, list[int]] = {}
        if len(liked) == 0:
            return found
        # The liked movies by id: argmax takes the first of equal similarities, the smallest id.
        by_id = np.argsort(liked, kind="stable")
        liked, liked_columns = liked[by_id], liked_columns[by_id]
        # recommended x liked: exact on the grid, whatever the BLAS does
        similarity = unit[columns.clip(min=0)] @ unit[liked_columns].T
        # The best, then the next best, ... of every row at once: cheaper than a sort per
        # recommended movie, which was a tenth of a cached recommendations request.
        rows_at = np.arange(len(recommended))
        left = similarity.copy()
        nearest = np.empty((len(recommended), min(per_movie, len(liked))), dtype=np.int64)
        positive = np.empty(nearest.shape, dtype=bool)
        for rank in range(nearest.shape[1]):
            nearest[:, rank] = best = left.argmax(axis=1)
            positive[:, rank] = left[rows_at, best] > 0
            left[rows_at, best] = -np.inf
        rows = zip(
            recommended.tolist(), (columns >= 0).tolist(), liked[nearest].tolist(),
            positive.tolist(), strict=True,
        )  # fmt: skip
        for movie, seen, nearest_ids, is_positive in rows:
            chosen = [m for m, keep in zip(nearest_ids, is_positive, strict=True) if keep]
            if seen and chosen:
                found[movie] = chosen
        return found

    @functools.cached_property
    def _just_watched(self) -> JustWatched | None:
        return JustWatched.of(self.ranker)

    def followed(
        self, rated_ids: np.ndarray, ratings: np.ndarray, recommended_ids: np.ndarray
    ) -> dict[int, int]:
        """For each recommended movie that comes mainly from what people rate after the user's
        latest ratings, the one of those it follows (``recommender.just_watched``), from the
        user's ratings **oldest first**; empty for a ranker other than the sequential one."""
        just_watched = self._just_watched
        if just_watched is None:
            return {}
        return just_watched.followed_ids(self.item_ids, rated_ids, ratings, recommended_ids)


def _content_map(meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> ContentMap | None:
    if not meta.get("content"):
        return None
    state = {k.removeprefix("content."): v for k, v in arrays.items() if k.startswith("content.")}
    return ContentMap.restore(meta["content"], state)


def _votes(counts: np.ndarray | None) -> np.ndarray | None:
    # int32: a tenth of the blob's movie arrays at most, and no movie has 2**31 ratings.
    return None if counts is None else np.asarray(counts).astype(np.int32)


def _restore(
    name: str,
    params: dict[str, Any],
    state: dict[str, np.ndarray],
    rating: FactorModel,
    regularization: float,
    item_ids: np.ndarray,
) -> Ranker:
    weight = float(params.pop("rating_weight", 0.0) or 0.0)
    if name == RatingModelRanker.name:
        return RatingModelRanker.restore(params, state, rating, regularization)
    if name not in _RESTORE:
        raise ServingModelError(f"ranker {name!r} cannot be restored for fold-in")
    base = _RESTORE[name].restore(params, state)
    base.item_ids = item_ids
    base.user_ids = np.empty(0, dtype=np.int64)
    if weight:
        return BlendedRanker.restore(base, rating, weight, regularization)
    return base
