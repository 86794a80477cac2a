"""A hub that never answers, or cannot be reached, fails in seconds with one line.

Real sockets on loopback stand in for the hub (``HF_ENDPOINT``): one accepts connections
and never says a word, one accepts and answers only the reachability probe then goes
silent, and a closed port refuses. Before, the first hung for 900 s and more and the last
took ~90 s of retries.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator

import pytest

from stitchbench.errors import OfflineError


def _serve(answer_probe: bool) -> Iterator[int]:
    srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.1", 0))
    srv.listen(64)
    held: list[socket.socket] = []
    stop = threading.Event()

    def loop() -> None:
        srv.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = srv.accept()
            except OSError:
                continue
            held.append(conn)  # keep it open, say nothing
            if answer_probe:
                conn.settimeout(5)
                try:
                    request = conn.recv(4096)
                except OSError:
                    continue
                if request.startswith(b"HEAD "):
                    conn.sendall(
                        b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                    )
                    conn.close()

    thread = threading.Thread(target=loop, daemon=True)
    thread.start()
    try:
        yield srv.getsockname()[1]
    finally:
        stop.set()
        thread.join(2)
        for c in held:
            c.close()
        srv.close()


@pytest.fixture
def silent_hub() -> Iterator[int]:
    yield from _serve(answer_probe=False)


@pytest.fixture
def probe_only_hub() -> Iterator[int]:
    yield from _serve(answer_probe=True)


@pytest.fixture
def online(monkeypatch: pytest.MonkeyPatch, tmp_path):
    from stitchbench import settings

    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    monkeypatch.setenv("STITCHBENCH_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.setattr(settings, "_hub_checked", {}, raising=False)
    monkeypatch.setattr(settings, "HUB_READ_TIMEOUT_S", 3.0, raising=False)  # a short test
    monkeypatch.setattr(settings, "HUB_CONNECT_TIMEOUT_S", 2.0, raising=False)

    def point_at(url: str) -> None:
        monkeypatch.setenv("HF_ENDPOINT", url)
        # huggingface_hub reads its endpoint at import; point the loaded constants too.
        from huggingface_hub import constants

        monkeypatch.setattr(constants, "ENDPOINT", url)
        monkeypatch.setattr(
            constants,
            "HUGGINGFACE_CO_URL_TEMPLATE",
            url + "/{repo_id}/resolve/{revision}/{filename}",
        )

    return point_at


def _timed(fn) -> tuple[BaseException | None, float]:
    start = time.monotonic()
    try:
        fn()
    except BaseException as exc:
        return exc, time.monotonic() - start
    return None, time.monotonic() - start


def test_silent_hub_model_load_fails_in_seconds(online, silent_hub):
    from stitchbench.encoders import get_encoder

    online(f"http://127.0.0.1:{silent_hub}")
    exc, took = _timed(lambda: get_encoder("someorg/never-answers"))
    assert isinstance(exc, OfflineError), exc
    assert "not reachable" in str(exc) and "no answer" in str(exc)
    assert took < 30, took


def test_refusing_hub_fails_fast(online):
    from stitchbench.encoders import get_encoder

    online("http://127.0.0.1:9")  # nothing listens on the discard port
    exc, took = _timed(lambda: get_encoder("someorg/refused"))
    assert isinstance(exc, OfflineError), exc
    assert took < 15, took


def test_beir_download_from_a_silent_hub_fails_in_seconds(online, silent_hub):
    from stitchbench.corpora import load_corpus

    online(f"http://127.0.0.1:{silent_hub}")
    exc, took = _timed(lambda: load_corpus("beir:scifact"))
    assert isinstance(exc, OfflineError), exc
    assert "BEIR folder" in str(exc) or "BEIR layout" in str(exc)
    assert took < 30, took


@pytest.mark.slow
def test_hub_that_goes_silent_after_the_probe_is_bounded(online, probe_only_hub):
    """Reachable at first, then no answer: huggingface_hub's own calls (some made with no
    timeout at all) are bounded by the timeouts stitchbench gives its HTTP client."""
    from stitchbench.encoders import get_encoder

    online(f"http://127.0.0.1:{probe_only_hub}")
    exc, took = _timed(lambda: get_encoder("someorg/goes-silent"))
    assert isinstance(exc, OfflineError | OSError), exc
    assert took < 120, took


def test_timeouts_are_set_when_unset(online, monkeypatch):
    import os

    from stitchbench import settings

    monkeypatch.delenv("HF_HUB_ETAG_TIMEOUT", raising=False)
    monkeypatch.setenv("HF_HUB_DOWNLOAD_TIMEOUT", "77")
    online("http://127.0.0.1:9")
    with pytest.raises(OfflineError):
        settings.prepare_hub()
    assert os.environ["HF_HUB_ETAG_TIMEOUT"] == "10"
    assert os.environ["HF_HUB_DOWNLOAD_TIMEOUT"] == "77"  # the user's value stands
