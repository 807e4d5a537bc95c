"""Feature references: ``"view:feature"`` (latest version) or ``"view@v2:feature"`` (pinned)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from skewless.errors import DefinitionError

_REF = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)(?:@v(\d+))?:([A-Za-z_][A-Za-z0-9_]*)$")


@dataclass(frozen=True)
class FeatureRef:
    view: str
    feature: str
    version: int | None = None

    @classmethod
    def parse(cls, text: object) -> FeatureRef:
        match = _REF.match(text) if isinstance(text, str) else None
        if match is None:
            raise DefinitionError(
                f"malformed feature reference {text!r}",
                hint="write 'view:feature', or 'view@v2:feature' for a given version",
            )
        view, version, feature = match.groups()
        return cls(view, feature, int(version) if version else None)

    @property
    def view_label(self) -> str:
        return self.view if self.version is None else f"{self.view}@v{self.version}"

    def __str__(self) -> str:
        return f"{self.view_label}:{self.feature}"
