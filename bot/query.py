"""arXiv's search syntax, parsed once and evaluated locally on stored papers.

Topics and custom subscriptions are arXiv queries (``ti:avatar OR abs:"talking head"``), so the
same string can go to the arXiv API for backfill and ``/search``, while the daily matching runs
here on the papers one harvest stored: one harvest serves every topic and every chat.

The language:

* fields ``ti:`` ``abs:`` ``au:`` ``co:`` (comment) ``cat:`` ``jr:`` ``id:`` ``all:`` (the
  default for a bare word), and ``submittedDate:[YYYYMMDDHHMM TO YYYYMMDDHHMM]``;
* quoted phrases match consecutive words; ``word*`` matches a prefix;
* ``AND``, ``OR``, ``ANDNOT`` and parentheses; ``AND``/``ANDNOT`` bind tighter than ``OR``,
  two terms side by side mean ``AND``; a field can apply to a group: ``ti:(head OR face)``;
* matching ignores case, plural endings (avatars = avatar) and punctuation (talking-head =
  talking head).
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache

from .errors import QueryError
from .i18n import t
from .models import Paper

FIELDS = {
    "ti": "ti",
    "title": "ti",
    "abs": "abs",
    "abstract": "abs",
    "au": "au",
    "author": "au",
    "co": "co",
    "comment": "co",
    "cat": "cat",
    "jr": "jr",
    "id": "id",
    "all": "all",
    "submitteddate": "submittedDate",
}
OPERATORS = {"AND", "OR", "ANDNOT"}
_WORD = re.compile(r"[0-9a-z\u00c0-\u024f\u0370-\u03ff\u0400-\u04ff]+|[\u4e00-\u9fff]")


@lru_cache(maxsize=65536)
def stem(word: str) -> str:
    """Fold plural endings so 'avatars', 'bodies' and 'meshes' match 'avatar', 'body', 'mesh'."""
    if len(word) <= 3 or word.isdigit():
        return word
    if word.endswith("ies") and len(word) > 4:
        return word[:-3] + "y"
    if word.endswith(("sses", "shes", "ches", "xes", "zes")):
        return word[:-2]
    if word.endswith("s") and not word.endswith(("ss", "us", "is")):
        return word[:-1]
    return word


def words(text: str) -> list[str]:
    return _WORD.findall(text.lower())


# ---- AST -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Term:
    field: str
    words: tuple[str, ...]  # stemmed; a phrase when more than one
    prefix: bool = False  # trailing * on the last word
    raw: str = ""

    def matches(self, doc: PaperIndex) -> bool:
        if self.field == "cat":
            target = self.raw.lower()
            if target.endswith("*"):
                return any(c.startswith(target[:-1]) for c in doc.categories)
            if "." not in target:  # a whole archive: cat:cs, cat:hep-th
                return any(c == target or c.startswith(target + ".") for c in doc.categories)
            return target in doc.categories
        if self.field == "id":
            return doc.paper_id == self.raw.lower() or doc.paper_id == re.sub(r"v\d+$", "", self.raw.lower())
        tokens, tokenset, raw_tokens = doc.field(self.field)
        if len(self.words) == 1:
            if self.prefix:
                return doc.has_prefix(self.field, self.words[0])
            return self.words[0] in tokenset
        if any(w not in tokenset for w in self.words[:-1]):
            return False
        n = len(self.words)
        first = self.words[0]
        for i, tok in enumerate(tokens):
            if tok != first or i + n > len(tokens):
                continue
            if tuple(tokens[i : i + n - 1]) == self.words[:-1]:
                last = tokens[i + n - 1] if not self.prefix else raw_tokens[i + n - 1]
                if last == self.words[-1] or (self.prefix and last.startswith(self.words[-1])):
                    return True
        return False

    def api(self) -> str:
        special = re.search(r"[\s:()\[\]]", self.raw) or self.raw in OPERATORS
        value = f'"{self.raw}"' if special else self.raw
        return f"{self.field}:{value}"


@dataclass(frozen=True)
class DateRange:
    field: str
    lo: datetime
    hi: datetime
    raw: str

    def matches(self, doc: PaperIndex) -> bool:
        return doc.submitted is not None and self.lo <= doc.submitted <= self.hi

    def api(self) -> str:
        return f"{self.field}:[{self.raw}]"


@dataclass(frozen=True)
class Op:
    op: str  # AND | OR | ANDNOT
    left: Node
    right: Node

    def matches(self, doc: PaperIndex) -> bool:
        if self.op == "AND":
            return self.left.matches(doc) and self.right.matches(doc)
        if self.op == "OR":
            return self.left.matches(doc) or self.right.matches(doc)
        return self.left.matches(doc) and not self.right.matches(doc)

    def api(self) -> str:
        def side(n: Node) -> str:
            return f"({n.api()})" if isinstance(n, Op) and n.op != self.op else n.api()

        return f"{side(self.left)} {self.op} {side(self.right)}"


Node = Term | DateRange | Op


# ---- the searchable view of a paper ----------------------------------------------------


@dataclass
class PaperIndex:
    """A paper's fields, tokenised once, so a thousand queries cost a thousand lookups."""

    paper_id: str
    categories: tuple[str, ...]
    submitted: datetime | None
    _fields: dict[str, tuple[list[str], frozenset[str], list[str]]] = field(default_factory=dict)
    _text: dict[str, str] = field(default_factory=dict)
    _sorted: dict[str, list[str]] = field(default_factory=dict)

    @classmethod
    def of(cls, paper: Paper) -> PaperIndex:
        idx = cls(
            paper_id=paper.id.lower(),
            categories=tuple(c.lower() for c in paper.categories),
            submitted=paper.published.astimezone(UTC) if paper.published else None,
        )
        authors = " ; ".join(paper.authors)
        idx._text = {
            "ti": paper.title,
            "abs": paper.abstract,
            "au": authors,
            "co": paper.comment or "",
            "jr": paper.journal_ref or "",
        }
        idx._text["all"] = " \n ".join([paper.title, paper.abstract, authors, paper.comment or "", " ".join(paper.categories)])
        return idx

    def has_prefix(self, name: str, prefix: str) -> bool:
        """Whether a word of the field starts with ``prefix`` (a bisect in its sorted words: the
        scored matcher asks dozens of prefixes per paper)."""
        ordered = self._sorted.get(name)
        if ordered is None:
            ordered = self._sorted[name] = sorted(set(self.field(name)[2]))
        i = bisect.bisect_left(ordered, prefix)
        return i < len(ordered) and ordered[i].startswith(prefix)

    def field(self, name: str) -> tuple[list[str], frozenset[str], list[str]]:
        got = self._fields.get(name)
        if got is None:
            raw = words(self._text.get(name, ""))
            stemmed = [stem(w) for w in raw]
            got = (stemmed, frozenset(stemmed), raw)
            self._fields[name] = got
        return got


