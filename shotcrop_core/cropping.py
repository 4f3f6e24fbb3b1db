"""Cut shots out of a float image, resize them, unify batches and build stitch masks.

Pure numpy + Pillow (the ComfyUI nodes convert tensors to numpy before calling). Images are
float32 H x W x C (C = 3 or 4) in 0..1; boxes are source pixels with x1/y1 exclusive.

Rules decided here (the nodes' tooltips repeat them):

* Resampling runs per channel in Pillow's 32-bit float mode "F" (no 8-bit banding): LANCZOS when
  a side shrinks, BICUBIC otherwise; results are clipped to 0..1 (both filters overshoot a little).
  A crop whose output size equals its box is returned bit-exact, never resampled.
* `snap` rounds every output side to the nearest multiple (halves round up, at least one
  multiple). In "size" mode the target is snapped *before* the aspect crop / letterbox, so nothing
  is distorted; in the other modes the finished crop gets a tiny resize to the snapped size, which
  changes its aspect by less than snap/2 px per side.
* "size" without `pad_color` grows the box outward around its centre to the target aspect, so the
  framed subject is kept whole; only where the image edge stops it does it shrink the other side
  (inward). The box used is returned in `Crop.box`, so the mask and stitching match the pixels.
* Padding is always a solid colour (never mirrored); alpha, if any, is padded opaque (1.0).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np
from PIL import Image

from . import outpaint as op
from .colour import parse_colour
from .errors import ShotCropError
from .shots import Box

FIT_MODES: tuple[str, ...] = ("native", "width", "height", "long_side", "size")
SNAPS: tuple[int, ...] = (1, 8, 16, 32, 64)
UNIFY_RULES: tuple[str, ...] = ("first", "largest", "stretch")
#: Largest side of any output (crop, sheet) in pixels; the nodes' size inputs stop here too
#: (the same as ComfyUI's MAX_RESOLUTION).
MAX_SIDE = 16384

Rect = tuple[int, int, int, int]


@dataclass(frozen=True)
class Crop:
    image: np.ndarray  # float32 HxWxC in 0..1
    mask: np.ndarray  # float32 H0xW0 in the SOURCE frame, 1 inside the box (on the photo)
    box: Box  # source pixels actually shown (after any aspect crop; may reach past the photo)
    scale: float  # output px per source px (horizontal; vertical differs only through snap)
    #: Where the box's pixels sit inside `image` as (x0, y0, x1, y1), x1/y1 exclusive: the whole
    #: image, except for letterboxing. With `box` this is all a stitch-back needs.
    content: Rect | None = None
    #: float32 H x W in the OUTPUT frame: 1 on every pixel that is not the photo's (padding
    #: past it, letterbox bars), for an outpainting model; None when every pixel is the photo's.
    outpaint_mask: np.ndarray | None = None


# -- validation -------------------------------------------------------------------------------
def _check_image(image: np.ndarray, what: str = "image") -> np.ndarray:
    a = np.asarray(image)
    if a.ndim != 3 or a.shape[2] not in (3, 4) or a.shape[0] < 1 or a.shape[1] < 1:
        raise ShotCropError(f"{what} must be a float array H x W x 3 (or x 4 with alpha), "
                            f"got shape {a.shape}: pass one image of the batch, channels last")
    if not np.issubdtype(a.dtype, np.floating):
        raise ShotCropError(f"{what} has dtype {a.dtype}; convert it to float32 in 0..1 first "
                            f"(e.g. divide uint8 data by 255)")
    return a.astype(np.float32, copy=False)


def _check_box(box: Box | Sequence[int], width: int, height: int) -> Box:
    b = box if isinstance(box, Box) else Box.from_list(list(box))
    if not b.inside(width, height):
        raise ShotCropError(f"box {b.to_list()} lies outside the {width}x{height} image: "
                            f"use a box within [0, 0, {width}, {height}] (the shots of this image)")
    return b


def check_side(name: str, value: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) \
            or not 0 < value <= MAX_SIDE:
        raise ShotCropError(f"{name} must be a whole number from 1 to {MAX_SIDE}, got {value!r}")
    return int(value)


def _snap(value: float, snap: int) -> int:
    if snap <= 1:
        return max(1, int(round(value)))
    return max(snap, int(math.floor(value / snap + 0.5)) * snap)  # halves up, never 0


# -- resampling -------------------------------------------------------------------------------
def resize(image: np.ndarray, width: int, height: int) -> np.ndarray:
    """Resize a float HxWxC image to `width` x `height` in float (no quantisation), values 0..1.

    Same size returns the input unchanged. LANCZOS when either side shrinks, else BICUBIC.
    """
    h, w = image.shape[:2]
    if (w, h) == (width, height):
        return image
    filt = Image.Resampling.LANCZOS if width < w or height < h else Image.Resampling.BICUBIC
    chans = [np.asarray(Image.fromarray(np.ascontiguousarray(image[:, :, c], np.float32))
                        .resize((width, height), filt)) for c in range(image.shape[2])]
    return np.clip(np.stack(chans, axis=2), 0.0, 1.0).astype(np.float32, copy=False)


def fit_box_to_aspect(box: Box, aspect: float, width: int, height: int) -> Box:
    """The box grown (or, where the image edge stops it, shrunk) around its centre to `aspect`
    (w/h), shifted to stay inside the width x height image. Aspect is met within 1 px."""
    bw, bh = box.w, box.h
    if bw / bh < aspect:  # too narrow: widen, else cut height
        nw, nh = bh * aspect, float(bh)
        if nw > width:
            nw, nh = float(width), width / aspect
    else:  # too wide: heighten, else cut width
        nw, nh = float(bw), bw / aspect
        if nh > height:
            nw, nh = height * aspect, float(height)
    iw = min(width, max(1, int(round(nw))))
    ih = min(height, max(1, int(round(nh))))
    cx, cy = box.center
    x0 = min(max(0, int(round(cx - iw / 2))), width - iw)
    y0 = min(max(0, int(round(cy - ih / 2))), height - ih)
    return Box(x0, y0, x0 + iw, y0 + ih)


def _fit_inside(w: int, h: int, tw: int, th: int) -> Rect:
    """Centred (x0, y0, x1, y1) of a w x h picture scaled to fit inside tw x th."""
    s = min(tw / w, th / h)
    cw, ch = min(tw, max(1, int(round(w * s)))), min(th, max(1, int(round(h * s))))
    x0, y0 = (tw - cw) // 2, (th - ch) // 2
    return (x0, y0, x0 + cw, y0 + ch)


def _canvas(h: int, w: int, c: int, colour: tuple[float, float, float]) -> np.ndarray:
    fill = list(colour) + [1.0] * (c - 3)  # opaque alpha under a solid pad
    return np.broadcast_to(np.asarray(fill, np.float32), (h, w, c)).copy()


# -- public API -------------------------------------------------------------------------------
def box_mask(width: int, height: int, box: Box, feather: int = 0) -> np.ndarray:
    """Float32 height x width mask, 1 inside `box`, 0 outside (source frame).

    `feather` > 0 ramps linearly inside the box edge: a pixel d px in from the nearest edge gets
    (d + 1) / (feather + 1), so the mask never leaks outside the box. The feather is capped so
    the box centre still reaches 1. Without feather the mask sums to the box area.
    """
    if not all(isinstance(v, (int, np.integer)) and v > 0 for v in (width, height)):
        raise ShotCropError(f"mask size must be two positive whole numbers, got {width}x{height}")
    b = _check_box(box, int(width), int(height))
    if isinstance(feather, bool) or not isinstance(feather, (int, np.integer)) or feather < 0:
        raise ShotCropError(f"feather must be a whole number >= 0, got {feather!r}")
    mask = np.zeros((height, width), np.float32)
    f = min(int(feather), (min(b.w, b.h) - 1) // 2)
    if f == 0:
        mask[b.y0:b.y1, b.x0:b.x1] = 1.0
        return mask
    def ramp(n: int) -> np.ndarray:
        i = np.arange(n)
        return np.minimum(1.0, (np.minimum(i, n - 1 - i) + 1) / (f + 1)).astype(np.float32)
    mask[b.y0:b.y1, b.x0:b.x1] = np.minimum(ramp(b.h)[:, None], ramp(b.w)[None, :])
    return mask


def crop_shot(image: np.ndarray, box: Box, fit: str = "native", width: int = 0, height: int = 0,
              long_side: int = 0, snap: int = 1,
              pad_color: tuple[float, float, float] | None = None, outpaint=None,
              feather: int = 0) -> Crop:
    """Cut `box` out of `image` and size it by `fit` (see the module docstring for the rules).

    native: box pixels as they are; width / height / long_side: scaled keeping the aspect so that
    side equals the value; size: exactly width x height, letterboxed with `pad_color` if given,
    else the box is re-cut around its centre to the target aspect (never distorted). A colour
    is (R, G, B) in 0..1 or hex text (`colour.parse_colour`).

    A box that reaches past the image (a shot composed with beyond_photo) needs `outpaint`:
    "edge" or a colour (`outpaint.parse_fill`) to pad the image out to the box; the crop's
    `outpaint_mask` is then 1 on the padding, feathered `feather` px into the photo.
    """
    img = _check_image(image)
    H0, W0 = img.shape[:2]
    b = box if isinstance(box, Box) else Box.from_list(list(box))
    past = b.past(W0, H0)
    if not any(past):
        return _crop(img, _check_box(b, W0, H0), fit, width, height, long_side, snap, pad_color)
    if outpaint is None:
        raise ShotCropError(f"box {b.to_list()} lies outside the {W0}x{H0} image: use the "
                            "shots of this image, or, for a shot composed beyond the photo, "
                            "give an outpaint fill ('edge' or a colour) to pad it")
    if b.intersection(Box(0, 0, W0, H0)) == 0:
        raise ShotCropError(f"box {b.to_list()} does not overlap the {W0}x{H0} image: use the "
                            "shots of this image")
    fill = op.parse_fill(outpaint)
    left, top = past[0], past[1]
    # The image padded just enough to hold the box, and which of its pixels are padding.
    padded = op.pad(img, past, fill)
    marks = op.padding_mask(padded.shape[0], padded.shape[1], past, feather)[:, :, None]
    shifted = Box(b.x0 + left, b.y0 + top, b.x1 + left, b.y1 + top)
    c = _crop(np.concatenate([padded, marks], axis=2), shifted, fit, width, height, long_side,
              snap, pad_color, bars=1.0)
    used = Box(c.box.x0 - left, c.box.y0 - top, c.box.x1 - left, c.box.y1 - top)
    on_photo = Box(max(used.x0, 0), max(used.y0, 0), min(used.x1, W0), min(used.y1, H0))
    mask = c.image[:, :, -1]
    if not feather:
        mask = (mask >= 0.5).astype(np.float32)  # resampling blurs the seam: keep it exact
    return Crop(c.image[:, :, :-1], box_mask(W0, H0, on_photo), used, c.scale, c.content,
                mask)


def _crop(img: np.ndarray, b: Box, fit: str, width: int, height: int, long_side: int,
          snap: int, pad_color, bars: float | None = None) -> Crop:
    """`crop_shot` of a box inside `img`; `bars`: the value of letterbox bars in the last
    channel (an outpaint mask riding along), instead of the pad colour."""
    H0, W0 = img.shape[:2]
    if fit not in FIT_MODES:
        raise ShotCropError(f"fit mode {fit!r} is unknown: use one of {', '.join(FIT_MODES)}")
    if snap not in SNAPS:
        raise ShotCropError(f"snap {snap!r} is not offered: use one of "
                            f"{', '.join(map(str, SNAPS))} (1 = no snapping)")
    pad = parse_colour(pad_color, "pad_color", allow_empty=True)

    content: Rect | None = None
    if fit == "size":
        if not width or not height:
            raise ShotCropError(f"fit 'size' needs both width and height (got {width}x{height}): "
                                f"set both, or pick fit 'width', 'height' or 'long_side'")
        tw = _snap(check_side("width", width), snap)
        th = _snap(check_side("height", height), snap)
        if pad is None:
            b = fit_box_to_aspect(b, tw / th, W0, H0)
        else:
            content = _fit_inside(b.w, b.h, tw, th)
    elif fit == "native":
        tw, th = _snap(b.w, snap), _snap(b.h, snap)
    else:
        value = check_side(fit, {"width": width, "height": height, "long_side": long_side}[fit])
        side = fit if fit != "long_side" else ("width" if b.w >= b.h else "height")
        s = value / (b.w if side == "width" else b.h)
        tw = value if side == "width" else max(1, int(round(b.w * s)))
        th = value if side == "height" else max(1, int(round(b.h * s)))
        tw, th = _snap(tw, snap), _snap(th, snap)
        if max(tw, th) > MAX_SIDE:
            raise ShotCropError(f"fit {fit!r} = {value} would make a {tw}x{th} crop, over the "
                                f"{MAX_SIDE} px limit: ask for a smaller {fit}")

    pixels = img[b.y0:b.y1, b.x0:b.x1]
    if content is None:
        out = resize(pixels, tw, th)
        if out is pixels:
            out = pixels.copy()  # never hand back a view into the caller's image
        content = (0, 0, tw, th)
        marks = None
    else:
        out = _canvas(th, tw, img.shape[2], pad)  # type: ignore[arg-type]
        if bars is not None:
            out[:, :, -1] = bars
        x0, y0, x1, y1 = content
        out[y0:y1, x0:x1] = resize(pixels, x1 - x0, y1 - y0)
        marks = np.ones((th, tw), np.float32)  # letterbox bars are not the photo's pixels
        marks[y0:y1, x0:x1] = 0.0
    return Crop(out, box_mask(W0, H0, b), b, (content[2] - content[0]) / b.w, content, marks)


def unify_batch(images: list[np.ndarray], rule: str = "first",
                pad_color: tuple[float, float, float] = (0, 0, 0)) -> tuple[np.ndarray, list[Rect]]:
    """Make different-sized crops one (B, H, W, C) batch by a stated rule.

    first: each crop scaled (up or down) to fit inside the first crop's size, centred, keeping its
    aspect, padded with `pad_color`; largest: the same into the largest width x largest height;
    stretch: each resized to the first crop's size, ignoring aspect (distorts; no padding).
    Returns the placement (x0, y0, x1, y1), x1/y1 exclusive, of each crop in the frame. Same-size
    inputs are stacked untouched. RGB crops in a batch with RGBA ones get an opaque alpha.
    """
    if rule not in UNIFY_RULES:
        raise ShotCropError(f"batch rule {rule!r} is unknown: use one of {', '.join(UNIFY_RULES)}")
    if not images:
        raise ShotCropError("no images to batch: pass at least one crop")
    imgs = [_check_image(im, f"image {i}") for i, im in enumerate(images)]
    pad = parse_colour(pad_color, "pad_color")
    c = max(im.shape[2] for im in imgs)
    imgs = [im if im.shape[2] == c else
            np.concatenate([im, np.ones(im.shape[:2] + (1,), np.float32)], axis=2) for im in imgs]
    sizes = {im.shape[:2] for im in imgs}
    if len(sizes) == 1:
        h, w = imgs[0].shape[:2]
        return np.stack(imgs), [(0, 0, w, h)] * len(imgs)
    if rule == "largest":
        th, tw = max(s[0] for s in sizes), max(s[1] for s in sizes)
    else:
        th, tw = imgs[0].shape[:2]
    out = np.empty((len(imgs), th, tw, c), np.float32)
    rects: list[Rect] = []
    for i, im in enumerate(imgs):
        r = (0, 0, tw, th) if rule == "stretch" else _fit_inside(im.shape[1], im.shape[0], tw, th)
        out[i] = _canvas(th, tw, c, pad)
        out[i, r[1]:r[3], r[0]:r[2]] = resize(im, r[2] - r[0], r[3] - r[1])
        rects.append(r)
    return out, rects
