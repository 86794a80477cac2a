"""The bundled Bible corpus: WEB verses (queries) retrieve the KJV verse (document).

Built by ``scripts/build_bible.py`` from the Debian SWORD packages ``sword-text-kjv``
(module ``engKJV2006eb``) and ``sword-text-web`` (``engWEB2015eb``), both public domain,
aligned by OSIS reference such as ``John.3.16``.
"""

from __future__ import annotations

import gzip
from functools import lru_cache
from pathlib import Path

from stitchbench.corpora.corpus import Corpus
from stitchbench.errors import DataError

BIBLE_FILE = Path(__file__).resolve().parent.parent / "data" / "bible_kjv_web.tsv.gz"
_HEADER = ["ref", "kjv", "web"]


@lru_cache(maxsize=2)
def _read_rows(path: Path) -> tuple[tuple[str, str, str], ...]:
    """Read ``ref, kjv, web`` rows from the bundled gzip'd TSV (cached: it never changes)."""
    if not path.is_file():
        raise DataError(
            f"Bundled Bible file not found: {path}. Rebuild it with "
            "`python scripts/build_bible.py` or reinstall stitchbench."
        )
    rows: list[tuple[str, str, str]] = []
    with gzip.open(path, "rt", encoding="utf-8", newline="\n") as f:
        header = f.readline().rstrip("\n").split("\t")
        if header != _HEADER:
            raise DataError(f"{path}: header {header!r} should be {_HEADER!r}; rebuild the file.")
        for lineno, line in enumerate(f, start=2):
            fields = line.rstrip("\n").split("\t")
            if len(fields) != 3:
                raise DataError(
                    f"{path}:{lineno}: expected 3 tab-separated fields, got {len(fields)}; "
                    "rebuild the file with `python scripts/build_bible.py`."
                )
            rows.append((fields[0], fields[1], fields[2]))
    return tuple(rows)


def load_bible(path: str | Path | None = None) -> Corpus:
    """Load the Bible corpus: KJV verses are documents, WEB verses are queries.

    Each WEB verse's single relevant document is the KJV verse with the same OSIS
    reference. A few references are numbered differently between the two translations,
    so a small share of pairs are not true translations of each other.

    Args:
        path: Another file in the bundled format (``ref, kjv, web`` gzip'd TSV); defaults
            to the bundled ``data/bible_kjv_web.tsv.gz``.

    Returns:
        Corpus ``"bible"`` with n = 31,095 documents (ids = references, e.g.
        ``"John.3.16"``), n queries (ids ``"web:" + ref``) and qrels
        ``{"web:<ref>": {"<ref>": 1}}``, in canonical book order.

    Raises:
        DataError: If the file is missing or malformed.
    """
    file = Path(path) if path is not None else BIBLE_FILE
    rows = _read_rows(file.resolve())
    refs = tuple(r[0] for r in rows)
    return Corpus(
        name="bible",
        doc_ids=refs,
        doc_texts=tuple(r[1] for r in rows),
        query_ids=tuple("web:" + ref for ref in refs),
        query_texts=tuple(r[2] for r in rows),
        qrels={"web:" + ref: {ref: 1} for ref in refs},
        meta={
            "source": (
                "Debian sword-text-kjv (SWORD module engKJV2006eb, King James Version) and "
                "sword-text-web (engWEB2015eb, World English Bible), read with pysword 0.2.8"
            ),
            "licence": "public domain (both translations)",
            "documents": "KJV verses; id = OSIS reference, e.g. John.3.16",
            "queries": "WEB verses; id = 'web:' + reference; relevant doc = same reference",
            "caveat": (
                "a few references are numbered differently between the two translations "
                "(KJV vs NRSVA versification), so a small share of pairs are wrong"
            ),
            "file": str(file),
        },
    )
