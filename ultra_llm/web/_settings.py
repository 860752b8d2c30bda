"""The web server's settings: token, CORS origins, body cap, allowed hosts (``ULTRA_LLM_WEB_*``).

Read only when the web app is built. ``WebSettings.check_bind(host)`` enforces the one rule the
server must never break: anything but loopback needs a token.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import ClassVar

from .._settings import Secret, Settings, setting
from ..errors import ConfigurationError

__all__ = ["LOOPBACK_HOSTS", "MIN_TOKEN_LENGTH", "WebSettings", "is_loopback"]

MIN_TOKEN_LENGTH = 16
LOOPBACK_HOSTS: tuple[str, ...] = ("127.0.0.1", "localhost", "::1", "[::1]")
TOKEN_FIX = (
    "Set ULTRA_LLM_WEB_TOKEN to a long random secret, e.g. "
    "`export ULTRA_LLM_WEB_TOKEN=$(python -c 'import secrets; print(secrets.token_urlsafe(32))')`, "
    "or bind to 127.0.0.1 (the default)."
)


def is_loopback(host: str) -> bool:
    """True for ``localhost`` and loopback addresses (``127.0.0.0/8``, ``::1``); false for ``0.0.0.0``."""
    name = host.strip().strip("[]").lower()
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def _token(value: Secret | None) -> Secret | None:
    if value is None:
        return None
    text = value.get().strip()
    if not text:
        return None
    if len(text) < MIN_TOKEN_LENGTH:
        raise ValueError(f"must be at least {MIN_TOKEN_LENGTH} characters long")
    if not all("!" <= char <= "~" for char in text):  # what an Authorization header can carry
        raise ValueError(
            "must be visible ASCII characters only (letters, digits, punctuation; no spaces, control "
            "characters or other text): a client could never send it"
        )
    return Secret(text)


@dataclass(frozen=True)
class WebSettings(Settings):
    """``ULTRA_LLM_WEB_*`` variables. Values passed to ``load`` win over the environment."""

    env_prefix: ClassVar[str] = "ULTRA_LLM_WEB_"

    token: Secret | None = setting(
        None,
        help=f"Bearer token every API request must carry (at least {MIN_TOKEN_LENGTH} visible ASCII characters). "
        "Required when the server binds anything but loopback.",
        check=_token,
    )
    cors_origins: str = setting(
        "", help="Comma-separated origins allowed to call the API from a browser (CORS). Empty: CORS off."
    )
    max_body_bytes: int = setting(
        11 * 1_048_576,
        ge=1024,
        le=256 * 1_048_576,
        help="Largest request body accepted, in bytes (413 above). The default, 11 MiB, fits images and stays "
        "just above a local server's usual 10 MiB cap, so the server's own error speaks for bodies it refuses.",
    )
    allowed_hosts: str = setting(
        "",
        help="Comma-separated extra Host header values accepted without a token "
        "(loopback names always are); guards against DNS rebinding.",
    )

    @property
    def token_bytes(self) -> bytes | None:
        """The token as UTF-8 bytes (what ``hmac.compare_digest`` compares), or ``None``."""
        return None if self.token is None else self.token.get().encode("utf-8")

    @property
    def cors_origin_list(self) -> list[str]:
        """``cors_origins`` split on commas, blanks dropped."""
        return [origin.strip() for origin in self.cors_origins.split(",") if origin.strip()]

    @property
    def allowed_host_list(self) -> list[str]:
        """Host header values accepted when no token is set: loopback names plus ``allowed_hosts``."""
        extra = [host.strip() for host in self.allowed_hosts.split(",") if host.strip()]
        return [*LOOPBACK_HOSTS, *extra]

    def allowed_hosts_for(self, bind_host: str | None) -> list[str]:
        """``allowed_host_list``, plus ``bind_host`` when it is a loopback address (``127.0.0.2``,
        ``[::1]`` written out ...): a server answers its own URL, and only this machine can reach it."""
        hosts = self.allowed_host_list
        if bind_host is None or not is_loopback(bind_host):
            return hosts
        name = bind_host.strip().strip("[]").lower()
        return [*hosts, f"[{name}]" if ":" in name else name]

    def check_bind(self, host: str) -> None:
        """Raise ``ConfigurationError`` when ``host`` is not loopback and no token is set."""
        if self.token is None and not is_loopback(host):
            raise ConfigurationError(
                f"Refusing to serve on {host!r} without a token: anyone who can reach it could pull, "
                "remove and run models.",
                fix=TOKEN_FIX,
            )