# ---- parsing ---------------------------------------------------------------------------

_TOKEN = re.compile(
    r"""
    (?P<ws>\s+)
  | (?P<lparen>\()
  | (?P<rparen>\))
  | (?P<range>\[[^\]]*\]?)
  | (?P<phrase>"[^"]*"?)
  | (?P<field>[A-Za-z]+:)
  | (?P<word>[^\s()"\[\]]+)
    """,
    re.VERBOSE,
)


@dataclass(frozen=True)
class _Tok:
    kind: str
    text: str
    pos: int


def _tokenize(q: str) -> list[_Tok]:
    out: list[_Tok] = []
    for m in _TOKEN.finditer(q):
        kind = m.lastgroup or "word"
        text = m.group()
        if kind == "ws":
            continue
        if kind == "phrase" and (len(text) < 2 or not text.endswith('"')):
            raise QueryError("unclosed quote", m.start(), q)
        if kind == "range" and not text.endswith("]"):
            raise QueryError("unclosed [ date range", m.start(), q)
        if kind == "word" and text in OPERATORS:
            kind = "op"
        if kind == "field":
            name = text[:-1].lower()
            if name not in FIELDS:
                known = ", ".join(sorted({f"{v}:" for v in FIELDS.values()}))
                raise QueryError(f"unknown field '{text}' (use {known})", m.start(), q)
        out.append(_Tok(kind, text, m.start()))
    return out


