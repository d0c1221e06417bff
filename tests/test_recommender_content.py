"""The content model: features, the closed-form mapping against scikit-learn's Ridge, the
collections' learned pull, placing movies into every ranker, the published mapping, and the
cold-movie protocol on data where content decides taste (pure: no database, no Redis)."""

from __future__ import annotations

import numpy as np
import pytest

from movierec.recommender.als import ALSParams, ALSRanker
from movierec.recommender.blended import BlendedRanker
from movierec.recommender.cold_evaluation import (
    CONTENT_MODEL,
    GENRE_AFFINITY,
    MODELS,
    RANDOM,
    cold_movie_split,
    cold_validation_split,
    evaluate_cold_movies,
)
from movierec.recommender.content import (
    ContentMap,
    ContentParams,
    blend_by_ratings,
    collection_penalty,
    fit_content_map,
    place_by_content,
    ridge_with_collections,
)
from movierec.recommender.content_features import ContentEncoder, MovieContent
from movierec.recommender.data import InteractionMatrix, RatingArrays
from movierec.recommender.ease import EASERanker
from movierec.recommender.popularity import PopularityRanker
from movierec.recommender.puresvd import PureSVDRanker
from movierec.recommender.scoring import RatedItems
from movierec.recommender.serving import ServingModel
from movierec.recommender.training import FactorModel

GENRES = ["Action", "Comedy", "Drama", "Horror"]


def _catalogue(n_movies: int = 120, seed: int = 0) -> MovieContent:
    """Movies of one genre each, a decade, words tied to the genre, some in collections."""
    rng = np.random.default_rng(seed)
    genre = rng.integers(0, len(GENRES), n_movies)
    words = {
        0: "explosion chase fight",
        1: "laugh funny wedding",
        2: "family loss love",
        3: "ghost blood night",
    }
    collections = [f"Saga {g}" if i % 10 == 0 else "" for i, g in enumerate(genre)]
    return MovieContent.of(
        np.arange(1, n_movies + 1) * 3,
        titles=[f"Movie {i}" for i in range(n_movies)],
        years=rng.integers(1950, 2015, n_movies),
        genres=[GENRES[g] for g in genre],
        descriptions=[words[g] + f" plot{i % 7}" for i, g in enumerate(genre)],
        collections=collections,
        keywords=[[GENRES[g].lower() + " mood"] for g in genre],
    )


def _genre_vectors(content: MovieContent, k: int = 6, seed: int = 1) -> np.ndarray:
    """Each movie's vector: its genre's direction plus a little noise."""
    rng = np.random.default_rng(seed)
    directions = rng.standard_normal((len(GENRES), k))
    index = {g: i for i, g in enumerate(GENRES)}
    rows = np.array([index[g] for g in content.genres])
    return directions[rows] + 0.05 * rng.standard_normal((len(content), k))


def test_closed_form_equals_scikit_learn_ridge_with_one_hot_collections() -> None:
    from sklearn.linear_model import Ridge

    rng = np.random.default_rng(3)
    n, width, n_collections = 200, 7, 12
    dense = rng.standard_normal((n, width))
    codes = np.where(rng.random(n) < 0.6, rng.integers(0, n_collections, n), -1)
    targets = rng.standard_normal((n, 4))
    weights = rng.uniform(0.1, 1.0, n)
    onehot = np.zeros((n, n_collections))
    onehot[np.flatnonzero(codes >= 0), codes[codes >= 0]] = 1.0
    reference = Ridge(alpha=2.5).fit(np.hstack([dense, onehot]), targets, sample_weight=weights)
    intercept, dense_w, collection_w = ridge_with_collections(
        dense, codes, n_collections, targets, 2.5, 2.5, weights
    )
    np.testing.assert_allclose(intercept, reference.intercept_, atol=1e-9)
    np.testing.assert_allclose(dense_w, reference.coef_[:, :width].T, atol=1e-9)
    np.testing.assert_allclose(collection_w, reference.coef_[:, width:].T, atol=1e-9)


