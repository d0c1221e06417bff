"""users.changed_at: when a user last wrote something that changes what they may be
recommended (a rating, a watch, a dismissal, or taking one back). A web process reads the users
changed lately at most once a second, so that a cached list is never served out of date for
longer than that even when the write's Redis marker was lost (services.changes).

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

from movierec.db.models import UTCDateTime

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.add_column(sa.Column("changed_at", UTCDateTime(), nullable=True))
    op.create_index("ix_users_changed_at", "users", ["changed_at"])
    op.create_index("ix_deleted_users_deleted_at", "deleted_users", ["deleted_at"])


def downgrade() -> None:
    op.drop_index("ix_deleted_users_deleted_at", table_name="deleted_users")
    op.drop_index("ix_users_changed_at", table_name="users")
    # SQLite rebuilds the table to drop a column: keep its never-reused ids (0003).
    with op.batch_alter_table("users", table_kwargs={"sqlite_autoincrement": True}) as batch:
        batch.drop_column("changed_at")
