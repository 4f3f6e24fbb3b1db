"""The one path from a photo to its shots (shotcrop_core/pipeline.py): streaming, per-photo
errors, the landmark policy, the clearance for estimated landmarks, one set per person."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from shotcrop_core.errors import ShotCropError
from shotcrop_core.framing import FramingOptions, compose
from shotcrop_core.perception.given import load_keypoints
from shotcrop_core.pipeline import PeopleSource, Pipeline, people_source, write_result

DATA = Path(__file__).resolve().parent / "data"
KEYPOINTS = DATA / "person_keypoints.json"
ONE, FOUR, NOBODY_NAMED = "000000234748.jpg", "000000000790.jpg", "000000229358.jpg"


def test_results_stream_in_order_with_one_error_per_bad_photo(tmp_path):
    """Photos are read one at a time as results are taken (a generator is never drained ahead),
    and a bad photo is that photo's error, between good ones."""
    bad = tmp_path / "bad.jpg"
    bad.write_text("not an image")
    pulled: list[str] = []

    def photos():
        for p in (DATA / ONE, bad, DATA / FOUR):
            pulled.append(p.name)
            yield p

    pipe = Pipeline(people_source("keypoints", KEYPOINTS))
    seen = []
    for r in pipe.run(photos()):
        seen.append((r.index, Path(r.name).name, r.ok))
        assert len(pulled) == r.index + 1  # nothing decoded ahead of the consumer
        assert r.image is None  # pixels dropped once handed over (keep_images=False)
    assert seen == [(0, ONE, True), (1, "bad.jpg", False), (2, FOUR, True)]


def test_human_keypoints_frame_exactly_like_compose():
    coco = load_keypoints(KEYPOINTS)
    r = Pipeline(PeopleSource(coco), keep_images=True).run_all([DATA / FOUR])[0]
    img = Image.open(DATA / FOUR).convert("RGB")
    expected = compose(coco.people_for(FOUR, image_size=img.size), *img.size, image=img)
    assert r.ok and r.shots == expected and not r.estimated
    assert r.framing.joint_uncertainty == 0.0


def test_a_photo_the_file_does_not_name(tmp_path):
    # "keypoints": the file only: that photo's error names the file and how photos match.
    r = Pipeline(people_source("keypoints", KEYPOINTS)).run_all([DATA / NOBODY_NAMED])[0]
    assert not r.ok and f"no image named '{NOBODY_NAMED}'" in r.error
    assert str(KEYPOINTS) in r.error
    # An explicit source with nothing to stand in: the same error.
    r = Pipeline(PeopleSource(load_keypoints(KEYPOINTS), uncovered="estimate")).run_all(
        [DATA / NOBODY_NAMED])[0]
    assert not r.ok and "no image named" in r.error
    with pytest.raises(ShotCropError, match="uncovered must be"):
        PeopleSource(uncovered="guess")
    # "none" with a file: the file where it names the photo, nobody elsewhere (flagged fallback)
    r = Pipeline(people_source("none", KEYPOINTS)).run_all([DATA / NOBODY_NAMED, DATA / ONE])
    assert r[0].ok and r[0].shots.fallback and not r[1].shots.fallback


class _Counting:
    """A pose model standing in for BlazePose: returns fixed people and counts its calls."""

    name = "counting"

    def __init__(self, people):
        self.people, self.calls = people, 0

    def estimate(self, image):
        self.calls += 1
        return self.people


def test_auto_policy_estimates_only_photos_the_file_does_not_name():
    coco = load_keypoints(KEYPOINTS)
    stand_in = _Counting(coco.people_for(ONE))
    loads = []
    source = PeopleSource(coco, lambda: loads.append(1) or stand_in, uncovered="estimate")
    results = Pipeline(source).run_all([DATA / ONE, DATA / NOBODY_NAMED, DATA / FOUR])
    assert [r.ok for r in results] == [True, True, True]
    assert [r.estimated for r in results] == [False, True, False]
    assert stand_in.calls == 1 and loads == [1]  # loaded once, on first need
    note = "the keypoint file does not name this photo"
    assert [any(note in w for w in r.shots.warnings) for r in results] == [False, True, False]
    # estimated landmarks keep the edge clearance; human ones do not
    assert results[1].framing.joint_uncertainty == FramingOptions.ESTIMATED
    assert results[0].framing.joint_uncertainty == 0.0


def test_auto_without_a_pose_model_is_a_clear_per_photo_error():
    def no_torch():
        raise ShotCropError("the blazepose pose model needs PyTorch, which is not installed")

    source = PeopleSource(load_keypoints(KEYPOINTS), no_torch, uncovered="estimate")
    r = Pipeline(source).run_all([DATA / NOBODY_NAMED, DATA / ONE])
    assert not r[0].ok and "does not name this photo" in r[0].error and "PyTorch" in r[0].error
    assert r[1].ok