def test_collection_penalty_is_small_for_coherent_collections_and_maximal_for_noise() -> None:
    rng = np.random.default_rng(4)
    codes = np.repeat(np.arange(30), 4)
    shared = rng.standard_normal((30, 5))[codes]
    coherent = shared + 0.1 * rng.standard_normal(shared.shape)
    noise = rng.standard_normal(shared.shape)
    assert collection_penalty(coherent, codes) < 0.5
    assert collection_penalty(noise, codes) >= 100
    # Nothing to learn from: collections of one movie, or none.
    assert collection_penalty(noise[:3], np.array([0, 1, 2])) == collection_penalty(
        noise[:3], np.array([-1, -1, -1])
    )


def test_mapping_places_held_out_movies_by_their_content() -> None:
    content = _catalogue()
    vectors = _genre_vectors(content)
    held_out = np.arange(len(content)) % 5 == 0
    counts = np.where(held_out, 0, 50)
    mapping = fit_content_map(content, content.movie_ids, vectors, counts, ContentParams())
    predicted = mapping.embed(content.take(np.flatnonzero(held_out)))
    truth = vectors[held_out]
    cosine = np.sum(predicted * truth, axis=1) / (
        np.linalg.norm(predicted, axis=1) * np.linalg.norm(truth, axis=1)
    )
    assert np.median(cosine) > 0.9
    # The mapping learned nothing from the held-out movies: shuffling their vectors changes
    # nothing.
    shuffled = vectors.copy()
    shuffled[held_out] = shuffled[held_out][::-1]
    again = fit_content_map(content, content.movie_ids, shuffled, counts, ContentParams())
    np.testing.assert_allclose(again.embed(content), mapping.embed(content))


def test_published_mapping_embeds_as_the_fitted_one() -> None:
    content = _catalogue()
    mapping = fit_content_map(
        content, content.movie_ids, _genre_vectors(content), np.full(len(content), 20),
        ContentParams(),
    )  # fmt: skip
    restored = ContentMap.restore(mapping.meta(), mapping.state())
    np.testing.assert_allclose(restored.embed(content), mapping.embed(content), atol=1e-5)
    # A movie of one known genre and unknown words lands near that genre's movies.
    new = MovieContent.of([999_999], titles=["Brand new"], genres=["Horror"], years=[2016])
    vector = restored.embed(new)[0]
    own = mapping.embed(content)
    cosines = own @ vector / (np.linalg.norm(own, axis=1) * np.linalg.norm(vector))
    nearest = content.genres[np.argsort(-cosines)[:10]]
    assert list(nearest) == ["Horror"] * 10


def test_a_year_after_every_known_decade_counts_as_the_newest() -> None:
    content = MovieContent.of([1, 2, 3], years=[1985, 1995, 2005], genres=["Drama"] * 3)
    encoder = ContentEncoder().fit(content)
    later = MovieContent.of([4, 5, 6], years=[2031, 1900, None], genres=["Drama"] * 3)
    matrix = encoder.decade_matrix(later)
    assert encoder.decades.tolist() == [1980, 1990, 2000]
    assert matrix.tolist() == [[0, 0, 1], [1, 0, 0], [0, 0, 0]]


def test_blend_moves_from_content_to_own_vector_as_ratings_come() -> None:
    own, content = np.ones((4, 2)), np.zeros((4, 2))
    placed = blend_by_ratings(own, content, np.array([0, 5, 10, 300]), warm_ratings=10)
    assert placed[:, 0].tolist() == [0.0, 0.5, 1.0, 1.0]


# -- the hook in every ranker ----------------------------------------------------------------


