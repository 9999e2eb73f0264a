"""Training views of real crops: isolated objects are told from clutter, their air becomes
exactly transparent, composites carry the union of their parts' labels, and the cells of a
pasted object are a target only where its place is known.

No real data needed: the crops here are drawn (an object alone on air) or cut from the
synthetic scanner (clutter).
"""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw

from oracles.xray import augment, synth
from oracles.xray.preprocess import GRID, INPUT_SIZE

C = len(synth.CLASSES)
FIREARM, KNIFE = synth.CLASSES.index("firearm"), synth.CLASSES.index("knife")


def isolated_crop(seed: int, side: int = 200) -> np.ndarray:
    """A dark object photographed alone: a polygon on a bright, slightly noisy belt."""
    rng = np.random.default_rng(seed)
    img = Image.new("L", (side, side), 235)
    pts = [(rng.uniform(0.25, 0.75) * side, rng.uniform(0.25, 0.75) * side) for _ in range(6)]
    ImageDraw.Draw(img).polygon(pts, fill=int(rng.integers(10, 80)))
    arr = np.asarray(img, np.float32) + rng.normal(0, 1.5, (side, side))
    return np.clip(arr, 0, 255).astype(np.uint8)


def clutter_crop(seed: int) -> np.ndarray:
    return synth.scan(seed, 0, size=240, display="grey", threats={}).image[30:210, 20:220, 0]


def pool() -> augment.RealPool:
    images, labels, kinds = [], [], []
    for i in range(4):
        images.append(isolated_crop(i))
        labels.append(np.eye(C, dtype=np.float32)[FIREARM])
        kinds.append("handgun")
        images.append(isolated_crop(10 + i))
        labels.append(np.eye(C, dtype=np.float32)[KNIFE])
        kinds.append("shuriken")
        images.append(clutter_crop(20 + i))
        labels.append(np.zeros(C, np.float32))
        kinds.append("background")
    return augment.RealPool(images, labels, kinds)


def test_isolated_objects_are_told_from_clutter():
    assert augment.is_isolated(isolated_crop(0))
    assert not augment.is_isolated(clutter_crop(1))
    p = pool()
    assert len(p.threat_isolated) == 8 and len(p.clean) == 4 and p.threat_bag == []


def test_the_air_of_an_isolated_object_becomes_exactly_transparent():
    g = isolated_crop(3)
    t = augment.transmission(g, isolated=True)
    assert t.min() < 0.4  # the object absorbs
    assert (t == 1).mean() > 0.5  # its noisy air is now exactly air: no rectangle shows
    raw = augment.transmission(g, isolated=False)
    assert (raw == 1).mean() < 0.1  # without that, the noise stays


def test_draws_are_balanced_over_object_kinds():
    p = pool()
    p.by_kind["background"] = p.by_kind["background"] * 5  # one kind much more common
    rng = np.random.default_rng(0)
    kinds = [p.kinds[p.draw(rng)] for _ in range(3000)]
    for k in ("handgun", "shuriken", "background"):
        assert abs(kinds.count(k) / 3000 - 1 / 3) < 0.04, k


def test_composites_label_their_parts_and_locate_pasted_objects():
    p = pool()
    bags = np.stack(
        [synth.scan(40 + i, 0, size=256, display="grey").image[..., 0] for i in range(2)]
    )
    rng = np.random.default_rng(5)
    seen = np.zeros(C)
    for _ in range(40):
        x, y, cells, w = augment.composite_view(p, rng, bags)
        assert x.shape == (INPUT_SIZE, INPUT_SIZE, 3) and x.dtype == np.uint8
        assert (x[..., 0] == x[..., 2]).all()  # grey
        assert cells.shape == w.shape == (C, GRID, GRID)
        for c in range(C):
            if not y[c]:
                assert cells[c].max() == 0  # no target where nothing of the class lies
            elif w[c].min() == 1:
                # every part of class c was an isolated object whose place is known
                assert cells[c].max() == 1
        seen += y
    assert seen[FIREARM] > 5 and seen[KNIFE] > 5  # threats and look-alikes both appear
    assert seen[synth.CLASSES.index("meat")] == 0


def test_composites_are_reproducible_from_their_seed():
    p = pool()
    a = augment.composite_view(p, np.random.default_rng(9))
    b = augment.composite_view(p, np.random.default_rng(9))
    assert all(np.array_equal(u, v) for u, v in zip(a, b, strict=True))
