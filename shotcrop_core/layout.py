"""Contact-sheet layouts of the three shots: triptych, poster, stack.

Each crop COVERS its panel: it is cut around its centre to the panel's aspect, then resized (never
distorted by more than rounding, never letterboxed inside a panel). Gutters and margins show the
background. Poster = establishing on top over 60 % of the height left after margins and gutter,
medium | close_up below. Panel sizes that do not divide evenly give the leftover pixels to the
first panels (1 px at most each).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import numpy as np

from .colour import parse_colour
from .cropping import check_side, fit_box_to_aspect, resize
from .errors import ShotCropError
from .shots import SHOT_NAMES, Box, ShotSet, shot_name

LAYOUTS: tuple[str, ...] = ("triptych", "poster", "stack")
MIN_PANEL = 16  # px; smaller panels show nothing useful
POSTER_TOP = 0.6  # share of the usable height given to the establishing shot

Rect = tuple[int, int, int, int]


def _split(start: int, length: int, n: int, gutter: int) -> list[tuple[int, int]]:
    """n spans of `length` minus gutters, leftover pixels to the first spans."""
    avail = length - gutter * (n - 1)
    base, extra = divmod(avail, n)
    spans, pos = [], start
    for i in range(n):
        size = base + (1 if i < extra else 0)
        spans.append((pos, pos + size))
        pos += size + gutter
    return spans


def panel_rects(layout: str, width: int, height: int, gutter: int, margin: int) -> dict[str, Rect]:
    """(x0, y0, x1, y1) of each shot's panel, x1/y1 exclusive."""
    x0, y0, iw, ih = margin, margin, width - 2 * margin, height - 2 * margin
    if layout == "triptych":
        return {n: (a, y0, b, y0 + ih) for n, (a, b) in zip(SHOT_NAMES, _split(x0, iw, 3, gutter))}
    if layout == "stack":
        return {n: (x0, a, x0 + iw, b) for n, (a, b) in zip(SHOT_NAMES, _split(y0, ih, 3, gutter))}
    top = int(round((ih - gutter) * POSTER_TOP))
    (l0, l1), (r0, r1) = _split(x0, iw, 2, gutter)
    yb = y0 + top + gutter
    return {"establishing": (x0, y0, x0 + iw, y0 + top),
            "medium": (l0, yb, l1, y0 + ih), "close_up": (r0, yb, r1, y0 + ih)}


def _min_size(layout: str, gutter: int, margin: int) -> tuple[int, int]:
    m, g, p = 2 * margin, gutter, MIN_PANEL
    if layout == "triptych":
        return m + 2 * g + 3 * p, m + p
    if layout == "stack":
        return m + p, m + 2 * g + 3 * p
    return m + g + 2 * p, m + g + int(np.ceil(p / (1 - POSTER_TOP)))


