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
    # Named article_* so a service can read them beside the user's clicks_1h without renaming.
    aggregations=[
        Aggregation("clicked", "count", windows=["10m", "1h"], name="article_views_{window}"),
        Aggregation("clicked", "sum", windows=["10m", "1h"], name="article_clicks_{window}"),
        Aggregation("shared", "sum", windows=["1h"], name="article_shares_{window}"),
    ],
    ratios=[
        Ratio("article_ctr_10m", "article_clicks_10m", "article_views_10m"),
        Ratio("article_ctr_1h", "article_clicks_1h", "article_views_1h"),
    ],
    owner="feed-ranking@news.example",
)
