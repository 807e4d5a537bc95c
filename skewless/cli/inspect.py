"""``skewless ls``, ``describe`` and ``history``: read the registry."""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Sequence
from enum import StrEnum
from typing import Annotated

import typer
from rich import box
from rich.console import Console, Group, RenderableType
from rich.syntax import Syntax
from rich.table import Table
from rich.text import Text
from rich.tree import Tree

from skewless.cli.common import console, local_time, open_store
from skewless.definitions.base import Definition
from skewless.definitions.catalog import AnyView, Catalog, ObjectKey
from skewless.definitions.duration import format_seconds
from skewless.definitions.entity import Entity
from skewless.definitions.feature_view import FeatureView
from skewless.definitions.field import Field
from skewless.definitions.on_demand import OnDemandFeatureView
from skewless.definitions.service import FeatureService
from skewless.definitions.source import BatchSource, RequestSource, Source, StreamSource
from skewless.errors import NotFoundError
from skewless.registry.plan import VERSIONED_KINDS
from skewless.registry.registry import RegistrySnapshot


class Kind(StrEnum):
    entities = "entities"
    sources = "sources"
    feature_views = "feature-views"
    on_demand = "on-demand"
    services = "services"


_KIND_OF = {
    Kind.entities: "entity",
    Kind.sources: "source",
    Kind.feature_views: "feature_view",
    Kind.on_demand: "on_demand_feature_view",
    Kind.services: "feature_service",
}
_VERSIONED_REF = re.compile(r"^(.+)@v(\d+)$")


# -- ls -------------------------------------------------------------------------------------------


def ls(
    ctx: typer.Context,
    kind: Annotated[Kind | None, typer.Argument(help="Only objects of this kind.", show_default=False)] = None,
) -> None:
    """List the registered objects: kind, name, versions, number of features, owner, last update.

    [bold]Example:[/bold]

      skewless ls
      skewless ls feature-views
    """
    with open_store(ctx) as store:
        snapshot = store.registry.snapshot()
    out = console()
    wanted = None if kind is None else _KIND_OF[kind]
    groups: dict[tuple[str, str], list[ObjectKey]] = {}
    for key in snapshot.records:
        if wanted is None or key.kind == wanted:
            groups.setdefault((key.kind, key.name), []).append(key)
    if not groups:
        what = "nothing" if kind is None else f"no {kind.value}"
        out.print(f"{what.capitalize()} registered in project {snapshot.project!r} (revision {snapshot.revision}).")
        out.print(Text("hint: run `skewless apply` to register the repo's definitions", style="yellow"))
        return
    title = f"{snapshot.project} · revision {snapshot.revision}"
    table = Table(title=title, title_justify="left", box=box.SIMPLE_HEAD, padding=(0, 1, 0, 0))
    table.add_column("Kind", no_wrap=True)
    table.add_column("Name", no_wrap=True, style="cyan")
    table.add_column("Versions", no_wrap=True)
    table.add_column("Features", no_wrap=True, justify="right")
    table.add_column("Updated", no_wrap=True)
    table.add_column("Owner", overflow="ellipsis")  # the one column that gives way on a narrow terminal
    order = {k: i for i, k in enumerate(_KIND_OF.values())}
    for (obj_kind, name), keys in sorted(groups.items(), key=lambda item: (order[item[0][0]], item[0][1])):
        keys.sort()
        latest = snapshot.catalog.get(keys[-1])
        assert latest is not None  # records and catalog come from the same load
        versions = ", ".join(f"v{k.version}" for k in keys) if obj_kind in VERSIONED_KINDS else ""
        updated = max(snapshot.records[k].updated_at for k in keys)
        count = _feature_count(snapshot.catalog, latest)
        table.add_row(_kind_label(latest), name, versions, count, local_time(updated, seconds=False), latest.owner)
    out.print(table)


def _kind_label(obj: Definition) -> str:
    if isinstance(obj, (BatchSource, StreamSource, RequestSource)):
        return f"source ({obj.source_type})"
    return {"on_demand_feature_view": "on-demand view"}.get(obj.kind, obj.kind.replace("_", " "))


