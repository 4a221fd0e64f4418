"""Fetching PDFs: once per version, the size cap checked while downloading, junk refused."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime

import pytest

from bot.core import Paperbot
from bot.errors import PdfError
from bot.pdfs import fetch_pdf
from bot.settings import Settings

PAPER = {
    "id": "2309.07125",
    "title": "Text-Guided Generation and Editing of Compositional 3D Avatars",
    "summary": "Our goal is to create a realistic 3D facial avatar. Existing methods lack realism. We propose TECA.",
    "authors": ["Hao Zhang"],
    "categories": ["cs.CV"],
}


def test_fetch_once_then_from_disk(fake_arxiv, arxiv_settings: Settings) -> None:
    fake_arxiv.pdfs["2309.07125"] = b"%PDF-1.4\n" + b"0" * 1000
    path = fetch_pdf(arxiv_settings, "2309.07125", 1)
    assert path.read_bytes().startswith(b"%PDF")
    assert fetch_pdf(arxiv_settings, "2309.07125", 1) == path
    assert len(fake_arxiv.requests("pdf")) == 1
    assert fake_arxiv.requests("pdf")[0]["id"] == "2309.07125v1"


def test_size_cap_while_downloading(fake_arxiv, arxiv_settings: Settings) -> None:
    fake_arxiv.pdfs["2309.07125"] = b"%PDF-1.4\n" + b"0" * (2 * 1024 * 1024)
    small = arxiv_settings.model_copy(update={"pdf_max_mb": 1})
    with pytest.raises(PdfError, match="PDF_MAX_MB"):
        fetch_pdf(small, "2309.07125", 1)
    assert not list((small.data_dir / "pdfs").glob("*"))  # nothing left behind


@pytest.mark.parametrize(("body", "reason"), [(b"<html>captcha</html>", "not a PDF"), (None, "no PDF")])
def test_junk_and_missing(fake_arxiv, arxiv_settings: Settings, body: bytes | None, reason: str) -> None:
    if body is not None:
        fake_arxiv.pdfs["2309.07125"] = body
    with pytest.raises(PdfError, match=reason):
        fetch_pdf(arxiv_settings, "2309.07125", 1)


async def test_summary_still_goes_out_without_figures(fake_arxiv, arxiv_settings: Settings) -> None:
    """An oversized PDF: no figures, the (extractive) summary still there, nothing raised."""
    fake_arxiv.add_paper(PAPER)
    fake_arxiv.pdfs["2309.07125"] = b"%PDF-1.4\n" + b"0" * (2 * 1024 * 1024)
    settings = arxiv_settings.model_copy(update={"pdf_max_mb": 1})
    async with Paperbot(settings, clock=lambda: datetime(2026, 6, 30, tzinfo=UTC)) as bot:
        paper = await bot.lookup("2309.07125")
        item = await bot.enrich(paper, "en")
    assert item.figures == []
    assert item.summary is not None and item.summary.extractive and item.summary.summary


# ---- slow servers (issue 14, item 3) -----------------------------------------------------------


def _trickling(fake_arxiv, paper_id: str = "2309.07125") -> None:
    from tests.fakes.telegram import tiny_pdf

    fake_arxiv.pdfs[paper_id] = tiny_pdf(1) + b"\n%" + b"0" * 100_000
    fake_arxiv.trickle[paper_id] = 5.0  # 1 KB every 5 s: 100 KB would take over 8 minutes


def test_a_trickling_server_fails_within_the_deadline(fake_arxiv, arxiv_settings: Settings) -> None:
    _trickling(fake_arxiv)
    settings = arxiv_settings.model_copy(update={"pdf_deadline": 1.0, "pdf_min_kbps": 0})
    started = time.monotonic()
    with pytest.raises(PdfError, match="PDF_DEADLINE=1 s"):
        fetch_pdf(settings, "2309.07125", 1)
    assert time.monotonic() - started < 4.0  # the second 1 KB piece alone would come after 5 s
    assert not list((settings.data_dir / "pdfs").glob("*"))


def test_a_download_slower_than_the_floor_is_given_up_before_the_deadline(
    fake_arxiv, arxiv_settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    from bot import pdfs

    _trickling(fake_arxiv)
    monkeypatch.setattr(pdfs, "STALL_GRACE", 0.5)  # the floor applies after half a second, not ten
    settings = arxiv_settings.model_copy(update={"pdf_deadline": 600.0, "pdf_min_kbps": 16})
    started = time.monotonic()
    with pytest.raises(PdfError, match="slower than PDF_MIN_KBPS=16"):
        fetch_pdf(settings, "2309.07125", 1)
    assert time.monotonic() - started < 4.0


async def test_two_trickling_pdfs_never_keep_a_third_person_waiting(fake_arxiv, arxiv_settings: Settings) -> None:
    """Through the real Telegram adapter: two people's PDFs trickle and hold both download
    slots; a third person's paper is still answered, and so are theirs (without figures)."""
    from pydantic import SecretStr

    from bot.telegram_bot import TelegramBot
    from bot.telegram_pacing import FloodLimits
    from tests.fakes.server import serve
    from tests.fakes.telegram import TOKEN, FakeTelegram, tiny_pdf

    users = {"2606.90001": 601, "2606.90002": 602, "2606.90003": 603}
    for pid in users:
        fake_arxiv.add_paper({**PAPER, "id": pid, "title": f"Paper {pid}"})
    for pid in list(users)[:2]:
        _trickling(fake_arxiv, pid)
    fake_arxiv.pdfs["2606.90003"] = tiny_pdf(1)
    tg = FakeTelegram(limits=FloodLimits().faster(20))
    for user in users.values():
        tg.add_user(user)

    async def until(check, timeout: float = 60.0):  # type: ignore[no-untyped-def]
        deadline = time.monotonic() + timeout
        while not (result := check()):
            assert time.monotonic() < deadline, "timed out"
            await asyncio.sleep(0.02)
        return result

    def final(user: int) -> list[str]:
        return [p.visible for p in tg.in_chat(user) if p.edits or "⏳" not in p.visible]

    with serve(tg.app()) as t:
        settings = arxiv_settings.model_copy(update={
            "telegram_bot_token": SecretStr(TOKEN), "telegram_api_url": f"{t.url}/bot", "default_lang": "en",
            "figure_policy": "all", "pdf_deadline": 2.0, "pdf_min_kbps": 0,
        })  # fmt: skip
        async with Paperbot(settings, clock=lambda: datetime(2026, 6, 30, 16, tzinfo=UTC)) as core:
            bot = TelegramBot(core, limits=FloodLimits().faster(20))
            await bot.start()
            try:
                for pid in list(users)[:2]:
                    tg.send_text(users[pid], users[pid], f"/summarize {pid}")
                await until(lambda: len(fake_arxiv.requests("pdf")) == 2)  # both slots taken
                tg.send_text(603, 603, "/summarize 2606.90003")
                (third,) = await until(lambda: final(603))
                assert third.startswith("Paper 2606.90003")
                await until(lambda: tg.count("sendPhoto") + tg.count("sendMediaGroup") >= 1)  # its figure
                for pid in list(users)[:2]:
                    (answer,) = await until(lambda pid=pid: final(users[pid]))
                    assert answer.startswith(f"Paper {pid}")  # the summary went out, without figures
            finally:
                await bot.stop()
    assert len(fake_arxiv.requests("pdf")) == 3
