"""The ``paperbot`` command line: the library's stages, one command each.

Every command builds the same :class:`~bot.core.Paperbot` the chat bots use, so what the CLI
prints is what a chat would get. Errors are one line on stderr with a hint and a non-zero
exit; never a traceback.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import shutil
import sys
from collections.abc import Callable, Coroutine, Iterator
from datetime import date
from functools import wraps
from pathlib import Path
from typing import Any, TypeVar

import click
from pydantic import ValidationError
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, Progress, TextColumn
from rich.table import Table

from .core import Enriched, Paperbot
from .errors import BadArxivId, BadSetting, PaperbotError
from .ids import parse_arxiv_id
from .settings import Settings
from .store import Store

T = TypeVar("T")
out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)  # an error stays one line, however long its path


class CliError(click.ClickException):
    """A one-line error for the terminal (exit 1)."""

    def show(self, file: Any = None) -> None:
        err.print(f"[bold red]Error:[/] {escape(self.message)}")


def _settings() -> Settings:
    try:
        return Settings()
    except ValidationError as e:
        first = e.errors()[0]
        name = ".".join(str(x) for x in first["loc"]).upper()
        raise CliError(f"setting {name} is invalid: {first['msg']} (see .env.example)") from None


def _run(coro_fn: Callable[..., Coroutine[Any, Any, T]]) -> Callable[..., T]:
    """Run an async command; turn our errors into one line and a non-zero exit."""

    @wraps(coro_fn)
    def wrapper(*args: Any, **kwargs: Any) -> T:
        try:
            return asyncio.run(coro_fn(*args, **kwargs))
        except PaperbotError as e:
            raise CliError(str(e).splitlines()[0] if not hasattr(e, "position") else str(e)) from None
        except KeyboardInterrupt:
            raise SystemExit(130) from None

    return wrapper


def _day(value: str | None) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a date; use YYYY-MM-DD, e.g. 2026-06-30") from None


@contextlib.contextmanager
def _waiting(what: str) -> Iterator[None]:
    """A spinner on stderr saying what we wait for (a terminal only: pipes and logs stay clean)."""
    if not err.is_terminal:
        yield
        return
    with err.status(escape(what), spinner="dots"):
        yield


def _fallback_note(core: Paperbot, items: list[Enriched]) -> None:
    """One line when a model is configured but a summary is extractive, and why."""
    if core.summarizer.provider_name == "none":
        return
    fell = [i.paper.id for i in items if i.summary is not None and i.summary.extractive]
    if not fell:
        return
    why = (core.summarizer.last_error or "it failed").removeprefix(f"{core.summarizer.provider_name}: ")
    which = fell[0] if len(fell) == 1 else f"{len(fell)} papers"
    err.print(
        f"[yellow]Note:[/] the model ({escape(core.summarizer.provider_name)}) was not used for {escape(which)}: "
        f"{escape(why)}; the summary is extracted from the abstract."
    )


def _progress() -> tuple[Progress | None, Callable[[str, int, int], None] | None]:
    if not sys.stderr.isatty():
        return None, None
    bar = Progress(TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed}/{task.total}"), console=err)
    tasks: dict[str, Any] = {}

    def tick(stage: str, done: int, total: int) -> None:
        if stage not in tasks:
            tasks[stage] = bar.add_task(stage, total=total)
        bar.update(tasks[stage], completed=done, total=total)

    return bar, tick


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("-v", "--verbose", is_flag=True, help="Log what happens (to stderr).")
@click.version_option(package_name="paperbot")
def cli(verbose: bool) -> None:
    """paperbot: new arXiv papers, summarized with their figures, for your chats."""
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    if not verbose:  # retries are ours to report, in one line, when they run out
        logging.getLogger("urllib3").setLevel(logging.ERROR)
        logging.getLogger("bot.summarize").setLevel(logging.ERROR)  # the fallback note says it


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="One JSON object per topic.")
def topics(as_json: bool) -> None:
    """The topic catalogue: name, aliases, query."""
    from .topics import Catalogue

    settings = _settings()
    try:
        catalogue = Catalogue.load(settings.topics_file)
    except BadSetting as e:
        raise CliError(str(e)) from None
    if as_json:
        for t in catalogue.topics:
            click.echo(json.dumps(t.model_dump(), ensure_ascii=False))
        return
    table = Table("topic", "aliases", "query", show_lines=True)
    for t in catalogue.topics:
        table.add_row(t.name, ", ".join(t.aliases), t.query)
    out.print(table)


@cli.command()
@click.option(
    "--date",
    "--day",
    "day_text",
    metavar="YYYY-MM-DD",
    help="A past listing day instead of the latest; with --from, the day the file's papers are "
    "announced on (default: each record's update_date).",
)
@click.option(
    "--from",
    "from_file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Import an arXiv metadata JSON-lines file (the bulk snapshot's schema) instead of asking arXiv.",
)
@_run
async def harvest(day_text: str | None, from_file: Path | None) -> None:
    """Fetch the latest (or a past) arXiv announcement into the store, or import one from a file."""
    day = _day(day_text)
    if from_file is not None:
        from .snapshot import by_day, import_line, read_snapshot

        days = by_day(read_snapshot(from_file), day)  # the whole file is checked before anything is stored
        async with Paperbot(_settings()) as core:
            reports = await core.import_days(days)
        click.echo(import_line(from_file, reports))
        return
    async with Paperbot(_settings()) as core:
        bar, tick = _progress()
        if bar is not None:
            with bar:
                report = await core.harvest(day, progress=tick)
        else:
            report = await core.harvest(day)
    out.print(report.message)
    for topic, n in report.matched.items():
        out.print(f"  {topic}: {n}")


async def _enrich_all(
    core: Paperbot, papers: list[Any], lang: str, *, figures: bool, summaries: bool
) -> list[Enriched]:
    return list(await asyncio.gather(*(core.enrich(p, lang, figures=figures, summary=summaries, every_figure=True) for p in papers)))


@cli.command()
@click.argument("topic")
@click.option("--date", "day_text", metavar="YYYY-MM-DD", help="The listing day (default: the latest).")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "md", "json", "hexo"]),
    default="text",
    show_default=True,
    help="text for the terminal, md or json for tools, hexo for the old blog's post.",
)
@click.option("--lang", type=click.Choice(["zh", "en"]), help="Summary language (default PAPERBOT_LANG).")
@click.option("--summaries/--no-summaries", default=True, show_default=True, help="Summarize each paper.")
@click.option("--figures/--no-figures", default=True, show_default=True, help="Crop each paper's figures.")
@click.option(
    "--assets",
    "assets_dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Copy the figures the post shows into DIR (one folder per paper) and link them from there.",
)
@click.option(
    "--assets-url",
    metavar="URL",
    help="Where DIR is published (e.g. /images/2026-06-30); default: DIR's name, relative to the post.",
)
@click.option(
    "--out",
    "out_file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write the digest to FILE instead of printing it.",
)
@_run
async def digest(
    topic: str,
    day_text: str | None,
    fmt: str,
    lang: str | None,
    summaries: bool,
    figures: bool,
    assets_dir: Path | None,
    assets_url: str | None,
    out_file: Path | None,
) -> None:
    """A topic's papers of one announcement (harvests first if needed). TOPIC: a name, alias or arXiv query."""
    from . import render

    day = _day(day_text)
    settings = _settings()
    lang = lang or settings.default_lang
    async with Paperbot(settings) as core:
        sub = core.catalogue.subscription(topic)
        harvested = True
        try:
            with _waiting("Fetching the arXiv announcement…"):
                report = await core.harvest(day)
            day = report.day or day
        except PaperbotError as e:
            if day is None and await core.latest_day() is None:
                raise
            harvested = False
            err.print(f"[yellow]Warning:[/] {escape(str(e))}; showing what is stored")
        day = day or await core.latest_day()
        if day is None:
            raise CliError("arXiv has not announced anything yet that paperbot has stored")
        if not harvested and not await core.papers_for_day(day):
            raise CliError(f"arXiv could not be reached and nothing is stored for {day}; try again later")
        papers = await core.topic_papers(sub.topic, sub.query, day)
        doing = "summarizing and cropping figures of" if summaries and figures else "reading"
        with _waiting(f"{doing.capitalize()} {len(papers)} papers ({core.summarizer.provider_name})…"):
            items = await _enrich_all(
                core, papers, lang, figures=figures and settings.figure_policy != "none", summaries=summaries
            )
        _fallback_note(core, items)
    text = _digest_text(render, sub.topic, day, items, lang, fmt, settings.digest_figures, assets_dir, assets_url)
    if out_file is not None:
        out_file.parent.mkdir(parents=True, exist_ok=True)
        out_file.write_text(text + "\n", encoding="utf-8")
    else:
        click.echo(text)


