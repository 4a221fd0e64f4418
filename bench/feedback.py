"""Does a chat's digest learn from its votes? Simulated chats over real listing days.

``python -m bench.feedback`` reads the labelled days of ``../shared/data/relevance/labels.tsv``
(the listing days as :mod:`bench.relevance` loads them) and, before them, the ten unlabelled
listing days of ``relevance/background/`` (2025-05 to 2026-05: a chat's earlier digests; without
them, ``--labelled-only``, five small days give a chat a few dozen votes and its narrow interest
one or two papers to learn from). It simulates chats whose interest is narrower than the topic
they follow, each a rule on the title (what a reader skimming the digest judges a card by):

* 元宇宙/虚拟人, but only talking heads and faces;
* 元宇宙/虚拟人, but only human motion (bodies moving, dancing, gesturing);
* 3DGS, but not SLAM or driving;
* 3DGS, but only people (avatars, heads, bodies in Gaussians);
* 3DGS, but only SLAM and driving.

Day by day, in date order, each chat is shown its digest (the first ``--cards`` papers as cards) and
votes on every card: 👍 when it fits the narrow interest, 👎 when not, and with probability
``--noise`` (10 %) a random vote instead. Reported per day: precision of the first 5 cards
(fraction fitting the narrow interest) and recall of the narrow interest (its papers among the
cards, of those the topic takes or the labels mark relevant), with learning (the chat's votes so
far, :mod:`bot.ranking`, its words weighed by their rarity over the listing days up to that day, as
the bot's store would have them) against without (the topic's order, the same for every chat).
Learning is averaged over ``--seeds`` draws of the random votes (100, in ``--jobs`` processes: with
20, one chat's rise moved by 5 points from one set of draws to the next), and each chat's rise is
given with its standard error over the draws. Last,
the time to rank one day's digest for 1,000 chats with their own votes, through the real store
and :func:`bot.ranking.chat_digest`, against the unpersonalised :meth:`Paperbot.chat_papers`.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import re
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path

from bench.relevance import SHARED, load_day, load_labels
from bot import feedback, ranking
from bot.core import Paperbot
from bot.match import Verdict, score_papers
from bot.models import Announcement, Paper
from bot.settings import Settings
from bot.store import Store
from bot.topics import Catalogue

AVATAR, GS = "元宇宙/虚拟人", "3DGS"
LABEL_KEY = {AVATAR: "virtual_human", GS: "3dgs"}


def _title(pattern: str) -> Callable[[Paper], bool]:
    """An interest judged from the title, as a reader skimming the digest judges a card."""
    rx = re.compile(pattern, re.I)
    return lambda p: bool(rx.search(p.title))


FACES = _title(r"talking|\bface|facial|\bhead|portrait|lip|expression|gaze|\beye")
MOTION = _title(r"motion|danc|gesture|locomotion|choreograph|movement|\bpose")
SLAM_DRIVING = _title(r"\bSLAM\b|driving|autonomous|odometry|lidar|street|urban|vehicle|\bcars?\b")
PEOPLE = _title(r"human|avatar|\bhead|\bbody|bodies|person|people|\bface|facial|portrait|clothed|garment|\bhands?\b|actor|performer")


@dataclass(frozen=True)
class Chat:
    name: str
    topic: str
    wants: Callable[[Paper], bool]


CHATS = [
    Chat("元宇宙/虚拟人, talking heads and faces only", AVATAR, FACES),
    Chat("元宇宙/虚拟人, human motion only", AVATAR, MOTION),
    Chat("3DGS, not SLAM or driving", GS, lambda p: not SLAM_DRIVING(p)),
    Chat("3DGS, people only", GS, PEOPLE),
    Chat("3DGS, SLAM and driving only", GS, SLAM_DRIVING),
]


@dataclass
class DayResult:
    p5: float
    recall: float
    shown: int
    wanted: int
    added: int = 0
    below: int = 0
    best: float = 0.0  # P@5 with the interest's papers among the topic's first (the most any order gives)


_SCORED: dict[tuple[str, str], dict[str, list[Verdict]]] = {}  # the topic's verdicts: the same for every run
_RARITY: dict[str, ranking.Rarity] = {}  # the words' rarity as of each day: the same for every run


def _rarity(days: dict[str, list[Paper]], day: str) -> ranking.Rarity:
    """The words' rarity the bot has on ``day``: over the last RARITY_DAYS listing days up to it."""
    if day not in _RARITY:
        window = [d for d in days if d <= day][-ranking.RARITY_DAYS:]
        _RARITY[day] = ranking.Rarity.over([days[d] for d in window], tuple(window))
    return _RARITY[day]


def _verdicts(topic: str, day: str, papers: list[Paper]) -> dict[str, list[Verdict]]:
    """A topic's verdicts of a day, scored once (as the bot does, once per day and topic)."""
    if (topic, day) not in _SCORED:
        _SCORED[(topic, day)] = score_papers(papers, [Catalogue.load().resolve(topic).matcher()])
    return _SCORED[(topic, day)]


