"""Which torch device heavy work runs on: one check, made before any work starts.

Encoders, MLP stitches and exact search take a ``device`` argument; each passes it through
:func:`resolve_device`, so asking for a GPU that is not there fails in one line (a
``DataError``, exit 2 on the command line) instead of deep inside torch. torch is imported
only when a CUDA device is asked for, so ``--help`` and CPU-only paths stay light.
"""

from __future__ import annotations

import re
from typing import Any

from stitchbench.errors import DataError

#: Device spellings stitchbench accepts (``cuda:N`` picks one GPU).
DEVICE_CHOICES: tuple[str, ...] = ("cpu", "auto", "cuda", "cuda:N")
NO_CUDA = "CUDA is not available here; use --device cpu"
_CUDA = re.compile(r"cuda(?::(\d+))?")


def cuda_device_count() -> int:
    """Number of CUDA devices torch can use here (0 without CUDA or a CUDA build)."""
    import torch

    return int(torch.cuda.device_count()) if torch.cuda.is_available() else 0


def resolve_device(device: Any = "cpu") -> str:
    """Check a device request and return the torch device string to use.

    Args:
        device: ``"cpu"``, ``"cuda"``, ``"cuda:N"``, ``"auto"`` (CUDA when available, else
            CPU), a ``torch.device``, or None (= ``"cpu"``).

    Returns:
        ``"cpu"``, ``"cuda"`` or ``"cuda:N"``.

    Raises:
        DataError: An unknown spelling, CUDA asked for where there is none, or a GPU index
            beyond the GPUs present.
    """
    text = "cpu" if device is None else str(device).strip().lower()
    if text == "cpu":
        return "cpu"
    if text == "auto":
        return "cuda" if cuda_device_count() else "cpu"
    match = _CUDA.fullmatch(text)
    if match is None:
        raise DataError(f"Unknown device {device!r}; use one of {', '.join(DEVICE_CHOICES)}.")
    count = cuda_device_count()
    if count == 0:
        raise DataError(NO_CUDA)
    if match.group(1) is not None and int(match.group(1)) >= count:
        raise DataError(
            f"Device {text!r} does not exist: {count} CUDA device(s) here "
            f"(cuda:0 … cuda:{count - 1}); use one of them or --device cpu."
        )
    return text
