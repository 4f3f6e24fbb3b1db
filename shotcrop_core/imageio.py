"""Loading photos safely and saving crops without clobbering anything.

Policies (every failure is a `ShotCropError` naming the file):
- Truncated or corrupt files are refused, never half-decoded: a crop of a grey, half-missing photo
  is worse than a clear error. Pillow's global LOAD_TRUNCATED_IMAGES is left alone.
- Images above `MAX_PIXELS` (120 megapixels) are refused from the header alone, before decoding,
  so a decompression bomb costs nothing. Pillow's own bomb warning is silenced up to that limit.
- Images under `MIN_SIDE` (16 px) on a side are refused: there is nothing to frame.
- All boxes refer to the upright image: EXIF orientation is applied on load.
"""

from __future__ import annotations

import io
import os
import stat
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageCms, ImageOps, UnidentifiedImageError

from . import outpaint as op
from .errors import ShotCropError
from .shots import Box

#: Largest image accepted, in pixels (a 120 MP photo decodes to ~360 MB of RGB).
MAX_PIXELS = 120_000_000
#: Smallest side accepted, in pixels.
MIN_SIDE = 16
#: Output formats by file extension.
SAVE_FORMATS = {".jpg": "JPEG", ".jpeg": "JPEG", ".png": "PNG", ".webp": "WEBP"}
JPEG_QUALITY = 95
_WHITE = (255, 255, 255)
# Modes whose ICC profile still describes the RGB image we make from them.
_RGB_PROFILE_MODES = {"RGB", "RGBA", "RGBX", "RGBa", "P", "PA"}


@dataclass(frozen=True, eq=False)
class LoadedImage:
    """A photo ready for perception (`image`: upright RGB) and for saving crops (`rgba`)."""

    image: Image.Image
    path: Path
    format: str | None
    original_mode: str
    has_alpha: bool
    #: Upright RGBA when the photo has transparency (crops keep it), else None.
    rgba: Image.Image | None = None
    icc_profile: bytes | None = None
    #: The photo's upright size when `image` was decoded reduced (JPEG draft mode), else None.
    full_size: tuple[int, int] | None = None
    #: How the photo was named when that is not `str(path)`: a URI (s3://, http(s)://,
    #: file://), or a path spelled otherwise ('./a.jpg'); else None.
    given: str | None = None

    @property
    def source(self) -> str:
        """The photo as its user named it (what its records and JSON say)."""
        return self.given or str(self.path)

    @property
    def frame_size(self) -> tuple[int, int]:
        """The size shots are framed in: the photo's own, even when decoded reduced."""
        return self.full_size or self.image.size

    @property
    def width(self) -> int:
        return self.image.width

    @property
    def height(self) -> int:
        return self.image.height

    @property
    def size(self) -> tuple[int, int]:
        return self.image.size

    @property
    def for_saving(self) -> Image.Image:
        """The upright image with its alpha, if any: what crops should be cut from."""
        return self.rgba if self.rgba is not None else self.image


def _too_big(path: Path, w: int, h: int) -> ShotCropError:
    return ShotCropError(
        f"{path}: the image is too large: {w}x{h} ({w * h / 1e6:.0f} megapixels), above "
        f"ShotCrop's limit of {MAX_PIXELS / 1e6:.0f} MP (a guard against decompression bombs). "
        "Downscale it first.")


def _corrupt(path: Path, e: Exception) -> ShotCropError:
    return ShotCropError(
        f"{path}: the image file is truncated or corrupt ({e}). ShotCrop does not use partly "
        "decoded images: re-export or re-download it.")


def _to_8bit_grey(im: Image.Image) -> Image.Image:
    """16/32-bit integer or float greyscale to 8-bit by scaling the range, not clipping it."""
    a = np.asarray(im)
    if im.mode == "F":
        a = a.astype(np.float64)
        finite = a[np.isfinite(a)]
        lo, hi = (0.0, 1.0) if finite.size == 0 or (finite.min() >= 0 and finite.max() <= 1) \
            else (float(finite.min()), float(finite.max()))
        a = (np.nan_to_num(a, nan=lo) - lo) * (255.0 / max(hi - lo, 1e-12))
    else:  # I;16* holds 0..65535; "I" usually does too (16-bit PNG/TIFF) but may be wider
        a = a.astype(np.float64)
        hi = 65535.0 if a.min() >= 0 and a.max() <= 65535 else float(a.max())
        lo = 0.0 if a.min() >= 0 else float(a.min())
        a = (a - lo) * (255.0 / max(hi - lo, 1.0))
    return Image.fromarray(np.clip(np.rint(a), 0, 255).astype(np.uint8), "L")


