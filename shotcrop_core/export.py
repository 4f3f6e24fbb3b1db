"""Writing a shot set to disk: three crops, a preview and the shot JSON, never overwriting."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
from PIL import Image

from . import outpaint as op
from .errors import ShotCropError
from .imageio import ImageInfo, LoadedImage, crop, save_image
from .keypoints import Person
from .render import draw_shots
from .shots import ShotSet

_CROP_EXT = {"JPEG": ".jpg", "PNG": ".png", "WEBP": ".webp"}
#: The key of the marker a photo's JSON holds while its files are being written.
WRITING = "writing"
#: The preview's long side at most (a check image, not a deliverable: drawing and encoding a
#: 24 MP preview would cost more than the crops).
PREVIEW_SIDE = 1600


def _preview_base(image):
    """The photo scaled so its long side is at most PREVIEW_SIDE (draw_shots scales boxes)."""
    W, H = image.size
    s = PREVIEW_SIDE / max(W, H)
    if s >= 1:
        return image
    return image.resize((max(1, round(W * s)), max(1, round(H * s))), Image.BILINEAR,
                        reducing_gap=3.0)


def output_paths(loaded: LoadedImage | ImageInfo, out_dir: Path, json_file: bool = True,
                 preview: str = "jpg", shots: ShotSet | None = None) -> dict[str, Path]:
    """Where each output of one image goes: `<stem>_<shot>.<ext>`, `<stem>_preview.jpg` (or
    .png; none with preview "none"), `<stem>_shots.json`; and for a shot of `shots` that
    reaches past the photo, `<stem>_<shot>_outpaint.png`, its mask (white on the padding)."""
    stem = loaded.path.stem
    # Crops keep the photo's format; alpha forces PNG so transparency survives.
    ext = ".png" if loaded.has_alpha else _CROP_EXT.get(loaded.format or "", ".jpg")
    paths = {n: out_dir / f"{stem}_{n}{ext}" for n in ("establishing", "medium", "close_up")}
    for shot in shots or ():
        if any(shots.past(shot.name)):
            paths[f"{shot.name}_outpaint"] = out_dir / f"{stem}_{shot.name}_outpaint.png"
    if preview != "none":
        paths["preview"] = out_dir / f"{stem}_preview.{preview}"
    if json_file:
        paths["json"] = json_path(loaded.path, out_dir)
    return paths


def json_path(photo: str | Path, out_dir: Path) -> Path:
    """Where a photo's shot-set JSON goes: named after the photo alone (no header read)."""
    from .uris import photo_path

    return Path(out_dir) / f"{photo_path(photo).stem}_shots.json"


def write_outputs(loaded: LoadedImage, shots: ShotSet, out_dir: str | Path, force: bool = False,
                  people: list[Person] | None = None, json_file: bool = True,
                  preview: str = "jpg", outpaint="edge", feather: int = 0) -> dict[str, Path]:
    """Write the crops, the preview (`preview`: jpg, png or none) and the JSON; refuse up front
    if any file exists. A shot reaching past the photo is padded with `outpaint` ("edge" or a
    colour) and gets its padding mask, feathered `feather` px into the photo."""
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise ShotCropError(f"output folder {out} is a file: choose another --out folder")
    if (shots.width, shots.height) != loaded.size:
        raise ShotCropError(f"shot set is for a {shots.width}x{shots.height} image but "
                            f"{loaded.path.name} is {loaded.width}x{loaded.height}")
    paths = output_paths(loaded, out, json_file, preview, shots)
    if not force:
        taken = [p for p in paths.values() if p.exists()]
        if taken:
            more = f" (and {len(taken) - 1} more)" if len(taken) > 1 else ""
            raise ShotCropError(f"{taken[0]} already exists{more}: nothing was written for this "
                                "image; use --force to overwrite or choose another --out folder")
    # The JSON goes first, as a marker naming the photo (a run killed while writing it leaves
    # that: `batch.previous_outputs` knows those files are ours to write again), and is replaced
    # by the shot set last.
    if json_file:
        try:
            out.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise ShotCropError(f"cannot make the output folder {out}: {e.strerror or e}") \
                from None
        _place(paths["json"], json.dumps({"image": loaded.source, WRITING: True},
                                         ensure_ascii=False) + "\n", exclusive=not force)
    fill = op.parse_fill(outpaint)
    for shot in shots:
        save_image(crop(loaded, shot.box, fill), paths[shot.name], force=force)
        past = shots.past(shot.name)
        if any(past):  # what an outpainting model fills: white on the padding
            mask = op.padding_mask(shot.box.h, shot.box.w, past, feather)
            save_image(Image.fromarray(np.round(mask * 255).astype(np.uint8), "L"),
                       paths[f"{shot.name}_outpaint"], force=force)
    if "preview" in paths:
        save_image(draw_shots(_preview_base(loaded.image), shots, people), paths["preview"],
                   force=force)
    if json_file:
        _place(paths["json"], shots.to_json(image=loaded.source, indent=2) + "\n")
    return paths


def _place(path: Path, text: str, exclusive: bool = False) -> None:
    """`text` as the whole of `path` at once (written beside it under a name of its own, then
    moved in: a kill leaves the old file or the new, never half of one); `exclusive`: only where
    no file is. Any failure is one ShotCropError naming the file."""
    import tempfile

    try:
        fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as e:
        raise ShotCropError(f"cannot write {path}: {e.strerror or e}") from None
    tmp = Path(name)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        if not exclusive:
            os.replace(tmp, path)
            return
        try:
            os.link(tmp, path)  # atomic, and fails where a file is
        except FileExistsError:
            raise
        except (OSError, AttributeError):  # no hard links here: an exclusive create instead
            with open(path, "x", encoding="utf-8") as f:
                f.write(text)
    except FileExistsError:
        raise ShotCropError(f"{path} already exists: use --force") from None
    except OSError as e:
        raise ShotCropError(f"cannot write {path}: {e.strerror or e}") from None
    finally:
        tmp.unlink(missing_ok=True)
