"""The database handle: one engine and session factory per process, bound to a Flask app with
``init_app`` (the Flask-extension pattern) or used on its own by the CLI and the scheduler."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

if TYPE_CHECKING:
    from flask import Flask


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record):  # type: ignore[no-untyped-def]
        cursor = dbapi_connection.cursor()
        # SQLite ignores ON DELETE CASCADE unless asked, and serialises writers: WAL lets the
        # API read while the loader or a refresh writes, busy_timeout makes writers queue.
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()


def create_db_engine(
    url: str, *, statement_timeout_ms: int | None = None, pool_timeout: float | None = None
) -> Engine:
    """An engine for ``url``. ``statement_timeout_ms`` (the web tier's) makes PostgreSQL cancel
    any statement, lock waits included, that runs longer (``statement_timeout``); SQLite keeps
    its 30 s busy timeout, because its writers queue by design (one at a time) and a shorter
    wait would turn a burst of concurrent writes into 503s. ``pool_timeout`` bounds the wait
    for a pooled connection. None: no limit (the refresh jobs), and SQLAlchemy's 30 s."""
    parsed = make_url(url)
    pool_options = {} if pool_timeout is None else {"pool_timeout": pool_timeout}
    if parsed.get_backend_name() == "sqlite":
        engine = create_engine(
            url, connect_args={"check_same_thread": False, "timeout": 30}, **pool_options
        )
        _configure_sqlite(engine)
        return engine
    # A bounded connect time, so readiness probes and requests fail fast when the host is gone.
    connect_args: dict[str, object] = {"connect_timeout": 5}
    if statement_timeout_ms:
        connect_args["options"] = f"-c statement_timeout={int(statement_timeout_ms)}"
    return create_engine(
        url,
        pool_pre_ping=True,
        pool_size=5,
        max_overflow=10,
        connect_args=connect_args,
        **pool_options,
    )


class Database:
    """Lazily creates its engine, so that nothing connects at import or app-creation time."""

    def __init__(
        self,
        url: str | None = None,
        *,
        statement_timeout_ms: int | None = None,
        pool_timeout: float | None = None,
    ) -> None:
        self.url = url
        self.statement_timeout_ms = statement_timeout_ms
        self.pool_timeout = pool_timeout
        self._engine: Engine | None = None
        self._sessionmaker: sessionmaker[Session] | None = None
        # Threads of one worker (gthread) or the scheduler's jobs may ask at the same moment;
        # without the lock each would build its own engine and pool.
        self._lock = threading.Lock()

    def init_app(self, app: Flask) -> None:
        """Bind to the app, with the web tier's timeouts (requests must fail fast, not queue
        behind a lock: a stuck thread is a request nobody else can be served on)."""
        settings = app.config["MOVIEREC_SETTINGS"]
        self.url = settings.database_url
        self.statement_timeout_ms = settings.db_statement_timeout_ms
        self.pool_timeout = settings.db_pool_timeout_seconds
        app.extensions["movierec.db"] = self

    @property
    def engine(self) -> Engine:
        if self._engine is None:
            with self._lock:
                if self._engine is None:
                    if self.url is None:
                        raise RuntimeError("Database has no URL: call init_app() or pass one")
                    engine = create_db_engine(
                        self.url,
                        statement_timeout_ms=self.statement_timeout_ms,
                        pool_timeout=self.pool_timeout,
                    )
                    self._sessionmaker = sessionmaker(engine, expire_on_commit=False)
                    self._engine = engine
        return self._engine

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A session in one transaction: committed when the block ends, rolled back on error."""
        self.engine  # noqa: B018 - creates the session factory on first use
        assert self._sessionmaker is not None
        with self._sessionmaker.begin() as session:
            yield session

    @contextmanager
    def connection(self) -> Iterator[Connection]:
        """A connection for reads in one transaction (rolled back when the block ends): what
        the hot read paths use, SQLAlchemy Core statements without an ORM session's
        bookkeeping (which was about a tenth of a cached recommendations request)."""
        with self.engine.connect() as connection:
            yield connection

    def dispose(self) -> None:
        """Drop pooled connections (after a fork, or at shutdown)."""
        if self._engine is not None:
            self._engine.dispose()
