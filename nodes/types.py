"""Socket types and conversions shared by the ShotCrop nodes.

SHOTS travels between nodes as a Python list with one `ShotSet` per image of the batch. Compose
stores `FramedShots` (a ShotSet subclass) so Edit Shots can re-run the grammar (`refine`) later
with the same landmarks and options; anything else that reads SHOTS only sees a ShotSet.
"""

from __future__ import annotations

import inspect
import json
import logging
from contextlib import contextmanager
from dataclasses import dataclass, fields
from typing import Any, Iterator

import numpy as np
from comfy_api.latest import io

from ..shotcrop_core import SHOT_NAMES, FramingOptions, ShotCropError, ShotSet
from ..shotcrop_core.shots import shot_name

log = logging.getLogger("shotcrop")

CATEGORY = "ShotCrop"
ShotCropModel = io.Custom("SHOTCROP_MODEL")
Shots = io.Custom("SHOTS")
PoseKeypoint = io.Custom("POSE_KEYPOINT")  # controlnet_aux's type name, so its sockets connect
#: A contact sheet (shotcrop_core.layout.Sheet): Shot Sheet -> Compose (panel aspects) and
#: Shot Poster Layout (the layout itself), so both read one definition.
SheetType = io.Custom("SHOTCROP_SHEET")


@dataclass(frozen=True, eq=False)  # eq/hash stay ShotSet's: compare the shots, not arrays
class FramedShots(ShotSet):
    """A ShotSet plus what made it: the people found (for `refine`) and the framing options."""

    people: tuple = ()
    framing: FramingOptions | None = None

    @classmethod
    def wrap(cls, shots: ShotSet, people=(), framing: FramingOptions | None = None
             ) -> "FramedShots":
        base = {f.name: getattr(shots, f.name) for f in fields(ShotSet)}
        return cls(**base, people=tuple(people), framing=framing)


# -- schema fields newer ComfyUI versions added ------------------------------------------------
def schema_fields() -> frozenset[str]:
    """The keyword arguments this ComfyUI's io.Schema accepts."""
    try:
        return frozenset(inspect.signature(io.Schema).parameters)
    except (TypeError, ValueError):  # not introspectable: use none of the optional fields
        return frozenset()


def newer_schema_fields(**fields: Any) -> dict[str, Any]:
    """Only the fields the running ComfyUI knows, as for BOUNDING_BOX: `search_aliases` (0.11),
    `has_intermediate_output` (about 0.19). Older versions (0.3.64, 0.8.0) get none of them
    instead of a TypeError that would stop the whole pack from loading."""
    known = schema_fields()
    return {k: v for k, v in fields.items() if k in known}


# -- errors ------------------------------------------------------------------------------------
@contextmanager
def user_errors(node: str) -> Iterator[None]:
    """Re-raise library errors with the node's display name first: ComfyUI shows the message as
    is, and a user with ten nodes on the canvas needs to know which one to fix."""
    try:
        yield
    except ShotCropError as e:
        raise ShotCropError(f"{node}: {e}") from None


def check_shot_name(value: Any, node: str) -> bool | str:
    """validate_inputs helper: True, or a message naming the node and the fix (a saved workflow
    can hold a renamed or mistyped shot; the aliases `shot_name` knows, such as 'cu', work)."""
    if value is None:  # linked from another node: checked at run time
        return True
    try:
        shot_name(value)
    except ShotCropError:
        return (f"{node}: unknown shot {value!r}. Pick one of {', '.join(SHOT_NAMES)} in the "
                f"'shot' menu (the saved workflow holds a name this version does not know).")
    return True


