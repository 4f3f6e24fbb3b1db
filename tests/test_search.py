"""The framing engine's one-pass search: its vectorised tests against the grammar's own
definitions, and the three shots costed together against each shot costed alone."""

import numpy as np
import pytest

from shotcrop_core import grammar as G
from shotcrop_core.anatomy import measure
from shotcrop_core.framing import _ORDER, _specs
from shotcrop_core.search import W_CUT, W_MARGIN, Grid, Search, ShotSpec, box_costs

from people import standing

RNG = np.random.default_rng(7)


def random_boxes(n: int, W: float = 600, H: float = 400) -> np.ndarray:
    x0, y0 = RNG.uniform(-50, W, n), RNG.uniform(-50, H, n)
    h = RNG.uniform(20, H, n)
    w = h * RNG.uniform(0.4, 2.5, n)
    return np.stack([x0, y0, x0 + w, y0 + h], axis=1)


def edges_at(box, joints, band_k: float, pad: float = 0.0) -> int:
    """The definition, one joint at a time: a bottom edge within the band of a joint in its
    x-span counts once, a side edge within it of a joint in its y-span once more."""
    x0, y0, x1, y1 = box
    band = band_k * (y1 - y0) + pad
    n = 0
    for jx, jy in joints:
        n += (x0 <= jx <= x1) and abs(y1 - jy) < band
        n += (y0 <= jy <= y1) and (abs(x0 - jx) < band or abs(x1 - jx) < band)
    return n


def test_edge_hits_agree_with_the_grammars_joint_cuts():
    boxes = random_boxes(400)
    joints = RNG.uniform(0, 600, (40, 2)) * [1, 400 / 600]
    g = Grid.of_boxes(boxes)
    n = len(joints)
    hits = g.edge_hits(joints, (np.full(n, G.CUT_BAND), 0.0), np.ones(n))[:, 0, 0]
    cut = np.array([bool(G.joint_cuts(tuple(b), joints)) for b in boxes])
    assert cut.sum() > 20 and (~cut).sum() > 20  # both kinds occur
    assert np.array_equal(hits > 0, cut)
    assert hits.tolist() == [edges_at(b, joints, G.CUT_BAND) for b in boxes]


def test_edge_hits_weigh_each_joint_and_count_a_ring():
    boxes = random_boxes(300)
    joints = RNG.uniform(0, 400, (12, 2))
    g = Grid.of_boxes(boxes)
    weight = np.array([120.0] * 6 + [3.0] * 6)
    band = np.array([0.05] * 6 + [0.03] * 6)
    got = g.edge_hits(joints, (band, 1.5), weight)[:, 0, 0]
    want = [120 * edges_at(b, joints[:6], 0.05, 1.5) + 3 * edges_at(b, joints[6:], 0.03, 1.5)
            for b in boxes]
    assert np.allclose(got, want)
    ring = g.edge_hits(joints, (np.full(12, 0.06), 4.0), np.ones(12),
                       lo=(np.full(12, 0.03), 1.5))[:, 0, 0]
    want = [edges_at(b, joints, 0.06, 4.0) - edges_at(b, joints, 0.03, 1.5) for b in boxes]
    assert ring.tolist() == want and max(want) > 0


def test_face_costs_follow_the_grammars_sliced_faces():
    faces = [(100.0, 80.0, 160.0, 150.0), (300.0, 200.0, 340.0, 250.0)]
    spec = ShotSpec("establishing", None, req=(0, 0, 1, 1), h_target=200.0,
                    faces=np.asarray(faces))
    plain = ShotSpec("establishing", None, req=(0, 0, 1, 1), h_target=200.0)
    boxes = random_boxes(500)
    got = box_costs(spec, boxes) - box_costs(plain, boxes)
    share = G.face_shares(boxes, np.asarray(faces))
    want = [W_CUT * len(G.sliced_faces(tuple(b), faces))
            + W_MARGIN * bool(((s > 0.02) & (s < 0.98)).any()) for b, s in zip(boxes, share)]
    assert np.allclose(got, want)
    assert sum(w >= W_CUT for w in want) > 20


def shot_specs(aspects: dict, joint_pad: float = 0.0, with_bystander: bool = False):
    p = standing(cx=330, top=60, h=380)
    people = [p] + ([standing(cx=520, top=80, h=340)] if with_bystander else [])
    a = measure(p)
    faces = G.bystander_faces(people, 0)
    specs = _specs(a, aspects, 640, 480, people, 0, True, joint_pad, faces)
    return [specs[n] for n in _ORDER]


