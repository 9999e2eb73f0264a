"""One way from a scan to the network's input, shared by training, inference and evaluation.

The scan is letterboxed: scaled (antialiased bilinear) so its longer side is INPUT_SIZE and
padded with white (empty belt) to a square, so the shapes of objects are kept whatever the
scanner's aspect ratio.  `Letterbox` maps boxes back to the scan's own pixels.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image

INPUT_SIZE = 256
STRIDE = 16  # one heat-map cell per 16 x 16 input pixels
GRID = INPUT_SIZE // STRIDE


@dataclass(frozen=True)
class Letterbox:
    """How a scan of `width` x `height` was placed in the square input."""

    width: int
    height: int
    scale: float
    pad_x: int
    pad_y: int

    def to_scan(self, box: tuple[float, float, float, float]) -> list[int]:
        """An input-pixel box -> a box in scan pixels (clipped to the scan)."""
        x0, y0, x1, y1 = box
        out = [
            (x0 - self.pad_x) / self.scale,
            (y0 - self.pad_y) / self.scale,
            (x1 - self.pad_x) / self.scale,
            (y1 - self.pad_y) / self.scale,
        ]
        return [
            int(np.clip(round(out[0]), 0, self.width - 1)),
            int(np.clip(round(out[1]), 0, self.height - 1)),
            int(np.clip(round(out[2]), 0, self.width - 1)),
            int(np.clip(round(out[3]), 0, self.height - 1)),
        ]

    def to_input(self, box: list[float]) -> list[float]:
        """A scan-pixel box -> input pixels (used to make training targets)."""
        x0, y0, x1, y1 = box
        return [
            x0 * self.scale + self.pad_x,
            y0 * self.scale + self.pad_y,
            x1 * self.scale + self.pad_x,
            y1 * self.scale + self.pad_y,
        ]


def fitted(image: Image.Image, size: int = INPUT_SIZE) -> Image.Image:
    """`image` scaled (antialiased bilinear) so its longer side is `size`, as `letterbox`
    scales it; the same picture when it already is."""
    w, h = image.size
    scale = size / max(w, h)
    nw, nh = max(1, round(w * scale)), max(1, round(h * scale))
    return image.resize((nw, nh), Image.Resampling.BILINEAR) if (nw, nh) != (w, h) else image


def letterbox(
    image: Image.Image | np.ndarray, size: int = INPUT_SIZE, resized: Image.Image | None = None
) -> tuple[np.ndarray, Letterbox]:
    """An RGB scan -> ((size, size, 3) uint8 input, placement).

    `resized`: `fitted(image, size)` when the caller already made it (the scan gate takes
    its statistics on the same copy), so a scan is resampled once.
    """
    img = Image.fromarray(image) if isinstance(image, np.ndarray) else image
    if img.mode != "RGB":
        raise ValueError(f"letterbox takes RGB images, got mode {img.mode}")
    w, h = img.size
    scale = size / max(w, h)
    resized = resized if resized is not None else fitted(img, size)
    nw, nh = resized.size
    px, py = (size - nw) // 2, (size - nh) // 2
    if (nw, nh) == (size, size):
        arr = np.asarray(resized, dtype=np.uint8)
    else:
        canvas = Image.new("RGB", (size, size), (255, 255, 255))
        canvas.paste(resized, (px, py))
        arr = np.asarray(canvas, dtype=np.uint8)
    return arr, Letterbox(w, h, scale, px, py)


def to_input(batch: np.ndarray) -> np.ndarray:
    """(N, H, W, 3) uint8 -> (N, 3, H, W) float32 in 0..1, the model's input."""
    return np.ascontiguousarray(batch.transpose(0, 3, 1, 2), dtype=np.float32) * (1 / 255)


def reference_input() -> np.ndarray:
    """A fixed (1, 3, S, S) input made without any random generator, for recorded outputs.

    Stripes, rings and blocks in all three display colours; a model's scores on it are kept
    in its manifest, so a test can tell that the runtime computes what training recorded.
    """
    s = INPUT_SIZE
    y, x = np.mgrid[0:s, 0:s].astype(np.float32) / s
    r = 0.5 + 0.5 * np.sin(2 * np.pi * (3 * x + 2 * y))
    g = 0.5 + 0.5 * np.cos(2 * np.pi * 5 * np.hypot(x - 0.5, y - 0.4))
    b = ((x * 8).astype(int) + (y * 8).astype(int)) % 2 * 0.7 + 0.15
    return np.stack([r, g, b])[None].astype(np.float32)