class _Parser:
    def __init__(self, q: str) -> None:
        self.q = q
        self.toks = _tokenize(q)
        self.i = 0

    def peek(self) -> _Tok | None:
        return self.toks[self.i] if self.i < len(self.toks) else None

    def take(self) -> _Tok:
        tok = self.toks[self.i]
        self.i += 1
        return tok

    def parse(self) -> Node:
        if not self.toks:
            raise QueryError("the query is empty", 0, self.q)
        node = self.or_expr(None)
        tok = self.peek()
        if tok is not None:
            if tok.kind == "rparen":
                raise QueryError("')' without a matching '('", tok.pos, self.q)
            raise QueryError(f"unexpected {tok.text!r}", tok.pos, self.q)
        return node

    def or_expr(self, fld: str | None) -> Node:
        node = self.and_expr(fld)
        while (tok := self.peek()) is not None and tok.kind == "op" and tok.text == "OR":
            self.take()
            node = Op("OR", node, self.and_expr(fld, after=tok))
        return node

    def and_expr(self, fld: str | None, after: _Tok | None = None) -> Node:
        node = self.unary(fld, after)
        while (tok := self.peek()) is not None and tok.kind != "rparen":
            if tok.kind == "op" and tok.text == "OR":
                break
            if tok.kind == "op":
                self.take()
                node = Op(tok.text, node, self.unary(fld, tok))
            else:
                node = Op("AND", node, self.unary(fld, None))
        return node

    def unary(self, fld: str | None, after: _Tok | None) -> Node:
        tok = self.peek()
        if tok is None:
            if after is not None:
                raise QueryError(f"{after.text} needs something after it", after.pos, self.q)
            raise QueryError("the query ends too early", len(self.q), self.q)
        if tok.kind == "op":
            raise QueryError(f"{tok.text} needs something before it", tok.pos, self.q)
        if tok.kind == "rparen":
            what = f"{after.text} needs something after it" if after else "empty parentheses"
            raise QueryError(what, (after or tok).pos, self.q)
        if tok.kind == "lparen":
            self.take()
            if (nxt := self.peek()) is not None and nxt.kind == "rparen":
                raise QueryError("empty parentheses", tok.pos, self.q)
            node = self.or_expr(fld)
            close = self.peek()
            if close is None or close.kind != "rparen":
                raise QueryError("'(' is never closed", tok.pos, self.q)
            self.take()
            return node
        if tok.kind == "field":
            self.take()
            name = FIELDS[tok.text[:-1].lower()]
            nxt = self.peek()
            if nxt is None or nxt.kind in ("op", "rparen", "field"):
                raise QueryError(f"{tok.text} needs a word or a \"phrase\" after it", tok.pos, self.q)
            if name == "submittedDate":
                if nxt.kind != "range":
                    raise QueryError("submittedDate: needs [YYYYMMDDHHMM TO YYYYMMDDHHMM]", nxt.pos, self.q)
                self.take()
                return self.date_range(name, nxt)
            if nxt.kind == "range":
                raise QueryError(f"a [range] only works with submittedDate:, not {tok.text}", nxt.pos, self.q)
            if nxt.kind == "lparen":
                return self.unary(name, None)
            return self.term(name, self.take())
        if tok.kind == "range":
            raise QueryError("a [date range] needs submittedDate: before it", tok.pos, self.q)
        return self.term(fld or "all", self.take())

    def term(self, fld: str, tok: _Tok) -> Node:
        text = tok.text[1:-1] if tok.kind == "phrase" else tok.text
        if fld in ("cat", "id"):
            value = text.strip()
            if not value:
                raise QueryError(f"{fld}: needs a value", tok.pos, self.q)
            return Term(fld, (value.lower(),), prefix=value.endswith("*"), raw=value)
        prefix = text.endswith("*") and tok.kind == "word"
        ws = words(text.replace("_", " "))
        if not ws:
            raise QueryError(f"{tok.text!r} has no letters or digits to search for", tok.pos, self.q)
        stemmed = tuple(stem(w) for w in ws[:-1]) + ((ws[-1],) if prefix else (stem(ws[-1]),))
        return Term(fld, stemmed, prefix=prefix, raw=text.strip())

    def date_range(self, fld: str, tok: _Tok) -> Node:
        m = re.fullmatch(r"\[\s*(\d{8}(?:\d{4})?)\s+TO\s+(\d{8}(?:\d{4})?)\s*\]", tok.text)
        if not m:
            raise QueryError("dates look like [202406240000 TO 202406242359]", tok.pos, self.q)

        def conv(s: str, end: bool) -> datetime:
            s = s if len(s) == 12 else s + ("2359" if end else "0000")
            try:
                return datetime.strptime(s, "%Y%m%d%H%M").replace(tzinfo=UTC)
            except ValueError as err:
                raise QueryError(f"{s} is not a valid date", tok.pos, self.q) from err

        lo, hi = conv(m.group(1), False), conv(m.group(2), True)
        if hi < lo:
            raise QueryError("the date range ends before it starts", tok.pos, self.q)
        return DateRange(fld, lo, hi, f"{m.group(1)} TO {m.group(2)}")


