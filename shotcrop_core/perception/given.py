"""Landmarks the user already has: ComfyUI POSE_KEYPOINT, COCO person_keypoints, or our own JSON.

Everything becomes `Person` (COCO-17 keypoints + person box, source pixels). Malformed input raises
one `ShotCropError` that names the file (when there is one), the place inside it, and the problem.

How controlnet_aux builds POSE_KEYPOINT (read in Fannovel16/comfyui_controlnet_aux,
src/custom_controlnet_aux/{dwpose,open_pose}/__init__.py and util.resize_image_with_pad):
- DWPose (`DwposeDetector.__call__`): `resize_image_with_pad(image, 0)` returns the image
  unchanged, the keypoints are pixels of that image and the canvas is its size. (Before mid-2024
  it ran on the image resized to `detect_resolution` and padded; the padding is right/bottom, so
  pixels still match the canvas, then the unpadded resized size.) Missing points are [0, 0, 0].
- OpenPose (`OpenposeDetector`): the image is resized so its short side is `detect_resolution`, then
  padded right/bottom up to a multiple of 64. Body points are divided by the PADDED width/height
  (`keypoint.x / float(W)` with W from the padded array), while `canvas_width/height` is the
  unpadded resized size (`detected_map` after `remove_pad`). So canvas pixels are
  x * ceil64(canvas_width), y * ceil64(canvas_height). Missing hand/face peaks become
  (-1/W, -1/H) with confidence 1.0 (`np.where(peaks < 1e-6, -1, ...) / W`).
- SDPose (ComfyUI core's SDPose Keypoint Extractor, comfy_extras/nodes_sdpose.py): pixels of the
  image it ran on, canvas = that image's size; 18 body points plus `foot_keypoints_2d` (6 points in
  BODY_25's foot order), 70 face and 21 + 21 hand points. A point it could not place is (-1, -1)
  WITH its heatmap score kept, so a score alone does not mean "seen".
Both canvases can differ from the photo's size (OpenPose's always does), so people are scaled from
the canvas to the photo when its size is known.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ShotCropError
from ..keypoints import FACE, MIN_SCORE, Person, finite_number, number_list, value_kind


class KeypointFormatError(ShotCropError, ValueError):
    """A keypoint file or POSE_KEYPOINT value is malformed; the message says where and why."""


# COCO-17 index -> OpenPose-18 index (OpenPose's 1 = neck has no COCO counterpart).
_COCO_FROM_OP18 = (0, 15, 14, 17, 16, 5, 2, 6, 3, 7, 4, 11, 8, 12, 9, 13, 10)
# COCO-17 index -> OpenPose BODY_25 index (8 = mid-hip; 19-24 are toes and heels).
_COCO_FROM_BODY25 = (0, 16, 15, 18, 17, 5, 2, 6, 3, 7, 4, 12, 9, 13, 10, 14, 11)
_BODY25_FEET = slice(19, 25)
_OPENPOSE_PAD = 64
#: A part whose present coordinates all lie in this range is normalised, not pixels. The slack
#: admits OpenPose's tiny negative "missing" markers and hand-edited points just off the canvas;
#: no real pixel-coordinate part fits inside 1.5 px.
_NORM_RANGE = (-0.5, 1.5)
#: Canvas and photo must have the same shape (to 2 %) for keypoints to be scaled onto the photo.
_ASPECT_TOLERANCE = 0.02
_PARTS = ("face_keypoints_2d", "hand_left_keypoints_2d", "hand_right_keypoints_2d")


# -- small validators ------------------------------------------------------------------------
def _number(v: Any, what: str) -> float:
    return finite_number(v, what, KeypointFormatError)


def _triples(values: Any, what: str, lengths: tuple[int, ...] | None = None) -> np.ndarray:
    """A flat [x, y, c, ...] list (or nested triples) as an (n, 3) float array."""
    flat = number_list(values, what, KeypointFormatError)
    if lengths is not None and len(flat) not in lengths:
        want = " or ".join(str(n) for n in lengths)
        raise KeypointFormatError(f"{what} must hold {want} numbers (x, y, confidence per point), "
                                  f"got {len(flat)}")
    if len(flat) % 3:
        raise KeypointFormatError(f"{what} must hold x, y, confidence triples: its length "
                                  f"{len(flat)} is not a multiple of 3")
    return np.asarray(flat, dtype=np.float64).reshape(-1, 3)


def _given(v: Any) -> bool:
    """A part is switched off when null or empty (numpy arrays have no plain truth value)."""
    return v is not None and not (isinstance(v, (list, tuple, np.ndarray)) and len(v) == 0)


def _dim(frame: dict, key: str, where: str) -> float | None:
    if frame.get(key) is None:
        return None
    v = _number(frame[key], f"{where}: {key}")
    if v <= 0:
        raise KeypointFormatError(f"{where}: {key} must be positive, got {frame[key]}")
    return v


def _parse_json(text: str | bytes, what: str) -> Any:
    def no_constant(name: str) -> Any:
        raise KeypointFormatError(f"{what} contains {name}, which is not a number: replace it "
                                  "with a coordinate, or set the point's confidence to 0")
    try:
        return json.loads(text, parse_constant=no_constant)
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise KeypointFormatError(f"{what} is not valid JSON ({e}): give a JSON keypoint "
                                  "file") from None


# -- POSE_KEYPOINT -----------------------------------------------------------------------------
def _ceil_to(v: float, step: int) -> float:
    return math.ceil(v / step) * step if step > 1 else v


def _to_canvas_pixels(pts: np.ndarray, canvas: tuple[float | None, float | None],
                      pad_to: int, what: str) -> np.ndarray:
    """One part's points in canvas pixels; the scale is decided from this part's values alone."""
    pts = pts.copy()
    pts[:, 2] = np.clip(pts[:, 2], 0.0, 1.0)
    # "Not detected" even when a confidence is attached: (0, 0) is OpenPose's marker, (-1, -1)
    # SDPose's (it keeps the score of the point it could not place).
    pts[(pts[:, 0] == 0) & (pts[:, 1] == 0), 2] = 0.0
    pts[(pts[:, 0] == -1) & (pts[:, 1] == -1), 2] = 0.0
    present = pts[:, 2] > 0
    if not present.any():
        return pts
    xy = pts[present, :2]
    if xy.min() >= _NORM_RANGE[0] and xy.max() <= _NORM_RANGE[1]:
        # OpenPose's missing face/hand peaks: (-1/W, -1/H), confidence 1.0.
        pts[(pts[:, 0] <= 0) & (pts[:, 1] <= 0), 2] = 0.0
        cw, ch = canvas
        if cw is None or ch is None:
            raise KeypointFormatError(f"{what} holds normalised coordinates but the frame has no "
                                      "canvas_width/canvas_height to scale them by: add both")
        pts[:, 0] *= _ceil_to(cw, pad_to)
        pts[:, 1] *= _ceil_to(ch, pad_to)
    return pts


def _pose_person(body: np.ndarray, extras: list[np.ndarray], feet: np.ndarray | None) -> Person:
    """A Person whose box covers body, face and hands, with extra room above the head."""
    present = body[:, 2] >= MIN_SCORE
    score = float(body[present, 2].mean()) if present.any() else 1.0
    parts = [body] + extras + ([feet] if feet is not None else [])
    pts = np.vstack([p[p[:, 2] >= MIN_SCORE, :2] for p in parts])
    x0, y0 = pts.min(axis=0)
    x1, y1 = pts.max(axis=0)
    pad = 0.08 * max(x1 - x0, y1 - y0, 1.0)  # same padding as Person.from_keypoints
    top = y0 - 2 * pad
    head = body[list(FACE)]
    head = head[head[:, 2] >= MIN_SCORE, :2]
    if len(head) >= 2:  # eyes/ears sit about one head width below the top of the head
        top = min(top, head[:, 1].min() - (head[:, 0].max() - head[:, 0].min()))
    face = extras[0] if extras else None
    if face is not None and (face[:, 2] >= MIN_SCORE).sum() >= 3:
        fy = face[face[:, 2] >= MIN_SCORE, 1]  # brows to chin is ~2/3 of the head's height
        top = min(top, fy.min() - 0.5 * (fy.max() - fy.min()))
    return Person(body, (x0 - pad, top, x1 + pad, y1 + pad), score, feet)


def pose_keypoint_to_people(frame: dict, image_size: tuple[int, int] | None = None, *,
                            pad_to: int = _OPENPOSE_PAD, where: str = "POSE_KEYPOINT frame"
                            ) -> list[Person]:
    """People of one POSE_KEYPOINT frame, in canvas pixels, or in the photo's pixels when
    `image_size` (width, height) is given. `pad_to` is the multiple controlnet_aux's OpenPose pads
    to before normalising (use 1 for producers that normalise over the canvas itself)."""
    if not isinstance(frame, dict):
        raise KeypointFormatError(f"{where} must be an object with 'people', got {value_kind(frame)}")
    people = frame.get("people")
    if not isinstance(people, list):
        raise KeypointFormatError(f"{where} must have a 'people' list, got {value_kind(people)}")
    canvas = (_dim(frame, "canvas_width", where), _dim(frame, "canvas_height", where))
    out: list[Person] = []
    for j, p in enumerate(people):
        pw = f"{where}, person {j}"
        if not isinstance(p, dict):
            raise KeypointFormatError(f"{pw} must be an object, got {value_kind(p)}")
        raw = p.get("pose_keypoints_2d")
        body = np.zeros((17, 3))
        feet = None
        if _given(raw):  # null or [] = body switched off
            op = _triples(raw, f"{pw}: pose_keypoints_2d", (54, 75))
            op = _to_canvas_pixels(op, canvas, pad_to, f"{pw}: pose_keypoints_2d")
            if len(op) == 18:
                body = op[list(_COCO_FROM_OP18)]
            else:
                body, feet = op[list(_COCO_FROM_BODY25)], op[_BODY25_FEET]
        if feet is None and _given(p.get("foot_keypoints_2d")):  # SDPose: BODY_25's six foot points
            feet = _to_canvas_pixels(_triples(p["foot_keypoints_2d"], f"{pw}: foot_keypoints_2d",
                                              (18,)), canvas, pad_to, f"{pw}: foot_keypoints_2d")
        extras = []
        for key in _PARTS:
            if _given(p.get(key)):
                extras.append(_to_canvas_pixels(_triples(p[key], f"{pw}: {key}"), canvas,
                                                pad_to, f"{pw}: {key}"))
            elif key == _PARTS[0]:
                extras.append(np.zeros((0, 3)))  # keep the face in slot 0
        if not any((a[:, 2] >= MIN_SCORE).any() for a in [body, *extras]):
            continue  # nothing detected for this person
        out.append(_pose_person(body, extras, feet))
    if image_size is not None:
        out = _fit(out, canvas if None not in canvas else None, image_size, where)
    return out


def pose_keypoint_frames(data: Any, image_size: tuple[int, int] | None = None
                         ) -> list[list[Person]]:
    """People per frame from a POSE_KEYPOINT value: a list of frames, one frame, or JSON text."""
    if isinstance(data, (str, bytes)):
        data = _parse_json(data, "POSE_KEYPOINT text")
    frames = [data] if isinstance(data, dict) else data
    if not isinstance(frames, list):
        raise KeypointFormatError("POSE_KEYPOINT must be a list of frames (one object with "
                                  f"'people' per image) or one frame, got {value_kind(data)}")
    return [pose_keypoint_to_people(f, image_size, where=f"POSE_KEYPOINT frame {i}")
            for i, f in enumerate(frames)]


# -- fitting keypoints to the photo --------------------------------------------------------
def _scale_people(people: list[Person], sx: float, sy: float) -> list[Person]:
    return [p.scaled(sx, sy) for p in people]


def _fit(people: list[Person], size: tuple[float, float] | None,
         image_size: tuple[int, int], where: str) -> list[Person]:
    """Scale people from the frame they were made in (`size`) onto a photo of `image_size`."""
    if size is None or not people:
        return people
    (w, h), (iw, ih) = size, image_size
    sx, sy = iw / w, ih / h
    if abs(sx / sy - 1) > _ASPECT_TOLERANCE:
        raise ShotCropError(
            f"{where}: the keypoints were made on a {w:g}x{h:g} image but the photo is {iw}x{ih}, "
            "a different shape: they probably belong to another image (or to the photo before "
            "it was rotated or cropped). Give keypoints made on this photo.")
    if abs(sx - 1) < 1e-9 and abs(sy - 1) < 1e-9:
        return people
    return _scale_people(people, sx, sy)


# -- COCO and our own format -------------------------------------------------------------------
@dataclass(frozen=True)
class _Entry:
    people: list[Person]
    size: tuple[float, float] | None  # the pixel frame the people are in, when known


def _size_of(d: dict, where: str, wkey: str = "width", hkey: str = "height"
             ) -> tuple[float, float] | None:
    w, h = _dim(d, wkey, where), _dim(d, hkey, where)
    return (w, h) if w is not None and h is not None else None


def _coco_entries(d: dict) -> dict[str, _Entry]:
    images, anns = d.get("images"), d.get("annotations", [])
    if not isinstance(images, list):
        raise KeypointFormatError(f"a COCO file needs an 'images' list, got {value_kind(images)}")
    if not isinstance(anns, list):
        raise KeypointFormatError(f"'annotations' must be a list, got {value_kind(anns)}")
    cats = d.get("categories")
    person_cats = None  # keep only person annotations when the file says which those are
    if isinstance(cats, list) and cats:
        person_cats = {c.get("id") for c in cats if isinstance(c, dict)
                       and (c.get("name") == "person" or "keypoints" in c)}
    by_id: dict[Any, tuple[str, list[Person], tuple[float, float] | None]] = {}
    for i, im in enumerate(images):
        if not isinstance(im, dict) or not isinstance(im.get("file_name"), str):
            raise KeypointFormatError(f"images[{i}] must be an object with a 'file_name' string")
        by_id[im.get("id")] = (Path(im["file_name"]).name, [], _size_of(im, f"images[{i}]"))
    for i, a in enumerate(anns):
        where = f"annotations[{i}]"
        if not isinstance(a, dict):
            raise KeypointFormatError(f"{where} must be an object, got {value_kind(a)}")
        if a.get("image_id") not in by_id or a.get("iscrowd"):
            continue  # crowd regions are not people we can frame
        if person_cats is not None and a.get("category_id") not in person_cats:
            continue
        kp = np.zeros((17, 3))
        if a.get("keypoints") is not None:
            kp = _triples(a["keypoints"], f"{where}.keypoints", (51,)).copy()
            v = kp[:, 2]  # visibility 2 = visible, 1 = labelled but occluded, 0 = not labelled
            kp[:, 2] = np.where(v >= 2, 1.0, np.where(v >= 1, 0.5, 0.0))
        if a.get("bbox") is not None:
            x, y, w, h = (_number(v, f"{where}.bbox[{k}]")
                          for k, v in enumerate(_as_list(a["bbox"], f"{where}.bbox", 4)))
            if w < 0 or h < 0:
                raise KeypointFormatError(f"{where}.bbox [x, y, w, h] has a negative size")
            person = Person(kp, (x, y, x + w, y + h))
        elif (kp[:, 2] >= MIN_SCORE).any():
            person = Person.from_keypoints(kp)
        else:
            raise KeypointFormatError(f"{where} has neither a 'bbox' nor labelled keypoints")
        by_id[a["image_id"]][1].append(person)
    out: dict[str, _Entry] = {}
    for name, people, size in by_id.values():
        out[name] = _Entry(people, size)
    return out


def _as_list(v: Any, what: str, n: int) -> list:
    if not isinstance(v, (list, tuple)) or len(v) != n:
        got = f"a list of length {len(v)}" if isinstance(v, (list, tuple)) else value_kind(v)
        raise KeypointFormatError(f"{what} must be a list of {n} numbers, got {got}")
    return list(v)


def _simple_entry(d: dict, where: str) -> _Entry:
    people = d.get("people")
    if not isinstance(people, list):
        raise KeypointFormatError(f"{where} must have a 'people' list, got {value_kind(people)}")
    out = [Person.from_dict(p, f"{where}.people[{j}]") for j, p in enumerate(people)]
    return _Entry(out, _size_of(d, where))


def _is_simple(d: Any) -> bool:
    people = d.get("people") if isinstance(d, dict) else None
    return isinstance(d, dict) and ("image" in d or isinstance(people, list) and any(
        isinstance(p, dict) and "keypoints" in p for p in people))


def _detect(data: Any) -> str:
    if isinstance(data, dict):
        if any(k in data for k in ("annotations", "images", "categories")):
            return "coco"
        if "people" in data:
            return "shotcrop" if _is_simple(data) else "pose_keypoint"
    if isinstance(data, list) and data and isinstance(data[0], dict):
        if _is_simple(data[0]):
            return "shotcrop"
        if "people" in data[0] or "canvas_width" in data[0]:
            return "pose_keypoint"
    if isinstance(data, list) and not data:
        raise KeypointFormatError("holds an empty list: there are no frames or images in it")
    raise KeypointFormatError(
        "is not a keypoint format ShotCrop knows. Give a COCO person_keypoints JSON "
        "('images' + 'annotations'), a ComfyUI POSE_KEYPOINT list (objects with 'people' and "
        "'canvas_width'/'canvas_height'), or ShotCrop's own "
        '{"image": "name.jpg", "people": [{"keypoints": [51 numbers], "box": [x0, y0, x1, y1]}]}')


# -- the source object ------------------------------------------------------------------------
_KIND_NAMES = {"coco": "COCO", "pose_keypoint": "POSE_KEYPOINT", "shotcrop": "ShotCrop keypoint"}


class KeypointSource:
    """People per image from one keypoint file. Formats with file names match by name (the
    basename); POSE_KEYPOINT lists and nameless files match by position on the command line."""

    def __init__(self, path: str | Path, kind: str, *, by_name: dict[str, _Entry] | None = None,
                 frames: list[_Entry] | None = None) -> None:
        self.path, self.kind = Path(path), kind
        self._by_name, self._frames = by_name, frames
        # Case differences are tolerated (Windows, camera exports): one index, built once.
        self._folded = {k.casefold(): v for k, v in (by_name or {}).items()}

    @property
    def names(self) -> list[str]:
        return list(self._by_name or {})

    @property
    def by_name(self) -> bool:
        """Photos are matched by file name (COCO, ShotCrop JSON with names), not by position."""
        return self._by_name is not None

    def _entry(self, image: str | Path) -> _Entry | None:
        name = Path(str(image)).name
        return (self._by_name or {}).get(name) or self._folded.get(name.casefold())

    def covers(self, image: str | Path | None, index: int = 0) -> bool:
        """Whether this file holds the people of `image`, the `index`-th image given."""
        if self._by_name is not None:
            return image is not None and self._entry(image) is not None
        return 0 <= index < len(self._frames or [])

    def __len__(self) -> int:
        return len(self._by_name) if self._by_name is not None else len(self._frames or [])

    def people_for(self, image: str | Path, index: int = 0,
                   image_size: tuple[int, int] | None = None) -> list[Person]:
        """People for `image` (the `index`-th image given); scaled onto the photo when
        `image_size` (width, height) is given and the file says what size it was made on."""
        what = _KIND_NAMES[self.kind]
        if self._by_name is not None:
            name = Path(str(image)).name
            entry = self._entry(name)
            if entry is None:
                some = ", ".join(self.names[:5]) + (", ..." if len(self.names) > 5 else "")
                raise ShotCropError(
                    f"{self.path}: no image named {name!r} in this {what} file (images are "
                    f"matched by file name). It has {len(self.names)} image(s): {some or 'none'}.")
            return _fit(entry.people, entry.size, image_size, f"{self.path} ({name})") \
                if image_size else entry.people
        frames = self._frames or []
        if not 0 <= index < len(frames):
            raise ShotCropError(
                f"{self.path}: has {len(frames)} {what} frame(s) but this is image "
                f"#{index + 1}. Frames are matched to images by position (one frame per image, "
                "in the order the images are given): give as many frames as images.")
        entry = frames[index]
        return _fit(entry.people, entry.size, image_size, f"{self.path} (frame {index})") \
            if image_size else entry.people


class CocoKeypoints(KeypointSource):
    """A COCO person_keypoints file (`images` + `annotations`), matched by file name.

    Visibility 2 -> score 1.0, 1 -> 0.5, 0 -> 0; boxes come from `bbox`; crowd annotations are
    skipped; annotations without labelled keypoints stay as box-only people."""

    def __init__(self, path: str | Path, data: dict | None = None) -> None:
        if data is None:
            data = _read(Path(path))
        try:
            if not isinstance(data, dict):
                raise KeypointFormatError(f"is not a COCO object, got {value_kind(data)}")
            by_name = _coco_entries(data)
        except KeypointFormatError as e:
            raise KeypointFormatError(f"{path}: {e}") from None
        super().__init__(path, "coco", by_name=by_name)


def _read(path: Path) -> Any:
    if not path.exists():
        raise ShotCropError(f"keypoint file not found: {path}. Check the path.")
    if path.is_dir():
        raise ShotCropError(f"{path} is a folder: give a keypoint JSON file.")
    try:
        text = path.read_bytes()
    except OSError as e:
        raise ShotCropError(f"cannot read keypoint file {path}: {e.strerror or e}") from None
    return _parse_json(text, str(path))


def load_keypoints(path: str | Path) -> KeypointSource:
    """Read a COCO, POSE_KEYPOINT or ShotCrop keypoint file (the format is detected)."""
    path = Path(path)
    data = _read(path)
    try:
        kind = _detect(data)
        if kind == "coco":
            return CocoKeypoints(path, data)
        if kind == "pose_keypoint":
            frames = [data] if isinstance(data, dict) else data
            entries = []
            for i, f in enumerate(frames):
                people = pose_keypoint_to_people(f, where=f"frame {i}")
                size = _size_of(f, f"frame {i}", "canvas_width", "canvas_height")
                entries.append(_Entry(people, size))
            return KeypointSource(path, kind, frames=entries)
        if isinstance(data, dict):
            entry = _simple_entry(data, "the file")
            name = data.get("image")
            if name is None:
                return KeypointSource(path, kind, frames=[entry])
            if not isinstance(name, str):
                raise KeypointFormatError(f"'image' must be a file name, got {value_kind(name)}")
            return KeypointSource(path, kind, by_name={Path(name).name: entry})
        by_name: dict[str, _Entry] = {}
        for i, d in enumerate(data):
            if not isinstance(d, dict) or not isinstance(d.get("image"), str):
                raise KeypointFormatError(f"entry {i} needs an 'image' file name (a list needs "
                                          "one name per image)")
            name = Path(d["image"]).name
            if name in by_name:
                raise KeypointFormatError(f"image {name!r} appears twice (entry {i})")
            by_name[name] = _simple_entry(d, f"entry {i} ({name})")
        return KeypointSource(path, kind, by_name=by_name)
    except ShotCropError as e:
        msg = str(e)
        raise KeypointFormatError(msg if msg.startswith(str(path)) else f"{path}: {msg}") from None
    except (TypeError, ValueError, KeyError, IndexError, AttributeError) as e:
        # Person's own checks or a shape we did not foresee: still one clear error, no traceback.
        raise KeypointFormatError(f"{path}: malformed keypoint file ({e})") from None


__all__ = ["CocoKeypoints", "KeypointFormatError", "KeypointSource", "load_keypoints",
           "pose_keypoint_frames", "pose_keypoint_to_people"]
