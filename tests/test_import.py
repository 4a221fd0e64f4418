"""``paperbot harvest --from FILE``: arXiv's bulk metadata (the JSON-lines snapshot) imported as
announcements, run as a real subprocess with the fake arXiv listening, which must hear nothing."""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bot.harvest import listing_day_for
from tests.conftest import shared_path
from tests.fakes.arxiv import load_listing
from tests.test_cli import no_traceback, paperbot

# Records as the snapshot writes them: hard-wrapped titles and abstracts, e-mail dates,
# authors both as one string and parsed, a v3 paper, a record without authors_parsed.
RECORDS: list[dict[str, Any]] = [
    {
        "id": "2606.30347", "submitter": "Jane Doe",
        "authors": "Jane Doe, Wei Zhang and Ana María López",
        "title": "FFAvatar: Feed-Forward Gaussian Head Avatars\n  from a Single Image",
        "comments": "CVPR 2026. Project page: https://example.org/ffavatar", "journal-ref": None, "doi": None,
        "report-no": None, "categories": "cs.CV cs.GR",
        "license": "http://creativecommons.org/licenses/by/4.0/",
        "abstract": "  We build animatable head avatars from one photo.\nA feed-forward network predicts 3D\n"
                    "Gaussians in under a second.\n",
        "versions": [{"version": "v1", "created": "Mon, 29 Jun 2026 17:02:11 GMT"},
                     {"version": "v2", "created": "Tue, 30 Jun 2026 09:15:00 GMT"},
                     {"version": "v3", "created": "Wed, 1 Jul 2026 08:00:00 GMT"}],
        "update_date": "2026-06-30",
        "authors_parsed": [["Doe", "Jane", ""], ["Zhang", "Wei", ""], ["López", "Ana María", ""]],
    },
    {
        "id": "2606.30145", "submitter": "Li Wang", "authors": "Li Wang and Tom Smith Jr.",
        "title": "FacePlex: Talking Head Generation with Expressive Gestures",
        "comments": None, "journal-ref": None, "doi": None, "report-no": None, "categories": "cs.CV",
        "license": "http://arxiv.org/licenses/nonexclusive-distrib/1.0/",
        "abstract": "Talking heads that gesture.", "update_date": "2026-06-30",
        "versions": [{"version": "v1", "created": "Mon, 29 Jun 2026 12:00:00 GMT"}],
        "authors_parsed": [["Wang", "Li", ""], ["Smith", "Tom", "Jr."]],
    },
    {
        "id": "2606.28729", "submitter": "Yumeng Yang",
        "authors": "Yumeng Yang, Han Cai, Xianfu Lei, and Xiaohu Tang",
        "title": "Convertible Codes: MSR-to-MSR Conversion with Optimal Access and\n  Bandwidth",
        "comments": "12 pages", "journal-ref": "IEEE Trans. Inf. Theory 72 (2026) 1-12",
        "doi": "10.1109/TIT.2026.0001", "report-no": None, "categories": "cs.IT math.IT", "license": None,
        "abstract": "We study convertible codes in the merge regime.", "update_date": "2026-06-29",
        "versions": [{"version": "v1", "created": "Fri, 26 Jun 2026 10:00:00 GMT"}],
    },
]  # fmt: skip


