"""Crop geometry, resampling, snapping, letterboxing, masks and batch unification."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from shotcrop_core.cropping import (FIT_MODES, SNAPS, Crop, box_mask, crop_shot,
                                    fit_box_to_aspect, unify_batch)
from shotcrop_core.errors import ShotCropError
from shotcrop_core.shots import Box


def gradient(h: int, w: int, c: int = 3) -> np.ndarray:
    """A smooth, asymmetric image in 0..1 (so a mirrored pad would be detectable)."""
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    chans = [x / max(w - 1, 1), y / max(h - 1, 1), (x + 2 * y) / max(w + 2 * h - 3, 1),
             np.full_like(x, 0.5)]
    return np.stack(chans[:c], axis=2).astype(np.float32)


IMG = gradient(300, 400)
BOX = Box(50, 40, 250, 140)  # 200 x 100


def test_native_is_bit_exact_copy():
    c = crop_shot(IMG, BOX)
    assert isinstance(c, Crop) and c.image.shape == (100, 200, 3) and c.scale == 1.0
    np.testing.assert_array_equal(c.image, IMG[40:140, 50:250])
    assert not np.shares_memory(c.image, IMG)
    assert c.box == BOX and c.content == (0, 0, 200, 100)


@pytest.mark.parametrize("fit,kw,shape", [
    ("width", {"width": 512}, (256, 512)), ("height", {"height": 50}, (50, 100)),
    ("long_side", {"long_side": 300}, (150, 300)), ("size", {"width": 64, "height": 64}, (64, 64)),
])
def test_fit_modes_exact_sizes(fit, kw, shape):
    c = crop_shot(IMG, BOX, fit, **kw)
    assert c.image.shape[:2] == shape and c.image.dtype == np.float32


def test_long_side_picks_height_for_tall_boxes():
    c = crop_shot(IMG, Box(0, 0, 90, 270), "long_side", long_side=100)
    assert c.image.shape[:2] == (100, 33) and c.scale == pytest.approx(33 / 90)


@pytest.mark.parametrize("box", [Box(0, 0, 201, 299), Box(13, 7, 390, 31), Box(5, 5, 16, 290)])
@pytest.mark.parametrize("fit,kw", [("width", {"width": 257}), ("height", {"height": 97}),
                                    ("long_side", {"long_side": 123})])
def test_aspect_kept_within_one_px(box, fit, kw):
    h, w = crop_shot(IMG, box, fit, **kw).image.shape[:2]
    # the derived side is within one pixel of the box aspect
    assert abs(w - h * box.w / box.h) <= 1 or abs(h - w * box.h / box.w) <= 1


@pytest.mark.parametrize("snap", SNAPS)
def test_snap_every_mode(snap):
    for fit, kw in [("native", {}), ("width", {"width": 300}), ("height", {"height": 77}),
                    ("long_side", {"long_side": 500}), ("size", {"width": 100, "height": 70})]:
        h, w = crop_shot(IMG, Box(3, 3, 104, 57), fit, snap=snap, **kw).image.shape[:2]
        assert w % snap == 0 and h % snap == 0 and w >= snap and h >= snap


def test_snap_rounds_to_nearest_halves_up():
    c = crop_shot(IMG, Box(0, 0, 101, 52), snap=8)  # 101 -> 104, 52 = 6.5 * 8 -> 56
    assert c.image.shape[:2] == (56, 104)
    assert crop_shot(IMG, Box(0, 0, 3, 3), snap=64).image.shape[:2] == (64, 64)  # one multiple
    assert crop_shot(IMG, BOX, "size", width=100, height=70, snap=64).image.shape[:2] == (64, 128)


def test_size_crops_outward_to_aspect_within_image():
    c = crop_shot(IMG, BOX, "size", width=100, height=100)
    assert c.box == Box(50, 0, 250, 200)  # 200x100 grown to 200x200, shifted down into the image
    tall = crop_shot(IMG, Box(180, 100, 220, 200), "size", width=160, height=100)
    assert tall.box == Box(120, 100, 280, 200)  # grown outward, subject kept whole
    assert tall.image.shape[:2] == (100, 160)


def test_size_crop_is_shifted_and_shrunk_at_image_edge():
    c = crop_shot(IMG, Box(0, 0, 50, 300), "size", width=1000, height=200)  # needs 5:1
    assert c.box == Box(0, 110, 400, 190)  # full width, height cut around the centre
    assert c.image.shape[:2] == (200, 1000)
    np.testing.assert_array_equal(c.mask.sum(), 400 * 80)


def test_letterbox_pads_with_colour_never_mirrors():
    pad = (1.0, 0.0, 1.0)
    c = crop_shot(IMG, BOX, "size", width=200, height=200, pad_color=pad)
    assert c.image.shape == (200, 200, 3) and c.box == BOX
    assert c.content == (0, 50, 200, 150)
    np.testing.assert_array_equal(c.image[:50], np.broadcast_to(pad, (50, 200, 3)))
    np.testing.assert_array_equal(c.image[150:], np.broadcast_to(pad, (50, 200, 3)))
    np.testing.assert_array_equal(c.image[50:150], IMG[40:140, 50:250])  # same size: no resample


def test_letterbox_rgba_pads_opaque():
    c = crop_shot(gradient(60, 80, 4), Box(0, 0, 80, 20), "size", width=40, height=40,
                  pad_color=(0, 0, 0))
    assert c.image.shape == (40, 40, 4) and c.content == (0, 15, 40, 25)
    assert (c.image[:15, :, :3] == 0).all() and (c.image[:15, :, 3] == 1).all()


def test_resampling_keeps_range_and_precision():
    step = np.zeros((40, 40, 3), np.float32)
    step[:, 20:] = 1.0  # a hard edge makes LANCZOS / BICUBIC overshoot
    for kw in ({"fit": "width", "width": 13}, {"fit": "width", "width": 301}):
        out = crop_shot(step, Box(0, 0, 40, 40), **kw).image
        assert out.min() >= 0.0 and out.max() <= 1.0
    fine = np.full((32, 32, 3), 0.5 + 1e-4, np.float32)  # below 8-bit resolution
    out = crop_shot(fine, Box(0, 0, 32, 32), "width", width=64).image
    np.testing.assert_allclose(out, 0.5 + 1e-4, atol=1e-6)


def test_mask_in_source_frame():
    c = crop_shot(IMG, BOX, "width", width=64)
    assert c.mask.shape == (300, 400) and c.mask.dtype == np.float32
    assert c.mask.sum() == BOX.area and c.mask[40:140, 50:250].min() == 1.0


def test_box_mask_feather():
    b = Box(10, 10, 30, 20)
    hard = box_mask(40, 30, b)
    assert hard.sum() == b.area and set(np.unique(hard)) == {0.0, 1.0}
    soft = box_mask(40, 30, b, feather=3)
    assert (soft[hard == 0] == 0).all() and soft.max() == 1.0
    np.testing.assert_allclose(soft[15, 10:14], [0.25, 0.5, 0.75, 1.0])
    assert soft.sum() < b.area
    huge = box_mask(40, 30, b, feather=100)  # capped: centre still reaches 1
    assert huge.max() == 1.0


@pytest.mark.parametrize("call,match", [
    (lambda: crop_shot(IMG, Box(350, 0, 401, 10)), "outside"),
    (lambda: crop_shot(IMG, BOX, "zoom"), "native, width"),
    (lambda: crop_shot(IMG, BOX, "size", width=64), "both width and height"),
    (lambda: crop_shot(IMG, BOX, "width", width=0), "width must be"),
    (lambda: crop_shot(IMG, BOX, "size", width=20000, height=10), "16384"),
    (lambda: crop_shot(IMG, BOX, "height", height=-4), "height must be"),
    (lambda: crop_shot(IMG, BOX, snap=10), "snap"),
    (lambda: crop_shot(IMG, BOX, "size", width=9, height=9, pad_color=(255, 0, 0)), "0..1"),
    (lambda: crop_shot(IMG, Box(0, 0, 400, 10), "height", height=1000), "smaller"),
    (lambda: crop_shot((IMG * 255).astype(np.uint8), BOX), "float32"),
    (lambda: crop_shot(IMG[:, :, 0], BOX), "H x W x 3"),
    (lambda: box_mask(10, 10, Box(0, 0, 11, 5)), "outside"),
    (lambda: box_mask(10, 10, Box(0, 0, 5, 5), feather=-1), "feather"),
])
def test_errors_say_what_to_do(call, match):
    with pytest.raises(ShotCropError, match=match):
        call()


def test_unify_same_size_passthrough():
    a, b = gradient(30, 40), gradient(30, 40)[::-1].copy()
    batch, rects = unify_batch([a, b], "stretch")
    assert batch.shape == (2, 30, 40, 3) and rects == [(0, 0, 40, 30)] * 2
    np.testing.assert_array_equal(batch[1], b)


def test_unify_first_letterboxes_into_first_size():
    first, wide, tall = gradient(40, 60), gradient(10, 60), gradient(80, 20)
    batch, rects = unify_batch([first, wide, tall], "first", pad_color=(0, 1, 0))
    assert batch.shape == (3, 40, 60, 3)
    assert rects == [(0, 0, 60, 40), (0, 15, 60, 25), (25, 0, 35, 40)]
    np.testing.assert_array_equal(batch[0], first)
    np.testing.assert_array_equal(batch[1, 15:25], wide)
    for i, (x0, y0, x1, y1) in enumerate(rects):
        outside = np.ones((40, 60), bool)
        outside[y0:y1, x0:x1] = False
        assert (batch[i][outside] == (0, 1, 0)).all()


def test_unify_largest_and_stretch():
    imgs = [gradient(40, 20), gradient(10, 60)]
    batch, rects = unify_batch(imgs, "largest")
    assert batch.shape == (2, 40, 60, 3)
    assert rects == [(20, 0, 40, 40), (0, 15, 60, 25)]
    batch, rects = unify_batch(imgs, "stretch")
    assert batch.shape == (2, 40, 20, 3) and rects == [(0, 0, 20, 40)] * 2


def test_unify_mixed_channels_and_errors():
    batch, _ = unify_batch([gradient(8, 8, 4), gradient(4, 8, 3)])
    assert batch.shape == (2, 8, 8, 4) and (batch[1, :, :, 3] == 1).all()
    with pytest.raises(ShotCropError, match="first, largest, stretch"):
        unify_batch([IMG], "biggest")
    with pytest.raises(ShotCropError, match="at least one"):
        unify_batch([])


def test_fit_box_to_aspect_stays_inside():
    b = fit_box_to_aspect(Box(380, 280, 400, 300), 2.0, 400, 300)
    assert b == Box(360, 280, 400, 300)


@st.composite
def cases(draw):
    W, H = draw(st.integers(1, 48)), draw(st.integers(1, 48))
    x0, y0 = draw(st.integers(0, W - 1)), draw(st.integers(0, H - 1))
    box = Box(x0, y0, draw(st.integers(x0 + 1, W)), draw(st.integers(y0 + 1, H)))
    fit = draw(st.sampled_from(FIT_MODES))
    kw = {k: draw(st.integers(1, 96)) for k in ("width", "height", "long_side")}
    pad = draw(st.one_of(st.none(), st.tuples(*[st.floats(0, 1)] * 3)))
    return W, H, box, fit, kw, draw(st.sampled_from(SNAPS)), pad, draw(st.sampled_from((3, 4)))


@settings(max_examples=150, deadline=None)
@given(cases(), st.integers(0, 2**32 - 1))
def test_property_sizes_and_range(case, seed):
    W, H, box, fit, kw, snap, pad, C = case
    img = np.random.default_rng(seed).random((H, W, C), np.float32)
    c = crop_shot(img, box, fit, snap=snap, pad_color=pad, **kw)
    h, w, ch = c.image.shape
    assert ch == C and c.image.dtype == np.float32
    assert 0.0 <= c.image.min() and c.image.max() <= 1.0
    assert w % snap == 0 and h % snap == 0
    snapped = lambda v: max(snap, int(np.floor(v / snap + 0.5)) * snap)  # noqa: E731
    if fit == "size":
        assert (w, h) == (snapped(kw["width"]), snapped(kw["height"]))
    elif fit == "native":
        assert (w, h) == (snapped(box.w), snapped(box.h))
    else:
        side = fit if fit != "long_side" else ("width" if box.w >= box.h else "height")
        assert (w if side == "width" else h) == snapped(kw[fit])
    assert c.box.inside(W, H) and c.mask.sum() == c.box.area
    x0, y0, x1, y1 = c.content
    assert 0 <= x0 < x1 <= w and 0 <= y0 < y1 <= h
