"""The default built-in perception (NanoDet people + MoveNet landmarks) against human labels.

Expected values come from the COCO annotations of tests/data (bounding boxes and keypoints
drawn by people), never from the code under test.
"""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("torch")

from shotcrop_core.bench.validity import pck  # noqa: E402
from shotcrop_core.boxmath import iou  # noqa: E402
from shotcrop_core.errors import ShotCropError  # noqa: E402
from shotcrop_core.imageio import load_image  # noqa: E402
from shotcrop_core.perception import DEFAULT_BACKEND, get_estimator  # noqa: E402
from shotcrop_core.perception.topdown import TopDownEstimator  # noqa: E402


@pytest.fixture(scope="module")
def est():
    return TopDownEstimator(device="cpu").load()


def _photos(data_dir, coco):
    return [(p, coco.people_for(p)) for p in sorted(data_dir.glob("*.jpg")) if coco.covers(p)]


def test_is_the_default(est):
    assert DEFAULT_BACKEND == "movenet"
    assert isinstance(get_estimator("movenet", device="cpu"), TopDownEstimator)


def test_finds_every_labelled_person_of_one_percent(est, data_dir, coco):
    """Each person the annotators boxed who covers >= 1% of the photo is found (IoU >= 0.5)."""
    for path, humans in _photos(data_dir, coco):
        img = load_image(path).image
        W, H = img.size
        found = est.estimate(img)
        for h in humans:
            x0, y0, x1, y1 = h.box
            if (x1 - x0) * (y1 - y0) < 0.01 * W * H:
                continue
            assert max((iou(h.box, p.box) for p in found), default=0) >= 0.5, (path.name, h.box)


def test_landmarks_of_the_subject_and_the_others(est, data_dir, coco):
    """PCK@0.1 against the labelled person each found one overlaps: the subject the framing
    picks from what was found (MoveNet Thunder) >= 0.8; everyone else labelled (Lightning for
    all but the most prominent) >= 0.6."""
    from shotcrop_core.subject import choose_subject, match_person

    for path, humans in _photos(data_dir, coco):
        img = load_image(path).image
        W, H = img.size
        found = [p for p in est.estimate(img) if p.n_visible]
        subject = found[choose_subject(found, W, H)]
        for p in found:
            k = match_person(p.box, humans, W, H)
            if k is None:
                continue
            score = pck(p, humans[k]) or 0.0
            assert score >= (0.8 if p is subject else 0.6), (path.name, p.box, score)


def test_batch_equals_one_by_one(est, data_dir):
    imgs = [load_image(p).image for p in sorted(data_dir.glob("*.jpg"))]
    together = est.estimate_batch(imgs)
    for img, people in zip(imgs, together):
        alone = est.estimate(img)
        assert len(alone) == len(people)
        for a, b in zip(alone, people):
            np.testing.assert_allclose(a.keypoints, b.keypoints, atol=0.1)  # batched sums reorder floats
            np.testing.assert_allclose(a.box, b.box, atol=0.1)


def test_nobody_in_a_plain_photo(est):
    from PIL import Image

    grad = np.linspace(0, 255, 640 * 3).reshape(1, -1, 3).repeat(400, axis=0) % 256
    assert est.estimate(Image.fromarray(grad.astype(np.uint8))) == []


def test_small_image_and_grey_and_rgba(est, data_dir):
    img = load_image(data_dir / "000000234748.jpg").image
    for im in (img.convert("L"), img.convert("RGBA"), img.resize((48, 32))):
        people = est.estimate(im)  # no error, people in source pixels
        for p in people:
            assert -1 <= p.box[0] <= p.box[2] <= im.size[0] + 1


def test_bad_device_is_one_clear_error():
    with pytest.raises(ShotCropError, match="device 'gpu9' is not valid"):
        TopDownEstimator(device="gpu9").load()


def test_precise_landmarks_for_the_most_prominent_person(data_dir):
    """precise=1 on a photo of four: the person the subject choice ranks first gets Thunder's
    landmarks (the same as a Thunder-only run), the others Lightning's (different, and in the
    same places within a few pixels)."""
    from shotcrop_core.subject import choose_subject

    img = load_image(data_dir / "000000000790.jpg").image
    mixed = TopDownEstimator(device="cpu", precise=1).estimate(img)
    fine = TopDownEstimator(device="cpu", precise=6).estimate(img)
    marked = [k for k, p in enumerate(mixed) if p.n_visible]
    assert len(marked) >= 3
    top = choose_subject(mixed, *img.size)
    for k in marked:
        if k == top:
            np.testing.assert_allclose(mixed[k].keypoints, fine[k].keypoints, atol=0.1)
            continue
        assert not np.allclose(mixed[k].keypoints, fine[k].keypoints, atol=0.1)
        both = (mixed[k].keypoints[:, 2] > 0) & (fine[k].keypoints[:, 2] > 0)
        d = np.hypot(*(mixed[k].keypoints[both, :2] - fine[k].keypoints[both, :2]).T)
        assert np.median(d) < 0.05 * max(fine[k].box_w, fine[k].box_h)


def test_the_users_subject_gets_the_precise_landmarks(data_dir):
    """--subject K picks a person the prominence ranks lower: that person gets Thunder's
    landmarks (as in a Thunder-only run) and the most prominent one Lightning's."""
    from shotcrop_core.subject import choose_subject

    img = load_image(data_dir / "000000000790.jpg").image
    fine = TopDownEstimator(device="cpu", precise=6).estimate(img)
    default = TopDownEstimator(device="cpu").estimate(img)
    top = choose_subject(default, *img.size)
    other = next(k for k, p in enumerate(default) if p.n_visible and k != top)
    chosen = TopDownEstimator(device="cpu").estimate(img, subject_index=other)
    np.testing.assert_allclose(chosen[other].keypoints, fine[other].keypoints, atol=0.1)
    assert not np.allclose(chosen[top].keypoints, fine[top].keypoints, atol=0.1)


def test_very_long_strips_are_fine(est):
    from PIL import Image

    for w, h in ((16, 14000), (14000, 16), (1, 1000)):
        assert est.estimate(Image.new("RGB", (w, h), (128, 128, 128))) == []
