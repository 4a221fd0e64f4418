"""Logging that never shows a token or an API key.

Bot tokens appear in Telegram's request URLs, and libraries log URLs; a filter on every
handler replaces each configured secret with ``***`` before anything is written.
"""

from __future__ import annotations

import logging

from .settings import Settings


class RedactSecrets(logging.Filter):
    def __init__(self, secrets: list[str]) -> None:
        super().__init__()
        self.secrets = [s for s in secrets if len(s) >= 6]

    def filter(self, record: logging.LogRecord) -> bool:
        if not self.secrets:
            return True
        if record.exc_info and not record.exc_text:
            # handler filters run before formatting: render the traceback now so it can be redacted
            record.exc_text = logging.Formatter().formatException(record.exc_info)
            record.exc_info = None
        message = record.getMessage()
        redacted = message
        for s in self.secrets:
            redacted = redacted.replace(s, "***")
        if redacted != message:
            record.msg = redacted
            record.args = None
        for s in self.secrets:
            if record.exc_text:
                record.exc_text = record.exc_text.replace(s, "***")
            if record.stack_info:
                record.stack_info = record.stack_info.replace(s, "***")
        return True


def redact_secrets(settings: Settings) -> RedactSecrets:
    """Install the filter on every handler of the root logger (call after logging is configured)."""
    flt = RedactSecrets(settings.secrets())
    root = logging.getLogger()
    if not root.handlers:
        logging.basicConfig(level=settings.log_level.upper())
    for handler in root.handlers:
        handler.addFilter(flt)
    return flt
