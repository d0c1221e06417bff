"""Use-cases behind the API: plain functions over the database and the cache, no Flask."""
