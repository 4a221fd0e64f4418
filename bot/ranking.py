"""Per-chat ranking: each chat's own linear model over the papers' words, trained on its votes.

The topic decides which papers a chat is offered (:mod:`bot.match`, shared by every chat that
follows the topic); a chat's votes decide their order within that. As arxiv-sanity trains one
SVM per tag over tf-idf vectors, each chat gets a ridge regression over hashed word and bigram
features of title and abstract, each weighted by its rarity among recent papers (:class:`Rarity`:
the idf of the last :data:`RARITY_DAYS` listing days), fitted to its voted papers (👍 = +1, 👎 =
-1, summed over people). Rarity is what lets a narrow interest show: in a 3DGS chat that wants
SLAM and driving, "gaussian" and "splatting" are in every paper it votes on, 👍 or 👎, while
"lidar" or "urban" are in a few. Beside the model, the chat's record of each title word
(:func:`keywords`: how often the papers whose titles have it were liked): a reader judges a card
by its title, and one word there ("SLAM", "urban") can be enough, however the rest of the paper
reads. Then:

* the digest is ordered by topic score + the model's prediction + the lift of the title's most
  liked word and the drop of its most disliked one (:meth:`ChatModel.lift`);
* papers predicted where the chat's own record is nearly all 👎 (a line read from its votes'
  leave-one-out predictions: :func:`_set_aside_line`) drop out of the cards into the one-line
  "N more" list;
* up to :data:`NEAR_MISSES` papers the topic did not take but that had some evidence for it
  (``evidence > 0``) and that the model predicts strongly (above :data:`NEAR`) are added,
  marked as such.

Cheap by construction: no model call, no fitted vocabulary (``HashingVectorizer`` is
stateless, so every day's papers are vectorised once and shared by every chat; the rarity is one
count per hashed word over the last days' papers, made again once after each harvest), a model is
trained only when the chat's votes (its vote epoch, :mod:`bot.feedback`) or the rarity changed,
and it is kept as a sparse vector over the words its voted papers contain, so ranking a digest is
one sparse product per chat.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date
from functools import cache
from typing import TYPE_CHECKING, Any

import numpy as np

from . import feedback
from .models import Paper
from .store import Store

if TYPE_CHECKING:
    from scipy import sparse

    from .core import Paperbot
    from .match import Verdict

N_FEATURES = 2**18
MIN_VOTES = 2  # papers voted on before a chat's model is used at all
FULL_TRUST = 15  # papers voted on before the chat's model counts fully in its order
PREF_WEIGHT = 1.0  # how much the chat's model counts against the topic score (tuned by bench.feedback)
SET_ASIDE_VOTES = 20  # papers voted on before the model may move papers out of the cards (two digests or so)
SET_ASIDE_MIN = 4  # voted papers under a line before the chat's record can say it dislikes what falls there
SET_ASIDE_LOST = 0.05  # the most of the chat's liked papers that may fall under that line
NEAR = 0.4  # predicted near (or past) the chat's typical 👍 paper (+0.5): a near miss may be added
NEAR_MISSES = 2  # at most this many such papers per digest
ALPHA = 1.0  # ridge regularisation
DAY_CACHE = 16  # digest days of vectorised papers kept in memory
MODEL_CACHE = 4096  # chats whose model is kept in memory (others are trained again when needed)
MAX_WEIGHTS = 4096  # words and bigrams a chat's model keeps (about 50 KB)
MAX_TRAIN = 600  # the chat's most recently voted papers its model is fitted to
RARITY_DAYS = 15  # listing days whose papers say how rare each word is (a few thousand papers)
KEYWORD_WEIGHT = 1.0  # how much the title words' record counts in the chat's order, beside its model
KEYWORD_PRIOR = 1.0  # a title word's record starts as this many votes at the chat's overall 👍 rate
MAX_KEYWORDS = 1024  # title words whose record a chat's model keeps (the furthest from its 👍 rate)

@cache
def _vectorizer() -> Any:
    """The hashing vectorizer: stateless (nothing is fitted), so one serves every chat. Made on
    first use: scikit-learn takes seconds to import, which the bot's start need not wait for."""
    from sklearn.feature_extraction.text import HashingVectorizer

    return HashingVectorizer(
        n_features=N_FEATURES, ngram_range=(1, 2), alternate_sign=False, norm=None, stop_words="english",
        token_pattern=r"(?u)\b[a-zA-Z][a-zA-Z0-9-]+\b",
    )  # fmt: skip


