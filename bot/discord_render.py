"""How a paper, a digest header or a list of papers looks in Discord: embeds, files, buttons.

Discord refuses a whole message (HTTP 400) when one piece is over its limit, so everything here
is cut to fit before it is sent: content 2,000 characters; an embed's title 256, description
4,096, 25 fields of 256/1,024, footer 2,048, author 256; 6,000 characters across one message's
embeds; 10 embeds and 10 files per message; 10 MiB per file. The functions are pure (no
network) so the limits can be checked without a Discord.
"""

from __future__ import annotations

import io
import logging
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import discord
from discord.utils import escape_markdown

from .i18n import clean_params, t
from .models import Paper
from .render import (
    clean,
    fit,
    link_label,
    part_mark,
    provenance,
    short_authors,
    split_paragraphs,
    summary_sections,
)

if TYPE_CHECKING:
    from .core import Enriched
    from .figures import Figure
    from .summarize import Summary

log = logging.getLogger(__name__)

CONTENT_MAX = 2000
TITLE_MAX = 256
DESCRIPTION_MAX = 4096
FIELDS_MAX = 25
FIELD_NAME_MAX = 256
FIELD_VALUE_MAX = 1024
FOOTER_MAX = 2048
AUTHOR_MAX = 256
MESSAGE_EMBED_CHARS = 6000
EMBEDS_PER_MESSAGE = 10
FILES_PER_MESSAGE = 10
FILE_MAX_BYTES = 10 * 1024 * 1024
MESSAGE_FILES_MAX_BYTES = 25 * 1024 * 1024
GALLERY_MAX = 4  # Discord shows up to 4 images of embeds sharing one url as one gallery

# Colour by primary category, so a channel's eye can sort papers by field at a glance.
CATEGORY_COLOURS: dict[str, int] = {
    "cs.CV": 0x3498DB,
    "cs.GR": 0x9B59B6,
    "cs.LG": 0xE67E22,
    "cs.CL": 0x2ECC71,
    "cs.AI": 0xE74C3C,
    "cs.RO": 0x1ABC9C,
    "cs.HC": 0xF1C40F,
    "cs.MM": 0xE91E63,
    "cs.SD": 0x16A085,
    "eess.IV": 0x607D8B,
    "eess.AS": 0x00897B,
    "stat.ML": 0xD35400,
}
ARCHIVE_COLOURS: dict[str, int] = {"cs": 0x5865F2, "eess": 0x546E7A, "stat": 0xA04000, "math": 0x95A5A6,
                                   "physics": 0x8E44AD, "q-bio": 0x27AE60}
DEFAULT_COLOUR = 0x99AAB5

# What only Discord says; everything shared with Telegram is in bot.i18n.
STRINGS: dict[str, dict[str, str]] = {
    "dc.need_manage": {
        "zh": "只有拥有“管理频道”权限的成员才能更改本频道的订阅和设置。",
        "en": "Only members with the Manage Channels permission can change this channel's subscriptions and settings.",
    },
    "dc.not_in_channel": {
        "zh": "请在服务器的文字频道、帖子或与我的私聊中使用这个命令。",
        "en": "Use this command in a server text channel, a thread or a DM with me.",
    },
    "dc.digest_sent": {"zh": "✅ 已发送 {n} 篇论文。", "en": "✅ Sent {n} papers."},
    "dc.digest_failed": {
        "zh": "无法在这个频道发送消息，请检查我的“发送消息”和“附加文件”权限。",
        "en": "I cannot post in this channel; please check my Send Messages and Attach Files permissions.",
    },
    "dc.digest_later": {
        "zh": "Discord 暂时拒绝了消息，稍后会自动重试。",
        "en": "Discord is not accepting messages right now; the digest will be retried later.",
    },
    "dc.paused": {"zh": "（已暂停）", "en": "(paused)"},
    "dc.topics": {"zh": "可订阅的主题", "en": "Topics you can follow"},
    "dc.digest_at": {"zh": "每日推送时间：{time}（{zone}）", "en": "Daily digest at {time} ({zone})."},
    "dc.answer": {"zh": "回答", "en": "Answer"},
    "dc.search_title": {"zh": "arXiv 搜索：{query}", "en": "arXiv search: {query}"},
    "dc.continued": {"zh": "（续）", "en": "(continued)"},
}


def dt(key: str, lang: str | None, /, **params: Any) -> str:
    """A Discord-only string, else the shared table's."""
    entry = STRINGS.get(key)
    if entry is None:
        return t(key, lang, **params)
    text = entry.get(lang or "en") or entry["en"]
    try:
        return text.format(**clean_params(params))
    except (KeyError, IndexError):
        return text


def colour_for(paper: Paper) -> int:
    cat = paper.primary_category or ""
    if cat in CATEGORY_COLOURS:
        return CATEGORY_COLOURS[cat]
    return ARCHIVE_COLOURS.get(cat.split(".")[0], DEFAULT_COLOUR)


