"""The `shotcrop` CLI end to end, bad input included: one clear message per bad image, the
batch goes on, nothing existing is overwritten, no traceback."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from shotcrop_core.cli import main

from people import standing

ROOT = Path(__file__).parent.parent


def person_kp(W, H):
    """A standing person filling most of a W x H frame, as 51 COCO numbers."""
    p = standing(cx=W / 2, top=0.08 * H, h=0.85 * H)
    return [round(float(v), 1) for v in p.keypoints.reshape(-1)]


@pytest.fixture(scope="module")
def photos(tmp_path_factory, data_dir):
    """Good and bad photos plus a ShotCrop keypoint file naming every one of them.

    Built once for the module (the 400-megapixel bomb alone takes a second or two to write):
    the tests only read these files and write their outputs under their own tmp_path."""
    src = Image.open(data_dir / "000000234748.jpg")
    tmp_path = tmp_path_factory.mktemp("cli_photos")
    d = tmp_path / "in"
    d.mkdir()
    src.save(d / "good.jpg")
    src.convert("CMYK").save(d / "cmyk.jpg")
    (np.asarray(src.convert("L"), dtype=np.uint16) * 257).astype(np.uint16)
    Image.fromarray((np.asarray(src.convert("L"), dtype=np.uint16) * 257)).save(d / "grey16.png")
    src.convert("P", palette=Image.ADAPTIVE).save(d / "palette.png")
    rgba = src.convert("RGBA")
    rgba.putalpha(200)
    rgba.save(d / "alpha.png")
    # stored portrait (turned 90 degrees counter-clockwise), EXIF orientation 6 says "turn it
    # clockwise to view": upright it is the landscape original again
    rot = src.rotate(90, expand=True)
    exif = Image.Exif()
    exif[0x0112] = 6
    rot.save(d / "rotated.jpg", exif=exif)
    (d / "notimage.jpg").write_text("hello")
    raw = (d / "good.jpg").read_bytes()
    (d / "truncated.jpg").write_bytes(raw[: len(raw) // 2])
    Image.new("RGB", (1, 1)).save(d / "tiny.png")
    Image.new("1", (20000, 20000)).save(d / "bomb.png")  # 1-bit: a small file, 400 MP decoded
    entries = []
    for name in ("good.jpg", "cmyk.jpg", "grey16.png", "palette.png", "alpha.png"):
        entries.append({"image": name, "people": [{"keypoints": person_kp(*src.size)}]})
    entries.append({"image": "rotated.jpg", "people": [{"keypoints": person_kp(*src.size)}]})
    kp = tmp_path / "kp.json"
    kp.write_text(json.dumps(entries))
    return d, kp


def run(args, capsys):
    rc = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return rc, [json.loads(line) for line in out.splitlines() if line.strip()], err


def test_good_and_converted_images(photos, tmp_path, capsys):
    d, kp = photos
    names = ["good.jpg", "cmyk.jpg", "grey16.png", "palette.png", "alpha.png", "rotated.jpg"]
    rc, lines, err = run(["compose", *[d / n for n in names], "--keypoints", kp,
                          "--out", tmp_path / "out", "--json"], capsys)
    assert rc == 0, err
    assert [Path(x["image"]).name for x in lines] == names
    for line in lines:
        assert [s["shot"] for s in line["shots"]] == ["establishing", "medium", "close_up"]
        assert line["subject"] is not None and "error" not in line
        for s in line["shots"]:
            x0, y0, x1, y1 = s["box"]
            assert 0 <= x0 < x1 <= line["width"] and 0 <= y0 < y1 <= line["height"]
            assert s["description"]
    rotated = lines[-1]
    src = Image.open(d / "good.jpg")
    assert Image.open(d / "rotated.jpg").size == (src.height, src.width)  # stored sideways
    assert (rotated["width"], rotated["height"]) == src.size             # boxes refer upright
    out = tmp_path / "out"
    for n in names:
        stem = Path(n).stem
        assert (out / f"{stem}_preview.jpg").is_file()
        for shot in ("establishing", "medium", "close_up"):
            crop = next(out.glob(f"{stem}_{shot}.*"))
            box = next(s["box"] for s in lines[names.index(n)]["shots"] if s["shot"] == shot)
            assert Image.open(crop).size == (box[2] - box[0], box[3] - box[1])
    # alpha survives in the crops
    assert Image.open(out / "alpha_close_up.png").mode == "RGBA"
    assert "Traceback" not in err


@pytest.mark.parametrize("name, message", [
    ("missing.jpg", "not found"),
    ("notimage.jpg", "not an image"),
    ("truncated.jpg", "truncated"),
    ("tiny.png", "at least 16 px"),
    ("bomb.png", "120 megapixels"),
])
def test_bad_images_fail_alone(photos, tmp_path, capsys, name, message):
    d, kp = photos
    rc, lines, err = run(["compose", d / name, d / "good.jpg", "--keypoints", kp,
                          "--out", tmp_path / "out", "--json"], capsys)
    assert rc == 1
    assert message in lines[0]["error"].lower() and name in lines[0]["error"]
    assert "shots" in lines[1]                       # the batch went on
    assert err.count("ERROR") == 2 and "Traceback" not in err  # the image + the summary
    assert err.count(str(d / name)) == 1             # the file is named once, not twice


def test_never_overwrites(photos, tmp_path, capsys):
    d, kp = photos
    out = tmp_path / "out"
    out.mkdir()
    mine = out / "good_medium.jpg"
    mine.write_bytes(b"precious")
    rc, lines, err = run(["compose", d / "good.jpg", "--keypoints", kp, "--out", out], capsys)
    assert rc == 1 and "already exists" in err and "--force" in err
    assert mine.read_bytes() == b"precious"
    assert not (out / "good_preview.jpg").exists()   # nothing half-written
    rc, _, err = run(["compose", d / "good.jpg", "--keypoints", kp, "--out", out, "--force"],
                     capsys)
    assert rc == 0 and mine.read_bytes() != b"precious"


@pytest.mark.parametrize("extra, message", [
    (["--aspect", "16:0"], "not valid"),
    (["--aspect", "wide"], "not valid"),
    (["--aspect", "medium=2:3,hero=1:1"], "unknown shot"),
])
def test_bad_aspect(photos, tmp_path, capsys, extra, message):
    d, kp = photos
    rc, _, err = run(["compose", d / "good.jpg", "--keypoints", kp, "--out", tmp_path, *extra],
                     capsys)
    assert rc == 2 and message in err and err.count("ERROR") == 1


def test_out_is_a_file(photos, tmp_path, capsys):
    d, kp = photos
    f = tmp_path / "afile"
    f.write_text("x")
    rc, _, err = run(["compose", d / "good.jpg", "--keypoints", kp, "--out", f], capsys)
    assert rc == 2 and "is a file" in err and f.read_text() == "x"


def test_keypoints_that_match_nothing_or_are_malformed(photos, tmp_path, capsys):
    d, kp = photos
    other = tmp_path / "other.jpg"
    Image.open(d / "good.jpg").save(other)
    # --perception keypoints: the file only, a photo it does not name is that photo's error.
    rc, lines, err = run(["compose", other, d / "good.jpg", "--keypoints", kp, "--json",
                          "--no-files", "--perception", "keypoints"], capsys)
    assert rc == 1 and "no image named 'other.jpg'" in lines[0]["error"]
    assert "shots" in lines[1]
    # auto (the default): the built-in pose model stands in for that photo, and says so.
    rc, lines, err = run(["compose", other, d / "good.jpg", "--keypoints", kp, "--json",
                          "--no-files"], capsys)
    assert rc == 0 and [len(x["shots"]) for x in lines] == [3, 3]
    assert any("does not name this photo" in w for w in lines[0].get("warnings", []))
    assert not any("does not name" in w for w in lines[1].get("warnings", []))
    bad = tmp_path / "bad.json"
    for text in ("{not json", '[{"image": "good.jpg", "people": [{"keypoints": [1, 2]}]}]'):
        bad.write_text(text)
        rc, _, err = run(["compose", d / "good.jpg", "--keypoints", bad, "--no-files"], capsys)
        assert rc == 2 and str(bad) in err and "Traceback" not in err


def test_no_person_is_a_flagged_fallback(tmp_path, capsys):
    img = tmp_path / "empty.png"
    Image.new("RGB", (300, 200), (90, 120, 160)).save(img)
    kp = tmp_path / "kp.json"
    kp.write_text(json.dumps({"image": "empty.png", "people": []}))
    rc, lines, err = run(["compose", img, "--keypoints", kp, "--json", "--no-files"], capsys)
    assert rc == 0 and lines[0]["subject"] is None and lines[0]["fallback"] is True
    assert "no person found" in err


def test_console_script_starts_without_torch(tmp_path):
    """`python -m shotcrop_core compose` with keypoints: JSON on stdout, torch never imported."""
    code = ("import sys, runpy; sys.argv = ['shotcrop'] + sys.argv[1:]\n"
            "try:\n    runpy.run_module('shotcrop_core', run_name='__main__')\n"
            "except SystemExit as e:\n"
            "    assert 'torch' not in sys.modules, 'torch was imported'\n"
            "    raise\n")
    r = subprocess.run([sys.executable, "-c", code, "compose", str(ROOT / "examples/photo.jpg"),
                        "--keypoints", str(ROOT / "examples/photo_keypoints.json"), "--json",
                        "--out", str(tmp_path / "o")], capture_output=True, text=True,
                       cwd=tmp_path, timeout=60,
                       env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert r.returncode == 0, r.stderr
    line = json.loads(r.stdout)
    assert line["image"].endswith("photo.jpg") and len(line["shots"]) == 3
    assert (tmp_path / "o" / "photo_preview.jpg").is_file()


def test_a_photo_that_fails_framing_does_not_stop_the_batch(data_dir, capsys):
    """Issue #12 drift 1: --subject out of range on the first photo (1 person) is that photo's
    JSON error line; the second photo (4 people) still gets its shots."""
    kp = data_dir / "person_keypoints.json"
    one, four = data_dir / "000000234748.jpg", data_dir / "000000000790.jpg"
    rc, lines, err = run(["compose", one, four, "--subject", "1", "--keypoints", kp, "--json",
                          "--no-files"], capsys)
    assert rc == 1 and len(lines) == 2
    assert lines[0]["image"] == str(one) and "subject index 1 is out of range" in lines[0]["error"]
    assert "this photo has 1 person (indices 0-0" in lines[0]["error"]
    assert lines[1]["image"] == str(four) and lines[1]["subject"]["index"] == 1
    assert "Traceback" not in err
