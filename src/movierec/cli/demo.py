"""``movierec demo``: the whole service on an embedded stack, for trying it."""

from __future__ import annotations

from pathlib import Path

import click

from movierec.cli.support import fail_cleanly, pass_settings
from movierec.config import Settings


@click.command()
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
