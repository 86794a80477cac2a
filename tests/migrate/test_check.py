"""`migrate check` on a real LanceDB table of Bible verses embedded with real models: the
table's own record of its model space, and a re-embedded sample that catches a 5% mix."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest
from tests.conftest import require_model
from typer.testing import CliRunner

N = 400


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """A LanceDB folder with `verses` (minilm-l6 vectors), `mixed` (5% of the rows
    minilm-l3 vectors, same width) and `plain` (no text column)."""
    for m in ("minilm-l6", "minilm-l3"):
        require_model(m)
    import lancedb

    from stitchbench.corpora import load_corpus
    from stitchbench.encoders import get_encoder

    corpus = load_corpus("bible", max_docs=N, seed=0)
    texts = list(corpus.doc_texts)
    l6 = get_encoder("minilm-l6").encode(texts).astype(np.float32)
    l3 = get_encoder("minilm-l3").encode(texts).astype(np.float32)
    mixed = l6.copy()
    swap = np.random.default_rng(1).choice(N, size=N // 20, replace=False)  # 5%
    mixed[swap] = l3[swap]
    db = tmp_path_factory.mktemp("db")
    conn = lancedb.connect(db)

    def table(vecs: np.ndarray, with_text: bool = True) -> pa.Table:
        cols = {
            "id": list(corpus.doc_ids),
            "vector": pa.array(list(vecs), pa.list_(pa.float32(), 384)),
        }
        if with_text:
            cols["text"] = texts
        return pa.table(cols)

    conn.create_table("verses", table(l6))
    conn.create_table("mixed", table(mixed))
    conn.create_table("plain", table(l6, with_text=False))
    return db


def _check(db, *args: str):
    from stitchbench.cli.app import app

    return CliRunner().invoke(app, ["migrate", "check", "--db", str(db), *args])


def test_the_right_model_passes_and_another_of_the_same_width_fails(world):
    ok = _check(world, "--table", "verses", "--model", "minilm-l6", "--text-column", "text")
    assert ok.exit_code == 0 and "400 sampled rows agree" in ok.output, ok.output
    bad = _check(world, "--table", "verses", "--model", "minilm-l3", "--text-column", "text")
    assert bad.exit_code == 1 and "not 'minilm-l3'" in bad.output, bad.output


def test_a_table_with_5_percent_of_another_models_vectors_is_a_mix(world):
    from stitchbench.migrate import check_table

    res = check_table(world, "mixed", "minilm-l6", text_column="text")
    assert not res.ok and "a mix" in res.line and res.n_disagree == N // 20
    # The disagreeing rows are far apart from the agreeing ones.
    cos = np.sort(res.cosines)
    assert cos[N // 20 - 1] < 0.5 < 0.99 < cos[N // 20]


def test_without_a_record_or_a_text_column_it_cannot_tell_and_fails(world):
    res = _check(world, "--table", "plain", "--model", "minilm-l6")
    assert res.exit_code == 1 and "cannot tell" in res.output


def test_a_table_apply_wrote_records_its_space(world, tmp_path):
    from stitchbench.migrate import apply_stitch, check_table
    from stitchbench.stitches import make_stitch

    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 384))
    st = make_stitch("affine").fit(X, X[:, :64] * 2.0).with_names("minilm-l6", "static-64")
    st.save(tmp_path / "st")
    out = apply_stitch(world, "verses", tmp_path / "st", progress=False)
    ok = check_table(world, out.target_table, "static-64")
    assert ok.ok and ok.recorded is not None and ok.recorded["source_table"] == "verses"
    bad = _check(world, "--table", out.target_table, "--model", "minilm-l6")
    assert bad.exit_code == 1 and "translated into 'static-64'" in bad.output, bad.output


def test_bad_input_is_one_line(world):
    from stitchbench.errors import DataError
    from stitchbench.migrate import check_table

    with pytest.raises(DataError, match="No table 'nope'"):
        check_table(world, "nope", "minilm-l6")
    with pytest.raises(DataError, match="no text column 'body'"):
        check_table(world, "verses", "minilm-l6", text_column="body")
    with pytest.raises(DataError, match="min-cosine"):
        check_table(world, "verses", "minilm-l6", text_column="text", min_cosine=2.0)