def _digest_text(
    render: Any,
    topic: str,
    day: date,
    items: list[Enriched],
    lang: str,
    fmt: str,
    per_paper: int,
    assets_dir: Path | None,
    assets_url: str | None,
) -> str:
    from .figures import pick_for_digest

    if fmt == "json":
        return str(render.digest_json(topic, day, items))
    if fmt not in ("md", "hexo"):
        lines = [f"{topic} · {day} · {len(items)} papers"]
        lines += [f"\n[{i}] " + render.paper_text(item, lang) for i, item in enumerate(items, 1)]
        return "\n".join(lines)

    def shown(item: Enriched) -> list[Any]:
        # the post shows what a chat's digest shows: the teaser first, then the biggest
        return pick_for_digest(item.figures, per_paper) if fmt == "hexo" else list(item.figures)

    figure_url = render.local_path
    if assets_dir is not None:
        figure_url = _copy_assets(items, shown, assets_dir, assets_url)
    return str(render.digest_markdown(topic, day, items, lang, hexo=fmt == "hexo", figure_url=figure_url, figures=shown))


def _copy_assets(
    items: list[Enriched], shown: Callable[[Enriched], list[Any]], assets_dir: Path, assets_url: str | None
) -> Callable[[Any], str]:
    """Copy the figures a post shows to ``assets_dir/<paper>/`` and link them by ``assets_url``
    (or by the folder's name, relative to a post written beside it)."""
    base = (assets_url or assets_dir.name).rstrip("/")
    urls: dict[str, str] = {}
    for item in items:
        folder = assets_dir / item.paper.versioned_id.replace("/", "_")
        for f in shown(item):
            if f.path is None:
                continue
            folder.mkdir(parents=True, exist_ok=True)
            target = folder / Path(f.path).name
            shutil.copyfile(f.path, target)
            urls[str(f.path)] = f"{base}/{folder.name}/{target.name}"
    return lambda f: urls.get(str(f.path), str(f.path))


