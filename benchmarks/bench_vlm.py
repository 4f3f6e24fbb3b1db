"""GPU benchmark of the VLM engine: the real-size default architecture with random weights.

    python benchmarks/bench_vlm.py                 # on a CUDA machine
    python benchmarks/bench_vlm.py --tiny --device cpu   # smoke test of the script itself

Builds Qwen3-VL-4B-Instruct's architecture from its published config (36 text layers, hidden
2560, 24-block vision tower, vocab 151936) with random weights: same shapes, FLOPs and memory
traffic as the real checkpoint, so the timings are honest without the download. Prints
per-image latency alone, throughput at batch 8/16/32, peak GPU memory and tokens generated, in
bf16, without and with torch.compile. Random weights never stop early, so every answer is
`--tokens` long (default 240, a typical compact answer; see vlm/prompt.py).
Targets (issue #4): <= 0.8 s per image alone, >= 20 images/s batched on one H100.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

import torch  # noqa: E402
from PIL import Image  # noqa: E402

#: Qwen/Qwen3-VL-4B-Instruct's config.json (text and vision parts).
QWEN3_VL_4B = {
    "text": dict(hidden_size=2560, intermediate_size=9728, num_hidden_layers=36,
                 num_attention_heads=32, num_key_value_heads=8, head_dim=128, vocab_size=151936,
                 max_position_embeddings=262144, rms_norm_eps=1e-6, tie_word_embeddings=True,
                 rope_theta=5_000_000.0,
                 rope_scaling={"rope_type": "default", "mrope_section": [24, 20, 20],
                               "mrope_interleaved": True}),
    "vision": dict(depth=24, hidden_size=1024, intermediate_size=4096, num_heads=16,
                   patch_size=16, spatial_merge_size=2, temporal_patch_size=2,
                   out_hidden_size=2560, num_position_embeddings=2304,
                   deepstack_visual_indexes=[5, 11, 17], hidden_act="gelu_pytorch_tanh"),
}


def build(folder: Path, tiny: bool) -> Path:
    """Save a random-weight Qwen3-VL (real size unless tiny) with a small offline tokenizer."""
    from tiny_vlm import build_tiny_qwen3_vl

    build_tiny_qwen3_vl(folder)              # processor, tokenizer, chat template, tiny weights
    if tiny:
        return folder
    import json

    from transformers import Qwen3VLConfig, Qwen3VLForConditionalGeneration

    cfg = json.loads((folder / "config.json").read_text())
    text = {**cfg["text_config"], **QWEN3_VL_4B["text"]}
    vision = {**cfg["vision_config"], **QWEN3_VL_4B["vision"]}
    config = Qwen3VLConfig(**{**cfg, "text_config": text, "vision_config": vision})
    with torch.device("cuda" if torch.cuda.is_available() else "cpu"):
        model = Qwen3VLForConditionalGeneration(config).to(torch.bfloat16)
    model.save_pretrained(folder, safe_serialization=True)
    return folder


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--tiny", action="store_true", help="tiny model (checks the script only)")
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--tokens", type=int, default=240)
    ap.add_argument("--batches", default="8,16,32")
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        print("no CUDA GPU here: run this on a GPU machine (or --tiny --device cpu to smoke-test)")
        return
    from shotcrop_core.vlm.backend import GenerationOptions, VLMEngine
    from shotcrop_core.vlm.loading import load_vlm
    from shotcrop_core.vlm.prompt import build_messages

    photo = Image.open(ROOT / "examples" / "photo.jpg").convert("RGB").resize((1024, 768))
    gpu = torch.cuda.get_device_name(0) if args.device.startswith("cuda") else "cpu"
    print(f"device: {gpu}; torch {torch.__version__}; "
          f"{'tiny' if args.tiny else 'Qwen3-VL-4B architecture, random weights'}; "
          f"photo 1024x768; {args.tokens} new tokens per answer")
    with tempfile.TemporaryDirectory() as tmp:
        folder = build(Path(tmp) / "qwen3vl", args.tiny)
        for compiled in (False, True):
            loaded = load_vlm(str(folder), device=args.device,
                              dtype="bf16" if args.device.startswith("cuda") else "fp32")
            if compiled:
                try:
                    loaded.model.forward = torch.compile(loaded.model.forward, dynamic=True)
                except Exception as e:  # noqa: BLE001  (report, do not die: it is optional)
                    print(f"torch.compile unavailable: {e}")
                    continue
            label = "bf16 + compile" if compiled else "bf16"
            for bs in [1] + [int(b) for b in args.batches.split(",")]:
                eng = VLMEngine(loaded, GenerationOptions(max_new_tokens=args.tokens,
                                                          batch_size=bs))
                imgs = [photo] * bs
                convs = [build_messages(family=loaded.family)] * bs
                # One generate per batch, as the engine runs it (random answers would be
                # retried: the retry is not what is being timed).
                eng._generate(imgs, convs)            # warm-up (and compilation)
                if torch.cuda.is_available():
                    torch.cuda.synchronize()
                    torch.cuda.reset_peak_memory_stats()
                times = []
                for _ in range(args.repeat):
                    t0 = time.perf_counter()
                    eng._generate(imgs, convs)
                    if torch.cuda.is_available():
                        torch.cuda.synchronize()
                    times.append(time.perf_counter() - t0)
                t = statistics.median(times)
                mem = (f", peak {torch.cuda.max_memory_allocated() / 2**30:.1f} GiB"
                       if torch.cuda.is_available() else "")
                what = (f"{t:.3f} s per image alone" if bs == 1 else
                        f"{bs / t:.1f} images/s at batch {bs}")
                print(f"{label:15s} {what}; {bs * args.tokens} tokens in {t:.2f} s "
                      f"({bs * args.tokens / t:.0f} tok/s){mem}", flush=True)
            del loaded
            if torch.cuda.is_available():
                torch.cuda.empty_cache()


if __name__ == "__main__":
    main()
