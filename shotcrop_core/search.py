"""The framing engine's search: candidate boxes for the shots and their costs in one pass.

Each shot asks for something (`ShotSpec`: what must be inside, where the edges may go, where the
eyes sit); a few hundred candidate boxes of its aspect are laid on a grid. The candidates of all
the shots are stacked into one grid and everything a shot asks of itself is costed in one
vectorised pass (`Search`). What depends on the other shots (nesting, areas, an anchor to stay
near) is cheap and added when a shot is picked, so the inside-out and the outside-in orders
reuse the same pass. Grammar rules are heavy penalties (the best feasible box wins when a photo
cannot satisfy them all); composition preferences are light ones.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from . import grammar as G

Rect = tuple[float, float, float, float]

# Preferred shape of each shot when the aspect is "free" (width / height).
FREE_RATIO = {"close_up": 0.8, "medium": 0.8, "establishing": None}
# Extra clearance around joints (share of the crop height): rounding to pixels, and for
# estimated joints, which sit a few pixels off the true ones, a little more.
CUT_MARGIN = 0.006
CUT_MARGIN_EST = 0.014
# Penalty weights: grammar rules dominate, composition preferences break ties.
W_CONTENT, W_NEST, W_EYE, W_CUT, W_LOOK, W_SOFT_CUT = 1000.0, 600.0, 300.0, 120.0, 40.0, 3.0
# Clearance kept for landmark uncertainty (edges, eye line, joints) is a preference, not a rule:
# each of the three kinds costs at most W_MARGIN (plus a sliver), so together they stay below
# any one rule (W_CUT and up) and never outweigh a rule the landmarks say is met.
W_MARGIN = 30.0
# Padding past the photo (per share of the box): above every composition preference, below the
# rules it is there to meet.
W_PAD = 600.0


@dataclass
class ShotSpec:
    """What one shot needs, in source pixels."""

    name: str
    ratio: float | None
    req: Rect                      # must lie inside the crop
    h_target: float
    top_max: float = np.inf        # y0 <= top_max
    bot_range: tuple[float, float] = (-np.inf, np.inf)
    eye: float | None = None
    f_target: float = 0.3
    x_target: float = 0.0          # preferred centre x (before thirds)
    thirds: bool = False
    facing: int = 0
    face_x: float = 0.0
    joints: np.ndarray = field(default_factory=lambda: np.zeros((0, 2)))
    soft_joints: np.ndarray = field(default_factory=lambda: np.zeros((0, 2)))
    ankles: np.ndarray = field(default_factory=lambda: np.zeros((0, 2)))
    min_h: float = 0.0             # establishing: room around the subject
    soft_req: Rect | None = None   # the group: keep inside when possible
    core: Rect | None = None       # the head: never traded away for anything else
    joint_pad: float = 0.0         # extra clearance (px) around joints: landmark uncertainty
    eye_margin: float = 0.0        # likewise for the eye line (px)
    edge_margin: float = 0.0       # likewise for top_max and bot_range (px)
    y_target: float | None = None
    faces: np.ndarray = field(default_factory=lambda: np.zeros((0, 4)))  # bystanders' faces
    #: How far (px, x and y) the box may reach past each edge of the photo, to be outpainted;
    #: every pixel of padding costs (W_PAD per share of the box), so the least that meets the
    #: grammar wins.
    reach: tuple[float, float] = (0.0, 0.0)


# -- candidates -----------------------------------------------------------------------------
# Candidate heights around the target and up to the largest that fits; placements spread evenly.
_H_AROUND = tuple(np.geomspace(0.45, 1.7, 10).tolist())
_H_UPTO = tuple(np.geomspace(0.4, 1.0, 5).tolist())
_SPREAD6 = tuple(np.linspace(0, 1, 6).tolist())
_SPREAD4 = tuple(np.linspace(0, 1, 4).tolist())


@dataclass
class Grid:
    """Candidates as a grid: for each height hs[i] (width ws[i]), tops Y[i] x lefts X[i]; the
    boxes are (hs, Y, X) in that order, so every cost is an (nh, ny, nx) array."""

    hs: np.ndarray
    ws: np.ndarray
    Y: np.ndarray
    X: np.ndarray

    @staticmethod
    def of_boxes(boxes) -> "Grid":
        """Given boxes (rows x0 y0 x1 y1), one height each."""
        b = np.asarray(boxes, dtype=float).reshape(-1, 4)
        return Grid(b[:, 3] - b[:, 1], b[:, 2] - b[:, 0], b[:, 1:2], b[:, 0:1])

    def rows(self, sl: slice) -> "Grid":
        """The candidates of some heights (one shot's, of a stacked grid)."""
        return Grid(self.hs[sl], self.ws[sl], self.Y[sl], self.X[sl])

    def box(self, i: int, j: int, k: int) -> Rect:
        x0, y0 = float(self.X[i, k]), float(self.Y[i, j])
        return (x0, y0, x0 + float(self.ws[i]), y0 + float(self.hs[i]))

    def extent(self) -> tuple[float, float, float, float, float]:
        """The span of all candidates (x0, y0, x1, y1) and the tallest height."""
        return (float(self.X.min()), float(self.Y.min()), float((self.X + self.ws[:, None]).max()),
                float((self.Y + self.hs[:, None]).max()), float(self.hs.max()))

    def edge_hits(self, joints: np.ndarray, hi: np.ndarray, weight: np.ndarray,
                  lo: np.ndarray | None = None) -> np.ndarray:
        """(nh, ny, nx): the weighted count of joints that a bottom or a side edge passes at
        a distance under hi (and, with lo, not under lo) in the joint's span; hi and lo per
        joint as (k, c): k * crop height + c px. Per height, the bottom and side tests are
        matrix products. A joint at a bottom corner counts twice (bottom and side), as the
        engine always counted it."""
        if len(joints) == 0:
            return np.zeros((len(self.hs), self.Y.shape[1], self.X.shape[1]), np.float32)
        # float32: these are counts, and a joint within 1e-3 px of a band's edge is a tie.
        f32 = np.float32
        jx, jy = joints[:, 0].astype(f32), joints[:, 1].astype(f32)
        hs, half = self.hs.astype(f32)[:, None, None], (self.ws.astype(f32) / 2)[:, None, None]
        ty = self.Y.astype(f32)[:, :, None] + hs / 2 - jy   # box centre to joint, signed
        cx = np.abs(self.X.astype(f32)[:, :, None] + half - jx)
        dy, ds = np.abs(ty + hs / 2), np.abs(cx - half)      # bottom edge / nearer side to joint
        band = hi[0].astype(f32) * hs + f32(hi[1])
        near_bottom, near_side = dy < band, ds < band
        if lo is not None:  # a ring: near enough for hi, not for lo
            band = lo[0].astype(f32) * hs + f32(lo[1])
            near_bottom &= dy >= band
            near_side &= ds >= band
        in_span_x = (cx <= half).astype(f32).transpose(0, 2, 1)        # (nh, nj, nx)
        in_span_y = np.abs(ty) <= hs / 2                               # (nh, ny, nj)
        near_side = near_side.astype(f32).transpose(0, 2, 1)
        if np.all(weight == weight[0]):
            return f32(weight[0]) * (near_bottom.astype(f32) @ in_span_x
                                     + in_span_y.astype(f32) @ near_side)
        weight = weight.astype(f32)
        return (near_bottom * weight) @ in_span_x + (in_span_y * weight) @ near_side


def _heights(s: ShotSpec, h_fit: float, aw: float, W: int, H: int) -> list[tuple[float, float]]:
    """(height, width) of a shot's candidates: around its target and up to the largest that
    fits; heights clipped to the same size would repeat whole rows of boxes, so each once."""
    ht = max(s.h_target, 4.0)
    hs = [min(k * ht, h_fit) for k in _H_AROUND] + [min(ht, h_fit)] + [k * h_fit for k in _H_UPTO]
    if max(s.reach) > 0 and s.min_h:  # past the photo: the least height with room
        hs += [min(s.min_h * k, h_fit) for k in (1.0, 1.02, 1.05)]
    hs = list(dict.fromkeys(h for h in hs if h >= 2)) or [max(h_fit, 1.0)]
    if s.ratio is not None:
        return [(h, s.ratio * h) for h in hs]
    pref = FREE_RATIO[s.name] or (W / H)
    return [(h, min(max(pref * h, (s.req[2] - s.req[0]) + 0.25 * h), aw)) for h in hs]


def _placements(s: ShotSpec, bounds: Rect, inner: Rect | None):
    """Where a box of a shot may sit: each placement is affine in the box size, y0 = a + b * h
    and x0 = a + b * w, listed as (a, b) pairs."""
    bx0, by0, bx1, by1 = bounds
    aw, ah = bx1 - bx0, by1 - by0
    if s.eye is not None:  # vertical: eyes at a share of the height from the top
        ys = [(s.eye, -f) for f in (0.23, 0.27, s.f_target, 0.34, 0.39, 0.43)]
    else:
        ys = [(by0 + t * ah, -t) for t in _SPREAD6]
        if s.y_target is not None:
            ys.append((s.y_target, -0.5))
    ys += [(s.req[1], -0.05), (s.req[3], 0.05 - 1)]
    if inner is not None:
        ys += [(inner[1], -0.02), (inner[3], 0.02 - 1)]
    # Horizontal placements: target, thirds, content-aligned, spread.
    xs = [(s.x_target, -0.5), (s.req[0], -0.06), (s.req[2], 0.06 - 1)]
    if s.thirds:
        xs += [(s.x_target, -1 / 3), (s.x_target, -2 / 3)]
    if s.facing:  # look room: the face a little off centre, away from where it looks
        xs += [(s.face_x, -(0.5 - 0.1 * s.facing)), (s.face_x, -(0.5 - 0.05 * s.facing))]
    if inner is not None:
        xs += [(inner[0], -0.02), (inner[2], 0.02 - 1)]
    xs += [(bx0 + t * aw, -t) for t in _SPREAD4]
    if max(s.reach) > 0:  # past the photo: on its edges or centred on it, the least padding
        W, H = bx1 + bx0, by1 + by0  # the bounds reach equally past both sides
        ys += [(0.0, 0.0), (H, -1.0), (H / 2, -0.5)]
        xs += [(0.0, 0.0), (W, -1.0), (W / 2, -0.5)]
    return ys, xs


def _padded(lists: list[list]) -> np.ndarray:
    """Lists of (a, b) pairs of different lengths as one (n, longest, 2) array, each padded
    with its last pair (a repeat comes last, so a tie still goes to the first)."""
    n = max(len(v) for v in lists)
    return np.array([v + v[-1:] * (n - len(v)) for v in lists])


def candidates(specs: list[ShotSpec], W: int, H: int, inner: Rect | None = None,
               outer: Rect | None = None, area_max: float | None = None,
               extra: Rect | None = None) -> tuple[Grid, np.ndarray]:
    """The candidates of the shots as one grid, and the shot each height belongs to.

    Heights x vertical x horizontal placements for each shot; `inner`, `outer` and `area_max`
    (a shot searched around another: outside-in, `refine`) add placements aligned to the inner
    box and keep the grid inside the outer box and under the area; `extra` adds one proposed
    box as it is (refine)."""
    sizes, owner, ys, xs, lims = [], [], [], [], []
    for k, s in enumerate(specs):
        rx, ry = s.reach
        bounds = outer if outer is not None else (-rx, -ry, W + rx, H + ry)
        bx0, by0, bx1, by1 = bounds
        aw, ah = bx1 - bx0, by1 - by0
        lims.append(bounds)
        h_fit = ah if s.ratio is None else min(ah, aw / s.ratio)
        if area_max is not None:  # the largest height whose box stays under the area cap
            r = s.ratio if s.ratio is not None else aw / ah
            h_fit = min(h_fit, 0.995 * (area_max / r) ** 0.5)
        hw = _heights(s, h_fit, aw, W, H)
        sizes += hw
        owner += [k] * len(hw)
        y, x = _placements(s, bounds, inner)
        ys.append(y)
        xs.append(x)
    owner = np.array(owner)
    hs, ws = np.array(sizes).T
    H_, W_ = hs[:, None], ws[:, None]
    ya, yb = _padded(ys)[owner].transpose(2, 0, 1)   # (nh, ny) each
    xa, xb = _padded(xs)[owner].transpose(2, 0, 1)
    bx0, by0, bx1, by1 = np.array(lims)[owner].T[:, :, None]  # each shot's bounds, per height
    Y = np.minimum(np.maximum(ya + H_ * yb, by0), by1 - H_)
    X = np.minimum(np.maximum(xa + W_ * xb, bx0), bx1 - W_)
    if extra is not None:  # a box proposed from outside the grid: one shot only
        if len(specs) != 1:
            raise ValueError("an extra candidate belongs to a search of one shot")
        x0, y0, x1, y1 = (float(v) for v in extra)
        hs, ws = np.append(hs, y1 - y0), np.append(ws, x1 - x0)
        Y = np.vstack([Y, np.full((1, Y.shape[1]), y0)])
        X = np.vstack([X, np.full((1, X.shape[1]), x0)])
        owner = np.append(owner, 0)
    return Grid(hs, ws, Y, X), owner


# -- one pass over every shot's candidates ----------------------------------------------------
# A box's cost splits into what depends on its height and top (rows: eye line, top and bottom
# limits), on its height and left edge (columns: thirds, look room) and a few terms on the whole
# box (containment, joint cuts, faces). Row and column terms are computed on (nh, ny) and
# (nh, nx) arrays and broadcast once, so the pass costs a few full-size operations.
#: A rect nothing has to be inside: every box contains it.
_NOTHING = (np.inf, np.inf, -np.inf, -np.inf)
# What must be inside: the required content, the head, the group; weights of how far a box is
# from containing each (per unit of the shot's scale) and of missing it at all.
_W_FAR = np.array([W_CONTENT, 3 * W_CONTENT, 0.0])[:, None, None]
_W_MISS = np.array([W_CONTENT, 3 * W_CONTENT, 30.0])[:, None, None]


def _params(specs: list[ShotSpec]) -> tuple[np.ndarray, np.ndarray]:
    """Each shot's rects (3 kinds, 4 edges, shots) and numbers (15, shots), in the order
    `_own_costs` unpacks them."""
    rects, nums = [], []
    for s in specs:
        rects.append((s.req, s.core if s.core is not None else _NOTHING,
                      s.soft_req if s.soft_req is not None else _NOTHING))
        nums.append((max(s.h_target, 1.0), s.top_max, *s.bot_range, s.edge_margin,
                     s.eye if s.eye is not None else 0.0, s.eye is not None, s.f_target,
                     s.eye_margin, s.min_h, s.x_target, s.thirds, s.facing, s.face_x,
                     s.name == "close_up" and s.facing != 0))
    return np.array(rects, dtype=float).transpose(1, 2, 0), np.array(nums, dtype=float).T


def _either(rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """(nh, ny, nx): a box misses when its rows or its columns do."""
    return (rows > 0)[:, :, None] | (cols > 0)[:, None, :]


def _outside(g: Grid, rect, inv) -> tuple[np.ndarray, np.ndarray]:
    """How far each box's rows (nh, ny) and columns (nh, nx) are from containing rect, in
    scale units; rect is four numbers or four (nh, 1) columns."""
    x0, y0, x1, y1 = rect
    Y1, X1 = g.Y + g.hs[:, None], g.X + g.ws[:, None]
    return ((np.maximum(g.Y - y0, 0) + np.maximum(y1 - Y1, 0)) * inv,
            (np.maximum(g.X - x0, 0) + np.maximum(x1 - X1, 0)) * inv)


def _inside(g: Grid, rect, inv) -> tuple[np.ndarray, np.ndarray]:
    """How far each box's rows and columns reach out of rect (the box inside rect)."""
    x0, y0, x1, y1 = rect
    Y1, X1 = g.Y + g.hs[:, None], g.X + g.ws[:, None]
    return ((np.maximum(y0 - g.Y, 0) + np.maximum(Y1 - y1, 0)) * inv,
            (np.maximum(x0 - g.X, 0) + np.maximum(X1 - x1, 0)) * inv)


def _same(specs: list[ShotSpec], key: str) -> bool:
    first = getattr(specs[0], key)
    return all(getattr(s, key) is first or np.array_equal(getattr(s, key), first)
               for s in specs[1:])


def _reachable(joints: np.ndarray, extent, pad: float) -> np.ndarray:
    """Only joints that some candidate box could reach matter; groups bring hundreds. The
    reach: the widest band (`_cut_costs`) around the candidates' span."""
    x0, y0, x1, y1, h = extent
    m = (G.CUT_BAND + CUT_MARGIN + CUT_MARGIN_EST) * h + 2 + pad
    return joints[(joints[:, 0] >= x0 - m) & (joints[:, 0] <= x1 + m)
                  & (joints[:, 1] >= y0 - m) & (joints[:, 1] <= y1 + m)]


def _cut_costs(g: Grid, s: ShotSpec) -> np.ndarray:
    """Edges at joints: the subject's (a rule) and those of people its size (a preference),
    in one count; and the wider band kept for landmark uncertainty (any number: one cost)."""
    ext = g.extent()
    joints, soft = _reachable(s.joints, ext, s.joint_pad), _reachable(s.soft_joints, ext, 0.0)
    n, m = len(joints), len(soft)
    band = G.CUT_BAND + CUT_MARGIN
    hi = (np.repeat([band, G.CUT_BAND], [n, m]), 1.5)  # + 1.5 px: rounding to whole pixels
    cost = g.edge_hits(np.concatenate([joints, soft]), hi, np.repeat([W_CUT, W_SOFT_CUT], [n, m]))
    if s.joint_pad and n:  # joints in the wider band but not the grammar's
        ring = g.edge_hits(joints, (np.full(n, band + CUT_MARGIN_EST), 1.5 + s.joint_pad),
                           np.ones(n), lo=(np.full(n, band), 1.5))
        cost += W_MARGIN * (ring > 0)
    return cost


def _face_costs(g: Grid, faces: np.ndarray) -> np.ndarray | float:
    """A bystander's face whole or left out (grammar.sliced_faces)."""
    if not len(faces):
        return 0.0
    fx0, fy0, fx1, fy1 = (faces[:, i, None, None] for i in range(4))  # (faces, 1, 1) each
    area = np.maximum((fx1 - fx0) * (fy1 - fy0), 1e-9)
    ih = np.clip(np.minimum(g.Y + g.hs[:, None], fy1) - np.maximum(g.Y, fy0), 0, None) / area
    iw = np.clip(np.minimum(g.X + g.ws[:, None], fx1) - np.maximum(g.X, fx0), 0, None)
    # (faces, nh, ny, nx) in float32: shares within 1e-7 of a band's edge are ties.
    share = ih.astype(np.float32)[:, :, :, None] * iw.astype(np.float32)[:, :, None, :]
    # Both bands are symmetric about a half: test the distance from it once.
    lo, hi = G.FACE_SLICE
    off = np.abs(share - np.float32((lo + hi) / 2))
    # Estimated faces sit a few pixels off: prefer frames clear of the grammar's band too.
    return W_CUT * (off < (hi - lo) / 2).sum(axis=0) + W_MARGIN * (off < 0.48).any(axis=0)


def _row_slices(owner: np.ndarray) -> list[slice]:
    """Each shot's heights: contiguous rows of the stacked grid."""
    ends = np.flatnonzero(np.diff(owner)) + 1
    return [slice(int(a), int(b)) for a, b in zip([0, *ends], [*ends, len(owner)])]


def _own_costs(g: Grid, specs: list[ShotSpec], owner: np.ndarray, spans: list[slice],
               W: float = np.inf, H: float = np.inf) -> np.ndarray:
    """What each candidate costs against its own shot's spec (owner: the spec of each height,
    spans: each spec's heights; W x H: the photo, for shots that may reach past it), for all
    shots at once: (nh, ny, nx)."""
    rects, nums = _params(specs)
    rects, nums = rects[:, :, owner, None], nums[:, owner, None]  # per height, (nh, 1) each
    (scale, top_max, lo, hi, edge_m, eye, has_eye, f_target, eye_m, min_h, x_target, thirds,
     facing, face_x, look) = nums
    inv = 1.0 / scale
    h, w = g.hs[:, None], g.ws[:, None]
    Y0, X0 = g.Y, g.X
    Y1, X1 = Y0 + h, X0 + w
    pos = lambda v: np.maximum(v, 0.0) * inv  # noqa: E731  (continuous violation size)

    # What must be inside (content, head, group): how far the rows and columns fall short.
    rx0, ry0, rx1, ry1 = rects[:, 0], rects[:, 1], rects[:, 2], rects[:, 3]   # (3, nh, 1)
    my = np.maximum(Y0 - ry0, 0) + np.maximum(ry1 - Y1, 0)                   # (3, nh, ny)
    mx = np.maximum(X0 - rx0, 0) + np.maximum(rx1 - X1, 0)                   # (3, nh, nx)
    rows = (_W_FAR * my).sum(axis=0) * inv
    cols = (_W_FAR * mx).sum(axis=0) * inv
    miss_y, miss_x = _W_MISS * (my > 0), _W_MISS * (mx > 0)  # missing at all: rows or columns
    hit = sum(np.maximum(miss_y[i][:, :, None], miss_x[i][:, None, :]) for i in range(3))
    # Rows: top and bottom limits, eye line.
    top = pos(Y0 - top_max)
    bot = pos(lo - Y1) + pos(Y1 - hi)
    rows += W_CONTENT * ((top > 0) + (bot > 0) + top + bot)
    if edge_m.any():  # estimated body lines may sit this far off: stay clear of the limits
        m = edge_m
        near = pos(Y0 - (top_max - m)) + pos(lo + m - Y1) + pos(Y1 - (hi - m))
        rows += (m > 0) * W_MARGIN * ((near > 0) + np.minimum(near, 0.2))
    if has_eye.any():
        f = (eye - Y0) / h
        eye_bad = np.maximum(0.225 - f, 0) + np.maximum(f - 0.425, 0)
        rows += has_eye * (W_EYE * ((eye_bad > 0) + 10 * eye_bad) + 40 * (f - f_target) ** 2)
        if eye_m.any():  # likewise for an estimated eye line
            em = eye_m / h
            near = np.maximum(0.225 + em - f, 0) + np.maximum(f - 0.425 + em, 0)
            rows += (has_eye * (eye_m > 0)) * W_MARGIN * ((near > 0) + np.minimum(10 * near, 0.2))
    # Heights: room around the subject; size near the target.
    short = pos(min_h - h)
    rows += W_CONTENT * ((short > 0) + short) + 8 * np.log(h * inv) ** 2
    # Columns: subject on a thirds line (by gaze) or centred; look room for the close-up.
    rel = (x_target - X0) / w
    d1, d2 = np.abs(rel - 1 / 3), np.abs(rel - 2 / 3)
    d = np.where(facing > 0, d1, np.where(facing < 0, d2, np.minimum(d1, d2)))
    cols += 6 * np.where(thirds > 0, d, np.abs(0.5 - rel))
    if look.any():
        side = (face_x - X0) / w
        wrong = (side - 0.48) * facing > 0  # face centre past the middle, toward its gaze
        cols += look * (W_LOOK * wrong + 15 * np.abs(side - (0.5 - 0.1 * facing)))

    cost = rows[:, :, None] + cols[:, None, :] + hit
    reach = np.array([max(sp.reach) > 0 for sp in specs])[owner]
    if reach.any():  # padding past the photo: its share of each box
        iy = np.clip(np.minimum(Y1, H) - np.maximum(Y0, 0), 0, None)
        ix = np.clip(np.minimum(X1, W) - np.maximum(X0, 0), 0, None)
        inside = (iy / h)[:, :, None] * (ix / w)[:, None, :]
        # A frame with nothing of the photo in it is no shot of it: a rule.
        cost += (reach[:, None, None] * (W_PAD * (1 - inside) + W_CONTENT * (inside < 0.25)))
    same = all(_same(specs, k) for k in ("joints", "soft_joints", "joint_pad", "faces"))
    if same:  # the framing engine's shots share their joints and faces
        cost += _cut_costs(g, specs[0]) + _face_costs(g, specs[0].faces)
    for s, sl in zip(specs, spans):
        part = g.rows(sl)
        if not same:
            cost[sl] += _cut_costs(part, s) + _face_costs(part, s.faces)
        if len(s.ankles):  # the medium: no ankle inside
            ax, ay = s.ankles[:, 0], s.ankles[:, 1]
            Yp, Xp = part.Y[:, :, None], part.X[:, :, None]
            iny = ((Yp <= ay) & (ay <= Yp + part.hs[:, None, None])).astype(np.float32)
            inx = ((Xp <= ax) & (ax <= Xp + part.ws[:, None, None])).astype(np.float32)
            cost[sl] += W_CONTENT * (iny @ inx.transpose(0, 2, 1))
    return cost


def box_costs(spec: ShotSpec, boxes, W: float = np.inf, H: float = np.inf) -> np.ndarray:
    """What a search charges each given box (rows x0 y0 x1 y1) against the spec on its own
    (in a W x H photo, for a shot that may reach past it). A box's height is taken as
    y1 - y0: at an exact threshold (a height equal to min_h) float rounding may tip a rule
    the grid's own heights do not."""
    g = Grid.of_boxes(boxes)
    return _own_costs(g, [spec], np.zeros(len(g.hs), int), [slice(0, len(g.hs))], W, H)[:, 0, 0]


class Search:
    """The candidates of one or more shots, each costed against its own spec in one pass;
    `best` adds what depends on the other shots and picks."""

    def __init__(self, specs: list[ShotSpec], W: int, H: int, inner: Rect | None = None,
                 outer: Rect | None = None, area_max: float | None = None,
                 extra: Rect | None = None) -> None:
        self.specs = specs
        self.grid, self.owner = candidates(specs, W, H, inner, outer, area_max, extra)
        self.rows = _row_slices(self.owner)
        self.cost = _own_costs(self.grid, specs, self.owner, self.rows, W, H)

    def best(self, k: int = 0, inner: Rect | None = None, outer: Rect | None = None,
             area_max: float | None = None, area_min: float | None = None,
             anchor: Rect | None = None) -> Rect:
        """Shot k's cheapest box given the shots around it: nested around `inner`, inside
        `outer`, its area within bounds, its edges near `anchor` (refine)."""
        sl = self.rows[k]
        g = self.grid.rows(sl)
        cost = self.cost[sl].copy()
        inv = 1.0 / max(self.specs[k].h_target, 1.0)
        for rect, within in ((inner, _outside), (outer, _inside)):
            if rect is not None:
                ry, rx = within(g, rect, inv)
                cost += W_NEST * (ry[:, :, None] + rx[:, None, :] + _either(ry, rx))
        area = (g.hs * g.ws)[:, None, None]
        if area_max is not None:
            cost += W_NEST * (area > area_max)
        if area_min is not None:
            cost += W_NEST * (area < area_min)
        if anchor is not None:  # refine: move edges as little as possible
            ax0, ay0, ax1, ay1 = anchor
            dy = np.abs(g.Y - ay0) + np.abs(g.Y + g.hs[:, None] - ay1)
            dx = np.abs(g.X - ax0) + np.abs(g.X + g.ws[:, None] - ax1)
            cost += (20 * inv) * (dy[:, :, None] + dx[:, None, :])
        # Costs equal but for float rounding (mirror placements) tie: the first in grid order
        # wins, whatever order the terms were summed in.
        return g.box(*np.unravel_index(int(np.argmin(np.round(cost, 6))), cost.shape))