@cli.command()
@click.argument("query")
@click.option("-n", "--max", "n", default=10, show_default=True, type=click.IntRange(1, 100), help="How many results.")
@_run
async def search(query: str, n: int) -> None:
    """Search arXiv (its API) with words or an arXiv query."""
    from .query import parse_query, tidy_query
    from .render import clean

    query, warnings = tidy_query(query)  # curly quotes straightened; what the query reads differently, said
    parse_query(query)  # refuse a broken query before asking arXiv
    for w in warnings:
        err.print(f"[yellow]Warning:[/] {escape(w.message)}")
    async with Paperbot(_settings()) as core:
        with _waiting("Searching arXiv…"):
            papers = await core.search(query, n)
    if not papers:
        out.print("No results.")
    for p in papers:
        click.echo(f"{p.id}v{p.version}  {clean(p.title)}\n    {', '.join(p.authors[:3])}  {p.abs_url}")


@cli.command()
@click.argument("paper")
@click.option("--lang", type=click.Choice(["zh", "en"]), help="Summary language (default PAPERBOT_LANG).")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["md", "json", "text"]),
    default="md",
    show_default=True,
    help="md (the old blog's section), json (every field), text (for the terminal).",
)
@click.option("--figures/--no-figures", default=True, show_default=True, help="Crop the paper's figures too.")
@_run
async def summarize(paper: str, lang: str | None, fmt: str, figures: bool) -> None:
    """The full structured summary of one paper. PAPER: an arXiv id or link."""
    from . import render

    settings = _settings()
    lang = lang or settings.default_lang
    async with Paperbot(settings) as core:
        with _waiting(f"Looking up {paper} on arXiv…"):
            p = await core.lookup(paper)
        what = "Summarizing" if core.summarizer.provider_name == "none" else f"Waiting for {core.summarizer.provider_name} to read"
        with _waiting(f"{what} {p.versioned_id}{' and cropping its figures' if figures else ''}…"):
            item = await core.enrich(p, lang, figures=figures and settings.figure_policy != "none", every_figure=True)
        _fallback_note(core, [item])
    if fmt == "json":
        click.echo(json.dumps(render.paper_json(item), ensure_ascii=False, indent=2))
    elif fmt == "text":
        click.echo(render.paper_text(item, lang))
    else:
        click.echo(render.paper_markdown(item, lang))


