"""Checkpoint evaluation: two tiny random-weight Qwen3-VL checkpoints run through the VLM backend
on the three test photos against a drafted TSC file, one comparison report."""

from __future__ import annotations

import json
import math

import pytest

pytest.importorskip("torch")

from PIL import Image  # noqa: E402

from shotcrop_core.errors import ShotCropError  # noqa: E402
from shotcrop_core.framing import compose  # noqa: E402
from shotcrop_core.train.data import draft_from_coco  # noqa: E402
from shotcrop_core.train.evaluate import evaluate_checkpoints, resolve_checkpoint  # noqa: E402
from tiny_vlm import build_tiny_qwen3_vl  # noqa: E402

NO_KEYPOINTS = "000000229358.jpg"  # the photo person_keypoints.json does not name

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def setup(tmp_path_factory, data_dir):
    root = tmp_path_factory.mktemp("eval")
    tsc = draft_from_coco(data_dir / "person_keypoints.json", data_dir, root / "tsc.json",
                          split="test")
    # the third photo: the framing engine's no-person triple, so all three photos are scored
    doc = json.loads(tsc.read_text())
    img = Image.open(data_dir / NO_KEYPOINTS).convert("RGB")
    shots = compose([], img.width, img.height, image=img)
    doc["samples"].append({"image": str(data_dir / NO_KEYPOINTS), "width": img.width,
                           "height": img.height, "split": "test",
                           "shots": {s.name: {"box": s.box.to_list(), "description": "x"}
                                     for s in shots}})
    tsc.write_text(json.dumps(doc))
    models = [build_tiny_qwen3_vl(root / f"seed{s}", seed=s) for s in (0, 1)]
    return tsc, models


def test_two_checkpoints_one_report(setup, data_dir):
    tsc, models = setup
    report = evaluate_checkpoints(models, tsc, split="test",
                                  keypoints=data_dir / "person_keypoints.json", device="cpu",
                                  batch_size=3, max_new_tokens=8)
    assert [r.checkpoint for r in report.results] == [str(m) for m in models]
    for r in report.results:
        assert r.photos == 3 and len(r.tsc.rows) == 3 and r.tsc.complete
        # random weights never answer usably: every photo falls back to the framing engine,
        # which on the human landmarks the drafts were made on gives the drafted triples again
        assert r.fallbacks == 3
        by_image = {row.image.rsplit("/", 1)[-1]: row for row in r.tsc.rows}
        for name, row in by_image.items():
            if name != NO_KEYPOINTS:
                assert row.mean_iou == pytest.approx(1.0) and row.mean_bde == pytest.approx(0.0)
        # the photo the keypoint file does not name gets the built-in BlazePose's landmarks
        # (the one policy of pipeline.people_source), not the drafted no-person triple
        assert by_image[NO_KEYPOINTS].mean_iou < 0.99
        assert r.raw.mean_iou == 0.0 and r.raw.mean_bde == 1.0  # no usable answer: worst
        assert r.validity is not None and r.validity.scored == 2  # photos with keypoints
        for v in r.row()[1:-2]:
            assert isinstance(v, float) and (math.isnan(v) or 0.0 <= v <= 1.0)
        assert r.seconds > 0
    md = report.markdown()
    lines = [ln for ln in md.splitlines() if ln.startswith("| ")]
    assert lines[0].startswith("| checkpoint | IoU establishing |")
    assert len(lines) == 3 and str(models[0]) in lines[1] and str(models[1]) in lines[2]
    assert "3/3" in lines[1] and "1.0000" in lines[1]
    assert "3 photos" in md and "split `test`" in md
    assert "checkpoint" in report.text().splitlines()[0]
    json.dumps(report.to_dict())  # serialisable for logs


def test_without_keypoints_validity_is_not_available(setup):
    tsc, models = setup
    report = evaluate_checkpoints(models[:1], tsc, split="test", device="cpu", batch_size=2,
                                  max_new_tokens=4)
    r = report.results[0]
    assert r.validity is None and r.fallbacks == 3
    assert "n/a" in report.markdown()
    # without keypoints the landmarks come from the built-in BlazePose, as in `shotcrop bench
    # --engine vlm`: framed with the clearance estimated landmarks keep, so not the drafts
    assert r.tsc.complete and all(row.mean_iou < 0.99 for row in r.tsc.rows)
    assert report.results[0].photos == 3


