"""Article features: content (metadata, entities, embedding) and real-time popularity."""

from entities import article
from sources import article_content, engagement_events

from skewless import Aggregation, FeatureView, Ratio

article_metadata = FeatureView(
    name="article_metadata",
    description="What the article is: category, entities, age and its text embedding.",
    entities=[article],
    source=article_content,
    owner="content-platform@news.example",
)

article_popularity = FeatureView(
    name="article_popularity",
    description="Views, clicks and CTR over the last 10 minutes and hour (fresh within a second).",
    entities=[article],
    source=engagement_events,
    aggregations=[
        Aggregation("clicked", "count", windows=["10m", "1h"], name="views_{window}"),
        Aggregation("clicked", "sum", windows=["10m", "1h"], name="clicks_{window}"),
        Aggregation("shared", "sum", windows=["1h"], name="shares_{window}"),
    ],
    ratios=[Ratio("ctr_10m", "clicks_10m", "views_10m"), Ratio("ctr_1h", "clicks_1h", "views_1h")],
    owner="feed-ranking@news.example",
)
