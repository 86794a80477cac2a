"""Embedding-cache faults: tampered manifests, read-only / full / misplaced cache folders,
kill -9 mid-write, concurrent writers, corrupted files. Each was a traceback, a SIGBUS, a
silently wrong read or a deletion outside the cache before."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

from stitchbench.errors import CacheError
from stitchbench.store import EmbeddingStore, _host, cache_key

from .conftest import FIELDS, SRC, files_under


def _data(n: int = 50, d: int = 8) -> tuple[list[str], np.ndarray]:
    rng = np.random.default_rng(0)
    return [f"doc{i}" for i in range(n)], rng.normal(size=(n, d)).astype(np.float32)


def _entry(root: Path) -> tuple[EmbeddingStore, str]:
    store = EmbeddingStore(root)
    store.put(FIELDS, *_data())
    return store, cache_key(FIELDS)


def _python(code: str, **kw: object) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    return subprocess.Popen(  # type: ignore[call-overload]
        [sys.executable, "-c", textwrap.dedent(code)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        **kw,
    )


# -- tampered manifests -------------------------------------------------------------------


def test_manifest_key_with_dotdot_never_deletes_outside_the_cache(tmp_path, cli):
    root = tmp_path / "cache"
    _, key = _entry(root)
    victims = [tmp_path / "victim.safetensors", tmp_path / "victim.json"]
    for v in victims:
        v.write_text("precious")
    man = root / f"{key}.json"
    m = json.loads(man.read_text())
    m["key"] = "../victim"
    man.write_text(json.dumps(m))
    assert cli("cache", "ls", "--cache-dir", root).code == 0
    res = cli("cache", "rm", "--all", "--cache-dir", root)
    assert res.code == 0, res.output
    assert all(v.read_text() == "precious" for v in victims)
    assert files_under(root) == []  # the tampered entry itself is gone


@pytest.mark.parametrize("content", ["null", "[1, 2]", '"text"', '{"key": 5}'])
def test_manifest_that_is_not_an_object_is_corrupt_and_removable(tmp_path, cli, content):
    root = tmp_path / "cache"
    store, key = _entry(root)
    (root / f"{key}.json").write_text(content)
    with pytest.warns(RuntimeWarning, match="corrupt"):
        assert store.get(FIELDS) is None  # read as a miss, removed
    store.put(FIELDS, *_data())
    (root / f"{key}.json").write_text(content)
    ls = cli("cache", "ls", "--cache-dir", root)
    assert ls.code == 0 and "corrupt" in ls.output, ls.output
    rm = cli("cache", "rm", "--all", "--cache-dir", root)
    assert rm.code == 0 and "removed 1 entry" in rm.output, rm.output
    assert files_under(root) == []


def test_altered_row_ids_are_caught(tmp_path):
    root = tmp_path / "cache"
    store, key = _entry(root)
    man = root / f"{key}.json"
    m = json.loads(man.read_text())
    m["ids"][0], m["ids"][1] = m["ids"][1], m["ids"][0]  # same ids, rows now mislabelled
    man.write_text(json.dumps(m))
    with pytest.warns(RuntimeWarning, match="ids"):
        assert store.get(FIELDS) is None


@pytest.mark.parametrize("damage", ["truncate", "flip", "delete-tensor", "garbage-manifest"])
def test_corrupted_files_are_recomputed_not_read(tmp_path, damage):
    root = tmp_path / "cache"
    store, key = _entry(root)
    data, man = store.paths(key)
    if damage == "truncate":
        data.write_bytes(data.read_bytes()[:-7])
    elif damage == "flip":
        raw = bytearray(data.read_bytes())
        raw[len(raw) // 2] ^= 0x10
        data.write_bytes(bytes(raw))
    elif damage == "delete-tensor":
        data.unlink()
    else:
        man.write_bytes(b"\xff\xfe\x00garbage")
    with pytest.warns(RuntimeWarning, match="corrupt"):
        assert store.get(FIELDS) is None
    ids, vecs = _data()
    store.put(FIELDS, ids, vecs)
    np.testing.assert_array_equal(np.asarray(store.get(FIELDS).vectors), vecs)


# -- the cache folder itself is unusable ---------------------------------------------------


@contextlib.contextmanager
def _mounted_tmpfs(path: Path, options: str):
    path.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(path)], capture_output=True
    )
    if done.returncode != 0:
        yield False
        return
    try:
        yield True
    finally:
        subprocess.run(["umount", "-l", str(path)], capture_output=True)


def _read_only(path: Path):
    """A read-only folder: a read-only tmpfs as root (root ignores modes), else chmod 555."""
    if os.geteuid() == 0:
        return _mounted_tmpfs(path, "ro,size=64k")

    @contextlib.contextmanager
    def chmodded():
        path.mkdir(parents=True, exist_ok=True)
        path.chmod(0o555)
        try:
            yield True
        finally:
            path.chmod(0o755)

    return chmodded()


def test_read_only_cache_on_a_miss_is_one_clear_error(tmp_path):
    root = tmp_path / "ro"
    with _read_only(root) as ok:
        if not ok:
            pytest.skip("cannot make a read-only folder here")
        store = EmbeddingStore(root)
        assert store.get(FIELDS) is None
        with pytest.raises(CacheError, match="not writable"):
            store.put(FIELDS, *_data())


def test_cache_path_that_is_a_file_is_one_clear_error(tmp_path, cli):
    root = tmp_path / "cache"
    root.write_text("not a folder")
    store = EmbeddingStore(root)
    assert store.get(FIELDS) is None
    with pytest.raises(CacheError, match="is a file"):
        store.put(FIELDS, *_data())
    assert cli("cache", "ls", "--cache-dir", root).code == 0
    assert root.read_text() == "not a folder"


_FILL = """
    import sys
    import numpy as np
    from stitchbench.errors import CacheError
    from stitchbench.store import EmbeddingStore
    fields = dict(encoder="e", model="m", corpus="c", chunking="n", split="all", kind="passage",
                  layer="final", dtype="float32")
    vecs = np.ones((400, 256), np.float32)  # 400 KB: more than the folder can take
    try:
        EmbeddingStore(sys.argv[1]).put(fields, [str(i) for i in range(400)], vecs)
    except CacheError as exc:
        print("error:", exc)
        sys.exit(2)
