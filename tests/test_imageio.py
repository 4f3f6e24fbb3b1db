"""Loading awkward photos and saving crops safely. Bad images are built in tmp dirs."""

from __future__ import annotations

import struct
import threading
import time
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageCms

from shotcrop_core import imageio
from shotcrop_core.errors import ShotCropError
from shotcrop_core.imageio import LoadedImage, crop, load_image, save_image
from shotcrop_core.shots import Box

DATA = Path(__file__).parent / "data"
PHOTO = DATA / "000000234748.jpg"


def png_header(path: Path, w: int, h: int) -> Path:
    """A PNG that claims w x h (1-bit grey) but holds no pixel data: a bomb costing bytes."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))
    ihdr = struct.pack(">IIBBBBB", w, h, 1, 0, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr)
                     + chunk(b"IDAT", zlib.compress(b"")) + chunk(b"IEND", b""))
    return path


# -- loading ----------------------------------------------------------------------------------
def test_loads_real_photo():
    li = load_image(PHOTO)
    assert isinstance(li, LoadedImage)
    assert li.size == (640, 425) and li.image.mode == "RGB" and li.format == "JPEG"
    assert not li.has_alpha and li.rgba is None and li.for_saving is li.image
    assert li.path == PHOTO


@pytest.mark.parametrize("make, expect", [
    (lambda d: d / "missing.jpg", "not found"),
    (lambda d: d, "folder"),
    (lambda d: (d / "notes.jpg").write_text("hello") and d / "notes.jpg", "not an image"),
    (lambda d: (d / "empty.png").write_bytes(b"") or d / "empty.png", "not an image"),
])
def test_bad_paths(tmp_path, make, expect):
    path = make(tmp_path)
    with pytest.raises(ShotCropError, match=expect) as e:
        load_image(path)
    assert str(path) in str(e.value)


def test_truncated_jpeg_is_refused(tmp_path):
    data = PHOTO.read_bytes()
    path = tmp_path / "cut.jpg"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ShotCropError, match="truncated") as e:
        load_image(path)
    assert str(path) in str(e.value)


def test_too_small(tmp_path):
    path = tmp_path / "tiny.png"
    Image.new("RGB", (15, 200)).save(path)
    with pytest.raises(ShotCropError, match="too small.*16 px"):
        load_image(path)
    Image.new("RGB", (16, 16)).save(path)
    assert load_image(path).size == (16, 16)


@pytest.mark.parametrize("side", [20000, 11000])  # beyond Pillow's error limit / between its
def test_decompression_bomb_refused_without_decoding(tmp_path, side):  # warning and error limits
    path = png_header(tmp_path / "bomb.png", side, side)
    t = time.perf_counter()
    with pytest.raises(ShotCropError, match="too large.*megapixels") as e:
        load_image(path)
    assert time.perf_counter() - t < 1.0
    assert str(path) in str(e.value) and "120" in str(e.value)


def test_pixel_limit_is_the_policy(tmp_path, monkeypatch):
    path = tmp_path / "p.png"
    Image.new("RGB", (40, 40)).save(path)
    monkeypatch.setattr(imageio, "MAX_PIXELS", 1000)
    with pytest.raises(ShotCropError, match="limit"):
        load_image(path)


def test_cmyk_jpeg(tmp_path):
    path = tmp_path / "cmyk.jpg"
    Image.new("CMYK", (40, 30), (0, 255, 255, 0)).save(path)  # pure red ink
    li = load_image(path)
    assert li.original_mode == "CMYK" and li.image.mode == "RGB"
    r, g, b = li.image.getpixel((20, 15))
    assert r > 230 and g < 30 and b < 30


def test_cmyk_with_broken_profile_falls_back_and_drops_it(tmp_path):
    path = tmp_path / "cmyk_icc.jpg"
    Image.new("CMYK", (40, 30), (0, 0, 0, 0)).save(path, icc_profile=b"not really a profile")
    assert Image.open(path).info.get("icc_profile")
    li = load_image(path)
    assert li.image.getpixel((5, 5)) == (255, 255, 255)  # no ink = white paper
    # a CMYK profile must never be attached to the RGB pixels (or the crops saved from them)
    assert li.icc_profile is None and "icc_profile" not in li.image.info


def test_16bit_grey_is_scaled_not_clipped(tmp_path):
    a = np.tile(np.array([0, 2570, 32896, 65535], dtype=np.uint16).repeat(8), (32, 1))
    path = tmp_path / "g16.png"
    Image.fromarray(a).save(path)
    assert Image.open(path).mode.startswith("I")
    li = load_image(path)
    row = np.asarray(li.image)[0, ::8, 0]
    assert row.tolist() == [0, 10, 128, 255]


def test_palette_with_transparency(tmp_path):
    im = Image.new("P", (32, 32), 1)
    im.putpalette([0, 0, 0, 255, 0, 0] + [0] * 762)
    im.paste(0, (0, 0, 16, 32))
    path = tmp_path / "pal.png"
    im.save(path, transparency=0)
    li = load_image(path)
    assert li.has_alpha and li.original_mode == "P"
    assert li.rgba.getpixel((2, 2))[3] == 0 and li.rgba.getpixel((30, 2)) == (255, 0, 0, 255)
    assert li.image.getpixel((2, 2)) == (255, 255, 255)  # transparent shown on white
    assert li.image.getpixel((30, 2)) == (255, 0, 0)


@pytest.mark.parametrize("mode, colour", [("LA", (90, 0)), ("RGBA", (10, 200, 30, 0))])
def test_alpha_modes(tmp_path, mode, colour):
    im = Image.new(mode, (20, 20), colour)
    path = tmp_path / f"{mode}.png"
    im.save(path)
    li = load_image(path)
    assert li.has_alpha and li.rgba.mode == "RGBA" and li.image.mode == "RGB"
    assert li.image.getpixel((5, 5)) == (255, 255, 255)
    assert li.for_saving is li.rgba


def test_exif_orientation_6_gives_upright_image(tmp_path):
    im = Image.new("RGB", (60, 40), (0, 0, 255))
    im.paste((255, 0, 0), (0, 0, 30, 40))  # stored left half red
    exif = im.getexif()
    exif[0x0112] = 6  # display = stored rotated 90 degrees clockwise
    path = tmp_path / "rot.jpg"
    im.save(path, exif=exif.tobytes(), quality=95)
    li = load_image(path)
    assert li.size == (40, 60)
    top, bottom = li.image.getpixel((20, 5)), li.image.getpixel((20, 55))
    assert top[0] > 200 and top[2] < 60  # the stored left edge is now the top
    assert bottom[2] > 200 and bottom[0] < 60


# -- crop ----------------------------------------------------------------------------------------
def test_crop_and_bounds():
    li = load_image(PHOTO)
    c = crop(li, Box(10, 20, 110, 70))
    assert c.size == (100, 50)
    assert c.getpixel((0, 0)) == li.image.getpixel((10, 20))
    with pytest.raises(ShotCropError, match="outside"):
        crop(li.image, Box(600, 0, 641, 10))


def test_crop_keeps_alpha(tmp_path):
    path = tmp_path / "a.png"
    Image.new("RGBA", (40, 40), (1, 2, 3, 0)).save(path)
    assert crop(load_image(path), Box(0, 0, 20, 20)).mode == "RGBA"


# -- save ----------------------------------------------------------------------------------------
def test_save_never_overwrites_without_force(tmp_path):
    img = Image.new("RGB", (20, 20), (200, 0, 0))
    out = tmp_path / "deep" / "er" / "crop.jpg"
    assert save_image(img, out) == out  # parent folders are created
    before = out.read_bytes()
    with pytest.raises(ShotCropError, match="already exists"):
        save_image(Image.new("RGB", (20, 20)), out)
    assert out.read_bytes() == before
    out.chmod(0o640)
    save_image(Image.new("RGB", (30, 30)), out, force=True)
    assert Image.open(out).size == (30, 30)
    assert out.stat().st_mode & 0o777 == 0o640
    fresh = save_image(Image.new("RGB", (30, 30)), tmp_path / "fresh.png", force=True)
    assert fresh.exists()
    assert [p.name for p in out.parent.iterdir()] == ["crop.jpg"]  # no temp file left


def test_save_is_race_safe(tmp_path):
    out = tmp_path / "same.png"
    results: list[str] = []

    def worker(i: int) -> None:
        try:
            save_image(Image.new("RGB", (20, 20), (i, i, i)), out)
            results.append("ok")
        except ShotCropError:
            results.append("refused")

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results.count("ok") == 1 and results.count("refused") == 7


def test_save_errors(tmp_path):
    img = Image.new("RGB", (20, 20))
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(ShotCropError, match="is a file"):
        save_image(img, blocker / "crop.jpg")
    with pytest.raises(ShotCropError, match="output folder"):
        save_image(img, blocker / "sub" / "crop.jpg")
    with pytest.raises(ShotCropError, match="extension"):
        save_image(img, tmp_path / "crop.gifx")
    (tmp_path / "dir.png").mkdir()
    with pytest.raises(ShotCropError, match="folder"):
        save_image(img, tmp_path / "dir.png")


def test_rgba_to_jpeg_composites_on_white_and_png_keeps_alpha(tmp_path):
    img = Image.new("RGBA", (20, 20), (0, 0, 0, 0))
    img.paste((0, 0, 255, 255), (10, 0, 20, 20))
    jpg = Image.open(save_image(img, tmp_path / "c.jpg"))
    assert jpg.mode == "RGB"
    assert min(jpg.getpixel((2, 10))) > 245 and jpg.getpixel((17, 10))[2] > 200
    png = Image.open(save_image(img, tmp_path / "c.png"))
    assert png.mode == "RGBA" and png.getpixel((2, 10))[3] == 0
    assert Image.open(save_image(Image.new("I;16", (20, 20), 65535), tmp_path / "g.jpg")
                      ).getpixel((1, 1)) == 255


def test_jpeg_quality_and_icc_profile_travel_with_crops(tmp_path):
    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    src = tmp_path / "icc.jpg"
    Image.new("RGB", (64, 64), (30, 120, 200)).save(src, icc_profile=icc)
    li = load_image(src)
    assert li.icc_profile == icc
    out = save_image(crop(li, Box(0, 0, 32, 32)), tmp_path / "crop.jpg")
    saved = Image.open(out)
    assert saved.info.get("icc_profile") == icc
    assert "exif" not in saved.info
    # quality 95: a flat colour survives almost exactly
    assert max(abs(a - b) for a, b in zip(saved.getpixel((5, 5)), (30, 120, 200))) <= 3


def test_save_loaded_image_uses_alpha(tmp_path):
    path = tmp_path / "a.png"
    Image.new("LA", (20, 20), (50, 0)).save(path)
    out = save_image(load_image(path), tmp_path / "out.png")
    assert Image.open(out).getpixel((1, 1))[3] == 0


def test_crop_bytes_roundtrip(tmp_path):
    li = load_image(PHOTO)
    out = save_image(crop(li, Box(0, 0, 64, 48)), tmp_path / "c.png")
    assert np.array_equal(np.asarray(Image.open(out)), np.asarray(li.image)[:48, :64])