@cli.command()
@click.argument("paper")
@click.argument("question")
@click.option("--lang", type=click.Choice(["zh", "en"]), help="Answer language (default PAPERBOT_LANG).")
@_run
async def ask(paper: str, question: str, lang: str | None) -> None:
    """Ask a question about a paper; the answer is grounded in the paper."""
    settings = _settings()
    async with Paperbot(settings) as core:
        with _waiting(f"Looking up {paper} on arXiv…"):
            p = await core.lookup(paper)
        with _waiting(f"Waiting for {core.summarizer.provider_name} to answer…"):
            answer = await core.ask(p, question, lang or settings.default_lang)
    click.echo(answer)


@cli.command()
@click.argument("source")
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), help="Where to write the PNGs.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per figure.")
@_run
async def figures(source: str, out_dir: Path | None, as_json: bool) -> None:
    """Crop every captioned figure and table out of a PDF. SOURCE: a PDF file or an arXiv id/link."""
    from . import figures as fig

    settings = _settings()
    path = Path(source)
    if path.suffix.lower() == ".pdf" or path.exists():
        if not path.is_file():
            raise CliError(f"{source} is not a file")
        with path.open("rb") as fh:
            if b"%PDF-" not in fh.read(1024):
                raise CliError(f"{source} is not a PDF (it does not start with %PDF-)")
        target = out_dir or Path(path.stem + "-figures")
        with _waiting(f"Cropping the figures of {path.name}…"):
            found = await asyncio.to_thread(
                fig.extract_figures, path, target, timeout=settings.figure_timeout, memory_mb=settings.figure_memory_mb
            )
    else:
        async with Paperbot(settings) as core:
            try:
                with _waiting(f"Looking up {source} on arXiv…"):
                    p = await core.lookup(source)
            except BadArxivId:
                raise CliError(f"{source!r} is neither a PDF file nor an arXiv id or link") from None
            with _waiting(f"Fetching the PDF of {p.versioned_id} and cropping its figures…"):
                found = await core.figures(p, every=True)
            if not found and await core.pdf(p) is None:
                raise CliError(f"could not get the PDF of {p.versioned_id}; try again later")
    for f in found:
        if as_json:
            click.echo(json.dumps(f.to_json(), ensure_ascii=False))
        else:
            bbox = ",".join(f"{v:.0f}" for v in f.bbox)
            caption = " ".join(f.caption.split())[:100]
            click.echo(f"{f.kind}\t{f.number or '-'}\tp.{f.page}\t{caption}\t[{bbox}]\t{f.path}")
    if not found:
        err.print("No figures found (see -v for why).")


@cli.command()
@click.argument("topic")
@click.option("--date", "day_text", metavar="YYYY-MM-DD", help="The listing day (default: the latest stored).")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line for every paper considered.")
@click.option("--explain", "explain_id", metavar="ID", help="Say why this paper is or is not taken.")
@click.option("--near", default=5, show_default=True, type=click.IntRange(0, 100), help="Near misses to list.")
@_run
async def match(topic: str, day_text: str | None, as_json: bool, explain_id: str | None, near: int) -> None:
    """What a digest of TOPIC would take from one announcement, each with its score and reason.

    TOPIC: a catalogue name or alias, an arXiv query, or a plain-text interest (about: ...).
    """
    from .query import tidy_query

    day = _day(day_text)
    topic, warnings = tidy_query(topic)  # curly quotes straightened; what a query reads differently, said
    async with Paperbot(_settings()) as core:
        sub = await core.subscription(topic)
        if sub.kind == "query":
            for w in warnings:
                err.print(f"[yellow]Warning:[/] {escape(w.message)}")
        day = day or await core.latest_day()
        if day is None or await core.store.run(Store.get_announcement, day) is None:
            try:
                day = (await core.harvest(day)).day or day
            except PaperbotError as e:
                err.print(f"[yellow]Warning:[/] {e}; using what is stored")
        if day is None:
            raise CliError("nothing is stored yet: run `paperbot harvest` (or `harvest --from FILE`) first")
        verdicts = await core.verdicts(day, sub.topic, sub.query)
        papers = {p.id: p for p in await core.papers_for_day(day)}
        if explain_id is not None:
            paper = await core.store.run(Store.get_paper, parse_arxiv_id(explain_id).id) or await core.lookup(explain_id)
            v = await core.why(paper, sub.topic, sub.query)
            if as_json:
                click.echo(json.dumps(v.to_json(paper.title), ensure_ascii=False))
            else:
                click.echo(f"{paper.id} {paper.title}\n{sub.topic}: score {v.score:.2f}, {v.why}")
            return
    if as_json:
        for v in verdicts:
            click.echo(json.dumps(v.to_json(papers[v.paper_id].title), ensure_ascii=False))
        return
    took = [v for v in verdicts if v.taken]
    click.echo(f"{sub.topic} · {day} · {len(took)} of {len(verdicts)} papers taken")
    for v in took:
        click.echo(f"  {v.score:.2f}  {v.paper_id}  {papers[v.paper_id].title}\n        {v.why}")
    misses = [v for v in verdicts if not v.taken and v.evidence > 0][:near]
    if misses:
        click.echo("near misses:")
        for v in misses:
            click.echo(f"  {v.score:.2f}  {v.paper_id}  {papers[v.paper_id].title}\n        {v.why}")


