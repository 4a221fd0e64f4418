"""Render: platform-neutral text shaping, and the CLI's text, Markdown, Hexo and JSON output.

Chat platforms have hard limits (Telegram: caption 1,024, message 4,096; Discord: content
2,000, embed description 4,096). The helpers here cut text at word or paragraph boundaries
so a limit is never hit by accident; each adapter does its own markup on top
(``bot/telegram_bot.py``, ``bot/discord_bot.py``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from datetime import date
from typing import TYPE_CHECKING, Any

from .i18n import t

if TYPE_CHECKING:
    from .core import Enriched
    from .match import Verdict
    from .models import Paper
    from .summarize import Summary

SECTIONS = ("background", "past_methods", "method", "results", "conclusion")


def clean(text: str | None) -> str:
    """Collapse whitespace and drop control and bidi-override characters from outside text."""
    if not text:
        return ""
    text = re.sub(r"[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f\u202a-\u202e\u2066-\u2069\u200e\u200f]", "", text)
    return " ".join(text.split())


def fit(text: str, limit: int, ellipsis: str = "…") -> str:
    """``text`` cut to at most ``limit`` characters, at a word boundary when there is one."""
    if len(text) <= limit:
        return text
    if limit <= len(ellipsis):
        return text[:limit]
    cut = text[: limit - len(ellipsis)]
    space = cut.rfind(" ")
    if space > limit * 0.6:
        cut = cut[:space]
    return cut.rstrip(" ,;:") + ellipsis


def short_authors(authors: Sequence[str], lang: str, n: int = 3) -> str:
    names = [clean(a) for a in authors if clean(a)]
    if len(names) <= n:
        return ", ".join(names)
    return ", ".join(names[:n]) + " " + t("label.et_al", lang)


def split_paragraphs(text: str, limit: int) -> list[str]:
    """Split on blank lines into chunks of at most ``limit`` characters; a paragraph longer
    than the limit is split on lines, then on sentences, then hard."""
    chunks: list[str] = []
    current = ""
    for para in _pieces(text, limit):
        candidate = f"{current}\n\n{para}" if current else para
        if len(candidate) <= limit:
            current = candidate
        else:
            if current:
                chunks.append(current)
            current = para
    if current:
        chunks.append(current)
    return chunks


def _pieces(text: str, limit: int) -> list[str]:
    out: list[str] = []
    for para in re.split(r"\n\s*\n", text.strip()):
        if len(para) <= limit:
            out.append(para)
            continue
        for part in re.split(r"(?<=[.!?。！？])\s+|\n", para):
            while len(part) > limit:
                out.append(part[:limit])
                part = part[limit:]
            if part:
                out.append(part)
    return out


def summary_sections(s: Summary, lang: str) -> list[tuple[str, str]]:
    """(label, text) for the structured part of a summary, in reading order."""
    out = [(t(f"label.{name}", lang), clean(getattr(s, name, ""))) for name in SECTIONS]
    if s.keywords:
        out.append((t("label.keywords", lang), ", ".join(clean(k) for k in s.keywords)))
    return [(label, text) for label, text in out if text]


# ---- the CLI's formats --------------------------------------------------------------------


def paper_json(item: Enriched) -> dict[str, Any]:
    """The JSON object ``paperbot summarize``/``digest --format json`` print for one paper."""
    data = item.paper.to_json()
    if item.summary is not None:
        data.update(item.summary.model_dump())
    else:
        data["source"] = None
    data["figures"] = [f.to_json() for f in item.figures]
    if item.topics:
        data["topics"] = item.topics
    return data


def paper_text(item: Enriched, lang: str) -> str:
    p = item.paper
    lines = [clean(p.title), short_authors(p.authors, lang, n=6)]
    if p.comment:
        lines.append(clean(p.comment))
    lines.append(p.abs_url)
    s = item.summary
    if s is not None:
        mark = f" {t('label.extractive', lang)}" if s.extractive else ""
        lines += ["", f"{t('label.summary', lang)}: {clean(s.summary)}{mark}"]
        lines += [f"  {i}. {clean(k)}" for i, k in enumerate(s.key_takeaways, 1)]
    for f in item.figures:
        lines.append(f"  [{f.kind} {f.number or ''}] p.{f.page} {f.path}")
    return "\n".join(lines)


def paper_markdown(item: Enriched, lang: str) -> str:
    """One paper in the old blog's post layout."""
    p = item.paper
    out = [f"## {clean(p.title)}", "", f"**Authors:{', '.join(clean(a) for a in p.authors)}**", "", clean(p.abstract), ""]
    link = f"[PDF]({p.abs_url})"
    out += [f"{link} {clean(p.comment)}" if p.comment else link, ""]
    s = item.summary
    if s is not None:
        mark = f" {t('label.extractive', lang)}" if s.extractive else ""
        out += [f"**{t('label.summary', lang)}**{mark}", clean(s.summary), ""]
        out += [f"**{t('label.key_takeaways', lang)}**"]
        out += [f"{i}. {clean(k)}" for i, k in enumerate(s.key_takeaways, 1)]
        out.append("")
        for label, text in summary_sections(s, lang):
            out += [f"**{label}**", text, ""]
    if item.figures:
        out.append(f"**{t('label.figures', lang)}**")
        out.append("")
        for f in item.figures:
            alt = f"{f.kind} {f.number or ''}".strip()
            out.append(f"![{alt}]({f.path})")
        out.append("")
    return "\n".join(out)


def digest_markdown(topic: str, day: date, items: list[Enriched], lang: str, *, hexo: bool = False) -> str:
    body = [f"# {day.isoformat()} {'更新' if lang == 'zh' else 'update'}", ""]
    body += [paper_markdown(i, lang) for i in items]
    text = "\n".join(body)
    if not hexo:
        return text
    first = clean(items[0].paper.title) if items else ""
    front = [
        "---",
        f"title: {topic}",
        f"date: {day.isoformat()} 22:00:00",
        "author: paperbot",
        "categories: Paper",
        "tags:",
        f"    - {topic}",
        f"description: {topic} 方向最新论文已更新，请持续关注 Update in {day.isoformat()}  {first}",
        f"keywords: {topic}",
        "toc:",
        "mathjax: true",
        "---",
        "",
    ]
    return "\n".join(front) + text


def digest_json(topic: str, day: date | None, items: list[Enriched]) -> str:
    return json.dumps(
        {"topic": topic, "day": day.isoformat() if day else None, "papers": [paper_json(i) for i in items]},
        ensure_ascii=False,
        indent=2,
    )



def why_text(paper: Paper, verdicts: Sequence[Verdict], lang: str) -> str:
    """``/why``: one line per subscription, taken or not and the matcher's reason (plain text)."""
    head = f"{paper.id} {' '.join(paper.title.split())}"
    if not verdicts:
        return f"{head}\n{t('why.no_subscriptions', lang)}"
    lines = [head]
    for v in verdicts:
        mark = t("why.taken" if v.taken else "why.not_taken", lang)
        lines.append(f"• {v.topic}: {mark} ({v.score:.2f}) — {v.why}")
    return "\n".join(lines)
