"""Telegram HTML for everything the bot posts: papers, digests, summaries, lists, help.

Telegram counts its limits (caption 1,024, message 4,096) on the *visible* text, after entity
parsing, so every function here builds messages from plain text that is cut first (with
:func:`bot.render.fit`, at word boundaries) and escaped and wrapped in tags after: a cut can
never fall inside a tag or an entity, and :func:`visible_len` of the result is what Telegram
counts. Lengths are counted in UTF-16 code units, which is never less than what Telegram
counts. Every string from arXiv, from a model or from a user goes through :func:`esc`.
"""

from __future__ import annotations

import html
import re
from collections.abc import Sequence
from datetime import date
from typing import TYPE_CHECKING, Any

from .i18n import clean_params, t
from .models import Paper
from .render import (
    clean,
    fit,
    link_label,
    part_mark,
    pdf_url,
    provenance,
    short_authors,
    split_paragraphs,
    summary_sections,
)

if TYPE_CHECKING:
    from .core import Enriched
    from .errors import QueryError
    from .links import Link
    from .summarize import Summary
    from .topics import Catalogue

CAPTION_LIMIT = 1024
CARD_TAKEAWAYS = 7  # key takeaways a card shows at most (Full summary has them all)
TEXT_LIMIT = 4096
CALLBACK_DATA_LIMIT = 64
SECTION_CHARS = 1500  # a section's length in a "card + sections" message

# Strings only the Telegram adapter says (bot.i18n has the shared ones).
TEXT: dict[str, dict[str, str]] = {
    "tg.cmd.start": {"zh": "介绍与帮助", "en": "what I do and how"},
    "tg.cmd.help": {"zh": "命令与示例", "en": "commands and examples"},
    "tg.cmd.topics": {"zh": "可订阅的主题", "en": "topics you can follow"},
    "tg.cmd.subscribe": {"zh": "订阅主题或 arXiv 查询（管理员）", "en": "follow a topic or arXiv query (admins)"},
    "tg.cmd.unsubscribe": {"zh": "取消订阅（管理员）", "en": "stop following a topic (admins)"},
    "tg.cmd.subscriptions": {"zh": "本群的订阅", "en": "what this chat follows"},
    "tg.cmd.settime": {"zh": "每日推送时间，如 09:00 Asia/Shanghai（管理员）", "en": "digest time, e.g. 09:00 Europe/Berlin (admins)"},
    "tg.cmd.lang": {"zh": "语言 zh|en（管理员）", "en": "language zh|en (admins)"},
    "tg.cmd.quiet": {"zh": "无新论文时不提示（管理员）", "en": "silence on days without papers (admins)"},
    "tg.cmd.digest": {"zh": "立即发送今天的论文（管理员）", "en": "today's digest now (admins)"},
    "tg.cmd.summarize": {"zh": "总结任意 arXiv 论文", "en": "summarize any arXiv paper"},
    "tg.cmd.search": {"zh": "搜索 arXiv", "en": "search arXiv"},
    "tg.cmd.ask": {"zh": "针对论文提问", "en": "ask a question about a paper"},
    "tg.cmd.why": {"zh": "某篇论文为何（不）在本群推送中", "en": "why a paper is (not) in this chat's digest"},
    "tg.usage.why": {"zh": "/why 2407.21047", "en": "/why 2407.21047"},
    "tg.cmd.settings": {"zh": "本群设置：篇数、截图、推送日、每周精选（管理员）", "en": "digest size, figures, days, weekly roundup (admins)"},
    "tg.cmd.top": {"zh": "本群本周/本月最受欢迎的论文", "en": "this chat's most-liked papers of the week or month"},
    "tg.thinking": {"zh": "⏳ 正在阅读 {id} 并思考你的问题…", "en": "⏳ Reading {id} to answer…"},
    "tg.question": {"zh": "问", "en": "Q"},
    "tg.results": {"zh": "🔎 arXiv 搜索：{query}", "en": "🔎 arXiv search: {query}"},
    "tg.read_more": {"zh": "📖 完整总结", "en": "📖 Full summary"},
    "tg.abstract": {"zh": "📄 摘要", "en": "📄 Abstract"},
    "tg.usage.subscribe": {"zh": "/subscribe 虚拟人 或 /subscribe ti:\"gaussian avatar\"", "en": "/subscribe avatar or /subscribe ti:\"gaussian avatar\""},
    "tg.usage.unsubscribe": {"zh": "/unsubscribe 主题", "en": "/unsubscribe TOPIC"},
    "tg.usage.settime": {"zh": "/settime 09:00 Asia/Shanghai", "en": "/settime 09:00 Europe/Berlin"},
    "tg.usage.summarize": {"zh": "/summarize 2407.21047", "en": "/summarize 2407.21047"},
    "tg.usage.search": {"zh": "/search gaussian avatar", "en": "/search gaussian avatar"},
    "tg.digest_failed": {
        "zh": "现在无法发送，稍后会自动重试。",
        "en": "Could not post the digest right now; it will be retried automatically.",
    },
}

