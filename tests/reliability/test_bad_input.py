"""Bad input on the command line: one line naming the input and the fix, exit 2, nothing
written (no output, no cache entry: names and options are checked before any encoding).

Table-driven: each case is the command line a user typed, with ``{out}`` (where it would
write), ``{cache}`` (its embedding cache) and ``{beir_*}`` (small BEIR folders) filled in.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from .conftest import files_under

FIT = ["fit", "--dataset", "bible", "--max-docs", "40", "--cache-dir", "{cache}", "--out", "{out}"]
FIT_ST = [*FIT, "--source", "static-64", "--target", "glove-50d"]


def _beir(root: Path, corpus: bytes, qrels: str = "q1\td1\t1\n") -> Path:
    (root / "qrels").mkdir(parents=True)
    (root / "corpus.jsonl").write_bytes(corpus)
    (root / "queries.jsonl").write_text(json.dumps({"_id": "q1", "text": "a question"}) + "\n")
    (root / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\n" + qrels)
    return root


def _good_docs(n: int = 40) -> bytes:
    return "".join(
        json.dumps({"_id": f"d{i}", "title": "", "text": f"document number {i} about things"})
        + "\n"
        for i in range(n)
    ).encode()


CASES: dict[str, tuple[list[str], str]] = {
    # name -> (command line, what the error line must name)
    "empty model name": ([*FIT, "--source", "", "--target", "static-64"], "empty"),
    "folder that is not a model": (
        [*FIT, "--source", "{notmodel}", "--target", "static-64"],
        "not a model folder",
    ),
    "unknown model": (
        [*FIT, "--source", "no-such-model", "--target", "static-64"], "no-such-model"
    ),
    "unknown stitch kind": ([*FIT_ST, "--kind", "nope"], "nope"),
    "params of a wrong type": ([*FIT_ST, "--kind", "lowrank", "--params", '{"rank": "8"}'], "rank"),
    "params not an object": ([*FIT_ST, "--params", "[1, 2]"], "params"),
    "unknown dataset": (
        ["fit", "--dataset", "no-such-corpus", *FIT_ST[3:]],
        "no-such-corpus",
    ),
    "BEIR folder with an empty corpus": (
        ["fit", "--dataset", "{beir_empty}", *FIT_ST[3:]],
        "no documents",
    ),
    "BEIR qrels score inf": (["fit", "--dataset", "{beir_inf}", *FIT_ST[3:]], "inf"),
    "BEIR corpus not UTF-8": (["fit", "--dataset", "{beir_latin1}", *FIT_ST[3:]], "UTF-8"),
    "BEIR name with path characters": (
        ["fit", "--dataset", "beir:../../etc", *FIT_ST[3:]],
        "not a BEIR dataset name",
    ),
    "unknown measure": (
        ["compare", "--models", "static-64,glove-50d", "--measures", "nope", "--max-docs", "40",
         "--cache-dir", "{cache}", "--out", "{out}"],
        "nope",
    ),
    "second model unknown (checked before the first is encoded)": (
        ["compare", "--models", "static-64,no-such-model", "--max-docs", "40",
         "--cache-dir", "{cache}", "--out", "{out}"],
        "no-such-model",
    ),
}  # fmt: skip


def _fill(arg: str, places: dict[str, Path]) -> str:
    for name, path in places.items():
        arg = arg.replace("{" + name + "}", str(path))
    return arg


@pytest.fixture
def places(tmp_path: Path) -> dict[str, Path]:
    notmodel = tmp_path / "notmodel"
    notmodel.mkdir()
    (notmodel / "README.txt").write_text("just notes")
    return {
        "out": tmp_path / "out" / "result",
        "cache": tmp_path / "cache",
        "notmodel": notmodel,
        "beir_empty": _beir(tmp_path / "beir_empty", b""),
        "beir_inf": _beir(tmp_path / "beir_inf", _good_docs(), "q1\td1\tinf\n"),
        "beir_latin1": _beir(
            tmp_path / "beir_latin1",
            _good_docs() + '{"_id": "dx", "text": "caf\u00e9"}\n'.encode("latin-1"),
        ),
    }


def _written(out: Path) -> list[Path]:
    # A run folder may hold the run's config.toml (written first, for resume); nothing else.
    return [p for p in files_under(out) if p.name != "config.toml"]


@pytest.mark.parametrize("case", list(CASES))
def test_bad_input_is_one_line_exit_2_nothing_written(case, places, cli, monkeypatch):
    if case == "BEIR name with path characters":
        # Online (a refused port stands in for the hub): the name must be refused before
        # any hub call or folder is made from it.
        monkeypatch.setenv("HF_HUB_OFFLINE", "0")
        monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")
        monkeypatch.setenv("STITCHBENCH_HOME", str(places["out"].parent.parent / "home"))
    args, needle = CASES[case]
    args = [_fill(a, places) for a in args]
    cli(*args).assert_one_line_error(needle)
    assert _written(places["out"].parent) == []
    assert files_under(places["cache"]) == []


def test_device_cuda_without_cuda(places, cli):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    res = cli(
        "retrieve", "--query-model", "static-64", "--index-model", "glove-50d",
        "--device", "cuda", "--max-docs", "40",
        "--cache-dir", places["cache"], "--out", places["out"],
    )  # fmt: skip
    res.assert_one_line_error("cuda")
    assert _written(places["out"]) == [] and files_under(places["cache"]) == []


def test_offline_hub_model_is_refused_before_the_run_folder_exists(places, cli, monkeypatch):
    """`fit` with a hub id that is not cached, hub offline: exit 2, one line naming it, and
    no run folder at all (it used to run the plan, fail its tasks, exit 1 and leave
    x.stitch.run/ with plan.json and config.toml)."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("STITCHBENCH_HOME", str(places["out"].parent.parent / "home"))
    args = [
        _fill(a, places)
        for a in [*FIT, "--source", "no-such-org/no-such-model", "--target", "glove-50d"]
    ]
    cli(*args).assert_one_line_error("no-such-org/no-such-model")
    assert files_under(places["out"].parent) == []
    assert not list(places["out"].parent.glob("*.run"))
    assert files_under(places["cache"]) == []
