"""Colours as users give them: hex text ('#RRGGBB', 'RRGGBB', '#RGB') or three numbers in 0..1.

`parse_colour` gives floats in 0..1 (the image code, the nodes' colour inputs); `hex_to_rgb8`
gives 0..255 for drawing with Pillow. Bad input is one ShotCropError that names the argument and
shows a colour that works.
"""

from __future__ import annotations

from typing import Any

from .errors import ShotCropError

RGB = tuple[float, float, float]
_HEX_DIGITS = frozenset("0123456789abcdefABCDEF")


def hex_to_rgb8(text: str, what: str = "colour") -> tuple[int, int, int]:
    """'#RRGGBB', 'RRGGBB' or '#RGB' (any case, surrounding spaces ignored) -> (r, g, b) in
    0..255."""
    t = str(text).strip().lstrip("#")
    if len(t) == 3:
        t = "".join(c * 2 for c in t)
    # Checked digit by digit: int(..., 16) would also take signs and underscores ('#-1-1-1').
    if len(t) != 6 or not set(t) <= _HEX_DIGITS:
        raise ShotCropError(f"{what} {text!r} is not a colour: write it as hex, e.g. #000000 "
                            f"(black) or #ffffff (white)")
    return (int(t[0:2], 16), int(t[2:4], 16), int(t[4:6], 16))


def parse_colour(value: Any, what: str = "colour", allow_empty: bool = False) -> RGB | None:
    """(r, g, b) in 0..1 from hex text (see `hex_to_rgb8`) or three numbers in 0..1. With
    `allow_empty`, None or blank text means "no colour" and gives None."""
    if value is None or isinstance(value, str):
        text = "" if value is None else value
        if allow_empty and not text.strip():
            return None
        try:
            r, g, b = hex_to_rgb8(text, what)
        except ShotCropError as e:
            raise ShotCropError(f"{e}{' or leave it empty' if allow_empty else ''}") from None
        return (r / 255.0, g / 255.0, b / 255.0)
    try:
        c = tuple(float(v) for v in value)
    except (TypeError, ValueError):
        c = ()
    if len(c) != 3 or not all(0.0 <= v <= 1.0 for v in c):
        raise ShotCropError(f"{what} {value!r} is not a colour: give three numbers in 0..1 "
                            f"(R, G, B), e.g. (0, 0, 0) for black or (1, 1, 1) for white")
    return c  # type: ignore[return-value]


__all__ = ["RGB", "hex_to_rgb8", "parse_colour"]
