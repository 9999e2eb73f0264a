"""The overlay an officer reads: the verdict banner never covers a box or its label (#20)."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image

from oracles.xray.overlay import COLOURS, banner_corner, draw_overlay


def test_the_banner_moves_off_a_box_in_the_top_left_corner():
    taken = [(0, 0, 120, 20), (0, 20, 200, 200)]  # a label and its box at the top left
    assert banner_corner((512, 512), (150, 24), taken) == (362, 0, 512, 24)


def test_the_banner_stays_top_left_when_nothing_is_there():
    assert banner_corner((512, 512), (150, 24), [(300, 300, 400, 400)]) == (0, 0, 150, 24)


def test_a_threat_at_the_top_left_keeps_its_label_visible():
    scan = Image.new("RGB", (512, 512), (255, 255, 255))
    threats = [{"class": "firearm", "score": 0.97, "box": [2, 30, 200, 200]}]
    png = np.asarray(Image.open(io.BytesIO(draw_overlay(scan, threats, "threat"))))
    # the label sits on the box's top edge, in the corner the banner used to take: its
    # fill is the class colour, not the banner's red
    label_px = png[28, 3]
    assert tuple(label_px) == COLOURS["firearm"], label_px
    # and the banner went to another corner, still drawn in full
    assert tuple(png[3, 508]) == (200, 0, 0)
