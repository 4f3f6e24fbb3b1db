"""Training data: TSC files (docs/tsc-format.md) checked for training, and a converter that drafts
TSC triples from COCO person-keypoint files with the framing engine.

Training needs more than benchmarking does: every image must exist and have the size the file
states (boxes are its pixels), every shot needs a description (it is half the target), and every
box must be large enough for the answer parser to read back. All problems of a file are reported
together in one `ShotCropError`, each naming the sample and the fix.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

from .. import grammar as G
from ..bench.tsc import FORMAT_NAME, FORMAT_VERSION, SPLITS, TscSample, load_tsc
from ..errors import ShotCropError
from ..files import write_new_text
from ..keypoints import ANKLES, ELBOWS, KNEES, WRISTS, Person
from ..shots import SHOT_NAMES, ShotSet
from ..vlm.parse import MIN_SIDE
from .chat import _pct, _side

log = logging.getLogger("shotcrop")

#: Problems listed in one error before "... and N more".
MAX_LISTED = 12
#: A drafted triple needs a subject whose body the grammar can read.
MIN_KEYPOINTS = 3


@dataclass(frozen=True)
class TrainExample:
    """One training photo: where it is on this machine, and its TSC sample."""

    image_path: Path
    sample: TscSample


# -- loading -----------------------------------------------------------------------------------
def _upright_size(path: Path) -> tuple[int, int]:
    """(w, h) after EXIF rotation, from the header (no full decode)."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as im:
            w, h = im.size
            try:
                orientation = im.getexif().get(0x0112, 1)
            except Exception:  # noqa: BLE001 - a broken EXIF block: the stored orientation
                orientation = 1
    except UnidentifiedImageError:
        raise ShotCropError("is not an image ShotCrop can read (JPEG, PNG, WebP, TIFF, BMP, "
                            "GIF)") from None
    except (OSError, SyntaxError, ValueError) as e:
        raise ShotCropError(f"cannot be opened ({e})") from None
    return (h, w) if orientation in (5, 6, 7, 8) else (w, h)


def _resolve(sample: TscSample, base: Path, images_root: Path | None) -> Path:
    rel = Path(sample.image.replace("\\", "/"))
    candidates = [((images_root or base) / rel).resolve()]
    if images_root is not None:
        candidates.append((images_root / sample.name).resolve())  # a flat folder of the photos
    return next((c for c in candidates if c.is_file()), candidates[0])


def _sample_problems(sample: TscSample, path: Path, require_descriptions: bool) -> list[str]:
    where = f"sample {sample.index} ({sample.image})"
    if not path.is_file():
        return [f"{where}: image not found at {path}; fix 'image' (relative to the TSC file) "
                f"or pass images_root"]
    out = []
    try:
        size = _upright_size(path)
    except ShotCropError as e:
        return [f"{where}: {path} {e}"]
    if size != (sample.width, sample.height):
        out.append(f"{where}: 'width'/'height' say {sample.width}x{sample.height} but the "
                   f"upright image is {size[0]}x{size[1]}; boxes are pixels of the upright "
                   f"image, so fix the sizes (and the boxes) in the TSC file")
    min_w, min_h = max(2, MIN_SIDE * sample.width), max(2, MIN_SIDE * sample.height)
    for j, a in enumerate(sample.annotations):
        tag = f"{where}: " + (f"annotations[{j}] " if len(sample.annotations) > 1 else "")
        for name in SHOT_NAMES:
            shot = a.shots[name]
            if require_descriptions and not shot.description.strip():
                out.append(f"{tag}shot {name!r} has no description; training needs one for "
                           f"every shot: write one, or pass require_descriptions=False")
            if shot.box.w < min_w or shot.box.h < min_h:
                out.append(f"{tag}{name} box {shot.box.to_list()} is a speck (under "
                           f"{MIN_SIDE:.0%} of the image side): the model's answer could not "
                           f"hold it; fix or drop the sample")
    return out


def _fail(source: str, problems: list[str]) -> ShotCropError:
    shown = problems[:MAX_LISTED]
    more = f"\n- ... and {len(problems) - MAX_LISTED} more" if len(problems) > MAX_LISTED else ""
    return ShotCropError(f"{source}: {len(problems)} problem(s) for training:\n- "
                         + "\n- ".join(shown) + more)