def simulate(
    days: dict[str, list[Paper]], labels: dict[tuple[str, str, str], str], chat: Chat, *, learn: bool, cards: int,
    noise: float, seed: int,
) -> list[DayResult]:
    """One chat over the days: what it is shown, how it votes, what it sees next."""
    rng = random.Random(seed)
    net: dict[str, int] = {}
    voted: dict[str, Paper] = {}
    out = []
    for day, papers in days.items():
        verdicts = _verdicts(chat.topic, day, papers)
        by_id = {p.id: p for p in papers}
        taken, near = ranking.candidates(verdicts, by_id)
        model = ranking.train(list(voted.values()), net, rarity=_rarity(days, day)) if learn else None
        digest = ranking.compose(taken, near if learn else [], model)
        shown = digest.shown[:cards]
        universe = {
            p.id for p in papers
            if chat.wants(p) and (p.id in {t.paper.id for t in taken} or labels.get((day, p.id, LABEL_KEY[chat.topic])) == "Y")
        }  # fmt: skip
        first = shown[:5]
        p5 = sum(chat.wants(p.paper) for p in first) / len(first) if first else 0.0
        got = {p.paper.id for p in shown} & universe
        fits = sum(chat.wants(t.paper) for t in taken)
        best = min(5, fits) / min(5, len(taken)) if taken else 0.0
        out.append(DayResult(p5, len(got) / len(universe) if universe else 1.0, len(shown), len(universe),
                             sum(p.near_miss for p in shown), len(digest.below), best))  # fmt: skip
        for pick in shown:  # every card gets a vote; 10 % of them random
            vote = rng.choice((1, -1)) if rng.random() < noise else (1 if chat.wants(pick.paper) else -1)
            net[pick.paper.id] = net.get(pick.paper.id, 0) + vote
            voted[pick.paper.id] = pick.paper
    return out


_WORKER: list[tuple[dict[str, list[Paper]], dict[tuple[str, str, str], str]]] = []  # a seed worker's days and labels (_start)


def _start(days: dict[str, list[Paper]], labels: dict[tuple[str, str, str], str]) -> None:
    _WORKER[:] = [(days, labels)]


def _learning(job: tuple[int, int, int, float]) -> list[DayResult]:
    """One learning chat over the days, in a worker: (chat index, seed, cards, noise)."""
    chat, seed, cards, noise = job
    days, labels = _WORKER[0]
    return simulate(days, labels, CHATS[chat], learn=True, cards=cards, noise=noise, seed=seed)


# ---- timing: 1,000 chats through the store ----------------------------------------------------------


