"""Every setting paperbot reads, in one object.

This is the only module that looks at the environment: pydantic-settings reads the process
environment and a ``.env`` file, validates each value once at start, and every other module
gets what it needs from the :class:`Settings` instance it is handed. Tests build a
``Settings(...)`` with keyword arguments (the field names) instead of touching ``os.environ``.
"""

from __future__ import annotations

import re
from datetime import time
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AliasChoices, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

Lang = Literal["zh", "en"]


def _env(name: str) -> AliasChoices:
    return AliasChoices(name, name.lower())


def parse_hhmm(value: str) -> time:
    """``"09:00"`` → ``time(9, 0)``; raises ValueError with a readable message otherwise."""
    m = re.fullmatch(r"\s*(\d{1,2}):(\d{2})\s*", value or "")
    if not m or int(m.group(1)) > 23 or int(m.group(2)) > 59:
        raise ValueError(f"{value!r} is not a time of day like 09:00")
    return time(int(m.group(1)), int(m.group(2)))


def parse_zone(value: str) -> ZoneInfo:
    """``"Asia/Shanghai"`` → ZoneInfo; raises ValueError for names the tz database lacks."""
    try:
        if not value or not re.fullmatch(r"[A-Za-z0-9_+\-/]{1,64}", value) or ".." in value:
            raise ZoneInfoNotFoundError(value)
        return ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError, OSError) as err:
        raise ValueError(f"{value!r} is not a time zone like Asia/Shanghai or Europe/Berlin") from err


