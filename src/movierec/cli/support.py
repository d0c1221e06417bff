"""What every `movierec` command shares: settings loaded at run time, one-line errors."""

from __future__ import annotations

import functools
import logging
import re
from collections.abc import Callable
from typing import Any, TypeVar

import click

from movierec.config import SettingsError, load_settings
from movierec.data import DataError
from movierec.logs import configure_logging

F = TypeVar("F", bound=Callable[..., Any])

# PostgreSQL's and SQLite's words for a table that is not there (the schema was never migrated).
_MISSING_TABLE = re.compile(r'relation "[^"]+" does not exist|no such table')


class InvalidSetting(click.ClickException):
    """A bad setting: the one line naming the variable, exit code 2 (as click's usage errors),
    without the ``Usage:``/``Try --help`` block, which would only point at the wrong thing."""

    exit_code = 2


def pass_settings(command: F) -> F:
    """Load the settings when a command runs (not at import), turning a bad setting into a
    one-line error and exit code 2."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            settings = load_settings()
        except SettingsError as error:
            raise InvalidSetting(str(error)) from None
        configure_logging(settings)
        # Alembic announces every plugin it sets up at INFO: noise before each command's output.
        logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)
        return command(settings, *args, **kwargs)

    return wrapper  # type: ignore[return-value]


def fail_cleanly(command: F) -> F:
    """Turn expected failures (bad data, unreachable services) into a one-line error."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from redis.exceptions import ConnectionError as RedisConnectionError
        from sqlalchemy.exc import OperationalError, ProgrammingError

        try:
            return command(*args, **kwargs)
        except DataError as error:
            raise click.ClickException(str(error)) from None
        except (OperationalError, ProgrammingError) as error:
            reason = str(error.orig).strip().splitlines()[0] if error.orig else str(error)
            if _MISSING_TABLE.search(reason):
                raise click.ClickException(
                    f"the database has no MovieRec schema yet ({reason}): run `movierec db upgrade`"
                ) from None
            if isinstance(error, ProgrammingError):
                raise click.ClickException(f"database error: {reason}") from None
            raise click.ClickException(f"database unavailable: {reason}") from None
        except RedisConnectionError as error:
            raise click.ClickException(f"redis unavailable: {error}") from None

    return wrapper  # type: ignore[return-value]