async def timing(day: str, papers: list[Paper], chats: int, votes: int, seed: int) -> dict[str, float]:
    rng = random.Random(seed)
    d = date.fromisoformat(day)
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(_env_file=None, data_dir=Path(tmp), llm_provider="none", arxiv_delay_seconds=0,
                            arxiv_api_url="http://127.0.0.1:9/api/query")  # fmt: skip
        for p in papers:
            p.announced, p.announce_type = d, "new"
        store = Store(settings.db_path)
        store.upsert_papers(papers)
        store.record_announcement(Announcement(d, ("cs.CV",), len(papers), "bench"), [(p.id, "new") for p in papers])
        feedback.ensure_tables(store)
        catalogue = Catalogue.load()
        topics = [catalogue.resolve(AVATAR), catalogue.resolve(GS)]
        now = datetime.now(UTC)
        with store.db.conn:
            for i in range(chats):
                topic = topics[i % 2]
                store.ensure_chat("telegram", str(-1000 - i))
                store.subscribe("telegram", str(-1000 - i), topic.name, topic.query)
        ids = [p.id for p in papers]
        for i in range(chats):
            for pid in rng.sample(ids, votes):
                feedback.cast(store, "telegram", str(-1000 - i), pid, str(rng.randrange(5)), rng.choice((1, -1)), now)
        store.close()
        out: dict[str, float] = {}
        async with Paperbot(settings) as core:
            await core.verdicts(d, AVATAR, topics[0].query)  # the shared, per-topic part: not per chat
            await core.verdicts(d, GS, topics[1].query)
            chat_ids = [str(-1000 - i) for i in range(chats)]
            t0 = time.perf_counter()
            for cid in chat_ids:
                await core.chat_papers("telegram", cid, d)
            out["unpersonalised"] = time.perf_counter() - t0
            t0 = time.perf_counter()
            for cid in chat_ids:
                await ranking.chat_digest(core, "telegram", cid, [d])
            out["first (trains every model)"] = time.perf_counter() - t0
            t0 = time.perf_counter()
            for cid in chat_ids:
                await ranking.chat_digest(core, "telegram", cid, [d])
            out["again (models cached)"] = time.perf_counter() - t0
        return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--labels", type=Path, default=SHARED / "relevance" / "labels.tsv")
    ap.add_argument("--cards", type=int, default=10, help="papers shown as cards per digest")
    ap.add_argument("--noise", type=float, default=0.1, help="share of random votes")
    ap.add_argument("--seeds", type=int, default=100, help="noise seeds averaged (with 20, one chat's rise moved by 5 points from one set of seeds to the next)")
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 1, help="processes simulating the seeds")
    ap.add_argument("--chats", type=int, default=1000)
    ap.add_argument("--votes", type=int, default=40, help="votes per simulated chat for the timing")
    ap.add_argument("--labelled-only", action="store_true", help="the five labelled days alone, without the earlier unlabelled days")
    args = ap.parse_args()
    if not args.labels.exists():
        sys.exit(f"needs {args.labels} (../shared/data), which is absent")
    labelled, labels = load_labels(args.labels)
    history = {} if args.labelled_only else {
        f.stem.split("_")[1]: load_day(f) for f in sorted((SHARED / "relevance" / "background").glob("*.jsonl"))
    }  # fmt: skip
    days = {**history, **labelled}  # in date order: the background days are all earlier
    names = list(days)
    print(f"labelled days: {', '.join(names)}; {args.cards} cards per digest, {args.noise:.0%} random votes, "
          f"mean of {args.seeds} seeds\n")  # fmt: skip
    rises, spreads, recall_ok = [], [], True
    for day in names:  # the topics' verdicts and the words' rarity, made once here and inherited by the workers
        _rarity(days, day)
        for topic in {chat.topic for chat in CHATS}:
            _verdicts(topic, day, days[day])
    with ProcessPoolExecutor(args.jobs, initializer=_start, initargs=(days, labels)) as pool:
        jobs = [(c, s, args.cards, args.noise) for c in range(len(CHATS)) for s in range(args.seeds)]
        learned = list(pool.map(_learning, jobs, chunksize=max(1, len(jobs) // (8 * args.jobs))))
    for c, chat in enumerate(CHATS):
        base = simulate(days, labels, chat, learn=False, cards=args.cards, noise=args.noise, seed=0)
        runs = learned[c * args.seeds:(c + 1) * args.seeds]
        print(f"**{chat.name}**\n")
        print("| day | wanted | P@5 without | P@5 learning | recall without | recall learning | near misses | set aside |")
        print("|---|---|---|---|---|---|---|---|")
        for i, day in enumerate(names):
            p5 = statistics.mean(r[i].p5 for r in runs)
            rec = statistics.mean(r[i].recall for r in runs)
            added = statistics.mean(r[i].added for r in runs)
            below = statistics.mean(r[i].below for r in runs)
            print(f"| {day} | {base[i].wanted} | {base[i].p5:.2f} | {p5:.2f} | {base[i].recall:.2f} | {rec:.2f} | {added:.1f} | {below:.1f} |")
        first, last = statistics.mean(r[0].p5 for r in runs), statistics.mean(r[-1].p5 for r in runs)
        spread = statistics.stdev(r[-1].p5 - r[0].p5 for r in runs) / len(runs) ** 0.5 if len(runs) > 1 else 0.0
        rec_learn = statistics.mean(statistics.mean(d.recall for d in r) for r in runs)
        rec_base = statistics.mean(d.recall for d in base)
        rises.append(last - first)
        spreads.append(spread)
        recall_ok &= rec_learn >= rec_base - 1e-9
        print(f"\nP@5 first day → last day: {first:.2f} → {last:.2f} ({(last - first) * 100:+.0f} points, "
              f"±{spread * 100:.1f} standard error over the seeds); "
              f"mean narrow recall {rec_learn:.2f} learning vs {rec_base:.2f} without; the most any order of the "
              f"topic's papers gives on the last day: {base[-1].best:.2f} ({(base[-1].best - first) * 100:+.0f} points)\n")  # fmt: skip
    print(f"P@5 rise per chat (points, ± standard error over the seeds): "
          f"{', '.join(f'{r * 100:+.0f} ±{e * 100:.1f}' for r, e in zip(rises, spreads, strict=True))}; "
          f"mean {statistics.mean(rises) * 100:+.0f}; recall never below the unpersonalised digest's: {recall_ok}\n")

    biggest = max(labelled, key=lambda d: len(labelled[d]))
    times = asyncio.run(timing(biggest, days[biggest], args.chats, args.votes, seed=0))
    print(f"ranking {biggest} ({len(days[biggest])} papers) for {args.chats} chats, {args.votes} votes each, "
          "through the store:")  # fmt: skip
    base_t = times["unpersonalised"]
    for what, s in times.items():
        print(f"- {what}: {s:.2f} s ({s / args.chats * 1000:.2f} ms a chat; {s / base_t:.1f}x the unpersonalised digest)")


if __name__ == "__main__":
    main()
