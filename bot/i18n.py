"""What paperbot says, in Chinese and English.

One table of short sentences, looked up by key; chats pick their language with /lang (the
default is ``PAPERBOT_LANG``). Errors reach people as ``t(err.key, lang, **err.params)``:
one sentence that says what to do, never a traceback.
"""

from __future__ import annotations

from typing import Any

from .errors import PaperbotError

MESSAGES: dict[str, dict[str, str]] = {
    # errors (keys match bot.errors)
    "error.generic": {"zh": "出了点问题，请稍后再试。", "en": "Something went wrong; please try again later."},
    "error.bad_id": {
        "zh": "“{text}” 不是 arXiv 编号或链接，请发送如 2407.21047 或 https://arxiv.org/abs/2407.21047。",
        "en": "“{text}” is not an arXiv id or link; send something like 2407.21047 or https://arxiv.org/abs/2407.21047.",
    },
    "error.query": {
        "zh": "查询有误：{problem}（第 {position} 个字符）。示例：ti:avatar OR abs:\"talking head\"",
        "en": "The query has a problem: {problem} (at character {position}). Example: ti:avatar OR abs:\"talking head\"",
    },
    "error.bad_interest.too_vague": {
        "zh": "这段描述太笼统，匹配不到论文；请用几个词说明主题，例如 about: 3D hair modelling and hairstyle generation",
        "en": "That description is too vague to match papers; name the subject in a few words, e.g. about: 3D hair modelling and hairstyle generation",
    },
    "error.bad_interest.too_long": {
        "zh": "描述超过 300 个字符；请用一句话说明。",
        "en": "The description is longer than 300 characters; say it in one sentence.",
    },
    "error.bad_interest.not_english": {
        "zh": "论文摘要是英文的，请用英文描述兴趣，例如 about: 3D hair modelling and hairstyle generation",
        "en": "Paper abstracts are in English: describe the interest in English, e.g. about: 3D hair modelling and hairstyle generation",
    },
    "why.taken": {"zh": "会推送", "en": "in the digest"},
    "why.not_taken": {"zh": "不推送", "en": "not in the digest"},
    "why.no_subscriptions": {
        "zh": "本群还没有订阅；用 /subscribe 订阅后，/why 会说明每个主题为何收录或不收录这篇论文。",
        "en": "This chat follows nothing yet; after /subscribe, /why says for each topic why it takes this paper or not.",
    },
    "error.unknown_topic": {
        "zh": "没有名为 “{name}” 的主题；你是不是想找：{suggestions}？用 /topics 查看全部。",
        "en": "There is no topic “{name}”; did you mean {suggestions}? See /topics for all of them.",
    },
    "error.not_found": {"zh": "arXiv 上没有 {id} 这篇论文，请检查编号。", "en": "arXiv has no paper {id}; please check the id."},
    "error.no_version": {
        "zh": "arXiv 论文 {id} 没有第 {version} 版，最新是 v{latest}；去掉版本号即可读最新版。",
        "en": "arXiv paper {id} has no version {version}; the latest is v{latest}. Leave the version out to get it.",
    },
    "error.withdrawn": {"zh": "arXiv 论文 {id} 已被作者撤回。", "en": "arXiv paper {id} was withdrawn by its authors."},
    "error.arxiv_down": {
        "zh": "arXiv 暂时没有响应，请几分钟后再试。",
        "en": "arXiv is not answering right now; please try again in a few minutes.",
    },
    "error.pdf": {"zh": "无法获取 {id} 的 PDF。", "en": "Could not get the PDF of {id}."},
    "error.llm": {
        "zh": "语言模型暂时不可用，请稍后再试。",
        "en": "The language model is unavailable right now; please try again later.",
    },
    "error.needs_llm": {
        "zh": "这个功能需要语言模型：请机器人管理员设置 GEMINI_API_KEY 或 OPENAI_API_KEY。",
        "en": "This needs a language model: ask the bot's operator to set GEMINI_API_KEY or OPENAI_API_KEY.",
    },
    "error.rate_limited": {
        "zh": "你这一小时的总结次数已用完，请 {minutes} 分钟后再试（已缓存的论文不受限制）。",
        "en": "You have used this hour's summaries; try again in {minutes} minutes (cached papers are always free).",
    },
    "error.too_many_subscriptions": {
        "zh": "本群已有 {limit} 个订阅，达到上限；请先用 /unsubscribe 取消一些再订阅。",
        "en": "This chat already has {limit} subscriptions, the most it may have; /unsubscribe some first.",
    },
    "error.throttled": {
        "zh": "你发送命令太快了（每分钟最多 {per_minute} 条），请一分钟后再试。",
        "en": "You are sending commands too fast (at most {per_minute} a minute); please wait a minute.",
    },
    "error.bad_setting": {"zh": "设置无效：{detail}", "en": "Invalid setting: {detail}"},
    "error.bad_time": {
        "zh": "“{text}” 不是有效时间，请用 24 小时制，如 /settime 09:00 Asia/Shanghai。",
        "en": "“{text}” is not a time; use 24-hour time like /settime 09:00 Europe/Berlin.",
    },
    "error.bad_zone": {
        "zh": "“{text}” 不是时区名称，请用如 Asia/Shanghai、Europe/Berlin 的写法。",
        "en": "“{text}” is not a time zone; use a name like Asia/Shanghai or Europe/Berlin.",
    },
    "error.bad_lang": {"zh": "请使用 /lang zh 或 /lang en。", "en": "Use /lang zh or /lang en."},
    "error.not_admin": {
        "zh": "抱歉，只有群管理员可以更改本群的订阅和设置。",
        "en": "Sorry, only the chat's administrators can change its subscriptions and settings.",
    },
    "error.missing_arg": {"zh": "用法：{usage}", "en": "Usage: {usage}"},
    # labels
    "label.summary": {"zh": "一句话总结", "en": "Summary"},
    "label.key_takeaways": {"zh": "要点", "en": "Key takeaways"},
    "label.background": {"zh": "研究背景", "en": "Background"},
    "label.past_methods": {"zh": "过去的方法及问题", "en": "Earlier methods and their problems"},
    "label.method": {"zh": "研究方法", "en": "Method"},
    "label.results": {"zh": "任务与性能", "en": "Results"},
    "label.conclusion": {"zh": "结论", "en": "Conclusion"},
    "label.keywords": {"zh": "关键词", "en": "Keywords"},
    "label.figures": {"zh": "论文截图", "en": "Figures"},
    "label.extractive": {
        "zh": "（摘录自摘要原句，未经模型总结；没有模型，文字保持英文）",
        "en": "(extracted from the abstract, not written by a model)",
    },
    "label.extractive_short": {"zh": "〔摘录〕", "en": "[extract]"},
    "label.ai_summary": {"zh": "AI 总结 · {model}", "en": "AI summary · {model}"},
    "label.abstract_only": {
        "zh": "仅依据摘要（暂无 PDF，获取后会重写）",
        "en": "from the abstract only (no PDF yet; rewritten once it is there)",
    },
    "label.code": {"zh": "代码", "en": "Code"},
    "label.project": {"zh": "项目主页", "en": "Project page"},
    "label.data": {"zh": "数据", "en": "Data"},
    "label.model_weights": {"zh": "模型", "en": "Model"},
    "label.disclaimer": {
        "zh": "注意：论文总结由 AI 生成，可能有误，请以原文为准。",
        "en": "Note: the summaries are written by AI and may contain mistakes; the papers are the reference.",
    },
    "label.et_al": {"zh": "等", "en": "et al."},
    "label.full_summary": {"zh": "完整总结", "en": "Full summary"},
    "label.summarize": {"zh": "总结", "en": "Summarize"},
    "label.subscribe": {"zh": "订阅", "en": "Subscribe"},
    "label.more_papers": {"zh": "其余 {n} 篇", "en": "{n} more papers"},
    "label.pdf": {"zh": "PDF", "en": "PDF"},
    "label.abstract": {"zh": "摘要", "en": "Abstract"},
    # digest
    "digest.header": {
        "zh": "📚 {topics} · {day} · {count} 篇新论文",
        "en": "📚 {topics} · {day} · {count} new papers",
    },
    "digest.none": {
        "zh": "📭 {day} arXiv 没有与 {topics} 相关的新论文。（/quiet 可关闭此提示）",
        "en": "📭 No new arXiv papers on {topics} for {day}. (/quiet turns this notice off)",
    },
    "digest.no_subscriptions": {
        "zh": "本群还没有订阅任何主题，试试 /subscribe 虚拟人 或 /topics。",
        "en": "This chat follows no topic yet; try /subscribe avatar or /topics.",
    },
    "digest.running": {
        "zh": "本群的论文正在发送中，马上就好，无需再次 /digest。",
        "en": "This chat's digest is being posted right now; no need to send /digest again.",
    },
    "digest.nothing_new": {
        "zh": "今天没有新的论文要发送（都已发送过，或 arXiv 今天没有更新）。",
        "en": "Nothing new to send today (everything was sent already, or arXiv announced nothing).",
    },
    # query hygiene (bot.query.lint_query): what the parser read, and how to write it
    "query.warn.lowercase_op": {
        "zh": "⚠️ 小写的 “{word}” 被当作要搜索的单词，而不是运算符（实际读作：{read}）；运算符须大写：{fix}",
        "en": "⚠️ lowercase “{word}” is read as a word to search for, not an operator (read as: {read}); "
        "operators are in capitals: {fix}",
    },
    "query.warn.and_not": {
        "zh": "⚠️ “{word}” 会搜索单词 “not”（实际读作：{read}）；arXiv 的排除运算符是一个词 ANDNOT：{fix}",
        "en": "⚠️ “{word}” searches for the word “not” (read as: {read}); arXiv's exclusion is one word, ANDNOT: {fix}",
    },
    "query.warn.bare_not": {
        "zh": "⚠️ 单独的 “{word}” 被当作单词 “not”（实际读作：{read}）；要排除请在想要的词后写 ANDNOT：{fix}",
        "en": "⚠️ “{word}” on its own is read as the word “not” (read as: {read}); "
        "to exclude, write ANDNOT after what you want: {fix}",
    },
    "query.warn.comma": {
        "zh": "⚠️ 逗号不是运算符，“{word}” 实际读作 {read}；要匹配其中任意一个请写：{fix}",
        "en": "⚠️ a comma is not an operator, so “{word}” is read as {read}; to match any of them write: {fix}",
    },
    "query.warn.curly_quotes": {
        "zh": "⚠️ 弯引号（“ ” ‘ ’）在这里不是引号，不会按短语搜索（实际读作：{read}）；请用直引号：{fix}",
        "en": "⚠️ curly quotes (“ ” ‘ ’) are not quotes here, so no phrase is searched (read as: {read}); "
        "use straight quotes: {fix}",
    },
    "query.warn.curly_fixed": {
        "zh": "ℹ️ 弯引号（“ ” ‘ ’）已按直引号处理：{fix}",
        "en": "ℹ️ curly quotes (“ ” ‘ ’) were read as straight quotes: {fix}",
    },
    "query.warn.example": {"zh": "例如 {example}", "en": "e.g. {example}"},
    # commands
    "cmd.subscribed": {"zh": "✅ 已订阅：{topic}", "en": "✅ Subscribed to {topic}"},
    "cmd.about_note": {
        "zh": "这是一段兴趣描述：每天收录与它最相近的论文（按摘要里的关键词打分；配置了模型时由模型复核边界上的论文）。用 /why 编号 查看某篇论文为何收录或没有收录。",
        "en": "This is an interest, not a query: each day brings the papers closest to it (scored by the words of their abstracts; with a model, the model settles the close calls). /why ID says why a paper was or was not taken.",
    },
    "cmd.already_subscribed": {"zh": "本群已经订阅了 {topic}。", "en": "This chat already follows {topic}."},
    "cmd.unsubscribed": {"zh": "已取消订阅：{topic}", "en": "Unsubscribed from {topic}"},
    "cmd.not_subscribed": {
        "zh": "本群没有订阅 {topic}；用 /subscriptions 查看当前订阅。",
        "en": "This chat does not follow {topic}; see /subscriptions.",
    },
    "cmd.subscriptions": {"zh": "本群订阅的主题：", "en": "This chat follows:"},
    "cmd.time_set": {
        "zh": "⏰ 每日推送时间已设为 {time}（{zone}）。",
        "en": "⏰ The daily digest now comes at {time} ({zone}).",
    },
    "cmd.lang_set": {"zh": "语言已设为中文。", "en": "Language set to English."},
    "cmd.quiet_on": {
        "zh": "好的，没有新论文的日子将不再发送提示。",
        "en": "OK: days without new papers will stay silent.",
    },
    "cmd.quiet_off": {
        "zh": "好的，没有新论文的日子也会发送一条简短提示。",
        "en": "OK: days without new papers get one short line.",
    },
    "cmd.working": {"zh": "⏳ 正在阅读论文 {id}…", "en": "⏳ Reading {id}…"},
    "cmd.searching": {"zh": "🔎 正在搜索 arXiv…", "en": "🔎 Searching arXiv…"},
    "cmd.no_results": {"zh": "没有找到结果。", "en": "No results."},
    "cmd.topics": {"zh": "可订阅的主题（点击按钮订阅）：", "en": "Topics you can follow (tap to subscribe):"},
    "cmd.help": {
        "zh": (
            "我会在 arXiv 每天公布新论文后，把你关心方向的新论文（一句话总结、要点和论文截图）发到这里。\n\n"
            "/topics 查看主题\n/subscribe 主题或查询 订阅（如 /subscribe 虚拟人 或 /subscribe ti:\"gaussian avatar\"）\n"
            "/unsubscribe 主题 取消订阅\n/subscriptions 当前订阅\n/settime 09:00 Asia/Shanghai 设置推送时间\n"
            "/lang zh|en 语言\n/digest 立即发送今天的论文\n/summarize 编号或链接 总结任意论文\n"
            "/search 关键词 搜索 arXiv\n/ask 编号 问题 针对论文提问\n/quiet 没有新论文时不提示\n\n"
            "私聊中直接发送 arXiv 链接即可获得总结。"
        ),
        "en": (
            "After each arXiv announcement I post the new papers on your topics here: a one-line summary, "
            "key takeaways and screenshots of their figures.\n\n"
            "/topics the catalogue\n/subscribe TOPIC_OR_QUERY follow (/subscribe avatar or /subscribe ti:\"gaussian avatar\")\n"
            "/unsubscribe TOPIC stop\n/subscriptions what this chat follows\n/settime 09:00 Europe/Berlin digest time\n"
            "/lang zh|en language\n/digest today's digest now\n/summarize ID_OR_LINK summarize any paper\n"
            "/search WORDS search arXiv\n/ask ID QUESTION ask about a paper\n/quiet no notice on empty days\n\n"
            "In a private chat, just send an arXiv link to get its summary."
        ),
    },
    "cmd.ask_needs_paper": {
        "zh": "请写成 /ask 编号 问题，或回复一条论文消息并提问。",
        "en": "Write /ask ID QUESTION, or reply to a paper message with your question.",
    },
    # per-chat settings (bot.chat_settings)

    "set.title": {"zh": "⚙️ 本群设置（管理员可修改）", "en": "⚙️ This chat's settings (admins can change them)"},
    "set.papers": {"zh": "每次推送的论文卡片：{n} 篇（其余以链接列表发送）", "en": "Papers per digest: {n} (the rest as a linked list)"},
    "set.figures": {"zh": "每篇论文的截图：{n} 张", "en": "Figures per paper: {n}"},
    "set.sections.off": {"zh": "内容：仅卡片", "en": "Content: card only"},
    "set.sections.on": {"zh": "内容：卡片 + 分节总结", "en": "Content: card + summary sections"},
    "set.days.daily": {"zh": "推送日：每天", "en": "Digest days: daily"},
    "set.days.weekdays": {"zh": "推送日：工作日", "en": "Digest days: weekdays"},
    "set.days.weekly": {"zh": "推送日：每{day}", "en": "Digest days: weekly on {day}"},
    "set.roundup.on": {"zh": "每周精选：开（{day}）", "en": "Weekly roundup: on ({day})"},
    "set.roundup.off": {"zh": "每周精选：关", "en": "Weekly roundup: off"},
    "set.usage": {
        "zh": "用法：/settings papers 1-20 | figures 0-4 | sections on|off | days daily|weekdays|mon…sun | roundup on|off",
        "en": "Usage: /settings papers 1-20 | figures 0-4 | sections on|off | days daily|weekdays|mon…sun | roundup on|off",
    },
    "set.done": {"zh": "✅ 已更新。", "en": "✅ Updated."},
    "set.label.papers": {"zh": "篇数", "en": "Papers"},
    "set.label.figures": {"zh": "截图", "en": "Figures"},
    "set.label.sections": {"zh": "分节", "en": "Sections"},
    "set.label.days": {"zh": "推送日", "en": "Days"},
    "set.label.roundup": {"zh": "每周精选", "en": "Roundup"},
    "set.value.daily": {"zh": "每天", "en": "daily"},
    "set.value.weekdays": {"zh": "工作日", "en": "weekdays"},
    "set.value.on": {"zh": "开", "en": "on"},
    "set.value.off": {"zh": "关", "en": "off"},
    "set.value.mon": {"zh": "周一", "en": "Monday"},
    "set.value.tue": {"zh": "周二", "en": "Tuesday"},
    "set.value.wed": {"zh": "周三", "en": "Wednesday"},
    "set.value.thu": {"zh": "周四", "en": "Thursday"},
    "set.value.fri": {"zh": "周五", "en": "Friday"},
    "set.value.sat": {"zh": "周六", "en": "Saturday"},
    "set.value.sun": {"zh": "周日", "en": "Sunday"},
    # votes, ranking, roundup, inline (bot.feedback, bot.ranking, bot.roundup)
    "vote.up": {"zh": "👍 已记录", "en": "👍 noted"},
    "vote.down": {"zh": "👎 已记录，类似的论文会排得更靠后", "en": "👎 noted: papers like this will rank lower here"},
    "vote.removed": {"zh": "已撤回你的投票", "en": "Your vote is withdrawn"},
    "label.near_miss": {
        "zh": "✨ 不在订阅主题内，但与本群点赞过的论文相似",
        "en": "✨ Outside this chat's topics, but like papers it voted 👍",
    },
    "label.set_aside": {
        "zh": "其余 {n} 篇（与本群点踩过的论文相似）",
        "en": "{n} more (like papers this chat voted 👎)",
    },
    "roundup.title": {"zh": "🏆 本群{period}最受欢迎的论文", "en": "🏆 This chat's most-liked papers of the {period}"},
    "roundup.week": {"zh": "本周", "en": "week"},
    "roundup.month": {"zh": "本月", "en": "month"},
    "roundup.empty": {
        "zh": "这段时间本群还没有给论文点过赞；在推送的论文下点 👍 即可。",
        "en": "Nobody here has voted 👍 on a paper in that time yet; tap 👍 under a digest's papers.",
    },
    "roundup.bad_period": {"zh": "请使用 /top week 或 /top month。", "en": "Use /top week or /top month."},
    "digest.harvesting": {
        "zh": "⏳ 正在从 arXiv 获取今天的论文，完成后马上发送…",
        "en": "⏳ Fetching today's papers from arXiv; the digest follows as soon as that is done…",
    },
    "inline.none": {"zh": "输入 arXiv 编号或链接", "en": "Type an arXiv id or link"},
    "thread.gone": {"zh": "话题已删除", "en": "the forum topic was deleted"},
}


