"""Alembic environment: runs migrations on the URL given by movierec.db.migrate."""

from alembic import context
from sqlalchemy import create_engine

from movierec.db.models import Base
from movierec.db.session import create_db_engine

config = context.config
target_metadata = Base.metadata


def run_migrations_offline() -> None:
    context.configure(
        url=config.get_main_option("sqlalchemy.url"),
        target_metadata=target_metadata,
        literal_binds=True,
        render_as_batch=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    url = config.get_main_option("sqlalchemy.url")
    # SQLite rebuilds tables to alter them; with foreign keys enforced, dropping the old copy of
    # a parent table would cascade-delete its children. Migrations run without enforcement there.
    engine = create_engine(url) if url.startswith("sqlite") else create_db_engine(url)
    with engine.connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=target_metadata,
            # SQLite cannot ALTER most things; batch mode rebuilds tables there.
            render_as_batch=connection.dialect.name == "sqlite",
        )
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
