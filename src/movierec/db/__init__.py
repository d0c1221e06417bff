"""Persistence: the SQLAlchemy models, the engine/session handling, repositories and migrations.

All SQL of the service lives in this package.
"""

from movierec.db.session import Database

__all__ = ["Database"]
