"""`shotcrop train ...`: draft a TSC file, run the three training stages, compare checkpoints.

    shotcrop train draft --coco person_keypoints.json --images DIR --out tsc.json
    shotcrop train sft configs/train/stage1_cot_sft.yaml [--set key=value ...]
    shotcrop train pseudo pseudo.yaml [--set ...]            (PseudoConfig keys)
    shotcrop train grpo configs/train/stage3_grpo.yaml [--set ...]
    shotcrop train eval --checkpoint A --checkpoint B --tsc test.json [--keypoints F] [--report r.md]

Importing this module is cheap (argparse only): `shotcrop --help` never loads torch. Each command
prints one JSON line describing what it wrote on stdout; errors are one line on stderr, exit 2.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from dataclasses import asdict, is_dataclass
from pathlib import Path
from typing import Any

from ..errors import ShotCropError
from ..perception import PERCEPTIONS_OR_NONE

log = logging.getLogger("shotcrop")

STAGES = ("sft", "pseudo", "grpo")


def add_train_parser(sub) -> argparse.ArgumentParser:
    """The `train` sub-command and its own sub-commands, on `shotcrop`'s sub-parsers."""
    t = sub.add_parser("train", help="train the vision-language model (needs shotcrop[train])",
                       description="Training recipe: docs/training.md. Configs: configs/train/.")
    tsub = t.add_subparsers(dest="train_command", metavar="STEP")

    d = tsub.add_parser("draft", help="draft a TSC training file from COCO keypoints "
                        "(triples by the framing engine)")
    d.add_argument("--coco", required=True, metavar="FILE", help="COCO person_keypoints JSON")
    d.add_argument("--images", required=True, metavar="DIR", help="folder with those photos")
    d.add_argument("--out", required=True, metavar="TSC.json", help="TSC file to write")
    d.add_argument("--split", default="train", help="split of the drafted samples (train)")
    d.add_argument("--val-fraction", type=float, default=0.0, metavar="F",
                   help="put this share of the photos in split 'val' instead")
    d.add_argument("--force", action="store_true", help="overwrite an existing file")

    helps = {"sft": "stage 1 / 2: supervised fine-tuning (TRL SFTTrainer + LoRA)",
             "pseudo": "stage 2: pseudo-label unlabelled photos (writes a TSC file for sft)",
             "grpo": "stage 3: GRPO with the shot rewards (TRL GRPOTrainer + LoRA)"}
    for name in STAGES:
        p = tsub.add_parser(name, help=helps[name])
        p.add_argument("config", metavar="CONFIG", help="config file (.yaml or .json)")
        p.add_argument("--set", dest="overrides", action="append", default=[],
                       metavar="KEY=VALUE", help="override a setting, e.g. --set max_steps=10 "
                       "or --set lora.r=8 (repeatable; values parse as JSON)")

    e = tsub.add_parser("eval", help="score checkpoints on a TSC file and compare them")
    e.add_argument("--checkpoint", action="append", required=True, metavar="MODEL",
                   help="model folder, training output folder or Hub id (repeatable)")
    e.add_argument("--tsc", required=True, metavar="FILE", help="expert triples (TSC file)")
    e.add_argument("--keypoints", metavar="FILE", help="COCO keypoints: shot validity too")
    e.add_argument("--images", metavar="DIR", help="photo folder (default: next to the TSC file)")
    e.add_argument("--split", default="test", help="TSC split to score (default: test; 'all')")
    e.add_argument("--report", metavar="FILE.md", help="write the comparison as markdown")
    e.add_argument("--force", action="store_true", help="overwrite an existing report")
    e.add_argument("--perception", default="auto",
                   choices=PERCEPTIONS_OR_NONE,
                   help="landmarks for the grammar repair, as in shotcrop bench: auto = "
                        "--keypoints where it names the photo, else the built-in BlazePose")
    e.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N or mps")
    e.add_argument("--batch-size", type=int, default=8, help="photos per generate call")
    e.add_argument("--reasoning", action=argparse.BooleanOptionalAction, default=None,
                   help="let the models think first, or not (--no-reasoning); default: as "
                        "each run was trained (its train_config.json), else not")
    e.add_argument("--max-new-tokens", type=int, default=None, metavar="N",
                   help="answer token budget (default: the backend's)")
    t.set_defaults(train_parser=t)
    return t


def _print(result: Any) -> None:
    data = asdict(result) if is_dataclass(result) else result
    data = {k: v for k, v in (data or {}).items() if k != "log"}
    print(json.dumps(data, default=str), flush=True)


def cmd_draft(args) -> Any:
    from .data import draft_from_coco

    path = draft_from_coco(args.coco, args.images, args.out, split=args.split,
                           val_fraction=args.val_fraction, force=args.force)
    return {"tsc": str(path)}


def cmd_stage(args) -> Any:
    from .config import GrpoConfig, PseudoConfig, SftConfig, load_config
    from .lora import require_training_packages

    if args.train_command == "pseudo":
        from .pseudo import run_pseudo

        config = load_config(args.config, PseudoConfig, args.overrides)
        return run_pseudo(config)
    cls = SftConfig if args.train_command == "sft" else GrpoConfig
    config = load_config(args.config, cls, args.overrides)  # bad config: before heavy imports
    require_training_packages()
    if args.train_command == "sft":
        from .sft import run_sft

        return run_sft(config)
    from .grpo import run_grpo

    return run_grpo(config)


def cmd_evaluate(args) -> Any:
    from .evaluate import evaluate_checkpoints

    if args.report and Path(args.report).exists() and not args.force:
        raise ShotCropError(f"{args.report} exists; pass --force to overwrite it")
    report = evaluate_checkpoints(args.checkpoint, args.tsc,
                                  split=None if args.split == "all" else args.split,
                                  keypoints=args.keypoints, device=args.device,
                                  batch_size=args.batch_size, images_root=args.images,
                                  reasoning=args.reasoning, max_new_tokens=args.max_new_tokens,
                                  perception=args.perception)
    if args.report:
        log.info("report -> %s", report.write(args.report, force=args.force))
    log.info("\n%s", report.text())
    return report.to_dict()


def run_train(args) -> int:
    """Dispatch `shotcrop train STEP`; ShotCropErrors propagate to the CLI's one-line handler."""
    step = getattr(args, "train_command", None)
    if step is None:
        args.train_parser.print_help(sys.stderr)
        return 2
    handler = {"draft": cmd_draft, "eval": cmd_evaluate}.get(step, cmd_stage)
    try:
        result = handler(args)
    except ShotCropError:
        raise
    except ImportError as e:  # ModuleNotFoundError included
        raise ShotCropError(f"train {step}: {e}. Install ShotCrop's train extra, "
                            "shotcrop[train]") from e
    except Exception as e:  # (KeyboardInterrupt and SystemExit are not Exceptions: they pass)  # noqa: BLE001 - a library failure mid-run: one line, trace with -v
        log.debug("train %s failed", step, exc_info=True)
        raise ShotCropError(f"train {step} failed: {type(e).__name__}: "
                            f"{str(e).strip().splitlines()[0] if str(e).strip() else ''} "
                            "(run with -v for the traceback)") from e
    _print(result)
    return 0


__all__ = ["add_train_parser", "run_train"]
