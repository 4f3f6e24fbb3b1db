"""Shot Description To Prompt: one shot's description as a text-to-image prompt."""

from __future__ import annotations

from comfy_api.latest import io

from ..shotcrop_core import SHOT_NAMES, ShotCropError
from ..shotcrop_core.prompting import shot_prompt
from .types import (CATEGORY, Shots, check_shot_name, log, newer_schema_fields, shot_sets,
                    user_errors)

NODE = "Shot Description To Prompt"
#: Words ComfyUI's node search (0.11+) also finds this node by.
SEARCH_ALIASES = ["prompt", "shot description", "caption", "shot prompt", "close-up", "cinematic",
                  "text to image"]


class ShotDescriptionToPrompt(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="ShotCropShotToPrompt",
            **newer_schema_fields(search_aliases=SEARCH_ALIASES),  # newer ComfyUI only
            display_name=NODE,
            category=CATEGORY,
            description="Fills a prompt template with a shot's description. Warns in the log "
                        "when the prompt is longer than CLIP reads (77 tokens).",
            inputs=[
                Shots.Input("shots", tooltip="From Triple-Shot Compose or Edit Shots."),
                io.Combo.Input("shot", options=list(SHOT_NAMES), default="close_up",
                               tooltip="Whose description to use."),
                io.String.Input("template", default="{shot}, {description}, {style}",
                                multiline=True,
                                # No braces in tooltips: vue-i18n reads them as placeholders.
                                tooltip="Placeholders, each written in curly braces: "
                                        "description, shot (e.g. 'close-up'), style. Other "
                                        "braces stay as written."),
                io.String.Input("style", default="",
                                tooltip="Style words for the style placeholder; appended "
                                        "when the template has none."),
                io.String.Input("prefix", default="", tooltip="Text put before the prompt."),
                io.String.Input("suffix", default="", tooltip="Text put after the prompt."),
                io.Int.Input("index", default=0, min=0, max=4095,
                             tooltip="Which image of the batch (0 = first)."),
            ],
            outputs=[io.String.Output(display_name="prompt",
                                      tooltip="The prompt text, ready for a text encoder.")],
        )

    @classmethod
    def validate_inputs(cls, shot=None) -> bool | str:  # None: linked, checked at run time
        return check_shot_name(shot, NODE)

    @classmethod
    def execute(cls, shots, shot: str, template: str, style: str, prefix: str, suffix: str,
                index: int) -> io.NodeOutput:
        with user_errors(NODE):
            sets = shot_sets(shots)
            if not 0 <= index < len(sets):
                raise ShotCropError(f"index {index} is out of range: SHOTS holds {len(sets)} "
                                    f"shot set(s) (use 0 to {len(sets) - 1})")
            text, warnings = shot_prompt(sets[index], shot, template, style, prefix, suffix)
        for w in warnings:
            log.warning("%s: %s", NODE, w)
        return io.NodeOutput(text)
