"""Cost of every hidden layer against the final embedding alone, and peak memory.

(1) Time to encode N Bible verses with MiniLM-L6 returning all 7 pooled layers (one forward
    pass) against the final sentence embedding alone (plain ``SentenceTransformer.encode``
    path), same texts and batch size, alternating, best of R. Goal: ratio ≤ 1.15.
(2) Peak resident memory of a fresh process that embeds 20,000 verses with all layers of
    MiniLM-L6 into an on-disk store (streamed in blocks). Goal: < 1.5 GB.

Run: .venv/bin/python benchmarks/bench_layers.py [--n 1000] [--memory-n 20000]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

CHILD = """
import resource, sys, time
from stitchbench import get_encoder, load_corpus
from stitchbench.embed import embed_corpus
from stitchbench.store import EmbeddingStore
n, root = int(sys.argv[1]), sys.argv[2]
corpus = load_corpus("bible", max_docs=n, seed=0)
enc = get_encoder("minilm-l6")
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
t = time.perf_counter()
got = embed_corpus(corpus, enc, store=EmbeddingStore(root), layers="all", progress=False)
dt = time.perf_counter() - t
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
size = sum(e.vectors.nbytes for e in got.values()) / 2**20
print(f"{corpus.num_docs} {len(got)} {dt:.1f} {before:.0f} {peak:.0f} {size:.0f}")
"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--n", type=int, default=1000)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--memory-n", type=int, default=20000)
    args = ap.parse_args()

    from stitchbench import get_encoder, load_corpus

    texts = list(load_corpus("bible", max_docs=args.n, seed=0).doc_texts)
    enc = get_encoder("minilm-l6")
    enc.encode(texts[:64])  # warm-up

    def timed(layers: object) -> float:
        t = time.perf_counter()
        enc.encode(texts, layers=layers, batch_size=args.batch_size)  # type: ignore[call-overload]
        return time.perf_counter() - t

    final, every = 1e9, 1e9
    for _ in range(args.repeats):
        final = min(final, timed(None))
        every = min(every, timed("all"))
    print(f"(1) {len(texts)} verses, MiniLM-L6, batch {args.batch_size}, best of {args.repeats}")
    print(f"    final embedding only (baseline): {final:.2f} s ({len(texts) / final:.0f} texts/s)")
    print(f"    all 7 layers, one pass:          {every:.2f} s ({len(texts) / every:.0f} texts/s)")
    print(f"    ratio all-layers / final-only:   {every / final:.3f}   (goal <= 1.15)")

    with tempfile.TemporaryDirectory() as root:
        res = subprocess.run(
            [sys.executable, "-c", CHILD, str(args.memory_n), root],
            check=True,
            capture_output=True,
            text=True,
        )
    n, n_layers, dt, before, peak, size = res.stdout.split()
    print(
        f"(2) all {n_layers} layers of MiniLM-L6 over {n} verses streamed to the store "
        f"in {dt} s ({size} MB of float32 on disk)"
    )
    print(f"    peak RSS {peak} MB (after loading the model: {before} MB)   (goal < 1536 MB)")


if __name__ == "__main__":
    main()
