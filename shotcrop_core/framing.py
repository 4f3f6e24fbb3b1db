"""The cinematic framing engine: three coordinated shots from body landmarks.

The body lines become what each shot asks for (`search.ShotSpec`); the candidates of the three
shots are costed in one vectorised pass (`search.Search`): grammar rules are heavy penalties (so
the best feasible box wins when the photo cannot satisfy them all), composition preferences are
light ones. The shots are picked inside-out (close-up, medium, establishing) so each can contain
the one before; if the photo is too tight for that, they are picked outside-in from the same pass
and the set that breaks fewer rules wins. The final boxes are checked with `grammar` and every
rule still broken becomes a warning."""

from __future__ import annotations

import functools
from dataclasses import dataclass, field, replace

import numpy as np

from . import grammar as G
from .anatomy import Anatomy, measure
from .aspect import aspect_ratio, parse_aspect_spec
from .captions import Caption, parse_caption
from .describe import (OUTPAINT_NOTE, describe_fallback, describe_shots, outpaint_clause,
                       outpaint_note, without_outpaint)
from .errors import ShotCropError
from .keypoints import Person
from .search import Search, ShotSpec
from .shots import SHOT_NAMES, Box, Shot, ShotSet, Subject, check_beyond, reach
from .subject import choose_subject, match_person

Rect = tuple[float, float, float, float]

# The establishing shot aims at this share of the largest box of its aspect (room to compose).
EST_SCALE = 0.96
# Estimated landmarks: the top of the person (hair, hat, bowed head) as far as this above the eyes
# (COCO person boxes reach 0.4-1.5u above the eyes, median 0.7u; the margin and the snap to the
# photo's edge below cover the rest).
EST_CROWN_U = 1.2
#: The most of a shot that may be padding past the photo (beyond_photo): more is no longer a
#: shot of the photo but a picture for a generator to invent.
MAX_PADDING = 0.6
# A shot may stick out of the next by a sliver (the grammar allows 10%); past 8% it is pulled in.
NEST_KEEP = 0.92


@dataclass(frozen=True)
class FramingOptions:
    """Per-shot aspects and how to choose the subject."""

    aspects: dict[str, str] = field(default_factory=lambda: {n: "original" for n in SHOT_NAMES})
    subject_index: int | None = None
    subject_hint: str | None = None
    #: Keep people of similar size to the subject inside the establishing shot.
    keep_group: bool = True
    #: How far (in head heights, u) joints may be from where the landmarks put them: edges keep
    #: that much more clearance. 0 for human keypoints; ESTIMATED for a pose model's landmarks.
    joint_uncertainty: float = 0.0
    #: How far a shot may reach past the photo, as a share of it per side (0: never). Only a
    #: shot that breaks the grammar inside the photo reaches past it, by the least that keeps
    #: the grammar; the padding is for an outpainting model to fill.
    beyond_photo: float = 0.0

    ESTIMATED = 0.25
    #: The default share for `beyond_photo` when asked for "when needed".
    BEYOND = 0.5

    def __post_init__(self) -> None:
        check_beyond(self.beyond_photo)

    @classmethod
    def from_spec(cls, aspects=None, **kw) -> "FramingOptions":
        return cls(aspects=parse_aspect_spec(aspects), **kw)


