"""Hostile input: thousands of generated strings into every parser that takes text from a chat.

Each parser either accepts or raises its named error (one sentence for the user); nothing
else escapes, and nothing is stored from a refused input.
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.errors import BadArxivId, BadInterest, PaperbotError, QueryError, UnknownTopic
from bot.i18n import error_text
from bot.ids import find_arxiv_ids, parse_arxiv_id
from bot.query import parse_query
from bot.settings import parse_hhmm, parse_zone
from bot.store import Store
from bot.topics import Catalogue

# text that looks like what people (and attackers) send: query syntax, ids, links, CJK, control chars
FRAGMENTS = st.sampled_from(
    [
        "ti:", "abs:", "au:", "cat:", "all:", "foo:", "submittedDate:", "AND", "OR", "ANDNOT", "(", ")", '"', "[",
        "]", " TO ", "*", "avatar", "虚拟人", "2407.21047", "v2", "https://arxiv.org/abs/", "arXiv:", "hep-th/",
        "9901001", "\u202e", "\x00", "\n", "<b>", "&amp;", "\\", "_", "-", ".", "/", "09:00", "25:61", "Asia/",
        "Shanghai", "../../etc/passwd", " ",
    ]
)
HOSTILE = st.one_of(st.text(max_size=300), st.lists(FRAGMENTS, max_size=30).map("".join))
SETTINGS = settings(max_examples=1000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
CATALOGUE = Catalogue.load()


@SETTINGS
@given(HOSTILE)
def test_query_parser_accepts_or_names_the_problem(text: str) -> None:
    try:
        q = parse_query(text)
    except QueryError as err:
        assert err.params["position"] >= 1
        assert error_text(err, "zh") and error_text(err, "en")
        return
    parse_query(q.api)  # whatever parses can go to the arXiv API and back


@SETTINGS
@given(HOSTILE)
def test_subscribe_text_is_a_topic_a_query_or_refused(text: str) -> None:
    try:
        sub = CATALOGUE.subscription(text)
    except (QueryError, UnknownTopic, BadInterest) as err:
        assert "Traceback" not in error_text(err, "en")
        return
    assert sub.topic and sub.query
    CATALOGUE.matcher(sub.topic, sub.query)  # a query that parses, or an interest with words to match
    assert not any(ord(c) < 32 or c in "\u202e\u2066" for c in sub.topic if sub.kind == "about")


@SETTINGS
@given(HOSTILE)
def test_id_parser_and_link_detector(text: str) -> None:
    try:
        aid = parse_arxiv_id(text)
        assert parse_arxiv_id(str(aid)) == aid
    except BadArxivId as err:
        assert error_text(err, "zh")
    for found in find_arxiv_ids(text):
        assert parse_arxiv_id(str(found)) == found


@SETTINGS
@given(HOSTILE, HOSTILE)
def test_settime_parsers(hhmm: str, zone: str) -> None:
    for fn, value in ((parse_hhmm, hhmm), (parse_zone, zone)):
        try:
            fn(value)
        except ValueError as err:
            assert str(err)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(HOSTILE)
def test_refused_subscriptions_store_nothing(store: Store, text: str) -> None:
    before = store.db["subscriptions"].count
    try:
        sub = CATALOGUE.subscription(text)
    except PaperbotError:
        assert store.db["subscriptions"].count == before
        return
    store.subscribe("telegram", "-100", sub.topic, sub.query)
    assert store.db["subscriptions"].count <= before + 1


@pytest.mark.parametrize("title", ["<script>alert(1)</script>", "a" * 10_000, "\u202eevil\u202c", "*_`[x](y)`_*"])
def test_render_helpers_bound_and_clean_hostile_text(title: str) -> None:
    from bot.render import clean, fit

    out = fit(clean(title), 256)
    assert len(out) <= 256
    assert "\u202e" not in out
