"""Device plumbing: one check for every --device, and the device reaching torch on CPU.

No GPU is lent to this project's machines: the CUDA branches are tested only for their
refusal here; moving work onto a real GPU is untested.
"""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import torch
from tests.conftest import require_model

from stitchbench.devices import NO_CUDA, resolve_device
from stitchbench.errors import DataError

no_cuda = pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")


@pytest.mark.parametrize("asked", ["cpu", " CPU ", None, torch.device("cpu")])
def test_cpu_spellings_resolve_to_cpu(asked):
    assert resolve_device(asked) == "cpu"


def test_auto_picks_cuda_only_when_present():
    assert resolve_device("auto") == ("cuda" if torch.cuda.is_available() else "cpu")


@pytest.mark.parametrize("asked", ["tpu", "cuda:x", "gpu", "cuda:"])
def test_unknown_device_names_the_choices(asked):
    with pytest.raises(DataError, match=r"Unknown device .*cpu, auto, cuda, cuda:N"):
        resolve_device(asked)


@no_cuda
@pytest.mark.parametrize("asked", ["cuda", "cuda:0", "CUDA:1", torch.device("cuda")])
def test_cuda_without_cuda_is_one_clear_line(asked):
    with pytest.raises(DataError) as info:
        resolve_device(asked)
    assert str(info.value) == NO_CUDA == "CUDA is not available here; use --device cpu"


@no_cuda
def test_search_refuses_cuda_with_the_same_line():
    from stitchbench.knn import search

    x = np.random.default_rng(0).normal(size=(8, 4)).astype(np.float32)
    with pytest.raises(DataError, match="CUDA is not available here"):
        search(x, x, 2, device="cuda")


def test_search_gives_the_same_answer_on_every_cpu_spelling():
    from stitchbench.knn import search

    rng = np.random.default_rng(1)
    q, d = rng.normal(size=(30, 16)), rng.normal(size=(200, 16))
    ref = search(q, d, 5, block_size=64, device="cpu")
    for dev in ("auto", torch.device("cpu")) if not torch.cuda.is_available() else ():
        got = search(q, d, 5, block_size=64, device=dev)
        np.testing.assert_array_equal(got[0], ref[0])
        np.testing.assert_array_equal(got[1], ref[1])


def _xy(n: int = 300) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(2)
    X = rng.normal(size=(n, 6))
    return X, np.tanh(X @ rng.normal(size=(6, 5)))


@no_cuda
def test_mlp_refuses_cuda_before_training():
    from stitchbench.stitches import MLPStitch

    stitch = MLPStitch(depth=2, epochs=3, device="cuda")
    with pytest.raises(DataError, match="CUDA is not available here"):
        stitch.fit(*_xy())
    assert not hasattr(stitch, "module_")


def test_mlp_device_reaches_the_weights_and_auto_equals_cpu():
    from stitchbench.stitches import MLPStitch

    X, Y = _xy()
    cpu = MLPStitch(depth=2, epochs=3, mode="plain", device="cpu").fit(X, Y)
    auto = MLPStitch(depth=2, epochs=3, mode="plain", device="auto").fit(X, Y)
    expected = resolve_device("auto")
    assert {p.device.type for p in auto.module_.parameters()} == {expected.split(":")[0]}
    assert {p.device.type for p in cpu.module_.parameters()} == {"cpu"}
    if expected == "cpu":  # the same seed on the same device: the same network
        np.testing.assert_array_equal(auto.predict(X), cpu.predict(X))


def test_saved_mlp_with_a_cuda_device_still_loads_here(tmp_path):
    from stitchbench.stitches import MLPStitch, load_stitch

    X, Y = _xy()
    stitch = MLPStitch(depth=2, epochs=2, mode="plain").fit(X, Y)
    stitch.device = "cuda"  # as if trained on a GPU machine and copied here
    stitch.save(tmp_path / "s")
    back = load_stitch(tmp_path / "s")
    want = "cuda" if torch.cuda.is_available() else "cpu"
    assert next(back.module_.parameters()).device.type == want
    np.testing.assert_allclose(back.predict(X), stitch.predict(X), rtol=0, atol=1e-6)


@no_cuda
@pytest.mark.parametrize("alias", ["static-64", "minilm-l6"])
def test_get_encoder_refuses_cuda_before_loading(alias):
    from stitchbench.encoders import get_encoder

    require_model(alias)
    with pytest.raises(DataError, match="CUDA is not available here"):
        get_encoder(alias, device="cuda")


def test_transformer_alias_runs_where_it_is_asked():
    from stitchbench.encoders import get_encoder

    require_model("minilm-l6")
    enc = get_encoder("minilm-l6", device="auto")
    assert enc.device == resolve_device("auto")  # type: ignore[attr-defined]
    assert enc.model.device.type == enc.device.split(":")[0]  # type: ignore[attr-defined]
    v = enc.encode(["a short verse", "another one"])
    ref = get_encoder("minilm-l6").encode(["a short verse", "another one"])
    np.testing.assert_allclose(v, ref, atol=1e-5)


def test_cpu_only_backend_checks_and_stays_on_cpu():
    from stitchbench.encoders import get_encoder

    require_model("static-64")
    enc = get_encoder("static-64", device="auto")
    assert enc.to_device("cpu") is enc
    with pytest.raises(DataError, match="Unknown device"):
        enc.to_device("tpu")


@no_cuda
def test_cli_device_cuda_is_one_line_and_exit_2(tmp_path):
    proc = subprocess.run(
        [
            sys.executable,
            "-c",
            "from stitchbench.cli import main; main()",
            "retrieve",
            "--device",
            "cuda",
            "--query-model",
            "static-64",
            "--index-model",
            "glove-50d",
            "--out",
            str(tmp_path / "out"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2, proc.stdout + proc.stderr
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), proc.stderr
    assert lines[0].endswith(NO_CUDA), proc.stderr
    assert not (tmp_path / "out").exists()


@no_cuda
def test_experiment_file_asking_for_cuda_fails_before_any_work(tmp_path):
    from stitchbench.experiment.config import ConfigError, load_config

    cfg = tmp_path / "gpu.toml"
    cfg.write_text('[run]\ndevice = "cuda"\n[models]\nnames = ["static-64"]\n')
    with pytest.raises(ConfigError) as info:
        load_config(cfg)
    assert str(info.value) == f"config key `run.device`: {NO_CUDA}"
    cfg.write_text('[run]\ndevice = "auto"\n[models]\nnames = ["static-64"]\n')
    assert load_config(cfg).run.device == "auto"  # kept as written; resolved where used