def test_usable_answers_are_scored_before_repair(setup, data_dir, monkeypatch):
    """The model's text replaced by the drafted answers (the engine and its parser stay real):
    no fallbacks, and the raw boxes score like the references."""
    from shotcrop_core.bench.tsc import load_tsc
    from shotcrop_core.train import evaluate as E
    from shotcrop_core.train.chat import answer_text, sample_shots

    tsc, models = setup
    by_size = {(s.width, s.height): answer_text(sample_shots(s), s.width, s.height, "qwen3_vl")
               for s in load_tsc(tsc).samples}
    assert len(by_size) == 3  # the three photos differ in size

    def generate(self, images, conversations):
        return [(by_size[im.size], im.size) for im in images]

    monkeypatch.setattr(E.VLMEngine, "_generate", generate)
    r = evaluate_checkpoints(models[:1], tsc, split="test", device="cpu").results[0]
    assert r.fallbacks == 0
    assert r.raw.mean_iou > 0.98 and r.raw.complete
    # Issue #12 drift 2: without keypoints the answers are repaired on the built-in
    # BlazePose's landmarks, as `shotcrop bench --engine vlm` does (it used to only conform
    # them to their aspects here): one checkpoint, one score.
    from shotcrop_core.bench.validity import run_bench
    from shotcrop_core.pipeline import load_engine

    lines: list[str] = []
    run_bench(data_dir, tsc=tsc, engine=load_engine("vlm", str(models[0]), device="cpu"),
              echo=lines.append)
    table = "\n".join(lines).split("TSC: IoU and BDE")[1]
    mean = next(ln for ln in table.splitlines() if ln.startswith("mean")).split()
    assert r.tsc.mean_iou == pytest.approx(float(mean[1]), abs=1e-4)
    assert r.tsc.mean_bde == pytest.approx(float(mean[2]), abs=1e-4)
    assert r.tsc.mean_iou < 0.98  # the repair moved the model's boxes: this is not the raw run


def test_checkpoint_folders_and_bad_input(tmp_path, setup):
    out = tmp_path / "run"
    (out / "merged").mkdir(parents=True)
    (out / "merged" / "config.json").write_text("{}")
    (out / "train_config.json").write_text(json.dumps({"reasoning": True, "aspects": "4:5",
                                                       "learning_rate": 1e-4}))
    for ref in (out, out / "merged"):  # the run folder or its merged folder: same settings
        ck = resolve_checkpoint(ref)
        assert ck.model == str(out / "merged") and ck.adapter is None
        assert ck.settings == {"reasoning": True, "aspects": "4:5"}
    (out / "train_config.json").write_text("{not json")
    with pytest.raises(ShotCropError, match="train_config.json is not valid JSON"):
        resolve_checkpoint(out)
    ad = tmp_path / "ad"
    ad.mkdir()
    (ad / "adapter_config.json").write_text("{}")
    with pytest.raises(ShotCropError, match="no adapter_model.safetensors"):
        resolve_checkpoint(ad)
    (ad / "adapter_model.safetensors").write_bytes(b"")
    with pytest.raises(ShotCropError, match="names no base model"):
        resolve_checkpoint(ad)
    hub = resolve_checkpoint("Qwen/Qwen3-VL-4B-Instruct")
    assert (hub.model, hub.adapter, hub.settings) == ("Qwen/Qwen3-VL-4B-Instruct", None, {})
    tsc, _ = setup
    with pytest.raises(ShotCropError, match="no checkpoint"):
        evaluate_checkpoints([], tsc)
    with pytest.raises(ShotCropError, match="no sample in split 'train'"):
        evaluate_checkpoints(["x"], tsc, split="train")


THINK = "First think step by step"


def test_each_checkpoint_is_asked_as_it_was_trained(setup, tmp_path, monkeypatch):
    """Stage 1 thinks, stages 2-3 answer directly: each run's train_config.json decides,
    and an explicit argument overrides it for all."""
    from shotcrop_core.bench.tsc import load_tsc
    from shotcrop_core.train import evaluate as E
    from shotcrop_core.train.chat import answer_text, sample_shots

    tsc, _ = setup
    runs = {}
    for name, settings in (("cot", {"reasoning": True, "aspects": None}),
                           ("direct", {"reasoning": False, "aspects": "1:1"})):
        build_tiny_qwen3_vl(tmp_path / name / "merged")
        (tmp_path / name / "train_config.json").write_text(json.dumps(settings))
        runs[name] = tmp_path / name
    by_size = {(s.width, s.height): answer_text(sample_shots(s), s.width, s.height, "qwen3_vl")
               for s in load_tsc(tsc).samples}
    asked = []

    def generate(self, images, conversations):
        asked.append((self.options.reasoning, json.dumps(conversations)))
        return [(by_size[im.size], im.size) for im in images]

    monkeypatch.setattr(E.VLMEngine, "_generate", generate)
    report = evaluate_checkpoints([runs["cot"], runs["direct"]], tsc, split="test", device="cpu")
    (cot, cot_text), (direct, direct_text) = asked
    assert cot and THINK in cot_text and "1:1 (width:height)" not in cot_text
    assert not direct and THINK not in direct_text and "1:1 (width:height)" in direct_text
    assert [(r.reasoning, r.aspects) for r in report.results] == [(True, None), (False, "1:1")]
    assert "think, then answer" in report.markdown() and "aspects 1:1" in report.markdown()
    asked.clear()
    evaluate_checkpoints([runs["cot"], runs["direct"]], tsc, split="test", device="cpu",
                         reasoning=False, aspects="4:5")
    assert [r for r, _ in asked] == [False, False]
    assert all(THINK not in t and "4:5 (width:height)" in t for _, t in asked)


