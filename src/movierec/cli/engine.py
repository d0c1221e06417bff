"""Engine commands: ``movierec train``, ``movierec stats`` and ``movierec scheduler``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click

from movierec.cache import CacheStore
from movierec.cli.support import fail_cleanly, pass_settings
from movierec.config import Settings
from movierec.db import Database


def _require_current_schema(settings: Settings) -> None:
    """Refuse to run on a database that lacks this version's tables (e.g. model_runs)."""
    from movierec.db.migrate import current_revision, head_revision

    database = Database(settings.database_url)
    try:
        current = current_revision(database.engine)
    finally:
        database.dispose()
    head = head_revision(settings.database_url)
    if current != head:
        raise click.ClickException(
            f"the database schema is at revision {current or 'none'}, this version needs "
            f"{head}: run `movierec db upgrade`"
        )


def _run_job(settings: Settings, job: Callable[[Database, CacheStore], Any]) -> None:
    """Run one refresh job on handles of its own and print its summary; a busy lock or nothing
    to train on is a one-line refusal."""
    from movierec.cache.locks import LockBusy
    from movierec.recommender.training import NothingToTrain

    db = Database(settings.database_url)
    cache = CacheStore.from_settings(settings)
    try:
        report = job(db, cache)
    except (LockBusy, NothingToTrain) as error:
        raise click.ClickException(str(error)) from None
    finally:
        db.dispose()
        cache.close()
    click.echo(report.summary())


@click.command()
@click.option(
    "--progress/--no-progress", default=True, show_default=True, help="Show a progress bar."
)
@pass_settings
@fail_cleanly
def train(settings: Settings, progress: bool) -> None:
    """Refresh the recommendations now: train SVD on every rating, rank every user's unrated
    movies and publish the lists. Fails at once if another refresh is running."""
    from movierec.jobs.refresh import refresh_recommendations

    _require_current_schema(settings)
    _run_job(
        settings,
        lambda db, cache: refresh_recommendations(db, cache, settings, show_progress=progress),
    )


@click.command()
@pass_settings
@fail_cleanly
def stats(settings: Settings) -> None:
    """Refresh the movie statistics now (votes, averages, top movies)."""
    from movierec.jobs.refresh import refresh_statistics

    _run_job(settings, lambda db, cache: refresh_statistics(db, cache, settings))


@click.command()
@pass_settings
@fail_cleanly
def scheduler(settings: Settings) -> None:
    """Run the refresh schedule in the foreground: recommendations every
    RECOMMENDATIONS_REFRESH_MINUTES, statistics every STATISTICS_REFRESH_MINUTES, and each
    at once when Redis holds none. Waits for the database first (unreachable, or not migrated
    yet), as it does for Redis. Ctrl-C or SIGTERM stops it."""
    from movierec.jobs.scheduler import run_scheduler
    from movierec.jobs.waiting import SchemaFromTheFuture

    try:
        run_scheduler(settings)  # waits for the database itself: no schema check here
    except SchemaFromTheFuture as error:
        raise click.ClickException(str(error)) from None


ENGINE_COMMANDS = (train, stats, scheduler)