def _ratings(n_users: int = 30, seed: int = 2) -> RatingArrays:
    """Ratings of 30 users for the movies 3..360 (every third id) but the last ten."""
    rng = np.random.default_rng(seed)
    users, items = np.nonzero(rng.random((n_users, 110)) < 0.3)
    return RatingArrays(users + 1, (items + 1) * 3, rng.integers(2, 11, len(users)) / 2.0)


def _factor_model(interactions: InteractionMatrix, k: int = 3) -> FactorModel:
    rng = np.random.default_rng(5)
    return FactorModel(
        global_mean=3.5,
        user_ids=interactions.user_ids,
        item_ids=interactions.item_ids,
        user_bias=rng.normal(0, 0.2, interactions.n_users),
        item_bias=rng.normal(0, 0.2, interactions.n_items),
        user_factors=rng.normal(0, 0.3, (interactions.n_users, k)),
        item_factors=rng.normal(0, 0.3, (interactions.n_items, k)),
    )


def test_place_items_serves_exactly_the_given_movies_with_their_vectors() -> None:
    interactions = InteractionMatrix.from_ratings(_ratings())
    retired = interactions.item_ids[:2]
    new = np.array([10_000, 10_003])
    served = np.union1d(np.setdiff1d(interactions.item_ids, retired), new)
    ranker = PureSVDRanker().fit(interactions)
    before = ranker.score_users(0, 5)
    vectors = np.zeros((len(served), ranker.item_factors.shape[1]), dtype=np.float32)
    kept = np.isin(served, interactions.item_ids)
    vectors[kept] = ranker.item_factors[np.searchsorted(interactions.item_ids, served[kept])]
    vectors[~kept] = ranker.user_factors[0]  # the new movies point at user 0's taste
    ranker.place_items(served, vectors)
    assert ranker.item_ids.tolist() == served.tolist()
    after = ranker.score_users(0, 5)
    np.testing.assert_allclose(after[:, kept], before[:, 2:], rtol=1e-5)
    # User 0's best movies now include the two new ones, and fold-in scores them too.
    assert set(new) <= set(served[np.argsort(-after[0])[:2]].tolist())
    rows, stars = interactions.matrix[0].indices, interactions.matrix[0].data
    served_rows = np.searchsorted(served, interactions.item_ids[rows])
    folded = ranker.fold_in(served_rows[rows >= 2], stars[rows >= 2])
    assert folded.shape == (len(served),)
    assert np.all(folded[~kept] > 0)


@pytest.mark.parametrize(
    "make",
    [
        lambda: PureSVDRanker(),
        lambda: ALSRanker(ALSParams(n_factors=4, iterations=3), num_threads=1),
        lambda: EASERanker(),
        lambda: PopularityRanker(min_votes=1),
    ],
    ids=["puresvd", "als", "ease", "popular"],
)
def test_every_ranker_restricts_and_extends_its_movies(make) -> None:  # type: ignore[no-untyped-def]
    interactions = InteractionMatrix.from_ratings(_ratings())
    ranker = make().fit(interactions)
    served = np.union1d(interactions.item_ids[3:], [99_999])
    ranker.place_items(served, None)
    scores = np.asarray(ranker.score_users(0, interactions.n_users))
    assert ranker.item_ids.tolist() == served.tolist()
    assert scores.shape == (interactions.n_users, len(served))
    # Nothing known about the new movie: it is last or tied with the least known.
    assert np.all(scores[:, -1] <= np.median(scores, axis=1))