COMMANDS = ("start", "help", "topics", "subscribe", "unsubscribe", "subscriptions", "settime", "lang", "quiet",
            "digest", "summarize", "search", "ask", "why", "settings", "top")  # fmt: skip


def tt(key: str, lang: str, /, **params: Any) -> str:
    """A message by key from this module's table or bot.i18n, as plain text."""
    entry = TEXT.get(key)
    if entry is None:
        return t(key, lang, **params)
    text = entry.get(lang) or entry["en"]
    return text.format(**clean_params(params)) if params else text


def say(key: str, lang: str, /, **params: Any) -> str:
    """A message by key, escaped for HTML (user text inside it included)."""
    return html.escape(tt(key, lang, **params), quote=False)


def esc(text: str | None, limit: int | None = None) -> str:
    """Outside text, cleaned, cut to ``limit`` visible characters, escaped."""
    plain = clean(text)
    if limit is not None:
        plain = fit(plain, limit)
    return html.escape(plain, quote=False)


def link(url: str, text: str, limit: int | None = None) -> str:
    return f'<a href="{html.escape(url, quote=True)}">{esc(text, limit)}</a>'


def visible_len(text: str) -> int:
    """What Telegram counts: the text without tags, entities decoded, in UTF-16 code units."""
    plain = html.unescape(re.sub(r"<[^>]*>", "", text))
    return len(plain.encode("utf-16-le")) // 2


def join_fitted(lines: list[str], limit: int, *, keep: int = 1) -> str:
    """Lines joined by newlines; trailing lines (after the first ``keep``) are dropped until the
    whole fits ``limit``. Lines are whole entities, so dropping one never breaks markup."""
    lines = list(lines)
    while len(lines) > keep and visible_len("\n".join(lines)) > limit:
        lines.pop()
    return "\n".join(lines).strip()


# ---- papers ---------------------------------------------------------------------------------


def _title(paper: Paper, limit: int = 300) -> str:
    return f"<b>{link(paper.abs_url, paper.title or paper.id, limit)}</b>"


def _byline(paper: Paper, lang: str, n: int = 3) -> str:
    return esc(short_authors(paper.authors, lang, n=n), 300)


def paper_head(
    paper: Paper, lang: str, *, authors: int = 3, summary: Summary | None = None, links: Sequence[Link] = ()
) -> list[str]:
    """Linked title (and the Chinese title a model wrote), first authors (et al.), the arXiv
    comment, and the id with its abs, PDF, code and project links."""
    lines = [_title(paper)]
    if summary is not None and summary.title_zh:
        lines.append(esc(summary.title_zh, 300))
    lines.append(_byline(paper, lang, authors))
    if clean(paper.comment):
        lines.append(f"<i>{esc(paper.comment, 250)}</i>")
    lines.append(ids_line(paper, links, lang))
    return [line for line in lines if line]


def ids_line(paper: Paper, links: Sequence[Link], lang: str) -> str:
    """``arXiv:2407.21047 · abs · PDF · Code · Project page``: every paper message carries it."""
    parts = [f"<code>arXiv:{esc(paper.id)}</code>", link(paper.abs_url, "abs"), link(pdf_url(paper), "PDF")]
    parts += [link(x.url, link_label(x, lang)) for x in links[:4]]
    return " · ".join(parts)


