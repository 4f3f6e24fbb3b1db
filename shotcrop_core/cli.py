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
from .model_options import ATTENTIONS, DTYPES, QUANTIZATIONS
from .batch import PREVIEWS
from .perception import PERCEPTIONS

log = logging.getLogger("shotcrop")



def _add_framing_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--aspect", default=None, metavar="SPEC",
                   help="aspect per shot, e.g. establishing=16:9,medium=4:5,close_up=1:1, or one "
                        "aspect for all (original, free, 1:1, 4:5, 3:4, 2:3, 9:16, 16:9, 4:3, "
                        "3:2, 21:9 or any W:H); default: the photo's own")
    p.add_argument("--sheet", default=None, metavar="LAYOUT:WxH",
                   help="frame each shot at its panel's aspect on this contact sheet, e.g. "
                        "triptych:1920x832 (optionally :GUTTER:MARGIN; layouts: triptych, "
                        "poster, stack), instead of --aspect")
    p.add_argument("--beyond-photo", action="store_true",
                   help="let a shot that cannot keep the grammar inside the photo at its aspect "
                        "reach past the photo's edges (the padding is for outpainting)")
    p.add_argument("--beyond-max", type=_share, default=0.5, metavar="SHARE",
                   help="with --beyond-photo: the farthest past each side, as a share of the "
                        "photo (default 0.5)")
    p.add_argument("--subject", type=int, default=None, metavar="INDEX",
                   help="build the shots around this person (0-based, in perception order)")
    p.add_argument("--subject-hint", default=None, metavar="WORD",
                   help="choose the subject by position: largest, left, right, center")
    p.add_argument("--perception", choices=PERCEPTIONS, default="auto",
                   help="where body landmarks come from for the photos --keypoints does not "
                        "name (every photo without it): 'auto' and 'movenet' (built in, no "
                        "download: NanoDet finds the people, MoveNet Thunder their joints), "
                        "'blazepose' (built in, the first generation: needs a visible face), "
                        "'vitpose' (RT-DETR + ViTPose from the Hugging Face Hub, "
                        "downloaded once); 'keypoints': none, such a photo is an error. For "
                        "bench, a model named here is what gets scored (--keypoints is then "
                        "only the ground truth)")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N or mps")