def md(text: str | None) -> str:
    """Outside text (titles, authors, comments) shown literally: no accidental bold or links."""
    return escape_markdown(clean(text))


def file_name(paper: Paper, index: int, figure: Figure) -> str:
    """An ASCII attachment name Discord keeps as is (it rewrites spaces and other characters,
    which would break the ``attachment://`` reference)."""
    kind = re.sub(r"[^A-Za-z]", "", str(getattr(figure, "kind", "") or "fig"))[:10] or "fig"
    number = re.sub(r"[^A-Za-z0-9]", "", str(getattr(figure, "number", "") or ""))[:8]
    suffix = Path(str(figure.path)).suffix.lower() or ".png"
    if not re.fullmatch(r"\.[a-z0-9]{1,5}", suffix):
        suffix = ".png"
    base = re.sub(r"[^A-Za-z0-9]", "_", paper.versioned_id)
    return f"{base}_{index + 1}_{kind}{number}{suffix}"


@dataclass
class Outgoing:
    """One Discord message, ready for ``send``: every part already within the limits."""

    content: str | None = None
    embeds: list[discord.Embed] = field(default_factory=list)
    files: list[discord.File] = field(default_factory=list)
    file_bytes: list[int] = field(default_factory=list)
    skipped_figures: int = 0

    def kwargs(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.content:
            out["content"] = self.content
        if self.embeds:
            out["embeds"] = self.embeds
        if self.files:
            out["files"] = self.files
        return out

    def close(self) -> None:
        for f in self.files:
            f.close()


def embeds_chars(embeds: list[discord.Embed]) -> int:
    return sum(len(e) for e in embeds)


def _takeaway_lines(s: Summary, budget: int) -> list[str]:
    lines: list[str] = []
    used = 0
    for i, k in enumerate(s.key_takeaways, 1):
        line = f"{i}. {fit(md(k), 400)}"
        if used + len(line) + 1 > budget:
            break
        lines.append(line)
        used += len(line) + 1
    return lines


def paper_description(item: Enriched, lang: str, limit: int = DESCRIPTION_MAX) -> str:
    """Comment, one-line summary and key takeaways, within ``limit`` characters."""
    p, s = item.paper, item.summary
    parts: list[str] = []
    if s is not None and s.title_zh:
        parts.append(f"**{fit(md(s.title_zh), 300)}**")
    if p.comment:
        parts.append(f"*{fit(md(p.comment), 300)}*")
    if item.links:
        parts.append(" · ".join(f"[{link_label(x, lang)}]({x.url})" for x in item.links[:4]))
    if s is not None:
        mark = part_mark(s, lang)
        tail = f"*{md(provenance(s, lang))}*"
        parts.append(f"**{t('label.summary', lang)}**{mark}\n{fit(md(s.summary), 600)}")
        head = f"**{t('label.key_takeaways', lang)}**{mark}"
        used = len("\n\n".join(parts)) + len(head) + len(tail) + 6
        lines = _takeaway_lines(s, max(0, limit - used))
        if lines:
            parts.append(head + "\n" + "\n".join(lines))
        parts.append(tail)
    elif p.abstract:
        parts.append(f"**{t('label.abstract', lang)}**\n{fit(md(p.abstract), 1500)}")
    return fit("\n\n".join(parts), limit)


def paper_embed(item: Enriched, lang: str, *, image: str | None = None) -> discord.Embed:
    """The digest card: linked title, authors, comment, summary and takeaways, coloured by
    primary category, the versioned arXiv id in the footer, the first figure as its image."""
    p = item.paper
    embed = discord.Embed(
        title=fit(md(p.title) or p.id, TITLE_MAX),
        url=p.abs_url,
        description=paper_description(item, lang) or None,
        colour=colour_for(p),
        timestamp=p.published,
    )
    authors = short_authors(p.authors, lang, n=6)
    if authors:
        embed.set_author(name=fit(authors, AUTHOR_MAX))
    footer = " · ".join(x for x in (f"arXiv:{p.versioned_id}", p.primary_category, ", ".join(item.topics)) if x)
    embed.set_footer(text=fit(footer, FOOTER_MAX))
    if image:
        embed.set_image(url=f"attachment://{image}")
    return embed


def _gallery_embed(url: str, image: str, colour: int) -> discord.Embed:
    """An image-only embed with the same url as the card: Discord merges up to four such
    embeds into one image grid under the card."""
    embed = discord.Embed(url=url, colour=colour)
    embed.set_image(url=f"attachment://{image}")
    return embed


def section_fields(summary: Summary, lang: str) -> list[tuple[str, str]]:
    """The structured summary as (name, value) pairs, each within the field limits; long
    sections continue in further fields."""
    out: list[tuple[str, str]] = []
    mark = part_mark(summary, lang)
    for label, text in summary_sections(summary, lang):
        label += mark
        chunks = split_paragraphs(escape_markdown(text), FIELD_VALUE_MAX)
        for i, chunk in enumerate(chunks):
            name = label if i == 0 else f"{label} {dt('dc.continued', lang)}"
            out.append((fit(name, FIELD_NAME_MAX), chunk))
    return out


def add_fields(embed: discord.Embed, fields: list[tuple[str, str]], budget: int) -> list[tuple[str, str]]:
    """Add fields while the embed has room and ``budget`` characters last; returns the rest."""
    rest = list(fields)
    used = 0
    while rest and len(embed.fields) < FIELDS_MAX:
        name, value = rest[0]
        cost = len(name) + len(value)
        if used + cost > budget:
            break
        embed.add_field(name=name, value=value, inline=False)
        used += cost
        rest.pop(0)
    return rest


def paper_message(item: Enriched, lang: str, figures: list[Figure], *, sections: bool = False) -> Outgoing:
    """A paper as one message: the card, its figures attached (the first as the card's image,
    the next three as a gallery), and, for /summarize, as much of the structured summary as fits."""
    out = Outgoing()
    names: list[str] = []
    total = 0
    for i, fig in enumerate(figures):
        if fig.path is None:
            continue
        path = Path(fig.path)
        try:
            size = path.stat().st_size
        except OSError:
            log.warning("figure %s of %s is missing on disk", path, item.paper.versioned_id)
            continue
        if size > FILE_MAX_BYTES or total + size > MESSAGE_FILES_MAX_BYTES or len(out.files) >= FILES_PER_MESSAGE:
            out.skipped_figures += 1
            continue
        name = file_name(item.paper, i, fig)
        caption = fit(clean(getattr(fig, "caption", "") or ""), 1000) or None
        # read here (callers run this in a worker thread): the upload then never touches the disk
        out.files.append(discord.File(io.BytesIO(path.read_bytes()), filename=name, description=caption))
        out.file_bytes.append(size)
        names.append(name)
        total += size
    card = paper_embed(item, lang, image=names[0] if names else None)
    out.embeds.append(card)
    if sections and item.summary is not None:
        add_fields(card, section_fields(item.summary, lang), MESSAGE_EMBED_CHARS - len(card))
    for name in names[1:GALLERY_MAX]:
        out.embeds.append(_gallery_embed(item.paper.abs_url, name, card.colour.value if card.colour else 0))
    return out


def full_summary_messages(item: Enriched, lang: str) -> list[list[discord.Embed]]:
    """The whole summary for the Full summary button, as few messages as the limits allow."""
    p, s = item.paper, item.summary
    head = discord.Embed(
        title=fit(md(p.title) or p.id, TITLE_MAX),
        url=p.abs_url,
        description=paper_description(item, lang) or None,
        colour=colour_for(p),
    )
    head.set_footer(text=f"arXiv:{p.versioned_id}")
    messages: list[list[discord.Embed]] = [[head]]
    rest = section_fields(s, lang) if s is not None else []
    rest = add_fields(head, rest, MESSAGE_EMBED_CHARS - len(head))
    while rest:
        more = discord.Embed(colour=colour_for(p))
        before = len(rest)
        rest = add_fields(more, rest, MESSAGE_EMBED_CHARS)
        if len(rest) == before:  # cannot happen with fields within limits; never loop forever
            break
        messages.append([more])
    return messages


def header_text(lang: str, day: str, topics: list[str], count: int) -> str:
    return fit(t("digest.header", lang, topics=", ".join(topics), day=day, count=count), CONTENT_MAX)


def paper_list_messages(papers: list[Paper], lang: str, title: str) -> list[list[discord.Embed]]:
    """A list of papers (overflow, search results) as linked lines, split over embeds and
    messages so no limit is reached however long the list."""
    lines = [f"• [{fit(md(p.title) or p.id, 200)}]({p.abs_url}) `{p.id}`" for p in papers]
    messages: list[list[discord.Embed]] = []
    current: list[discord.Embed] = []
    body = ""
    colour = colour_for(papers[0]) if papers else DEFAULT_COLOUR

    def flush() -> None:
        nonlocal body, current
        if not body:
            return
        embed = discord.Embed(description=body, colour=colour)
        if not messages and not current:
            embed.title = fit(title, TITLE_MAX)
        if current and (embeds_chars(current) + len(embed) > MESSAGE_EMBED_CHARS or len(current) >= EMBEDS_PER_MESSAGE):
            messages.append(current)
            current = []
        current.append(embed)
        body = ""

    for line in lines:
        if len(body) + len(line) + 1 > DESCRIPTION_MAX - 300:
            flush()
        body = f"{body}\n{line}" if body else line
    flush()
    if current:
        messages.append(current)
    return messages
