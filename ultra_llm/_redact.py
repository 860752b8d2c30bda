"""Credentials out of what is shown: URLs in settings, errors, logs and listings keep their shape
but not their secrets (the user-info before ``@`` and every query value become ``***``).

``redact_urls`` masks a text; every ``UltraLLMError`` passes its message and fix through it, and
``RedactingFilter`` does the same for log records (the CLI puts it on its log handlers, a backend
on the logger of an HTTP library that prints request URLs).
"""

from __future__ import annotations

import logging
import re

__all__ = ["RedactingFilter", "redact_logger", "redact_urls"]

# A scheme starts where no scheme character precedes it: one attempt per run of letters, so the
# scan stays linear on long text (an error message may quote a large body).
_URL = re.compile(r"(?<![A-Za-z0-9+.-])[A-Za-z][A-Za-z0-9+.-]*://[^\s'\"<>,]+")
_USERINFO = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*://)[^/?#]*@")  # to the last @ of the authority
_QUERY_VALUE = re.compile(r"([?&;][^=&;#]*=)[^&;#]*")


def _redact_one(match: re.Match[str]) -> str:
    url = _USERINFO.sub(r"\1***@", match.group(0))
    head, sep, query = url.partition("?")
    return head + sep + _QUERY_VALUE.sub(r"\1***", "?" + query)[1:] if sep else url


def redact_urls(text: str) -> str:
    """``text`` with each URL's credentials masked: ``http://u:p@h/x?key=k`` -> ``http://***@h/x?key=***``.

    Works on malformed URLs too (no parsing that can fail), in time linear in ``text``: it is meant
    for error messages and log lines."""
    return _URL.sub(_redact_one, text) if "://" in text else text


class RedactingFilter(logging.Filter):
    """A logging filter that masks URL credentials in each record's message (it never drops one)."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Rewrite ``record`` in place when its formatted message holds a URL with something to mask."""
        try:
            message = record.getMessage()
        except Exception:  # a record whose args do not fit its format: leave it to the handler
            return True
        masked = redact_urls(message)
        if masked != message:
            record.msg, record.args = masked, None
        return True


def redact_logger(name: str) -> None:
    """Put one ``RedactingFilter`` on the logger ``name`` (again: nothing more), for the records it creates."""
    logger = logging.getLogger(name)
    if not any(isinstance(existing, RedactingFilter) for existing in logger.filters):
        logger.addFilter(RedactingFilter())
