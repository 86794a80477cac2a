"""The command line every migration benchmark shares: which corpus, which two models, which
seed, and the pair of embeddings they give (``stitchbench.migrate.load_pair``)."""

from __future__ import annotations

import argparse

from stitchbench.migrate import PairData, load_pair


def migration_parser(doc: str | None, new: str) -> argparse.ArgumentParser:
    """A parser with ``--dataset``, ``--max-docs``, ``--old``, ``--new`` (default ``new``)
    and ``--seed``; the benchmark adds its own options."""
    ap = argparse.ArgumentParser(
        description=doc, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--dataset", default="bible")
    ap.add_argument("--max-docs", type=int, default=0, help="0 = all documents")
    ap.add_argument("--old", default="minilm-l6", help="The model the index was built with.")
    ap.add_argument("--new", default=new, help="The model wanted.")
    ap.add_argument("--seed", type=int, default=0)
    return ap


def load_migration_pair(args: argparse.Namespace) -> PairData:
    """Both models' embeddings of the corpus the arguments name (cached)."""
    return load_pair(
        args.dataset, args.old, args.new, max_docs=args.max_docs or None, seed=args.seed
    )
