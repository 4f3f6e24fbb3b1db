"""Triple-Shot Compose: an IMAGE batch -> one establishing / medium / close-up set per image."""

from __future__ import annotations

from comfy_api.latest import io, ui

from ..shotcrop_core import ASPECTS, SHOT_NAMES, FramingOptions, ShotCropError, parse_aspect
from ..shotcrop_core.captions import Captions
from ..shotcrop_core.shots import MAX_BEYOND
from ..shotcrop_core.cropping import unify_batch
from ..shotcrop_core.perception.given import pose_keypoint_frames
from ..shotcrop_core.pipeline import PeopleSource, Pipeline
from ..shotcrop_core.render import draw_shots
from .types import (CATEGORY, FramedShots, PoseKeypoint, SheetType, ShotCropModel, Shots, from_pil,
                    image_batch, log, newer_schema_fields, shots_json, to_pil, to_tensor,
                    user_errors)

NODE = "Triple-Shot Compose"
#: Words ComfyUI's node search (0.11+) also finds this node by.
SEARCH_ALIASES = ["crop", "shot", "framing", "cinematic", "close-up", "medium shot",
                  "establishing shot", "wide shot", "auto crop", "smart crop", "reframe",
                  "storyboard", "shot list", "person crop"]
DEFAULT_ASPECTS = {"establishing": "16:9", "medium": "4:5", "close_up": "1:1"}
#: subject_index value that asks for one shot set per person.
EACH_PERSON = -2
#: beyond_photo choices: may a shot reach past the photo (padding to outpaint)?
BEYOND = {"never": False, "when needed": True}
_ASPECT_TIP = ("Aspect of the {shot} shot (width:height); original = the photo's own, free = "
               "whatever frames the subject best.")