def _feature_count(catalog: Catalog, obj: Definition) -> str:
    if isinstance(obj, (FeatureView, OnDemandFeatureView)):
        return str(len(obj.features))
    if isinstance(obj, FeatureService):
        return str(len(catalog.service_refs(obj)))
    return ""


# -- describe -------------------------------------------------------------------------------------


def describe(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(metavar="NAME[@vN]", help="A view (latest version, or NAME@vN), service, entity or source.")],
) -> None:
    """Describe one registered object: its definition, versions and lineage.

    A feature view or on-demand view: entities and join keys, source, ttl, features with their
    types, aggregation windows and hops, the versions available, what it reads and what uses it.
    A feature service: a tree of its views, their features, sources and entities.
    An entity or a source: its definition and what uses it.

    [bold]Example:[/bold]

      skewless describe ranker
      skewless describe user_engagement
      skewless describe user_engagement@v1
    """
    with open_store(ctx) as store:
        snapshot = store.registry.snapshot()
    out = console()
    catalog = snapshot.catalog
    versioned = _VERSIONED_REF.match(name)
    if versioned:
        _describe_view(out, snapshot, catalog.view(versioned.group(1), int(versioned.group(2))))
        return
    found = [obj for key, obj in catalog.items() if key.name == name and (key.kind not in VERSIONED_KINDS)]
    if catalog.versions(name):
        found.insert(0, catalog.view(name))
    if not found:
        names = sorted({key.name for key, _ in catalog.items()})
        close = difflib.get_close_matches(name, names, n=3)
        raise NotFoundError(
            f"nothing named {name!r} is registered in project {snapshot.project!r}",
            hint=f"did you mean {' or '.join(repr(c) for c in close)}?" if close else "`skewless ls` lists what is registered",
        )
    for i, obj in enumerate(found):
        if i:
            out.rule()
        if isinstance(obj, (FeatureView, OnDemandFeatureView)):
            _describe_view(out, snapshot, obj)
        elif isinstance(obj, FeatureService):
            _describe_service(out, snapshot, obj)
        elif isinstance(obj, Entity):
            _describe_entity(out, snapshot, obj)
        elif isinstance(obj, (BatchSource, StreamSource, RequestSource)):
            _describe_source(out, snapshot, obj)


def _header(out: Console, snapshot: RegistrySnapshot, obj: Definition) -> None:
    title = Text.assemble((_kind_label(obj) + " ", "bold"), (obj.name, "bold cyan"))
    if isinstance(obj, (FeatureView, OnDemandFeatureView)):
        versions = snapshot.catalog.versions(obj.name)
        title.append(f"@v{obj.version}", style="bold cyan")
        title.append(f"   versions: {', '.join(f'v{v}' for v in versions)}", style="dim")
        if obj.version != versions[-1]:
            title.append(f" (latest: v{versions[-1]})", style="yellow")
    out.print(title)
    record = snapshot.records.get(ObjectKey(obj.kind, obj.name, obj.version))
    facts: list[tuple[str, str]] = [("description", obj.description), ("owner", obj.owner)]
    facts.append(("tags", ", ".join(f"{k}={v}" for k, v in obj.tags.items())))
    if record is not None:
        facts.append(("updated", f"{local_time(record.updated_at)} (revision {record.updated_revision})"))
    _facts(out, facts)


def _facts(out: Console, facts: Iterable[tuple[str, str]]) -> None:
    for label, value in facts:
        if value:
            out.print(Text.assemble((f"  {label}: ", "bold"), value), soft_wrap=True)


def _view_ref(view: AnyView) -> str:
    return f"{view.name}@v{view.version}"


def _entity_text(entity: Entity) -> str:
    return f"{entity.name} (join key{'s' if len(entity.join_keys) > 1 else ''} {', '.join(entity.join_keys)}: {entity.dtype})"


