"""``movierec data``: download MovieLens data and load it into the database."""

from __future__ import annotations

from pathlib import Path

import click

from movierec.cli.support import fail_cleanly, pass_settings
from movierec.config import Settings


@click.group()
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
