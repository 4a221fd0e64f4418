"""Shared fixtures: where the real data lives, settings pointed at a temp dir, the stores."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.settings import Settings
from bot.store import Store

SHARED = Path(__file__).resolve().parent.parent.parent / "shared" / "data"


def shared_path(*parts: str) -> Path:
    """A path under ../shared/data, or skip the test with a reason when it is absent."""
    p = SHARED.joinpath(*parts)
    if not p.exists():
        pytest.skip(f"needs ../shared/data/{'/'.join(parts)} (real arXiv data), which is absent")
    return p


@pytest.fixture
def shared() -> Path:
    return shared_path()


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """Settings isolated from the developer's .env and environment: a temp data dir, no keys, no waits."""
    return Settings(
        _env_file=None,
        data_dir=tmp_path / "data",
        arxiv_delay_seconds=0,
        arxiv_api_url="http://127.0.0.1:9/api/query",
        arxiv_rss_url="http://127.0.0.1:9/rss/",
        arxiv_pdf_url="http://127.0.0.1:9/pdf/{id}",
        llm_provider="none",
    )


@pytest.fixture
def store(settings: Settings) -> Store:
    s = Store(settings.db_path)
    yield s
    s.close()


@pytest.fixture
def fake_arxiv():
    """A fake arXiv (RSS, API, PDFs) on 127.0.0.1; add days and papers to it in the test."""
    from tests.fakes.arxiv import FakeArxiv
    from tests.fakes.server import serve

    fake = FakeArxiv()
    with serve(fake.app()) as server:
        fake.url = server.url  # type: ignore[attr-defined]
        yield fake


@pytest.fixture
def arxiv_settings(settings: Settings, fake_arxiv) -> Settings:
    """Settings pointed at the fake arXiv."""
    url = fake_arxiv.url
    return settings.model_copy(
        update={
            "arxiv_api_url": f"{url}/api/query",
            "arxiv_rss_url": f"{url}/rss/",
            "arxiv_pdf_url": f"{url}/pdf/{{id}}",
            "arxiv_timeout": 2.0,
            "arxiv_retries": 2,
        }
    )
