"""Preview annotator: draws a ShotSet onto its photo (kept apart from the data model, in the
manner of Roboflow supervision's annotators). Pure Pillow; sizes scale with the image."""

from __future__ import annotations

import math

from PIL import Image, ImageDraw, ImageFont

from .colour import hex_to_rgb8
from .errors import ShotCropError
from .imageio import LoadedImage
from .keypoints import MIN_SCORE, Person
from .shots import SHOT_NAMES, ShotSet

#: One colour per shot (Okabe-Ito, distinguishable with colour-vision deficiencies). Hex strings,
#: so the web UI can use the same ones.
SHOT_COLORS: dict[str, str] = {"establishing": "#56B4E9", "medium": "#E69F00",
                               "close_up": "#CC79A7"}
SHOT_LABELS: dict[str, str] = {"establishing": "establishing", "medium": "medium",
                               "close_up": "close-up"}
SKELETON_COLOR = "#FFFFFF"
#: What the preview shows where a shot reaches past the photo (padding to outpaint).
PADDING_COLOR = (96, 96, 96)
FALLBACK_NOTE = "fallback framing: no person found"
#: COCO-17 limbs as keypoint index pairs (the COCO `skeleton`, made 0-based).
COCO_SKELETON: tuple[tuple[int, int], ...] = (
    (15, 13), (13, 11), (16, 14), (14, 12), (11, 12), (5, 11), (6, 12), (5, 6), (5, 7), (6, 8),
    (7, 9), (8, 10), (1, 2), (0, 1), (0, 2), (1, 3), (2, 4), (3, 5), (4, 6))
_ASPECT_TOLERANCE = 0.02


def _text_colour(bg: tuple[int, int, int]) -> tuple[int, int, int]:
    lum = 0.2126 * bg[0] + 0.7152 * bg[1] + 0.0722 * bg[2]
    return (17, 17, 17) if lum > 110 else (255, 255, 255)


def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    try:
        return ImageFont.load_default(size=size)
    except (TypeError, ValueError, OSError):  # Pillow built without FreeType
        return ImageFont.load_default()


