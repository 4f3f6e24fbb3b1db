"""GPU benchmark of training: LoRA SFT and GRPO steps on the real-size Qwen3-VL-4B architecture.

    python benchmarks/bench_train.py                    # on a CUDA machine
    python benchmarks/bench_train.py --tiny             # CPU smoke test of the script itself

Builds Qwen3-VL-4B-Instruct's architecture with random weights through bench_vlm.build (same
shapes, FLOPs and memory as the real checkpoint; no download), then runs ShotCrop's own stages,
`train.sft.run_sft` and `train.grpo.run_grpo` (TRL SFTTrainer / GRPOTrainer, LoRA r=16 on the
text decoder, bf16, gradient checkpointing), on the test photos upscaled to --side pixels wide
with triples drafted from their COCO keypoints. Prints per optimiser step: median time, peak GPU
memory, tokens, and the extrapolated time per 1k steps.

Caveats, all on the pessimistic side: random weights never emit the end-of-turn token, so every
GRPO completion runs to max_completion_length; generation is transformers' `generate` (TRL's
vLLM mode is faster); the first step (CUDA warm-up, allocator growth) is not counted. The
tokenizer is the tiny test tokenizer, which splits ShotCrop's prompt into about as many tokens
as Qwen's (its corpus holds the prompt text); the token counts printed are the ones trained on.
"""

from __future__ import annotations

import argparse
import gc
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))
sys.path.insert(0, str(ROOT / "tests"))

import torch  # noqa: E402
from transformers import TrainerCallback  # noqa: E402

from bench_vlm import build  # noqa: E402  (the real-size random-weight Qwen3-VL-4B builder)

DATA = ROOT / "tests" / "data"


class StepTimer(TrainerCallback):
    """Wall time of each optimiser step (CUDA synchronised)."""

    def __init__(self) -> None:
        self.times: list[float] = []
        self._t0 = 0.0

    @staticmethod
    def _sync() -> None:
        if torch.cuda.is_available():
            torch.cuda.synchronize()

    def on_step_begin(self, args, state, control, **kwargs):
        self._sync()
        self._t0 = time.perf_counter()

    def on_step_end(self, args, state, control, **kwargs):
        self._sync()
        self.times.append(time.perf_counter() - self._t0)


def photos(folder: Path, side: int) -> Path:
    """The test photos resized to `side` pixels wide (the COCO keypoints scale with them)."""
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    for path in DATA.glob("*.jpg"):
        im = Image.open(path).convert("RGB")
        im.resize((side, round(im.height * side / im.width)), Image.BICUBIC).save(folder / path.name)
    return folder


def replicate(tsc: Path, copies: int) -> Path:
    """The TSC file with each photo `copies` times (copied files: basenames stay unique), so a
    GRPO generation batch finds enough distinct prompts. Copies have no COCO landmarks."""
    import shutil

    doc = json.loads(tsc.read_text())
    samples = []
    for s in doc["samples"]:
        path = (tsc.parent / s["image"]).resolve()
        samples.append(s)
        for i in range(1, copies):
            copy = path.with_name(f"copy{i}_{path.name}")
            shutil.copyfile(path, copy)
            samples.append({**s, "image": str(copy)})
    doc["samples"] = samples
    out = tsc.with_name("replicated.json")
    out.write_text(json.dumps(doc))
    return out


def reset_memory() -> None:
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()


def peak_gib() -> float:
    return torch.cuda.max_memory_allocated() / 2**30 if torch.cuda.is_available() else float("nan")


