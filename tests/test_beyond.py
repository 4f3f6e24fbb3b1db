"""Shots that reach past the photo (issue #16): the engine, the data model, padding and masks,
crops (arrays and files), the preview, the CLI, sheets and layouts."""

import json

import numpy as np
import pytest
from PIL import Image

from shotcrop_core import SHOT_NAMES, Box, FramingOptions, ShotCropError, ShotSet, compose
from shotcrop_core import grammar as G
from shotcrop_core.anatomy import measure
from shotcrop_core.cli import main as cli_main
from shotcrop_core.cropping import crop_shot
from shotcrop_core.imageio import crop as crop_pil
from shotcrop_core.layout import Sheet, centre_cuts, fit_to_sheet
from shotcrop_core.outpaint import pad, padding_mask, parse_fill
from shotcrop_core.render import PADDING_COLOR, draw_shots
from shotcrop_core.shots import ShotSetError

from people import standing

MIXED = "establishing=16:9,medium=4:5,close_up=1:1"


def portrait():
    """A standing person filling a 480x640 portrait photo: a 16:9 wide shot cannot hold them
    with room inside it (the photo is only 270 px tall at 16:9)."""
    return [standing(cx=240, top=120, h=480)], 480, 640


def boxes_of(s):
    return {x.name: x.box.rect for x in s}


# -- the engine ----------------------------------------------------------------------------------
def test_a_wide_shot_reaches_past_a_portrait_photo_by_the_least_that_keeps_the_grammar():
    people, W, H = portrait()
    a = measure(people[0])
    off = compose(people, W, H, FramingOptions.from_spec(MIXED))
    assert not G.check_set(boxes_of(off), a, W, H).valid["establishing"]
    on = compose(people, W, H, FramingOptions.from_spec(MIXED, beyond_photo=0.5))
    rep = G.check_set(boxes_of(on), a, W, H, beyond=0.5)
    assert rep.valid["establishing"] and rep.coherent, rep.failures
    est = on.establishing.box
    left, top, right, bottom = on.past("establishing")
    assert left and right and max(left, right) <= 240 and max(top, bottom) <= 320
    assert abs(est.w / est.h - 16 / 9) < 0.01
    # Least padding: the subject (480 px tall) needs a box at least 480 / 0.9 tall; the box is
    # within a few per cent of that, so its padding share is within a few per cent of the least.
    assert est.h <= 480 / 0.87 * 1.06
    least = 1 - W / (16 / 9 * 480 / 0.9)
    assert least <= est.padding_share(W, H) <= least + 0.08
    # The shots that fit inside never reach past it.
    assert on.medium.box.inside(W, H) and on.close_up.box.inside(W, H)
    assert on.beyond == 0.5 and any("outpaint" in w for w in on.establishing.warnings)


def test_off_by_default_and_never_past_the_photo_when_everything_fits():
    people = [standing(cx=320, top=60, h=250)]
    plain = compose(people, 640, 520, FramingOptions.from_spec(MIXED))
    asked = compose(people, 640, 520, FramingOptions.from_spec(MIXED, beyond_photo=0.5))
    assert boxes_of(asked) == boxes_of(plain) and plain.beyond == 0
    assert all(x.box.inside(640, 520) for x in asked)


def test_the_share_limits_how_far_a_shot_reaches():
    people, W, H = portrait()
    wide = compose(people, W, H, FramingOptions.from_spec(MIXED, beyond_photo=0.5))
    s = compose(people, W, H, FramingOptions.from_spec(MIXED, beyond_photo=0.4))
    left, _, right, _ = s.past("establishing")
    assert max(wide.past("establishing")) > 192  # half the photo is more than it may take now
    assert 0 < left <= 192 and 0 < right <= 192  # 40% of 480 px per side
    # Where even the most it may take cannot meet the grammar, the shot stays on the photo.
    short = compose(people, W, H, FramingOptions.from_spec(MIXED, beyond_photo=0.3))
    assert short.establishing.box.inside(W, H)
    with pytest.raises(ShotCropError, match="beyond_photo must be a share"):
        FramingOptions(beyond_photo=1.5)


