"""The content model: a place in the ranking model's movie space for movies nobody has rated.

Every ranker with a movie space (``Ranker.item_vectors()``: PureSVD's factors, ALS's) scores a
user and a movie by the user's vector against the movie's. A movie without ratings has no
vector of its own (PureSVD gives it zeros), so it is never recommended, so nobody rates it: the
item cold-start trap. Its content (genres, decade, description, collection, keywords) predicts
where it would sit:

1. ``ContentEncoder`` (``recommender.content_features``) turns every movie's content into one
   dense row of features and a collection code;
2. a ridge regression from those rows to the ranker's movie vectors is learned on every movie
   with ratings, in closed form: the collections, one code per movie, are solved for through
   their diagonal block, so a catalogue with thousands of franchises costs no matrix that
   large, and how far a collection moves its members is learned by leave-one-out
   (``collection_penalty``);
3. the fitted regression folds into one vector per term, genre, decade and collection plus an
   intercept (``ContentMap``): a movie's content vector is the sum of its parts' vectors, the
   same arithmetic at refresh and in a web process that meets a movie created since;
4. ``blend_by_ratings``: a movie with ``n`` ratings below ``warm_ratings`` gets
   ``n / warm_ratings`` of its own vector and the rest of its content vector, so a new movie
   gets its place from its content and warms up into its collaborative vector.

The placed vectors replace the ranker's movie vectors (``Ranker.place_items``), so a new movie
is scored in every list and in fold-in exactly as any other movie is. How well this ranks new
movies, against random, genre and content-neighbour baselines, is measured by
``recommender.cold_evaluation`` (docs/engine.md, "New movies").
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from movierec.recommender.content_features import (
    ContentEncoder,
    ContentFeatureParams,
    MovieContent,
    TermBlock,
    genre_names,
    text_document,
)
from movierec.recommender.data import positions


@dataclass(frozen=True)
class ContentParams:
    """The content model's settings (CONTENT_* settings; docs/engine.md, "New movies")."""

    # Below this many ratings a movie's own vector is trusted in proportion to its ratings
    # (it is blended with its content vector) and the movie is "new" in the answers.
    warm_ratings: int = 10
    # The ridge penalty of the dense features (the intercept has none; the collections' is
    # learned from the catalogue: ``collection_penalty``).
    regularization: float = 10.0
    features: ContentFeatureParams = field(default_factory=ContentFeatureParams)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> ContentParams:
        values = dict(values)
        features = ContentFeatureParams(**values.pop("features", {}))
        return cls(**values, features=features)


# -- the mapping ------------------------------------------------------------------------------


