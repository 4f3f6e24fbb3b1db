"""Contact-sheet geometry: panels, gutters, margins, cover scaling, errors."""

from __future__ import annotations

import numpy as np
import pytest

from shotcrop_core.errors import ShotCropError
from shotcrop_core.layout import LAYOUTS, panel_rects, poster_layout

RED, GREEN, BLUE = (1.0, 0.0, 0.0), (0.0, 1.0, 0.0), (0.0, 0.0, 1.0)


def solid(h: int, w: int, colour) -> np.ndarray:
    return np.broadcast_to(np.asarray(colour, np.float32), (h, w, 3)).copy()


CROPS = {"establishing": solid(90, 160, RED), "medium": solid(100, 80, GREEN),
         "close_up": solid(50, 50, BLUE)}


@pytest.mark.parametrize("layout", LAYOUTS)
def test_panels_tile_the_inner_area(layout):
    W, H, g, m = 1001, 703, 16, 32
    rects = panel_rects(layout, W, H, g, m)
    cover = np.zeros((H, W), int)
    for x0, y0, x1, y1 in rects.values():
        assert m <= x0 < x1 <= W - m and m <= y0 < y1 <= H - m
        cover[y0:y1, x0:x1] += 1
    assert cover.max() == 1  # no overlap
    n_gutters = {"triptych": (2, 0), "stack": (0, 2), "poster": (1, 1)}[layout]
    inner = (W - 2 * m) * (H - 2 * m)
    assert cover.sum() < inner and cover.sum() > inner - (W + H) * g * 2
    if layout == "triptych":
        xs = sorted(rects.values())
        assert [b[0] - a[2] for a, b in zip(xs, xs[1:])] == [g] * n_gutters[0]
        assert xs[-1][2] == W - m and all(r[3] - r[1] == H - 2 * m for r in xs)


def test_triptych_order_and_exact_widths():
    r = panel_rects("triptych", 1920, 1080, 16, 32)
    # (1920 - 2 * 32 - 2 * 16) / 3 = 608 px per panel
    assert r == {"establishing": (32, 32, 640, 1048), "medium": (656, 32, 1264, 1048),
                 "close_up": (1280, 32, 1888, 1048)}
    assert [b - a for a, b in (v[::2] for v in panel_rects("triptych", 100, 50, 0, 0).values())] \
        == [34, 33, 33]  # leftover pixel goes to the first panel


def test_poster_geometry():
    r = panel_rects("poster", 1920, 1080, 16, 32)
    est, med, cu = r["establishing"], r["medium"], r["close_up"]
    assert est == (32, 32, 1888, 32 + 600)  # 60 % of 1000 px usable height
    assert med == (32, 648, 952, 1048) and cu == (968, 648, 1888, 1048)
    assert panel_rects("stack", 100, 400, 10, 0)["close_up"] == (0, 274, 100, 400)


@pytest.mark.parametrize("layout", LAYOUTS)
def test_sheet_colours_cover_panels(layout):
    bg = (0.2, 0.3, 0.4)
    sheet = poster_layout(CROPS, layout, 640, 480, 8, 12, bg)
    assert sheet.shape == (480, 640, 3) and sheet.dtype == np.float32
    rects = panel_rects(layout, 640, 480, 8, 12)
    filled = np.zeros((480, 640), bool)
    for name, (x0, y0, x1, y1) in rects.items():
        # solid crops cover the whole panel: no letterbox, no background inside
        np.testing.assert_allclose(sheet[y0:y1, x0:x1], solid(y1 - y0, x1 - x0,
                                   CROPS[name][0, 0]), atol=1e-5)
        filled[y0:y1, x0:x1] = True
    np.testing.assert_allclose(sheet[~filled], np.broadcast_to(bg, (int((~filled).sum()), 3)))
    assert sheet[:12].max() == pytest.approx(0.4)  # margin


def test_cover_centre_crops_without_distortion():
    # left half black, right half white, a 2:1 crop into a 1:1 panel keeps the centre columns
    img = np.zeros((100, 200, 3), np.float32)
    img[:, 100:] = 1.0
    img[:, :50] = 0.5  # outer quarter is cut away by cover
    crops = {"establishing": img, "medium": img, "close_up": img}
    sheet = poster_layout(crops, "stack", 100, 3 * 100, 0, 0)
    panel = sheet[0:100, 0:100]
    assert panel[:, :45].max() < 0.02 and panel[:, 55:].min() > 0.98  # no 0.5 column survived


def test_rgba_and_alias_keys():
    rgba = np.zeros((20, 20, 4), np.float32)  # fully transparent -> background
    sheet = poster_layout({"establishing": rgba, "medium": rgba, "close-up": rgba}, "triptych",
                          200, 100, 4, 4, (0.5, 0.5, 0.5))
    np.testing.assert_allclose(sheet, 0.5)


@pytest.mark.parametrize("layout", LAYOUTS)
def test_too_small_says_minimum(layout):
    with pytest.raises(ShotCropError, match="at least") as e:
        poster_layout(CROPS, layout, 60, 60, 16, 32)
    mw, mh = (int(v) for v in str(e.value).split("at least ")[1].split(",")[0].split("x"))
    poster_layout(CROPS, layout, mw, mh, 16, 32)  # the stated minimum works
    with pytest.raises(ShotCropError):
        poster_layout(CROPS, layout, mw - 1, mh, 16, 32)
    with pytest.raises(ShotCropError):
        poster_layout(CROPS, layout, mw, mh - 1, 16, 32)


@pytest.mark.parametrize("kw,match", [
    ({"layout": "grid"}, "triptych, poster, stack"),
    ({"width": 0}, "width must be"), ({"height": 20000}, "16384"),
    ({"gutter": -1}, "gutter"), ({"background": (0, 0)}, "background"),
])
def test_bad_arguments(kw, match):
    with pytest.raises(ShotCropError, match=match):
        poster_layout(CROPS, **kw)


def test_missing_shot():
    with pytest.raises(ShotCropError, match="missing close_up"):
        poster_layout({k: v for k, v in CROPS.items() if k != "close_up"})