def test_pose_keypoint_frames_are_estimates_matched_by_position():
    people = load_keypoints(KEYPOINTS).people_for(FOUR)
    source = PeopleSource(frames=[people])
    img = Image.open(DATA / FOUR).convert("RGB")
    r = Pipeline(source).run_all([img, img])
    assert r[0].ok and r[0].estimated and r[0].name == "image 0"
    assert r[0].shots == compose(people, *img.size, FramingOptions(
        joint_uncertainty=FramingOptions.ESTIMATED), image=img)
    assert not r[1].ok and "1 frame(s) but this is image 1" in r[1].error


def test_in_memory_images_meet_the_file_rules():
    r = Pipeline().run_all([Image.new("RGB", (4, 4)), Image.new("L", (40, 30)), "x"])
    assert "image 0: the image is too small (4x4 pixels)" in r[0].error
    assert r[1].ok and r[1].shots.fallback  # greyscale converted; nobody: the flagged fallback
    assert not r[2].ok and "image not found" in r[2].error


def test_each_person_gives_one_result_per_person():
    coco = load_keypoints(KEYPOINTS)
    n = len(coco.people_for(FOUR))
    results = Pipeline(PeopleSource(coco), each_person=True).run_all([DATA / FOUR, DATA / ONE])
    assert [r.index for r in results] == [0] * n + [1]
    assert [r.person for r in results] == list(range(n)) + [0]
    assert [r.shots.subject.index for r in results[:n]] == list(range(n))
    with pytest.raises(ShotCropError, match="one shot set per person"):
        Pipeline(each_person=True, engine=object())


class _Engine:
    """The VLM engine protocol (options.batch_size, propose_with_answers): the framing engine's
    shots, with a batch that fails as a whole when it holds a 50x50 photo."""

    class options:
        batch_size = 4

    def __init__(self):
        self.batches = []

    def propose_with_answers(self, images, people, framing, keep_errors=False):
        self.batches.append(len(images))
        if any(im.size == (50, 50) for im in images):
            raise ShotCropError("the model's processor rejected a 50x50 photo")
        return [(compose(p, *im.size, o, image=im), None) for im, p, o in
                zip(images, people, framing)]


def test_a_photo_that_breaks_a_vlm_batch_fails_alone():
    engine = _Engine()
    photos = [Image.new("RGB", (64, 48)), Image.new("RGB", (50, 50)), Image.new("RGB", (80, 60))]
    results = Pipeline(engine=engine).run_all(photos)
    assert [r.ok for r in results] == [True, False, True]
    assert "50x50" in results[1].error
    assert engine.batches == [3, 1, 1, 1]  # one batch, then photo by photo


def test_a_photo_the_vlm_answer_cannot_be_repaired_for_fails_alone_without_regenerating():
    """The real VLM engine after `generate`: --subject 1 on a photo with one person is that
    photo's error; the other photos keep the answers of the one generate call."""
    pytest.importorskip("torch")
    from shotcrop_core.vlm.backend import GenerationOptions, VLMEngine

    answer = ('{"shots": [{"shot": "establishing", "bbox_2d": [0, 0, 1000, 1000], '
              '"description": "All."}, {"shot": "medium", "bbox_2d": [300, 200, 700, 800], '
              '"description": "Mid."}, {"shot": "close_up", "bbox_2d": [400, 200, 600, 450], '
              '"description": "Face."}]}')

    class Answering(VLMEngine):
        calls = 0

        def _generate(self, images, conversations):
            Answering.calls += 1
            return [(answer, im.size) for im in images]

    engine = Answering(type("L", (), {"family": "qwen3_vl"})(), GenerationOptions(batch_size=3))
    source = people_source("keypoints", KEYPOINTS)
    results = Pipeline(source, FramingOptions(subject_index=1), engine).run_all(
        [DATA / FOUR, DATA / ONE, DATA / FOUR])
    assert [r.ok for r in results] == [True, False, True]
    assert "subject index 1 is out of range" in results[1].error
    assert Answering.calls == 1
    assert results[0].raw is not None and results[0].shots.subject.index == 1


def test_write_result_turns_a_write_failure_into_that_photos_error(tmp_path):
    pipe = Pipeline(people_source("keypoints", KEYPOINTS), keep_images=True)
    r = write_result(next(pipe.run([DATA / ONE])), tmp_path / "out")
    assert r.ok and (tmp_path / "out" / "000000234748_preview.jpg").is_file()
    again = write_result(next(pipe.run([DATA / ONE])), tmp_path / "out")
    assert not again.ok and "already exists" in again.error
    saved = json.loads((tmp_path / "out" / "000000234748_shots.json").read_text())
    assert saved["shots"][0]["shot"] == "establishing"


