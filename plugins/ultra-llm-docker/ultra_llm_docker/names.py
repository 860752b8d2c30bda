"""Docker model references: validation against Docker's reference grammar and normalisation.

Shared by every backend that names models the Docker way, so ``smollm2``, ``ai/smollm2``,
``ai/smollm2:latest`` and ``docker.io/ai/smollm2:latest`` are one model everywhere. A name that
passes ``parse_model_reference`` is safe to put on a command line or in a URL path: it cannot
start with ``-`` and holds only ``[a-z0-9._/:@-]`` and tag characters.

Two rules follow the runner's own ``normalizeModelName`` (docker/model-runner
``pkg/distribution/distribution/client.go:143-231`` at commit 642c7211):

* ``hf.co/`` is Hugging Face's short host: ``hf.co/org/repo`` and ``huggingface.co/org/repo`` are
  one model, canonically ``huggingface.co/...`` (``client.go:154-158``; since v1.0.14 the runner
  also rewrites stored ``hf.co/`` tags, ``client.go:121-138``, so its listings show that form).
* A 12- or 64-character lower-case hex ID, or a ``sha256:`` digest of 64 hex characters, is a
  reference to a stored model by ID (``looksLikeID``/``looksLikeDigest``, ``client.go:198-231``),
  never the ``ai/`` name ``ai/<hex>:latest``: the runner resolves it against its store, or passes
  it on unchanged (``client.go:160-166``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from ultra_llm.errors import InvalidModelNameError

__all__ = [
    "DEFAULT_MODEL",
    "DEFAULT_NAMESPACE",
    "HUGGING_FACE_DOMAIN",
    "REFERENCE_FIX",
    "DEFAULT_TAG",
    "ModelReference",
    "normalize_model_name",
    "parse_model_reference",
    "same_model",
    "short_model_name",
]

DEFAULT_MODEL = "ai/smollm2"
"""The seed's default model (its ``DEFAULT_MODEL``), the Docker backends' default."""

REFERENCE_FIX = (
    "Use a reference like `ai/smollm2`, `ai/smollm2:360M-Q4_K_M`, `hf.co/org/repo:Q4_K_M` "
    "or a model ID (12 or 64 hex characters)."
)
"""The fix for a name that is not a Docker model reference."""

DEFAULT_DOMAIN = "docker.io"
DEFAULT_NAMESPACE = "ai"
DEFAULT_TAG = "latest"
_DOCKER_HUB_DOMAINS = frozenset({"docker.io", "index.docker.io", "registry-1.docker.io"})
HUGGING_FACE_DOMAIN = "huggingface.co"
_HUGGING_FACE_ALIASES = frozenset({"hf.co"})
"""Hosts that are Hugging Face: the runner rewrites ``hf.co/`` to ``huggingface.co/`` (``client.go:156``)."""
_MAX_NAME_LENGTH = 255

# Docker's distribution/reference grammar.
_PATH_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_DOMAIN_COMPONENT = r"(?:[a-z0-9]|[a-z0-9][a-z0-9-]*[a-z0-9])"
_DOMAIN = rf"(?:{_DOMAIN_COMPONENT}(?:\.{_DOMAIN_COMPONENT})*|\[[0-9a-f:]+\])(?::[0-9]+)?"
_TAG = r"[\w][\w.-]{0,127}"
_DIGEST = r"[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[0-9a-f]{32,}"
_PATH_RE = re.compile(rf"{_PATH_COMPONENT}(?:/{_PATH_COMPONENT})*")
_DOMAIN_RE = re.compile(_DOMAIN)
_TAG_RE = re.compile(_TAG, re.ASCII)
_DIGEST_RE = re.compile(_DIGEST)
_ID_RE = re.compile(r"[0-9a-f]{12}|[0-9a-f]{64}")
"""``looksLikeID``: exactly 12 or 64 characters of lower-case hex (``client.go:198-211``)."""
_ID_DIGEST_RE = re.compile(r"sha256:[0-9a-f]{64}")
"""``looksLikeDigest``: ``sha256:`` and exactly 64 lower-case hex (``client.go:213-231``)."""


@dataclass(frozen=True)
class ModelReference:
    """A parsed model reference: registry domain, repository path, tag and optional digest; or, when
    ``model_id`` is set, a reference to a stored model by its ID (domain, path and tag then empty)."""

    domain: str
    path: str
    tag: str
    digest: str | None = None
    model_id: str | None = None
    """``sha256:<64 hex>`` for a full ID or digest, the 12 hex characters for a short ID."""

    @property
    def canonical(self) -> str:
        """``[domain/]path:tag[@digest]``, with Docker Hub's domain left out; an ID as ``model_id``."""
        if self.model_id is not None:
            return self.model_id
        base = self.path if self.domain == DEFAULT_DOMAIN else f"{self.domain}/{self.path}"
        text = f"{base}:{self.tag}"
        return f"{text}@{self.digest}" if self.digest else text


