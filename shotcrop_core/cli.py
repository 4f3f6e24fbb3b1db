"""`shotcrop` command line: compose shots for photos, and benchmark them.

Start-up stays light: torch and transformers are imported only when a model runs, so composing
with given keypoints starts in well under a second.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

from . import __version__
from .errors import ShotCropError

log = logging.getLogger("shotcrop")

PERCEPTIONS = ("auto", "keypoints", "blazepose", "vitpose")


def _add_framing_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--aspect", default=None, metavar="SPEC",
                   help="aspect per shot, e.g. establishing=16:9,medium=4:5,close_up=1:1, or one "
                        "aspect for all (original, free, 1:1, 4:5, 3:4, 2:3, 9:16, 16:9, 4:3, "
                        "3:2, 21:9 or any W:H); default: the photo's own")
    p.add_argument("--subject", type=int, default=None, metavar="INDEX",
                   help="build the shots around this person (0-based, in perception order)")
    p.add_argument("--subject-hint", default=None, metavar="WORD",
                   help="choose the subject by position: largest, left, right, center")
    p.add_argument("--perception", choices=PERCEPTIONS, default="auto",
                   help="where body landmarks come from: 'keypoints' (--keypoints FILE), "
                        "'blazepose' (built in, no download), 'vitpose' (RT-DETR + ViTPose "
                        "from the Hugging Face Hub, downloaded once); 'auto' uses --keypoints "
                        "when given, else blazepose")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N or mps")


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a whole number >= 1, got {text!r}")
    return value


def _add_engine_args(p: argparse.ArgumentParser) -> None:
    """Who proposes the shots: the framing engine or a Qwen VL model (compose and bench alike)."""
    v = p.add_argument_group("vision-language model (--engine vlm)")
    v.add_argument("--engine", choices=("framing", "vlm", "vllm"), default="framing",
                   help="'framing': the shot-grammar engine on body landmarks (default); 'vlm': "
                        "a Qwen VL model proposes and describes the shots, the grammar repairs "
                        "them; 'vllm': the same through vLLM (large batches, all GPUs)")
    v.add_argument("--model", default=None, metavar="REPO_OR_FOLDER",
                   help="Hub repo id or local folder of a Qwen3-VL / Qwen2.5-VL model "
                        "(default: shotcrop_core.models.DEFAULT_VLM)")
    v.add_argument("--revision", default=None, help="pin the model's Hub revision")
    v.add_argument("--intent", default=None, metavar="TEXT",
                   help="what the shots should focus on, e.g. 'the product in her hand'")
    v.add_argument("--reasoning", action="store_true", help="let the model think before answering")
    v.add_argument("--seed", type=int, default=None, help="sample with this seed (default: greedy)")
    v.add_argument("--batch-size", type=_positive_int, default=8, help="photos per generate call")
    v.add_argument("--compile", action="store_true", help="torch.compile the model (GPU batches)")
    v.add_argument("--dtype", default="auto", help="auto, bf16, fp16 or fp32")
    v.add_argument("--attention", default="sdpa", help="sdpa, flash_attention_2 or eager")
    v.add_argument("--quantization", default=None, choices=("8bit", "4bit"),
                   help="bitsandbytes quantization (CUDA only, when installed)")
    v.add_argument("--max-new-tokens", type=_positive_int, default=None, metavar="N",
                   help="most tokens per model answer (default: the prompt's budget, larger "
                        "with --reasoning)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="shotcrop", description="Turn a photo of people into an establishing, a medium and "
        "a close-up shot.")
    parser.add_argument("--version", action="version", version=f"shotcrop {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="more log output")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    c = sub.add_parser("compose", help="write the three crops and a preview for each photo")
    c.add_argument("images", nargs="+", metavar="IMAGE")
    c.add_argument("--keypoints", metavar="FILE",
                   help="body keypoints: COCO person_keypoints JSON (matched by file name), "
                        "ComfyUI POSE_KEYPOINT JSON (matched by position) or ShotCrop JSON")
    c.add_argument("--out", default="shotcrop_out", metavar="DIR",
                   help="output folder (default: shotcrop_out)")
    c.add_argument("--json", action="store_true",
                   help="print one JSON object per image per line on stdout")
    c.add_argument("--force", action="store_true", help="overwrite existing output files")
    c.add_argument("--no-files", action="store_true", help="write nothing; with --json to pipe")
    _add_framing_args(c)
    _add_engine_args(c)

    b = sub.add_parser("bench", help="score shots against human keypoints or expert boxes")
    b.add_argument("--images", required=True, metavar="DIR", help="folder with the photos")
    b.add_argument("--keypoints", metavar="COCO.json",
                   help="human COCO keypoints: shot validity is scored against them")
    b.add_argument("--tsc", metavar="FILE", help="expert triples (docs/tsc-format.md): IoU, BDE")
    b.add_argument("--report", metavar="FILE.md", help="also write the tables as markdown")
    b.add_argument("--force", action="store_true", help="overwrite an existing report")
    _add_framing_args(b)
    _add_engine_args(b)

    from .train.cli import add_train_parser  # argparse only: no torch at --help

    add_train_parser(sub)
    return parser


def _make_estimator(args, keypoints):
    """The landmark source for this run: given keypoints, or a pose model."""
    from .perception import choose_estimator

    return choose_estimator(args.perception, keypoints is not None, args.device)


def _people(loaded, index, keypoints, estimator):
    if estimator is None:
        return keypoints.people_for(loaded.path, index, image_size=loaded.size)
    return estimator.estimate(loaded.image)


def _framing_options(args, estimator):
    """The grammar's options from the command line; estimated landmarks get a safety margin."""
    from .aspect import parse_aspect_spec
    from .framing import FramingOptions

    return FramingOptions(aspects=parse_aspect_spec(args.aspect),
                          subject_index=args.subject, subject_hint=args.subject_hint,
                          joint_uncertainty=0.0 if estimator is None else
                          FramingOptions.ESTIMATED)