class TripleShotCompose(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        aspects = [io.Combo.Input(f"{n}_aspect", options=list(ASPECTS), default=DEFAULT_ASPECTS[n],
                                  tooltip=_ASPECT_TIP.format(shot=n.replace("_", "-")))
                   for n in SHOT_NAMES]
        return io.Schema(
            node_id="ShotCropTripleShotCompose",
            # Newer ComfyUI only: its search finds the node by these words, and a cache hit re-sends
            # the preview and the shot sets (the web editor reads them) instead of showing nothing.
            **newer_schema_fields(search_aliases=SEARCH_ALIASES, has_intermediate_output=True),
            display_name=NODE,
            category=CATEGORY,
            description="Finds the people in each photo and frames an establishing, a medium and "
                        "a close-up shot around the main subject (nested, joints never cut, eye "
                        "line kept). A photo with no person gets a centre/saliency framing, "
                        "flagged in the JSON and on the preview.",
            inputs=[
                io.Image.Input("image", tooltip="Photos to frame (a batch gives one shot set per "
                                                "image)."),
                ShotCropModel.Input("model", tooltip="From Load ShotCrop: the pose model or VLM "
                                                     "that finds and frames the subject."),
                *aspects,
                io.String.Input("intent", default="", multiline=False,
                                tooltip="VLM only: what the shots should be about, e.g. 'the "
                                        "product in her hand'. Framing backends ignore it."),
                io.Int.Input("subject_index", default=-1, min=EACH_PERSON, max=99,
                             tooltip="Which person to frame, in the order the pose model found "
                                     "them; -1 = choose automatically (largest, most central); "
                                     "-2 = every person: one shot set each, with the 'images' "
                                     "output repeating each photo to match."),
                # control_after_generate=False: the frontend otherwise adds "randomize" to any
                # INT named seed, re-running Compose on every queue for nothing.
                io.Int.Input("seed", default=0, min=0, max=2**31 - 1, control_after_generate=False,
                             tooltip="VLM only: 0 = greedy, the same answer every time; any other "
                                     "value samples with that seed. Framing is deterministic."),
                PoseKeypoint.Input("pose_keypoint", optional=True,
                                   tooltip="Optional POSE_KEYPOINT from a DWPose/OpenPose node run "
                                           "on the same images: skips ShotCrop's own pose "
                                           "estimation."),
                # New inputs go last (saved workflows map widget values by position) and are
                # optional (API-format prompts written before them still validate).
                io.Combo.Input("beyond_photo", options=list(BEYOND), default="never", optional=True,
                               tooltip="when needed: a shot that cannot keep the shot grammar "
                                       "inside the photo at its aspect (a 16:9 wide shot of a "
                                       "standing person in a portrait photo) reaches past the "
                                       "photo's edges, by the least that keeps the grammar. Crop "
                                       "By Shot pads it and gives the outpaint mask. never: "
                                       "shots stay inside the photo."),
                io.Float.Input("beyond_max", default=FramingOptions.BEYOND, min=0.05, optional=True,
                               max=MAX_BEYOND, step=0.05,
                               tooltip="With beyond_photo: the farthest a shot may reach past "
                                       "each side, as a share of the photo (0.5 = half)."),
                SheetType.Input("sheet", optional=True,
                                tooltip="From Shot Sheet: frame each shot at its panel's aspect "
                                        "(the three aspect inputs are then ignored), so Shot "
                                        "Poster Layout never has to re-cut a panel."),
                io.String.Input("caption", optional=True, force_input=True,
                                tooltip="From any captioning node (Florence2, JoyCaption, a "
                                        "tagger, core text generation): one caption for the "
                                        "batch, or one line per image (as many lines as images). "
                                        "Its subject, action and setting go into the "
                                        "descriptions (the framing backends; a VLM writes its "
                                        "own)."),
            ],
            outputs=[
                Shots.Output(display_name="shots",
                             tooltip="One shot set per image: connect to Crop By Shot, Shot "
                                     "Description To Prompt, Edit Shots or Shot Poster Layout."),
                io.Image.Output(display_name="preview",
                                tooltip="Each photo with the three boxes drawn and labelled."),
                io.String.Output(display_name="shots_json",
                                 tooltip="JSON list, one object per image: boxes [x0, y0, x1, "
                                         "y1] in source pixels, descriptions and warnings."),
                io.Image.Output(display_name="images",
                                tooltip="The photos, one per shot set: the input batch as is, or "
                                        "with subject_index -2 each photo once per person, so "
                                        "Crop By Shot lines up with the shots."),
            ],
        )

    @classmethod
    def execute(cls, image, model, establishing_aspect: str, medium_aspect: str,
                close_up_aspect: str, intent: str, subject_index: int, seed: int,
                pose_keypoint=None, beyond_photo: str = "never",
                beyond_max: float = FramingOptions.BEYOND, sheet=None,
                caption: str | None = None) -> io.NodeOutput:
        import comfy.model_management as mm
        import comfy.utils

        with user_errors(NODE):
            images = image_batch(image)
            captions = _captions(caption, len(images))
            if sheet is not None:  # the panels' aspects: one definition with the layout
                aspects = sheet.aspects()
            else:
                aspects = {n: parse_aspect(a) for n, a in
                           zip(SHOT_NAMES, (establishing_aspect, medium_aspect, close_up_aspect))}
            if beyond_photo not in BEYOND:
                raise ShotCropError(f"beyond_photo {beyond_photo!r}: use one of "
                                    f"{', '.join(BEYOND)}")
            beyond = float(beyond_max) if BEYOND[beyond_photo] else 0.0
            h, w = images[0].shape[:2]
            if pose_keypoint is not None:
                frames = pose_keypoint_frames(pose_keypoint, image_size=(w, h))
                if len(frames) != len(images):
                    raise ShotCropError(
                        f"POSE_KEYPOINT has {len(frames)} frame(s) but the IMAGE batch has "
                        f"{len(images)}: connect the pose node that ran on these same images")
                people = PeopleSource(frames=frames)  # a pose model's: edges keep clearance
            else:
                people = PeopleSource(estimator=model.pose)  # loaded on first use
            if subject_index == EACH_PERSON and model.is_vlm:  # before any model loads
                raise ShotCropError("subject_index -2 (every person) works with the framing "
                                    "backends; with a VLM, pick one subject index or -1")
            framing = FramingOptions(aspects=aspects,
                                     subject_index=None if subject_index < 0 else subject_index,
                                     beyond_photo=beyond)
            pbar = comfy.utils.ProgressBar(len(images))
            results = []
            try:
                engine = None
                if model.is_vlm:
                    from ..shotcrop_core.vlm.backend import GenerationOptions, VLMEngine

                    engine = VLMEngine(model.vlm(), GenerationOptions(
                        intent=intent.strip() or None, seed=seed or None))
                # chunk_batches=1: a stop request is honoured after every generate batch.
                pipe = Pipeline(people, framing, engine, each_person=subject_index == EACH_PERSON,
                                keep_images=True, chunk_batches=1, captions=captions)
                for r in pipe.run(to_pil(a) for a in images):
                    if not r.ok:  # in a batch, say which image (a photo's own check does)
                        prefixed = len(images) == 1 or r.error.startswith(f"image {r.index}:")
                        raise ShotCropError(r.error if prefixed else f"image {r.index}: {r.error}")
                    results.append(r)
                    pbar.update_absolute(r.index + 1)
                    mm.throw_exception_if_processing_interrupted()
            finally:
                model.after_run()
            sets = [FramedShots.wrap(r.shots, r.people, r.framing) for r in results]
            for r, s in zip(results, sets):
                # A fallback repeats "no person found" per shot: say it once.
                for warning in (s.warnings if s.fallback else s.all_warnings):
                    log.warning("%s: image %d: %s", NODE, r.index, warning)
            previews = [from_pil(draw_shots(r.image.image, s, r.people))
                        for r, s in zip(results, sets)]
            preview = to_tensor(unify_batch(previews, "largest")[0])
            text = shots_json(sets)
            # With subject_index -2 each photo comes once per person: Crop By Shot lines up.
            photos = [images[r.index] for r in results]
        # The shot sets ride along in the UI payload too: /history and the web editor read them.
        shown = {**ui.PreviewImage(preview, cls=cls).as_dict(), "shotcrop_shots": [text]}
        return io.NodeOutput(sets, preview, text, to_tensor(unify_batch(photos, "first")[0]),
                             ui=shown)


def _captions(caption, count: int) -> Captions | None:
    """One caption for the batch, or one per image: as many lines as images."""
    if caption is None:
        return None
    if not isinstance(caption, str):
        raise ShotCropError("caption must be text (a STRING): one caption for the batch, or one "
                            "line per image")
    lines = [t.strip() for t in caption.splitlines() if t.strip()]
    if not lines:
        return None
    if count > 1 and len(lines) == count:
        return Captions(by_index=tuple(lines))
    return Captions(" ".join(lines))