def _describe_view(out: Console, snapshot: RegistrySnapshot, view: AnyView) -> None:
    _header(out, snapshot, view)
    features = Table(title="Features", title_justify="left", title_style="bold")
    features.add_column("Feature")
    features.add_column("Type")
    if isinstance(view, FeatureView):
        entities = [e for e in view.entities if isinstance(e, Entity)]
        source = view.source
        _facts(
            out,
            [
                ("entities", "; ".join(_entity_text(e) for e in entities)),
                ("source", f"{source.name} ({source.source_type}, timestamp {source.timestamp_field})"),
                ("ttl", str(view.ttl) if view.ttl else "" if view.is_aggregation else "none (values never expire)"),
                ("online", "yes" if view.online else "no (offline only)"),
            ],
        )
        if view.is_aggregation:
            _aggregation_columns(features, view)
        else:
            for f in view.features:
                features.add_row(f.name, str(f.dtype))
    else:
        inputs = [*(f"request source {s.name}" for s in view.request_sources), *map(str, view.feature_refs)]
        _facts(out, [("inputs", ", ".join(inputs))])
        for f in view.features:
            features.add_row(f.name, str(f.dtype))
    out.print(features)
    if isinstance(view, OnDemandFeatureView):
        out.print(Text("Function", style="bold"))
        out.print(Syntax(view.udf_source.rstrip(), "python", theme="ansi_dark", background_color="default", word_wrap=True))
    out.print(_lineage(snapshot.catalog, view))


def _aggregation_columns(table: Table, view: FeatureView) -> None:
    table.add_column("Computed as")
    table.add_column("Window")
    table.add_column("Hop")
    types = {f.name: str(f.dtype) for f in view.features}
    windows = {agg.output_name(str(w)): str(w) for agg in view.aggregations for w in agg.windows}  # as the user wrote them
    for output in view.aggregation_outputs():
        function = f"{output.function}({output.column})" + (f", n={output.n}" if output.n is not None else "")
        window = windows.get(output.name, format_seconds(output.window_seconds))
        table.add_row(output.name, types[output.name], function, window, format_seconds(output.hop_seconds))
    for ratio in view.ratios:
        table.add_row(ratio.name, types[ratio.name], f"{ratio.numerator} / {ratio.denominator}", "", "")


def _lineage(catalog: Catalog, view: AnyView) -> Tree:
    tree = Tree(Text("Lineage", style="bold"))
    reads = tree.add(Text("reads", style="bold"))
    _add_inputs(reads, catalog, view)
    used = tree.add(Text("used by", style="bold"))
    _add_dependents(used, catalog, view)
    if not used.children:
        used.add(Text("nothing yet: no on-demand view or service reads this version", style="dim"))
    return tree


def _add_inputs(node: Tree, catalog: Catalog, view: AnyView) -> None:
    """Upstream: a feature view's source and entities; an on-demand view's inputs, recursively."""
    if isinstance(view, FeatureView):
        source = node.add(Text.assemble("source ", (view.source.name, "cyan"), f" ({view.source.source_type})"))
        for entity in view.entities:
            if isinstance(entity, Entity):
                source.add(Text.assemble("entity ", (_entity_text(entity), "cyan")))
        return
    for request in view.request_sources:
        node.add(Text.assemble("request source ", (request.name, "cyan"), f": {_fields(request.schema)}"))
    by_view: dict[AnyView, list[str]] = {}
    for ref in view.feature_refs:
        upstream, _ = catalog.resolve(ref)
        by_view.setdefault(upstream, []).append(ref.feature)
    for upstream, names in by_view.items():
        branch = node.add(Text.assemble(f"{_kind_label(upstream)} ", (_view_ref(upstream), "cyan"), f": {', '.join(names)}"))
        _add_inputs(branch, catalog, upstream)


