"""Every error Skewless raises, rooted in one class.

```
SkewlessError                    anything Skewless refuses or cannot do
├── ConfigError                  skewless.yaml or a config object is invalid
├── DefinitionError              a feature definition is invalid (duration, type, reference, ...)
├── RepoLoadError                a feature repo's Python files could not be imported
└── RegistryError                the registry refused or failed an operation
    ├── IncompatibleChangeError  a change that needs a new version of the view
    ├── RevisionConflictError    another writer committed first (apply retries these)
    └── NotFoundError            no object with that name (or version) is registered
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


class RegistryError(SkewlessError):
    """The registry refused or failed an operation."""


class IncompatibleChangeError(RegistryError):
    """The change would alter values that trained models depend on; it needs a new version."""


class RevisionConflictError(RegistryError):
    """The registry's revision moved between reading it and committing a change."""


class NotFoundError(RegistryError):
    """No object with that kind, name or version is registered."""
