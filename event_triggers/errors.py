"""Domain errors. The API maps each to an HTTP status and the SailPoint error body."""

from __future__ import annotations

from collections.abc import Sequence


class DomainError(Exception):
    """Base class: a problem the caller can fix, reported with a 4xx."""

    status_code = 400

    def __init__(self, message: str, *, causes: Sequence[str] = ()) -> None:
        super().__init__(message)
        self.message = message
        self.causes = list(causes)
        """Details, one per item (SailPoint's ``causes``), e.g. each subscription a partial start missed."""


class InvalidField(DomainError):
    """A request field is missing or wrong; the message names the field and the reason."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}" if field else reason)
        self.field = field
        self.reason = reason


class NotFound(DomainError):
    status_code = 404


class Conflict(DomainError):
    status_code = 409


class Gone(DomainError):
    status_code = 410


class Unauthorized(DomainError):
    status_code = 401


class Forbidden(DomainError):
    status_code = 403


class PayloadTooLarge(DomainError):
    status_code = 413


class UnsupportedMediaType(DomainError):
    status_code = 415


class Unavailable(DomainError):
    """A dependency (Temporal, a worker) did not answer in time; the caller should retry."""

    status_code = 503

    def __init__(self, message: str, retry_after: int = 1, *, causes: Sequence[str] = ()) -> None:
        super().__init__(message, causes=causes)
        self.retry_after = retry_after


class SchemaNotReady(RuntimeError):
    """The database's schema is not the one this code needs, and ``event-triggers setup`` did not fix it
    (a process stops on it, naming the command; not a request's error)."""
