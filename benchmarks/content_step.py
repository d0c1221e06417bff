"""Benchmark: the refresh's content step at the MovieLens-25M shape, no database.

    python benchmarks/content_step.py [--movies 59047] [--users 2000] [--threads 2]

Synthetic content of every movie (synthetic.py: genres, years, overviews for three in four,
collections, tags), PureSVD-like movie vectors (24 float32 factors, larger for popular movies)
and ratings per movie drawn like ML-25M's (median 6, mean 423), so more than half the
catalogue has fewer than CONTENT_WARM_RATINGS ratings. Times
``place_by_content`` (the step the refresh runs: features, mapping, placement) by its parts,
the peak memory it adds, the size of the mapping in the published model, and a web process
placing one movie created since the refresh (``ServingModel.content_vector``: what similar
movies of such a movie cost).

In the same run, as a yardstick under the same machine load, it times the score step for
``--users`` users at the same shape (score_step.py's synthetic ranker) and extrapolates it to
162,541 users: the content step's share of a refresh is then read from two figures measured
side by side, not from figures of another day.
"""

from __future__ import annotations

import argparse
import io
import resource
import time
from pathlib import Path

import numpy as np
from score_step import USERS_25M, synthetic
from synthetic import ML25M_MOVIES, synthetic_content
from threadpoolctl import threadpool_limits

from movierec.recommender.content import ContentParams, fit_content_map, place_by_content
from movierec.recommender.content_features import ContentEncoder, MovieContent
from movierec.recommender.puresvd import PureSVDRanker
from movierec.recommender.scoring import iter_top_n
from movierec.recommender.serving import ServingModel
from movierec.recommender.training import FactorModel


def rss_mib() -> tuple[float, float]:
    """(current, peak) resident memory of this process."""
    status = Path("/proc/self/status").read_text()
    current = int(status.split("VmRSS:")[1].split()[0]) / 1024
    peak = int(status.split("VmHWM:")[1].split()[0]) / 1024
    return current, peak


def catalogue(n_movies: int, seed: int) -> tuple[MovieContent, PureSVDRanker, np.ndarray]:
    frame = synthetic_content(n_movies, seed)
    frame["year"] = frame["title"].str.extract(r"\((\d{4})\)$")[0].astype(float)
    frame = frame.rename(columns={"movieId": "movie_id", "overview": "description"})
    frame["keywords"] = frame["tags"]
    content = MovieContent.from_frame(frame)
    rng = np.random.default_rng(seed)
    # ML-25M's ratings per movie: median 6, mean 423 (log-normal with those).
    counts = np.sort(np.round(rng.lognormal(np.log(6), 2.92, n_movies)).astype(np.int64))[::-1]
    popularity = counts / counts.max()
    ranker = PureSVDRanker()
    ranker.item_ids = content.movie_ids
    ranker.user_ids = np.empty(0, dtype=np.int64)
    ranker.item_factors = np.ascontiguousarray(
        rng.normal(0, 1, (n_movies, 24)) * np.sqrt(popularity / popularity.max())[:, None],
        dtype=np.float32,
    )
    ranker._column_scale = np.ones(n_movies, dtype=np.float32)
    ranker.user_factors = np.empty((0, 24), dtype=np.float32)
    return content, ranker, counts


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--movies", type=int, default=ML25M_MOVIES)
    parser.add_argument("--users", type=int, default=2000, help="score step yardstick")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    params = ContentParams()

    started = time.perf_counter()
    content, ranker, counts = catalogue(args.movies, args.seed)
    print(f"{args.movies:,} movies ({int((counts < params.warm_ratings).sum()):,} with fewer "
          f"than {params.warm_ratings} ratings), generated in "
          f"{time.perf_counter() - started:.1f}s", flush=True)  # fmt: skip
    base_rss, _ = rss_mib()

    parts: dict[str, float] = {}
    with threadpool_limits(1, "blas"):  # as place_by_content runs them
        clock = time.perf_counter()
        encoder = ContentEncoder(params.features).fit(content)
        parts["features: fit (TF-IDF + truncated SVD)"] = time.perf_counter() - clock
        clock = time.perf_counter()
        encoder.transform(content)
        parts["features: encode every movie"] = time.perf_counter() - clock
        clock = time.perf_counter()
        mapping = fit_content_map(content, ranker.item_ids, ranker.item_factors, counts, params)
        parts["mapping (features again + ridge)"] = time.perf_counter() - clock
        clock = time.perf_counter()
        mapping.embed(content)
        parts["content vectors of every movie"] = time.perf_counter() - clock

    clock = time.perf_counter()
    placement = place_by_content(ranker, content, counts, params)
    step = time.perf_counter() - clock
    _, peak = rss_mib()

    buffer = io.BytesIO()
    np.savez(buffer, **mapping.state())
    one = content.take(np.array([len(content) // 2]))
    movie_side = FactorModel(
        3.5, np.empty(0, np.int64), ranker.item_ids, np.empty(0), np.zeros(len(ranker.item_ids)),
        np.empty((0, 2)), np.zeros((len(ranker.item_ids), 2)),
    )  # fmt: skip
    model = ServingModel(
        "puresvd", {}, movie_side, 0.0, 0.0, ranker, content_map=placement.content_map
    )
    model.unit_vectors()
    latencies = []
    for _ in range(200):
        clock = time.perf_counter()
        model.content_vector(one)
        latencies.append(time.perf_counter() - clock)

    yardstick, rated = synthetic(args.users, args.movies)
    clock = time.perf_counter()
    for _ in iter_top_n(yardstick, rated, 30, threads=args.threads):
        pass
    score_25m = (time.perf_counter() - clock) / args.users * USERS_25M

    print("\ncontent step at the 25M shape" if args.movies == ML25M_MOVIES else "\ncontent step")
    for label, seconds in parts.items():
        print(f"  {label:<42}{seconds:8.1f} s")
    print(f"  {'place_by_content (what the refresh runs)':<42}{step:8.1f} s")
    print(f"  {'peak RSS growth':<42}{peak - base_rss:8.0f} MiB")
    print(f"  {'the mapping in the published model':<42}{len(buffer.getvalue()) / 2**20:8.1f} MB")
    p50, p99 = np.percentile(np.array(latencies) * 1000, [50, 99])
    print(f"  {'one movie placed at read time, p50 / p99':<42}{p50:5.1f} / {p99:.1f} ms")
    print(f"\nyardstick, same run: score step for {args.users:,} users, extrapolated to "
          f"{USERS_25M:,}: {score_25m:.1f} s (the content step is "
          f"{100 * step / score_25m:.0f}% of it)")  # fmt: skip
    maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"process peak RSS {maxrss:,.0f} MiB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
