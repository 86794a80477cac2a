"""Encoders: text → vectors behind one protocol, with short aliases for offline models."""

from __future__ import annotations

from stitchbench.encoders.base import BaseEncoder, Encoder
from stitchbench.encoders.registry import MODELS, ModelSpec, get_encoder, list_models

__all__ = ["MODELS", "BaseEncoder", "Encoder", "ModelSpec", "get_encoder", "list_models"]