MAX_QUERY_LENGTH = 1000  # what a chat may type; the shipped catalogue's topics may be longer
CATALOGUE_QUERY_LENGTH = 20000


@dataclass(frozen=True)
class Query:
    """A parsed query: ``matches(paper)`` locally, ``api`` for the arXiv API."""

    text: str
    root: Node

    def matches(self, paper: Paper | PaperIndex) -> bool:
        doc = paper if isinstance(paper, PaperIndex) else PaperIndex.of(paper)
        return self.root.matches(doc)

    @property
    def api(self) -> str:
        return self.root.api()

    def filter(self, papers: Iterable[Paper]) -> list[Paper]:
        return [p for p in papers if self.matches(p)]


@lru_cache(maxsize=4096)
def parse_query(text: str, limit: int = MAX_QUERY_LENGTH) -> Query:
    """Parse an arXiv query or raise :class:`QueryError` naming the problem and where.

    ``limit`` caps the length: a chat's query keeps the 1,000-character cap, the catalogue's
    topics (written by the operator) get :data:`CATALOGUE_QUERY_LENGTH`.
    """
    if not isinstance(text, str):
        raise QueryError("the query is not text", 0, "")
    if len(text) > limit:
        raise QueryError(f"the query is longer than {limit} characters", limit, "")
    if any(ord(c) < 32 and c not in "\t\n\r" for c in text):
        pos = next(i for i, c in enumerate(text) if ord(c) < 32 and c not in "\t\n\r")
        raise QueryError("the query contains a control character", pos, "")
    depth = 0
    for i, c in enumerate(text):
        depth += c == "("
        depth -= c == ")"
        if depth > 20:
            raise QueryError("parentheses nest too deeply", i, text)
    parser = _Parser(text.strip())
    root = parser.parse()
    return Query(text.strip(), root)


# ---- hygiene: what a query probably meant ----------------------------------------------------
#
# The parser reads arXiv's syntax to the letter, so some queries people write parse and then
# silently find (almost) nothing: ``nerf or 3dgs`` needs the word "or", ``AND NOT`` searches
# the word "not", ``ti:avatar,ti:metaverse`` is one phrase, a phone's “curly quotes” are not
# quotes. The parser keeps its reading (a stored query must mean the same tomorrow); these
# functions say what it read and how to write what was meant, for /subscribe, ``paperbot
# search`` and ``paperbot match``.

_DOUBLE_CURLY = str.maketrans({"\u201c": '"', "\u201d": '"', "\u201e": '"', "\uff02": '"'})
_SINGLE_CURLY = re.compile(r"(?<!\w)[\u2018\u2019]|[\u2018\u2019](?!\w)")  # not an apostrophe: Hawking’s
_COMMA = re.compile(r"(?<!\d),|,(?!\d)")  # not a thousands separator: 1,000
_EXAMPLES = {
    "lowercase_op": "nerf OR 3dgs",
    "and_not": "avatar ANDNOT survey",
    "bare_not": "avatar ANDNOT survey",
    "comma": "ti:avatar OR ti:metaverse",
    "curly_quotes": 'abs:"talking head"',
    "curly_fixed": 'abs:"talking head"',
}


@dataclass(frozen=True)
class QueryWarning:
    """A query that parses but probably does not say what its writer meant.

    ``kind`` is one of lowercase_op, and_not, bare_not, comma, curly_quotes (curly_fixed when
    :func:`tidy_query` straightened them); ``word`` is what was typed; ``read`` the whole query
    as the parser reads it (arXiv syntax); ``fix`` the query as probably meant (it parses), or
    None when there is no one obvious rewrite.
    """

    kind: str
    word: str
    read: str
    fix: str | None

    def text(self, lang: str | None = "en") -> str:
        """One line for a person: what was read instead, and how to write it."""
        fix = self.fix or t("query.warn.example", lang, example=_EXAMPLES[self.kind])
        return t(f"query.warn.{self.kind}", lang, word=self.word, read=self.read, fix=fix)

    @property
    def message(self) -> str:
        return self.text("en")


def straighten_quotes(text: str) -> str:
    """Curly quotes (“ ” ‘ ’, as phones type them) as the straight double quotes arXiv reads."""
    return _SINGLE_CURLY.sub('"', text.translate(_DOUBLE_CURLY))