@pytest.mark.parametrize("W,H", [(600, 340), (641, 359), (500, 281), (720, 405)])
def test_shots_that_fit_stay_on_the_photo_to_the_pixel(W, H):
    """Whole pixels are rounded on the photo for every shot that fits it (a shot a hair past
    the edge in floats would otherwise round out past it)."""
    people = [standing(cx=W / 2, top=H * 0.25, h=H * 0.55)]
    off = compose(people, W, H, FramingOptions.from_spec(MIXED))
    on = compose(people, W, H, FramingOptions.from_spec(MIXED, beyond_photo=0.5))
    assert all(x.box.inside(W, H) for x in on) and boxes_of(on) == boxes_of(off)
    assert not any("outpaint" in w for w in on.all_warnings)


def test_repairs_keep_inside_shots_inside_and_say_what_is_past():
    from shotcrop_core import refine
    from shotcrop_core.framing import conform
    from shotcrop_core.prompting import shot_prompt

    people, W, H = portrait()
    s = compose(people, W, H, FramingOptions.from_spec(MIXED, beyond_photo=0.5))
    r = refine(s, people)
    assert r.medium.box.inside(W, H) and r.close_up.box.inside(W, H)
    assert r.beyond == 0.5 and r.establishing.description.count("to be outpainted") <= 1
    # Without landmarks (aspect and nesting only) the set keeps its reach and its notes.
    c = conform(s, {"establishing": "16:9", "medium": "4:5", "close_up": "1:1"})
    assert c.beyond == 0.5 and not c.establishing.box.inside(W, H)
    assert c.establishing.description.count("to be outpainted") == 1
    assert sum("outpaint" in w for w in c.establishing.warnings) == 1
    pulled = conform(ShotSet.from_dict({**json.loads(s.to_json()), "beyond_photo": 0.5}),
                     {"establishing": "3:4"})  # a shape the photo holds
    assert not any("outpaint" in w for w in pulled.establishing.warnings) or \
        not pulled.establishing.box.inside(W, H)
    # A prompt describes the picture, not the padding.
    text, _ = shot_prompt(s, "establishing")
    assert "outpaint" not in text and "padding" not in text


# -- the data model ------------------------------------------------------------------------------
def test_json_says_how_far_each_shot_reaches_and_round_trips():
    people, W, H = portrait()
    s = compose(people, W, H, FramingOptions.from_spec(MIXED, beyond_photo=0.5))
    d = json.loads(s.to_json())
    assert d["beyond_photo"] == 0.5
    est = next(x for x in d["shots"] if x["shot"] == "establishing")
    b = est["box"]
    assert est["outpaint"] == {"left": -b[0], "top": max(0, -b[1]), "right": b[2] - W,
                               "bottom": max(0, b[3] - H)}
    assert all("outpaint" not in x for x in d["shots"] if x["shot"] != "establishing")
    back = ShotSet.from_json(s.to_json())
    assert back == s
    d["beyond_photo"] = 0.0
    with pytest.raises(ShotSetError, match="lies outside the 480x640 image"):
        ShotSet.from_dict(d)
    d["beyond_photo"] = 2
    with pytest.raises(ShotSetError, match="beyond_photo must be a share"):
        ShotSet.from_dict(d)