def _share(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError(f"must be a share of the photo from 0 to 1 (e.g. 0.5), "
                                         f"got {text!r}")
    return value


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
    v.add_argument("--dtype", default="auto", help=", ".join(DTYPES))
    v.add_argument("--attention", default="sdpa", help=", ".join(ATTENTIONS))
    v.add_argument("--quantization", default=None, choices=QUANTIZATIONS,
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
    c.add_argument("images", nargs="*", metavar="IMAGE",
                   help="photos, folders (their image files, sorted) or globs ('shoot/*.jpg')")
    c.add_argument("--list", metavar="FILE",
                   help="a text file of photo paths, one a line ('-': read them from stdin)")
    c.add_argument("--workers", type=int, default=None, metavar="N",
                   help="photos composed in parallel (default: one per CPU core, one per 32 "
                        "photos at most; a VLM engine always runs in one process); with --ray: "
                        "the actors (default: one per GPU, or per CPU of the cluster)")
    c.add_argument("--resume", action="store_true",
                   help="skip photos whose output files are all there already")
    c.add_argument("--preview", choices=PREVIEWS, default="jpg",
                   help="the preview with the boxes drawn: jpg (default, long side at most "
                        "1600 px), png, or none")
    c.add_argument("--keypoints", metavar="FILE",
                   help="body keypoints: COCO person_keypoints JSON (matched by file name), "
                        "ComfyUI POSE_KEYPOINT JSON (matched by position) or ShotCrop JSON")
    c.add_argument("--out", default="shotcrop_out", metavar="DIR",
                   help="output folder (default: shotcrop_out)")
    c.add_argument("--json", action="store_true",
                   help="print one JSON object per image per line on stdout")
    c.add_argument("--force", action="store_true", help="overwrite existing output files")
    c.add_argument("--caption", default=None, metavar="TEXT",
                   help="what a captioner says of the photos (Florence2, JoyCaption, a tagger): "
                        "its subject, action and setting go into the shots' descriptions")
    c.add_argument("--captions", default=None, metavar="FILE",
                   help='one caption per photo: JSON lines {"image": path or file name, '
                        '"caption": text} (--caption covers the photos it does not name)')
    c.add_argument("--outpaint-fill", default="edge", metavar="edge|COLOUR",
                   help="how a shot reaching past the photo (--beyond-photo) is padded: 'edge' "
                        "repeats the photo's edge pixels (default), or a colour such as #808080; "
                        "its mask, white on the padding, is written as <photo>_<shot>_outpaint.png")
    c.add_argument("--outpaint-feather", type=int, default=0, metavar="PX",
                   help="soften the outpaint mask this many pixels into the photo (default 0)")
    c.add_argument("--no-files", action="store_true", help="write nothing; with --json to pipe")
    r = c.add_argument_group("on a Ray cluster (the scale extra: shotcrop[scale])")
    r.add_argument("--ray", default=None, metavar="ADDRESS",
                   help="compose on Ray: 'local' (a cluster of this machine), 'auto' (the "
                        "cluster this machine belongs to) or the head's address (host:6379, "
                        "ray://host:10001). IMAGE may then also be a Parquet, CSV or JSON-lines "
                        "listing or an s3:// / gs:// URI; --out must be a folder every node "
                        "reaches; the shot sets also go to OUT/shots.jsonl")
    r.add_argument("--column", default=None, metavar="NAME",
                   help="the listing's column of photo paths or URIs (default: image, path, "
                        "uri, url, file, filename or image_path, or its only column)")
    r.add_argument("--records", choices=("jsonl", "parquet"), default="jsonl",
                   help="with --ray: also write OUT/shots.parquet when the run ends (default: "
                        "OUT/shots.jsonl only)")
    r.add_argument("--gpus-per-worker", type=float, default=None, metavar="N",
                   help="with --ray: GPUs per actor (default 1 when the cluster has GPUs and "
                        "a model runs; 0.25 packs four pose-model actors on one GPU)")
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


def _framing(args):
    from .aspect import parse_aspect_spec
    from .framing import FramingOptions
    from .layout import Sheet

    if args.sheet and args.aspect:
        raise ShotCropError("give --aspect or --sheet, not both: a sheet sets each shot's "
                            "aspect to its panel's")
    aspects = Sheet.parse(args.sheet).aspects() if args.sheet else parse_aspect_spec(args.aspect)
    return FramingOptions(aspects=aspects, subject_index=args.subject,
                          subject_hint=args.subject_hint,
                          beyond_photo=args.beyond_max if args.beyond_photo else 0.0)


def _engine_spec(args):
    from .pipeline import EngineSpec

    options = None
    if args.engine != "framing":
        from .vlm.backend import GenerationOptions

        options = GenerationOptions(intent=args.intent, reasoning=args.reasoning,
                                    seed=args.seed, batch_size=args.batch_size,
                                    compile=args.compile, max_new_tokens=args.max_new_tokens)
    return EngineSpec(args.engine, args.model, options, device=args.device, dtype=args.dtype,
                      attention=args.attention, quantization=args.quantization,
                      revision=args.revision)


def _engine(args):
    return None if args.engine == "framing" else _engine_spec(args).load()


def _captions(args):
    from .captions import Captions

    if args.captions:
        return Captions.load(args.captions, args.caption)
    return Captions(args.caption) if args.caption else None


def cmd_compose(args) -> int:
    from .batch import ComposeRun, compose_many, count_inputs, default_workers, expand_inputs
    from .progress import progress_stream

    if not args.images and not args.list:
        raise ShotCropError("give photos, a folder or a glob, or --list FILE")
    if args.resume and args.no_files:
        raise ShotCropError("--resume skips photos whose files are written: it has no meaning "
                            "with --no-files")
    if args.workers is not None and args.workers < 1:
        raise ShotCropError(f"--workers {args.workers}: give 1 or more")
    out = Path(args.out)
    if not args.no_files and out.exists() and not out.is_dir():
        raise ShotCropError(f"output folder {out} is a file: choose another --out folder")
    run = ComposeRun(out=str(out), perception=args.perception, keypoints=args.keypoints,
                     device=args.device, framing=_framing(args), force=args.force,
                     write=not args.no_files, preview=args.preview, resume=args.resume,
                     outpaint=args.outpaint_fill, feather=args.outpaint_feather,
                     captions=_captions(args))
    if args.ray:
        from .scale.driver import compose_on_ray

        # Ray Data reports the progress; results come as they are done, not in input order.
        outcomes = compose_on_ray(run, args.images, args.list, address=args.ray,
                                  engine=_engine_spec(args) if args.engine != "framing" else None,
                                  workers=args.workers, gpus_per_worker=args.gpus_per_worker,
                                  column=args.column, records=args.records)
    else:
        for flag in ("column", "gpus_per_worker"):
            if getattr(args, flag) is not None:
                raise ShotCropError(f"--{flag.replace('_', '-')} is for runs on Ray: add --ray")
        if args.records != "jsonl":
            raise ShotCropError("--records parquet is for runs on Ray: add --ray")
        total = count_inputs(args.images, args.list)  # a bad folder, glob or list stops us
        engine = _engine(args)
        workers = args.workers or default_workers(total)
        outcomes = progress_stream(
            compose_many(run, expand_inputs(args.images, args.list), workers, engine=engine),
            total, desc="composing", unit="photo")
    failed = done = skipped = 0
    for r in outcomes:
        done += 1
        if r.skipped:
            skipped += 1
            log.info("%s: outputs already there, skipped (--resume)", r.name)
            continue
        if not r.ok:
            failed += 1
            # Most messages name the file already: say it once.
            log.error("%s", r.error if r.name in r.error else f"{r.name}: {r.error}")
            if args.json:
                print(json.dumps({"image": r.name, "error": r.error}), flush=True)
            continue
        for w in r.shots.all_warnings:
            log.warning("%s: %s", r.name, w)
        if args.json:
            print(r.shots.to_json(image=r.name), flush=True)
        elif not args.no_files:
            log.info("%s -> %s", r.name, out)
    if skipped:
        log.info("%d of %d photo(s) skipped: their outputs were there (--resume)", skipped, done)
    if failed:
        log.error("%d of %d image(s) failed", failed, done)
    return 1 if failed else 0


def cmd_bench(args) -> int:
    from .bench.validity import run_bench
    from .models import DEFAULT_VLM

    return run_bench(args.images, keypoints=args.keypoints, tsc=args.tsc, report=args.report,
                     force=args.force, perception=args.perception, device=args.device,
                     framing=_framing(args), engine=lambda: _engine(args),
                     engine_name=f"{args.engine} model {args.model or DEFAULT_VLM}",
                     engine_kind=args.engine)


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
        log.error("interrupted: the files already written stay; with compose, run the same "
                  "command with --resume to skip the photos already done")
        return 130


if __name__ == "__main__":
    sys.exit(main())