@cache
def _title_vectorizer() -> Any:
    """Which words a title has, each once: the model's vectorizer without its bigrams, so a title
    word is read and hashed as the model reads it. A chat's record of title words
    (:func:`keywords`) is kept over these, and :func:`text_of` gives the model the same words."""
    from sklearn.base import clone

    return clone(_vectorizer()).set_params(ngram_range=(1, 1), binary=True)


def title_words(papers: Sequence[Paper]) -> sparse.csr_matrix:
    """One row per paper: 1 for each (hashed) word of its title."""
    return _title_vectorizer().transform([p.title for p in papers]).tocsr()


@cache
def _blas() -> Any:
    """The BLAS thread pools' controller (threadpoolctl, which scikit-learn brings). A chat's fit
    is a few dozen rows: on one thread it takes a fraction of a millisecond, while a BLAS that
    spreads it over cores busy with other work waits on them (100x slower on a loaded 2-core
    machine, measured)."""
    from threadpoolctl import ThreadpoolController

    return ThreadpoolController()


@cache
def _title_analyzer() -> Callable[[str], list[str]]:
    """A title's words, lowercased, without stop words, in order (the title vectorizer's analyzer)."""
    analyzer: Callable[[str], list[str]] = _title_vectorizer().build_analyzer()
    return analyzer


def text_of(paper: Paper) -> str:
    """What the model reads: the title twice (it says what the paper is about), the abstract, and
    the title's words once more as words of their own (``title-urban`` beside ``urban``). A chat
    votes on a card, which it judges mostly by its title: "urban" in a liked title says more than
    "urban" in an abstract, and the model can only weigh the two apart if they are two features
    (measured with bench.feedback: no simulated chat does worse, the "people only" chat better)."""
    own = " ".join(f"title-{w}" for w in _title_analyzer()(paper.title))
    return f"{paper.title}. {paper.title}. {paper.abstract}. {own}"


def counts(papers: Sequence[Paper]) -> sparse.csr_matrix:
    """One row of hashed word and bigram counts per paper (what :class:`Rarity` counts, and what
    :func:`weigh` turns into the model's features)."""
    return _vectorizer().transform([text_of(p) for p in papers]).tocsr()


@dataclass(frozen=True, eq=False)
class Rarity:
    """How rare each hashed word is among recent papers: scikit-learn's smoothed idf, ln((1 + n) /
    (1 + df)) + 1, over the listing days in ``key``. A word in every paper weighs 1; a word in
    none (or one the days never saw) weighs most. A model is trained and used under one rarity
    (its ``key``)."""

    idf: np.ndarray  # one weight per hashed feature
    key: tuple[Any, ...] = ()

    @classmethod
    def of(cls, rows: sparse.csr_matrix, key: tuple[Any, ...] = ()) -> Rarity:
        """From count rows (:func:`counts`), one per paper. Each row holds a word once, so the
        number of rows holding it is a count of its column indices."""
        df = np.bincount(rows.indices, minlength=N_FEATURES)
        return cls((np.log((1 + rows.shape[0]) / (1 + df)) + 1).astype(np.float32), key)

    @classmethod
    def over(cls, days: Sequence[Sequence[Paper]], key: tuple[Any, ...] = ()) -> Rarity:
        """Over the papers of some listing days (each a list of papers)."""
        from scipy import sparse

        return cls.of(sparse.vstack([counts(papers) for papers in days]).tocsr(), key)


def weigh(rows: sparse.csr_matrix, rarity: Rarity | None) -> sparse.csr_matrix:
    """Count rows to model features: each word by its rarity (when there is one), each row
    l2-normalised (so a long abstract does not outvote a short one)."""
    from sklearn.preprocessing import normalize

    rows = rows.astype(np.float64)  # a copy: the counts stay as they were, for the next rarity
    if rarity is not None:
        rows.data *= rarity.idf[rows.indices]
    return normalize(rows, norm="l2", copy=False)