def _add_dependents(node: Tree, catalog: Catalog, view: AnyView) -> None:
    """Downstream: on-demand views and services that read ``view``, recursively."""
    for user in catalog.dependents(view):
        if isinstance(user, OnDemandFeatureView):
            branch = node.add(Text.assemble("on-demand view ", (_view_ref(user), "cyan")))
            _add_dependents(branch, catalog, user)
        else:
            node.add(Text.assemble("feature service ", (user.name, "cyan")))


def _fields(fields: Iterable[Field]) -> str:
    return ", ".join(f"{f.name} ({f.dtype})" for f in fields)


def _describe_service(out: Console, snapshot: RegistrySnapshot, service: FeatureService) -> None:
    catalog = snapshot.catalog
    refs = catalog.service_refs(service)
    _header(out, snapshot, service)
    tree = Tree(Text.assemble((service.name, "bold cyan"), f": {len(refs)} features from {len(service.entries)} views"))
    for entry in service.entries:
        view = catalog.view(entry.view, entry.version)
        pin = "" if entry.version is not None else " (follows the latest version)"
        branch = tree.add(Text.assemble(f"{_kind_label(view)} ", (_view_ref(view), "bold cyan"), (pin, "dim")))
        types = {f.name: str(f.dtype) for f in view.features}
        for feature in entry.features or view.feature_names:
            branch.add(Text.assemble((feature, "green"), f" ({types[feature]})"))
        _add_inputs(branch, catalog, view)
    out.print(tree)


def _describe_entity(out: Console, snapshot: RegistrySnapshot, entity: Entity) -> None:
    _header(out, snapshot, entity)
    _facts(out, [("join keys", ", ".join(entity.join_keys)), ("key type", str(entity.dtype))])
    views = [v for v in snapshot.catalog.feature_views() if entity.name in v.entity_names]
    out.print(_used_by(snapshot.catalog, views))


def _describe_source(out: Console, snapshot: RegistrySnapshot, source: Source) -> None:
    _header(out, snapshot, source)
    if isinstance(source, (BatchSource, StreamSource)):
        _facts(
            out,
            [
                ("timestamp", source.timestamp_field),
                ("created timestamp", source.created_timestamp_field or ""),
                ("event id", source.event_id_field or ""),
            ],
        )
    columns = Table(title="Columns", title_justify="left", title_style="bold")
    columns.add_column("Column")
    columns.add_column("Type")
    for f in source.schema:
        columns.add_row(f.name, str(f.dtype))
    catalog = snapshot.catalog
    views: list[AnyView] = [v for v in catalog.feature_views() if v.source.name == source.name]
    views += [v for v in catalog.on_demand_views() if any(r.name == source.name for r in v.request_sources)]
    out.print(Group(columns, _used_by(catalog, views)))


def _used_by(catalog: Catalog, views: Sequence[AnyView]) -> RenderableType:
    tree = Tree(Text("used by", style="bold"))
    for view in views:
        branch = tree.add(Text.assemble(f"{_kind_label(view)} ", (_view_ref(view), "cyan")))
        _add_dependents(branch, catalog, view)
    if not views:
        tree.add(Text("nothing yet: no view reads it", style="dim"))
    return tree


# -- history --------------------------------------------------------------------------------------


def history(
    ctx: typer.Context,
    limit: Annotated[int, typer.Option("--limit", "-n", min=1, help="How many commits to show.")] = 20,
) -> None:
    """List the registry's commits (every apply and delete), newest first.

    [bold]Example:[/bold]

      skewless history
      skewless history -n 5
    """
    with open_store(ctx) as store:
        entries = store.registry.history(limit=limit)
        project = store.project
    out = console()
    if not entries:
        out.print(f"No commits yet in project {project!r}.")
        out.print(Text("hint: run `skewless apply` to register the repo's definitions", style="yellow"))
        return
    table = Table(title=f"{project} · history", title_justify="left")
    table.add_column("Revision", justify="right")
    table.add_column("Committed")
    table.add_column("Changes")
    for entry in entries:
        table.add_row(str(entry.revision), local_time(entry.committed_at), Text(entry.summary.replace("; ", "\n")))
    out.print(table)
