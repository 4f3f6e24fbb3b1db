"""ShotCrop's ComfyUI nodes (V3 API). Thin wrappers: the work happens in shotcrop_core.

Importing this package imports no model code: torch models, transformers and the pose networks
load inside the nodes, on first use.
"""

from __future__ import annotations

from comfy_api.latest import ComfyExtension, io

from .compose import TripleShotCompose
from .crop import CropByShot
from .edit import EditShots
from .layout import ShotPosterLayout, ShotSheet
from .model import LoadShotCrop, register_folders
from .prompt import ShotDescriptionToPrompt

NODES: list[type[io.ComfyNode]] = [LoadShotCrop, TripleShotCompose, CropByShot,
                                   ShotDescriptionToPrompt, ShotSheet, ShotPosterLayout, EditShots]


class ShotCropExtension(ComfyExtension):
    async def get_node_list(self) -> list[type[io.ComfyNode]]:
        return NODES


async def comfy_entrypoint() -> ShotCropExtension:
    register_folders()  # before any schema lists models/LLM/ShotCrop
    return ShotCropExtension()


__all__ = ["NODES", "ShotCropExtension", "comfy_entrypoint"]
