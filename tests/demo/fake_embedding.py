"""A cheap stand-in for all-MiniLM-L6-v2 in fast tests of what only averages or compares given
vectors (the batch jobs, the model pipeline). The demo itself embeds with the real model."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from skewless.demo.nlp import EMBEDDING_DIM


class CategoryEmbedder:
    """Unit vectors near one random direction per category; texts come in the articles' order, so
    the caller passes their categories."""

    def __init__(self, categories: Sequence[str], seed: int = 5) -> None:
        self.categories = list(categories)
        self.rng = np.random.default_rng(seed)

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        assert len(texts) == len(self.categories)
        names = sorted(set(self.categories))
        centers = self.rng.normal(size=(len(names), EMBEDDING_DIM))
        vectors = centers[[names.index(c) for c in self.categories]] + 0.7 * self.rng.normal(size=(len(texts), EMBEDDING_DIM))
        return (vectors / np.linalg.norm(vectors, axis=1, keepdims=True)).astype(np.float32)
