"""Credentials out of what is shown: URLs in settings, errors, logs and listings keep their shape
but not their secrets (the user-info before ``@`` and every query value become ``***``)."""

from __future__ import annotations

import re

__all__ = ["redact_urls"]

_URL = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://[^\s'\"<>,]+")
_USERINFO = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*://)[^/?#@]*@")
_QUERY_VALUE = re.compile(r"([?&;][^=&;#]*=)[^&;#]*")


def _redact_one(match: re.Match[str]) -> str:
    url = _USERINFO.sub(r"\1***@", match.group(0))
    head, sep, query = url.partition("?")
    return head + sep + _QUERY_VALUE.sub(r"\1***", "?" + query)[1:] if sep else url


def redact_urls(text: str) -> str:
    """``text`` with each URL's credentials masked: ``http://u:p@h/x?key=k`` -> ``http://***@h/x?key=***``.

    Works on malformed URLs too (no parsing that can fail): it is meant for error messages."""
    return _URL.sub(_redact_one, text) if "://" in text else text
