"""Encoding throughput of stitchbench against plain ``SentenceTransformer.encode``.

Same texts (Bible verses), same model (MiniLM-L6), same batch size, same process,
alternating runs, best of 3. Prints texts/s of each and the ratio (goal ≥ 0.95).
Also times the full cached path (``embed_texts`` into a fresh on-disk store).

Run: .venv/bin/python benchmarks/bench_encode.py [--n 2000] [--batch-size 32]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--n", type=int, default=2000)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()

    import torch
    from sentence_transformers import SentenceTransformer

    from stitchbench import get_encoder, load_corpus
    from stitchbench.embed import embed_texts
    from stitchbench.encoders.registry import _minilm_l6_path
    from stitchbench.store import EmbeddingStore

    corpus = load_corpus("bible", max_docs=args.n, seed=0)
    texts = list(corpus.doc_texts)
    ids = list(corpus.doc_ids)
    plain = SentenceTransformer(str(_minilm_l6_path()), device="cpu")
    ours = get_encoder("minilm-l6")
    print(
        f"{len(texts)} Bible verses, MiniLM-L6, batch {args.batch_size}, "
        f"torch threads {torch.get_num_threads()}"
    )

    def t_plain() -> float:
        t = time.perf_counter()
        plain.encode(texts, batch_size=args.batch_size, show_progress_bar=False)
        return time.perf_counter() - t

    def t_ours() -> float:
        t = time.perf_counter()
        ours.encode(texts, batch_size=args.batch_size)
        return time.perf_counter() - t

    def t_store() -> float:
        with tempfile.TemporaryDirectory() as d:
            t = time.perf_counter()
            embed_texts(
                ours,
                ids,
                texts,
                kind="passage",
                store=EmbeddingStore(d),
                source={"corpus": "bench", "chunking": "none", "split": "all"},
                batch_size=args.batch_size,
                progress=False,
            )
            return time.perf_counter() - t

    t_plain()  # warm-up
    runs = {
        "plain SentenceTransformer.encode": t_plain,
        "stitchbench encoder.encode": t_ours,
        "stitchbench embed_texts -> store": t_store,
    }
    best = dict.fromkeys(runs, 1e9)
    for _ in range(args.repeats):
        for name, fn in runs.items():
            best[name] = min(best[name], fn())
    base = best["plain SentenceTransformer.encode"]
    for name, t in best.items():
        print(
            f"{name:36s} {len(texts) / t:8.1f} texts/s  ({t:.2f} s, best of {args.repeats})"
            f"  ratio vs plain: {base / t:.3f}"
        )
    print("goal: ratio >= 0.95")


if __name__ == "__main__":
    main()