def load_training_set(tsc_path: str | os.PathLike, split: str | None = "train",
                      require_descriptions: bool = True,
                      images_root: str | os.PathLike | None = None) -> list[TrainExample]:
    """The samples of one split (None: all) of a TSC file, checked for training.

    Image paths resolve against `images_root` when given (then also by file name alone), else
    against the TSC file's folder. Each image must exist, open and have the stated upright size;
    with `require_descriptions`, every shot needs a description.
    """
    path = Path(tsc_path)
    data = load_tsc(path)
    if split is not None and split not in SPLITS:
        raise ShotCropError(f"split {split!r} is not one of {', '.join(SPLITS)}")
    samples = [s for s in data.samples if split is None or s.split == split]
    if not samples:
        have = sorted({s.split for s in data.samples})
        raise ShotCropError(f"{path}: no sample in split {split!r} (the file has "
                            f"{', '.join(have)}); set 'split' in the file or choose another split")
    root = Path(images_root) if images_root is not None else None
    if root is not None and not root.is_dir():
        raise ShotCropError(f"images_root {root} is not a folder")
    base = path.resolve().parent
    examples, problems = [], []
    for s in samples:
        image = _resolve(s, base, root)
        problems += _sample_problems(s, image, require_descriptions)
        examples.append(TrainExample(image, s))
    if problems:
        raise _fail(str(path), problems)
    return examples


# -- landmarks for the joint-safety reward ---------------------------------------------------
def people_for(item: TrainExample | TscSample | str | os.PathLike, keypoints: Any = None,
               image_size: tuple[int, int] | None = None) -> list[Person] | None:
    """The people of one training photo from a keypoint file given alongside the TSC file
    (`keypoints`: a path or a loaded `perception.given` source), scaled to the sample's size;
    None when there is no file or it does not name this photo (landmarks are optional)."""
    if keypoints is None:
        return None
    from ..perception.given import KeypointSource, load_keypoints

    source = keypoints if isinstance(keypoints, KeypointSource) else load_keypoints(keypoints)
    sample = item.sample if isinstance(item, TrainExample) else item
    if isinstance(sample, TscSample):
        name, image_size = sample.name, image_size or (sample.width, sample.height)
    else:
        name = Path(str(sample)).name
    # Frames matched by position (POSE_KEYPOINT) cannot be tied to a name: no landmarks.
    if not source.by_name or not source.covers(name):
        return None
    return source.people_for(name, image_size=image_size)


# -- reasoning from measurements ----------------------------------------------------------------
def _joint_lines(p: Person, H: int) -> str:
    kp = p.keypoints
    parts = []
    for label, idx in (("elbows", ELBOWS), ("wrists", WRISTS), ("knees", KNEES),
                       ("ankles", ANKLES)):
        ys = sorted({_pct(kp[i, 1], H) for i in p.visible(idx)})
        if ys:
            parts.append(f"{label} {'/'.join(map(str, ys))}%")
    return ", ".join(parts)


def _clear(failures: list[str]) -> str:
    # Only what the grammar measured: a drafted triple may break a rule in a tight photo.
    return "edges clear of the joints" if "cut" not in failures else \
        "an edge meets a joint (the photo is too tight to avoid it)"


def _shot_line(label: str, name: str, box, a, W: int, H: int) -> str:
    fails = G.check_shot(name, box.rect, a, W, H)
    eyes = _pct(a.eye_y - box.y0, box.h)
    band = "in" if "eye_line" not in fails else "outside"
    return (f"{label}: top edge at {_pct(box.y0, H)}%, bottom at {_pct(box.y1, H)}%, eyes "
            f"{eyes}% from its top ({band} the 20-45% band); {_clear(fails)}.")


def measured_reasoning(shots: ShotSet, people: list[Person]) -> str:
    """A short think text from the subject's measured body lines, in the order the prompt's
    REASONING asks for (subject, eye line and body lines, joints to avoid, setting), in
    percentages of the photo. Falls back to the boxes alone when no person is matched."""
    from ..anatomy import measure
    from ..subject import match_subject
    from .chat import draft_reasoning

    W, H = shots.width, shots.height
    person = match_subject(shots, people) if people else None
    if person is None:
        return draft_reasoning({s.name: (s.box, s.description) for s in shots}, W, H)
    a = measure(person)
    side = _side(a.face_x, W)
    facing = {1: "turned to the right of the frame", -1: "turned to the left of the frame",
              0: "facing the camera"}[a.facing] if a.face_points else "seen from behind"
    if a.face_out:
        facing = "the head above the photo's top edge"
    who = "one person" if len(people) == 1 else f"the most prominent of {len(people)} people"
    cu, med, est = shots.close_up.box, shots.medium.box, shots.establishing.box
    guessed = sorted(a.estimated)
    joints = _joint_lines(person, H)
    lines = [
        f"Subject: {who}, {side} of the photo, {facing}.",
        f"Body lines, % down the photo: eyes {_pct(a.eye_y, H)}, chin {_pct(a.chin_y, H)}, "
        f"shoulders {_pct(a.shoulder_y, H)}, waist {_pct(a.hip_y, H)}, knees {_pct(a.knee_y, H)}"
        + (f" ({', '.join(guessed)} estimated)." if guessed else "."),
        (f"Joints no edge may touch: {joints}." if joints else "No limb joints are visible."),
        _shot_line("Close-up", "close_up", cu, a, W, H),
        _shot_line("Medium", "medium", med, a, W, H),
        f"Establishing: {_pct(est.area, W * H)}% of the photo, the whole subject with room "
        f"and the setting around; {_clear(G.check_shot('establishing', est.rect, a, W, H))}.",
    ]
    return "\n".join(lines)