# -- shot specifications --------------------------------------------------------------------
def _specs(a: Anatomy, aspects: dict[str, str], W: int, H: int, people: list[Person],
           subject: int, keep_group: bool, joint_pad_u: float = 0.0,
           faces: list[Rect] = (), measured=measure,
           past: dict[str, tuple[float, float]] | None = None) -> dict[str, ShotSpec]:
    """What each shot needs; `past`: the shots that may reach past the photo, and how far
    (px, x and y)."""
    u, eye = a.u, a.eye_y
    fx0, fy0, fx1, fy1 = a.face_box
    joints = np.asarray(a.joints, dtype=float).reshape(-1, 2)
    others = [p for i, p in enumerate(people) if i != subject]
    # Joints of people at the subject's scale: cutting a background passer-by is no amputation.
    sh = people[subject].box_h
    soft = [q for p in others if p.box_h >= 0.5 * sh
            for q in measured(p).joints]
    soft_joints = np.asarray(soft, dtype=float).reshape(-1, 2)
    ratio = {n: aspect_ratio(aspects.get(n, "original"), W, H) for n in SHOT_NAMES}
    pad = 0.12 * u
    face_rects = np.asarray(faces, dtype=float).reshape(-1, 4)  # grammar.bystander_faces

    # Close-up: head and shoulders, eyes about a third down, look room.
    cu_bottom = a.shoulder_y + 0.33 * a.torso
    cu_top = eye - 0.9 * u
    cu = ShotSpec("close_up", ratio["close_up"],
                  req=(fx0 - pad, min(fy0, eye - G.FOREHEAD_U * u) - 0.02 * u, fx1 + pad,
                       max(fy1, eye + G.CHIN_MIN_U * u) + 0.02 * u),
                  h_target=cu_bottom - cu_top, top_max=eye - (G.FOREHEAD_U + 0.03) * u,
                  bot_range=(eye + (G.CHIN_MIN_U + 0.05) * u,
                             a.shoulder_y + (G.CU_MAX_TORSO - 0.03) * a.torso),
                  eye=eye, f_target=0.31, x_target=a.face_x, facing=a.facing, face_x=a.face_x,
                  joints=joints, soft_joints=soft_joints)

    # Medium: face and both shoulders down to the upper thigh; subject on a thirds line.
    lo, hi = G.medium_bottom_range(a)
    med_bottom = a.hip_y + 0.35 * (a.knee_y - a.hip_y)
    med_bottom = min(max(med_bottom, lo + 0.1 * a.torso), hi - 0.05 * a.shin)
    f_med = 0.25
    sx0, sx1 = a.shoulders_x
    med_ratio = ratio["medium"]
    med_h = (med_bottom - eye) / (1 - f_med)
    width_need = (max(sx1, fx1) - min(sx0, fx0)) + 1.2 * u
    med = ShotSpec("medium", med_ratio,
                   req=(min(sx0, fx0) - pad, min(fy0, eye - G.FOREHEAD_U * u) - 0.02 * u,
                        max(sx1, fx1) + pad, max(a.shoulder_y, fy1) + 0.05 * u),
                   h_target=med_h, top_max=eye - (G.FOREHEAD_U + 0.03) * u,
                   bot_range=(lo + 0.03 * a.torso, hi - 0.03 * a.shin), eye=eye, f_target=f_med,
                   x_target=a.body_x, facing=a.facing, face_x=a.face_x,
                   thirds=med_ratio is not None and med_ratio * med_h > 2.2 * width_need,
                   joints=joints, soft_joints=soft_joints,
                   ankles=np.asarray(a.ankles, dtype=float).reshape(-1, 2))

    if not a.upright:
        # The grammar's vertical lines mean nothing for a body that is not upright: frame the
        # face and the upper body around their centres instead (warned as such).
        hx0, hy0, hx1, hy1 = fx0 - 0.5 * u, fy0 - 0.5 * u, fx1 + 0.5 * u, fy1 + 0.5 * u
        cu = ShotSpec("close_up", ratio["close_up"], req=(hx0, hy0, hx1, hy1),
                      h_target=1.5 * max(hx1 - hx0, hy1 - hy0), x_target=(hx0 + hx1) / 2,
                      y_target=(hy0 + hy1) / 2, facing=a.facing, face_x=a.face_x, joints=joints,
                      soft_joints=soft_joints)
        ux0, uy0, ux1, uy1 = a.upper_body
        ux0, uy0, ux1, uy1 = (min(ux0, hx0) - pad, min(uy0, hy0) - pad, max(ux1, hx1) + pad,
                              max(uy1, hy1) + pad)
        med = ShotSpec("medium", med_ratio, req=(ux0, uy0, ux1, uy1),
                       h_target=1.2 * max(uy1 - uy0, (ux1 - ux0) / (med_ratio or 1.0)),
                       x_target=(ux0 + ux1) / 2, y_target=(uy0 + uy1) / 2, facing=a.facing,
                       face_x=a.face_x, joints=joints, soft_joints=soft_joints)

    # Establishing: the subject with room, the group, the scene.
    bx0, by0, bx1, by1 = (max(a.box[0], 0.0), max(a.box[1], 0.0),
                          min(a.box[2], float(W)), min(a.box[3], float(H)))
    group = (bx0, by0, bx1, by1)
    if keep_group:
        for p in others:
            if p.box_h >= 0.5 * sh:
                gx0, gy0, gx1, gy1 = p.clipped_box(W, H)
                group = (min(group[0], gx0), min(group[1], gy0),
                         max(group[2], gx1), max(group[3], gy1))
    r = ratio["establishing"]
    h_fit = H if r is None else min(H, W / r)
    # Estimated landmarks underrate the body's extent (hair, hands, feet): leave a margin, and
    # a body that ends within a head of the photo's edge most likely runs on to it.
    mx, my = 0.2 * joint_pad_u * (bx1 - bx0), 0.2 * joint_pad_u * (by1 - by0)
    edge = u if joint_pad_u else 0.0
    crown = max(min(by0, eye - EST_CROWN_U * u), 0.0)
    if joint_pad_u and by1 - crown <= h_fit:  # room for hair, when the shot can hold it at all
        by0 = crown
    bx0, by0 = (0.0 if bx0 - mx < edge else bx0 - mx), (0.0 if by0 - my < edge else by0 - my)
    bx1 = float(W) if bx1 + mx > W - edge else bx1 + mx
    by1 = float(H) if by1 + my > H - edge else by1 + my
    rx, ry = (past or {}).get("establishing", (0.0, 0.0))
    # Room around the subject: as much as the photo (or the padding past it) can give.
    room_fit = H + 2 * ry if r is None else min(H + 2 * ry, (W + 2 * rx) / r)
    est = ShotSpec("establishing", r, req=(bx0, by0, bx1, by1), h_target=EST_SCALE * h_fit,
                   x_target=a.body_x, facing=a.facing, face_x=a.face_x, thirds=True,
                   joints=joints, soft_joints=soft_joints,
                   min_h=min((by1 - by0) / (G.SUBJECT_MAX_H - 0.03), room_fit),
                   soft_req=group, y_target=(by0 + by1) / 2)
    # When nothing fits, keep the head: a frame of feet and torso is no shot of anyone.
    head = (fx0 - pad, min(fy0, a.crown_y), fx1 + pad, max(fy1, a.chin_y))
    for spec in (cu, med, est):
        spec.reach = (past or {}).get(spec.name, (0.0, 0.0))
        spec.faces = face_rects
        spec.core = head
        spec.joint_pad = joint_pad_u * u
        spec.eye_margin = 0.5 * joint_pad_u * u
        if joint_pad_u and spec.eye is not None:
            # Estimated body lines may sit off by about the same as the joints: keep the top
            # and bottom edges that much inside their limits where nothing else suffers.
            spec.edge_margin = 0.5 * joint_pad_u * u
    return {"close_up": cu, "medium": med, "establishing": est}


