"""The query language, identifiers and the topic catalogue: pure functions, no network."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.errors import BadArxivId, QueryError, UnknownTopic
from bot.ids import find_arxiv_ids, parse_arxiv_id
from bot.models import Paper
from bot.query import lint_query, parse_query, straighten_quotes, tidy_query
from bot.topics import Catalogue

PAPER = Paper(
    id="2412.02684",
    title="AniGS: Animatable Gaussian Avatars from a Single Image",
    abstract="We build talking-heads for digital humans. Existing methods struggle with extreme poses.",
    authors=["Lingteng Qiu", "Gianni Del Maestro"],
    categories=["cs.CV", "cs.GR"],
    comment="Accepted to CVPR 2025. Project page: https://example.org",
    published=datetime(2024, 12, 3, 10, 0, tzinfo=UTC),
)


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("ti:avatar", True),  # plural-insensitive: Avatars
        ("ti:AVATARS", True),  # case-insensitive
        ('abs:"talking head"', True),  # phrase across a hyphen
        ('abs:"head talking"', False),  # phrases keep their order
        ('abs:"digital human"', True),
        ("au:del_maestro", True),
        ('au:"del maestro"', True),
        ("cat:cs.CV", True),
        ("cat:cs.RO", False),
        ("cat:cs", True),  # a whole archive
        ("co:CVPR", True),
        ("ti:anim*", True),
        ("avatar", True),  # bare word searches everything
        ("gaussian nerf", False),  # side by side means AND
        ("gaussian OR nerf", True),
        ("ti:avatar ANDNOT abs:survey", True),
        ("ti:avatar ANDNOT abs:digital", False),
        # AND binds tighter than OR: (nerf AND avatar) OR gaussian → True via gaussian
        ("nerf AND avatar OR gaussian", True),
        # parentheses change it: nerf AND (avatar OR gaussian) → False
        ("nerf AND (avatar OR gaussian)", False),
        ("ti:(nerf OR avatar) AND cat:cs.GR", True),
        ("submittedDate:[20241201 TO 20241231]", True),
        ("submittedDate:[202412040000 TO 202412312359]", False),
        ("id:2412.02684", True),
        ("id:2412.02684v2", True),
    ],
)
def test_query_matches(query: str, expected: bool) -> None:
    assert parse_query(query).matches(PAPER) is expected


@pytest.mark.parametrize(
    ("query", "problem", "position"),
    [
        ("", "empty", 1),
        ("ti:avatar OR (abs:x", "never closed", 14),
        ("ti:avatar)", "without a matching", 10),
        ('ti:"unclosed', "unclosed quote", 4),
        ("foo:bar", "unknown field", 1),
        ("OR avatar", "needs something before", 1),
        ("avatar AND", "needs something after", 8),
        ("ti: OR x", "needs a word", 1),
        ("()", "empty parentheses", 1),
        ("submittedDate:[2024 TO 2025]", "dates look like", 15),
        ("submittedDate:[20241301 TO 20241302]", "not a valid date", 15),
        ("[20240101 TO 20240102]", "needs submittedDate", 1),
        ("ti:avatar\x00", "control character", 10),
    ],
)
def test_query_errors_name_problem_and_position(query: str, problem: str, position: int) -> None:
    with pytest.raises(QueryError) as info:
        parse_query(query)
    assert problem in str(info.value)
    assert info.value.params["position"] == position


def test_query_roundtrips_to_arxiv_syntax() -> None:
    q = parse_query('ti:(head OR face) ANDNOT abs:"talking head"')
    assert q.api == '(ti:head OR ti:face) ANDNOT abs:"talking head"'
    assert parse_query(q.api).matches(PAPER) == q.matches(PAPER)


@pytest.mark.parametrize(
    ("text", "pid", "version"),
    [
        ("2407.21047", "2407.21047", None),
        ("2407.21047v2", "2407.21047", 2),
        ("arXiv:2407.21047", "2407.21047", None),
        ("https://arxiv.org/abs/2407.21047v3", "2407.21047", 3),
        ("http://arxiv.org/pdf/2407.21047.pdf", "2407.21047", None),
        ("https://arxiv.org/pdf/2407.21047v1", "2407.21047", 1),
        ("https://www.arxiv.org/html/2407.21047v1", "2407.21047", 1),
        ("hep-th/9901001", "hep-th/9901001", None),
        ("quant-ph/0201082v1", "quant-ph/0201082", 1),
        ("math.GT/0309136", "math/0309136", None),
        ("1111.2011v2", "1111.2011", 2),
    ],
)
def test_parse_arxiv_id(text: str, pid: str, version: int | None) -> None:
    aid = parse_arxiv_id(text)
    assert (aid.id, aid.version) == (pid, version)


@pytest.mark.parametrize("text", ["abc", "2407.2104", "2413.21047", "https://example.com/abs/2407.21047", "", "x" * 400])
def test_parse_arxiv_id_refuses(text: str) -> None:
    with pytest.raises(BadArxivId):
        parse_arxiv_id(text)


def test_find_ids_in_free_text() -> None:
    found = find_arxiv_ids("see https://arxiv.org/abs/2407.21047v2 and arXiv:2309.07125, not 1.2345 or 12345.6789x")
    assert [str(a) for a in found] == ["2407.21047v2", "2309.07125"]


def test_catalogue_aliases_and_suggestions() -> None:
    cat = Catalogue.load()
    assert cat.resolve("虚拟人").name == "元宇宙/虚拟人"
    assert cat.resolve("Virtual-Human").name == "元宇宙/虚拟人"
    assert cat.resolve("avatar").name == "元宇宙/虚拟人"
    assert cat.resolve("talking head").name == "Talking Head Generation"
    with pytest.raises(UnknownTopic) as info:
        cat.resolve("NeRFF")
    assert "NeRF" in info.value.suggestions


def test_subscription_text_to_topic_or_query() -> None:
    cat = Catalogue.load()
    assert cat.subscription("虚拟人").topic == "元宇宙/虚拟人"
    custom = cat.subscription('ti:"gaussian avatar" OR abs:"head avatar"')
    assert custom.custom and custom.query == 'ti:"gaussian avatar" OR abs:"head avatar"'
    assert cat.subscription("gaussian avatar").query == "gaussian avatar"
    with pytest.raises(UnknownTopic):
        cat.subscription("3DGSS")  # a typo is not silently a keyword query
    with pytest.raises(QueryError):
        cat.subscription('ti:"unclosed')
    assert "cs.RO" in cat.categories(["cat:cs.RO AND ti:robot"])


def test_every_catalogue_topic_has_descriptions_and_categories() -> None:
    cat = Catalogue.load()
    names = [t.name for t in cat.topics]
    assert names == ["元宇宙/虚拟人", "3DGS", "NeRF", "Talking Head Generation", "Diffusion Models", "医学图像"]
    for t in cat.topics:
        assert t.describe("zh") and t.describe("en") and t.categories


# ---- hygiene: queries that parse but say something else -----------------------------------------

NERF = Paper(
    id="2606.00001",
    title="Relightable NeRF Avatars",
    abstract="Neural radiance fields for avatars in the metaverse; the head is talking while we survey methods.",
)


@pytest.mark.parametrize(
    ("query", "kind", "word", "read", "fix"),
    [
        ("nerf or 3dgs", "lowercase_op", "or", "all:nerf AND all:or AND all:3dgs", "nerf OR 3dgs"),
        ("a or b or c", "lowercase_op", "or", "all:a AND all:or AND all:b AND all:or AND all:c", "a OR b OR c"),
        ("ti:(head or face)", "lowercase_op", "or", "ti:head AND ti:or AND ti:face", "ti:(head OR face)"),
        ("avatar andnot survey", "lowercase_op", "andnot", "all:avatar AND all:andnot AND all:survey", "avatar ANDNOT survey"),
        ("or nerf", "lowercase_op", "or", "all:or AND all:nerf", None),  # no rewrite parses: an example instead
        ("avatar AND NOT survey", "and_not", "AND NOT", "all:avatar AND all:NOT AND all:survey", "avatar ANDNOT survey"),
        ("avatar and not survey", "and_not", "and not", "all:avatar AND all:and AND all:not AND all:survey", "avatar ANDNOT survey"),
        ("avatar NOT survey", "bare_not", "NOT", "all:avatar AND all:NOT AND all:survey", "avatar ANDNOT survey"),
        ("NOT survey", "bare_not", "NOT", "all:NOT AND all:survey", None),
        ("avatar OR NOT survey", "bare_not", "NOT", "all:avatar OR (all:NOT AND all:survey)", None),
        ("ti:avatar,ti:metaverse", "comma", "ti:avatar,ti:metaverse", 'ti:"avatar,ti:metaverse"', "ti:avatar OR ti:metaverse"),
        ("ti:avatar,metaverse AND cat:cs.CV", "comma", "ti:avatar,metaverse", "ti:avatar,metaverse AND cat:cs.CV",
         "(ti:avatar OR ti:metaverse) AND cat:cs.CV"),
        ("avatar, metaverse", "comma", "avatar,", "all:avatar, AND all:metaverse", "avatar OR metaverse"),
        ("abs:“talking head”", "curly_quotes", "“", "abs:“talking AND all:head”", 'abs:"talking head"'),
        ("ti:‘gaussian avatar’ Hawking’s", "curly_quotes", "‘", "ti:‘gaussian AND all:avatar’ AND all:Hawking’s",
         'ti:"gaussian avatar" Hawking’s'),  # an apostrophe stays one
    ],
)  # fmt: skip
def test_lint_says_what_was_read_and_how_to_write_it(query: str, kind: str, word: str, read: str, fix: str | None) -> None:
    (warning,) = lint_query(query)
    assert (warning.kind, warning.word, warning.read, warning.fix) == (kind, word, read, fix)
    assert parse_query(query).api == read  # the parser's reading is unchanged: the lint only explains it
    if fix is not None:
        assert parse_query(fix)  # what it suggests parses
    line = warning.message
    assert "\n" not in line and read in line and (fix or "e.g. ") in line
    zh = warning.text("zh")
    assert "实际读作" in zh and read in zh


def test_the_defects_are_real_and_the_fixes_find_the_paper() -> None:
    """Each warned query misses (or wrongly takes) a paper its writer meant; its fix does not."""
    cases = {
        "nerf or 3dgs": True,  # wanted: needs the word "or" as read
        "ti:avatar,ti:metaverse": True,  # wanted: one phrase in the title as read
        "avatar AND NOT benchmark": True,  # wanted: needs the word "not" as read
        "abs:“talking head”": False,  # not wanted (no such phrase): two loose words as read
    }
    for query, wanted in cases.items():
        (warning,) = lint_query(query)
        assert parse_query(query).matches(NERF) is not wanted, query
        assert warning.fix is not None and parse_query(warning.fix).matches(NERF) is wanted, query


@pytest.mark.parametrize(
    "query",
    ['ti:"gaussian avatar" OR abs:"head avatar"', "ti:or", 'abs:"nerf or 3dgs"', "1,000 points", "ti:avatar ANDNOT abs:survey",
     "Talking Head Generation", "元宇宙/虚拟人", 'ti:(broken'],
)  # fmt: skip
def test_lint_is_quiet_on_good_and_broken_queries(query: str) -> None:
    assert lint_query(query) == []


def test_tidy_straightens_curly_quotes_and_says_so() -> None:
    assert straighten_quotes("“a” ‘b’ Hawking’s „c“") == '"a" "b" Hawking’s "c"'
    text, warnings = tidy_query("abs:“talking  head” or ti:avatar")
    assert text == 'abs:"talking head" or ti:avatar'
    assert [w.kind for w in warnings] == ["curly_fixed", "lowercase_op"]
    assert warnings[0].message == 'ℹ️ curly quotes (“ ” ‘ ’) were read as straight quotes: abs:"talking head" or ti:avatar'
    assert warnings[1].fix == 'abs:"talking head" OR ti:avatar'
    assert tidy_query("ti:avatar") == ("ti:avatar", [])


_PIECES = ["a", "b", " ", "(", ")", '"', ":", ",", "“", "”", "‘", "’", "or ", "and ", "not ", "NOT ", "AND ", "OR ",
           "ANDNOT ", "ti:", "abs:", "1,0", "*"]  # fmt: skip


@given(st.lists(st.sampled_from(_PIECES), min_size=1, max_size=14).map("".join))
@settings(max_examples=300, deadline=None)
def test_lint_never_fails_and_its_fixes_parse_and_settle(query: str) -> None:
    for warning in lint_query(query):
        assert warning.text("zh") and "\n" not in warning.message
        if warning.fix is not None:
            assert parse_query(warning.fix)
            assert warning.kind not in [w.kind for w in lint_query(warning.fix)]
