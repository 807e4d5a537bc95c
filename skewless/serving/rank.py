"""``POST /rank``: a user, candidate articles and the request context in; the candidates ordered by
the ranking model out.

The features come from the same read as ``/get-online-features`` (the ``rank_service``), so the
model sees exactly what a client fetching features would. Cold start is not an error: an unknown
user or article gets its absent features (empty windows, no profile), as in training, and is
scored; the answer says which candidates the store did not know. The model is any pickled object
with ``predict(columns) -> scores`` (e.g. ``skewless.demo.model.RankerModel``), loaded once.
"""

from __future__ import annotations

import pickle
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from skewless.errors import InvalidRequestError, NotFoundError, RequestTooLargeError
from skewless.serving.bodies import json_object
from skewless.serving.feast_format import MAX_BODY_BYTES


@dataclass(frozen=True)
class RankRequest:
    user_id: int
    candidates: list[int]
    context: dict[str, Any]


def parse_rank(body: bytes, *, max_rows: int) -> RankRequest:
    example = '{"user_id": 7, "candidates": [1, 2], "context": {}}'
    data = json_object(body, max_bytes=MAX_BODY_BYTES, example=example)
    user, candidates, context = data.get("user_id"), data.get("candidates"), data.get("context", {})
    if type(user) is not int:
        raise InvalidRequestError(f"user_id must be an integer, got {user!r}", hint="send the reader's user_id")
    if not isinstance(candidates, list) or not all(type(c) is int for c in candidates):
        raise InvalidRequestError("candidates must be a list of article ids (integers)")
    if not candidates:
        raise InvalidRequestError("candidates is empty: there is nothing to rank", hint="send the article ids to order")
    if len(candidates) > max_rows:
        raise RequestTooLargeError(f"{len(candidates):,} candidates, more than the limit of {max_rows:,}", hint="serving.max_rows")
    if not isinstance(context, dict):
        raise InvalidRequestError('context must be an object of request values, e.g. {"device": "ios"}')
    return RankRequest(user, candidates, context)


class Ranker:
    def __init__(self, repo_path: Path, model_path: str | None) -> None:
        self.path = None if model_path is None else repo_path / model_path
        self._model: Any = None
        self._lock = threading.Lock()

    def model(self) -> Any:
        if self._model is None:
            if self.path is None:
                raise NotFoundError("no ranking model is configured", hint="set serving.rank_model in skewless.yaml (a pickled model)")
            with self._lock:
                if self._model is None:
                    if not self.path.exists():
                        raise NotFoundError(
                            f"the ranking model {self.path} does not exist", hint="train it (skewless demo does) or fix serving.rank_model"
                        )
                    self._model = pickle.loads(self.path.read_bytes())  # the operator's own file, like a config
        return self._model

    def rank(self, request: RankRequest, columns: dict[str, list[Any]], statuses: dict[str, list[str]]) -> dict[str, Any]:
        scores = np.asarray(self.model().predict(columns), dtype=np.float64)
        order = np.argsort(-scores, kind="stable")
        known = _known(columns, statuses, len(request.candidates))
        ranked = [
            {"article_id": request.candidates[i], "score": float(scores[i]) if np.isfinite(scores[i]) else None, "known": bool(known[i])}
            for i in order
        ]
        return {"user_id": request.user_id, "ranked": ranked}


def _known(columns: dict[str, list[Any]], statuses: dict[str, list[str]], rows: int) -> list[bool]:
    """A candidate is known when some stored article feature was found for it."""
    article = [s for name, s in statuses.items() if name in ("category", "headline", "word_count", "published_at")]
    if not article:
        return [True] * rows
    return [any(s[i] not in ("NOT_FOUND",) for s in article) for i in range(rows)]


@dataclass(frozen=True)
class FeatureScorer:
    """The simplest ranking model: one feature, highest first (absent values last), e.g. a popularity
    baseline on ``article_views_1h``. Pickle one to ``serving.rank_model`` to serve it."""

    feature: str

    def predict(self, columns: dict[str, list[Any]]) -> np.ndarray:
        values = columns[self.feature]
        return np.array([-np.inf if v is None else float(v) for v in values], dtype=np.float64)
