"""Aspect ratios: parsing `16:9`, `original`, `free` and per-shot specs like `medium=4:5`."""

from __future__ import annotations

import re

from .errors import ShotCropError
from .shots import SHOT_NAMES, shot_name

#: The aspects offered in menus (any W:H with positive numbers is accepted too).
ASPECTS = ("original", "free", "1:1", "4:5", "3:4", "2:3", "9:16", "16:9", "4:3", "3:2", "21:9")
_RATIO = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*[:x/]\s*(\d+(?:\.\d+)?)\s*$")


def parse_aspect(text: str) -> str:
    """Normalise one aspect string; raise a ShotCropError that lists what is accepted."""
    t = str(text).strip().lower()
    if t in ("original", "free"):
        return t
    m = _RATIO.match(t)
    if m:
        a, b = float(m.group(1)), float(m.group(2))
        if a > 0 and b > 0 and 0.05 <= a / b <= 20:
            fmt = lambda v: str(int(v)) if v.is_integer() else str(v)  # noqa: E731
            return f"{fmt(a)}:{fmt(b)}"
    raise ShotCropError(f"aspect {text!r} is not valid: use W:H with positive numbers "
                        f"(e.g. 16:9, 4:5) or one of 'original', 'free'")


def aspect_ratio(aspect: str, width: int, height: int) -> float | None:
    """Width / height for an aspect string; None for 'free'."""
    a = parse_aspect(aspect)
    if a == "free":
        return None
    if a == "original":
        return width / height
    w, h = a.split(":")
    return float(w) / float(h)


def parse_aspect_spec(spec: str | dict | None) -> dict[str, str]:
    """`establishing=16:9,medium=4:5,close_up=1:1` (or a single `4:5` for all) -> per-shot dict."""
    out = {n: "original" for n in SHOT_NAMES}
    if spec is None or spec == "":
        return out
    if isinstance(spec, dict):
        items = list(spec.items())
    elif "=" not in spec:
        return {n: parse_aspect(spec) for n in SHOT_NAMES}
    else:
        items = []
        for part in spec.split(","):
            if not part.strip():
                continue
            if "=" not in part:
                raise ShotCropError(f"aspect spec part {part!r} needs the form SHOT=W:H "
                                    f"(e.g. establishing=16:9,medium=4:5,close_up=1:1)")
            k, v = part.split("=", 1)
            items.append((k, v))
    for k, v in items:
        try:
            name = shot_name(k)
        except ShotCropError as e:
            raise ShotCropError(f"aspect spec: {e}") from None
        out[name] = parse_aspect(v)
    return out