def _area(b: Rect) -> float:
    return (b[2] - b[0]) * (b[3] - b[1])


_ORDER = ("close_up", "medium", "establishing")


def _solve_set(search: Search, W: int, H: int) -> dict[str, Rect]:
    """Inside-out: each shot grown around the one before."""
    cu = search.best(0)
    med = _around(search, 1, cu, _area(cu) / 0.8, W, H)
    est = _around(search, 2, med, G.EST_AREA * 1.02 * _area(med), W, H)
    return {"close_up": cu, "medium": med, "establishing": est}


def _around(search: Search, k: int, inner: Rect, area_min: float, W: int, H: int) -> Rect:
    """Shot k around `inner`, from the pass; when none of the pass's candidates holds it,
    searched again with placements aligned to it."""
    box = search.best(k, inner=inner, area_min=area_min)
    if (box[0] <= inner[0] and box[1] <= inner[1] and inner[2] <= box[2]
            and inner[3] <= box[3] and _area(box) >= area_min):
        return box
    return Search([search.specs[k]], W, H, inner=inner).best(inner=inner, area_min=area_min)


def _solve_set_outside_in(search: Search, W: int, H: int) -> dict[str, Rect]:
    """Outside-in, for a photo too tight to grow each shot around the last: the establishing
    shot from the pass, then each shot searched inside the next, its candidates laid out in
    the box it must fit (the pass's, laid out on the photo, nest worse: measured)."""
    est = search.best(2)
    area = _area(est) / (G.EST_AREA * 1.02)
    med = Search([search.specs[1]], W, H, outer=est, area_max=area).best(outer=est, area_max=area)
    area = 0.8 * _area(med)
    cu = Search([search.specs[0]], W, H, outer=med, area_max=area).best(outer=med, area_max=area)
    return {"close_up": cu, "medium": med, "establishing": est}


