"""The framing engine's cost of one box, written out term by term in plain Python: the oracle
for the vectorised one-pass search (shotcrop_core/search.py). It follows the per-box scorer the
engine had before the one-pass search (git 9d1c2e6, framing._score), term for term, plus the
padding cost of shots that may reach past the photo; nothing here is shared with search.py
except the weights and the grammar's numbers."""

from __future__ import annotations

import math

from shotcrop_core import grammar as G
from shotcrop_core.search import (CUT_MARGIN, CUT_MARGIN_EST, W_CONTENT, W_CUT, W_EYE, W_LOOK,
                                  W_MARGIN, W_NEST, W_PAD, W_SOFT_CUT)


def _missing(box, rect) -> float:
    """How far (px) the box's edges fall short of containing rect."""
    x0, y0, x1, y1 = box
    r0, r1, r2, r3 = rect
    return max(x0 - r0, 0) + max(y0 - r1, 0) + max(r2 - x1, 0) + max(r3 - y1, 0)


def _reaching(box, rect) -> float:
    """How far (px) the box reaches out of rect."""
    x0, y0, x1, y1 = box
    r0, r1, r2, r3 = rect
    return max(r0 - x0, 0) + max(r1 - y0, 0) + max(x1 - r2, 0) + max(y1 - r3, 0)


def _edges_at(box, joints, band) -> int:
    """A bottom edge near a joint in its x-span counts once, a side edge near it in its y-span
    once more (a joint at a bottom corner counts twice)."""
    x0, y0, x1, y1 = box
    n = 0
    for jx, jy in joints:
        n += (x0 <= jx <= x1) and abs(y1 - jy) < band
        n += (y0 <= jy <= y1) and (abs(x0 - jx) < band or abs(x1 - jx) < band)
    return n


def cost(box, s, W: float = math.inf, H: float = math.inf, inner=None, outer=None,
         area_max=None, area_min=None, anchor=None) -> float:
    X0, Y0, X1, Y1 = (float(v) for v in box)
    w, h = X1 - X0, Y1 - Y0
    scale = max(s.h_target, 1.0)

    def pos(v):
        return max(v, 0.0) / scale

    total = 0.0
    miss = _missing(box, s.req) / scale
    total += W_CONTENT * ((miss > 0) + miss)
    if s.core is not None:
        m = _missing(box, s.core) / scale
        total += 3 * W_CONTENT * ((m > 0) + m)
    top = pos(Y0 - s.top_max)
    lo, hi = s.bot_range
    bot = pos(lo - Y1) + pos(Y1 - hi)
    # Either limit broken counts once (numpy adds booleans as "or"; the engine always has).
    total += W_CONTENT * ((top > 0 or bot > 0) + top + bot)
    if s.edge_margin:
        m = s.edge_margin
        near = pos(Y0 - (s.top_max - m)) + pos(lo + m - Y1) + pos(Y1 - (hi - m))
        total += W_MARGIN * ((near > 0) + min(near, 0.2))
    if s.eye is not None:
        f = (s.eye - Y0) / h
        bad = max(0.225 - f, 0) + max(f - 0.425, 0)
        total += W_EYE * ((bad > 0) + 10 * bad) + 40 * (f - s.f_target) ** 2
        if s.eye_margin:
            m = s.eye_margin / h
            near = max(0.225 + m - f, 0) + max(f - 0.425 + m, 0)
            total += W_MARGIN * ((near > 0) + min(10 * near, 0.2))
    for ax, ay in s.ankles:
        total += W_CONTENT * (X0 <= ax <= X1 and Y0 <= ay <= Y1)
    band = (G.CUT_BAND + CUT_MARGIN) * h + 1.5
    hard = _edges_at(box, s.joints, band)
    total += W_CUT * hard + W_SOFT_CUT * _edges_at(box, s.soft_joints, G.CUT_BAND * h + 1.5)
    if s.joint_pad:
        wide = _edges_at(box, s.joints, (G.CUT_BAND + CUT_MARGIN + CUT_MARGIN_EST) * h + 1.5
                         + s.joint_pad)
        total += W_MARGIN * (wide > hard)
    lo_s, hi_s = G.FACE_SLICE
    shares = [max(min(X1, f[2]) - max(X0, f[0]), 0) * max(min(Y1, f[3]) - max(Y0, f[1]), 0)
              / max((f[2] - f[0]) * (f[3] - f[1]), 1e-9) for f in s.faces]
    total += W_CUT * sum(lo_s < v < hi_s for v in shares)
    total += W_MARGIN * any(0.02 < v < 0.98 for v in shares)
    if s.min_h:
        short = pos(s.min_h - h)
        total += W_CONTENT * ((short > 0) + short)
    if s.soft_req is not None:
        total += 30 * (_missing(box, s.soft_req) > 0)
    if max(s.reach) > 0:
        inside = (max(min(X1, W) - max(X0, 0), 0) * max(min(Y1, H) - max(Y0, 0), 0)) / (w * h)
        total += W_PAD * (1 - inside) + W_CONTENT * (inside < 0.25)
    total += 8 * math.log(h / scale) ** 2
    if s.facing and s.name == "close_up":
        side = (s.face_x - X0) / w
        total += W_LOOK * ((side - 0.48) * s.facing > 0)
        total += 15 * abs(side - (0.5 - 0.1 * s.facing))
    if s.thirds:
        d1 = abs((s.x_target - X0) / w - 1 / 3)
        d2 = abs((s.x_target - X0) / w - 2 / 3)
        total += 6 * (d1 if s.facing > 0 else d2 if s.facing < 0 else min(d1, d2))
    else:
        total += 6 * abs((X0 + X1) / 2 - s.x_target) / w
    # What depends on the other shots (Search.best).
    if inner is not None:
        out = _missing(box, inner) / scale
        total += W_NEST * ((out > 0) + out)
    if outer is not None:
        out = _reaching(box, outer) / scale
        total += W_NEST * ((out > 0) + out)
    if area_max is not None:
        total += W_NEST * (w * h > area_max)
    if area_min is not None:
        total += W_NEST * (w * h < area_min)
    if anchor is not None:
        total += 20 * sum(abs(a - b) for a, b in zip(box, anchor)) / scale
    return total
