"""The preview annotator: boxes, labels, skeleton and fallback note, scaled with the image."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from shotcrop_core.errors import ShotCropError
from shotcrop_core.imageio import load_image
from shotcrop_core.perception.given import CocoKeypoints
from shotcrop_core.render import COCO_SKELETON, SHOT_COLORS, SHOT_LABELS, draw_shots
from shotcrop_core.shots import SHOT_NAMES, Box, Shot, ShotSet, Subject

DATA = Path(__file__).parent / "data"


def rgb(hex_colour: str) -> np.ndarray:
    return np.array([int(hex_colour[i:i + 2], 16) for i in (1, 3, 5)])


def shotset(w: int, h: int, fallback: bool = False, subject: Subject | None = None) -> ShotSet:
    def box(a, b, c, d):
        return Box(round(a * w), round(b * h), round(c * w), round(d * h))
    return ShotSet(w, h, Shot("establishing", Box(0, 0, w, h)),
                   Shot("medium", box(0.25, 0.0, 0.75, 0.7)),
                   Shot("close_up", box(0.4, 0.1, 0.6, 0.4), aspect="4:5"),
                   subject=subject, fallback=fallback)


def colour_mask(img: Image.Image, hex_colour: str, tol: int = 12) -> np.ndarray:
    a = np.asarray(img).astype(int)
    return np.abs(a - rgb(hex_colour)).max(axis=2) <= tol


def solid(mask: np.ndarray, k: int = 5) -> np.ndarray:
    """Pixels whose k x k neighbourhood is all set: label fills survive, thin lines do not."""
    c = np.pad(mask.astype(int), ((1, 0), (1, 0))).cumsum(0).cumsum(1)
    win = c[k:, k:] - c[:-k, k:] - c[k:, :-k] + c[:-k, :-k]
    out = np.zeros_like(mask)
    out[:win.shape[0], :win.shape[1]] = win == k * k
    return out


def grey(w: int, h: int) -> Image.Image:
    return Image.new("RGB", (w, h), (128, 128, 128))


def test_colours_are_exported_and_distinct():
    assert set(SHOT_COLORS) == set(SHOT_NAMES) == set(SHOT_LABELS)
    assert all(re.fullmatch(r"#[0-9A-Fa-f]{6}", c) for c in SHOT_COLORS.values())
    assert len(set(SHOT_COLORS.values())) == 3
    assert SHOT_LABELS["close_up"] == "close-up"


def test_boxes_drawn_in_their_colours_and_input_untouched():
    img = grey(800, 600)
    before = np.asarray(img).copy()
    out = draw_shots(img, shotset(800, 600))
    assert out.size == img.size and out.mode == "RGB"
    assert np.array_equal(np.asarray(img), before)
    ss = shotset(800, 600)
    for shot in ss:
        m = colour_mask(out, SHOT_COLORS[shot.name])
        b = shot.box
        # the left edge of each box carries its colour (mid-height, away from labels)
        y = (b.y0 + b.y1) // 2
        assert m[y, b.x0:b.x0 + 6].any(), shot.name
        assert not m[y, b.x0 + 20:b.x0 + 30].any()  # the inside is not filled


def test_labels_inside_image_even_at_top_edge():
    out = draw_shots(grey(800, 600), shotset(800, 600))
    for name in SHOT_NAMES:
        # a filled label shows up as a solid block of the colour, inside its box
        ys, xs = np.nonzero(solid(colour_mask(out, SHOT_COLORS[name])))
        assert len(ys) > 100, name
        b = shotset(800, 600)[name].box
        assert b.x0 <= xs.min() and xs.max() < b.x1 and b.y0 <= ys.min() and ys.max() < b.y1


def test_labels_do_not_overlap_when_boxes_share_a_corner():
    ss = ShotSet(600, 400, Shot("establishing", Box(0, 0, 600, 400)),
                 Shot("medium", Box(0, 0, 400, 300)), Shot("close_up", Box(0, 0, 200, 150)))
    out = draw_shots(grey(600, 400), ss)
    labels = []
    for name in SHOT_NAMES:
        ys, xs = np.nonzero(solid(colour_mask(out, SHOT_COLORS[name])))
        assert len(ys), name
        labels.append((ys.min(), ys.max(), xs.min(), xs.max()))
    for i in range(3):
        for j in range(i + 1, 3):
            a, b = labels[i], labels[j]
            assert a[1] < b[0] or b[1] < a[0] or a[3] < b[2] or b[3] < a[2]


def test_line_and_font_scale_with_image_size():
    def medium_line_width(w: int, h: int) -> int:
        out = draw_shots(grey(w, h), shotset(w, h))
        m = colour_mask(out, SHOT_COLORS["medium"])
        return int(m[int(h * 0.5), :w // 2].sum())

    def label_height(w: int, h: int) -> int:
        m = colour_mask(draw_shots(grey(w, h), shotset(w, h)), SHOT_COLORS["close_up"])
        return int((m.sum(axis=1) > m.sum(axis=1).max() * 0.8).sum())

    assert medium_line_width(3000, 2000) >= 3 * medium_line_width(500, 333)
    assert label_height(3000, 2000) > 3 * label_height(500, 333)


def test_fallback_is_marked():
    plain = np.asarray(draw_shots(grey(640, 480), shotset(640, 480)))
    fb = np.asarray(draw_shots(grey(640, 480), shotset(640, 480, fallback=True)))
    diff = np.abs(plain.astype(int) - fb.astype(int)).max(axis=2) > 30
    ys, xs = np.nonzero(diff)
    assert len(ys) > 200 and ys.min() > 480 * 0.8 and xs.min() < 40  # a note, bottom left


def test_subject_skeleton_drawn_from_people():
    li = load_image(DATA / "000000234748.jpg")
    people = CocoKeypoints(DATA / "person_keypoints.json").people_for(li.path)
    ss = shotset(*li.size, subject=Subject(Box.from_floats(*people[0].box), 0))
    kp = people[0].keypoints
    a, b = next((a, b) for a, b in COCO_SKELETON if kp[a, 2] > 0.3 and kp[b, 2] > 0.3
                and np.hypot(*(kp[a, :2] - kp[b, :2])) > 40)
    mx, my = ((kp[a, :2] + kp[b, :2]) / 2).round().astype(int)
    plain = np.asarray(draw_shots(li.image, ss))
    with_sk = np.asarray(draw_shots(li.image, ss, people))  # index from the shot set's subject
    patch = (slice(my - 2, my + 3), slice(mx - 2, mx + 3))
    assert (with_sk[patch].astype(int).sum(axis=2) > 600).any()
    assert not np.array_equal(plain[patch], with_sk[patch])
    explicit = np.asarray(draw_shots(li.image, shotset(*li.size), people, subject_index=0))
    assert np.array_equal(explicit[patch], with_sk[patch])


def test_preview_scale_and_wrong_image():
    ss = shotset(1200, 800)
    small = draw_shots(grey(600, 400), ss)  # a half-size preview: boxes scale
    m = colour_mask(small, SHOT_COLORS["medium"])
    assert m[200, 148:156].any()
    with pytest.raises(ShotCropError, match="made for"):
        draw_shots(grey(800, 800), ss)


def test_other_modes_and_a_preview_to_look_at(tmp_path):
    li = load_image(DATA / "000000000790.jpg")
    people = CocoKeypoints(DATA / "person_keypoints.json").people_for(li.path)
    ss = dataclasses.replace(shotset(*li.size), subject=Subject(Box(0, 0, 10, 10), 1))
    out = draw_shots(li.image.convert("L"), ss, people)
    assert out.mode == "RGB"
    assert draw_shots(li, ss).size == li.size  # a LoadedImage works too
    out.save(tmp_path / "preview.png")
