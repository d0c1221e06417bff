"""Engine commands: ``movierec train``, ``movierec stats`` and ``movierec scheduler``."""

from __future__ import annotations

import click

from movierec.cli_support import fail_cleanly, pass_settings
from movierec.config import Settings


def _require_current_schema(settings: Settings) -> None:
    """Refuse to run on a database that lacks this version's tables (e.g. model_runs)."""
    from movierec.db import Database
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


@click.command()
@click.option(
    "--progress/--no-progress", default=True, show_default=True, help="Show a progress bar."
)
@pass_settings
@fail_cleanly
def train(settings: Settings, progress: bool) -> None:
    """Refresh the recommendations now: train SVD on every rating, rank every user's unrated
    movies and publish the lists. Fails at once if another refresh is running."""
    from movierec.cache import CacheStore
    from movierec.cache.store import LockBusy
    from movierec.db import Database
    from movierec.jobs.refresh import refresh_recommendations
    from movierec.recommender.training import NothingToTrain

    _require_current_schema(settings)
    db = Database(settings.database_url)
    cache = CacheStore(settings.redis_url, settings.redis_key_prefix, settings.redis_chunk_size)
    try:
        report = refresh_recommendations(db, cache, settings, show_progress=progress)
    except (LockBusy, NothingToTrain) as error:
        raise click.ClickException(str(error)) from None
    finally:
        db.dispose()
        cache.close()
    click.echo(report.summary())


@click.command()
@pass_settings
@fail_cleanly
def stats(settings: Settings) -> None:
    """Refresh the movie statistics now (votes, averages, top movies)."""
    from movierec.cache import CacheStore
    from movierec.cache.store import LockBusy
    from movierec.db import Database
    from movierec.jobs.refresh import refresh_statistics

    db = Database(settings.database_url)
    cache = CacheStore(settings.redis_url, settings.redis_key_prefix, settings.redis_chunk_size)
    try:
        report = refresh_statistics(db, cache, settings)
    except LockBusy as error:
        raise click.ClickException(str(error)) from None
    finally:
        db.dispose()
        cache.close()
    click.echo(report.summary())


@click.command()
@pass_settings
@fail_cleanly
def scheduler(settings: Settings) -> None:
    """Run the refresh schedule in the foreground: recommendations every
    RECOMMENDATIONS_REFRESH_MINUTES, statistics every STATISTICS_REFRESH_MINUTES, and each
    at once when Redis holds none. Ctrl-C or SIGTERM stops it."""
    from movierec.jobs.scheduler import run_scheduler

    _require_current_schema(settings)
    run_scheduler(settings)


ENGINE_COMMANDS = (train, stats, scheduler)