def features(papers: Sequence[Paper], rarity: Rarity | None = None) -> sparse.csr_matrix:
    """One row per paper: hashed word and bigram counts, weighed by ``rarity``, l2-normalised."""
    return weigh(counts(papers), rarity)


@dataclass(frozen=True)
class ChatModel:
    """A chat's preference direction over word features (sparse), and its own scale: where its
    👍 and 👎 papers land (the mean prediction of each on the papers it was fitted to)."""

    weights: sparse.csr_matrix  # 1 x N_FEATURES
    voted: int
    liked: float  # mean prediction of the papers voted 👍 (or 1.0 without any)
    disliked: float  # mean prediction of the papers voted 👎 (or -1.0 without any)
    epoch: int = 0
    intercept: float = 0.0
    below: float = -np.inf  # on the chat's scale: under this, a paper leaves the cards (see _set_aside_line)
    rarity: Rarity | None = None  # the word weights it was trained under, and predicts under
    keywords: sparse.csr_matrix | None = None  # 1 x N_FEATURES: each title word's record (see keywords)

    def predict(self, x: sparse.csr_matrix) -> np.ndarray:
        """How much the chat likes each row of ``x`` on its own scale: 0 halfway between its
        typical 👎 and 👍 paper, -0.5 at the typical 👎, +0.5 at the typical 👍."""
        return self.scale(np.asarray((x @ self.weights.T).todense()).ravel() + self.intercept)

    def lift(self, titles: sparse.csr_matrix) -> np.ndarray:
        """For each row of ``titles`` (:func:`title_words`): the record of its most liked title
        word above the chat's 👍 rate, plus that of its most disliked word below it (a word the
        chat never voted on counts as its 👍 rate: nothing)."""
        n = titles.shape[0]
        liked, disliked = np.zeros(n), np.zeros(n)  # no liked (or disliked) word adds nothing
        if self.keywords is None or not n or not self.keywords.nnz:
            return liked
        known, record = self.keywords.indices, self.keywords.data  # the words sorted, as keywords() made them
        at = np.minimum(np.searchsorted(known, titles.indices), len(known) - 1)
        each = np.where(known[at] == titles.indices, record[at], 0.0)  # each title word by its record
        row = np.repeat(np.arange(n), np.diff(titles.indptr))
        np.maximum.at(liked, row, each)
        np.minimum.at(disliked, row, each)
        return liked + disliked

    def scale(self, raw: np.ndarray) -> np.ndarray:
        spread = max(self.liked - self.disliked, 1e-6)
        return (raw - (self.liked + self.disliked) / 2) / spread

    @property
    def trust(self) -> float:
        """0..1: how much the chat's order follows its model rather than the topic score."""
        return min(1.0, self.voted / FULL_TRUST)


