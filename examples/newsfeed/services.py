"""What the ranking model reads: one user, ~50 candidate articles, the request context."""

from article_features import article_metadata, article_popularity
from cross_features import context_features, user_article_cross
from user_features import user_engagement, user_profile

from skewless import FeatureService

ranker = FeatureService(
    name="ranker",
    description="Features of the feed ranking model (user x article x context).",
    features=[
        user_engagement,
        user_profile[["top_topics", "articles_read_total"]],
        article_metadata[["category", "word_count"]],
        article_popularity,
        context_features,
        user_article_cross,
    ],
    owner="feed-ranking@news.example",
)
