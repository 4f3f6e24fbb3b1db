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
from shotcrop_core.train.evaluate import checkpoint_folder, evaluate_checkpoints  # noqa: E402
from tiny_vlm import build_tiny_qwen3_vl  # noqa: E402

NO_KEYPOINTS = "000000229358.jpg"  # the photo person_keypoints.json does not name


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
        # which on the same landmarks reproduces the drafted triples exactly
        assert r.fallbacks == 3
        assert r.tsc.mean_iou == pytest.approx(1.0) and r.tsc.mean_bde == pytest.approx(0.0)
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
    # no landmarks: the no-person fallback is drafted the same way only for the third photo
    assert r.tsc.rows[-1].mean_iou == pytest.approx(1.0)


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

    monkeypatch.setattr(E.RecordingEngine, "_generate", generate)
    r = evaluate_checkpoints(models[:1], tsc, split="test", device="cpu").results[0]
    assert r.fallbacks == 0
    assert r.raw.mean_iou > 0.98 and r.raw.complete
    assert r.tsc.mean_iou > 0.98  # already in the photo's aspect: conform keeps them


def test_checkpoint_folders_and_bad_input(tmp_path, setup):
    out = tmp_path / "run"
    (out / "merged").mkdir(parents=True)
    (out / "merged" / "config.json").write_text("{}")
    assert checkpoint_folder(out) == str(out / "merged")
    (tmp_path / "ad").mkdir()
    (tmp_path / "ad" / "adapter_config.json").write_text("{}")
    with pytest.raises(ShotCropError, match="LoRA adapter only"):
        checkpoint_folder(tmp_path / "ad")
    assert checkpoint_folder("Qwen/Qwen3-VL-4B-Instruct") == "Qwen/Qwen3-VL-4B-Instruct"
    tsc, _ = setup
    with pytest.raises(ShotCropError, match="no checkpoint"):
        evaluate_checkpoints([], tsc)
    with pytest.raises(ShotCropError, match="no sample in split 'train'"):
        evaluate_checkpoints(["x"], tsc, split="train")