def train(
    papers: Sequence[Paper],
    net: Mapping[str, int],
    epoch: int = 0,
    rarity: Rarity | None = None,
    count: Callable[[Sequence[Paper]], sparse.csr_matrix] = counts,
) -> ChatModel | None:
    """Fit a chat's model to its voted papers (label = sign of 👍 minus 👎), with their words
    weighed by ``rarity``, or None when it has voted on fewer than :data:`MIN_VOTES` papers.
    ``count`` gives the voted papers' count rows (:func:`counts`, or a caller's that takes rows
    it already has: vectorising is half the cost of a fit).

    Ridge regression, its 👍 and 👎 weighted to count alike (a narrow chat votes 👎 on most of
    what a broad topic offers, and would otherwise learn only "less of everything"), with an
    intercept once it has voted both ways. scikit-learn's RidgeCV gives every voted paper's
    leave-one-out prediction at no extra cost; the chat's scale (where its typical 👍 and 👎
    land) and its set-aside line are read from those, not from the fitted values: a model always
    fits the papers it was trained on, and a scale from them would make it look unsure of every
    new paper."""
    voted = [p for p in papers if net.get(p.id)][-MAX_TRAIN:]
    if len(voted) < MIN_VOTES:
        return None
    from scipy import sparse
    from sklearn.linear_model import RidgeCV

    x = weigh(count(voted), rarity)
    y = np.array([1.0 if net[p.id] > 0 else -1.0 for p in voted])
    both = bool((y > 0).any() and (y < 0).any())
    # one way only: no intercept, so the model still learns a direction (which words the chat
    # likes) and ranks papers by their likeness to what it voted on
    weight = np.where(y > 0, 0.5 / (y > 0).mean(), 0.5 / (y < 0).mean()) if both else np.ones(len(y))
    # fitted on the words the voted papers contain (the other 2^18 slots are all zero: the same
    # model, without scikit-learn carrying a quarter million empty columns through the fit)
    words = np.unique(x.indices)
    fitted = RidgeCV(alphas=[ALPHA], fit_intercept=both, store_cv_results=True, scoring="neg_mean_squared_error")
    with _blas().limit(limits=1, user_api="blas"):
        fitted.fit(x[:, words], y, sample_weight=weight)
    held_out = np.asarray(fitted.cv_results_).ravel()  # each paper's prediction by the model fitted without it
    coef = np.asarray(fitted.coef_).ravel()
    keep = np.flatnonzero(np.abs(coef) > 1e-9)
    if len(keep) > MAX_WEIGHTS:  # the strongest words carry the ranking; bounded memory per chat
        keep = keep[np.argsort(-np.abs(coef[keep]))[:MAX_WEIGHTS]]
    # one row, so only the kept words take memory (a column would carry an index per feature)
    weights = sparse.csr_matrix(
        (coef[keep].astype(np.float32), (np.zeros(len(keep), dtype=np.int32), words[keep])), shape=(1, N_FEATURES)
    )
    liked = float(held_out[y > 0].mean()) if (y > 0).any() else 1.0
    disliked = float(held_out[y < 0].mean()) if (y < 0).any() else -1.0
    if liked - disliked < 0.05:  # the votes say nothing the words can tell apart: a neutral scale
        liked, disliked = 1.0, -1.0
    model = ChatModel(
        weights, len(voted), liked, disliked, epoch, float(fitted.intercept_), rarity=rarity,
        keywords=keywords(title_words(voted), y),
    )  # fmt: skip
    return replace(model, below=_set_aside_line(model.scale(held_out), y))


def keywords(titles: sparse.csr_matrix, y: np.ndarray) -> sparse.csr_matrix:
    """The chat's record of each word of its voted papers' titles: the share of the papers whose
    titles have it that it liked, smoothed towards its overall 👍 rate (as if each word started
    with :data:`KEYWORD_PRIOR` votes at that rate), minus that rate. +0.41 for a word in one
    liked title of a chat that likes 18 % of what it sees; -0.43 for a word in one disliked title
    of a chat that likes 85 %. Why beside the model: a ridge model sums over all of a paper's
    words, so the one telling word of a title ("urban") is outweighed by the many ordinary ones
    the chat's 👎 papers share; a reader skimming a card is not (measured with bench.feedback, 100
    draws: the "SLAM and driving" chat's rise went from +20 to +28 points, the human-motion chat's
    from +60 to +57; no chat's recall fell below the unpersonalised digest's)."""
    from scipy import sparse

    rate = float((y > 0).mean())
    # counted over the titles' words only (a row holds each word once), not over all 2^18 slots
    words, word = np.unique(titles.indices, return_inverse=True)
    row = np.repeat(np.arange(titles.shape[0]), np.diff(titles.indptr))
    seen = np.bincount(word, minlength=len(words))
    liked = np.bincount(word, weights=(y[row] > 0).astype(np.float64), minlength=len(words))
    lift = (liked + KEYWORD_PRIOR * rate) / (seen + KEYWORD_PRIOR) - rate
    keep = np.flatnonzero(np.abs(lift) > 1e-9)  # a chat that voted one way only has no word to tell apart
    keep = np.sort(keep[np.argsort(-np.abs(lift[keep]), kind="stable")[:MAX_KEYWORDS]])  # by word: lift() looks them up
    return sparse.csr_matrix(
        (lift[keep].astype(np.float32), words[keep].astype(np.int32), np.array([0, len(keep)])), shape=(1, N_FEATURES)
    )