#: How much each broken rule weighs when two candidate sets are compared.
_RULE_WEIGHT = {"face": 20, "forehead": 10, "subject": 10, "shoulders": 6, "room": 3, "wider": 3}


def _badness(boxes: dict[str, Rect], a: Anatomy, W: int, H: int, faces=(),
             beyond: float = 0.0) -> int:
    rep = G.check_set(boxes, a, W, H, faces, beyond)
    n = sum(_RULE_WEIGHT.get(r, 2 if r not in G.COMPOSITION else 1)
            for v in rep.failures.values() for r in v)
    return n + (0 if rep.coherent else 8)


def _to_box(r: Rect, ratio: float | None, bounds: tuple[int, int, int, int]) -> Box:
    """Whole pixels that keep the aspect within one pixel (round the height, derive the width),
    inside `bounds`: the photo, or as far past it as the shots may reach."""
    x0, y0, x1, y1 = r
    lx0, ly0, lx1, ly1 = bounds
    W, H = lx1 - lx0, ly1 - ly0
    h = int(min(max(round(y1 - y0), 1), H))
    w = int(min(max(round(x1 - x0), 1), W)) if ratio is None else int(round(ratio * h))
    if ratio is not None and w > W:  # the height rounded up past the width limit
        h = int(max(min(h, (W + 0.5) / ratio), 1))
        w = int(min(max(round(ratio * h), 1), W))
    w = max(w, 1)
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    bx = int(min(max(round(cx - w / 2), lx0), lx1 - w))
    by = int(min(max(round(cy - h / 2), ly0), ly1 - h))
    return Box(bx, by, bx + w, by + h)


def _fit_inside(inner: Box, outer: Box, ratio: float | None, max_area: float) -> Box:
    """Shrink (keeping the aspect) and shift `inner` until it lies inside `outer` and is smaller."""
    if inner.fraction_inside(outer) >= NEST_KEEP and inner.area <= max_area:
        return inner
    k = min(1.0, outer.w / inner.w, outer.h / inner.h, (max_area / inner.area) ** 0.5)
    w, h = max(inner.w * k, 1.0), max(inner.h * k, 1.0)
    cx, cy = inner.center
    for _ in range(12):  # whole pixels can land one over: shrink until they do not
        ih = max(int(round(h)), 1)
        iw = max(int(round(ratio * ih)) if ratio is not None else int(round(w)), 1)
        if iw <= outer.w and ih <= outer.h:
            bx = int(min(max(round(cx - iw / 2), outer.x0), outer.x1 - iw))
            by = int(min(max(round(cy - ih / 2), outer.y0), outer.y1 - ih))
            b = Box(bx, by, bx + iw, by + ih)
            if b.area <= max_area:
                return b
        w, h = max(w * 0.97, 1.0), max(h * 0.97, 1.0)
    # No box of this aspect fits (an extreme aspect inside a narrow outer shot): keep the nest.
    iw, ih = min(max(int(round(w)), 1), outer.w), min(max(int(round(h)), 1), outer.h)
    bx = int(min(max(round(cx - iw / 2), outer.x0), outer.x1 - iw))
    by = int(min(max(round(cy - ih / 2), outer.y0), outer.y1 - ih))
    return Box(bx, by, bx + iw, by + ih)


