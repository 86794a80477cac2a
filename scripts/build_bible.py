"""Build the bundled Bible corpus: KJV and WEB verses aligned by OSIS reference.

Source: the Debian packages ``sword-text-kjv`` and ``sword-text-web`` (SWORD modules
``engKJV2006eb`` and ``engWEB2015eb``, both public domain), read with PyPI ``pysword==0.2.8``.
The packages are downloaded with ``apt-get download`` and unpacked with ``dpkg-deb -x``
into a temporary folder; nothing is installed. ``--sword-dir`` reuses an unpacked
``usr/share/sword`` folder instead.

Cleaning, per verse: drop ``<note>`` elements with their content (footnotes, cross
references) and non-canonical ``<title>`` elements (section headings; canonical psalm
titles are kept), then drop every other tag but keep its text, drop the KJV paragraph mark
``¶``, then normalise whitespace. Known leftovers in the bundled file: WEB marks the
acrostic letters of Psalm 119 as canonical titles, so 22 WEB verses start with "ALEPH",
"BETH", ...; and 12 WEB verses keep a space before punctuation where a note stood between
two spaces (e.g. Luke.12.6 "assaria coins ?").

Output: ``src/stitchbench/data/bible_kjv_web.tsv.gz``, a gzip (mtime 0, so a rebuild is
byte-identical) of a UTF-8 TSV with header ``ref	kjv	web``, one row per reference present
and non-empty in both translations, in KJV canonical order.

Run: ``python scripts/build_bible.py [--sword-dir /tmp/sword/usr/share/sword]``.
"""

from __future__ import annotations

import argparse
import functools
import gzip
import html
import io
import re
import subprocess
import sys
import tempfile
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

MODULES = {"kjv": "engKJV2006eb", "web": "engWEB2015eb"}
PACKAGES = ("sword-text-kjv", "sword-text-web")
DEFAULT_OUT = Path(__file__).resolve().parents[1] / "src/stitchbench/data/bible_kjv_web.tsv.gz"

_NOTE = re.compile(r"<note\b[^>]*/>|<note\b[^>]*>.*?</note>", re.DOTALL)
_HEADING = re.compile(
    r'<title\b(?![^>]*canonical="true")[^>]*/>|<title\b(?![^>]*canonical="true")[^>]*>.*?</title>',
    re.DOTALL,
)
_TAG = re.compile(r"<[^>]*>")
# A removed note leaves a marker: it becomes a space between two words ("God<note/>created")
# and nothing before punctuation or whitespace ("world<note/>, ...").
_GAP = "\x00"
_GAP_BEFORE_PUNCT = re.compile(_GAP + r"+(?=[\s,.;:!?”’)\]]|$)")
_SPACE = re.compile(r"\s+")


def clean_osis(text: str) -> str:
    """Return the plain text of one OSIS verse.

    Args:
        text: Raw OSIS markup of a verse as stored in the SWORD module.

    Returns:
        The verse text without notes, headings or tags, whitespace collapsed to single spaces.
    """
    text = _NOTE.sub(_GAP, text)
    text = _HEADING.sub(_GAP, text)
    text = _TAG.sub("", text)
    text = _GAP_BEFORE_PUNCT.sub("", text)
    text = text.replace(_GAP, " ")
    text = html.unescape(text).replace("¶", " ")  # KJV paragraph marks are layout, not text
    return _SPACE.sub(" ", text).strip()


