import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shotcrop_core import (SHOT_NAMES, Box, FramingOptions, Person, Shot, ShotCropError, ShotSet,
                           compose, refine)
from shotcrop_core import grammar as G
from shotcrop_core.anatomy import measure
from shotcrop_core.aspect import ASPECTS, aspect_ratio

from people import standing


def boxes_of(s: ShotSet):
    return {x.name: tuple(float(v) for v in x.box.to_list()) for x in s}


def test_single_person_meets_the_grammar():
    p = standing()
    s = compose([p], 640, 520)
    rep = G.check_set(boxes_of(s), measure(p), 640, 520)
    assert rep.all_three, rep.failures
    assert s.subject.index == 0 and not s.fallback
    assert all(x.description for x in s)
    assert not s.all_warnings


@pytest.mark.parametrize("aspect", ["1:1", "4:5", "16:9", "2:3", "free", "3:2"])
def test_aspects_hold_and_grammar_kept(aspect):
    p = standing(cx=500, top=80, h=500)
    s = compose([p], 1000, 700, FramingOptions.from_spec(aspect))
    r = aspect_ratio(aspect, 1000, 700)
    for shot in s:
        assert shot.aspect == aspect
        if r is not None:
            assert abs(shot.box.w - r * shot.box.h) <= 1.0
    rep = G.check_set(boxes_of(s), measure(p), 1000, 700)
    assert rep.all_valid and rep.coherent, rep.failures


def test_look_room_follows_the_face():
    for facing in (1, -1):
        p = standing(facing=facing)
        s = compose([p], 640, 520, FramingOptions.from_spec("close_up=16:9"))
        cu = s.close_up.box
        side = (measure(p).face_x - cu.x0) / cu.w
        assert (side < 0.5) if facing > 0 else (side > 0.5)


def test_dev_photos_with_human_keypoints(coco, data_dir):
    for name in coco.names:
        people = coco.people_for(name)
        from PIL import Image
        W, H = Image.open(data_dir / name).size
        s = compose(people, W, H)
        a = measure(people[s.subject.index])
        rep = G.check_set(boxes_of(s), a, W, H)
        assert rep.all_valid and rep.coherent, (name, rep.failures)


def test_group_subject_choice_and_index():
    big, small = standing(cx=400, h=420), standing(cx=120, top=200, h=150)
    s = compose([small, big], 640, 520)
    assert s.subject.index == 1
    s0 = compose([small, big], 640, 520, FramingOptions(subject_index=0))
    assert s0.subject.index == 0
    assert compose([small, big], 640, 520, FramingOptions(subject_hint="left")).subject.index == 0
    # the establishing shot keeps the group
    est = s.establishing.box
    assert est.x0 <= small.box[0] and est.x1 >= big.box[2]
    with pytest.raises(ShotCropError, match="out of range"):
        compose([small, big], 640, 520, FramingOptions(subject_index=5))
    with pytest.raises(ShotCropError, match="not understood"):
        compose([small, big], 640, 520, FramingOptions(subject_hint="tallest girl"))


def test_tight_portrait_says_what_it_could_not_do():
    p = standing(cx=200, top=20, h=1200)          # only head and chest are in a 400x300 photo
    s = compose([p], 400, 300)
    assert s.establishing.box == Box(0, 0, 400, 300)
    assert any("too tight to reach the waist" in w for w in s.medium.warnings)
    rep = G.check_set(boxes_of(s), measure(p), 400, 300)
    assert rep.coherent and rep.valid["close_up"]


def test_no_person_fallback_is_flagged():
    s = compose([], 800, 600)
    assert s.fallback and s.subject is None
    assert any("no person" in w for w in s.warnings)
    assert G.coherent(*(boxes_of(s)[n] for n in ("close_up", "medium", "establishing")))


def test_refine_keeps_good_boxes_and_repairs_bad_ones():
    p = standing()
    good = compose([p], 640, 520)
    assert refine(good, [p]) .medium.box == good.medium.box
    a = measure(p)
    knee = a.knee_y
    # a proposal whose medium ends exactly on the knees and whose close-up cuts the eyes
    bad = good.with_shot(Shot("medium", Box(good.medium.box.x0, good.medium.box.y0,
                                            good.medium.box.x1, int(knee)), aspect="free"))
    bad = bad.with_shot(Shot("close_up", Box(good.close_up.box.x0, int(a.eye_y) - 2,
                                             good.close_up.box.x1, int(a.eye_y) + 80),
                             aspect="free"))
    fixed = refine(bad, [p])
    rep = G.check_set(boxes_of(fixed), a, 640, 520)
    assert rep.all_three, rep.failures
    # the repair stays near the proposal: the medium's top and sides barely move
    mb, fb = bad.medium.box, fixed.medium.box
    assert abs(mb.y0 - fb.y0) < 0.1 * mb.h and abs(mb.x0 - fb.x0) < 0.15 * mb.w