def _integer_set(boxes: dict[str, Rect], ratios: dict[str, float | None], W: int,
                 H: int, beyond: float = 0.0) -> dict[str, Box]:
    """Round to pixels and guarantee the set nests with strictly growing areas."""
    rx, ry = reach(beyond, W, H)

    def bounds(r: Rect) -> tuple[int, int, int, int]:
        # Only a shot that does reach past the photo is rounded out there: one that fits
        # stays on the photo to the pixel.
        past = r[0] <= -0.5 or r[1] <= -0.5 or r[2] >= W + 0.5 or r[3] >= H + 0.5
        return (-rx, -ry, W + rx, H + ry) if past else (0, 0, W, H)

    b = {n: bounds(boxes[n]) for n in SHOT_NAMES}
    est = _to_box(boxes["establishing"], ratios["establishing"], b["establishing"])
    med = _to_box(boxes["medium"], ratios["medium"], b["medium"])
    med = _fit_inside(med, est, ratios["medium"], est.area * 0.97)
    cu = _to_box(boxes["close_up"], ratios["close_up"], b["close_up"])
    cu = _fit_inside(cu, med, ratios["close_up"], med.area * 0.97)
    return {"establishing": est, "medium": med, "close_up": cu}


def _warnings(name: str, failures: list[str], a: Anatomy, H: int) -> list[str]:
    out = []
    if a.face_out and {"face", "forehead", "eye_line"} & set(failures):
        # One reason, not three rules that no box inside the photo could meet.
        out.append(f"{name}: the face is above the photo's top edge; framed on the body")
        failures = [r for r in failures if r not in ("face", "forehead", "eye_line")]
    for rule in failures:
        if name == "medium" and rule == "waist" and G.medium_bottom_range(a)[0] > H:
            out.append("medium: photo too tight to reach the waist")
        elif name == "establishing" and rule == "room":
            out.append("establishing: photo too tight to leave room around the subject")
        else:
            out.append(f"{name}: {G.RULES.get(rule, rule)}")
    if a.estimated and name == "medium":
        out.append(f"medium: {', '.join(sorted(a.estimated))} estimated (not visible)")
    return out


def mark_past(shots: ShotSet) -> ShotSet:
    """The set with each shot's description and warnings saying whether, and how far, it
    reaches past the photo (as its box now does: after an edit, a repair, a re-cut)."""
    out = []
    for shot in shots:
        past = shot.box.past(shots.width, shots.height)
        warnings = tuple(w for w in shot.warnings if OUTPAINT_NOTE not in w)
        out.append(replace(shot, description=without_outpaint(shot.description)
                           + outpaint_clause(past),
                           warnings=warnings + ((outpaint_note(shot.name, past),)
                                                if any(past) else ())))
    return shots.with_shots(out)


def _finish(boxes: dict[str, Rect], a: Anatomy, people: list[Person], subject: int,
            faces: list[Rect],
            aspects: dict[str, str], W: int, H: int, source: str = "framing",
            descriptions: dict[str, str] | None = None, skip: frozenset = frozenset(),
            beyond: float = 0.0, caption: Caption | None = None) -> ShotSet:
    ratios = {n: aspect_ratio(aspects[n], W, H) for n in SHOT_NAMES}
    ints = _integer_set(boxes, ratios, W, H, beyond)
    fl = {n: b.rect for n, b in ints.items()}
    rep = G.check_set(fl, a, W, H, faces, beyond)
    set_warn = [] if rep.coherent else ["set: the shots do not nest cleanly (photo too tight)"]
    if not a.upright:
        set_warn.append("subject is not upright (bent, lying or upside down): the medium and "
                        "close-up are framed around the body and face, not the shot grammar")
    descs = describe_shots(ints, a, people, subject, W, H, caption)
    descs.update({k: v for k, v in (descriptions or {}).items() if v})
    # A detail close-up (asked for by the user's intent) is not held to the face rules.
    shots = {n: Shot(n, ints[n], descs[n], aspects.get(n, "original"),
                     () if n in skip else tuple(_warnings(n, rep.failures[n], a, H)))
             for n in SHOT_NAMES}
    sbox = Box.from_floats(*people[subject].clipped_box(W, H), width=W, height=H)
    return mark_past(ShotSet(W, H, **shots, subject=Subject(sbox, subject), source=source,
                             warnings=tuple(set_warn), beyond=beyond))


