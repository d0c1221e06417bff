"""Simulation: MovieLens users come back, through the real service, in an A/B experiment; the
online report must rank the arms as the offline evaluation of the same split does.

    python benchmarks/simulate.py [--backend postgres|embedded]
                                  [--experiment sim:puresvd=50,popular=50] [--sessions 2]
                                  [--limit 10] [--users N] [--threads 4]
                                  [--plot docs/simulation.png] [--json out.json]

ml-latest-small is split as the offline evaluation splits it (each user's latest 20% held out:
``movierec.simulation``). The earlier ratings are loaded into a new service with the
experiment configured:

* ``postgres``: a throwaway PostgreSQL database and Redis key prefix, ``movierec scheduler``
  (which trains every arm, publishes, and drains the impressions) and ``movierec serve``;
* ``embedded``: ``movierec demo`` (SQLite and the embedded Redis; its scheduler runs inside).

Then every held-out user visits ``--sessions`` times over HTTP: asks for ``--limit``
recommendations, and for every movie shown that they rated later, clicks it and rates it with
those stars if they liked it (>= 4), or only rates it. The report comes from the service:
``movierec experiment report --json`` (postgres: it drains first) or ``GET
/api/v1/admin/experiment`` once the scheduler has drained (embedded). The script checks the
report against what the simulated users did (every like, dislike and click attributed, every
distinct answer an impression), prints the arms beside the offline NDCG@limit of the same split
and the same rankers, and exits 1 unless the orders agree.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import redis
import requests
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from stack import ML_SMALL, add_backend_arguments
from tqdm import tqdm

from movierec.config import load_settings
from movierec.data.movielens import read_ratings
from movierec.recommender.data import RatingArrays
from movierec.simulation import (
    HttpApi,
    offline_ndcg,
    replay,
    same_order,
    split_for_simulation,
    write_movielens_folder,
)

METRIC = "liked_per_slot"


def movierec(env: dict[str, str], *args: str) -> str:
    result = subprocess.run(
        [sys.executable, "-m", "movierec", *args], env=env, capture_output=True, text=True
    )
    if result.returncode:
        raise SystemExit(f"movierec {' '.join(args)} failed:\n{result.stdout}{result.stderr}")
    return result.stdout


@contextmanager
def process(args: list[str], env: dict[str, str], log: Path):  # type: ignore[no-untyped-def]
    with log.open("wb") as out:
        child = subprocess.Popen(
            [sys.executable, "-m", "movierec", *args],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        yield child
    finally:
        if child.poll() is None:
            os.killpg(child.pid, signal.SIGTERM)
            try:
                child.wait(timeout=120)
            except subprocess.TimeoutExpired:
                os.killpg(child.pid, signal.SIGKILL)


def wait_for(condition, what: str, timeout: float, log: Path | None = None):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.5)
    tail = "" if log is None else "\n" + log.read_text(errors="replace")[-3000:]
    raise SystemExit(f"timed out waiting for {what}{tail}")


def listening(log: Path, pattern: str) -> str | None:
    match = re.search(pattern, log.read_text(errors="replace"))
    return match.group(1) if match else None


def ready(base: str) -> bool:
    try:
        answer = requests.get(f"{base}/health/ready", timeout=5)
    except requests.RequestException:
        return False
    return answer.status_code == 200


def published(base: str) -> bool:
    """The refresh published lists (asked of the engine's status: asking a user for their
    recommendations would be an impression of its own)."""
    try:
        answer = requests.get(f"{base}/api/v1/admin/status", timeout=10)
    except requests.RequestException:
        return False
    return answer.status_code == 200 and answer.json()["current_model"] is not None


def run_postgres(args: argparse.Namespace, folder: Path, workdir: Path, env: dict[str, str]):  # type: ignore[no-untyped-def]
    db_name = f"movierec_sim_{uuid.uuid4().hex[:8]}"
    admin = create_engine(args.admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{db_name}"'))
    env = {
        **env,
        "DATABASE_URL": make_url(args.admin_url).set(database=db_name).render_as_string(False),
        "REDIS_URL": args.redis_url,
        "REDIS_KEY_PREFIX": db_name,
        "SCHEDULER_METRICS_PORT": "0",
    }
    try:
        movierec(env, "db", "upgrade")
        movierec(env, "data", "load", "--source", str(folder))
        with ExitStack() as running:
            scheduler_log, serve_log = workdir / "scheduler.log", workdir / "serve.log"
            running.enter_context(process(["scheduler"], env, scheduler_log))
            running.enter_context(
                process(
                    ["serve", "--workers", str(args.workers), "--bind", "127.0.0.1:0"],
                    env,
                    serve_log,
                )
            )
            base = wait_for(
                lambda: listening(serve_log, r"Listening at: (http://\S+)"),
                "the server",
                60,
                serve_log,
            )
            print("training every arm (movierec scheduler) ...", flush=True)
            wait_for(
                lambda: ready(base) and published(base), "the first refresh", 900, scheduler_log
            )
            totals = visit_all(args, base)
            time.sleep(2 * float(env["IMPRESSIONS_FLUSH_SECONDS"]) + 6)  # flushed, settled
            document = json.loads(movierec(env, "experiment", "report", "--days", "1", "--json"))
        return totals, document
    finally:
        client = redis.Redis.from_url(args.redis_url)
        for key in client.scan_iter(match=f"{db_name}:*", count=1000):
            client.delete(key)
        client.close()
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{db_name}" WITH (FORCE)'))
        admin.dispose()


def run_embedded(args: argparse.Namespace, folder: Path, workdir: Path, env: dict[str, str]):  # type: ignore[no-untyped-def]
    env = {key: value for key, value in env.items() if key not in ("DATABASE_URL", "REDIS_URL")}
    log = workdir / "demo.log"
    demo = ["demo", "--source", str(folder), "--data-dir", str(workdir / "data"), "--port", "0"]
    with process(demo, env, log):
        base = wait_for(lambda: listening(log, r"serving on (http://\S+) "), "the demo", 300, log)
        print("training every arm (the demo's scheduler) ...", flush=True)
        wait_for(lambda: ready(base) and published(base), "the first refresh", 900, log)
        totals = visit_all(args, base)
        # The demo's scheduler drains every IMPRESSIONS_DRAIN_SECONDS; outcomes settle in 5 s.
        expected = totals.likes + totals.dislikes + totals.clicks

        def drained() -> dict[str, Any] | None:
            document = requests.get(f"{base}/api/v1/admin/experiment?days=1", timeout=60).json()
            found = sum(
                arm["liked_after_shown"] + arm["disliked_after_shown"] + arm["clicks"]
                for arm in document["arms"]
            )
            return document if found >= expected else None

        document = wait_for(drained, "the demo's scheduler to drain every outcome", 120, log)
    return totals, document


def visit_all(args: argparse.Namespace, base: str):  # type: ignore[no-untyped-def]
    data = args.data
    users = data.users[: args.users] if args.users else data.users
    print(f"{len(users)} users x {args.sessions} sessions over HTTP ...", flush=True)
    started = time.perf_counter()
    with tqdm(
        total=len(users) * args.sessions, unit="visits", disable=not sys.stderr.isatty()
    ) as bar:
        totals = replay(
            lambda: HttpApi(base),
            data,
            users=users,
            sessions=args.sessions,
            limit=args.limit,
            threads=args.threads,
            progress=bar.update,
        )
    print(
        f"visits done in {time.perf_counter() - started:.0f}s: {totals.answers:,} answers "
        f"({totals.distinct_answers:,} distinct), {totals.slots:,} movies shown, "
        f"{totals.likes:,} liked, {totals.dislikes:,} disliked, {totals.clicks:,} clicks; "
        f"sources {totals.sources}",
        flush=True,
    )
    return totals


def check_totals(totals, document: dict[str, Any]) -> list[str]:  # type: ignore[no-untyped-def]
    """What the report must have found of what the simulated users did."""
    arms = document["arms"]
    found = {
        "impressions": sum(arm["impressions"] for arm in arms),
        "likes": sum(arm["liked_after_shown"] for arm in arms),
        "dislikes": sum(arm["disliked_after_shown"] for arm in arms),
        "clicks": sum(arm["clicks"] for arm in arms),
    }
    sent = {
        "impressions": totals.distinct_answers,
        "likes": totals.likes,
        "dislikes": totals.dislikes,
        "clicks": totals.clicks,
    }
    return [f"{name}: users did {sent[name]}, the report has {found[name]}" for name in sent
            if sent[name] != found[name]]  # fmt: skip


def plot(rows: list[dict[str, Any]], path: Path) -> Path:
    """Online (liked per movie shown, with its interval; liked per user) beside offline
    (NDCG of the same split), one bar per arm."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(10, 3.8), layout="constrained")
    FigureCanvasAgg(figure)
    online, per_user, offline = figure.subplots(1, 3)
    names = [row["arm"] for row in rows]
    at = list(range(len(rows)))
    for ax, key, title in (
        (online, "liked_per_slot", "Online: liked per movie shown"),
        (per_user, "liked_per_user", "Online: users who liked one"),
    ):
        values = [row[key]["value"] for row in rows]
        errors = [
            [row[key]["value"] - row[key]["low"] for row in rows],
            [row[key]["high"] - row[key]["value"] for row in rows],
        ]
        ax.bar(at, values, 0.6, yerr=errors, capsize=6, color="#6a2a7c")
        ax.set_title(title, fontsize="medium")
        ax.set_ylabel("95% interval over users")
    offline.bar(at, [row["offline_ndcg"] for row in rows], 0.6, color="#1f77b4")
    offline.set_title("Offline: NDCG@10 of the same split", fontsize="medium")
    for ax in (online, per_user, offline):
        ax.set_xticks(at, names)
    figure.savefig(path, dpi=110)
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backend", choices=("postgres", "embedded"), default="postgres")
    parser.add_argument("--experiment", default="sim:puresvd=50,popular=50")
    parser.add_argument("--sessions", type=int, default=2)
    parser.add_argument("--limit", type=int, default=10)
    parser.add_argument("--users", type=int, help="Only the first N held-out users.")
    parser.add_argument("--threads", type=int, default=4, help="Users visiting at once.")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers (postgres).")
    parser.add_argument("--plot", type=Path)
    parser.add_argument("--json", type=Path)
    add_backend_arguments(parser)
    args = parser.parse_args()

    ratings = RatingArrays.from_frame(read_ratings(ML_SMALL))
    args.data = split_for_simulation(ratings)
    env = {
        **os.environ,
        "EXPERIMENT": args.experiment,
        "IMPRESSIONS_DRAIN_SECONDS": "1",
        "IMPRESSIONS_FLUSH_SECONDS": "0.5",
        "LOG_LEVEL": "WARNING",
    }
    settings = load_settings(EXPERIMENT=args.experiment)
    experiment = settings.configured_experiment()
    with tempfile.TemporaryDirectory(prefix="movierec-sim-") as scratch:
        workdir = Path(scratch)
        folder = write_movielens_folder(ML_SMALL, args.data.train, workdir / "train")
        print(
            f"{len(args.data.train):,} earlier ratings loaded, {len(args.data.users)} users "
            f"with later ones; {experiment.describe()}",
            flush=True,
        )
        run = run_postgres if args.backend == "postgres" else run_embedded
        totals, document = run(args, folder, workdir, env)
    offline = offline_ndcg(ratings, [arm.ranker for arm in experiment.arms], settings, args.limit)

    rows = []
    for arm in document["arms"]:
        if arm["experiment"] != experiment.name:
            continue
        rows.append({**arm["rates"], "arm": arm["arm"], "ranker": arm["ranker"], **{
            key: arm[key] for key in ("users", "impressions", "slots", "clicks",
                                      "liked_after_shown", "disliked_after_shown")
        }, "offline_ndcg": offline[arm["ranker"]]})  # fmt: skip
    print()
    print(f"{'arm':<10} {'ranker':<8} {'users':>5} {'lists':>6} {'slots':>6} {'clicks':>6} "
          f"{'liked':>6} {'liked/slot [95%]':>24} {'liked/user [95%]':>24} "
          f"{'NDCG@' + str(args.limit):>8}")  # fmt: skip
    for row in rows:
        slot, user = row["liked_per_slot"], row["liked_per_user"]
        print(
            f"{row['arm']:<10} {row['ranker']:<8} {row['users']:>5} {row['impressions']:>6} "
            f"{row['slots']:>6} {row['clicks']:>6} {row['liked_after_shown']:>6} "
            f"{slot['value']:.4f} [{slot['low']:.4f},{slot['high']:.4f}] "
            f"{user['value']:.4f} [{user['low']:.4f},{user['high']:.4f}] "
            f"{row['offline_ndcg']:8.4f}"
        )
    for arm in document["arms"]:
        for comparison in arm["comparison"]:
            if comparison["metric"] in ("liked_per_user", METRIC):
                print(f"{arm['arm']} vs {comparison['baseline']}, {comparison['metric']}: "
                      f"{comparison['verdict']}")  # fmt: skip
    online_scores = {row["ranker"]: row[METRIC]["value"] for row in rows}
    agree = same_order(online_scores, {row["ranker"]: row["offline_ndcg"] for row in rows})
    print(
        f"online ({METRIC}) and offline (NDCG) rank the arms the same way: "
        f"{'yes' if agree else 'NO'}"
    )
    problems = check_totals(totals, document)
    for problem in problems:
        print(f"MISMATCH {problem}")
    if args.json:
        args.json.write_text(json.dumps({"rows": rows, "report": document}, indent=2))
    if args.plot:
        print(f"plot: {plot(rows, args.plot)}")
    sys.exit(0 if agree and not problems else 1)


if __name__ == "__main__":
    main()
