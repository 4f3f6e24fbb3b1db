"""Crop By Shot: cut one shot out of every image, with a stitch mask and the box used."""

from __future__ import annotations

import json

import numpy as np
from comfy_api.latest import io

from ..shotcrop_core import SHOT_NAMES
from ..shotcrop_core.cropping import (FIT_MODES, MAX_SIDE, SNAPS, UNIFY_RULES, crop_shot,
                                      unify_batch)
from ..shotcrop_core.colour import parse_colour
from ..shotcrop_core.outpaint import parse_fill
from ..shotcrop_core.shots import shot_name
from .types import (CATEGORY, Shots, check_shot_name, image_batch, newer_schema_fields,
                    pair_with_images, shot_sets, to_tensor, user_errors)

NODE = "Crop By Shot"
#: Words ComfyUI's node search (0.11+) also finds this node by.
SEARCH_ALIASES = ["crop", "shot", "cut out", "close-up", "medium shot", "establishing shot",
                  "framing", "reframe", "crop to box", "stitch mask"]
#: ComfyUI 0.15+ has a BOUNDING_BOX type ({x, y, width, height}); older ones get a socket of the
#: same name, so the outputs keep their places (saved links) on every version. Only the real
#: type is an output list: on 0.3.64 a list output kept the model of a later run from being
#: freed (/free gave nothing back), and nothing there reads bounding boxes.
NATIVE_BBOX = hasattr(io, "BoundingBox")
BoundingBox = io.BoundingBox if NATIVE_BBOX else io.Custom("BOUNDING_BOX")


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
        outputs += [
            BoundingBox.Output(display_name="bbox", is_output_list=NATIVE_BBOX,
                               tooltip="The box used, one per image (x, y may be negative for "
                                       "a shot past the photo)."),
            io.Mask.Output(display_name="outpaint_mask",
                           tooltip="Per crop, in the CROP's frame: 1 on every pixel that is not "
                                   "the photo's (padding of a shot past the photo, letterbox "
                                   "bars), 0 on the photo. For an inpainting / outpainting "
                                   "sampler; all 0 for a shot inside the photo."),
        ]
        return io.Schema(
            node_id="ShotCropCropByShot",
            **newer_schema_fields(search_aliases=SEARCH_ALIASES),  # newer ComfyUI only
            display_name=NODE,
            category=CATEGORY,
            description="Cuts the chosen shot out of each image and sizes it. Letterbox padding "
                        "is a solid colour, never mirrored; a shot past the photo is padded out "
                        "to its box and outpaint_mask marks the padding for an outpainting "
                        "sampler.",
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
                # New inputs go last (saved workflows map widget values by position) and are
                # optional (API-format prompts written before them still validate).
                io.String.Input("outpaint_fill", optional=True, default="edge",
                                tooltip="A shot past the photo (Compose's beyond_photo) is padded "
                                        "out to its box: edge = the photo's edge pixels repeated "
                                        "(a good start for outpainting), or a hex colour such as "
                                        "#808080."),
                io.Int.Input("outpaint_feather", optional=True, default=0, min=0, max=512,
                             tooltip="Softens outpaint_mask this many pixels (of the photo, "
                                     "before any resize) into the photo, so the sampler blends "
                                     "the seam; 0 = exactly the padding."),
            ],
            outputs=outputs,
        )

    @classmethod
    def validate_inputs(cls, shot=None) -> bool | str:  # None: linked, checked at run time
        return check_shot_name(shot, NODE)

    @classmethod
    def execute(cls, image, shots, shot: str, fit: str, width: int, height: int, long_side: int,
                snap: str, pad_color: str, batch_rule: str, outpaint_fill: str = "edge",
                outpaint_feather: int = 0) -> io.NodeOutput:
        import torch

        with user_errors(NODE):
            name = shot_name(shot)
            images = image_batch(image)
            sets = pair_with_images(shot_sets(shots), images)
            pad = parse_colour(pad_color, "pad_color", allow_empty=True)
            fill = parse_fill(outpaint_fill)
            crops = [crop_shot(im, s[name].box, fit, width, height, long_side, int(snap), pad,
                               fill, outpaint_feather) for im, s in zip(images, sets)]
            batch, placements = unify_batch([c.image for c in crops], batch_rule,
                                            pad if pad is not None else (0.0, 0.0, 0.0))
            info = [{"index": i, "shot": name, "box": c.box.to_list(),
                     "content": _place(c.content, c.image.shape, p), "scale": round(c.scale, 6)}
                    for i, (c, p) in enumerate(zip(crops, placements))]
            mask = torch.from_numpy(np.stack([c.mask for c in crops]))
            # The outpaint masks go through the batch rule like their crops (bars count as
            # padding: not the photo's pixels).
            marks = [np.repeat((c.outpaint_mask if c.outpaint_mask is not None else
                                np.zeros(c.image.shape[:2], np.float32))[:, :, None], 3, axis=2)
                     for c in crops]
            marks = unify_batch(marks, batch_rule, (1.0, 1.0, 1.0))[0][:, :, :, 0]
            bbox = [{"x": c.box.x0, "y": c.box.y0, "width": c.box.w, "height": c.box.h}
                    for c in crops]
        return io.NodeOutput(to_tensor(batch), mask, json.dumps(info), bbox,
                             torch.from_numpy(np.ascontiguousarray(marks)))


def _place(content, shape, placement) -> list[int]:
    """Where the box's pixels ended up in the batch frame, after letterboxing and batching."""
    h, w = shape[:2]
    x0, y0, x1, y1 = content or (0, 0, w, h)
    px0, py0, px1, py1 = placement
    sx, sy = (px1 - px0) / w, (py1 - py0) / h
    return [round(px0 + x0 * sx), round(py0 + y0 * sy), round(px0 + x1 * sx), round(py0 + y1 * sy)]