def test_a_vlm_run_decodes_a_bounded_chunk_at_a_time():
    """Issue #12 drift 5 (train eval decoded every photo up front): with a VLM, photos are
    decoded CHUNK_BATCHES x batch_size at a time, however many there are."""
    from shotcrop_core.pipeline import CHUNK_BATCHES

    engine = _Engine()
    pulled = []

    def photos():
        for i in range(3 * CHUNK_BATCHES * engine.options.batch_size + 1):
            pulled.append(i)
            yield Image.new("RGB", (64, 48))

    chunk = CHUNK_BATCHES * engine.options.batch_size
    for r in Pipeline(engine=engine).run(photos()):
        assert len(pulled) <= (r.index // chunk + 1) * chunk
    assert engine.batches == [chunk, chunk, chunk, 1]


def test_perception_in_batches_gives_the_same_shots(tmp_path):
    """perception_batch=3 (one pose-model pass for the photos of a chunk, as on a GPU) gives the
    same shots as photo by photo, with a broken photo in the middle; with a keypoint file that
    names some photos, only the others go to the model, flagged as estimated."""
    pytest.importorskip("torch")
    from shotcrop_core.perception import load_estimator

    bad = tmp_path / "broken.jpg"
    bad.write_bytes(b"nope")
    photos = [DATA / NOBODY_NAMED, bad, DATA / FOUR, DATA / ONE]
    est = load_estimator("movenet", device="cpu")
    calls: list[int] = []
    real = est.estimate_batch

    def counted(images, *a):
        calls.append(len(images))
        return real(images, *a)

    est.estimate_batch = counted
    runs = {}
    try:
        for n in (1, 3):
            calls.clear()
            runs[n] = list(Pipeline(PeopleSource(estimator=est), perception_batch=n).run(photos))
            assert calls == ([1, 1, 1] if n == 1 else [3]), calls  # the 3 good photos, one pass
        calls.clear()
        src = PeopleSource(load_keypoints(DATA / "person_keypoints.json"), est,
                           uncovered="estimate")
        filed = list(Pipeline(src, perception_batch=3).run(photos))
        assert calls == [1]                                          # only the unnamed photo
    finally:
        del est.estimate_batch
    one, three = runs[1], runs[3]
    assert [r.index for r in three] == [0, 1, 2, 3] and not three[1].ok
    for a, b in zip(one, three):
        assert a.ok == b.ok and a.error == b.error
        if a.ok:  # batched convolutions reorder float sums: the same people to 0.01 px
            assert len(a.people) == len(b.people) and a.shots.subject == b.shots.subject
            for p, q in zip(a.people, b.people):
                np.testing.assert_allclose(p.keypoints, q.keypoints, atol=0.01)
    assert any("landmarks estimated by movenet" in w for w in filed[0].shots.warnings)
    assert not any("estimated by" in w for w in filed[2].shots.warnings)


def test_a_huge_jpeg_without_crops_is_decoded_reduced_and_framed_in_its_own_pixels(tmp_path):
    """A 5120 x 3400 JPEG, nothing to crop (images not kept): decoded at 1/2 scale (draft
    mode), the people scaled back, the shots in the photo's own pixels and within 1% of those
    framed on the full decode; turned by EXIF, the frame size turns too."""
    pytest.importorskip("torch")
    from shotcrop_core.imageio import load_image
    from shotcrop_core.perception import load_estimator

    src = Image.open(DATA / ONE).convert("RGB")
    big = tmp_path / "big.jpg"
    src.resize((5120, 3400), Image.BICUBIC).save(big, quality=92)
    loaded = load_image(big, draft=2048)
    assert loaded.full_size == (5120, 3400) and loaded.image.size == (2560, 1700)
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 on display
    turned = tmp_path / "turned.jpg"
    src.resize((5120, 3400)).save(turned, quality=92, exif=exif)
    t = load_image(turned, draft=2048)
    assert t.full_size == (3400, 5120) and t.image.size == (1700, 2560)

    est = load_estimator("movenet", device="cpu")
    reduced = next(Pipeline(PeopleSource(estimator=est)).run([big]))
    full = next(Pipeline(PeopleSource(estimator=est), keep_images=True).run([big]))
    assert (reduced.shots.width, reduced.shots.height) == (5120, 3400)
    assert reduced.shots.subject.box.rect[2] > 2560      # in the photo's pixels, not the decode's
    # The same people within 1% of the photo (the framing itself may pick another of two
    # near-equal compositions for a difference that small, so boxes are not compared).
    assert len(reduced.people) == len(full.people)
    for p, q in zip(reduced.people, full.people):
        ok = (p.keypoints[:, 2] > 0) & (q.keypoints[:, 2] > 0)
        assert ok.sum() >= 10
        assert np.abs(p.keypoints[ok, :2] - q.keypoints[ok, :2]).max() <= 0.01 * 5120
        assert np.abs(np.subtract(p.box, q.box)).max() <= 0.01 * 5120
