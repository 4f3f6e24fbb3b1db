"""Training data: the COCO converter drafts a TSC file that the benchmark reader loads, and the
training loader rejects what training cannot use with one clear error per file."""

from __future__ import annotations

import json
import logging
import shutil

import pytest
from PIL import Image

from shotcrop_core.bench.tsc import load_tsc
from shotcrop_core.errors import ShotCropError
from shotcrop_core.shots import SHOT_NAMES
from shotcrop_core.train.chat import answer_text, sample_shots
from shotcrop_core.train.data import (TrainExample, draft_from_coco, load_training_set,
                                      people_for)
from shotcrop_core.vlm.parse import parse_answer

ANNOTATED = ["000000000790.jpg", "000000234748.jpg"]  # the photos person_keypoints.json names


@pytest.fixture
def drafted(tmp_path, data_dir):
    return draft_from_coco(data_dir / "person_keypoints.json", data_dir, tmp_path / "tsc.json")


def test_drafted_file_loads_and_its_triples_are_usable(drafted, data_dir):
    data = load_tsc(drafted)
    assert sorted(s.name for s in data.samples) == ANNOTATED  # the unannotated photo is left out
    for s in data.samples:
        assert s.split == "train"
        with Image.open(data_dir / s.name) as im:
            assert (s.width, s.height) == im.size
        shots = s.annotations[0].shots
        boxes = [shots[n].box for n in SHOT_NAMES]
        assert all(b.inside(s.width, s.height) for b in boxes)
        est, med, cu = boxes
        assert cu.area < med.area < est.area  # the engine's nesting
        assert all(shots[n].description.strip() for n in SHOT_NAMES)
        # reasoning measured from the keypoints, short enough for the think budget
        assert "Body lines" in s.reasoning and "eyes" in s.reasoning
        assert len(s.reasoning.split()) <= 150
        # and each triple survives the answer contract
        parsed = parse_answer(answer_text(sample_shots(s), s.width, s.height, "qwen3_vl"),
                              s.width, s.height, "qwen3_vl")
        assert parsed.problems == ()
    examples = load_training_set(drafted)
    assert [e.image_path for e in examples] == [(data_dir / s.name).resolve()
                                                for s in data.samples]
    assert all(isinstance(e, TrainExample) for e in examples)


def test_never_overwrites_without_force(drafted, data_dir):
    before = drafted.read_text()
    with pytest.raises(ShotCropError, match="already exists.*force"):
        draft_from_coco(data_dir / "person_keypoints.json", data_dir, drafted)
    drafted.write_text("{}")
    draft_from_coco(data_dir / "person_keypoints.json", data_dir, drafted, force=True)
    assert drafted.read_text() == before  # deterministic


def test_val_fraction_is_stable_per_photo(tmp_path, data_dir):
    kp = data_dir / "person_keypoints.json"
    a = load_tsc(draft_from_coco(kp, data_dir, tmp_path / "a.json", val_fraction=0.5))
    b = load_tsc(draft_from_coco(kp, data_dir, tmp_path / "b.json", val_fraction=0.5))
    assert [s.split for s in a.samples] == [s.split for s in b.samples]
    assert {s.split for s in a.samples} <= {"train", "val"}
    every = load_tsc(draft_from_coco(kp, data_dir, tmp_path / "c.json", split="test",
                                     val_fraction=0.999))
    assert {s.split for s in every.samples} == {"val"}
    with pytest.raises(ShotCropError, match="val_fraction"):
        draft_from_coco(kp, data_dir, tmp_path / "d.json", val_fraction=1.0)


