"""The one exception tree of newswatch.

    NewswatchError
     ├── ConfigError      a configuration file or setting is wrong (names file and entry)
     │    └── UsageError  a command-line option or argument is wrong
     ├── FetchError       a URL could not be fetched (carries url and kind)
     ├── StoreError       the database refused or is unavailable
     │    └── StoreConflict  a lake write lost a race with another writer (retried)
     ├── DeliveryError    a digest could not be delivered (SMTP)
     └── ServeError       `newswatch serve` could not start or keep its Prefect server

A page that yields no text is not an error: extraction records it as a value
(``extraction = 'failed'`` with its reason) and the pass goes on, so there is no ExtractError.

Every error carries what it is about (file, entry, url, database); the CLI prints it as
one line (``Error: …``) with a hint and exits non-zero.
"""

from __future__ import annotations

__all__ = [
    "ConfigError",
    "DeliveryError",
    "FetchError",
    "NewswatchError",
    "ServeError",
    "StoreConflict",
    "StoreError",
    "UsageError",
]


class NewswatchError(Exception):
    """Base class of every error newswatch raises on purpose."""

    exit_code = 1
    hint: str | None = None


class ConfigError(NewswatchError):
    """A configuration file (or environment override) is invalid.

    ``file`` is the path, ``entry`` the location inside it (``sources[3].url``).
    """

    exit_code = 2

    def __init__(self, message: str, *, file: str | None = None, entry: str | None = None):
        self.file = file
        self.entry = entry
        self.message = message
        where = ""
        if file:
            where = f"{file}"
            if entry:
                where += f": {entry}"
            where += ": "
        super().__init__(f"{where}{message}")


class UsageError(ConfigError):
    """A command-line option or argument is wrong (exit status 2, like a bad file)."""

    def __init__(self, message: str, *, hint: str | None = None):
        super().__init__(message)
        self.hint = hint


class FetchError(NewswatchError):
    """A URL could not be fetched.

    ``kind`` is one of: ``blocked`` (private address refused), ``robots`` (disallowed by
    robots.txt), ``timeout``, ``connect``, ``http`` (an error status), ``too_large``,
    ``redirects``, ``invalid_url``, ``protocol``.
    ``retry_after`` is the server's Retry-After in seconds, when it sent one.
    """

    def __init__(
        self,
        url: str,
        kind: str,
        reason: str,
        *,
        status: int | None = None,
        retry_after: float | None = None,
    ):
        self.url = url
        self.kind = kind
        self.reason = reason
        self.status = status
        self.retry_after = retry_after
        super().__init__(f"{url}: {reason}")


class StoreError(NewswatchError):
    """The database is unavailable, damaged, or refused a statement."""

    def __init__(self, message: str, *, hint: str | None = None):
        super().__init__(message)
        self.hint = hint


class StoreConflict(StoreError):
    """A write transaction conflicted with another writer's (DuckLake) and was rolled back.

    ``Store.run_in_transaction`` runs such a transaction again; a ``with
    store.transaction()`` block cannot be re-run, so it raises this instead."""


class DeliveryError(NewswatchError):
    """A digest could not be delivered.

    ``recipient_only``: only this recipient was refused and the SMTP session is still
    usable for the next one (a 550 for one address); False when the server or the session
    failed, so nothing more can be sent now."""

    def __init__(self, message: str, *, recipient_only: bool = False):
        super().__init__(message)
        self.recipient_only = recipient_only


class ServeError(NewswatchError):
    """``serve`` could not start or keep its Prefect server."""

    def __init__(self, message: str, *, hint: str | None = None):
        super().__init__(message)
        self.hint = hint
