#!/usr/bin/env python3
"""Convert a LAION aesthetic-predictor head (a pickled .pth state dict) to safetensors.

    python tools/convert_aesthetic_head.py HEAD.pth model.safetensors [--force]

For maintainers: ShotCrop never unpickles weights at run time, and the original heads from
christophschuhmann/improved-aesthetic-predictor ship only as .pth. The file is read with
`torch.load(weights_only=True)`, which rebuilds tensors and plain containers only and refuses
anything that would run code. The layers are checked (input -> 1024 -> 128 -> 64 -> 16 -> 1, as
`train.scorers.AestheticScorer` expects), then written under the original key names
(`layers.0.weight` ... `layers.7.bias`) with the source file's name and SHA-256 in the metadata.
Publish it with `hf upload ORG/REPO model.safetensors` and name the repo in
`shotcrop_core/models.py` (DEFAULT_AESTHETIC_HEAD) or in the pseudo-label config.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

#: nn.Sequential indexes of the five Linear layers in the original predictor (dropouts between).
LINEAR_INDEXES = (0, 2, 4, 6, 7)


def convert(src: str | Path, dst: str | Path, force: bool = False) -> Path:
    import torch
    from safetensors.torch import save_file

    from shotcrop_core.errors import ShotCropError
    from shotcrop_core.train.scorers import head_layers

    src, dst = Path(src), Path(dst)
    if dst.exists() and not force:
        raise ShotCropError(f"{dst} exists; pass --force to overwrite it")
    if dst.suffix != ".safetensors":
        raise ShotCropError(f"{dst}: the output must be a .safetensors file")
    try:
        state = torch.load(src, map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001 - unpickling refusals come as several types
        raise ShotCropError(f"Cannot read {src} as a tensors-only checkpoint: {e}") from e
    if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
        state = state["state_dict"]  # Lightning-style checkpoints nest the weights
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ShotCropError(f"{src} is not a state dict of tensors")
    layers = head_layers(state, str(src))
    out = {}
    for index, (w, b) in zip(LINEAR_INDEXES, layers):
        out[f"layers.{index}.weight"] = w.float().contiguous()
        out[f"layers.{index}.bias"] = b.float().contiguous()
    digest = hashlib.sha256(src.read_bytes()).hexdigest()
    dst.parent.mkdir(parents=True, exist_ok=True)
    save_file(out, str(dst), metadata={"format": "pt", "source": src.name, "source_sha256": digest})
    return dst


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("src", help="the head as a .pth / .pt state dict")
    p.add_argument("dst", help="the .safetensors file to write")
    p.add_argument("--force", action="store_true", help="overwrite dst")
    args = p.parse_args(argv)
    from shotcrop_core.errors import ShotCropError

    try:
        dst = convert(args.src, args.dst, args.force)
    except ShotCropError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    print(f"wrote {dst}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
