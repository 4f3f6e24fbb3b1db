"""Triple-Shot Compose: an IMAGE batch -> one establishing / medium / close-up set per image."""

from __future__ import annotations

from comfy_api.latest import io, ui

from ..shotcrop_core import (ASPECTS, SHOT_NAMES, FramingOptions, ShotCropError, compose,
                             parse_aspect)
from ..shotcrop_core.cropping import unify_batch
from ..shotcrop_core.perception.given import pose_keypoint_frames
from ..shotcrop_core.render import draw_shots
from .types import (CATEGORY, FramedShots, PoseKeypoint, ShotCropModel, Shots, from_pil,
                    image_batch, log, shots_json, to_pil, to_tensor, user_errors)

NODE = "Triple-Shot Compose"
DEFAULT_ASPECTS = {"establishing": "16:9", "medium": "4:5", "close_up": "1:1"}
#: subject_index value that asks for one shot set per person.
EACH_PERSON = -2
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
                pose_keypoint=None) -> io.NodeOutput:
        import comfy.model_management as mm
        import comfy.utils

        with user_errors(NODE):
            images = image_batch(image)
            aspects = {n: parse_aspect(a) for n, a in
                       zip(SHOT_NAMES, (establishing_aspect, medium_aspect, close_up_aspect))}
            h, w = images[0].shape[:2]
            frames = None
            if pose_keypoint is not None:
                frames = pose_keypoint_frames(pose_keypoint, image_size=(w, h))
                if len(frames) != len(images):
                    raise ShotCropError(
                        f"POSE_KEYPOINT has {len(frames)} frame(s) but the IMAGE batch has "
                        f"{len(images)}: connect the pose node that ran on these same images")
            # Keypoints here always come from a pose model (ours or DWPose/OpenPose), a few
            # pixels off: edges keep the extra clearance the library uses for estimates.
            opts = FramingOptions(aspects=aspects,
                                  subject_index=None if subject_index < 0 else subject_index,
                                  joint_uncertainty=FramingOptions.ESTIMATED)
            pils = [to_pil(a) for a in images]
            pbar = comfy.utils.ProgressBar(len(images) * (2 if model.is_vlm else 1))
            try:
                people = []
                for i, pil in enumerate(pils):
                    mm.throw_exception_if_processing_interrupted()
                    with _about_image(i, len(images)):
                        people.append(frames[i] if frames is not None
                                      else model.pose().estimate(pil))
                    pbar.update(1)
                if subject_index == EACH_PERSON and model.is_vlm:
                    raise ShotCropError("subject_index -2 (every person) works with the framing "
                                        "backends; with a VLM, pick one subject index or -1")
                if subject_index == EACH_PERSON:
                    # One shot set per person: repeat each photo (and its people) per person.
                    order = [(i, k) for i, ppl in enumerate(people) for k in range(max(len(ppl), 1))]
                    pils = [pils[i] for i, _ in order]
                    images = [images[i] for i, _ in order]
                    people = [people[i] for i, _ in order]
                    per = [FramingOptions(aspects=aspects, subject_index=k if people[j] else None,
                                          joint_uncertainty=FramingOptions.ESTIMATED)
                           for j, (_, k) in enumerate(order)]
                else:
                    per = [opts] * len(pils)
                if model.is_vlm:
                    sets = cls._vlm_sets(model, pils, people, opts, intent, seed, pbar)
                else:
                    sets = []
                    for i, (pil, ppl, o) in enumerate(zip(pils, people, per)):
                        with _about_image(i, len(images)):
                            sets.append(compose(ppl, pil.width, pil.height, o, image=pil))
            finally:
                model.after_run()
            sets = [FramedShots.wrap(s, p, o) for s, p, o in zip(sets, people, per)]
            for i, s in enumerate(sets):
                # A fallback repeats "no person found" per shot: say it once.
                for warning in (s.warnings if s.fallback else s.all_warnings):
                    log.warning("%s: image %d: %s", NODE, i, warning)
            previews = [from_pil(draw_shots(pil, s, p)) for pil, s, p in zip(pils, sets, people)]
            preview = to_tensor(unify_batch(previews, "largest")[0])
            text = shots_json(sets)
        # The shot sets ride along in the UI payload too: /history and the web editor read them.
        shown = {**ui.PreviewImage(preview, cls=cls).as_dict(), "shotcrop_shots": [text]}
        return io.NodeOutput(sets, preview, text, to_tensor(unify_batch(images, "first")[0]),
                             ui=shown)

    @classmethod
    def _vlm_sets(cls, model, pils, people, opts, intent, seed, pbar):
        import comfy.model_management as mm

        from ..shotcrop_core.vlm.backend import GenerationOptions, VLMEngine

        engine = VLMEngine(model.vlm(), GenerationOptions(intent=intent.strip() or None,
                                                          seed=seed or None))
        step = max(1, engine.options.batch_size)
        sets = []
        for start in range(0, len(pils), step):  # batched generate; interruptible between
            mm.throw_exception_if_processing_interrupted()
            chunk = slice(start, start + step)
            sets += engine.propose(pils[chunk], people[chunk], opts)
            pbar.update(len(pils[chunk]))
        return sets


class _about_image:
    """Prefix errors with the image's place in the batch (only when there is a batch)."""

    def __init__(self, i: int, n: int) -> None:
        self.i, self.n = i, n

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind, e, tb) -> bool:
        if e is not None and isinstance(e, ShotCropError) and self.n > 1:
            raise ShotCropError(f"image {self.i}: {e}") from None
        return False
