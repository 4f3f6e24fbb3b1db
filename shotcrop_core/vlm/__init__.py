"""Vision-language models (Qwen3-VL, Qwen2.5-VL) that propose and describe the shots.

Importing this package is cheap: torch and transformers load only inside `load_vlm`.
"""

from __future__ import annotations

from .loading import FAMILIES, LoadedVLM, family_of, input_sizes, load_vlm, resolve_vlm

__all__ = ["FAMILIES", "LoadedVLM", "family_of", "input_sizes", "load_vlm", "resolve_vlm"]
