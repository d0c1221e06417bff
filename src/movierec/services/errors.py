"""Domain errors raised by the services. They carry a message meant for the API client; the HTTP
layer maps each kind to a status (see ``movierec.api.errors``), the CLI to a one-line message."""

from __future__ import annotations


class ServiceError(Exception):
    """Base of every expected, client-caused failure of a service call."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidInput(ServiceError):
    """A value the service cannot accept (a rating outside 0-5, NaN, ...)."""


class NotFound(ServiceError):
    """A user, movie or rating that does not exist."""


class Conflict(ServiceError):
    """The request contradicts the current state (un-watching an explicitly rated movie)."""