def _invalid(name: str, why: str) -> InvalidModelNameError:
    return InvalidModelNameError(f"'{name}' is not a valid model name: {why}.", fix=REFERENCE_FIX)


@lru_cache(maxsize=1024)  # every request parses its model name; the answer never changes
def parse_model_reference(name: str) -> ModelReference:
    """Parse and validate ``name``; raise ``InvalidModelNameError`` saying what is wrong.

    Defaults follow Docker Model Runner: no domain means Docker Hub, no namespace means ``ai/``,
    no tag means ``latest``. Repository paths compare case-insensitively (lower-cased); tags keep case.
    ``hf.co`` becomes ``huggingface.co``; a 12- or 64-hex ID or a ``sha256:`` digest is an ID
    reference (``model_id``; a 64-hex ID is written ``sha256:<hex>``, the runner's full ID).
    """
    if not isinstance(name, str) or not name.strip():
        raise _invalid(str(name), "it is empty")
    text = name.strip()
    if len(text) > _MAX_NAME_LENGTH:
        raise _invalid(text[:40] + "...", f"it is longer than {_MAX_NAME_LENGTH} characters")
    if _ID_RE.fullmatch(text) or _ID_DIGEST_RE.fullmatch(text):
        full = len(text) != 12
        model_id = f"sha256:{text[-64:]}" if full else text
        return ModelReference(domain="", path="", tag="", model_id=model_id)
    digest: str | None = None
    if "@" in text:
        text, digest = text.split("@", 1)
        if not _DIGEST_RE.fullmatch(digest):
            raise _invalid(name, f"the digest '{digest}' is not algorithm:hex")
    tag = DEFAULT_TAG
    last_slash = text.rfind("/")
    colon = text.rfind(":")
    if colon > last_slash:
        text, tag = text[:colon], text[colon + 1 :]
        if not _TAG_RE.fullmatch(tag):
            raise _invalid(name, f"the tag '{tag}' must be letters, digits, '_', '.' or '-' (128 at most)")
    parts = text.split("/")
    first = parts[0]
    if len(parts) > 1 and ("." in first or ":" in first or first == "localhost" or first.startswith("[")):
        domain, path = first.lower(), "/".join(parts[1:]).lower()
        if not _DOMAIN_RE.fullmatch(domain):
            raise _invalid(name, f"the registry '{domain}' is not a host name")
    else:
        domain, path = DEFAULT_DOMAIN, text.lower()
    if domain in _DOCKER_HUB_DOMAINS:
        domain = DEFAULT_DOMAIN
        if "/" not in path:
            path = f"{DEFAULT_NAMESPACE}/{path}"
    elif domain in _HUGGING_FACE_ALIASES:
        domain = HUGGING_FACE_DOMAIN
    if not _PATH_RE.fullmatch(path):
        raise _invalid(name, "a repository is lower-case letters and digits separated by '/', '.', '_' or '-'")
    return ModelReference(domain=domain, path=path, tag=tag, digest=digest)


def normalize_model_name(name: str) -> str:
    """The canonical name: ``smollm2`` and ``docker.io/ai/smollm2`` both give ``ai/smollm2:latest``."""
    return parse_model_reference(name).canonical


def short_model_name(name: str) -> str:
    """The short form newer ``docker model list`` tables show: no Docker Hub domain, no ``ai/``, no ``:latest``.

    An ID reference is its own short form (so ``normalize_model_name(short_model_name(x))`` is ``x``'s canonical).
    """
    ref = parse_model_reference(name)
    if ref.model_id is not None:
        return ref.model_id
    path = ref.path
    if ref.domain == DEFAULT_DOMAIN and path.startswith(f"{DEFAULT_NAMESPACE}/"):
        path = path[len(DEFAULT_NAMESPACE) + 1 :]
    base = path if ref.domain == DEFAULT_DOMAIN else f"{ref.domain}/{path}"
    if ref.tag != DEFAULT_TAG:
        base = f"{base}:{ref.tag}"
    return f"{base}@{ref.digest}" if ref.digest else base


def same_model(left: str, right: str) -> bool:
    """True when both names refer to the same model; invalid names are never the same.

    A short ID is the same as the full ID it starts (the runner matches ``fullID[7:19]``,
    ``client.go:247-252``); an ID and a name are never the same here (only the runner's store knows).
    """
    try:
        a, b = parse_model_reference(left), parse_model_reference(right)
    except InvalidModelNameError:
        return False
    if a.model_id is not None and b.model_id is not None:
        return a.model_id == b.model_id or _short_id(a.model_id) == _short_id(b.model_id)
    return a.canonical == b.canonical


def _short_id(model_id: str) -> str:
    """The 12-hex short ID of ``sha256:<hex>`` (``docker model list -q``'s ``id[7:19]``) or of a short ID."""
    return model_id.removeprefix("sha256:")[:12]
