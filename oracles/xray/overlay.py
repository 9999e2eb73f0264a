"""The picture an officer looks at: the scan with each threat boxed, named and scored, and
for an uncertain verdict where to look (the review band's regions, boxed thin in amber)."""

from __future__ import annotations

import io
from collections.abc import Sequence
from typing import Any

from PIL import Image, ImageDraw, ImageFont

COLOURS = {
    "firearm": (230, 20, 20),
    "knife": (200, 0, 200),
    "drugs": (255, 200, 0),
    "meat": (0, 190, 210),
}


def _overlap(a: tuple[float, float, float, float], b: tuple[float, float, float, float]) -> float:
    """Area shared by two (x0, y0, x1, y1) rectangles."""
    w = min(a[2], b[2]) - max(a[0], b[0])
    h = min(a[3], b[3]) - max(a[1], b[1])
    return max(0, w) * max(0, h)


def banner_corner(
    size: tuple[float, float],
    banner: tuple[float, float],
    taken: Sequence[tuple[float, float, float, float]],
) -> tuple[float, float, float, float]:
    """Where the verdict banner goes: the corner whose rectangle covers the least of the
    boxes and labels already drawn (top left first), so the verdict never hides what it is
    about -- a banner over the first box's label made officers guess its class."""
    w, h = size
    bw, bh = banner
    corners = [(0, 0), (w - bw, 0), (0, h - bh), (w - bw, h - bh)]
    rects = [(x, y, x + bw, y + bh) for x, y in corners]
    return min(rects, key=lambda r: sum(_overlap(r, t) for t in taken))


REVIEW_COLOUR = (255, 160, 0)  # amber: look at it, do not open the bag for it
BANNER_COLOURS = {"threat": (200, 0, 0), "uncertain": (170, 95, 0), "clear": (0, 140, 0)}


def draw_overlay(
    image: Image.Image,
    threats: list[dict[str, Any]],
    verdict: str,
    review: list[dict[str, Any]] | None = None,
) -> bytes:
    """PNG bytes: `image` (RGB) with a box and label per threat, a thin amber box per region
    of a class in the review band (`review`, labelled "look: <class> <score>"), and the
    verdict in a banner."""
    img = image.convert("RGB").copy()
    d = ImageDraw.Draw(img)
    w, h = img.size
    line = max(2, round(max(w, h) / 256))
    font = ImageFont.load_default(size=max(11, round(max(w, h) / 40)))
    taken: list[tuple[float, float, float, float]] = []

    def boxed(box: list[int], colour: tuple[int, int, int], label: str, width: int) -> None:
        x0, y0, x1, y1 = box
        d.rectangle([x0, y0, x1, y1], outline=colour, width=width)
        tb = d.textbbox((0, 0), label, font=font)
        tw, th = tb[2] - tb[0] + 6, tb[3] - tb[1] + 6
        ty = y0 - th if y0 - th >= 0 else min(y1 + 1, h - th)
        d.rectangle([x0, ty, x0 + tw, ty + th], fill=colour)
        d.text(
            (x0 + 3, ty + 3 - tb[1]),
            label,
            fill=(0, 0, 0) if colour[1] > 150 else (255, 255, 255),
            font=font,
        )
        taken.extend([(x0, ty, x0 + tw, ty + th), (x0, y0, x1, y1)])

    for t in threats:
        boxed(
            t["box"], COLOURS.get(t["class"], (255, 0, 0)), f"{t['class']} {t['score']:.2f}", line
        )
    for r in review or []:
        for g in r.get("regions", []):
            label = f"look: {r['class']} {g['score']:.2f}"
            boxed(g["box"], REVIEW_COLOUR, label, max(1, line // 2))
    if threats:
        banner = "THREAT: " + ", ".join(sorted({t["class"] for t in threats}))
    else:
        banner = "UNCERTAIN: LOOK" if verdict == "uncertain" else "CLEAR"
    tb = d.textbbox((0, 0), banner, font=font)
    bx, by, bx1, by1 = banner_corner((w, h), (tb[2] - tb[0] + 10, tb[3] - tb[1] + 8), taken)
    d.rectangle([bx, by, bx1, by1], fill=BANNER_COLOURS.get(verdict, BANNER_COLOURS["clear"]))
    d.text((bx + 5, by + 4 - tb[1]), banner, fill=(255, 255, 255), font=font)
    buf = io.BytesIO()
    img.save(buf, "PNG", optimize=False, compress_level=3)
    return buf.getvalue()
