"""Pictures that are not X-ray scans, seeded: what the scan gate must learn to refuse.

An oracle whose verdict can send a declaration to C3 must not judge a blank upload, a
screenshot or a holiday photo as if it were a bag.  The gate (`oracles.xray.gate`) refuses
the obvious cases by rule; the network's scan head learns the rest from these pictures
against real and synthetic scans.  Kinds (`KINDS`):

- `flat`       one colour, possibly with faint noise (blank, black, white, a colour)
- `gradient`   linear or radial ramps between two colours
- `noise`      uniform, Gaussian, salt-and-pepper or blocky noise, in colour or grey
- `drawing`    outlines and filled shapes on a plain background (a sketch, a diagram)
- `screenshot` windows, bars, buttons and lines of text (an app or a web page)
- `leaves`     "dead leaves": overlapping discs and boxes of textured colour, the statistics
               of natural photographs without any photograph
- `photo`      random crops of the photographs given (`photos`), colour or grey

`picture(seed, index)` is a pure function of its arguments, like `synth.scan`.
"""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont

KINDS = ("flat", "gradient", "noise", "drawing", "screenshot", "leaves", "photo")
_WEIGHTS = np.array([1.0, 1.0, 1.0, 1.5, 1.5, 2.0, 3.0])


def _size(rng: np.random.Generator) -> tuple[int, int]:
    w = int(rng.integers(64, 900))
    return w, int(np.clip(w * rng.uniform(0.5, 1.8), 64, 1200))


def _colour(rng: np.random.Generator) -> tuple[int, int, int]:
    if rng.random() < 0.3:
        g = int(rng.integers(0, 256))
        return (g, g, g)
    r, g, b = (int(v) for v in rng.integers(0, 256, 3))
    return (r, g, b)


def flat(rng: np.random.Generator) -> Image.Image:
    w, h = _size(rng)
    c = [(0, 0, 0), (255, 255, 255), _colour(rng)][int(rng.integers(0, 3))]
    arr = np.empty((h, w, 3), np.float32)
    arr[:] = c
    if rng.random() < 0.5:
        arr += rng.normal(0, rng.uniform(0.3, 2.5), arr.shape)
    return Image.fromarray(np.clip(arr + 0.5, 0, 255).astype(np.uint8))


def gradient(rng: np.random.Generator) -> Image.Image:
    w, h = _size(rng)
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    if rng.random() < 0.5:
        a = rng.uniform(0, 2 * np.pi)
        t = x * np.cos(a) + y * np.sin(a)
    else:
        t = np.hypot(x - rng.uniform(0, w), y - rng.uniform(0, h))
    t = (t - t.min()) / max(float(np.ptp(t)), 1e-6)
    c0, c1 = np.array(_colour(rng), np.float32), np.array(_colour(rng), np.float32)
    return Image.fromarray((c0 + (c1 - c0) * t[..., None]).astype(np.uint8))


