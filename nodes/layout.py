"""Shot Poster Layout: the three shots on one sheet (triptych, poster or stack)."""

from __future__ import annotations

from comfy_api.latest import io

from ..shotcrop_core import SHOT_NAMES, ShotCropError
from ..shotcrop_core.colour import parse_colour
from ..shotcrop_core.cropping import MAX_SIDE, crop_shot
from ..shotcrop_core.layout import LAYOUTS, poster_layout
from .types import (CATEGORY, Shots, image_batch, newer_schema_fields, pair_with_images, shot_sets,
                    to_tensor, user_errors)

NODE = "Shot Poster Layout"
#: Words ComfyUI's node search (0.11+) also finds this node by.
SEARCH_ALIASES = ["triptych", "poster", "contact sheet", "storyboard", "layout", "collage", "grid",
                  "shots", "cinematic"]


class ShotPosterLayout(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        crops = [io.Image.Input(n, optional=True,
                                tooltip=f"The {n.replace('_', '-')} crop (e.g. from Crop By "
                                        "Shot). Leave the three crop inputs empty to cut them "
                                        "from 'image' with 'shots'.")
                 for n in SHOT_NAMES]
        return io.Schema(
            node_id="ShotCropPosterLayout",
            **newer_schema_fields(search_aliases=SEARCH_ALIASES),  # newer ComfyUI only
            display_name=NODE,
            category=CATEGORY,
            description="Lays the three shots out on one sheet. Each crop covers its panel (cut "
                        "around its centre, never distorted).",
            inputs=[
                *crops,
                Shots.Input("shots", optional=True,
                            tooltip="With 'image': the shots to cut (instead of the three crop "
                                    "inputs)."),
                io.Image.Input("image", optional=True,
                               tooltip="With 'shots': the images the shots were made for."),
                io.Combo.Input("layout", options=list(LAYOUTS), default="triptych",
                               tooltip="triptych: side by side; poster: establishing on top, "
                                       "medium and close-up below; stack: one above another."),
                io.Int.Input("width", default=1920, min=64, max=MAX_SIDE, step=8,
                             tooltip="Sheet width in pixels."),
                io.Int.Input("height", default=1080, min=64, max=MAX_SIDE, step=8,
                             tooltip="Sheet height in pixels."),
                io.Int.Input("gutter", default=16, min=0, max=1024,
                             tooltip="Space between panels, in pixels."),
                io.Int.Input("margin", default=32, min=0, max=2048,
                             tooltip="Space around the sheet's edge, in pixels."),
                io.String.Input("background", default="#ffffff",
                                tooltip="Colour of gutters and margins, as hex (e.g. #000000)."),
            ],
            outputs=[io.Image.Output(display_name="image",
                                     tooltip="One sheet per image of the batch.")],
        )

    @classmethod
    def execute(cls, layout: str, width: int, height: int, gutter: int, margin: int,
                background: str, establishing=None, medium=None, close_up=None, shots=None,
                image=None) -> io.NodeOutput:
        with user_errors(NODE):
            bg = parse_colour(background, "background")
            given = {"establishing": establishing, "medium": medium, "close_up": close_up}
            if all(v is not None for v in given.values()):
                batches = {n: image_batch(v) for n, v in given.items()}
                count = max(len(b) for b in batches.values())
                # A single crop is reused for every sheet; otherwise the i-th of each batch.
                sheets = [{n: b[min(i, len(b) - 1)] for n, b in batches.items()}
                          for i in range(count)]
            elif shots is not None and image is not None:
                images = image_batch(image)
                sets = pair_with_images(shot_sets(shots), images)
                sheets = [{n: crop_shot(im, s[n].box).image for n in SHOT_NAMES}
                          for im, s in zip(images, sets)]
            else:
                missing = [n for n, v in given.items() if v is None]
                raise ShotCropError(f"connect all three crops (missing: {', '.join(missing)}), "
                                    "or connect 'shots' and 'image' instead")
            out = [poster_layout(c, layout, width, height, gutter, margin, bg) for c in sheets]
        return io.NodeOutput(to_tensor(out))
