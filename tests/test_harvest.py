"""Harvesting against a fake arXiv on 127.0.0.1: the real RSS parsing and the real `arxiv` client."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from bot.arxiv_api import ArxivAPI, parse_rss
from bot.errors import ArxivUnavailable, FeedError
from bot.harvest import Harvester, listing_day_for, listing_days_between, submission_window
from bot.settings import Settings
from bot.store import Store
from bot.topics import Catalogue


def entry(pid: str, title: str, cats: list[str] | None = None, **kw: object) -> dict[str, object]:
    return {
        "id": pid,
        "title": title,
        "summary": kw.pop("summary", f"Abstract of {title}. We propose a method. It works well."),
        "authors": kw.pop("authors", ["Ada Lovelace", "Alan Turing"]),
        "categories": cats or ["cs.CV"],
        "comment": kw.pop("comment", None),
        **kw,
    }


TUE = date(2026, 6, 23)
WED = date(2026, 6, 24)
FRI = date(2026, 6, 26)
NEXT_TUE = date(2026, 6, 30)


def at(day: date, hour: int = 6) -> datetime:
    """A moment on ``day`` (UTC morning: the listing of ``day`` is out)."""
    return datetime(day.year, day.month, day.day, hour, tzinfo=UTC)


@pytest.fixture
def harvester(arxiv_settings: Settings, store: Store):
    api = ArxivAPI(arxiv_settings)
    yield Harvester(store, api, Catalogue.load())
    api.close()


def test_calendar() -> None:
    # Tuesday's listing holds Fri 14:00 ET .. Mon 14:00 ET submissions
    start, end = submission_window(TUE)
    assert (start.isoformat(), end.isoformat()) == ("2026-06-19T18:00:00+00:00", "2026-06-22T18:00:00+00:00")
    # Monday 20:00 ET announces Tuesday's listing; before that the newest is Monday's
    assert listing_day_for(datetime(2026, 6, 23, 0, 30, tzinfo=UTC)) == TUE  # Mon 20:30 ET
    assert listing_day_for(datetime(2026, 6, 22, 23, 30, tzinfo=UTC)) == date(2026, 6, 22)  # Mon 19:30 ET
    assert listing_day_for(datetime(2026, 6, 27, 12, tzinfo=UTC)) == FRI  # Saturday
    assert listing_days_between(TUE, NEXT_TUE) == [WED, date(2026, 6, 25), FRI, date(2026, 6, 29), NEXT_TUE]


def test_harvest_stores_new_and_cross_and_skips_replacements(fake_arxiv, harvester: Harvester, store: Store) -> None:
    fake_arxiv.add_day(
        TUE,
        [
            entry("2606.00001", "Gaussian Head Avatars", ["cs.CV"], comment="Accepted to ECCV24. Project page: https://x.org"),
            entry("2606.00002", "A cross-listed talking head paper", ["cs.SD", "cs.CV"]),
            entry("2606.00003", "Replaced paper about avatars", ["cs.CV"], announce_type="replace", version=2),
            entry("2606.00004", "Unrelated optimisation", ["math.OC"]),
        ],
    )
    fake_arxiv.rss_day = TUE
    report = harvester.harvest(now=at(TUE))
    assert report.day == TUE and report.source == "rss"
    assert sorted(p.id for p in store.papers_for_day(TUE)) == ["2606.00001", "2606.00002"]
    avatar = store.get_paper("2606.00001")
    assert avatar is not None and avatar.has_full_metadata  # matched 虚拟人 → API metadata
    assert avatar.comment and avatar.comment.startswith("Accepted to ECCV24")
    assert avatar.license and avatar.license.startswith("http://creativecommons.org/")
    assert report.matched["元宇宙/虚拟人"] == 2  # talking heads are virtual humans too (CRITERIA.md)
    # one RSS request for the union of categories, one API request for the matched ids
    assert len(fake_arxiv.requests("rss")) == 1
    api_calls = fake_arxiv.requests("api")
    assert len(api_calls) == 1 and set(api_calls[0]["id_list"].split(",")) == {"2606.00001", "2606.00002"}
    cats = fake_arxiv.requests("rss")[0]["cats"].split("+")
    assert {"cs.CV", "cs.GR", "eess.IV", "cs.SD"} <= set(cats)


def test_second_harvest_of_the_same_day_makes_no_request(fake_arxiv, harvester: Harvester, store: Store) -> None:
    fake_arxiv.add_day(TUE, [entry("2606.00001", "Gaussian Head Avatars")])
    fake_arxiv.rss_day = TUE
    harvester.harvest(now=at(TUE))
    before = len(fake_arxiv.log)
    report = harvester.harvest(now=at(TUE, 12))
    assert report.source == "stored" and len(fake_arxiv.log) == before
    assert store.count_papers() == 1


def test_v1_then_v2_is_one_paper(fake_arxiv, harvester: Harvester, store: Store) -> None:
    fake_arxiv.add_day(TUE, [entry("2606.00001", "Gaussian Head Avatars")])
    fake_arxiv.rss_day = TUE
    harvester.harvest(now=at(TUE))
    # v2 appears: in the RSS as a replacement (skipped) and from the API (kept, same row)
    v2 = dict(fake_arxiv.papers["2606.00001"], version=2, title="Gaussian Head Avatars (v2)", announce_type="replace")
    fake_arxiv.add_day(WED, [v2])
    fake_arxiv.rss_day = WED
    harvester.harvest(now=at(WED))
    assert store.count_papers() == 1
    assert store.papers_for_day(WED) == []
    harvester.store.upsert_papers(harvester.api.by_ids(["2606.00001"]))
    paper = store.get_paper("2606.00001")
    assert paper is not None and (paper.version, paper.title) == (2, "Gaussian Head Avatars (v2)")
    assert paper.announced == TUE  # first listing day kept
    assert store.count_papers() == 1
    # an older version arriving late never overwrites the newer one
    old = harvester.api.by_ids(["2606.00001"])[0]
    old.version, old.title = 1, "stale"
    harvester.store.upsert_papers([old])
    assert store.get_paper("2606.00001").title == "Gaussian Head Avatars (v2)"


def test_weekend_without_announcement(fake_arxiv, harvester: Harvester, store: Store) -> None:
    fake_arxiv.add_day(FRI, [entry("2606.00010", "Friday avatars")])
    fake_arxiv.rss_day = FRI
    harvester.harvest(now=at(FRI))
    fake_arxiv.rss_day = None  # the feed is empty on weekends
    before = len(fake_arxiv.log)
    for moment in (datetime(2026, 6, 27, 12, tzinfo=UTC), datetime(2026, 6, 28, 20, tzinfo=UTC)):
        report = harvester.harvest(now=moment)
        assert report.day == FRI and report.source == "stored"
    assert len(fake_arxiv.log) == before  # nothing asked
    assert store.announcement_days() == [FRI]


def test_backfill_after_a_gap(fake_arxiv, harvester: Harvester, store: Store) -> None:
    fake_arxiv.add_day(TUE, [entry("2606.00001", "Tuesday avatars")])
    fake_arxiv.add_day(WED, [entry("2606.00002", "Wednesday avatars"), entry("2606.00003", "Wednesday NeRF")])
    fake_arxiv.add_day(FRI, [entry("2606.00004", "Friday gaussian splatting")])
    fake_arxiv.add_day(date(2026, 6, 29), [entry("2606.00005", "Monday avatars")])
    fake_arxiv.add_day(NEXT_TUE, [entry("2606.00006", "Tuesday again: avatars")])
    fake_arxiv.rss_day = TUE
    harvester.harvest(now=at(TUE))
    fake_arxiv.rss_day = NEXT_TUE  # the bot was down Wednesday to Monday
    report = harvester.harvest(now=at(NEXT_TUE))
    assert report.source == "rss"
    assert report.backfilled == [WED, date(2026, 6, 25), FRI, date(2026, 6, 29)]
    assert [p.id for p in store.papers_for_day(WED)] == ["2606.00002", "2606.00003"]
    assert [p.id for p in store.papers_for_day(FRI)] == ["2606.00004"]
    assert [p.id for p in store.papers_for_day(date(2026, 6, 29))] == ["2606.00005"]
    assert [p.id for p in store.papers_for_day(NEXT_TUE)] == ["2606.00006"]
    assert store.get_announcement(date(2026, 6, 25)).count == 0  # Thursday had nothing: not asked again
    assert store.count_papers() == 6
    queries = [r["search_query"] for r in fake_arxiv.requests("api") if r["search_query"]]
    assert len(queries) == 4 and all("submittedDate:[" in q for q in queries)


def test_feed_not_rebuilt_yet_uses_the_api(fake_arxiv, harvester: Harvester, store: Store) -> None:
    """At 21:00 ET the new listing is announced but the RSS still shows the old one."""
    fake_arxiv.add_day(TUE, [entry("2606.00001", "Tuesday avatars")])
    fake_arxiv.add_day(WED, [entry("2606.00002", "Wednesday avatars")])
    fake_arxiv.rss_day = TUE
    harvester.harvest(now=at(TUE))
    report = harvester.harvest(now=datetime(2026, 6, 24, 1, 0, tzinfo=UTC))  # Tue 21:00 ET
    assert report.day == WED and report.source == "api"
    assert [p.id for p in store.papers_for_day(WED)] == ["2606.00002"]


def test_429_then_success(fake_arxiv, harvester: Harvester, store: Store) -> None:
    fake_arxiv.add_day(TUE, [entry("2606.00001", "Gaussian Head Avatars")])
    fake_arxiv.rss_day = TUE
    fake_arxiv.faults["rss"] = [429]
    fake_arxiv.faults["api"] = [503]
    report = harvester.harvest(now=at(TUE))
    assert report.source == "rss" and store.count_papers() == 1
    assert len(fake_arxiv.requests("rss")) == 2 and len(fake_arxiv.requests("api")) == 2
    assert report.requests == 4


def test_arxiv_down_is_a_named_error(fake_arxiv, harvester: Harvester, store: Store) -> None:
    fake_arxiv.rss_day = TUE
    fake_arxiv.faults["rss"] = [503, 503, 503, 503]
    with pytest.raises(ArxivUnavailable):
        harvester.harvest(now=at(TUE))
    assert store.announcement_days() == []


def test_malformed_feed(fake_arxiv, harvester: Harvester, store: Store) -> None:
    fake_arxiv.rss_day = TUE
    fake_arxiv.faults["rss"] = ["malformed"]
    with pytest.raises(FeedError):
        harvester.harvest(now=at(TUE))
    fake_arxiv.faults["rss"] = ["html"]
    with pytest.raises(FeedError):
        harvester.harvest(now=at(TUE))
    assert store.count_papers() == 0


def test_parse_rss_of_a_real_day_shape() -> None:
    xml = b"""<?xml version='1.0' encoding='UTF-8'?>
