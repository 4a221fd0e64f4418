"""Render: platform-neutral text shaping, and the CLI's text, Markdown, Hexo and JSON output.

Chat platforms have hard limits (Telegram: caption 1,024, message 4,096; Discord: content
2,000, embed description 4,096). The helpers here cut text at word or paragraph boundaries
so a limit is never hit by accident; each adapter does its own markup on top
(``bot/telegram_bot.py``, ``bot/discord_bot.py``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from datetime import date
from typing import TYPE_CHECKING, Any

from .i18n import t

if TYPE_CHECKING:
    from .core import Enriched
    from .figures import Figure
    from .links import Link
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


def provenance(s: Summary, lang: str) -> str:
    """Who wrote the summary, in one short line: "AI summary · gemini-2.5-flash" (and "from the
    abstract only" when the model had no PDF), or the extractive note."""
    if s.extractive:
        return t("label.extractive", lang)
    line = t("label.ai_summary", lang, model=s.model_name or "?")
    if s.abstract_only:
        line += " · " + t("label.abstract_only", lang)
    return line


def part_mark(s: Summary | None, lang: str) -> str:
    """The short mark every part of an extractive summary carries (its heading, each section)."""
    return f" {t('label.extractive_short', lang)}" if s is not None and s.extractive else ""


def link_label(link: Link, lang: str) -> str:
    return t(f"label.{'model_weights' if link.kind == 'model' else link.kind}", lang)


def pdf_url(paper: Paper) -> str:
    return paper.pdf_url or f"https://arxiv.org/pdf/{paper.versioned_id}"


def links_markdown(item: Enriched, lang: str) -> str:
    """``[PDF](…) · [Code](…) · [Project page](…)`` for Markdown outputs."""
    p = item.paper
    parts = [f"[arXiv:{p.id}]({p.abs_url})", f"[PDF]({pdf_url(p)})"]
    parts += [f"[{link_label(link, lang)}]({link.url})" for link in item.links]
    return " · ".join(parts)


# ---- the CLI's formats --------------------------------------------------------------------


def paper_json(item: Enriched) -> dict[str, Any]:
    """The JSON object ``paperbot summarize``/``digest --format json`` print for one paper."""
    data = item.paper.to_json()
    if item.summary is not None:
        data.update(item.summary.model_dump())
    else:
        data["source"] = None
    data["figures"] = [f.to_json() for f in item.figures]
    data["links"] = [link.to_json() for link in item.links]
    if item.topics:
        data["topics"] = item.topics
    return data


def paper_text(item: Enriched, lang: str) -> str:
    p = item.paper
    lines = [clean(p.title), short_authors(p.authors, lang, n=6)]
    if p.comment:
        lines.append(clean(p.comment))
    lines.append(f"arXiv:{p.id}  {p.abs_url}  {pdf_url(p)}")
    lines += [f"{link_label(link, lang)}: {link.url}" for link in item.links]
    s = item.summary
    if s is not None:
        if s.title_zh:
            lines.insert(1, clean(s.title_zh))
        mark = part_mark(s, lang)
        lines += ["", f"{t('label.summary', lang)}{mark}: {clean(s.summary)}"]
        lines += [f"  {i}. {clean(k)}" for i, k in enumerate(s.key_takeaways, 1)]
        lines += [f"{label}{mark}: {text}" for label, text in summary_sections(s, lang)]
        lines.append(provenance(s, lang))
    for f in item.figures:
        lines.append(f"  [{f.kind} {f.number or ''}] p.{f.page} {f.path}")
    return "\n".join(lines)


FigureUrl = Callable[["Figure"], str]


def local_path(f: Figure) -> str:
    return str(f.path)


def paper_markdown(
    item: Enriched, lang: str, *, figure_url: FigureUrl = local_path, figures: list[Figure] | None = None, hexo: bool = False
) -> str:
    """One paper in the old blog's post layout: title (and its Chinese title), authors, abstract,
    links, the summary with who wrote it, the structured sections, the figures (``hexo``: the
    blog's folded "点此查看论文截图" gallery)."""
    p = item.paper
    s = item.summary
    shown = item.figures if figures is None else figures
    out = [f"## {clean(p.title)}", ""]
    if s is not None and s.title_zh:
        out += [f"**{clean(s.title_zh)}**", ""]
    out += [f"**Authors:{', '.join(clean(a) for a in p.authors)}**", "", clean(p.abstract), ""]
    link = links_markdown(item, lang)
    out += [f"{link} {clean(p.comment)}" if p.comment else link, ""]
    if s is not None:
        mark = part_mark(s, lang)
        out += [f"**{t('label.summary', lang)}**{mark}", clean(s.summary), ""]
        out += [f"**{t('label.key_takeaways', lang)}**{mark}"]
        out += [f"- {clean(k)}" for k in s.key_takeaways]
        out.append("")
        for label, text in summary_sections(s, lang):
            out += [f"**{label}**{mark}", text, ""]
        out += [f"*{provenance(s, lang)}*", ""]
    if shown and hexo:
        out += ["<details>", f"  <summary>{'点此查看论文截图' if lang == 'zh' else 'Figures of the paper'}</summary>"]
        out += [f'<img src="{figure_url(f)}" align="middle">' for f in shown]
        out += ["</details>", ""]
    elif shown:
        out.append(f"**{t('label.figures', lang)}**")
        out.append("")
        for f in shown:
            alt = f"{f.kind} {f.number or ''}".strip()
            out.append(f"![{alt}]({figure_url(f)})")
        out.append("")
    return "\n".join(out)


def digest_markdown(
    topic: str,
    day: date,
    items: list[Enriched],
    lang: str,
    *,
    hexo: bool = False,
    figure_url: FigureUrl = local_path,
    figures: Callable[[Enriched], list[Figure]] | None = None,
) -> str:
    """A digest as Markdown, or with ``hexo`` as the old blog's post: its front matter (cover =
    the first figure, toc, mathjax), the AI disclaimer, and each paper's figures folded away.
    ``figure_url`` says where a figure is linked from (a copied asset's URL); ``figures`` which of
    a paper's figures the post shows (the digest's pick)."""
    body = [f"# {day.isoformat()} {'更新' if lang == 'zh' else 'update'}", ""]
    body += [
        paper_markdown(i, lang, figure_url=figure_url, figures=figures(i) if figures else None, hexo=hexo)
        for i in items
    ]
    text = "\n".join(body)
    if not hexo:
        return text
    first = clean(items[0].paper.title) if items else ""
    shown = [f for i in items for f in (figures(i) if figures else i.figures)]
    models = sorted({i.summary.model_name for i in items if i.summary is not None and i.summary.model})
    front = [
        "---",
        f"title: {json.dumps(topic, ensure_ascii=False)}",
        f"date: {day.isoformat()} 22:00:00",
        "author: paperbot",
        *([f"cover: {figure_url(shown[0])}"] if shown else []),
        "categories: Paper",
        "tags:",
        f"    - {json.dumps(topic, ensure_ascii=False)}",
        f"description: {json.dumps(f'{topic} 方向最新论文已更新，请持续关注 Update in {day.isoformat()}  {first}', ensure_ascii=False)}",
        f"keywords: {json.dumps(topic, ensure_ascii=False)}",
        "toc: true",
        "toc_number: false",
        "mathjax: true",
        "---",
        "",
        f"> ⚠️ {t('label.disclaimer', lang)}" + (f" ({', '.join(models)})" if models else ""),
        "",
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