# -- public API -----------------------------------------------------------------------------
def compose(people: list[Person], width: int, height: int,
            options: FramingOptions | None = None, image=None,
            caption: str | Caption | None = None) -> ShotSet:
    """Three shots for one image of `width` x `height` with the given people.

    `image` (PIL) is optional: it sharpens the subject choice and guides the no-person fallback.
    `caption` (a captioner's text about the photo) goes into the descriptions
    (`captions.parse_caption`).
    """
    opts = options or FramingOptions()
    W, H = int(width), int(height)
    if W < 1 or H < 1:
        raise ShotCropError(f"image size {width}x{height} is not valid")
    aspects = {n: opts.aspects.get(n, "original") for n in SHOT_NAMES}
    people = [p for p in people if p.box_w > 0 and p.box_h > 0
              and p.box[2] > 0 and p.box[3] > 0 and p.box[0] < W and p.box[1] < H]
    if not people:
        return fallback(W, H, aspects, image)
    gray = _small_gray(image) if image is not None and len(people) > 1 else None
    subject = choose_subject(people, W, H, opts.subject_index, opts.subject_hint, gray)
    a, faces, specs, measured = _about(people, subject, aspects, W, H, opts)
    boxes = _solve(specs, a, faces, W, H)
    # A head above the photo is not there to outpaint: such a subject stays inside it.
    beyond = opts.beyond_photo if not a.face_out else 0.0
    if beyond:
        rep = G.check_set(boxes, a, W, H, faces)
        failing = [n for n in SHOT_NAMES if not rep.valid[n]]
        if failing:  # only these may reach past the photo, by the least that meets the grammar
            rx, ry = reach(beyond, W, H)
            specs = _specs(a, aspects, W, H, people, subject, opts.keep_group,
                           opts.joint_uncertainty, faces, measured,
                           {n: (float(rx), float(ry)) for n in failing})
            alt = _solve(specs, a, faces, W, H, beyond)
            # Taken only when, in whole pixels, a shot does reach past the photo and the set
            # breaks less.
            ratios = {n: aspect_ratio(aspects[n], W, H) for n in SHOT_NAMES}
            whole = _integer_set(alt, ratios, W, H, beyond)
            before = {n: b.rect for n, b in _integer_set(boxes, ratios, W, H).items()}
            # ... and every shot keeps most of itself on the photo.
            past = any(any(b.past(W, H)) for b in whole.values()) and all(
                b.padding_share(W, H) <= MAX_PADDING for b in whole.values())
            if past and (_badness({n: b.rect for n, b in whole.items()}, a, W, H, faces, beyond)
                         < _badness(before, a, W, H, faces)):
                boxes = alt
    if not isinstance(caption, Caption):
        caption = parse_caption(caption)
    return _finish(boxes, a, people, subject, faces, aspects, W, H, beyond=beyond,
                   caption=caption)


def _about(people: list[Person], subject: int, aspects: dict[str, str], W: int, H: int,
           opts: FramingOptions):
    """The subject's anatomy, the bystanders' faces and what each shot needs; and the
    measuring, cached for this photo (people measured once)."""
    measured = functools.cache(measure)
    a = measured(people[subject])
    faces = G.bystander_faces(people, subject, measured)
    specs = _specs(a, aspects, W, H, people, subject, opts.keep_group, opts.joint_uncertainty,
                   faces, measured)
    return a, faces, specs, measured


def _solve(specs: dict[str, ShotSpec], a: Anatomy, faces: list[Rect], W: int, H: int,
           beyond: float = 0.0) -> dict[str, Rect]:
    """The three shots from one pass: inside-out, or outside-in when that breaks less."""
    search = Search([specs[n] for n in _ORDER], W, H)  # one pass for the three shots
    boxes = _solve_set(search, W, H)
    rep = G.check_set(boxes, a, W, H, faces, beyond)
    if not rep.coherent or "wider" in rep.failures["establishing"]:
        # Too tight to grow each shot around the last: shrink each inside the next instead.
        alt = _solve_set_outside_in(search, W, H)
        if _badness(alt, a, W, H, faces, beyond) < _badness(boxes, a, W, H, faces, beyond):
            boxes = alt
    return boxes


