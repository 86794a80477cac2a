"""Experiment files: the issue's schema works; bad keys are one line naming the key."""

from __future__ import annotations

import subprocess
import sys
import tomllib

import pytest
from tests.experiment.conftest import schema

from stitchbench.experiment.config import (
    ConfigError,
    config_toml,
    load_config,
    parse_config,
    read_saved_config,
    save_config,
)


def _raw(text: str) -> dict:
    return tomllib.loads(text)


def test_issue_schema_parses_with_sweep_points():
    cfg = parse_config(_raw(schema(["minilm-l6", "static-64"], 300)))
    assert cfg.run.name == "small" and cfg.data.max_docs == 300
    assert cfg.models.names == ("minilm-l6", "static-64") and cfg.models.layers == "final"
    assert cfg.stitches.points("mlp") == [{"depth": 1, "epochs": 5}, {"depth": 2, "epochs": 5}]
    assert cfg.stitches.points("affine") == [{}]
    assert cfg.retrieval.modes == ("query",) and cfg.retrieval.kinds == ("affine",)


def test_sequence_parameter_flat_list_is_a_value_list_of_lists_a_sweep():
    base = _raw(schema())
    base["stitches"]["params"]["affine"] = {"alphas": [0.0, 1.0]}
    assert parse_config(base).stitches.points("affine") == [{"alphas": (0.0, 1.0)}]
    base["stitches"]["params"]["affine"] = {"alphas": [[0.0], [1.0, 2.0]]}
    assert parse_config(base).stitches.points("affine") == [
        {"alphas": (0.0,)},
        {"alphas": (1.0, 2.0)},
    ]


@pytest.mark.parametrize(
    ("edit", "key", "allowed"),
    [
        (lambda r: r["stitches"].update(kinds=["mean", "afine"]), "stitches.kinds[1]", "affine"),
        (lambda r: r["models"].update(names=["static-64", "nope"]), "models.names[1]", "minilm-l6"),
        (lambda r: r["measures"].update(names=["cka"]), "measures.names[0]", "linear_cka"),
        (lambda r: r["data"].update(datasets=["bibel"]), "data.datasets[0]", "bible"),
        (lambda r: r["data"].update(max_doc=3), "data.max_doc", "max_docs"),
        (lambda r: r.update(extra={}), "extra", "retrieval"),
        (lambda r: r["data"].update(max_docs="300"), "data.max_docs", "integer"),
        (
            lambda r: r["stitches"]["params"]["mlp"].update(dept=2),
            "stitches.params.mlp.dept",
            "depth",
        ),
        (
            lambda r: r["stitches"]["params"]["mlp"].update(epochs=[5, "x"]),
            "stitches.params.mlp.epochs[1]",
            "integer",
        ),
        (lambda r: r["retrieval"].update(modes=["both"]), "retrieval.modes[0]", "corpus"),
        (lambda r: r["retrieval"].update(kinds=["procrustes"]), "retrieval.kinds[0]", "affine"),
        (lambda r: r["models"].update(layers="last"), "models.layers", "all"),
    ],
)
def test_bad_key_is_one_line_naming_key_and_allowed_values(edit, key, allowed):
    raw = _raw(schema())
    edit(raw)
    with pytest.raises(ConfigError) as info:
        parse_config(raw)
    msg = str(info.value)
    assert f"`{key}`" in msg and allowed in msg and "\n" not in msg


def test_resolved_config_round_trips_with_version(tmp_path):
    cfg = parse_config(_raw(schema()))
    path = save_config(cfg, tmp_path / "config.toml")
    text = path.read_text()
    assert 'stitchbench_version = "0.1.0"' in text
    assert read_saved_config(path) == cfg
    assert config_toml(cfg) == text


def test_cli_bad_config_exits_2_with_one_line_before_work(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text(schema().replace('"mean", "affine", "mlp"', '"mean", "afine"'))
    out = tmp_path / "out"
    res = subprocess.run(
        [
            sys.executable,
            "-c",
            "from stitchbench.cli import main; main()",
            "run",
            str(bad),
            "--out",
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=600,  # generous: the CI machine may be shared
    )
    assert res.returncode == 2, res.stdout + res.stderr
    lines = [ln for ln in res.stderr.splitlines() if ln.strip()]  # errors go to stderr
    assert len(lines) == 1 and "stitches.kinds[1]" in lines[0] and "affine" in lines[0]
    assert not res.stdout.strip()
    assert not out.exists()  # nothing was started


def test_missing_file_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "nope.toml")


def test_task_keys_spell_out_a_default_that_changed():
    """semi's pseudo-pairing default changed ("mutual" → "auto"): its points name it, so a
    run's cached semi fits of the old default are never reused; other kinds' keys (and
    their caches) stay as they were."""
    from stitchbench.experiment.config import parse_config

    def cfg(params):
        return parse_config(
            {
                "data": {"datasets": ["bible"]},
                "models": {"names": ["static-64", "glove-50d"]},
                "stitches": {"kinds": ["affine", "semi"], "params": params},
            }
        )

    # ... and so does its pairs' correction (on since 2026-12-07).
    assert cfg({}).stitches.points("semi") == [{"pseudo": "auto", "pair_correction": True}]
    assert cfg({}).stitches.points("affine") == [{}]
    given = cfg({"semi": {"pseudo": "mutual", "alpha": 2.0}}).stitches.points("semi")
    assert given == [{"pseudo": "mutual", "pair_correction": True, "alpha": 2.0}]