def _set_aside_line(held_out: np.ndarray, y: np.ndarray) -> float:
    """The prediction under which the chat's own record says it only dislikes papers: the highest
    line, under the midpoint, with at least :data:`SET_ASIDE_MIN` voted papers under it (by
    their leave-one-out predictions) and at most :data:`SET_ASIDE_LOST` of the chat's liked
    papers (what setting aside would have cost it). Minus infinity while its votes show no such
    line (nothing is set aside)."""
    line = -np.inf
    order = np.argsort(held_out)
    lost = np.cumsum(y[order] > 0)
    allowed = SET_ASIDE_LOST * max(1, int((y > 0).sum()))
    for n, i in enumerate(order, start=1):
        if held_out[i] >= 0 or lost[n - 1] > allowed:
            break
        if n >= SET_ASIDE_MIN:
            # halfway to the next paper up (or to the midpoint): the line sits between what the
            # chat's record sets aside and what it keeps, not on its last set-aside paper
            above = min(float(held_out[order[n]]) if n < len(order) else 0.0, 0.0)
            line = (float(held_out[i]) + above) / 2
    return line


# ---- a chat's digest from the day's verdicts -----------------------------------------------------


@dataclass
class Pick:
    """A paper in a chat's digest: its topics, the topic score, the chat model's prediction."""

    paper: Paper
    topics: list[str]
    score: float
    pref: float = 0.0
    near_miss: bool = False
    trust: float = 0.0
    lift: float = 0.0  # the chat's record of the title's words (ChatModel.lift)

    @property
    def liking(self) -> float:
        """How much the chat likes the paper: its model's prediction and its title words' record."""
        return self.pref + KEYWORD_WEIGHT * self.lift

    @property
    def rank(self) -> float:
        return self.score + PREF_WEIGHT * self.trust * self.liking


@dataclass
class ChatDigest:
    shown: list[Pick] = field(default_factory=list)  # cards, in the chat's order
    below: list[Pick] = field(default_factory=list)  # what the chat's votes push into the "N more" list

    def __bool__(self) -> bool:
        return bool(self.shown or self.below)


def candidates(verdicts: Mapping[str, Sequence[Verdict]], papers: Mapping[str, Paper]) -> tuple[list[Pick], list[Pick]]:
    """From each subscription's verdicts: the papers its topics take (each once, with all its
    topics and its best score) and the near misses (not taken, but with evidence for a topic)."""
    taken: dict[str, Pick] = {}
    near: dict[str, Pick] = {}
    for topic, found in verdicts.items():
        for v in found:
            if v.paper_id not in papers:
                continue
            if v.taken:
                pick = taken.get(v.paper_id)
                if pick is None:
                    taken[v.paper_id] = Pick(papers[v.paper_id], [topic], v.score)
                else:
                    pick.topics.append(topic)
                    pick.score = max(pick.score, v.score)
            elif v.evidence > 0:
                old = near.get(v.paper_id)
                if old is None or v.score > old.score:
                    near[v.paper_id] = Pick(papers[v.paper_id], [topic], v.score, near_miss=True)
    return list(taken.values()), [p for pid, p in near.items() if pid not in taken]


