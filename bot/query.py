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

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache

from .errors import QueryError
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
                return any(t.startswith(self.words[0]) for t in raw_tokens)
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
    """``AND`` or ``OR`` over any number of items, kept flat: ``a b c … z`` is one node with 26
    items, not 25 nested ones, so evaluating and serialising a long query never recurses deeper
    than its parentheses (at most 20). In an ``AND``, ``negated[i]`` marks an item joined by
    ``ANDNOT`` (``AND`` and ``ANDNOT`` bind alike, left to right: a ∧ b ∧ ¬c ∧ d)."""

    op: str  # AND | OR
    items: tuple[Node, ...]
    negated: tuple[bool, ...] = ()

    def matches(self, doc: PaperIndex) -> bool:
        if self.op == "OR":
            return any(item.matches(doc) for item in self.items)
        negated = self.negated or (False,) * len(self.items)
        return all(item.matches(doc) != neg for item, neg in zip(self.items, negated, strict=True))

    def api(self) -> str:
        def side(n: Node) -> str:
            return f"({n.api()})" if isinstance(n, Op) else n.api()

        if self.op == "OR":
            return " OR ".join(side(item) for item in self.items)
        negated = self.negated or (False,) * len(self.items)
        out = [side(self.items[0])]
        for item, neg in zip(self.items[1:], negated[1:], strict=True):
            out.append(f"{'ANDNOT' if neg else 'AND'} {side(item)}")
        return " ".join(out)


def _joined(op: str, items: list[Node], negated: list[bool]) -> Node:
    """One node for ``items`` joined by ``op``; an un-negated item of the same kind (from
    parentheses) is merged in, so the tree stays flat."""
    flat: list[Node] = []
    flags: list[bool] = []
    for item, neg in zip(items, negated, strict=True):
        if isinstance(item, Op) and item.op == op and not neg:
            flat.extend(item.items)
            flags.extend(item.negated or (False,) * len(item.items))
        else:
            flat.append(item)
            flags.append(neg)
    if len(flat) == 1:
        return flat[0]
    return Op(op, tuple(flat), tuple(flags) if any(flags) else ())


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
        terms = [t for t in self.toks if t.kind in ("word", "phrase", "range")]
        if len(terms) > MAX_TERMS:
            raise QueryError(
                f"the query has {len(terms)} search terms; at most {MAX_TERMS} are allowed", terms[MAX_TERMS].pos, q
            )

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
        items = [self.and_expr(fld)]
        while (tok := self.peek()) is not None and tok.kind == "op" and tok.text == "OR":
            self.take()
            items.append(self.and_expr(fld, after=tok))
        return _joined("OR", items, [False] * len(items))

    def and_expr(self, fld: str | None, after: _Tok | None = None) -> Node:
        items = [self.unary(fld, after)]
        negated = [False]
        while (tok := self.peek()) is not None and tok.kind != "rparen":
            if tok.kind == "op" and tok.text == "OR":
                break
            if tok.kind == "op":
                self.take()
                items.append(self.unary(fld, tok))
                negated.append(tok.text == "ANDNOT")
            else:
                items.append(self.unary(fld, None))
                negated.append(False)
        return _joined("AND", items, negated)

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


MAX_QUERY_LENGTH = 1000
#: Words, phrases and date ranges in one query: the longest shipped topic has about 15; a query
#: of hundreds of words matches nothing useful and costs every harvest its evaluation.
MAX_TERMS = 50


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
def parse_query(text: str) -> Query:
    """Parse an arXiv query or raise :class:`QueryError` naming the problem and where."""
    if not isinstance(text, str):
        raise QueryError("the query is not text", 0, "")
    if len(text) > MAX_QUERY_LENGTH:
        raise QueryError(f"the query is longer than {MAX_QUERY_LENGTH} characters", MAX_QUERY_LENGTH, "")
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
