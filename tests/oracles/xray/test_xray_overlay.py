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


def test_an_uncertain_scan_shows_where_to_look_in_amber():
    """A class in the review band: each of its regions boxed thin in amber and labelled
    "look: ...", the banner amber and clear of the label; no threat box is drawn."""
    from oracles.xray.overlay import BANNER_COLOURS, REVIEW_COLOUR

    scan = Image.new("RGB", (512, 512), (255, 255, 255))
    review = [
        {
            "class": "firearm",
            "score": 0.22,
            "threshold": 0.15,
            "regions": [{"score": 0.22, "box": [2, 40, 200, 200]}],
        }
    ]
    png = np.asarray(Image.open(io.BytesIO(draw_overlay(scan, [], "uncertain", review))))
    assert tuple(png[120, 2]) == REVIEW_COLOUR  # the box's left edge
    assert tuple(png[38, 3]) == REVIEW_COLOUR  # its label's fill, above the box
    banner = (png == BANNER_COLOURS["uncertain"]).all(axis=-1)
    assert banner.sum() > 500 and not banner[24:, :].any()  # drawn in full, above the label
    assert not any((png.reshape(-1, 3) == c).all(axis=1).any() for c in COLOURS.values())
