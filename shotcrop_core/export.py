"""Writing a shot set to disk: three crops, a preview and the shot JSON, never overwriting."""

from __future__ import annotations

from pathlib import Path

from .errors import ShotCropError
from .imageio import LoadedImage, crop, save_image
from .keypoints import Person
from .render import draw_shots
from .shots import ShotSet

_CROP_EXT = {"JPEG": ".jpg", "PNG": ".png", "WEBP": ".webp"}


def output_paths(loaded: LoadedImage, out_dir: Path, json_file: bool = True) -> dict[str, Path]:
    """Where each output of one image goes: `<stem>_<shot>.<ext>`, `<stem>_preview.png`..."""
    stem = loaded.path.stem
    # Crops keep the photo's format; alpha forces PNG so transparency survives.
    ext = ".png" if loaded.has_alpha else _CROP_EXT.get(loaded.format or "", ".jpg")
    paths = {n: out_dir / f"{stem}_{n}{ext}" for n in ("establishing", "medium", "close_up")}
    paths["preview"] = out_dir / f"{stem}_preview.png"
    if json_file:
        paths["json"] = out_dir / f"{stem}_shots.json"
    return paths


def write_outputs(loaded: LoadedImage, shots: ShotSet, out_dir: str | Path, force: bool = False,
                  people: list[Person] | None = None, json_file: bool = True) -> dict[str, Path]:
    """Write the crops, the preview and the JSON; refuse up front if any file exists."""
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise ShotCropError(f"output folder {out} is a file: choose another --out folder")
    if (shots.width, shots.height) != loaded.size:
        raise ShotCropError(f"shot set is for a {shots.width}x{shots.height} image but "
                            f"{loaded.path.name} is {loaded.width}x{loaded.height}")
    paths = output_paths(loaded, out, json_file)
    if not force:
        taken = [p for p in paths.values() if p.exists()]
        if taken:
            more = f" (and {len(taken) - 1} more)" if len(taken) > 1 else ""
            raise ShotCropError(f"{taken[0]} already exists{more}: nothing was written for this "
                                "image; use --force to overwrite or choose another --out folder")
    for shot in shots:
        save_image(crop(loaded, shot.box), paths[shot.name], force=force)
    save_image(draw_shots(loaded.image, shots, people), paths["preview"], force=force)
    if json_file:
        text = shots.to_json(image=str(loaded.path), indent=2) + "\n"
        mode = "w" if force else "x"
        try:
            with open(paths["json"], mode, encoding="utf-8") as f:
                f.write(text)
        except FileExistsError:
            raise ShotCropError(f"{paths['json']} already exists: use --force") from None
    return paths