# -- the COCO converter ---------------------------------------------------------------------
def _split_of(name: str, split: str, val_fraction: float) -> str:
    # A hash of the name, not a random draw: re-running the converter keeps every photo's split.
    if val_fraction <= 0:
        return split
    h = int.from_bytes(hashlib.sha1(name.encode("utf-8")).digest()[:8], "big") / 2 ** 64
    return "val" if h < val_fraction else split


def relative_image_path(image: Path, out_dir: Path) -> str:
    try:
        return Path(os.path.relpath(image.resolve(), out_dir.resolve())).as_posix()
    except ValueError:  # another drive (Windows): keep the absolute path
        return image.resolve().as_posix()


def draft_from_coco(coco_json: str | os.PathLike, images_dir: str | os.PathLike,
                    out_path: str | os.PathLike, *, split: str = "train",
                    val_fraction: float = 0.0, force: bool = False) -> Path:
    """Write one TSC file with a triple per photo of a COCO person_keypoints file, drafted by
    the framing engine on the human keypoints; descriptions from `describe.py` (through
    `compose`), reasoning from the subject's measured body lines.

    Photos without a person whose body has at least MIN_KEYPOINTS labelled keypoints are left
    out (logged). `val_fraction` of the photos (chosen by a hash of the file name, so stable
    across runs) go to "val", the rest to `split`. Never overwrites `out_path` unless `force`.
    """
    from ..perception.given import CocoKeypoints, load_keypoints
    from ..pipeline import PeopleSource, Pipeline

    out = Path(out_path)
    if out.exists() and not force:
        raise ShotCropError(f"{out} already exists; pass force=True (--force) to overwrite it, "
                            "or choose another path")
    if split not in SPLITS:
        raise ShotCropError(f"split {split!r} is not one of {', '.join(SPLITS)}")
    if not 0.0 <= float(val_fraction) < 1.0:
        raise ShotCropError(f"val_fraction {val_fraction} must be in [0, 1)")
    folder = Path(images_dir)
    if not folder.is_dir():
        raise ShotCropError(f"images folder {folder} not found; give the folder that holds the "
                            "COCO photos")
    coco = load_keypoints(coco_json)
    if not isinstance(coco, CocoKeypoints):
        raise ShotCropError(f"{coco_json}: not a COCO person_keypoints file ('images' + "
                            "'annotations'); the converter needs one")
    names = sorted(coco.names)
    missing = [n for n in names if not (folder / n).is_file()]
    if missing:
        raise ShotCropError(f"{len(missing)} of the {len(names)} photos named in {coco_json} are "
                            f"not in {folder} (first: {missing[0]}); copy them there or point "
                            "images_dir at the right folder")
    samples, skipped, failed = [], [], []
    # The one pipeline: the human keypoints scaled onto each photo (a photo whose shape differs
    # from the file's is that photo's error), framed with no extra clearance.
    pipe = Pipeline(PeopleSource(coco))
    for name, r in zip(names, pipe.run(folder / n for n in names)):
        if not r.ok:
            failed.append(f"{name}: {r.error}")
            continue
        if not any(p.n_visible >= MIN_KEYPOINTS for p in r.people):
            skipped.append(name)
            continue
        shots, people = r.shots, r.people
        samples.append({
            "image": relative_image_path(folder / name, out.parent),
            "width": shots.width, "height": shots.height,
            "split": _split_of(name, split, float(val_fraction)),
            "shots": {s.name: {"box": s.box.to_list(), "description": s.description}
                      for s in shots},
            "reasoning": measured_reasoning(shots, people),
            "warnings": list(shots.all_warnings),  # unknown key: ignored by the reader
        })
    if skipped:
        log.info("draft: %d photo(s) without a person with %d+ keypoints left out: %s",
                 len(skipped), MIN_KEYPOINTS, ", ".join(skipped[:5]))
    for why in failed:  # a bad photo is left out, not the end of the draft
        log.warning("draft: left out %s", why)
    if not samples:
        raise _fail(str(coco_json), failed) if failed else ShotCropError(
            f"{coco_json}: no photo has a person with at least {MIN_KEYPOINTS} labelled "
            "keypoints; nothing to draft")
    doc = {"format": FORMAT_NAME, "version": FORMAT_VERSION,
           "drafted_by": "shotcrop train draft: framing engine on COCO human keypoints",
           "samples": samples}
    write_new_text(out, json.dumps(doc, indent=1, ensure_ascii=False) + "\n", force, "TSC file")
    load_tsc(out)  # what was written must read back
    return out


def split_counts(examples: Iterable[TrainExample]) -> dict[str, int]:
    """Samples per split (for logs and reports)."""
    out: dict[str, int] = {}
    for e in examples:
        out[e.sample.split] = out.get(e.sample.split, 0) + 1
    return out


__all__ = ["TrainExample", "draft_from_coco", "load_training_set", "measured_reasoning",
           "people_for", "split_counts"]
