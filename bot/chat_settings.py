"""Per-chat settings beyond time and language: how big a digest is, and on which days.

Stored in the ``chats`` table (columns added by :meth:`bot.store.Store._migrate`), changed by a
chat's admins with ``/settings`` (buttons on Telegram, options on Discord, or arguments on
both: ``/settings papers 5``). A setting the chat never set follows the bot's defaults
(``DIGEST_MAX_PAPERS``, ``DIGEST_FIGURES``). Nothing here calls a model.

* ``papers``: cards per digest (1–20, default 10); the rest go out as one linked list;
* ``figures``: figures per paper (0–4);
* ``sections``: card only, or card + the summary's sections (background, method, results …);
* ``days``: ``daily``, ``weekdays`` or ``weekly`` on a chosen day (``mon`` … ``sun``); a
  weekly or weekday digest gathers every listing day since the last one;
* ``roundup``: the weekly roundup of the chat's most-voted papers (:mod:`bot.roundup`), on the
  weekly day (Monday unless the digest is weekly on another day).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from .errors import BadSetting
from .i18n import t
from .settings import Settings, parse_zone

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
PAPERS_MAX = 20
FIGURES_MAX = 4
COLUMNS: dict[str, type] = {
    "digest_papers": int,
    "digest_figures": int,
    "digest_sections": int,
    "digest_days": str,
    "roundup": int,
}
CHOICES: dict[str, tuple[str, ...]] = {  # what the buttons offer
    "papers": ("3", "5", "10", "20"),
    "figures": ("0", "1", "2", "4"),
    "sections": ("off", "on"),
    "days": ("daily", "weekdays", *WEEKDAYS),
    "roundup": ("off", "on"),
}


@dataclass(frozen=True)
class ChatSettings:
    papers: int
    figures: int
    sections: bool
    days: str  # daily | weekdays | mon … sun
    roundup: bool

    @classmethod
    def of(cls, row: dict[str, Any] | None, settings: Settings) -> ChatSettings:
        row = row or {}
        papers = row.get("digest_papers")
        figures = row.get("digest_figures")
        days = row.get("digest_days") or "daily"
        return cls(
            papers=int(papers) if papers else settings.digest_max_papers,
            figures=int(figures) if figures is not None else min(settings.digest_figures, FIGURES_MAX),
            sections=bool(row.get("digest_sections")),
            days=days if days in CHOICES["days"] else "daily",
            roundup=bool(row.get("roundup")),
        )

    @property
    def weekly_day(self) -> str:
        """The day of the weekly digest and roundup: the chosen one, else Monday."""
        return self.days if self.days in WEEKDAYS else "mon"

    def digest_today(self, today: date) -> bool:
        """Whether a scheduled digest goes out on the chat's local ``today``."""
        if self.days == "daily":
            return True
        if self.days == "weekdays":
            return today.weekday() < 5
        return WEEKDAYS[today.weekday()] == self.days

    def roundup_today(self, today: date) -> bool:
        return self.roundup and WEEKDAYS[today.weekday()] == self.weekly_day

    def lines(self, lang: str) -> list[str]:
        day = t(f"set.value.{self.weekly_day}", lang)
        if self.days in WEEKDAYS:
            days = t("set.days.weekly", lang, day=day)
        else:
            days = t(f"set.days.{self.days}", lang)
        return [
            t("set.papers", lang, n=self.papers),
            t("set.figures", lang, n=self.figures),
            t(f"set.sections.{'on' if self.sections else 'off'}", lang),
            days,
            t("set.roundup.on", lang, day=day) if self.roundup else t("set.roundup.off", lang),
        ]

    def text(self, lang: str) -> str:
        return "\n".join([t("set.title", lang), "", *self.lines(lang)])

    def current(self, key: str) -> str:
        """The value a button shows as chosen."""
        return {
            "papers": str(self.papers),
            "figures": str(self.figures),
            "sections": "on" if self.sections else "off",
            "days": self.days,
            "roundup": "on" if self.roundup else "off",
        }[key]


def change(key: str, value: str) -> dict[str, Any]:
    """The ``chats`` columns one setting change writes, or :class:`BadSetting` (with the usage
    sentence as its detail) for anything else."""
    key, value = key.strip().lower(), value.strip().lower()
    try:
        if key == "papers" and 1 <= int(value) <= PAPERS_MAX:
            return {"digest_papers": int(value)}
        if key == "figures" and 0 <= int(value) <= FIGURES_MAX:
            return {"digest_figures": int(value)}
    except ValueError:
        pass
    if key in ("sections", "roundup") and value in ("on", "off"):
        return {"digest_sections" if key == "sections" else "roundup": int(value == "on")}
    if key == "days":
        value = {"weekly": "mon"}.get(value, value[:3] if value[:3] in WEEKDAYS else value)
        if value in CHOICES["days"]:
            return {"digest_days": value}
    raise BadSetting(f"{key} {value}".strip())


def local_today(now: datetime, zone: str) -> date:
    return now.astimezone(parse_zone(zone)).date()
