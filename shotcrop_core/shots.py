"""The shot data model: an immutable set of three boxes with descriptions and warnings.

Boxes are integer source pixels `[x0, y0, x1, y1]` with x1/y1 exclusive, so a box covering the
whole W x H image is `[0, 0, W, H]` and its width is `x1 - x0`.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field, replace
from typing import Any, Iterator

from . import boxmath
from .errors import ShotCropError

SHOT_NAMES: tuple[str, ...] = ("establishing", "medium", "close_up")
#: Other names a user may give each shot (CLI, nodes, aspect specs, layouts, prompts). Case,
#: spaces, hyphens and underscores do not count: "Close Up" is "close-up" is "closeup".
SHOT_ALIASES: dict[str, tuple[str, ...]] = {
    "establishing": ("est", "wide", "ls"),
    "medium": ("med", "ms"),
    "close_up": ("close-up", "closeup", "cu"),
}


def shot_key(text: str) -> str:
    """`text` as the shot-name tables compare it: lower case, no spaces, hyphens or underscores."""
    return re.sub(r"[\s_-]+", "", text.lower())


#: Every accepted spelling as a `shot_key` -> its name in SHOT_NAMES. The VLM answer parser
#: (vlm/parse.py) adds the looser labels models write on top of this table.
SHOT_KEYS: dict[str, str] = {shot_key(spelling): name for name in SHOT_NAMES
                              for spelling in (name, *SHOT_ALIASES[name])}


def shot_name(text: str) -> str:
    """The name in SHOT_NAMES for a shot name or alias in any spelling ('Close Up', 'CU',
    'wide'); a ShotCropError that lists what is accepted otherwise."""
    name = SHOT_KEYS.get(shot_key(text)) if isinstance(text, str) else None
    if name is None:
        also = "; ".join(f"{', '.join(a)} for {n}" for n, a in SHOT_ALIASES.items())
        raise ShotCropError(f"unknown shot {text!r}: use one of {', '.join(SHOT_NAMES)} "
                            f"(also accepted: {also})")
    return name


class ShotSetError(ShotCropError, ValueError):
    """A shot set (or its JSON) is malformed; the message says which field and why."""


#: The farthest a shot may reach past the photo, as a share of the photo per side.
MAX_BEYOND = 1.0


def check_beyond(value, error: type[ShotCropError] = ShotCropError) -> float:
    """A share of the photo per side shots may reach past it: 0 to MAX_BEYOND."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) \
            or not 0 <= value <= MAX_BEYOND:
        raise error(f"beyond_photo must be a share of the photo from 0 to {MAX_BEYOND} (e.g. 0.5 "
                    f"= half the photo per side), got {value!r}")
    return float(value)


def reach(beyond: float, width: int, height: int) -> tuple[int, int]:
    """Whole pixels a box may reach past each side of a width x height photo (x, y) when shots
    may extend `beyond` of the photo per side (0: none)."""
    return int(beyond * width), int(beyond * height)


def within_reach(box, width: int, height: int, beyond: float = 0.0) -> bool:
    """Whether a box (x0, y0, x1, y1) lies in the photo, or no further past it than `beyond`
    allows."""
    rx, ry = reach(beyond, width, height)
    x0, y0, x1, y1 = box
    return x0 >= -rx and y0 >= -ry and x1 <= width + rx and y1 <= height + ry