def _summary_lines(summary: Summary | None, lang: str) -> list[str]:
    if summary is None:
        return []
    mark = esc(part_mark(summary, lang))
    lines = ["", f"💡{mark} {esc(summary.summary, 400)}"]
    lines += [f"{i}. {esc(k, 300)}" for i, k in enumerate(summary.key_takeaways[:CARD_TAKEAWAYS], 1)]
    lines.append(f"<i>{esc(provenance(summary, lang))}</i>")
    return lines


def _note(item: Enriched) -> list[str]:
    """A line a chat's digest puts above the paper (a near miss, bot.ranking)."""
    return [f"<i>{esc(item.note, 200)}</i>"] if item.note else []


def paper_caption(item: Enriched, lang: str) -> str | None:
    """The card as a photo caption (≤1,024 characters), so that the paper stays one message
    with its buttons: whole when it fits, else with its key takeaways dropped from the last
    until it does (the Full summary button then shows them: :func:`shows_takeaways`). None
    when not even the head, the one-line summary and who wrote it fit."""
    head = _note(item) + paper_head(item.paper, lang, summary=item.summary, links=item.links)
    summary = _summary_lines(item.summary, lang)  # "", 💡 one line, the takeaways, who wrote it
    opening, takeaways, closing = summary[:2], summary[2:-1], summary[-1:]
    while True:
        text = "\n".join(head + opening + takeaways + closing).strip()
        if visible_len(text) <= CAPTION_LIMIT:
            return text
        if not takeaways:
            return None
        takeaways.pop()


def shows_takeaways(card: str, summary: Summary) -> bool:
    """Whether a card on screen (its visible text) shows every key takeaway: a caption fitted
    to 1,024 characters, or one of more than :data:`CARD_TAKEAWAYS`, leaves some for Full summary."""
    n = len(summary.key_takeaways)
    return n == 0 or (n <= CARD_TAKEAWAYS and f"\n{n}. " in f"\n{card}")


def short_caption(paper: Paper, lang: str) -> str:
    """The caption an album keeps when the text follows as its own message."""
    return join_fitted([_title(paper, 400), _byline(paper, lang), ids_line(paper, (), lang)], CAPTION_LIMIT)


def paper_text(item: Enriched, lang: str) -> str:
    """The paper as one text message (≤4,096): head, one-line summary, key takeaways."""
    head = _note(item) + paper_head(item.paper, lang, summary=item.summary, links=item.links)
    lines = head + _summary_lines(item.summary, lang)
    return join_fitted(lines, TEXT_LIMIT, keep=len(head))


def paper_sections_text(item: Enriched, lang: str) -> str:
    """The card plus the summary's sections (a chat's "card + sections" setting), in one
    message of ≤4,096: whole sections are dropped from the end until it fits."""
    head = _note(item) + paper_head(item.paper, lang, summary=item.summary, links=item.links)
    lines = head + _summary_lines(item.summary, lang)
    if item.summary is not None:
        for label, body in summary_sections(item.summary, lang):
            lines += ["", f"<b>{html.escape(label, quote=False)}</b>\n{esc(body, SECTION_CHARS)}"]
    return join_fitted(lines, TEXT_LIMIT, keep=len(head))


def sections_cut(item: Enriched, lang: str) -> bool:
    """Whether the card + sections message leaves part of the summary's sections out (one
    shortened, or dropped from the end to fit): only then has its Full summary button more to show."""
    if item.summary is None:
        return False
    sections = summary_sections(item.summary, lang)
    if any(len(body) > SECTION_CHARS for _, body in sections):
        return True
    text = paper_sections_text(item, lang)
    return any(f"<b>{html.escape(label, quote=False)}</b>\n" not in text for label, _ in sections)


