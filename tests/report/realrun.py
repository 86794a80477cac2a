"""Small *real* runs for the report tests, made by the runner itself (`stitchbench run`).

Real Bible verses, real packaged models (static-64, GloVe, MiniLM-L3: fast), stitches scored
on held-out rows with bootstrap intervals and flags, calibrated measures, retrieval in both
modes, a sample-efficiency curve; and a second run over MiniLM-L6's hidden layers. Nothing
here is a typed-in number: the report tests read what the runner wrote.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from stitchbench.experiment.config import parse_config
from stitchbench.experiment.runner import run_experiment

MODELS = ("static-64", "glove-50d", "minilm-l3")
MAX_DOCS = 300

CONFIG: dict[str, Any] = {
    "run": {"name": "report-test", "seed": 0},
    "data": {"datasets": ["bible"], "max_docs": MAX_DOCS},
    "models": {"names": list(MODELS), "layers": "final"},
    "stitches": {
        "kinds": ["mean", "affine", "mlp"],
        "params": {"mlp": {"depth": [1, 2], "epochs": 2}},
    },
    "measures": {"names": ["linear_cka"], "calibrate": 20},
    "retrieval": {"modes": ["query", "corpus"], "kinds": ["affine"]},
    "curve": {"pairs": [40, 80], "kinds": ["affine"]},
}

LAYER_CONFIG: dict[str, Any] = {
    "run": {"name": "report-layers", "seed": 0},
    "data": {"datasets": ["bible"], "max_docs": MAX_DOCS},
    "models": {"names": ["minilm-l6", "static-64"], "layers": [2, 4]},
    "stitches": {"kinds": ["mean", "affine"]},
    "measures": {"names": ["linear_cka"], "calibrate": 20},
}


def build_run(out: Path, config: dict[str, Any] = CONFIG) -> Path:
    """Run a small config into ``out`` with the runner; returns the run folder."""
    summary = run_experiment(parse_config(config), out, progress=False, log=lambda _: None)
    assert not summary.failed, [o.error for o in summary.failed]
    return out