PARAM_LIMIT = 1000  # characters of one parameter: an echo of user text stays an echo, not a page


def clean_params(params: dict[str, Any]) -> dict[str, Any]:
    """Parameters as the renderers treat outside text: control characters (NUL), bidi overrides
    and runs of whitespace gone, cut to :data:`PARAM_LIMIT`. Parameters often echo what someone
    typed (a topic, a time, an id), and a right-to-left override in one turns the rest of the
    bot's sentence around."""
    from .render import clean, fit  # render uses this module's t()

    return {k: fit(clean(v), PARAM_LIMIT) if isinstance(v, str) else v for k, v in params.items()}


def t(key: str, lang: str | None = "en", /, **params: Any) -> str:
    """The message ``key`` in ``lang`` (falling back to English), formatted with ``params``
    (cleaned: :func:`clean_params`)."""
    entry = MESSAGES.get(key) or MESSAGES["error.generic"]
    text = entry.get(lang or "en") or entry["en"]
    try:
        return text.format(**clean_params(params))
    except (KeyError, IndexError):
        return text


def error_text(err: BaseException, lang: str | None) -> str:
    """One sentence for a user, whatever went wrong; details stay in the log."""
    if isinstance(err, PaperbotError):
        params = dict(err.params)
        if err.key == "error.bad_setting":
            params.setdefault("detail", str(err))
        if err.key == "error.bad_interest":
            return t(f"error.bad_interest.{params.get('reason', 'too_vague')}", lang)
        if err.key == "error.unknown_topic" and not params.get("suggestions"):
            return t("error.unknown_topic", lang, name=params.get("name", ""), suggestions="/topics").replace(
                "？用 /topics 查看全部。", "？"
            )
        return t(err.key, lang, **params)
    return t("error.generic", lang)