"""


def _fill_run(root: Path, preexec=None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(_FILL), str(root)],
        capture_output=True,
        text=True,
        env=env,
        preexec_fn=preexec,
        timeout=120,
    )


def test_full_disk_is_one_clear_error_not_sigbus(tmp_path):
    root = tmp_path / "small"
    with _mounted_tmpfs(root, "size=64k") as ok:
        if not ok:
            pytest.skip("cannot mount a small tmpfs here (needs root); see the RLIMIT test")
        done = _fill_run(root)
        assert done.returncode == 2, (done.returncode, done.stdout, done.stderr)  # SIGBUS: -7
        assert "No space left" in done.stdout and "Traceback" not in done.stderr
        assert files_under(root) == []  # no temp left behind


def test_file_size_limit_is_one_clear_error(tmp_path):
    import resource

    def limit() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # EFBIG instead of a kill
        resource.setrlimit(resource.RLIMIT_FSIZE, (64 * 1024, 64 * 1024))

    root = tmp_path / "cache"
    root.mkdir()
    done = _fill_run(root, preexec=limit)
    assert done.returncode == 2, (done.returncode, done.stdout, done.stderr)
    assert "No space left" in done.stdout
    assert files_under(root) == []


# -- interrupted and concurrent writers ----------------------------------------------------

_HALF_WRITE = """
    import sys, time
    import numpy as np
    from stitchbench.store import EmbeddingStore
    fields = dict(encoder="e", model="killed", corpus="c", chunking="n", split="all",
                  kind="passage", layer="final", dtype="float32")
    w = EmbeddingStore(sys.argv[1]).writer(fields, [str(i) for i in range(2000)], 64)
    w.write(np.arange(1000), np.ones((1000, 64), np.float32))
    print("half", flush=True)
    time.sleep(600)