def paper_markup(paper: Paper, lang: str, *, full: bool = True, votes: Any = None) -> Any:
    """A paper's buttons (a digest card, a /summarize answer): 👍 and 👎 with the chat's counts
    so far (``votes``, a :class:`bot.feedback.Tally`), Full summary (when the full summary has more
    than the card) and the abstract."""
    from telegram import InlineKeyboardButton, InlineKeyboardMarkup

    counts = {"+": votes.up if votes is not None else 0, "-": votes.down if votes is not None else 0}
    row = [InlineKeyboardButton(f"{emoji} {counts[sign]}" if counts[sign] else emoji, callback_data=data)
           for sign, emoji in (("+", "👍"), ("-", "👎")) if (data := callback(f"v{sign}", paper.id))]  # fmt: skip
    if full and (data := callback("full", paper.id)):
        row.append(InlineKeyboardButton(tt("tg.read_more", lang), callback_data=data))
    if paper.abstract and (data := callback("abs", paper.id)):
        row.append(InlineKeyboardButton(tt("tg.abstract", lang), callback_data=data))
    return InlineKeyboardMarkup([row]) if row else None


def recount(markup: Any, votes: Any) -> Any:
    """The same buttons with the 👍 / 👎 counts of ``votes`` (a :class:`bot.feedback.Tally`)."""
    from telegram import InlineKeyboardButton, InlineKeyboardMarkup

    rows = []
    for row in markup.inline_keyboard if markup is not None else ():
        new = []
        for b in row:
            data = b.callback_data if isinstance(b.callback_data, str) else ""
            if data.startswith(("v+:", "v-:")):
                emoji, n = ("👍", votes.up) if data.startswith("v+") else ("👎", votes.down)
                b = InlineKeyboardButton(f"{emoji} {n}" if n else emoji, callback_data=data)
            new.append(b)
        rows.append(new)
    return InlineKeyboardMarkup(rows)


def has_more(summary: Summary | None, lang: str) -> bool:
    """Whether the full summary has anything the card does not show (else no button for it)."""
    return summary is not None and bool(summary_sections(summary, lang))


#: sections longer than this are folded in an expandable blockquote (Telegram shows ~3 lines)
_FOLD_AT = 280


def full_summary(
    paper: Paper, summary: Summary, lang: str, *, card: bool = True, links: Sequence[Link] = (),
    takeaways_shown: bool = True,
) -> list[str]:
    """The structured summary as messages of ≤4,096 visible characters, split between
    paragraphs (a paragraph longer than a message is split between sentences).

    With ``card`` (``/summarize``) it is the whole summary: head, one-liner, takeaways, the
    sections, who wrote it. Without (the Full summary button under a card already on screen)
    it is only what the card does not show: the sections, and the key takeaways when the card
    had no room for them all (``takeaways_shown`` False). Long sections are expandable blockquotes, so the
    whole summary reads as one message with its headings in view. Each heading of an
    extractive summary carries the mark; the note on who wrote it ends the last message.
    """
    mark = part_mark(summary, lang)
    head = "\n".join(paper_head(paper, lang, authors=6, summary=summary, links=links))
    blocks: list[tuple[str, str]] = []
    if card:
        blocks.append((t("label.summary", lang), clean(summary.summary)))
    if (card or not takeaways_shown) and summary.key_takeaways:
        takeaways = "\n".join(f"{i}. {clean(k)}" for i, k in enumerate(summary.key_takeaways, 1))
        blocks.append((t("label.key_takeaways", lang), takeaways))
    blocks += summary_sections(summary, lang)
    paragraphs = [head if card else f"{_title(paper)}\n{ids_line(paper, links, lang)}"]
    budget = TEXT_LIMIT - 300
    for label, body in blocks:
        for i, piece in enumerate(split_paragraphs(body, budget)):
            text = "\n".join(html.escape(line, quote=False) for line in piece.split("\n"))
            if len(piece) > _FOLD_AT:
                text = f"<blockquote expandable>{text}</blockquote>"
            name = html.escape(label + mark, quote=False)
            paragraphs.append(f"<b>{name}</b>\n{text}" if i == 0 else text)
    footer = f"<i>{esc(provenance(summary, lang))}</i>"
    messages = pack(paragraphs, TEXT_LIMIT - visible_len(footer) - 2)
    return [f"{m}\n\n{footer}" if i == len(messages) - 1 else m for i, m in enumerate(messages)]


def abstract_text(paper: Paper, lang: str) -> str:
    """The paper's abstract on demand (the Abstract button), folded when long."""
    body = esc(paper.abstract, TEXT_LIMIT - 600) or esc(t("cmd.no_results", lang))
    label = html.escape(t("label.abstract", lang), quote=False)
    return f"{_title(paper, 300)}\n<b>{label}</b>\n<blockquote expandable>{body}</blockquote>"