# -- properties ----------------------------------------------------------------------------
coord = st.floats(-0.3, 1.3, allow_nan=False)


@st.composite
def scenes(draw):
    # Photos from 64 px up, from 1:4 to 4:1 (a 21:9 close-up inside a 9:16 medium of a 25:1
    # panorama strip cannot keep its aspect with a height of one pixel).
    W = draw(st.integers(64, 4000))
    H = draw(st.integers(max(64, W // 4), min(4000, 4 * W)))
    n = draw(st.integers(0, 3))
    people = []
    for _ in range(n):
        kp = [(draw(coord) * W, draw(coord) * H, draw(st.sampled_from([0.0, 0.5, 1.0])))
              for _ in range(17)]
        x0, y0 = draw(coord) * W, draw(coord) * H
        w, h = draw(st.floats(0.01, 1.2)) * W, draw(st.floats(0.01, 1.2)) * H
        people.append(Person(np.array(kp), (x0, y0, x0 + w, y0 + h)))
    aspects = {name: draw(st.sampled_from(ASPECTS)) for name in SHOT_NAMES}
    return W, H, people, aspects


@settings(max_examples=int(__import__("os").environ.get("SHOTCROP_HYPOTHESIS_EXAMPLES", 150)), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenes())
def test_any_landmarks_give_a_valid_nested_set(scene):
    W, H, people, aspects = scene
    s = compose(people, W, H, FramingOptions(aspects=aspects))
    for shot in s:
        assert shot.box.inside(W, H)
        r = aspect_ratio(aspects[shot.name], W, H)
        if r is not None:
            assert abs(shot.box.w - r * shot.box.h) <= 1.0 + 1e-9, (shot, r)
    cu, med, est = s.close_up.box, s.medium.box, s.establishing.box
    assert cu.area < med.area < est.area
    assert cu.fraction_inside(med) >= 0.9 and med.fraction_inside(est) >= 0.9
    assert ShotSet.from_json(s.to_json()) == s


def test_impossible_aspect_keeps_the_head():
    """A person filling a portrait photo cannot fit a 16:9 establishing shot: every shot must
    still hold the face (never a frame of torso and feet), and the set still nests."""
    p = standing(cx=240, top=10, h=620)
    s = compose([p], 480, 640, FramingOptions.from_spec("establishing=16:9,medium=4:5,close_up=1:1"))
    a = measure(p)
    for shot in s:
        b = shot.box
        assert b.x0 <= a.face_box[0] and a.face_box[2] <= b.x1, shot
        assert b.y0 <= a.face_box[1] and a.face_box[3] <= b.y1, shot
    assert any("subject" in w or "room" in w for w in s.establishing.warnings)
    rep = G.check_set(boxes_of(s), a, 480, 640)
    assert rep.coherent


def test_refine_keeps_descriptions_and_a_detail_close_up():
    p = standing()
    good = compose([p], 640, 520)
    a = measure(p)
    named = good
    for shot in good:
        named = named.with_shot(Shot(shot.name, shot.box, f"the {shot.name} from the model",
                                     shot.aspect))
    # a close-up on the right hand (a product shot), as an intent would ask
    wx, wy = p.keypoints[10, :2]
    hand = Box(int(wx - 40), int(wy - 40), int(wx + 40), int(wy + 40))
    named = named.with_shot(Shot("close_up", hand, "the product in his hand", "free"))
    out = refine(named, [p], detail_close_up=True)
    assert out.medium.description == "the medium from the model"
    assert out.close_up.description == "the product in his hand"
    cu = out.close_up.box
    assert cu.x0 <= wx <= cu.x1 and cu.y0 <= wy <= cu.y1        # still on the hand
    assert not (cu.y0 <= a.eye_y <= cu.y1 and cu.x0 <= a.face_x <= cu.x1)  # not moved to the face
    assert cu.fraction_inside(out.medium.box) >= 0.9


def test_estimated_landmarks_keep_clear_of_joints_and_hair():
    """A pose model's landmarks (joint_uncertainty=ESTIMATED): the set still meets the grammar,
    edges stay clear of joints by the uncertainty too, and the establishing shot keeps room for
    hair or a hat above the landmark box (which stops about half a head above the eyes)."""
    p = standing(cx=420, top=200, h=480)
    a = measure(p)
    # The box a landmark model would give: its top only 0.6u above the eyes.
    tight = Person(p.keypoints, (p.box[0], a.eye_y - 0.6 * a.u, p.box[2], p.box[3]))
    opts = FramingOptions(joint_uncertainty=FramingOptions.ESTIMATED)
    s = compose([tight], 1000, 800, opts)
    rep = G.check_set(boxes_of(s), a, 1000, 800)
    assert rep.all_three, rep.failures
    pad = FramingOptions.ESTIMATED * a.u
    for shot in s:
        b = shot.box
        band = G.CUT_BAND * b.h + pad
        for jx, jy in a.joints:
            if b.x0 <= jx <= b.x1:
                assert abs(b.y1 - jy) >= band, (shot.name, jx, jy)
            if b.y0 <= jy <= b.y1:
                assert min(abs(b.x0 - jx), abs(b.x1 - jx)) >= band, (shot.name, jx, jy)
    # Head near the top of a wide photo, body running out at the bottom (COCO 519208, whose
    # person box reaches 1.5u above the eyes): the subject's top is taken 1.2u above the eyes,
    # which lies within a head of the photo's top edge, so the establishing shot reaches it.
    p = standing(cx=480, top=111, h=600)
    a = measure(p)
    tight = Person(p.keypoints, (p.box[0], a.eye_y - 0.6 * a.u, p.box[2], p.box[3]))
    s = compose([tight], 640, 406, opts)
    assert s.establishing.box.y0 == 0


def test_uncertainty_margins_never_outweigh_a_rule():
    """Clearance kept for landmark uncertainty is a preference: a box that meets every rule but
    sits inside that clearance beats a box that keeps the clearance by breaking a rule."""
    from shotcrop_core.search import ShotSpec, box_costs

    spec = ShotSpec("medium", None, req=(10, 10, 20, 20), h_target=110, bot_range=(100, 200),
                    eye=25.0, f_target=0.3, x_target=40, edge_margin=20.0)
    in_margin = (0.0, 0.0, 80.0, 110.0)    # bottom 10 px into the 20 px clearance; eyes at 23%
    breaks_eye = (0.0, 0.0, 80.0, 125.0)   # bottom clear of it, but the eyes at 20%: too high
    cost = box_costs(spec, [in_margin, breaks_eye])
    assert cost[0] < cost[1]
    # With no rule at stake (eyes lower: 25% and 23% down), the clearance decides.
    clear = (0.0, 0.0, 100.0, 122.0)      # bottom 2 px past the clearance
    spec.eye = 28.0
    cost = box_costs(spec, [in_margin, clear])
    assert cost[1] < cost[0]
    # Every kind of clearance at once (an edge, three joints) still costs less than one cut.
    spec = ShotSpec("medium", None, req=(10, 10, 20, 20), h_target=110, bot_range=(100, 200),
                    x_target=40, edge_margin=20.0, joint_pad=10.0,
                    joints=np.array([[30.0, 118.0], [40.0, 118.0], [50.0, 118.0], [40.0, 160.0]]))
    all_margins = (0.0, 0.0, 80.0, 110.0)  # bottom in the edge clearance, 8 px above three joints
    one_cut = (0.0, 0.0, 80.0, 161.0)      # clear of every clearance, but 1 px below a joint
    cost = box_costs(spec, [all_margins, one_cut])
    assert cost[0] < cost[1]


def test_head_above_the_photo_is_not_taken_for_a_tiny_head():
    """A body cut at the neck by the photo's top edge (COCO 160012: shoulders 13 px down, hips
    at 216): the head is above the photo. It used to be taken as a head squeezed into the 13 px
    above the shoulders, which gave a 51x37 px "close-up" of the neck."""
    full = standing(cx=320, top=-120, h=800)          # u = 100: eyes at -65, shoulders at 35
    kp = full.keypoints.copy()
    kp[:5, 2] = 0.0                                   # annotators label no point off the photo
    p = Person(kp, (full.box[0], 0.0, full.box[2], 480.0))
    a = measure(p)
    assert a.face_out and "face" not in " ".join(a.estimated)
    assert a.eye_y < 0 and abs(a.u - 100) < 15       # from the torso, not from the box top
    s = compose([p], 640, 480)
    cu = s.close_up.box
    assert cu.h >= 0.5 * a.torso and cu.w >= 0.5 * a.torso
    assert any("above the photo's top edge" in w for w in s.close_up.warnings)
    assert "head and shoulders" not in s.close_up.description
    assert "from the head" not in s.medium.description
    # A box built from keypoints stops a few pixels above the shoulders, inside the photo.
    assert measure(Person(kp, (full.box[0], 4.0, full.box[2], 480.0))).face_out
    # Back views whose heads are in the photo still take the box top as the crown, also when
    # the crown touches the photo's top edge.
    for top in (60.0, 0.0):
        whole = standing(cx=320, top=top, h=400)
        kp = whole.keypoints.copy()
        kp[:5, 2] = 0.0
        back = measure(Person(kp, whole.box))
        assert not back.face_out and abs(back.crown_y - top) < 1