def _cmyk_to_rgb(im: Image.Image) -> Image.Image:
    """Through the embedded ICC profile when there is one (press CMYK is not naive 255-x)."""
    icc = im.info.get("icc_profile")
    if icc:
        try:
            return ImageCms.profileToProfile(im, io.BytesIO(icc), ImageCms.createProfile("sRGB"),
                                             outputMode="RGB")
        except (ImageCms.PyCMSError, OSError, ValueError):
            pass  # a broken profile: fall back to Pillow's formula
    return im.convert("RGB")


def _has_alpha(mode: str, info: dict) -> bool:
    return mode in ("RGBA", "LA", "PA", "RGBa", "La") or (
        mode in ("P", "L", "RGB", "1") and "transparency" in info)


def _upright_rgb(im: Image.Image) -> tuple[Image.Image, Image.Image | None]:
    """(RGB for perception, RGBA for saving or None) from any Pillow mode."""
    mode = im.mode
    has_alpha = _has_alpha(mode, im.info)
    if mode.startswith("I") or mode == "F":
        im = _to_8bit_grey(im)
    elif mode == "CMYK":
        im = _cmyk_to_rgb(im)
    if has_alpha:
        rgba = im.convert("RGBA")
        # Transparent pixels hide arbitrary colours: show perception the photo on white.
        rgb = Image.alpha_composite(Image.new("RGBA", rgba.size, _WHITE + (255,)), rgba)
        return rgb.convert("RGB"), rgba
    return (im if im.mode == "RGB" else im.convert("RGB")), None


def check_size(w: int, h: int, what: str | Path) -> None:
    """The size rules every photo meets, from a file or from memory (see module doc)."""
    if w * h > MAX_PIXELS:
        raise _too_big(what, w, h)
    if min(w, h) < MIN_SIDE:
        raise ShotCropError(f"{what}: the image is too small ({w}x{h} pixels); ShotCrop "
                            f"needs at least {MIN_SIDE} px on each side. Use a larger image.")


def from_memory(image: Image.Image, name: str) -> LoadedImage:
    """An in-memory photo (a ComfyUI IMAGE, a caller's PIL image), checked by the same rules as
    a file; `name` says which photo in messages ("image 3")."""
    if not isinstance(image, Image.Image):
        raise ShotCropError(f"{name}: expected a PIL image, got {type(image).__name__}")
    check_size(image.width, image.height, name)
    try:
        rgb, rgba = _upright_rgb(image)
    except (ValueError, OSError) as e:
        raise ShotCropError(f"{name}: cannot convert its {image.mode} colour mode to RGB ({e})") \
            from None
    return LoadedImage(rgb, Path(name), None, image.mode, rgba is not None, rgba, None)


@dataclass(frozen=True)
class ImageInfo:
    """What a photo's header says: enough to name its output files without decoding it."""

    path: Path
    format: str | None
    has_alpha: bool


def _opened(path: str | Path) -> tuple[Path, Path | io.BytesIO]:
    """(the path naming the photo's outputs, what PIL opens): a path, or a URI's bytes
    (`uris`: object stores, http(s); file:// is a path)."""
    from . import uris

    named = uris.photo_path(path)
    if not uris.is_uri(path) or uris.local_path(path) is not None:
        return named, named
    return named, io.BytesIO(uris.read_uri(path))


def probe(path: str | Path) -> ImageInfo:
    """The header of `path` (no pixels decoded); a file PIL cannot open is a ShotCropError."""
    path, source = _opened(path)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(source) as im:
                return ImageInfo(path, im.format, _has_alpha(im.mode, im.info))
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as e:
        raise ShotCropError(f"{path}: cannot read its header ({e})") from None