def refine(shots: ShotSet, people: list[Person], options: FramingOptions | None = None,
           subject_index: int | None = None, detail_close_up: bool = False) -> ShotSet:
    """Repair boxes proposed elsewhere (a VLM, a user): move each edge the least needed.

    Keeps each proposal where it already satisfies the grammar; otherwise searches boxes near it
    (the proposal, its edge-wise repairs and the engine's candidates) with a cost on edge
    displacement, so a narrative choice survives while joints, eye line and nesting are fixed.
    The proposal's descriptions are kept. With `detail_close_up` (an intent asked for a detail,
    e.g. the product in her hand) the close-up keeps its subject matter and is only fitted to
    its aspect, the nesting and joint-safe edges.
    """
    W, H = shots.width, shots.height
    if not people:
        return shots
    opts = options or FramingOptions(aspects={s.name: s.aspect for s in shots})
    aspects = {n: opts.aspects.get(n, shots[n].aspect) for n in SHOT_NAMES}
    if subject_index is None:
        subject_index = opts.subject_index
    if subject_index is None and shots.subject is not None:
        # The person whose box best matches the proposal's subject, however little they overlap.
        subject_index = match_person(shots.subject.box, people, W, H, min_iou=0.0)
    subject = choose_subject(people, W, H, subject_index, opts.subject_hint)
    a, faces, specs, _ = _about(people, subject, aspects, W, H, opts)
    proposal = {n: shots[n].box.rect for n in SHOT_NAMES}
    # A proposal past the photo (an editor drag, a set composed with beyond_photo) may stay
    # there, as far as the set allows, at the padding's cost; one inside stays inside. A head
    # above the photo is not there to outpaint (as in compose).
    beyond = max(shots.beyond, opts.beyond_photo)
    rx, ry = reach(beyond, W, H) if not a.face_out else (0, 0)
    out: dict[str, Rect] = {}
    inner = None
    for n in ("close_up", "medium", "establishing"):
        prop = proposal[n]
        s = specs[n]
        if shots[n].aspect == "free" or aspects[n] == "free":
            s.ratio = None
        s.h_target = prop[3] - prop[1]
        s.reach = (float(rx), float(ry)) if any(shots[n].box.past(W, H)) else (0.0, 0.0)
        s.x_target = (prop[0] + prop[2]) / 2
        s.y_target = (prop[1] + prop[3]) / 2
        s.thirds = False
        s.eye = s.eye if n != "establishing" else None
        if n == "close_up" and detail_close_up:
            w_, h_ = prop[2] - prop[0], prop[3] - prop[1]
            s.req = (prop[0] + 0.15 * w_, prop[1] + 0.15 * h_, prop[2] - 0.15 * w_,
                     prop[3] - 0.15 * h_)
            s.core, s.eye, s.top_max, s.bot_range = None, None, np.inf, (-np.inf, np.inf)
            s.facing = 0
        if s.eye is not None:
            s.f_target = min(max((a.eye_y - prop[1]) / max(prop[3] - prop[1], 1), 0.25), 0.4)
        area_min = None
        if inner is not None:
            area_min = _area(inner) * (G.EST_AREA * 1.02 if n == "establishing" else 1.25)
        extra = prop if _aspect_ok(prop, s.ratio) else None
        search = Search([s], W, H, inner=inner, extra=extra)
        out[n] = search.best(inner=inner, area_min=area_min, anchor=prop)
        inner = out[n]
    return _finish(out, a, people, subject, faces, aspects, W, H, source=shots.source,
                   descriptions={s.name: s.description for s in shots},
                   skip=frozenset({"close_up"}) if detail_close_up else frozenset(),
                   beyond=beyond)


def reframe(shots: ShotSet, people=(), options: FramingOptions | None = None,
            aspects: dict[str, str] | None = None) -> ShotSet:
    """The shot set repaired by the grammar, at new `aspects` if given (a layout's panels):
    `refine` with the landmarks it was made from, else `conform` (aspect and nesting only)."""
    opts = options or FramingOptions(aspects={s.name: s.aspect for s in shots},
                                     beyond_photo=shots.beyond)
    if aspects:
        opts = replace(opts, aspects={**opts.aspects, **aspects})
    if people:
        return refine(shots, list(people), opts)
    return conform(shots, opts.aspects)