def lint_query(text: str) -> list[QueryWarning]:
    """What in ``text`` the parser reads differently from what it likely means, one warning per
    kind, in the order met. A query that does not parse gets none (its error says enough);
    whitespace is collapsed as /subscribe stores it."""
    q = " ".join(text.split())
    try:
        read = parse_query(q).api
        toks = _tokenize(q)
    except QueryError:
        return []
    edits: dict[str, list[tuple[int, int, str, str]]] = {}  # kind -> (start, end, replacement, typed)
    if straighten_quotes(q) != q:
        curly = next(a for a, b in zip(q, straighten_quotes(q), strict=True) if a != b)
        edits["curly_quotes"] = [(0, len(q), straighten_quotes(q), curly)]
    i = 0
    while i < len(toks):
        tok, nxt = toks[i], toks[i + 1] if i + 1 < len(toks) else None
        prev = toks[i - 1] if i else None
        end = tok.pos + len(tok.text)
        is_value = prev is not None and prev.kind == "field"  # ti:or is the word "or", as written
        low = tok.text.lower()
        if not is_value and low == "and" and nxt is not None and nxt.kind == "word" and nxt.text.lower() == "not":
            stop = nxt.pos + len(nxt.text)
            edits.setdefault("and_not", []).append((tok.pos, stop, "ANDNOT", q[tok.pos : stop]))
            i += 2
            continue
        if tok.kind == "word" and not is_value:
            if low in ("and", "or", "andnot"):
                edits.setdefault("lowercase_op", []).append((tok.pos, end, low.upper(), tok.text))
            elif low == "not":
                after_term = prev is not None and prev.kind in ("word", "phrase", "rparen", "range")
                edits.setdefault("bare_not", []).append((tok.pos, end, "ANDNOT" if after_term else "", tok.text))
        if tok.kind == "word" and _COMMA.search(tok.text):
            edits.setdefault("comma", []).append(_comma_edit(toks, i))
        i += 1
    out = []
    for kind, found in edits.items():
        fix = q
        for start, stop, new, _ in sorted(found, reverse=True):
            fix = fix[:start] + new + fix[stop:]
        fix = " ".join(fix.split())
        try:
            fix_ok = fix != q and parse_query(fix) is not None and all(new for _, _, new, _ in found)
        except QueryError:
            fix_ok = False
        typed = " ".join(dict.fromkeys(w for _, _, _, w in found))
        out.append(QueryWarning(kind, typed, read, fix if fix_ok else None))
    return out


def _comma_edit(toks: list[_Tok], i: int) -> tuple[int, int, str, str]:
    """``ti:a,ti:b`` → ``ti:a OR ti:b`` (the field carried to bare parts: ``ti:a,b``);
    ``a, b`` → ``a OR b``. Parenthesised when the query goes on, since AND binds tighter."""
    tok = toks[i]
    prev = toks[i - 1] if i else None
    fld = prev.text if prev is not None and prev.kind == "field" else ""
    start = prev.pos if fld and prev is not None else tok.pos
    parts = [p if re.match(r"[A-Za-z]+:", p) else fld + p for p in _COMMA.split(tok.text) if p]
    joined = " OR ".join(parts)
    nxt = toks[i + 1] if i + 1 < len(toks) else None
    if tok.text.endswith(",") and nxt is not None and nxt.kind in ("word", "phrase", "field", "lparen"):
        joined += " OR"
    elif len(parts) > 1 and (nxt is not None or (i > 0 and not fld) or i > 1):
        joined = f"({joined})"
    return start, tok.pos + len(tok.text), joined, (fld + tok.text)


def tidy_query(text: str) -> tuple[str, list[QueryWarning]]:
    """The query to use and what to tell its writer: curly quotes straightened (a phone's
    keyboard types them; arXiv reads only straight ones), whitespace collapsed, then linted.

    The adapters subscribe to / search for the returned text and show every warning's
    ``text(lang)``, one line each.
    """
    q = " ".join(text.split())
    straight = straighten_quotes(q)
    notes: list[QueryWarning] = []
    if straight != q:
        try:
            notes.append(QueryWarning("curly_fixed", "“ ”", parse_query(straight).api, straight))
        except QueryError:
            return straight, []  # the parser's error will say what is wrong with it
    return straight, notes + lint_query(straight)
