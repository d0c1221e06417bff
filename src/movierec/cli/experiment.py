"""``movierec experiment``: the online metrics of the lists and the A/B experiment between
rankers (docs/engine.md, "Knowing whether the lists work")."""

from __future__ import annotations

import json

import click

from movierec.cli.support import fail_cleanly, pass_settings
from movierec.config import Settings


@click.group()
def experiment() -> None:
    """Online metrics and A/B experiments between rankers."""


@experiment.command("report")
@click.option(
    "--days",
    type=click.IntRange(1, 3650),
    default=7,
    show_default=True,
    help="Days to report, today (UTC) included.",
)
@click.option("--json", "as_json", is_flag=True, help="One JSON object instead of the table.")
@click.option(
    "--drain/--no-drain",
    default=True,
    show_default=True,
    help="First move what waits in the Redis stream into the database.",
)
@click.option(
    "--resamples",
    type=click.IntRange(100, 100_000),
    default=1000,
    show_default=True,
    help="Bootstrap resamples of users for the intervals.",
)
@pass_settings
@fail_cleanly
def report(settings: Settings, days: int, as_json: bool, drain: bool, resamples: int) -> None:
    """Per experiment arm (per ranker without an experiment): users shown lists, lists shown,
    movies shown, clicks, likes (rated >= 4 or watched), dislikes and dismissals that followed,
    their rates with confidence intervals, coverage, and whether the arms differ."""
    from movierec.cache import CacheStore
    from movierec.db import Database
    from movierec.services.experiment_report import experiment_report

    db = Database(settings.database_url)
    cache = CacheStore.from_settings(settings)
    try:
        if drain:
            _drain(db, cache, settings, quiet=as_json)
        found = experiment_report(
            db, days, experiment=settings.configured_experiment(), resamples=resamples
        )
    finally:
        db.dispose()
        cache.close()
    if as_json:
        click.echo(json.dumps(found.as_dict(), indent=2))
    else:
        click.echo(found.table())


def _drain(db, cache, settings: Settings, *, quiet: bool) -> None:  # type: ignore[no-untyped-def]
    import redis

    from movierec.cache.store import LockBusy
    from movierec.jobs.impressions import drain

    try:
        done = drain(db, cache, settings, wait_seconds=30)
    except LockBusy as busy:
        click.echo(f"warning: not drained first: {busy}", err=True)
        return
    except redis.RedisError as error:
        # The database still holds everything drained so far: report that, and say so.
        click.echo(f"warning: not drained first: redis unavailable: {error}", err=True)
        return
    if not quiet:
        click.echo(done.summary())


@experiment.command("show")
@pass_settings
@fail_cleanly
def show(settings: Settings) -> None:
    """The experiment configured (EXPERIMENT or EXPERIMENT_FILE): its arms, rankers, shares."""
    configured = settings.configured_experiment()
    if configured is None:
        click.echo(f"no experiment: every user gets the lists of RANKER={settings.ranker}")
        return
    click.echo(configured.describe())
    for arm in configured.arms:
        params = f" {json.dumps(arm.params)}" if arm.params else ""
        click.echo(f"  {arm.name}: {arm.ranker}{params}, {100 * configured.share(arm):.1f}%")
