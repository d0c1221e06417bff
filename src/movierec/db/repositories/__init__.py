"""Queries, one module per table. Functions take a Session (or Connection) and return plain
values, model instances or data frames; they never commit (the caller owns the transaction)."""