def cmd_compose(args) -> int:
    from .aspect import parse_aspect_spec
    from .perception.given import load_keypoints

    parse_aspect_spec(args.aspect)  # a bad spec fails before any model loads
    out = Path(args.out)
    if not args.no_files and out.exists() and not out.is_dir():
        raise ShotCropError(f"output folder {out} is a file: choose another --out folder")
    keypoints = load_keypoints(args.keypoints) if args.keypoints else None
    engine = _make_vlm(args) if args.engine in ("vlm", "vllm") else None
    estimator = _make_estimator(args, keypoints)
    options = _framing_options(args, estimator)
    from .progress import progress

    run = _Run(args, out, keypoints, estimator, options)
    if engine is None:
        for i, path in enumerate(progress(run.paths, desc="composing", unit="photo")):
            prepared = run.prepare(i, path)
            if prepared is not None:
                run.emit(path, *prepared, _compose_one(prepared, options))
    else:
        for path, prepared, shots, _ in _propose_chunks(engine, run.paths, run.prepare, options,
                                                        "composing"):
            run.emit(path, *prepared, shots)
    if run.failed:
        log.error("%d of %d image(s) failed", run.failed, len(args.images))
    return 1 if run.failed else 0


def _propose_chunks(engine, paths, prepare, options, desc: str):
    """(path, (loaded, people), shots, seconds per photo) for each photo `prepare(i, path)`
    accepts (it returns None for one it skips), the model reading them in batches."""
    import time

    from .progress import progress

    # A bounded chunk keeps decoded photos in memory; the engine batches within it.
    chunk = max(engine.options.batch_size, 1) * 4
    for start in progress(range(0, len(paths), chunk), desc=desc, unit="batch"):
        ready = [(path, p) for i, path in enumerate(paths[start:start + chunk], start)
                 if (p := prepare(i, path)) is not None]
        if not ready:
            continue
        t0 = time.perf_counter()
        shots = engine.propose([p[0].image for _, p in ready], [p[1] for _, p in ready], options)
        seconds = (time.perf_counter() - t0) / len(ready)
        for (path, p), s in zip(ready, shots):
            yield path, p, s, seconds


