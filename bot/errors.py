"""Named errors a caller can catch, each with a message a person can act on.

Every error that may reach a user carries ``key`` and ``params`` so the chat adapters can say
it in the chat's language through :func:`bot.i18n.t`; ``str(err)`` is the English sentence
for logs and the CLI.
"""

from __future__ import annotations

from typing import Any, ClassVar


class PaperbotError(Exception):
    """Base class: something paperbot can explain in one sentence."""

    key = "error.generic"

    def __init__(self, message: str, **params: Any) -> None:
        super().__init__(message)
        self.params = params


class BadArxivId(PaperbotError):
    key = "error.bad_id"

    def __init__(self, text: str) -> None:
        super().__init__(
            f"{text!r} is not an arXiv id or link; try 2407.21047 or https://arxiv.org/abs/2407.21047",
            text=text,
        )


class QueryError(PaperbotError):
    """A topic query that does not parse. ``position`` is the 0-based character offset."""

    key = "error.query"

    def __init__(self, problem: str, position: int, query: str) -> None:
        self.problem = problem
        self.position = position
        self.query = query
        pointer = f"{query}\n{' ' * position}^" if query else ""
        super().__init__(
            f"{problem} at position {position + 1}" + (f":\n{pointer}" if pointer else ""),
            problem=problem,
            position=position + 1,
        )


class UnknownTopic(PaperbotError):
    key = "error.unknown_topic"

    def __init__(self, name: str, suggestions: list[str]) -> None:
        self.suggestions = suggestions
        hint = f"; did you mean {', '.join(suggestions)}?" if suggestions else "; see `paperbot topics`"
        super().__init__(f"no topic named {name!r}{hint}", name=name, suggestions=", ".join(suggestions))


class BadInterest(PaperbotError):
    """A plain-text interest (``/subscribe about: ...``) that could not match anything.

    ``reason``: ``too_vague`` (fewer than two content words), ``too_long``, ``not_english``
    (abstracts are English; without a model nothing translates the description).
    """

    key = "error.bad_interest"

    _EN: ClassVar[dict[str, str]] = {
        "too_vague": "the description is too vague to match papers; name the subject in a few words, "
        "e.g. about: 3D hair modelling and hairstyle generation",
        "too_long": "the description is longer than 300 characters; say it in one sentence",
        "not_english": "paper abstracts are in English: describe the interest in English, "
        "e.g. about: 3D hair modelling and hairstyle generation",
    }

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(self._EN[reason], reason=reason)


class PaperNotFound(PaperbotError):
    key = "error.not_found"

    def __init__(self, paper_id: str) -> None:
        super().__init__(f"arXiv has no paper {paper_id}; check the id", id=paper_id)


class PaperWithdrawn(PaperbotError):
    key = "error.withdrawn"

    def __init__(self, paper_id: str) -> None:
        super().__init__(f"arXiv paper {paper_id} was withdrawn by its authors", id=paper_id)


class ArxivUnavailable(PaperbotError):
    key = "error.arxiv_down"

    def __init__(self, detail: str) -> None:
        super().__init__(f"arXiv did not answer ({detail}); try again in a few minutes", detail=detail)


class FeedError(ArxivUnavailable):
    """The RSS feed was not a feed (malformed XML, an HTML error page)."""


class PdfError(PaperbotError):
    key = "error.pdf"

    def __init__(self, paper_id: str, reason: str) -> None:
        super().__init__(f"could not get the PDF of {paper_id}: {reason}", id=paper_id, reason=reason)


class LLMError(PaperbotError):
    key = "error.llm"


class NeedsLLM(PaperbotError):
    key = "error.needs_llm"

    def __init__(self) -> None:
        super().__init__("this needs an LLM: set GEMINI_API_KEY or OPENAI_API_KEY")


class RateLimited(PaperbotError):
    key = "error.rate_limited"

    def __init__(self, minutes: int) -> None:
        super().__init__(
            f"you have used your summaries for this hour; try again in {minutes} minutes", minutes=minutes
        )


class TooManySubscriptions(PaperbotError):
    """A chat already has ``MAX_SUBSCRIPTIONS_PER_CHAT`` subscriptions."""

    key = "error.too_many_subscriptions"

    def __init__(self, limit: int) -> None:
        super().__init__(f"a chat may have at most {limit} subscriptions", limit=limit)


class Throttled(PaperbotError):
    """One person sent more than ``COMMANDS_PER_USER_PER_MINUTE`` commands in a minute."""

    key = "error.throttled"

    def __init__(self, per_minute: int) -> None:
        super().__init__(f"more than {per_minute} commands a minute", per_minute=per_minute)


class BadSetting(PaperbotError):
    key = "error.bad_setting"


class BadSnapshot(PaperbotError):
    """A line of an arXiv metadata file (``harvest --from``) that cannot be imported."""

    key = "error.bad_snapshot"

    def __init__(self, path: str, line: int | None, problem: str) -> None:
        where = f"{path} line {line}" if line else path
        super().__init__(f"{where}: {problem}; nothing was imported", path=path, line=line, problem=problem)
