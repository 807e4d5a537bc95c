"""What an apply would change, computed without I/O (like ``terraform plan``).

Compatibility rules, the heart of schema evolution:

- Adding features, views, sources, entities or services is compatible.
- Removing a feature, changing its type, or changing how it is aggregated (column, function,
  window, hop) changes values that trained models depend on: it needs a new ``version`` of the
  view. The old version stays registered, readable as ``"view@v1:feature"``, until it is
  deleted on purpose (``skewless delete view@v1``).
- Entities cannot change their join keys or key type; sources cannot drop or retype columns or
  change their timestamp / event-id columns: define a new entity or source instead.
- Descriptions, owners, tags, ttl, services and on-demand code may change freely (a changed
  on-demand function is flagged: models trained on the old code will be served the new one).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from skewless.definitions.aggregation import Aggregation
from skewless.definitions.base import Definition
from skewless.definitions.catalog import Catalog, ObjectKey, collect
from skewless.definitions.duration import format_seconds
from skewless.definitions.spec import objects_from_specs
from skewless.errors import DefinitionError, IncompatibleChangeError, NotFoundError

Action = Literal["add", "update", "delete", "keep", "unchanged"]
Mode = Literal["sync", "upsert"]
VERSIONED_KINDS = ("feature_view", "on_demand_feature_view")
Spec = dict[str, Any]


@dataclass(frozen=True)
class Change:
    key: ObjectKey
    action: Action
    before: Spec | None = None
    after: Spec | None = None
    details: tuple[str, ...] = ()
    breaking: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()


@dataclass(frozen=True)
class Plan:
    """The changes an apply would commit on top of ``base_revision``; ``catalog`` is the result."""

    base_revision: int
    changes: tuple[Change, ...]
    catalog: Catalog = field(repr=False)

    @property
    def pending(self) -> list[Change]:
        return [c for c in self.changes if c.action in ("add", "update", "delete")]

    @property
    def has_changes(self) -> bool:
        return bool(self.pending)

    def check_compatible(self) -> None:
        """Raise :class:`IncompatibleChangeError` naming every breaking change and how to version it."""
        breaking = [c for c in self.changes if c.breaking]
        if not breaking:
            return
        lines = [f"  {c.key}: {reason}" for c in breaking for reason in c.breaking]
        raise IncompatibleChangeError("incompatible change refused:\n" + "\n".join(lines), hint=_version_hint(breaking[0].key))

    def render(self) -> str:
        """A readable, line-per-change summary (``+`` add, ``~`` update, ``-`` delete, ``=`` kept)."""
        marks = {"add": "+", "update": "~", "delete": "-", "keep": "="}
        lines = []
        for change in self.changes:
            if change.action == "unchanged":
                continue
            note = "  (kept: an older version stays readable)" if change.action == "keep" else ""
            lines.append(f"{marks[change.action]} {change.key}{note}")
            lines.extend(f"    {d}" for d in change.details)
            lines.extend(f"    ! incompatible: {b}" for b in change.breaking)
            lines.extend(f"    ⚠ {w}" for w in change.warnings)
        if not self.has_changes:
            lines.append("No changes: the registry matches the definitions.")
        else:
            counts = {a: sum(c.action == a for c in self.changes) for a in ("add", "update", "delete")}
            lines.append(f"Plan: {counts['add']} to add, {counts['update']} to change, {counts['delete']} to delete.")
        return "\n".join(lines)


def make_plan(
    current: Catalog,
    desired: Iterable[Definition],
    *,
    base_revision: int,
    mode: Mode = "sync",
    delete: Iterable[ObjectKey] = (),
) -> Plan:
    """Diff ``current`` against ``desired``.

    ``sync`` makes the registry match ``desired`` (objects absent from it are deleted, except
    older versions of views that ``desired`` still defines). ``upsert`` only adds and updates.
    ``delete`` removes objects on purpose, e.g. a superseded view version.
    """
    problems: list[DefinitionError] = []
    desired_objects = collect(desired, problems)
    if problems:
        raise problems[0] if len(problems) == 1 else DefinitionError("\n".join(str(p) for p in problems))
    before: dict[ObjectKey, Spec] = {key: obj.to_spec() for key, obj in current.items()}
    after: dict[ObjectKey, Spec] = {key: obj.to_spec() for key, obj in desired_objects.items()}
    kept: set[ObjectKey] = set()
    for key, spec in before.items():
        if key in after:
            continue
        if mode == "upsert":
            after[key] = spec
        elif _superseded(key, after):
            after[key] = spec
            kept.add(key)
    for key in delete:
        if key not in before:
            raise NotFoundError(f"cannot delete {key}: it is not registered", hint="`skewless ls` lists what is")
        after.pop(key, None)
        kept.discard(key)
    _keep_dependencies(before, after, kept)
    catalog = Catalog.build(objects_from_specs((k.kind, s) for k, s in after.items()))
    changes = [_change(key, before.get(key), after.get(key), kept=key in kept) for key in sorted(before.keys() | after.keys())]
    return Plan(base_revision, tuple(changes), catalog)


def _superseded(key: ObjectKey, after: Mapping[ObjectKey, Spec]) -> bool:
    return key.kind in VERSIONED_KINDS and any(k.kind == key.kind and k.name == key.name for k in after)


def _keep_dependencies(before: Mapping[ObjectKey, Spec], after: dict[ObjectKey, Spec], kept: set[ObjectKey]) -> None:
    """Entities and sources that kept views still read are kept too."""
    for key in list(kept):
        spec = after[key]
        needed = (
            [ObjectKey("entity", e) for e in spec.get("entities", [])]
            + ([ObjectKey("source", spec["source"])] if "source" in spec and isinstance(spec["source"], str) else [])
            + [ObjectKey("source", s) for s in spec.get("request_sources", [])]
        )
        for dep in needed:
            if dep not in after and dep in before:
                after[dep] = before[dep]
                kept.add(dep)


def _change(key: ObjectKey, before: Spec | None, after: Spec | None, *, kept: bool) -> Change:
    if before is None:
        return Change(key, "add", None, after)
    if after is None:
        return Change(key, "delete", before, None)
    if kept:
        return Change(key, "keep", before, after)
    if _comparable(before) == _comparable(after):
        return Change(key, "unchanged", before, after)
    details = tuple(_diff(_comparable(before), _comparable(after), ""))
    breaking = tuple(_breaking(key.kind, before, after))
    warnings = (
        ("the on-demand function changed: models trained on the old code will be served the new one",)
        if (key.kind == "on_demand_feature_view" and before["udf"]["source"] != after["udf"]["source"])
        else ()
    )
    return Change(key, "update", before, after, details, breaking, warnings)


def _comparable(spec: Spec) -> Spec:
    if "udf" in spec:
        spec = {**spec, "udf": {k: v for k, v in spec["udf"].items() if k != "pickle"}}
    return spec


def _breaking(kind: str, before: Spec, after: Spec) -> list[str]:
    reasons: list[str] = []
    if kind == "entity":
        for attr in ("join_keys", "dtype"):
            if before[attr] != after[attr]:
                reasons.append(f"changes {attr} from {before[attr]} to {after[attr]} (define a new entity instead)")
    elif kind == "source":
        if before["type"] != after["type"]:
            reasons.append(f"changes the source type from {before['type']} to {after['type']}")
        for attr in ("timestamp_field", "created_timestamp_field", "event_id_field"):
            if before.get(attr) != after.get(attr):
                reasons.append(f"changes {attr} from {before.get(attr)!r} to {after.get(attr)!r}")
        reasons.extend(_field_changes(before["schema"], after["schema"], noun="column"))
        if reasons:
            reasons[-1] += " (define a new source, e.g. with a _v2 suffix, instead)"
    elif kind == "feature_view":
        for attr in ("entities", "source"):
            if before[attr] != after[attr]:
                reasons.append(f"changes {attr} from {before[attr]} to {after[attr]}")
        reasons.extend(_field_changes(_features(before), _features(after), noun="feature"))
        reasons.extend(_aggregation_changes(before, after))
    elif kind == "on_demand_feature_view":
        reasons.extend(_field_changes(before["schema"], after["schema"], noun="feature"))
    return reasons


def _features(spec: Spec) -> list[Spec]:
    if spec["schema"] is not None:
        return list(spec["schema"])
    return [{"name": n} for n in _aggregation_semantics(spec)]


def _field_changes(before: list[Spec], after: list[Spec], *, noun: str) -> list[str]:
    new = {f["name"]: f for f in after}
    reasons = []
    for old in before:
        if old["name"] not in new:
            reasons.append(f"removes {noun} {old['name']!r}")
        elif "dtype" in old and old["dtype"] != new[old["name"]].get("dtype"):
            reasons.append(f"changes the type of {noun} {old['name']!r} from {old['dtype']} to {new[old['name']]['dtype']}")
    return reasons


def _aggregation_changes(before: Spec, after: Spec) -> list[str]:
    old, new = _aggregation_semantics(before), _aggregation_semantics(after)
    return [
        f"changes how {name!r} is computed ({_describe(old[name])} -> {_describe(new[name])})"
        for name in old
        if name in new and old[name] != new[name]
    ]


def _aggregation_semantics(spec: Spec) -> dict[str, tuple[Any, ...]]:
    """Output name -> what determines its values."""
    semantics: dict[str, tuple[Any, ...]] = {}
    for agg_spec in spec["aggregations"]:
        semantics.update(Aggregation.from_spec(agg_spec).semantics())
    for ratio in spec["ratios"]:
        semantics[ratio["name"]] = ("ratio", ratio["numerator"], ratio["denominator"])
    return semantics


def _describe(semantics: tuple[Any, ...]) -> str:
    if semantics[0] == "ratio":
        return f"{semantics[1]} / {semantics[2]}"
    column, function, window, hop, n = semantics
    text = f"{function}({column}) over {format_seconds(window)} by {format_seconds(hop)}"
    return text if n is None else f"{text}, n={n}"


def _diff(before: Any, after: Any, path: str) -> list[str]:
    """Readable differences between two specs, e.g. ``ttl: '1d' -> '2d'``, ``schema: + clicks (Int64)``."""
    if isinstance(before, dict) and isinstance(after, dict):
        lines: list[str] = []
        for key in dict.fromkeys([*before, *after]):
            lines.extend(_diff(before.get(key), after.get(key), f"{path}.{key}" if path else str(key)))
        return lines
    if _named_list(before) and _named_list(after):
        old, new = {_identity(i): i for i in before}, {_identity(i): i for i in after}
        lines = [f"{path}: + {n}{_type_suffix(new[n])}" for n in new if n not in old]
        lines += [f"{path}: - {n}{_type_suffix(old[n])}" for n in old if n not in new]
        for name in old.keys() & new.keys():
            lines.extend(_diff(old[name], new[name], f"{path}[{name}]"))
        return lines
    if before == after:
        return []
    if isinstance(before, str) and isinstance(after, str) and "\n" in before + after:
        return [f"{path}: changed"]
    return [f"{path}: {before!r} -> {after!r}"]


def _named_list(value: Any) -> bool:
    return isinstance(value, list) and bool(value) and all(isinstance(i, dict) and ("name" in i or "view" in i) for i in value)


def _identity(item: Spec) -> str:
    """Fields and aggregations are named; service entries are a view at a version."""
    if "name" in item:
        return str(item["name"])
    return item["view"] if item.get("version") is None else f"{item['view']}@v{item['version']}"


def _type_suffix(item: Spec) -> str:
    return f" ({item['dtype']})" if "dtype" in item else ""


def _version_hint(key: ObjectKey) -> str:
    if key.kind in VERSIONED_KINDS:
        cls = "FeatureView" if key.kind == "feature_view" else "OnDemandFeatureView"
        return (
            f"give the changed definition a new version: {cls}(name={key.name!r}, version={key.version + 1}, ...). "
            f"Version {key.version} stays readable as '{key.name}@v{key.version}:<feature>' until you delete it "
            f"on purpose with `skewless delete {key.name}@v{key.version}`"
        )
    return "define a new object with a new name for the changed meaning, and move the views over to it"
