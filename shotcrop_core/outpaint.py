"""Shots that reach past the photo: the padding they need, how it is filled, and its mask.

A shot composed with `beyond_photo` may extend past the photo's edges (`Box.past` says how far
on each side). Its crop is the photo padded out to the whole box, and a mask that is 1 exactly
on the padding (optionally feathered into the photo) tells an outpainting or inpainting model
what to fill. The padding is the photo's edge pixels repeated ("edge", the usual start for
outpainting) or a solid colour. Used by Crop By Shot (float arrays) and the CLI (Pillow images).
"""

from __future__ import annotations

import numpy as np

from .colour import parse_colour
from .errors import ShotCropError

#: The padding fills a user can ask for by name; any other value is a colour (hex or R,G,B).
EDGE = "edge"

Past = tuple[int, int, int, int]  # px past the left, top, right and bottom of the photo


def parse_fill(text) -> str | tuple[float, float, float]:
    """"edge" (repeat the photo's edge pixels) or a colour (`colour.parse_colour`)."""
    if isinstance(text, str) and text.strip().lower() in ("", EDGE):
        return EDGE
    try:
        return parse_colour(text, "outpaint fill")
    except ShotCropError as e:
        raise ShotCropError(f"{e} (or use 'edge' to repeat the photo's edge pixels)") from None


def check_feather(feather) -> int:
    if isinstance(feather, bool) or not isinstance(feather, (int, np.integer)) or feather < 0:
        raise ShotCropError(f"outpaint feather must be a whole number of pixels >= 0, got "
                            f"{feather!r}")
    return int(feather)


def pad(pixels: np.ndarray, past: Past, fill) -> np.ndarray:
    """`pixels` (H x W or H x W x C, float in 0..1 or uint8) padded by `past`; `fill`: EDGE or
    an (R, G, B) colour in 0..1 (alpha, if any, is padded opaque)."""
    left, top, right, bottom = past
    widths = ((top, bottom), (left, right)) + ((0, 0),) * (pixels.ndim - 2)
    if fill == EDGE:
        return np.pad(pixels, widths, mode="edge")
    scale = 255.0 if pixels.dtype == np.uint8 else 1.0
    c = pixels.shape[2] if pixels.ndim == 3 else 1
    if c <= 2:  # grey (and alpha): the colour's grey
        colour = [sum(fill) / 3] + [1.0] * (c - 1)
    else:  # opaque alpha under a solid pad
        colour = list(fill)[:c] + [1.0] * (c - len(fill))
    out = np.empty((pixels.shape[0] + top + bottom, pixels.shape[1] + left + right)
                   + pixels.shape[2:], pixels.dtype)
    value = np.asarray(colour, np.float64).reshape((1, 1, -1)[:pixels.ndim]) * scale
    out[...] = np.round(value) if pixels.dtype == np.uint8 else value
    out[top:top + pixels.shape[0], left:left + pixels.shape[1]] = pixels
    return out


def padding_mask(height: int, width: int, past: Past, feather: int = 0) -> np.ndarray:
    """Float32 height x width mask of a padded picture whose outer `past` px are padding: 1 on
    the padding, 0 on the photo. `feather` > 0 ramps into the photo: a photo pixel d px from
    the padding gets 1 - d / (feather + 1), so the seam blends and the padding stays 1."""
    left, top, right, bottom = past
    feather = check_feather(feather)
    ys, xs = np.arange(height)[:, None], np.arange(width)[None, :]
    inside = (ys >= top) & (ys < height - bottom) & (xs >= left) & (xs < width - right)
    if feather == 0:
        return (~inside).astype(np.float32)
    # Distance (px, >= 1 inside the photo) to the nearest padded row / column; inf where none.
    dy, dx = np.full(height, np.inf, np.float32), np.full(width, np.inf, np.float32)
    for d, n, near, far in ((dy, height, top, bottom), (dx, width, left, right)):
        idx = np.arange(n, dtype=np.float32)
        if near:
            np.minimum(d, idx - (near - 1), out=d)
        if far:
            np.minimum(d, (n - far) - idx, out=d)
    d = np.minimum(dy[:, None], dx[None, :])
    return np.where(inside, np.clip(1 - d / (feather + 1), 0, 1), 1).astype(np.float32)


__all__ = ["EDGE", "check_feather", "pad", "padding_mask", "parse_fill"]
