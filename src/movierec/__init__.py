"""MovieRec: a movie recommendation micro-service."""

__version__ = "0.1.0"