def load_image(path: str | Path, draft: int | None = None) -> LoadedImage:
    """Open a photo: upright (EXIF orientation applied), RGB, size-checked. See module doc.

    `draft` (pixels): a JPEG more than twice that long is decoded at 1/2, 1/4 or 1/8 scale
    (PIL's draft mode: the decoder skips the detail) to a long side of at least `draft`;
    `full_size` then says the photo's own size. For perception and framing only: crops need
    the full decode. `path` may be a URI (`uris`: s3://, gs://, http(s)://, file://)."""
    given = str(path)
    path, source = _opened(path)
    if isinstance(source, Path) and not path.exists():
        raise ShotCropError(f"image not found: {path}. Check the path.")
    if isinstance(source, Path) and path.is_dir():
        raise ShotCropError(f"{path} is a folder, not an image: give an image file.")
    with warnings.catch_warnings():
        # Pillow warns above ~89 MP; our own limit (checked before decoding) is the policy.
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        try:
            im = Image.open(source)  # lazy: reads the header only
        except Image.DecompressionBombError:
            raise ShotCropError(f"{path}: the image is too large, far above ShotCrop's limit "
                                f"of {MAX_PIXELS / 1e6:.0f} megapixels (a guard against "
                                "decompression bombs). Downscale it first.") from None
        except UnidentifiedImageError:
            raise ShotCropError(f"{path} is not an image ShotCrop can read: give a JPEG, PNG, "
                                "WebP, TIFF, BMP or GIF file.") from None
        except PermissionError:
            raise ShotCropError(f"{path}: permission denied. Check the file's permissions.") \
                from None
        except (OSError, SyntaxError, ValueError) as e:
            raise _corrupt(path, e) from None
        with im:
            w, h = im.size
            check_size(w, h, path)
            fmt, mode = im.format, im.mode
            full, turned = None, False
            if draft and fmt == "JPEG" and max(w, h) > 2 * draft:
                try:
                    turned = im.getexif().get(0x0112) in (5, 6, 7, 8)
                except Exception:  # noqa: BLE001 - a broken EXIF block: no turn, as below
                    turned = False
                k = draft / max(w, h)
                im.draft("RGB", (max(1, round(w * k)), max(1, round(h * k))))
                full = (w, h)
            try:
                im.load()
                try:
                    up = ImageOps.exif_transpose(im)
                except Exception:  # noqa: BLE001 - a broken EXIF block: keep the stored orientation
                    up = im.copy()
            except Image.DecompressionBombError:
                raise _too_big(path, w, h) from None
            except (OSError, SyntaxError, ValueError, EOFError) as e:
                raise _corrupt(path, e) from None
    icc = up.info.get("icc_profile") if mode in _RGB_PROFILE_MODES else None
    try:
        rgb, rgba = _upright_rgb(up)
    except (ValueError, OSError) as e:
        raise ShotCropError(f"{path}: cannot convert its {mode} colour mode to RGB ({e}). "
                            "Re-save it as an RGB JPEG or PNG.") from None
    for out in (rgb, rgba):  # a profile only travels with the pixels it describes
        if out is not None:
            out.info.pop("icc_profile", None)
            if icc:
                out.info["icc_profile"] = icc
            out.info.pop("exif", None)  # orientation is applied; keep GPS etc. out of crops
    if full is not None and turned:  # EXIF orientations 5-8 turn the photo a quarter
        full = (full[1], full[0])
    return LoadedImage(rgb, path, fmt, mode, rgba is not None, rgba, icc, full,
                       given if given != str(path) else None)


def crop(img: Image.Image | LoadedImage, box: Box, outpaint=None) -> Image.Image:
    """The pixels of `box` (x1/y1 exclusive); a LoadedImage is cut with its alpha. A box that
    reaches past the image (a shot composed beyond the photo) is padded out with `outpaint`
    ("edge" or a colour, `outpaint.parse_fill`)."""
    src = img.for_saving if isinstance(img, LoadedImage) else img
    past = box.past(src.width, src.height)
    if not any(past):
        return src.crop((box.x0, box.y0, box.x1, box.y1))
    if outpaint is None or box.intersection(Box(0, 0, src.width, src.height)) == 0:
        raise ShotCropError(f"crop box {box.to_list()} lies outside the {src.width}x{src.height} "
                            "image: the shot set was made for a different image.")
    if src.mode not in ("L", "LA", "RGB", "RGBA"):
        src = src.convert("RGBA" if "A" in src.getbands() else "RGB")
    inside = src.crop((max(box.x0, 0), max(box.y0, 0), min(box.x1, src.width),
                       min(box.y1, src.height)))
    out = Image.fromarray(op.pad(np.asarray(inside), past, op.parse_fill(outpaint)), src.mode)
    out.info.update(src.info)  # the ICC profile travels with the pixels
    return out