def test_blended_ranker_serves_new_movies_with_the_unknown_movie_estimate() -> None:
    interactions = InteractionMatrix.from_ratings(_ratings())
    model = _factor_model(interactions)
    ranker = BlendedRanker(PureSVDRanker(), model, 0.1).fit(interactions)
    served = np.union1d(interactions.item_ids, [99_999])
    ranker.place_items(served, None)
    assert ranker._aligned
    scores = ranker.score_users(0, 3)
    base = ranker.base.score_users(0, 3)
    best = np.abs(base).max(axis=1)
    expected = np.clip(model.global_mean + model.user_bias[:3], 0.5, 5.0) * 0.1
    np.testing.assert_allclose(scores[:, -1], base[:, -1] / best + expected, rtol=1e-6)
    # The cheaper selection gives the lists scoring does.
    rated = RatedItems.from_matrix(interactions.matrix).remapped(
        np.searchsorted(served, interactions.item_ids)
    )
    k = 5
    columns = np.zeros((3, k), dtype=np.int64)
    values, counts = np.empty((3, k)), np.zeros(3, dtype=np.int64)
    ranker.select_top(0, 3, rated.indptr, rated.indices, columns, values, counts)
    for row in range(3):
        masked = scores[row].copy()
        masked[rated.indices[rated.indptr[row] : rated.indptr[row + 1]]] = -np.inf
        assert columns[row].tolist() == np.argsort(-masked, kind="stable")[:k].tolist()


def test_place_by_content_puts_a_new_movie_beside_its_genre() -> None:
    content = _catalogue(n_movies=130)
    ratings = _ratings(n_users=60)
    # Users like one genre each: every rating of another genre is one star.
    liked = {u: GENRES[u % 4] for u in range(1, 61)}
    genre_of = dict(zip(content.movie_ids.tolist(), content.genres.tolist(), strict=True))
    stars = np.array(
        [5.0 if genre_of[m] == liked[u] else 1.0
         for u, m in zip(ratings.user_ids, ratings.movie_ids, strict=True)]
    )  # fmt: skip
    interactions = InteractionMatrix.from_ratings(
        RatingArrays(ratings.user_ids, ratings.movie_ids, stars)
    )
    ranker = PureSVDRanker().fit(interactions)
    new_id = int(content.movie_ids[-1])  # never rated: movies 333..390 have no ratings
    assert new_id not in interactions.item_ids
    placement = place_by_content(
        ranker, content, interactions.item_counts(), ContentParams(), content.movie_ids
    )
    assert new_id in placement.new_movies(10)
    column = int(np.searchsorted(ranker.item_ids, new_id))
    scores = ranker.score_users(0, interactions.n_users)[:, column]
    fans = np.array([liked[u] == genre_of[new_id] for u in interactions.user_ids])
    assert scores[fans].mean() > scores[~fans].mean()


def test_served_model_places_a_movie_created_after_the_refresh() -> None:
    content = _catalogue(n_movies=130)
    vectors = _genre_vectors(content).astype(np.float32)
    interactions_ids = content.movie_ids[:110]
    counts = np.full(110, 40)
    ranker = PureSVDRanker()
    ranker.item_ids, ranker.user_ids = interactions_ids, np.empty(0, dtype=np.int64)
    ranker.item_factors, ranker._column_scale = vectors[:110], np.ones(110, np.float32)
    ranker.user_factors = np.empty((0, vectors.shape[1]), np.float32)
    placement = place_by_content(ranker, content, counts, ContentParams(), content.movie_ids)
    rating = FactorModel(
        3.5, np.empty(0, np.int64), content.movie_ids, np.empty(0), np.zeros(len(content)),
        np.empty((0, 2)), np.zeros((len(content), 2)),
    )  # fmt: skip
    served = ServingModel.of(
        ranker, rating, 0.1, 0.0, "c1", item_votes=placement.counts,
        content_map=placement.content_map, warm_ratings=10,
    )  # fmt: skip
    model = ServingModel.from_bytes(served.to_bytes())
    assert model.is_new(np.array([content.movie_ids[0], content.movie_ids[-1], 5])).tolist() == [
        False, True, True,
    ]  # fmt: skip
    created = MovieContent.of(
        [10_000], titles=["Ghosts again"], genres=["Horror"], years=[2020],
        descriptions=["ghost blood night"], keywords=[["horror mood"]],
    )  # fmt: skip
    ids, scores = model.similar(10_000, 10, content=created)
    genre_of = dict(zip(content.movie_ids.tolist(), content.genres.tolist(), strict=True))
    assert [genre_of[m] for m in ids.tolist()] == ["Horror"] * 10
    assert np.all(np.diff(scores) <= 0)
    # Without its content, a movie the model does not hold has no similar movies.
    assert model.similar(10_000, 10)[0].size == 0
    # Candidates weigh by their votes as for any movie: those nobody rated (placed by content
    # too) drop behind the rated ones, which are horror films still.
    shrunk, _ = model.similar(10_000, 10, 5.0, created)
    assert set(shrunk.tolist()) <= set(interactions_ids.tolist())
    assert [genre_of[m] for m in shrunk.tolist()] == ["Horror"] * 10


