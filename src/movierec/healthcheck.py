"""Container health checks: ``python -m movierec.healthcheck web|scheduler``.

Exit status 0 means healthy, 1 unhealthy; one line on stdout says why (``docker inspect`` shows
it). Only the standard library and MovieRec's own handles are used, because the slim image has
no curl.

* ``web``: the server answers its readiness probe (database and Redis reachable from it, and
  movie statistics published in Redis).
* ``scheduler``: PostgreSQL answers, and Redis holds a published set of recommendations and of
  movie statistics, i.e. the refreshes that the scheduler exists for have produced something.
"""

from __future__ import annotations

import urllib.error
import urllib.request

import click

DEFAULT_URL = "http://127.0.0.1:8000/health/ready"


def check_web(url: str, timeout: float) -> tuple[bool, str]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.status == 200, f"{url}: HTTP {response.status}"
    except urllib.error.HTTPError as error:
        return False, f"{url}: HTTP {error.code}"
    except (urllib.error.URLError, OSError) as error:
        reason = getattr(error, "reason", error)
        return False, f"{url}: {reason}"


def check_scheduler() -> tuple[bool, str]:
    from sqlalchemy import text

    from movierec.cache import CacheStore
    from movierec.config import SettingsError, load_settings
    from movierec.db import Database

    try:
        settings = load_settings()
    except SettingsError as error:
        return False, str(error)
    database = Database(settings.database_url)
    cache = CacheStore.from_settings(settings)
    try:
        with database.engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        versions = {kind: cache.current_version(kind) for kind in ("recs", "stats")}
    except Exception as error:  # any failure is "unhealthy"; say which and why
        return False, f"{type(error).__name__}: {str(error).strip().splitlines()[0]}"
    finally:
        database.dispose()
        cache.close()
    missing = [kind for kind, version in versions.items() if version is None]
    if missing:
        return False, f"nothing published yet for: {', '.join(missing)}"
    return True, "published " + ", ".join(f"{kind} {version}" for kind, version in versions.items())


@click.group()
def main() -> None:
    """Health checks of the MovieRec containers (exit 0: healthy)."""


@main.command()
@click.option("--url", default=DEFAULT_URL, show_default=True, help="Probe to fetch.")
@click.option("--timeout", default=4.0, show_default=True, help="Seconds.")
def web(url: str, timeout: float) -> None:
    """The web server answers its probe with 200."""
    healthy, message = check_web(url, timeout)
    click.echo(message)
    raise SystemExit(0 if healthy else 1)


@main.command()
def scheduler() -> None:
    """The database answers and Redis holds published recommendations and statistics."""
    healthy, message = check_scheduler()
    click.echo(message)
    raise SystemExit(0 if healthy else 1)


if __name__ == "__main__":
    main()