@dataclass(frozen=True, order=True)
class Box:
    x0: int
    y0: int
    x1: int
    y1: int

    def __post_init__(self) -> None:
        for name in ("x0", "y0", "x1", "y1"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int):
                raise ShotSetError(f"box {name} must be an integer, got {v!r}")
        if self.x1 <= self.x0 or self.y1 <= self.y0:
            raise ShotSetError(f"box {self.to_list()} is empty: need x1 > x0 and y1 > y0")

    @classmethod
    def from_list(cls, values: Any, what: str = "box") -> "Box":
        if not isinstance(values, (list, tuple)) or len(values) != 4:
            raise ShotSetError(f"{what} must be a list [x0, y0, x1, y1], got {values!r}")
        out = []
        for v in values:
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
                raise ShotSetError(f"{what} must hold 4 finite numbers, got {values!r}")
            if isinstance(v, float) and not v.is_integer():
                raise ShotSetError(f"{what} must hold whole pixels, got {values!r}")
            out.append(int(v))
        try:
            return cls(*out)
        except ShotSetError as e:
            raise ShotSetError(f"{what}: {e}") from None

    @classmethod
    def from_floats(cls, x0: float, y0: float, x1: float, y1: float,
                    width: int | None = None, height: int | None = None) -> "Box":
        """Round outward-safe to whole pixels (and clamp to the image when its size is given)."""
        ix0, iy0, ix1, iy1 = (int(round(v)) for v in (x0, y0, x1, y1))
        if width is not None:
            ix0, ix1 = max(0, min(ix0, width - 1)), max(1, min(ix1, width))
        if height is not None:
            iy0, iy1 = max(0, min(iy0, height - 1)), max(1, min(iy1, height))
        ix1, iy1 = max(ix1, ix0 + 1), max(iy1, iy0 + 1)
        return cls(ix0, iy0, ix1, iy1)

    @property
    def w(self) -> int:
        return self.x1 - self.x0

    @property
    def h(self) -> int:
        return self.y1 - self.y0

    @property
    def area(self) -> int:
        return self.w * self.h

    @property
    def center(self) -> tuple[float, float]:
        return ((self.x0 + self.x1) / 2, (self.y0 + self.y1) / 2)

    def to_list(self) -> list[int]:
        return [self.x0, self.y0, self.x1, self.y1]

    @property
    def rect(self) -> tuple[float, float, float, float]:
        """(x0, y0, x1, y1) as floats: the form the grammar checks and the engine work in."""
        return (float(self.x0), float(self.y0), float(self.x1), float(self.y1))

    def inside(self, width: int, height: int) -> bool:
        return self.x0 >= 0 and self.y0 >= 0 and self.x1 <= width and self.y1 <= height

    def past(self, width: int, height: int) -> tuple[int, int, int, int]:
        """How far (px) the box reaches past the left, top, right and bottom of the photo."""
        return (max(0, -self.x0), max(0, -self.y0), max(0, self.x1 - width),
                max(0, self.y1 - height))

    def padding_share(self, width: int, height: int) -> float:
        """The share of the box's area that lies past the photo (to be outpainted)."""
        return 1.0 - self.intersection(Box(0, 0, width, height)) / self.area

    def intersection(self, other: "Box") -> int:
        w = min(self.x1, other.x1) - max(self.x0, other.x0)
        h = min(self.y1, other.y1) - max(self.y0, other.y0)
        return max(0, w) * max(0, h)

    def iou(self, other: "Box") -> float:
        return boxmath.iou(self, other)

    def fraction_inside(self, outer: "Box") -> float:
        """Share of this box's area that lies inside `outer`."""
        return self.intersection(outer) / self.area

    def normalized(self, width: int, height: int) -> tuple[float, float, float, float]:
        return (self.x0 / width, self.y0 / height, self.x1 / width, self.y1 / height)

    @classmethod
    def from_normalized(cls, box, width: int, height: int) -> "Box":
        if len(box) != 4:
            raise ShotSetError(f"normalised box must have 4 values, got {box!r}")
        x0, y0, x1, y1 = (float(v) for v in box)
        return cls.from_floats(x0 * width, y0 * height, x1 * width, y1 * height, width, height)


@dataclass(frozen=True)
class Shot:
    name: str
    box: Box
    description: str = ""
    aspect: str = "original"
    warnings: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.name not in SHOT_NAMES:
            raise ShotSetError(f"unknown shot {self.name!r}: use one of {', '.join(SHOT_NAMES)}")
        if not isinstance(self.box, Box):
            raise ShotSetError(f"{self.name}: box must be a Box, got {type(self.box).__name__}")
        object.__setattr__(self, "warnings", tuple(str(w) for w in self.warnings))

    def to_dict(self) -> dict:
        return {"shot": self.name, "box": self.box.to_list(), "description": self.description,
                "aspect": self.aspect, "warnings": list(self.warnings)}


@dataclass(frozen=True)
class Subject:
    """The person the shots were built around: its box, and its index among detected people."""

    box: Box
    index: int | None = None

    def to_dict(self) -> dict:
        d: dict[str, Any] = {"box": self.box.to_list()}
        if self.index is not None:
            d["index"] = self.index
        return d


