"""``movierec serve``: the production web tier, gunicorn running ``create_app`` in worker processes.

This process becomes gunicorn's arbiter (so signals reach it directly: TERM stops gracefully, HUP
reloads the configuration and replaces the workers gracefully, TTIN/TTOU add or remove a worker).
The settings are read and checked once, here, before anything starts; the workers inherit them.
No scheduler runs in the web tier: ``movierec scheduler`` is its own process.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from importlib.resources import as_file, files
from pathlib import Path
from typing import Any

import click

from movierec.cli.support import pass_settings
from movierec.config import OPEN_ACCESS_WARNING, PROMETHEUS_MULTIPROC_ENV, Settings

CONFIG_RESOURCE = "gunicorn.conf.py"


def config_path() -> Path:
    """The gunicorn config file shipped in the package (a real file: setuptools installs it)."""
    with as_file(files("movierec").joinpath(CONFIG_RESOURCE)) as path:
        return Path(path)


def prepare_metrics_dir(configured: Path | None) -> Path:
    """Give the workers one folder for their metric files (prometheus-client's multi-process
    mode), so that /metrics sums every worker: ``configured`` emptied of an earlier run's
    files, else a new temporary folder. It goes into the environment here, in the arbiter,
    before any worker exists or anything imports prometheus-client."""
    if configured is None:
        folder = Path(tempfile.mkdtemp(prefix="movierec-metrics-"))
    else:
        folder = configured
        folder.mkdir(parents=True, exist_ok=True)
        for stale in folder.glob("*.db"):  # counters of a previous server would add up
            stale.unlink()
    os.environ[PROMETHEUS_MULTIPROC_ENV] = str(folder)
    return folder


def build_server(settings: Settings, options: dict[str, Any]):  # type: ignore[no-untyped-def]
    """The gunicorn application for these settings; ``options`` are gunicorn settings that win
    over the config file and ``GUNICORN_CMD_ARGS``."""
    # Imported here: gunicorn reads WEB_CONCURRENCY at import, which the settings have checked.
    from gunicorn.app.base import Application

    class MovieRecServer(Application):
        def load_config(self) -> None:
            # Same precedence as the gunicorn command: file < GUNICORN_CMD_ARGS < command line.
            self.load_config_from_file(str(config_path()))
            from_env = self.cfg.parser().parse_args(self.cfg.get_cmd_args_from_env())
            for name, value in vars(from_env).items():
                if value is not None and name not in {"args", "config"}:
                    self.cfg.set(name.lower(), value)
            for name, value in options.items():
                self.cfg.set(name, value)

        def load(self):  # type: ignore[no-untyped-def]
            from movierec.app import create_app

            return create_app(settings)

    return MovieRecServer(prog="movierec serve")


def warn_if_open(settings: Settings) -> None:
    """Say on the terminal, before anything starts, that writes are open to anyone (as a log
    record when logs are JSON, so every line of the output stays parseable)."""
    if not settings.open_access:
        return
    if settings.log_format == "json":
        logging.getLogger("movierec.serve").warning(OPEN_ACCESS_WARNING)
    else:
        click.secho(f"WARNING: {OPEN_ACCESS_WARNING}", err=True, fg="yellow", bold=True)


@click.command()
@click.option(
    "--workers",
    type=click.IntRange(1, 256),
    help="Worker processes. [default: WEB_CONCURRENCY, else one per available core plus one]",
)
@click.option(
    "--bind",
    "binds",
    multiple=True,
    metavar="HOST:PORT",
    help="Address to listen on (repeatable; unix:PATH for a socket). [default: 0.0.0.0:8000]",
)
@pass_settings
def serve(settings: Settings, workers: int | None, binds: tuple[str, ...]) -> None:
    """Serve the API with gunicorn (the production server; `movierec demo` is for trying it).

    Run any number of these behind a load balancer against one PostgreSQL and one Redis, and
    exactly one `movierec scheduler` next to them. Any other gunicorn option can be given in
    GUNICORN_CMD_ARGS, e.g. GUNICORN_CMD_ARGS="--threads 8".
    """
    warn_if_open(settings)
    options: dict[str, Any] = {}
    metrics_dir = prepare_metrics_dir(settings.prometheus_multiproc_dir)
    workers = workers or settings.web_concurrency
    if workers:
        options["workers"] = workers
    if binds:
        options["bind"] = list(binds)
    arbiter = os.getpid()
    try:
        build_server(settings, options).run()
    finally:
        # Every worker is a fork of this process and leaves through here too (sys.exit): only
        # the arbiter may remove the folder, or a recycled worker would wipe every count.
        if os.getpid() == arbiter and settings.prometheus_multiproc_dir is None:
            shutil.rmtree(metrics_dir, ignore_errors=True)
