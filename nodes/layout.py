"""Shot Poster Layout: the three shots on one sheet (triptych, poster or stack)."""

from __future__ import annotations

from comfy_api.latest import io

from ..shotcrop_core import SHOT_NAMES, ShotCropError
from ..shotcrop_core.colour import parse_colour
from ..shotcrop_core.cropping import MAX_SIDE, crop_shot
from ..shotcrop_core.layout import LAYOUTS, Sheet, centre_cuts, fit_to_sheet, poster_layout
from ..shotcrop_core.outpaint import EDGE
from .types import (CATEGORY, SheetType, Shots, image_batch, log, newer_schema_fields,
                    pair_with_images, shot_sets, to_tensor, user_errors)

NODE = "Shot Poster Layout"
SHEET_NODE = "Shot Sheet"
#: Words ComfyUI's node search (0.11+) also finds this node by.
SEARCH_ALIASES = ["triptych", "poster", "contact sheet", "storyboard", "layout", "collage", "grid",
                  "shots", "cinematic"]


_SHEET_TIPS = {
    "layout": "triptych: side by side; poster: establishing on top, medium and close-up below; "
              "stack: one above another.",
    "width": "Sheet width in pixels.",
    "height": "Sheet height in pixels.",
    "gutter": "Space between panels, in pixels.",
    "margin": "Space around the sheet's edge, in pixels.",
}


def _sheet_inputs() -> list:
    """The sheet's widgets, shared by Shot Sheet and Shot Poster Layout."""
    return [
        io.Combo.Input("layout", options=list(LAYOUTS), default="triptych",
                       tooltip=_SHEET_TIPS["layout"]),
        io.Int.Input("width", default=1920, min=64, max=MAX_SIDE, step=8,
                     tooltip=_SHEET_TIPS["width"]),
        io.Int.Input("height", default=1080, min=64, max=MAX_SIDE, step=8,
                     tooltip=_SHEET_TIPS["height"]),
        io.Int.Input("gutter", default=16, min=0, max=1024, tooltip=_SHEET_TIPS["gutter"]),
        io.Int.Input("margin", default=32, min=0, max=2048, tooltip=_SHEET_TIPS["margin"]),
    ]


class ShotSheet(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="ShotCropSheet",
            **newer_schema_fields(search_aliases=["sheet", "layout", "triptych", "poster",
                                                  "panel", "aspect"]),
            display_name=SHEET_NODE,
            category=CATEGORY,
            description="One contact sheet for the whole graph: connect it to Triple-Shot "
                        "Compose (each shot framed at its panel's aspect) and to Shot Poster "
                        "Layout (the same panels), so no panel is ever re-cut.",
            inputs=_sheet_inputs(),
            outputs=[SheetType.Output(display_name="sheet",
                                      tooltip="The sheet: to Compose's and Poster Layout's "
                                              "sheet inputs.")],
        )

    @classmethod
    def execute(cls, layout: str, width: int, height: int, gutter: int,
                margin: int) -> io.NodeOutput:
        with user_errors(SHEET_NODE):
            sheet = Sheet(layout, width, height, gutter, margin)
        return io.NodeOutput(sheet)


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
            description="Lays the three shots out on one sheet. Shots framed for the sheet "
                        "fill their panels as they are; with 'shots' and 'image', a shot of "
                        "another aspect is re-framed at its panel's by the shot grammar; crops "
                        "alone are cut around their centre (never distorted).",
            inputs=[
                *crops,
                Shots.Input("shots", optional=True,
                            tooltip="With 'image': the shots to cut (instead of the three crop "
                                    "inputs)."),
                io.Image.Input("image", optional=True,
                               tooltip="With 'shots': the images the shots were made for."),
                *_sheet_inputs(),
                io.String.Input("background", default="#ffffff",
                                tooltip="Colour of gutters and margins, as hex (e.g. #000000)."),
                SheetType.Input("sheet", optional=True,
                                tooltip="From Shot Sheet (the one Compose framed for): its "
                                        "layout, size, gutter and margin replace the widgets."),
            ],
            outputs=[io.Image.Output(display_name="image",
                                     tooltip="One sheet per image of the batch.")],
        )

    @classmethod
    def execute(cls, layout: str, width: int, height: int, gutter: int, margin: int,
                background: str, establishing=None, medium=None, close_up=None, shots=None,
                image=None, sheet=None) -> io.NodeOutput:
        with user_errors(NODE):
            bg = parse_colour(background, "background")
            sheet = sheet if sheet is not None else Sheet(layout, width, height, gutter, margin)
            given = {"establishing": establishing, "medium": medium, "close_up": close_up}
            if all(v is not None for v in given.values()):
                batches = {n: image_batch(v) for n, v in given.items()}
                count = max(len(b) for b in batches.values())
                # A single crop is reused for every sheet; otherwise the i-th of each batch.
                sheets = [{n: b[min(i, len(b) - 1)] for n, b in batches.items()}
                          for i in range(count)]
                for name, why in centre_cuts(sheets[0], sheet).items():
                    log.warning("%s: %s", NODE, why)
            elif shots is not None and image is not None:
                images = image_batch(image)
                sets = pair_with_images(shot_sets(shots), images)
                # A shot not framed at its panel's aspect is re-framed by the grammar there.
                sets = [fit_to_sheet(s, sheet, getattr(s, "people", ()),
                                     getattr(s, "framing", None)) for s in sets]
                sheets = [{n: crop_shot(im, s[n].box, outpaint=EDGE).image for n in SHOT_NAMES}
                          for im, s in zip(images, sets)]
            else:
                missing = [n for n, v in given.items() if v is None]
                raise ShotCropError(f"connect all three crops (missing: {', '.join(missing)}), "
                                    "or connect 'shots' and 'image' instead")
            out = [poster_layout(c, sheet.layout, sheet.width, sheet.height, sheet.gutter,
                                 sheet.margin, bg) for c in sheets]
        return io.NodeOutput(to_tensor(out))