def test_adapter_only_run_is_merged_in_memory(setup, tmp_path):
    """A run saved with merge: false: its adapter goes onto the base it names, merged in memory,
    and the VLM backend runs on that."""
    pytest.importorskip("trl")
    pytest.importorskip("peft")
    from safetensors.torch import load_file

    from shotcrop_core.train.config import SftConfig, load_config
    from shotcrop_core.train.evaluate import load_checkpoint
    from shotcrop_core.train.sft import run_sft

    tsc, models = setup
    out = tmp_path / "run"
    run_sft(load_config(None, SftConfig, {
        "model": str(models[0]), "train_tsc": str(tsc), "split": "test", "output_dir": str(out),
        "max_steps": 1, "batch_size": 3, "grad_accum": 1, "learning_rate": 5e-3, "warmup": 0,
        "gradient_checkpointing": False, "merge": False, "reasoning": True, "device": "cpu",
        "lora": {"r": 4, "alpha": 8, "dropout": 0.0}}))
    assert not (out / "merged").exists()
    ck = resolve_checkpoint(out)
    assert ck.adapter == out / "adapter" and ck.model == str(models[0].resolve())
    assert ck.settings["reasoning"] is True
    loaded = load_checkpoint(ck, device="cpu")
    merged = {k: v for k, v in loaded.model.state_dict().items()}
    assert not any("lora_" in k for k in merged)
    base = load_file(str(models[0] / "model.safetensors"))
    changed = {k for k in base if not base[k].equal(merged[k])}
    assert changed and all("language_model" in k and "proj" in k for k in changed)
    report = evaluate_checkpoints([out], tsc, split="test", device="cpu", batch_size=3,
                                  max_new_tokens=4)
    [r] = report.results
    assert r.adapter and r.reasoning and r.photos == 3 and r.tsc.complete
    assert "adapter merged in memory" in report.markdown()


def test_photos_are_decoded_a_batch_at_a_time(setup, data_dir, tmp_path, monkeypatch):
    """Issue #12 drift 5: eval used to decode every photo of the split before the first
    generate; now the pipeline decodes CHUNK_BATCHES x batch_size at a time."""
    import shutil

    from shotcrop_core import imageio
    from shotcrop_core.pipeline import CHUNK_BATCHES
    from shotcrop_core.train import evaluate as E

    _, models = setup
    names = [f"p{i}.jpg" for i in range(CHUNK_BATCHES + 2)]
    samples = []
    for n in names:
        shutil.copy(data_dir / "000000234748.jpg", tmp_path / n)
        samples.append({"image": n, "width": 640, "height": 425, "split": "test", "shots": {
            "establishing": {"box": [96, 40, 640, 400], "description": "x"},
            "medium": {"box": [240, 110, 420, 290], "description": "x"},
            "close_up": {"box": [270, 125, 360, 200], "description": "x"}}})
    tsc = tmp_path / "tsc.json"
    tsc.write_text(json.dumps({"format": "shotcrop-tsc", "version": 1, "samples": samples}))
    decoded, seen_at_generate = [], []
    load = imageio.load_image
    monkeypatch.setattr(imageio, "load_image", lambda p, *a: decoded.append(p) or load(p, *a))

    def generate(self, images, conversations):
        seen_at_generate.append(len(decoded))
        return [("no answer", im.size) for im in images]

    monkeypatch.setattr(E.VLMEngine, "_generate", generate)
    r = evaluate_checkpoints(models[:1], tsc, split="test", device="cpu", batch_size=1,
                             perception="none").results[0]
    assert r.photos == len(names) and r.fallbacks == len(names)
    assert len(decoded) == len(names) and seen_at_generate[0] == CHUNK_BATCHES
