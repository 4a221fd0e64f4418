"""Named errors a caller can catch, each with a message a person can act on.

Every error that may reach a user carries ``key`` and ``params`` so the chat adapters can say
it in the chat's language through :func:`bot.i18n.t`; ``str(err)`` is the English sentence
for logs and the CLI.
"""

from __future__ import annotations

from typing import Any


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


class PaperNotFound(PaperbotError):
    key = "error.not_found"

    def __init__(self, paper_id: str) -> None:
        super().__init__(f"arXiv has no paper {paper_id}; check the id", id=paper_id)


class VersionNotFound(PaperNotFound):
    """The paper exists, the version asked for does not (yet): never silently another version."""

    key = "error.no_version"

    def __init__(self, paper_id: str, version: int, latest: int) -> None:
        PaperbotError.__init__(
            self,
            f"arXiv paper {paper_id} has no version {version}; the latest is v{latest}",
            id=paper_id,
            version=version,
            latest=latest,
        )


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


class ModelDown(LLMError):
    """The model failed too often in a row: requests are not sent until a cool-down has passed
    (see :class:`bot.llm.Breaker`); callers fall back at once, as for any LLMError."""


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


class BadSetting(PaperbotError):
    key = "error.bad_setting"
