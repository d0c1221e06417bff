"""``movierec db``: the database schema (Alembic migrations)."""

from __future__ import annotations

import click

from movierec.cli.support import fail_cleanly, pass_settings
from movierec.config import Settings


@click.group()
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
