"""`shotcrop train ...`: draft -> sft (in a fresh interpreter, offline, from a YAML config) ->
eval on the trained checkpoint; bad configs and missing extras are one clear line, exit 2."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from conftest import ROOT, offline_env
from shotcrop_core.cli import main

ROOT_ARGS = [sys.executable, "-m", "shotcrop_core"]


def _run(args, env=None, timeout=300):
    env = env or {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run(ROOT_ARGS + [str(a) for a in args], capture_output=True, text=True,
                          env=env, timeout=timeout)


def test_help_stays_light():
    code = ("import sys; from shotcrop_core.cli import build_parser; build_parser(); "
            "print(sorted(m for m in ('torch', 'transformers', 'trl', 'peft', 'datasets') "
            "if m in sys.modules))")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                       env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert r.returncode == 0 and r.stdout.strip() == "[]", r.stderr
    r = _run(["train", "sft", "--help"])
    assert r.returncode == 0 and "--set KEY=VALUE" in r.stdout


@pytest.mark.parametrize("config, message", [
    ("train_tsc: a.json\noutput_dir: out\nlearning_rte: 0.1\n", "unknown setting(s) learning_rte"),
    (None, "Config file not found"),
])
def test_bad_config_is_one_line_exit_2(tmp_path, config, message):
    path = tmp_path / "stage.yaml"
    if config is not None:
        path.write_text(config)
    r = _run(["train", "sft", path], timeout=60)
    assert r.returncode == 2
    assert message in r.stderr and "Traceback" not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1 and r.stdout == ""


def test_missing_training_extras_say_how_to_install(monkeypatch):
    import importlib.util

    from shotcrop_core.errors import ShotCropError
    from shotcrop_core.train.lora import require_training_packages

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name in ("trl", "peft") else real(name, *a))
    with pytest.raises(ShotCropError, match=r"trl, peft: install ShotCrop's train extra, shotcrop\[train\]"):
        require_training_packages()


def test_draft_sft_eval_end_to_end(tmp_path, data_dir, capsys, one_torch_thread):
    pytest.importorskip("trl")
    pytest.importorskip("peft")
    from tiny_vlm import build_tiny_qwen3_vl

    # draft: a TSC file from the COCO keypoints of the test photos
    tsc = tmp_path / "tsc.json"
    assert main(["train", "draft", "--coco", str(data_dir / "person_keypoints.json"),
                 "--images", str(data_dir), "--out", str(tsc)]) == 0
    assert json.loads(capsys.readouterr().out) == {"tsc": str(tsc)}
    assert main(["train", "draft", "--coco", str(data_dir / "person_keypoints.json"),
                 "--images", str(data_dir), "--out", str(tsc)]) == 2  # never overwritten

    # sft: a YAML config (the shipped recipe's keys) in a fresh, offline interpreter
    model = build_tiny_qwen3_vl(tmp_path / "model")
    out = tmp_path / "stage1"
    config = tmp_path / "stage1.yaml"
    config.write_text(f"model: {model}\ntrain_tsc: {tsc}\noutput_dir: {out}\n"
                      "reasoning: true\nbatch_size: 2\ngrad_accum: 1\nwarmup: 0\n"
                      "gradient_checkpointing: false\nlora:\n  r: 4\n  alpha: 8\n")
    env = {**offline_env(tmp_path / "hf"), "OMP_NUM_THREADS": "1"}
    r = _run(["train", "sft", config, "--set", "max_steps=1", "--set", "max_length=2048"],
             env=env)
    assert r.returncode == 0, r.stderr[-3000:]
    summary = json.loads(r.stdout.strip().splitlines()[-1])
    assert summary["steps"] == 1 and summary["merged"] == str(out / "merged")
    assert (out / "adapter" / "adapter_model.safetensors").is_file()

    # eval: the training output folder stands for its merged checkpoint
    report = tmp_path / "report.md"
    assert main(["train", "eval", "--checkpoint", str(out), "--tsc", str(tsc), "--split", "train",
                 "--keypoints", str(data_dir / "person_keypoints.json"), "--report", str(report),
                 "--device", "cpu", "--batch-size", "2", "--max-new-tokens", "8"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert [r["checkpoint"] for r in result["results"]] == [str(out)]
    assert "IoU mean" in report.read_text()


def test_shipped_recipe_configs_load():
    from pathlib import Path

    from shotcrop_core.train.config import GrpoConfig, SftConfig, load_config
    from shotcrop_core.train.rewards import reward_functions

    folder = Path(__file__).resolve().parents[1] / "configs" / "train"
    stage1 = load_config(folder / "stage1_cot_sft.yaml", SftConfig)
    stage2 = load_config(folder / "stage2_pseudo_sft.yaml", SftConfig)
    stage3 = load_config(folder / "stage3_grpo.yaml", GrpoConfig)
    assert stage1.reasoning and stage1.model == "Qwen/Qwen3-VL-4B-Instruct"
    assert stage2.model == stage1.output_dir + "/merged"
    assert stage3.model == stage2.output_dir + "/merged" and stage3.num_generations == 8
    assert (stage3.batch_size * stage3.grad_accum) % stage3.num_generations == 0
    for c in (stage1, stage2, stage3):
        assert c.dtype == "auto" and c.lora.r == 16 and c.lora.freeze_vision
        assert c.device == "auto" and c.image_max_pixels == 1048576
        c.check()  # the settings a run checks before loading a model
    assert stage3.perception == "auto" and stage3.aesthetic_file == "model.safetensors"
    funcs, _ = reward_functions(stage3.rewards, stage3.reward_weights, aesthetic=object())
    assert len(funcs) == 6
    from shotcrop_core.train.config import PseudoConfig

    labels = load_config(folder / "stage2_pseudo_labels.yaml", PseudoConfig)
    assert str(labels.out) == stage2.train_tsc and labels.model == stage1.output_dir + "/merged"
    from shotcrop_core.models import DEFAULT_JUDGE

    # the judge is not the stage-1 model grading its own samples
    assert labels.judge == DEFAULT_JUDGE != labels.model and labels.thresholds.clip == 0.70


def test_pseudo_step_reads_its_own_config(tmp_path, capsys):
    path = tmp_path / "pseudo.yaml"
    path.write_text(f"images: {tmp_path}\n")  # no `out`
    assert main(["train", "pseudo", str(path)]) == 2
    assert "set out" in capsys.readouterr().err
    path.write_text(f"images: {tmp_path}\nout: {tmp_path / 'p.json'}\nthreshold: {{}}\n")
    assert main(["train", "pseudo", str(path)]) == 2
    out, err = capsys.readouterr()
    assert out == "" and "unknown setting(s) threshold" in err


def test_eval_reasoning_defaults_to_each_runs_own_setting():
    """No flag: None, so evaluate reads each run's train_config.json; the flag forces it."""
    from shotcrop_core.cli import build_parser

    p = build_parser()
    base = ["train", "eval", "--checkpoint", "A", "--tsc", "t.json"]
    assert p.parse_args(base).reasoning is None
    assert p.parse_args(base + ["--reasoning"]).reasoning is True
    assert p.parse_args(base + ["--no-reasoning"]).reasoning is False