def conform(shots: ShotSet, aspects: dict[str, str] | None = None) -> ShotSet:
    """Without landmarks: fit each box to its aspect (around its centre) and make the set nest.

    The geometric part of the grammar, for proposals on photos where no person was found."""
    W, H = shots.width, shots.height
    aspects = {n: (aspects or {}).get(n, shots[n].aspect) for n in SHOT_NAMES}
    ratios = {n: aspect_ratio(aspects[n], W, H) for n in SHOT_NAMES}
    rects: dict[str, Rect] = {}
    rx, ry = reach(shots.beyond, W, H)
    for n in SHOT_NAMES:
        b, r = shots[n].box, ratios[n]
        # A box past the photo may stay as far past it as the set allows.
        lx0, ly0, lx1, ly1 = (-rx, -ry, W + rx, H + ry) if any(b.past(W, H)) else (0, 0, W, H)
        w, h = float(b.w), float(b.h)
        if r is not None:  # keep the area, change the shape
            h = min((w * h / r) ** 0.5, ly1 - ly0, (lx1 - lx0) / r)
            w = r * h
        cx, cy = b.center
        x0 = min(max(cx - w / 2, lx0), lx1 - w)
        y0 = min(max(cy - h / 2, ly0), ly1 - h)
        rects[n] = (x0, y0, x0 + w, y0 + h)
    boxes = _integer_set(rects, ratios, W, H, shots.beyond)
    new = {n: Shot(n, boxes[n], shots[n].description, aspects[n], shots[n].warnings)
           for n in SHOT_NAMES}
    return mark_past(ShotSet(W, H, **new, subject=shots.subject, fallback=shots.fallback,
                             source=shots.source, warnings=shots.warnings, beyond=shots.beyond))


def _aspect_ok(r: Rect, ratio: float | None) -> bool:
    if ratio is None:
        return True
    return abs((r[2] - r[0]) - ratio * (r[3] - r[1])) <= 1.0


# -- no person: centre / saliency fallback ---------------------------------------------------
def _small_gray(image, side: int = 128) -> np.ndarray:
    im = image.convert("L")
    im.thumbnail((side, side))
    return np.asarray(im, dtype=np.float32) / 255.0


def _saliency_center(image, W: int, H: int) -> tuple[float, float]:
    """Centre of mass of local contrast on a small copy (edges attract the eye)."""
    if image is None:
        return W / 2, H / 2
    g = _small_gray(image)
    if g.shape[0] < 3 or g.shape[1] < 3:
        return W / 2, H / 2
    gy, gx = np.gradient(g)
    e = np.hypot(gx, gy)
    e = np.maximum(e - np.median(e), 0)
    if e.sum() <= 1e-6:
        return W / 2, H / 2
    ys, xs = np.mgrid[0:g.shape[0], 0:g.shape[1]]
    cx = float((xs * e).sum() / e.sum() + 0.5) * W / g.shape[1]
    cy = float((ys * e).sum() / e.sum() + 0.5) * H / g.shape[0]
    # Pull halfway back to the centre: saliency on a small copy is a hint, not a subject.
    return (cx + W / 2) / 2, (cy + H / 2) / 2


def fallback(width: int, height: int, aspects: dict[str, str] | None = None,
             image=None) -> ShotSet:
    """No person found: nested crops around the most salient region, flagged as a fallback."""
    W, H = int(width), int(height)
    aspects = aspects or {n: "original" for n in SHOT_NAMES}
    cx, cy = _saliency_center(image, W, H)
    ratios = {n: aspect_ratio(aspects.get(n, "original"), W, H) for n in SHOT_NAMES}
    rects: dict[str, Rect] = {}
    ox0, oy0, ox1, oy1 = 0.0, 0.0, float(W), float(H)
    for n, scale in (("establishing", 0.92), ("medium", 0.62), ("close_up", 0.38)):
        r = ratios[n] or (W / H)
        h = min(oy1 - oy0, (ox1 - ox0) / r, scale * min(H, W / r))
        w = r * h
        x0 = min(max(cx - w / 2, ox0), ox1 - w)
        y0 = min(max(cy - h / 2, oy0), oy1 - h)
        rects[n] = ox0, oy0, ox1, oy1 = (x0, y0, x0 + w, y0 + h)
    boxes = _integer_set(rects, ratios, W, H)
    descs = describe_fallback(boxes, W, H)
    shots = {n: Shot(n, boxes[n], descs[n], aspects.get(n, "original"),
                     (f"{n}: no person found; centre/saliency composition",)) for n in SHOT_NAMES}
    return ShotSet(W, H, **shots, subject=None, fallback=True,
                   warnings=("no person found: shots follow a centre/saliency composition",))