"""


def test_kill_9_mid_write_leaves_a_temp_that_ls_shows_and_rm_all_removes(tmp_path, cli):
    root = tmp_path / "cache"
    _entry(root)
    writer = _python(_HALF_WRITE.replace("sys.argv[1]", repr(str(root))))
    try:
        assert writer.stdout is not None and writer.stdout.readline().strip() == "half"
        live = cli("cache", "ls", "--cache-dir", root)
        assert "writing" in live.output, live.output
        cli("cache", "rm", "--all", "--cache-dir", root)
        assert len(list(root.glob(".*.tmp"))) == 1  # a running write is never pulled away
        writer.kill()  # kill -9
        writer.wait(30)
        ls = cli("cache", "ls", "--cache-dir", root)
        assert ls.code == 0 and "stale temp" in ls.output, ls.output
        temp = next(root.glob(".*.tmp"))
        assert temp.stat().st_size > 2000 * 64 * 4  # full size: space was reserved up front
        # A rerun of the killed encode writes the entry beside the stale temp.
        fields = {**FIELDS, "encoder": "e", "model": "killed", "corpus": "c", "chunking": "n"}
        vecs = np.ones((2000, 64), np.float32)
        EmbeddingStore(root).put(fields, [str(i) for i in range(2000)], vecs)
        got = EmbeddingStore(root).get(fields)
        assert got is not None and np.array_equal(np.asarray(got.vectors), vecs)
        EmbeddingStore(root).remove_key(cache_key(fields))
        rm = cli("cache", "rm", "--all", "--cache-dir", root)
        assert rm.code == 0 and "1 stale temp" in rm.output, rm.output
        assert files_under(root) == []
    finally:
        if writer.poll() is None:
            writer.kill()
            writer.wait(30)


_SAME_KEY = """
    import sys
    import numpy as np
    from stitchbench.store import EmbeddingStore
    fields = dict(encoder="e", model="m", corpus="c", chunking="n", split="all", kind="passage",
                  layer="final", dtype="float32")
    vecs = np.arange(300 * 32, dtype=np.float32).reshape(300, 32)
    store = EmbeddingStore(sys.argv[1])
    for _ in range(5):
        store.put(fields, [str(i) for i in range(300)], vecs)
        got = store.get(fields)
        assert got is not None and np.array_equal(np.asarray(got.vectors), vecs)
    print("ok")
"""


def test_concurrent_writers_to_one_key(tmp_path):
    root = tmp_path / "cache"
    procs = [_python(_SAME_KEY.replace("sys.argv[1]", repr(str(root)))) for _ in range(4)]
    outs = [p.communicate(timeout=180) for p in procs]
    assert all(p.returncode == 0 for p in procs), outs
    assert all(o[0].strip() == "ok" for o in outs), outs
    assert not list(root.glob(".*.tmp"))
    assert len(list(root.glob("*.json"))) == 1


def test_temp_of_a_dead_writer_is_stale_within_the_hour(tmp_path):
    root = tmp_path / "cache"
    store, key = _entry(root)
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    )
    pid = int(dead.stdout)
    host = _host()
    tmp = root / f".{key}.{pid}@{host}.abc123.tmp"
    tmp.write_bytes(b"x" * 100)
    mine = root / f".{key}.{os.getpid()}@{host}.def456.tmp"
    mine.write_bytes(b"x" * 100)
    # The same dead pid on another machine sharing the folder: only age can tell.
    elsewhere = root / f".{key}.{pid}@another-host.ghi789.tmp"
    elsewhere.write_bytes(b"x" * 100)
    t = time.time() - 60  # a minute old: the old rule kept it for an hour
    for p in (tmp, elsewhere):
        os.utime(p, (t, t))
    stale = {p["path"].name: p["stale"] for p in store.temp_files()}
    assert stale == {tmp.name: True, mine.name: False, elsewhere.name: False}
    store.remove()
    assert not tmp.exists() and mine.exists() and elsewhere.exists()