# -- padding and masks ----------------------------------------------------------------------------
def test_edge_and_colour_padding_and_the_mask():
    px = np.arange(2 * 3 * 3, dtype=np.float32).reshape(2, 3, 3) / 20
    out = pad(px, (1, 2, 0, 1), "edge")
    assert out.shape == (5, 4, 3)
    assert np.array_equal(out[2:4, 1:], px)                   # the photo in the middle
    assert np.array_equal(out[0, 1:], px[0]) and np.array_equal(out[1, 1:], px[0])  # top rows
    assert np.array_equal(out[4, 1:], px[1])                  # bottom row
    assert np.array_equal(out[2:4, 0], px[:, 0])              # left column
    red = pad(px, (1, 0, 0, 0), parse_fill("#ff0000"))
    assert np.array_equal(red[:, 0], np.tile([1, 0, 0], (2, 1)))
    grey8 = pad(np.full((2, 2), 10, np.uint8), (0, 0, 1, 0), (0.5, 0.5, 0.5))
    assert grey8.dtype == np.uint8 and grey8[0, 2] == 128
    rgba = pad(np.zeros((1, 1, 4), np.float32), (1, 0, 0, 0), (0, 0, 1))
    assert np.array_equal(rgba[0, 0], [0, 0, 1, 1])           # opaque under a solid pad
    la = pad(np.zeros((1, 1, 2), np.uint8), (1, 0, 0, 0), (1.0, 0.0, 0.5))
    assert la[0, 0].tolist() == [128, 255]                    # grey + opaque alpha
    m = padding_mask(4, 5, (2, 1, 0, 0))
    assert np.array_equal(m, [[1] * 5, [1, 1, 0, 0, 0], [1, 1, 0, 0, 0], [1, 1, 0, 0, 0]])
    f = padding_mask(6, 1, (0, 1, 0, 0), feather=3)
    assert np.allclose(f[:, 0], [1, 0.75, 0.5, 0.25, 0, 0])
    with pytest.raises(ShotCropError, match="outpaint fill"):
        parse_fill("#12")
    with pytest.raises(ShotCropError, match="feather"):
        padding_mask(2, 2, (1, 0, 0, 0), feather=-1)


def test_crop_shot_pads_the_box_and_marks_exactly_the_padding():
    img = np.random.default_rng(1).random((40, 60, 3)).astype(np.float32)
    box = Box(-10, 5, 50, 45)  # 10 px past the left, 5 px past the bottom
    with pytest.raises(ShotCropError, match="give an outpaint fill"):
        crop_shot(img, box)
    c = crop_shot(img, box, outpaint="edge")
    assert c.image.shape == (40, 60, 3) and c.box == box
    assert np.array_equal(c.image[:35, 10:], img[5:40, 0:50])
    assert np.array_equal(c.image[:35, :10], np.repeat(img[5:40, :1], 10, axis=1))
    assert np.array_equal(c.image[35:, 10:], np.repeat(img[39:40, 0:50], 5, axis=0))
    want = np.ones((40, 60), np.float32)
    want[:35, 10:] = 0
    assert np.array_equal(c.outpaint_mask, want)
    assert c.mask.sum() == 35 * 50  # the stitch mask: the box's part of the photo
    # Scaled: the mask stays exact (no blurred seam) and follows the same pixels.
    s = crop_shot(img, box, "width", width=120, outpaint="edge")
    assert s.image.shape == (80, 120, 3) and set(np.unique(s.outpaint_mask)) == {0.0, 1.0}
    assert s.outpaint_mask[:70, 20:].max() == 0 and s.outpaint_mask[:, :19].min() == 1
    with pytest.raises(ShotCropError, match="does not overlap"):
        crop_shot(img, Box(-30, 0, -5, 10), outpaint="edge")


@pytest.mark.parametrize("mode", ["RGB", "RGBA", "L", "LA", "P"])
def test_file_crops_pad_every_colour_mode(mode):
    base = Image.new("RGB", (30, 20), (10, 200, 30)).convert(mode)
    out = crop_pil(base, Box(-5, -4, 20, 16), "edge")
    assert out.size == (25, 20)
    rgb = out.convert("RGB")
    assert rgb.getpixel((0, 0)) == rgb.getpixel((5, 4)) == Image.new(
        "RGB", (1, 1), (10, 200, 30)).convert(mode).convert("RGB").getpixel((0, 0))
    with pytest.raises(ShotCropError):
        crop_pil(base, Box(-5, -4, 20, 16))  # no fill: the box lies outside