def _for_format(img: Image.Image, fmt: str) -> Image.Image:
    """Convert to a mode the format can store (alpha is composited on white for JPEG)."""
    alpha = img.mode in ("RGBA", "LA", "PA", "RGBa", "La") or "transparency" in img.info
    if img.mode.startswith("I") or img.mode == "F":
        img = _to_8bit_grey(img)
    elif img.mode == "CMYK" and fmt != "JPEG":
        img = _cmyk_to_rgb(img)
    if fmt == "JPEG":
        if alpha:
            rgba = img.convert("RGBA")
            return Image.alpha_composite(Image.new("RGBA", rgba.size, _WHITE + (255,)), rgba
                                         ).convert("RGB")
        return img if img.mode in ("L", "RGB", "CMYK") else img.convert("RGB")
    if fmt == "PNG" and img.mode in ("1", "L", "LA", "P", "RGB", "RGBA"):
        return img
    return img.convert("RGBA" if alpha else "RGB")


def save_image(img: Image.Image | LoadedImage, path: str | Path, force: bool = False) -> Path:
    """Save `img` to `path` (format from the extension). Never overwrites an existing file unless
    `force`; creates missing parent folders. The file appears complete or not at all."""
    path = Path(path)
    if isinstance(img, LoadedImage):
        img = img.for_saving
    fmt = SAVE_FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise ShotCropError(f"cannot save {path}: unknown extension {path.suffix or '(none)'!r}. "
                            f"Use one of {', '.join(SAVE_FORMATS)}.")
    parent = path.parent
    if parent.exists() and not parent.is_dir():
        raise ShotCropError(f"cannot save {path}: {parent} is a file, not a folder. Choose "
                            "another output folder.")
    if path.is_dir():
        raise ShotCropError(f"cannot save {path}: a folder of that name exists. Choose another "
                            "output name.")
    try:
        parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise ShotCropError(f"cannot create output folder {parent}: {e.strerror or e}. Choose "
                            "another output folder.") from None
    # Encode in memory first so an encoder error never leaves a half-written file behind.
    buf = io.BytesIO()
    params: dict = {"quality": JPEG_QUALITY} if fmt in ("JPEG", "WEBP") else {}
    icc = img.info.get("icc_profile")
    out = _for_format(img, fmt)
    if icc and out.mode in ("RGB", "RGBA") and img.mode in ("RGB", "RGBA", "P", "PA"):
        params["icc_profile"] = icc
    try:
        out.save(buf, fmt, **params)
    except (OSError, ValueError) as e:
        raise ShotCropError(f"cannot encode {path} as {fmt}: {e}") from None
    data = buf.getvalue()
    try:
        try:
            with open(path, "xb") as f:  # exclusive create: no race with another writer
                f.write(data)
            return path
        except FileExistsError:
            if not force:
                raise ShotCropError(f"{path} already exists; ShotCrop does not overwrite files. "
                                    "Use --force (force=True) to replace it, or choose another "
                                    "output folder.") from None
        # force: write beside it, then rename over it, so readers never see a partial file
        mode = stat.S_IMODE(path.stat().st_mode)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=parent)
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
            os.chmod(tmp, mode)  # mkstemp makes 0600; keep the replaced file's permissions
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    except OSError as e:
        raise ShotCropError(f"cannot write {path}: {e.strerror or e}") from None
    return path


__all__ = ["ImageInfo", "JPEG_QUALITY", "LoadedImage", "MAX_PIXELS", "MIN_SIDE", "SAVE_FORMATS",
           "crop", "load_image", "probe", "save_image"]
