"""The ``movierec`` command: thin commands over the library and the services."""

from __future__ import annotations

from pathlib import Path

import click

from movierec.cli_engine import ENGINE_COMMANDS
from movierec.cli_experiment import experiment
from movierec.cli_model import model
from movierec.cli_serve import serve
from movierec.cli_support import fail_cleanly, pass_settings
from movierec.config import Settings


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
    help="Folder to unpack into. [default: DATA_DIR]",
)
@pass_settings
@fail_cleanly
def data_download(settings: Settings, url: str | None, dest: Path | None) -> None:
    """Download, verify and unpack a MovieLens zip."""
    from movierec.data.download import download

    folder = download(
        url or settings.movielens_url, dest or settings.data_dir, sha256=settings.movielens_sha256
    )
    click.echo(f"unpacked into {folder}")


@data.command("load")
@click.option("--source", required=True, help="MovieLens folder, zip file, or URL of a zip.")
@click.option(
    "--metadata",
    type=click.Path(dir_okay=False, path_type=Path),
    help="TMDB-style CSV (id, overview) for movie descriptions.",
)
@click.option(
    "--overwrite",
    is_flag=True,
    help="Let the file's ratings replace those changed through the API since they were "
    "loaded (deleted users and ratings still stay deleted).",
)
@pass_settings
@fail_cleanly
def data_load(settings: Settings, source: str, metadata: Path | None, overwrite: bool) -> None:
    """Load users, movies and ratings into the database: inserts what is missing, never
    undoes what the API changed or deleted (idempotent)."""
    from movierec.data.load import load_movielens
    from movierec.db import Database

    report = load_movielens(
        Database(settings.database_url),
        source,
        metadata=metadata,
        sha256=settings.movielens_sha256,
        overwrite=overwrite,
    )
    click.echo(report.summary())
    announce_catalogue_change(settings)


def announce_catalogue_change(settings: Settings) -> None:
    """After a load: the web tier's movie-detail caches must drop what they kept."""
    from movierec.cache import CacheStore
    from movierec.services.catalogue import announce_new_catalogue

    cache = CacheStore.from_settings(settings)
    try:
        warning = announce_new_catalogue(cache)
    finally:
        cache.close()
    if warning:
        click.echo(f"warning: {warning}", err=True)


# -- embedded demo ------------------------------------------------------------------------


@main.command()
@click.option(
    "--source", help="MovieLens folder, zip or URL for the first start. [default: MOVIELENS_URL]"
)
@click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Where the SQLite database and the embedded Redis live. [default: DATA_DIR]",
)
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=click.IntRange(0, 65535))
@pass_settings
@fail_cleanly
def demo(
    settings: Settings, source: str | None, data_dir: Path | None, host: str, port: int
) -> None:
    """Run the whole service on an embedded stack: SQLite and a Redis-compatible server from
    a Python wheel (unless DATABASE_URL / REDIS_URL are set)."""
    from movierec.embedded import run_demo

    run_demo(settings, source=source, data_dir=data_dir or settings.data_dir, host=host, port=port)


main.add_command(serve)
for _engine_command in ENGINE_COMMANDS:
    main.add_command(_engine_command)
main.add_command(model)
main.add_command(experiment)
