"""The ``movierec`` command: thin commands over the library and the services."""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from movierec.config import Settings, SettingsError, load_settings
from movierec.data import DataError

F = TypeVar("F", bound=Callable[..., Any])


def pass_settings(command: F) -> F:
    """Load the settings when a command runs (not at import), turning a bad setting into a
    one-line error and exit code 2."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            settings = load_settings()
        except SettingsError as error:
            raise click.UsageError(str(error)) from None
        logging.basicConfig(
            level=settings.log_level.upper(),
            format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        )
        return command(settings, *args, **kwargs)

    return wrapper  # type: ignore[return-value]


def fail_cleanly(command: F) -> F:
    """Turn expected failures (bad data, unreachable services) into a one-line error."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from redis.exceptions import ConnectionError as RedisConnectionError
        from sqlalchemy.exc import OperationalError

        try:
            return command(*args, **kwargs)
        except DataError as error:
            raise click.ClickException(str(error)) from None
        except OperationalError as error:
            reason = str(error.orig).strip().splitlines()[0] if error.orig else str(error)
            raise click.ClickException(f"database unavailable: {reason}") from None
        except RedisConnectionError as error:
            raise click.ClickException(f"redis unavailable: {error}") from None

    return wrapper  # type: ignore[return-value]


@click.group()
@click.version_option(package_name="movierec")
def main() -> None:
    """MovieRec: a movie recommendation micro-service."""


# -- database -----------------------------------------------------------------------------


@main.group()
def db() -> None:
    """Database schema (Alembic migrations)."""


@db.command("upgrade")
@click.option("--revision", default="head", show_default=True, help="Target revision.")
@pass_settings
@fail_cleanly
def db_upgrade(settings: Settings, revision: str) -> None:
    """Create or migrate the schema to REVISION."""
    from movierec.db.migrate import upgrade

    upgrade(settings.database_url, revision)
    click.echo(f"database at revision {revision}")


@db.command("current")
@pass_settings
@fail_cleanly
def db_current(settings: Settings) -> None:
    """Print the schema revision of the database."""
    from movierec.db import Database
    from movierec.db.migrate import current_revision

    click.echo(current_revision(Database(settings.database_url).engine) or "empty")


# -- data ---------------------------------------------------------------------------------


@main.group()
def data() -> None:
    """MovieLens data: download and load."""


@data.command("download")
@click.option("--url", help="Zip to fetch (http, https or file URL). [default: MOVIELENS_URL]")
@click.option(
    "--dest",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("movierec-data"),
    show_default=True,
    help="Folder to unpack into.",
)
@pass_settings
@fail_cleanly
def data_download(settings: Settings, url: str | None, dest: Path) -> None:
    """Download, verify and unpack a MovieLens zip."""
    from movierec.data.download import download

    folder = download(url or settings.movielens_url, dest, sha256=settings.movielens_sha256)
    click.echo(f"unpacked into {folder}")


@data.command("load")
@click.option("--source", required=True, help="MovieLens folder, zip file, or URL of a zip.")
@click.option(
    "--metadata",
    type=click.Path(dir_okay=False, path_type=Path),
    help="TMDB-style CSV (id, overview) for movie descriptions.",
)
@pass_settings
@fail_cleanly
def data_load(settings: Settings, source: str, metadata: Path | None) -> None:
    """Load users, movies and ratings into the database (idempotent)."""
    from movierec.data.load import load_movielens
    from movierec.db import Database

    report = load_movielens(
        Database(settings.database_url),
        source,
        metadata=metadata,
        sha256=settings.movielens_sha256,
    )
    read = ", ".join(f"{n:,} {table}" for table, n in report.read.items())
    totals = ", ".join(f"{n:,} {table}" for table, n in report.totals.items())
    click.echo(f"read {read} in {report.seconds:.1f}s; the database now holds {totals}")


# -- embedded demo ------------------------------------------------------------------------


@main.command()
@click.option(
    "--source", help="MovieLens folder, zip or URL for the first start. [default: MOVIELENS_URL]"
)
@click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("movierec-data"),
    show_default=True,
    help="Where the SQLite database and the embedded Redis live.",
)
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=click.IntRange(0, 65535))
@pass_settings
@fail_cleanly
def demo(settings: Settings, source: str | None, data_dir: Path, host: str, port: int) -> None:
    """Run the whole service on an embedded stack: SQLite and a Redis-compatible server from
    a Python wheel (unless DATABASE_URL / REDIS_URL are set)."""
    from movierec.embedded import run_demo

    run_demo(settings, source=source, data_dir=data_dir, host=host, port=port)


from movierec.cli_serve import serve  # noqa: E402 - imports pass_settings from this module

main.add_command(serve)

from movierec.cli_engine import ENGINE_COMMANDS  # noqa: E402 - imports pass_settings from here

for _engine_command in ENGINE_COMMANDS:
    main.add_command(_engine_command)

from movierec.cli_model import model  # noqa: E402 - model selection commands

main.add_command(model)
