"""The shipped experiment presets say what issue 9 promises and name only known things."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from stitchbench.corpora import list_corpora
from stitchbench.encoders import MODELS
from stitchbench.measures import list_measures
from stitchbench.stitches.base import STITCH_KINDS

EXPERIMENTS = Path(__file__).resolve().parents[1] / "experiments"
PRESETS = sorted(EXPERIMENTS.glob("*.toml"))
SECTIONS = {"run", "data", "models", "stitches", "measures", "retrieval", "curve"}
# Every kind that maps between spaces of any width (identity needs equal widths).
PAIRED_KINDS = {"mean", "linear", "affine", "lowrank", "procrustes", "kernel", "mlp"}

LEAD_MODELS = [
    "WhereIsAI/UAE-Large-V1",
    "BAAI/bge-small-en-v1.5",
    "BAAI/bge-base-en-v1.5",
    "BAAI/bge-large-en-v1.5",
    "intfloat/e5-small-v2",
    "intfloat/e5-base-v2",
    "intfloat/e5-large-v2",
    "thenlper/gte-small",
    "thenlper/gte-base",
    "thenlper/gte-large",
    "sentence-transformers/gtr-t5-base",
    "sentence-transformers/gtr-t5-large",
    "sentence-transformers/sentence-t5-base",
    "sentence-transformers/sentence-t5-large",
    "mixedbread-ai/mxbai-embed-large-v1",
    "openai:text-embedding-3-small",
    "openai:text-embedding-3-large",
]
LEAD_DATASETS = ["arguana", "fiqa", "scidocs", "nfcorpus", "hotpotqa", "trec-covid"]


def load(name: str) -> dict:
    return tomllib.loads((EXPERIMENTS / name).read_text())


def test_the_three_presets_ship():
    names = {p.name for p in PRESETS}
    assert {"offline-full.toml", "lead.toml"} <= names


@pytest.mark.parametrize("path", PRESETS, ids=lambda p: p.name)
def test_every_preset_names_only_known_things(path):
    cfg = tomllib.loads(path.read_text())
    assert set(cfg) <= SECTIONS, set(cfg) - SECTIONS
    for m in cfg["models"]["names"]:
        # packaged alias, hub id (org/name) or an OpenAI-compatible API model
        assert m in MODELS or m.startswith("openai:") or m.count("/") == 1, m
    for d in cfg["data"]["datasets"]:
        assert d in list_corpora(), d
    kinds = cfg["stitches"]["kinds"] + cfg.get("retrieval", {}).get("kinds", [])
    for k in kinds + cfg.get("curve", {}).get("kinds", []):
        assert k in STITCH_KINDS, k
    for name in cfg.get("measures", {}).get("names", []):
        assert name in list_measures(), name
    assert set(cfg.get("retrieval", {}).get("modes", [])) <= {"query", "corpus"}
    assert cfg["models"].get("layer_pairs", "all") in {"all", "to_final", "final"}
    assert cfg["run"].get("device", "cpu") in {"cpu", "auto", "cuda"}


def test_offline_full_covers_everything_offline():
    cfg = load("offline-full.toml")
    assert cfg["models"]["names"] == list(MODELS)  # every packaged model, mpnet-base too
    assert "mpnet-base" in cfg["models"]["names"]
    assert cfg["data"]["datasets"] == ["bible", "bbc-news"]
    assert cfg["models"]["layers"] == "all"
    assert set(cfg["stitches"]["kinds"]) >= PAIRED_KINDS
    assert cfg["stitches"]["params"]["mlp"]["depth"] == [1, 2, 3, 4, 5, 6, 7]
    assert sorted(cfg["measures"]["names"]) == list_measures()
    assert cfg["measures"]["calibrate"] > 0
    assert sorted(cfg["retrieval"]["modes"]) == ["corpus", "query"]
    assert cfg["run"]["device"] == "cpu"


def test_offline_large_is_every_model_on_every_document():
    cfg = load("offline-large.toml")
    assert cfg["models"]["names"] == list(MODELS) and cfg["models"]["layers"] == "final"
    assert cfg["data"] == {"datasets": ["bible", "bbc-news"], "max_docs": 0}
    assert set(cfg["stitches"]["kinds"]) >= PAIRED_KINDS
    assert sorted(cfg["stitches"]["params"]["mlp"]["depth"]) == [1, 2, 4]
    assert {"affine", "kernel", "mlp"} <= set(cfg["curve"]["kinds"])
    assert max(cfg["curve"]["pairs"]) >= 16000


def test_lead_is_the_studys_grid():
    cfg = load("lead.toml")
    assert cfg["models"]["names"] == LEAD_MODELS
    assert cfg["data"]["datasets"] == LEAD_DATASETS
    assert cfg["models"]["layers"] == "all"
    assert {"affine", "mlp"} <= set(cfg["stitches"]["kinds"])
    assert cfg["stitches"]["params"]["mlp"]["depth"] == [2, 3, 4, 5, 6, 7]
    assert not any(m in MODELS for m in cfg["models"]["names"])  # hub and API models only


@pytest.mark.parametrize("path", PRESETS, ids=lambda p: p.name)
def test_every_preset_validates_with_the_runners_loader(path):
    from stitchbench.experiment.config import load_config

    cfg = load_config(path)  # raises ConfigError on an unknown key, type or name
    assert cfg.models.names and cfg.data.datasets


def test_loaded_presets_keep_their_grid():
    from stitchbench.experiment.config import load_config

    full = load_config(EXPERIMENTS / "offline-full.toml")
    assert full.models.layers == "all" and full.models.layer_pairs == "to_final"
    assert [p["depth"] for p in full.stitches.points("mlp")] == list(range(1, 8))
    assert sorted(full.measures.names) == list_measures() and full.measures.calibrate > 0
    lead = load_config(EXPERIMENTS / "lead.toml")
    assert [p["depth"] for p in lead.stitches.points("mlp")] == list(range(2, 8))
    assert {p["mode"] for p in lead.stitches.points("mlp")} == {"plain"}
    assert lead.run.device == "auto"