<rss xmlns:arxiv="http://arxiv.org/schemas/atom" xmlns:dc="http://purl.org/dc/elements/1.1/" version="2.0"><channel>
<title>cs.CV updates on arXiv.org</title><pubDate>Thu, 07 Aug 2025 00:00:00 -0400</pubDate>
<item><title>Text2VR</title><link>https://arxiv.org/abs/2508.03699</link>
<description>arXiv:2508.03699v1 Announce Type: new
Abstract: Virtual Reality is here.</description>
<guid isPermaLink="false">oai:arXiv.org:2508.03699v1</guid><category>cs.HC</category><category>cs.CV</category>
<arxiv:announce_type>new</arxiv:announce_type><dc:rights>http://creativecommons.org/licenses/by/4.0/</dc:rights>
<dc:creator>Subin Raj Peter, Ada Lovelace</dc:creator></item>
<item><title>Old</title><guid isPermaLink="false">oai:arXiv.org:2401.00001v3</guid>
<description>arXiv:2401.00001v3 Announce Type: replace
Abstract: x</description></item>
</channel></rss>"""
    feed = parse_rss(xml)
    assert feed.day == date(2025, 8, 7)
    first, second = feed.items
    assert (first.paper.id, first.paper.version, first.announce_type) == ("2508.03699", 1, "new")
    assert first.paper.abstract == "Virtual Reality is here."
    assert first.paper.authors == ["Subin Raj Peter", "Ada Lovelace"]
    assert first.paper.categories == ["cs.HC", "cs.CV"]
    assert first.paper.license == "http://creativecommons.org/licenses/by/4.0/"
    assert (second.paper.version, second.announce_type) == (3, "replace")


def test_recorded_api_responses(fake_arxiv, arxiv_settings: Settings) -> None:
    from tests.conftest import shared_path

    folder = shared_path("arxiv_api")
    for name in ("recorded2026_id_2104.12255v1_s0_m100_6ae69987ffe1.json", "recorded2026_id_0000.0000_s0_m100_8b51d9633a68.json"):
        fake_arxiv.add_recorded(folder / name)
    api = ArxivAPI(arxiv_settings)
    try:
        (paper,) = api.by_ids(["2104.12255v1"])
        assert (paper.id, paper.version, paper.categories) == ("2104.12255", 1, ["cs.CR"])
        assert paper.authors == ["Quan Thoi Minh Nguyen"]
        assert paper.pdf_url == "https://arxiv.org/pdf/2104.12255v1"
        assert api.by_ids(["0000.0000"]) == []
    finally:
        api.close()