@cli.command()
def stats() -> None:
    """LLM calls, tokens and cache hits; papers, chats and deliveries."""
    from .store import Store
    from .summarize import stats as llm_stats

    settings = _settings()
    store = Store(settings.db_path)
    try:
        figures_ = llm_stats(store)
        figures_["papers"] = store.count_papers()
        figures_["announcements"] = store.db["announcements"].count
        figures_["chats"] = store.db["chats"].count
        figures_["subscriptions"] = store.db["subscriptions"].count
        figures_["deliveries"] = store.db["deliveries"].count
    finally:
        store.close()
    for k, v in figures_.items():
        out.print(f"{k}: {v}")


@cli.command()
def status() -> None:
    """What is pending and why: chats not yet delivered for the latest day, paused chats,
    summaries waiting for the model."""
    from .store import Store
    from .summarize import EXTRACTIVE_RETRY_MINUTES
    from .summarize import pending as summaries_pending

    settings = _settings()
    store = Store(settings.db_path)
    try:
        ann = store.last_announcement()
        failed = store.get_kv("harvest.last_error")
        line = f"latest listing day: {ann.day} ({ann.count} papers)" if ann else "nothing harvested yet"
        if failed:
            line += f"; the last harvest failed at {failed}"
        click.echo(line)
        rows = list(
            store.db.query(
                "select c.platform, c.chat_id, c.active, c.inactive_reason, r.status, r.detail from chats c "
                "left join digest_runs r on r.platform = c.platform and r.chat_id = c.chat_id and r.day = ? "
                "order by c.platform, c.chat_id",
                [ann.day.isoformat() if ann else ""],
            )
        )
        waiting = summaries_pending(store)
        flying = list(store.db.query("select * from in_flight order by platform, chat_id"))
    finally:
        store.close()
    table = Table("platform", "chat", "state", "detail")
    for r in rows:
        state = "inactive" if not r["active"] else (r["status"] or "pending")
        table.add_row(r["platform"], r["chat_id"], state, r["inactive_reason"] or r["detail"] or "")
    out.print(table)
    for row in flying:
        click.echo(
            f"{row['platform']}:{row['chat_id']}: {row['item']} of {row['day']} has been in flight since {row['at']} "
            "(if the bot is not running, it stopped then: that message is sent again and may arrive twice)"
        )
    for row in waiting:
        why = f": {row['error']}" if row["error"] else ""
        click.echo(
            f"summary of {row['paper_id']}v{row['version']} ({row['lang']}) is extractive since {row['created_at']}, "
            f"the model ({row['provider']}) failed{why}; it is asked again on the next request after "
            f"{EXTRACTIVE_RETRY_MINUTES} minutes"
        )


@cli.command()
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
def backup(path: Path) -> None:
    """An online, consistent copy of the database (safe while the bot runs)."""
    from .store import Store

    store = Store(_settings().db_path)
    try:
        store.backup(path)
    finally:
        store.close()
    out.print(f"backed up to {path}")


@cli.command()
def run() -> None:
    """Run the Telegram and/or Discord bot (whichever tokens are set) with the daily schedule."""
    from .run import run as run_bots

    settings = _settings()
    logging.getLogger().setLevel(settings.log_level.upper())
    from .logs import redact_secrets

    redact_secrets(settings)
    try:
        asyncio.run(run_bots(settings))
    except PaperbotError as e:
        raise CliError(str(e)) from None
    except KeyboardInterrupt:
        pass


def main() -> None:
    cli.main(prog_name="paperbot")


if __name__ == "__main__":
    main()