@dataclass(frozen=True)
class ShotSet:
    """Three coordinated shots of one image, always in the order establishing, medium, close_up."""

    width: int
    height: int
    establishing: Shot
    medium: Shot
    close_up: Shot
    subject: Subject | None = None
    #: True when no person was found and the shots come from the centre/saliency fallback.
    fallback: bool = False
    source: str = "framing"
    warnings: tuple[str, ...] = field(default=())
    #: How far shots may reach past the photo, as a share of it per side (0: they stay inside;
    #: what lies past it is padding, to be outpainted).
    beyond: float = 0.0

    def __post_init__(self) -> None:
        for name in ("width", "height"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ShotSetError(f"image {name} must be a positive integer, got {v!r}")
        b = check_beyond(self.beyond, ShotSetError)
        for name in SHOT_NAMES:
            shot = getattr(self, name)
            if not isinstance(shot, Shot) or shot.name != name:
                raise ShotSetError(f"the {name} slot must hold a Shot named {name!r}")
            if not within_reach(shot.box.to_list(), self.width, self.height, b):
                where = (f"the {self.width}x{self.height} image" if not b else
                         f"{b:g} of the {self.width}x{self.height} image past its edges")
                raise ShotSetError(f"{name} box {shot.box.to_list()} lies outside {where}")
        object.__setattr__(self, "warnings", tuple(str(w) for w in self.warnings))
        object.__setattr__(self, "beyond", b)

    def past(self, name: str) -> tuple[int, int, int, int]:
        """How far (px) a shot reaches past the left, top, right and bottom of the photo."""
        return self[name].box.past(self.width, self.height)

    def __iter__(self) -> Iterator[Shot]:
        return iter((self.establishing, self.medium, self.close_up))

    def __getitem__(self, name: str) -> Shot:
        if name not in SHOT_NAMES:
            raise ShotSetError(f"unknown shot {name!r}: use one of {', '.join(SHOT_NAMES)}")
        return getattr(self, name)

    @property
    def all_warnings(self) -> list[str]:
        out = list(self.warnings)
        for shot in self:
            out.extend(shot.warnings)
        return out

    def with_shot(self, shot: Shot) -> "ShotSet":
        return replace(self, **{shot.name: shot})

    def with_shots(self, shots) -> "ShotSet":
        return replace(self, **{s.name: s for s in shots})

    def normalized(self) -> dict[str, tuple[float, float, float, float]]:
        return {s.name: s.box.normalized(self.width, self.height) for s in self}

    @classmethod
    def from_normalized(cls, boxes: dict, width: int, height: int, **kw) -> "ShotSet":
        shots = {n: Shot(n, Box.from_normalized(boxes[n], width, height)) for n in SHOT_NAMES}
        return cls(width, height, **shots, **kw)

    # -- JSON ------------------------------------------------------------------------------
    def to_dict(self, image: str | None = None) -> dict:
        d: dict[str, Any] = {}
        if image is not None:
            d["image"] = image
        d.update({"width": self.width, "height": self.height,
                  "subject": self.subject.to_dict() if self.subject else None,
                  "shots": [s.to_dict() for s in self]})
        if self.beyond:
            d["beyond_photo"] = self.beyond
            for shot in d["shots"]:
                left, top, right, bottom = self.past(shot["shot"])
                if left or top or right or bottom:  # padding to outpaint, px per side
                    shot["outpaint"] = {"left": left, "top": top, "right": right,
                                        "bottom": bottom}
        if self.fallback:
            d["fallback"] = True
        if self.source != "framing":
            d["source"] = self.source
        if self.warnings:
            d["warnings"] = list(self.warnings)
        return d

    def to_json(self, image: str | None = None, indent: int | None = None) -> str:
        return json.dumps(self.to_dict(image), indent=indent, ensure_ascii=False)

    @classmethod
    def from_dict(cls, d: Any) -> "ShotSet":
        if not isinstance(d, dict):
            raise ShotSetError(f"a shot set must be a JSON object, got {type(d).__name__}")
        for key in ("width", "height", "shots"):
            if key not in d:
                raise ShotSetError(f"shot set JSON is missing {key!r}")
        shots = d["shots"]
        if isinstance(shots, dict):  # also accept {"establishing": {...}, ...}
            shots = [dict(v, shot=k) if isinstance(v, dict) else v for k, v in shots.items()]
        if not isinstance(shots, list):
            raise ShotSetError("'shots' must be a list of three shot objects")
        by_name: dict[str, Shot] = {}
        for i, s in enumerate(shots):
            if not isinstance(s, dict):
                raise ShotSetError(f"shots[{i}] must be an object, got {type(s).__name__}")
            name = s.get("shot", s.get("name"))
            if name not in SHOT_NAMES:
                raise ShotSetError(f"shots[{i}] has unknown shot name {name!r}: "
                                   f"use one of {', '.join(SHOT_NAMES)}")
            if name in by_name:
                raise ShotSetError(f"shot {name!r} appears twice")
            if "box" not in s:
                raise ShotSetError(f"shot {name!r} has no 'box'")
            warnings = s.get("warnings", [])
            if not isinstance(warnings, list):
                raise ShotSetError(f"shot {name!r}: 'warnings' must be a list of strings")
            desc = s.get("description", "")
            if not isinstance(desc, str):
                raise ShotSetError(f"shot {name!r}: 'description' must be a string")
            by_name[name] = Shot(name, Box.from_list(s["box"], f"{name} box"), desc,
                                 str(s.get("aspect", "original")), tuple(map(str, warnings)))
        missing = [n for n in SHOT_NAMES if n not in by_name]
        if missing:
            raise ShotSetError(f"shot set is missing {', '.join(missing)}")
        subject = None
        if d.get("subject") is not None:
            sd = d["subject"]
            if not isinstance(sd, dict) or "box" not in sd:
                raise ShotSetError("'subject' must be null or an object with a 'box'")
            idx = sd.get("index")
            subject = Subject(Box.from_list(sd["box"], "subject box"),
                              int(idx) if isinstance(idx, int) else None)
        warnings = d.get("warnings", [])
        return cls(d["width"], d["height"], by_name["establishing"], by_name["medium"],
                   by_name["close_up"], subject, bool(d.get("fallback", False)),
                   str(d.get("source", "framing")),
                   tuple(map(str, warnings)) if isinstance(warnings, list) else (),
                   d.get("beyond_photo", 0.0))

    @classmethod
    def from_json(cls, text: str) -> "ShotSet":
        try:
            d = json.loads(text)
        except (json.JSONDecodeError, TypeError) as e:
            raise ShotSetError(f"shot set is not valid JSON: {e}") from None
        return cls.from_dict(d)
