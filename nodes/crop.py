"""Crop By Shot: cut one shot out of every image, with a stitch mask and the box used."""

from __future__ import annotations

import json

import numpy as np
from comfy_api.latest import io

from ..shotcrop_core import SHOT_NAMES
from ..shotcrop_core.cropping import (FIT_MODES, MAX_SIDE, SNAPS, UNIFY_RULES, crop_shot,
                                      unify_batch)
from ..shotcrop_core.colour import parse_colour
from ..shotcrop_core.shots import shot_name
from .types import (CATEGORY, Shots, check_shot_name, image_batch, newer_schema_fields,
                    pair_with_images, shot_sets, to_tensor, user_errors)

NODE = "Crop By Shot"
#: Words ComfyUI's node search (0.11+) also finds this node by.
SEARCH_ALIASES = ["crop", "shot", "cut out", "close-up", "medium shot", "establishing shot",
                  "framing", "reframe", "crop to box", "stitch mask"]
#: ComfyUI >= 0.3.6x has a BOUNDING_BOX type ({x, y, width, height}); 0.3.64 does not.
BoundingBox = getattr(io, "BoundingBox", None)


class CropByShot(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        outputs = [
            io.Image.Output(display_name="image",
                            tooltip="The crops. Different sizes in one batch follow the batch "
                                    "rule."),
            io.Mask.Output(display_name="mask",
                           tooltip="Per image, in the SOURCE frame: 1 inside the box used, 0 "
                                   "outside (for stitching an edited crop back)."),
            io.String.Output(display_name="box_json",
                             tooltip="JSON list, one object per image: box [x0, y0, x1, y1] used "
                                     "(source pixels, x1/y1 exclusive), content (where those "
                                     "pixels sit in the output), scale."),
        ]
        if BoundingBox is not None:
            outputs.append(BoundingBox.Output(display_name="bbox", is_output_list=True,
                                              tooltip="The box used, one per image."))
        return io.Schema(
            node_id="ShotCropCropByShot",
            **newer_schema_fields(search_aliases=SEARCH_ALIASES),  # newer ComfyUI only
            display_name=NODE,
            category=CATEGORY,
            description="Cuts the chosen shot out of each image and sizes it. Padding is always a "
                        "solid colour, never mirrored.",
            inputs=[
                io.Image.Input("image", tooltip="The same images that went into Triple-Shot "
                                                "Compose."),
                Shots.Input("shots", tooltip="From Triple-Shot Compose or Edit Shots."),
                io.Combo.Input("shot", options=list(SHOT_NAMES), default="medium",
                               tooltip="Which of the three shots to cut out."),
                io.Combo.Input("fit", options=list(FIT_MODES), default="native",
                               tooltip="native: box pixels as they are. width / height / "
                                       "long_side: scaled so that side matches, aspect kept. "
                                       "size: exactly width x height (box re-cut around its "
                                       "centre, or letterboxed when pad_color is set)."),
                io.Int.Input("width", default=1024, min=0, max=MAX_SIDE, step=8,
                             tooltip="Target width for fit 'width' and 'size'."),
                io.Int.Input("height", default=1024, min=0, max=MAX_SIDE, step=8,
                             tooltip="Target height for fit 'height' and 'size'."),
                io.Int.Input("long_side", default=1024, min=0, max=MAX_SIDE, step=8,
                             tooltip="Target length of the longer side for fit 'long_side'."),
                io.Combo.Input("snap", options=[str(s) for s in SNAPS], default="1",
                               tooltip="Round output sides to a multiple of this (8/16/32/64 "
                                       "suit diffusion models); 1 = no rounding."),
                io.String.Input("pad_color", default="",
                                tooltip="Empty: never pad (fit 'size' re-cuts the box to the "
                                        "target aspect). A hex colour such as #000000: "
                                        "letterbox with it instead."),
                io.Combo.Input("batch_rule", options=list(UNIFY_RULES), default="first",
                               tooltip="When crops differ in size: first = fit each inside the "
                                       "first crop's size, padded; largest = fit inside the "
                                       "largest; stretch = resize to the first (distorts)."),
            ],
            outputs=outputs,
        )

    @classmethod
    def validate_inputs(cls, shot=None) -> bool | str:  # None: linked, checked at run time
        return check_shot_name(shot, NODE)

    @classmethod
    def execute(cls, image, shots, shot: str, fit: str, width: int, height: int, long_side: int,
                snap: str, pad_color: str, batch_rule: str) -> io.NodeOutput:
        import torch

        with user_errors(NODE):
            name = shot_name(shot)
            images = image_batch(image)
            sets = pair_with_images(shot_sets(shots), images)
            pad = parse_colour(pad_color, "pad_color", allow_empty=True)
            crops = [crop_shot(im, s[name].box, fit, width, height, long_side, int(snap), pad)
                     for im, s in zip(images, sets)]
            batch, placements = unify_batch([c.image for c in crops], batch_rule,
                                            pad if pad is not None else (0.0, 0.0, 0.0))
            info = [{"index": i, "shot": name, "box": c.box.to_list(),
                     "content": _place(c.content, c.image.shape, p), "scale": round(c.scale, 6)}
                    for i, (c, p) in enumerate(zip(crops, placements))]
            mask = torch.from_numpy(np.stack([c.mask for c in crops]))
            out = [to_tensor(batch), mask, json.dumps(info)]
            if BoundingBox is not None:
                out.append([{"x": c.box.x0, "y": c.box.y0, "width": c.box.w, "height": c.box.h}
                            for c in crops])
        return io.NodeOutput(*out)


def _place(content, shape, placement) -> list[int]:
    """Where the box's pixels ended up in the batch frame, after letterboxing and batching."""
    h, w = shape[:2]
    x0, y0, x1, y1 = content or (0, 0, w, h)
    px0, py0, px1, py1 = placement
    sx, sy = (px1 - px0) / w, (py1 - py0) / h
    return [round(px0 + x0 * sx), round(py0 + y0 * sy), round(px0 + x1 * sx), round(py0 + y1 * sy)]
