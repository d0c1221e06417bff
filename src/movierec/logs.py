"""Log output: text lines, or with ``LOG_FORMAT=json`` one JSON object per line (time, level,
logger, message, request_id and any extra fields), for every MovieRec process and for gunicorn's
own error and access logs. A record logged while a request is served carries that request's id
(the ``X-Request-ID`` header, see ``movierec.api.observability``)."""

from __future__ import annotations

import logging
from collections.abc import Mapping

from flask import g, has_request_context
from gunicorn import glogging
from pythonjsonlogger.json import JsonFormatter

from movierec.config import Settings, load_settings

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
# Gunicorn's access-log atom for the response's X-Request-ID header (``{header}o``).
ACCESS_REQUEST_ID = "{x-request-id}o"


class RequestIdFilter(logging.Filter):
    """Give every record a ``request_id``: the id of the request being served, else None."""

    def filter(self, record: logging.LogRecord) -> bool:
        request_id = None
        if has_request_context():
            request_id = g.get("request_id")
        elif isinstance(record.args, Mapping):
            # Gunicorn's access log: it runs after the request, with its atoms as the arguments.
            request_id = record.args.get(ACCESS_REQUEST_ID)
            request_id = None if request_id in (None, "-") else request_id
        record.request_id = request_id
        return True


class TextFormatter(logging.Formatter):
    """The classic line, with `` [request_id=...]`` after the message when there is one."""

    def formatMessage(self, record: logging.LogRecord) -> str:  # noqa: N802 (logging's name)
        line = super().formatMessage(record)
        request_id = getattr(record, "request_id", None)
        return f"{line} [request_id={request_id}]" if request_id else line


def json_formatter() -> logging.Formatter:
    return JsonFormatter(
        "{levelname}{name}{message}{request_id}",
        style="{",
        rename_fields={"levelname": "level", "name": "logger"},
        timestamp="time",  # ISO 8601, UTC
    )


def formatter(log_format: str) -> logging.Formatter:
    return json_formatter() if log_format == "json" else TextFormatter(TEXT_FORMAT)


def configure_logging(settings: Settings) -> None:
    """Set up the root logger once per process (later calls change nothing, like basicConfig)."""
    handler = logging.StreamHandler()
    handler.addFilter(RequestIdFilter())
    handler.setFormatter(formatter(settings.log_format))
    logging.basicConfig(level=settings.log_level.upper(), handlers=[handler])
    if settings.log_format == "json":
        logging.captureWarnings(True)  # a warning printed raw would be a line that is not JSON


# The demo's console is read by a person: where to open it, how the first load and refresh are
# going, and what went wrong. The libraries' routine INFO stays out of it there (Alembic's step
# per migration, some of them paragraphs; APScheduler's two lines per watchdog tick, which
# bury the address), and so does the open-writes warning of the app, which the demo prints
# once itself. Servers keep LOG_LEVEL for every logger.
DEMO_LOGGER_LEVELS = {
    "alembic": logging.WARNING,
    "apscheduler": logging.WARNING,
    "movierec.api.access": logging.ERROR,
}
DEMO_TEXT_FORMAT = "%(asctime)s %(message)s"
DEMO_TIME_FORMAT = "%H:%M:%S"


class DemoFormatter(TextFormatter):
    """A short line for what the demo reports (the time and the message); the level and the
    logger too for a warning or an error, which someone may want to look up."""

    def __init__(self) -> None:
        super().__init__(DEMO_TEXT_FORMAT, DEMO_TIME_FORMAT)
        self._detailed = TextFormatter(
            "%(asctime)s %(levelname)s %(name)s: %(message)s", DEMO_TIME_FORMAT
        )

    def format(self, record: logging.LogRecord) -> str:
        if record.levelno >= logging.WARNING:
            return self._detailed.format(record)
        return super().format(record)


def configure_demo_logging(settings: Settings) -> None:
    """The demo's console (above), unless LOG_LEVEL asks for more detail than INFO (then
    every logger speaks) or logs are JSON (then every line stays a record)."""
    configure_logging(settings)
    root = logging.getLogger()
    if root.level < logging.INFO:
        return
    for name, level in DEMO_LOGGER_LEVELS.items():
        logging.getLogger(name).setLevel(level)
    if settings.log_format != "json":
        for handler in root.handlers:
            handler.setFormatter(DemoFormatter())


class GunicornLogger(glogging.Logger):
    """Gunicorn's logger (the packaged gunicorn.conf.py's ``logger_class``), formatting its
    error and access logs as JSON too when ``LOG_FORMAT=json``."""

    def setup(self, cfg) -> None:  # type: ignore[no-untyped-def]
        super().setup(cfg)
        if load_settings().log_format != "json":
            return
        for log in (self.error_log, self.access_log):
            for handler in log.handlers:
                handler.addFilter(RequestIdFilter())
                handler.setFormatter(json_formatter())
