"""MovieLens: download, preparation and loading into the database."""


class DataError(Exception):
    """Input data is missing or malformed; the message names the file (and line) at fault."""