@dataclass(frozen=True)
class Sheet:
    """A contact sheet: its layout, size (px), gutter and margin. The one source of its panel
    aspects, for framing the shots (`aspects`) and for laying them out (`poster_layout`)."""

    layout: str = "triptych"
    width: int = 1920
    height: int = 1080
    gutter: int = 16
    margin: int = 32

    def __post_init__(self) -> None:
        if self.layout not in LAYOUTS:
            raise ShotCropError(f"layout {self.layout!r} is unknown: use one of "
                                f"{', '.join(LAYOUTS)}")
        check_side("width", self.width)
        check_side("height", self.height)
        for name in ("gutter", "margin"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 0:
                raise ShotCropError(f"{name} must be a whole number >= 0, got {v!r}")
        mw, mh = _min_size(self.layout, self.gutter, self.margin)
        if self.width < mw or self.height < mh:
            raise ShotCropError(
                f"a {self.width}x{self.height} {self.layout} with margin {self.margin} and "
                f"gutter {self.gutter} leaves panels under {MIN_PANEL} px: make it at least "
                f"{mw}x{mh}, or reduce margin/gutter")

    @classmethod
    def parse(cls, text: str) -> "Sheet":
        """'triptych:1920x832', with an optional ':GUTTER' and ':MARGIN' (px)."""
        m = re.fullmatch(r"\s*([a-z]+)\s*:\s*(\d+)\s*x\s*(\d+)(?::(\d+))?(?::(\d+))?\s*",
                         str(text).lower())
        if not m:
            raise ShotCropError(f"sheet {text!r} is not valid: write LAYOUT:WIDTHxHEIGHT, "
                                f"optionally :GUTTER:MARGIN (e.g. triptych:1920x832:16:32); "
                                f"layouts: {', '.join(LAYOUTS)}")
        layout, w, h, g, mg = m.groups()
        return cls(layout, int(w), int(h), int(g) if g else cls.gutter,
                   int(mg) if mg else cls.margin)

    def panels(self) -> dict[str, Rect]:
        return panel_rects(self.layout, self.width, self.height, self.gutter, self.margin)

    def aspects(self) -> dict[str, str]:
        """Each shot's panel aspect as W:H (reduced), for the framing engine."""
        out = {}
        for name, (x0, y0, x1, y1) in self.panels().items():
            k = math.gcd(x1 - x0, y1 - y0)
            out[name] = f"{(x1 - x0) // k}:{(y1 - y0) // k}"
        return out


#: A crop within this share of its panel's aspect fills the panel with at most a sliver cut.
ASPECT_SLACK = 0.02


def _misfit(w: float, h: float, panel: Rect) -> bool:
    pw, ph = panel[2] - panel[0], panel[3] - panel[1]
    return abs((w / h) / (pw / ph) - 1) > ASPECT_SLACK


def fit_to_sheet(shots: ShotSet, sheet: Sheet, people=(), framing=None) -> ShotSet:
    """The shot set with every shot at its panel's aspect: as it is when framed for the sheet,
    else re-framed there by the shot grammar (`framing.reframe`, with the landmarks `people`
    when given), never cut around its centre."""
    from .framing import reframe

    panels = sheet.panels()
    if not any(_misfit(s.box.w, s.box.h, panels[s.name]) for s in shots):
        return shots
    return reframe(shots, people, framing, sheet.aspects())


def centre_cuts(crops: dict[str, np.ndarray], sheet: Sheet) -> dict[str, str]:
    """Why each crop of another aspect than its panel's will be cut around its centre (crops
    alone carry no landmarks to re-frame them by)."""
    out = {}
    for name, (x0, y0, x1, y1) in sheet.panels().items():
        h, w = np.asarray(crops[name]).shape[:2]
        if _misfit(w, h, (x0, y0, x1, y1)):
            out[name] = (f"the {name} crop ({w}x{h}) is cut around its centre to its "
                         f"{x1 - x0}x{y1 - y0} panel: frame the shots for the sheet (Shot Sheet "
                         "into Compose's sheet input), or connect shots and image so the grammar "
                         "re-frames them")
    return out


def _rgb(crop: np.ndarray, name: str, background: tuple[float, float, float]) -> np.ndarray:
    a = np.asarray(crop)
    if a.ndim == 2:
        a = a[:, :, None]
    if a.ndim != 3 or a.shape[2] not in (1, 3, 4) or 0 in a.shape:
        raise ShotCropError(f"crop {name!r} must be an H x W x 3 (or 4) float image, "
                            f"got shape {a.shape}")
    if not np.issubdtype(a.dtype, np.floating):
        raise ShotCropError(f"crop {name!r} has dtype {a.dtype}: convert it to float32 in 0..1")
    a = np.clip(a.astype(np.float32), 0.0, 1.0)
    if a.shape[2] == 1:
        return np.repeat(a, 3, axis=2)
    if a.shape[2] == 4:  # composite over the background so transparent parts match gutters
        alpha = a[:, :, 3:]
        return a[:, :, :3] * alpha + np.asarray(background, np.float32) * (1 - alpha)
    return a


def poster_layout(crops: dict[str, np.ndarray], layout: str = "triptych", width: int = 1920,
                  height: int = 1080, gutter: int = 16, margin: int = 32,
                  background=(1.0, 1.0, 1.0)) -> np.ndarray:
    """One float32 height x width x 3 sheet with the three crops (see module docstring)."""
    sheet = Sheet(layout, width, height, gutter, margin)
    bg = parse_colour(background, "background")
    named = {shot_name(k): v for k, v in dict(crops).items()}
    missing = [n for n in SHOT_NAMES if n not in named]
    if missing:
        raise ShotCropError(f"layout needs crops for {', '.join(SHOT_NAMES)}; missing "
                            f"{', '.join(missing)}: connect all three shots")
    out = np.empty((height, width, 3), np.float32)
    out[:] = bg
    for name, (x0, y0, x1, y1) in sheet.panels().items():
        img = _rgb(named[name], name, bg)
        h, w = img.shape[:2]
        pw, ph = x1 - x0, y1 - y0
        # Cover: the largest centred part of the crop with the panel's aspect (inward only).
        c = fit_box_to_aspect(Box(0, 0, w, h), pw / ph, w, h)
        out[y0:y1, x0:x1] = resize(img[c.y0:c.y1, c.x0:c.x1], pw, ph)
    return out