def noise(rng: np.random.Generator) -> Image.Image:
    w, h = _size(rng)
    ch = 3 if rng.random() < 0.5 else 1
    kind = int(rng.integers(0, 4))
    arr: np.ndarray
    if kind == 0:
        arr = rng.integers(0, 256, (h, w, ch)).astype(np.float32)
    elif kind == 1:
        arr = rng.normal(rng.uniform(60, 200), rng.uniform(15, 70), (h, w, ch))
    elif kind == 2:
        arr = np.full((h, w, ch), rng.uniform(0, 255), np.float32)
        hit = rng.random((h, w)) < rng.uniform(0.05, 0.5)
        arr[hit] = (rng.random(int(hit.sum())) < 0.5)[:, None] * 255.0
    else:
        k = int(rng.integers(2, 12))
        small = rng.integers(0, 256, ((h + k - 1) // k, (w + k - 1) // k, ch)).astype(np.float32)
        arr = np.repeat(np.repeat(small, k, 0), k, 1)[:h, :w]
    arr = np.clip(arr, 0, 255).astype(np.uint8)
    return Image.fromarray(arr[..., 0] if ch == 1 else arr).convert("RGB")


def _shapes(rng: np.random.Generator, d: ImageDraw.ImageDraw, w: int, h: int, n: int) -> None:
    for _ in range(n):
        x0, y0 = rng.uniform(-0.1, 0.9) * w, rng.uniform(-0.1, 0.9) * h
        x1, y1 = x0 + rng.uniform(0.05, 0.6) * w, y0 + rng.uniform(0.05, 0.6) * h
        fill = _colour(rng) if rng.random() < 0.6 else None
        line = _colour(rng)
        width = int(rng.integers(1, 8))
        kind = int(rng.integers(0, 4))
        if kind == 0:
            d.rectangle([x0, y0, x1, y1], fill=fill, outline=line, width=width)
        elif kind == 1:
            d.ellipse([x0, y0, x1, y1], fill=fill, outline=line, width=width)
        elif kind == 2:
            pts = [(rng.uniform(0, w), rng.uniform(0, h)) for _ in range(int(rng.integers(3, 7)))]
            d.polygon(pts, fill=fill, outline=line)
        else:
            pts = [(rng.uniform(0, w), rng.uniform(0, h)) for _ in range(int(rng.integers(2, 8)))]
            d.line(pts, fill=line, width=width)


def drawing(rng: np.random.Generator) -> Image.Image:
    w, h = _size(rng)
    bg = (255, 255, 255) if rng.random() < 0.6 else _colour(rng)
    img = Image.new("RGB", (w, h), bg)
    _shapes(rng, ImageDraw.Draw(img), w, h, int(rng.integers(2, 25)))
    return img


def _text(rng: np.random.Generator, n: int) -> str:
    letters = "abcdefghijklmnopqrstuvwxyz     0123456789.,:"
    return "".join(letters[int(i)] for i in rng.integers(0, len(letters), n)).strip() or "ok"


def screenshot(rng: np.random.Generator) -> Image.Image:
    w, h = _size(rng)
    w, h = max(w, 160), max(h, 120)
    dark = rng.random() < 0.3
    bg = (30, 30, 34) if dark else (250, 250, 250)
    ink = (220, 220, 220) if dark else (20, 20, 20)
    img = Image.new("RGB", (w, h), bg)
    d = ImageDraw.Draw(img)
    # the requested size, which is the font's (`load_default` gives a FreeTypeFont of it)
    size = int(rng.integers(9, 22))
    font = ImageFont.load_default(size=size)
    bar = int(rng.integers(16, 40))
    d.rectangle([0, 0, w, bar], fill=_colour(rng))
    d.text((8, bar // 4), _text(rng, 20), fill=ink, font=font)
    y = bar + 8
    while y < h - 10:
        r = rng.random()
        if r < 0.15:  # a button or a field
            bw = rng.uniform(0.1, 0.5) * w
            d.rounded_rectangle([10, y, 10 + bw, y + 24], 5, fill=_colour(rng), outline=ink)
            y += 32
        elif r < 0.25:  # an image placeholder
            d.rectangle([10, y, rng.uniform(0.3, 0.9) * w, y + 60], fill=_colour(rng))
            y += 68
        else:
            d.text((10, y), _text(rng, int(rng.integers(10, 80))), fill=ink, font=font)
            y += int(size * 1.5)
    return img


def leaves(rng: np.random.Generator) -> Image.Image:
    w, h = _size(rng)
    img = Image.new("RGB", (w, h), _colour(rng))
    d = ImageDraw.Draw(img)
    for _ in range(int(rng.integers(30, 300))):
        r = (rng.pareto(2.0) + 0.02) * min(w, h) * 0.08
        x, y = rng.uniform(0, w), rng.uniform(0, h)
        box = [x - r, y - r * rng.uniform(0.5, 1.5), x + r, y + r * rng.uniform(0.5, 1.5)]
        (d.ellipse if rng.random() < 0.6 else d.rectangle)(box, fill=_colour(rng))
    img = img.filter(ImageFilter.GaussianBlur(rng.uniform(0, 2.0)))
    arr = np.asarray(img, np.float32) + rng.normal(0, rng.uniform(0, 8), (h, w, 1))
    if rng.random() < 0.3:
        arr = arr.mean(2, keepdims=True).repeat(3, 2)
    return Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8))


def photo(rng: np.random.Generator, photos: list[np.ndarray]) -> Image.Image:
    """A random crop of one of `photos` (RGB arrays), resized, often grey, sometimes
    darkened or brightened (gamma), inverted (a negative), noisy or blurred: greyscale
    photographs of a dark figure against a bright sky look much like transmission images,
    so the gate sees many of them."""
    src = photos[int(rng.integers(0, len(photos)))]
    h, w = src.shape[:2]
    cw, ch = int(w * rng.uniform(0.4, 1.0)), int(h * rng.uniform(0.4, 1.0))
    x0, y0 = int(rng.integers(0, w - cw + 1)), int(rng.integers(0, h - ch + 1))
    img = Image.fromarray(src[y0 : y0 + ch, x0 : x0 + cw])
    s = rng.uniform(0.3, 1.5)
    img = img.resize((max(64, round(cw * s)), max(64, round(ch * s))), Image.Resampling.BILINEAR)
    if rng.random() < 0.5:
        img = img.convert("L").convert("RGB")
    if rng.random() < 0.5:
        img = img.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    r = rng.random()
    if r < 0.45:
        arr = np.asarray(img, np.float32) / 255
        if rng.random() < 0.25:
            arr = 1 - arr
        arr = np.power(arr, rng.uniform(0.4, 2.5)) * 255
        if rng.random() < 0.4:
            arr = arr + rng.normal(0, rng.uniform(1, 6), arr.shape[:2])[..., None]
        img = Image.fromarray(np.clip(arr + 0.5, 0, 255).astype(np.uint8))
    elif r < 0.6:
        img = img.filter(ImageFilter.GaussianBlur(rng.uniform(0.5, 2.5)))
    return img


def picture(seed: int, index: int, photos: list[np.ndarray] | None = None) -> Image.Image:
    """Not-a-scan picture `index` of set `seed` (a kind drawn at random; RGB)."""
    rng = np.random.default_rng([seed, index, 7])
    weights = _WEIGHTS.copy()
    if not photos:
        weights[KINDS.index("photo")] = 0
    kind = KINDS[int(rng.choice(len(KINDS), p=weights / weights.sum()))]
    if kind == "photo":
        return photo(rng, photos or [])
    return {
        "flat": flat,
        "gradient": gradient,
        "noise": noise,
        "drawing": drawing,
        "screenshot": screenshot,
        "leaves": leaves,
    }[kind](rng)
