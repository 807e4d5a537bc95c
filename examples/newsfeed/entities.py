"""Who and what the news feed's features describe."""

from skewless import Entity, Int64

user = Entity(
    name="user",
    join_keys=["user_id"],
    dtype=Int64,
    description="A reader of the platform (50M monthly).",
    owner="feed-ranking@news.example",
)

article = Entity(
    name="article",
    join_keys=["article_id"],
    dtype=Int64,
    description="A published news article (10k new per day).",
    owner="feed-ranking@news.example",
)