class Settings(BaseSettings):
    """paperbot's configuration. Environment names are given in ``.env.example``."""

    model_config = SettingsConfigDict(
        env_file=".env", env_file_encoding="utf-8", extra="ignore", populate_by_name=True
    )

    # core
    data_dir: Path = Field(Path("./data"), validation_alias=_env("PAPERBOT_DATA_DIR"))
    topics_file: Path | None = Field(None, validation_alias=_env("PAPERBOT_TOPICS_FILE"))
    default_lang: Lang = Field("zh", validation_alias=_env("PAPERBOT_LANG"))
    default_timezone: str = Field("Asia/Shanghai", validation_alias=_env("PAPERBOT_TIMEZONE"))
    digest_time: str = Field("09:00", validation_alias=_env("PAPERBOT_DIGEST_TIME"))
    log_level: str = Field("INFO", validation_alias=_env("PAPERBOT_LOG_LEVEL"))

    # arXiv
    arxiv_api_url: str = Field("https://export.arxiv.org/api/query", validation_alias=_env("ARXIV_API_URL"))
    arxiv_rss_url: str = Field("https://rss.arxiv.org/rss/", validation_alias=_env("ARXIV_RSS_URL"))
    arxiv_pdf_url: str = Field("https://arxiv.org/pdf/{id}", validation_alias=_env("ARXIV_PDF_URL"))
    arxiv_delay_seconds: float = Field(3.0, ge=0, validation_alias=_env("ARXIV_DELAY_SECONDS"))
    arxiv_timeout: float = Field(30.0, gt=0, validation_alias=_env("ARXIV_TIMEOUT"))
    arxiv_retries: int = Field(4, ge=0, validation_alias=_env("ARXIV_RETRIES"))

    # PDFs and figures
    pdf_max_mb: int = Field(50, gt=0, validation_alias=_env("PDF_MAX_MB"))
    digest_figures: int = Field(4, ge=0, le=10, validation_alias=_env("DIGEST_FIGURES"))
    figure_policy: Literal["all", "open", "none"] = Field("all", validation_alias=_env("FIGURE_POLICY"))
    figure_timeout: float = Field(90.0, gt=0, validation_alias=_env("FIGURE_TIMEOUT"))
    figure_memory_mb: int = Field(1536, gt=64, validation_alias=_env("FIGURE_MEMORY_MB"))

    # LLM
    llm_provider: Literal["gemini", "openai", "none"] | None = Field(None, validation_alias=_env("LLM_PROVIDER"))
    gemini_api_key: SecretStr | None = Field(None, validation_alias=_env("GEMINI_API_KEY"))
    gemini_model: str = Field("gemini-2.5-flash", validation_alias=_env("GEMINI_MODEL"))
    gemini_base_url: str | None = Field(None, validation_alias=_env("GEMINI_BASE_URL"))
    openai_api_key: SecretStr | None = Field(None, validation_alias=_env("OPENAI_API_KEY"))
    openai_base_url: str | None = Field(None, validation_alias=_env("OPENAI_BASE_URL"))
    openai_model: str = Field("gpt-4o-mini", validation_alias=_env("OPENAI_MODEL"))
    llm_concurrency: int = Field(4, ge=1, le=64, validation_alias=_env("LLM_CONCURRENCY"))
    llm_timeout: float = Field(120.0, gt=0, validation_alias=_env("LLM_TIMEOUT"))
    llm_connect_timeout: float = Field(3.0, gt=0, validation_alias=_env("LLM_CONNECT_TIMEOUT"))
    llm_retries: int = Field(3, ge=0, validation_alias=_env("LLM_RETRIES"))
    llm_input_token_budget: int = Field(24000, ge=1000, validation_alias=_env("LLM_INPUT_TOKEN_BUDGET"))

    # chats
    digest_max_papers: int = Field(10, ge=1, le=50, validation_alias=_env("DIGEST_MAX_PAPERS"))
    summarize_per_user_per_hour: int = Field(10, ge=0, validation_alias=_env("SUMMARIZE_PER_USER_PER_HOUR"))
    max_subscriptions_per_chat: int = Field(50, ge=1, validation_alias=_env("MAX_SUBSCRIPTIONS_PER_CHAT"))
    commands_per_user_per_minute: int = Field(20, ge=0, validation_alias=_env("COMMANDS_PER_USER_PER_MINUTE"))
    telegram_bot_token: SecretStr | None = Field(None, validation_alias=_env("TELEGRAM_BOT_TOKEN"))
    telegram_api_url: str = Field("https://api.telegram.org/bot", validation_alias=_env("TELEGRAM_API_URL"))
    telegram_webhook_url: str | None = Field(None, validation_alias=_env("TELEGRAM_WEBHOOK_URL"))
    telegram_webhook_secret: SecretStr | None = Field(None, validation_alias=_env("TELEGRAM_WEBHOOK_SECRET"))
    telegram_webhook_listen: str = Field("0.0.0.0:8443", validation_alias=_env("TELEGRAM_WEBHOOK_LISTEN"))
    discord_bot_token: SecretStr | None = Field(None, validation_alias=_env("DISCORD_BOT_TOKEN"))
    discord_api_url: str | None = Field(None, validation_alias=_env("DISCORD_API_URL"))
    discord_gateway_url: str | None = Field(None, validation_alias=_env("DISCORD_GATEWAY_URL"))

    @field_validator("default_timezone")
    @classmethod
    def _zone_exists(cls, v: str) -> str:
        parse_zone(v)
        return v

    @field_validator("digest_time")
    @classmethod
    def _time_ok(cls, v: str) -> str:
        parse_hhmm(v)
        return v

    @property
    def tz(self) -> ZoneInfo:
        return parse_zone(self.default_timezone)

    @property
    def digest_clock(self) -> time:
        return parse_hhmm(self.digest_time)

    @property
    def db_path(self) -> Path:
        return self.data_dir / "paperbot.db"

    def secrets(self) -> list[str]:
        """Every secret value set, so logging can redact them."""
        out = []
        for v in (
            self.gemini_api_key,
            self.openai_api_key,
            self.telegram_bot_token,
            self.telegram_webhook_secret,
            self.discord_bot_token,
        ):
            if v is not None and v.get_secret_value():
                out.append(v.get_secret_value())
        return out
