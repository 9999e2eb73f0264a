"""The synthetic scanner: reproducible, labelled, and physically coloured like a real one."""

from __future__ import annotations

import numpy as np

from oracles.xray import synth


def test_same_seed_same_scan_other_seed_other_scan():
    a, b = synth.scan(5, 3), synth.scan(5, 3)
    assert np.array_equal(a.image, b.image) and a.boxes == b.boxes
    assert not np.array_equal(a.image, synth.scan(6, 3).image)
    assert not np.array_equal(a.image, synth.scan(5, 4).image)


def test_forced_threats_are_labelled_and_boxed_inside_the_image():
    s = synth.scan(11, 0, threats={"firearm": 1, "knife": 2}, masks=True)
    assert s.classes == ["firearm", "knife"]
    assert sorted(b["class"] for b in s.boxes) == ["firearm", "knife", "knife"]
    assert s.labels.tolist() == [0.0, 0.0, 1.0, 1.0]
    for b in s.boxes:
        x0, y0, x1, y1 = b["box"]
        assert 0 <= x0 < x1 <= 511 and 0 <= y0 < y1 <= 511
        # the box is tight around the object's own pixels
        mask = s.masks[synth.CLASSES.index(b["class"])]
        assert mask[int(y0) : int(y1) + 1, int(x0) : int(x1) + 1].any()
    clean = synth.scan(11, 1, threats={})
    assert clean.classes == [] and clean.boxes == []


def test_materials_take_the_scanner_colours():
    """Dual-energy physics: low/high attenuation ratio gives orange organic, blue metal."""
    low = np.full((4, 4), 1.0, np.float32)
    high = np.full((4, 4), 1.0, np.float32)
    for m, (i, j) in zip(
        (synth.ORGANIC, synth.MIXED, synth.METAL), ((0, 0), (1, 1), (2, 2)), strict=True
    ):
        t = 0.8 / synth.MU[m, 1]  # the same high-energy attenuation for every material
        low[i, j], high[i, j] = np.exp(-synth.MU[m, 0] * t), np.exp(-synth.MU[m, 1] * t)
    rgb = synth.colourise(low, high).astype(int)
    organic, mixed, metal = rgb[0, 0], rgb[1, 1], rgb[2, 2]
    assert organic[0] > organic[1] > organic[2]  # orange
    assert mixed[1] > mixed[0] and mixed[1] > mixed[2]  # green
    assert metal[2] > metal[1] > metal[0]  # blue
    assert rgb[3, 3].tolist() == [255, 255, 255]  # nothing absorbs: white


def test_energies_are_transmissions():
    s = synth.scan(2, 0, energies=True, size=128)
    assert s.low is not None and s.high is not None and s.image.shape == (128, 128, 3)
    assert s.low.min() > 0 and s.high.max() <= 1.0
    assert (s.low <= s.high + 0.1).mean() > 0.99  # low energy is absorbed more


def test_threats_appear_at_the_configured_rate():
    counts = np.array([synth.scan(3, i, size=64, clutter=(1, 2)).labels for i in range(80)]).sum(0)
    assert all(6 <= c <= 32 for c in counts), counts  # 0.22 * 80 = 17.6 expected
