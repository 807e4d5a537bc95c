"""Where the news feed's data comes from."""

from skewless import Array, BatchSource, Embedding, Field, Float32, Int64, RequestSource, StreamSource, String, Timestamp

EMBEDDING_DIM = 384  # all-MiniLM-L6-v2: users and articles share this space

engagement_events = StreamSource(
    name="engagement_events",
    description="One event per article shown in a feed, with what the reader did with it.",
    schema=[
        Field(name="event_id", dtype=String),
        Field(name="user_id", dtype=Int64),
        Field(name="article_id", dtype=Int64),
        Field(name="position", dtype=Int64, description="slot in the feed, 0 = top"),
        Field(name="clicked", dtype=Int64, description="1 if opened"),
        Field(name="liked", dtype=Int64),
        Field(name="shared", dtype=Int64),
        Field(name="dwell_seconds", dtype=Float32, description="time on the article; null if not opened"),
        Field(name="device", dtype=String),
    ],
    event_id_field="event_id",
    owner="feed-ranking@news.example",
)

article_content = BatchSource(
    name="article_content",
    description="Written by article ingestion: metadata, named entities and the text embedding.",
    schema=[
        Field(name="article_id", dtype=Int64),
        Field(name="category", dtype=String),
        Field(name="headline", dtype=String),
        Field(name="named_entities", dtype=Array(String)),
        Field(name="published_at", dtype=Timestamp),
        Field(name="word_count", dtype=Int64),
        Field(name="content_embedding", dtype=Embedding(EMBEDDING_DIM)),
    ],
    owner="content-platform@news.example",
)

user_profiles = BatchSource(
    name="user_profiles",
    description="Written by the daily and intra-day user batch jobs.",
    schema=[
        Field(name="user_id", dtype=Int64),
        Field(name="top_topics", dtype=Array(String), description="categories the reader favours, strongest first"),
        Field(name="topic_scores", dtype=Array(Float32), description="weight of each of top_topics, summing to 1"),
        Field(name="user_embedding", dtype=Embedding(EMBEDDING_DIM), description="time-decayed mean of read articles"),
        Field(name="articles_read_total", dtype=Int64),
        Field(name="home_country", dtype=String),
    ],
    owner="feed-ranking@news.example",
)

request_context = RequestSource(
    name="request_context",
    description="Sent by the app with each feed request.",
    schema=[
        Field(name="device", dtype=String, description="ios | android | web"),
        Field(name="country", dtype=String, description="ISO 3166 alpha-2"),
        Field(name="utc_offset_minutes", dtype=Int64, description="the reader's time zone"),
    ],
)
