"""A synthetic MovieLens folder (ratings.csv, movies.csv, tags.csv, links.csv and a TMDB-style
metadata.csv) shaped like MovieLens-25M, for the benchmarks (load.py, refresh_scale.py,
rating_model.py, content_step.py): one generator, deterministic per seed.

Shape at 25M ratings: 162,541 users and 59,047 movies (smaller sizes keep the proportions);
user activity log-normal with at least 20 ratings each (ML-25M: mean 154, median about 70, a
long tail of heavy raters); movie popularity Zipf-like (a few movies get most ratings); half-star
ratings rounded from a low-rank model plus noise (so a factor model has something to learn; mean
about 3.5 as in MovieLens); timestamps between 1995 and 2020.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

ML25M_RATINGS, ML25M_USERS, ML25M_MOVIES = 25_000_095, 162_541, 59_047
MIN_RATINGS_PER_USER = 20
_RANK, _CHUNK = 8, 1_000_000


def _user_activity(rng: np.random.Generator, n_users: int, n_ratings: int, cap: int) -> np.ndarray:
    """Ratings per user: at least 20, log-normal above that, at most ``cap``, summing to
    ``n_ratings`` (what the cap cuts off the heaviest raters goes to the others by weight)."""
    floor = min(MIN_RATINGS_PER_USER, cap)
    weight = rng.lognormal(0.0, 1.3, n_users)
    extra = weight / weight.sum() * max(0, n_ratings - floor * n_users)
    room = cap - floor
    while (extra > room).any():
        over = extra >= room
        surplus = float((extra[over] - room).sum())
        extra[over] = room
        free = ~over
        if surplus <= 0 or not free.any():
            break
        extra[free] += surplus * weight[free] / weight[free].sum()
    counts = floor + np.floor(extra).astype(np.int64)
    if n_users * cap < n_ratings:
        raise ValueError(f"{n_ratings:,} ratings do not fit {n_users:,} users x {cap:,} movies")
    while (missing := n_ratings - int(counts.sum())) > 0:  # the rounding
        below = np.flatnonzero(counts < cap)
        counts[rng.choice(below, min(missing, len(below)), replace=False)] += 1
    return counts


def _rated_movies(
    rng: np.random.Generator, counts: np.ndarray, popularity: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """(user index, movie index) pairs, ``counts[u]`` distinct movies per user, drawn by
    popularity: oversample, drop repeated pairs, draw again for the users still short."""
    n_movies = len(popularity)
    cumulative = np.cumsum(popularity / popularity.sum())
    users = np.empty(0, dtype=np.int64)
    movies = np.empty(0, dtype=np.int64)
    missing = counts.copy()
    for attempt in range(10):
        short = np.flatnonzero(missing)
        if not len(short):
            break
        draws = np.repeat(short, np.ceil(missing[short] * 1.3).astype(np.int64) + 2)
        if attempt < 3:
            picked = np.searchsorted(cumulative, rng.random(len(draws)), side="right")
            picked = np.minimum(picked, n_movies - 1)
        else:  # heavy raters that exhausted the popular movies: the tail, uniformly
            picked = rng.integers(0, n_movies, len(draws))
        keys = np.concatenate([users * n_movies + movies, draws * n_movies + picked])
        _, first = np.unique(keys, return_index=True)
        first.sort()  # keep draw order, so each user keeps their earliest draws
        keys = keys[first]
        user_of = keys // n_movies
        # Keep at most counts[u] per user: the rank of each pair within its user.
        order = np.argsort(user_of, kind="stable")
        ranked = user_of[order]
        starts = np.searchsorted(ranked, ranked, side="left")
        rank = np.empty_like(order)
        rank[order] = np.arange(len(order)) - starts
        keep = rank < counts[user_of]
        users, movies = user_of[keep], keys[keep] % n_movies
        missing = counts - np.bincount(users, minlength=len(counts))
    return users, movies


def synthetic_ratings(n_ratings: int, seed: int = 0) -> pd.DataFrame:
    """The ratings (userId, movieId, rating, timestamp), ordered by user then movie, and the
    catalogue size as ``frame.attrs["n_movies"]``."""
    rng = np.random.default_rng(seed)
    n_movies = max(300, round(n_ratings * ML25M_MOVIES / ML25M_RATINGS))
    # Small sizes: enough users that nobody needs more than a third of the catalogue on average.
    n_users = max(100, round(n_ratings * ML25M_USERS / ML25M_RATINGS), 6 * n_ratings // n_movies)
    counts = _user_activity(rng, n_users, n_ratings, cap=n_movies // 3)
    users, movies = _rated_movies(rng, counts, 1.0 / (np.arange(n_movies) + 10.0) ** 1.1)
    order = np.lexsort((movies, users))
    users, movies = users[order], movies[order]
    del order

    user_factors = rng.normal(0.0, 0.45, (n_users, _RANK))
    movie_factors = rng.normal(0.0, 0.45, (n_movies, _RANK))
    user_bias = rng.normal(0.0, 0.45, n_users)
    movie_bias = rng.normal(0.0, 0.35, n_movies)
    ratings = np.empty(len(users))
    for start in range(0, len(users), _CHUNK):  # bounded memory at 25M
        u, m = users[start : start + _CHUNK], movies[start : start + _CHUNK]
        dots = np.einsum("ij,ij->i", user_factors[u], movie_factors[m])
        score = 3.55 + user_bias[u] + movie_bias[m] + dots + rng.normal(0.0, 0.5, len(u))
        ratings[start : start + _CHUNK] = np.clip(np.round(score * 2) / 2, 0.5, 5.0)
    frame = pd.DataFrame(
        {
            "userId": users + 1,
            "movieId": movies + 1,
            "rating": ratings,
            "timestamp": rng.integers(789_652_800, 1_577_836_800, len(users)),
        }
    )
    frame.attrs["n_movies"] = n_movies
    return frame


# MovieLens' genres with roughly their shares of ML-25M's movies.
_GENRES = {
    "Drama": 0.43, "Comedy": 0.28, "Thriller": 0.14, "Romance": 0.12, "Action": 0.13,
    "Horror": 0.09, "Documentary": 0.09, "Crime": 0.09, "Adventure": 0.07, "Sci-Fi": 0.06,
    "Children": 0.05, "Animation": 0.05, "Mystery": 0.05, "Fantasy": 0.05, "War": 0.03,
    "Western": 0.02, "Musical": 0.02, "Film-Noir": 0.005, "IMAX": 0.003,
}  # fmt: skip
_VOCABULARY, _TAGS = 20_000, 15_000


def _words(rng: np.random.Generator, n_words: int, count: int, prefix: str) -> list[str]:
    """``count`` words of a Zipf-like vocabulary of ``n_words`` ("w123")."""
    ranks = np.minimum(rng.zipf(1.3, count), n_words) - 1
    return [f"{prefix}{r}" for r in ranks.tolist()]


def synthetic_content(n_movies: int, seed: int = 0) -> pd.DataFrame:
    """Every movie's content, MovieLens-25M-shaped: 1-3 genres, a year, an overview for three
    in four (30-80 words of a 20k-word vocabulary, a third of them from the genre's own
    words), a collection for one in twenty (collections of 2-6 movies), tags for two in five
    (up to 40, from a 15k-tag vocabulary). Columns: movieId, title, genres, overview,
    collection, tags (a list)."""
    rng = np.random.default_rng(seed + 1)
    names = list(_GENRES)
    shares = np.array(list(_GENRES.values()))
    chances = shares / shares.sum()
    genres = []
    for _ in range(n_movies):
        k = int(rng.integers(1, 4))
        genres.append("|".join(sorted(rng.choice(names, k, replace=False, p=chances))))
    years = np.clip(2020 - rng.exponential(22, n_movies).astype(int), 1902, 2019)
    overviews: list[str | None] = []
    for movie in range(n_movies):
        if rng.random() < 0.25:
            overviews.append(None)
            continue
        length = int(rng.integers(30, 81))
        own = _words(rng, 500, length // 3, f"{genres[movie].split('|')[0].lower()}")
        overviews.append(" ".join(own + _words(rng, _VOCABULARY, length - len(own), "w")))
    collections: list[str | None] = [None] * n_movies
    members = rng.permutation(n_movies)[: n_movies // 20]
    start = 0
    while start < len(members):
        size = int(rng.integers(2, 7))
        for movie in members[start : start + size]:
            collections[int(movie)] = f"Saga {start} Collection"
        start += size
    tags: list[list[str]] = [[] for _ in range(n_movies)]
    for movie in np.flatnonzero(rng.random(n_movies) < 0.4).tolist():
        tags[movie] = _words(rng, _TAGS, int(rng.integers(1, 41)), "tag ")
    return pd.DataFrame(
        {
            "movieId": np.arange(1, n_movies + 1),
            "title": [f"Movie {i}, The ({years[i - 1]})" for i in range(1, n_movies + 1)],
            "genres": genres,
            "overview": overviews,
            "collection": collections,
            "tags": tags,
        }
    )


def synthetic_movielens(folder: Path, n_ratings: int, seed: int = 0) -> Path:
    """Write ``ratings.csv``, ``movies.csv``, ``tags.csv``, ``links.csv`` and a TMDB-style
    ``metadata.csv`` (overviews, collections; TMDB id = movie id) of a MovieLens-25M-shaped
    data set (pandas' CSV writer takes about 8 s per million rows here: generate a 25M folder
    once and keep it, see refresh_scale.py --data-dir)."""
    ratings = synthetic_ratings(n_ratings, seed)
    n_movies = ratings.attrs["n_movies"]
    folder.mkdir(parents=True, exist_ok=True)
    ratings.to_csv(folder / "ratings.csv", index=False, chunksize=_CHUNK)
    content = synthetic_content(n_movies, seed)
    content[["movieId", "title", "genres"]].to_csv(folder / "movies.csv", index=False)
    tagged = content[content["tags"].map(len) > 0]
    pd.DataFrame(
        {
            "userId": 1,
            "movieId": np.repeat(tagged["movieId"].to_numpy(), tagged["tags"].map(len)),
            "tag": [tag for tags in tagged["tags"] for tag in tags],
            "timestamp": 1_500_000_000,
        }
    ).to_csv(folder / "tags.csv", index=False)
    pd.DataFrame(
        {"movieId": content["movieId"], "imdbId": content["movieId"], "tmdbId": content["movieId"]}
    ).to_csv(folder / "links.csv", index=False)
    pd.DataFrame(
        {
            "id": content["movieId"],
            "overview": content["overview"],
            "belongs_to_collection": [
                None if name is None else repr({"id": 1, "name": name})
                for name in content["collection"]
            ],
        }
    ).to_csv(folder / "metadata.csv", index=False)
    return folder
