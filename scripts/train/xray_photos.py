#!/usr/bin/env python3
"""Gather a folder of photographs for the X-ray scan gate to learn from (`xray.py --photos`).

    apt-get download opencv-doc && dpkg -x opencv-doc_*.deb /tmp/opencv-doc
    .venv/bin/python scripts/train/xray_photos.py /tmp/opencv-doc/usr/share/doc/opencv-doc \\
        /tmp/photos/train

Every JPEG (or WebP) under the source at least `--min-side` pixels a side, byte-identical copies
dropped (the first in sorted order kept), any path naming `lena` left out, each shrunk to
at most `--max-side` pixels and saved as `<name>-<8 hex of its sha1>.jpg`.  2.3.0's 445
pictures came from Debian's opencv-doc 4.6.0 this way; the model's manifest records their
number and the sha256 of their sorted names, so a rebuild can check it got the same ones.
The pictures are training material only: they are not copied into the repository.

`--png` takes PNGs too, their transparent parts laid on white (as a shop's product photograph):
the 466 object cut-outs of the candidates tried after 2.5.0 (model card: W and X, neither
shipped) came from Debian's tuxpaint-stamps-default 2022.06.04 this way:

    apt-get download tuxpaint-stamps-default && dpkg -x tuxpaint-stamps-default_*.deb /tmp/tux
    .venv/bin/python scripts/train/xray_photos.py --png --min-side 100 \\
        /tmp/tux/usr/share/tuxpaint/stamps /tmp/photos/stamps

`--wallpapers` gathers a folder of desktop wallpapers instead, the gate's held-out pictures
(`xray.py --heldout-photos`, never trained on): one picture per wallpaper, the largest
(JPEG or PNG), named after the wallpaper.  A wallpaper is a folder with a `contents/`
subfolder (KDE's layout) or a loose picture, its sizes (`Name_3840x2160.jpg`) counted as
one.  The 58 of 2.3.0 to 2.5.0's model card:

    apt-get download plasma-workspace-wallpapers mate-backgrounds
    for f in plasma-workspace-wallpapers_*.deb mate-backgrounds_*.deb; do dpkg -x $f /tmp/wp; done
    S=scripts/train/xray_photos.py
    .venv/bin/python $S --wallpapers /tmp/wp/usr/share/wallpapers /tmp/photos/heldout
    .venv/bin/python $S --wallpapers --prefix mate- /tmp/wp/usr/share/backgrounds/mate \\
        /tmp/photos/heldout
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
from pathlib import Path

from PIL import Image, UnidentifiedImageError

SUFFIXES = (".jpg", ".jpeg", ".webp")  # opencv-doc 4.6.0 holds no .webp: its 445 stay the same
LEFT_OUT = ("lena",)
WALLPAPER_SUFFIXES = (".jpg", ".jpeg", ".png")
SIZE_SUFFIX = re.compile(r"_\d+x\d+$")  # "Elephants_3840x2160" is a size of "Elephants"


def gather(
    source: Path, dest: Path, min_side: int = 200, max_side: int = 1024, png: bool = False
) -> dict:
    """Copy the pictures of `source` that qualify into `dest`; returns counts of what was
    kept and why the others were not.  `png`: PNGs count too, laid on white."""
    if not source.is_dir():
        raise SystemExit(f"{source}: not a folder (give the unpacked opencv-doc folder)")
    dest.mkdir(parents=True, exist_ok=True)
    seen: set[str] = set()
    counts = {"kept": 0, "small": 0, "duplicate": 0, "left_out": 0, "unreadable": 0}
    for root, _, files in sorted(os.walk(source)):
        for name in sorted(files):
            path = Path(root) / name
            if path.suffix.lower() not in SUFFIXES + ((".png",) if png else ()):
                continue
            if any(word in str(path.relative_to(source)).lower() for word in LEFT_OUT):
                counts["left_out"] += 1
                continue
            data = path.read_bytes()
            try:
                with Image.open(path) as im:
                    small = min(im.size) < min_side
                    pic = None if small else on_white(im)
            except (UnidentifiedImageError, OSError):
                counts["unreadable"] += 1
                continue
            if pic is None:
                counts["small"] += 1
                continue
            digest = hashlib.sha1(data).hexdigest()
            if digest in seen:
                counts["duplicate"] += 1
                continue
            seen.add(digest)
            pic.thumbnail((max_side, max_side))
            pic.save(dest / f"{path.stem[:40]}-{digest[:8]}.jpg", quality=92)
            counts["kept"] += 1
    return counts


def on_white(im: Image.Image) -> Image.Image:
    """RGB; a picture with transparency is laid on white first (otherwise its transparent
    pixels would show whatever colour they happen to hold, often black)."""
    if im.mode in ("RGBA", "LA", "PA") or "transparency" in im.info:
        rgba = im.convert("RGBA")
        return Image.alpha_composite(Image.new("RGBA", rgba.size, "white"), rgba).convert("RGB")
    return im.convert("RGB")


def wallpapers(source: Path, dest: Path, prefix: str = "", max_side: int = 1280) -> dict:
    """The largest picture of each wallpaper under `source`, shrunk to at most `max_side`,
    saved as `<prefix><wallpaper>.jpg`; returns how many wallpapers and pictures were seen."""
    if not source.is_dir():
        raise SystemExit(f"{source}: not a folder (give the unpacked wallpapers folder)")
    found: dict[str, list[Path]] = {}
    for path in sorted(source.rglob("*")):
        if path.suffix.lower() not in WALLPAPER_SUFFIXES or not path.is_file():
            continue
        package = next((a for a in path.parents if (a / "contents").is_dir()), None)
        name = package.name if package is not None else SIZE_SUFFIX.sub("", path.stem)
        found.setdefault(prefix + name, []).append(path)
    if not found:
        raise SystemExit(f"{source}: no {', '.join(WALLPAPER_SUFFIXES)} pictures in it")
    dest.mkdir(parents=True, exist_ok=True)
    for name, paths in found.items():
        best = max(paths, key=_area_then_bytes)
        with Image.open(best) as im:
            pic = im.convert("RGB")
        pic.thumbnail((max_side, max_side))
        pic.save(dest / f"{name}.jpg", quality=92)
    return {"wallpapers": len(found), "pictures": sum(len(v) for v in found.values())}


def _area_then_bytes(path: Path) -> tuple[int, int]:
    with Image.open(path) as im:
        w, h = im.size
    return w * h, path.stat().st_size


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("source", type=Path, help="folder to search (e.g. the opencv-doc docs)")
    ap.add_argument("dest", type=Path, help="folder to write the pictures to")
    ap.add_argument("--min-side", type=int, default=200)
    ap.add_argument("--max-side", type=int, default=None, help="default 1024; wallpapers 1280")
    ap.add_argument("--wallpapers", action="store_true", help="one picture per wallpaper")
    ap.add_argument("--prefix", default="", help="wallpapers: put before each name")
    ap.add_argument("--png", action="store_true", help="PNGs too, transparent parts on white")
    args = ap.parse_args()
    if args.wallpapers:
        counts = wallpapers(args.source, args.dest, args.prefix, args.max_side or 1280)
    else:
        counts = gather(args.source, args.dest, args.min_side, args.max_side or 1024, args.png)
    print(json.dumps(counts))


if __name__ == "__main__":
    main()
