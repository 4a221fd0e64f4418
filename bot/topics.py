"""The topic catalogue: loading ``config/topics.yaml``, resolving what people type, custom queries.

A chat subscribes either to a catalogue topic (by name or alias: ``虚拟人`` → ``元宇宙/虚拟人``)
or to any arXiv query. Both end up as a (topic, query) pair; matching never cares which.
"""

from __future__ import annotations

import difflib
import re
import unicodedata
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import yaml
from pydantic import BaseModel, Field, field_validator

from .errors import BadSetting, QueryError, UnknownTopic
from .match.score import ABOUT, Matcher, about_matcher, query_matcher
from .match.signals import Concept, Description
from .query import CATALOGUE_QUERY_LENGTH, Query, parse_query

MIN_ABOUT_WORDS = 2  # a description needs at least this many content words to match anything
ABOUT_LENGTH = 300


class Topic(BaseModel):
    """A catalogue topic: what it is about (``description``), how it is scored (``concepts``,
    ``query``, ``threshold``) and what a chat is told it is (``summary``)."""

    name: str
    aliases: list[str] = Field(default_factory=list)
    categories: list[str] = Field(min_length=1)
    query: str
    summary: dict[str, str]
    description: str = ""
    concepts: list[tuple[float, str]] = Field(default_factory=list)
    threshold: float = 1.0
    keyword_bonus: float = 1.0
    exemplars: list[str] = Field(default_factory=list)  # titles of papers the topic wants (for the judge)

    @field_validator("query")
    @classmethod
    def _query_parses(cls, v: str) -> str:
        parse_query(v, CATALOGUE_QUERY_LENGTH)
        return " ".join(v.split())

    @field_validator("concepts")
    @classmethod
    def _concepts_parse(cls, v: list[tuple[float, str]]) -> list[tuple[float, str]]:
        for _, q in v:
            parse_query(q, CATALOGUE_QUERY_LENGTH)
        return v

    @property
    def parsed(self) -> Query:
        return parse_query(self.query, CATALOGUE_QUERY_LENGTH)

    def describe(self, lang: str) -> str:
        return self.summary.get(lang) or self.summary.get("en") or ""

    def matcher(self) -> Matcher:
        """The topic's scorer: concepts and the keyword query; the query alone when it has no concepts."""
        return Matcher(
            topic=self.name,
            kind="topic",
            query=self.parsed,
            concepts=tuple(Concept(w, parse_query(q, CATALOGUE_QUERY_LENGTH)) for w, q in self.concepts),
            description_text=" ".join(self.description.split()),
            exemplars=tuple(self.exemplars),
            threshold=self.threshold,
            keyword_bonus=self.keyword_bonus,
        )


class _Catalogue(BaseModel):
    topics: list[Topic]


def _key(text: str) -> str:
    """What two spellings of a topic name have in common: case, spaces, - _ / dropped."""
    return re.sub(r"[\s\-_/·.]+", "", text.casefold())


@dataclass(frozen=True)
class Subscription:
    """What a chat follows: a catalogue topic's name, or a custom query (topic == query)."""

    topic: str
    query: str
    custom: bool

    @property
    def kind(self) -> str:
        if not self.custom:
            return "topic"
        return "about" if self.query.startswith(ABOUT) else "query"


