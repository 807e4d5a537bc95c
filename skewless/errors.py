"""Every error Skewless raises, rooted in one class.

```
SkewlessError                    anything Skewless refuses or cannot do
├── ConfigError                  skewless.yaml or a config object is invalid
├── DefinitionError              a feature definition is invalid (duration, type, reference, ...)
├── RepoLoadError                a feature repo's Python files could not be imported
├── InvalidRequestError          a retrieval's entity rows or request values are malformed
│   ├── MalformedRequestError    an HTTP body is not JSON or not shaped like the request
│   └── RequestTooLargeError     an HTTP body is larger than the server accepts
├── RegistryError                the registry refused or failed an operation
│   ├── IncompatibleChangeError  a change that needs a new version of the view
│   ├── RevisionConflictError    another writer committed first (apply retries these)
│   └── NotFoundError            no object with that name (or version) is registered
├── OfflineStoreError            the offline store refused or failed a read, write or maintenance
│   └── DataValidationError      rows do not match their source's schema; nothing was written
└── OnlineStoreError             the online store refused or failed an operation
    └── OnlineStoreUnavailableError  it did not answer in time or refused the connection
```

Every error carries an optional ``hint``: the concrete thing to change. This module imports
nothing from HTTP or storage libraries; serving maps these classes to status codes in one table.
"""

from __future__ import annotations


class SkewlessError(Exception):
    """Base class of every error Skewless raises on purpose."""

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        self.message = message
        self.hint = hint
        super().__init__(f"{message}\n  hint: {hint}" if hint else message)


class ConfigError(SkewlessError):
    """``skewless.yaml`` (or a config object) is missing, malformed or names unknown keys."""


class DefinitionError(SkewlessError):
    """A feature definition is invalid: a bad duration, a type mismatch, a dangling reference."""


class RepoLoadError(SkewlessError):
    """A Python file of the feature repo raised while being imported."""


class InvalidRequestError(SkewlessError):
    """Entity rows or request values given to a retrieval are missing, mistyped or malformed."""


class MalformedRequestError(InvalidRequestError):
    """The body is not JSON, or not shaped like the request it is sent as."""


class RequestTooLargeError(InvalidRequestError):
    """The request body is larger than the server accepts."""


class RegistryError(SkewlessError):
    """The registry refused or failed an operation."""


class IncompatibleChangeError(RegistryError):
    """The change would alter values that trained models depend on; it needs a new version."""


class RevisionConflictError(RegistryError):
    """The registry's revision moved between reading it and committing a change."""


class NotFoundError(RegistryError):
    """No object with that kind, name or version is registered."""


class OfflineStoreError(SkewlessError):
    """The offline store refused or failed an operation (no such table or version, a type change, ...)."""


class DataValidationError(OfflineStoreError):
    """Rows do not match their source's schema; nothing was written.

    The message is the report; the same facts are kept as attributes for programs:
    ``problems`` holds ``(row, column, reason)`` for the first offending rows (rows count from 0),
    ``invalid_rows`` the number of offending rows and ``columns`` the offending rows per column.
    """

    def __init__(
        self,
        message: str,
        *,
        hint: str | None = None,
        problems: tuple[tuple[int, str, str], ...] = (),
        invalid_rows: int = 0,
        columns: dict[str, int] | None = None,
    ) -> None:
        super().__init__(message, hint=hint)
        self.problems = problems
        self.invalid_rows = invalid_rows
        self.columns = dict(columns or {})


class OnlineStoreError(SkewlessError):
    """The online store refused or failed an operation."""


class OnlineStoreUnavailableError(OnlineStoreError):
    """The online store did not answer within its timeout, or refused the connection."""
