"""Time HubPoseEstimator on the real-size default architectures, with random weights.

The Hub is not reachable here, so the defaults (PekingU/rtdetr_r50vd_coco_o365 and
usyd-community/vitpose-base-simple) are rebuilt from their configs: same shapes, same FLOPs, same
memory traffic, so the timings are honest even though the outputs are noise. The models are saved
with safetensors and loaded through `HubPoseEstimator.load()`, i.e. the user code path.

    python benchmarks/bench_pose.py [--iters 5] [--warmup 1] [--image PHOTO] [--device cpu|cuda|all]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from shotcrop_core.perception.hub_pose import HubPoseEstimator  # noqa: E402

DEFAULT_IMAGE = ROOT / "tests" / "data" / "000000229358.jpg"


def build_rtdetr_r50vd(folder: Path) -> None:
    """PekingU/rtdetr_r50vd_coco_o365: RTDetrConfig() defaults (ResNet-50-vd) with 80 COCO labels."""
    import torch
    from transformers import RTDetrConfig, RTDetrForObjectDetection, RTDetrImageProcessor, RTDetrResNetConfig

    backbone = RTDetrResNetConfig(embedding_size=64, hidden_sizes=[256, 512, 1024, 2048], depths=[3, 4, 6, 3],
                                  layer_type="bottleneck", hidden_act="relu",
                                  out_features=["stage2", "stage3", "stage4"])
    id2label = {0: "person", **{i: f"class_{i}" for i in range(1, 80)}}
    config = RTDetrConfig(
        backbone_config=backbone, encoder_in_channels=[512, 1024, 2048], encoder_hidden_dim=256,
        encoder_layers=1, encoder_ffn_dim=1024, encoder_attention_heads=8, d_model=256,
        decoder_in_channels=[256, 256, 256], decoder_layers=6, decoder_ffn_dim=1024,
        decoder_attention_heads=8, decoder_n_points=4, num_queries=300, num_feature_levels=3,
        id2label=id2label, label2id={v: k for k, v in id2label.items()},
    )
    model = RTDetrForObjectDetection(config).eval()
    # Random class heads rarely rank "person" in the top 300 of 80 classes; raising its bias (no
    # change in FLOPs) makes person boxes come out, so the pose stage gets its k boxes.
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.Linear) and m.out_features == 80 and m.bias is not None:
                m.bias[0] += 5.0
    model.save_pretrained(folder, safe_serialization=True)
    RTDetrImageProcessor(size={"height": 640, "width": 640}, do_normalize=False).save_pretrained(folder)


def build_vitpose_base(folder: Path) -> None:
    """usyd-community/vitpose-base-simple: ViT-B/16 at 256x192, simple decoder, 17 heatmaps."""
    from transformers import VitPoseBackboneConfig, VitPoseConfig, VitPoseForPoseEstimation, VitPoseImageProcessor

    backbone = VitPoseBackboneConfig(image_size=[256, 192], patch_size=[16, 16], hidden_size=768,
                                     num_hidden_layers=12, num_attention_heads=12, mlp_ratio=4,
                                     out_indices=[12])
    config = VitPoseConfig(backbone_config=backbone, num_labels=17, use_simple_decoder=True, scale_factor=4)
    VitPoseForPoseEstimation(config).eval().save_pretrained(folder, safe_serialization=True)
    VitPoseImageProcessor(size={"height": 256, "width": 192}).save_pretrained(folder)


def timed(fn, iters: int, warmup: int, sync) -> list[float]:
    for _ in range(warmup):
        fn()
    out = []
    for _ in range(iters):
        sync()
        t = time.perf_counter()
        fn()
        sync()
        out.append((time.perf_counter() - t) * 1000)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--iters", type=int, default=5)
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--image", type=Path, default=DEFAULT_IMAGE)
    ap.add_argument("--device", choices=["cpu", "cuda", "all"], default="all")
    args = ap.parse_args()

    import torch
    import transformers
    from PIL import Image

    image = (Image.open(args.image).convert("RGB") if args.image.exists()
             else Image.new("RGB", (640, 480), (120, 110, 100)))
    runs = []
    if args.device in ("cpu", "all"):
        runs.append(("cpu", "fp32"))
    if args.device in ("cuda", "all") and torch.cuda.is_available():
        runs += [("cuda", "fp32"), ("cuda", "fp16")]

    print("ShotCrop pose benchmark: RT-DETR-R50vd (640x640) + ViTPose-B (256x192), random weights")
    print(f"torch {torch.__version__}, transformers {transformers.__version__}, "
          f"CPU threads {torch.get_num_threads()}, image {image.width}x{image.height}, "
          f"median of {args.iters} after {args.warmup} warm-up")
    if hasattr(os, "getloadavg"):  # other processes on the CPU skew the CPU figures
        print(f"load average before: {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")
    if torch.cuda.is_available():
        print(f"GPU: {torch.cuda.get_device_name()}")
    with tempfile.TemporaryDirectory() as tmp:
        torch.manual_seed(0)
        det_dir, pose_dir = Path(tmp) / "rtdetr_r50vd", Path(tmp) / "vitpose_base"
        build_rtdetr_r50vd(det_dir)
        build_vitpose_base(pose_dir)
        print(f"{'device':6} {'dtype':5} {'stage':34} {'median ms':>10} {'min..max ms':>16}")
        for device, dtype in runs:
            # threshold 0 + max_people=k: random weights still yield exactly k people, so the
            # full estimate() path (detect, NMS, batched ViTPose, post-processing) is timed.
            est = HubPoseEstimator(str(det_dir), str(pose_dir), device=device, dtype=dtype,
                                   score_threshold=0.0).load()
            sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)

            def detect_only():
                with torch.inference_mode():
                    est._detect([image])

            rows = [("detector only (pre+fwd+post)", detect_only)]
            for k in (1, 3):
                def full(k=k):
                    est.max_people = k
                    assert len(est.estimate(image)) == k
                rows.append((f"estimate(), {k} person box{'es' if k > 1 else ''}", full))
            for label, fn in rows:
                ms = timed(fn, args.iters, args.warmup, sync)
                print(f"{device:6} {dtype:5} {label:34} {statistics.median(ms):10.1f} "
                      f"{min(ms):7.1f}..{max(ms):7.1f}", flush=True)
            del est
            if device == "cuda":
                torch.cuda.empty_cache()


if __name__ == "__main__":
    main()