def test_rated_items_remapped_to_served_columns() -> None:
    rated = RatedItems(indptr=np.array([0, 2, 3, 5]), indices=np.array([0, 2, 1, 0, 3]))
    remapped = rated.remapped(np.array([-1, 0, 1, 3]))
    assert remapped.indptr.tolist() == [0, 1, 2, 3]
    assert remapped.indices.tolist() == [1, 0, 3]


# -- the cold-movie protocol -----------------------------------------------------------------


def _taste_data(seed: int = 0) -> tuple[RatingArrays, MovieContent]:
    """Users who each love one genre and rate movies of it high: content predicts taste."""
    rng = np.random.default_rng(seed)
    content = _catalogue(n_movies=200, seed=seed)
    n_users = 300
    taste = rng.integers(0, len(GENRES), n_users)
    users, movies, stars = [], [], []
    popularity = rng.pareto(1.5, len(content)) + 1
    chance = popularity / popularity.max()
    for user in range(n_users):
        picked = np.flatnonzero(rng.random(len(content)) < 0.1 + 0.5 * chance)
        for row in picked:
            good = content.genres[row] == GENRES[taste[user]]
            if good or rng.random() < 0.3:
                users.append(user + 1)
                movies.append(content.movie_ids[row])
                stars.append(float(rng.choice([4.0, 4.5, 5.0]) if good else rng.choice([1, 2, 3])))
    return RatingArrays(np.array(users), np.array(movies), np.array(stars)), content


def test_cold_movie_split_removes_ratings_and_keywords_of_new_movies_only() -> None:
    ratings, content = _taste_data()
    split = cold_movie_split(ratings, content, 0.1, seed=7)
    assert not np.isin(split.train.movie_ids, split.new_movie_ids).any()
    assert np.isin(split.test.movie_ids, split.new_movie_ids).all()
    assert len(split.train) + len(split.test) == len(ratings)
    rows = split.content.rows_of(split.new_movie_ids)
    assert all(words == () for words in split.content.keywords[rows])
    others = np.setdiff1d(np.arange(len(content)), rows)
    assert all(len(words) for words in split.content.keywords[others])
    validation = cold_validation_split(split)
    assert not np.intersect1d(validation.new_movie_ids, split.new_movie_ids).size
    assert cold_movie_split(ratings, content, 0.1, seed=7).new_movie_ids.tolist() == (
        split.new_movie_ids.tolist()
    )


def test_cold_movie_protocol_ranks_new_movies_by_content_above_random() -> None:
    ratings, content = _taste_data()
    split = cold_movie_split(ratings, content, 0.2, seed=1)
    evaluation = evaluate_cold_movies(split, PureSVDRanker, ContentParams(), k=10)
    assert [r.model for r in evaluation.results] == list(MODELS)
    assert evaluation.metric(CONTENT_MODEL) > 1.5 * evaluation.metric(RANDOM)
    assert evaluation.metric(GENRE_AFFINITY) > 1.5 * evaluation.metric(RANDOM)
    document = evaluation.as_dict()
    assert document["n_new_movies"] == len(split.new_movie_ids)
    assert 0 <= document["new_share_of_slots"][CONTENT_MODEL] <= 1