def _compose_one(prepared, options):
    from .framing import compose

    loaded, people = prepared
    return compose(people, loaded.width, loaded.height, options, image=loaded.image)


class _Run:
    """One compose run: per-photo loading, landmarks and output, each failure on its own."""

    def __init__(self, args, out: Path, keypoints, estimator, options) -> None:
        self.args, self.out, self.keypoints, self.estimator = args, out, keypoints, estimator
        self.options = options
        self.paths = list(args.images)
        self.failed = 0

    def _fail(self, path, e: ShotCropError) -> None:
        self.failed += 1
        msg = str(e)  # most messages name the file already: say it once
        log.error("%s", msg if str(path) in msg else f"{path}: {msg}")
        if self.args.json:
            print(json.dumps({"image": str(path), "error": str(e)}), flush=True)

    def prepare(self, i: int, path):
        from .imageio import load_image

        try:
            loaded = load_image(path)
            return loaded, _people(loaded, i, self.keypoints, self.estimator)
        except ShotCropError as e:
            self._fail(path, e)
            return None

    def emit(self, path, loaded, people, shots) -> None:
        from .export import write_outputs

        try:
            if not self.args.no_files:
                write_outputs(loaded, shots, self.out, force=self.args.force, people=people)
            for w in shots.all_warnings:
                log.warning("%s: %s", path, w)
            if self.args.json:
                print(shots.to_json(image=str(path)), flush=True)
            elif not self.args.no_files:
                log.info("%s -> %s", path, self.out)
        except ShotCropError as e:
            self._fail(path, e)


def _make_vlm(args):
    """Load the vision-language model once for the whole run."""
    from .models import DEFAULT_VLM
    from .vlm.backend import GenerationOptions, VLMEngine

    options = GenerationOptions(intent=args.intent, reasoning=args.reasoning, seed=args.seed,
                                batch_size=args.batch_size, compile=args.compile,
                                max_new_tokens=args.max_new_tokens)
    if args.engine == "vllm":
        from .vlm.vllm_engine import VLLMEngine, load_vllm

        model = load_vllm(args.model or DEFAULT_VLM, revision=args.revision, dtype=args.dtype,
                          seed=args.seed or 0)
        # vLLM schedules its own batches: hand it a large chunk of photos at once.
        return VLLMEngine(model, GenerationOptions(**{**options.__dict__, "compile": False,
                                                      "batch_size": max(args.batch_size, 64)}))
    from .vlm.loading import load_vlm

    loaded = load_vlm(args.model or DEFAULT_VLM, device=args.device, dtype=args.dtype,
                      attention=args.attention, quantization=args.quantization,
                      revision=args.revision)
    return VLMEngine(loaded, options)


def cmd_bench(args) -> int:
    from .bench.validity import run_bench

    if not args.keypoints and not args.tsc:
        raise ShotCropError("bench needs --keypoints COCO.json (shot validity) and/or --tsc FILE")
    return run_bench(args)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(levelname)s: %(message)s", stream=sys.stderr, force=True)
    if args.command is None:
        parser.print_help(sys.stderr)
        return 2
    try:
        if args.command == "train":
            from .train.cli import run_train

            return run_train(args)
        return cmd_compose(args) if args.command == "compose" else cmd_bench(args)
    except ShotCropError as e:
        log.error("%s", e)
        return 2
    except KeyboardInterrupt:
        log.error("interrupted")
        return 130


if __name__ == "__main__":
    sys.exit(main())