def compose(
    taken: Sequence[Pick],
    near: Sequence[Pick],
    model: ChatModel | None,
    prefs: Mapping[str, tuple[float, float]] | None = None,
) -> ChatDigest:
    """Order a chat's papers by its model and its title words' record (when it has them), set
    aside what its model predicts it dislikes, and add at most :data:`NEAR_MISSES` near misses
    its model predicts it likes. Only the order reads the title words: setting aside and adding
    follow the model's own line, which its leave-one-out predictions drew.

    ``prefs`` are the model's prediction and the title words' lift by paper id when the caller
    has them (from the day's shared rows); otherwise the candidates are vectorised here.
    """
    if model is None:
        return ChatDigest(sorted(taken, key=lambda p: (-p.score, p.paper.id)))
    everyone = [*taken, *near]
    if prefs is None:
        papers = [p.paper for p in everyone]
        found = model.predict(features(papers, model.rarity)) if papers else np.zeros(0)
        lifts = model.lift(title_words(papers)) if papers else np.zeros(0)
        prefs = {p.paper.id: (float(v), float(k)) for p, v, k in zip(everyone, found, lifts, strict=True)}
    for pick in everyone:
        (pick.pref, pick.lift), pick.trust = prefs[pick.paper.id], model.trust
    sure = model.voted >= SET_ASIDE_VOTES
    shown = [p for p in taken if not sure or p.pref > model.below]
    below = sorted((p for p in taken if sure and p.pref <= model.below), key=lambda p: (-p.rank, p.paper.id))
    extra = sorted((p for p in near if sure and p.pref >= NEAR), key=lambda p: (-p.liking, p.paper.id))[:NEAR_MISSES]
    shown = sorted([*shown, *extra], key=lambda p: (-p.rank, p.paper.id))
    return ChatDigest(shown, below)


# ---- the per-process cache, used by the core ------------------------------------------------------


@dataclass
class _Day:
    """A listing day's papers as count rows and title words (vectorised once), and as features
    under the latest rarity (weighed once per rarity)."""

    counts: sparse.csr_matrix
    titles: sparse.csr_matrix
    rows: dict[str, int]
    weighed: tuple[Rarity | None, sparse.csr_matrix] | None = None

    def x(self, rarity: Rarity | None) -> sparse.csr_matrix:
        if self.weighed is None or self.weighed[0] is not rarity:
            self.weighed = (rarity, weigh(self.counts, rarity))
        return self.weighed[1]


def _recounted(papers: Sequence[Paper], days: Sequence[_Day]) -> sparse.csr_matrix:
    """The papers' count rows, taken from the digest days already vectorised where a paper is
    in one (a chat votes on what its recent digests showed) and vectorised where not."""
    from scipy import sparse

    rows: list[sparse.csr_matrix | None] = []
    for paper in papers:
        day = next((d for d in days if paper.id in d.rows), None)
        rows.append(day.counts[day.rows[paper.id]] if day is not None else None)
    missing = [i for i, row in enumerate(rows) if row is None]
    if missing:
        fresh = counts([papers[i] for i in missing])
        for n, i in enumerate(missing):
            rows[i] = fresh[n]
    return sparse.vstack(rows, format="csr") if rows else sparse.csr_matrix((0, N_FEATURES))


