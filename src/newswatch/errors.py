"""The one exception tree of newswatch.

    NewswatchError
     ├── ConfigError      a configuration file or setting is wrong (names file and entry)
     │    └── UsageError  a command-line option or argument is wrong
     ├── FetchError       a URL could not be fetched (carries url and kind)
     ├── ExtractError     a page could not be turned into text
     ├── StoreError       the database refused or is unavailable
     │    └── StoreConflict  a lake write lost a race with another writer (retried)
     └── DeliveryError    a digest could not be delivered (SMTP)

Every error carries what it is about (file, entry, url, database); the CLI prints it as
one line (``Error: …``) with a hint and exits non-zero.
"""

from __future__ import annotations

__all__ = [
    "ConfigError",
    "DeliveryError",
    "ExtractError",
    "FetchError",
    "NewswatchError",
    "StoreConflict",
    "UsageError",
    "StoreError",
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


class ExtractError(NewswatchError):
    """A page could not be turned into text."""


class StoreError(NewswatchError):
    """The database is unavailable or refused a statement."""


class StoreConflict(StoreError):
    """A write transaction conflicted with another writer's (DuckLake) and was rolled back.

    ``Store.run_in_transaction`` runs such a transaction again; a ``with
    store.transaction()`` block cannot be re-run, so it raises this instead."""


class DeliveryError(NewswatchError):
    """A digest could not be delivered."""