def _overlaps(a: tuple[float, ...], b: tuple[float, ...]) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def draw_shots(image: Image.Image | LoadedImage, shotset: ShotSet,
               people: list[Person] | None = None, subject_index: int | None = None) -> Image.Image:
    """A copy of `image` with the three shot boxes drawn and labelled.

    `image` may be the photo or a resized preview of it (boxes are scaled). With `people`, the
    subject's skeleton (`subject_index`, else the shot set's subject index) is drawn thinly.
    """
    if isinstance(image, LoadedImage):
        image = image.image
    base = image.convert("RGB") if image.mode != "RGB" else image.copy()
    W, H = base.size
    sx, sy = W / shotset.width, H / shotset.height
    if abs(sx / sy - 1) > _ASPECT_TOLERANCE:
        raise ShotCropError(f"cannot draw a shot set made for a {shotset.width}x{shotset.height} "
                            f"image on a {W}x{H} one: give the photo the shots were made for.")
    short = min(W, H)
    lw = max(2, round(short / 250))
    font_size = max(11, round(short / 32))
    font = _font(font_size)
    pad = max(2, font_size // 4)
    # Shots that reach past the photo: the canvas grows to hold them, the padding in grey.
    past = [max(p) for p in zip(*(shotset.past(n) for n in SHOT_NAMES))]
    ox, oy = math.ceil(past[0] * sx), math.ceil(past[1] * sy)
    if any(past):
        canvas = Image.new("RGB", (W + ox + math.ceil(past[2] * sx),
                                   H + oy + math.ceil(past[3] * sy)), PADDING_COLOR)
        canvas.paste(base, (ox, oy))
        base = canvas
        W, H = base.size

    # Drawn straight onto the copy, each colour blended by its alpha (an RGBA overlay and its
    # composite cost more than the rest of the preview).
    draw = ImageDraw.Draw(base, "RGBA")

    idx = subject_index if subject_index is not None else (
        shotset.subject.index if shotset.subject is not None else None)
    if people and idx is not None and 0 <= idx < len(people):
        _draw_skeleton(draw, people[idx], sx, sy, max(1, lw // 2), ox, oy)

    boxes = {}
    for shot in shotset:  # largest first, so smaller boxes are drawn on top
        b = shot.box
        x0, y0 = b.x0 * sx + ox, b.y0 * sy + oy
        x1, y1 = b.x1 * sx - 1 + ox, b.y1 * sy - 1 + oy  # x1/y1 are exclusive
        colour = hex_to_rgb8(SHOT_COLORS[shot.name])
        # A dark halo keeps the line visible on light and busy backgrounds alike.
        draw.rectangle((x0, y0, x1, y1), outline=(0, 0, 0, 110), width=lw + 2)
        draw.rectangle((x0 + 1, y0 + 1, x1 - 1, y1 - 1), outline=colour + (255,), width=lw)
        boxes[shot.name] = (x0, y0, x1, y1)

    placed: list[tuple[float, ...]] = []
    for shot in shotset:  # labels last, so no box line crosses a label
        text = SHOT_LABELS[shot.name] + (f"  {shot.aspect}" if shot.aspect != "original" else "")
        l, t, r, btm = draw.textbbox((0, 0), text, font=font)
        tw, th = r - l + 2 * pad, btm - t + 2 * pad
        x0, y0, x1, y1 = boxes[shot.name]
        inset = lw + 1
        corners = [(x0 + inset, y0 + inset), (x1 - inset - tw, y0 + inset),
                   (x0 + inset, y1 - inset - th), (x1 - inset - tw, y1 - inset - th)]
        rect = None
        for cx, cy in corners:  # inside the box, in the first corner no other label holds
            cx, cy = min(max(cx, 0), W - tw), min(max(cy, 0), H - th)
            cand = (cx, cy, cx + tw, cy + th)
            if not any(_overlaps(cand, p) for p in placed):
                rect = cand
                break
        if rect is None:  # every corner taken: stack under the labels already placed
            cx = min(max(corners[0][0], 0), W - tw)
            cy = min(max(max(p[3] for p in placed), 0), H - th)
            rect = (cx, cy, cx + tw, cy + th)
        placed.append(rect)
        colour = hex_to_rgb8(SHOT_COLORS[shot.name])
        draw.rectangle(rect, fill=colour + (235,))
        draw.text((rect[0] + pad - l, rect[1] + pad - t), text, font=font,
                  fill=_text_colour(colour) + (255,))

    if shotset.fallback:
        _draw_note(draw, FALLBACK_NOTE, font, pad, W, H)
    return base


def _draw_skeleton(draw: ImageDraw.ImageDraw, person: Person, sx: float, sy: float,
                   width: int, ox: int = 0, oy: int = 0) -> None:
    kp = person.keypoints
    pts = {i: (kp[i, 0] * sx + ox, kp[i, 1] * sy + oy) for i in range(17)
           if kp[i, 2] >= MIN_SCORE}
    colour = hex_to_rgb8(SKELETON_COLOR) + (200,)
    for a, b in COCO_SKELETON:
        if a in pts and b in pts:
            draw.line((pts[a], pts[b]), fill=colour, width=width)
    r = width + 1
    for x, y in pts.values():
        draw.ellipse((x - r, y - r, x + r, y + r), fill=colour)


def _draw_note(draw: ImageDraw.ImageDraw, text: str, font, pad: int, W: int, H: int) -> None:
    """A dark banner at the bottom left, so a fallback preview is never mistaken for a real one."""
    l, t, r, b = draw.textbbox((0, 0), text, font=font)
    tw, th = r - l + 2 * pad, b - t + 2 * pad
    x0, y0 = pad, max(0, H - th - pad)
    draw.rectangle((x0, y0, min(W, x0 + tw), y0 + th), fill=(0, 0, 0, 190))
    draw.text((x0 + pad - l, y0 + pad - t), text, font=font, fill=(255, 210, 80, 255))


__all__ = ["COCO_SKELETON", "FALLBACK_NOTE", "SHOT_COLORS", "SHOT_LABELS", "SKELETON_COLOR",
           "draw_shots"]
