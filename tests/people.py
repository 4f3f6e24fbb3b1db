"""Synthetic people with average proportions, for tests."""

import numpy as np

from shotcrop_core import Person


def standing(cx=320.0, top=60.0, h=400.0, facing=0, score=1.0):
    """A standing person of height `h` (crown at `top`), COCO-17 keypoints."""
    u = h / 8.0
    eye = top + 0.55 * u
    nose_dx = 0.35 * u * facing
    kp = [
        (cx + nose_dx, eye + 0.3 * u), (cx + 0.2 * u, eye), (cx - 0.2 * u, eye),
        (cx + 0.45 * u, eye + 0.1 * u), (cx - 0.45 * u, eye + 0.1 * u),
        (cx + 0.9 * u, eye + u), (cx - 0.9 * u, eye + u),
        (cx + 1.1 * u, eye + 2.4 * u), (cx - 1.1 * u, eye + 2.4 * u),
        (cx + 1.0 * u, eye + 3.7 * u), (cx - 1.0 * u, eye + 3.7 * u),
        (cx + 0.5 * u, eye + 4.0 * u), (cx - 0.5 * u, eye + 4.0 * u),
        (cx + 0.5 * u, eye + 5.9 * u), (cx - 0.5 * u, eye + 5.9 * u),
        (cx + 0.5 * u, eye + 7.6 * u), (cx - 0.5 * u, eye + 7.6 * u),
    ]
    arr = np.array([(x, y, score) for x, y in kp])
    return Person(arr, (cx - 1.4 * u, top, cx + 1.4 * u, top + h))
