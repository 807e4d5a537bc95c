"""Headlines and bodies of synthetic articles, with the named entities each one really mentions.

Text is written sentence by sentence from the templates of :mod:`skewless.demo.vocab`: 85% of an
article's topic words come from its category (the rest from a second topic for 15% of articles,
so that categories overlap as real sections do), news words and function words are shared by
every topic. Entities are mentioned the way news text mentions them: a person in full first, then
often by surname alone; a long-tail person or organisation (one the extractor's gazetteer does not
know) by name, with a role or as a "newcomer". Some text looks like a name and is not one: titles of
reports in quotes, and headlines In Title Case. The generator's truth is the canonical name of every
entity the text mentions.

Per-article work is plain Python on a :class:`random.Random` seeded from the caller's NumPy
generator: string building dominates, and a scalar Python draw costs a tenth of a NumPy one.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass

import numpy as np

from skewless.demo.vocab import (
    BODY_TEMPLATES,
    DAYS,
    GENERAL_NOUNS,
    HEADLINE_TEMPLATES,
    NOVEL_FIRST,
    NOVEL_LAST,
    NOVEL_ORGS,
    NOVEL_ROLES,
    SPANS,
    TITLE_FIRST,
    TITLE_SECOND,
    TOPICS,
    Topic,
)

SECOND_TOPIC_SHARE = 0.15  # articles that mix in a second topic's words
SECOND_TOPIC_WORDS = 0.3  # share of their topic words drawn from it
CROSS_ENTITY_SHARE = 0.15  # articles that mention an entity of another topic
NOVEL_PERSON_SHARE = 0.4  # articles quoting a long-tail person
NOVEL_ORG_SHARE = 0.2  # articles about a long-tail organisation
TITLE_CASE_SHARE = 0.2  # headlines In Title Case, as some outlets write them
SURNAME_ONLY_SHARE = 0.5  # later mentions of a person by surname alone

_SLOT = re.compile(r"\{(\w+)\}")


@dataclass(frozen=True)
class Article:
    headline: str
    body: str
    entities: list[str]  # canonical names the text mentions, in order of first mention


class _Writer:
    """One article's state: its words, its entities and which of them were already named."""

    def __init__(self, rnd: random.Random, topic: Topic, second: Topic | None) -> None:
        self.rnd = rnd
        self.topic = topic
        self.second = second
        pick = rnd.sample
        self.people = pick(topic.people, rnd.randint(1, 2))
        self.orgs = pick(topic.orgs, rnd.randint(1, 2))
        self.places = pick(topic.places, rnd.randint(1, 2))
        if rnd.random() < CROSS_ENTITY_SHARE:
            other = TOPICS[rnd.randrange(len(TOPICS))]
            kind = rnd.randrange(3)
            (self.people, self.orgs, self.places)[kind].append(rnd.choice((other.people, other.orgs, other.places)[kind]))
        self.novel = f"{rnd.choice(NOVEL_FIRST)} {rnd.choice(NOVEL_LAST)}" if rnd.random() < NOVEL_PERSON_SHARE else None
        self.novel_org = rnd.choice(NOVEL_ORGS) if rnd.random() < NOVEL_ORG_SHARE else None
        self.named: list[str] = []  # canonical names in order of first mention

    def _words(self) -> Topic:
        if self.second is not None and self.rnd.random() < SECOND_TOPIC_WORDS:
            return self.second
        return self.topic

    def _person(self, name: str) -> str:
        if name in self.named and self.rnd.random() < SURNAME_ONLY_SHARE:
            return name.split()[-1]
        return self._mention(name)

    def _mention(self, name: str) -> str:
        if name not in self.named:
            self.named.append(name)
        return name

    def slot(self, key: str) -> str:
        rnd = self.rnd
        if key in ("n", "n2", "n3"):
            return rnd.choice(self._words().nouns)
        if key == "N":
            return rnd.choice(self._words().nouns).capitalize()
        if key == "v":
            return rnd.choice(self._words().verbs)
        if key in ("a", "a2"):
            return rnd.choice(self._words().adjectives)
        if key == "A":
            return rnd.choice(self._words().adjectives).capitalize()
        if key == "g":
            return rnd.choice(GENERAL_NOUNS)
        if key == "t":
            return rnd.choice(SPANS)
        if key == "d":
            return rnd.choice(DAYS)
        if key == "r":
            return rnd.choice(NOVEL_ROLES)
        if key == "P":
            return self._person(rnd.choice(self.people))
        if key == "O":
            return self._mention(rnd.choice(self.orgs))
        if key == "L":
            return self._mention(rnd.choice(self.places))
        if key == "X":
            assert self.novel is not None
            return self._person(self.novel)
        if key == "Z":
            assert self.novel_org is not None
            return self._mention(self.novel_org)
        if key == "W":
            return f"{rnd.choice(TITLE_FIRST)} {rnd.choice(TITLE_SECOND)}"
        if key == "E":
            return self.slot(rnd.choice("POL"))
        raise KeyError(key)

    def fill(self, template: str) -> str:
        text = _SLOT.sub(lambda m: self.slot(m.group(1)), template)
        return text[0].upper() + text[1:]


def _template(rnd: random.Random, templates: tuple[str, ...], writer: _Writer) -> str:
    while True:
        template = rnd.choice(templates)
        if (writer.novel is not None or "{X}" not in template) and (writer.novel_org is not None or "{Z}" not in template):
            return template


def _title_case(headline: str) -> str:
    # Every word capitalised, "of" and "the" too, as a careless CMS does: "Bank Of Aldoria".
    return " ".join(word[:1].upper() + word[1:] for word in headline.split(" "))


def write_articles(rng: np.random.Generator, categories: np.ndarray, mean_sentences: float = 9.0) -> list[Article]:
    """One article per element of ``categories`` (indices into TOPICS), deterministic in ``rng``."""
    rnd = random.Random(int(rng.integers(2**63)))
    articles = []
    for category in categories.tolist():
        topic = TOPICS[category]
        second = None
        if rnd.random() < SECOND_TOPIC_SHARE:
            second = TOPICS[(category + rnd.randrange(1, len(TOPICS))) % len(TOPICS)]
        writer = _Writer(rnd, topic, second)
        headline = writer.fill(_template(rnd, HEADLINE_TEMPLATES, writer))
        if rnd.random() < TITLE_CASE_SHARE:
            headline = _title_case(headline)
        sentences = 4 + int(np.clip(rnd.gauss(mean_sentences - 4, 3.0), 0, 3 * mean_sentences))
        body = [writer.fill(_template(rnd, BODY_TEMPLATES, writer)) for _ in range(sentences)]
        articles.append(Article(headline=headline, body=" ".join(body), entities=list(writer.named)))
    return articles
