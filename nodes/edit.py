"""Edit Shots: apply hand-drawn boxes (JSON written by the web editor, or typed), then
optionally let the shot grammar repair them with the landmarks Compose found."""

from __future__ import annotations

import json
from dataclasses import replace

from comfy_api.latest import io

from ..shotcrop_core import Box, ShotCropError
from ..shotcrop_core.framing import mark_past, reframe
from ..shotcrop_core.shots import reach, shot_name, within_reach
from .types import (CATEGORY, FramedShots, Shots, newer_schema_fields, shot_sets, shots_json,
                    user_errors)

NODE = "Edit Shots"
#: Words ComfyUI's node search (0.11+) also finds this node by.
SEARCH_ALIASES = ["edit crop", "adjust crop", "crop box", "shot editor", "bounding box", "reframe",
                  "framing", "shot"]


def parse_overrides(text: str, count: int) -> dict[int, dict[str, list]]:
    """'{"0": {"medium": [x0, y0, x1, y1]}}' -> {0: {"medium": [...]}}; keys checked."""
    text = (text or "").strip()
    if not text:
        return {}
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        raise ShotCropError(f"overrides is not valid JSON ({e}): write "
                            '{"0": {"medium": [x0, y0, x1, y1]}}') from None
    if not isinstance(data, dict):
        raise ShotCropError('overrides must be a JSON object such as {"0": {"medium": '
                            f"[x0, y0, x1, y1]}}}}, got {type(data).__name__}")
    out: dict[int, dict[str, list]] = {}
    for key, boxes in data.items():
        try:
            i = int(key)
        except ValueError:
            raise ShotCropError(f"overrides key {key!r} must be an image index (0, 1, ...)"
                                ) from None
        if not 0 <= i < count:
            raise ShotCropError(f"overrides names image {i}, but SHOTS holds {count} shot "
                                f"set(s) (indices 0 to {count - 1})")
        if not isinstance(boxes, dict):
            raise ShotCropError(f"overrides[{key!r}] must map shot names to boxes")
        out[i] = {shot_name(n): b for n, b in boxes.items()}
    return out


class EditShots(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="ShotCropEditShots",
            **newer_schema_fields(search_aliases=SEARCH_ALIASES),  # newer ComfyUI only
            display_name=NODE,
            category=CATEGORY,
            description="Replaces shot boxes by hand. With revalidate on, the shot grammar moves "
                        "each edited edge the least needed to keep joints uncut, the eye line "
                        "and the nesting.",
            inputs=[
                Shots.Input("shots", tooltip="From Triple-Shot Compose."),
                io.String.Input("overrides", default="", multiline=True,
                                # No braces in tooltips: vue-i18n reads them as placeholders.
                                tooltip="JSON object: image index -> shot name -> box [x0, y0, "
                                        "x1, y1] in source pixels (example in the node's help "
                                        "page). The shot editor writes it for you. Empty = no "
                                        "change."),
                io.Boolean.Input("revalidate", default=True,
                                 tooltip="On: repair edited shots with the grammar (needs the "
                                         "landmarks Compose found; photos without a person only "
                                         "get aspect and nesting fixed). Off: use the boxes "
                                         "exactly as given."),
            ],
            outputs=[
                Shots.Output(display_name="shots", tooltip="The edited shot sets."),
                io.String.Output(display_name="shots_json",
                                 tooltip="The edited shot sets as JSON, one object per image."),
            ],
        )

    @classmethod
    def execute(cls, shots, overrides: str, revalidate: bool) -> io.NodeOutput:
        with user_errors(NODE):
            sets = shot_sets(shots)
            edits = parse_overrides(overrides, len(sets))
            out = []
            for i, s in enumerate(sets):
                if i not in edits:
                    out.append(s)
                    continue
                new = s
                for name, box in edits[i].items():
                    b = Box.from_list(box, f"overrides[{i}].{name}")
                    if not within_reach(b.to_list(), s.width, s.height, s.beyond):
                        rx, ry = reach(s.beyond, s.width, s.height)
                        also = (f" and the {rx} x {ry} px it may reach past it (Compose's "
                                "beyond_photo)" if s.beyond else "")
                        raise ShotCropError(
                            f"image {i}: {name} box {b.to_list()} reaches outside the "
                            f"{s.width}x{s.height} image{also}: keep {-rx} <= x0 < x1 <= "
                            f"{s.width + rx} and {-ry} <= y0 < y1 <= {s.height + ry} (source "
                            "pixels), or redraw it in the shot editor")
                    new = new.with_shot(replace(s[name], box=b))
                # Revalidated or not, descriptions and warnings say which shots need outpainting.
                new = _revalidate(new) if revalidate else mark_past(new)
                out.append(new)
        return io.NodeOutput(out, shots_json(out))


def _revalidate(s):
    """refine with Compose's landmarks; without them only aspect and nesting can be fixed."""
    people = getattr(s, "people", ())
    framing = getattr(s, "framing", None)
    fixed = reframe(s, people, framing)
    return FramedShots.wrap(fixed, people, framing) if isinstance(s, FramedShots) else fixed
