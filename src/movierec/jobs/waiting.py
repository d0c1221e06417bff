"""Waiting at start for the database the scheduler needs.

A stack whose parts start in any order (compose without health conditions, Kubernetes, a host
after a reboot) may start the scheduler before PostgreSQL accepts connections, or before the
migration has run. The scheduler already rides out Redis being away (its watchdog republishes
once Redis is back), so it waits for the database too instead of exiting: it retries with an
exponential back-off up to the watchdog's interval (the pace at which it re-checks Redis) and
logs at most once a minute, so a long wait is visible without flooding the log.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from sqlalchemy.exc import DBAPIError, OperationalError, ProgrammingError

from movierec.db import Database
from movierec.db.migrate import current_revision, head_revision, known_revision

log = logging.getLogger(__name__)

FIRST_RETRY_SECONDS = 1.0
LOG_EVERY_SECONDS = 60.0


class SchemaFromTheFuture(RuntimeError):
    """The database was migrated by a newer MovieRec: waiting would not help."""


@dataclass(frozen=True)
class BackOff:
    """Delays of ``first`` seconds, doubling up to ``ceiling``."""

    first: float
    ceiling: float

    def delays(self) -> Callable[[], float]:
        delay = [self.first / 2]

        def following() -> float:
            delay[0] = min(delay[0] * 2, self.ceiling)
            return delay[0]

        return following


def database_problem(url: str) -> str | None:
    """Why the scheduler cannot work on the database at ``url`` yet (unreachable, or a schema
    behind this version's), None when it can. Raises ``SchemaFromTheFuture`` for a schema this
    version does not know."""
    head = head_revision(url)
    database = Database(url)
    try:
        current = current_revision(database.engine)
    except (OperationalError, ProgrammingError, DBAPIError) as error:
        reason = str(error.orig).strip().splitlines()[0] if error.orig else str(error)
        return f"the database is unavailable ({reason or type(error.orig).__name__})"
    finally:
        database.dispose()
    if current == head:
        return None
    if current is not None and not known_revision(url, current):
        raise SchemaFromTheFuture(
            f"the database schema is at revision {current}, which this version does not know "
            f"(it needs {head}): run the MovieRec version that migrated it"
        )
    return (
        f"the database schema is at revision {current or 'none'}, this version needs {head} "
        "(`movierec db upgrade`)"
    )


def wait_for_database(
    url: str,
    back_off: BackOff,
    *,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> None:
    """Return once the database at ``url`` is reachable and at this version's schema; until
    then retry after each back-off delay, logging a warning at once and then at most once a
    minute. Raises ``SchemaFromTheFuture``; Ctrl-C (KeyboardInterrupt) ends the wait."""
    started = clock()
    problem = database_problem(url)
    if problem is None:
        return
    next_delay = back_off.delays()
    log.warning("%s: waiting for it, retrying for as long as it takes", problem)
    logged = clock()
    while problem is not None:
        sleep(next_delay())
        with _quiet("alembic.runtime.migration"):  # two INFO lines per look at the schema
            problem = database_problem(url)
        if problem is not None and clock() - logged >= LOG_EVERY_SECONDS:
            log.warning("still waiting after %.0fs: %s", clock() - started, problem)
            logged = clock()
    log.info("the database is ready after %.0fs of waiting", clock() - started)


@contextmanager
def _quiet(name: str) -> Iterator[None]:
    logger = logging.getLogger(name)
    level = logger.level
    logger.setLevel(max(level, logging.WARNING))
    try:
        yield
    finally:
        logger.setLevel(level)