def pack(paragraphs: Sequence[str], limit: int) -> list[str]:
    """Whole paragraphs into as few messages of ≤``limit`` visible characters as they fit."""
    out: list[str] = []
    current = ""
    for para in paragraphs:
        candidate = f"{current}\n\n{para}" if current else para
        if visible_len(candidate) <= limit:
            current = candidate
            continue
        if current:
            out.append(current)
        current = para
    if current:
        out.append(current)
    return out


def answer_text(paper: Paper, question: str, answer: str, lang: str) -> str:
    lines = [_title(paper, 200), "", f"<b>{say('tg.question', lang)}:</b> {esc(question, 500)}", "", esc(answer, 3000)]
    return join_fitted(lines, TEXT_LIMIT, keep=5)


# ---- digests ---------------------------------------------------------------------------------


def _topics(topics: Sequence[str]) -> str:
    return fit(" / ".join(clean(x) for x in topics), 200)


def digest_header(day: date, topics: Sequence[str], papers: Sequence[Paper], lang: str) -> str:
    first = say("digest.header", lang, topics=_topics(topics), day=day.isoformat(), count=len(papers))
    lines = [f"<b>{first}</b>", ""]
    lines += [f"{i}. {link(p.abs_url, p.title or p.id, 150)}" for i, p in enumerate(papers, 1)]
    return join_fitted(lines, TEXT_LIMIT)


def digest_overflow(papers: Sequence[Paper], lang: str) -> list[str]:
    head = f"<b>{say('label.more_papers', lang, n=len(papers))}</b>"
    lines = [f"• {link(p.abs_url, p.title or p.id, 200)} <code>{esc(p.id)}</code>" for p in papers]
    return pack(["\n".join([head, *lines[:1]]), *lines[1:]], TEXT_LIMIT) if lines else [head]


def digest_empty(day: date, topics: Sequence[str], lang: str) -> str:
    return say("digest.none", lang, day=day.isoformat(), topics=_topics(topics))


# ---- lists and help -----------------------------------------------------------------------------


def help_text(lang: str) -> str:
    return say("cmd.help", lang)


def topics_text(catalogue: Catalogue, lang: str) -> str:
    lines = [say("cmd.topics", lang), ""]
    for topic in catalogue.topics:
        aliases = ", ".join(topic.aliases[:4])
        lines.append(f"• <b>{esc(topic.name)}</b> — {esc(topic.describe(lang), 200)}")
        if aliases:
            lines.append(f"  <i>{esc(aliases, 120)}</i>")
    return join_fitted(lines, TEXT_LIMIT)


def subscriptions_text(subs: Sequence[dict[str, Any]], lang: str) -> str:
    if not subs:
        return say("digest.no_subscriptions", lang)
    lines = [say("cmd.subscriptions", lang)]
    for s in subs:
        topic = clean(s["topic"])
        custom = topic == clean(s["query"])
        lines.append(f"• <code>{esc(topic, 300)}</code>" if custom else f"• <b>{esc(topic, 300)}</b>")
    return join_fitted(lines, TEXT_LIMIT)


def search_text(query: str, papers: Sequence[Paper], lang: str) -> str:
    if not papers:
        return say("cmd.no_results", lang)
    lines = [f"<b>{say('tg.results', lang, query=fit(clean(query), 200))}</b>"]
    for i, p in enumerate(papers, 1):
        when = p.published.date().isoformat() if p.published else ""
        meta = " · ".join(x for x in (esc(short_authors(p.authors, lang), 200), when, f"<code>{esc(p.id)}</code>") if x)
        lines += ["", f"{i}. <b>{link(p.abs_url, p.title or p.id, 250)}</b>", meta]
    return join_fitted(lines, TEXT_LIMIT)


def query_error(err: QueryError, text: str, lang: str) -> str:
    """The refusal of a broken query, with the query and a caret under the position."""
    from .i18n import error_text

    message = html.escape(error_text(err, lang), quote=False)
    query = fit(" ".join(text.split()), 200)
    if err.position < len(query):
        return f"{message}\n<pre>{html.escape(query, quote=False)}\n{' ' * err.position}^</pre>"
    return message