def read_module(sword_dir: str, module: str) -> dict[str, str]:
    """Read every verse of a SWORD Bible module.

    Args:
        sword_dir: Folder holding ``mods.d/`` and ``modules/``.
        module: Module name, e.g. ``"engKJV2006eb"``.

    Returns:
        ``{osis_ref: cleaned text}`` in the module's canonical order, e.g. ``"John.3.16"``;
        verses that are empty after cleaning are kept as ``""``.
    """
    from pysword.modules import SwordModules

    modules = SwordModules(sword_dir)
    found = modules.parse_modules()
    if module not in found:
        sys.exit(f"error: module {module!r} not found in {sword_dir} (found: {sorted(found)})")
    bible = modules.get_bible_from_module(module)
    # pysword decompresses the whole book block for every verse; caching the last blocks
    # makes a full read take seconds instead of a minute.
    bible._decompressed_text = functools.lru_cache(maxsize=8)(bible._decompressed_text)
    verses: dict[str, str] = {}
    for books in bible.get_structure().get_books().values():
        for book in books:
            for chapter, length in enumerate(book.chapter_lengths, start=1):
                texts = list(bible.get_iter(books=[book.name], chapters=[chapter], clean=False))
                if len(texts) != length:
                    sys.exit(
                        f"error: {module} {book.osis_name} {chapter}: {len(texts)} != {length}"
                    )
                for verse, raw in enumerate(texts, start=1):
                    verses[f"{book.osis_name}.{chapter}.{verse}"] = clean_osis(raw)
    return verses


def fetch_sword_dir(workdir: Path) -> Path:
    """Download and unpack the Debian SWORD packages (no install).

    Args:
        workdir: An empty scratch folder.

    Returns:
        The unpacked ``usr/share/sword`` folder.
    """
    subprocess.run(["apt-get", "download", *PACKAGES], cwd=workdir, check=True)
    root = workdir / "root"
    for deb in sorted(workdir.glob("*.deb")):
        subprocess.run(["dpkg-deb", "-x", str(deb), str(root)], check=True)
    return root / "usr/share/sword"


def write_tsv_gz(rows: list[tuple[str, str, str]], out: Path) -> None:
    """Write ``ref, kjv, web`` rows as a reproducible gzip'd TSV (mtime 0, fixed name)."""
    buf = io.StringIO()
    buf.write("ref\tkjv\tweb\n")
    for row in rows:
        if any("\t" in c or "\n" in c for c in row):
            sys.exit(f"error: tab or newline left in verse {row[0]}")
        buf.write("\t".join(row) + "\n")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(out.suffix + ".tmp")
    with (
        open(tmp, "wb") as raw,
        gzip.GzipFile(
            filename="bible_kjv_web.tsv", mode="wb", fileobj=raw, compresslevel=9, mtime=0
        ) as gz,
    ):
        gz.write(buf.getvalue().encode("utf-8"))
    tmp.replace(out)


def build(sword_dir: Path, out: Path) -> dict[str, int]:
    """Read both modules, align them by reference and write the bundled file.

    Args:
        sword_dir: Unpacked SWORD folder.
        out: Output ``.tsv.gz`` path.

    Returns:
        Counts, printed by ``main``.
    """
    with ProcessPoolExecutor(max_workers=2) as pool:
        futures = {k: pool.submit(read_module, str(sword_dir), m) for k, m in MODULES.items()}
        kjv, web = futures["kjv"].result(), futures["web"].result()
    shared = [ref for ref in kjv if ref in web]
    empty_kjv = sum(1 for ref in shared if not kjv[ref])
    empty_web = sum(1 for ref in shared if not web[ref])
    rows = [(ref, kjv[ref], web[ref]) for ref in shared if kjv[ref] and web[ref]]
    write_tsv_gz(rows, out)
    return {
        "kjv verse slots": len(kjv),
        "kjv non-empty verses": sum(1 for t in kjv.values() if t),
        "web verse slots": len(web),
        "web non-empty verses": sum(1 for t in web.values() if t),
        "refs in both": len(shared),
        "dropped: empty in kjv": empty_kjv,
        "dropped: empty in web": empty_web,
        "dropped: empty in either": len(shared) - len(rows),
        "rows written": len(rows),
        "file bytes": out.stat().st_size,
    }


def main(argv: list[str] | None = None) -> None:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--sword-dir",
        type=Path,
        help="an unpacked usr/share/sword folder (skips apt-get download)",
    )
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output .tsv.gz path")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        sword_dir = args.sword_dir or fetch_sword_dir(Path(tmp))
        counts = build(sword_dir, args.out)
    for key, value in counts.items():
        print(f"{key:>26}: {value:,}")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
