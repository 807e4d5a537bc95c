"""User features: engagement over 1h/24h/7d/30d, topics of interest, embedding."""

from entities import user
from sources import engagement_events, user_profiles

from skewless import Aggregation, FeatureView, Ratio

WINDOWS = ["1h", "24h", "7d", "30d"]

user_engagement = FeatureView(
    name="user_engagement",
    description="How much the reader engages, over sliding windows (updated per event).",
    entities=[user],
    source=engagement_events,
    aggregations=[
        Aggregation("clicked", "count", windows=WINDOWS, name="impressions_{window}"),
        Aggregation("clicked", "sum", windows=WINDOWS, name="clicks_{window}"),
        Aggregation("liked", "sum", windows=["24h", "7d", "30d"], name="likes_{window}"),
        Aggregation("shared", "sum", windows=["24h", "7d", "30d"], name="shares_{window}"),
        Aggregation("dwell_seconds", "mean", windows=["24h", "7d"], name="mean_dwell_{window}"),
        Aggregation("article_id", "last_n", windows=["7d"], n=20, name="recent_articles_{window}"),
    ],
    ratios=[Ratio(f"ctr_{w}", f"clicks_{w}", f"impressions_{w}") for w in WINDOWS],
    owner="feed-ranking@news.example",
)

user_profile = FeatureView(
    name="user_profile",
    description="Topics of interest and the reader's embedding, from the user batch jobs.",
    entities=[user],
    source=user_profiles,
    ttl="3d",  # a profile the jobs have not refreshed in 3 days is treated as missing
    owner="feed-ranking@news.example",
)
