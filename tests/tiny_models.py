"""Tiny random-weight models and a fake Hugging Face Hub cache, for offline tests.

`save_to_hub_cache` lays a folder out exactly like huggingface_hub's cache, so code under test goes
through the real `snapshot_download` path (with HF_HUB_OFFLINE=1) instead of a test-only shortcut.
"""

from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path

#: COCO-style labels with "person" deliberately NOT at index 0, so a hard-coded 0 would be caught.
TINY_DETECTOR_LABELS = {0: "bicycle", 1: "person", 2: "car"}


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def save_to_hub_cache(src_folder, hub_cache_dir, repo_id: str, revision_hex: str | None = None) -> Path:
    """Copy `src_folder` into `hub_cache_dir` as repo `repo_id`; returns the snapshot folder.

    Layout: models--ORG--NAME/{refs/main, blobs/<sha256>, snapshots/<rev>/<file> -> ../../blobs/<sha256>}.
    `hub_cache_dir` is what huggingface_hub calls HF_HUB_CACHE (by default $HF_HOME/hub).
    Without `revision_hex`, the revision is derived from the content, so it is deterministic.
    """
    src = Path(src_folder)
    files = sorted(p for p in src.rglob("*") if p.is_file())
    digests = {p: _sha256(p) for p in files}
    if revision_hex is None:
        revision_hex = hashlib.sha1(
            "".join(f"{p.relative_to(src).as_posix()}:{d}\n" for p, d in digests.items()).encode()
        ).hexdigest()
    if len(revision_hex) != 40 or any(c not in "0123456789abcdef" for c in revision_hex):
        raise ValueError(f"revision_hex must be 40 lowercase hex digits, got {revision_hex!r}")

    repo_dir = Path(hub_cache_dir) / ("models--" + repo_id.replace("/", "--"))
    blobs = repo_dir / "blobs"
    snapshot = repo_dir / "snapshots" / revision_hex
    blobs.mkdir(parents=True, exist_ok=True)
    snapshot.mkdir(parents=True, exist_ok=True)
    for p, digest in digests.items():
        blob = blobs / digest
        if not blob.exists():
            shutil.copyfile(p, blob)
        link = snapshot / p.relative_to(src)
        link.parent.mkdir(parents=True, exist_ok=True)
        if link.is_symlink() or link.exists():
            link.unlink()
        # Relative links, as the real cache uses (../../blobs/<sha> for top-level files).
        link.symlink_to(os.path.relpath(blob, link.parent))
    (repo_dir / "refs").mkdir(exist_ok=True)
    (repo_dir / "refs" / "main").write_text(revision_hex)  # no trailing newline, like the Hub
    return snapshot


def build_tiny_rtdetr(folder, seed: int = 0) -> Path:
    """A few-hundred-kB RT-DETR (ResNet backbone) plus its preprocessor_config.json."""
    import torch
    from transformers import RTDetrConfig, RTDetrForObjectDetection, RTDetrImageProcessor, RTDetrResNetConfig

    folder = Path(folder)
    backbone = RTDetrResNetConfig(embedding_size=8, hidden_sizes=[8, 16, 24, 32], depths=[1, 1, 1, 1],
                                  out_features=["stage2", "stage3", "stage4"])
    config = RTDetrConfig(
        backbone_config=backbone, encoder_in_channels=[16, 24, 32], encoder_hidden_dim=16,
        encoder_ffn_dim=32, encoder_attention_heads=2, d_model=16, decoder_in_channels=[16, 16, 16],
        decoder_ffn_dim=32, decoder_layers=2, decoder_attention_heads=2, decoder_n_points=2,
        num_queries=30, num_denoising=0, id2label=dict(TINY_DETECTOR_LABELS),
        label2id={v: k for k, v in TINY_DETECTOR_LABELS.items()},
    )
    torch.manual_seed(seed)
    RTDetrForObjectDetection(config).eval().save_pretrained(folder, safe_serialization=True)
    # Small input size keeps the test fast; the real checkpoint uses 640x640.
    RTDetrImageProcessor(size={"height": 128, "width": 128}, do_normalize=False).save_pretrained(folder)
    return folder


def build_tiny_vitpose(folder, seed: int = 0) -> Path:
    """A tiny ViTPose (2-layer ViT, 64x48 input, 17 heatmaps) plus its preprocessor_config.json."""
    import torch
    from transformers import VitPoseBackboneConfig, VitPoseConfig, VitPoseForPoseEstimation, VitPoseImageProcessor

    folder = Path(folder)
    backbone = VitPoseBackboneConfig(image_size=[64, 48], patch_size=[16, 16], hidden_size=32,
                                     num_hidden_layers=2, num_attention_heads=2, mlp_ratio=2,
                                     out_indices=[2])
    config = VitPoseConfig(backbone_config=backbone, num_labels=17, scale_factor=4, use_simple_decoder=True)
    torch.manual_seed(seed)
    VitPoseForPoseEstimation(config).eval().save_pretrained(folder, safe_serialization=True)
    VitPoseImageProcessor(size={"height": 64, "width": 48}).save_pretrained(folder)
    return folder
