"""Stored rows as columns: values, statuses, and lists the caller can change without changing what
later reads give."""

from __future__ import annotations

from skewless import Array, BatchSource, Entity, FeatureView, Field, Int64, String
from skewless.definitions.catalog import Catalog
from skewless.definitions.selection import select_features
from skewless.online.columns import NOT_FOUND, PRESENT, view_columns
from skewless.online.read_plan import compile_read_plan

ARTICLE = Entity(name="article", join_keys=["article_id"], dtype=Int64)
SOURCE = BatchSource(
    name="articles",
    schema=[Field(name="article_id", dtype=Int64), Field(name="category", dtype=String), Field(name="tags", dtype=Array(String))],
)
VIEW = FeatureView(name="article_meta", entities=[ARTICLE], source=SOURCE, schema=SOURCE.schema[1:])


def test_rows_as_columns_and_each_read_gives_its_own_lists() -> None:
    plan = compile_read_plan("p", select_features(Catalog.build([VIEW]), ["article_meta:category", "article_meta:tags"])).views[0]
    keys = [plan.prefix + str(i).encode() for i in (1, 2, 3)]
    stored = {keys[0]: plan.codec.encode(10, ["news", ["a", "b"]]), keys[1]: plan.codec.encode(11, ["sport", ["c"]])}

    def read() -> tuple[list[object], list[object], list[str]]:
        columns = view_columns(plan, keys, stored, available=True, now_us=100)
        tags = columns[plan.selection.column("tags")]
        return columns[plan.selection.column("category")].values(), tags.values(), tags.statuses

    assert read() == (["news", "sport", None], [["a", "b"], ["c"], None], [PRESENT, PRESENT, NOT_FOUND])
    _, tags, _ = read()
    tags[0].append("changed by the caller")  # the caller's own list: the next read is not affected
    assert read()[1] == [["a", "b"], ["c"], None]
    stored[keys[0]] = plan.codec.encode(12, ["politics", ["d"]])  # rewritten
    stored[keys[2]] = plan.codec.encode(13, ["film", []])
    assert read() == (["politics", "sport", "film"], [["d"], ["c"], []], [PRESENT, PRESENT, PRESENT])
