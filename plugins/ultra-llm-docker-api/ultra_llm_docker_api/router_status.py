"""Which models a multi-model server has loaded, read from its OpenAI ``GET /v1/models`` list.

llama.cpp's ``llama-server`` in router mode (started with ``--models-dir`` or ``--models-preset`` and
no ``-m``) serves several models, one child server per loaded model, and says in each entry of its
models list (``GET /models`` and ``GET /v1/models``, the same handler) where that model stands. At
b9878 (``tools/server/server-models.cpp:1703-1774``) an entry is::

    {"id": "tiny-a", "aliases": [], "tags": [], "object": "model", "owned_by": "llamacpp",
     "created": 1796677625,
     "status": {"value": "loaded", "args": [...the child's command line...], "preset": "[tiny-a]\\n..."},
     "architecture": {"input_modalities": ["text"], "output_modalities": ["text"]},
     "source": "models_dir", "can_remove": false,
     "meta": {"n_ctx": 2048, "n_ctx_train": 2048, ...}}

``status.value`` is one of ``unloaded``, ``loading``, ``loaded``, ``sleeping``, ``downloading``,
``downloaded`` (``server-models.h:51-61``); a model whose last load failed is ``unloaded`` with
``"failed": true`` and its ``exit_code`` (``server-models.cpp:1726-1729``). ``meta`` (the child's
own model info) is there only while the model's child runs (``server-models.cpp:1760-1766``).
A single-model llama-server, Docker Model Runner, Ollama and other OpenAI-compatible servers give
no ``status``: whether their models are loaded is not said, and ``model_states`` answers ``None``.

No I/O here: decoded JSON in, a mapping out; junk never raises.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import Enum

__all__ = ["ModelState", "loaded_models", "model_states"]


class ModelState(str, Enum):
    """Where a router's model stands (a ``str``: ``ModelState.LOADED == "loaded"``).

    - ``LOADED``: its child server runs with the model in memory; a request is answered at once.
    - ``LOADING``: its child is starting; a request for it waits until it is loaded (the router
      holds the request, ``server-models.cpp:1238-1270``) and then is answered.
    - ``SLEEPING``: its child runs but has let the model go after ``--sleep-idle-seconds`` of
      idleness; a request wakes it (reloading the weights first). It still counts toward
      ``--models-max``.
    - ``UNLOADED``: no child; a request starts one (and, at ``--models-max``, first unloads the least
      recently used model, cutting that model's requests in flight).
    - ``FAILED``: no child, and the last one exited with a non-zero code (``"failed": true``,
      ``exit_code``): its load failed (a request waiting for it got 500 ``model name=X failed to
      load``), it crashed, or the router killed it (an unload that outlasted the router's stop
      timeout, 10 s, as when the model was evicted with a request in flight; or a load cut short by
      another model's eviction). The next request tries to load it again, which may well work;
      a successful load clears the flag.
    - ``DOWNLOADING``: being downloaded into the router's cache (``POST /models``); not servable yet.
    - ``DOWNLOADED``: a finished download, listed until the router rereads its sources.
    - ``UNKNOWN``: a ``status`` this module does not know (a later llama.cpp).

    Only ``LOADED`` is warm. ``LOADING``, ``SLEEPING``, ``UNLOADED`` and (if its load works)
    ``FAILED`` models are answered after a delay; ``DOWNLOADING`` and ``DOWNLOADED`` ones not.
    """

    LOADED = "loaded"
    LOADING = "loading"
    SLEEPING = "sleeping"
    UNLOADED = "unloaded"
    FAILED = "failed"
    DOWNLOADING = "downloading"
    DOWNLOADED = "downloaded"
    UNKNOWN = "unknown"


_BY_VALUE = {state.value: state for state in ModelState if state not in (ModelState.FAILED, ModelState.UNKNOWN)}


def _entry_state(entry: Mapping[object, object]) -> ModelState | None:
    """The state an entry's ``status`` gives, or ``None`` when it has no readable one.

    ``status`` is b9878's object (``{"value": ..., "failed": ...}``); a bare string is read too."""
    status = entry.get("status")
    failed = False
    if isinstance(status, Mapping):
        failed = status.get("failed") is True
        status = status.get("value")
    if not isinstance(status, str) or not status:
        return None
    state = _BY_VALUE.get(status.strip().lower(), ModelState.UNKNOWN)
    if state is ModelState.UNLOADED and failed:
        return ModelState.FAILED
    return state


def model_states(listing: object) -> dict[str, ModelState] | None:
    """Each name a models list answers to, mapped to its model's ``ModelState``; ``None`` when no
    entry carries a router ``status`` (a plain server: whether a model is loaded is unknown).

    ``listing`` is the decoded body of ``GET <base>/v1/models`` (``{"data": [...]}``; a bare list of
    entries is read too). Names are each entry's ``id`` and its ``aliases`` (a router's own aliases,
    from a preset's ``alias``); an alias never replaces an ``id``, and of two entries with one name
    the first counts. Entries that are not objects, have no non-empty string ``id`` or no readable
    ``status`` are left out, as are names that are not non-empty strings. Never raises on junk.
    """
    data = listing.get("data") if isinstance(listing, Mapping) else listing
    if not isinstance(data, list):
        return None
    states: dict[str, ModelState] = {}
    aliases: dict[str, ModelState] = {}
    found = False
    for entry in data:
        if not isinstance(entry, Mapping):
            continue
        state = _entry_state(entry)
        if state is None:
            continue
        found = True
        name = entry.get("id")
        if not isinstance(name, str) or not name:
            continue
        states.setdefault(name, state)
        more = entry.get("aliases")
        for alias in more if isinstance(more, list) else ():
            if isinstance(alias, str) and alias:
                aliases.setdefault(alias, state)
    if not found:
        return None
    for alias, state in aliases.items():
        states.setdefault(alias, state)
    return states


def loaded_models(listing: object) -> frozenset[str] | None:
    """The names whose model is ``LOADED`` (warm), or ``None`` when the list says nothing about it."""
    states = model_states(listing)
    if states is None:
        return None
    return frozenset(name for name, state in states.items() if state is ModelState.LOADED)