@pytest.mark.parametrize("aspects,joint_pad,bystander", [
    ({"close_up": "1:1", "medium": "4:5", "establishing": "16:9"}, 0.0, False),
    ({"close_up": "original", "medium": "original", "establishing": "original"}, 0.25, True),
    ({"close_up": "free", "medium": "2:3", "establishing": "free"}, 0.25, False),
])
def test_one_pass_costs_each_shot_as_a_search_of_its_own(aspects, joint_pad, bystander):
    """Stacking the three shots (padded placements, per-height parameters) changes no cost."""
    specs = shot_specs(aspects, joint_pad, bystander)
    together = Search(specs, 640, 480)
    assert len(together.rows) == 3
    for k, spec in enumerate(specs):
        alone = Search([spec], 640, 480)
        part = together.cost[together.rows[k]]
        ny, nx = alone.cost.shape[1:]
        assert np.allclose(part[:, :ny, :nx], alone.cost, rtol=1e-12, atol=1e-9)
        # Padding repeats the last placement: its costs repeat too, so ties keep the first.
        assert np.allclose(part[:, ny:, :nx], part[:, ny - 1:ny, :nx])
        assert together.best(k) == alone.best()


def test_box_costs_are_what_the_search_charges():
    spec = shot_specs({"close_up": "4:5", "medium": "4:5", "establishing": "3:2"}, 0.25, True)[1]
    s = Search([spec], 640, 480)
    g = s.grid
    i, j, k = 3, 2, 4
    box = g.box(i, j, k)
    assert np.isclose(box_costs(spec, [box])[0], s.cost[i, j, k])


def test_a_proposed_box_is_kept_when_it_is_the_cheapest():
    spec = shot_specs({"close_up": "1:1", "medium": "4:5", "establishing": "16:9"})[1]
    grid_best = Search([spec], 640, 480).best()
    # Nudged by a pixel: off the grid, and with an anchor on it, cheaper than any grid box.
    prop = (grid_best[0] + 1, grid_best[1] + 1, grid_best[2] + 1, grid_best[3] + 1)
    s = Search([spec], 640, 480, extra=prop)
    assert s.best(anchor=prop) == prop
    with pytest.raises(ValueError):
        Search([spec, spec], 640, 480, extra=prop)


# -- against the per-box oracle (tests/reference_cost.py) --------------------------------------
def oracle_specs():
    """Every kind of spec the engine builds: aspects, the landmark margins of a pose model,
    bystanders (faces, soft joints, the group), the non-upright specs, reach past the photo."""
    from shotcrop_core.anatomy import measure as m

    people_sets = [[standing(cx=330, top=60, h=380, facing=1)],
                   [standing(cx=300, top=40, h=400, facing=-1), standing(cx=520, top=80, h=340),
                    standing(cx=90, top=120, h=200)]]
    lying = standing(cx=320, top=200, h=300)
    kp = lying.keypoints.copy()
    kp[:, 1] = 300 + (kp[:, 0] - 320) * 0.1  # everyone at one height: not upright
    kp[:, 0] = np.linspace(150, 500, 17)
    from shotcrop_core import Person

    people_sets.append([Person(kp, (140, 260, 510, 340))])
    aspects = [{"close_up": "1:1", "medium": "4:5", "establishing": "16:9"},
               {"close_up": "free", "medium": "2:3", "establishing": "free"},
               {"close_up": "original", "medium": "original", "establishing": "21:9"}]
    for people in people_sets:
        a = m(people[0])
        faces = G.bystander_faces(people, 0)
        for asp in aspects:
            for pad in (0.0, 0.25):
                past = {"establishing": (160.0, 120.0)} if pad else None
                for spec in _specs(a, asp, 640, 480, people, 0, True, pad, faces,
                                   past=past).values():
                    yield spec


def test_box_costs_equal_the_per_box_oracle():
    from reference_cost import cost

    boxes = random_boxes(60, 640, 480)
    n = 0
    for spec in oracle_specs():
        got = box_costs(spec, boxes, 640, 480)
        want = [cost(b, spec, 640, 480) for b in boxes]
        assert np.allclose(got, want, rtol=1e-9, atol=1e-6), (spec.name, got - want)
        n += 1
    assert n == 54


@pytest.mark.parametrize("terms", [
    {}, {"inner": (250.0, 100.0, 400.0, 260.0), "area_min": 30000.0},
    {"outer": (100.0, 20.0, 600.0, 470.0), "area_max": 90000.0},
    {"anchor": (200.0, 50.0, 420.0, 330.0)}])
def test_the_search_picks_the_cheapest_box_by_the_oracle(terms):
    """Search.best's pick costs, by the oracle, no more than any other candidate of its grid."""
    from reference_cost import cost

    for spec in list(oracle_specs())[::5]:
        s = Search([spec], 640, 480)
        g = s.grid
        picked = cost(s.best(**terms), spec, 640, 480, **terms)
        every = [cost(g.box(i, j, k), spec, 640, 480, **terms)
                 for i in range(len(g.hs)) for j in range(g.Y.shape[1]) for k in range(g.X.shape[1])]
        assert picked <= min(every) + 1e-6, (spec.name, terms, picked, min(every))