# -- IMAGE / MASK <-> numpy ------------------------------------------------------------------
def image_batch(image) -> list[np.ndarray]:
    """IMAGE tensor [B, H, W, C] (float 0..1) -> list of float32 H x W x C arrays."""
    a = image.detach().cpu().float().numpy() if hasattr(image, "detach") else np.asarray(image)
    if a.ndim == 3:
        a = a[None]
    if a.ndim != 4:
        raise ShotCropError(f"expected an IMAGE batch [B, H, W, C], got shape {tuple(a.shape)}: "
                            "connect an IMAGE output (e.g. Load Image)")
    if a.shape[0] == 0:
        raise ShotCropError("the IMAGE batch is empty (0 images): the node that made it produced "
                            "no image. Connect a node that outputs at least one image")
    if a.shape[-1] not in (1, 3, 4):
        raise ShotCropError(f"the IMAGE has {a.shape[-1]} channels per pixel; ShotCrop takes grey "
                            "(1), RGB (3) or RGBA (4) images: convert it to RGB first")
    if 0 in a.shape[1:3]:
        raise ShotCropError(f"the IMAGE is {a.shape[2]}x{a.shape[1]} pixels, it has no pixels "
                            "to work on: connect a real image")
    if a.shape[-1] == 1:
        a = np.repeat(a, 3, axis=-1)
    return [np.ascontiguousarray(x, dtype=np.float32) for x in a]


def to_tensor(arrays) -> Any:
    """Equal-sized float H x W x C arrays (or one B x H x W x C array) -> IMAGE tensor."""
    import torch

    a = np.stack(arrays) if isinstance(arrays, (list, tuple)) else np.asarray(arrays)
    return torch.from_numpy(np.ascontiguousarray(a, dtype=np.float32))


def to_pil(array: np.ndarray):
    """float H x W x C (0..1) -> 8-bit RGB PIL image, for the pose models, the VLM and previews."""
    from PIL import Image

    rgb = np.clip(array[:, :, :3] * 255.0 + 0.5, 0, 255).astype(np.uint8)
    return Image.fromarray(rgb, "RGB")


def from_pil(image) -> np.ndarray:
    return np.asarray(image.convert("RGB"), dtype=np.float32) / 255.0


# -- SHOTS ---------------------------------------------------------------------------------------
def shot_sets(value: Any, what: str = "shots") -> list[ShotSet]:
    """SHOTS (a list of ShotSet), one ShotSet, or the JSON text of either -> list of ShotSet."""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError as e:
            raise ShotCropError(f"{what} is not valid JSON ({e})") from None
    if isinstance(value, (ShotSet, dict)):
        value = [value]
    if not isinstance(value, (list, tuple)) or not value:
        raise ShotCropError(f"{what} is empty: connect the SHOTS output of Triple-Shot Compose "
                            "(it holds one shot set per image)")
    out = []
    for i, s in enumerate(value):
        if isinstance(s, ShotSet):
            out.append(s)
        elif isinstance(s, dict):
            out.append(ShotSet.from_dict(s))
        else:
            raise ShotCropError(f"{what}[{i}] is a {type(s).__name__}, not a shot set")
    return out


def shots_json(sets: list[ShotSet], indent: int | None = None) -> str:
    """A JSON list with one object per image: its index, then ShotSet.to_dict()."""
    return json.dumps([{"index": i, **s.to_dict()} for i, s in enumerate(sets)],
                      indent=indent, ensure_ascii=False)


def pair_with_images(sets: list[ShotSet], images: list[np.ndarray]) -> list[ShotSet]:
    """One shot set per image; a single set is used for every image. Sizes must match.
    (The calling node's `user_errors` puts its name in front of the message.)"""
    if len(sets) == 1 and len(images) > 1:
        sets = sets * len(images)
    if len(sets) != len(images):
        raise ShotCropError(f"SHOTS holds {len(sets)} shot set(s) but the IMAGE batch has "
                            f"{len(images)} image(s): connect the same IMAGE that went into "
                            "Triple-Shot Compose")
    for i, (s, im) in enumerate(zip(sets, images)):
        h, w = im.shape[:2]
        if (s.width, s.height) != (w, h):
            raise ShotCropError(f"image {i} is {w}x{h} but its shots were made for a "
                                f"{s.width}x{s.height} image: connect the same IMAGE that went "
                                "into Triple-Shot Compose (resize after cropping, not before)")
    return sets