# -- preview, CLI ---------------------------------------------------------------------------------
def test_the_preview_grows_to_show_the_padding():
    people, W, H = portrait()
    s = compose(people, W, H, FramingOptions.from_spec(MIXED, beyond_photo=0.5))
    left, top, right, bottom = s.past("establishing")
    out = draw_shots(Image.new("RGB", (W, H), (255, 255, 255)), s)
    assert out.size == (W + left + right, H + top + bottom)
    assert left and out.getpixel((left // 2, out.height // 2)) == PADDING_COLOR
    assert out.getpixel((left + W // 2, top + H // 2)) == (255, 255, 255)


def test_cli_writes_the_padded_crop_and_its_mask(tmp_path):
    people, W, H = portrait()
    photo = tmp_path / "tall.png"
    Image.new("RGB", (W, H), (120, 60, 30)).save(photo)
    p = people[0]
    coco = {"images": [{"id": 1, "file_name": "tall.png", "width": W, "height": H}],
            "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "num_keypoints": 17,
                             "keypoints": [round(float(v), 2) for r in p.keypoints
                                           for v in (r[0], r[1], 2)],
                             "bbox": [p.box[0], p.box[1], p.box_w, p.box_h]}],
            "categories": [{"id": 1, "name": "person"}]}
    (tmp_path / "kp.json").write_text(json.dumps(coco))
    out = tmp_path / "out"
    rc = cli_main(["compose", "--beyond-photo", str(photo), "--keypoints", str(tmp_path / "kp.json"),
                   "--aspect", MIXED, "--outpaint-fill", "#0000ff", "--out", str(out)])
    assert rc == 0
    d = json.loads((out / "tall_shots.json").read_text())
    est = next(x for x in d["shots"] if x["shot"] == "establishing")
    left, top, right, bottom = (est["outpaint"][k] for k in ("left", "top", "right", "bottom"))
    crop = Image.open(out / "tall_establishing.png").convert("RGB")
    mask = np.asarray(Image.open(out / "tall_establishing_outpaint.png"))
    b = est["box"]
    assert crop.size == (b[2] - b[0], b[3] - b[1]) == mask.shape[::-1]
    want = np.full(mask.shape, 255, np.uint8)
    want[top:mask.shape[0] - bottom, left:mask.shape[1] - right] = 0
    assert np.array_equal(mask, want)
    assert crop.getpixel((0, crop.height // 2)) == (0, 0, 255)
    assert crop.getpixel((left + 5, top + 5)) == (120, 60, 30)
    assert not (out / "tall_medium_outpaint.png").exists()  # inside the photo: no mask
    assert cli_main(["compose", str(photo), "--keypoints", str(tmp_path / "kp.json"),
                     "--beyond-photo", "--outpaint-fill", "bluish", "--out",
                     str(tmp_path / "o2")]) == 2
    assert cli_main(["compose", str(photo), "--keypoints", str(tmp_path / "kp.json"),
                     "--sheet", "triptych:1920x832", "--aspect", "1:1", "--out",
                     str(tmp_path / "o3")]) == 2


# -- sheets and layouts ---------------------------------------------------------------------------
def test_a_sheet_gives_each_shot_its_panel_aspect():
    t = Sheet.parse("triptych:1920x832")
    x0, y0, x1, y1 = t.panels()["medium"]
    assert (x1 - x0, y1 - y0) == (608, 768) and t.aspects() == {n: "19:24" for n in SHOT_NAMES}
    p = Sheet.parse("poster:1920x1820:16:32")
    assert p.aspects()["establishing"] == "16:9"
    for bad, why in (("grid:100x100", "unknown"), ("triptych:20x20", "at least"),
                     ("stack:100", "not valid")):
        with pytest.raises(ShotCropError, match=why):
            Sheet.parse(bad)


def test_shots_of_another_aspect_are_reframed_by_the_grammar_not_centre_cut():
    people = [standing(cx=320, top=60, h=400)]
    s = compose(people, 640, 520, FramingOptions.from_spec(MIXED))
    sheet = Sheet.parse("triptych:1920x832")
    fitted = fit_to_sheet(s, sheet, people)
    a = measure(people[0])
    for shot in fitted:
        assert abs(shot.box.w / shot.box.h - 19 / 24) < 0.01
    rep = G.check_set(boxes_of(fitted), a, 640, 520)
    assert rep.valid["medium"] and rep.valid["close_up"], rep.failures
    assert fit_to_sheet(fitted, sheet, people) is fitted  # framed for the sheet: left as it is
    crops = {n: np.zeros((100, 178, 3), np.float32) for n in SHOT_NAMES}
    why = centre_cuts(crops, sheet)
    assert set(why) == set(SHOT_NAMES) and "cut around its centre" in why["medium"]
    assert centre_cuts({n: np.zeros((768, 608, 3)) for n in SHOT_NAMES}, sheet) == {}