def write_jsonl(path: Path, records: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8")
    return path


def rows(db: Path, sql: str, *args: Any) -> list[dict[str, Any]]:
    conn = sqlite3.connect(db)
    conn.row_factory = sqlite3.Row
    try:
        return [dict(r) for r in conn.execute(sql, args)]
    finally:
        conn.close()


def test_import_stores_each_day_as_an_announcement_and_asks_arxiv_nothing(tmp_path: Path, fake_arxiv) -> None:
    snapshot = write_jsonl(tmp_path / "snapshot.jsonl", RECORDS)
    first = paperbot(tmp_path, fake_arxiv.url, "harvest", "--from", str(snapshot))
    assert first.returncode == 0, first.stderr
    no_traceback(first)
    assert first.stdout.strip() == (
        "imported snapshot.jsonl: 2 days (2026-06-29, 2026-06-30), 3 papers (3 new, 0 updated); no arXiv requests"
    )
    db = tmp_path / "data" / "paperbot.db"
    anns = rows(db, "select day, count, source from announcements order by day")
    assert anns == [{"day": "2026-06-29", "count": 1, "source": "import"}, {"day": "2026-06-30", "count": 2, "source": "import"}]
    listed = rows(db, "select day, paper_id from announcement_papers order by day, paper_id")
    assert [(r["day"], r["paper_id"]) for r in listed] == [
        ("2026-06-29", "2606.28729"), ("2026-06-30", "2606.30145"), ("2026-06-30", "2606.30347"),
    ]  # fmt: skip
    papers = {r["id"]: r for r in rows(db, "select * from papers")}
    ff = papers["2606.30347"]
    assert ff["title"] == "FFAvatar: Feed-Forward Gaussian Head Avatars from a Single Image"
    assert ff["abstract"] == "We build animatable head avatars from one photo. A feed-forward network predicts 3D Gaussians in under a second."
    assert json.loads(ff["authors"]) == ["Jane Doe", "Wei Zhang", "Ana María López"]
    assert json.loads(ff["categories"]) == ["cs.CV", "cs.GR"]
    assert ff["version"] == 3 and ff["has_full_metadata"] == 1 and ff["announced"] == "2026-06-30"
    assert ff["published"] == "2026-06-29T17:02:11+00:00" and ff["updated"] == "2026-07-01T08:00:00+00:00"
    assert ff["comment"].startswith("CVPR 2026") and ff["license"].startswith("http://creativecommons.org")
    assert json.loads(papers["2606.30145"]["authors"]) == ["Li Wang", "Tom Smith Jr."]
    codes = papers["2606.28729"]
    assert json.loads(codes["authors"]) == ["Yumeng Yang", "Han Cai", "Xianfu Lei", "Xiaohu Tang"]  # from the string
    assert codes["journal_ref"] == "IEEE Trans. Inf. Theory 72 (2026) 1-12" and codes["doi"] == "10.1109/TIT.2026.0001"
    assert codes["title"] == "Convertible Codes: MSR-to-MSR Conversion with Optimal Access and Bandwidth"

    # the same file again: every row updated in place, none twice
    RECORDS[1]["versions"].append({"version": "v2", "created": "Thu, 2 Jul 2026 10:00:00 GMT"})
    try:
        write_jsonl(snapshot, RECORDS)
    finally:
        RECORDS[1]["versions"].pop()
    second = paperbot(tmp_path, fake_arxiv.url, "harvest", "--from", str(snapshot))
    assert second.returncode == 0, second.stderr
    assert "3 papers (0 new, 1 updated)" in second.stdout
    assert rows(db, "select count(*) n from papers")[0]["n"] == 3
    assert rows(db, "select count(*) n from announcement_papers")[0]["n"] == 3
    assert len(rows(db, "select * from announcements")) == 2
    assert rows(db, "select version from papers where id = '2606.30145'")[0]["version"] == 2
    assert fake_arxiv.log == []  # no RSS, no API, no PDF: everything came from the file


def test_day_puts_every_record_in_one_announcement(tmp_path: Path, fake_arxiv) -> None:
    snapshot = write_jsonl(tmp_path / "s.jsonl", RECORDS)
    result = paperbot(tmp_path, fake_arxiv.url, "harvest", "--from", str(snapshot), "--day", "2026-07-01")
    assert result.returncode == 0, result.stderr
    assert "1 day (2026-07-01), 3 papers" in result.stdout
    db = tmp_path / "data" / "paperbot.db"
    assert rows(db, "select day, count, source from announcements") == [{"day": "2026-07-01", "count": 3, "source": "import"}]
    assert fake_arxiv.log == []


def test_a_bad_line_refuses_the_file_before_storing_anything(tmp_path: Path) -> None:
    broken = dict(RECORDS[2])
    del broken["versions"]
    cases = {
        "missing.jsonl": ([RECORDS[0], RECORDS[1], broken], "missing.jsonl line 3: versions: Field required"),
        "id.jsonl": ([RECORDS[0] | {"id": "not-an-id"}], "id.jsonl line 1: id: Value error, 'not-an-id' is not an arXiv id"),
        "date.jsonl": ([RECORDS[1] | {"versions": [{"version": "v1", "created": "yesterday"}]}], "date.jsonl line 1: versions.0.created"),
    }
    for name, (records, expected) in cases.items():
        result = paperbot(tmp_path, "http://127.0.0.1:9", "harvest", "--from", str(write_jsonl(tmp_path / name, records)))
        assert result.returncode == 1, result.stdout
        assert expected in result.stderr and "nothing was imported" in result.stderr
        assert len(result.stderr.strip().splitlines()) == 1
        no_traceback(result)
    not_json = tmp_path / "garbage.jsonl"
    not_json.write_text(json.dumps(RECORDS[0]) + "\n\n{not json\n", encoding="utf-8")
    result = paperbot(tmp_path, "http://127.0.0.1:9", "harvest", "--from", str(not_json))
    assert result.returncode == 1 and "garbage.jsonl line 3: is not valid JSON" in result.stderr
    missing = paperbot(tmp_path, "http://127.0.0.1:9", "harvest", "--from", str(tmp_path / "absent.jsonl"))
    assert missing.returncode == 1 and "cannot be read" in missing.stderr
    no_traceback(missing)
    db = tmp_path / "data" / "paperbot.db"
    assert not db.exists() or rows(db, "select count(*) n from papers")[0]["n"] == 0


def as_snapshot(entry: dict[str, Any], created: datetime, day: str) -> dict[str, Any]:
    """A dw-dengwei listing line in the snapshot's schema (its abstract hard-wrapped, as the snapshot's are)."""
    words = entry["summary"].split(" ")
    wrapped = "\n".join(" ".join(words[i : i + 12]) for i in range(0, len(words), 12))
    return {
        "id": entry["id"], "submitter": entry["authors"][0] if entry["authors"] else None,
        "authors": ", ".join(entry["authors"]), "title": entry["title"], "comments": entry.get("comment"),
        "journal-ref": None, "doi": None, "report-no": None, "categories": " ".join(entry["categories"]),
        "license": None, "abstract": "  " + wrapped + "\n",
        "versions": [{"version": "v1", "created": created.strftime("%a, %-d %b %Y %H:%M:%S GMT")}],
        "update_date": day,
    }  # fmt: skip


def test_a_real_listing_day_imported_serves_a_digest_offline(tmp_path: Path, fake_arxiv) -> None:
    listing = load_listing(shared_path("listings", "dw-dengwei_2026-06-30.jsonl"))
    start = datetime(2026, 6, 26, 18, 0, tzinfo=UTC)
    records = [as_snapshot(e, start + timedelta(minutes=i), "2026-07-03") for i, e in enumerate(listing)]
    snapshot = write_jsonl(tmp_path / "day.jsonl", records)
    result = paperbot(tmp_path, fake_arxiv.url, "harvest", "--from", str(snapshot), "--day", "2026-06-30")
    assert result.returncode == 0, result.stderr
    assert f"1 day (2026-06-30), {len(listing)} papers ({len(listing)} new, 0 updated)" in result.stdout
    db = tmp_path / "data" / "paperbot.db"
    assert rows(db, "select count(*) n from announcement_papers where day = '2026-06-30'")[0]["n"] == len(listing)
    stored = {r["id"]: r for r in rows(db, "select id, abstract, authors from papers")}
    for e in listing:
        assert stored[e["id"]]["abstract"] == " ".join(e["summary"].split())
        assert json.loads(stored[e["id"]]["authors"]) == e["authors"]
    digest = paperbot(tmp_path, fake_arxiv.url, "digest", "虚拟人", "--date", "2026-06-30", "--format", "json", "--no-figures")
    assert digest.returncode == 0, digest.stderr
    ids = [p["id"] for p in json.loads(digest.stdout)["papers"]]
    assert {"2606.30347", "2606.30145", "2606.29329"} <= set(ids)  # FFAvatar, FacePlex, RAGA
    assert fake_arxiv.log == []


def test_import_into_a_harvested_day_adds_to_it(tmp_path: Path, fake_arxiv) -> None:
    today = listing_day_for(datetime.now(UTC))
    fake_arxiv.add_day(today, [
        {"id": "2606.30145", "title": "FacePlex", "summary": "Talking heads.", "authors": ["Li Wang"], "categories": ["cs.CV"]},
        {"id": "2606.30001", "title": "Codec Avatars", "summary": "Avatars.", "authors": ["Ada Lovelace"], "categories": ["cs.CV"]},
    ])  # fmt: skip
    fake_arxiv.rss_day = today
    harvested = paperbot(tmp_path, fake_arxiv.url, "harvest")
    assert harvested.returncode == 0, harvested.stderr
    heard = len(fake_arxiv.log)
    snapshot = write_jsonl(tmp_path / "more.jsonl", [RECORDS[0], RECORDS[1]])  # FFAvatar is new, FacePlex known
    result = paperbot(tmp_path, fake_arxiv.url, "harvest", "--from", str(snapshot), "--day", today.isoformat())
    assert result.returncode == 0, result.stderr
    assert "2 papers (1 new, 1 updated)" in result.stdout
    db = tmp_path / "data" / "paperbot.db"
    assert rows(db, "select count, source from announcements") == [{"count": 3, "source": "import"}]
    listed = rows(db, "select paper_id from announcement_papers where day = ? order by paper_id", today.isoformat())
    assert [r["paper_id"] for r in listed] == ["2606.30001", "2606.30145", "2606.30347"]
    faceplex = rows(db, "select title, has_full_metadata from papers where id = '2606.30145'")[0]
    assert faceplex == {"title": "FacePlex: Talking Head Generation with Expressive Gestures", "has_full_metadata": 1}
    assert len(fake_arxiv.log) == heard


def test_authors_from_the_string_when_not_parsed() -> None:
    from bot.snapshot import SnapshotRecord

    base = RECORDS[2] | {"authors_parsed": None}
    for text, names in {
        "Jane Doe and Wei Zhang": ["Jane Doe", "Wei Zhang"],
        "Jane Doe, Wei Zhang, and Ana María\n  López": ["Jane Doe", "Wei Zhang", "Ana María López"],
        "Jane Doe, Wei Zhang and Ana López": ["Jane Doe", "Wei Zhang", "Ana López"],
        "The ATLAS Collaboration": ["The ATLAS Collaboration"],
        "Alexander Andersson, Sandra Anderson": ["Alexander Andersson", "Sandra Anderson"],  # "and" inside names stays
    }.items():
        assert SnapshotRecord.model_validate(base | {"authors": text}).author_names() == names