class Ranker:
    """Per-chat models (retrained only when the chat's vote epoch or the rarity moved), the days'
    papers as count rows (vectorised once for every chat) and the rarity over the last
    :data:`RARITY_DAYS` of them. One per :class:`~bot.core.Paperbot`."""

    def __init__(self) -> None:
        self._models: dict[tuple[str, str], ChatModel | None] = {}
        self._epochs: dict[tuple[str, str], tuple[int, tuple[Any, ...]]] = {}
        self._days: dict[str, _Day] = {}
        self._rarity: Rarity | None = None
        self._harvests = 0  # bumped by each harvest (recount) …
        self._counted = -1  # … and the value it had when the rarity was last counted
        self._counting = asyncio.Lock()  # one count of the rarity at a time, however many chats ask

    async def day(self, key: str, papers: Sequence[Paper]) -> _Day:
        """A digest day's papers as count rows and title words, vectorised once for every chat."""
        found = self._days.get(key)
        if found is None or len(found.rows) != len(papers):
            rows, titles = await asyncio.to_thread(lambda: (counts(papers), title_words(papers)))
            found = _Day(rows, titles, {p.id: i for i, p in enumerate(papers)})
            self._days[key] = found
            while len(self._days) > DAY_CACHE:
                self._days.pop(next(iter(self._days)))
        return found

    def recount(self) -> None:
        """The listing days changed (a harvest): count the rarity again when next asked (also
        when a count is running now: it may have read the days before the change)."""
        self._harvests += 1

    async def rarity(self, bot: Paperbot) -> Rarity | None:
        """The words' rarity over the last :data:`RARITY_DAYS` listing days in the store (None
        before the first). Counted on first use and after a harvest (:meth:`recount`), when the
        days changed (a few thousand papers, once a day); every other call costs nothing. The
        count rows are not kept between harvests."""
        async with self._counting:
            if self._counted == self._harvests:
                return self._rarity
            counting = self._harvests
            key = tuple(await bot.store.run(Store.recent_days, RARITY_DAYS))
            if key and (self._rarity is None or self._rarity.key != key):
                days = await bot.store.run(lambda s: [s.papers_for_day(day) for day, _ in key])
                self._rarity = await asyncio.to_thread(Rarity.over, days, key)
            self._counted = counting
            return self._rarity

    async def model(self, bot: Paperbot, platform: str, chat_id: str) -> ChatModel | None:
        key = (platform, str(chat_id))
        current = await bot.store.run(feedback.epoch, platform, chat_id)
        if current == 0:
            return None
        rarity = await self.rarity(bot)
        version = (current, rarity.key if rarity is not None else ())
        if self._epochs.get(key) == version:
            return self._models[key]

        def labelled(s: Store) -> tuple[dict[str, int], list[Paper]]:
            net = feedback.net_votes(s, platform, chat_id)
            return net, s.get_papers(sorted(net))

        net, papers = await bot.store.run(labelled)
        days = list(self._days.values())  # what the thread reads: the days as they are now
        trained = await asyncio.to_thread(train, papers, net, current, rarity, lambda ps: _recounted(ps, days))
        self._models[key] = trained
        self._epochs[key] = version
        while len(self._models) > MODEL_CACHE:  # the least recently trained go first
            oldest = next(iter(self._models))
            self._models.pop(oldest)
            self._epochs.pop(oldest, None)
        return trained


async def chat_digest(bot: Paperbot, platform: str, chat_id: str, days: Sequence[date]) -> ChatDigest:
    """What a chat gets from the listing ``days``, in its order: its topics' papers (minus what
    the ledger says it had), ranked by its votes, with what it dislikes set aside and near
    misses added. Several days (a weekly digest) are merged, each paper once."""
    subs = await bot.store.run(Store.subscriptions, platform, chat_id)
    queries = {s["topic"]: s["query"] for s in subs if not s["paused"]}
    if not queries:
        return ChatDigest()
    taken: dict[str, Pick] = {}
    near: dict[str, Pick] = {}
    day_of: dict[str, date] = {}
    day_papers: dict[date, list[Paper]] = {}
    for day in days:
        papers = day_papers[day] = await bot.papers_for_day(day)
        by_id = {p.id: p for p in papers}
        verdicts = {topic: await bot.verdicts(day, topic, query) for topic, query in queries.items()}
        got, close = candidates(verdicts, by_id)
        for pick in got:
            if pick.paper.id not in taken:
                taken[pick.paper.id] = pick
                day_of.setdefault(pick.paper.id, day)
        for pick in close:
            if pick.paper.id not in near:
                near[pick.paper.id] = pick
                day_of.setdefault(pick.paper.id, day)
    sent = await bot.store.run(Store.delivered_ids, platform, chat_id, sorted(day_of))
    got = [p for pid, p in taken.items() if pid not in sent]
    close = [p for pid, p in near.items() if pid not in sent and pid not in taken]
    model = await bot.ranker.model(bot, platform, chat_id)
    if model is None:
        return compose(got, [], None)
    prefs: dict[str, tuple[float, float]] = {}
    for day in days:
        picks = [p for p in [*got, *close] if day_of[p.paper.id] == day]
        if picks:
            shared = await bot.ranker.day(day.isoformat(), day_papers[day])
            rows = [shared.rows[p.paper.id] for p in picks]
            found, lifts = model.predict(shared.x(model.rarity)[rows]), model.lift(shared.titles[rows])
            prefs.update({p.paper.id: (float(v), float(k)) for p, v, k in zip(picks, found, lifts, strict=True)})
    return compose(got, close, model, prefs)
