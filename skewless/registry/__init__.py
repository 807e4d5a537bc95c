"""The registry: every definition with its version, planned and applied safely."""

from skewless.registry.plan import Change, Plan, make_plan
from skewless.registry.protocol import RegistryStore
from skewless.registry.registry import ApplyResult, Registry, RegistrySnapshot
from skewless.registry.sql import SqlRegistryStore, sqlalchemy_url
from skewless.registry.watch import RegistryWatcher

__all__ = [
    "ApplyResult",
    "Change",
    "Plan",
    "Registry",
    "RegistrySnapshot",
    "RegistryStore",
    "RegistryWatcher",
    "SqlRegistryStore",
    "make_plan",
    "sqlalchemy_url",
]
