"""Stages 1 and 2 on CPU: TRL's SFTTrainer + LoRA on a tiny random-weight Qwen VL, on the test
photos with triples drafted by the COCO converter; checkpoints reload through the VLM backend.
Also the config loader (train/config.py) and the LoRA layer selection (train/lora.py)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

pytest.importorskip("torch")
pytest.importorskip("trl")
pytest.importorskip("peft")

from shotcrop_core.errors import ShotCropError  # noqa: E402
from shotcrop_core.train.config import (GrpoConfig, SftConfig, load_config,  # noqa: E402
                                        parse_overrides)
from shotcrop_core.train.lora import LoraSettings  # noqa: E402
from tiny_vlm import build_tiny_qwen3_vl, build_tiny_qwen25_vl  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def work(tmp_path_factory, data_dir):
    """A drafted TSC file of the test photos and a tiny Qwen3-VL."""
    from shotcrop_core.train.data import draft_from_coco

    root = tmp_path_factory.mktemp("sft")
    tsc = draft_from_coco(data_dir / "person_keypoints.json", data_dir, root / "tsc.json")
    return {"root": root, "tsc": tsc, "model": build_tiny_qwen3_vl(root / "qwen3")}


def _config(work, out, **extra) -> SftConfig:
    # Tiny budgets: two optimiser steps, LoRA without dropout, no warm-up (lr > 0 from step 1).
    base = {"model": str(work["model"]), "train_tsc": str(work["tsc"]), "output_dir": str(out),
            "max_steps": 2, "batch_size": 2, "grad_accum": 1, "learning_rate": 5e-3,
            "warmup": 0, "logging_steps": 1, "gradient_checkpointing": False,
            "max_length": 2048, "lora": {"r": 4, "alpha": 8, "dropout": 0.0}}
    return load_config(None, SftConfig, {**base, **extra})


def _weights(folder: Path) -> dict:
    from safetensors.torch import load_file

    return load_file(str(folder / "model.safetensors"))


@pytest.fixture(scope="module")
def stage1(work):
    from shotcrop_core.train.sft import run_sft

    out = work["root"] / "stage1"
    return out, run_sft(_config(work, out))


def test_stage1_cot_sft_trains_saves_and_reloads(work, stage1):
    from PIL import Image

    from shotcrop_core.shots import SHOT_NAMES, ShotSet
    from shotcrop_core.vlm.backend import GenerationOptions, VLMEngine
    from shotcrop_core.vlm.loading import load_vlm

    out, result = stage1
    assert result.steps == 2 and result.examples >= 2
    assert len(result.losses) == 2 and all(math.isfinite(v) and v > 0 for v in result.losses)
    assert math.isfinite(result.train_loss)
    # The adapter: peft safetensors only, and the run's settings next to it.
    assert (result.adapter / "adapter_model.safetensors").is_file()
    assert json.loads((result.adapter / "adapter_config.json").read_text())["r"] == 4
    assert json.loads((out / "train_config.json").read_text())["reasoning"] is True
    # The merged checkpoint: the adapter folded into the text decoder only.
    files = {p.name for p in result.merged.iterdir()}
    assert "model.safetensors" in files and not any(f.endswith((".bin", ".pt")) for f in files)
    before, after = _weights(work["model"]), _weights(result.merged)
    assert before.keys() == after.keys()  # no lora_* tensors left in the merged weights
    changed = {k for k in before if not before[k].equal(after[k])}
    assert changed and all("language_model" in k and "proj" in k for k in changed)
    # It loads through the VLM backend and proposes three shots (random weights: the backend
    # falls back to the framing engine, but the whole path runs).
    loaded = load_vlm(result.merged, device="cpu")
    assert loaded.family == "qwen3_vl"
    engine = VLMEngine(loaded, GenerationOptions(max_new_tokens=8))
    photo = Image.open(Path(work["tsc"]).parent / json.loads(
        Path(work["tsc"]).read_text())["samples"][0]["image"]).convert("RGB")
    [shots] = engine.propose([photo], [[]])
    assert isinstance(shots, ShotSet) and [s.name for s in shots] == list(SHOT_NAMES)


class FixedScores:
    """Scorers for run_pseudo (train/pseudo.py's protocols) that rate everything the same."""

    def similarity(self, images, texts):
        return [0.9] * len(images)

    def score(self, images, shots=None):
        return [0.8] * (3 if shots is not None else len(images))


@pytest.fixture(scope="module")
def pseudo_tsc(work, data_dir):
    """Stage 2a as the recipe runs it: run_pseudo on the test photos (framing-only candidates,
    every candidate passing), writing the TSC file stage 2 trains on."""
    from shotcrop_core.train.config import PseudoConfig, Thresholds
    from shotcrop_core.train.pseudo import Scorers, run_pseudo

    fixed = FixedScores()
    config = PseudoConfig(images=data_dir, out=work["root"] / "pseudo" / "pseudo.json", model=None,
                          keypoints=data_dir / "person_keypoints.json",
                          thresholds=Thresholds(clip=0, aesthetic=0, judge=0))
    result = run_pseudo(config, scorers=Scorers(fixed, fixed, fixed))
    assert result.tsc is not None and len(result.kept) == 3
    return result.tsc


def test_stage2_sft_trains_on_pseudo_labels_from_stage1_adapter(work, stage1, pseudo_tsc):
    from safetensors.torch import load_file

    from shotcrop_core.train.sft import run_sft

    first, _ = stage1
    out = work["root"] / "stage2"
    # Stage 2: the same trainer on run_pseudo's file, without think blocks, continuing stage 1.
    result = run_sft(_config(work, out, train_tsc=str(pseudo_tsc), max_steps=1, reasoning=False,
                             adapter=str(first), merge=False))
    assert result.examples == 3  # every kept pseudo-label
    assert result.merged is None and not (out / "merged").exists()
    assert math.isfinite(result.train_loss)
    a = load_file(str(first / "adapter" / "adapter_model.safetensors"))
    b = load_file(str(result.adapter / "adapter_model.safetensors"))
    assert a.keys() == b.keys() and any(not a[k].equal(b[k]) for k in a)  # it trained on
    assert json.loads((out / "train_config.json").read_text())["reasoning"] is False
    # A finished run is never overwritten silently.
    with pytest.raises(ShotCropError, match="force"):
        run_sft(_config(work, out, max_steps=1))


def test_adapter_on_its_own_merged_model_is_refused(work, stage1, tmp_path):
    """model: <stage1>/merged with adapter: <stage1> would apply stage 1 twice."""
    from shotcrop_core.train.lora import prepare_model, read_adapter_base
    from shotcrop_core.train.sft import run_sft

    first, _ = stage1
    assert read_adapter_base(first) == str(Path(work["model"]).resolve())  # absolute, any cwd
    with pytest.raises(ShotCropError) as e:
        prepare_model(first / "merged", LoraSettings(r=2), device="cpu", adapter=first)
    message = str(e.value)
    assert str(first / "adapter") in message and str(first / "merged") in message
    assert "applied twice" in message and f"model: {Path(work['model']).resolve()}" in message
    other = build_tiny_qwen3_vl(tmp_path / "other")
    with pytest.raises(ShotCropError, match="was trained on"):
        run_sft(_config(work, tmp_path / "o", model=str(other), adapter=str(first)))
    assert not (tmp_path / "o" / "adapter").exists()


@pytest.mark.parametrize("extra, message", [
    ({"batch_size": 0}, "batch_size must be at least 1"),
    ({"learning_rate": -1e-4}, "learning_rate must be a number > 0"),
    ({"device": "cuda:2"}, "CUDA_VISIBLE_DEVICES=2"),
    ({"max_length": 0}, "max_length must be at least 1"),
    ({"trainer_args": {"no_such_arg": 1}}, "SFTConfig does not know"),
])
def test_bad_sft_settings_fail_before_any_model_loads(work, tmp_path, extra, message):
    from shotcrop_core.train.sft import run_sft

    out = tmp_path / "o"
    with pytest.raises(ShotCropError, match=message):
        run_sft(_config(work, out, model=str(tmp_path / "no-model"), **extra))
    assert not out.exists()


def test_qwen25_vl_trains_one_step(work, tmp_path):
    """Qwen2.5-VL answers in pixels of the resized photo: its rows, collation and merge path."""
    from shotcrop_core.train.sft import run_sft
    from shotcrop_core.vlm.loading import load_vlm

    base = build_tiny_qwen25_vl(tmp_path / "q25")
    result = run_sft(_config(work, tmp_path / "run", model=str(base), max_steps=1))
    assert result.family == "qwen2_5_vl" and result.steps == 1
    assert math.isfinite(result.train_loss) and result.train_loss > 0
    loaded = load_vlm(result.merged, device="cpu")
    assert loaded.family == "qwen2_5_vl"
    # The default image_max_pixels (1 MP) never raises the processor's own smaller limit.
    assert loaded.processor.image_processor.size["longest_edge"] == 128 * 128


def test_loss_is_on_the_answer_only(work):
    """TRL's own VLM collator on our prompt-completion rows: the prompt (image tokens
    included) is masked, the labels are exactly the answer and the end-of-turn token."""
    from trl.trainer.sft_trainer import DataCollatorForVisionLanguageModeling

    from shotcrop_core.train.data import load_training_set
    from shotcrop_core.train.sft import sft_dataset, sft_rows
    from shotcrop_core.vlm.loading import load_vlm

    processor = load_vlm(work["model"], device="cpu").processor
    examples = load_training_set(work["tsc"])
    rows = sft_rows(examples, processor, "qwen3_vl", _config(work, work["root"] / "x"))
    batch = DataCollatorForVisionLanguageModeling(processor, completion_only_loss=True)(
        [dict(r) for r in sft_dataset(rows)])
    tok = processor.tokenizer
    image_id = tok.convert_tokens_to_ids("<|image_pad|>")
    assert (batch["input_ids"] == image_id).any()
    for ids, labels, row in zip(batch["input_ids"], batch["labels"], rows):
        kept = labels[labels != -100]
        assert image_id not in kept.tolist()
        text = tok.decode(kept)
        answer = row["completion"][0]["content"][0]["text"]
        assert text.startswith("<think>\n") and text.strip() == answer + "<|im_end|>"


def test_qwen25_rows_use_the_resized_pixels(tmp_path, work):
    from shotcrop_core.train.chat import resized_size
    from shotcrop_core.train.data import load_training_set
    from shotcrop_core.train.sft import sft_rows
    from shotcrop_core.train.trainer import limit_image_pixels
    from shotcrop_core.vlm.loading import load_vlm
    from shotcrop_core.vlm.parse import parse_answer

    processor = load_vlm(build_tiny_qwen25_vl(tmp_path / "q25"), device="cpu").processor
    limit_image_pixels(processor, 96 * 96)
    [ex, *_] = load_training_set(work["tsc"])
    w, h = resized_size(processor, (ex.sample.width, ex.sample.height))
    assert w * h <= 96 * 96
    [row, *_] = sft_rows([ex], processor, "qwen2_5_vl", _config(work, tmp_path / "o"))
    prompt = row["prompt"][1]["content"][1]["text"]
    assert f"{w}x{h} pixels" in prompt
    answer = row["completion"][0]["content"][0]["text"]
    parsed = parse_answer(answer, ex.sample.width, ex.sample.height, "qwen2_5_vl", (w, h))
    ref = ex.sample.annotations[0].shots["medium"].box
    assert parsed.boxes["medium"].iou(ref) > 0.9


def test_lora_targets_the_text_decoder_only(work):
    from shotcrop_core.train.lora import prepare_model, trainable_names

    model, _, _ = prepare_model(work["model"], LoraSettings(r=2), device="cpu")
    names = trainable_names(model)
    assert names and all("lora_" in n and "language_model" in n for n in names)
    assert {n.split(".lora_")[0].rsplit(".", 1)[1] for n in names} == set(LoraSettings().target_modules)
    model, _, _ = prepare_model(work["model"], LoraSettings(r=2, train_merger=True), device="cpu")
    vision = [n for n in trainable_names(model) if "visual" in n]
    assert vision and all("merger" in n for n in vision)


# -- configs -----------------------------------------------------------------------------------
def test_config_defaults_cap_the_photo_size():
    from shotcrop_core.train.config import TrainerSettings

    for cls in (SftConfig, GrpoConfig, TrainerSettings):
        assert cls(train_tsc="a", output_dir="o").image_max_pixels == 1024 * 1024


def test_config_files_and_overrides(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("# stage 1\ntrain_tsc: a.json\noutput_dir: out\nlearning_rate: 1e-4\n"
                    "lora:\n  r: 8\n  target_modules: [q_proj, v_proj]\n")
    c = load_config(path, SftConfig, ["lora.alpha=16", "max_steps=5", "split=null"])
    assert (c.lora.r, c.lora.alpha, c.lora.target_modules) == (8, 16, ("q_proj", "v_proj"))
    assert c.learning_rate == 1e-4 and c.max_steps == 5 and c.split is None
    js = tmp_path / "g.json"
    js.write_text(json.dumps({"train_tsc": "a", "output_dir": "o",
                              "reward_weights": {"iou": 2}, "rewards": ["iou", "format"]}))
    g = load_config(js, GrpoConfig, ["rewards=iou,format,nesting"])
    assert g.reward_weights == {"iou": 2.0} and g.rewards == ["iou", "format", "nesting"]
    assert parse_overrides(["a.b=1", "c=x y"]) == {"a": {"b": 1}, "c": "x y"}


@pytest.mark.parametrize("text, message", [
    ("train_tsc: a\noutput_dir: o\nlearnin_rate: 1\n", "unknown setting.*learnin_rate"),
    ("train_tsc: a\n", "required setting.*output_dir"),
    ("train_tsc: a\noutput_dir: o\nmax_steps: many\n", "max_steps must be an integer"),
    ("train_tsc: a\noutput_dir: o\nlora: 3\n", "lora must be a section"),
    ("train_tsc: a\noutput_dir: o\nlora: {rank: 3}\n", "lora: unknown setting.*rank"),
    ("- a\n- b\n", "must be a mapping"),
    ("train_tsc: [a\n", "not valid YAML"),
])
def test_bad_configs_name_the_file_and_key(tmp_path, text, message):
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(ShotCropError, match=message) as e:
        load_config(path, SftConfig)
    assert "bad.yaml" in str(e.value)


def test_missing_and_unsupported_config_files(tmp_path):
    with pytest.raises(ShotCropError, match="not found"):
        load_config(tmp_path / "nope.yaml", SftConfig)
    (tmp_path / "c.toml").write_text("x = 1")
    with pytest.raises(ShotCropError, match=".json, .yaml"):
        load_config(tmp_path / "c.toml", SftConfig)
    with pytest.raises(ShotCropError, match="--set"):
        parse_overrides(["max_steps"])

