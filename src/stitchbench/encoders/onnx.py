"""ONNX backend: a sentence-embedding graph run with onnxruntime and a HF tokenizer file."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from stitchbench.encoders.base import BaseEncoder, file_digest
from stitchbench.errors import DataError


class OnnxEncoder(BaseEncoder):
    """Runs an ONNX sentence-embedding model.

    Args:
        onnx_path: The ``.onnx`` file.
        tokenizer_path: A Hugging Face ``tokenizer.json`` matching the model's vocabulary.
        name: Display name.
        output: Name of the graph output to read.
        pooling: "none" when ``output`` is already a pooled (n, d) sentence vector, "mean"
            to mean-pool a (n, tokens, d) output over real tokens.
        normalize: L2-normalize the result.
        max_length: Truncation length in tokens.
        threads: onnxruntime intra-op threads (None = its default).
    """

    default_batch_size = 64

    def __init__(
        self,
        onnx_path: str | os.PathLike[str],
        tokenizer_path: str | os.PathLike[str],
        name: str,
        output: str,
        pooling: str = "none",
        normalize: bool = False,
        max_length: int = 128,
        threads: int | None = None,
        prefixes: dict[str, str] | None = None,
    ) -> None:
        import onnxruntime as ort
        from tokenizers import Tokenizer

        super().__init__(prefixes)
        for p in (onnx_path, tokenizer_path):
            if not Path(p).is_file():
                raise DataError(f"{name}: file not found: {p}")
        if pooling not in ("none", "mean"):
            raise DataError(f"pooling must be 'none' or 'mean'; got {pooling!r}.")
        self.name = name
        self.onnx_path, self.tokenizer_path = Path(onnx_path), Path(tokenizer_path)
        self.output, self.pooling, self.normalize = output, pooling, normalize
        self.max_length = max_length
        opts = ort.SessionOptions()
        if threads:
            opts.intra_op_num_threads = threads
        self.session = ort.InferenceSession(
            str(self.onnx_path), opts, providers=["CPUExecutionProvider"]
        )
        self.input_names = {i.name for i in self.session.get_inputs()}
        outs = [o.name for o in self.session.get_outputs()]
        if output not in outs:
            raise DataError(f"{name}: the ONNX graph has no output {output!r}; it has {outs}.")
        self.tokenizer = Tokenizer.from_file(str(self.tokenizer_path))
        self.tokenizer.enable_truncation(max_length=max_length)
        self.tokenizer.enable_padding(pad_id=0, pad_token="[PAD]")
        self.num_layers = None
        self.dim = int(self._encode_batch(["dimension probe"], "passage", None).shape[1])

    def _describe(self) -> dict[str, Any]:
        return {
            "weights": file_digest(self.onnx_path),
            "tokenizer": file_digest(self.tokenizer_path),
            "output": self.output,
            "pooling": self.pooling,
            "normalize": self.normalize,
            "max_length": self.max_length,
        }

    def _encode_batch(self, texts: list[str], kind: str, layers: list[int] | None) -> np.ndarray:
        enc = self.tokenizer.encode_batch(texts)
        ids = np.array([e.ids for e in enc], dtype=np.int64)
        mask = np.array([e.attention_mask for e in enc], dtype=np.int64)
        feeds = {"input_ids": ids, "attention_mask": mask}
        if "token_type_ids" in self.input_names:
            feeds["token_type_ids"] = np.zeros_like(ids)
        (out,) = self.session.run([self.output], feeds)
        out = np.asarray(out, dtype=np.float32)
        if self.pooling == "mean":
            m = mask[:, :, None].astype(np.float32)
            out = (out * m).sum(axis=1) / np.clip(m.sum(axis=1), 1e-9, None)
        if self.normalize:
            out = out / np.clip(np.linalg.norm(out, axis=1, keepdims=True), 1e-12, None)
        return out