def test_converter_errors_name_the_problem(tmp_path, data_dir, caplog):
    kp = data_dir / "person_keypoints.json"
    partial = tmp_path / "partial"
    partial.mkdir()
    shutil.copy(data_dir / ANNOTATED[0], partial)
    with pytest.raises(ShotCropError, match=r"1 of the 2 photos .* not in .*000000234748\.jpg"):
        draft_from_coco(kp, partial, tmp_path / "x.json")
    # a photo of another shape than the COCO file says: the keypoints belong elsewhere; it is
    # left out with a warning that says why, and the draft goes on with the other photo
    Image.new("RGB", (300, 300)).save(partial / ANNOTATED[1])
    with caplog.at_level(logging.WARNING, logger="shotcrop"):
        out = draft_from_coco(kp, partial, tmp_path / "x.json")
    assert [s.name for s in load_tsc(out).samples] == [ANNOTATED[0]]
    assert ANNOTATED[1] in caplog.text and "different shape" in caplog.text
    # when every photo is bad, nothing is written and the error lists why
    Image.new("RGB", (300, 300)).save(partial / ANNOTATED[0])
    with pytest.raises(ShotCropError, match="different shape"):
        draft_from_coco(kp, partial, tmp_path / "y.json")
    assert not (tmp_path / "y.json").exists()
    with pytest.raises(ShotCropError, match="not a COCO"):
        other = tmp_path / "mine.json"
        other.write_text(json.dumps({"image": "a.jpg", "people": [
            {"keypoints": [1.0] * 51, "box": [0, 0, 10, 10]}]}))
        draft_from_coco(other, data_dir, tmp_path / "z.json")
    with pytest.raises(ShotCropError, match="not found"):
        draft_from_coco(kp, tmp_path / "nowhere", tmp_path / "z.json")
    with pytest.raises(ShotCropError, match="keypoint file not found"):
        draft_from_coco(tmp_path / "none.json", data_dir, tmp_path / "z.json")


def _edit(path, fn):
    doc = json.loads(path.read_text())
    fn(doc["samples"])
    path.write_text(json.dumps(doc))


def test_loader_lists_every_problem_with_its_fix(drafted):
    def break_it(samples):
        samples[0]["image"] = "gone/000000000790.jpg"
        samples[1]["width"] += 10
        samples[1]["shots"]["medium"]["description"] = "  "

    _edit(drafted, break_it)
    with pytest.raises(ShotCropError) as e:
        load_training_set(drafted)
    msg = str(e.value)
    assert msg.startswith(f"{drafted}: 3 problem(s) for training")
    assert "sample 0 (gone/000000000790.jpg): image not found" in msg
    assert "say 650x425 but the upright image is 640x425" in msg
    assert "shot 'medium' has no description" in msg and "require_descriptions=False" in msg
    with pytest.raises(ShotCropError) as e:
        load_training_set(drafted, require_descriptions=False)
    assert "2 problem(s)" in str(e.value) and "description" not in str(e.value)


def test_loader_splits_roots_and_specks(drafted, tmp_path, data_dir):
    with pytest.raises(ShotCropError, match="no sample in split 'test' .*train"):
        load_training_set(drafted, split="test")
    assert len(load_training_set(drafted, split=None)) == 2
    # the same file elsewhere, images named by file name only: images_root finds them
    moved = tmp_path / "elsewhere" / "tsc.json"
    moved.parent.mkdir()
    moved.write_text(drafted.read_text())
    _edit(moved, lambda ss: [s.update(image=s["image"].rsplit("/", 1)[-1]) for s in ss])
    with pytest.raises(ShotCropError, match="image not found"):
        load_training_set(moved)
    assert len(load_training_set(moved, images_root=data_dir)) == 2

    def speck(samples):
        samples[0]["shots"]["close_up"]["box"] = [10, 10, 12, 40]

    _edit(moved, speck)
    with pytest.raises(ShotCropError, match="close_up box .* is a speck"):
        load_training_set(moved, images_root=data_dir)
    not_image = tmp_path / "broken.json"
    (tmp_path / "000000000790.jpg").write_bytes(b"not a jpeg")
    not_image.write_text(drafted.read_text())
    _edit(not_image, lambda ss: ss[0].update(image="000000000790.jpg"))
    with pytest.raises(ShotCropError, match="is not an image"):
        load_training_set(not_image)


def test_upright_size_follows_exif_rotation(tmp_path, data_dir):
    img = Image.open(data_dir / ANNOTATED[1])
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90: the upright photo is 425x640
    img.save(tmp_path / ANNOTATED[1], exif=exif)
    doc = {"format": "shotcrop-tsc", "version": 1, "samples": [
        {"image": ANNOTATED[1], "width": 425, "height": 640, "split": "train",
         "shots": {n: {"box": [0, 0, 425, 640], "description": "x"} for n in SHOT_NAMES}}]}
    (tmp_path / "r.json").write_text(json.dumps(doc))
    assert len(load_training_set(tmp_path / "r.json")) == 1


def test_people_for_reads_landmarks_given_alongside(drafted, data_dir):
    kp = data_dir / "person_keypoints.json"
    ex = load_training_set(drafted)
    people = people_for(ex[1], kp)
    assert len(people) == 1 and people[0].n_visible >= 10
    assert len(people_for(ex[0].sample, kp)) == 4
    assert people_for("000000229358.jpg", kp) is None  # not in the file: no landmarks
    assert people_for(ex[0], None) is None