# ---- identifiers in buttons and links ----------------------------------------------------------


def callback(kind: str, value: str) -> str | None:
    """``kind:value`` if it fits Telegram's 64 bytes of callback data, else None."""
    data = f"{kind}:{value}"
    return data if len(data.encode()) <= CALLBACK_DATA_LIMIT else None


def start_payload(paper_id: str) -> str:
    """A paper id as a /start deep-link payload ([A-Za-z0-9_-] only): . → _, / → __."""
    return "full-" + paper_id.replace("/", "__").replace(".", "_")


def paper_from_payload(payload: str) -> str | None:
    if not payload.startswith("full-"):
        return None
    return payload[len("full-") :].replace("__", "/").replace("_", ".")



# ---- per-chat settings and the roundup (issue 12) ---------------------------------------------------


def settings_text(wants: Any, lang: str) -> str:
    """A chat's settings (:class:`bot.chat_settings.ChatSettings`) and how to change them."""
    return "\n".join([f"<b>{say('set.title', lang)}</b>", "", *(esc(line) for line in wants.lines(lang)), "",
                      f"<i>{say('set.usage', lang)}</i>"])  # fmt: skip


def settings_markup(wants: Any, lang: str) -> Any:
    """One row of buttons per setting (the week's days on their own row); ✅ marks the current."""
    from telegram import InlineKeyboardButton, InlineKeyboardMarkup

    from .chat_settings import CHOICES, WEEKDAYS
    from .i18n import MESSAGES

    def button(key: str, value: str) -> Any:
        shown = t(f"set.value.{value}", lang) if f"set.value.{value}" in MESSAGES else value
        shown = shown[:3] if value in WEEKDAYS else shown
        mark = "✅ " if wants.current(key) == value else ""
        return InlineKeyboardButton(f"{mark}{shown}", callback_data=f"set:{key}:{value}")

    rows = []
    for key in ("papers", "figures", "sections", "roundup"):
        rows.append([InlineKeyboardButton(t(f"set.label.{key}", lang), callback_data=f"set:{key}:?"),
                     *(button(key, v) for v in CHOICES[key])])  # fmt: skip
    rows.insert(3, [InlineKeyboardButton(t("set.label.days", lang), callback_data="set:days:?"),
                    button("days", "daily"), button("days", "weekdays")])  # fmt: skip
    rows.insert(4, [button("days", d) for d in WEEKDAYS])
    return InlineKeyboardMarkup(rows)


def roundup_text(found: Any, lang: str) -> str:
    """The roundup as one message: ranked, linked, with each paper's 👍 / 👎."""
    title = say("roundup.title", lang, period=t(f"roundup.{found.period}", lang))
    lines = [f"<b>{title}</b>", ""]
    for i, e in enumerate(found.entries, 1):
        votes = f"👍 {e.up}" + (f" · 👎 {e.down}" if e.down else "")
        lines.append(f"{i}. {link(e.paper.abs_url, e.paper.title or e.paper.id, 200)} — {votes}")
    return join_fitted(lines, TEXT_LIMIT)


def roundup_caption(rank: int, paper: Paper) -> str:
    """A roundup figure's caption: which paper of the list it is."""
    return f"{rank}. {link(paper.abs_url, paper.title or paper.id, 300)}"


def first_sentence(text: str | None, limit: int = 300) -> str:
    """The abstract's first sentence: the one-liner of a paper nobody summarized yet."""
    plain = clean(text)
    cut = re.split(r"(?<=[.!?])\s+", plain, maxsplit=1)[0] if plain else ""
    return fit(cut, limit)


def inline_card(paper: Paper, line: str, lang: str) -> str:
    """What an inline result posts: linked title, first authors, the one-liner, the id."""
    lines = [_title(paper), _byline(paper, lang)]
    if line:
        lines += ["", f"💡 {esc(line, 400)}"]
    lines += ["", f"<code>arXiv:{esc(paper.versioned_id)}</code>"]
    return join_fitted([x for x in lines if x is not None], TEXT_LIMIT, keep=2)