class Catalogue:
    def __init__(self, topics: list[Topic]) -> None:
        self.topics = topics
        self._by_key: dict[str, Topic] = {}
        for t in topics:
            for name in [t.name, *t.aliases]:
                self._by_key.setdefault(_key(name), t)

    @classmethod
    def load(cls, path: Path | None = None) -> Catalogue:
        """The shipped catalogue, or the operator's file (``PAPERBOT_TOPICS_FILE``)."""
        try:
            if path is not None:
                text = Path(path).read_text(encoding="utf-8")
            else:
                text = resources.files("bot.config").joinpath("topics.yaml").read_text(encoding="utf-8")
            data = _Catalogue.model_validate(yaml.safe_load(text))
        except (OSError, yaml.YAMLError, ValueError, QueryError) as err:
            raise BadSetting(f"the topic catalogue {path or 'config/topics.yaml'} is invalid: {err}") from err
        return cls(data.topics)

    def get(self, name_or_alias: str) -> Topic | None:
        return self._by_key.get(_key(name_or_alias))

    def resolve(self, name_or_alias: str) -> Topic:
        topic = self.get(name_or_alias)
        if topic is None:
            raise UnknownTopic(name_or_alias, self.suggest(name_or_alias))
        return topic

    def suggest(self, text: str, n: int = 3, cutoff: float = 0.5) -> list[str]:
        keys = list(self._by_key)
        close = difflib.get_close_matches(_key(text), keys, n=n * 2, cutoff=cutoff)
        out: list[str] = []
        for k in close:
            name = self._by_key[k].name
            if name not in out:
                out.append(name)
        return out[:n]

    def subscription(self, text: str) -> Subscription:
        """Turn what someone typed after /subscribe into a subscription, or raise.

        A topic name or alias wins; ``about: <text>`` is a plain-text interest, matched by
        similarity (:func:`about_subscription`); text with query syntax (a field, an operator,
        quotes, parentheses) is a custom query, refused with :class:`QueryError` if it does not
        parse; plain words close to a topic name are refused with suggestions (a typo should not
        become a silent keyword subscription); a plain description of four words or more is an
        interest too; shorter plain words become a keyword query.
        """
        text = " ".join((text or "").split())
        if not text:
            raise UnknownTopic("", [t.name for t in self.topics[:3]])
        topic = self.get(text)
        if topic is not None:
            return Subscription(topic.name, topic.query, custom=False)
        if re.match(r"(?i)about\s*[:：]", text):
            return about_subscription(re.sub(r"(?i)^about\s*[:：]\s*", "", text))
        looks_like_query = bool(re.search(r'[:"()\[\]]|\b(AND|OR|ANDNOT)\b', text))
        if not looks_like_query:
            suggestions = self.suggest(text, cutoff=0.8)
            if suggestions:
                raise UnknownTopic(text, suggestions)
            if re.search(r"[\u4e00-\u9fff]", text):
                if len(text) < 8:  # a topic name with a typo, most likely
                    raise UnknownTopic(text, suggestions)
                return about_subscription(text)
            if len(text.split()) >= 4:
                return about_subscription(text)
        query = parse_query(text)
        return Subscription(query.text, query.text, custom=True)

    def matcher(self, topic: str, query: str) -> Matcher:
        """The scorer for a subscription row (topic, query): catalogue topic, interest or query."""
        t = self.get(topic)
        if t is not None and t.name == topic:
            return t.matcher()
        if query.startswith(ABOUT):
            return about_matcher(topic, query[len(ABOUT) :].strip())
        return query_matcher(query)

    def categories(self, extra_queries: list[str] | None = None) -> list[str]:
        """The union of categories every topic (and custom ``cat:`` terms) needs: one RSS request."""
        cats: list[str] = []
        for t in self.topics:
            for c in t.categories:
                if c not in cats:
                    cats.append(c)
        for q in extra_queries or []:
            for c in re.findall(r"\bcat:([A-Za-z\-]+\.[A-Za-z\-]+)", q):
                if c not in cats:
                    cats.append(c)
        return cats


def about_subscription(text: str) -> Subscription:
    """A plain-text interest, or :class:`~bot.errors.BadInterest` when it cannot match anything.

    Abstracts are English: a description without English words (e.g. Chinese) cannot be matched
    by words and is refused with what to write instead.
    """
    from .errors import BadInterest

    # control and format characters (NUL, bidi overrides) carry no meaning for matching
    text = " ".join("".join(c for c in text if unicodedata.category(c) not in ("Cc", "Cf")).split())
    if len(text) > ABOUT_LENGTH:
        raise BadInterest("too_long")
    if has_cjk(text) and not re.search(r"[A-Za-z]{3,}", text):
        raise BadInterest("not_english")
    if len(Description.of(text).terms) < MIN_ABOUT_WORDS:
        raise BadInterest("too_vague")
    return Subscription(f"{ABOUT} {text}", f"{ABOUT} {text}", custom=True)


def has_cjk(text: str) -> bool:
    return bool(re.search(r"[\u4e00-\u9fff]", text))