def report(name: str, timer: StepTimer, extra: str, budget: dict) -> dict:
    measured = timer.times[1:] or timer.times  # the first step warms up
    t = statistics.median(measured)
    hours = t * 1000 / 3600
    mem = peak_gib()
    shown = f"{mem:.1f} GiB" if mem == mem else "n/a (CPU)"
    print(f"{name}: {t:.2f} s per optimiser step (median of {len(measured)}; first "
          f"{timer.times[0]:.2f} s), peak GPU memory {shown}, ~{hours:.1f} h per 1k steps; "
          f"{extra}", flush=True)
    return {"step_s": t, "first_step_s": timer.times[0], "steps_timed": len(measured),
            "peak_gib": mem, "hours_per_1k_steps": hours, **budget}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--tiny", action="store_true", help="tiny model on CPU (checks the script)")
    ap.add_argument("--steps", type=int, default=4, help="optimiser steps per stage (first = warm-up)")
    ap.add_argument("--side", type=int, default=1280, help="photo width in pixels")
    ap.add_argument("--max-pixels", type=int, default=1024 * 1024, help="image_max_pixels")
    ap.add_argument("--sft-batch", type=int, default=4)
    ap.add_argument("--sft-accum", type=int, default=4)
    ap.add_argument("--grpo-batch", type=int, default=8, help="completions per micro-batch")
    ap.add_argument("--grpo-accum", type=int, default=4)
    ap.add_argument("--generations", type=int, default=8)
    ap.add_argument("--completion", type=int, default=384, help="max_completion_length")
    ap.add_argument("--json", metavar="FILE", help="also write the numbers as JSON")
    args = ap.parse_args()
    import logging

    logging.basicConfig(level=logging.INFO, format="%(levelname)s: %(message)s")
    if args.tiny:
        args.steps, args.side, args.max_pixels = min(args.steps, 2), 320, 128 * 128
        args.sft_batch, args.sft_accum, args.grpo_batch, args.grpo_accum = 2, 1, 4, 1
        args.generations, args.completion = 2, 8
    elif not torch.cuda.is_available():
        print("no CUDA GPU here: run this on a GPU machine (or --tiny to smoke-test on CPU)")
        return
    if args.tiny:
        torch.set_num_threads(1)  # tiny matrices: threads only add overhead
    from shotcrop_core.train.config import GrpoConfig, SftConfig, load_config
    from shotcrop_core.train.data import draft_from_coco
    from shotcrop_core.train.grpo import run_grpo
    from shotcrop_core.train.sft import run_sft

    device = "cpu" if args.tiny else "cuda"
    gpu = torch.cuda.get_device_name(0) if device == "cuda" else "cpu"
    what = "tiny Qwen3-VL" if args.tiny else "Qwen3-VL-4B architecture, random weights"
    print(f"device: {gpu}; torch {torch.__version__}; {what}; LoRA r=16 on the text decoder; "
          f"photos {args.side} px wide, image_max_pixels {args.max_pixels}", flush=True)
    results: dict = {"device": gpu, "model": what, "torch": torch.__version__}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        model = build(tmp / "model", args.tiny)
        images = photos(tmp / "photos", args.side)
        tsc = replicate(draft_from_coco(DATA / "person_keypoints.json", images, tmp / "tsc.json"),
                        copies=8)
        common = {"model": str(model), "train_tsc": str(tsc), "device": device,
                  "dtype": "fp32" if args.tiny else "bf16", "max_steps": args.steps,
                  "warmup": 0, "logging_steps": 1, "image_max_pixels": args.max_pixels,
                  "gradient_checkpointing": not args.tiny, "merge": False}

        reset_memory()
        timer = StepTimer()
        sft = run_sft(load_config(None, SftConfig, {
            **common, "output_dir": str(tmp / "sft"), "batch_size": args.sft_batch,
            "grad_accum": args.sft_accum, "reasoning": True, "max_length": 4096}),
            callbacks=[timer])
        tokens = [h["num_tokens"] for h in sft_log(tmp / "sft")]  # cumulative, per step
        per_step = tokens[-1] / len(tokens)
        results["sft"] = report(
            "SFT (stage 1/2)", timer,
            f"{args.sft_batch} x {args.sft_accum} examples per step, ~{per_step:.0f} tokens per step",
            {"batch": args.sft_batch, "grad_accum": args.sft_accum, "tokens_per_step": per_step,
             "loss": sft.losses})

        reset_memory()
        timer = StepTimer()
        grpo = run_grpo(load_config(None, GrpoConfig, {
            **common, "output_dir": str(tmp / "grpo"), "batch_size": args.grpo_batch,
            "grad_accum": args.grpo_accum, "num_generations": args.generations,
            "max_completion_length": args.completion, "keypoints": str(DATA / "person_keypoints.json"),
            "beta": 0.04}), callbacks=[timer])
        completions = args.grpo_batch * args.grpo_accum
        results["grpo"] = report(
            "GRPO (stage 3)", timer,
            f"{completions} completions per step ({completions // args.generations} photos x "
            f"{args.generations}), {args.completion} new tokens each",
            {"batch": args.grpo_batch, "grad_accum": args.grpo_accum,
             "num_generations": args.generations, "max_completion_length": args.completion,
             "reward": grpo.reward})
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2) + "\n")


def sft_log(out: Path) -> list[dict]:
    log = json.loads((out / "train_result.json").read_text())["log"]
    return [h for h in log if "num_tokens" in h]


if __name__ == "__main__":
    main()
