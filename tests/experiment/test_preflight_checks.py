"""Preflight's checks as functions (the command-line cases are in
tests/reliability/test_preflight.py): curve sizes per dataset, the space estimate on
resume, models forgotten after their probe when the tasks run elsewhere."""

from __future__ import annotations

from pathlib import Path

import pytest

from stitchbench.errors import DataError
from stitchbench.experiment.config import load_config, parse_config
from stitchbench.experiment.plan import make_plan
from stitchbench.experiment.preflight import _check_curve, _probe_models, estimate_bytes

EXPERIMENTS = Path(__file__).resolve().parents[2] / "experiments"


def test_a_curve_size_one_dataset_cannot_take_is_left_out_there_not_refused() -> None:
    """offline-large sweeps to 16,000 pairs; BBC News has a pool of 1,113: those points are
    left out on BBC (a warning), kept on the Bible (the review found the preset refused)."""
    cfg = load_config(EXPERIMENTS / "offline-large.toml")
    warned: list[str] = []
    _check_curve(cfg, lambda _: None, warned)
    assert warned == [
        "curve pairs 4000, 16000 left out on bbc-news (its training pool is 1113 pairs)."
    ]
    sizes = {(t.spec["dataset"], t.spec["n_pairs"]) for t in make_plan(cfg) if t.kind == "curve"}
    assert ("bible", 16000) in sizes and ("bbc-news", 1000) in sizes
    assert ("bbc-news", 4000) not in sizes and ("bbc-news", 16000) not in sizes


def test_a_curve_size_no_dataset_can_take_is_refused() -> None:
    cfg = parse_config(
        {
            "data": {"datasets": ["bible"], "max_docs": 300},
            "models": {"names": ["static-64", "glove-50d"]},
            "curve": {"pairs": [50, 5000], "kinds": ["affine"], "candidates": 100},
        }
    )
    with pytest.raises(DataError, match="5000 exceed the training pool of every dataset"):
        _check_curve(cfg, lambda _: None, [])


def test_space_estimate_counts_only_unfinished_embeddings(tmp_path: Path) -> None:
    cfg = parse_config(
        {
            "data": {"datasets": ["bible"], "max_docs": 300},
            "models": {"names": ["static-64", "glove-50d"]},
            "stitches": {"kinds": ["affine"]},
        }
    )
    plan = make_plan(cfg)
    dims = {"static-64": 64, "glove-50d": 50}
    assert estimate_bytes(cfg, plan, tmp_path, dims) == 4 * 300 * (64 + 50)
    (tmp_path / "parts").mkdir()
    done = next(t for t in plan if t.kind == "embed" and t.spec["model"] == "static-64")
    (tmp_path / "parts" / f"{done.key}.parquet").write_bytes(b"")
    assert estimate_bytes(cfg, plan, tmp_path, dims) == 4 * 300 * 50


def test_probed_models_are_forgotten_when_tasks_run_elsewhere() -> None:
    from stitchbench.encoders import registry

    registry.unload_encoder("static-64")
    assert _probe_models(["static-64"], "cpu", keep_loaded=False) == {"static-64": 64}
    assert not any(k[0] == "static-64" for k in registry._LOADED)
    _probe_models(["static-64"], "cpu", keep_loaded=True)
    assert any(k[0] == "static-64" for k in registry._LOADED)


@pytest.mark.parametrize(
    ("curve", "needle"),
    [
        ({"source": "mpnet-base"}, "curve.source"),
        ({"source": "static-64", "target": "static-64"}, "curve.target"),
        ({"retrieval": "yes"}, "curve.retrieval"),
    ],
)
def test_curve_direction_and_retrieval_keys_are_checked(curve: dict, needle: str) -> None:
    from stitchbench.experiment.config import ConfigError

    with pytest.raises(ConfigError, match=needle):
        parse_config(
            {
                "models": {"names": ["static-64", "glove-50d"]},
                "curve": {"pairs": [50], "kinds": ["affine"], **curve},
            }
        )