def ridge_with_collections(
    dense: np.ndarray,
    collections: np.ndarray,
    n_collections: int,
    targets: np.ndarray,
    regularization: float,
    collection_regularization: float,
    weights: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Ridge regression of ``targets`` on ``[1, dense, onehot(collections)]``: the intercept
    unpenalised, the dense weights penalised by ``regularization``, the collections' by
    ``collection_regularization``. Returns (intercept, dense weights, collection weights).

    Each row has at most one collection, so the collection block of the normal equations is
    diagonal: it is eliminated (Schur complement) and the system solved has the dense width
    only, however many collections there are."""
    n, width = dense.shape
    design = np.hstack([np.ones((n, 1)), dense])
    if weights is not None:  # weighted least squares: rows scaled by sqrt(weight)
        root = np.sqrt(weights)[:, None]
        design, targets = design * root, targets * root
    else:
        root = np.ones((n, 1))
    gram = design.T @ design
    penalty = np.full(width + 1, regularization)
    penalty[0] = 0.0
    gram[np.diag_indices_from(gram)] += penalty
    right = design.T @ targets
    member = collections >= 0
    codes = collections[member]
    # Per collection: the sums of its movies' design rows and targets.
    cross = np.zeros((n_collections, width + 1))
    np.add.at(cross, codes, design[member] * root[member])
    sums = np.zeros((n_collections, targets.shape[1]))
    np.add.at(sums, codes, targets[member] * root[member])
    diagonal = np.bincount(codes, root[member, 0] ** 2, minlength=n_collections)
    diagonal = diagonal + collection_regularization
    scaled = cross / diagonal[:, None]
    schur = gram - cross.T @ scaled
    solved = np.linalg.solve(schur, right - scaled.T @ sums)
    collection_weights = (sums - cross @ solved) / diagonal[:, None]
    return solved[0], solved[1:], collection_weights


# The collections' penalties tried (a log grid): from "a collection is its members" to
# "collections say nothing".
_COLLECTION_PENALTIES = np.geomspace(0.1, 1e4, 41)
NO_COLLECTION_EFFECT = float(_COLLECTION_PENALTIES[-1])


def collection_penalty(
    residuals: np.ndarray, collections: np.ndarray, weights: np.ndarray | None = None
) -> float:
    """How far a movie's collection should move it: the penalty ``p`` of the collection's
    shared vector, so that a movie joining a collection whose ``n`` other movies have the mean
    residual ``m`` (their vectors minus what their other content predicts) moves
    ``n / (n + p) * m``. Chosen by leave-one-out on the collections of two or more movies:
    each member predicted from the others, the ``p`` of the smallest (weighted) squared error
    over a log grid. Collections whose members are liked by the same people (a saga's episodes)
    make it small; collections whose later entries draw other audiences (a sequel of a hit
    that nobody liked as much) make it large. Empirical Bayes, learned from the catalogue."""
    member = collections >= 0
    codes, values = collections[member], residuals[member]
    row_weights = np.ones(len(codes)) if weights is None else weights[member]
    counts = np.bincount(codes) if len(codes) else np.zeros(0, dtype=np.int64)
    several = counts[codes] >= 2 if len(codes) else np.zeros(0, dtype=bool)
    if not several.any():
        return NO_COLLECTION_EFFECT
    sums = np.zeros((len(counts), values.shape[1]))
    np.add.at(sums, codes, values)
    codes, values, row_weights = codes[several], values[several], row_weights[several]
    others = (counts[codes] - 1).astype(np.float64)
    others_mean = (sums[codes] - values) / others[:, None]
    # Squared error of r - s m for every s = n / (n + p) on the grid: expanded once.
    rr = np.einsum("ij,ij->i", values, values)
    rm = np.einsum("ij,ij->i", values, others_mean)
    mm = np.einsum("ij,ij->i", others_mean, others_mean)
    shrink = others[:, None] / (others[:, None] + _COLLECTION_PENALTIES[None, :])
    errors = rr[:, None] - 2 * shrink * rm[:, None] + shrink**2 * mm[:, None]
    return float(_COLLECTION_PENALTIES[int(np.argmin(row_weights @ errors))])


@dataclass
class ContentMap:
    """A fitted content-to-movie-space mapping, folded into vectors per content part: what a
    refresh publishes so that any process can place a movie from its content alone."""

    params: ContentFeatureParams
    intercept: np.ndarray  # (k,)
    genres: np.ndarray  # str
    genre_vectors: np.ndarray  # (genres, k)
    decades: np.ndarray  # int64
    decade_vectors: np.ndarray
    collections: np.ndarray  # str, sorted
    collection_vectors: np.ndarray
    collection_first_years: np.ndarray  # float64, NaN: unknown
    sequel_vector: np.ndarray  # (k,): what being a collection's later movie adds
    text_terms: TermBlock  # components: the terms' vectors transposed, (k, terms)
    keyword_terms: TermBlock

    @property
    def n_factors(self) -> int:
        return len(self.intercept)

    def embed(self, content: MovieContent) -> np.ndarray:
        """Each movie's content vector in the ranker's movie space (float64)."""
        encoder = ContentEncoder(
            self.params, self.genres, self.decades, self.collections,
            self.collection_first_years, self.text_terms, self.keyword_terms,
        )  # fmt: skip
        vectors = np.tile(self.intercept, (len(content), 1))
        vectors += encoder.genre_matrix(content) @ self.genre_vectors
        vectors += encoder.decade_matrix(content) @ self.decade_vectors
        vectors += encoder.sequel_matrix(content) * self.sequel_vector
        documents = [
            text_document(t, d, self.params.use_title)
            for t, d in zip(content.titles, content.descriptions, strict=True)
        ]
        blocks = ((self.text_terms, documents), (self.keyword_terms, list(content.keywords)))
        for block, docs in blocks:
            if block.components.shape[0]:
                vectors += np.asarray(block.tfidf(docs) @ block.components.T)
        codes = encoder.collection_codes(content)
        vectors[codes >= 0] += self.collection_vectors[codes[codes >= 0]]
        return vectors

    # -- publishing (numpy arrays only, as the rest of the served model) ------------------

    def state(self) -> dict[str, np.ndarray]:
        arrays = {
            "intercept": self.intercept,
            "genres": self.genres.astype(str),
            "genre_vectors": self.genre_vectors,
            "decades": self.decades,
            "decade_vectors": self.decade_vectors,
            "collections": self.collections.astype(str),
            "collection_vectors": self.collection_vectors,
            "collection_first_years": self.collection_first_years,
            "sequel_vector": self.sequel_vector,
        }
        for name, block in (("text", self.text_terms), ("keywords", self.keyword_terms)):
            arrays[f"{name}_terms"] = block.terms.astype(str)
            arrays[f"{name}_idf"] = block.idf
            arrays[f"{name}_vectors"] = block.components
        return {
            name: value.astype(np.float32) if value.dtype == np.float64 else value
            for name, value in arrays.items()
        }

    def meta(self) -> dict[str, Any]:
        return {"features": self.params.as_dict()}

    @classmethod
    def restore(cls, meta: dict[str, Any], state: dict[str, np.ndarray]) -> ContentMap:
        def block(name: str, keywords: bool) -> TermBlock:
            return TermBlock(
                state[f"{name}_terms"].astype(str),
                state[f"{name}_idf"].astype(np.float64),
                state[f"{name}_vectors"].astype(np.float64),
                keywords,
            )

        return cls(
            params=ContentFeatureParams(**meta["features"]),
            intercept=state["intercept"].astype(np.float64),
            genres=state["genres"].astype(str),
            genre_vectors=state["genre_vectors"].astype(np.float64),
            decades=state["decades"].astype(np.int64),
            decade_vectors=state["decade_vectors"].astype(np.float64),
            collections=state["collections"].astype(str),
            collection_vectors=state["collection_vectors"].astype(np.float64),
            collection_first_years=state["collection_first_years"].astype(np.float64),
            sequel_vector=state["sequel_vector"].astype(np.float64),
            text_terms=block("text", False),
            keyword_terms=block("keywords", True),
        )


def fit_content_map(
    content: MovieContent,
    item_ids: np.ndarray,
    vectors: np.ndarray,
    counts: np.ndarray,
    params: ContentParams,
) -> ContentMap:
    """Learn the mapping from ``content`` (the whole catalogue: the features are fitted on all
    of it, no rating involved) to ``vectors`` (rows of ``item_ids``) on every movie with
    ratings (``counts``, rows of ``item_ids``), each weighing the same: a new movie's place is
    predicted from the movies as they turned out, most of them little known. Learned on the
    well-known ones alone (or weighted towards them), every new movie would be placed like a
    hit: measured on a validation split, new movies then took list slots from movies twice as
    likely to be hits (docs/engine.md, "New movies")."""
    encoder = ContentEncoder(params.features).fit(content)
    rows = content.rows_of(item_ids)
    learn = (np.asarray(counts) > 0) & (rows >= 0)
    k = vectors.shape[1]
    features = encoder.transform(content.take(rows[learn]))
    targets = np.asarray(vectors, dtype=np.float64)[learn]
    weights = None
    if len(targets) == 0:  # nothing to learn from: every movie at the origin
        intercept = np.zeros(k)
        dense_weights = np.zeros((encoder.width, k))
        collection_weights = np.zeros((len(encoder.collections), k))
    else:
        no_collections = np.full(len(targets), -1)
        intercept, dense_weights, _ = ridge_with_collections(
            features.dense, no_collections, 0, targets, params.regularization, 1.0, weights
        )
        residuals = targets - intercept - features.dense @ dense_weights
        penalty = collection_penalty(residuals, features.collections, weights)
        intercept, dense_weights, collection_weights = ridge_with_collections(
            features.dense, features.collections, features.n_collections, targets,
            params.regularization, penalty, weights,
        )  # fmt: skip
    blocks = encoder.blocks()
    p = params.features
    assert encoder.text is not None and encoder.keywords is not None

    def folded(block: TermBlock, where: slice, scale: float) -> TermBlock:
        # tfidf @ components.T @ W * scale, as one (k, terms) matrix for tfidf.
        term_vectors = (block.components.T @ dense_weights[where] * scale).T
        return TermBlock(block.terms, block.idf, term_vectors, block.keywords)

    return ContentMap(
        params=p,
        intercept=intercept,
        genres=encoder.genres,
        genre_vectors=dense_weights[blocks["genres"]] * p.genre_weight,
        decades=encoder.decades,
        decade_vectors=dense_weights[blocks["decades"]] * p.decade_weight,
        collections=encoder.collections,
        collection_vectors=collection_weights,
        collection_first_years=encoder.collection_first_years,
        sequel_vector=dense_weights[blocks["sequel"]][0],
        text_terms=folded(encoder.text, blocks["text"], p.text_weight),
        keyword_terms=folded(encoder.keywords, blocks["keywords"], p.keyword_weight),
    )


def trust(counts: np.ndarray, warm_ratings: int) -> np.ndarray:
    """How far a movie's own vector is trusted: ``min(n / warm_ratings, 1)`` for ``n``
    ratings (a vector from two ratings is mostly those two users)."""
    return np.clip(np.asarray(counts, dtype=np.float64) / max(warm_ratings, 1), 0.0, 1.0)


def blend_by_ratings(
    own: np.ndarray, from_content: np.ndarray, counts: np.ndarray, warm_ratings: int
) -> np.ndarray:
    """Each movie's vector: its ``trust`` of its own, the rest of its content vector. A movie
    without ratings is placed by its content alone."""
    share = trust(counts, warm_ratings)
    return share[:, None] * own + (1.0 - share[:, None]) * from_content


# -- placing a fitted ranker's movies ---------------------------------------------------------


@dataclass
class ContentPlacement:
    """What placing by content did: the mapping (published with the model), the movies placed
    and how many ratings each had, and how long it took."""

    content_map: ContentMap | None
    item_ids: np.ndarray
    counts: np.ndarray
    seconds: float

    def new_movies(self, warm_ratings: int) -> np.ndarray:
        """The placed movies with fewer than ``warm_ratings`` ratings."""
        return self.item_ids[self.counts < warm_ratings]


def place_by_content(
    ranker: Any,
    content: MovieContent | None,
    counts: np.ndarray,
    params: ContentParams,
    served_ids: np.ndarray | None = None,
) -> ContentPlacement:
    """Serve ``served_ids`` (ascending; default: the ranker's movies) with the fitted
    ``ranker`` (``counts``: ratings per movie of its ``item_ids``): movies below
    ``params.warm_ratings`` ratings get their content vectors blended in, movies it was not
    fitted on (no ratings) their content vectors, movies not served leave its movie side
    (``Ranker.place_items``). Without ``content``, or for a ranker without a movie space, the
    movies are only restricted to ``served_ids`` (those it does not know get no vector)."""
    from threadpoolctl import threadpool_limits

    started = time.perf_counter()
    # One BLAS thread: the step's dense problems (a truncated SVD's QR of movies x 138, a ridge
    # of a few hundred features) are too small for two threads to help, and on a busy machine
    # they only contend: ml-latest-small, 8.7 s with two threads, 1.5 s with one.
    with threadpool_limits(1, "blas"):
        return _place(ranker, content, counts, params, served_ids, started)


def _place(
    ranker: Any,
    content: MovieContent | None,
    counts: np.ndarray,
    params: ContentParams,
    served_ids: np.ndarray | None,
    started: float,
) -> ContentPlacement:
    fitted_ids = np.asarray(ranker.item_ids, dtype=np.int64)
    served = fitted_ids if served_ids is None else np.asarray(served_ids, dtype=np.int64)
    columns = positions(fitted_ids, served)
    served_counts = np.where(columns >= 0, np.asarray(counts)[columns.clip(min=0)], 0)
    vectors = ranker.item_vectors()
    if content is None or vectors is None or not len(fitted_ids):
        ranker.place_items(served, None)
        return ContentPlacement(None, served, served_counts, time.perf_counter() - started)
    content_map = fit_content_map(content, fitted_ids, vectors, counts, params)
    rows = content.rows_of(served)
    known_content = rows >= 0
    from_content = np.tile(content_map.intercept, (len(served), 1))
    from_content[known_content] = content_map.embed(content.take(rows[known_content]))
    own = np.zeros((len(served), vectors.shape[1]))
    own[columns >= 0] = vectors[columns[columns >= 0]]
    placed = blend_by_ratings(own, from_content, served_counts, params.warm_ratings)
    ranker.place_items(served, placed.astype(vectors.dtype))
    return ContentPlacement(content_map, served, served_counts, time.perf_counter() - started)


__all__ = [
    "ContentMap",
    "ContentParams",
    "ContentPlacement",
    "MovieContent",
    "blend_by_ratings",
    "fit_content_map",
    "genre_names",
    "place_by_content",
    "ridge_with_collections",
]
